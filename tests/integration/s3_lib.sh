# s3_lib.sh - shared set-up for the S3 integration tests (sourced, not run).
#
# Starts the servers a test needs on 127.0.0.1, on free ports, as
# background jobs that are killed when the test exits:
#   start_s3rver BUCKET   @20minutes/s3rver from tests/s3/node_modules
#                         (installed by `npm ci --prefix tests/s3`, which
#                         scripts/test.sh runs); checks SigV4 with key and
#                         secret S3RVER. Sets S3_PORT, S3_ENDPOINT, S3_DATA.
#   start_stub SCENARIO   tests/s3/s3_stub.py; sets STUB_PORT, STUB_LOG,
#                         STUB_OUT (where completed objects land).
# A test whose server cannot start is skipped (exit 77).
#
# Sourced after lib.sh (which needs MariaDB and Redis) the EXIT trap and
# T_DIR are lib.sh's; alone, this file makes its own. Reading back uses
# Debian's awscli (/usr/bin/aws; it ignores AWS_ENDPOINT_URL, hence the
# flag): aws_s3 ARGS... .
set -euo pipefail

S3_TESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${PY:-/usr/bin/python3}
AWS_CLI=/usr/bin/aws

if ! declare -F fail >/dev/null; then
  fail() {
    printf 'FAIL: %s\n' "$*" >&2
    exit 1
  }
  assert_eq() { [[ $1 == "$2" ]] || fail "$3: expected '$1', got '$2'"; }
  assert_contains() { [[ $1 == *"$2"* ]] || fail "$3: '$2' not found in: $1"; }
fi

if [[ -z ${T_DIR:-} ]]; then
  T_NAME=$(basename "$0" .sh)
  T_DIR=$(mktemp -d "${TMPDIR:-/tmp}/sheetq-$T_NAME.XXXXXX")
  s3_cleanup() {
    local rc=$?
    jobs -p | xargs -r kill -9 2>/dev/null || true
    wait 2>/dev/null || true
    if ((rc == 0)); then rm -rf "$T_DIR"; else echo "kept $T_DIR for inspection" >&2; fi
  }
  trap s3_cleanup EXIT
fi

skip() {
  echo "skip: $*" >&2
  exit 77
}

# wait_listening FILE PID: until FILE has "listening PORT"; prints PORT.
wait_listening() {
  local file=$1 pid=$2 i
  for ((i = 0; i < 200; i++)); do
    if [[ -s $file ]] && grep -q '^listening [0-9]' "$file"; then
      sed -n 's/^listening \([0-9]*\).*/\1/p' "$file" | head -1
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

start_s3rver() { # start_s3rver BUCKET
  local bucket=$1 pid
  command -v node >/dev/null || skip "node is not installed (scripts/setup.sh)"
  [[ -d $S3_TESTS_DIR/s3/node_modules/@20minutes/s3rver ]] ||
    skip "tests/s3/node_modules is missing: run npm ci --prefix tests/s3"
  S3_DATA="$T_DIR/s3rver-data"
  mkdir -p "$S3_DATA"
  node "$S3_TESTS_DIR/s3/s3rver.js" "$S3_DATA" "$bucket" >"$T_DIR/s3rver.out" 2>&1 &
  pid=$!
  S3_PORT=$(wait_listening "$T_DIR/s3rver.out" "$pid") ||
    skip "s3rver did not start: $(tail -3 "$T_DIR/s3rver.out")"
  S3_ENDPOINT="http://127.0.0.1:$S3_PORT"
}

start_stub() { # start_stub SCENARIO
  local pid
  STUB_OUT="$T_DIR/stub-$1"
  STUB_LOG="$T_DIR/stub-$1.log"
  mkdir -p "$STUB_OUT"
  : >"$STUB_LOG"
  "$PY" "$S3_TESTS_DIR/s3/s3_stub.py" "$1" "$STUB_OUT" "$STUB_LOG" >"$T_DIR/stub-$1.out" 2>&1 &
  pid=$!
  STUB_PID=$pid
  STUB_PORT=$(wait_listening "$T_DIR/stub-$1.out" "$pid") ||
    skip "the S3 stub did not start: $(tail -3 "$T_DIR/stub-$1.out")"
}

stop_stub() {
  kill "$STUB_PID" 2>/dev/null || true
  wait "$STUB_PID" 2>/dev/null || true
}

aws_s3() { # aws_s3 ARGS...   -- Debian's awscli against the s3rver
  [[ -x $AWS_CLI ]] || skip "Debian's awscli is not installed (scripts/setup.sh)"
  AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_DEFAULT_REGION=us-east-1 \
    AWS_SESSION_TOKEN='' "$AWS_CLI" --endpoint-url "$S3_ENDPOINT" "$@"
}

# Lines of the stub's log matching a Python expression over `r`, counted.
stub_count() { # stub_count 'r["op"] == "UploadPart"'
  "$PY" -c '
import json, sys
class R(dict):
    def __missing__(self, key):
        return None
n = 0
for line in open(sys.argv[1]):
    r = R(json.loads(line))
    if eval(sys.argv[2]): n += 1
print(n)' "$STUB_LOG" "$1"
}
