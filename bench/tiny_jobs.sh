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
# sheetq runs with job_vcpus 0.125 and max_vcpus 1000, so the cluster
# budget does not limit it; W workers on this one host split its CPUs
# (--vcpus nproc/W each), so each runs up to vcpus / 0.125 jobs at once
# ("many": 16 in all on 2 cores, however many workers); it also runs with
# --concurrency 1 ("one"), one job at a time like an RQ worker. RQ runs with
# its default forking worker and with SimpleWorker (no fork per job).
#
#   bench/tiny_jobs.sh [--out memory|disk] [--baseline BIN] [--runs R] [N]
#                                    (default disk, 1 run, 2000 jobs)
#
# --out memory writes both systems' files to a directory in /dev/shm instead
# of the bench's directory on disk: it takes the disk's file system out of
# the comparison (on ext4 without a journal, as on the test machine, file
# creation slows down after thousands of deletions, and every run deletes
# the previous run's N files).
#
# --baseline BIN also runs sheetq's workloads with another build (e.g. the
# previous commit's build-release/sheetq) right after this build's, on the
# same data, and prints its figures beside them.
#
# --runs R repeats every workload R times, in rounds (each round runs every
# workload once, so the VM's drift spreads over all of them), and prints the
# medians, then each round's sheetq many / RQ fork ratio per worker count.
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
out_kind=disk baseline="" runs=1
while [[ ${1:-} == --* ]]; do
  case $1 in
    --out) out_kind=${2:-} ;;
    --baseline) baseline=${2:-} ;;
    --runs) runs=${2:-} ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift 2
done
[[ -z $baseline || -x $baseline ]] || { echo "--baseline: $baseline is not executable" >&2; exit 2; }
[[ $out_kind == disk || $out_kind == memory ]] || { echo "--out: memory or disk" >&2; exit 2; }
[[ $runs =~ ^[1-9]$ ]] || { echo "--runs: 1-9" >&2; exit 2; }
n=${1:-2000}
[[ $n =~ ^[1-9][0-9]{0,4}$ ]] || { echo "N must be 1-99999" >&2; exit 2; }
period=2026-10
bench_init
out_dir=$B_DIR/out
if [[ $out_kind == memory ]]; then
  out_dir=$(mktemp -d /dev/shm/sheetq-tiny.XXXXXX)
  trap 'rm -rf "$out_dir"; bench_cleanup' EXIT
fi
export SHEETQ_STORAGE_URL="file://$out_dir"
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
fresh_output() { rm -rf "$out_dir" && mkdir -p "$out_dir"; }
count_files() { find "$out_dir" -name '*.xlsx' | wc -l; }

# CPU ms used so far by mariadbd and redis-server together.
server_cpu_ms() {
  local hz
  hz=$(getconf CLK_TCK)
  cat "$B_DIR/srv/mariadb/mariadbd.pid" "$B_DIR/srv/redis/redis.pid" |
    while read -r p; do cat "/proc/$p/stat"; done |
    awk -v hz="$hz" '{ t += ($14 + $15) * 1000 / hz } END { print t }'
}

# launch_workers W CMD...: starts W copies of CMD together, each under
# /usr/bin/time (which counts the job processes they wait for), and waits for
# all. Prints "WALL_S CPU_MS": CPU of the workers, their job processes and
# both servers, so a figure that the machine's other load does not inflate.
launch_workers() {
  local w=$1 i pids=() t0 t1 s0 s1
  shift
  rm -f "$B_DIR"/cpu.*
  : >"$B_DIR/workers.log"
  s0=$(server_cpu_ms)
  t0=$(now)
  for ((i = 0; i < w; i++)); do
    /usr/bin/time -f '%U %S' -o "$B_DIR/cpu.$i" "$@" 2>>"$B_DIR/workers.log" >&2 &
    pids+=($!)
  done
  wait "${pids[@]}" || true # judged by the outcome checks that follow
  t1=$(now)
  s1=$(server_cpu_ms)
  cat "$B_DIR"/cpu.* | awk -v a="$t0" -v b="$t1" -v s0="$s0" -v s1="$s1" \
    '/^[0-9.]+ [0-9.]+$/ { c += ($1 + $2) * 1000 } END { printf "%.2f %.0f\n", b - a, c + s1 - s0 }'
}

# run_sheetq WORKERS CONCURRENCY [BIN]: prints "JOBS_PER_S WALL_S
# CPU_MS_PER_JOB SLOTS_PER_WORKER".
run_sheetq() {
  local w=$1 conc=$2 bin=${3:-$B_BIN} row slots attempts ok span wall cpu
  mariadb -e "DELETE FROM sheetq_attempts; DELETE FROM sheetq_jobs; DELETE FROM sheetq_batches"
  redis-cli -u "$SHEETQ_REDIS_URL" FLUSHDB >/dev/null
  fresh_output
  "$bin" enqueue --period "$period" >/dev/null 2>"$B_DIR/enqueue.log" ||
    { cat "$B_DIR/enqueue.log" >&2; exit 1; }
  # W workers on this one host share its CPUs, as they would be deployed:
  # each offers nproc / W vCPUs (--vcpus), so together they run as many
  # jobs at once as one worker offering them all.
  read -r wall cpu < <(launch_workers "$w" "$bin" worker --burst --concurrency "$conc" \
    --vcpus "$(awk -v c="$(nproc)" -v w="$w" 'BEGIN { printf "%.3f", c / w }')")
  row=$(mariadb -N -e "SELECT COUNT(*), SUM(outcome = 'succeeded'),
      TIMESTAMPDIFF(MICROSECOND, MIN(started_at), MAX(finished_at)) / 1e6 FROM sheetq_attempts")
  read -r attempts ok span <<<"$row"
  if [[ $ok != "$n" || $attempts != "$n" || $(count_files) != "$n" ]]; then
    echo "sheetq: $ok of $n jobs succeeded in $attempts attempts, $(count_files) files" >&2
    tail -5 "$B_DIR/workers.log" >&2
    exit 1
  fi
  slots=$(grep -o 'at most [0-9]* job' "$B_DIR/workers.log" | head -1 | tr -dc 0-9)
  awk -v n="$n" -v s="$span" -v wall="$wall" -v c="$cpu" -v k="$slots" \
    'BEGIN { printf "%.1f %.2f %.2f %s\n", n / s, wall, c / n, k }'
}

# run_rq WORKERS CLASS ("" for RQ's default): prints "JOBS_PER_S WALL_S
# CPU_MS_PER_JOB".
run_rq() {
  local w=$1 class=$2 row first last wall cpu opts=()
  [[ -n $class ]] && opts=(--worker-class "$class")
  redis-cli -u "$RQ_REDIS_URL" FLUSHDB >/dev/null
  fresh_output
  # shellcheck disable=SC2046 # one argument per report id
  "$py" bench/rq_tiny_job.py enqueue tiny "$out_dir" "$period" $(seq "$n")
  read -r wall cpu < <(launch_workers "$w" /usr/bin/rq worker --burst --quiet \
    --url "$RQ_REDIS_URL" --path bench --config rq_tiny_job "${opts[@]}" tiny)
  row=$("$py" bench/rq_tiny_job.py measure tiny "$n") || { tail -20 "$B_DIR/workers.log" >&2; exit 1; }
  read -r _ first last <<<"$row"
  [[ $(count_files) == "$n" ]] || { echo "rq: $(count_files) files of $n" >&2; exit 1; }
  awk -v n="$n" -v f="$first" -v l="$last" -v wall="$wall" -v c="$cpu" \
    'BEGIN { printf "%.1f %.2f %.2f\n", n / (l - f), wall, c / n }'
}

# Every run's "RATE WALL CPU" per workload (KIND_W), one line each; the
# tables show the medians.
declare -A got rate wall cpu
record() { got[$1]+="$2"$'\n'; }
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for ((r = 1; r <= runs; r++)); do
  for w in 1 2 4; do
    echo "tiny_jobs: round $r of $runs: $n jobs, $w worker(s) ..." >&2
    out=$(run_sheetq "$w" 0)
    record "s_many_$w" "$out"
    slots=$(awk '{ print $4 }' <<<"$out")
    record "s_one_$w" "$(run_sheetq "$w" 1)"
    if [[ -n $baseline ]]; then
      record "b_many_$w" "$(run_sheetq "$w" 0 "$baseline")"
      record "b_one_$w" "$(run_sheetq "$w" 1 "$baseline")"
    fi
    record "rq_fork_$w" "$(run_rq "$w" "")"
    record "rq_simple_$w" "$(run_rq "$w" rq.worker.SimpleWorker)"
  done
done
for k in "${!got[@]}"; do
  rate[$k]=$(awk 'NF { print $1 }' <<<"${got[$k]}" | median)
  wall[$k]=$(awk 'NF { print $2 }' <<<"${got[$k]}" | median)
  cpu[$k]=$(awk 'NF { print $3 }' <<<"${got[$k]}" | median)
done

echo "tiny-job throughput, $n jobs, files written to $out_kind ($out_dir): jobs/s from the first job start to the last job end"
echo "(medians of $runs run(s) of each workload)"
echo "(wall s from the workers' launch to the last exit; CPU ms per job of the workers,"
echo "their job processes, MariaDB and Redis together)"
echo "sheetq: job_vcpus 0.125, max_vcpus 1000, each of W workers offers $(nproc)/W vCPUs -> many = up to $slots jobs at once per worker (the last run's), one = --concurrency 1"
echo "rq $(/usr/bin/rq --version | awk '{print $NF}'): fork = default Worker (work horse per job), simple = SimpleWorker; job module preloaded (-c)"
echo "load average (1/5/15 min): $load_before at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
echo
printf '| workers | sheetq many | sheetq one | RQ fork | RQ simple | many / RQ fork | many / RQ simple |\n'
printf '|---|---|---|---|---|---|---|\n'
for w in 1 2 4; do
  printf '| %d' "$w"
  for k in s_many s_one rq_fork rq_simple; do
    printf ' | %.0f jobs/s (%.1f s, %.1f ms CPU)' "${rate[${k}_$w]}" "${wall[${k}_$w]}" "${cpu[${k}_$w]}"
  done
  awk -v a="${rate[s_many_$w]}" -v c="${rate[rq_fork_$w]}" -v d="${rate[rq_simple_$w]}" \
    'BEGIN { printf " | %.1fx | %.1fx |\n", a / c, a / d }'
done
if [[ -n $baseline ]]; then
  echo
  echo "baseline $baseline, the same workloads right after this build's:"
  printf '| workers | this many | baseline many | this one | baseline one | many: this / baseline | one: this / baseline |\n'
  printf '|---|---|---|---|---|---|---|\n'
  for w in 1 2 4; do
    printf '| %d' "$w"
    for k in s_many b_many s_one b_one; do
      printf ' | %.0f jobs/s (%.1f ms CPU)' "${rate[${k}_$w]}" "${cpu[${k}_$w]}"
    done
    awk -v a="${rate[s_many_$w]}" -v b="${rate[b_many_$w]}" -v c="${rate[s_one_$w]}" \
      -v d="${rate[b_one_$w]}" 'BEGIN { printf " | %.2f | %.2f |\n", a / b, c / d }'
  done
fi
if ((runs > 1)); then
  echo
  echo "sheetq many / RQ fork, round by round:"
  for w in 1 2 4; do
    paste -d' ' <(awk 'NF { print $1 }' <<<"${got[s_many_$w]}") \
      <(awk 'NF { print $1 }' <<<"${got[rq_fork_$w]}") |
      awk -v w="$w" '{ r = r sprintf("%s%.1fx", NR > 1 ? ", " : "", $1 / $2) } END { print "- " w " worker(s): " r }'
  done
fi
