/* ledger_stats.c - see ledger_stats.h. */
#include "core/ledger_stats.h"

#include <stdlib.h>
#include <string.h>

typedef struct tenants_ctx {
  sq_ledger_tenant_counts *items;
  size_t n, cap;
} tenants_ctx;

/* Row: tenant_id, state, count; ordered by tenant, so a tenant's rows are
 * adjacent. */
static sq_errcode read_tenant_row(void *ctx, char **row, const unsigned long *len,
                                  unsigned n_fields, sq_err *err) {
  tenants_ctx *c = ctx;
  uint64_t tenant, count;
  sq_job_state s;
  if (n_fields != 3 || !sq_parse_u64(row[0], len[0], &tenant) ||
      !sq_job_state_parse(row[1], len[1], &s) || !sq_parse_u64(row[2], len[2], &count))
    return sq_err_set(err, SQ_EDB_DATA, "ledger: malformed tenant count row");
  if (c->n == 0 || c->items[c->n - 1].tenant_id != tenant) {
    if (c->n == c->cap) {
      size_t cap = c->cap ? c->cap * 2 : 16;
      sq_ledger_tenant_counts *grown = realloc(c->items, cap * sizeof *grown);
      if (grown == NULL) return sq_err_set(err, SQ_ENOMEM, "out of memory");
      c->items = grown;
      c->cap = cap;
    }
    memset(&c->items[c->n], 0, sizeof c->items[c->n]);
    c->items[c->n++].tenant_id = tenant;
  }
  c->items[c->n - 1].by_state[s] += count;
  c->items[c->n - 1].total += count;
  return SQ_OK;
}

sq_errcode sq_ledger_batch_tenants(sq_db *db, const char *batch_id,
                                   sq_ledger_tenant_counts **out, size_t *n,
                                   sq_err *err) {
  tenants_ctx c = {NULL, 0, 0};
  sq_errcode rc = sq_db_query(db,
                              "SELECT j.tenant_id, j.state, COUNT(*) FROM sheetq_jobs j "
                              "WHERE j.batch_id = :batch AND NOT EXISTS (SELECT 1 FROM "
                              "sheetq_jobs c WHERE c.cloned_from = j.id) "
                              "GROUP BY j.tenant_id, j.state ORDER BY j.tenant_id",
                              (sq_param[]){SQ_P_STR("batch", batch_id)}, 1, read_tenant_row,
                              &c, err);
  if (rc != SQ_OK) {
    free(c.items);
    c.items = NULL;
    c.n = 0;
  }
  *out = c.items;
  *n = c.n;
  return rc;
}

static double seconds_or_none(const char *v, unsigned long len) {
  uint64_t ms;
  if (v == NULL || !sq_parse_u64(v, len, &ms)) return -1;
  return (double)ms / 1000.0;
}

static sq_errcode read_activity(void *ctx, char **row, const unsigned long *len,
                                unsigned n_fields, sq_err *err) {
  sq_ledger_activity *a = ctx;
  if (n_fields != 3) return sq_err_set(err, SQ_EDB_DATA, "ledger: malformed activity row");
  a->since_created = seconds_or_none(row[0], len[0]);
  a->since_last_start = seconds_or_none(row[1], len[1]);
  a->since_last_finish = seconds_or_none(row[2], len[2]);
  return SQ_OK;
}

sq_errcode sq_ledger_batch_activity(sq_db *db, const char *batch_id,
                                    sq_ledger_activity *out, sq_err *err) {
  out->since_created = out->since_last_start = out->since_last_finish = -1;
  /* Clock skew between writers cannot make these negative: one server's
   * clock wrote every timestamp. GREATEST guards sub-millisecond races. */
  return sq_db_query(db,
                     "SELECT GREATEST(0, TIMESTAMPDIFF(MICROSECOND, b.created_at, "
                     "UTC_TIMESTAMP(3)) DIV 1000), "
                     "(SELECT GREATEST(0, TIMESTAMPDIFF(MICROSECOND, MAX(a.started_at), "
                     "UTC_TIMESTAMP(3)) DIV 1000) FROM sheetq_attempts a JOIN sheetq_jobs j "
                     "ON j.id = a.job_id WHERE j.batch_id = b.id), "
                     "(SELECT GREATEST(0, TIMESTAMPDIFF(MICROSECOND, MAX(a.finished_at), "
                     "UTC_TIMESTAMP(3)) DIV 1000) FROM sheetq_attempts a JOIN sheetq_jobs j "
                     "ON j.id = a.job_id WHERE j.batch_id = b.id) "
                     "FROM sheetq_batches b WHERE b.id = :batch",
                     (sq_param[]){SQ_P_STR("batch", batch_id)}, 1, read_activity, out, err);
}
