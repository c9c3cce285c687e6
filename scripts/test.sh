#!/usr/bin/env bash
# test.sh - installs what is missing, builds sheetq twice (AddressSanitizer +
# UBSan for the suite, release for the large-report test), starts a private
# MariaDB and redis-server in a temporary folder, runs every test against
# them, stops them, and ends with one line: "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

scripts/setup.sh

if [[ ! -f build-test/build.ninja ]]; then
  meson setup build-test -Db_sanitize=address,undefined -Db_lundef=false \
    -Dwerror=true
fi
if [[ ! -f build-test-release/build.ninja ]]; then
  meson setup build-test-release --buildtype=release -Dwerror=true
fi
ninja -C build-test
ninja -C build-test-release

servers=$(mktemp -d "${TMPDIR:-/tmp}/sheetq-test-servers.XXXXXX")
trap 'scripts/servers.sh stop "$servers" || true; rm -rf "$servers"' EXIT
scripts/servers.sh start "$servers"
# shellcheck disable=SC1091
. "$servers/env.sh"
export SHEETQ_TEST_MYSQL_URL=$SHEETQ_MYSQL_URL
export SHEETQ_TEST_REDIS_URL=$SHEETQ_REDIS_URL
unset SHEETQ_MYSQL_URL SHEETQ_REDIS_URL
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

status=0
meson test -C build-test --suite unit --suite integration --print-errorlogs \
  --num-processes 2 || status=1
meson test -C build-test-release --suite large --print-errorlogs || status=1

# One summary line over both runs, from meson's machine-readable logs.
/usr/bin/python3 - build-test/meson-logs/testlog.json build-test-release/meson-logs/testlog.json <<'PY'
import json, sys
passed = failed = skipped = 0
for path in sys.argv[1:]:
    with open(path) as f:
        for line in f:
            r = json.loads(line)["result"]
            if r in ("OK", "EXPECTEDFAIL"): passed += 1
            elif r == "SKIP": skipped += 1
            else: failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
PY
exit $status
