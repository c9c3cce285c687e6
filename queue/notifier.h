/* notifier.h - sends Slack notifications from a worker process.
 *
 * Every `sheetq worker` with a webhook configured runs a notifier thread,
 * with its own MySQL, Redis and HTTP connections, so neither a slow Slack
 * nor a Slack outage can delay or fail a job. Of all the notifiers of a
 * queue, only the holder of the lease "sheetq:{<queue>}:notifier"
 * (queue/leader_lease.h) sends; the others wait to take over.
 *
 * DESIGN
 * - The ledger is the outbox (core/ledger_outbox.h): the holder polls it
 *   every second, sends, and only then marks what it sent. A notifier that
 *   dies before the mark leaves the event in the ledger for the next holder.
 * - Bursts become one message: all failures waiting are sent together, once
 *   one of them is due (its batch is done, or it has waited
 *   slack_hold_seconds). Failures go before batch summaries, so a batch's
 *   summary follows the list of its failures.
 * - Pace: at most one message a second; an HTTP 429 waits for its
 *   Retry-After; other failures back off from 1 s to 60 s. Nothing is
 *   dropped but a message Slack refuses as malformed (HTTP 400) in both its
 *   Block Kit and its plain-text form.
 * - The webhook URL is a secret: it is never logged and never put in an
 *   error message.
 */
#ifndef SQ_NOTIFIER_H
#define SQ_NOTIFIER_H

#include "core/config.h"
#include "core/error.h"

typedef struct sq_notifier sq_notifier;

/* Starts the notifier thread when cfg has a Slack webhook (from
 * slack_webhook_url or the file slack_webhook_file); with none, *out is
 * NULL and the result SQ_OK. SQ_ECONFIG when the file cannot be read or
 * does not hold a URL. */
sq_errcode sq_notifier_start(const sq_config *cfg, sq_notifier **out, sq_err *err);

/* Stops the thread and frees everything; NULL is fine. If this notifier
 * holds the lease, it first spends up to flush_ms sending what is due (the
 * last jobs of a --burst worker's batch finish just before it exits). */
void sq_notifier_stop(sq_notifier *n, long flush_ms);

#endif
