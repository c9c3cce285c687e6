/* status_watch.h - `sheetq status --watch`: a batch's live progress until
 * it finishes.
 *
 * On a terminal one line is redrawn in place every interval (a bar, done /
 * total, failed, running, jobs/s, ETA); otherwise (a pipe, a log file) a
 * plain line is printed whenever the counts change, with no escape codes;
 * with json, one JSON object per line, likewise on change. The figures come
 * from the ledger, so the watch needs no Redis.
 *
 * Exit status: 0 when the batch finished with no failed job, 3 when it
 * finished with failed jobs, 130 when interrupted (SIGINT/SIGTERM), or the
 * usual error status (1, 2, 75) when the ledger cannot be read.
 */
#ifndef SQ_STATUS_WATCH_H
#define SQ_STATUS_WATCH_H

#include <stdbool.h>

#include "core/db.h"

#define SQ_STATUS_EXIT_FAILED_JOBS 3
#define SQ_STATUS_EXIT_INTERRUPTED 130

/* Watches batch_id until it finishes or a signal arrives; returns the exit
 * status above. Errors are reported on stderr. */
int sq_status_watch(sq_db *db, const char *queue, const char *batch_id,
                    double interval_s, bool json);

#endif
