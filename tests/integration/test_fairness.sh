#!/usr/bin/env bash
# Fairness and priority. Tenant A's 100 jobs are enqueued first, tenant B's 5
# after: with one job at a time, B's jobs all start before A's 20th (claims
# go round-robin by tenant). Then an on-demand export (--priority high)
# enqueued behind a full batch starts first. Claim order is read from the
# ledger's lease tokens, which increase with every claim.
source "$(dirname "$0")/lib.sh"

load_schema
sql "$T_DB" <<'SQL'
INSERT INTO tenants (id, name) VALUES (1, 'A'), (2, 'B');
INSERT INTO reports (id, tenant_id, name)
  SELECT seq, IF(seq <= 100, 1, 2), CONCAT('Report ', seq) FROM seq_1_to_105;
INSERT INTO report_items (id, report_id, position, label, kind)
  SELECT seq, seq, 1, 'Value', 'number' FROM seq_1_to_105;
INSERT INTO records (report_id, recorded_at, recorded_by, `values`)
  SELECT seq, m, 'x', JSON_OBJECT(CAST(seq AS CHAR), seq)
  FROM seq_1_to_105 JOIN (SELECT '2026-10-05 10:00:00' m UNION SELECT '2026-11-05 10:00:00') p;
SQL
# One job at a time in the whole cluster.
export SHEETQ_MAX_VCPUS=2 SHEETQ_JOB_VCPUS=2

assert_contains "$(sq enqueue --period 2026-10 --tenant 1)" "100 new job(s)" "tenant A"
assert_contains "$(sq enqueue --period 2026-10 --tenant 2)" "5 new job(s)" "tenant B"
sq worker --burst --vcpus 2 2>"$T_DIR/w1.log" || fail "worker: $(tail -3 "$T_DIR/w1.log")"

# Position (1-based, in claim order) of each job's first claim.
order=$(sql "$T_DB" -e "SELECT j.tenant_id FROM sheetq_jobs j JOIN sheetq_attempts a
  ON a.job_id = j.id WHERE j.period = '2026-10' ORDER BY a.lease_token")
last_b=$(awk '$1 == 2 { last = NR } END { print last }' <<<"$order")
a20=$(awk '$1 == 1 && ++n == 20 { print NR; exit }' <<<"$order")
echo "tenant B's last job started at claim $last_b; tenant A's 20th at claim $a20"
((last_b < a20)) || fail "tenant B waited behind tenant A's batch"
assert_eq 105 "$(wc -l <<<"$order")" "claims"

# Priority: a full batch for November, then one urgent export of report 50.
assert_contains "$(sq enqueue --period 2026-11 --tenant 1)" "100 new job(s)" "November batch"
assert_contains "$(sq enqueue --period 2026-11 --report 101 --priority high)" "1 new job(s)" "urgent"
sq worker --burst --vcpus 2 2>"$T_DIR/w2.log" || fail "worker: $(tail -3 "$T_DIR/w2.log")"
first=$(sql "$T_DB" -e "SELECT j.report_id FROM sheetq_jobs j JOIN sheetq_attempts a
  ON a.job_id = j.id WHERE j.period = '2026-11' ORDER BY a.lease_token LIMIT 1")
assert_eq 101 "$first" "first job claimed after the urgent enqueue"
echo "ok: round-robin by tenant, urgent first"
