/* report.h - the in-memory model of one report (a form a tenant defined) and
 * of one record (a filled-in form), as the exporter consumes them.
 *
 * An sq_report owns all its strings; sq_report_free() releases them. An
 * sq_record only borrows: its pointers are valid for the duration of the
 * callback that receives it (they point into the database driver's row
 * buffer), so consumers copy what they keep.
 */
#ifndef SQ_REPORT_H
#define SQ_REPORT_H

#include <stddef.h>
#include <stdint.h>

typedef enum sq_item_kind {
  SQ_ITEM_TEXT = 0,
  SQ_ITEM_NUMBER,
  SQ_ITEM_DATETIME,
  SQ_ITEM_BOOLEAN,
  SQ_ITEM_CHOICE,
} sq_item_kind;

typedef struct sq_report_item {
  uint64_t id;
  int position;
  char *label;      /* as stored: may hold invalid UTF-8 or control chars */
  sq_item_kind kind;
  char *unit;       /* NULL when not set */
} sq_report_item;

typedef struct sq_report {
  uint64_t id;
  uint64_t tenant_id;
  char *name;
  char *tenant_name;
  sq_report_item *items; /* ordered by position */
  size_t n_items;
} sq_report;

typedef struct sq_record {
  uint64_t id;
  const char *recorded_at; /* "YYYY-MM-DD HH:MM:SS" */
  const char *recorded_by;
  size_t recorded_by_len;
  const char *values;      /* the JSON text of records.values, not NUL-terminated */
  size_t values_len;
} sq_record;

void sq_report_free(sq_report *r); /* frees the contents, not r itself */

#endif
