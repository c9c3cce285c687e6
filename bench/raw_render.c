/* raw_render.c - the floor sheetq's renderer is measured against: writes one
 * report's cells with libxlsxwriter directly, from memory.
 *
 *   raw_render REPORT_ID YYYY-MM OUT.xlsx [REPEAT]
 *
 * Loads the report's records of the month (SHEETQ_MYSQL_URL) and converts
 * every value to its typed cell first, untimed; then, REPEAT times (default
 * 1), times only what libxlsxwriter does: a constant-memory workbook with
 * the same formats, header block, column widths, frozen header and
 * autofilter as sheetq's, one write per cell, workbook_close (XML and zip).
 * Prints one line per run: "raw_render SECONDS CELLS". Text is written as
 * stored (bench data is clean; sheetq also cleans it, which is part of what
 * the comparison charges to sheetq). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xlsxwriter.h>

#include "core/db.h"
#include "core/db_report.h"
#include "core/period.h"
#include "exporter/cell_value.h"

typedef struct raw_cell {
  unsigned short col;
  unsigned char type; /* sq_cell_type */
  unsigned char has_time;
  double number;
  lxw_datetime dt;
  char *text;
} raw_cell;

typedef struct raw_row {
  lxw_datetime at;
  char *by;
  size_t first, n; /* cells[first .. first + n) */
} raw_row;

typedef struct loaded {
  const sq_report *report;
  raw_row *rows;
  size_t n_rows, cap_rows;
  raw_cell *cells;
  size_t n_cells, cap_cells;
  sq_buf scratch;
} loaded;

static void *grow(void *p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return p;
  *cap = *cap ? *cap * 2 : 1024;
  if (*cap < need) *cap = need;
  p = realloc(p, *cap * elem);
  if (p == NULL) {
    fputs("raw_render: out of memory\n", stderr);
    exit(1);
  }
  return p;
}

static char *dup_n(const char *s, size_t n) {
  char *p = malloc(n + 1);
  if (p == NULL) exit(1);
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

static lxw_datetime to_lxw(const sq_cell_datetime *d) {
  lxw_datetime t = {d->year, d->month, d->day, d->hour, d->min, d->sec};
  return t;
}

static sq_errcode load_record(void *ctx, const sq_record *rec, sq_err *err) {
  loaded *l = ctx;
  cJSON *values = cJSON_ParseWithLength(rec->values, rec->values_len);
  sq_cell_datetime at;
  raw_row *row;
  (void)err;
  l->rows = grow(l->rows, &l->cap_rows, l->n_rows + 1, sizeof *l->rows);
  row = &l->rows[l->n_rows++];
  memset(row, 0, sizeof *row);
  if (sq_cell_parse_recorded_at(rec->recorded_at, &at)) row->at = to_lxw(&at);
  row->by = dup_n(rec->recorded_by, rec->recorded_by_len);
  row->first = l->n_cells;
  for (size_t i = 0; i < l->report->n_items; i++) {
    const sq_report_item *it = &l->report->items[i];
    char key[24];
    sq_cell c;
    raw_cell *rc;
    snprintf(key, sizeof key, "%llu", (unsigned long long)it->id);
    if (sq_cell_from_json(cJSON_GetObjectItemCaseSensitive(values, key), it->kind,
                          &l->scratch, &c) != SQ_OK || c.type == SQ_CELL_BLANK)
      continue;
    l->cells = grow(l->cells, &l->cap_cells, l->n_cells + 1, sizeof *l->cells);
    rc = &l->cells[l->n_cells++];
    memset(rc, 0, sizeof *rc);
    rc->col = (unsigned short)(2 + i);
    rc->type = (unsigned char)c.type;
    rc->number = c.type == SQ_CELL_BOOLEAN ? c.boolean : c.number;
    rc->has_time = c.datetime.has_time;
    if (c.type == SQ_CELL_DATETIME) rc->dt = to_lxw(&c.datetime);
    if (c.type == SQ_CELL_STRING) rc->text = dup_n(c.text, c.text_len);
    row->n++;
  }
  cJSON_Delete(values);
  return SQ_OK;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double render(const loaded *l, const char *period, const char *path) {
  const sq_report *r = l->report;
  lxw_workbook_options o = {.constant_memory = LXW_TRUE, .use_zip64 = LXW_TRUE};
  double t0 = now_s();
  lxw_workbook *wb = workbook_new_opt(path, &o);
  lxw_worksheet *ws = workbook_add_worksheet(wb, "Report");
  lxw_format *title = workbook_add_format(wb), *header = workbook_add_format(wb);
  lxw_format *dtf = workbook_add_format(wb), *df = workbook_add_format(wb);
  char line[300];
  format_set_bold(title);
  format_set_font_size(title, 14);
  format_set_bold(header);
  format_set_bottom(header, LXW_BORDER_THIN);
  format_set_bg_color(header, 0xEEEEEE);
  format_set_num_format(dtf, "yyyy-mm-dd hh:mm:ss");
  format_set_num_format(df, "yyyy-mm-dd");
  for (lxw_col_t c = 0; c < 2 + r->n_items; c++) worksheet_set_column(ws, c, c, 20, NULL);
  worksheet_set_row(ws, 0, 21, NULL);
  worksheet_write_string(ws, 0, 0, r->name, title);
  snprintf(line, sizeof line, "Tenant: %s", r->tenant_name);
  worksheet_write_string(ws, 1, 0, line, NULL);
  snprintf(line, sizeof line, "Period: %s", period);
  worksheet_write_string(ws, 2, 0, line, NULL);
  worksheet_write_string(ws, 4, 0, "Recorded at", header);
  worksheet_write_string(ws, 4, 1, "Recorded by", header);
  for (size_t i = 0; i < r->n_items; i++)
    worksheet_write_string(ws, 4, (lxw_col_t)(2 + i), r->items[i].label, header);
  worksheet_freeze_panes(ws, 5, 0);
  for (size_t i = 0; i < l->n_rows; i++) {
    const raw_row *row = &l->rows[i];
    lxw_row_t y = (lxw_row_t)(5 + i);
    worksheet_write_datetime(ws, y, 0, (lxw_datetime *)&row->at, dtf);
    worksheet_write_string(ws, y, 1, row->by, NULL);
    for (size_t k = row->first; k < row->first + row->n; k++) {
      raw_cell *c = &l->cells[k];
      switch (c->type) {
        case SQ_CELL_NUMBER: worksheet_write_number(ws, y, c->col, c->number, NULL); break;
        case SQ_CELL_BOOLEAN: worksheet_write_boolean(ws, y, c->col, (int)c->number, NULL); break;
        case SQ_CELL_DATETIME:
          worksheet_write_datetime(ws, y, c->col, &c->dt, c->has_time ? dtf : df);
          break;
        case SQ_CELL_STRING: worksheet_write_string(ws, y, c->col, c->text, NULL); break;
        default: break;
      }
    }
  }
  worksheet_autofilter(ws, 4, 0, (lxw_row_t)(4 + l->n_rows), (lxw_col_t)(1 + r->n_items));
  if (workbook_close(wb) != LXW_NO_ERROR) {
    fprintf(stderr, "raw_render: cannot write %s\n", path);
    exit(1);
  }
  return now_s() - t0;
}

int main(int argc, char **argv) {
  sq_report report;
  sq_period p;
  sq_err err;
  sq_db *db;
  loaded l;
  char start[SQ_DATETIME_STR_LEN], end[SQ_DATETIME_STR_LEN];
  unsigned long long id;
  int repeat = argc > 4 ? atoi(argv[4]) : 1;

  if (argc < 4 || sscanf(argv[1], "%llu", &id) != 1 ||
      sq_period_parse(argv[2], &p, &err) != SQ_OK || repeat < 1) {
    fputs("usage: raw_render REPORT_ID YYYY-MM OUT.xlsx [REPEAT]\n", stderr);
    return 2;
  }
  memset(&l, 0, sizeof l);
  memset(&report, 0, sizeof report);
  sq_buf_init(&l.scratch, 64u << 20);
  l.report = &report;
  sq_period_range(p, start, end);
  if ((db = sq_db_connect(getenv("SHEETQ_MYSQL_URL"), &err)) == NULL ||
      sq_db_load_report(db, id, &report, &err) != SQ_OK ||
      sq_db_stream_records(db, id, start, end, load_record, &l, &err) != SQ_OK) {
    fprintf(stderr, "raw_render: %s\n", err.msg);
    return 1;
  }
  sq_db_close(db);
  for (int i = 0; i < repeat; i++)
    printf("raw_render %.3f %zu\n", render(&l, argv[2], argv[3]), l.n_cells + 2 * l.n_rows);
  return 0;
}
