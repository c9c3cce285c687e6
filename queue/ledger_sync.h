/* ledger_sync.h - keeps Redis in step with the ledger.
 *
 * The ledger says which jobs exist; Redis only carries them. Pushing is
 * always "ledger first, then Redis, then mark runnable", and always
 * idempotent (Redis ignores ids it holds), so any step can be repeated after
 * a crash. Repair re-pushes every job the ledger holds as unfinished: the ones
 * Redis lost (a restart without persistence, a failover) come back; the rest
 * are left alone.
 */
#ifndef SQ_LEDGER_SYNC_H
#define SQ_LEDGER_SYNC_H

#include <stdbool.h>
#include <stddef.h>

#include "core/db.h"
#include "core/job.h"
#include "queue/queue.h"

/* Submits jobs (already in the ledger) to Redis and marks them runnable.
 * Each job's size, urgency, attempt limit and attempts used go with it. A
 * job Redis already holds as failed for good (its last lease expired and the
 * ledger write was lost) is failed in the ledger too; *finished counts those
 * (may be NULL). */
sq_errcode sq_sync_push(sq_db *db, sq_queue *q, const sq_job *jobs, size_t n,
                        size_t *added, size_t *finished, sq_err *err);

typedef struct sq_repair_stats {
  size_t unfinished; /* jobs the ledger holds as not finished */
  size_t requeued;   /* of those, missing from Redis and put back */
  size_t finished;   /* of those, failed in Redis: failed in the ledger */
} sq_repair_stats;

sq_errcode sq_sync_repair(sq_db *db, sq_queue *q, const char *queue,
                          sq_repair_stats *stats, sq_err *err);

#endif
