/* placeholder: being written */ typedef int sq_placeholder_db;
