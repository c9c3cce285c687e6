/* wait_reasons.h - why a batch's jobs are waiting, in words, for `sheetq
 * status`. Pure: the caller gathers the figures (the queue's from Redis,
 * the batch's from the ledger) and gets back sentences, so each rule is
 * tested with plain numbers.
 */
#ifndef SQ_WAIT_REASONS_H
#define SQ_WAIT_REASONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sq_wait_inputs {
  bool have_queue;              /* false: Redis could not be read */
  long long ready, delayed, active; /* the queue's, cluster-wide */
  long long used_vcpus_m, budget_m, job_vcpus_m;
  long long next_retry_ms;      /* -1: none delayed */
  uint64_t submitted, runnable; /* the batch's, from the ledger */
  double since_last_start;      /* seconds; -1: no attempt yet */
} sq_wait_inputs;

typedef enum sq_wait_kind {
  SQ_WAIT_VCPUS = 0, /* the cluster's vCPU budget is spent */
  SQ_WAIT_WORKER,    /* room in the budget, workers busy or too small */
  SQ_WAIT_NO_WORKER, /* room, nothing running, nothing started lately */
  SQ_WAIT_RETRY,     /* delayed by retry backoff */
  SQ_WAIT_SUBMITTED, /* in the ledger, not yet in Redis */
  SQ_WAIT_MISSING,   /* runnable in the ledger, absent from Redis */
} sq_wait_kind;

typedef struct sq_wait_reason {
  sq_wait_kind kind;
  const char *name; /* stable: "vcpus", "worker", "no_worker", "retry", ... */
  long long jobs;
  char text[256];
} sq_wait_reason;

/* No worker has started anything for this long: say so. */
#define SQ_WAIT_IDLE_S 60.0

/* Fills up to cap reasons, most pressing first; returns how many. */
size_t sq_wait_reasons(const sq_wait_inputs *in, sq_wait_reason *out, size_t cap);

#endif
