/* ledger_sync.c - see ledger_sync.h. */
#include "queue/ledger_sync.h"

#include <stdlib.h>
#include <string.h>

#include "core/db_ledger.h"
#include "core/log.h"

sq_errcode sq_sync_push(sq_db *db, sq_queue *q, const sq_job *jobs, size_t n,
                        size_t *added, size_t *finished, sq_err *err) {
  sq_queue_item *items = NULL;
  char **payloads = NULL;
  sq_errcode rc = SQ_ENOMEM;
  *added = 0;
  if (finished) *finished = 0;
  if (n == 0) return SQ_OK;
  items = calloc(n, sizeof *items);
  payloads = calloc(n, sizeof *payloads);
  if (items == NULL || payloads == NULL) goto nomem;
  for (size_t i = 0; i < n; i++) {
    if ((payloads[i] = sq_job_to_json(&jobs[i])) == NULL) goto nomem;
    items[i].id = jobs[i].id;
    items[i].payload = payloads[i];
    items[i].tenant_id = jobs[i].tenant_id;
    items[i].vcpus_m = jobs[i].vcpus_m;
    items[i].urgent = jobs[i].urgent;
    items[i].max_attempts = jobs[i].max_attempts;
    items[i].attempts = jobs[i].attempts;
  }
  rc = sq_queue_submit(q, items, n, added, err);
  if (rc == SQ_OK) rc = sq_ledger_mark_runnable(db, jobs, n, err);
  /* Redis failed these for good (the reaper's ledger write never landed):
   * Redis's terminal state is final, so the ledger follows it. */
  for (size_t i = 0; rc == SQ_OK && i < n; i++) {
    if (!items[i].was_failed) continue;
    rc = sq_ledger_fail_lost(db, jobs[i].id, jobs[i].max_attempts, UINT64_MAX,
                             "worker lost (lease expired) on the last attempt", err);
    if (rc == SQ_OK && finished) (*finished)++;
  }
  goto out;
nomem:
  rc = sq_err_set(err, SQ_ENOMEM, "out of memory for %zu jobs", n);
out:
  for (size_t i = 0; payloads && i < n; i++) free(payloads[i]);
  free(payloads);
  free(items);
  return rc;
}

typedef struct collect_ctx {
  sq_job *jobs;
  size_t n, cap;
} collect_ctx;

static sq_errcode collect(void *ctx, const sq_job *job, sq_job_state state) {
  collect_ctx *c = ctx;
  (void)state;
  if (c->n == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 256;
    sq_job *p = realloc(c->jobs, cap * sizeof *p);
    if (p == NULL) return SQ_ENOMEM;
    c->jobs = p;
    c->cap = cap;
  }
  c->jobs[c->n++] = *job;
  return SQ_OK;
}

sq_errcode sq_sync_repair(sq_db *db, sq_queue *q, const char *queue,
                          sq_repair_stats *stats, sq_err *err) {
  collect_ctx c = {NULL, 0, 0};
  uint64_t max_token = 0;
  sq_errcode rc;
  memset(stats, 0, sizeof *stats);
  rc = sq_ledger_unfinished(db, queue, collect, &c, &max_token, err);
  if (rc == SQ_ENOMEM) sq_err_set(err, rc, "out of memory listing unfinished jobs");
  /* New claims must out-rank every token the ledger has seen, even if Redis
   * lost its counter with the rest of its data. */
  if (rc == SQ_OK) rc = sq_queue_fence_floor(q, max_token, err);
  if (rc == SQ_OK)
    rc = sq_sync_push(db, q, c.jobs, c.n, &stats->requeued, &stats->finished, err);
  stats->unfinished = c.n;
  free(c.jobs);
  return rc;
}
