/* ledger_stats.h - read-only views of a batch in the ledger for `sheetq
 * status`: its jobs per tenant and state, and when its attempts last began
 * and ended. Kept apart from db_ledger.c, which owns the writes. Like
 * sq_ledger_batch_counts(), jobs that were re-run are left out (their clone
 * stands for them).
 */
#ifndef SQ_LEDGER_STATS_H
#define SQ_LEDGER_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "core/db.h"
#include "core/db_ledger.h"

typedef struct sq_ledger_tenant_counts {
  uint64_t tenant_id;
  uint64_t by_state[SQ_JOB__STATES];
  uint64_t total;
} sq_ledger_tenant_counts;

/* The batch's tenants, in tenant id order, each with its jobs by state.
 * *out is an array of *n entries the caller frees with free() (NULL when
 * the batch has no jobs). */
sq_errcode sq_ledger_batch_tenants(sq_db *db, const char *batch_id,
                                   sq_ledger_tenant_counts **out, size_t *n,
                                   sq_err *err);

/* Seconds (database clock) since things happened in the batch; -1 when
 * they never did. */
typedef struct sq_ledger_activity {
  double since_created;
  double since_last_start;  /* the newest attempt began */
  double since_last_finish; /* the newest attempt ended */
} sq_ledger_activity;

sq_errcode sq_ledger_batch_activity(sq_db *db, const char *batch_id,
                                    sq_ledger_activity *out, sq_err *err);

#endif
