#!/usr/bin/env bash
# sheetq cancel of a job that waits for its retry (in Redis's delayed set
# after a failed attempt): it never runs again, the ledger says cancelled,
# nothing is stored. A second job, failed the same way and not cancelled, is
# retried by the same worker: proof that the retry time was reached and the
# worker was looking.
source "$(dirname "$0")/lib.sh"

load_schema
sql "$T_DB" <<'SQL'
INSERT INTO tenants (id, name) VALUES (1, 'T');
INSERT INTO reports (id, tenant_id, name) VALUES (1, 1, 'Cancelled'), (2, 1, 'Retried');
INSERT INTO report_items (id, report_id, position, label, kind) VALUES
  (1, 1, 1, 'V', 'number'), (2, 2, 1, 'V', 'number');
INSERT INTO records (report_id, recorded_at, recorded_by, `values`) VALUES
  (1, '2026-10-05 10:00:00', 'x', '{"1": 1}'), (2, '2026-10-05 10:00:00', 'x', '{"2": 2}');
SQL
p="sheetq:{$T_QUEUE}:"
sq enqueue --period 2026-10 >/dev/null
job_of() { sql "$T_DB" -e "SELECT id FROM sheetq_jobs WHERE report_id = $1"; }
j1=$(job_of 1) j2=$(job_of 2)
attempts_of() { sql "$T_DB" -e "SELECT COUNT(*) FROM sheetq_attempts WHERE job_id = '$1'"; }
both_delayed() {
  [[ $(redis HGET "${p}job:$j1" state) == delayed && $(redis HGET "${p}job:$j2" state) == delayed ]]
}

# Every first attempt crashes (a temporary error); the retry waits 4-8 s.
# The worker stays up: the cancel happens under a live worker, as in
# production.
SHEETQ_RETRY_BACKOFF=8 SHEETQ_TEST_FAULT='crash:report=*' \
  "$SHEETQ_BIN" worker 2>"$T_DIR/w1.log" &
w1=$!
wait_until "both jobs to wait for their retry" both_delayed
kill -TERM $w1
wait $w1 || fail "worker 1 exited $?: $(tail -3 "$T_DIR/w1.log")"
assert_eq runnable "$(sql "$T_DB" -e "SELECT state FROM sheetq_jobs WHERE id = '$j1'")" \
  "ledger state while waiting to retry"
due=$(redis ZSCORE "${p}delayed" "$j1")
[[ -n $due ]] || fail "job 1 is not in the delayed set"

assert_contains "$(sq cancel "$j1")" "cancelled job $j1" "cancel of a delayed job"
assert_eq cancelled "$(redis HGET "${p}job:$j1" state)" "redis state after cancel"
[[ -z $(redis ZSCORE "${p}delayed" "$j1") ]] || fail "the cancelled job is still in the delayed set"

# A worker without the fault: job 2 is retried and succeeds; job 1 must not
# run, not even after its retry time has passed.
"$SHEETQ_BIN" worker 2>"$T_DIR/w2.log" &
w2=$!
j2_done() { [[ $(sql "$T_DB" -e "SELECT state FROM sheetq_jobs WHERE id = '$j2'") == succeeded ]]; }
wait_until "job 2 to be retried" j2_done
past_due() {
  local t
  t=$(redis TIME | tr '\n' ' ')
  read -r s us <<<"$t"
  ((s * 1000 + us / 1000 > ${due%.*} + 3000)) # a few reaper ticks (500 ms) past
}
wait_until "job 1's retry time to pass" past_due
kill -TERM $w2
wait $w2 || fail "worker 2 exited $?: $(tail -3 "$T_DIR/w2.log")"

assert_eq "cancelled|cancelled" \
  "$(sql "$T_DB" -e "SELECT CONCAT(state, '|', last_error_code) FROM sheetq_jobs WHERE id = '$j1'")" \
  "ledger of the cancelled job"
assert_eq 1 "$(attempts_of "$j1")" "attempts of the cancelled job (only the crash)"
assert_eq 2 "$(attempts_of "$j2")" "attempts of the retried job"
assert_eq cancelled "$(redis HGET "${p}job:$j1" state)" "redis state at the end"
for k in "${p}ready:1" "${p}urgent"; do
  [[ -z $(redis LPOS "$k" "$j1") ]] || fail "the cancelled job is listed in $k"
done
[[ -z $(redis ZSCORE "${p}active" "$j1") ]] || fail "the cancelled job is active"
assert_eq 0 "$(redis GET "${p}nready")" "ready count"
if grep -q "$j1.*started" "$T_DIR/w2.log"; then fail "worker 2 started the cancelled job"; fi
[[ ! -e $T_OUT/1/1/2026-10.xlsx ]] || fail "the cancelled job stored a file"
[[ -f $T_OUT/1/2/2026-10.xlsx ]] || fail "the retried job stored no file"
left=$(find "$T_OUT" "$T_MEM" -name '*.tmp*' | wc -l)
assert_eq 0 "$left" "temporary files left"
echo "ok: a job cancelled while waiting to retry never runs again"
