#!/usr/bin/env bash
# sheetq cancel, sheetq rerun (by job id and by report + period) and
# sheetq enqueue --repair after Redis lost the queue's data.
source "$(dirname "$0")/lib.sh"

load_schema
sql "$T_DB" <<'SQL'
INSERT INTO tenants (id, name) VALUES (1, 'Tenant');
INSERT INTO reports (id, tenant_id, name) VALUES (10, 1, 'Kept'), (11, 1, 'Deleted, then back'), (12, 1, 'Cancelled');
INSERT INTO report_items (id, report_id, position, label, kind) VALUES
  (100, 10, 1, 'T', 'number'), (110, 11, 1, 'T', 'number'), (120, 12, 1, 'T', 'number');
INSERT INTO records (report_id, recorded_at, recorded_by, `values`) VALUES
  (10, '2026-10-02 08:00:00', 'a', '{"100": 1}'), (11, '2026-10-02 08:00:00', 'b', '{"110": 2}'),
  (12, '2026-10-02 08:00:00', 'c', '{"120": 3}'), (10, '2026-11-02 08:00:00', 'd', '{"100": 4}'),
  (11, '2026-11-02 08:00:00', 'e', '{"110": 5}');
SQL
job_of() { sql "$T_DB" -e "SELECT id FROM sheetq_jobs WHERE report_id = $1 AND period = '$2' ORDER BY created_at DESC, id DESC LIMIT 1"; }
state_of() { sql "$T_DB" -e "SELECT state FROM sheetq_jobs WHERE id = '$1'"; }
p="sheetq:{$T_QUEUE}:"

out=$(sq enqueue --period 2026-10)
batch=$(batch_of "$out")
j10=$(job_of 10 2026-10) j11=$(job_of 11 2026-10) j12=$(job_of 12 2026-10)

# cancel: a queued job is cancelled in the ledger and removed from Redis.
assert_contains "$(sq cancel "$j12")" "cancelled job $j12" "cancel"
assert_eq cancelled "$(state_of "$j12")" "ledger state after cancel"
assert_eq cancelled "$(redis HGET "${p}job:$j12" state)" "redis state after cancel"
[[ -z $(redis LPOS "${p}ready:1" "$j12") ]] || fail "cancelled job still in the ready list"
assert_eq 2 "$(redis GET "${p}nready")" "ready count after cancel"
if sq cancel "$j12" 2>/dev/null; then fail "cancelling twice succeeded"; fi
if sq cancel not-a-job 2>/dev/null; then fail "cancel accepted a bad id"; fi

# Report 11 disappears: its job fails for good, at once.
sql "$T_DB" -e "DELETE FROM reports WHERE id = 11"
sq worker --burst 2>"$T_DIR/w1.log" || fail "worker: $(tail -3 "$T_DIR/w1.log")"
assert_eq succeeded "$(state_of "$j10")" "job 10"
assert_eq failed "$(state_of "$j11")" "job 11"
if out=$(sq cancel "$j10" 2>&1); then fail "cancelled a finished job"; fi
assert_contains "$out" "only a job that has not started" "cancel of a finished job"

# rerun JOB_ID once the cause is fixed: a clone with fresh attempts, linked to
# the original, exported; the batch now counts the clone, not the original.
sql "$T_DB" -e "INSERT INTO reports (id, tenant_id, name) VALUES (11, 1, 'Deleted, then back')"
out=$(sq rerun "$j11")
[[ $out =~ queued\ job\ (j[0-9a-f]{23}) ]] || fail "rerun printed no new job id: $out"
clone=${BASH_REMATCH[1]}
assert_eq "$j11" "$(sql "$T_DB" -e "SELECT cloned_from FROM sheetq_jobs WHERE id = '$clone'")" "cloned_from"
if sq rerun "$j11" 2>/dev/null; then fail "a second clone while the first is queued"; fi
sq worker --burst 2>"$T_DIR/w2.log" || fail "worker: $(tail -3 "$T_DIR/w2.log")"
assert_eq succeeded "$(state_of "$clone")" "the clone"
assert_eq failed "$(state_of "$j11")" "the original stays failed"
[[ -f $T_OUT/1/11/2026-10.xlsx ]] || fail "the clone wrote no file"
json=$(sq status --batch "$batch" --json)
counts=$($PY -c 'import json,sys; s=json.load(sys.stdin); print(s["states"]["succeeded"], s["states"]["failed"], s["states"]["cancelled"], len(s["failures"]))' <<<"$json")
assert_eq "2 0 1 0" "$counts" "batch counts after the re-run (succeeded failed cancelled failures)"

# rerun --report --period re-exports a succeeded job; the file is replaced whole.
before=$(stat -c %i "$T_OUT/1/10/2026-10.xlsx")
out=$(sq rerun --report 10 --period 2026-10)
assert_contains "$out" "a clone of $j10" "rerun by report"
sq worker --burst 2>"$T_DIR/w3.log" || fail "worker: $(tail -3 "$T_DIR/w3.log")"
[[ $(stat -c %i "$T_OUT/1/10/2026-10.xlsx") != "$before" ]] || fail "file was not replaced"
if sq rerun 2>/dev/null; then fail "rerun without arguments succeeded"; fi

# Redis loses everything about the queue: --repair puts back what the ledger
# holds as unfinished, with tokens that still out-rank the ledger's.
out=$(sq enqueue --period 2026-11 --max-attempts 5)
assert_contains "$out" "2 new job(s)" "enqueue 2026-11"
max_token=$(sql "$T_DB" -e "SELECT MAX(lease_token) FROM sheetq_jobs")
redis_del_queue
out=$(sq enqueue --repair)
assert_contains "$out" "2 unfinished job(s) in the ledger, 2 missing from redis" "repair"
(($(redis GET "${p}fence") >= max_token)) || fail "fence counter below the ledger's tokens"
j10n=$(job_of 10 2026-11) j11n=$(job_of 11 2026-11)
# The jobs keep their own attempt limit (5), not this process's default (3).
assert_eq 5 "$(redis HGET "${p}job:$j10n" max_attempts)" "max_attempts after repair"
assert_contains "$(sq enqueue --repair)" "0 missing from redis" "second repair"

# A job Redis failed for good while the ledger missed it (its reaper could
# not reach the database): the ledger check finishes it in the ledger.
redis HSET "${p}job:$j11n" state failed >/dev/null
redis LREM "${p}ready:1" 0 "$j11n" >/dev/null
redis DECR "${p}nready" >/dev/null
out=$(sq enqueue --repair)
assert_contains "$out" "1 failed in redis and now failed in the ledger" "repair of a stranded job"
assert_eq failed "$(state_of "$j11n")" "ledger state of the stranded job"
out=$(sq rerun "$j11n")
[[ $out == *"queued job "* ]] || fail "rerun of the stranded job: $out"
sq worker --burst 2>"$T_DIR/w4.log" || fail "worker: $(tail -3 "$T_DIR/w4.log")"
done=$(sql "$T_DB" -e "SELECT COUNT(*) FROM sheetq_jobs WHERE period = '2026-11' AND state = 'succeeded'")
assert_eq 2 "$done" "jobs of 2026-11 after the repair (one of them a re-run)"
# Workers compare the ledger with Redis too, one of them per interval for the
# whole cluster: after Redis loses the queue again, of two workers started
# together exactly one reads the ledger and queues the lost jobs again.
sql "$T_DB" -e "INSERT INTO records (report_id, recorded_at, recorded_by, \`values\`) VALUES
  (10, '2026-12-02 08:00:00', 'f', '{\"100\": 6}'), (12, '2026-12-02 08:00:00', 'g', '{\"120\": 7}')"
assert_contains "$(sq enqueue --period 2026-12)" "2 new job(s)" "enqueue 2026-12"
redis_del_queue
pids=()
for i in 1 2; do
  SHEETQ_LOG_LEVEL=debug SHEETQ_LEDGER_CHECK_INTERVAL=3600 "$SHEETQ_BIN" worker --burst 2>"$T_DIR/turn$i.log" &
  pids+=($!)
done
for i in 0 1; do
  wait "${pids[$i]}" || fail "worker $((i + 1)) exited $?: $(tail -3 "$T_DIR/turn$((i + 1)).log")"
done
checked=$(cat "$T_DIR"/turn*.log | grep -c "2 were missing from redis (queued again)" || true)
skipped=$(cat "$T_DIR"/turn*.log | grep -c "ledger check: another worker did it" || true)
assert_eq "1 1" "$checked $skipped" "ledger checks done and skipped by two workers"
ttl=$(redis PTTL "${p}turn:ledger_check")
((ttl > 3500000 && ttl <= 3600000)) || fail "the check's turn lasts ${ttl} ms, not the interval"
done=$(sql "$T_DB" -e "SELECT COUNT(*) FROM sheetq_jobs WHERE period = '2026-12' AND state = 'succeeded'")
assert_eq 2 "$done" "jobs of 2026-12 after a worker's ledger check"
# Another queue on the same ledger: a report whose live job is in this
# queue is not submitted there, even when that job still waits to reach
# Redis ('submitted'): the two queues' fencing tokens are not comparable.
j10d=$(job_of 10 2026-12)
sql "$T_DB" -e "UPDATE sheetq_jobs SET state = 'submitted' WHERE id = '$j10d'"
out=$(SHEETQ_QUEUE="$T_QUEUE-b" sq enqueue --period 2026-12)
assert_contains "$out" "nothing new to submit" "enqueue on another queue"
assert_contains "$out" "skipped 2 with a live job in another queue" "enqueue on another queue"
assert_eq 0 "$(redis EXISTS "sheetq:{$T_QUEUE-b}:job:$j10d")" "the other queue's redis holds the job"
redis --scan --pattern "sheetq:{$T_QUEUE-b}:*" | xargs -r "${T_REDIS[@]}" DEL >/dev/null
echo "ok: cancel, rerun and repair"
