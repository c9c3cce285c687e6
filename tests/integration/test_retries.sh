#!/usr/bin/env bash
# Retries end to end (docs/failure-handling.md): a temporary error is retried
# up to max_attempts (3) with its backoff, a permanent one is not retried;
# retry_rules override an error's class (exact names and prefixes); a job
# that failed for good has its reason in the ledger and `sheetq rerun`
# clones it into a job that succeeds once the cause is gone.
source "$(dirname "$0")/lib.sh"

load_schema
sql "$T_DB" <<'SQL'
INSERT INTO tenants (id, name) VALUES (1, 'T');
INSERT INTO reports (id, tenant_id, name) VALUES (1, 1, 'Crashes'), (2, 1, 'Deleted');
INSERT INTO report_items (id, report_id, position, label, kind) VALUES
  (1, 1, 1, 'V', 'number'), (2, 2, 1, 'V', 'number');
INSERT INTO records (report_id, recorded_at, recorded_by, `values`) VALUES
  (1, '2026-10-05 10:00:00', 'x', '{"1": 1}'), (2, '2026-10-05 10:00:00', 'x', '{"2": 2}'),
  (1, '2026-11-05 10:00:00', 'x', '{"1": 3}'), (2, '2026-11-05 10:00:00', 'x', '{"2": 4}');
SQL
job_of() { sql "$T_DB" -e "SELECT id FROM sheetq_jobs WHERE report_id = $1 AND period = '$2' AND cloned_from IS NULL"; }
job_row() { sql "$T_DB" -e "SELECT CONCAT_WS('|', state, attempts, last_error_code) FROM sheetq_jobs WHERE id = '$1'"; }
attempt_rows() { # one line per attempt: number|outcome|error_code
  sql "$T_DB" -e "SELECT CONCAT_WS('|', attempt, outcome, error_code) FROM sheetq_attempts
    WHERE job_id = '$1' ORDER BY attempt" | tr '\n' ' '
}
sq enqueue --period 2026-10 >/dev/null
sql "$T_DB" -e "DELETE FROM reports WHERE id = 2"
a1=$(job_of 1 2026-10) a2=$(job_of 2 2026-10)

# 1. Default rules, retry_backoff 2 s: report 1's process crashes every time
# (temporary: 3 attempts); report 2 is gone (not_found, permanent: 1).
SHEETQ_RETRY_BACKOFF=2 SHEETQ_TEST_FAULT='crash:report=1' sq worker --burst 2>"$T_DIR/w1.log" ||
  fail "worker 1: $(tail -3 "$T_DIR/w1.log")"
assert_eq "failed|3|crashed" "$(job_row "$a1")" "crashing job (state|attempts|reason)"
assert_eq "1|failed|crashed 2|failed|crashed 3|failed|crashed " "$(attempt_rows "$a1")" \
  "attempts of the crashing job"
assert_contains "$(sql "$T_DB" -e "SELECT last_error FROM sheetq_jobs WHERE id = '$a1'")" \
  "signal 11" "reason of the crashing job"
assert_eq "failed|1|not_found" "$(job_row "$a2")" "job of a deleted report"
assert_eq "1|failed|not_found " "$(attempt_rows "$a2")" "attempts of the deleted report's job"
# The backoff: retry n waits retry_backoff * 2^(n-1), at least half of it
# (the rest is jitter). Lower bounds only: a slow machine only waits longer.
gaps=$(sql "$T_DB" -e "SELECT TIMESTAMPDIFF(MICROSECOND, p.finished_at, n.started_at) DIV 1000
  FROM sheetq_attempts p JOIN sheetq_attempts n ON n.job_id = p.job_id AND n.attempt = p.attempt + 1
  WHERE p.job_id = '$a1' ORDER BY p.attempt" | tr '\n' ' ')
read -r gap1 gap2 <<<"$gaps"
((gap1 >= 1000)) || fail "retry 1 came ${gap1} ms after the crash, before its backoff (1-2 s)"
((gap2 >= 2000)) || fail "retry 2 came ${gap2} ms after the crash, before its backoff (2-4 s)"
out=$(sq status --job "$a1")
assert_contains "$out" "crashed" "status --job of the failed job"
assert_contains "$out" "attempt 3" "status --job of the failed job"

# 2. retry_rules turn it around: a crash is final (by prefix), a missing
# report is retried until its attempts are used up.
sql "$T_DB" -e "INSERT INTO reports (id, tenant_id, name) VALUES (2, 1, 'Deleted')"
sq enqueue --period 2026-11 >/dev/null
sql "$T_DB" -e "DELETE FROM reports WHERE id = 2"
b1=$(job_of 1 2026-11) b2=$(job_of 2 2026-11)
SHEETQ_RETRY_RULES='crash*=fail,not_found=retry' SHEETQ_TEST_FAULT='crash:report=1' \
  sq worker --burst 2>"$T_DIR/w2.log" || fail "worker 2: $(tail -3 "$T_DIR/w2.log")"
assert_eq "failed|1|crashed" "$(job_row "$b1")" "crash with crash*=fail"
assert_eq "failed|3|not_found" "$(job_row "$b2")" "missing report with not_found=retry"
assert_eq "1|failed|not_found 2|failed|not_found 3|failed|not_found " "$(attempt_rows "$b2")" \
  "attempts with not_found=retry"
if SHEETQ_RETRY_RULES='crashed=maybe' sq worker --burst 2>"$T_DIR/bad.log"; then
  fail "a worker accepted a bad retry rule"
fi
assert_contains "$(cat "$T_DIR/bad.log")" "retry_rules" "error for a bad retry rule"

# 3. The causes are gone: rerun clones each failed job; the clones succeed
# with fresh attempts, linked to their originals, which stay failed.
sql "$T_DB" -e "INSERT INTO reports (id, tenant_id, name) VALUES (2, 1, 'Deleted')"
out=$(sq rerun "$a1")
[[ $out =~ queued\ job\ (j[0-9a-f]{23}) ]] || fail "rerun printed no new job id: $out"
c1=${BASH_REMATCH[1]}
out=$(sq rerun --report 2 --period 2026-11)
[[ $out =~ queued\ job\ (j[0-9a-f]{23}) ]] || fail "rerun --report printed no new job id: $out"
c2=${BASH_REMATCH[1]}
sq worker --burst 2>"$T_DIR/w3.log" || fail "worker 3: $(tail -3 "$T_DIR/w3.log")"
assert_eq "succeeded|1" "$(job_row "$c1")" "clone of the crashing job"
assert_eq "succeeded|1" "$(job_row "$c2")" "clone of the missing report's job"
assert_eq "$a1 $b2" "$(sql "$T_DB" -e "SELECT cloned_from FROM sheetq_jobs WHERE id IN ('$c1', '$c2')
  ORDER BY period" | tr '\n' ' ' | sed 's/ $//')" "cloned_from"
assert_eq "failed|3|crashed" "$(job_row "$a1")" "the original after its re-run"
[[ -f $T_OUT/1/1/2026-10.xlsx && -f $T_OUT/1/2/2026-11.xlsx ]] || fail "the clones stored no files"
[[ ! -e $T_OUT/1/2/2026-10.xlsx && ! -e $T_OUT/1/1/2026-11.xlsx ]] ||
  fail "a failed job that was not re-run stored a file"
echo "ok: retry rules, backoff, final failure and rerun"
