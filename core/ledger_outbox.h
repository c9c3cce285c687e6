/* ledger_outbox.h - the ledger as the durable outbox of Slack notifications.
 *
 * Nothing is queued separately for Slack: a job that failed for good with
 * sheetq_jobs.notified_at NULL is a failure not yet announced, and a batch
 * with no unfinished job and sheetq_batches.summary_sent_at NULL is a
 * summary not yet sent. The notifier reads them, sends, then marks them, so
 * an event outlives any process that could have sent it (at least once:
 * a sender that dies between Slack's answer and the mark sends it again).
 * Only recent events count (failures of the last day, batches of the last
 * week), so turning notifications on does not replay old history.
 */
#ifndef SQ_LEDGER_OUTBOX_H
#define SQ_LEDGER_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>

#include "core/db.h"
#include "core/slack_message.h"

/* Failures of the queue not yet announced, oldest first, at most max.
 * *due is true when at least one of them should go out now: its batch has
 * no unfinished job left, or it failed hold_s seconds ago or more. (Holding
 * the others lets a burst go out as one message.) *out is allocated (free
 * with free()), *n its length. */
sq_errcode sq_outbox_failures(sq_db *db, const char *queue, size_t max, long hold_s,
                              sq_slack_failure **out, size_t *n, bool *due,
                              sq_err *err);
/* Marks failures announced. */
sq_errcode sq_outbox_failures_sent(sq_db *db, const sq_slack_failure *f, size_t n,
                                   sq_err *err);

/* The oldest finished batch of the queue whose summary has not been sent,
 * summarised; *found false when there is none. */
sq_errcode sq_outbox_next_summary(sq_db *db, const char *queue,
                                  sq_slack_batch_summary *out, bool *found,
                                  sq_err *err);
sq_errcode sq_outbox_summary_sent(sq_db *db, const char *batch_id, sq_err *err);

#endif
