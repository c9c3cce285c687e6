/* export_job.h - one export, start to finish: load the report, stream its
 * records for the period into the xlsx renderer (a reader thread prepares
 * rows while libxlsxwriter writes; memory stays flat), then hand the
 * finished file to storage. The object is durable when this returns SQ_OK.
 *
 * Errors keep their class: a deleted report is SQ_ENOT_FOUND (permanent), a
 * lost database connection SQ_EDB_CONNECT (temporary), a full disk
 * SQ_ESTORAGE_FULL (temporary). The temporary file is removed on every path.
 */
#ifndef SQ_EXPORT_JOB_H
#define SQ_EXPORT_JOB_H

#include <stdint.h>

#include "core/config.h"
#include "core/db.h"
#include "core/job.h"
#include "exporter/object_key.h"
#include "exporter/storage.h"
#include "exporter/xlsx_report.h"

typedef struct sq_export_result {
  char key[SQ_OBJECT_KEY_MAX];
  sq_xlsx_stats stats;
} sq_export_result;

/* A gate the finished file waits at before it is stored: the worker lets
 * the job process start before the ledger has recorded the attempt, and
 * nothing becomes visible until it has. wait() returns SQ_OK to store, or
 * an error that ends the job (the file is discarded). */
typedef struct sq_export_gate {
  sq_errcode (*wait)(void *ctx, sq_err *err);
  void *ctx;
} sq_export_gate;

/* attempt counts from 1; a first attempt of a small report renders in
 * memory (scratch.h). gate: NULL, or passed before storing. reader_db is a
 * second connection, not db: the records' query starts on it at once and
 * runs while the report is loaded on db and the workbook opened. */
sq_errcode sq_export_job(sq_db *db, sq_db *reader_db, sq_storage *storage, const sq_config *cfg,
                         const sq_job *job, int attempt, const sq_export_gate *gate,
                         sq_export_result *out, sq_err *err);

#endif
