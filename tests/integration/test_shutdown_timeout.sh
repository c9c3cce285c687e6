#!/usr/bin/env bash
# Graceful shutdown and the per-attempt timeout.
# 1. SIGTERM with a job running past the grace period: the worker exits
#    within the grace period plus a little, the job goes back to the queue
#    without its attempt counting, and another worker finishes it.
# 2. A job that hangs is stopped at attempt_timeout (the minimum, 60 s) and
#    recorded as a failed attempt with reason "timeout".
# 3. A job process that does not exit when the worker retires it (at the
#    burst worker's end) is killed, and the worker exits.
source "$(dirname "$0")/lib.sh"

load_schema
sql "$T_DB" <<'SQL'
INSERT INTO tenants (id, name) VALUES (1, 'T');
INSERT INTO reports (id, tenant_id, name) VALUES (1, 1, 'Slow'), (2, 1, 'Hangs'), (3, 1, 'Lingers');
INSERT INTO report_items (id, report_id, position, label, kind) VALUES (1, 1, 1, 'V', 'number'), (2, 2, 1, 'V', 'number'), (3, 3, 1, 'V', 'number');
INSERT INTO records (report_id, recorded_at, recorded_by, `values`) VALUES
  (1, '2026-10-05 10:00:00', 'x', '{"1": 1}'), (2, '2026-11-05 10:00:00', 'x', '{"2": 2}'),
  (3, '2026-12-05 10:00:00', 'x', '{"3": 3}');
SQL
p="sheetq:{$T_QUEUE}:"
job_state() { sql "$T_DB" -e "SELECT state FROM sheetq_jobs WHERE report_id = $1"; }

# --- 1. graceful shutdown --------------------------------------------------
sq enqueue --period 2026-10 >/dev/null
job=$(sql "$T_DB" -e "SELECT id FROM sheetq_jobs WHERE report_id = 1")
SHEETQ_TEST_FAULT='slow:report=1:30000' "$SHEETQ_BIN" worker --shutdown-grace 1 2>"$T_DIR/w1.log" &
w=$!
for ((i = 0; i < 100; i++)); do
  [[ $(job_state 1) == running ]] && break
  sleep 0.1
done
assert_eq running "$(job_state 1)" "job state before SIGTERM"
start=$(date +%s%N)
kill -TERM $w
wait $w || fail "worker exited $? on SIGTERM"
took=$((($(date +%s%N) - start) / 1000000))
# No bound on the time: a worker that waited for its hanging job instead
# of handing it back after the grace would never exit, and the wait above
# would run into the test's timeout.
echo "worker stopped ${took} ms after SIGTERM (grace 1 s)"
grep -q "handed back" "$T_DIR/w1.log" || fail "no hand-back logged"
assert_eq queued "$(redis HGET "${p}job:$job" state)" "redis state after the hand-back"
assert_eq 0 "$(redis HGET "${p}job:$job" attempts)" "attempts counted after the hand-back"
assert_eq 0 "$(redis HLEN "${p}holds")" "vCPUs held after the hand-back"
sq worker --burst 2>"$T_DIR/w2.log" || fail "worker: $(tail -3 "$T_DIR/w2.log")"
assert_eq succeeded "$(job_state 1)" "the handed-back job"

# --- 2. per-attempt timeout ------------------------------------------------
export SHEETQ_ATTEMPT_TIMEOUT=60 SHEETQ_MAX_ATTEMPTS=1
sq enqueue --period 2026-11 >/dev/null
SHEETQ_TEST_FAULT='hang:report=2' "$SHEETQ_BIN" worker --burst 2>"$T_DIR/w3.log" ||
  fail "worker: $(tail -3 "$T_DIR/w3.log")"
row=$(sql "$T_DB" -e "SELECT state, last_error_code FROM sheetq_jobs WHERE report_id = 2")
assert_eq "$(printf 'failed\ttimeout')" "$row" "the hanging job"
secs=$(sql "$T_DB" -e "SELECT TIMESTAMPDIFF(SECOND, a.started_at, a.finished_at)
  FROM sheetq_attempts a JOIN sheetq_jobs j ON j.id = a.job_id WHERE j.report_id = 2")
# Not a timing assertion: what matters is that the timeout did not fire
# early (a bug there ends the attempt in ~0 s). The ledger's started_at is
# written a moment after the timeout clock starts (seconds later on a
# loaded machine under the sanitizers), so the bound is far below 60 s; a
# job that ran on forever would never let the burst worker above exit.
((secs >= 30)) || fail "the attempt ended after ${secs} s; the timeout is 60 s"

# --- 3. a retired process that does not exit -------------------------------
unset SHEETQ_MAX_ATTEMPTS
sq enqueue --period 2026-12 >/dev/null
# Without the retire's kill timer the worker waits for its process forever:
# timeout(1) turns that into exit 124 instead of a hung test.
SHEETQ_TEST_FAULT='linger:report=3' timeout 120 "$SHEETQ_BIN" worker --burst 2>"$T_DIR/w4.log" ||
  fail "burst worker with a lingering process exited $?: $(tail -3 "$T_DIR/w4.log")"
grep -q "did not exit within .* of being retired; killing it" "$T_DIR/w4.log" ||
  fail "no kill of the lingering process logged: $(tail -3 "$T_DIR/w4.log")"
assert_eq succeeded "$(job_state 3)" "the lingering process's job"
echo "ok: graceful hand-back, a hang stopped at the attempt timeout, a lingering process killed"
