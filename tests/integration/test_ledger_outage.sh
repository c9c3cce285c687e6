#!/usr/bin/env bash
# A success the ledger cannot record yet (queue/supervisor.c ledger_round):
# the file is stored, so the worker keeps the success, renews its lease and
# records it once the ledger takes writes again: the job is neither run a
# second time nor failed as "worker lost".
#
# The outage is a trigger in this test's own database that fails every
# job's move to 'succeeded' with a deadlock error (1213) while a flag is
# set: a transaction that fails for a passing reason, as a database out of
# reach gives one, without touching the shared servers.
source "$(dirname "$0")/lib.sh"

load_schema
sql "$T_DB" <<'SQL'
INSERT INTO tenants (id, name) VALUES (1, 'T');
INSERT INTO reports (id, tenant_id, name) VALUES (1, 1, 'R');
INSERT INTO report_items (id, report_id, position, label, kind) VALUES (1, 1, 1, 'V', 'number');
INSERT INTO records (report_id, recorded_at, recorded_by, `values`)
  VALUES (1, '2026-10-05 10:00:00', 'x', '{"1": 7}');
SQL
sq migrate >/dev/null
sql "$T_DB" <<'SQL'
CREATE TABLE test_outage (refusing BOOLEAN NOT NULL);
INSERT INTO test_outage VALUES (TRUE);
DELIMITER //
CREATE TRIGGER test_outage_refuses BEFORE UPDATE ON sheetq_jobs FOR EACH ROW
BEGIN
  IF NEW.state = 'succeeded' AND (SELECT refusing FROM test_outage) THEN
    SIGNAL SQLSTATE '40001' SET MYSQL_ERRNO = 1213,
      MESSAGE_TEXT = 'test outage: the ledger refuses successes';
  END IF;
END//
DELIMITER ;
SQL
p="sheetq:{$T_QUEUE}:"
sq enqueue --period 2026-10 >/dev/null
job=$(sql "$T_DB" -e "SELECT id FROM sheetq_jobs")

# A 3 s lease, renewed every second: without the renewals it would expire
# during the outage, and the job be taken back and run again.
SHEETQ_LEASE_SECONDS=3 "$SHEETQ_BIN" worker --concurrency 1 2>"$T_DIR/worker.log" &
w=$!
trap 'rc=$?; kill $w 2>/dev/null; wait $w 2>/dev/null; (exit $rc); cleanup' EXIT

for ((i = 0; i < 200; i++)); do # up to 20 s
  grep -q "success(es) wait for the ledger" "$T_DIR/worker.log" && break
  sleep 0.1
done
grep -q "success(es) wait for the ledger" "$T_DIR/worker.log" ||
  fail "the worker never kept a success back: $(tail -5 "$T_DIR/worker.log")"
[[ -f $T_OUT/1/1/2026-10.xlsx ]] || fail "the file was not stored before the ledger write"
sleep 5 # longer than the lease: only renewals keep the job this worker's
assert_eq active "$(redis HGET "${p}job:$job" state)" "redis state during the outage"
assert_eq running "$(sql "$T_DB" -e "SELECT state FROM sheetq_jobs WHERE id = '$job'")" \
  "ledger state during the outage"

sql "$T_DB" -e "UPDATE test_outage SET refusing = FALSE"
for ((i = 0; i < 200; i++)); do
  [[ $(redis HGET "${p}job:$job" state) == done ]] && break
  sleep 0.1
done
assert_eq done "$(redis HGET "${p}job:$job" state)" "redis state after the outage"
assert_eq "succeeded|1" "$(sql "$T_DB" -e "SELECT CONCAT_WS('|', state, attempts) FROM sheetq_jobs WHERE id = '$job'")" \
  "ledger state and attempts after the outage"
assert_eq "1|succeeded" "$(sql "$T_DB" -e "SELECT CONCAT_WS('|', attempt, outcome) FROM sheetq_attempts WHERE job_id = '$job'")" \
  "the job's attempts"
! grep -q "success not recorded\|lease expired" "$T_DIR/worker.log" ||
  fail "the success was given up: $(grep "success not recorded\|lease expired" "$T_DIR/worker.log")"
echo "ok: a success waits out a ledger outage, its lease renewed, and is recorded once"
