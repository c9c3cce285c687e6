#!/usr/bin/env bash
# The ledger's transitions are stored procedures (docs/architecture.md).
# `sheetq migrate` makes each one that is missing, also when the schema
# version is current (a restore without --routines leaves them out), and
# makes again one made from another text (its COMMENT's fingerprint, which
# covers the id columns' collation); a worker that cannot call them does
# not start and says to migrate.
source "$(dirname "$0")/lib.sh"

load_schema
sql "$T_DB" <<'SQL'
INSERT INTO tenants (id, name) VALUES (1, 'T');
INSERT INTO reports (id, tenant_id, name) VALUES (1, 1, 'A'), (2, 1, 'B');
INSERT INTO report_items (id, report_id, position, label, kind) VALUES
  (1, 1, 1, 'V', 'number'), (2, 2, 1, 'V', 'number');
INSERT INTO records (report_id, recorded_at, recorded_by, `values`) VALUES
  (1, '2026-10-05 10:00:00', 'x', '{"1": 1}'), (2, '2026-11-05 10:00:00', 'x', '{"2": 2}');
SQL
sq migrate >/dev/null || fail "migrate"
comment_of() {
  sql "$T_DB" -e "SELECT ROUTINE_COMMENT FROM information_schema.ROUTINES
    WHERE ROUTINE_SCHEMA = DATABASE() AND ROUTINE_NAME = '$1'"
}
want=$(comment_of sheetq_start_v1)
[[ $want =~ ^sheetq\ [0-9a-f]{16}$ ]] || fail "sheetq_start_v1's comment: '$want'"

# A restore that left out a procedure: the schema version says current.
sql "$T_DB" -e "DROP PROCEDURE sheetq_succeeded_v1"
assert_contains "$(sq enqueue --period 2026-10)" "1 new job(s)" "enqueue"
rc=0; out=$(sq worker --burst 2>&1) || rc=$?
assert_eq 2 "$rc" "exit status of a worker without the procedures"
assert_contains "$out" "sheetq migrate" "what the worker says to do"
assert_eq 1 "$(sql "$T_DB" -e "SELECT COUNT(*) FROM sheetq_jobs WHERE state = 'runnable'")" \
  "the job, untouched"
sq migrate >/dev/null || fail "migrate after the restore"
[[ -n $(comment_of sheetq_succeeded_v1) ]] || fail "migrate did not make sheetq_succeeded_v1"
sq worker --burst 2>"$T_DIR/w1.log" || fail "worker: $(tail -3 "$T_DIR/w1.log")"
assert_eq succeeded "$(sql "$T_DB" -e "SELECT state FROM sheetq_jobs WHERE report_id = 1")" \
  "the job after migrate"

# A procedure of the same name made from another text (here: one that
# refuses every start) is made again from sheetq's.
sql "$T_DB" <<'SQL'
DROP PROCEDURE sheetq_start_v1;
CREATE PROCEDURE sheetq_start_v1(p_id VARCHAR(64), p_attempt INT, p_token BIGINT UNSIGNED,
  p_worker VARCHAR(128), OUT p_applied TINYINT) COMMENT 'sheetq 0000000000000000'
  SET p_applied = 0;
SQL
sq migrate >/dev/null || fail "migrate over a foreign body"
assert_eq "$want" "$(comment_of sheetq_start_v1)" "sheetq_start_v1's fingerprint after migrate"
assert_contains "$(sq enqueue --period 2026-11)" "1 new job(s)" "enqueue 2026-11"
sq worker --burst 2>"$T_DIR/w2.log" || fail "worker: $(tail -3 "$T_DIR/w2.log")"
assert_eq "succeeded 1" "$(sql "$T_DB" -e "SELECT state, attempts FROM sheetq_jobs WHERE report_id = 2" | tr '\t' ' ')" \
  "the 2026-11 job, started by the procedure made again"

# The id columns converted to another collation: a parameter keeps the
# collation it was made with (MySQL refuses to compare it with a column of
# another one, error 1267, where a worker says to migrate; MariaDB 10.11
# compares), and migrate makes the procedures for the new one.
sql "$T_DB" -e "ALTER TABLE sheetq_attempts MODIFY job_id CHAR(24) CHARACTER SET utf8mb4
  COLLATE utf8mb4_bin NOT NULL; ALTER TABLE sheetq_jobs MODIFY id CHAR(24) CHARACTER SET
  utf8mb4 COLLATE utf8mb4_bin NOT NULL"
sq migrate >/dev/null || fail "migrate after the collation change"
[[ $(comment_of sheetq_start_v1) != "$want" ]] || fail "sheetq_start_v1 was not made again"
sql "$T_DB" -e "SELECT PARAM_LIST FROM mysql.proc WHERE db = DATABASE()
  AND name = 'sheetq_start_v1'" | grep -q "COLLATE utf8mb4_bin" ||
  fail "sheetq_start_v1's p_id is not utf8mb4_bin: $(sql "$T_DB" -e "SELECT PARAM_LIST FROM mysql.proc WHERE db = DATABASE() AND name = 'sheetq_start_v1'")"
sql "$T_DB" -e "INSERT INTO records (report_id, recorded_at, recorded_by, \`values\`)
  VALUES (1, '2026-12-05 10:00:00', 'x', '{\"1\": 7}')"
assert_contains "$(sq enqueue --period 2026-12)" "1 new job(s)" "enqueue 2026-12"
sq worker --burst 2>"$T_DIR/w3.log" || fail "worker: $(tail -3 "$T_DIR/w3.log")"
assert_eq succeeded "$(sql "$T_DB" -e "SELECT state FROM sheetq_jobs WHERE period = '2026-12'")" \
  "the 2026-12 job, with procedures for utf8mb4_bin"

# A procedure made again while a worker runs (the gap between DROP and
# CREATE): the round that calls it fails as a passing error, its successes
# wait for a later round, and nothing runs twice.
sql "$T_DB" -e "INSERT INTO records (report_id, recorded_at, recorded_by, \`values\`) VALUES
  (1, '2027-01-05 10:00:00', 'x', '{\"1\": 8}'), (2, '2027-01-05 10:00:00', 'x', '{\"2\": 9}')"
assert_contains "$(sq enqueue --period 2027-01)" "2 new job(s)" "enqueue 2027-01"
SHEETQ_TEST_FAULT='slow:report=*:2000' "$SHEETQ_BIN" worker --concurrency 2 2>"$T_DIR/w4.log" &
worker=$!
running() { [[ $(sql "$T_DB" -e "SELECT COUNT(*) FROM sheetq_jobs WHERE period = '2027-01'
  AND state = 'running'") -ge 1 ]]; }
wait_until "a 2027-01 job to run" running
sql "$T_DB" -e "DROP PROCEDURE sheetq_succeeded_v1"
waiting() { grep -q "success(es) wait for the ledger" "$T_DIR/w4.log"; }
wait_until "the worker to keep its successes" waiting
sq migrate >/dev/null || fail "migrate during the run"
finished() { [[ $(sql "$T_DB" -e "SELECT COUNT(*) FROM sheetq_jobs WHERE period = '2027-01'
  AND state = 'succeeded'") == 2 ]]; }
wait_until "both 2027-01 jobs to succeed" finished
kill -TERM $worker
wait $worker || fail "worker's exit status after SIGTERM: $?"
assert_eq "1 1" "$(sql "$T_DB" -e "SELECT MAX(attempts), MAX(a.n) FROM sheetq_jobs j JOIN
  (SELECT job_id, COUNT(*) n FROM sheetq_attempts GROUP BY job_id) a ON a.job_id = j.id
  WHERE period = '2027-01'" | tr '\t' ' ')" "attempts of the 2027-01 jobs (ledger, rows)"
echo "ok: migrate makes missing, foreign and outdated procedures; a worker without them does not start; one made again mid-run loses nothing"
