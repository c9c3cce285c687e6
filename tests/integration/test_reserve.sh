#!/usr/bin/env bash
# A big job is not starved by a stream of small ones (queue/scripts.c,
# DESIGN: the reservation). The budget (2 vCPUs) holds one big job (2 vCPUs,
# by job_vcpus_rule: 5 records or more) or two small ones (1 vCPU). Tenant A
# enqueues 30 small jobs, tenant B one big job after them. Worker 1 (2 vCPUs,
# 300 ms jobs) could run the big job; worker 2 (1 vCPU, 3 s jobs) never can.
# Without a reservation every slice that frees up is 1 vCPU and goes to a
# small job, so the big job starts last; with reserve_after 1 s it starts
# while tenant A still has jobs waiting. A sampler sums the holds in Redis
# every 50 ms: never above the budget; the ledger agrees. Then, with a
# blocker holding half the budget, a reservation forms, `sheetq status`
# shows it, and cancelling its job clears it.
source "$(dirname "$0")/lib.sh"

load_schema
sql "$T_DB" <<'SQL'
INSERT INTO tenants (id, name) VALUES (1, 'A'), (2, 'B');
INSERT INTO reports (id, tenant_id, name)
  SELECT seq, IF(seq <= 30, 1, 2), CONCAT('Report ', seq) FROM seq_1_to_31;
INSERT INTO report_items (id, report_id, position, label, kind)
  SELECT seq, seq, 1, 'Value', 'number' FROM seq_1_to_31;
-- one record per small report; five in October (and in November) for the big one
INSERT INTO records (report_id, recorded_at, recorded_by, `values`)
  SELECT seq, '2026-10-05 10:00:00', 'x', JSON_OBJECT('1', seq) FROM seq_1_to_30;
INSERT INTO records (report_id, recorded_at, recorded_by, `values`)
  SELECT 31, CONCAT(m, '-0', seq, ' 10:00:00'), 'x', JSON_OBJECT('1', seq)
  FROM seq_1_to_5 JOIN (SELECT '2026-10' m UNION SELECT '2026-11') p;
SQL
export SHEETQ_MAX_VCPUS=2 SHEETQ_JOB_VCPUS=1 SHEETQ_JOB_VCPUS_RULE=5:2 SHEETQ_RESERVE_AFTER=1
p="sheetq:{$T_QUEUE}:"

assert_contains "$(sq enqueue --period 2026-10 --tenant 1)" "30 new job(s)" "tenant A"
assert_contains "$(sq enqueue --period 2026-10 --tenant 2)" "1 new job(s)" "tenant B"
big=$(sql "$T_DB" -e "SELECT id FROM sheetq_jobs WHERE report_id = 31 AND period = '2026-10'")
assert_eq 2000 "$(sql "$T_DB" -e "SELECT vcpus_m FROM sheetq_jobs WHERE id = '$big'")" "big job's size"

sampler() { # one line per sample: the vCPUs (thousandths) the holds sum to
  local script="local s = 0 for _, m in ipairs(redis.call('HVALS', KEYS[1])) do
    s = s + tonumber(m) end return s"
  for ((i = 0; i < 1200; i++)); do # bounded: at most ~60 s
    redis EVAL "$script" 1 "${p}holds"
    sleep 0.05
  done
}
sampler >"$T_DIR/samples" &
sampler_pid=$!

SHEETQ_TEST_FAULT='slow:report=*:300' sq worker --burst --vcpus 2 2>"$T_DIR/w1.log" &
w1=$!
SHEETQ_TEST_FAULT='slow:report=*:3000' sq worker --burst --vcpus 1 2>"$T_DIR/w2.log" &
w2=$!
wait "$w1" || fail "worker 1: $(tail -3 "$T_DIR/w1.log")"
wait "$w2" || fail "worker 2: $(tail -3 "$T_DIR/w2.log")"
kill "$sampler_pid" 2>/dev/null || true
wait "$sampler_pid" 2>/dev/null || true

assert_eq 31 "$(sql "$T_DB" -e "SELECT COUNT(*) FROM sheetq_jobs WHERE period = '2026-10'
  AND state = 'succeeded'")" "jobs succeeded"
# Tenant A's jobs that started after the big one.
after=$(sql "$T_DB" -e "SELECT COUNT(*) FROM sheetq_attempts a JOIN sheetq_jobs j ON j.id = a.job_id
  WHERE j.tenant_id = 1 AND a.started_at > (SELECT MIN(started_at) FROM sheetq_attempts
  WHERE job_id = '$big')")
echo "the big job started before $after of tenant A's 30 jobs"
((after >= 5)) || fail "the big job started before only $after of tenant A's jobs (starved)"

# Never over the budget: the samples, and the ledger (an attempt's ledger
# span lies within its hold in Redis, so overlaps there are real).
read -r max n < <(awk '{ if ($1 > max) max = $1; n++ } END { print max + 0, n + 0 }' "$T_DIR/samples")
echo "samples: $n, at most $max thousandths of a vCPU held"
((n > 20)) || fail "too few samples ($n)"
((max <= 2000)) || fail "holds reached $max with a budget of 2000"
over=$(sql "$T_DB" -e "SELECT COUNT(*) FROM sheetq_attempts a JOIN sheetq_jobs ja ON ja.id = a.job_id
  WHERE (SELECT SUM(jb.vcpus_m) FROM sheetq_attempts b JOIN sheetq_jobs jb ON jb.id = b.job_id
         WHERE b.started_at <= a.started_at AND b.finished_at > a.started_at) > 2000")
assert_eq 0 "$over" "attempts that started over the budget (ledger)"

# A reservation `sheetq status` can show: a blocker holds half the budget,
# so the big November job is passed over until it is reserved.
redis HSET "${p}holds" blocker 1000 >/dev/null
out=$(sq enqueue --period 2026-11 --report 31)
assert_contains "$out" "1 new job(s)" "November"
job=$(sql "$T_DB" -e "SELECT id FROM sheetq_jobs WHERE report_id = 31 AND period = '2026-11'")
sq worker --burst --vcpus 2 2>"$T_DIR/w3.log" &
w3=$!
for ((i = 0; i < 200; i++)); do # bounded: 20 s
  [[ $(redis HGET "${p}reserve" id) == "$job" ]] && break
  sleep 0.1
done
assert_eq "$job" "$(redis HGET "${p}reserve" id)" "reserved job"
status=$(sq status)
assert_contains "$status" "reserved: job $job (2.000 vCPUs)" "status"
echo "$status" | grep "reserved:"
json=$(sq status --json)
assert_eq "$job" "$($PY -c 'import json,sys; print(json.load(sys.stdin)["queue_depth"]["reservation"]["job"])' <<<"$json")" "status --json"
sq cancel "$job" >/dev/null || fail "cancel $job"
assert_eq 0 "$(redis EXISTS "${p}reserve")" "reservation after its job was cancelled"
assert_contains "$(sq status)" "vCPUs:" "status after cancel"
[[ $(sq status) != *"reserved:"* ]] || fail "status still shows a reservation"
wait "$w3" || fail "worker 3: $(tail -3 "$T_DIR/w3.log")"
redis HDEL "${p}holds" blocker >/dev/null
echo "ok: the big job was reserved and started within the budget; status showed it; cancel cleared it"
