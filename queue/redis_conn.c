/* redis_conn.c - see redis_conn.h. */
#include "queue/redis_conn.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/conn_urls.h"
#include "core/log.h"

struct sq_redis {
  redisContext *ctx;
  sq_redis_url url;
  int timeout_ms;
};

void sq_redis_url_free(sq_redis_url *u) {
  if (u == NULL) return;
  free(u->host);
  free(u->user);
  free(u->password);
  memset(u, 0, sizeof *u);
}

sq_errcode sq_redis_url_parse(const char *url, sq_redis_url *out, sq_err *err) {
  static const char scheme[] = "redis://";
  sq_redis_url u = {0};
  const char *p, *at, *slash, *colon, *end;
  sq_errcode rc = SQ_ECONFIG;
  if (url == NULL || strncmp(url, scheme, sizeof scheme - 1) != 0) {
    sq_err_set(err, SQ_ECONFIG, "Redis URL must look like redis://[[user]:password@]host:port/db");
    goto out;
  }
  p = url + sizeof scheme - 1;
  end = p + strlen(p);
  slash = strchr(p, '/');
  if (slash == NULL) slash = end;
  /* The last '@': a raw one in the password goes with it, as in
   * core/conn_urls.c, which finds the password the same way. */
  at = memrchr(p, '@', (size_t)(slash - p));
  if (at) {
    const char *c = memchr(p, ':', (size_t)(at - p));
    if (c == NULL) {
      sq_err_set(err, SQ_ECONFIG, "Redis URL: credentials must be [user]:password@");
      goto out;
    }
    /* Percent-escapes are decoded, so a password may hold '@' or ':'. */
    if (c > p && (u.user = sq_url_decode(p, (size_t)(c - p))) == NULL) goto bad_escape;
    if ((u.password = sq_url_decode(c + 1, (size_t)(at - c - 1))) == NULL) goto bad_escape;
    p = at + 1;
  }
  if (*p == '[') { /* an IPv6 address: [::1]:6379 */
    const char *close = memchr(p, ']', (size_t)(slash - p));
    if (close == NULL || (close + 1 != slash && close[1] != ':')) {
      sq_err_set(err, SQ_ECONFIG, "Redis URL: an IPv6 host must be written [address]:port");
      goto out;
    }
    u.host = strndup(p + 1, (size_t)(close - p - 1));
    colon = close + 1 != slash ? close + 1 : NULL;
  } else {
    colon = memchr(p, ':', (size_t)(slash - p));
    u.host = strndup(p, (size_t)((colon ? colon : slash) - p));
  }
  if (u.host == NULL) goto nomem;
  if (u.host[0] == '\0') {
    sq_err_set(err, SQ_ECONFIG, "Redis URL has no host");
    goto out;
  }
  u.port = 6379;
  if (colon) {
    char *e;
    unsigned long v;
    errno = 0;
    v = strtoul(colon + 1, &e, 10);
    if (errno || e != slash || v == 0 || v > 65535) {
      sq_err_set(err, SQ_ECONFIG, "Redis URL: invalid port");
      goto out;
    }
    u.port = (unsigned)v;
  }
  if (slash < end && slash[1] != '\0') {
    char *e;
    long v;
    errno = 0;
    v = strtol(slash + 1, &e, 10);
    if (errno || *e != '\0' || v < 0 || v > 1000000) {
      sq_err_set(err, SQ_ECONFIG, "Redis URL: invalid database number");
      goto out;
    }
    u.db = (int)v;
  }
  *out = u;
  memset(&u, 0, sizeof u);
  rc = SQ_OK;
  goto out;
bad_escape:
  sq_err_set(err, SQ_ECONFIG, "Redis URL: bad %%-escape in user or password");
  goto out;
nomem:
  rc = sq_err_set(err, SQ_ENOMEM, "out of memory");
out:
  sq_redis_url_free(&u);
  return rc;
}

static void drop(sq_redis *r) {
  if (r->ctx) redisFree(r->ctx);
  r->ctx = NULL;
}

/* Server error replies that mean "try again soon". */
static bool reply_is_temporary(const char *s) {
  static const char *const prefixes[] = {"LOADING", "READONLY", "BUSY",
                                         "MASTERDOWN", "TRYAGAIN", "UNBLOCKED",
                                         "CLUSTERDOWN", "OOM"};
  for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
    if (strncmp(s, prefixes[i], strlen(prefixes[i])) == 0) return true;
  return false;
}

static sq_errcode io_error(sq_redis *r, sq_err *err, const char *what) {
  sq_err_set(err, SQ_EREDIS, "redis %s:%u: %s: %s", r->url.host, r->url.port,
             what, r->ctx && r->ctx->errstr[0] ? r->ctx->errstr : "connection lost");
  drop(r);
  return SQ_EREDIS;
}

/* Replies that mean "these credentials are not good enough": a setting to
 * fix, not a state to wait out. */
static bool reply_is_auth(const char *s) {
  return strncmp(s, "NOAUTH", 6) == 0 || strncmp(s, "WRONGPASS", 9) == 0;
}

static sq_errcode check_reply(sq_redis *r, redisReply *reply, sq_err *err) {
  if (reply->type != REDIS_REPLY_ERROR) return SQ_OK;
  if (reply_is_auth(reply->str))
    return sq_err_set(err, SQ_ECONFIG, "redis %s:%u: %.300s (the user and password come "
                      "from redis_url, SHEETQ_REDIS_PASSWORD or redis_password_file)",
                      r->url.host, r->url.port, reply->str);
  return sq_err_set(err, reply_is_temporary(reply->str) ? SQ_EREDIS : SQ_EREDIS_REPLY,
                    "redis %s:%u: %.300s", r->url.host, r->url.port, reply->str);
}

bool sq_redis_err_is_loading(const sq_err *err) {
  /* check_reply's message: "redis HOST:PORT: " and the server's reply. */
  return err->code == SQ_EREDIS && strstr(err->msg, ": LOADING ") != NULL;
}

static sq_errcode connect_now(sq_redis *r, sq_err *err) {
  struct timeval tv = {2, 0};
  redisReply *reply = NULL;
  sq_errcode rc;
  r->ctx = redisConnectWithTimeout(r->url.host, (int)r->url.port, tv);
  if (r->ctx == NULL) return sq_err_set(err, SQ_ENOMEM, "out of memory");
  if (r->ctx->err) return io_error(r, err, "cannot connect");
  if (r->timeout_ms > 0) {
    struct timeval ct = {r->timeout_ms / 1000, (r->timeout_ms % 1000) * 1000};
    redisSetTimeout(r->ctx, ct);
  }
  redisEnableKeepAlive(r->ctx);
  if (r->url.password) {
    const char *argv[3] = {"AUTH", r->url.user ? r->url.user : r->url.password,
                           r->url.password};
    int argc = r->url.user ? 3 : 2;
    size_t len[3] = {4, strlen(argv[1]), strlen(argv[2])};
    reply = redisCommandArgv(r->ctx, argc, argv, len);
    if (reply == NULL) return io_error(r, err, "AUTH");
    if (reply->type == REDIS_REPLY_ERROR) {
      /* The server's text names no secret; keep it for the operator. */
      sq_err_set(err, SQ_ECONFIG, "redis %s:%u: authentication failed: %.200s",
                 r->url.host, r->url.port, reply->str);
      freeReplyObject(reply);
      drop(r);
      return SQ_ECONFIG;
    }
    freeReplyObject(reply);
  }
  if (r->url.db != 0) {
    char db[16];
    const char *argv[2] = {"SELECT", db};
    size_t len[2] = {6, 0};
    len[1] = (size_t)snprintf(db, sizeof db, "%d", r->url.db);
    reply = redisCommandArgv(r->ctx, 2, argv, len);
    if (reply == NULL) return io_error(r, err, "SELECT");
    rc = check_reply(r, reply, err);
    freeReplyObject(reply);
    if (rc != SQ_OK) {
      drop(r);
      return rc;
    }
  }
  return SQ_OK;
}

sq_redis *sq_redis_open(const char *url, int command_timeout_ms, sq_err *err) {
  sq_redis *r = calloc(1, sizeof *r);
  if (r == NULL) {
    sq_err_set(err, SQ_ENOMEM, "out of memory");
    return NULL;
  }
  r->timeout_ms = command_timeout_ms;
  if (sq_redis_url_parse(url, &r->url, err) != SQ_OK) {
    sq_redis_close(r);
    return NULL;
  }
  /* A failed first connect is not fatal: callers retry via sq_redis_ensure. */
  (void)connect_now(r, err);
  return r;
}

void sq_redis_close(sq_redis *r) {
  if (r == NULL) return;
  drop(r);
  sq_redis_url_free(&r->url);
  free(r);
}

sq_errcode sq_redis_ensure(sq_redis *r, sq_err *err) {
  if (r->ctx) return SQ_OK;
  return connect_now(r, err);
}

sq_errcode sq_redis_command(sq_redis *r, int argc, const char **argv,
                            const size_t *argvlen, redisReply **reply,
                            sq_err *err) {
  redisReply *rep;
  sq_errcode rc = sq_redis_ensure(r, err);
  *reply = NULL;
  if (rc != SQ_OK) return rc;
  rep = redisCommandArgv(r->ctx, argc, argv, argvlen);
  if (rep == NULL) return io_error(r, err, argv[0]);
  if ((rc = check_reply(r, rep, err)) != SQ_OK) {
    freeReplyObject(rep);
    return rc;
  }
  *reply = rep;
  return SQ_OK;
}

sq_errcode sq_redis_append(sq_redis *r, int argc, const char **argv,
                           const size_t *argvlen, sq_err *err) {
  sq_errcode rc = sq_redis_ensure(r, err);
  if (rc != SQ_OK) return rc;
  if (redisAppendCommandArgv(r->ctx, argc, argv, argvlen) != REDIS_OK)
    return io_error(r, err, argv[0]);
  return SQ_OK;
}

sq_errcode sq_redis_read(sq_redis *r, redisReply **reply, sq_err *err) {
  void *rep = NULL;
  sq_errcode rc;
  *reply = NULL;
  if (r->ctx == NULL) return sq_err_set(err, SQ_EREDIS, "redis connection lost");
  if (redisGetReply(r->ctx, &rep) != REDIS_OK || rep == NULL)
    return io_error(r, err, "reading reply");
  if ((rc = check_reply(r, rep, err)) != SQ_OK) {
    freeReplyObject(rep);
    return rc;
  }
  *reply = rep;
  return SQ_OK;
}

void sq_redis_reply_free(redisReply *reply) {
  if (reply) freeReplyObject(reply);
}

long sq_redis_info_version(const char *info) {
  const char *v = info ? strstr(info, "redis_version:") : NULL;
  unsigned major, minor, patch;
  if (v == NULL || sscanf(v + 14, "%u.%u.%u", &major, &minor, &patch) != 3 || minor > 99 ||
      patch > 99)
    return -1;
  return (long)major * 10000 + (long)minor * 100 + (long)patch;
}
