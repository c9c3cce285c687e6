#!/usr/bin/env bash
# A worker's second signal (docs/failure-handling.md, architecture.md): the
# first SIGTERM stops claims and starts a long grace period; a second signal
# (SIGINT here) skips the rest of it: the running jobs are killed and handed
# back at once without counting their attempt, and the worker exits 0. No
# job is lost: the ledger and Redis agree afterwards, and another worker
# runs every job exactly once.
source "$(dirname "$0")/lib.sh"

load_schema
sql "$T_DB" <<'SQL'
INSERT INTO tenants (id, name) VALUES (1, 'T');
INSERT INTO reports (id, tenant_id, name) VALUES (1, 1, 'A'), (2, 1, 'B'), (3, 1, 'C'), (4, 1, 'D');
INSERT INTO report_items (id, report_id, position, label, kind) VALUES
  (1, 1, 1, 'V', 'number'), (2, 2, 1, 'V', 'number'), (3, 3, 1, 'V', 'number'), (4, 4, 1, 'V', 'number');
INSERT INTO records (report_id, recorded_at, recorded_by, `values`) VALUES
  (1, '2026-10-05 10:00:00', 'x', '{"1": 1}'), (2, '2026-10-05 10:00:00', 'x', '{"2": 2}'),
  (3, '2026-10-05 10:00:00', 'x', '{"3": 3}'), (4, '2026-10-05 10:00:00', 'x', '{"4": 4}');
SQL
p="sheetq:{$T_QUEUE}:"
count() { sql "$T_DB" -e "SELECT COUNT(*) FROM sheetq_jobs WHERE $1"; }
# Half a vCPU each: a worker offering 1 vCPU runs two at once, two wait.
SHEETQ_JOB_VCPUS=0.5 sq enqueue --period 2026-10 >/dev/null

# Each job sleeps 10 minutes before exporting: it could only succeed here if
# the worker waited for it (the grace period is longer still).
SHEETQ_TEST_FAULT='slow:report=*:600000' \
  "$SHEETQ_BIN" worker --vcpus 1 --shutdown-grace 900 2>"$T_DIR/w1.log" &
w=$!
two_running() { [[ $(count "state = 'running'") == 2 ]]; }
wait_until "two jobs to run" two_running
running=$(sql "$T_DB" -e "SELECT id FROM sheetq_jobs WHERE state = 'running' ORDER BY id" | tr '\n' ' ')
waiting=$(sql "$T_DB" -e "SELECT id FROM sheetq_jobs WHERE state <> 'running' ORDER BY id" | tr '\n' ' ')

kill -TERM $w
first_seen() { grep -q "no new jobs; waiting up to 900000 ms for 2 running job(s)" "$T_DIR/w1.log"; }
wait_until "the worker to take the first signal" first_seen
kill -INT $w
status=0
wait $w || status=$?
assert_eq 0 "$status" "worker's exit status after two signals"
grep -q "again: handing back running jobs now" "$T_DIR/w1.log" || fail "second signal not logged"
grep -q "shutdown grace period over" "$T_DIR/w1.log" && fail "the grace period ran out: the second signal did not skip it"

# Handed back, not failed: in Redis at the head of the queue with the
# attempt not counted; in the ledger runnable again. The two that waited
# were never started.
for j in $running; do
  assert_eq queued "$(redis HGET "${p}job:$j" state)" "redis state of handed-back $j"
  assert_eq 0 "$(redis HGET "${p}job:$j" attempts)" "attempts counted in redis for $j"
  assert_eq runnable "$(sql "$T_DB" -e "SELECT state FROM sheetq_jobs WHERE id = '$j'")" \
    "ledger state of handed-back $j"
  assert_eq "cancelled" "$(sql "$T_DB" -e "SELECT GROUP_CONCAT(error_code) FROM sheetq_attempts WHERE job_id = '$j'")" \
    "the ledger's record of the handed-back attempt of $j"
done
for j in $waiting; do
  assert_eq queued "$(redis HGET "${p}job:$j" state)" "redis state of waiting $j"
  assert_eq 0 "$(sql "$T_DB" -e "SELECT COUNT(*) FROM sheetq_attempts WHERE job_id = '$j'")" \
    "attempts of $j, which waited"
done
assert_eq 4 "$(redis GET "${p}nready")" "ready jobs in redis"
assert_eq 0 "$(redis ZCARD "${p}active")" "active jobs in redis"
assert_eq 0 "$(redis HLEN "${p}holds")" "vCPUs held in redis"
assert_eq 4 "$(count "state = 'runnable'")" "runnable jobs in the ledger"
# The killed job processes are gone with their worker.
for ((i = 0; i < 100; i++)); do
  pgrep -f "run-job --serve --worker-pid $w( |$)" >/dev/null || break
  sleep 0.1
done
pgrep -f "run-job --serve --worker-pid $w( |$)" >/dev/null && fail "a job process outlived its worker"

# Another worker runs all four, each once; Redis agrees with the ledger.
sq worker --burst 2>"$T_DIR/w2.log" || fail "worker 2: $(tail -3 "$T_DIR/w2.log")"
assert_eq 4 "$(count "state = 'succeeded'")" "succeeded jobs in the ledger"
for j in $running $waiting; do
  assert_eq done "$(redis HGET "${p}job:$j" state)" "redis state of $j at the end"
  assert_eq 1 "$(sql "$T_DB" -e "SELECT COUNT(*) FROM sheetq_attempts WHERE job_id = '$j' AND outcome = 'succeeded'")" \
    "successful attempts of $j"
done
for r in 1 2 3 4; do
  [[ -f $T_OUT/1/$r/2026-10.xlsx ]] || fail "report $r: no file"
done
left=$(find "$T_OUT" "$T_MEM" -name '*.tmp*' | wc -l)
assert_eq 0 "$left" "temporary files left"
echo "ok: a second signal hands running jobs back at once; none is lost"
