/* export_job.c - see export_job.h.
 *
 * Reading overlaps rendering: a reader thread streams the records from
 * MariaDB and prepares them (row_batch.h: JSON parsing, typing, text
 * cleaning) while this thread hands prepared batches to libxlsxwriter.
 * BATCHES batches circulate between the two, so memory stays flat: the
 * reader waits for a free batch, the writer for a full one. The database
 * connection is used by the reader only, between the report's loading and
 * the end of the stream. */
#include "exporter/export_job.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/db_report.h"
#include "core/log.h"
#include "core/report.h"
#include "exporter/scratch.h"

#define BATCHES 4
/* An idle writer gets a batch as soon as it holds this many rows, so small
 * reports overlap too instead of waiting for a full batch. */
#define EARLY_ROWS 64

typedef struct pipeline {
  pthread_mutex_t mu;
  pthread_cond_t changed;
  sq_row_batch batch[BATCHES];
  int full[BATCHES]; /* FIFO of prepared batches */
  size_t full_head, n_full;
  int spare[BATCHES]; /* free batches */
  size_t n_spare;
  bool reader_done, writer_failed;
  bool layout_set; /* the writer has opened the workbook: rows can be prepared */
  atomic_bool writer_idle; /* waiting for a batch: read without the lock */
  /* reader side */
  sq_db *db;
  int reader_socket; /* db's, to cut its query short (sq_db_cut) */
  bool cut;          /* it was: the connection is dead */
  uint64_t report_id;
  const char *start, *end;
  sq_row_layout layout;
  int current; /* the batch being filled, -1: none */
  bool has_layout; /* reader only: it has seen layout_set */
  sq_errcode reader_rc;
  sq_err reader_err;
  pthread_t reader;
} pipeline;

static void hand_over(pipeline *p, int b) { /* with p->mu held */
  p->full[(p->full_head + p->n_full++) % BATCHES] = b;
  pthread_cond_broadcast(&p->changed);
}

static sq_errcode add_record(void *ctx, const sq_record *rec, sq_err *err) {
  pipeline *p = ctx;
  sq_errcode rc;
  sq_err e;
  if (!p->has_layout) {
    /* The first row: the columns come from the report, which the writer
     * loads meanwhile. */
    pthread_mutex_lock(&p->mu);
    while (!p->layout_set && !p->writer_failed) pthread_cond_wait(&p->changed, &p->mu);
    p->has_layout = p->layout_set && !p->writer_failed;
    pthread_mutex_unlock(&p->mu);
    if (!p->has_layout) return sq_err_set(err, SQ_ECANCELLED, "export abandoned");
  }
  if (p->current < 0) {
    pthread_mutex_lock(&p->mu);
    while (p->n_spare == 0 && !p->writer_failed) pthread_cond_wait(&p->changed, &p->mu);
    if (!p->writer_failed) p->current = p->spare[--p->n_spare];
    pthread_mutex_unlock(&p->mu);
    /* The writer gave up: stop streaming; its error is the job's. */
    if (p->current < 0) return sq_err_set(err, SQ_ECANCELLED, "rendering failed");
  }
  rc = sq_row_batch_add(&p->batch[p->current], &p->layout, rec, &e);
  if (rc != SQ_OK) return sq_err_set(err, rc, "report %llu: record %llu: %.300s",
                                     (unsigned long long)p->report_id,
                                     (unsigned long long)rec->id, e.msg);
  if (sq_row_batch_full(&p->batch[p->current]) ||
      (p->batch[p->current].n_rows >= EARLY_ROWS && atomic_load(&p->writer_idle))) {
    pthread_mutex_lock(&p->mu);
    hand_over(p, p->current);
    pthread_mutex_unlock(&p->mu);
    p->current = -1;
  }
  return SQ_OK;
}

static void *reader_main(void *arg) {
  pipeline *p = arg;
  sq_errcode rc = sq_db_stream_records(p->db, p->report_id, p->start, p->end, add_record,
                                       p, &p->reader_err);
  pthread_mutex_lock(&p->mu);
  if (p->current >= 0) hand_over(p, p->current); /* the last, part-full batch */
  p->current = -1;
  p->reader_rc = rc;
  p->reader_done = true;
  pthread_cond_broadcast(&p->changed);
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

/* After the reader's join. */
static void pipeline_free(pipeline *p) {
  if (p->cut) sq_db_disconnect(p->db); /* reopened by its next use */
  for (int i = 0; i < BATCHES; i++) sq_row_batch_free(&p->batch[i]);
  pthread_cond_destroy(&p->changed);
  pthread_mutex_destroy(&p->mu);
  free(p);
}

/* Starts the reader on its own connection: the records' query runs while
 * this thread loads the report and opens the workbook (pipeline_write
 * then gives the reader the columns). NULL, with err set, on failure. */
static pipeline *pipeline_start(sq_db *db, uint64_t report_id, const char *start,
                                const char *end, sq_err *err) {
  pipeline *p = calloc(1, sizeof *p);
  sq_errcode rc = SQ_OK;
  if (p == NULL) {
    sq_err_set(err, SQ_ENOMEM, "out of memory");
    return NULL;
  }
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->changed, NULL);
  for (int i = 0; i < BATCHES && rc == SQ_OK; i++) {
    rc = sq_row_batch_init(&p->batch[i], err);
    p->spare[p->n_spare++] = i;
  }
  p->db = db;
  /* Before the reader's thread uses the connection (connecting it again
   * after a cut dropped it). */
  p->reader_socket = -1;
  if (rc == SQ_OK) rc = sq_db_socket(db, &p->reader_socket, err);
  p->report_id = report_id;
  p->start = start;
  p->end = end;
  p->current = -1;
  if (rc == SQ_OK && pthread_create(&p->reader, NULL, reader_main, p) != 0)
    rc = sq_err_set(err, SQ_ENOMEM, "cannot start the reader thread");
  if (rc != SQ_OK) {
    pipeline_free(p);
    return NULL;
  }
  return p;
}

/* After an early stop (writer_failed set): the reader would otherwise read
 * and drop the rest of its query (mysql_free_result), a whole month of a
 * large report, before the job could fail. Its connection's socket is shut
 * down instead; the reader ends at once with an error nobody reports (the
 * writer's is the job's), and pipeline_free drops the dead connection. */
static void stop_reader(pipeline *p) {
  bool streaming;
  pthread_mutex_lock(&p->mu);
  streaming = !p->reader_done;
  pthread_mutex_unlock(&p->mu);
  if (!streaming || p->reader_socket < 0) return;
  sq_db_cut(p->reader_socket);
  p->cut = true;
  SQ_DEBUG("report %llu: stopped the records' query (its connection is dropped)",
           (unsigned long long)p->report_id);
}

/* Ends the reader without writing. */
static void pipeline_abandon(pipeline *p) {
  pthread_mutex_lock(&p->mu);
  p->writer_failed = true;
  pthread_cond_broadcast(&p->changed);
  pthread_mutex_unlock(&p->mu);
  stop_reader(p);
  pthread_join(p->reader, NULL);
  pipeline_free(p);
}

/* Streams the records into xlsx and frees the pipeline; returns the first
 * error of either side. */
static sq_errcode pipeline_write(pipeline *p, sq_xlsx_report *xlsx, sq_err *err) {
  sq_errcode rc = SQ_OK;
  pthread_mutex_lock(&p->mu);
  sq_xlsx_report_layout(xlsx, &p->layout);
  p->layout_set = true;
  pthread_cond_broadcast(&p->changed);
  pthread_mutex_unlock(&p->mu);

  for (;;) {
    int b;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->writer_idle, true);
    while (p->n_full == 0 && !p->reader_done) pthread_cond_wait(&p->changed, &p->mu);
    atomic_store(&p->writer_idle, false);
    if (p->n_full == 0) {
      pthread_mutex_unlock(&p->mu);
      break;
    }
    b = p->full[p->full_head];
    p->full_head = (p->full_head + 1) % BATCHES;
    p->n_full--;
    pthread_mutex_unlock(&p->mu);

    rc = sq_xlsx_report_write_batch(xlsx, &p->batch[b], err);
    sq_row_batch_reset(&p->batch[b]);
    pthread_mutex_lock(&p->mu);
    p->spare[p->n_spare++] = b;
    if (rc != SQ_OK) p->writer_failed = true;
    pthread_cond_broadcast(&p->changed);
    pthread_mutex_unlock(&p->mu);
    if (rc != SQ_OK) break;
  }
  if (rc != SQ_OK) stop_reader(p);
  pthread_join(p->reader, NULL);
  if (rc == SQ_OK && p->reader_rc != SQ_OK) rc = sq_err_set(err, p->reader_rc, "%s", p->reader_err.msg);
  pipeline_free(p);
  return rc;
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

sq_errcode sq_export_job(sq_db *db, sq_db *reader_db, sq_storage *storage, const sq_config *cfg,
                         const sq_job *job, int attempt, const sq_export_gate *gate,
                         sq_export_result *out, sq_err *err) {
  sq_report report;
  sq_object_key_vars vars = {job->tenant_id, job->report_id, job->period, job->id};
  char period[SQ_PERIOD_STR_LEN], start[SQ_DATETIME_STR_LEN], end[SQ_DATETIME_STR_LEN];
  char tmp_path[4096];
  sq_xlsx_options xo;
  sq_xlsx_report *xlsx;
  sq_scratch scratch;
  pipeline *p = NULL;
  const char *memory_dir;
  uint64_t records;
  bool tmp_exists = false;
  char unique[SQ_ID_SIZE];
  sq_errcode rc;
  double t_start = now_ms(), t_loaded = 0, t_rendered = 0;

  memset(&report, 0, sizeof report);
  memset(out, 0, sizeof *out);
  sq_period_format(job->period, period);
  sq_period_range(job->period, start, end);

  rc = sq_object_key_expand(cfg->key_template, &vars, out->key, err);
  if (rc != SQ_OK) goto out;
  if ((p = pipeline_start(reader_db, job->report_id, start, end, err)) == NULL) {
    rc = err->code;
    goto out;
  }
  /* The record count decides where a first attempt renders (scratch.h);
   * it comes with the report, in the same round trip. */
  records = UINT64_MAX; /* unknown: render on disk */
  memory_dir = sq_scratch_memory_dir(cfg, attempt);
  rc = memory_dir != NULL
           ? sq_db_load_report_counted(db, job->report_id, start, end, &report, &records, err)
           : sq_db_load_report(db, job->report_id, &report, err);
  if (rc != SQ_OK) goto out;
  if (report.tenant_id != job->tenant_id) {
    rc = sq_err_set(err, SQ_ENOT_FOUND,
                    "report %llu belongs to tenant %llu, not %llu as the job says",
                    (unsigned long long)report.id,
                    (unsigned long long)report.tenant_id,
                    (unsigned long long)job->tenant_id);
    goto out;
  }

  scratch = sq_scratch_choose(storage, cfg, memory_dir, records, report.n_items);
  SQ_LOG_JOB(SQ_LOG_DEBUG, job->id, attempt, "report %llu: rendering in %s (%s)",
             (unsigned long long)job->report_id, scratch.render_dir,
             scratch.in_memory ? "memory" : "disk");
  t_loaded = now_ms();
  /* Unique beyond this host: a file:// root may be shared by hosts whose
   * job processes have the same pids (containers), and during a lease
   * take-over two of them may render the same job. */
  if ((rc = sq_id_new('s', unique)) != SQ_OK) {
    sq_err_set(err, rc, "cannot make a scratch file name");
    goto out;
  }
  if (snprintf(tmp_path, sizeof tmp_path, "%s/%s.%d.%s.xlsx.tmp", scratch.output_dir,
               job->id, (int)getpid(), unique) >= (int)sizeof tmp_path) {
    rc = sq_err_set(err, SQ_ECONFIG, "scratch directory path too long");
    goto out;
  }
  memset(&xo, 0, sizeof xo);
  xo.tmpdir = scratch.render_dir;
  xlsx = sq_xlsx_report_open(tmp_path, &report, period, &xo, err);
  if (xlsx == NULL) {
    rc = err->code;
    goto out;
  }
  tmp_exists = true;
  rc = pipeline_write(p, xlsx, err);
  p = NULL;
  if (rc != SQ_OK) {
    sq_err ignored;
    (void)sq_xlsx_report_close(xlsx, NULL, &ignored);
    goto out;
  }
  rc = sq_xlsx_report_close(xlsx, &out->stats, err);
  if (rc != SQ_OK) goto out;
  t_rendered = now_ms();
  if (out->stats.bad_values_json || out->stats.unknown_items || out->stats.truncated_cells)
    SQ_LOG_JOB(SQ_LOG_WARN, job->id, attempt,
               "report %llu: %llu record(s) with values that are not JSON, "
               "%llu value(s) for unknown items skipped, %llu cell(s) truncated",
               (unsigned long long)job->report_id,
               (unsigned long long)out->stats.bad_values_json,
               (unsigned long long)out->stats.unknown_items,
               (unsigned long long)out->stats.truncated_cells);
  if (gate != NULL && (rc = gate->wait(gate->ctx, err)) != SQ_OK) goto out;
  rc = sq_storage_put_file(storage, tmp_path, out->key, err);
  if (rc == SQ_OK)
    SQ_LOG_JOB(SQ_LOG_DEBUG, job->id, attempt,
               "report %llu: %llu rows; load %.1f ms, read and render %.1f ms, store %.1f ms",
               (unsigned long long)job->report_id, (unsigned long long)out->stats.rows,
               t_loaded - t_start, t_rendered - t_loaded, now_ms() - t_rendered);
out:
  if (p != NULL) pipeline_abandon(p);
  if (tmp_exists && unlink(tmp_path) != 0 && errno != ENOENT)
    SQ_LOG_JOB(SQ_LOG_WARN, job->id, attempt, "cannot remove %s: %s", tmp_path, strerror(errno));
  sq_report_free(&report);
  return rc;
}
