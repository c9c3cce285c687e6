#!/usr/bin/env bash
# Bad input gets a clear error and a non-zero exit, or a clear reason in the
# failed set, and never crashes a worker or loses a job.
source "$(dirname "$0")/lib.sh"

period=2026-10

# Invalid periods: a usage-level error naming the expected format.
for p in 2026-13 abc 2026-1; do
  rc=0; out=$(sq enqueue --period "$p" 2>&1) || rc=$?
  assert_eq 2 "$rc" "exit status of enqueue --period $p (a usage error)"
  assert_contains "$out" "expected YYYY-MM" "enqueue --period $p"
done
# An unknown option is named without its value (which may hold a password).
rc=0; out=$(sq enqueue --mysql_url=mysql://u:Typo5ecret@h/db 2>&1) || rc=$?
assert_eq 2 "$rc" "exit status of an unknown option"
assert_contains "$out" "unknown option --mysql_url " "the unknown option"
[[ $out != *Typo5ecret* ]] || fail "an unknown option's value was printed: $out"
if out=$(sq enqueue 2>&1); then fail "enqueue without --period succeeded"; fi
assert_contains "$out" "--period YYYY-MM is required" "enqueue without --period"

# An unreachable database: temporary error (exit 75), no password in the text.
set +e
out=$(SHEETQ_MYSQL_URL="mysql://root:s3cret@127.0.0.1:1/x" sq enqueue --period "$period" 2>&1)
rc=$?
set -e
assert_eq 75 "$rc" "exit status with the database down"
assert_contains "$out" "cannot connect to database" "database down"
[[ $out != *s3cret* ]] || fail "the password appeared in an error message"

# Two reports; one is deleted after enqueue; records.values loosened so that
# a record can hold text that is not JSON (as a legacy column might).
load_schema
sql "$T_DB" <<'SQL'
ALTER TABLE records MODIFY `values` LONGTEXT NOT NULL;
INSERT INTO tenants (id, name) VALUES (1, 'Tenant');
INSERT INTO reports (id, tenant_id, name) VALUES (10, 1, 'Keeps'), (11, 1, 'Deleted later');
INSERT INTO report_items (id, report_id, position, label, kind) VALUES
  (100, 10, 1, 'Temperature', 'number'), (110, 11, 1, 'Note', 'text');
INSERT INTO records (report_id, recorded_at, recorded_by, `values`) VALUES
  (10, '2026-10-02 08:00:00', 'a', '{"100": 5}'),
  (10, '2026-10-03 08:00:00', 'b', 'this is not json'),
  (11, '2026-10-02 08:00:00', 'c', '{"110": "x"}');
SQL
out=$(sq enqueue --period "$period")
assert_contains "$out" "2 new job(s)" "enqueue"
batch=$(batch_of "$out")
sql "$T_DB" -e "DELETE FROM reports WHERE id = 11"

# Malformed jobs put straight into Redis: not JSON, truncated, valid JSON
# naming another job, and an id that is not a job id.
p="sheetq:{$T_QUEUE}:"
bad_ids=(j000000000000000000000aa j000000000000000000000bb j000000000000000000000cc not-a-job-id)
for id in "${bad_ids[@]}"; do
  case $id in
  *aa) payload='{not json' ;;
  *bb) payload='{"v":1,"id":"j000000000000000000000bb","batch":"b00' ;;
  *cc) payload='{"v":1,"id":"j000000000000000000000dd","batch":"b00000000000000000000000","tenant":"1","report":"10","period":"2026-10"}' ;;
  *) payload='{"v":1}' ;;
  esac
  # As a job appears in Redis (docs/architecture.md): a hash, an entry in its
  # tenant's ready list, the tenant in the ring, the ready count.
  redis HSET "${p}job:$id" payload "$payload" state queued attempts 0 max_attempts 3 \
    tenant 1 vcpus_m 500 urgent 0 >/dev/null
  redis LPUSH "${p}ready:1" "$id" >/dev/null
  redis INCR "${p}nready" >/dev/null
  if [[ $(redis SADD "${p}tenant_set" 1) == 1 ]]; then redis RPUSH "${p}tenants" 1 >/dev/null; fi
done

SHEETQ_LOG_LEVEL=debug sq worker --burst --concurrency 2 2>"$T_DIR/worker.log" ||
  fail "worker exited $?: $(tail -5 "$T_DIR/worker.log")"

for id in "${bad_ids[@]}"; do
  [[ -n $(redis ZSCORE "${p}failed" "$id") ]] || fail "malformed job $id is not in the failed set"
  assert_eq failed "$(redis HGET "${p}job:$id" state)" "state of $id"
  assert_eq bad_job "$(redis HGET "${p}job:$id" last_error_code)" "reason code of $id"
  [[ -n $(redis HGET "${p}job:$id" last_error) ]] || fail "no reason text for $id"
done

# The deleted report fails at once (permanent: one attempt), with its reason.
row=$(sql "$T_DB" -e "SELECT state, attempts, last_error_code FROM sheetq_jobs WHERE report_id = 11")
assert_eq "$(printf 'failed\t1\tnot_found')" "$row" "job of the deleted report"
# Its records remain: the reader, waiting at the first row for the columns,
# is stopped by the job's other connection rather than read to the end.
grep -q "report 11: stopped the records' query" "$T_DIR/worker.log" ||
  fail "the deleted report's query was not stopped: $(grep 'report 11' "$T_DIR/worker.log" | tail -3)"
status=$(sq status --batch "$batch")
assert_contains "$status" "not_found" "status lists the failure"
j11=$(sql "$T_DB" -e "SELECT id FROM sheetq_jobs WHERE report_id = 11")
detail=$(sq status --job "$j11")
assert_contains "$detail" "attempt 1  failed" "status --job lists the attempt"
assert_contains "$detail" "not_found: report 11: no such report" "status --job gives the reason"
assert_contains "$detail" "sheetq rerun $j11" "status --job says how to re-run"

# The report with a non-JSON record exported both rows, values blank.
row=$(sql "$T_DB" -e "SELECT state, output_key FROM sheetq_jobs WHERE report_id = 10")
assert_eq "$(printf 'succeeded\t1/10/2026-10.xlsx')" "$row" "job of the kept report"
$PY - "$T_OUT/1/10/2026-10.xlsx" <<'PY' || fail "non-JSON record not rendered as expected"
import sys, openpyxl
ws = openpyxl.load_workbook(sys.argv[1]).worksheets[0]
rows = [[c.value for c in r] for r in ws.iter_rows()]
h = next(i for i, r in enumerate(rows) if r[0] == 'Recorded at')
data = rows[h + 1:]
assert len(data) == 2, data
assert data[0][1:] == ['a', 5], data[0]
assert data[1][1] == 'b' and data[1][2] is None, data[1]
PY
# A secret given as a flag: warned about by the flag's name, never echoed
# (whatever other options come first).
warn=$("$SHEETQ_BIN" status --queue "$T_QUEUE" --mysql-url "mysql://u:Pa55word@127.0.0.1:1/x" 2>&1 >/dev/null || true)
assert_contains "$warn" "--mysql-url puts a password on the command line" "the warning"
[[ $warn != *Pa55word* ]] || fail "the secret was printed: $warn"
# A worker smaller than the jobs it is configured for says so (it would
# otherwise idle beside a queue that never drains).
warn=$(SHEETQ_JOB_VCPUS=2 SHEETQ_QUEUE="$T_QUEUE-empty" "$SHEETQ_BIN" worker --burst --vcpus 1 2>&1 >/dev/null) ||
  fail "worker on an empty queue: $warn"
assert_contains "$warn" "offers 1.000 vCPUs, but jobs may need up to 2.000" "a worker too small for its jobs"
warn=$(SHEETQ_JOB_VCPUS=1 SHEETQ_QUEUE="$T_QUEUE-empty" "$SHEETQ_BIN" worker --burst --vcpus 1 2>&1 >/dev/null) ||
  fail "worker on an empty queue: $warn"
[[ $warn != *"jobs may need"* ]] || fail "a worker big enough was warned: $warn"
# Job hashes edited by hand in Redis (a size or attempt count that is not a
# number) neither stop the claims nor lose the jobs: both still run.
sql "$T_DB" <<'SQL'
INSERT INTO tenants (id, name) VALUES (900, 'Edited');
INSERT INTO reports (id, tenant_id, name) VALUES (900, 900, 'E1'), (901, 900, 'E2');
INSERT INTO report_items (id, report_id, position, label, kind) VALUES (9000, 900, 1, 'V', 'number'), (9010, 901, 1, 'V', 'number');
INSERT INTO records (report_id, recorded_at, recorded_by, `values`) VALUES
  (900, '2027-01-05 10:00:00', 'x', '{"9000": 1}'), (901, '2027-01-05 10:00:00', 'y', '{"9010": 2}');
SQL
sq enqueue --period 2027-01 --tenant 900 >/dev/null
e1=$(sql "$T_DB" -e "SELECT id FROM sheetq_jobs WHERE report_id = 900 AND period = '2027-01'")
e2=$(sql "$T_DB" -e "SELECT id FROM sheetq_jobs WHERE report_id = 901 AND period = '2027-01'")
redis HSET "sheetq:{$T_QUEUE}:job:$e1" vcpus_m lots >/dev/null
redis HSET "sheetq:{$T_QUEUE}:job:$e2" attempts many >/dev/null
timeout 120 "$SHEETQ_BIN" worker --burst 2>"$T_DIR/edited.log" || fail "worker (exit $?): $(tail -3 "$T_DIR/edited.log")"
assert_eq "succeeded succeeded" "$(sql "$T_DB" -e "SELECT state FROM sheetq_jobs WHERE id IN ('$e1', '$e2') ORDER BY report_id" | paste -sd' ')" \
  "jobs whose redis hashes were edited by hand"
echo "ok: bad input handled"
