/* wait_reasons.c - see wait_reasons.h. */
#include "core/wait_reasons.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/progress.h"

static const char *const kind_names[] = {"vcpus", "worker", "no_worker",
                                         "retry", "submitted", "missing"};

static void add(sq_wait_reason *out, size_t cap, size_t *n, sq_wait_kind kind,
                long long jobs, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void add(sq_wait_reason *out, size_t cap, size_t *n, sq_wait_kind kind,
                long long jobs, const char *fmt, ...) {
  va_list ap;
  if (*n >= cap) return;
  out[*n].kind = kind;
  out[*n].name = kind_names[kind];
  out[*n].jobs = jobs;
  va_start(ap, fmt);
  vsnprintf(out[*n].text, sizeof out[*n].text, fmt, ap);
  va_end(ap);
  (*n)++;
}

size_t sq_wait_reasons(const sq_wait_inputs *in, sq_wait_reason *out, size_t cap) {
  size_t n = 0;
  char used[32], budget[32], d[32];
  snprintf(used, sizeof used, "%lld.%lld", in->used_vcpus_m / 1000, in->used_vcpus_m % 1000 / 100);
  snprintf(budget, sizeof budget, "%lld.%lld", in->budget_m / 1000, in->budget_m % 1000 / 100);
  if (in->have_queue && in->ready > 0) {
    if (in->used_vcpus_m + in->job_vcpus_m > in->budget_m)
      add(out, cap, &n, SQ_WAIT_VCPUS, in->ready,
          "%lld ready, waiting for vCPUs: %s/%s in use (the cluster budget is full)",
          in->ready, used, budget);
    else if (in->active == 0 &&
             (in->since_last_start < 0 || in->since_last_start > SQ_WAIT_IDLE_S)) {
      if (in->since_last_start < 0)
        add(out, cap, &n, SQ_WAIT_NO_WORKER, in->ready,
            "%lld ready, but nothing is running and no attempt of this batch has "
            "started: is a worker up?", in->ready);
      else
        add(out, cap, &n, SQ_WAIT_NO_WORKER, in->ready,
            "%lld ready, but nothing is running and no worker has started a job of "
            "this batch for %s: is a worker up?", in->ready,
            sq_progress_format_duration(in->since_last_start, d, sizeof d));
    } else
      add(out, cap, &n, SQ_WAIT_WORKER, in->ready,
          "%lld ready, waiting for a worker with free vCPUs (%s/%s of the cluster "
          "budget in use)", in->ready, used, budget);
  }
  if (in->have_queue && in->delayed > 0)
    add(out, cap, &n, SQ_WAIT_RETRY, in->delayed,
        "%lld delayed for retry backoff, next due in %s", in->delayed,
        sq_progress_format_duration(in->next_retry_ms < 0 ? -1 : (double)in->next_retry_ms / 1000.0,
                                    d, sizeof d));
  if (in->submitted > 0)
    add(out, cap, &n, SQ_WAIT_SUBMITTED, (long long)in->submitted,
        "%llu submitted but not yet queued in Redis (an interrupted enqueue); the "
        "next enqueue or a worker's ledger check queues them",
        (unsigned long long)in->submitted);
  if (in->have_queue && in->runnable > 0 && in->ready == 0 && in->delayed == 0 &&
      in->active == 0)
    add(out, cap, &n, SQ_WAIT_MISSING, (long long)in->runnable,
        "%llu runnable in the ledger but not in Redis (Redis lost them?); a "
        "worker's ledger check queues them again", (unsigned long long)in->runnable);
  return n;
}
