/* raw_render.c - the floor sheetq's renderer is measured against: writes one
 * report's cells with libxlsxwriter directly, from memory.
 *
 *   raw_render [--tmpdir DIR] REPORT_ID[-LAST_ID] YYYY-MM OUT.xlsx [REPEAT]
 *
 * Loads the report's records of the month (SHEETQ_MYSQL_URL) and prepares
 * them as sheetq does (row_batch.h: parsed, typed, text cleaned), untimed;
 * then, REPEAT times (default 1), times only what libxlsxwriter does: a
 * constant-memory workbook with the same formats, header block, frozen
 * header and autofilter as sheetq's, one write per cell, workbook_close (XML
 * and zip). Prints one line per run: "raw_render SECONDS CELLS REPORT_ID
 * LOAD_CPU_SECONDS", the last being the CPU of the untimed load (queries,
 * JSON parsing, preparation; this process's own, not the server's).
 * Everything sheetq does besides those calls is what the comparison charges
 * to it. A range of ids renders each report in turn (one process, one
 * connection). --tmpdir is libxlsxwriter's directory for its temporary files
 * (default: its own tmpfile() in /tmp); give the one sheetq would use
 * (exporter/scratch.h) to compare like with like. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xlsxwriter.h>

#include "core/db.h"
#include "core/db_report.h"
#include "core/period.h"
#include "exporter/row_batch.h"

/* The records as sheetq's reader thread prepares them (row_batch.h), so the
 * floor writes exactly the cells sheetq writes, text already cleaned. */
typedef struct loaded {
  const sq_report *report;
  sq_row_layout layout;
  sq_row_batch *batches;
  size_t n_batches;
} loaded;

static int slot_cmp(const void *a, const void *b) {
  uint64_t x = ((const sq_item_slot *)a)->id, y = ((const sq_item_slot *)b)->id;
  return x < y ? -1 : x > y;
}

static sq_errcode load_record(void *ctx, const sq_record *rec, sq_err *err) {
  loaded *l = ctx;
  sq_row_batch *b = l->n_batches ? &l->batches[l->n_batches - 1] : NULL;
  if (b == NULL || sq_row_batch_full(b)) {
    sq_row_batch *grown = realloc(l->batches, (l->n_batches + 1) * sizeof *grown);
    if (grown == NULL) return sq_err_set(err, SQ_ENOMEM, "out of memory");
    l->batches = grown;
    b = &l->batches[l->n_batches++];
    if (sq_row_batch_init(b, err) != SQ_OK) return err->code;
  }
  return sq_row_batch_add(b, &l->layout, rec, err);
}

static lxw_datetime to_lxw(const sq_cell_datetime *d) {
  lxw_datetime t = {d->year, d->month, d->day, d->hour, d->min, d->sec};
  return t;
}

static double cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double render(const loaded *l, const char *period, const char *path, char *tmpdir) {
  const sq_report *r = l->report;
  lxw_workbook_options o = {.constant_memory = LXW_TRUE, .tmpdir = tmpdir,
                            .use_zip64 = LXW_TRUE};
  double t0 = now_s();
  lxw_row_t y = 5; /* the first data row */
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
  for (size_t k = 0; k < l->n_batches; k++) {
    const sq_row_batch *b = &l->batches[k];
    for (size_t i = 0; i < b->n_rows; i++, y++) {
      const sq_prepared_row *row = &b->rows[i];
      lxw_datetime dt = to_lxw(&row->at);
      worksheet_write_datetime(ws, y, 0, &dt, dtf);
      if (row->by_len) worksheet_write_string(ws, y, 1, sq_row_batch_text(b, row->by_off), NULL);
      for (uint32_t j = row->first_cell; j < row->first_cell + row->n_cells; j++) {
        const sq_prepared_cell *c = &b->cells[j];
        switch (c->type) {
          case SQ_CELL_NUMBER: worksheet_write_number(ws, y, c->col, c->v.number, NULL); break;
          case SQ_CELL_BOOLEAN: worksheet_write_boolean(ws, y, c->col, c->flag, NULL); break;
          case SQ_CELL_DATETIME:
            dt = to_lxw(&c->v.datetime);
            worksheet_write_datetime(ws, y, c->col, &dt, c->flag ? dtf : df);
            break;
          case SQ_CELL_STRING:
            worksheet_write_string(ws, y, c->col, sq_row_batch_text(b, c->v.text.off), NULL);
            break;
          default: break;
        }
      }
    }
  }
  worksheet_autofilter(ws, 4, 0, y - 1, (lxw_col_t)(1 + r->n_items));
  if (workbook_close(wb) != LXW_NO_ERROR) {
    fprintf(stderr, "raw_render: cannot write %s\n", path);
    exit(1);
  }
  return now_s() - t0;
}

/* Loads report `id` and renders it `repeat` times; 0, or 1 after a message. */
static int render_report(sq_db *db, unsigned long long id, const char *period_s,
                         sq_period p, const char *out, int repeat, char *tmpdir) {
  sq_report report;
  sq_err err;
  loaded l;
  char start[SQ_DATETIME_STR_LEN], end[SQ_DATETIME_STR_LEN];
  sq_item_slot *slots;
  size_t cells = 0;

  memset(&l, 0, sizeof l);
  memset(&report, 0, sizeof report);
  l.report = &report;
  double t0 = cpu_s(), load_s;
  sq_period_range(p, start, end);
  if (sq_db_load_report(db, id, &report, &err) != SQ_OK) {
    fprintf(stderr, "raw_render: %s\n", err.msg);
    return 1;
  }
  if ((slots = calloc(report.n_items + 1, sizeof *slots)) == NULL) return 1;
  for (size_t i = 0; i < report.n_items; i++)
    slots[i] = (sq_item_slot){report.items[i].id, (uint16_t)(2 + i), report.items[i].kind};
  qsort(slots, report.n_items, sizeof *slots, slot_cmp);
  l.layout = (sq_row_layout){slots, report.n_items};
  if (sq_db_stream_records(db, id, start, end, load_record, &l, &err) != SQ_OK) {
    fprintf(stderr, "raw_render: %s\n", err.msg);
    return 1;
  }
  load_s = cpu_s() - t0;
  for (size_t k = 0; k < l.n_batches; k++)
    cells += l.batches[k].n_cells + 2 * l.batches[k].n_rows;
  for (int i = 0; i < repeat; i++)
    printf("raw_render %.6f %zu %llu %.6f\n", render(&l, period_s, out, tmpdir), cells, id,
           load_s);
  for (size_t k = 0; k < l.n_batches; k++) sq_row_batch_free(&l.batches[k]);
  free(l.batches);
  free(slots);
  sq_report_free(&report);
  return 0;
}

int main(int argc, char **argv) {
  sq_period p;
  sq_err err;
  sq_db *db;
  unsigned long long first, last;
  char *tmpdir = NULL;
  int repeat, status = 0, n;

  if (argc > 2 && strcmp(argv[1], "--tmpdir") == 0) {
    tmpdir = argv[2];
    argv += 2;
    argc -= 2;
  }
  repeat = argc > 4 ? (int)strtol(argv[4], NULL, 10) : 1;
  if (argc < 4 || sscanf(argv[1], "%llu%n", &first, &n) != 1 ||
      (argv[1][n] == '\0' ? (last = first, 0) : sscanf(argv[1] + n, "-%llu", &last) != 1) ||
      last < first || sq_period_parse(argv[2], &p, &err) != SQ_OK || repeat < 1) {
    fputs("usage: raw_render [--tmpdir DIR] REPORT_ID[-LAST_ID] YYYY-MM OUT.xlsx [REPEAT]\n",
          stderr);
    return 2;
  }
  if ((db = sq_db_connect(getenv("SHEETQ_MYSQL_URL"), &err)) == NULL) {
    fprintf(stderr, "raw_render: %s\n", err.msg);
    return 1;
  }
  for (unsigned long long id = first; id <= last && status == 0; id++)
    status = render_report(db, id, argv[2], p, argv[3], repeat, tmpdir);
  sq_db_close(db);
  return status;
}
