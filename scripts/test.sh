#!/usr/bin/env bash
# test.sh - installs what is missing, builds sheetq twice (AddressSanitizer +
# UBSan for the suite, release for the large-report and chaos tests), starts a private
# MariaDB and redis-server in a temporary folder, runs every test against
# them, stops them, and ends with one line: "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
# Whatever stops this script early (a failed install or build), it still
# ends with the summary line CI reads.
summarized=0
summary_if_stopped() {
  [[ $summarized == 1 ]] || echo "0 passed, 1 failed (test.sh stopped before the tests: see above)"
}
trap summary_if_stopped EXIT

scripts/setup.sh

# The S3 test server (tests/s3, ~5 s): installed from its lockfile when
# missing or out of date. Without it the S3 tests skip, nothing fails here.
if [[ ! -f tests/s3/node_modules/.package-lock.json ||
      tests/s3/package-lock.json -nt tests/s3/node_modules/.package-lock.json ]]; then
  npm ci --prefix tests/s3 --no-audit --no-fund --loglevel=error >/dev/null ||
    echo "test.sh: npm ci --prefix tests/s3 failed: the S3 tests will be skipped" >&2
fi

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
# Quietly, so that the summary stays the run's last line.
trap 'scripts/servers.sh stop "$servers" >/dev/null 2>&1 || true; rm -rf "$servers"; summary_if_stopped' EXIT
scripts/servers.sh start "$servers"
# Only the two URLs: env.sh also points the mariadb CLI at these servers
# (MARIADB_HOME), which would leak into tests that start servers of their own.
# shellcheck disable=SC1091
SHEETQ_TEST_MYSQL_URL=$(. "$servers/env.sh" && echo "$SHEETQ_MYSQL_URL")
# shellcheck disable=SC1091
SHEETQ_TEST_REDIS_URL=$(. "$servers/env.sh" && echo "$SHEETQ_REDIS_URL")
export SHEETQ_TEST_MYSQL_URL SHEETQ_TEST_REDIS_URL
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

status=0
meson test -C build-test --suite unit --suite integration --print-errorlogs \
  --num-processes 2 || status=1
# One at a time: the memory measurement and the chaos test's timings (it
# starts servers of its own) would disturb each other.
meson test -C build-test-release --suite large --suite chaos --print-errorlogs \
  --num-processes 1 || status=1

# One summary line over both runs, from meson's machine-readable logs. In CI
# (CI=true) a skipped test counts as failed: a test skips when something it
# needs is missing, and in CI that is a missing install step, not a choice.
/usr/bin/python3 - build-test/meson-logs/testlog.json build-test-release/meson-logs/testlog.json <<'PY' || status=1
import json, os, sys
passed = failed = skipped = 0
names = []
for path in sys.argv[1:]:
    with open(path) as f:
        for line in f:
            t = json.loads(line)
            r = t["result"]
            if r in ("OK", "EXPECTEDFAIL"): passed += 1
            elif r == "SKIP":
                skipped += 1
                names.append(t["name"])
            else: failed += 1
ci = os.environ.get("CI") == "true"
if ci and skipped:
    print("test.sh: skipped in CI, counted as failed: " + ", ".join(names), file=sys.stderr)
    failed, skipped = failed + skipped, 0
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
PY
summarized=1
exit $status
