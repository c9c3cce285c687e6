/* placeholder: being written */ typedef int sq_placeholder_redis_conn;
