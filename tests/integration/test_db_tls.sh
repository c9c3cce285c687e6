#!/usr/bin/env bash
# MariaDB over TLS: a MariaDB of our own (scripts/servers.sh with
# SHEETQ_MYSQL_TLS_DIR) with a certificate from a test CA made here with the
# openssl CLI, issued for the name db.sheetq.test only. sheetq's ssl-mode
# settings must connect or refuse exactly as MySQL's --ssl-mode documents.
# A user that the server admits only over TLS (REQUIRE SSL) proves which
# connections really used TLS. Needs only SHEETQ_BIN.
set -euo pipefail
ROOT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
skip() { echo "skip: $*" >&2; exit 77; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
assert_eq() { [[ $1 == "$2" ]] || fail "$3: expected '$1', got '$2'"; }
assert_contains() { [[ $1 == *"$2"* ]] || fail "$3: '$2' not found in: $1"; }
[[ -n ${SHEETQ_BIN:-} ]] || skip "SHEETQ_BIN must be set"
for c in mariadbd mariadb-install-db mariadb openssl redis-server; do
  command -v "$c" >/dev/null 2>&1 || skip "$c not installed"
done
while read -r v; do
  [[ $v == SHEETQ_BIN ]] || unset "$v"
done < <(compgen -e | grep '^SHEETQ_' || true)
unset MARIADB_HOME MYSQL_HOME MYSQL_HOST MYSQL_TCP_PORT MYSQL_UNIX_PORT

T_DIR=$(mktemp -d "${TMPDIR:-/tmp}/sheetq-db-tls.XXXXXX")
SRV=$T_DIR/srv
cleanup() {
  local rc=$?
  "$ROOT_DIR/scripts/servers.sh" stop "$SRV" >>"$T_DIR/servers.log" 2>&1 || true
  if ((rc == 0)); then rm -rf "$T_DIR"; else rm -rf "$SRV/mariadb/data"; echo "kept $T_DIR" >&2; fi
}
trap cleanup EXIT

# A CA, a server certificate it signs for db.sheetq.test, and an unrelated CA.
tls=$T_DIR/tls
mkdir -p "$tls"
(
  cd "$tls"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=sheetq test CA" \
    -keyout ca-key.pem -out ca.pem
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=other CA" \
    -keyout other-key.pem -out other-ca.pem
  openssl req -newkey rsa:2048 -nodes -subj "/CN=db.sheetq.test" \
    -keyout server-key.pem -out server.csr
  printf 'subjectAltName=DNS:db.sheetq.test\n' >san.ext
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial \
    -days 2 -extfile san.ext -out server-cert.pem
) >"$T_DIR/openssl.log" 2>&1 || fail "openssl: $(tail -3 "$T_DIR/openssl.log")"

SHEETQ_MYSQL_TLS_DIR=$tls SHEETQ_MYSQL_BUFFER_POOL=64M SHEETQ_MYSQL_DATABASE=tls \
  "$ROOT_DIR/scripts/servers.sh" start "$SRV" >"$T_DIR/servers.log" 2>&1 ||
  fail "servers.sh: $(tail -5 "$T_DIR/servers.log")"
port=$(<"$SRV/mariadb/port")
db() { mariadb --no-defaults -uroot --socket="$SRV/mariadb/mariadbd.sock" --batch --skip-column-names "$@"; }
assert_eq YES "$(db -e "SELECT @@have_ssl")" "server TLS"
db -e "CREATE USER 'tlsonly'@'%' IDENTIFIED BY 'pw' REQUIRE SSL; GRANT ALL ON tls.* TO 'tlsonly'@'%'"

url="mysql://tlsonly@127.0.0.1:$port/tls"
export SHEETQ_MYSQL_PASSWORD=pw
migrate() { "$SHEETQ_BIN" migrate "$@" 2>&1; }
expect_refused() { # expect_refused WHAT NEEDLE [settings as VAR=VALUE]...
  local what=$1 needle=$2 out rc=0
  shift 2
  out=$(env "$@" "$SHEETQ_BIN" migrate 2>&1) || rc=$?
  echo "$what: $out" >&2
  ((rc != 0)) || fail "$what: connected"
  assert_contains "$out" "$needle" "$what"
}

# Without TLS the server turns the user away: proof that the others used TLS.
expect_refused "ssl-mode disabled" "Access denied" SHEETQ_MYSQL_URL="$url" SHEETQ_MYSQL_SSL_MODE=disabled
out=$(SHEETQ_MYSQL_URL="$url" SHEETQ_MYSQL_SSL_MODE=preferred migrate) || fail "preferred: $out"
out=$(SHEETQ_MYSQL_URL="$url" SHEETQ_MYSQL_SSL_MODE=required migrate) || fail "required: $out"
out=$(SHEETQ_MYSQL_URL="$url?ssl-mode=required" migrate) || fail "?ssl-mode=required: $out"
assert_contains "$out" "schema version" "migrate over TLS"
# verify-ca: the chain must lead to the CA given, whatever the name.
out=$(SHEETQ_MYSQL_URL="$url" SHEETQ_MYSQL_SSL_MODE=verify-ca SHEETQ_MYSQL_SSL_CA="$tls/ca.pem" migrate) ||
  fail "verify-ca with the right CA: $out"
expect_refused "verify-ca with another CA" "with ssl-mode verify-ca: TLS/SSL error" SHEETQ_MYSQL_URL="$url" \
  SHEETQ_MYSQL_SSL_MODE=verify-ca SHEETQ_MYSQL_SSL_CA="$tls/other-ca.pem"
expect_refused "verify-ca without a CA" "needs a CA file" SHEETQ_MYSQL_URL="$url" SHEETQ_MYSQL_SSL_MODE=verify-ca
# verify-identity: the certificate is for db.sheetq.test, not 127.0.0.1.
expect_refused "verify-identity, wrong name" "Validation of SSL server certificate failed" SHEETQ_MYSQL_URL="$url" \
  SHEETQ_MYSQL_SSL_MODE=verify-identity SHEETQ_MYSQL_SSL_CA="$tls/ca.pem"
# Refusals are configuration errors (exit status 2), not retried.
rc=0; env SHEETQ_MYSQL_URL="$url" SHEETQ_MYSQL_SSL_MODE=verify-ca SHEETQ_MYSQL_SSL_CA="$tls/other-ca.pem" \
  "$SHEETQ_BIN" migrate >/dev/null 2>&1 || rc=$?
assert_eq 2 "$rc" "exit status of a certificate that does not verify"
echo ok
