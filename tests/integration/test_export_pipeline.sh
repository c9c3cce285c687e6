#!/usr/bin/env bash
# The export's reader thread and writer (exporter/export_job.c): a report of
# many batches arrives whole and in order, with messy values prepared on the
# reader's side; a write failure in the middle stops the reader instead of
# leaving it blocked, and the job fails with the cause. A small report's
# first attempt renders in memory_tmpdir (exporter/scratch.c); a retry, a
# large report and an unusable directory render on disk.
source "$(dirname "$0")/lib.sh"

load_schema
sql "$T_DB" <<'SQL'
-- Legacy text, as in test_bad_input.sh: a record may hold text that is not JSON.
ALTER TABLE records MODIFY `values` LONGTEXT NOT NULL;
INSERT INTO tenants (id, name) VALUES (1, 'T');
INSERT INTO reports (id, tenant_id, name) VALUES (1, 1, 'Many batches');
INSERT INTO report_items (id, report_id, position, label, kind) VALUES
  (11, 1, 1, 'N', 'number'), (12, 1, 2, 'T', 'text'), (13, 1, 3, 'D', 'datetime'),
  (14, 1, 4, 'B', 'boolean'), (15, 1, 5, 'C', 'choice');
INSERT INTO records (report_id, recorded_at, recorded_by, `values`)
  SELECT 1, '2026-10-01' + INTERVAL seq * 97 SECOND, CONCAT('inspector ', seq % 13),
    CASE seq % 50
      WHEN 0 THEN 'not json'
      WHEN 1 THEN '{"11": "12.5", "99": 1, "12": "tab\\there \\u0001 ctl"}'
      ELSE JSON_OBJECT('11', seq * 0.5, '12', REPEAT('text ', 1 + seq % 7),
                       '13', '2026-10-05T10:00:00', '14', seq % 2 = 0, '15', 'pass')
    END
  FROM seq_1_to_20000;
SQL

# --- 1. 20,000 rows: many batches, in order, every cell as the database says
out=$(sq enqueue --period 2026-10)
batch=$(batch_of "$out")
sq worker --burst 2>"$T_DIR/w.log" || fail "worker: $(tail -3 "$T_DIR/w.log")"
assert_eq succeeded "$(sql "$T_DB" -e "SELECT state FROM sheetq_jobs")" "the job"
$PY "$TESTS_DIR/integration/check_exports.py" --mysql-url "$SHEETQ_MYSQL_URL" \
  --root "$T_OUT" --batch "$batch" --expect-jobs 1 || fail "the export differs from the database"
grep -q "400 record(s) with values that are not JSON, 400 value(s) for unknown items" "$T_DIR/w.log" ||
  fail "messy-value counts not logged: $(grep -i 'not JSON' "$T_DIR/w.log")"

# --- 2. the sheet's temp file cannot grow: the writer fails mid-stream ------
# A file size limit with SIGXFSZ ignored turns writes past 64 KB into EFBIG.
set +e
(trap '' XFSZ && ulimit -f 64 && exec timeout 120 "$SHEETQ_BIN" run-job --tenant 1 --report 1 \
  --period 2026-10 --tmpdir "$T_DIR") >"$T_DIR/run.out" 2>"$T_DIR/run.err"
status=$?
set -e
((status != 124)) || fail "run-job hung after the write failure"
((status != 0)) || fail "run-job succeeded with its writes failing"
grep -q "writing worksheet temp file\|File too large" "$T_DIR/run.err" ||
  fail "the cause is not reported: $(cat "$T_DIR/run.err")"
# --- 3. where libxlsxwriter's temporary files go (exporter/scratch.c) ------
sql "$T_DB" <<'SQL'
INSERT INTO reports (id, tenant_id, name) VALUES (2, 1, 'Small');
INSERT INTO report_items (id, report_id, position, label, kind) VALUES
  (21, 2, 1, 'N', 'number'), (22, 2, 2, 'T', 'text');
INSERT INTO records (report_id, recorded_at, recorded_by, `values`)
  SELECT 2, '2026-10-02' + INTERVAL seq HOUR, 'me', JSON_OBJECT('21', seq, '22', CONCAT('row ', seq))
  FROM seq_1_to_300;
SQL
mkdir -p "$T_DIR/mem"
render_dir() { # render_dir REPORT ATTEMPT MEMORY_TMPDIR: where run-job rendered
  SHEETQ_LOG_LEVEL=debug SHEETQ_MEMORY_TMPDIR=$3 sq run-job --tenant 1 --report "$1" \
    --period 2026-10 --attempt "$2" 2>"$T_DIR/scratch.log" >/dev/null ||
    fail "run-job --report $1 failed: $(tail -3 "$T_DIR/scratch.log")"
  sed -n 's/.*rendering in \(.*\)$/\1/p' "$T_DIR/scratch.log"
}
disk="$T_OUT/.sheetq-tmp"
assert_eq "$T_DIR/mem (memory)" "$(render_dir 2 1 "$T_DIR/mem")" "small report, first attempt"
assert_eq "$disk (disk)" "$(render_dir 2 2 "$T_DIR/mem")" "small report, a retry"
assert_eq "$disk (disk)" "$(render_dir 1 1 "$T_DIR/mem")" "20,000 rows x 7 columns (> 16 MB estimated)"
assert_eq "$disk (disk)" "$(render_dir 2 1 "$T_DIR/no-such-dir")" "memory_tmpdir missing"
assert_eq "$disk (disk)" "$(render_dir 2 1 none)" "memory_tmpdir none"
# The memory-rendered file, as a worker exports it, read back against the DB.
out=$(SHEETQ_MEMORY_TMPDIR="$T_DIR/mem" sq enqueue --period 2026-10 --report 2)
batch=$(batch_of "$out")
SHEETQ_MEMORY_TMPDIR="$T_DIR/mem" sq worker --burst 2>"$T_DIR/w2.log" ||
  fail "worker: $(tail -3 "$T_DIR/w2.log")"
$PY "$TESTS_DIR/integration/check_exports.py" --mysql-url "$SHEETQ_MYSQL_URL" \
  --root "$T_OUT" --batch "$batch" --expect-jobs 1 || fail "the memory-rendered export differs"
assert_eq 0 "$(find "$T_DIR/mem" -type f | wc -l)" "files left in memory_tmpdir"
echo "ok: 20,000 rows in order across batches; a mid-stream write failure ends the job;"
echo "ok: small first attempts render in memory, the rest on disk"
