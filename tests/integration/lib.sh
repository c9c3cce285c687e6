# lib.sh - shared set-up for integration tests (sourced, not run).
#
# Each test gets a fresh, empty database on the test MariaDB, its own Redis
# queue name and its own output directory, and removes them on exit. Tests
# run against the servers named by SHEETQ_TEST_MYSQL_URL (a root URL whose
# database part is ignored) and SHEETQ_TEST_REDIS_URL; without them the test
# is skipped (exit 77). SHEETQ_BIN is the binary under test.
set -euo pipefail

TESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROOT_DIR=$(cd "$TESTS_DIR/.." && pwd)
PY=/usr/bin/python3

if [[ -z ${SHEETQ_TEST_MYSQL_URL:-} || -z ${SHEETQ_TEST_REDIS_URL:-} || -z ${SHEETQ_BIN:-} ]]; then
  echo "skip: SHEETQ_TEST_MYSQL_URL, SHEETQ_TEST_REDIS_URL and SHEETQ_BIN must be set" >&2
  exit 77
fi

fail() {
  printf 'FAIL: %s\n' "$*" >&2
  exit 1
}

assert_eq() { # assert_eq WANT GOT WHAT
  [[ $1 == "$2" ]] || fail "$3: expected '$1', got '$2'"
}

wait_until() { # wait_until [-t SECONDS] WHAT COMMAND...: until COMMAND succeeds (60 s at most)
  local seconds=60 what i
  if [[ $1 == -t ]]; then seconds=$2; shift 2; fi
  what=$1
  shift
  for ((i = 0; i < seconds * 10; i++)); do
    "$@" && return 0
    sleep 0.1
  done
  fail "timed out waiting for $what"
}

assert_contains() { # assert_contains HAYSTACK NEEDLE WHAT
  [[ $1 == *"$2"* ]] || fail "$3: '$2' not found in: $1"
}

# mysql://user[:pass]@host:port/db -> client arguments
[[ $SHEETQ_TEST_MYSQL_URL =~ ^mysql://([^:@/]+)(:([^@]*))?@([^:/]+):([0-9]+)/ ]] ||
  fail "SHEETQ_TEST_MYSQL_URL must be mysql://user[:pass]@host:port/db"
T_MYSQL_USER=${BASH_REMATCH[1]}
T_MYSQL_PASS=${BASH_REMATCH[3]}
T_MYSQL_HOST=${BASH_REMATCH[4]}
T_MYSQL_PORT=${BASH_REMATCH[5]}

# Client defaults from a developer's scripts/servers.sh env.sh must not
# redirect this test's mariadb calls.
unset MARIADB_HOME MYSQL_HOME MYSQL_HOST MYSQL_TCP_PORT MYSQL_UNIX_PORT SHEETQ_MYSQL_DATABASE

T_NAME=$(basename "$0" .sh)
T_DB="sqt_${T_NAME//[^a-zA-Z0-9]/_}_$$"
T_QUEUE="t-${T_NAME//_/-}-$$"
T_DIR=$(mktemp -d "${TMPDIR:-/tmp}/sheetq-$T_NAME.XXXXXX")
T_OUT="$T_DIR/out"
# Small reports render here (memory_tmpdir): the test's own directory, in
# memory as by default when /dev/shm is there, so leftovers are the test's.
T_MEM=$(mktemp -d /dev/shm/sheetq-$T_NAME.XXXXXX 2>/dev/null || mktemp -d "$T_DIR/mem.XXXXXX")

sql() { # sql [ARGS...] < statements   -- against the test's database
  MYSQL_PWD="$T_MYSQL_PASS" mariadb --protocol=tcp -h "$T_MYSQL_HOST" -P "$T_MYSQL_PORT" \
    -u "$T_MYSQL_USER" --batch --skip-column-names "$@"
}

[[ $SHEETQ_TEST_REDIS_URL =~ ^redis://([^/@]*@)?([^:/]+):([0-9]+) ]] || fail "bad SHEETQ_TEST_REDIS_URL"
T_REDIS=(redis-cli -h "${BASH_REMATCH[2]}" -p "${BASH_REMATCH[3]}")
redis() { "${T_REDIS[@]}" "$@"; }
redis_del_queue() { # deletes every key of this test's queue
  redis --scan --pattern "sheetq:{$T_QUEUE}:*" | xargs -r "${T_REDIS[@]}" DEL >/dev/null
}

cleanup() {
  local rc=$?
  # Background jobs and what they started (a backgrounded shell function is
  # a subshell whose child is the real process).
  local pid
  for pid in $(jobs -p); do
    pkill -9 -P "$pid" 2>/dev/null || true
    kill -9 "$pid" 2>/dev/null || true
  done
  sql -e "DROP DATABASE IF EXISTS \`$T_DB\`" 2>/dev/null || true
  redis_del_queue 2>/dev/null || true
  rm -rf "$T_MEM" # memory: not kept
  if ((rc == 0)); then rm -rf "$T_DIR"; else echo "kept $T_DIR for inspection" >&2; fi
}
trap cleanup EXIT

# A database that exists already is someone else's: refuse to touch it.
if [[ -n $(sql -e "SHOW DATABASES LIKE '$T_DB'") ]]; then
  fail "database $T_DB exists; refusing to run on a non-empty database"
fi
sql -e "CREATE DATABASE \`$T_DB\` CHARACTER SET utf8mb4"
mkdir -p "$T_OUT"

export SHEETQ_MYSQL_URL="mysql://$T_MYSQL_USER${T_MYSQL_PASS:+:$T_MYSQL_PASS}@$T_MYSQL_HOST:$T_MYSQL_PORT/$T_DB"
export SHEETQ_REDIS_URL=$SHEETQ_TEST_REDIS_URL
export SHEETQ_QUEUE=$T_QUEUE
export SHEETQ_STORAGE_URL="file://$T_OUT"
export SHEETQ_MEMORY_TMPDIR=$T_MEM
export SHEETQ_RETRY_BACKOFF=${SHEETQ_RETRY_BACKOFF:-0}
unset SHEETQ_CONFIG

sq() { "$SHEETQ_BIN" "$@"; }

load_schema() { sql "$T_DB" < "$ROOT_DIR/scripts/demo_schema.sql"; }

# A redis-server of the test's own on a free port, for what the shared one
# cannot give (its command counters, its settings, its restarts). After
# own_redis_init (which skips the test without redis-server) SHEETQ_REDIS_URL
# names it; own_redis_start [settings...] starts it in the background
# (OWN_REDIS_PID; cleanup kills it); own_redis runs redis-cli against it.
own_redis_init() {
  command -v redis-server >/dev/null || {
    echo "skip: no redis-server" >&2
    exit 77
  }
  OWN_REDIS_PORT=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  OWN_REDIS_DIR="$T_DIR/redis"
  mkdir -p "$OWN_REDIS_DIR"
  export SHEETQ_REDIS_URL="redis://127.0.0.1:$OWN_REDIS_PORT/0"
}
own_redis() { redis-cli -p "$OWN_REDIS_PORT" "$@"; }
own_redis_start() {
  redis-server --port "$OWN_REDIS_PORT" --bind 127.0.0.1 --dir "$OWN_REDIS_DIR" --save '' \
    --appendonly no --logfile "$OWN_REDIS_DIR/redis.log" "$@" &
  OWN_REDIS_PID=$!
}

demo_data() { # demo_data [demo_data.sh flags]
  "$ROOT_DIR/scripts/demo_data.sh" "$@" -- --protocol=tcp -h "$T_MYSQL_HOST" \
    -P "$T_MYSQL_PORT" -u "$T_MYSQL_USER" "$T_DB" >/dev/null
}

# The targets of a period, computed here from the spec, not by sheetq.
expected_targets() { # expected_targets YYYY-MM
  sql "$T_DB" -e "SELECT COUNT(*) FROM reports r JOIN tenants t ON t.id = r.tenant_id
    WHERE r.export_schedule = 'monthly' AND r.archived_at IS NULL AND t.export_enabled
    AND EXISTS (SELECT 1 FROM records x WHERE x.report_id = r.id
      AND x.recorded_at >= '$1-01' AND x.recorded_at < '$1-01' + INTERVAL 1 MONTH)"
}

batch_of() { # batch_of "enqueue output"
  sed -n 's/^batch \(b[0-9a-f]\{23\}\):.*/\1/p' <<<"$1"
}
