/* xlsx_report.c - see xlsx_report.h.
 *
 * DESIGN. Records reach libxlsxwriter as prepared rows (row_batch.h):
 * parsed, typed and cleaned, possibly on another thread. What is left here
 * per row is one libxlsxwriter call per non-blank cell and the sheet
 * rollover. The id -> column layout is built at open, sorted by id.
 *
 * libxlsxwriter's constant_memory mode writes each finished row to a temp
 * file through stdio and ignores write errors there; a full disk would then
 * produce a silently truncated sheet at close. So the renderer checks that
 * stream's error flag itself after every record (and flushes it at the end
 * of each sheet) and turns a failure into SQ_ESTORAGE_FULL / SQ_EIO.
 */
#include "exporter/xlsx_report.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <xlsxwriter.h>

#include "core/buf.h"
#include "core/period.h"
#include "exporter/cell_text.h"
#include "exporter/cell_value.h"
#include "exporter/sheet_name.h"

#define ROW_TITLE 0
#define ROW_TENANT 1
#define ROW_PERIOD 2
#define ROW_HEADER 4
#define ROW_FIRST_DATA 5
#define MAX_SHEET_ROWS ((uint32_t)(LXW_ROW_MAX - ROW_FIRST_DATA))

#define COL_RECORDED_AT 0
#define COL_RECORDED_BY 1
#define COL_FIRST_ITEM 2

#define WIDTH_MAX 60.0
#define LABEL_MAX (1u << 20) /* a header text being built */

struct sq_xlsx_report {
  lxw_workbook *wb;
  lxw_worksheet *ws;
  lxw_format *fmt_title, *fmt_header, *fmt_datetime, *fmt_date;
  char *path;
  char *tmpdir;      /* NULL: libxlsxwriter default */
  char *report_name; /* raw, for sheet names and the title */
  uint64_t report_id;
  char *tenant_line; /* raw "Tenant: ..." */
  char period_line[32];
  char **labels;     /* raw header texts, n_cols of them */
  double *widths;    /* n_cols */
  lxw_col_t n_cols;
  sq_item_slot *slots; /* n_items, sorted by id */
  size_t n_items;
  uint32_t sheet_rows; /* data rows per sheet */
  uint32_t sheet_used; /* data rows on the current sheet */
  unsigned part;       /* current sheet, 1-based */
  char *clean;         /* SQ_TEXT_CLEAN_CAP */
  char *escaped;       /* SQ_CELL_TEXT_ESCAPED_CAP */
  sq_row_batch one;    /* sq_xlsx_report_add's single row; made on first use */
  sq_xlsx_stats stats;
  sq_errcode failed; /* sticky error from add */
  char failed_msg[SQ_ERR_MSG_MAX];
};

/* ---- errors ------------------------------------------------------------ */

static sq_errcode io_error(sq_err *err, int errnum, const char *what,
                           const char *path) {
  char buf[128];
  sq_errcode code =
      errnum == ENOSPC || errnum == EDQUOT ? SQ_ESTORAGE_FULL : SQ_EIO;
  return sq_err_set(err, code, "%s %.300s: %s", what, path,
                    errnum ? strerror_r(errnum, buf, sizeof buf)
                           : "write error");
}

static sq_errcode lxw_fail(const sq_xlsx_report *x, lxw_error e,
                           lxw_row_t row, lxw_col_t col, sq_err *err) {
  if (e == LXW_ERROR_MEMORY_MALLOC_FAILED)
    return sq_err_set(err, SQ_ENOMEM, "report %" PRIu64 ": out of memory",
                      x->report_id);
  return sq_err_set(err, SQ_ERENDER,
                    "report %" PRIu64 ": row %u, column %u: %s", x->report_id,
                    (unsigned)row + 1, (unsigned)col + 1, lxw_strerror(e));
}

/* The constant-memory temp file of the current sheet: has a write failed?
 * Checked after every record (a flag test), so errno still holds the cause
 * of a failure that happened during that record; flushed at sheet end. */
static sq_errcode check_sheet_stream(sq_xlsx_report *x, bool flush,
                                     sq_err *err) {
  FILE *f = x->ws ? x->ws->optimize_tmpfile : NULL;
  if (f == NULL) return SQ_OK;
  if (flush) errno = 0;
  if ((flush && fflush(f) != 0) || ferror(f))
    return io_error(err, errno, "writing worksheet temp file in",
                    x->tmpdir ? x->tmpdir : "TMPDIR");
  return SQ_OK;
}

/* ---- text -------------------------------------------------------------- */

static sq_errcode put_string(sq_xlsx_report *x, lxw_row_t row, lxw_col_t col,
                             const char *s, size_t len, lxw_format *fmt,
                             sq_err *err) {
  bool cut = false;
  size_t n = sq_cell_text(s, len, x->clean, x->escaped, &cut);
  lxw_error e;
  if (n == 0) return SQ_OK; /* blank */
  if (cut) x->stats.truncated_cells++;
  e = worksheet_write_string(x->ws, row, col, x->clean, fmt);
  return e == LXW_NO_ERROR ? SQ_OK : lxw_fail(x, e, row, col, err);
}

/* Display width of clean UTF-8: East Asian wide characters count two. */
static size_t display_width(const char *s) {
  size_t w = 0;
  for (const unsigned char *p = (const unsigned char *)s; *p;) {
    if (*p < 0x80) {
      w++;
      p++;
    } else if (*p < 0xE0) {
      w++;
      p += 2;
    } else {
      uint32_t cp = *p < 0xF0 ? ((uint32_t)(p[0] & 0x0F) << 12) |
                                    ((uint32_t)(p[1] & 0x3F) << 6)
                              : 0x10000;
      w += cp >= 0x1100 ? 2 : 1;
      p += *p < 0xF0 ? 3 : 4;
    }
  }
  return w;
}

static double kind_width(sq_item_kind kind) {
  switch (kind) {
    case SQ_ITEM_NUMBER: return 12;
    case SQ_ITEM_DATETIME: return 20;
    case SQ_ITEM_BOOLEAN: return 9;
    case SQ_ITEM_CHOICE: return 16;
    case SQ_ITEM_TEXT:
    default: return 24;
  }
}

/* ---- sheets ------------------------------------------------------------ */

static sq_errcode start_sheet(sq_xlsx_report *x, unsigned part, sq_err *err) {
  char name[SQ_SHEET_NAME_CAP];
  lxw_error e;
  sq_errcode rc;

  sq_sheet_name(x->report_name, x->report_id, part, name);
  e = workbook_validate_sheet_name(x->wb, name);
  if (e != LXW_NO_ERROR)
    return sq_err_set(err, SQ_ERENDER, "report %" PRIu64 ": sheet \"%s\": %s",
                      x->report_id, name, lxw_strerror(e));
  errno = 0;
  x->ws = workbook_add_worksheet(x->wb, name);
  if (x->ws == NULL) /* its constant-memory temp file could not be made */
    return io_error(err, errno, "creating worksheet temp file in",
                    x->tmpdir ? x->tmpdir : "TMPDIR");
  x->part = part;
  x->sheet_used = 0;
  x->stats.sheets++;

  for (lxw_col_t c = 0; c < x->n_cols; c++) {
    e = worksheet_set_column(x->ws, c, c, x->widths[c], NULL);
    if (e != LXW_NO_ERROR) return lxw_fail(x, e, 0, c, err);
  }
  e = worksheet_set_row(x->ws, ROW_TITLE, 21, NULL);
  if (e != LXW_NO_ERROR) return lxw_fail(x, e, ROW_TITLE, 0, err);
  rc = put_string(x, ROW_TITLE, 0, x->report_name, strlen(x->report_name),
                  x->fmt_title, err);
  if (rc == SQ_OK)
    rc = put_string(x, ROW_TENANT, 0, x->tenant_line, strlen(x->tenant_line),
                    NULL, err);
  if (rc == SQ_OK)
    rc = put_string(x, ROW_PERIOD, 0, x->period_line, strlen(x->period_line),
                    NULL, err);
  for (lxw_col_t c = 0; rc == SQ_OK && c < x->n_cols; c++)
    rc = put_string(x, ROW_HEADER, c, x->labels[c], strlen(x->labels[c]),
                    x->fmt_header, err);
  if (rc != SQ_OK) return rc;
  worksheet_freeze_panes(x->ws, ROW_FIRST_DATA, 0);
  return SQ_OK;
}

static sq_errcode finish_sheet(sq_xlsx_report *x, sq_err *err) {
  lxw_error e = worksheet_autofilter(x->ws, ROW_HEADER, 0,
                                     ROW_HEADER + x->sheet_used,
                                     x->n_cols - 1);
  if (e != LXW_NO_ERROR) return lxw_fail(x, e, ROW_HEADER, 0, err);
  return check_sheet_stream(x, true, err);
}

/* ---- records ----------------------------------------------------------- */

static lxw_datetime to_lxw(const sq_cell_datetime *d) {
  lxw_datetime t = {d->year, d->month, d->day, d->hour, d->min, d->sec};
  return t;
}

/* Writes text already made ready by the batch (no second cleaning). */
static lxw_error write_ready_text(sq_xlsx_report *x, lxw_row_t row, lxw_col_t col,
                                  const sq_row_batch *b, uint32_t off, uint32_t len) {
  if (len == 0) return LXW_NO_ERROR;
  return worksheet_write_string(x->ws, row, col, sq_row_batch_text(b, off), NULL);
}

static sq_errcode write_row(sq_xlsx_report *x, const sq_row_batch *b,
                            const sq_prepared_row *r, sq_err *err) {
  lxw_row_t row;
  lxw_error e = LXW_NO_ERROR;
  lxw_col_t col = COL_RECORDED_AT;
  sq_errcode rc;

  if (x->sheet_used == x->sheet_rows) {
    if ((rc = finish_sheet(x, err)) != SQ_OK || (rc = start_sheet(x, x->part + 1, err)) != SQ_OK)
      return rc;
  }
  row = ROW_FIRST_DATA + x->sheet_used;
  if (r->at_is_datetime) {
    lxw_datetime dt = to_lxw(&r->at);
    e = worksheet_write_datetime(x->ws, row, col, &dt, x->fmt_datetime);
  } else {
    e = write_ready_text(x, row, col, b, r->at_text_off, r->at_text_len);
  }
  if (e == LXW_NO_ERROR) {
    col = COL_RECORDED_BY;
    e = write_ready_text(x, row, col, b, r->by_off, r->by_len);
  }
  for (uint32_t i = r->first_cell; e == LXW_NO_ERROR && i < r->first_cell + r->n_cells; i++) {
    const sq_prepared_cell *c = &b->cells[i];
    lxw_datetime dt;
    col = c->col;
    switch (c->type) {
      case SQ_CELL_NUMBER:
        e = worksheet_write_number(x->ws, row, col, c->v.number, NULL);
        break;
      case SQ_CELL_BOOLEAN:
        e = worksheet_write_boolean(x->ws, row, col, c->flag, NULL);
        break;
      case SQ_CELL_DATETIME:
        dt = to_lxw(&c->v.datetime);
        e = worksheet_write_datetime(x->ws, row, col, &dt,
                                     c->flag ? x->fmt_datetime : x->fmt_date);
        break;
      case SQ_CELL_STRING:
        e = write_ready_text(x, row, col, b, c->v.text.off, c->v.text.len);
        break;
      default:
        break;
    }
  }
  if (e != LXW_NO_ERROR) return lxw_fail(x, e, row, col, err);
  x->sheet_used++;
  x->stats.rows++;
  return check_sheet_stream(x, false, err);
}

void sq_xlsx_report_layout(const sq_xlsx_report *x, sq_row_layout *out) {
  out->slots = x->slots;
  out->n_slots = x->n_items;
}

sq_errcode sq_xlsx_report_write_batch(sq_xlsx_report *x, const sq_row_batch *b,
                                      sq_err *err) {
  sq_errcode rc = SQ_OK;
  sq_err e;
  if (x == NULL || b == NULL)
    return sq_err_set(err, SQ_EINVAL, "xlsx report: missing argument");
  if (x->failed != SQ_OK) return sq_err_set(err, x->failed, "%s", x->failed_msg);
  sq_err_clear(&e);
  errno = 0; /* check_sheet_stream() reports what a failed write left here */
  for (size_t i = 0; i < b->n_rows && rc == SQ_OK; i++) rc = write_row(x, b, &b->rows[i], &e);
  x->stats.bad_values_json += b->bad_values_json;
  x->stats.unknown_items += b->unknown_items;
  x->stats.truncated_cells += b->truncated_cells;
  if (rc != SQ_OK) {
    x->failed = rc;
    snprintf(x->failed_msg, sizeof x->failed_msg, "%s", e.msg);
    sq_err_set(err, rc, "%s", e.msg);
  }
  return rc;
}

sq_errcode sq_xlsx_report_add(sq_xlsx_report *x, const sq_record *rec,
                              sq_err *err) {
  sq_row_layout layout;
  sq_errcode rc;
  if (x == NULL || rec == NULL)
    return sq_err_set(err, SQ_EINVAL, "xlsx report: missing argument");
  if (x->failed != SQ_OK) return sq_err_set(err, x->failed, "%s", x->failed_msg);
  sq_xlsx_report_layout(x, &layout);
  /* Made on first use: exports write prepared batches and never need it. */
  if (x->one.escaped == NULL && sq_row_batch_init(&x->one, err) != SQ_OK) return err->code;
  sq_row_batch_reset(&x->one);
  rc = sq_row_batch_add(&x->one, &layout, rec, err);
  if (rc != SQ_OK) {
    sq_err e;
    sq_err_set(&e, rc, "report %" PRIu64 ": %.400s", x->report_id, err->msg);
    x->failed = rc;
    snprintf(x->failed_msg, sizeof x->failed_msg, "%s", e.msg);
    return sq_err_set(err, rc, "%s", e.msg);
  }
  return sq_xlsx_report_write_batch(x, &x->one, err);
}

/* ---- open / close ------------------------------------------------------ */

static char *dup_str(const char *s) {
  size_t n = strlen(s ? s : "");
  char *p = malloc(n + 1);
  if (p) memcpy(p, s ? s : "", n + 1);
  return p;
}

static int slot_cmp(const void *a, const void *b) {
  uint64_t x = ((const sq_item_slot *)a)->id, y = ((const sq_item_slot *)b)->id;
  return x < y ? -1 : x > y;
}

/* Maps a failed workbook_close() to our codes; errnum is errno right after. */
static sq_errcode close_error(const sq_xlsx_report *x, lxw_error e,
                              int errnum, sq_err *err) {
  char buf[128];
  switch (e) {
    case LXW_ERROR_MEMORY_MALLOC_FAILED:
      return sq_err_set(err, SQ_ENOMEM, "writing %.300s: out of memory",
                        x->path);
    case LXW_ERROR_CREATING_XLSX_FILE:
    case LXW_ERROR_CREATING_TMPFILE:
    case LXW_ERROR_READING_TMPFILE:
    case LXW_ERROR_ZIP_FILE_OPERATION:
    case LXW_ERROR_ZIP_FILE_ADD:
    case LXW_ERROR_ZIP_CLOSE:
      /* With no system error behind it (e.g. a part over 4 GB without
       * ZIP64) a retry would fail the same way: permanent. */
      if (errnum == 0)
        return sq_err_set(err, SQ_ERENDER, "writing %.300s: %s", x->path,
                          lxw_strerror(e));
      return sq_err_set(err,
                        errnum == ENOSPC || errnum == EDQUOT
                            ? SQ_ESTORAGE_FULL
                            : SQ_EIO,
                        "writing %.300s: %s: %s", x->path, lxw_strerror(e),
                        strerror_r(errnum, buf, sizeof buf));
    default:
      return sq_err_set(err, SQ_ERENDER, "writing %.300s: %s", x->path,
                        lxw_strerror(e));
  }
}

static void report_free(sq_xlsx_report *x) {
  if (x == NULL) return;
  if (x->wb) workbook_close(x->wb); /* only way to release its temp files */
  if (x->labels)
    for (lxw_col_t c = 0; c < x->n_cols; c++) free(x->labels[c]);
  free(x->labels);
  free(x->widths);
  free(x->slots);
  free(x->path);
  free(x->tmpdir);
  free(x->report_name);
  free(x->tenant_line);
  free(x->clean);
  free(x->escaped);
  sq_row_batch_free(&x->one);
  free(x);
}

/* Header texts, column widths and the id -> column map. */
static sq_errcode build_columns(sq_xlsx_report *x, const sq_report *report,
                                sq_err *err) {
  sq_buf b;
  sq_errcode rc = SQ_ENOMEM;

  sq_buf_init(&b, LABEL_MAX);
  x->labels = calloc(x->n_cols, sizeof *x->labels);
  x->widths = calloc(x->n_cols, sizeof *x->widths);
  x->slots = calloc(x->n_items ? x->n_items : 1, sizeof *x->slots);
  if (!x->labels || !x->widths || !x->slots) goto nomem;
  x->labels[COL_RECORDED_AT] = dup_str("Recorded at");
  x->labels[COL_RECORDED_BY] = dup_str("Recorded by");
  if (!x->labels[COL_RECORDED_AT] || !x->labels[COL_RECORDED_BY]) goto nomem;
  x->widths[COL_RECORDED_AT] = 20;
  x->widths[COL_RECORDED_BY] = 18;

  for (size_t i = 0; i < x->n_items; i++) {
    const sq_report_item *it = &report->items[i];
    lxw_col_t col = (lxw_col_t)(COL_FIRST_ITEM + i);
    double w;
    sq_buf_reset(&b);
    if (sq_buf_adds(&b, it->label ? it->label : "") != SQ_OK) goto nomem;
    if (it->unit && it->unit[0] &&
        (sq_buf_adds(&b, " (") != SQ_OK || sq_buf_adds(&b, it->unit) != SQ_OK ||
         sq_buf_adds(&b, ")") != SQ_OK))
      goto nomem;
    x->labels[col] = sq_buf_take(&b);
    if (x->labels[col] == NULL) goto nomem;
    sq_text_clean(x->labels[col], strlen(x->labels[col]), x->clean,
                  SQ_TEXT_CLEAN_CAP, NULL);
    w = (double)display_width(x->clean) + 2;
    if (w < kind_width(it->kind)) w = kind_width(it->kind);
    x->widths[col] = w > WIDTH_MAX ? WIDTH_MAX : w;
    x->slots[i].id = it->id;
    x->slots[i].col = col;
    x->slots[i].kind = it->kind;
  }
  qsort(x->slots, x->n_items, sizeof *x->slots, slot_cmp);
  for (size_t i = 1; i < x->n_items; i++) {
    if (x->slots[i].id == x->slots[i - 1].id) {
      rc = sq_err_set(err, SQ_EINVAL,
                      "report %" PRIu64 ": item id %" PRIu64 " appears twice",
                      x->report_id, x->slots[i].id);
      goto out;
    }
  }
  rc = SQ_OK;
  goto out;
nomem:
  rc = sq_err_set(err, SQ_ENOMEM, "report %" PRIu64 ": out of memory",
                  x->report_id);
out:
  sq_buf_free(&b);
  return rc;
}

static sq_errcode add_formats(sq_xlsx_report *x, sq_err *err) {
  x->fmt_title = workbook_add_format(x->wb);
  x->fmt_header = workbook_add_format(x->wb);
  x->fmt_datetime = workbook_add_format(x->wb);
  x->fmt_date = workbook_add_format(x->wb);
  if (!x->fmt_title || !x->fmt_header || !x->fmt_datetime || !x->fmt_date)
    return sq_err_set(err, SQ_ENOMEM, "report %" PRIu64 ": out of memory",
                      x->report_id);
  format_set_bold(x->fmt_title);
  format_set_font_size(x->fmt_title, 14);
  format_set_bold(x->fmt_header);
  format_set_bottom(x->fmt_header, LXW_BORDER_THIN);
  format_set_bg_color(x->fmt_header, 0xEEEEEE);
  format_set_num_format(x->fmt_datetime, "yyyy-mm-dd hh:mm:ss");
  format_set_num_format(x->fmt_date, "yyyy-mm-dd");
  return SQ_OK;
}

/* A character device (keeps errno, for the caller's message). */
static bool is_device(const char *path) {
  struct stat st;
  int saved = errno;
  bool device = stat(path, &st) == 0 && S_ISCHR(st.st_mode);
  errno = saved;
  return device;
}

sq_xlsx_report *sq_xlsx_report_open(const char *path, const sq_report *report,
                                    const char *period,
                                    const sq_xlsx_options *opt, sq_err *err) {
  sq_xlsx_report *x = NULL, *result = NULL;
  lxw_workbook_options wopt = {0};
  sq_period p;
  sq_buf b;
  int fd;
  bool created = false;

  sq_buf_init(&b, LABEL_MAX);
  if (path == NULL || report == NULL || (report->n_items && !report->items)) {
    sq_err_set(err, SQ_EINVAL, "xlsx report: missing argument");
    goto out;
  }
  if (sq_period_parse(period, &p, err) != SQ_OK) goto out;
  if (report->n_items > (size_t)(LXW_COL_MAX - COL_FIRST_ITEM)) {
    sq_err_set(err, SQ_ERENDER,
               "report %" PRIu64 ": %zu items do not fit in %d columns",
               report->id, report->n_items, LXW_COL_MAX);
    goto out;
  }
  x = calloc(1, sizeof *x);
  if (x == NULL) goto nomem;
  x->report_id = report->id;
  x->n_items = report->n_items;
  x->n_cols = (lxw_col_t)(COL_FIRST_ITEM + report->n_items);
  x->sheet_rows = opt && opt->max_sheet_rows && opt->max_sheet_rows < MAX_SHEET_ROWS
                      ? opt->max_sheet_rows
                      : MAX_SHEET_ROWS;
  x->path = dup_str(path);
  x->report_name = dup_str(report->name);
  x->clean = malloc(SQ_TEXT_CLEAN_CAP);
  x->escaped = malloc(SQ_CELL_TEXT_ESCAPED_CAP);
  if (!x->path || !x->report_name || !x->clean || !x->escaped) goto nomem;
  if (opt && opt->tmpdir && (x->tmpdir = dup_str(opt->tmpdir)) == NULL)
    goto nomem;
  if (sq_buf_adds(&b, "Tenant: ") != SQ_OK ||
      sq_buf_adds(&b, report->tenant_name ? report->tenant_name : "") != SQ_OK)
    goto nomem;
  x->tenant_line = sq_buf_take(&b);
  if (x->tenant_line == NULL) goto nomem;
  snprintf(x->period_line, sizeof x->period_line,
           "Period: %04d-%02d", p.year % 10000, p.month % 100);
  if (build_columns(x, report, err) != SQ_OK) goto out;

  /* libxlsxwriter only creates the file at close; find out now, not after
   * a million rows, whether it can. The name is the caller's own: a regular
   * file already there belongs to someone else and is never truncated (a
   * device, such as /dev/full in the tests, is written as it is). Remember
   * whether we made it, so a failed open removes only a file of its own. */
  fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd >= 0)
    created = true;
  else if (errno == EEXIST && is_device(path))
    fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    io_error(err, errno, "creating", path);
    goto out;
  }
  close(fd);

  wopt.constant_memory = LXW_TRUE;
  wopt.tmpdir = x->tmpdir;
  /* A sheet of a million long rows can pass 4 GB of XML: allow ZIP64. */
  wopt.use_zip64 = LXW_TRUE;
  x->wb = workbook_new_opt(path, &wopt);
  if (x->wb == NULL) goto nomem;
  if (add_formats(x, err) != SQ_OK || start_sheet(x, 1, err) != SQ_OK)
    goto out;
  result = x;
  x = NULL;
  goto out;
nomem:
  sq_err_set(err, SQ_ENOMEM, "xlsx report: out of memory");
out:
  report_free(x); /* writes the file if the workbook was started */
  if (result == NULL && created) unlink(path);
  sq_buf_free(&b);
  return result;
}

sq_errcode sq_xlsx_report_close(sq_xlsx_report *x, sq_xlsx_stats *stats,
                                sq_err *err) {
  sq_errcode rc;
  sq_err e;
  lxw_error le;
  int errnum;

  if (x == NULL) return sq_err_set(err, SQ_EINVAL, "xlsx report: NULL handle");
  sq_err_clear(&e);
  rc = x->failed;
  if (rc != SQ_OK)
    sq_err_set(&e, rc, "%s", x->failed_msg);
  else
    rc = finish_sheet(x, &e);
  errno = 0;
  le = workbook_close(x->wb);
  errnum = errno;
  x->wb = NULL;
  if (rc == SQ_OK && le != LXW_NO_ERROR) rc = close_error(x, le, errnum, &e);
  if (stats) *stats = x->stats;
  report_free(x);
  if (rc != SQ_OK) sq_err_set(err, rc, "%s", e.msg);
  return rc;
}
