/* test_queue_reserve.c - the claim script against a real Redis, claim by
 * claim: the reservation of a job passed over too long (queue/scripts.c,
 * DESIGN), and a claim whose reply was lost.
 *
 * Needs SHEETQ_TEST_REDIS_URL (what scripts/test.sh exports); exits 77
 * (skipped) without it. Each case uses a queue of its own,
 * t-qreserve-<pid>-<case>, and teardown deletes every key of them. The
 * workers are simulated: each is an sq_queue with its own claimer name and
 * capacity, and a "worker" frees capacity by completing its claim. Sizes are
 * in thousandths of a vCPU: small jobs 1000, the big one 2000.
 */
#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "queue/queue.h"
#include "queue/redis_conn.h"

#define LEASE_MS 60000
#define AFTER_MS 20 /* reserve_after of these tests */

static const char *redis_url;
static sq_redis *raw; /* plain commands: inspect and edit keys */
static int n_queues;

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) continue;
}

static void queue_name(char *out, size_t cap, int n) {
  snprintf(out, cap, "t-qreserve-%ld-%d", (long)getpid(), n);
}

/* A simulated worker on a fresh or shared queue. */
static sq_queue *worker(const char *queue, const char *name, long capacity_m, long after_ms) {
  sq_err err;
  sq_queue *q = sq_queue_open(redis_url, queue, 3000, &err);
  if (q == NULL) {
    fprintf(stderr, "  open %s: %s\n", queue, err.msg);
    return NULL;
  }
  sq_queue_set_claimer(q, name, capacity_m, after_ms);
  return q;
}

static sq_errcode submit(sq_queue *q, const char *id, uint64_t tenant, long vcpus_m) {
  sq_queue_item it = {.id = id, .payload = "{}", .tenant_id = tenant, .vcpus_m = vcpus_m,
                      .max_attempts = 3};
  size_t added = 0;
  sq_err err;
  sq_errcode rc = sq_queue_submit(q, &it, 1, &added, &err);
  if (rc != SQ_OK) fprintf(stderr, "  submit %s: %s\n", id, err.msg);
  return rc == SQ_OK && added == 1 ? SQ_OK : SQ_EINTERNAL;
}

/* Claims with free_m spare; the job's id (static buffer) or "" when none,
 * and the running jobs' token for complete() in *token. */
static const char *claim(sq_queue *q, long max_m, long free_m, uint64_t *token) {
  static char id[SQ_ID_SIZE + 32];
  sq_claim c;
  sq_claim_result res;
  sq_err err;
  id[0] = '\0';
  if (sq_queue_claim(q, LEASE_MS, max_m, free_m, &c, &res, &err) != SQ_OK) {
    fprintf(stderr, "  claim: %s\n", err.msg);
    return "ERROR";
  }
  if (res == SQ_CLAIM_GOT) {
    snprintf(id, sizeof id, "%s", c.id);
    if (token) *token = c.token;
    sq_claim_free(&c);
  }
  return id;
}

static sq_errcode complete(sq_queue *q, const char *id, uint64_t token) {
  sq_err err;
  sq_errcode rc = sq_queue_complete(q, id, token, 60, &err);
  if (rc != SQ_OK) fprintf(stderr, "  complete %s: %s\n", id, err.msg);
  return rc;
}

static long long used_m(sq_queue *q) {
  sq_queue_depth d;
  sq_err err;
  return sq_queue_depth_get(q, &d, &err) == SQ_OK ? d.used_vcpus_m : -1;
}

static sq_queue_reservation reservation(sq_queue *q) {
  sq_queue_reservation r;
  sq_err err;
  if (sq_queue_reservation_get(q, &r, &err) != SQ_OK) memset(&r, 0, sizeof r);
  return r;
}

/* Whether the reservation key exists at all (status hides stale ones). */
static bool reserve_key_exists(const char *queue) {
  char key[160];
  const char *argv[2] = {"EXISTS", key};
  size_t len[2] = {6, 0};
  redisReply *r = NULL;
  sq_err err;
  bool yes = false;
  len[1] = (size_t)snprintf(key, sizeof key, "sheetq:{%s}:reserve", queue);
  if (sq_redis_command(raw, 2, argv, len, &r, &err) == SQ_OK)
    yes = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
  if (r) sq_redis_reply_free(r);
  return yes;
}

static sq_errcode raw_cmd(int argc, const char **argv) {
  size_t len[16];
  redisReply *r = NULL;
  sq_err err;
  sq_errcode rc;
  for (int i = 0; i < argc; i++) len[i] = strlen(argv[i]);
  rc = sq_redis_command(raw, argc, argv, len, &r, &err);
  if (rc != SQ_OK) fprintf(stderr, "  %s: %s\n", argv[0], err.msg);
  if (r) sq_redis_reply_free(r);
  return rc;
}

/* ---- set-up --------------------------------------------------------------- */

TEST(setup) {
  sq_err err;
  redis_url = getenv("SHEETQ_TEST_REDIS_URL");
  if (redis_url == NULL || *redis_url == '\0') {
    fprintf(stderr, "skip: set SHEETQ_TEST_REDIS_URL\n");
    exit(77);
  }
  raw = sq_redis_open(redis_url, 3000, &err);
  if (raw == NULL) FAIL_AT("connect: %s", err.msg);
}

/* ---- the starvation it prevents ----------------------------------------- */

/* Budget 2, one worker of 2: while small jobs keep one slice busy, each
 * slice that frees up fits a small job and never the big one. With
 * reserve_after 0 (off) the big job waits through the whole stream. */
TEST(without_reservation_the_big_job_starves) {
  char qn[64], id[16];
  sq_queue *w;
  uint64_t tok[2] = {0, 0};
  char running[2][SQ_ID_SIZE + 32];
  queue_name(qn, sizeof qn, ++n_queues);
  w = worker(qn, "w1", 2000, 0);
  ASSERT(w != NULL);
  for (int i = 1; i <= 8; i++) {
    snprintf(id, sizeof id, "a%d", i);
    ASSERT_INT_EQ(submit(w, id, 1, 1000), SQ_OK);
  }
  ASSERT_INT_EQ(submit(w, "big", 2, 2000), SQ_OK);
  snprintf(running[0], sizeof running[0], "%s", claim(w, 2000, 2000, &tok[0]));
  snprintf(running[1], sizeof running[1], "%s", claim(w, 2000, 1000, &tok[1]));
  ASSERT_STR_EQ(running[0], "a1");
  ASSERT_STR_EQ(running[1], "a2");
  for (int i = 3; i <= 8; i++) { /* one slice frees up at a time */
    int slot = i % 2;
    sleep_ms(AFTER_MS + 5);
    ASSERT_INT_EQ(complete(w, running[slot], tok[slot]), SQ_OK);
    snprintf(running[slot], sizeof running[slot], "%s", claim(w, 2000, 1000, &tok[slot]));
    snprintf(id, sizeof id, "a%d", i);
    ASSERT_STR_EQ(running[slot], id);
    ASSERT(!reserve_key_exists(qn));
  }
  sq_queue_close(w);
}

/* The same stream with reserve_after 20 ms: once passed over that long, the
 * big job is reserved; no small job starts until the budget has room for
 * it, and it starts next. */
TEST(reserved_job_gets_the_budget) {
  char qn[64], id[16];
  sq_queue *w;
  sq_queue_reservation r;
  uint64_t tok1 = 0, tok2 = 0, tok3 = 0, tokb = 0;
  queue_name(qn, sizeof qn, ++n_queues);
  w = worker(qn, "w1", 2000, AFTER_MS);
  ASSERT(w != NULL);
  for (int i = 1; i <= 8; i++) {
    snprintf(id, sizeof id, "a%d", i);
    ASSERT_INT_EQ(submit(w, id, 1, 1000), SQ_OK);
  }
  ASSERT_INT_EQ(submit(w, "big", 2, 2000), SQ_OK);
  ASSERT_STR_EQ(claim(w, 2000, 2000, &tok1), "a1");
  ASSERT_STR_EQ(claim(w, 2000, 1000, &tok2), "a2"); /* passes the big job over */
  ASSERT(!reservation(w).present);
  sleep_ms(AFTER_MS + 5);
  ASSERT_INT_EQ(complete(w, "a1", tok1), SQ_OK);
  /* Passed over for reserve_after: reserved. The free slice stays free. */
  ASSERT_STR_EQ(claim(w, 2000, 1000, NULL), "");
  r = reservation(w);
  ASSERT(r.present);
  ASSERT_STR_EQ(r.id, "big");
  ASSERT_INT_EQ(r.vcpus_m, 2000);
  ASSERT_STR_EQ(r.host, "w1");
  ASSERT(r.waiting_ms >= AFTER_MS);
  ASSERT_STR_EQ(claim(w, 2000, 1000, NULL), "");
  ASSERT_INT_EQ(used_m(w), 1000);
  ASSERT_INT_EQ(complete(w, "a2", tok2), SQ_OK);
  ASSERT_STR_EQ(claim(w, 2000, 2000, &tokb), "big");
  ASSERT_INT_EQ(used_m(w), 2000);
  /* Claimed: the reservation is gone, small jobs flow again. */
  ASSERT(!reserve_key_exists(qn));
  ASSERT_INT_EQ(complete(w, "big", tokb), SQ_OK);
  ASSERT_STR_EQ(claim(w, 2000, 2000, &tok3), "a3");
  sq_queue_close(w);
}

/* Budget to spare, but each worker's own capacity is refilled one slice at a
 * time: the host drains for the big job while other workers go on. */
TEST(host_drains_its_own_capacity) {
  char qn[64], id[16];
  sq_queue *w1, *w2;
  sq_queue_reservation r;
  uint64_t t1 = 0, t2 = 0, t3 = 0, t4 = 0, t5 = 0, t6 = 0, tb = 0;
  const long max = 8000;
  queue_name(qn, sizeof qn, ++n_queues);
  w1 = worker(qn, "w1", 2000, AFTER_MS);
  w2 = worker(qn, "w2", 2000, AFTER_MS);
  ASSERT(w1 != NULL && w2 != NULL);
  for (int i = 1; i <= 12; i++) {
    snprintf(id, sizeof id, "a%d", i);
    ASSERT_INT_EQ(submit(w1, id, 1, 1000), SQ_OK);
  }
  ASSERT_STR_EQ(claim(w1, max, 2000, &t1), "a1");
  ASSERT_STR_EQ(claim(w1, max, 1000, &t2), "a2");
  ASSERT_STR_EQ(claim(w2, max, 2000, &t3), "a3");
  ASSERT_STR_EQ(claim(w2, max, 1000, &t4), "a4");
  ASSERT_INT_EQ(submit(w1, "big", 2, 2000), SQ_OK);
  ASSERT_INT_EQ(complete(w1, "a1", t1), SQ_OK);
  ASSERT_STR_EQ(claim(w1, max, 1000, &t5), "a5");
  ASSERT_INT_EQ(complete(w1, "a2", t2), SQ_OK);
  ASSERT_STR_EQ(claim(w1, max, 1000, &t6), "a6"); /* passes the big job over */
  sleep_ms(AFTER_MS + 5);
  ASSERT_INT_EQ(complete(w2, "a3", t3), SQ_OK);
  ASSERT_STR_EQ(claim(w2, max, 1000, NULL), ""); /* reserves it, and drains */
  r = reservation(w2);
  ASSERT(r.present);
  ASSERT_STR_EQ(r.id, "big");
  ASSERT_STR_EQ(r.host, "w2");
  /* w1 is not the host: it goes on with small jobs, within the budget less
   * the reserved 2. */
  ASSERT_INT_EQ(complete(w1, "a5", t5), SQ_OK);
  ASSERT_STR_EQ(claim(w1, max, 1000, &t5), "a7");
  ASSERT_STR_EQ(claim(w2, max, 1000, NULL), "");
  ASSERT_STR_EQ(reservation(w1).host, "w2");
  ASSERT_INT_EQ(complete(w2, "a4", t4), SQ_OK);
  ASSERT_STR_EQ(claim(w2, max, 2000, &tb), "big");
  ASSERT(!reserve_key_exists(qn));
  ASSERT_INT_EQ(used_m(w1), 4000);
  sq_queue_close(w1);
  sq_queue_close(w2);
}

/* A host that stops claiming (dead) loses the role after a lease; another
 * able worker takes it. With no able worker left at all, the reservation
 * is dropped rather than hold the budget for a job nobody can run. */
/* The able worker only ever sees a full budget: each slice that frees is
 * taken again at once by the small worker that freed it. The small workers,
 * unable to run the big job, still note it passed over and reserve it; the
 * able worker then gets it as soon as the budget has drained. */
TEST(reserved_by_workers_unable_to_run_it) {
  char qn[64], id[8];
  sq_queue *s1, *s2, *big;
  uint64_t t1 = 0, t2 = 0;
  const long max = 2000;
  queue_name(qn, sizeof qn, ++n_queues);
  s1 = worker(qn, "s1", 1000, AFTER_MS);
  s2 = worker(qn, "s2", 1000, AFTER_MS);
  big = worker(qn, "big", 2000, AFTER_MS);
  ASSERT(s1 != NULL && s2 != NULL && big != NULL);
  for (int i = 1; i <= 8; i++) {
    snprintf(id, sizeof id, "a%d", i);
    ASSERT_INT_EQ(submit(s1, id, 1, 1000), SQ_OK);
  }
  ASSERT_INT_EQ(submit(s1, "big", 2, 2000), SQ_OK);
  ASSERT_STR_EQ(claim(s1, max, 1000, &t1), "a1");
  ASSERT_STR_EQ(claim(s2, max, 1000, &t2), "a2");
  ASSERT_STR_EQ(claim(big, max, 2000, NULL), ""); /* full */
  /* s1 frees its slice and takes the next small job, passing the big one
   * over; past reserve_after, its claim reserves the big job instead. */
  ASSERT_INT_EQ(complete(s1, "a1", t1), SQ_OK);
  ASSERT_STR_EQ(claim(s1, max, 1000, &t1), "a3");
  sleep_ms(AFTER_MS + 5);
  ASSERT_INT_EQ(complete(s1, "a3", t1), SQ_OK);
  ASSERT_STR_EQ(claim(s1, max, 1000, NULL), ""); /* room held for the big job */
  ASSERT(reservation(s1).present);
  ASSERT_STR_EQ(reservation(s1).id, "big");
  ASSERT_STR_EQ(reservation(s1).host, ""); /* s1 cannot run it */
  ASSERT_INT_EQ(complete(s2, "a2", t2), SQ_OK);
  ASSERT_STR_EQ(claim(s2, max, 1000, NULL), "");
  ASSERT_STR_EQ(claim(big, max, 2000, NULL), "big");
  ASSERT(!reserve_key_exists(qn));
  ASSERT_INT_EQ(used_m(s1), 2000);
  sq_queue_close(s1);
  sq_queue_close(s2);
  sq_queue_close(big);
}

TEST(host_role_expires) {
  char qn[64];
  sq_queue *w1, *w2, *tiny;
  uint64_t t1 = 0, t2 = 0;
  sq_claim c;
  sq_claim_result res;
  sq_err err;
  const long lease = 100, max = 2000;
  queue_name(qn, sizeof qn, ++n_queues);
  w1 = worker(qn, "w1", 2000, AFTER_MS);
  w2 = worker(qn, "w2", 2000, AFTER_MS);
  tiny = worker(qn, "tiny", 1000, AFTER_MS); /* can never run the big job */
  ASSERT(w1 != NULL && w2 != NULL && tiny != NULL);
  ASSERT_INT_EQ(submit(w1, "a1", 1, 1000), SQ_OK);
  ASSERT_INT_EQ(submit(w1, "a2", 1, 1000), SQ_OK);
  ASSERT_INT_EQ(submit(w1, "a3", 1, 1000), SQ_OK);
  ASSERT_INT_EQ(submit(w1, "big", 2, 2000), SQ_OK);
  ASSERT_STR_EQ(claim(w1, max, 2000, &t1), "a1");
  ASSERT_INT_EQ(sq_queue_claim(w2, lease, max, 1000, &c, &res, &err), SQ_OK);
  ASSERT_INT_EQ(res, SQ_CLAIM_GOT); /* a2, passing the big job over */
  ASSERT_STR_EQ(c.id, "a2");
  t2 = c.token;
  sq_claim_free(&c);
  sleep_ms(AFTER_MS + 5);
  ASSERT_INT_EQ(complete(w2, "a2", t2), SQ_OK);
  ASSERT_INT_EQ(sq_queue_claim(w2, lease, max, 1000, &c, &res, &err), SQ_OK);
  ASSERT_INT_EQ(res, SQ_CLAIM_EMPTY); /* reserved it: w2 is its host and drains */
  ASSERT_STR_EQ(reservation(w1).host, "w2");
  /* w2 dies. Within its lease the role stays; after it, w1 takes it. */
  ASSERT_STR_EQ(claim(w1, max, 1000, NULL), "");
  ASSERT_STR_EQ(reservation(w1).host, "w2");
  sleep_ms(lease + 20);
  ASSERT_STR_EQ(reservation(w1).host, ""); /* status: nobody drains */
  ASSERT_INT_EQ(sq_queue_claim(w1, lease, max, 1000, &c, &res, &err), SQ_OK);
  ASSERT_INT_EQ(res, SQ_CLAIM_EMPTY); /* the host now, draining */
  ASSERT_STR_EQ(reservation(w1).host, "w1");
  /* w1 dies too. Two leases later only "tiny" asks: it drops the
   * reservation and takes a small job. */
  sleep_ms(2 * lease + 20);
  ASSERT_INT_EQ(complete(w1, "a1", t1), SQ_OK);
  ASSERT_INT_EQ(sq_queue_claim(tiny, lease, max, 1000, &c, &res, &err), SQ_OK);
  ASSERT_INT_EQ(res, SQ_CLAIM_GOT);
  ASSERT_STR_EQ(c.id, "a3");
  sq_claim_free(&c);
  ASSERT(!reserve_key_exists(qn));
  sq_queue_close(w1);
  sq_queue_close(w2);
  sq_queue_close(tiny);
}

/* ---- clearing ------------------------------------------------------------- */

TEST(cancel_clears_the_reservation) {
  char qn[64];
  sq_queue *w;
  uint64_t t1 = 0, t2 = 0;
  sq_err err;
  queue_name(qn, sizeof qn, ++n_queues);
  w = worker(qn, "w1", 2000, AFTER_MS);
  ASSERT(w != NULL);
  ASSERT_INT_EQ(submit(w, "a1", 1, 1000), SQ_OK);
  ASSERT_INT_EQ(submit(w, "a2", 1, 1000), SQ_OK);
  ASSERT_INT_EQ(submit(w, "a3", 1, 1000), SQ_OK);
  ASSERT_INT_EQ(submit(w, "big", 2, 2000), SQ_OK);
  ASSERT_STR_EQ(claim(w, 2000, 2000, &t1), "a1");
  ASSERT_STR_EQ(claim(w, 2000, 1000, &t2), "a2");
  sleep_ms(AFTER_MS + 5);
  ASSERT_INT_EQ(complete(w, "a1", t1), SQ_OK);
  ASSERT_STR_EQ(claim(w, 2000, 1000, NULL), "");
  ASSERT(reservation(w).present);
  ASSERT_INT_EQ(sq_queue_cancel(w, "big", 60, &err), SQ_OK);
  ASSERT(!reserve_key_exists(qn));
  ASSERT(!reservation(w).present);
  ASSERT_STR_EQ(claim(w, 2000, 1000, NULL), "a3");
  sq_queue_close(w);
}

/* A reservation whose job is gone, or queued in name but in no list, never
 * holds the budget: the next claim drops it and goes on. */
TEST(stale_reservation_does_not_block) {
  char qn[64], key[160], job[160], until[32];
  sq_queue *w;
  queue_name(qn, sizeof qn, ++n_queues);
  w = worker(qn, "w1", 2000, AFTER_MS);
  ASSERT(w != NULL);
  snprintf(key, sizeof key, "sheetq:{%s}:reserve", qn);
  snprintf(until, sizeof until, "%lld", (long long)time(NULL) * 1000 + 3600 * 1000LL);
  {
    const char *argv[] = {"HSET", key, "id", "gone", "vcpus_m", "2000", "since", "1",
                          "host", "other", "host_until", until};
    ASSERT_INT_EQ(raw_cmd(12, argv), SQ_OK);
  }
  ASSERT_INT_EQ(submit(w, "a1", 1, 1000), SQ_OK);
  ASSERT(!reservation(w).present); /* status does not show it */
  ASSERT_STR_EQ(claim(w, 2000, 2000, NULL), "a1");
  ASSERT(!reserve_key_exists(qn));

  /* Queued in its hash, yet in no ready list (edited by hand). */
  snprintf(job, sizeof job, "sheetq:{%s}:job:ghost", qn);
  {
    const char *hjob[] = {"HSET", job, "state", "queued", "vcpus_m", "2000", "tenant", "9"};
    const char *hres[] = {"HSET", key, "id", "ghost", "vcpus_m", "2000", "since", "1",
                          "host", "other", "host_until", until};
    ASSERT_INT_EQ(raw_cmd(8, hjob), SQ_OK);
    ASSERT_INT_EQ(raw_cmd(12, hres), SQ_OK);
  }
  ASSERT_INT_EQ(submit(w, "a2", 1, 1000), SQ_OK);
  ASSERT_STR_EQ(claim(w, 2000, 1000, NULL), "a2");
  ASSERT(!reserve_key_exists(qn));
  sq_queue_close(w);
}

/* reserve_after 0 turns reserving off: a claim drops one left over. */
TEST(reserve_after_zero_drops_a_leftover) {
  char qn[64], key[160], until[32];
  sq_queue *w;
  queue_name(qn, sizeof qn, ++n_queues);
  w = worker(qn, "w1", 2000, 0);
  ASSERT(w != NULL);
  ASSERT_INT_EQ(submit(w, "big", 2, 2000), SQ_OK);
  ASSERT_INT_EQ(submit(w, "a1", 1, 1000), SQ_OK);
  snprintf(key, sizeof key, "sheetq:{%s}:reserve", qn);
  snprintf(until, sizeof until, "%lld", (long long)time(NULL) * 1000 + 3600 * 1000LL);
  {
    const char *argv[] = {"HSET", key, "id", "big", "vcpus_m", "2000", "since", "1",
                          "host", "other", "host_until", until};
    ASSERT_INT_EQ(raw_cmd(12, argv), SQ_OK);
  }
  ASSERT(reservation(w).present);
  ASSERT_STR_EQ(claim(w, 2000, 1000, NULL), "a1");
  ASSERT(!reserve_key_exists(qn));
  sq_queue_close(w);
}

/* A field of a hash, or "" (static buffer). */
static const char *job_field(const char *key, const char *field) {
  static char out[64];
  const char *argv[3] = {"HGET", key, field};
  size_t len[3] = {4, strlen(key), strlen(field)};
  redisReply *r = NULL;
  sq_err err;
  out[0] = '\0';
  if (sq_redis_command(raw, 3, argv, len, &r, &err) == SQ_OK && r->type == REDIS_REPLY_STRING)
    snprintf(out, sizeof out, "%s", r->str);
  if (r) sq_redis_reply_free(r);
  return out;
}

/* Makes q's next claim lose its reply although it runs: 400,000 zero-size
 * holds make the claim's sum over them outlast q's 20 ms command timeout.
 * True once Redis shows the job taken (the padding removed again). */
static bool lose_a_claim(sq_queue *q, const char *holds, const char *job) {
  const char *pad[4] = {"EVAL", "for i = 1, 400000 do redis.call('HSET', KEYS[1], 'pad' .. i, 0) end",
                        "1", holds};
  const char *unpad[4] = {"EVAL", "for i = 1, 400000 do redis.call('HDEL', KEYS[1], 'pad' .. i) end",
                          "1", holds};
  sq_claim c;
  sq_claim_result res;
  sq_err err;
  bool taken = false;
  if (raw_cmd(4, pad) != SQ_OK) return false;
  if (sq_queue_claim(q, LEASE_MS, 4000, 4000, &c, &res, &err) == SQ_OK) {
    fprintf(stderr, "  the slowed claim got its reply\n");
    if (res == SQ_CLAIM_GOT) sq_claim_free(&c);
    return false;
  }
  for (int i = 0; i < 100 && !taken; i++) {
    taken = strcmp(job_field(job, "state"), "active") == 0;
    if (!taken) sleep_ms(50);
  }
  return raw_cmd(4, unpad) == SQ_OK && taken;
}

/* A claim whose reply is lost may have taken a job. The worker undoes it:
 * on its tick and before it exits (sq_queue_undo_lost_claim), and first
 * thing in its next claim. The job comes back unrun, its attempt not spent,
 * instead of waiting out a lease nobody renews. */
TEST(lost_claim_reply_is_undone) {
  char qn[64], holds[160], job[160];
  sq_claim c;
  sq_claim_result res = SQ_CLAIM_EMPTY;
  sq_err err;
  sq_errcode rc = SQ_EREDIS;
  sq_queue *q, *fast;
  queue_name(qn, sizeof qn, 20);
  snprintf(holds, sizeof holds, "sheetq:{%s}:holds", qn);
  snprintf(job, sizeof job, "sheetq:{%s}:job:j1", qn);
  ASSERT((fast = worker(qn, "vm:fast", 4000, 0)) != NULL);
  ASSERT((q = sq_queue_open(redis_url, qn, 20, &err)) != NULL);
  sq_queue_set_claimer(q, "vm:lossy", 4000, 0);
  ASSERT_INT_EQ(submit(fast, "j1", 1, 1000), SQ_OK);
  /* Connected, and the scripts loaded, before anything is slowed: on a
   * loaded machine that may itself take a few tries at 20 ms. */
  for (int i = 0; i < 50; i++) {
    sq_queue_depth d;
    if ((rc = sq_queue_depth_get(q, &d, &err)) == SQ_OK) break;
    sleep_ms(100);
  }
  ASSERT_INT_EQ(rc, SQ_OK);

  /* Undone on its own (the tick's and the exit's way). 20 ms may pass on a
   * loaded machine too: a timed-out undo stays pending, so tries converge. */
  ASSERT(lose_a_claim(q, holds, job));
  rc = SQ_EREDIS;
  for (int i = 0; i < 50 && rc != SQ_OK; i++)
    if ((rc = sq_queue_undo_lost_claim(q, &err)) != SQ_OK) sleep_ms(100);
  ASSERT_INT_EQ(rc, SQ_OK);
  ASSERT_STR_EQ(job_field(job, "state"), "queued");
  ASSERT_STR_EQ(job_field(job, "attempts"), "0");
  ASSERT_INT_EQ(used_m(fast), 0);

  /* Undone by the next claim, which then takes the job itself. */
  ASSERT(lose_a_claim(q, holds, job));
  rc = SQ_EREDIS;
  for (int i = 0; i < 50 && rc != SQ_OK; i++)
    if ((rc = sq_queue_claim(q, LEASE_MS, 4000, 4000, &c, &res, &err)) != SQ_OK) sleep_ms(100);
  ASSERT_INT_EQ(rc, SQ_OK);
  ASSERT_INT_EQ(res, SQ_CLAIM_GOT);
  ASSERT_STR_EQ(c.id, "j1");
  ASSERT_INT_EQ(c.attempt, 1); /* not 3: both lost claims' attempts were given back */
  ASSERT_INT_EQ(used_m(fast), 1000);
  sq_claim_free(&c);
  sq_queue_close(q);
  sq_queue_close(fast);
}

TEST(teardown) {
  char pattern[96];
  const char *keys[3] = {"KEYS", pattern, NULL};
  size_t len[2] = {4, 0};
  redisReply *r = NULL;
  sq_err err;
  if (raw == NULL) return;
  len[1] = (size_t)snprintf(pattern, sizeof pattern, "sheetq:{t-qreserve-%ld-*",
                            (long)getpid());
  if (sq_redis_command(raw, 2, keys, len, &r, &err) == SQ_OK && r->type == REDIS_REPLY_ARRAY)
    for (size_t i = 0; i < r->elements; i++) {
      const char *del[2] = {"DEL", r->element[i]->str};
      (void)raw_cmd(2, del);
    }
  if (r) sq_redis_reply_free(r);
  sq_redis_close(raw);
  raw = NULL;
}

TEST_MAIN(TEST_ENTRY(setup), TEST_ENTRY(without_reservation_the_big_job_starves),
          TEST_ENTRY(reserved_job_gets_the_budget), TEST_ENTRY(host_drains_its_own_capacity),
          TEST_ENTRY(reserved_by_workers_unable_to_run_it), TEST_ENTRY(host_role_expires), TEST_ENTRY(cancel_clears_the_reservation),
          TEST_ENTRY(stale_reservation_does_not_block),
          TEST_ENTRY(reserve_after_zero_drops_a_leftover),
          TEST_ENTRY(lost_claim_reply_is_undone), TEST_ENTRY(teardown))
