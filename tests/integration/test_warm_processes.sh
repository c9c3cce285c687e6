#!/usr/bin/env bash
# Warm job processes (queue/job_process.h): a worker keeps its job process
# between jobs, replaces one that crashed or was killed while idle, and the
# process speaks a line protocol that rejects a malformed request without
# dying; a gated request stores nothing before its "go" line, and a job the
# ledger refuses is withdrawn without a file.
source "$(dirname "$0")/lib.sh"

load_schema
sql "$T_DB" <<'SQL'
INSERT INTO tenants (id, name) VALUES (1, 'T');
INSERT INTO reports (id, tenant_id, name) SELECT seq, 1, CONCAT('R', seq) FROM seq_1_to_11;
INSERT INTO report_items (id, report_id, position, label, kind) SELECT seq, seq, 1, 'V', 'number' FROM seq_1_to_11;
INSERT INTO records (report_id, recorded_at, recorded_by, `values`)
  SELECT seq, '2026-10-05 10:00:00', 'x', CONCAT('{"', seq, '": ', seq, '}') FROM seq_1_to_11;
SQL
pids() { # pids LOG -> the job process pid of each started attempt, in order
  sed -n 's/.*started: tenant [0-9]* report \([0-9]*\) .*(pid \([0-9]*\)).*/\1 \2/p' "$1"
}

# --- 1. the protocol, by hand ---------------------------------------------
# Leftovers of killed job processes in the scratch directory: the stale one
# goes when a job process starts, the recent one (a job may be running) stays.
mkdir -p "$T_OUT/.sheetq-tmp"
touch -d '3 hours ago' "$T_OUT/.sheetq-tmp/j00000000000000000000dead.4242.xlsx.tmp"
touch "$T_OUT/.sheetq-tmp/j00000000000000000000beef.4343.xlsx.tmp"
out=$(printf '%s\n' \
  '{"job_id":"j00000000000000000000001","tenant":"1","report":"1","period":"2026-10","attempt":1}' \
  'not json' \
  '{"job_id":"j00000000000000000000002","tenant":"1","report":"99","period":"2026-10","attempt":1}' \
  '{"job_id":"j00000000000000000000003","tenant":"1","report":"2","period":"2026-13","attempt":1}' \
  '{"job_id":"j00000000000000000000004","tenant":"1","report":"2","period":"2026-10","attempt":1}' \
  '{"job_id":"not-an-id","gate":true}' go \
  '{"job_id":"j00000000000000000000005","tenant":"1","report":"3","period":"2026-10","attempt":1}' |
  "$SHEETQ_BIN" run-job --serve 2>"$T_DIR/serve.log") || fail "run-job --serve exited $?"
mapfile -t lines <<<"$out"
assert_eq 7 "${#lines[@]}" "result lines for 7 requests (one gated): $out"
assert_eq '{"ok":true,"key":"1/1/2026-10.xlsx","rows":1}' "${lines[0]}" "first request"
assert_contains "${lines[1]}" '"code":"bad_job"' "a line that is not JSON"
assert_contains "${lines[2]}" '"code":"not_found"' "an unknown report"
assert_contains "${lines[3]}" '"code":"bad_job"' "an invalid period"
assert_eq '{"ok":true,"key":"1/2/2026-10.xlsx","rows":1}' "${lines[4]}" "the request after the bad ones"
assert_contains "${lines[5]}" '"code":"bad_job"' "a malformed gated request"
assert_eq '{"ok":true,"key":"1/3/2026-10.xlsx","rows":1}' "${lines[6]}" \
  "the request after a malformed gated one (its gate line was not taken for a request)"
[[ -f $T_OUT/1/2/2026-10.xlsx ]] || fail "no file for the last request"
[[ ! -e $T_OUT/.sheetq-tmp/j00000000000000000000dead.4242.xlsx.tmp ]] || fail "stale scratch file kept"
[[ -e $T_OUT/.sheetq-tmp/j00000000000000000000beef.4343.xlsx.tmp ]] || fail "recent scratch file removed"
rm -rf "$T_OUT"

# A report whose records remain after it was deleted: the job fails before
# its columns are known, the reader (waiting at its first row) is cut off
# rather than read to the end, and its dropped connection is opened again
# for the next request of the same process.
sql "$T_DB" -e "INSERT INTO records (report_id, recorded_at, recorded_by, \`values\`)
  SELECT 50, '2026-10-05 10:00:00' + INTERVAL seq SECOND, 'x', '{}' FROM seq_1_to_2000"
out=$(printf '%s\n' \
  '{"job_id":"j00000000000000000000050","tenant":"1","report":"50","period":"2026-10","attempt":1}' \
  '{"job_id":"j00000000000000000000051","tenant":"1","report":"1","period":"2026-10","attempt":1}' |
  SHEETQ_LOG_LEVEL=debug "$SHEETQ_BIN" run-job --serve 2>"$T_DIR/serve_cut.log") || fail "run-job --serve exited $?"
mapfile -t lines <<<"$out"
assert_contains "${lines[0]}" '"code":"not_found"' "a deleted report with records"
assert_eq '{"ok":true,"key":"1/1/2026-10.xlsx","rows":1}' "${lines[1]}" "the request after a cut-off reader"
grep -q "report 50: stopped the records' query" "$T_DIR/serve_cut.log" ||
  fail "the reader was not cut off: $(tail -3 "$T_DIR/serve_cut.log")"
rm -rf "$T_OUT"

# --- 1b. gated requests: nothing is stored before "go" ---------------------
# Each gated request is followed by one gate line, read before its result
# even when the job failed first, so the two kinds of line stay in step.
gated() { # gated ID REPORT: a gated request line
  printf '{"job_id":"j%023d","tenant":"1","report":"%d","period":"2026-10","attempt":1,"gate":true}' "$1" "$2"
}
out=$(printf '%s\n' "$(gated 11 3)" abort "$(gated 12 99)" go "$(gated 13 4)" go "$(gated 14 5)" |
  "$SHEETQ_BIN" run-job --serve 2>"$T_DIR/serve2.log") || fail "run-job --serve exited $?"
mapfile -t lines <<<"$out"
assert_eq 4 "${#lines[@]}" "result lines for 4 gated requests: $out"
assert_contains "${lines[0]}" '"code":"cancelled"' "an aborted request"
assert_contains "${lines[1]}" '"code":"not_found"' "a gated request that fails before its gate"
assert_eq '{"ok":true,"key":"1/4/2026-10.xlsx","rows":1}' "${lines[2]}" "go, after a failed gated request"
assert_contains "${lines[3]}" '"code":"cancelled"' "end of input at the gate"
[[ ! -e $T_OUT/1/3/2026-10.xlsx ]] || fail "an aborted job stored its file"
[[ ! -e $T_OUT/1/5/2026-10.xlsx ]] || fail "a job whose worker went away stored its file"
[[ -z $(find "$T_OUT/.sheetq-tmp" "$SHEETQ_MEMORY_TMPDIR" -type f 2>/dev/null) ]] ||
  fail "withdrawn files left in scratch: $(find "$T_OUT/.sheetq-tmp" "$SHEETQ_MEMORY_TMPDIR" -type f)"
rm -rf "$T_OUT"

# --- 2. one process serves a worker's jobs; a crash replaces it -----------
SHEETQ_MAX_ATTEMPTS=1 sq enqueue --period 2026-10 --report 1 --report 2 --report 3 >/dev/null
SHEETQ_TEST_FAULT='crash:report=2' "$SHEETQ_BIN" worker --burst \
  --concurrency 1 2>"$T_DIR/w1.log" || fail "worker: $(tail -3 "$T_DIR/w1.log")"
mapfile -t started < <(pids "$T_DIR/w1.log")
assert_eq 3 "${#started[@]}" "attempts started: ${started[*]}"
declare -A pid_of
for s in "${started[@]}"; do pid_of[${s% *}]=${s#* }; done
state() { sql "$T_DB" -e "SELECT state FROM sheetq_jobs WHERE report_id = $1"; }
assert_eq failed "$(state 2)" "the crashing job"
assert_eq succeeded "$(state 1)" "job 1"
assert_eq succeeded "$(state 3)" "job 3, after the crash"
# Claims are ordered by report within the tenant; whichever ran before the
# crash shares no process with whichever ran after it.
first=${started[0]% *} last=${started[2]% *}
[[ $first != 2 && $last != 2 ]] || fail "unexpected order: ${started[*]}"
[[ ${pid_of[$first]} != "${pid_of[$last]}" ]] || fail "the crashed process was reused: ${started[*]}"
assert_eq "${pid_of[2]}" "${pid_of[$first]}" "the process that ran the first job ran the crashing one"

# --- 3. jobs in a row share one process; killing it while idle is survived -
SHEETQ_LEDGER_CHECK_INTERVAL=3600 "$SHEETQ_BIN" worker --concurrency 1 2>"$T_DIR/w2.log" &
w=$!
# Then lib.sh's cleanup, which reads the test's exit status from $?.
trap 'rc=$?; kill $w 2>/dev/null; wait $w 2>/dev/null; (exit $rc); cleanup' EXIT
wait_state() { # wait_state REPORT STATE: up to 20 s
  for ((i = 0; i < 200; i++)); do
    [[ $(state "$1") == "$2" ]] && return 0
    sleep 0.1
  done
  fail "report $1 did not reach $2 (is $(state "$1"))"
}
sq enqueue --period 2026-10 --report 4 >/dev/null
wait_state 4 succeeded
sq enqueue --period 2026-10 --report 5 >/dev/null
wait_state 5 succeeded
mapfile -t started < <(pids "$T_DIR/w2.log")
assert_eq 2 "${#started[@]}" "attempts started: ${started[*]}"
warm=${started[0]#* }
assert_eq "$warm" "${started[1]#* }" "both jobs' process"
kill -0 "$warm" 2>/dev/null || fail "the warm process $warm is not running between jobs"
# It holds none of its worker's connections: hiredis and Connector/C open
# their sockets without close-on-exec, and a job process closes what it
# inherits at its start. ss lists every process that holds a socket, so an
# inherited one would name both. (First: ss does see the worker's own.)
redis_socks=$(ss -tnpH state established "( dport = :${T_REDIS[4]} )")
db_socks=$(ss -tnpH state established "( dport = :$T_MYSQL_PORT )")
[[ $redis_socks == *"pid=$w,"* && $db_socks == *"pid=$w,"* ]] ||
  fail "ss shows no connection of worker $w: $redis_socks / $db_socks"
assert_eq 0 "$(grep -c "pid=$warm," <<<"$redis_socks" || true)" \
  "worker's Redis connections held by job process $warm"
assert_eq 0 "$(grep "pid=$warm," <<<"$db_socks" | grep -c "pid=$w," || true)" \
  "worker's MariaDB connections shared with job process $warm"
kill -KILL "$warm"
sq enqueue --period 2026-10 --report 6 >/dev/null
wait_state 6 succeeded
kill -TERM $w
wait $w || fail "worker exited $? on SIGTERM"
trap cleanup EXIT
grep -q "idle job process $warm ended" "$T_DIR/w2.log" || fail "the idle process's death was not logged"
# No job process outlives its worker.
for s in $(pids "$T_DIR/w2.log" | cut -d' ' -f2); do
  ! kill -0 "$s" 2>/dev/null || fail "job process $s still runs after its worker stopped"
done
# --- 4. a job the ledger refuses is withdrawn: its process stores nothing ----
# (a cancel whose Redis half was lost: the ledger says cancelled, Redis still
# offers the job). The process got the request before the ledger answered.
sq enqueue --period 2026-10 --report 7 >/dev/null
sql "$T_DB" -e "UPDATE sheetq_jobs SET state = 'cancelled' WHERE report_id = 7"
SHEETQ_LOG_LEVEL=debug "$SHEETQ_BIN" worker --burst --concurrency 1 2>"$T_DIR/w3.log" ||
  fail "worker: $(tail -3 "$T_DIR/w3.log")"
grep -q "not run: job .* is already cancelled" "$T_DIR/w3.log" ||
  fail "the refusal was not logged: $(grep -v DEBUG "$T_DIR/w3.log" | tail -3)"
grep -q "withdrawn before storing anything" "$T_DIR/w3.log" || fail "the job was not withdrawn"
[[ ! -e $T_OUT/1/7/2026-10.xlsx ]] || fail "a job the ledger refused stored its file"
assert_eq cancelled "$(state 7)" "the refused job's ledger state"
assert_eq 0 "$(sql "$T_DB" -e "SELECT COUNT(*) FROM sheetq_attempts a JOIN sheetq_jobs j ON j.id = a.job_id WHERE j.report_id = 7")" \
  "attempts recorded for the refused job"

# --- 5. ledger rounds: a success is written with the next job's start ------
# One slot, four jobs waiting: each result frees the slot, the round claims
# the next job and writes the finished job's success and the new start in one
# transaction; the last success goes alone (nothing left to claim).
sq enqueue --period 2026-10 --report 8 --report 9 --report 10 --report 11 >/dev/null
SHEETQ_LOG_LEVEL=debug "$SHEETQ_BIN" worker --burst --concurrency 1 2>"$T_DIR/w4.log" ||
  fail "worker: $(tail -3 "$T_DIR/w4.log")"
rounds=$(sed -n 's/.*ledger round: \([0-9]*\) success(es), \([0-9]*\) start(s).*/\1+\2/p' "$T_DIR/w4.log" | paste -sd' ')
assert_eq "0+1 1+1 1+1 1+1 1+0" "$rounds" "ledger rounds (successes+starts)"
assert_eq 4 "$(sql "$T_DB" -e "SELECT COUNT(*) FROM sheetq_jobs j JOIN sheetq_attempts a ON a.job_id = j.id AND a.outcome = 'succeeded' WHERE j.report_id BETWEEN 8 AND 11 AND j.state = 'succeeded'")" \
  "jobs and attempts recorded as succeeded"
for r in 8 9 10 11; do [[ -s $T_OUT/1/$r/2026-10.xlsx ]] || fail "report $r: no file"; done
assert_eq 0 "$(redis HLEN "sheetq:{$T_QUEUE}:holds")" "capacity still held in redis"
# --- 6. a worker that cannot start job processes gives its jobs back -------
# Its binary removed under it (an upgrade): the job goes back unrun, its
# attempt not spent, and the worker backs off instead of failing every job it
# claims. A sound worker then runs it as its first attempt.
cp "$SHEETQ_BIN" "$T_DIR/sheetq-old"
sql "$T_DB" -e "INSERT INTO records (report_id, recorded_at, recorded_by, \`values\`)
  VALUES (1, '2026-11-05 10:00:00', 'x', '{\"1\": 5}')"
"$T_DIR/sheetq-old" worker --concurrency 1 2>"$T_DIR/w5.log" &
w5=$!
for ((i = 0; i < 100; i++)); do grep -q "worker .* started" "$T_DIR/w5.log" && break; sleep 0.1; done
rm "$T_DIR/sheetq-old"
sq enqueue --period 2026-11 --report 1 >/dev/null
for ((i = 0; i < 100; i++)); do grep -q "cannot start a job process" "$T_DIR/w5.log" && break; sleep 0.1; done
kill $w5
wait $w5 || fail "the worker without its binary exited $?: $(tail -3 "$T_DIR/w5.log")"
grep -q "cannot start a job process" "$T_DIR/w5.log" ||
  fail "the failed spawn was not reported: $(tail -3 "$T_DIR/w5.log")"
j=$(sql "$T_DB" -e "SELECT id FROM sheetq_jobs WHERE report_id = 1 AND period = '2026-11'")
assert_eq "runnable 0" "$(sql "$T_DB" -e "SELECT state, attempts FROM sheetq_jobs WHERE id = '$j'" | tr '\t' ' ')" \
  "the job after a worker that could not start it"
assert_eq "queued 0" "$(redis HMGET "sheetq:{$T_QUEUE}:job:$j" state attempts | paste -sd' ')" \
  "the job in redis after a worker that could not start it"
"$SHEETQ_BIN" worker --burst --concurrency 1 2>"$T_DIR/w6.log" || fail "worker: $(tail -3 "$T_DIR/w6.log")"
assert_eq "succeeded 1" "$(sql "$T_DB" -e "SELECT state, attempts FROM sheetq_jobs WHERE id = '$j'" | tr '\t' ' ')" \
  "the job run by a sound worker"
echo "ok: line protocol, gated requests, warm reuse, crash and idle-kill replacement, withdrawal, ledger rounds, a worker that cannot spawn"
