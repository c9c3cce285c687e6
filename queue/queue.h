/* queue.h - sheetq's job queue in Redis: submission, claims with leases and
 * fencing tokens, renewal, completion, retries and take-over of jobs whose
 * worker died.
 *
 * An sq_queue owns one Redis connection and must be used by one thread at a
 * time. All operations are single Lua scripts (queue/scripts.c) except
 * submission, which pipelines one script call per job so that ten thousand
 * jobs cost a handful of round trips. Every operation on a claim takes the
 * claim's token: once another worker holds the job, the stale holder's
 * renew/complete/fail/release return SQ_ELEASE_LOST and change nothing.
 */
#ifndef SQ_QUEUE_H
#define SQ_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/job.h"

typedef struct sq_queue sq_queue;

/* command_timeout_ms bounds every command except sq_queue_wait(). */
sq_queue *sq_queue_open(const char *redis_url, const char *name,
                        int command_timeout_ms, sq_err *err);
void sq_queue_close(sq_queue *q);
/* Checks the connection; refuses (SQ_ECONFIG) a Redis older than 6.0.6;
 * warns (via the log) if maxmemory-policy is not noeviction, because an
 * evicting Redis silently loses jobs. */
sq_errcode sq_queue_check_server(sq_queue *q, sq_err *err);
/* Waits, up to max_ms, while Redis answers LOADING (it is reading its
 * dataset after a restart), logging once that it waits. Any other answer
 * ends the wait at once: SQ_OK if Redis serves, else its error. */
sq_errcode sq_queue_wait_loaded(sq_queue *q, long max_ms, sq_err *err);

typedef struct sq_queue_item {
  const char *id;
  const char *payload;
  uint64_t tenant_id; /* fairness: jobs are served tenant by tenant */
  long vcpus_m;       /* its share of the cluster budget, thousandths */
  bool urgent;        /* re-runs and on-demand exports go first */
  int max_attempts;
  int attempts;       /* already used: a job put back after a data loss
                       * keeps its count, so a poison job stays bounded */
  bool was_failed;    /* out: Redis already held it, failed for good */
} sq_queue_item;

/* Idempotent: a job id Redis already holds is not added again. *added counts
 * the new ones; items[i].was_failed says Redis holds that job as failed. */
sq_errcode sq_queue_submit(sq_queue *q, sq_queue_item *items, size_t n,
                           size_t *added, sq_err *err);
/* Removes a job that is queued or waiting to retry. SQ_EINVAL naming the
 * state when it is running or finished; SQ_OK when Redis does not hold it. */
sq_errcode sq_queue_cancel(sq_queue *q, const char *id, long ttl_s,
                           sq_err *err);
/* Cluster-wide "at most once per period" for a named chore: *mine is true
 * for the one caller that finds the turn free and takes it for period_ms
 * (SET NX PX). A holder that dies simply lets the turn lapse. */
sq_errcode sq_queue_take_turn(sq_queue *q, const char *chore, long period_ms,
                              bool *mine, sq_err *err);
/* Gives a turn taken with sq_queue_take_turn back before its period ends
 * (the chore failed): the next caller takes it at once. */
sq_errcode sq_queue_give_turn(sq_queue *q, const char *chore, sq_err *err);
/* Raises the fencing-token counter to at least floor. */
sq_errcode sq_queue_fence_floor(sq_queue *q, uint64_t floor, sq_err *err);

typedef struct sq_claim {
  char *id;      /* owned; as stored in Redis: the caller validates it */
  char *payload; /* owned; may be malformed: the caller validates */
  size_t payload_len;
  int attempt;   /* 1 for the first try */
  int max_attempts;
  uint64_t token;
  long vcpus_m;  /* held from the cluster budget until the claim ends */
} sq_claim;

typedef enum sq_claim_result {
  SQ_CLAIM_GOT = 0, /* *out holds a job */
  SQ_CLAIM_EMPTY,   /* nothing ready that fits the free capacity */
  SQ_CLAIM_FULL,    /* the cluster's vCPU budget is spent */
} sq_claim_result;

/* Undoes a claim of q's whose reply was lost (the connection failed while
 * it was on its way): the job it may have taken is handed back unrun, its
 * attempt not counted. sq_queue_claim does this first; a worker also calls
 * it on its tick (claims may be paused longer than a lease) and before it
 * exits. SQ_OK when nothing is pending or it is done; a connection error
 * keeps it pending. */
sq_errcode sq_queue_undo_lost_claim(sq_queue *q, sq_err *err);

/* Names the worker that claims through q, its whole capacity and the
 * reserve_after setting (ms; 0: never reserve), for the reservation of a job
 * passed over too long (queue/scripts.c, DESIGN). Without it, claims neither
 * make nor honour reservations (and drop one left over). */
void sq_queue_set_claimer(sq_queue *q, const char *worker, long capacity_m,
                          long reserve_after_ms);

/* Claims the next job: the reserved job first if it fits, then urgent jobs,
 * then tenant by tenant, the first one whose size fits both the cluster
 * budget (max_vcpus_m less what running jobs hold, less the reserved job's
 * size) and free_vcpus_m, the caller's own spare capacity. SQ_CLAIM_EMPTY
 * also when the caller is the reservation's host and drains for it. The
 * lease lasts lease_ms. */
sq_errcode sq_queue_claim(sq_queue *q, long lease_ms, long max_vcpus_m,
                          long free_vcpus_m, sq_claim *out,
                          sq_claim_result *result, sq_err *err);
void sq_claim_free(sq_claim *c);

sq_errcode sq_queue_renew(sq_queue *q, const char *id, uint64_t token,
                          long lease_ms, sq_err *err);
/* Done: the job's hash stays ttl_s seconds for inspection, then expires. */
sq_errcode sq_queue_complete(sq_queue *q, const char *id, uint64_t token,
                             long ttl_s, sq_err *err);
/* Failed attempt. final: no more tries (permanent error or attempts used
 * up); otherwise the job is retried after delay_ms. */
sq_errcode sq_queue_fail(sq_queue *q, const char *id, uint64_t token,
                         bool final, long delay_ms, sq_errcode reason,
                         const char *message, long ttl_s, sq_err *err);
/* Hands a claim back unrun, without counting the attempt. */
sq_errcode sq_queue_release(sq_queue *q, const char *id, uint64_t token,
                            sq_err *err);

typedef struct sq_reaped {
  char id[SQ_ID_SIZE];
  uint64_t token; /* the lost claim's token */
  int attempt;
  bool failed;    /* attempts used up: failed for good */
} sq_reaped;

/* Takes back expired leases and moves due retries to the queue; at most
 * `max` leases per call. */
sq_errcode sq_queue_reap(sq_queue *q, long ttl_s, sq_reaped *out, size_t max,
                         size_t *n_out, sq_err *err);

typedef struct sq_queue_depth {
  long long ready, delayed, active, failed;
  long long used_vcpus_m; /* held by running jobs, thousandths */
  long long urgent;       /* of ready: in the urgent list */
  long long tenants;      /* tenants with ready jobs */
} sq_queue_depth;

sq_errcode sq_queue_depth_get(sq_queue *q, sq_queue_depth *d, sq_err *err);

/* Where ready jobs wait, for `sheetq status`: the ready jobs of each tenant
 * in the ring (at most max_tenants of them, in ring order) and how long
 * until the next delayed retry is due. Read-only plain commands. */
typedef struct sq_queue_tenant_ready {
  uint64_t tenant_id;
  long long ready;
} sq_queue_tenant_ready;

typedef struct sq_queue_waiting {
  sq_queue_tenant_ready *tenants; /* owned: sq_queue_waiting_free() */
  size_t n_tenants;
  long long next_retry_ms; /* until the earliest delayed job is due (0 if
                            * overdue); -1 when none is delayed */
} sq_queue_waiting;

sq_errcode sq_queue_waiting_get(sq_queue *q, size_t max_tenants,
                                sq_queue_waiting *w, sq_err *err);
void sq_queue_waiting_free(sq_queue_waiting *w);

/* The reservation, for `sheetq status`: the job passed over so long that
 * the budget now holds room for it (queue/scripts.c, DESIGN). Read-only
 * plain commands; present is false when there is none, or when its job has
 * left the queue (the next claim drops such a stale one). */
typedef struct sq_queue_reservation {
  bool present;
  char id[SQ_ID_SIZE];
  long vcpus_m;
  long long held_ms;    /* since room has been held for it */
  long long waiting_ms; /* since a claim first passed it over */
  char host[128];       /* the worker draining for it; "" when none is */
} sq_queue_reservation;

sq_errcode sq_queue_reservation_get(sq_queue *q, sq_queue_reservation *r,
                                    sq_err *err);

/* Blocks up to timeout_ms for a wake-up (new or returned work). Uses its
 * own connection, so it may run on another thread than the rest. */
typedef struct sq_queue_waiter sq_queue_waiter;
sq_queue_waiter *sq_queue_waiter_open(const char *redis_url, const char *name,
                                      sq_err *err);
sq_errcode sq_queue_wait(sq_queue_waiter *w, long timeout_ms, bool *woken,
                         sq_err *err);
void sq_queue_waiter_close(sq_queue_waiter *w);


#endif
