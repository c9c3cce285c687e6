#!/usr/bin/env bash
# Slack notifications against a local receiver (slack_receiver.py).
# 1. Outage: three burst workers run a batch (6 reports export, 4 fail for
#    good) while the webhook refuses connections: every job still ends as it
#    should, the workers exit 0, and the notifications wait in the ledger.
# 2. Three workers with a reachable webhook: the receiver answers 429 with
#    Retry-After 3, so the notifier holding the lease waits, tries again and
#    gets a 500; it is then SIGKILLed, another worker takes the lease over,
#    gets another 500, backs off, and finally delivers: exactly one message
#    listing all 4 failures with their `sheetq rerun` commands, then exactly
#    one batch summary.
# The webhook path looks like a secret and must appear in no log. The URL
# comes from SHEETQ_SLACK_WEBHOOK_URL in part 1, from a file in part 2.
source "$(dirname "$0")/lib.sh"

load_schema
{
  echo "INSERT INTO tenants (id, name) VALUES (1, 'Acme & <Co>');"
  for r in $(seq 1 10); do
    name="Report $r"
    ((r == 3)) && name='Sales <!channel> & more'
    echo "INSERT INTO reports (id, tenant_id, name) VALUES ($r, 1, '$name');"
    echo "INSERT INTO report_items (id, report_id, position, label, kind) VALUES ($r, $r, 1, 'V', 'number');"
    echo "INSERT INTO records (report_id, recorded_at, recorded_by, \`values\`) VALUES ($r, '2026-10-05 10:00:00', 'x', '{\"$r\": $r}');"
  done
} | sql "$T_DB"

secret="T0SLACKTEST/B0SLACKTEST/s3cr3tW3bh00kPath$$"
export SHEETQ_MAX_ATTEMPTS=1
out=$(sq enqueue --period 2026-10)
batch=$(batch_of "$out")
[[ -n $batch ]] || fail "enqueue printed no batch id: $out"
# Reports 4-6 disappear (permanent not_found); report 7's job process exits 3.
sql "$T_DB" -e "DELETE FROM reports WHERE id IN (4, 5, 6)"
export SHEETQ_TEST_FAULT='exit:report=7:3'
failed_ids=$(sql "$T_DB" -e "SELECT id FROM sheetq_jobs WHERE report_id IN (4,5,6,7) ORDER BY id")
ok_ids=$(sql "$T_DB" -e "SELECT id FROM sheetq_jobs WHERE report_id NOT IN (4,5,6,7) ORDER BY id")

# A webhook file without a URL stops the worker at start, without quoting it.
echo "not-a-url-$secret" >"$T_DIR/bad_webhook"
rc=0
SHEETQ_SLACK_WEBHOOK_FILE="$T_DIR/bad_webhook" "$SHEETQ_BIN" worker --burst 2>"$T_DIR/bad.log" || rc=$?
assert_eq 2 "$rc" "exit status with a bad webhook file"
grep -q "slack_webhook_file $T_DIR/bad_webhook does not hold an https:// URL" "$T_DIR/bad.log" ||
  fail "unexpected message: $(cat "$T_DIR/bad.log")"

# ---- 1. outage: nothing listens on the webhook's port -----------------------
dead_port=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
pids=()
for i in 1 2 3; do
  SHEETQ_SLACK_WEBHOOK_URL="http://127.0.0.1:$dead_port/services/$secret" SHEETQ_SLACK_HOLD_SECONDS=0 \
    "$SHEETQ_BIN" worker --burst --concurrency 2 2>"$T_DIR/a$i.log" &
  pids+=($!)
done
for i in 0 1 2; do
  wait "${pids[$i]}" || fail "burst worker $((i + 1)) exited $?: $(tail -3 "$T_DIR/a$((i + 1)).log")"
done
count() { sql "$T_DB" -e "SELECT COUNT(*) FROM sheetq_jobs WHERE $1"; }
assert_eq 6 "$(count "state = 'succeeded'")" "jobs succeeded during the Slack outage"
assert_eq 4 "$(count "state = 'failed'")" "jobs failed during the Slack outage"
assert_eq 4 "$(count "state = 'failed' AND notified_at IS NULL")" "failures waiting in the outbox"
assert_eq 1 "$(sql "$T_DB" -e "SELECT COUNT(*) FROM sheetq_batches WHERE id = '$batch' AND summary_sent_at IS NULL")" \
  "summary waiting in the outbox"
grep -q "slack: POST failed:" "$T_DIR"/a*.log || fail "no worker reported the unreachable webhook"

# ---- 2. the receiver answers 429, then 500 twice, then 200 -----------------
$PY "$TESTS_DIR/integration/slack_receiver.py" --port-file "$T_DIR/port" \
  --log "$T_DIR/requests.jsonl" --script 429:3,500,500 &
for ((i = 0; i < 100; i++)); do [[ -s $T_DIR/port ]] && break; sleep 0.1; done
[[ -s $T_DIR/port ]] || fail "the receiver did not start"
# This time the URL comes from a file, as from a mounted secret.
echo "http://127.0.0.1:$(cat "$T_DIR/port")/services/$secret" >"$T_DIR/webhook"
export SHEETQ_SLACK_WEBHOOK_FILE="$T_DIR/webhook"
declare -A worker_pid
for i in 1 2 3; do
  "$SHEETQ_BIN" worker 2>"$T_DIR/b$i.log" &
  worker_pid[$i]=$!
done
requests() { # requests [STATUS]: how many the receiver answered (with STATUS)
  [[ -f $T_DIR/requests.jsonl ]] || { echo 0; return; }
  grep -c "\"status\": ${1:-[0-9]*}" "$T_DIR/requests.jsonl" || true
}
wait_for_requests() { # wait_for_requests N [STATUS]: up to 60 s
  for ((i = 0; i < 600; i++)); do
    (($(requests "${2:-}") >= $1)) && return 0
    sleep 0.1
  done
  fail "the receiver got $(requests) request(s), wanted $1 ${2:-}"
}
# The holder waits out Retry-After, tries again and gets a 500; while it
# backs off, kill it. The message must still arrive, through another worker.
wait_for_requests 2
holder=$(grep -l "slack: this worker now sends" "$T_DIR"/b*.log || true)
[[ $(wc -l <<<"$holder") == 1 && -n $holder ]] || fail "expected one notifier lease holder, got: $holder"
h=${holder##*/b}
h=${h%.log}
kill -9 "${worker_pid[$h]}"
wait "${worker_pid[$h]}" 2>/dev/null || true
wait_for_requests 2 200
sleep 3 # time for a duplicate to show, if there were to be one
for i in 1 2 3; do
  [[ $i == "$h" ]] && continue
  kill -TERM "${worker_pid[$i]}"
  wait "${worker_pid[$i]}" || fail "worker $i exited $?: $(tail -3 "$T_DIR/b$i.log")"
done

# ---- what Slack received ----------------------------------------------------
$PY - "$T_DIR/requests.jsonl" "$batch" "$secret" "$failed_ids" "$ok_ids" <<'PY' || fail "Slack messages (above)"
import json, sys
log, batch, secret, failed, ok = sys.argv[1:]
failed, ok = failed.split(), ok.split()
reqs = [json.loads(line) for line in open(log)]
def err(msg):
    print("FAIL:", msg, file=sys.stderr)
    for r in reqs:
        print(json.dumps(r)[:400], file=sys.stderr)
    sys.exit(1)
def text_of(r):
    return json.dumps(r["body"])
kinds = ["failures" if "exports failed" in r["body"]["text"] else
         "summary" if "finished" in r["body"]["text"] else "other" for r in reqs]
if [r["status"] for r in reqs][:3] != [429, 500, 500]:
    err("the first three answers should be 429, 500, 500")
if not all(r["path"] == "/services/" + secret for r in reqs):
    err("a request went to another path")
accepted = [(k, r) for k, r in zip(kinds, reqs) if r["status"] == 200]
if [k for k, _ in accepted] != ["failures", "summary"]:
    err("expected exactly one failure message, then one summary, got %s" % [k for k, _ in accepted])
# Retry-After was honoured: the sender's next try (before it was killed)
# came 3 s or more after the 429.
if reqs[1]["t"] - reqs[0]["t"] < 3:
    err("a request came %.2f s after the 429 with Retry-After: 3" % (reqs[1]["t"] - reqs[0]["t"]))
msg = accepted[0][1]["body"]
blocks_text = json.dumps(msg["blocks"])
if "4 exports failed" not in msg["text"]:
    err("the failure message does not count 4 failures")
for job in failed:
    for where, text in (("blocks", blocks_text), ("fallback", msg["text"])):
        if job not in text or ("sheetq rerun " + job) not in text:
            err("%s lack job %s or its rerun command" % (where, job))
for job in ok:
    if job in text_of(accepted[0][1]):
        err("succeeded job %s is listed as failed" % job)
# The rejected 429 message listed the same failures: it was not lost.
for job in failed:
    if job not in text_of(reqs[0]):
        err("the 429'd message lacked %s" % job)
for want in ("Report 4", "Report 7", "not_found", "2026-10", "attempts 1 of 1"):
    if want not in blocks_text:
        err("failure message lacks %r" % want)
if "<!channel>" in text_of(accepted[1][1]) + text_of(accepted[0][1]):
    err("a report name reached Slack unescaped")
summary = accepted[1][1]["body"]
s = json.dumps(summary)
for want in (batch, "*Succeeded:* 6", "*Failed:* 4", "*Jobs:* 10", "Slowest reports", "2026-10"):
    if want not in s:
        err("summary lacks %r" % want)
if "6 succeeded, 4 failed" not in summary["text"]:
    err("summary fallback text lacks the counts")
PY

assert_eq 0 "$(count "state = 'failed' AND notified_at IS NULL")" "failures left in the outbox"
assert_eq 0 "$(sql "$T_DB" -e "SELECT COUNT(*) FROM sheetq_batches WHERE summary_sent_at IS NULL")" \
  "summaries left in the outbox"
grep -q "slack: message about 4 failed jobs rate limited (HTTP 429): next try in 3 s" "$T_DIR"/b*.log ||
  fail "no worker logged the 429"
grep -q "slack: POST failed: HTTP 500" "$T_DIR"/b*.log || fail "no worker logged the 500s"
if grep -l "$secret" "$T_DIR"/*.log; then fail "the webhook URL appears in a log (above)"; fi

# ---- an older ledger, made before the outbox columns, is upgraded ----------
# Two migrations at once add each column and each procedure once; what
# failed or finished before the upgrade counts as announced, so turning
# Slack on replays nothing.
sql "$T_DB" -e "ALTER TABLE sheetq_jobs DROP KEY state_notified, DROP COLUMN notified_at;
  ALTER TABLE sheetq_batches DROP COLUMN summary_sent_at; DELETE FROM sheetq_schema WHERE version > 1;
  DROP PROCEDURE sheetq_start_v1; DROP PROCEDURE sheetq_succeeded_v1; DROP PROCEDURE sheetq_failed_v1"
sq migrate >"$T_DIR/m1.out" 2>&1 &
m1=$!
sq migrate >"$T_DIR/m2.out" 2>&1 || fail "migrate: $(cat "$T_DIR/m2.out")"
wait $m1 || fail "concurrent migrate: $(cat "$T_DIR/m1.out")"
assert_eq 0 "$(count "state = 'failed' AND notified_at IS NULL")" "old failures after the upgrade"
assert_eq 0 "$(sql "$T_DB" -e "SELECT COUNT(*) FROM sheetq_batches WHERE summary_sent_at IS NULL")" \
  "old batches after the upgrade"
assert_eq 3 "$(sql "$T_DB" -e "SELECT MAX(version) FROM sheetq_schema")" "schema version"
assert_eq 3 "$(sql "$T_DB" -e "SELECT COUNT(*) FROM information_schema.ROUTINES
  WHERE ROUTINE_SCHEMA = DATABASE() AND ROUTINE_NAME LIKE 'sheetq\_%\_v1'")" "the ledger's procedures"
echo "ok: one failure message and one summary, through an outage, a 429 and a killed sender"
