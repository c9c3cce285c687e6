#!/usr/bin/env bash
# The ledger check (`enqueue --repair`, and one worker per interval) hands
# every unfinished job of the ledger to Redis again, and Redis usually holds
# them all. It reads their state first (HGET, pipelined) and runs the submit
# script only for the jobs Redis lacks, so a check of a full queue costs
# Redis one read per job, not one script call. Counted with INFO
# commandstats on a redis-server of this test's own (the shared one counts
# every test's commands); the repair's one other script call is the
# fence-floor raise.
source "$(dirname "$0")/lib.sh"

own_redis_init
load_schema
sql "$T_DB" <<'SQL'
INSERT INTO tenants (id, name) VALUES (1, 'T');
INSERT INTO reports (id, tenant_id, name) SELECT seq, 1, CONCAT('R', seq) FROM seq_1_to_20;
INSERT INTO report_items (id, report_id, position, label, kind)
  SELECT seq, seq, 1, 'V', 'number' FROM seq_1_to_20;
INSERT INTO records (report_id, recorded_at, recorded_by, `values`)
  SELECT seq, '2026-10-05 10:00:00', 'x', CONCAT('{"', seq, '": ', seq, '}') FROM seq_1_to_20;
SQL

own_redis_start
answers() { [[ $(own_redis PING 2>&1) == PONG ]]; }
wait_until -t 30 "redis to start" answers

# calls COMMAND: how many times this Redis has run COMMAND.
calls() {
  own_redis INFO commandstats | tr -d '\r' |
    sed -n "s/^cmdstat_$1:calls=\([0-9]*\),.*/\1/p" | grep . || echo 0
}

assert_contains "$(sq enqueue --period 2026-10)" "20 new job(s)" "enqueue"
e0=$(calls evalsha) h0=$(calls hget)
assert_contains "$(sq enqueue --repair)" "20 unfinished job(s) in the ledger, 0 missing from redis" \
  "repair of a full queue"
assert_eq 1 "$(($(calls evalsha) - e0))" "script calls of a repair that finds nothing missing"
(($(calls hget) - h0 >= 20)) || fail "the repair read $(($(calls hget) - h0)) job states, not 20"

# Redis loses five jobs: only those five go through the submit script.
p="sheetq:{$T_QUEUE}:"
for id in $(sql "$T_DB" -e "SELECT id FROM sheetq_jobs ORDER BY report_id LIMIT 5"); do
  own_redis DEL "${p}job:$id" >/dev/null
  own_redis LREM "${p}ready:1" 0 "$id" >/dev/null
  own_redis DECR "${p}nready" >/dev/null
done
e0=$(calls evalsha)
assert_contains "$(sq enqueue --repair)" "20 unfinished job(s) in the ledger, 5 missing from redis" \
  "repair after a partial loss"
assert_eq 6 "$(($(calls evalsha) - e0))" "script calls: five submits and the fence floor"
assert_eq 20 "$(own_redis LLEN "${p}ready:1")" "jobs ready again"

sq worker --burst 2>"$T_DIR/worker.log" || fail "worker: $(tail -3 "$T_DIR/worker.log")"
assert_eq "20 20" "$(sql "$T_DB" -e "SELECT SUM(state = 'succeeded'), (SELECT COUNT(*) FROM sheetq_attempts) FROM sheetq_jobs" | tr '\t' ' ')" \
  "jobs succeeded, attempts (each job ran once)"
echo "ok: the ledger check reads job states first and submits only what Redis lacks"
