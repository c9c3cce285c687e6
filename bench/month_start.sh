#!/usr/bin/env bash
# Month-start peak (issue 7): every report of a month exported at once.
#
#   bench/month_start.sh [--scale F] [--runs N] [--period YYYY-MM]
#                        [--baseline SHEETQ] [--no-peers] [--db-cpus N]
#                        [--job-vcpus X]
#
# Workload (scale 1): scripts/demo_data.sh with 2,000 reports over 200
# tenants, 10-60 items per report, record counts Zipf-like (exponent 1.4)
# from about ten to 200,000 per report (capped), about 1.7 million records and
# over 50 million cells in the month. --scale F multiplies the record counts
# and the cap (0.1 makes a quick check). On that data, in one run:
#   floor     the sum over all target reports of bench/raw_render's time
#             (libxlsxwriter alone, from memory, its temporary files in
#             /dev/shm), one at a time, / nproc;
#   sheetq    enqueue (jobs of 1 vCPU), one burst worker offering nproc
#             vCPUs; makespan from the first claim to the last finish (ledger
#             times), N runs (default 3, median), each on an empty ledger;
#   single    the same with --concurrency 1: one job at a time;
#   python    bench/month_start_python.py (PyMySQL + XlsxWriter) on a pool
#             of nproc processes; makespan from first task start to last end.
# --baseline runs another sheetq build (an older commit's) on the same data,
# its runs alternating with the measured build's, and prints both and their
# ratio; --no-peers skips the single-process and Python runs.
# --db-cpus N gives MariaDB and Redis the last N CPUs of their own (on a
# machine with SMT, choose N so that they are whole cores) and runs
# everything measured (the floor's renders, sheetq, Python) on the others,
# as if the database were another machine (production: Aurora); the floor
# and the workers then count only those CPUs, and "floor with reading"
# leaves mariadbd out (it no longer takes the renderers' CPU).
# --job-vcpus X sizes sheetq's jobs (default 1: one job per CPU); 0.5 runs
# two per CPU, so that a CPU has a job to render while another waits for a
# database on other CPUs.
# Prints the figures and ratios on stdout, progress on stderr. Needs root
# once (scripts/setup.sh) and ~8 GB of free disk at scale 1.
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

scale=1
runs=3
baseline=
peers=1
period=2026-10
db_cpus=0
job_vcpus=1
while (($# > 0)); do
  case $1 in
  --scale) scale=${2:?--scale needs a value}; shift 2 ;;
  --runs) runs=${2:?--runs needs a value}; shift 2 ;;
  --period) period=${2:?--period needs a value}; shift 2 ;;
  --baseline) baseline=${2:?--baseline needs a sheetq binary}; shift 2 ;;
  --no-peers) peers=0; shift ;;
  --db-cpus) db_cpus=${2:?--db-cpus needs a value}; shift 2 ;;
  --job-vcpus) job_vcpus=${2:?--job-vcpus needs a value}; shift 2 ;;
  *) sed -n '4,5p' "$0" | sed 's/^# *//' >&2; exit 2 ;;
  esac
done
[[ $scale =~ ^([0-9]+(\.[0-9]+)?|\.[0-9]+)$ ]] || { echo "--scale: expected a decimal" >&2; exit 2; }
[[ $runs =~ ^[1-9]$ ]] || { echo "--runs: expected 1-9" >&2; exit 2; }
[[ $period =~ ^[0-9]{4}-(0[1-9]|1[0-2])$ ]] || { echo "--period: expected YYYY-MM" >&2; exit 2; }
[[ $job_vcpus =~ ^(1|0\.(125|25|5))$ ]] || { echo "--job-vcpus: expected 1, 0.5, 0.25 or 0.125" >&2; exit 2; }

# The CPUs this script may use (a cpuset may allow 4-7, not 0-3), one per
# line: nproc counts them, and --db-cpus takes the last of them.
mapfile -t cpus < <(python3 -c 'import os; print(*sorted(os.sched_getaffinity(0)), sep="\n")')
all_cpus=${#cpus[@]}
[[ $db_cpus =~ ^[0-9]+$ ]] && ((db_cpus < all_cpus)) ||
  { echo "--db-cpus: expected 0 to $((all_cpus - 1))" >&2; exit 2; }
ncpu=$((all_cpus - db_cpus)) # the CPUs the measured work runs on
work_list=$(IFS=,; echo "${cpus[*]:0:ncpu}")
db_list=$(IFS=,; echo "${cpus[*]:ncpu}")
on_work_cpus=() # the prefix that keeps a command on them
((db_cpus > 0)) && on_work_cpus=(taskset -c "$work_list")
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
calc() { awk "BEGIN { printf \"%.${2:-3}f\", $1 }"; }
say() { echo "month_start: $*" >&2; }

bench_init
if ((db_cpus > 0)); then
  for pid in "$(cat "$B_DIR/srv/mariadb/mariadbd.pid")" "$(cat "$B_DIR/srv/redis/redis.pid")"; do
    taskset -a -cp "$db_list" "$pid" >/dev/null
  done
fi
load_before=$(uptime | sed 's/.*load average: //')

# ---- workload ------------------------------------------------------------
say "loading the workload (scale $scale)"
t0=$(now)
scripts/demo_data.sh --tenants 200 --reports 2000 --period "$period" --seed 1 \
  --items-min 10 --items-max 60 --size-exponent 1.4 \
  --scale "$(calc "20 * $scale" 6)" --max-records "$(calc "200000 * $scale" 0)" >&2
load_s=$(since "$t0")

"$B_BIN" enqueue --period "$period" --dry-run 2>/dev/null |
  sed -n 's/^tenant=\([0-9]*\) report=\([0-9]*\) .*/\1 \2/p' >"$B_DIR/targets"
n_targets=$(wc -l <"$B_DIR/targets")
n_tenants=$(cut -d' ' -f1 "$B_DIR/targets" | sort -u | wc -l)
((n_targets > 0)) || { say "no targets for $period"; exit 1; }
read -r max_records < <(mariadb -N -e "SELECT MAX(n) FROM (SELECT COUNT(*) AS n FROM records
  WHERE recorded_at >= '$period-01' AND recorded_at < '$period-01' + INTERVAL 1 MONTH GROUP BY report_id) AS c")
say "$n_targets target reports of $n_tenants tenants (largest: $max_records records in $period)"

# ---- floor: libxlsxwriter alone, one report at a time --------------------
say "floor: raw_render of every target, one at a time"
# CPU seconds mariadbd has used so far.
db_cpu_s() {
  awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f\n", ($14 + $15) / hz }' \
    "/proc/$(cat "$B_DIR/srv/mariadb/mariadbd.pid")/stat"
}
raw_s=0 cells=0 i=0 read_cpu_s=0 db0=$(db_cpu_s)
while read -r _tenant report; do
  # Its temporary files in memory, whatever the size: the floor gets what
  # sheetq gives only small reports (exporter/scratch.h).
  "${on_work_cpus[@]}" "$B_ROOT/build-release/bench/raw_render" --tmpdir /dev/shm "$report" "$period" \
    "$B_DIR/raw.xlsx" >"$B_DIR/raw.txt" || { say "raw_render $report failed"; exit 1; }
  read -r _ s c _ l <"$B_DIR/raw.txt"
  raw_s=$(calc "$raw_s + $s") cells=$((cells + c)) i=$((i + 1)) read_cpu_s=$(calc "$read_cpu_s + $l")
  ((i % 250 == 0)) && say "  $i/$n_targets: $raw_s s so far"
done <"$B_DIR/targets"
rm -f "$B_DIR/raw.xlsx"
floor_s=$(calc "$raw_s / $ncpu")
# What the floor leaves out and a job cannot: reading. The client's CPU to
# query, parse and prepare the rows, and the server's CPU to serve them
# (mariadbd during the floor's loads; it runs on the same cores here).
db_read_s=$(calc "$(db_cpu_s) - $db0")
if ((db_cpus > 0)); then
  floor_read_s=$(calc "($raw_s + $read_cpu_s) / $ncpu")
else
  floor_read_s=$(calc "($raw_s + $read_cpu_s + $db_read_s) / $ncpu")
fi

# ---- sheetq --------------------------------------------------------------
# run_sheetq LABEL WORKER-ARGS...: enqueues the period on an empty ledger and
# queue, runs one burst worker with WORKER-ARGS until the queue drains;
# writes "MAKESPAN WALL ROWS" to $B_DIR/result.
run_sheetq() {
  local label=$1 t0 wall ok
  shift
  mariadb -e "TRUNCATE TABLE sheetq_attempts; TRUNCATE TABLE sheetq_jobs; TRUNCATE TABLE sheetq_batches"
  redis-cli -u "$SHEETQ_REDIS_URL" FLUSHDB >/dev/null
  rm -rf "$B_DIR/out" && mkdir -p "$B_DIR/out"
  t0=$(now)
  SHEETQ_JOB_VCPUS=$job_vcpus "${on_work_cpus[@]}" "$run_bin" enqueue --period "$period" >/dev/null 2>"$B_DIR/enqueue.log" ||
    { cat "$B_DIR/enqueue.log" >&2; exit 1; }
  db0=$(db_cpu_s)
  "${on_work_cpus[@]}" "$run_bin" worker --burst "$@" 2>"$B_DIR/worker-$label.log" ||
    { tail -5 "$B_DIR/worker-$label.log" >&2; exit 1; }
  wall=$(since "$t0")
  db_run_s=$(calc "$(db_cpu_s) - $db0")
  ok=$(mariadb -N -e "SELECT COUNT(*) FROM sheetq_jobs WHERE state = 'succeeded'")
  ((ok == n_targets)) || { say "$label: $ok of $n_targets jobs succeeded (see $B_DIR/worker-$label.log)"; exit 1; }
  mariadb -N -e "SELECT TIMESTAMPDIFF(MICROSECOND, MIN(a.started_at), MAX(a.finished_at)) / 1e6,
    $wall, (SELECT SUM(rows_written) FROM sheetq_jobs), $db_run_s FROM sheetq_attempts a" >"$B_DIR/result"
}

run_bin=$B_BIN # the build run_sheetq runs
sq_makespans=() sq_walls=() sq_db=() base_makespans=()
for ((r = 1; r <= runs; r++)); do
  if [[ -n $baseline ]]; then
    say "baseline run $r/$runs: $baseline"
    run_bin=$baseline
    run_sheetq "base-$r" --vcpus "$ncpu"
    run_bin=$B_BIN
    read -r m _ <"$B_DIR/result"
    say "  makespan $m s"
    base_makespans+=("$m")
  fi
  say "sheetq run $r/$runs: one worker, --vcpus $ncpu, jobs of $job_vcpus vCPU"
  run_sheetq "all-$r" --vcpus "$ncpu"
  read -r m w rows dbr <"$B_DIR/result"
  say "  makespan $m s, wall $w s, mariadbd CPU $dbr s"
  sq_makespans+=("$m") sq_walls+=("$w") sq_db+=("$dbr")
done
sq_m=$(printf '%s\n' "${sq_makespans[@]}" | median)
sq_w=$(printf '%s\n' "${sq_walls[@]}" | median)

single_m=- single_w=- py_m=- py_w=-
if ((peers)); then
  say "single process: one worker, --concurrency 1"
  run_sheetq single --vcpus "$ncpu" --concurrency 1
  read -r single_m single_w _ <"$B_DIR/result"
  say "  makespan $single_m s, wall $single_w s"

  # ---- Python ------------------------------------------------------------
  say "python: PyMySQL + XlsxWriter, $ncpu processes"
  rm -rf "$B_DIR/out" && mkdir -p "$B_DIR/out"
  "${on_work_cpus[@]}" /usr/bin/python3 bench/month_start_python.py "$period" "$B_DIR/out" "$ncpu" >"$B_DIR/result"
  read -r _ _ py_m _ py_w _ py_reports _ py_rows <"$B_DIR/result"
  ((py_reports == n_targets && py_rows == rows)) ||
    { say "python exported $py_reports reports, $py_rows rows; sheetq $n_targets, $rows"; exit 1; }
  say "  makespan $py_m s, wall $py_w s"
  rm -rf "$B_DIR/out"
fi

# ---- report --------------------------------------------------------------
load_after=$(uptime | sed 's/.*load average: //')
cat <<EOF
month-start peak, period $period, scale $scale, $ncpu CPUs measured$( ((db_cpus > 0)) && echo " (MariaDB and Redis on $db_cpus more of their own)"); load average before: $load_before, after: $load_after
workload            $n_targets reports of $n_tenants tenants, $rows records, $cells cells (largest report: $max_records records)
load time           $load_s s (scripts/demo_data.sh)
floor               $floor_s s (sum of raw renders $raw_s s / $ncpu cores)
reading             client $read_cpu_s s CPU (queries, JSON parsing, preparation), mariadbd $db_read_s s CPU: floor with reading $floor_read_s s
sheetq              jobs of $job_vcpus vCPU: makespan $sq_m s (median of $runs: ${sq_makespans[*]}), wall $sq_w s; makespan / floor = $(calc "$sq_m / $floor_s" 2) (target <= 1.15); / floor with reading = $(calc "$sq_m / $floor_read_s" 2); mariadbd CPU ${sq_db[*]} s
EOF
if [[ -n $baseline ]]; then
  base_m=$(printf '%s\n' "${base_makespans[@]}" | median)
  echo "baseline            $baseline: makespan $base_m s (median of $runs: ${base_makespans[*]}); sheetq / baseline = $(calc "$sq_m / $base_m" 3)"
fi
if ((peers)); then
  cat <<EOF
single process      makespan $single_m s, wall $single_w s
python              makespan $py_m s, wall $py_w s
ratios              python / sheetq = $(calc "$py_m / $sq_m" 2), single / sheetq = $(calc "$single_m / $sq_m" 2)
EOF
fi
