/* ledger_outbox.c - see ledger_outbox.h. Report and tenant names come from
 * the customer's tables by LEFT JOIN: a deleted report still gets its
 * failure announced, by id. */
#include "core/ledger_outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/db_ledger.h"

#define UNFINISHED "('submitted','runnable','running')"

static void copy_cell(char *dst, size_t cap, const char *src, unsigned long len) {
  size_t n = src ? len : 0;
  if (n > cap - 1) { /* cut, but never inside a UTF-8 character */
    n = cap - 1;
    while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80) n--;
  }
  if (n) memcpy(dst, src, n);
  dst[n] = '\0';
}

typedef struct failures_ctx {
  sq_slack_failure *f;
  size_t n, max;
  long hold_s;
  bool due;
} failures_ctx;

/* Row: id, batch_id, queue, tenant_id, report_id, period, attempts,
 * max_attempts, last_error_code, last_error, report name, tenant name,
 * batch done (0/1), seconds since it failed. */
static sq_errcode read_failure(void *ctx, char **row, const unsigned long *len,
                               unsigned n_fields, sq_err *err) {
  failures_ctx *c = ctx;
  sq_slack_failure *f;
  uint64_t attempts, max_attempts, done, age;
  if (c->n == c->max) return SQ_OK;
  f = &c->f[c->n];
  memset(f, 0, sizeof *f);
  if (n_fields != 14 || !row[0] || len[0] != SQ_ID_LEN || !row[1] || len[1] != SQ_ID_LEN ||
      !row[2] || !sq_parse_u64(row[3], len[3], &f->tenant_id) ||
      !sq_parse_u64(row[4], len[4], &f->report_id) || !row[5] ||
      !sq_parse_u64(row[6], len[6], &attempts) ||
      !sq_parse_u64(row[7], len[7], &max_attempts) || !sq_parse_u64(row[12], len[12], &done))
    return sq_err_set(err, SQ_EDB_DATA, "ledger: malformed failed-job row");
  if (row[13] == NULL || !sq_parse_u64(row[13], len[13], &age)) age = 0; /* clock skew */
  copy_cell(f->job_id, sizeof f->job_id, row[0], len[0]);
  copy_cell(f->batch_id, sizeof f->batch_id, row[1], len[1]);
  copy_cell(f->queue, sizeof f->queue, row[2], len[2]);
  copy_cell(f->period, sizeof f->period, row[5], len[5]);
  f->attempts = (int)attempts;
  f->max_attempts = (int)max_attempts;
  copy_cell(f->error_code, sizeof f->error_code, row[8], len[8]);
  copy_cell(f->error, sizeof f->error, row[9], len[9]);
  copy_cell(f->report_name, sizeof f->report_name, row[10], len[10]);
  copy_cell(f->tenant_name, sizeof f->tenant_name, row[11], len[11]);
  if (done || (long)age >= c->hold_s) c->due = true;
  c->n++;
  return SQ_OK;
}

sq_errcode sq_outbox_failures(sq_db *db, const char *queue, size_t max, long hold_s,
                              sq_slack_failure **out, size_t *n, bool *due,
                              sq_err *err) {
  failures_ctx c = {NULL, 0, max, hold_s, false};
  sq_errcode rc;
  *out = NULL;
  *n = 0;
  *due = false;
  if (max == 0) return SQ_OK;
  if ((c.f = calloc(max, sizeof *c.f)) == NULL)
    return sq_err_set(err, SQ_ENOMEM, "out of memory for %zu failures", max);
  rc = sq_db_query(
      db,
      "SELECT j.id, j.batch_id, j.queue, j.tenant_id, j.report_id, j.period, j.attempts, "
      "j.max_attempts, j.last_error_code, j.last_error, r.name, t.name, "
      "NOT EXISTS (SELECT 1 FROM sheetq_jobs u WHERE u.batch_id = j.batch_id "
      "AND u.state IN " UNFINISHED "), "
      "GREATEST(0, TIMESTAMPDIFF(SECOND, j.finished_at, UTC_TIMESTAMP(3))) "
      "FROM sheetq_jobs j LEFT JOIN reports r ON r.id = j.report_id "
      "LEFT JOIN tenants t ON t.id = j.tenant_id "
      "WHERE j.state = 'failed' AND j.notified_at IS NULL AND j.queue = :queue "
      "AND j.finished_at > UTC_TIMESTAMP(3) - INTERVAL 1 DAY "
      "ORDER BY j.finished_at, j.id LIMIT :max",
      (sq_param[]){SQ_P_STR("queue", queue), SQ_P_U64("max", max)}, 2, read_failure, &c,
      err);
  if (rc != SQ_OK) {
    free(c.f);
    return rc;
  }
  *out = c.f;
  *n = c.n;
  *due = c.due;
  return SQ_OK;
}

sq_errcode sq_outbox_failures_sent(sq_db *db, const sq_slack_failure *f, size_t n,
                                   sq_err *err) {
  sq_buf sql;
  sq_errcode rc = SQ_OK;
  if (n == 0) return SQ_OK;
  sq_buf_init(&sql, 1u << 20);
  rc = sq_buf_adds(&sql, "UPDATE sheetq_jobs SET notified_at = UTC_TIMESTAMP(3) "
                         "WHERE notified_at IS NULL AND id IN (");
  for (size_t i = 0; i < n && rc == SQ_OK; i++) {
    /* Ids go into the SQL as they are, so only well-formed ones. */
    if (!sq_id_valid(f[i].job_id, 'j')) {
      rc = sq_err_set(err, SQ_EDB_DATA, "ledger: malformed job id in the outbox");
      goto out;
    }
    rc = sq_buf_printf(&sql, "%s'%s'", i ? "," : "", f[i].job_id);
  }
  if (rc == SQ_OK) rc = sq_buf_adds(&sql, ")");
  if (rc != SQ_OK) {
    sq_err_set(err, rc, "out of memory");
    goto out;
  }
  rc = sq_db_exec(db, sq_buf_str(&sql), NULL, 0, NULL, err);
out:
  sq_buf_free(&sql);
  return rc;
}

/* ---- batch summaries --------------------------------------------------- */

/* Row: id, queue, period, seconds from creation to the last job's end. */
static sq_errcode read_batch(void *ctx, char **row, const unsigned long *len,
                             unsigned n_fields, sq_err *err) {
  sq_slack_batch_summary *s = ctx;
  if (s->batch_id[0]) return SQ_OK;
  if (n_fields != 4 || !row[0] || len[0] != SQ_ID_LEN || !row[1] || !row[2])
    return sq_err_set(err, SQ_EDB_DATA, "ledger: malformed batch row");
  copy_cell(s->batch_id, sizeof s->batch_id, row[0], len[0]);
  copy_cell(s->queue, sizeof s->queue, row[1], len[1]);
  copy_cell(s->period, sizeof s->period, row[2], len[2]);
  s->duration_s = row[3] ? strtod(row[3], NULL) : 0;
  return SQ_OK;
}

/* Row: tenant_id, report_id, job id, report name, seconds. */
static sq_errcode read_slow(void *ctx, char **row, const unsigned long *len,
                            unsigned n_fields, sq_err *err) {
  sq_slack_batch_summary *s = ctx;
  sq_slack_slow_report *r;
  if (s->n_slowest == SQ_SLACK_SLOWEST_MAX) return SQ_OK;
  r = &s->slowest[s->n_slowest];
  memset(r, 0, sizeof *r);
  if (n_fields != 5 || !sq_parse_u64(row[0], len[0], &r->tenant_id) ||
      !sq_parse_u64(row[1], len[1], &r->report_id) || !row[2] || !row[4])
    return sq_err_set(err, SQ_EDB_DATA, "ledger: malformed attempt row");
  copy_cell(r->job_id, sizeof r->job_id, row[2], len[2]);
  copy_cell(r->report_name, sizeof r->report_name, row[3], len[3]);
  r->seconds = strtod(row[4], NULL);
  s->n_slowest++;
  return SQ_OK;
}

sq_errcode sq_outbox_next_summary(sq_db *db, const char *queue,
                                  sq_slack_batch_summary *out, bool *found,
                                  sq_err *err) {
  sq_ledger_counts counts;
  char batch[SQ_ID_SIZE];
  sq_errcode rc;
  memset(out, 0, sizeof *out);
  *found = false;
  rc = sq_db_query(
      db,
      "SELECT b.id, b.queue, b.period, (SELECT TIMESTAMPDIFF(MICROSECOND, b.created_at, "
      "MAX(j.finished_at)) / 1000000 FROM sheetq_jobs j WHERE j.batch_id = b.id) "
      "FROM sheetq_batches b WHERE b.queue = :queue AND b.summary_sent_at IS NULL "
      "AND b.created_at > UTC_TIMESTAMP(3) - INTERVAL 7 DAY "
      /* A batch with no job yet is still being written (enqueue writes the
       * batch first; its jobs reach Redis only once all are in). */
      "AND EXISTS (SELECT 1 FROM sheetq_jobs j WHERE j.batch_id = b.id) AND NOT EXISTS "
      "(SELECT 1 FROM sheetq_jobs j WHERE j.batch_id = b.id AND j.state IN " UNFINISHED ") "
      "ORDER BY b.created_at, b.id LIMIT 1",
      (sq_param[]){SQ_P_STR("queue", queue)}, 1, read_batch, out, err);
  if (rc != SQ_OK || out->batch_id[0] == '\0') return rc;
  /* Counted like `sheetq status`: a re-run job stands for its original. */
  rc = sq_ledger_batch_counts(db, queue, out->batch_id, batch, &counts, err);
  if (rc != SQ_OK) return rc;
  out->jobs = counts.total;
  out->succeeded = counts.by_state[SQ_JOB_SUCCEEDED];
  out->failed = counts.by_state[SQ_JOB_FAILED];
  out->cancelled = counts.by_state[SQ_JOB_CANCELLED];
  rc = sq_db_query(
      db,
      "SELECT j.tenant_id, j.report_id, j.id, r.name, "
      "TIMESTAMPDIFF(MICROSECOND, a.started_at, a.finished_at) / 1000000 AS seconds "
      "FROM sheetq_jobs j JOIN sheetq_attempts a ON a.job_id = j.id "
      "LEFT JOIN reports r ON r.id = j.report_id "
      "WHERE j.batch_id = :batch AND a.outcome = 'succeeded' "
      "ORDER BY seconds DESC, j.id LIMIT :n",
      (sq_param[]){SQ_P_STR("batch", out->batch_id), SQ_P_U64("n", SQ_SLACK_SLOWEST_MAX)}, 2,
      read_slow, out, err);
  if (rc == SQ_OK) *found = true;
  return rc;
}

sq_errcode sq_outbox_summary_sent(sq_db *db, const char *batch_id, sq_err *err) {
  return sq_db_exec(db,
                    "UPDATE sheetq_batches SET summary_sent_at = UTC_TIMESTAMP(3) "
                    "WHERE id = :id AND summary_sent_at IS NULL",
                    (sq_param[]){SQ_P_STR("id", batch_id)}, 1, NULL, err);
}
