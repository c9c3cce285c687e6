#!/usr/bin/env bash
# Tiny-job throughput (issue 4): N tiny reports (1 record, 1-2 items, over 4
# tenants) exported through one Redis by 1, 2 and 4 burst workers started
# together after the enqueue; the same workload on Python RQ (Debian
# python3-rq, bench/rq_tiny_job.py) as the reference peer, in a separate
# Redis db. Throughput = N / (first job start .. last job end), from the
# ledger's sheetq_attempts stamps (database clock, ms) and from RQ's job
# started_at / ended_at; wall time (workers' launch to the last exit) is
# printed too. Every run starts from an empty queue, ledger and output dir.
#
# sheetq runs with job_vcpus 0.125 and max_vcpus 1000, so neither the
# cluster budget nor the worker's vCPUs (default: CPU count) limit it: each
# worker runs up to vcpus / 0.125 jobs at once ("many"); it also runs with
# --concurrency 1 ("one"), one job at a time like an RQ worker. RQ runs with
# its default forking worker and with SimpleWorker (no fork per job).
#
#   bench/tiny_jobs.sh [N]      (default 2000; builds build-release)
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
n=${1:-2000}
[[ $n =~ ^[1-9][0-9]{0,4}$ ]] || { echo "N must be 1-99999" >&2; exit 2; }
period=2026-10
bench_init
export SHEETQ_JOB_VCPUS=0.125 SHEETQ_MAX_VCPUS=1000
RQ_REDIS_URL=${SHEETQ_REDIS_URL%/*}/1
export RQ_REDIS_URL
py=/usr/bin/python3 # Debian's, which has python3-rq (not a pyenv's)

mariadb <<SQL
INSERT INTO tenants (id, name) SELECT seq, CONCAT('Tenant ', seq) FROM seq_1_to_4;
INSERT INTO reports (id, tenant_id, name) SELECT seq, 1 + seq % 4, CONCAT('Report ', seq) FROM seq_1_to_$n;
INSERT INTO report_items (id, report_id, position, label, kind)
  SELECT seq * 10 + 1, seq, 1, 'Reading', 'number' FROM seq_1_to_$n;
INSERT INTO report_items (id, report_id, position, label, kind)
  SELECT seq * 10 + 2, seq, 2, 'Note', 'text' FROM seq_1_to_$n WHERE seq % 2 = 0;
INSERT INTO records (report_id, recorded_at, recorded_by, \`values\`)
  SELECT seq, '$period-05 10:00:00' + INTERVAL seq MINUTE, CONCAT('inspector ', seq % 17),
    CONCAT('{"', seq * 10 + 1, '": ', seq * 0.25,
           IF(seq % 2 = 0, CONCAT(', "', seq * 10 + 2, '": "note ', seq, '"'), ''), '}')
  FROM seq_1_to_$n;
SQL

now() { date +%s.%N; }
fresh_output() { rm -rf "$B_DIR/out" && mkdir -p "$B_DIR/out"; }
count_files() { find "$B_DIR/out" -name '*.xlsx' | wc -l; }

# run_sheetq WORKERS CONCURRENCY: prints "JOBS_PER_S WALL_S SLOTS_PER_WORKER".
run_sheetq() {
  local w=$1 conc=$2 pids=() t0 t1 i row slots attempts ok span
  mariadb -e "DELETE FROM sheetq_attempts; DELETE FROM sheetq_jobs; DELETE FROM sheetq_batches"
  redis-cli -u "$SHEETQ_REDIS_URL" FLUSHDB >/dev/null
  fresh_output
  "$B_BIN" enqueue --period "$period" >/dev/null 2>"$B_DIR/enqueue.log" ||
    { cat "$B_DIR/enqueue.log" >&2; exit 1; }
  : >"$B_DIR/worker.log"
  t0=$(now)
  for ((i = 0; i < w; i++)); do
    "$B_BIN" worker --burst --concurrency "$conc" 2>>"$B_DIR/worker.log" &
    pids+=($!)
  done
  wait "${pids[@]}"
  t1=$(now)
  row=$(mariadb -N -e "SELECT COUNT(*), SUM(outcome = 'succeeded'),
      TIMESTAMPDIFF(MICROSECOND, MIN(started_at), MAX(finished_at)) / 1e6 FROM sheetq_attempts")
  read -r attempts ok span <<<"$row"
  if [[ $ok != "$n" || $attempts != "$n" || $(count_files) != "$n" ]]; then
    echo "sheetq: $ok of $n jobs succeeded in $attempts attempts, $(count_files) files" >&2
    tail -5 "$B_DIR/worker.log" >&2
    exit 1
  fi
  slots=$(grep -o 'at most [0-9]* job' "$B_DIR/worker.log" | head -1 | tr -dc 0-9)
  awk -v n="$n" -v s="$span" -v a="$t0" -v b="$t1" -v k="$slots" \
    'BEGIN { printf "%.1f %.2f %s\n", n / s, b - a, k }'
}

# run_rq WORKERS CLASS ("" for RQ's default): prints "JOBS_PER_S WALL_S".
run_rq() {
  local w=$1 class=$2 pids=() t0 t1 i row first last opts=()
  [[ -n $class ]] && opts=(--worker-class "$class")
  redis-cli -u "$RQ_REDIS_URL" FLUSHDB >/dev/null
  fresh_output
  "$py" bench/rq_tiny_job.py enqueue tiny "$B_DIR/out" "$period" $(seq "$n")
  : >"$B_DIR/rq.log"
  t0=$(now)
  for ((i = 0; i < w; i++)); do
    /usr/bin/rq worker --burst --quiet --url "$RQ_REDIS_URL" --path bench \
      --config rq_tiny_job "${opts[@]}" tiny >>"$B_DIR/rq.log" 2>&1 &
    pids+=($!)
  done
  wait "${pids[@]}"
  t1=$(now)
  row=$("$py" bench/rq_tiny_job.py measure tiny "$n") || { tail -20 "$B_DIR/rq.log" >&2; exit 1; }
  read -r _ first last <<<"$row"
  [[ $(count_files) == "$n" ]] || { echo "rq: $(count_files) files of $n" >&2; exit 1; }
  awk -v n="$n" -v f="$first" -v l="$last" -v a="$t0" -v b="$t1" \
    'BEGIN { printf "%.1f %.2f\n", n / (l - f), b - a }'
}

declare -A rate wall
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for w in 1 2 4; do
  echo "tiny_jobs: $n jobs, $w worker(s) ..." >&2
  out=$(run_sheetq "$w" 0)
  read -r rate[s_many_$w] wall[s_many_$w] slots <<<"$out"
  out=$(run_sheetq "$w" 1)
  read -r rate[s_one_$w] wall[s_one_$w] _ <<<"$out"
  out=$(run_rq "$w" "")
  read -r rate[rq_fork_$w] wall[rq_fork_$w] <<<"$out"
  out=$(run_rq "$w" rq.worker.SimpleWorker)
  read -r rate[rq_simple_$w] wall[rq_simple_$w] <<<"$out"
done

echo "tiny-job throughput, $n jobs (jobs/s, first start to last end; wall s in brackets)"
echo "sheetq: job_vcpus 0.125, max_vcpus 1000, worker vcpus $(nproc) -> many = up to $slots jobs at once per worker, one = --concurrency 1"
echo "rq $(/usr/bin/rq --version | awk '{print $NF}'): fork = default Worker (work horse per job), simple = SimpleWorker; job module preloaded (-c)"
echo "load average (1/5/15 min): $load_before at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
printf '| workers | sheetq many | sheetq one | RQ fork | RQ simple | many / RQ fork | many / RQ simple |\n'
printf '|---|---|---|---|---|---|---|\n'
for w in 1 2 4; do
  awk -v w="$w" -v a="${rate[s_many_$w]}" -v b="${rate[s_one_$w]}" -v c="${rate[rq_fork_$w]}" \
    -v d="${rate[rq_simple_$w]}" -v wa="${wall[s_many_$w]}" -v wb="${wall[s_one_$w]}" \
    -v wc="${wall[rq_fork_$w]}" -v wd="${wall[rq_simple_$w]}" 'BEGIN {
      printf "| %d | %.0f (%.1f s) | %.0f (%.1f s) | %.0f (%.1f s) | %.0f (%.1f s) | %.1fx | %.1fx |\n",
        w, a, wa, b, wb, c, wc, d, wd, a / c, a / d }'
done
