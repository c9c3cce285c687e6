#!/usr/bin/env bash
# Dispatch latency: time from a job's submission (its ledger row is written)
# to its start (the claiming worker records the attempt), with an idle worker
# and a free slot, over N single-report enqueues. Both timestamps come from
# the database server's clock (ms), so no host clock skews them.
#
#   bench/dispatch_latency.sh [N]      (default 200; builds build-release)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-200}
[[ $n =~ ^[1-9][0-9]{0,4}$ ]] || { echo "N must be 1-99999" >&2; exit 2; }
scripts/setup.sh
[[ -f build-release/build.ninja ]] || meson setup build-release --buildtype=release >/dev/null
ninja -C build-release sheetq >/dev/null
bin=$PWD/build-release/sheetq

dir=$(mktemp -d "${TMPDIR:-/tmp}/sheetq-bench.XXXXXX")
worker=""
cleanup() {
  [[ -n $worker ]] && kill "$worker" 2>/dev/null && wait "$worker" 2>/dev/null
  scripts/servers.sh stop "$dir/srv" >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
scripts/servers.sh start "$dir/srv" >/dev/null 2>&1
# shellcheck disable=SC1091
. "$dir/srv/env.sh"
export SHEETQ_STORAGE_URL="file://$dir/out" SHEETQ_QUEUE=bench
mariadb < scripts/demo_schema.sql
mariadb <<SQL
INSERT INTO tenants (id, name) VALUES (1, 'Bench');
INSERT INTO reports (id, tenant_id, name) SELECT seq, 1, CONCAT('R', seq) FROM seq_1_to_$n;
INSERT INTO report_items (id, report_id, position, label, kind) SELECT seq, seq, 1, 'V', 'number' FROM seq_1_to_$n;
INSERT INTO records (report_id, recorded_at, recorded_by, \`values\`)
  SELECT seq, '2026-10-05 10:00:00', 'x', '{}' FROM seq_1_to_$n;
SQL
"$bin" migrate >/dev/null
"$bin" worker 2>"$dir/worker.log" &
worker=$!
sleep 1 # the worker is idle, blocked on the wake list

for ((i = 1; i <= n; i++)); do
  "$bin" enqueue --period 2026-10 --report "$i" >/dev/null 2>"$dir/enqueue.log" || { cat "$dir/enqueue.log" >&2; exit 1; }
  # Wait for this job to finish, so the next one finds a free slot.
  for ((k = 0; k < 500; k++)); do
    [[ $(mariadb -N -e "SELECT state FROM sheetq_jobs WHERE report_id = $i") == succeeded ]] && break
    sleep 0.01
  done
done

mariadb -N -e "SELECT TIMESTAMPDIFF(MICROSECOND, j.created_at, a.started_at) / 1000
  FROM sheetq_jobs j JOIN sheetq_attempts a ON a.job_id = j.id" | sort -n |
  awk '{ v[NR] = $1 } END {
    printf "dispatch latency over %d jobs (ms): p50 %.1f  p90 %.1f  p99 %.1f  max %.1f\n",
      NR, v[int(NR * 0.50 + 0.5)], v[int(NR * 0.90 + 0.5)], v[int(NR * 0.99 + 0.5)], v[NR] }'
