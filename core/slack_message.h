/* slack_message.h - the Slack messages sheetq sends, built as JSON.
 *
 * Pure: no I/O, no clock. Two kinds of message, both a Block Kit layout
 * ("blocks") with a plain-text "text" fallback that says the same thing
 * (Slack shows it in notifications and where blocks cannot be drawn):
 * - failures: one or more jobs that failed for good, each with tenant,
 *   report, period, job id, attempts, the first line of its last error and
 *   the `sheetq rerun` command that re-runs it. A burst lists the first few
 *   and says how many more there are, so a message stays within Slack's
 *   limits (50 blocks, 3000 characters a section) however many failed.
 * - a batch summary: counts, duration and the slowest reports.
 * Every piece of text from the database (report names, error messages) is
 * escaped for Slack's mrkdwn (&, <, >), so a report called "<!channel>"
 * cannot ping anyone or forge a link.
 */
#ifndef SQ_SLACK_MESSAGE_H
#define SQ_SLACK_MESSAGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/job.h"

/* Failures listed one by one in a message; the rest are counted. */
#define SQ_SLACK_LIST_MAX 10
#define SQ_SLACK_SLOWEST_MAX 5

typedef struct sq_slack_failure {
  char job_id[SQ_ID_SIZE];
  char batch_id[SQ_ID_SIZE];
  char queue[65];
  uint64_t tenant_id, report_id;
  char tenant_name[128]; /* "" when unknown */
  char report_name[256]; /* "" when unknown (the report was deleted) */
  char period[SQ_PERIOD_STR_LEN];
  int attempts, max_attempts;
  char error_code[32];
  char error[512]; /* the last error; only its first line is shown */
} sq_slack_failure;

typedef struct sq_slack_slow_report {
  uint64_t tenant_id, report_id;
  char report_name[256];
  char job_id[SQ_ID_SIZE];
  double seconds; /* its succeeded attempt, start to end */
} sq_slack_slow_report;

typedef struct sq_slack_batch_summary {
  char batch_id[SQ_ID_SIZE];
  char queue[65];
  char period[SQ_PERIOD_STR_LEN];
  uint64_t jobs, succeeded, failed, cancelled;
  double duration_s; /* batch created to its last job finished */
  sq_slack_slow_report slowest[SQ_SLACK_SLOWEST_MAX];
  size_t n_slowest;
} sq_slack_batch_summary;

/* The message for n >= 1 failures; the first SQ_SLACK_LIST_MAX are listed,
 * the others counted ("and 7 more"). Returns a JSON string the caller
 * frees, or NULL with err set (SQ_EINVAL for n == 0, SQ_ENOMEM). */
char *sq_slack_failures_json(const sq_slack_failure *f, size_t n, sq_err *err);

/* The summary of a finished batch; caller frees; NULL with err set. */
char *sq_slack_batch_json(const sq_slack_batch_summary *s, sq_err *err);

/* The first line of text, escaped for mrkdwn and cut (on a UTF-8 character
 * boundary, with "...") to fit cap bytes. Exposed for tests. */
void sq_slack_first_line(const char *text, char *out, size_t cap);

#endif
