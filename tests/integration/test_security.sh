#!/usr/bin/env bash
# Credentials and TLS: database and Redis passwords from a file or the
# environment (never needed on the command line), Redis AUTH with an ACL user
# and with the default user's password, failures that say what went wrong
# without printing the password, the warning for a password in a flag, and
# ssl-mode against a server without TLS.
source "$(dirname "$0")/lib.sh"
own_redis_init

# A MariaDB user with a password full of URL syntax, for this database only.
db_user="sqt_sec_$$"
db_pass='p@ss:w/rd%?&#1'
lp_user="sqt_lp_$$"
cleanup_user() { # lib.sh's cleanup reads the test's exit status from $?
  local rc=$?
  sql -e "DROP USER IF EXISTS '$db_user'@'%'; DROP USER IF EXISTS '$lp_user'@'%'" 2>/dev/null || true
  (exit $rc)
  cleanup
}
trap cleanup_user EXIT
sql -e "CREATE USER '$db_user'@'%' IDENTIFIED BY '$db_pass';
        GRANT ALL ON \`$T_DB\`.* TO '$db_user'@'%'"

# A redis-server of our own: ACL user alice (everything but admin commands,
# as a production account would be), and a password on the default user.
port=$OWN_REDIS_PORT
redis_pass='s3cr@t:pass/1'
default_pass='def-pw'
own_redis_start --requirepass "$default_pass" --user alice on ">$redis_pass" '~*' '&*' '+@all' \
  '-@admin'
answers() { own_redis -a "$default_pass" --no-auth-warning PING 2>/dev/null | grep -q PONG; }
wait_until -t 30 "redis-server to start" answers

load_schema
sql "$T_DB" <<'SQL'
INSERT INTO tenants (id, name) VALUES (1, 'One');
INSERT INTO reports (id, tenant_id, name) VALUES (10, 1, 'R10'), (11, 1, 'R11');
INSERT INTO report_items (id, report_id, position, label, kind) VALUES (100, 10, 1, 'T', 'number'), (110, 11, 1, 'T', 'number');
INSERT INTO records (report_id, recorded_at, recorded_by, `values`) VALUES
  (10, '2026-10-02 08:00:00', 'a', '{"100": 1}'), (11, '2026-10-02 08:00:00', 'a', '{"110": 2}');
SQL

db_url_nopass="mysql://$db_user@$T_MYSQL_HOST:$T_MYSQL_PORT/$T_DB"
printf '%s\n' "$db_pass" >"$T_DIR/db.pw"
printf '%s\n' "$redis_pass" >"$T_DIR/redis.pw"
chmod 600 "$T_DIR/db.pw" "$T_DIR/redis.pw"
export SHEETQ_MYSQL_URL=$db_url_nopass SHEETQ_MYSQL_PASSWORD_FILE=$T_DIR/db.pw
export SHEETQ_REDIS_URL="redis://alice@127.0.0.1:$port/0" SHEETQ_REDIS_PASSWORD_FILE=$T_DIR/redis.pw

# Both passwords from files: enqueue, then a worker whose job processes
# reach the database with the same credentials.
out=$(sq enqueue --period 2026-10 2>&1) || fail "enqueue with password files: $out"
assert_contains "$out" "2 new job(s) submitted" "enqueue with password files"
sq worker --burst 2>"$T_DIR/w1.log" || fail "worker with password files: $(tail -3 "$T_DIR/w1.log")"
assert_eq "succeeded succeeded" "$(sql "$T_DB" -e "SELECT GROUP_CONCAT(state SEPARATOR ' ') FROM sheetq_jobs")" "jobs"
[[ -f $T_OUT/1/10/2026-10.xlsx && -f $T_OUT/1/11/2026-10.xlsx ]] || fail "no files written"
# The jobs really went through alice's connection to our server.
assert_eq 1 "$(redis-cli -p "$port" --user alice --pass "$redis_pass" --no-auth-warning \
  EXISTS "sheetq:{$T_QUEUE}:fence")" "queue keys on the ACL server"

# From the environment instead of files; Redis with the default user's password.
out=$(env -u SHEETQ_MYSQL_PASSWORD_FILE -u SHEETQ_REDIS_PASSWORD_FILE \
      SHEETQ_MYSQL_PASSWORD="$db_pass" SHEETQ_REDIS_URL="redis://127.0.0.1:$port/0" \
      SHEETQ_REDIS_PASSWORD="$default_pass" "$SHEETQ_BIN" enqueue --period 2026-10 2>&1) ||
  fail "enqueue with passwords from the environment: $out"
assert_contains "$out" "nothing new to submit" "enqueue with passwords from the environment"
# In the URL itself (percent-encoded), for user alice and for the default user.
enc() { $PY -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
out=$(env -u SHEETQ_MYSQL_PASSWORD_FILE -u SHEETQ_REDIS_PASSWORD_FILE \
      SHEETQ_MYSQL_URL="mysql://$db_user:$(enc "$db_pass")@$T_MYSQL_HOST:$T_MYSQL_PORT/$T_DB" \
      SHEETQ_REDIS_URL="redis://alice:$(enc "$redis_pass")@127.0.0.1:$port/0" \
      "$SHEETQ_BIN" enqueue --period 2026-10 2>&1) || fail "enqueue with passwords in the URLs: $out"
assert_contains "$out" "nothing new to submit" "passwords in the URLs"
out=$(env -u SHEETQ_REDIS_PASSWORD_FILE SHEETQ_REDIS_URL="redis://:$default_pass@127.0.0.1:$port/0" \
      "$SHEETQ_BIN" enqueue --period 2026-10 2>&1) || fail "AUTH with the default user: $out"

# Wrong credentials fail with a clear message that does not quote them.
expect_failure() { # expect_failure WHAT NEEDLE COMMAND...
  local what=$1 needle=$2 out rc=0
  shift 2
  out=$("$@" 2>&1) || rc=$?
  ((rc != 0)) || fail "$what: succeeded"
  assert_contains "$out" "$needle" "$what"
  [[ $out != *wrong-pw* && $out != *"$db_pass"* && $out != *"$redis_pass"* ]] ||
    fail "$what: a password was printed: $out"
}
printf 'wrong-pw\n' >"$T_DIR/bad.pw"
# (enqueue --repair and the worker always talk to Redis; a plain enqueue
# only when it has something to submit.)
expect_failure "wrong redis password" "authentication failed" \
  env SHEETQ_REDIS_PASSWORD_FILE="$T_DIR/bad.pw" "$SHEETQ_BIN" enqueue --repair
expect_failure "wrong redis user" "authentication failed" \
  env SHEETQ_REDIS_URL="redis://bob@127.0.0.1:$port/0" "$SHEETQ_BIN" enqueue --repair
expect_failure "no redis password" "NOAUTH" \
  env -u SHEETQ_REDIS_PASSWORD_FILE SHEETQ_REDIS_URL="redis://127.0.0.1:$port/0" \
  "$SHEETQ_BIN" enqueue --repair
expect_failure "worker with a wrong redis password" "authentication failed" \
  env SHEETQ_REDIS_PASSWORD_FILE="$T_DIR/bad.pw" "$SHEETQ_BIN" worker --burst
expect_failure "wrong database password" "Access denied" \
  env SHEETQ_MYSQL_PASSWORD_FILE="$T_DIR/bad.pw" "$SHEETQ_BIN" enqueue --period 2026-10
expect_failure "missing password file" "cannot open password file" \
  env SHEETQ_MYSQL_PASSWORD_FILE="$T_DIR/none.pw" "$SHEETQ_BIN" enqueue --period 2026-10
: >"$T_DIR/empty.pw"
expect_failure "empty password file" "is empty" \
  env SHEETQ_REDIS_PASSWORD_FILE="$T_DIR/empty.pw" "$SHEETQ_BIN" enqueue --period 2026-10

# A password in a flag works but warns (argv is visible to other users),
# without echoing it; a flag URL without a password does not warn.
out=$(env -u SHEETQ_REDIS_PASSWORD_FILE "$SHEETQ_BIN" enqueue --period 2026-10 \
      --redis-url "redis://alice:$(enc "$redis_pass")@127.0.0.1:$port/0" 2>&1) || fail "flag URL: $out"
assert_contains "$out" "warning: --redis-url puts a password on the command line" "argv warning"
[[ $out != *"$(enc "$redis_pass")"* ]] || fail "the warning printed the password"
out=$(sq enqueue --period 2026-10 --mysql-url "$db_url_nopass" 2>&1) || fail "flag URL without password: $out"
[[ $out != *warning* ]] || fail "warned about a flag without a password: $out"

# ssl-mode: the test server has no TLS. disabled and preferred connect;
# required refuses, with exit status 2 (configuration) and a clear reason.
[[ $(sql -e "SELECT @@have_ssl") != YES ]] || { echo "note: test server has TLS; skipping the no-TLS checks" >&2; echo ok; exit 0; }
SHEETQ_MYSQL_SSL_MODE=disabled sq migrate >/dev/null || fail "ssl-mode disabled"
SHEETQ_MYSQL_SSL_MODE=preferred sq migrate >/dev/null || fail "ssl-mode preferred"
rc=0; out=$(SHEETQ_MYSQL_SSL_MODE=required sq migrate 2>&1) || rc=$?
assert_eq 2 "$rc" "exit status of ssl-mode required without TLS"
assert_contains "$out" "with ssl-mode required: the server does not support TLS" "ssl-mode required"
rc=0; out=$(SHEETQ_MYSQL_URL="$db_url_nopass?ssl-mode=verify-identity" sq migrate 2>&1) || rc=$?
assert_eq 2 "$rc" "exit status of ?ssl-mode=verify-identity without TLS"
assert_contains "$out" "ssl-mode verify-identity" "verify-identity"
rc=0; out=$(SHEETQ_MYSQL_SSL_MODE=sometimes sq migrate 2>&1) || rc=$?
assert_eq 2 "$rc" "exit status of a bad ssl-mode"
assert_contains "$out" "mysql_ssl_mode must be disabled, preferred, required" "bad ssl-mode"

# The least-privilege account of docs/deploy.md (SELECT, INSERT, UPDATE and
# EXECUTE on the database) runs every command once `sheetq migrate` has run
# with more. Before migrate, it is told what it lacks, as a configuration
# error (2), not a temporary one that a scheduler would retry forever.
sql -e "CREATE USER '$lp_user'@'%' IDENTIFIED BY 'lp-pw';
        GRANT SELECT, INSERT, UPDATE ON \`$T_DB\`.* TO '$lp_user'@'%'"
lp_url="mysql://$lp_user:lp-pw@$T_MYSQL_HOST:$T_MYSQL_PORT/$T_DB"
sql "$T_DB" -e "DROP TABLE IF EXISTS sheetq_attempts, sheetq_jobs, sheetq_batches, sheetq_schema"
lp() { env -u SHEETQ_MYSQL_PASSWORD_FILE SHEETQ_MYSQL_URL="$lp_url" "$SHEETQ_BIN" "$@"; }
rc=0; out=$(lp status 2>&1) || rc=$?
assert_eq 2 "$rc" "exit status of a command the account lacks the grants for"
assert_contains "$out" "CREATE command denied" "the missing privilege"
sq migrate >/dev/null || fail "migrate with the full account"
# Without EXECUTE a worker could record no start: it does not start, and says
# what to grant.
rc=0; out=$(lp worker --burst 2>&1) || rc=$?
assert_eq 2 "$rc" "exit status of a worker that may not call the ledger's procedures"
assert_contains "$out" "grant EXECUTE" "what the worker says it lacks"
sql -e "GRANT EXECUTE ON \`$T_DB\`.* TO '$lp_user'@'%'"
sql "$T_DB" <<'SQL'
INSERT INTO tenants (id, name) VALUES (77, 'Least privilege');
INSERT INTO reports (id, tenant_id, name) VALUES (77, 77, 'R');
INSERT INTO report_items (id, report_id, position, label, kind) VALUES (770, 77, 1, 'V', 'number');
INSERT INTO records (report_id, recorded_at, recorded_by, `values`) VALUES (77, '2027-02-05 10:00:00', 'x', '{"770": 3}');
SQL
for cmd in "enqueue --period 2027-02 --tenant 77" "worker --burst" "status"; do
  # shellcheck disable=SC2086 # the command's words
  out=$(lp $cmd 2>&1) || fail "$cmd with SELECT, INSERT, UPDATE, EXECUTE: $out"
done
assert_eq succeeded "$(sql "$T_DB" -e "SELECT state FROM sheetq_jobs WHERE report_id = 77")" \
  "the job run by the least-privilege account"
echo ok
