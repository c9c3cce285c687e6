#!/usr/bin/env bash
# A database that logs statements (binlog_format = STATEMENT) refuses InnoDB
# writes at READ COMMITTED, the isolation level of the worker's ledger
# connection (core/db.h, SQ_DB_READ_COMMITTED). The connection must see that
# when it connects, keep the server's default, say so once, and lose
# nothing: on a MariaDB of its own with a statement binary log, every job
# succeeds at its first attempt.
source "$(dirname "$0")/lib.sh"

srv=$T_DIR/binlog-servers
SHEETQ_MYSQL_BINLOG_FORMAT=STATEMENT SHEETQ_MYSQL_BUFFER_POOL=64M \
  "$ROOT_DIR/scripts/servers.sh" start "$srv" >/dev/null 2>"$T_DIR/servers.log" ||
  fail "servers did not start: $(tail -3 "$T_DIR/servers.log")"
# Then lib.sh's cleanup, which reads the test's exit status from $?.
trap 'rc=$?; "$ROOT_DIR/scripts/servers.sh" stop "$srv" >/dev/null 2>&1; (exit $rc); cleanup' EXIT
# SHEETQ_MYSQL_URL, SHEETQ_REDIS_URL and MARIADB_HOME (whose my.cnf points a
# plain `mariadb` at that server and database) now name these servers.
# shellcheck disable=SC1091
. "$srv/env.sh"
db() { mariadb --batch --skip-column-names "$@"; }
assert_eq "1 STATEMENT" "$(db -e 'SELECT @@log_bin, @@binlog_format' | tr '\t' ' ')" \
  "the server's binary log"
db <"$ROOT_DIR/scripts/demo_schema.sql"
db <<'SQL'
INSERT INTO tenants (id, name) VALUES (1, 'T');
INSERT INTO reports (id, tenant_id, name) SELECT seq, 1, CONCAT('R', seq) FROM seq_1_to_4;
INSERT INTO report_items (id, report_id, position, label, kind) SELECT seq, seq, 1, 'V', 'number' FROM seq_1_to_4;
INSERT INTO records (report_id, recorded_at, recorded_by, `values`)
  SELECT seq, '2026-10-05 10:00:00', 'x', CONCAT('{"', seq, '": ', seq, '}') FROM seq_1_to_4;
SQL
assert_contains "$(sq enqueue --period 2026-10)" "4 new job(s)" "enqueue"
"$SHEETQ_BIN" worker --burst --concurrency 2 2>"$T_DIR/worker.log" ||
  fail "worker: $(tail -3 "$T_DIR/worker.log")"
assert_eq 1 "$(grep -c 'binlog_format = STATEMENT' "$T_DIR/worker.log")" \
  "warnings about the statement binary log"
assert_eq "4 4" "$(db -e "SELECT SUM(state = 'succeeded'), (SELECT COUNT(*) FROM sheetq_attempts) FROM sheetq_jobs" | tr '\t' ' ')" \
  "jobs succeeded, attempts"
for r in 1 2 3 4; do [[ -s $T_OUT/1/$r/2026-10.xlsx ]] || fail "report $r: no file"; done
! grep -q "not recorded\|cannot record" "$T_DIR/worker.log" || fail "a transition was lost: $(grep "not recorded\|cannot record" "$T_DIR/worker.log" | head -2)"
echo "ok: a statement binary log keeps the ledger at the server's default, nothing lost"
