#!/usr/bin/env bash
# A report with 1,000,000 records in the month exports with flat memory:
# the peak resident memory of the job process at 1,000,000 records is
# within a few MB of that at 100,000 (libxlsxwriter constant-memory mode,
# rows streamed from MariaDB), and under 64 MB in absolute terms.
source "$(dirname "$0")/lib.sh"

load_schema
sql "$T_DB" <<'SQL'
SET SESSION max_recursive_iterations = 2000000;
INSERT INTO tenants (id, name) VALUES (1, 'Big tenant');
INSERT INTO reports (id, tenant_id, name) VALUES (1, 1, 'Small'), (2, 1, 'Large');
INSERT INTO report_items (id, report_id, position, label, kind, unit)
SELECT r.id * 100 + n, r.id, n, CONCAT('Item ', n),
       ELT(1 + n % 5, 'text', 'number', 'datetime', 'boolean', 'choice'),
       IF(n % 5 = 1, 'kg', NULL)
FROM reports r JOIN (SELECT 1 n UNION SELECT 2 UNION SELECT 3 UNION SELECT 4
  UNION SELECT 5 UNION SELECT 6 UNION SELECT 7 UNION SELECT 8 UNION SELECT 9
  UNION SELECT 10) k;
INSERT INTO records (report_id, recorded_at, recorded_by, `values`)
WITH RECURSIVE seq (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < 1100000)
SELECT IF(i <= 100000, 1, 2), '2026-10-01' + INTERVAL (i % 2592000) SECOND, CONCAT('user', i % 97),
  JSON_OBJECT(CONCAT(IF(i <= 100000, 1, 2) * 100 + 1), i * 0.5,
              CONCAT(IF(i <= 100000, 1, 2) * 100 + 2), '2026-10-05T10:00:00',
              CONCAT(IF(i <= 100000, 1, 2) * 100 + 3), i % 2 = 0,
              CONCAT(IF(i <= 100000, 1, 2) * 100 + 5), CONCAT('text value ', i),
              CONCAT(IF(i <= 100000, 1, 2) * 100 + 6), i)
FROM seq;
SQL
count=$(sql "$T_DB" -e "SELECT COUNT(*) FROM records WHERE report_id = 2")
assert_eq 1000000 "$count" "records loaded"

rss() { # rss REPORT -> peak KB of the job process
  /usr/bin/time -f '%M' -o "$T_DIR/time.$1" "$SHEETQ_BIN" run-job --tenant 1 \
    --report "$1" --period 2026-10 >"$T_DIR/run.$1" 2>&1 || fail "run-job $1: $(cat "$T_DIR/run.$1")"
  tail -1 "$T_DIR/time.$1"
}
small=$(rss 1)
large=$(rss 2)
echo "peak RSS: 100,000 records ${small} KB; 1,000,000 records ${large} KB"
((large < 32768)) || fail "peak RSS ${large} KB at 1,000,000 records exceeds 32 MB (issue 7's bound)"
((large < small + 8192)) || fail "memory grows with rows: ${small} KB -> ${large} KB"

# The file holds every row (counted by an independent reader, read-only mode).
rows=$($PY - "$T_OUT/1/2/2026-10.xlsx" <<'PY'
import sys, openpyxl
wb = openpyxl.load_workbook(sys.argv[1], read_only=True)
n = 0
for ws in wb.worksheets:
    for row in ws.iter_rows(min_col=1, max_col=1, values_only=True):
        if isinstance(row[0], __import__('datetime').datetime):
            n += 1
print(n)
PY
)
assert_eq 1000000 "$rows" "data rows in the large file"
echo "ok: 1,000,000 records with flat memory"
