/* row_batch.h - records turned into ready-to-write cells, a batch at a time.
 *
 * Everything the renderer does to a record before libxlsxwriter sees it
 * (parsing the values JSON, mapping item ids to columns, typing each value,
 * cleaning text) happens here, so that it can run on another thread than the
 * libxlsxwriter calls (export_job.c overlaps the two). A batch owns its
 * memory and is reused: reset keeps the allocations, so a job's memory stays
 * flat whatever its row count.
 *
 * Typing follows cell_value.h, text follows cell_text.h. Records whose
 * values are not a JSON object get their row with blank item cells; values
 * for unknown items are skipped; both are counted, as are truncated texts. */
#ifndef SQ_ROW_BATCH_H
#define SQ_ROW_BATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/error.h"
#include "core/report.h"
#include "exporter/cell_value.h"

/* Where an item's values go. */
typedef struct sq_item_slot {
  uint64_t id;
  uint16_t col;
  sq_item_kind kind;
} sq_item_slot;

/* A report's items sorted by id (binary search per value). */
typedef struct sq_row_layout {
  const sq_item_slot *slots;
  size_t n_slots;
} sq_row_layout;

typedef struct sq_prepared_cell {
  uint16_t col;
  uint8_t type;     /* sq_cell_type: NUMBER, BOOLEAN, DATETIME or STRING */
  bool flag;        /* BOOLEAN: its value; DATETIME: has a time of day */
  union {
    double number;
    sq_cell_datetime datetime;
    struct { uint32_t off, len; } text; /* in the batch's text, NUL-ended */
  } v;
} sq_prepared_cell;

typedef struct sq_prepared_row {
  bool at_is_datetime;      /* else at_text, when non-empty */
  sq_cell_datetime at;
  uint32_t at_text_off, at_text_len;
  uint32_t by_off, by_len;  /* recorded_by, cleaned; len 0: blank */
  uint32_t first_cell, n_cells;
} sq_prepared_row;

typedef struct sq_row_batch {
  sq_prepared_row *rows;
  size_t n_rows, cap_rows;
  sq_prepared_cell *cells;
  size_t n_cells, cap_cells;
  sq_buf text;       /* every text of the batch, each NUL-terminated */
  sq_buf scratch;    /* cell_value's text forms */
  char *escaped;     /* cell_text's scratch */
  uint64_t bad_values_json, unknown_items, truncated_cells;
} sq_row_batch;

sq_errcode sq_row_batch_init(sq_row_batch *b, sq_err *err);
void sq_row_batch_free(sq_row_batch *b);
/* Empties the batch (and its counters), keeping its memory. */
void sq_row_batch_reset(sq_row_batch *b);

/* Appends rec as the next row. SQ_ENOMEM when a value is too large or
 * memory runs out. */
sq_errcode sq_row_batch_add(sq_row_batch *b, const sq_row_layout *layout,
                            const sq_record *rec, sq_err *err);

/* Enough rows or text to hand over: the cap keeps a batch near 1 MB. */
bool sq_row_batch_full(const sq_row_batch *b);

static inline const char *sq_row_batch_text(const sq_row_batch *b, uint32_t off) {
  return b->text.data + off;
}

#endif
