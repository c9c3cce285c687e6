#!/usr/bin/env bash
# Slack refuses a message (HTTP 400 invalid_blocks): the notifier sends it
# once more as plain text only (the same `text`, no blocks). If that is
# accepted, the message counts as sent; if it is refused too, the message is
# dropped, logged as an error and not sent again (docs/failure-handling.md).
# Against the test receiver (slack_receiver.py): one failure message, whose
# blocks are refused and whose plain text is taken, then a batch summary
# refused in both forms.
source "$(dirname "$0")/lib.sh"

load_schema
sql "$T_DB" <<'SQL'
INSERT INTO tenants (id, name) VALUES (1, 'T');
INSERT INTO reports (id, tenant_id, name) VALUES (1, 1, 'Exported'), (2, 1, 'Deleted');
INSERT INTO report_items (id, report_id, position, label, kind) VALUES
  (1, 1, 1, 'V', 'number'), (2, 2, 1, 'V', 'number');
INSERT INTO records (report_id, recorded_at, recorded_by, `values`) VALUES
  (1, '2026-10-05 10:00:00', 'x', '{"1": 1}'), (2, '2026-10-05 10:00:00', 'x', '{"2": 2}');
SQL
out=$(sq enqueue --period 2026-10)
batch=$(batch_of "$out")
failed=$(sql "$T_DB" -e "SELECT id FROM sheetq_jobs WHERE report_id = 2")
sql "$T_DB" -e "DELETE FROM reports WHERE id = 2" # its job fails for good: not_found

$PY "$TESTS_DIR/integration/slack_receiver.py" --port-file "$T_DIR/port" \
  --log "$T_DIR/requests.jsonl" --script 400,200,400,400 &
for ((i = 0; i < 100; i++)); do [[ -s $T_DIR/port ]] && break; sleep 0.1; done
[[ -s $T_DIR/port ]] || fail "the receiver did not start"
export SHEETQ_SLACK_WEBHOOK_URL="http://127.0.0.1:$(cat "$T_DIR/port")/services/T0/B0/fallbacktest"
export SHEETQ_SLACK_HOLD_SECONDS=0
"$SHEETQ_BIN" worker 2>"$T_DIR/w.log" &
w=$!
outbox_empty() {
  [[ $(sql "$T_DB" -e "SELECT (SELECT COUNT(*) FROM sheetq_jobs WHERE state = 'failed' AND notified_at IS NULL)
    + (SELECT COUNT(*) FROM sheetq_batches WHERE summary_sent_at IS NULL)") == 0 ]]
}
for ((i = 0; i < 600; i++)); do
  outbox_empty && break
  sleep 0.1
done
outbox_empty || fail "notifications still waiting in the ledger: $(grep slack "$T_DIR/w.log" | tail -3)"
sleep 3 # time for a message to go again, if it were to
kill -TERM $w
wait $w || fail "worker exited $?: $(tail -3 "$T_DIR/w.log")"

$PY - "$T_DIR/requests.jsonl" "$batch" "$failed" <<'PY' || fail "Slack requests (above)"
import json, sys
log, batch, failed = sys.argv[1:]
reqs = [json.loads(line) for line in open(log)]
def err(msg):
    print("FAIL:", msg, file=sys.stderr)
    for r in reqs:
        print(json.dumps(r)[:300], file=sys.stderr)
    sys.exit(1)
if [r["status"] for r in reqs] != [400, 200, 400, 400]:
    err("expected 4 requests answered 400, 200, 400, 400 (nothing sent again after)")
fail_blocks, fail_plain, sum_blocks, sum_plain = (r["body"] for r in reqs)
for name, full, plain in (("failure message", fail_blocks, fail_plain),
                          ("summary", sum_blocks, sum_plain)):
    if not isinstance(full, dict) or "blocks" not in full:
        err("the %s went first without blocks" % name)
    if not isinstance(plain, dict) or "blocks" in plain:
        err("the %s's second try still had blocks" % name)
    if plain.get("text") != full.get("text") or not plain.get("text"):
        err("the %s's plain text differs from its first try's" % name)
if failed not in fail_plain["text"] or ("sheetq rerun " + failed) not in fail_plain["text"]:
    err("the plain failure message lacks the job or its rerun command")
if batch not in json.dumps(sum_blocks):
    err("the summary does not name the batch")
PY
grep -q "slack: message about 1 failed job refused as malformed: HTTP 400 invalid_blocks" "$T_DIR/w.log" ||
  fail "the refused failure message was not logged"
grep -q "slack: sent message about 1 failed job" "$T_DIR/w.log" || fail "the plain-text send was not logged"
grep -q "slack: summary of batch $batch dropped: Slack refused it twice" "$T_DIR/w.log" ||
  fail "the dropped summary was not logged as an error"
grep -q "slack: sent summary of batch" "$T_DIR/w.log" && fail "the refused summary was logged as sent"
echo "ok: a refused message goes again as plain text, and is dropped when refused twice"
