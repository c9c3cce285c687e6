/* export_job.c - see export_job.h. */
#include "exporter/export_job.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/db_report.h"
#include "core/log.h"
#include "core/report.h"

typedef struct stream_ctx {
  sq_xlsx_report *xlsx;
} stream_ctx;

static sq_errcode add_record(void *ctx, const sq_record *rec, sq_err *err) {
  stream_ctx *s = ctx;
  return sq_xlsx_report_add(s->xlsx, rec, err);
}

static const char *scratch_dir(const sq_storage *storage, const sq_config *cfg) {
  const char *d = cfg->tmpdir;
  if (d == NULL) d = sq_storage_scratch_dir(storage);
  if (d == NULL) d = getenv("TMPDIR");
  return d ? d : "/tmp";
}

sq_errcode sq_export_job(sq_db *db, sq_storage *storage, const sq_config *cfg,
                         const sq_job *job, sq_export_result *out, sq_err *err) {
  sq_report report;
  sq_object_key_vars vars = {job->tenant_id, job->report_id, job->period, job->id};
  char period[SQ_PERIOD_STR_LEN], start[SQ_DATETIME_STR_LEN], end[SQ_DATETIME_STR_LEN];
  char tmp_path[4096];
  sq_xlsx_options xo;
  stream_ctx sc = {NULL};
  bool tmp_exists = false;
  sq_errcode rc;

  memset(&report, 0, sizeof report);
  memset(out, 0, sizeof *out);
  sq_period_format(job->period, period);
  sq_period_range(job->period, start, end);

  rc = sq_object_key_expand(cfg->key_template, &vars, out->key, err);
  if (rc != SQ_OK) goto out;
  rc = sq_db_load_report(db, job->report_id, &report, err);
  if (rc != SQ_OK) goto out;
  if (report.tenant_id != job->tenant_id) {
    rc = sq_err_set(err, SQ_ENOT_FOUND,
                    "report %llu belongs to tenant %llu, not %llu as the job says",
                    (unsigned long long)report.id,
                    (unsigned long long)report.tenant_id,
                    (unsigned long long)job->tenant_id);
    goto out;
  }

  if (snprintf(tmp_path, sizeof tmp_path, "%s/%s.%d.xlsx.tmp",
               scratch_dir(storage, cfg), job->id, (int)getpid()) >= (int)sizeof tmp_path) {
    rc = sq_err_set(err, SQ_ECONFIG, "scratch directory path too long");
    goto out;
  }
  memset(&xo, 0, sizeof xo);
  xo.tmpdir = scratch_dir(storage, cfg);
  sc.xlsx = sq_xlsx_report_open(tmp_path, &report, period, &xo, err);
  if (sc.xlsx == NULL) {
    rc = err->code;
    goto out;
  }
  tmp_exists = true;
  rc = sq_db_stream_records(db, job->report_id, start, end, add_record, &sc, err);
  if (rc != SQ_OK) {
    sq_err ignored;
    (void)sq_xlsx_report_close(sc.xlsx, NULL, &ignored);
    sc.xlsx = NULL;
    goto out;
  }
  rc = sq_xlsx_report_close(sc.xlsx, &out->stats, err);
  sc.xlsx = NULL;
  if (rc != SQ_OK) goto out;
  if (out->stats.bad_values_json || out->stats.unknown_items || out->stats.truncated_cells)
    SQ_LOG_JOB(SQ_LOG_WARN, job->id, 0,
               "report %llu: %llu record(s) with values that are not JSON, "
               "%llu value(s) for unknown items skipped, %llu cell(s) truncated",
               (unsigned long long)job->report_id,
               (unsigned long long)out->stats.bad_values_json,
               (unsigned long long)out->stats.unknown_items,
               (unsigned long long)out->stats.truncated_cells);
  rc = sq_storage_put_file(storage, tmp_path, out->key, err);
out:
  if (tmp_exists && unlink(tmp_path) != 0 && errno != ENOENT)
    SQ_LOG_JOB(SQ_LOG_WARN, job->id, 0, "cannot remove %s: %s", tmp_path, strerror(errno));
  sq_report_free(&report);
  return rc;
}
