/* db_report.h - reading the customer's reports, records and export targets.
 *
 * Everything sheetq reads from the customer's database goes through here, on
 * top of core/db.h: the report model (report, tenant name, items), the stream
 * of records of one report in one period, and the list of (tenant, report)
 * export targets of a period. The customer's schema is in
 * scripts/demo_schema.sql. sheetq never writes to these tables.
 *
 * Records are streamed (never held in memory) in (recorded_at, id) order; their
 * JSON values are handed over byte for byte as the server stores them.
 *
 * Errors: SQ_EDB_CONNECT / SQ_EDB_QUERY from the database (see db.h),
 * SQ_ENOT_FOUND for a missing report, SQ_EDB_DATA when a row breaks the
 * schema's promises (an id that is not a number, a report whose tenant is
 * gone), SQ_EINVAL for bad arguments, SQ_ECONFIG for a bad target query,
 * SQ_ENOMEM. err->msg names the report or record concerned.
 */
#ifndef SQ_DB_REPORT_H
#define SQ_DB_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/db.h"
#include "core/error.h"
#include "core/report.h"

/* Loads report report_id, its tenant's name and its items ordered by position
 * (one statement, so one consistent snapshot). On success *out owns
 * everything (free with sq_report_free()); on failure *out is zeroed.
 * SQ_ENOT_FOUND "report N: no such report" when absent; SQ_EDB_DATA when the
 * report's tenant does not exist. Archived reports and disabled tenants load
 * normally: whether to export is the target query's business. An item kind
 * the model does not know (MariaDB stores '' for an invalid ENUM value) is
 * loaded as SQ_ITEM_TEXT. */
sq_errcode sq_db_load_report(sq_db *db, uint64_t report_id, sq_report *out,
                             sq_err *err);
/* The same, plus the number of the report's records with start <= recorded_at
 * < end in *records, in the same round trip. */
sq_errcode sq_db_load_report_counted(sq_db *db, uint64_t report_id, const char *start,
                                     const char *end, sq_report *out, uint64_t *records,
                                     sq_err *err);

/* Record callback. rec and its pointers are borrowed, valid only during the
 * call. Returning non-SQ_OK stops the stream; sq_db_stream_records() returns
 * that code with err as the callback left it. */
typedef sq_errcode (*sq_record_cb)(void *ctx, const sq_record *rec,
                                   sq_err *err);

/* Streams the records of report_id with start <= recorded_at < end, ordered by
 * recorded_at, then id, one callback per record. start and end are
 * "YYYY-MM-DD HH:MM:SS" (SQ_EINVAL otherwise). rec->recorded_at is
 * "YYYY-MM-DD HH:MM:SS", NUL-terminated; rec->values is the JSON text of
 * records.values exactly as stored (not NUL-terminated; MariaDB keeps JSON as
 * text, so keys, spacing and escapes are the writer's). A NULL recorded_by or
 * values, which the schema forbids, arrives as "" and "{}". The connection
 * is busy until the stream ends: the callback must not use db. */
sq_errcode sq_db_stream_records(sq_db *db, uint64_t report_id,
                                const char *start, const char *end,
                                sq_record_cb cb, void *ctx, sq_err *err);

typedef struct sq_target {
  uint64_t tenant_id;
  uint64_t report_id;
} sq_target;

typedef struct sq_target_filter {
  const char *period;       /* "YYYY-MM", required */
  const char *period_start; /* "YYYY-MM-DD HH:MM:SS"; NULL: derived from period */
  const char *period_end;   /* exclusive; NULL: derived from period */
  const uint64_t *tenant_ids; /* empty: all tenants */
  size_t n_tenant_ids;
  const uint64_t *report_ids; /* empty: all reports */
  size_t n_report_ids;
} sq_target_filter;

/* The target query used when none is configured. A configured query gets the
 * same named parameters; see sq_db_find_targets(). */
extern const char sq_default_target_query[];

/* Runs the target query (query NULL: sq_default_target_query) and returns its
 * rows. Named parameters: :period, :period_start, :period_end (strings),
 * :tenant_ids, :report_ids (lists of ids: "1,2,3", or NULL when empty, for
 * "IN (:tenant_ids)"), :has_tenant_filter, :has_report_filter (0 or 1).
 *
 * The query must be a SELECT (or WITH ... SELECT) whose first two columns are
 * tenant_id and report_id, as unsigned integers; further columns are ignored.
 * Anything else is SQ_ECONFIG with a message saying what is wrong, as is a
 * query the server rejects (syntax, unknown column: the configuration is at
 * fault, retrying cannot help). Only column values are checked: swapped
 * columns cannot be detected. Rows come back in the query's order, duplicates
 * included (the default query has none and orders by tenant_id, report_id).
 *
 * On success *out is a malloc'd array of *n_out targets (NULL when none); the
 * caller frees it with free(). On failure *out is NULL and *n_out 0. */
sq_errcode sq_db_find_targets(sq_db *db, const char *query,
                              const sq_target_filter *f, sq_target **out,
                              size_t *n_out, sq_err *err);

/* Counts each target's records with start <= recorded_at < end into
 * counts[i] (for sizing jobs). One grouped, index-only query per 500
 * targets. */
sq_errcode sq_db_count_records(sq_db *db, const sq_target *targets, size_t n,
                               const char *start, const char *end,
                               uint64_t *counts, sq_err *err);

/* Looks up each tenant's tenants.rollout_group (for core/rollout.h):
 * groups[i] for tenant_ids[i], has_group[i] false when it is NULL, not a
 * number, or the tenant does not exist. One query per 500 tenants.
 * SQ_ECONFIG when the tenants table has no rollout_group column. */
sq_errcode sq_db_tenant_groups(sq_db *db, const uint64_t *tenant_ids, size_t n,
                               uint64_t *groups, bool *has_group, sq_err *err);

/* Each target's reports.name, for `enqueue --dry-run`: names[i] is a
 * malloc'd string (NULL when the report is missing); the caller frees each.
 * On failure every names[i] is NULL. */
sq_errcode sq_db_report_names(sq_db *db, const sq_target *targets, size_t n,
                              char **names, sq_err *err);

#endif
