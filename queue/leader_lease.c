/* leader_lease.c - see leader_lease.h. */
#include "queue/leader_lease.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/job.h"
#include "queue/redis_conn.h"

/* KEYS[1] lease key; ARGV[1] token, ARGV[2] ttl ms. */
static const char RENEW_LUA[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0";
static const char RELEASE_LUA[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "return redis.call('DEL', KEYS[1]) end return 0";

struct sq_leader_lease {
  sq_redis *redis;
  char key[160];
  char token[SQ_ID_SIZE];
  char ttl[24];
  bool held;
};

sq_leader_lease *sq_leader_lease_open(const char *redis_url, const char *key,
                                      long ttl_ms, sq_err *err) {
  sq_leader_lease *l = calloc(1, sizeof *l);
  if (l == NULL) {
    sq_err_set(err, SQ_ENOMEM, "out of memory");
    return NULL;
  }
  snprintf(l->key, sizeof l->key, "%s", key);
  snprintf(l->ttl, sizeof l->ttl, "%ld", ttl_ms);
  if (sq_id_new('l', l->token) != SQ_OK) {
    sq_err_set(err, SQ_EIO, "cannot make a lease token");
    free(l);
    return NULL;
  }
  /* The command timeout stays well under the lease, so a hung call cannot
   * let the lease run out while we still believe we hold it. */
  if ((l->redis = sq_redis_open(redis_url, (int)(ttl_ms / 4), err)) == NULL) {
    free(l);
    return NULL;
  }
  return l;
}

static sq_errcode eval(sq_leader_lease *l, const char *script, long long *out,
                       sq_err *err) {
  const char *argv[] = {"EVAL", script, "1", l->key, l->token, l->ttl};
  redisReply *reply = NULL;
  sq_errcode rc = sq_redis_command(l->redis, 6, argv, NULL, &reply, err);
  if (rc != SQ_OK) return rc;
  if (reply->type != REDIS_REPLY_INTEGER)
    rc = sq_err_set(err, SQ_EREDIS_REPLY, "lease %s: unexpected reply", l->key);
  else
    *out = reply->integer;
  sq_redis_reply_free(reply);
  return rc;
}

sq_errcode sq_leader_lease_refresh(sq_leader_lease *l, bool *held, sq_err *err) {
  sq_errcode rc;
  *held = false;
  if (l->held) {
    long long renewed = 0;
    rc = eval(l, RENEW_LUA, &renewed, err);
    l->held = rc == SQ_OK && renewed == 1;
    if (rc != SQ_OK) return rc;
  }
  if (!l->held) {
    const char *argv[] = {"SET", l->key, l->token, "NX", "PX", l->ttl};
    redisReply *reply = NULL;
    rc = sq_redis_command(l->redis, 6, argv, NULL, &reply, err);
    if (rc != SQ_OK) return rc;
    l->held = reply->type == REDIS_REPLY_STATUS; /* "OK"; nil: someone else has it */
    sq_redis_reply_free(reply);
  }
  *held = l->held;
  return SQ_OK;
}

void sq_leader_lease_close(sq_leader_lease *l) {
  long long ignored;
  sq_err err;
  if (l == NULL) return;
  if (l->held) eval(l, RELEASE_LUA, &ignored, &err);
  sq_redis_close(l->redis);
  free(l);
}
