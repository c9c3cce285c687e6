/* scripts.c - Lua sources of the queue transitions (see scripts.h and
 * docs/architecture.md for the key layout).
 *
 * Every script gets the queue's key prefix P = "sheetq:{<queue>}:" as
 * ARGV[1] and builds key names from it; KEYS[1] is P.."fence", given only so
 * Redis Cluster routes the call to the queue's slot (the braces put every
 * key of a queue in that one slot).
 *
 * DESIGN
 * - Ready jobs live in one list per tenant (P.."ready:<tenant>") and in
 *   P.."urgent" (re-runs, on-demand exports). P.."tenants" is a ring of the
 *   tenants that have ready jobs (P.."tenant_set" mirrors it for O(1)
 *   membership). A claim looks at the urgent list first, then rotates the
 *   ring: one tenant per turn, so a tenant with 500 reports cannot hold the
 *   cluster while others wait.
 * - The cluster's vCPU budget: P.."holds" maps each claimed job to its size
 *   in thousandths of a vCPU. A claim sums the holds (as many as jobs run,
 *   a few dozen) and places a job only if it fits both the budget and the
 *   claiming worker's free capacity. Every way out of "active" (complete,
 *   fail, release, an expired lease) deletes the hold, so a crash cannot
 *   leak capacity; there is no counter that could drift.
 * - No head-of-line blocking: a claim looks at up to 4 oldest jobs of each
 *   list and takes the first that fits, and goes on to the next tenant if
 *   none does.
 * - P.."nready" counts ready jobs across all lists, for depth and burst
 *   workers. Every push and every removal goes through these scripts. */
#include "queue/scripts.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>

#define PRELUDE                                                              \
  "local P = ARGV[1]\n"                                                      \
  "local function jk(id) return P .. 'job:' .. id end\n"                     \
  "local function now_ms()\n"                                                \
  "  local t = redis.call('TIME')\n"                                         \
  "  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"     \
  "end\n"                                                                    \
  "local function wake()\n"                                                  \
  "  redis.call('LPUSH', P .. 'wake', '1')\n"                                \
  "  redis.call('LTRIM', P .. 'wake', 0, 255)\n"                             \
  "end\n"                                                                    \
  "local function ready_list(id)\n"                                          \
  "  local v = redis.call('HMGET', jk(id), 'tenant', 'urgent')\n"            \
  "  if v[2] == '1' then return P .. 'urgent', nil end\n"                    \
  "  local t = v[1] or '0'\n"                                                \
  "  return P .. 'ready:' .. t, t\n"                                         \
  "end\n"                                                                    \
  /* front: a job taken over or handed back goes first in its list */        \
  "local function make_ready(id, front)\n"                                   \
  "  local list, t = ready_list(id)\n"                                       \
  "  if t and redis.call('SADD', P .. 'tenant_set', t) == 1 then\n"          \
  "    redis.call('RPUSH', P .. 'tenants', t)\n"                             \
  "  end\n"                                                                  \
  "  redis.call('HSET', jk(id), 'state', 'queued')\n"                        \
  "  if front then redis.call('RPUSH', list, id)\n"                          \
  "  else redis.call('LPUSH', list, id) end\n"                               \
  "  redis.call('INCR', P .. 'nready')\n"                                    \
  "  wake()\n"                                                               \
  "end\n"                                                                    \
  "local function release_hold(id)\n"                                        \
  "  if redis.call('HDEL', P .. 'holds', id) == 1 then wake() end\n"         \
  "end\n"

/* The token must still be the job's and the job still active, or the caller
 * has lost its lease. ARGV: P id token ... */
#define CHECK_FENCE                                                          \
  "local id = ARGV[2]\n"                                                     \
  "local st = redis.call('HMGET', jk(id), 'state', 'token')\n"               \
  "if st[1] ~= 'active' or st[2] ~= ARGV[3] then return 0 end\n"

static const char *const sources[SQ_SCRIPT__COUNT] = {
    /* SUBMIT ARGV: P id payload max_attempts tenant vcpus_m urgent attempts
     * -> 1 added, or the state of the job Redis already holds
     * (idempotent). */
    PRELUDE
    "local id = ARGV[2]\n"
    "local st = redis.call('HGET', jk(id), 'state')\n"
    "if st then return st end\n"
    "if redis.call('EXISTS', jk(id)) == 1 then return 'unknown' end\n"
    "redis.call('HSET', jk(id), 'payload', ARGV[3], 'attempts', ARGV[8],\n"
    "  'max_attempts', ARGV[4], 'tenant', ARGV[5], 'vcpus_m', ARGV[6],\n"
    "  'urgent', ARGV[7])\n"
    "make_ready(id, false)\n"
    "return 1\n",

    /* CLAIM ARGV: P lease_ms max_m free_m
     * -> {'job', id, payload, attempt, max_attempts, token, vcpus_m}, or
     *    {'full', used_m} when the budget is spent, or {'none', used_m}. */
    PRELUDE
    "local used = 0\n"
    "for _, m in ipairs(redis.call('HVALS', P .. 'holds')) do\n"
    "  used = used + (tonumber(m) or 0)\n"
    "end\n"
    "local avail = math.min(tonumber(ARGV[3]) - used, tonumber(ARGV[4]))\n"
    "if avail <= 0 then return {'full', used} end\n"
    "local function take(list)\n"
    "  local ids = redis.call('LRANGE', list, -4, -1)\n"
    "  for i = #ids, 1, -1 do\n"
    "    local id = ids[i]\n"
    "    local v = redis.call('HMGET', jk(id), 'state', 'vcpus_m')\n"
    "    local m = tonumber(v[2]) or 0 -- a job hash edited by hand must not stop every claim\n"
    "    if v[1] ~= 'queued' or m <= avail then\n"
    "      redis.call('LREM', list, -1, id)\n"
    "      redis.call('DECR', P .. 'nready')\n"
    /* an entry whose job is no longer queued is stale: dropped, not run */
    "      if v[1] == 'queued' then return id, m end\n"
    "    end\n"
    "  end\n"
    "  return nil\n"
    "end\n"
    "local id, m = take(P .. 'urgent')\n"
    "if not id then\n"
    "  local n = math.min(redis.call('LLEN', P .. 'tenants'), 64)\n"
    "  for i = 1, n do\n"
    "    local t = redis.call('LPOP', P .. 'tenants')\n"
    "    redis.call('RPUSH', P .. 'tenants', t)\n"
    "    local list = P .. 'ready:' .. t\n"
    "    id, m = take(list)\n"
    "    if redis.call('LLEN', list) == 0 then\n"
    "      redis.call('LREM', P .. 'tenants', -1, t)\n"
    "      redis.call('SREM', P .. 'tenant_set', t)\n"
    "    end\n"
    "    if id then break end\n"
    "  end\n"
    "end\n"
    "if not id then return {'none', used} end\n"
    "local now = now_ms()\n"
    "local token = redis.call('INCR', P .. 'fence')\n"
    "if not tonumber(redis.call('HGET', jk(id), 'attempts') or '0') then\n"
    "  redis.call('HSET', jk(id), 'attempts', 0) -- else HINCRBY fails, the job unlisted\n"
    "end\n"
    "local attempt = redis.call('HINCRBY', jk(id), 'attempts', 1)\n"
    "redis.call('HSET', jk(id), 'state', 'active', 'token', token,\n"
    "           'claimed_at', now)\n"
    "redis.call('ZADD', P .. 'active', now + tonumber(ARGV[2]), id)\n"
    "redis.call('HSET', P .. 'holds', id, m)\n"
    "local v = redis.call('HMGET', jk(id), 'payload', 'max_attempts')\n"
    "return {'job', id, v[1] or '', attempt, tonumber(v[2]) or 1, token, m}\n",

    /* RENEW ARGV: P id token lease_ms -> 1 ok, 0 lost */
    PRELUDE CHECK_FENCE
    "redis.call('ZADD', P .. 'active', 'XX', now_ms() + tonumber(ARGV[4]), id)\n"
    "return 1\n",

    /* COMPLETE ARGV: P id token ttl_s -> 1 ok, 0 lost */
    PRELUDE CHECK_FENCE
    "redis.call('ZREM', P .. 'active', id)\n"
    "release_hold(id)\n"
    "redis.call('HSET', jk(id), 'state', 'done', 'finished_at', now_ms())\n"
    "redis.call('EXPIRE', jk(id), tonumber(ARGV[4]))\n"
    "return 1\n",

    /* FAIL ARGV: P id token final(0/1) delay_ms code reason ttl_s
     * -> 'retry', 'failed', or 0 when the lease was lost. The caller decides
     * final (retry rules, attempts used up), from the claim. */
    PRELUDE CHECK_FENCE
    "redis.call('ZREM', P .. 'active', id)\n"
    "release_hold(id)\n"
    "redis.call('HSET', jk(id), 'last_error_code', ARGV[6], 'last_error', ARGV[7])\n"
    "if ARGV[4] == '0' then\n"
    "  local delay = tonumber(ARGV[5])\n"
    "  if delay <= 0 then make_ready(id, false)\n"
    "  else\n"
    "    redis.call('HSET', jk(id), 'state', 'delayed')\n"
    "    redis.call('ZADD', P .. 'delayed', now_ms() + delay, id)\n"
    "  end\n"
    "  return 'retry'\n"
    "end\n"
    "local now = now_ms()\n"
    "redis.call('HSET', jk(id), 'state', 'failed', 'finished_at', now)\n"
    "redis.call('ZADD', P .. 'failed', now, id)\n"
    "redis.call('ZREMRANGEBYRANK', P .. 'failed', 0, -10001)\n"
    "redis.call('EXPIRE', jk(id), tonumber(ARGV[8]))\n"
    "return 'failed'\n",

    /* RELEASE ARGV: P id token
     * Hands a claimed job back unrun (worker shutdown): the attempt does not
     * count and the job goes first in its list. -> 1, or 0 if lost. */
    PRELUDE CHECK_FENCE
    "redis.call('ZREM', P .. 'active', id)\n"
    "release_hold(id)\n"
    "redis.call('HINCRBY', jk(id), 'attempts', -1)\n"
    "make_ready(id, true)\n"
    "return 1\n",

    /* REAP ARGV: P limit ttl_s
     * Takes back leases that expired (their worker died or stalled) and
     * moves due retries to the queue. A job whose attempts are used up fails
     * here, so a job that kills its worker every time cannot loop forever.
     * -> flat list of {id, token, attempts, 'requeued'|'failed'}. */
    PRELUDE
    "local now = now_ms()\n"
    "local out = {}\n"
    "local limit = tonumber(ARGV[2])\n"
    "for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'active', '-inf',\n"
    "                               now, 'LIMIT', 0, limit)) do\n"
    "  redis.call('ZREM', P .. 'active', id)\n"
    "  release_hold(id)\n"
    "  local v = redis.call('HMGET', jk(id), 'state', 'token', 'attempts',\n"
    "                       'max_attempts')\n"
    "  if v[1] == 'active' then\n"
    "    local outcome = 'requeued'\n"
    "    if (tonumber(v[3]) or 0) >= (tonumber(v[4]) or 1) then\n"
    "      outcome = 'failed'\n"
    "      redis.call('HSET', jk(id), 'state', 'failed', 'finished_at', now,\n"
    "        'last_error_code', 'lease_lost', 'last_error',\n"
    "        'worker lost (lease expired) on the last attempt')\n"
    "      redis.call('ZADD', P .. 'failed', now, id)\n"
    "      redis.call('EXPIRE', jk(id), tonumber(ARGV[3]))\n"
    "    else\n"
    "      make_ready(id, true)\n"
    "    end\n"
    "    table.insert(out, id) table.insert(out, v[2] or '0')\n"
    "    table.insert(out, v[3] or '0') table.insert(out, outcome)\n"
    "  end\n"
    "end\n"
    "for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'delayed', '-inf',\n"
    "                               now, 'LIMIT', 0, limit)) do\n"
    "  redis.call('ZREM', P .. 'delayed', id)\n"
    "  if redis.call('HGET', jk(id), 'state') == 'delayed' then\n"
    "    make_ready(id, false)\n"
    "  end\n"
    "end\n"
    "return out\n",

    /* CANCEL ARGV: P id ttl_s
     * -> 'cancelled', 'absent', or the state that prevents it ('active'). */
    PRELUDE
    "local id = ARGV[2]\n"
    "local st = redis.call('HGET', jk(id), 'state')\n"
    "if not st then return 'absent' end\n"
    "if st == 'queued' then\n"
    "  local list = ready_list(id)\n"
    "  if redis.call('LREM', list, 0, id) > 0 then\n"
    "    redis.call('DECR', P .. 'nready')\n"
    "  end\n"
    "elseif st == 'delayed' then\n"
    "  redis.call('ZREM', P .. 'delayed', id)\n"
    "else\n"
    "  return st\n"
    "end\n"
    "redis.call('HSET', jk(id), 'state', 'cancelled')\n"
    "redis.call('EXPIRE', jk(id), tonumber(ARGV[3]))\n"
    "return 'cancelled'\n",

    /* FENCE_FLOOR ARGV: P floor
     * Raises the token counter to at least floor (after Redis lost data, so
     * new tokens still beat those the ledger recorded). -> the counter. */
    PRELUDE
    "local cur = tonumber(redis.call('GET', P .. 'fence') or '0')\n"
    "local floor = tonumber(ARGV[2])\n"
    "if cur < floor then redis.call('SET', P .. 'fence', ARGV[2]) cur = floor end\n"
    "return cur\n",

    /* DEPTH ARGV: P -> {ready, delayed, active, failed, used_m, urgent,
     * tenants waiting} */
    PRELUDE
    "local used = 0\n"
    "for _, m in ipairs(redis.call('HVALS', P .. 'holds')) do\n"
    "  used = used + (tonumber(m) or 0)\n"
    "end\n"
    "return {tonumber(redis.call('GET', P .. 'nready') or '0'),\n"
    "  redis.call('ZCARD', P .. 'delayed'), redis.call('ZCARD', P .. 'active'),\n"
    "  redis.call('ZCARD', P .. 'failed'), used, redis.call('LLEN', P .. 'urgent'),\n"
    "  redis.call('SCARD', P .. 'tenant_set')}\n",
};

static const char *const names[SQ_SCRIPT__COUNT] = {
    "submit",  "claim", "renew",  "complete",    "fail",
    "release", "reap",  "cancel", "fence_floor", "depth"};

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

int sq_scripts_argv(const sq_scripts *s, sq_script_id id, const char *route_key,
                    int nargs, const char **args, const char **argv,
                    size_t *argvlen, int cap) {
  int argc = 0;
  if (4 + nargs > cap) return -1;
  argv[argc] = "EVALSHA";
  argvlen[argc++] = 7;
  argv[argc] = s->sha[id];
  argvlen[argc++] = 40;
  argv[argc] = "1";
  argvlen[argc++] = 1;
  argv[argc] = route_key;
  argvlen[argc++] = strlen(route_key);
  for (int i = 0; i < nargs; i++) {
    argv[argc] = args[i];
    argvlen[argc++] = strlen(args[i]);
  }
  return argc;
}

sq_errcode sq_scripts_run(sq_redis *r, sq_scripts *s, sq_script_id id,
                          const char *route_key, int nargs, const char **args,
                          struct redisReply **reply, sq_err *err) {
  const char *argv[32];
  size_t argvlen[32];
  int argc = sq_scripts_argv(s, id, route_key, nargs, args, argv, argvlen, 32);
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
