#!/usr/bin/env bash
# Redis answers LOADING while it reads a large dataset after a restart
# (docs/failure-handling.md: a temporary reply). An enqueue and a worker
# started then wait for it and then work: the batch is queued, every job
# runs once, nothing fails for good. Jobs that an earlier enqueue left in
# the ledger (Redis was down: exit 75) are queued by the worker's first
# ledger check once Redis serves. The test runs a redis-server of its
# own on a free port: a 50,000-key RDB read with key-load-delay (a redis
# setting for tests: microseconds per key), so loading lasts seconds on any
# machine, and loading-process-events-interval-bytes at its minimum, so the
# server answers (LOADING) while it loads.
source "$(dirname "$0")/lib.sh"

own_redis_init
load_schema
sql "$T_DB" <<'SQL'
INSERT INTO tenants (id, name) VALUES (1, 'T');
INSERT INTO reports (id, tenant_id, name) VALUES (1, 1, 'A'), (2, 1, 'B'), (3, 1, 'C');
INSERT INTO report_items (id, report_id, position, label, kind) VALUES
  (1, 1, 1, 'V', 'number'), (2, 2, 1, 'V', 'number'), (3, 3, 1, 'V', 'number');
INSERT INTO records (report_id, recorded_at, recorded_by, `values`) VALUES
  (1, '2026-10-05 10:00:00', 'x', '{"1": 1}'), (2, '2026-10-05 10:00:00', 'x', '{"2": 2}'),
  (3, '2026-10-05 10:00:00', 'x', '{"3": 3}'), (1, '2026-11-05 10:00:00', 'x', '{"1": 4}'),
  (2, '2026-11-05 10:00:00', 'x', '{"2": 5}'), (3, '2026-11-05 10:00:00', 'x', '{"3": 6}');
SQL
count() { sql "$T_DB" -e "SELECT COUNT(*) FROM sheetq_jobs WHERE $1"; }

answers() { [[ $(own_redis PING 2>&1) == "$1"* ]]; }

# Redis is not running yet: enqueue records the batch in the ledger and
# exits 75 (temporary).
status=0
sq enqueue --period 2026-10 >/dev/null 2>"$T_DIR/enqueue1.log" || status=$?
assert_eq 75 "$status" "enqueue's exit status with redis down"
assert_eq 3 "$(count "state = 'submitted'")" "jobs left in the ledger by that enqueue"

# A dataset to load: 50,000 small keys, saved, and the server stopped.
own_redis_start --enable-debug-command yes
wait_until -t 30 "redis to start" answers PONG
assert_eq OK "$(own_redis DEBUG POPULATE 50000 filler)" "populating redis"
assert_eq OK "$(own_redis SAVE)" "saving the dataset"
own_redis SHUTDOWN NOSAVE >/dev/null 2>&1 || true
wait $OWN_REDIS_PID || true

# Restarted, it loads for 50,000 x 200 us = 10 s at least. The worker's
# ledger check interval is far longer than the test: only its first check
# (at its start, or as soon as Redis lets it) can queue the 2026-10 jobs.
own_redis_start --key-load-delay 200 --loading-process-events-interval-bytes 1024
wait_until -t 30 "redis to answer LOADING" answers LOADING
sq enqueue --period 2026-11 >"$T_DIR/enqueue.out" 2>"$T_DIR/enqueue.log" &
enq=$!
SHEETQ_LEDGER_CHECK_INTERVAL=3600 "$SHEETQ_BIN" worker 2>"$T_DIR/worker.log" &
w=$!
sleep 1
answers LOADING || fail "redis finished loading before the test could use it (make the dataset bigger)"

status=0
wait $enq || status=$?
assert_eq 0 "$status" "enqueue's exit status (log: $(tail -2 "$T_DIR/enqueue.log"))"
assert_contains "$(cat "$T_DIR/enqueue.out")" "3 new job(s)" "enqueue's output"
grep -q "loading" "$T_DIR/enqueue.log" || fail "enqueue did not say it waited for redis to load"
assert_eq 3 "$(count "period = '2026-11' AND state IN ('runnable', 'running', 'succeeded')")" \
  "jobs queued by enqueue"

all_done() { [[ $(count "state = 'succeeded'") == 6 ]]; }
wait_until -t 120 "the worker to run the batch" all_done
kill -TERM $w
wait $w || fail "worker exited $?: $(tail -3 "$T_DIR/worker.log")"
grep -q "LOADING" "$T_DIR/worker.log" || fail "the worker never saw redis loading"
assert_eq 6 "$(sql "$T_DB" -e "SELECT COUNT(*) FROM sheetq_attempts WHERE outcome = 'succeeded'")" \
  "attempts (one each)"
assert_eq 0 "$(sql "$T_DB" -e "SELECT COUNT(*) FROM sheetq_attempts WHERE outcome <> 'succeeded'")" \
  "failed or lost attempts"
for r in 1 2 3; do
  [[ -f $T_OUT/1/$r/2026-10.xlsx && -f $T_OUT/1/$r/2026-11.xlsx ]] || fail "report $r: no file"
done
for j in $(sql "$T_DB" -e "SELECT id FROM sheetq_jobs"); do
  assert_eq done "$(own_redis HGET "sheetq:{$T_QUEUE}:job:$j" state)" "redis state of $j"
done
own_redis SHUTDOWN NOSAVE >/dev/null 2>&1 || true
wait $OWN_REDIS_PID || true
echo "ok: enqueue and worker wait for a loading redis, then work"
