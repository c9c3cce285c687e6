/* redis_conn.h - one Redis connection (hiredis), the only place that knows
 * how to reach the server.
 *
 * Parses redis://[[user]:password@]host[:port][/db] (user and password
 * percent-decoded), connects with connect and command timeouts,
 * authenticates (AUTH user password with a user, AUTH password without:
 * Redis 6 ACL users and requirepass) and selects the database. A hiredis
 * context is unusable after any I/O error, so every command that fails with
 * SQ_EREDIS leaves the connection closed; the next call reconnects.
 * Replies LOADING, READONLY, BUSY, MASTERDOWN, TRYAGAIN and UNBLOCKED mean
 * "the server is changing state": they too are SQ_EREDIS (temporary).
 */
#ifndef SQ_REDIS_CONN_H
#define SQ_REDIS_CONN_H

#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"

typedef struct sq_redis sq_redis;
struct redisReply;

typedef struct sq_redis_url {
  char *host;
  unsigned port;
  char *user;     /* NULL: default user */
  char *password; /* NULL: no AUTH */
  int db;
} sq_redis_url;

sq_errcode sq_redis_url_parse(const char *url, sq_redis_url *out, sq_err *err);
void sq_redis_url_free(sq_redis_url *u);

/* From the text of INFO server, the server's version as major * 10000 +
 * minor * 100 + patch (6.0.6 -> 60006); -1 if it says none. */
long sq_redis_info_version(const char *info);

/* command_timeout_ms bounds every reply wait (0: none, for BLPOP). */
sq_redis *sq_redis_open(const char *url, int command_timeout_ms, sq_err *err);
void sq_redis_close(sq_redis *r);

/* Runs one command; on success *reply is an owned reply that is not an error
 * (free with sq_redis_reply_free). Error replies become SQ_EREDIS (temporary
 * states listed above) or SQ_EREDIS_REPLY (anything else). */
sq_errcode sq_redis_command(sq_redis *r, int argc, const char **argv,
                            const size_t *argvlen, struct redisReply **reply,
                            sq_err *err);
/* Pipelining: append n commands, then read n replies. */
sq_errcode sq_redis_append(sq_redis *r, int argc, const char **argv,
                           const size_t *argvlen, sq_err *err);
sq_errcode sq_redis_read(sq_redis *r, struct redisReply **reply, sq_err *err);
void sq_redis_reply_free(struct redisReply *reply);
/* true if err is a LOADING reply: the server is up and still reading its
 * dataset after a restart. */
bool sq_redis_err_is_loading(const sq_err *err);

/* Makes sure the connection is up (reconnecting if needed). */
sq_errcode sq_redis_ensure(sq_redis *r, sq_err *err);

#endif
