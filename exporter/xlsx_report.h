/* xlsx_report.h - renders one report's records for one period into an .xlsx
 * file. The only module that sees libxlsxwriter.
 *
 * Layout of every sheet: row 1 the report name (bold, larger), row 2
 * "Tenant: <name>", row 3 "Period: YYYY-MM", a blank row, then the header
 * row: "Recorded at", "Recorded by", then the item labels in position order
 * with " (unit)" when the item has a unit. One row per record follows. The
 * header is frozen and carries an autofilter over all data rows. When a
 * sheet is full (Excel's 1,048,576 rows less the 5 header rows) the rows
 * continue on "<name> (2)", and so on, each with the same header block.
 *
 * Cell types follow cell_value.h; all text goes through text_clean.h. The
 * workbook is written in libxlsxwriter's constant_memory mode: each row is
 * streamed to a temp file in opt->tmpdir, so memory does not grow with the
 * number of records; the xlsx itself is assembled at close.
 *
 * Lifetime: open -> add (any number, in the order rows should appear) ->
 * close, which always frees the handle. The file at path is created (or
 * truncated) at open and complete only when close returns SQ_OK. A failed
 * open removes the file if it created it; after a failed add or close the
 * caller removes it. After an error from add, the handle only accepts close
 * (which returns the same error).
 *
 * Errors: SQ_EINVAL (bad arguments, duplicate item ids), SQ_EBAD_PERIOD,
 * SQ_ENOMEM, SQ_ERENDER (libxlsxwriter refused something; message holds
 * lxw_strerror), SQ_ESTORAGE_FULL (no space or quota writing the file or
 * its temp files), SQ_EIO (other errors writing them).
 */
#ifndef SQ_XLSX_REPORT_H
#define SQ_XLSX_REPORT_H

#include <stdint.h>

#include "core/error.h"
#include "core/report.h"
#include "exporter/row_batch.h"

typedef struct sq_xlsx_report sq_xlsx_report;

typedef struct sq_xlsx_options {
  /* Directory for libxlsxwriter's constant-memory temp files; NULL means
   * libxlsxwriter's default (TMPDIR, else /tmp). */
  const char *tmpdir;
  /* Data rows per sheet before continuing on a new sheet; 0 (the default)
   * means as many as Excel allows. Smaller values exist for tests. */
  uint32_t max_sheet_rows;
} sq_xlsx_options;

typedef struct sq_xlsx_stats {
  uint64_t rows;            /* records written */
  uint64_t sheets;          /* worksheets in the file */
  uint64_t bad_values_json; /* records whose values were not a JSON object */
  uint64_t unknown_items;   /* values whose key is not an item of the report */
  uint64_t truncated_cells; /* text cells cut to Excel's limit */
} sq_xlsx_stats;

/* Starts a workbook at path for report (copied: report may be freed after
 * open) and period ("YYYY-MM"). opt may be NULL. Returns NULL with err set
 * on failure. */
sq_xlsx_report *sq_xlsx_report_open(const char *path, const sq_report *report,
                                    const char *period,
                                    const sq_xlsx_options *opt, sq_err *err);

/* Writes one record as the next row. rec is only read during the call.
 * Records whose values are not a JSON object still get their row (with blank
 * item cells) and are counted, as are values for unknown items. Shorthand
 * for a one-row batch (below). */
sq_errcode sq_xlsx_report_add(sq_xlsx_report *x, const sq_record *rec,
                              sq_err *err);

/* The item -> column layout that batches for this report are prepared with
 * (sq_row_batch_add). Valid until close; read-only, so other threads may
 * use it while this handle writes. */
void sq_xlsx_report_layout(const sq_xlsx_report *x, sq_row_layout *out);

/* Writes a batch's rows, in order, as the next rows, and adds its counters
 * to the stats. The batch is only read. */
sq_errcode sq_xlsx_report_write_batch(sq_xlsx_report *x, const sq_row_batch *b,
                                      sq_err *err);

/* Finishes and writes the file, fills *stats (may be NULL) and frees x, in
 * every case. x may be NULL (SQ_EINVAL). */
sq_errcode sq_xlsx_report_close(sq_xlsx_report *x, sq_xlsx_stats *stats,
                                sq_err *err);

#endif
