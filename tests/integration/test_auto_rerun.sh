#!/usr/bin/env bash
# The automatic re-run policy: a job that failed for good of a temporary
# cause is cloned once after auto_rerun_delay; the clone, if it fails too, is
# not cloned again; a permanent failure is never re-run automatically.
source "$(dirname "$0")/lib.sh"

load_schema
sql "$T_DB" <<'SQL'
INSERT INTO tenants (id, name) VALUES (1, 'T');
INSERT INTO reports (id, tenant_id, name) VALUES (1, 1, 'Crashes'), (2, 1, 'Deleted');
INSERT INTO report_items (id, report_id, position, label, kind) VALUES (1, 1, 1, 'V', 'number'), (2, 2, 1, 'V', 'number');
INSERT INTO records (report_id, recorded_at, recorded_by, `values`) VALUES
  (1, '2026-10-05 10:00:00', 'x', '{"1": 1}'), (2, '2026-10-05 10:00:00', 'x', '{"2": 2}');
SQL
export SHEETQ_MAX_ATTEMPTS=1 SHEETQ_LEDGER_CHECK_INTERVAL=1 SHEETQ_AUTO_RERUN_DELAY=1
sq enqueue --period 2026-10 >/dev/null
sql "$T_DB" -e "DELETE FROM reports WHERE id = 2"
count() { sql "$T_DB" -e "SELECT COUNT(*) FROM sheetq_jobs WHERE $1"; }
wait_for() { # wait_for CONDITION: up to 15 s
  for ((i = 0; i < 150; i++)); do
    [[ $(count "$1") != 0 ]] && return 0
    sleep 0.1
  done
  return 1
}

# Report 1 crashes (temporary) on every try while the fault is set; the
# worker re-runs it automatically once, and the clone crashes too.
SHEETQ_TEST_FAULT='crash:report=1' "$SHEETQ_BIN" worker 2>"$T_DIR/w1.log" &
w=$!
wait_for "auto_rerun = 1 AND state = 'failed'" || fail "no automatic re-run that failed"
sleep 3 # a few more ledger checks: nothing more may be cloned
kill -TERM $w
wait $w || fail "worker exited $?"
assert_eq 1 "$(count "report_id = 1 AND auto_rerun = 1")" "automatic clones of report 1"
assert_eq 2 "$(count "report_id = 1")" "jobs of report 1 (original and one clone)"
assert_eq 1 "$(count "report_id = 2")" "jobs of the deleted report (never re-run)"

# Once the cause is gone, an explicit rerun of the clone succeeds.
clone=$(sql "$T_DB" -e "SELECT id FROM sheetq_jobs WHERE report_id = 1 AND auto_rerun = 1")
sq rerun "$clone" >/dev/null
sq worker --burst 2>"$T_DIR/w2.log" || fail "worker: $(tail -3 "$T_DIR/w2.log")"
assert_eq 1 "$(count "report_id = 1 AND state = 'succeeded'")" "report 1 after the manual rerun"
echo "ok: automatic re-run once, for temporary failures only"
