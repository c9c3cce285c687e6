/* queue.c - the queue operations over redis_conn and scripts (see queue.h). */
#include "queue/queue.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "queue/redis_conn.h"
#include "queue/scripts.h"

#define SUBMIT_PIPELINE 1000 /* script calls per round trip */

struct sq_queue {
  sq_redis *redis;
  sq_scripts scripts;
  bool scripts_loaded;
  char prefix[96];
  char route_key[112]; /* any key of the queue: routes scripts to its slot */
  char wake_key[112];
  /* Who claims, for the reservation (sq_queue_set_claimer). */
  char claimer[128];
  long claimer_capacity_m;
  long reserve_after_ms;
  /* The nonce of a claim whose reply never came (it may have run): undone
   * before the next claim (undo_lost_claim). "" when none. */
  char lost_claim[SQ_ID_SIZE];
};

struct sq_queue_waiter {
  sq_redis *redis;
  char wake_key[112];
};

static void make_names(const char *name, char prefix[96], char route[112],
                       char wake[112]) {
  snprintf(prefix, 96, "sheetq:{%s}:", name);
  snprintf(route, 112, "%sfence", prefix);
  snprintf(wake, 112, "%swake", prefix);
}

sq_queue *sq_queue_open(const char *redis_url, const char *name,
                        int command_timeout_ms, sq_err *err) {
  sq_queue *q = calloc(1, sizeof *q);
  if (q == NULL) {
    sq_err_set(err, SQ_ENOMEM, "out of memory");
    return NULL;
  }
  make_names(name, q->prefix, q->route_key, q->wake_key);
  q->redis = sq_redis_open(redis_url, command_timeout_ms, err);
  if (q->redis == NULL) {
    free(q);
    return NULL;
  }
  return q;
}

void sq_queue_set_claimer(sq_queue *q, const char *worker, long capacity_m,
                          long reserve_after_ms) {
  snprintf(q->claimer, sizeof q->claimer, "%s", worker ? worker : "");
  q->claimer_capacity_m = capacity_m;
  q->reserve_after_ms = reserve_after_ms;
}

void sq_queue_close(sq_queue *q) {
  if (q == NULL) return;
  sq_redis_close(q->redis);
  free(q);
}

/* The claim script's LPOS came with Redis 6.0.6. */
#define REDIS_VERSION_MIN 60006

/* An older server runs every script until the first reservation, then fails
 * every claim: refused before the scripts are first loaded instead, which is
 * also the first time a worker that started while Redis was down reaches it.
 * A server that does not say (INFO renamed away) is taken at its word. */
static sq_errcode check_version(sq_queue *q, sq_err *err) {
  const char *info[2] = {"INFO", "server"};
  size_t info_len[2] = {4, 6};
  redisReply *reply;
  long version;
  sq_errcode rc = sq_redis_command(q->redis, 2, info, info_len, &reply, err);
  if (rc == SQ_EREDIS_REPLY) return SQ_OK;
  if (rc != SQ_OK) return rc;
  version = reply->type == REDIS_REPLY_STRING ? sq_redis_info_version(reply->str) : -1;
  sq_redis_reply_free(reply);
  if (version >= 0 && version < REDIS_VERSION_MIN)
    return sq_err_set(err, SQ_ECONFIG,
                      "redis %ld.%ld.%ld is too old: sheetq needs Redis 6.0.6 or later",
                      version / 10000, version / 100 % 100, version % 100);
  return SQ_OK;
}

static sq_errcode ready(sq_queue *q, sq_err *err) {
  sq_errcode rc = sq_redis_ensure(q->redis, err);
  if (rc != SQ_OK) return rc;
  if (!q->scripts_loaded) {
    if ((rc = check_version(q, err)) != SQ_OK ||
        (rc = sq_scripts_load(q->redis, &q->scripts, err)) != SQ_OK)
      return rc;
    q->scripts_loaded = true;
  }
  return SQ_OK;
}

/* Runs a script with ARGV = prefix, args... */
static sq_errcode run(sq_queue *q, sq_script_id id, int nargs,
                      const char **args, redisReply **reply, sq_err *err) {
  const char *all[16];
  sq_errcode rc = ready(q, err);
  if (rc != SQ_OK) return rc;
  if (nargs + 1 > 16) return sq_err_set(err, SQ_EINTERNAL, "too many script arguments");
  all[0] = q->prefix;
  for (int i = 0; i < nargs; i++) all[i + 1] = args[i];
  return sq_scripts_run(q->redis, &q->scripts, id, q->route_key, nargs + 1, all,
                        reply, err);
}

sq_errcode sq_queue_check_server(sq_queue *q, sq_err *err) {
  const char *argv[3] = {"CONFIG", "GET", "maxmemory-policy"};
  size_t len[3] = {6, 3, 16};
  redisReply *reply;
  sq_errcode rc = ready(q, err); /* the version check among it */
  if (rc != SQ_OK) return rc;
  rc = sq_redis_command(q->redis, 3, argv, len, &reply, err);
  if (rc == SQ_EREDIS_REPLY) return SQ_OK; /* CONFIG disabled (managed Redis) */
  if (rc != SQ_OK) return rc;
  if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
      reply->element[1]->type == REDIS_REPLY_STRING &&
      strcmp(reply->element[1]->str, "noeviction") != 0)
    SQ_WARN("redis maxmemory-policy is %s: under memory pressure Redis will "
            "silently delete queued jobs; set it to noeviction",
            reply->element[1]->str);
  sq_redis_reply_free(reply);
  return SQ_OK;
}

sq_errcode sq_queue_wait_loaded(sq_queue *q, long max_ms, sq_err *err) {
  const char *argv[1] = {"PING"};
  size_t len[1] = {4};
  long waited_ms = 0, step_ms = 100;
  for (;;) {
    redisReply *reply;
    sq_errcode rc = sq_redis_command(q->redis, 1, argv, len, &reply, err);
    if (rc == SQ_OK) {
      sq_redis_reply_free(reply);
      if (waited_ms > 0) SQ_INFO("redis has loaded its dataset; going on");
      return SQ_OK;
    }
    if (!sq_redis_err_is_loading(err) || waited_ms >= max_ms) return rc;
    if (waited_ms == 0)
      SQ_WARN("redis is loading its dataset; waiting up to %ld s for it", max_ms / 1000);
    sq_sleep_ms(step_ms);
    waited_ms += step_ms;
    if (step_ms < 2000) step_ms *= 2;
  }
}

/* Reads n pipelined replies, each handed to on_reply (which may turn it
 * into an error). Every reply that was sent is read, even after an error,
 * so the connection stays in step; the first error wins. */
typedef sq_errcode (*reply_fn)(void *ctx, size_t i, const redisReply *reply, sq_err *err);

static sq_errcode read_replies(sq_queue *q, size_t n, reply_fn on_reply, void *ctx,
                               sq_err *err) {
  sq_errcode first = SQ_OK;
  for (size_t i = 0; i < n; i++) {
    redisReply *reply = NULL;
    sq_err e2;
    sq_errcode r2 = sq_redis_read(q->redis, &reply, &e2);
    if (r2 == SQ_OK) r2 = on_reply(ctx, i, reply, &e2);
    sq_redis_reply_free(reply);
    if (r2 != SQ_OK && first == SQ_OK) {
      first = r2;
      if (err) *err = e2;
    }
    if (r2 == SQ_EREDIS) break; /* connection gone: nothing more to read */
  }
  return first;
}

typedef struct submit_chunk {
  sq_queue_item *items;
  bool *held;         /* held_state: per item, Redis holds the job */
  const size_t *at;   /* submitted: the item each reply is for */
  size_t added;
} submit_chunk;

/* HGET state: a job hash without a state is not held (the submit script
 * answers for it). */
static sq_errcode held_state(void *ctx, size_t i, const redisReply *r, sq_err *err) {
  submit_chunk *c = ctx;
  c->held[i] = r->type == REDIS_REPLY_STRING;
  c->items[i].was_failed = c->held[i] && strcmp(r->str, "failed") == 0;
  if (!c->held[i] && r->type != REDIS_REPLY_NIL)
    return sq_err_set(err, SQ_EREDIS_REPLY, "submit: unexpected reply to HGET state");
  return SQ_OK;
}

/* The submit script: 1 added, or the state of the job Redis holds. */
static sq_errcode submitted(void *ctx, size_t i, const redisReply *r, sq_err *err) {
  submit_chunk *c = ctx;
  sq_queue_item *it = &c->items[c->at[i]];
  it->was_failed = false;
  if (r->type == REDIS_REPLY_INTEGER)
    c->added += (size_t)r->integer;
  else if (r->type == REDIS_REPLY_STRING)
    it->was_failed = strcmp(r->str, "failed") == 0;
  else
    return sq_err_set(err, SQ_EREDIS_REPLY, "submit: unexpected reply");
  return SQ_OK;
}

sq_errcode sq_queue_submit(sq_queue *q, sq_queue_item *items, size_t n,
                           size_t *added, sq_err *err) {
  bool held[SUBMIT_PIPELINE];
  size_t at[SUBMIT_PIPELINE];
  sq_errcode rc = SQ_OK;
  int reloads = 0;
  *added = 0;
  if ((rc = ready(q, err)) != SQ_OK) return rc;
  for (size_t off = 0; off < n; off += SUBMIT_PIPELINE) {
    size_t len = n - off < SUBMIT_PIPELINE ? n - off : SUBMIT_PIPELINE, sent = 0;
    submit_chunk c = {items + off, held, at, 0};
    sq_errcode first;
    /* The ledger check resubmits every unfinished job, nearly all of which
     * Redis holds: a plain read of their state first (pipelined HGET), and
     * the script only for the jobs it lacks. */
    for (size_t i = 0; i < len && rc == SQ_OK; i++) {
      char key[192];
      const char *argv[3] = {"HGET", key, "state"};
      size_t argvlen[3] = {4, 0, 5};
      argvlen[1] = (size_t)snprintf(key, sizeof key, "%sjob:%s", q->prefix, items[off + i].id);
      if ((rc = sq_redis_append(q->redis, 3, argv, argvlen, err)) == SQ_OK) sent++;
    }
    first = read_replies(q, sent, held_state, &c, err);
    if (rc == SQ_OK) rc = first;
    if (rc != SQ_OK) return rc;
    sent = 0;
    for (size_t i = 0; i < len && rc == SQ_OK; i++) {
      const sq_queue_item *it = &items[off + i];
      char tenant[24], vcpus[24], max[16], used[16];
      const char *args[8] = {q->prefix, it->id, it->payload, max, tenant, vcpus,
                             it->urgent ? "1" : "0", used};
      const char *argv[16];
      size_t argvlen[16];
      int argc;
      if (held[i]) continue;
      snprintf(tenant, sizeof tenant, "%llu", (unsigned long long)it->tenant_id);
      snprintf(vcpus, sizeof vcpus, "%ld", it->vcpus_m);
      snprintf(max, sizeof max, "%d", it->max_attempts > 0 ? it->max_attempts : 1);
      snprintf(used, sizeof used, "%d", it->attempts > 0 ? it->attempts : 0);
      argc = sq_scripts_argv(&q->scripts, SQ_SCRIPT_SUBMIT, q->route_key, 8, args,
                             argv, argvlen, 16);
      if ((rc = sq_redis_append(q->redis, argc, argv, argvlen, err)) == SQ_OK) at[sent++] = i;
    }
    first = read_replies(q, sent, submitted, &c, err);
    if (rc == SQ_OK) rc = first;
    if (rc == SQ_EREDIS_REPLY && err && strstr(err->msg, "NOSCRIPT") &&
        reloads++ == 0) {
      /* Restarted server: reload and resend the chunk (submit is idempotent). */
      q->scripts_loaded = false;
      if ((rc = ready(q, err)) != SQ_OK) return rc;
      off -= SUBMIT_PIPELINE;
      continue;
    }
    if (rc != SQ_OK) return rc;
    *added += c.added;
  }
  return SQ_OK;
}

void sq_claim_free(sq_claim *c) {
  if (c == NULL) return;
  free(c->id);
  free(c->payload);
  c->id = NULL;
  c->payload = NULL;
}

static bool reply_u64(const redisReply *r, uint64_t *out) {
  if (r->type == REDIS_REPLY_INTEGER && r->integer >= 0) {
    *out = (uint64_t)r->integer;
    return true;
  }
  if (r->type == REDIS_REPLY_STRING) {
    char *e;
    unsigned long long v = strtoull(r->str, &e, 10);
    if (e != r->str && *e == '\0') {
      *out = v;
      return true;
    }
  }
  return false;
}

/* A claim whose reply was lost may have run: its job would then sit under a
 * lease nobody renews until REAP takes it back, its attempt spent. UNCLAIM
 * hands it back unrun (a no-op if the claim never ran). Until Redis answers,
 * the worker claims nothing, so that it never holds two claims' worth. */
sq_errcode sq_queue_undo_lost_claim(sq_queue *q, sq_err *err) {
  const char *args[1] = {q->lost_claim};
  redisReply *reply = NULL;
  sq_errcode rc;
  if (q->lost_claim[0] == '\0') return SQ_OK;
  rc = run(q, SQ_SCRIPT_UNCLAIM, 1, args, &reply, err);
  if (rc == SQ_EREDIS) return rc; /* still unreachable: try again later */
  if (rc == SQ_OK && reply->type == REDIS_REPLY_INTEGER && reply->integer == 1)
    SQ_INFO("a claim whose reply was lost had taken a job; handed it back unrun");
  else if (rc != SQ_OK)
    SQ_WARN("cannot undo a claim whose reply was lost (its job, if any, waits "
            "out its lease): %s", err->msg);
  sq_redis_reply_free(reply);
  q->lost_claim[0] = '\0';
  return SQ_OK;
}

sq_errcode sq_queue_claim(sq_queue *q, long lease_ms, long max_vcpus_m,
                          long free_vcpus_m, sq_claim *out,
                          sq_claim_result *result, sq_err *err) {
  char lease[24], max[24], free_m[24], cap[24], after[24], nonce[SQ_ID_SIZE];
  const char *args[7] = {lease, max, free_m, cap, q->claimer, after, nonce};
  redisReply *reply = NULL, **e;
  uint64_t attempt, max_attempts, vcpus;
  sq_errcode rc;
  memset(out, 0, sizeof *out);
  *result = SQ_CLAIM_EMPTY;
  snprintf(lease, sizeof lease, "%ld", lease_ms);
  snprintf(max, sizeof max, "%ld", max_vcpus_m);
  snprintf(free_m, sizeof free_m, "%ld", free_vcpus_m);
  /* Without a claimer set, the free capacity stands for the whole. */
  snprintf(cap, sizeof cap, "%ld", q->claimer[0] ? q->claimer_capacity_m : free_vcpus_m);
  snprintf(after, sizeof after, "%ld", q->claimer[0] ? q->reserve_after_ms : 0L);
  if ((rc = sq_queue_undo_lost_claim(q, err)) != SQ_OK) return rc;
  if ((rc = sq_id_new('c', nonce)) != SQ_OK)
    return sq_err_set(err, rc, "claim: cannot make a nonce");
  rc = run(q, SQ_SCRIPT_CLAIM, 7, args, &reply, err);
  /* The connection failed: sent or not, run or not, nobody can say. */
  if (rc == SQ_EREDIS) memcpy(q->lost_claim, nonce, sizeof nonce);
  if (rc != SQ_OK) return rc;
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 2 ||
      reply->element[0]->type != REDIS_REPLY_STRING) {
    rc = sq_err_set(err, SQ_EREDIS_REPLY, "claim: unexpected reply");
    goto out;
  }
  e = reply->element;
  if (strcmp(e[0]->str, "full") == 0) {
    *result = SQ_CLAIM_FULL;
    goto out;
  }
  if (strcmp(e[0]->str, "job") != 0) goto out;
  if (reply->elements != 7 || e[1]->type != REDIS_REPLY_STRING ||
      e[2]->type != REDIS_REPLY_STRING || !reply_u64(e[3], &attempt) ||
      !reply_u64(e[4], &max_attempts) || !reply_u64(e[5], &out->token) ||
      !reply_u64(e[6], &vcpus)) {
    rc = sq_err_set(err, SQ_EREDIS_REPLY, "claim: unexpected reply");
    goto out;
  }
  out->id = strndup(e[1]->str, e[1]->len);
  out->payload = malloc(e[2]->len + 1);
  if (out->id == NULL || out->payload == NULL) {
    sq_claim_free(out);
    rc = sq_err_set(err, SQ_ENOMEM, "out of memory");
    goto out;
  }
  memcpy(out->payload, e[2]->str, e[2]->len);
  out->payload[e[2]->len] = '\0';
  out->payload_len = e[2]->len;
  out->attempt = (int)attempt;
  out->max_attempts = (int)max_attempts;
  out->vcpus_m = (long)vcpus;
  *result = SQ_CLAIM_GOT;
out:
  sq_redis_reply_free(reply);
  return rc;
}

/* Runs a fenced script (ARGV: prefix id token ...) and maps its 0 reply to
 * SQ_ELEASE_LOST. */
static sq_errcode run_fenced(sq_queue *q, sq_script_id id, int nargs,
                             const char **args, sq_err *err) {
  redisReply *reply = NULL;
  sq_errcode rc = run(q, id, nargs, args, &reply, err);
  if (rc != SQ_OK) return rc;
  if (reply->type == REDIS_REPLY_INTEGER && reply->integer == 0)
    rc = sq_err_set(err, SQ_ELEASE_LOST, "job %s: lease lost (token %s)", args[0],
                    args[1]);
  sq_redis_reply_free(reply);
  return rc;
}

sq_errcode sq_queue_renew(sq_queue *q, const char *id, uint64_t token,
                          long lease_ms, sq_err *err) {
  char tok[24], lease[24];
  const char *args[3] = {id, tok, lease};
  snprintf(tok, sizeof tok, "%llu", (unsigned long long)token);
  snprintf(lease, sizeof lease, "%ld", lease_ms);
  return run_fenced(q, SQ_SCRIPT_RENEW, 3, args, err);
}

sq_errcode sq_queue_complete(sq_queue *q, const char *id, uint64_t token,
                             long ttl_s, sq_err *err) {
  char tok[24], ttl[24];
  const char *args[3] = {id, tok, ttl};
  snprintf(tok, sizeof tok, "%llu", (unsigned long long)token);
  snprintf(ttl, sizeof ttl, "%ld", ttl_s);
  return run_fenced(q, SQ_SCRIPT_COMPLETE, 3, args, err);
}

sq_errcode sq_queue_fail(sq_queue *q, const char *id, uint64_t token,
                         bool final, long delay_ms, sq_errcode reason,
                         const char *message, long ttl_s, sq_err *err) {
  char tok[24], delay[24], ttl[24];
  const char *args[7] = {id, tok, final ? "1" : "0", delay, sq_errname(reason),
                         message ? message : "", ttl};
  snprintf(tok, sizeof tok, "%llu", (unsigned long long)token);
  snprintf(delay, sizeof delay, "%ld", delay_ms);
  snprintf(ttl, sizeof ttl, "%ld", ttl_s);
  return run_fenced(q, SQ_SCRIPT_FAIL, 7, args, err);
}

sq_errcode sq_queue_release(sq_queue *q, const char *id, uint64_t token,
                            sq_err *err) {
  char tok[24];
  const char *args[2] = {id, tok};
  snprintf(tok, sizeof tok, "%llu", (unsigned long long)token);
  return run_fenced(q, SQ_SCRIPT_RELEASE, 2, args, err);
}

sq_errcode sq_queue_reap(sq_queue *q, long ttl_s, sq_reaped *out, size_t max,
                         size_t *n_out, sq_err *err) {
  char limit[24], ttl[24];
  const char *args[2] = {limit, ttl};
  redisReply *reply = NULL;
  sq_errcode rc;
  *n_out = 0;
  snprintf(limit, sizeof limit, "%zu", max);
  snprintf(ttl, sizeof ttl, "%ld", ttl_s);
  rc = run(q, SQ_SCRIPT_REAP, 2, args, &reply, err);
  if (rc != SQ_OK) return rc;
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements % 4 != 0) {
    rc = sq_err_set(err, SQ_EREDIS_REPLY, "reap: unexpected reply");
    goto out;
  }
  for (size_t i = 0; i + 3 < reply->elements && *n_out < max; i += 4) {
    sq_reaped *r = &out[*n_out];
    redisReply **e = reply->element + i;
    uint64_t attempt = 0;
    if (e[0]->type != REDIS_REPLY_STRING || e[0]->len >= SQ_ID_SIZE ||
        !reply_u64(e[1], &r->token) || !reply_u64(e[2], &attempt) ||
        e[3]->type != REDIS_REPLY_STRING)
      continue;
    memcpy(r->id, e[0]->str, e[0]->len);
    r->id[e[0]->len] = '\0';
    r->attempt = (int)attempt;
    r->failed = strcmp(e[3]->str, "failed") == 0;
    (*n_out)++;
  }
out:
  sq_redis_reply_free(reply);
  return rc;
}

sq_errcode sq_queue_cancel(sq_queue *q, const char *id, long ttl_s,
                           sq_err *err) {
  char ttl[24];
  const char *args[2] = {id, ttl};
  redisReply *reply = NULL;
  sq_errcode rc;
  snprintf(ttl, sizeof ttl, "%ld", ttl_s);
  rc = run(q, SQ_SCRIPT_CANCEL, 2, args, &reply, err);
  if (rc != SQ_OK) return rc;
  if (reply->type != REDIS_REPLY_STRING)
    rc = sq_err_set(err, SQ_EREDIS_REPLY, "cancel: unexpected reply");
  else if (strcmp(reply->str, "cancelled") != 0 && strcmp(reply->str, "absent") != 0)
    rc = sq_err_set(err, SQ_EINVAL, "job %s is %s in the queue", id, reply->str);
  sq_redis_reply_free(reply);
  return rc;
}

sq_errcode sq_queue_fence_floor(sq_queue *q, uint64_t floor, sq_err *err) {
  char f[24];
  const char *args[1] = {f};
  redisReply *reply = NULL;
  sq_errcode rc;
  snprintf(f, sizeof f, "%llu", (unsigned long long)floor);
  rc = run(q, SQ_SCRIPT_FENCE_FLOOR, 1, args, &reply, err);
  sq_redis_reply_free(reply);
  return rc;
}

sq_errcode sq_queue_take_turn(sq_queue *q, const char *chore, long period_ms,
                              bool *mine, sq_err *err) {
  char key[160], ms[24];
  const char *argv[6] = {"SET", key, "1", "NX", "PX", ms};
  size_t lens[6] = {3, 0, 1, 2, 2, 0};
  redisReply *reply = NULL;
  sq_errcode rc;
  *mine = false;
  lens[1] = (size_t)snprintf(key, sizeof key, "%sturn:%s", q->prefix, chore);
  lens[5] = (size_t)snprintf(ms, sizeof ms, "%ld", period_ms > 0 ? period_ms : 1);
  if ((rc = sq_redis_command(q->redis, 6, argv, lens, &reply, err)) != SQ_OK) return rc;
  *mine = reply->type == REDIS_REPLY_STATUS; /* "OK"; nil when taken */
  sq_redis_reply_free(reply);
  return SQ_OK;
}

sq_errcode sq_queue_give_turn(sq_queue *q, const char *chore, sq_err *err) {
  char key[160];
  const char *argv[2] = {"DEL", key};
  size_t lens[2] = {3, 0};
  redisReply *reply = NULL;
  sq_errcode rc;
  lens[1] = (size_t)snprintf(key, sizeof key, "%sturn:%s", q->prefix, chore);
  rc = sq_redis_command(q->redis, 2, argv, lens, &reply, err);
  if (reply) sq_redis_reply_free(reply);
  return rc;
}

sq_errcode sq_queue_depth_get(sq_queue *q, sq_queue_depth *d, sq_err *err) {
  redisReply *reply = NULL;
  long long *slots[7] = {&d->ready,        &d->delayed, &d->active, &d->failed,
                         &d->used_vcpus_m, &d->urgent,  &d->tenants};
  sq_errcode rc = run(q, SQ_SCRIPT_DEPTH, 0, NULL, &reply, err);
  if (rc != SQ_OK) return rc;
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 7) {
    sq_redis_reply_free(reply);
    return sq_err_set(err, SQ_EREDIS_REPLY, "depth: unexpected reply");
  }
  for (int i = 0; i < 7; i++)
    *slots[i] = reply->element[i]->type == REDIS_REPLY_INTEGER ? reply->element[i]->integer : 0;
  sq_redis_reply_free(reply);
  return SQ_OK;
}

static long long reply_ll(const redisReply *r) {
  if (r->type == REDIS_REPLY_INTEGER) return r->integer;
  if (r->type == REDIS_REPLY_STRING) return strtoll(r->str, NULL, 10);
  return -1;
}

/* The earliest delayed job's due time against the server's clock. */
static sq_errcode next_retry(sq_queue *q, long long *ms, sq_err *err) {
  char key[128];
  const char *zr[5] = {"ZRANGE", key, "0", "0", "WITHSCORES"}, *tm[1] = {"TIME"};
  size_t zl[5] = {6, 0, 1, 1, 10}, tl[1] = {4};
  redisReply *z = NULL, *t = NULL;
  sq_errcode rc;
  *ms = -1;
  snprintf(key, sizeof key, "%sdelayed", q->prefix);
  zl[1] = strlen(key);
  if ((rc = sq_redis_command(q->redis, 5, zr, zl, &z, err)) != SQ_OK) goto out;
  if ((rc = sq_redis_command(q->redis, 1, tm, tl, &t, err)) != SQ_OK) goto out;
  if (z->type == REDIS_REPLY_ARRAY && z->elements == 2 && t->type == REDIS_REPLY_ARRAY &&
      t->elements == 2) {
    long long due = (long long)strtod(z->element[1]->str ? z->element[1]->str : "0", NULL);
    long long now = reply_ll(t->element[0]) * 1000 + reply_ll(t->element[1]) / 1000;
    *ms = due > now ? due - now : 0;
  }
out:
  if (z) sq_redis_reply_free(z);
  if (t) sq_redis_reply_free(t);
  return rc;
}

sq_errcode sq_queue_waiting_get(sq_queue *q, size_t max_tenants,
                                sq_queue_waiting *w, sq_err *err) {
  char ring[128], stop[24], list[160];
  const char *lr[4] = {"LRANGE", ring, "0", stop};
  size_t ll[4] = {6, 0, 1, 0};
  redisReply *names = NULL, *len = NULL;
  sq_errcode rc;
  memset(w, 0, sizeof *w);
  w->next_retry_ms = -1;
  if ((rc = sq_redis_ensure(q->redis, err)) != SQ_OK) return rc;
  snprintf(ring, sizeof ring, "%stenants", q->prefix);
  snprintf(stop, sizeof stop, "%zu", max_tenants ? max_tenants - 1 : 0);
  ll[1] = strlen(ring);
  ll[3] = strlen(stop);
  if (max_tenants > 0) {
    if ((rc = sq_redis_command(q->redis, 4, lr, ll, &names, err)) != SQ_OK) goto out;
    if (names->type != REDIS_REPLY_ARRAY) {
      rc = sq_err_set(err, SQ_EREDIS_REPLY, "tenants: unexpected reply");
      goto out;
    }
    if (names->elements > 0 &&
        (w->tenants = calloc(names->elements, sizeof *w->tenants)) == NULL) {
      rc = sq_err_set(err, SQ_ENOMEM, "out of memory");
      goto out;
    }
    /* One LLEN per tenant, pipelined: one round trip for the lot. */
    for (size_t i = 0; i < names->elements; i++) {
      const char *argv[2] = {"LLEN", list};
      size_t argvlen[2] = {4, 0};
      const redisReply *nm = names->element[i];
      snprintf(list, sizeof list, "%sready:%.*s", q->prefix,
               nm->type == REDIS_REPLY_STRING ? (int)(nm->len > 24 ? 24 : nm->len) : 0,
               nm->type == REDIS_REPLY_STRING ? nm->str : "");
      argvlen[1] = strlen(list);
      if ((rc = sq_redis_append(q->redis, 2, argv, argvlen, err)) != SQ_OK) goto out;
    }
    for (size_t i = 0; i < names->elements; i++) {
      const redisReply *nm = names->element[i];
      uint64_t id = 0;
      if ((rc = sq_redis_read(q->redis, &len, err)) != SQ_OK) goto out;
      if (nm->type == REDIS_REPLY_STRING) id = strtoull(nm->str, NULL, 10);
      w->tenants[w->n_tenants].tenant_id = id;
      w->tenants[w->n_tenants++].ready = reply_ll(len);
      sq_redis_reply_free(len);
      len = NULL;
    }
  }
  rc = next_retry(q, &w->next_retry_ms, err);
out:
  if (names) sq_redis_reply_free(names);
  if (len) sq_redis_reply_free(len);
  if (rc != SQ_OK) sq_queue_waiting_free(w);
  return rc;
}

void sq_queue_waiting_free(sq_queue_waiting *w) {
  free(w->tenants);
  w->tenants = NULL;
  w->n_tenants = 0;
}

/* The server's clock in ms, as the scripts read it. */
static sq_errcode server_now(sq_queue *q, long long *ms, sq_err *err) {
  const char *argv[1] = {"TIME"};
  size_t len[1] = {4};
  redisReply *t = NULL;
  sq_errcode rc = sq_redis_command(q->redis, 1, argv, len, &t, err);
  if (rc != SQ_OK) return rc;
  if (t->type == REDIS_REPLY_ARRAY && t->elements == 2)
    *ms = reply_ll(t->element[0]) * 1000 + reply_ll(t->element[1]) / 1000;
  else
    rc = sq_err_set(err, SQ_EREDIS_REPLY, "TIME: unexpected reply");
  sq_redis_reply_free(t);
  return rc;
}

sq_errcode sq_queue_reservation_get(sq_queue *q, sq_queue_reservation *r,
                                    sq_err *err) {
  char key[128], job[192];
  const char *hm[8] = {"HMGET", key, "id", "vcpus_m", "since", "waiting_since",
                       "host", "host_until"};
  const char *hg[3] = {"HGET", job, "state"};
  size_t hml[8] = {5, 0, 2, 7, 5, 13, 4, 10}, hgl[3] = {4, 0, 5};
  redisReply *res = NULL, *st = NULL;
  redisReply **e;
  long long now = 0;
  sq_errcode rc;
  memset(r, 0, sizeof *r);
  if ((rc = sq_redis_ensure(q->redis, err)) != SQ_OK) return rc;
  hml[1] = (size_t)snprintf(key, sizeof key, "%sreserve", q->prefix);
  if ((rc = sq_redis_command(q->redis, 8, hm, hml, &res, err)) != SQ_OK) goto out;
  if (res->type != REDIS_REPLY_ARRAY || res->elements != 6) {
    rc = sq_err_set(err, SQ_EREDIS_REPLY, "reservation: unexpected reply");
    goto out;
  }
  e = res->element;
  if (e[0]->type != REDIS_REPLY_STRING || e[0]->len >= SQ_ID_SIZE) goto out; /* none */
  hgl[1] = (size_t)snprintf(job, sizeof job, "%sjob:%s", q->prefix, e[0]->str);
  if ((rc = sq_redis_command(q->redis, 3, hg, hgl, &st, err)) != SQ_OK) goto out;
  if (st->type != REDIS_REPLY_STRING || strcmp(st->str, "queued") != 0) goto out; /* stale */
  if ((rc = server_now(q, &now, err)) != SQ_OK) goto out;
  r->present = true;
  memcpy(r->id, e[0]->str, e[0]->len);
  r->id[e[0]->len] = '\0';
  r->vcpus_m = (long)reply_ll(e[1]);
  r->held_ms = e[2]->type == REDIS_REPLY_STRING ? now - reply_ll(e[2]) : 0;
  r->waiting_ms = e[3]->type == REDIS_REPLY_STRING ? now - reply_ll(e[3]) : r->held_ms;
  /* A host whose role has expired drains no longer. */
  if (e[4]->type == REDIS_REPLY_STRING && e[5]->type == REDIS_REPLY_STRING &&
      reply_ll(e[5]) >= now)
    snprintf(r->host, sizeof r->host, "%s", e[4]->str);
out:
  if (res) sq_redis_reply_free(res);
  if (st) sq_redis_reply_free(st);
  return rc;
}

sq_queue_waiter *sq_queue_waiter_open(const char *redis_url, const char *name,
                                      sq_err *err) {
  char prefix[96], route[112];
  sq_queue_waiter *w = calloc(1, sizeof *w);
  if (w == NULL) {
    sq_err_set(err, SQ_ENOMEM, "out of memory");
    return NULL;
  }
  make_names(name, prefix, route, w->wake_key);
  /* No command timeout: BLPOP carries its own. */
  w->redis = sq_redis_open(redis_url, 0, err);
  if (w->redis == NULL) {
    free(w);
    return NULL;
  }
  return w;
}

sq_errcode sq_queue_wait(sq_queue_waiter *w, long timeout_ms, bool *woken,
                         sq_err *err) {
  char timeout[32];
  const char *argv[3] = {"BLPOP", w->wake_key, timeout};
  size_t len[3];
  redisReply *reply;
  sq_errcode rc;
  *woken = false;
  snprintf(timeout, sizeof timeout, "%.3f", (double)timeout_ms / 1000.0);
  len[0] = 5;
  len[1] = strlen(w->wake_key);
  len[2] = strlen(timeout);
  rc = sq_redis_command(w->redis, 3, argv, len, &reply, err);
  if (rc != SQ_OK) return rc;
  *woken = reply->type == REDIS_REPLY_ARRAY;
  sq_redis_reply_free(reply);
  return SQ_OK;
}

void sq_queue_waiter_close(sq_queue_waiter *w) {
  if (w == NULL) return;
  sq_redis_close(w->redis);
  free(w);
}
