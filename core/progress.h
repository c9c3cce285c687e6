/* progress.h - a batch's progress for `sheetq status --watch`: how much is
 * done, the recent rate and the time left, and the line that shows it.
 *
 * Pure: the caller samples the ledger's counts with its own clock and feeds
 * them in; nothing here reads a clock or does I/O, so the rate and ETA math
 * is tested with made-up timelines.
 *
 * The rate is measured over a sliding window of recent samples (finished
 * jobs per second between the oldest sample still in the window and the
 * newest), so it follows the batch as workers come and go rather than
 * averaging over its whole life. A count that goes backwards (a failed job
 * re-run: its clone is not finished yet) restarts the window.
 */
#ifndef SQ_PROGRESS_H
#define SQ_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A batch's jobs, as counted by the ledger. */
typedef struct sq_progress_counts {
  uint64_t total;
  uint64_t succeeded, failed, cancelled; /* finished */
  uint64_t running;
} sq_progress_counts;

#define SQ_PROGRESS_SAMPLES 64

typedef struct sq_progress_tracker {
  double window_s;
  size_t n, head; /* ring of the newest samples */
  struct { double t; uint64_t finished; } samples[SQ_PROGRESS_SAMPLES];
} sq_progress_tracker;

typedef struct sq_progress {
  sq_progress_counts counts;
  uint64_t finished; /* succeeded + failed + cancelled */
  double percent;    /* of total finished, 0-100 */
  double rate;       /* finished jobs per second; < 0 until measurable */
  double eta_s;      /* seconds left at that rate; < 0 unknown */
  bool complete;     /* nothing left to run */
} sq_progress;

/* window_s: how far back the rate looks (e.g. 60). */
void sq_progress_tracker_init(sq_progress_tracker *t, double window_s);
/* Adds a sample taken at now_s (any monotonic clock, in seconds) and
 * computes the progress it shows. */
void sq_progress_update(sq_progress_tracker *t, double now_s,
                        const sq_progress_counts *c, sq_progress *out);

/* "45s", "3m07s", "2h05m", "3d04h"; "?" when s < 0. Returns out. */
char *sq_progress_format_duration(double s, char *out, size_t cap);
/* One line without a newline:
 *   "[#####.....] 120/500 done (24%), 3 failed, 6 running, 2.4 jobs/s, ETA 2m38s"
 * bar_width 0 leaves the bar out. Returns out (truncated to cap). */
char *sq_progress_format_line(const sq_progress *p, int bar_width, char *out,
                              size_t cap);

#endif
