#!/usr/bin/env bash
# What a job costs beyond rendering (issue 7), side by side in one run:
#
# - small: 40 reports of 500 records x 20 items, run by one worker with one
#   slot (--concurrency 1); cost per job = first claim to last finish / 40,
#   so it holds everything: claim, ledger writes, reading, rendering,
#   storing, acknowledging. Against raw_render (the same cells written by
#   libxlsxwriter alone, from memory) of the same 40 reports, its temporary
#   files where sheetq puts a small report's (/dev/shm): mean per report.
#   Raw passes and job runs alternate, REPEAT rounds, medians.
# - large: one report of 200,000 records x 30 items; job time = the
#   attempt's start to finish in the ledger (claim to stored), against
#   raw_render of the same report. Runs alternate, REPEAT times each.
#
#   bench/job_overhead.sh [--repeat N] [SHEETQ_BINARY...]
#
# Several binaries (e.g. an older build) are measured on the same data, one
# after the other; default build-release/sheetq. The small jobs also run a
# second time without durability (eatmydata turns the file store's fsyncs
# into no-ops, and MariaDB commits without flushing its log), to show how
# much of the overhead is the price of "stored durably before acknowledged".
source "$(dirname "$0")/lib.sh"
command -v eatmydata >/dev/null || apt-get install -y -qq eatmydata >/dev/null
repeat=3
if [[ ${1:-} == --repeat ]]; then repeat=$2; shift 2; fi
bench_init
bins=("$@")
((${#bins[@]})) || bins=("$B_BIN")
raw=$B_ROOT/build-release/bench/raw_render
small=40

echo "loading: $small reports of 500 x 20, one of 200,000 x 30" >&2
for ((r = 1; r <= small; r++)); do make_report "$r" 1 20 500; done
make_report 1000 2 30 200000
ms() { mariadb -N -e "$1"; }

# Per-job cost of the small reports with one slot, in ms.
small_run() { # small_run BIN [nosync]
  local bin=$1 wrap=() flush=1
  [[ ${2:-} == nosync ]] && wrap=(eatmydata) flush=0
  mariadb -e "SET GLOBAL innodb_flush_log_at_trx_commit = $flush"
  mariadb -e "DELETE FROM sheetq_attempts; DELETE FROM sheetq_jobs; DELETE FROM sheetq_batches"
  redis-cli -u "$SHEETQ_REDIS_URL" FLUSHDB >/dev/null
  rm -rf "$B_DIR/out"/*
  "$bin" enqueue --period 2026-10 --tenant 1 >/dev/null 2>&1
  "${wrap[@]}" "$bin" worker --burst --concurrency 1 2>"$B_DIR/worker.log" ||
    { tail "$B_DIR/worker.log" >&2; exit 1; }
  mariadb -e "SET GLOBAL innodb_flush_log_at_trx_commit = 1"
  [[ $(ms "SELECT COUNT(*) FROM sheetq_jobs WHERE state = 'succeeded'") == "$small" ]] ||
    { echo "bench: not every small job succeeded" >&2; exit 1; }
  ms "SELECT TIMESTAMPDIFF(MICROSECOND, MIN(started_at), MAX(finished_at)) / 1000 / $small FROM sheetq_attempts"
}

# One large job, in s.
large_run() { # large_run BIN
  local bin=$1
  mariadb -e "DELETE FROM sheetq_attempts; DELETE FROM sheetq_jobs; DELETE FROM sheetq_batches"
  redis-cli -u "$SHEETQ_REDIS_URL" FLUSHDB >/dev/null
  "$bin" enqueue --period 2026-10 --tenant 2 >/dev/null 2>&1
  "$bin" worker --burst --concurrency 1 2>"$B_DIR/worker.log" || { tail "$B_DIR/worker.log" >&2; exit 1; }
  ms "SELECT TIMESTAMPDIFF(MICROSECOND, started_at, finished_at) / 1e6 FROM sheetq_attempts WHERE outcome = 'succeeded'"
}

# Mean ms per report of one raw pass over the 40 small reports.
raw_small_pass() {
  "$raw" --tmpdir /dev/shm "1-$small" 2026-10 "$B_DIR/raw.xlsx" |
    awk -v n="$small" '{ t += $2 } END { print t * 1000 / n }'
}
declare -A small_runs nosync_runs
raw_small_runs=()
for ((i = 0; i < repeat; i++)); do
  echo "small jobs, round $((i + 1)) of $repeat" >&2
  raw_small_runs+=("$(raw_small_pass)")
  for bin in "${bins[@]}"; do
    small_runs[$bin]+="$(small_run "$bin") "
    nosync_runs[$bin]+="$(small_run "$bin" nosync) "
  done
done
raw_small=$(printf '%s\n' "${raw_small_runs[@]}" | median)
declare -A small_ms nosync_ms
for bin in "${bins[@]}"; do
  small_ms[$bin]=$(printf '%s\n' ${small_runs[$bin]} | median)
  nosync_ms[$bin]=$(printf '%s\n' ${nosync_runs[$bin]} | median)
done
raw_large=()
declare -A large_runs
for ((i = 0; i < repeat; i++)); do
  echo "large job, round $((i + 1)) of $repeat" >&2
  raw_large+=("$("$raw" 1000 2026-10 "$B_DIR/raw.xlsx" 1 | awk '{print $2}')")
  for bin in "${bins[@]}"; do large_runs[$bin]+="$(large_run "$bin") "; done
done
raw_large_med=$(printf '%s\n' "${raw_large[@]}" | median)

echo "# job overhead, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), medians of $repeat"
printf '%-40s %10s %10s %10s %16s %10s %10s %7s\n' binary "raw small" "job small" \
  overhead "overhead nosync" "raw large" "job large" ratio
for bin in "${bins[@]}"; do
  large_med=$(printf '%s\n' ${large_runs[$bin]} | median)
  awk -v b="$bin" -v rs="$raw_small" -v js="${small_ms[$bin]}" -v ns="${nosync_ms[$bin]}" \
    -v rl="$raw_large_med" -v jl="$large_med" \
    'BEGIN {printf "%-40s %8.2fms %8.2fms %8.2fms %14.2fms %9.2fs %9.2fs %7.3f\n",
      b, rs, js, js - rs, ns - rs, rl, jl, jl / rl}'
done
