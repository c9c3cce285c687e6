# bench/lib.sh - shared set-up for the benchmarks; sourced, not run.
#
# bench_init: installs what is missing (scripts/setup.sh), builds the release
# binaries into build-release (SHEETQ_BENCH_BIN names another sheetq to run), starts a private MariaDB and redis-server in a
# temporary directory ($B_DIR) and exports the SHEETQ_* settings to use them.
# Everything is stopped and removed on exit. Benchmarks print their figures on
# stdout and progress on stderr.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
B_ROOT=$PWD

bench_init() {
  scripts/setup.sh >&2
  [[ -f build-release/build.ninja ]] ||
    meson setup build-release --buildtype=release >/dev/null
  ninja -C build-release >/dev/null
  # SHEETQ_BENCH_BIN: another build to measure (e.g. an older commit's).
  B_BIN=${SHEETQ_BENCH_BIN:-$B_ROOT/build-release/sheetq}
  B_DIR=$(mktemp -d "${TMPDIR:-/tmp}/sheetq-bench.XXXXXX")
  trap bench_cleanup EXIT
  SHEETQ_MYSQL_BUFFER_POOL=${SHEETQ_MYSQL_BUFFER_POOL:-2G} \
    scripts/servers.sh start "$B_DIR/srv" >/dev/null 2>&1 ||
    { echo "bench: servers did not start (see $B_DIR/srv)" >&2; exit 1; }
  # shellcheck disable=SC1091
  . "$B_DIR/srv/env.sh"
  export SHEETQ_STORAGE_URL="file://$B_DIR/out" SHEETQ_QUEUE=bench
  mkdir -p "$B_DIR/out"
  mariadb <scripts/demo_schema.sql
  "$B_BIN" migrate >/dev/null
}

bench_cleanup() {
  local pids
  pids=$(jobs -p) && [[ -n $pids ]] && kill $pids 2>/dev/null
  wait 2>/dev/null || true
  scripts/servers.sh stop "$B_DIR/srv" >/dev/null 2>&1 || true
  rm -rf "$B_DIR"
}

# make_report ID TENANT ITEMS RECORDS [PERIOD]: a report whose ITEMS items
# cycle through the five kinds (number, text, datetime, boolean, choice) and
# whose RECORDS records, all in PERIOD (default 2026-10), fill every item.
make_report() {
  local id=$1 tenant=$2 items=$3 records=$4 period=${5:-2026-10} k json="" kinds
  kinds=(number text datetime boolean choice)
  for ((k = 1; k <= items; k++)); do
    local v
    case $(((k - 1) % 5)) in
    0) v="seq * 0.25 + $k" ;;
    1) v="JSON_QUOTE(CONCAT('note ', seq % 1000, ' of item $k'))" ;;
    2) v="JSON_QUOTE(CONCAT('$period-', LPAD(1 + seq % 28, 2, '0'), 'T10:', LPAD(seq % 60, 2, '0'), ':00'))" ;;
    3) v="IF(seq % 2, 'true', 'false')" ;;
    4) v="JSON_QUOTE(ELT(1 + seq % 3, 'pass', 'fail', 'n/a'))" ;;
    esac
    json+="${json:+, ', ', }'\"$((id * 1000 + k))\": ', $v"
  done
  {
    echo "INSERT IGNORE INTO tenants (id, name) VALUES ($tenant, 'Tenant $tenant');"
    echo "INSERT INTO reports (id, tenant_id, name) VALUES ($id, $tenant, 'Report $id');"
    echo "INSERT INTO report_items (id, report_id, position, label, kind) SELECT $id * 1000 + seq, $id, seq,"
    echo "  CONCAT('Item ', seq), ELT(1 + (seq - 1) % 5, $(printf "'%s'," "${kinds[@]}" | sed 's/,$//')) FROM seq_1_to_$items;"
    echo "INSERT INTO records (report_id, recorded_at, recorded_by, \`values\`)"
    echo "  SELECT $id, '$period-01' + INTERVAL (seq * 7) % (28 * 86400) SECOND, CONCAT('inspector ', seq % 17),"
    echo "  CONCAT('{', $json, '}') FROM seq_1_to_$records;"
  } | mariadb
}

# median: reads numbers, one per line, prints their median.
median() { sort -g | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
