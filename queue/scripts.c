/* scripts.c - Lua sources of the queue transitions (see scripts.h and
 * docs/architecture.md for the key layout).
 *
 * Keys: <p> = "sheetq:{<queue>}:" (the braces keep every key of a queue in
 * one Redis Cluster slot). <p>job:<id> is a hash: payload, state (queued,
 * active, delayed, done, failed), attempts, max_attempts, token,
 * last_error_code, last_error. <p>ready is a list (LPUSH new, RPOP claims,
 * RPUSH puts a taken-over job at the head), <p>active a zset of leases by
 * deadline (ms, server clock), <p>delayed a zset of retries by due time,
 * <p>failed a zset of finally failed jobs, <p>fence the token counter,
 * <p>wake a list idle workers block on. */
#include "queue/scripts.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>

#define NOW_MS                                                              \
  "local t = redis.call('TIME')\n"                                          \
  "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"

/* Shared by every script that takes a claim back: the token must still be
 * the job's and the job still active, or the caller has lost its lease. */
#define CHECK_FENCE                                                         \
  "local jk = ARGV[1] .. 'job:' .. ARGV[2]\n"                                \
  "local st = redis.call('HMGET', jk, 'state', 'token')\n"                  \
  "if st[1] ~= 'active' or st[2] ~= ARGV[3] then return 0 end\n"

static const char *const sources[SQ_SCRIPT__COUNT] = {
    /* SUBMIT KEYS: ready wake  ARGV: prefix id payload max_attempts front
     * -> 1 added, 0 already known (idempotent). front=1 (a re-run) puts the
     * job at the head of the queue. */
    "local jk = ARGV[1] .. 'job:' .. ARGV[2]\n"
    "if redis.call('EXISTS', jk) == 1 then return 0 end\n"
    "redis.call('HSET', jk, 'payload', ARGV[3], 'state', 'queued',\n"
    "           'attempts', 0, 'max_attempts', ARGV[4])\n"
    "if ARGV[5] == '1' then redis.call('RPUSH', KEYS[1], ARGV[2])\n"
    "else redis.call('LPUSH', KEYS[1], ARGV[2]) end\n"
    "redis.call('LPUSH', KEYS[2], '1')\n"
    "redis.call('LTRIM', KEYS[2], 0, 255)\n"
    "return 1\n",

    /* CLAIM KEYS: ready active fence  ARGV: prefix lease_ms
     * -> {id, payload, attempt, max_attempts, token} or nil when empty. */
    NOW_MS
    "for i = 1, 16 do\n"
    "  local id = redis.call('RPOP', KEYS[1])\n"
    "  if not id then return false end\n"
    "  local jk = ARGV[1] .. 'job:' .. id\n"
    "  if redis.call('HGET', jk, 'state') == 'queued' then\n"
    "    local token = redis.call('INCR', KEYS[3])\n"
    "    local attempt = redis.call('HINCRBY', jk, 'attempts', 1)\n"
    "    redis.call('HSET', jk, 'state', 'active', 'token', token,\n"
    "               'claimed_at', now)\n"
    "    redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), id)\n"
    "    local v = redis.call('HMGET', jk, 'payload', 'max_attempts')\n"
    "    return {id, v[1] or '', attempt, tonumber(v[2] or '1'), token}\n"
    "  end\n"
    /* an id without a queued job behind it (cancelled, or a stale duplicate
     * entry): nothing to run, skip it */
    "end\n"
    "return false\n",

    /* RENEW KEYS: active  ARGV: prefix id token lease_ms -> 1 ok, 0 lost */
    CHECK_FENCE NOW_MS
    "redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[4]), ARGV[2])\n"
    "return 1\n",

    /* COMPLETE KEYS: active  ARGV: prefix id token ttl_s -> 1 ok, 0 lost */
    CHECK_FENCE NOW_MS
    "redis.call('ZREM', KEYS[1], ARGV[2])\n"
    "redis.call('HSET', jk, 'state', 'done', 'finished_at', now)\n"
    "redis.call('EXPIRE', jk, tonumber(ARGV[4]))\n"
    "return 1\n",

    /* FAIL KEYS: active ready delayed failed wake
     * ARGV: prefix id token final(0/1) delay_ms code reason ttl_s
     * -> 'retry', 'failed', or 0 when the lease was lost. The caller decides
     * final (permanent error or attempts used up), from the claim. */
    CHECK_FENCE NOW_MS
    "redis.call('ZREM', KEYS[1], ARGV[2])\n"
    "redis.call('HSET', jk, 'last_error_code', ARGV[6], 'last_error', ARGV[7])\n"
    "if ARGV[4] == '0' then\n"
    "  local delay = tonumber(ARGV[5])\n"
    "  if delay <= 0 then\n"
    "    redis.call('HSET', jk, 'state', 'queued')\n"
    "    redis.call('LPUSH', KEYS[2], ARGV[2])\n"
    "    redis.call('LPUSH', KEYS[5], '1')\n"
    "    redis.call('LTRIM', KEYS[5], 0, 255)\n"
    "  else\n"
    "    redis.call('HSET', jk, 'state', 'delayed')\n"
    "    redis.call('ZADD', KEYS[3], now + delay, ARGV[2])\n"
    "  end\n"
    "  return 'retry'\n"
    "end\n"
    "redis.call('HSET', jk, 'state', 'failed', 'finished_at', now)\n"
    "redis.call('ZADD', KEYS[4], now, ARGV[2])\n"
    "redis.call('ZREMRANGEBYRANK', KEYS[4], 0, -10001)\n"
    "redis.call('EXPIRE', jk, tonumber(ARGV[8]))\n"
    "return 'failed'\n",

    /* RELEASE KEYS: active ready wake  ARGV: prefix id token
     * Hands a claimed job back unrun (worker shutdown): the attempt does not
     * count, and the job goes to the head of the queue. -> 1, or 0 if lost. */
    CHECK_FENCE
    "redis.call('ZREM', KEYS[1], ARGV[2])\n"
    "redis.call('HINCRBY', jk, 'attempts', -1)\n"
    "redis.call('HSET', jk, 'state', 'queued')\n"
    "redis.call('RPUSH', KEYS[2], ARGV[2])\n"
    "redis.call('LPUSH', KEYS[3], '1')\n"
    "redis.call('LTRIM', KEYS[3], 0, 255)\n"
    "return 1\n",

    /* REAP KEYS: active ready delayed failed wake  ARGV: prefix limit ttl_s
     * Takes back leases that expired (their worker died or stalled) and
     * moves due retries to the queue. A job whose attempts are used up fails
     * here, so a job that kills its worker every time cannot loop forever.
     * -> flat list of {id, token, attempts, 'requeued'|'failed'}. */
    NOW_MS
    "local out = {}\n"
    "local limit = tonumber(ARGV[2])\n"
    "local woke = false\n"
    "for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now,\n"
    "                               'LIMIT', 0, limit)) do\n"
    "  redis.call('ZREM', KEYS[1], id)\n"
    "  local jk = ARGV[1] .. 'job:' .. id\n"
    "  local v = redis.call('HMGET', jk, 'state', 'token', 'attempts',\n"
    "                       'max_attempts')\n"
    "  if v[1] == 'active' then\n"
    "    if tonumber(v[3] or '0') >= tonumber(v[4] or '1') then\n"
    "      redis.call('HSET', jk, 'state', 'failed', 'finished_at', now,\n"
    "        'last_error_code', 'lease_lost', 'last_error',\n"
    "        'worker lost (lease expired) on the last attempt')\n"
    "      redis.call('ZADD', KEYS[4], now, id)\n"
    "      redis.call('EXPIRE', jk, tonumber(ARGV[3]))\n"
    "      table.insert(out, id) table.insert(out, v[2] or '0')\n"
    "      table.insert(out, v[3] or '0') table.insert(out, 'failed')\n"
    "    else\n"
    "      redis.call('HSET', jk, 'state', 'queued')\n"
    "      redis.call('RPUSH', KEYS[2], id)\n"
    "      woke = true\n"
    "      table.insert(out, id) table.insert(out, v[2] or '0')\n"
    "      table.insert(out, v[3] or '0') table.insert(out, 'requeued')\n"
    "    end\n"
    "  end\n"
    "end\n"
    "for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now,\n"
    "                               'LIMIT', 0, limit)) do\n"
    "  redis.call('ZREM', KEYS[3], id)\n"
    "  local jk = ARGV[1] .. 'job:' .. id\n"
    "  if redis.call('HGET', jk, 'state') == 'delayed' then\n"
    "    redis.call('HSET', jk, 'state', 'queued')\n"
    "    redis.call('LPUSH', KEYS[2], id)\n"
    "    woke = true\n"
    "  end\n"
    "end\n"
    "if woke then\n"
    "  redis.call('LPUSH', KEYS[5], '1')\n"
    "  redis.call('LTRIM', KEYS[5], 0, 255)\n"
    "end\n"
    "return out\n",

    /* CANCEL KEYS: ready delayed  ARGV: prefix id ttl_s
     * -> 'cancelled', 'absent', or the state that prevents it ('active'). */
    "local jk = ARGV[1] .. 'job:' .. ARGV[2]\n"
    "local st = redis.call('HGET', jk, 'state')\n"
    "if not st then return 'absent' end\n"
    "if st ~= 'queued' and st ~= 'delayed' then return st end\n"
    "redis.call('LREM', KEYS[1], 0, ARGV[2])\n"
    "redis.call('ZREM', KEYS[2], ARGV[2])\n"
    "redis.call('HSET', jk, 'state', 'cancelled')\n"
    "redis.call('EXPIRE', jk, tonumber(ARGV[3]))\n"
    "return 'cancelled'\n",

    /* FENCE_FLOOR KEYS: fence  ARGV: floor
     * Raises the token counter to at least floor (after Redis lost data, so
     * new tokens still beat those the ledger recorded). -> the counter. */
    "local cur = tonumber(redis.call('GET', KEYS[1]) or '0')\n"
    "local floor = tonumber(ARGV[1])\n"
    "if cur < floor then redis.call('SET', KEYS[1], ARGV[1]) cur = floor end\n"
    "return cur\n",
};

static const char *const names[SQ_SCRIPT__COUNT] = {
    "submit", "claim",   "renew",  "complete",   "fail",
    "release", "reap", "cancel", "fence_floor"};

sq_errcode sq_scripts_load(sq_redis *r, sq_scripts *s, sq_err *err) {
  for (int i = 0; i < SQ_SCRIPT__COUNT; i++) {
    const char *argv[3] = {"SCRIPT", "LOAD", sources[i]};
    size_t len[3] = {6, 4, strlen(sources[i])};
    redisReply *reply;
    sq_errcode rc = sq_redis_command(r, 3, argv, len, &reply, err);
    if (rc != SQ_OK) return rc;
    if (reply->type != REDIS_REPLY_STRING || reply->len != 40) {
      sq_redis_reply_free(reply);
      return sq_err_set(err, SQ_EREDIS_REPLY, "SCRIPT LOAD %s: unexpected reply", names[i]);
    }
    memcpy(s->sha[i], reply->str, 40);
    s->sha[i][40] = '\0';
    sq_redis_reply_free(reply);
  }
  return SQ_OK;
}

int sq_scripts_argv(const sq_scripts *s, sq_script_id id, int nkeys,
                    const char **keys, int nargs, const char **args,
                    const size_t *arglens, const char **argv, size_t *argvlen,
                    int cap, char numkeys_buf[8]) {
  int argc = 0;
  if (3 + nkeys + nargs > cap) return -1;
  argv[argc] = "EVALSHA";
  argvlen[argc++] = 7;
  argv[argc] = s->sha[id];
  argvlen[argc++] = 40;
  snprintf(numkeys_buf, 8, "%d", nkeys);
  argv[argc] = numkeys_buf;
  argvlen[argc++] = strlen(numkeys_buf);
  for (int i = 0; i < nkeys; i++) {
    argv[argc] = keys[i];
    argvlen[argc++] = strlen(keys[i]);
  }
  for (int i = 0; i < nargs; i++) {
    argv[argc] = args[i];
    argvlen[argc++] = arglens ? arglens[i] : strlen(args[i]);
  }
  return argc;
}

sq_errcode sq_scripts_run(sq_redis *r, sq_scripts *s, sq_script_id id,
                          int nkeys, const char **keys, int nargs,
                          const char **args, const size_t *arglens,
                          redisReply **reply, sq_err *err) {
  const char *argv[32];
  size_t argvlen[32];
  char nk[8];
  int argc = sq_scripts_argv(s, id, nkeys, keys, nargs, args, arglens, argv,
                             argvlen, 32, nk);
  sq_errcode rc;
  if (argc < 0) return sq_err_set(err, SQ_EINTERNAL, "too many script arguments");
  for (int tries = 0; tries < 2; tries++) {
    rc = sq_redis_command(r, argc, argv, argvlen, reply, err);
    if (rc != SQ_EREDIS_REPLY || strstr(err->msg, "NOSCRIPT") == NULL) return rc;
    /* The server lost its script cache (restart or failover): reload. */
    if ((rc = sq_scripts_load(r, s, err)) != SQ_OK) return rc;
  }
  return rc;
}
