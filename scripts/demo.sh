#!/usr/bin/env bash
# demo.sh - the monthly batch on demo data, on this machine, from scratch:
# installs what is missing, builds sheetq, starts a private MariaDB and
# redis-server under .sheetq/servers (127.0.0.1 only), loads demo data once,
# then enqueues last month's exports and runs two burst workers. Files land in
# .sheetq/exports. Run it again: the batch is not exported twice.
#
#   scripts/demo.sh            start/reuse servers, run the batch, leave servers up
#   scripts/demo.sh --stop     stop the servers afterwards
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
stop=0
[[ ${1:-} == --stop ]] && stop=1

scripts/setup.sh
if [[ ! -f build-release/build.ninja ]]; then
  meson setup build-release --buildtype=release >/dev/null
fi
ninja -C build-release sheetq | tail -1

scripts/servers.sh start "$root/.sheetq/servers"
# shellcheck disable=SC1091
. "$root/.sheetq/servers/env.sh"
((stop)) && trap 'scripts/servers.sh stop "$root/.sheetq/servers"' EXIT

export SHEETQ_STORAGE_URL="file://$root/.sheetq/exports"
period=$(date -d "$(date +%Y-%m-01) -1 month" +%Y-%m)
sheetq=build-release/sheetq

if [[ $(mariadb -N -e "SELECT COUNT(*) FROM information_schema.tables
      WHERE table_schema = DATABASE() AND table_name = 'tenants'") == 0 ]]; then
  echo "== loading demo data for $period"
  scripts/demo_data.sh --period "$period"
fi

echo "== sheetq migrate"
$sheetq migrate
echo "== sheetq enqueue --period $period"
out=$($sheetq enqueue --period "$period")
echo "$out"
batch=$(sed -n 's/^batch \(b[0-9a-f]*\):.*/\1/p' <<<"$out")

echo "== two workers (sheetq worker --burst), logs in .sheetq/worker-*.log"
start=$(date +%s.%N)
$sheetq worker --burst 2>"$root/.sheetq/worker-1.log" &
w1=$!
$sheetq worker --burst 2>"$root/.sheetq/worker-2.log" &
w2=$!
wait $w1
wait $w2
end=$(date +%s.%N)

echo "== sheetq status"
if [[ -n $batch ]]; then $sheetq status --batch "$batch"; else $sheetq status; fi
files=$(find "$root/.sheetq/exports" -name '*.xlsx' | wc -l)
printf '\n%d xlsx file(s) in %s (workers took %.1f s)\n' "$files" "$root/.sheetq/exports" \
  "$(echo "$end - $start" | bc -l 2>/dev/null || echo 0)"
