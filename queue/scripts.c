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
 * - No starvation of big jobs: passing over means a 2-vCPU job could wait
 *   for ever while 1-vCPU jobs take each slice that frees up. So a claim
 *   that passes over a job for lack of room (budget or its own free
 *   capacity) that fits the budget at all (size <= max_vcpus) notes when
 *   (the job's skipped_at). Any claimer notes it, able to run the job or
 *   not: a worker able to run it may only ever see a full budget, every
 *   slice that frees being taken again at once by the smaller worker that
 *   freed it. Once that is reserve_after ago, the job becomes THE
 *   reservation, P.."reserve" (id, vcpus_m, since, host, host_until); one
 *   at a time, the others wait their turn.
 *   While it stands, every claim first places the reserved job if it fits
 *   both the budget and the claimer's free capacity; otherwise it places
 *   another job only if used + m + reserved <= max_vcpus, so the budget
 *   drains towards room for it. A worker could still never have room of
 *   its own (each of its slices refilled at once), so one worker, the
 *   host, drains: a claimer whose whole capacity fits the job takes the
 *   role when it is free (nobody, itself, or expired) and then takes
 *   nothing else until its free capacity fits. The role lasts a lease and
 *   is refreshed by the host's claims, which come every tick while it has
 *   a free slot, and it always has one once it drains; so a dead or
 *   stopped host holds it a lease at most, then another able worker takes
 *   it over.
 *   Why this ends: after the reservation no claim raises the budget in use
 *   above max - reserved, so once the jobs running before it end (bounded
 *   by attempt_timeout) the budget has room, and the host, taking nothing,
 *   gets its free capacity back the same way; its next claim places the
 *   job. A reservation is dropped when its job is claimed or cancelled,
 *   when a claim finds it stale (its job not queued or not in its list),
 *   and when no able worker has claimed for a lease after the host's role
 *   expired, or after the reservation was made by a claimer unable to run
 *   it (every able worker gone: the budget is not held for a job nobody
 *   can run; its skipped_at starts again, so it is reserved again only
 *   after another reserve_after). Jobs held back only by
 *   the reservation's share are not noted, so a small job never becomes a
 *   reservation merely for waiting behind one. reserve_after 0 turns this
 *   off (and a claim then drops a reservation left over).
 * - P.."nready" counts ready jobs across all lists, for depth and burst
 *   workers. Every push and every removal goes through these scripts. */
#include "queue/scripts.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
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
  "end\n"                                                                    \
  /* a claimed job back unrun: the attempt does not count, it goes first */  \
  "local function hand_back(id)\n"                                           \
  "  redis.call('ZREM', P .. 'active', id)\n"                                \
  "  release_hold(id)\n"                                                     \
  "  redis.call('HINCRBY', jk(id), 'attempts', -1)\n"                        \
  "  make_ready(id, true)\n"                                                 \
  "end\n"

/* The token must still be the job's and the job still active, or the caller
 * has lost its lease. ARGV: P id token ... */
#define CHECK_FENCE                                                          \
  "local id = ARGV[2]\n"                                                     \
  "local st = redis.call('HMGET', jk(id), 'state', 'token')\n"               \
  "if st[1] ~= 'active' or st[2] ~= ARGV[3] then return 0 end\n"

/* The second half of CLAIM, after the reservation (joined by continued[]):
 * a string literal may be no longer than ISO C requires compilers to take. */
#define CLAIM_PLACE                                                          \
  "local room = math.min(max - used, free) -- before the reservation's share\n" \
  "local avail = math.min(max - used - rm, free)\n"                          \
  "if not id and avail <= 0 then return {'full', used} end\n"                \
  "local function take(list)\n"                                              \
  "  local ids = redis.call('LRANGE', list, -4, -1)\n"                       \
  "  for i = #ids, 1, -1 do\n"                                               \
  "    local id = ids[i]\n"                                                  \
  "    local v = redis.call('HMGET', jk(id), 'state', 'vcpus_m', 'skipped_at')\n" \
  "    local m = tonumber(v[2]) or 0 -- a job hash edited by hand must not stop every claim\n" \
  "    if v[1] ~= 'queued' or m <= avail then\n"                             \
  "      redis.call('LREM', list, -1, id)\n"                                 \
  "      redis.call('DECR', P .. 'nready')\n"                                \
  /* an entry whose job is no longer queued is stale: dropped, not run */    \
  "      if v[1] == 'queued' then return id, m end\n"                        \
  /* passed over for lack of room (not only behind the reservation), by    \
   * any claimer (one able to run it may only ever see a full budget):       \
   * after reserve_after of that, it becomes the reservation (one at a       \
   * time). Its host is this claimer if able, else the first able one to     \
   * claim; host_until starts the clock that drops it if none comes. */      \
  "    elseif after > 0 and m > room and m <= max and id ~= rid then\n"     \
  "      local since = tonumber(v[3])\n"                                     \
  "      if not since then\n"                                                \
  "        redis.call('HSET', jk(id), 'skipped_at', now)\n"                  \
  "      elseif not rid and now - since >= after then\n"                     \
  "        rid, rm = id, m\n"                                                \
  "        redis.call('HSET', R, 'id', id, 'vcpus_m', m, 'since', now,\n"    \
  "                   'waiting_since', since, 'host_until', now + lease)\n"  \
  "        avail = math.min(max - used - rm, free)\n"                        \
  "        if m <= cap then\n"                                               \
  "          redis.call('HSET', R, 'host', me)\n"                            \
  "          if free < rm then avail = -1 end -- its host now: drain\n"      \
  "        end\n"                                                            \
  "      end\n"                                                              \
  "    end\n"                                                                \
  "  end\n"                                                                  \
  "  return nil\n"                                                           \
  "end\n"                                                                    \
  "if not id then id, m = take(P .. 'urgent') end\n"                         \
  "if not id then\n"                                                         \
  "  local n = math.min(redis.call('LLEN', P .. 'tenants'), 64)\n"           \
  "  for i = 1, n do\n"                                                      \
  "    local t = redis.call('LPOP', P .. 'tenants')\n"                       \
  "    redis.call('RPUSH', P .. 'tenants', t)\n"                             \
  "    local list = P .. 'ready:' .. t\n"                                    \
  "    id, m = take(list)\n"                                                 \
  "    unring(list, t)\n"                                                    \
  "    if id then break end\n"                                               \
  "  end\n"                                                                  \
  "end\n"                                                                    \
  "if not id then return {'none', used} end\n"                               \
  "if id == rid then redis.call('DEL', R) end\n"                             \
  "local token = redis.call('INCR', P .. 'fence')\n"                         \
  "if not tonumber(redis.call('HGET', jk(id), 'attempts') or '0') then\n"    \
  "  redis.call('HSET', jk(id), 'attempts', 0) -- else HINCRBY fails, the job unlisted\n" \
  "end\n"                                                                    \
  "local attempt = redis.call('HINCRBY', jk(id), 'attempts', 1)\n"           \
  "redis.call('HDEL', jk(id), 'skipped_at')\n"                               \
  "redis.call('HSET', jk(id), 'state', 'active', 'token', token,\n"          \
  "           'claimed_at', now)\n"                                          \
  "redis.call('ZADD', P .. 'active', now + lease, id)\n"                     \
  "redis.call('HSET', P .. 'holds', id, m)\n"                                \
  /* for UNCLAIM, should this reply never reach the claimer */               \
  "redis.call('SET', P .. 'claim:' .. ARGV[8], id .. ' ' .. token, 'PX', lease)\n" \
  "local v = redis.call('HMGET', jk(id), 'payload', 'max_attempts')\n"       \
  "return {'job', id, v[1] or '', attempt, tonumber(v[2]) or 1, token, m}\n"

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

    /* CLAIM ARGV: P lease_ms max_m free_m cap_m worker reserve_after_ms nonce
     * -> {'job', id, payload, attempt, max_attempts, token, vcpus_m}, or
     *    {'full', used_m} when the budget is spent (or what is left of it
     *    is held for the reservation), or {'none', used_m}. */
    PRELUDE
    "local lease, max = tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local free, cap = tonumber(ARGV[4]), tonumber(ARGV[5])\n"
    "local me, after = ARGV[6], tonumber(ARGV[7])\n"
    "local R = P .. 'reserve'\n"
    "local used = 0\n"
    "for _, m in ipairs(redis.call('HVALS', P .. 'holds')) do\n"
    "  used = used + (tonumber(m) or 0)\n"
    "end\n"
    "local now = now_ms()\n"
    /* drops a tenant whose list is now empty from the ring */
    "local function unring(list, t)\n"
    "  if t and redis.call('LLEN', list) == 0 then\n"
    "    redis.call('LREM', P .. 'tenants', -1, t)\n"
    "    redis.call('SREM', P .. 'tenant_set', t)\n"
    "  end\n"
    "end\n"
    /* The reservation (DESIGN): rid, its size rm; placed first when it fits,
     * else the budget keeps rm free for it and its host drains. */
    "local id, m, rid, rm = nil, 0, nil, 0\n"
    "if after <= 0 then redis.call('DEL', R) -- reserving is off\n"
    "else\n"
    "  local r = redis.call('HMGET', R, 'id', 'host', 'host_until')\n"
    "  if r[1] then\n"
    "    local v = redis.call('HMGET', jk(r[1]), 'state', 'vcpus_m')\n"
    "    local list, t = ready_list(r[1])\n"
    "    local hu = tonumber(r[3]) or 0\n"
    "    rm = tonumber(v[2]) or 0\n"
    /* stale: its job left the queue (claimed, cancelled, expired, edited),
     * or no worker able to run it has asked for work for a whole lease */
    "    if v[1] ~= 'queued' or rm > max or now > hu + lease or\n"
    "       not redis.call('LPOS', list, r[1], 'RANK', -1) then\n"
    "      redis.call('DEL', R)\n"
    /* nobody able came: not reserved again before another reserve_after */
    "      if v[1] == 'queued' and now > hu + lease then\n"
    "        redis.call('HSET', jk(r[1]), 'skipped_at', now)\n"
    "      end\n"
    "      rm = 0\n"
    "    elseif rm <= max - used and rm <= free then\n"
    "      redis.call('LREM', list, -1, r[1])\n"
    "      redis.call('DECR', P .. 'nready')\n"
    "      unring(list, t)\n"
    "      id, m, rid = r[1], rm, r[1]\n"
    "    else\n"
    "      rid = r[1]\n"
    "      if cap >= rm and (not r[2] or r[2] == me or now > hu) then\n"
    "        redis.call('HSET', R, 'host', me, 'host_until', now + lease)\n"
    /* the host takes nothing else until its own free capacity fits it */
    "        if free < rm then return {'none', used} end\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "end\n",

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
    "hand_back(id)\n"
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
    "if redis.call('HGET', P .. 'reserve', 'id') == id then\n"
    "  redis.call('DEL', P .. 'reserve')\n"
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

    /* UNCLAIM ARGV: P nonce
     * Undoes a claim whose reply was lost (the claimer timed out or lost its
     * connection, not knowing whether the claim ran): its job is handed back
     * unrun, as RELEASE does, if it is still under that claim's token.
     * -> 1 handed back, 0 nothing to undo (the claim never ran, or its
     * lease has passed and REAP's take-over decides). */
    PRELUDE
    "local k = P .. 'claim:' .. ARGV[2]\n"
    "local v = redis.call('GET', k)\n"
    "if not v then return 0 end\n"
    "redis.call('DEL', k)\n"
    "local id, token = string.match(v, '^(%S+) (%S+)$')\n"
    "if not id then return 0 end\n"
    "local st = redis.call('HMGET', jk(id), 'state', 'token')\n"
    "if st[1] ~= 'active' or st[2] ~= token then return 0 end\n"
    "hand_back(id)\n"
    "return 1\n",
};

/* What follows a script's source, where it is too long for one string
 * literal. */
static const char *const continued[SQ_SCRIPT__COUNT] = {[SQ_SCRIPT_CLAIM] = CLAIM_PLACE};

static const char *const names[SQ_SCRIPT__COUNT] = {
    "submit",  "claim", "renew",  "complete",    "fail",
    "release", "reap",  "cancel", "fence_floor", "depth", "unclaim"};

sq_errcode sq_scripts_load(sq_redis *r, sq_scripts *s, sq_err *err) {
  for (int i = 0; i < SQ_SCRIPT__COUNT; i++) {
    size_t head = strlen(sources[i]), tail = continued[i] ? strlen(continued[i]) : 0;
    char *text = malloc(head + tail + 1);
    const char *argv[3] = {"SCRIPT", "LOAD", text};
    size_t len[3] = {6, 4, head + tail};
    redisReply *reply;
    sq_errcode rc;
    if (text == NULL) return sq_err_set(err, SQ_ENOMEM, "out of memory");
    memcpy(text, sources[i], head);
    memcpy(text + head, tail ? continued[i] : "", tail + 1);
    rc = sq_redis_command(r, 3, argv, len, &reply, err);
    free(text);
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
