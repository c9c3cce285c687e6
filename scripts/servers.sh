#!/usr/bin/env bash
# servers.sh - a private MariaDB and redis-server for development and tests.
#
#   scripts/servers.sh start  DIR   start both (or reuse them if already running)
#   scripts/servers.sh stop   DIR   stop both: clean shutdown, SIGKILL after a timeout
#   scripts/servers.sh status DIR   print their state; exit 0 only if both run
#
# Everything lives under DIR: DIR/mariadb (datadir, tmpdir, socket, pid, log, port) and
# DIR/redis (append-only file, pid, log, port). Both listen on 127.0.0.1 only.
# After `start`, `. DIR/env.sh` exports SHEETQ_MYSQL_URL, SHEETQ_REDIS_URL,
# SHEETQ_MYSQL_DATABASE and MARIADB_HOME=DIR, whose my.cnf points a plain
# `mariadb` at this server and database (plus MYSQL_HOST/MYSQL_TCP_PORT/
# MYSQL_UNIX_PORT for other clients).
#
# Ports are free ones picked at start (below the kernel's ephemeral range), and
# a server that loses a port race is restarted on another one. Fixed ports:
# SHEETQ_MYSQL_PORT, SHEETQ_REDIS_PORT. Database name: SHEETQ_MYSQL_DATABASE
# (default sheetq). InnoDB buffer pool: SHEETQ_MYSQL_BUFFER_POOL (default 1G: a 1M-record
# report is ~700 MB of rows, and streaming it from a smaller pool is disk-bound).
# TLS: SHEETQ_MYSQL_TLS_DIR names a directory holding ca.pem, server-cert.pem
# and server-key.pem; MariaDB then offers TLS with them (default: no TLS).
# Binary log: SHEETQ_MYSQL_BINLOG_FORMAT (ROW, MIXED or STATEMENT) turns it on
# in DIR/mariadb/binlog with that format (default: no binary log).
#
# Meant for throwaway servers run as root (mariadbd gets --user=root); no
# systemd. The MariaDB root account has no password and is reachable only from
# this host. stop/status touch only the processes whose pid files are in DIR.
set -euo pipefail

readonly START_TIMEOUT=60 # seconds to wait for a server to answer
readonly STOP_TIMEOUT=30  # seconds to wait for a clean shutdown before SIGKILL
readonly PORT_TRIES=8

die() {
  printf 'servers.sh: %s\n' "$*" >&2
  exit 1
}
note() { printf 'servers.sh: %s\n' "$*" >&2; }

usage() {
  cat >&2 <<'EOF'
usage: scripts/servers.sh start|stop|status DIR
  env: SHEETQ_MYSQL_PORT, SHEETQ_REDIS_PORT (fixed ports), SHEETQ_MYSQL_DATABASE
       (default sheetq), SHEETQ_MYSQL_BUFFER_POOL (default 1G),
       SHEETQ_MYSQL_TLS_DIR, SHEETQ_MYSQL_BINLOG_FORMAT
EOF
  exit 2
}

need() {
  command -v "$1" >/dev/null 2>&1 || die "$1 not found (apt-get install -y $2)"
}

# --- process helpers ------------------------------------------------------

# Prints the pid stored in $1 if that process is alive and its command is $2.
live_pid() {
  local pidfile=$1 comm=$2 pid
  [[ -s $pidfile ]] || return 1
  pid=$(<"$pidfile")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ -r /proc/$pid/comm ]] || return 1
  [[ $(<"/proc/$pid/comm") == "$comm"* ]] || return 1
  printf '%s\n' "$pid"
}

port_in_use() {
  if command -v ss >/dev/null 2>&1; then
    [[ -n $(ss -Hltn "sport = :$1" 2>/dev/null) ]]
  else
    (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null
  fi
}

# A port in 20000-32767: below Linux's default ephemeral range (32768-60999),
# so outgoing connections cannot be holding it, and not currently listening.
pick_port() {
  local p i
  for ((i = 0; i < 200; i++)); do
    p=$((20000 + (RANDOM % 12768)))
    port_in_use "$p" || {
      printf '%s\n' "$p"
      return 0
    }
  done
  die "no free TCP port found in 20000-32767"
}

valid_port() {
  if ! [[ $1 =~ ^[0-9]+$ ]] || (($1 < 1 || $1 > 65535)); then
    die "invalid port \"$1\""
  fi
}

# Waits until "$@" succeeds while pid $1 lives. Returns 1 if the process
# exited, 2 on timeout.
wait_ready() {
  local pid=$1 deadline=$((SECONDS + START_TIMEOUT))
  shift
  until "$@" >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || return 1
    ((SECONDS < deadline)) || return 2
    sleep 0.2
  done
}

# Stops pid from pidfile $1 (command $2): SIGTERM, then SIGKILL after timeout.
stop_pid() {
  local pidfile=$1 comm=$2 name=$3 pid deadline
  if ! pid=$(live_pid "$pidfile" "$comm"); then
    note "$name: not running"
    rm -f "$pidfile"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    note "$name: pid $pid still running after ${STOP_TIMEOUT}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  fi
  rm -f "$pidfile"
  note "$name: stopped (pid $pid)"
}

# --- MariaDB --------------------------------------------------------------

mysql_ping() {
  mariadb-admin --no-defaults -uroot --socket="$MY_SOCK" --connect-timeout=2 ping
}

mysql_init() {
  [[ -d $MY_DIR/data/mysql ]] && return 0
  note "mariadb: initialising $MY_DIR/data"
  mkdir -p "$MY_DIR"
  rm -rf "$MY_DIR/data"
  if ! mariadb-install-db --no-defaults --user=root --datadir="$MY_DIR/data" \
    --auth-root-authentication-method=normal --skip-test-db \
    >"$MY_DIR/install.log" 2>&1; then
    tail -n 20 "$MY_DIR/install.log" >&2 || true
    rm -rf "$MY_DIR/data"
    die "mariadb-install-db failed (log: $MY_DIR/install.log)"
  fi
}

# How a start went, from wait_ready's status: 0 the server answers; 1 its
# port was taken meanwhile (the caller tries another); otherwise it dies with
# the end of the server's log.
start_outcome() { # start_outcome NAME PID RC LOG PORT FIXED_PORT
  local name=$1 pid=$2 rc=$3 log=$4 port=$5 fixed=$6
  ((rc == 0)) && return 0
  if ((rc == 2)); then
    kill -KILL "$pid" 2>/dev/null || true
    tail -n 20 "$log" >&2 || true
    die "$name did not answer within ${START_TIMEOUT}s (log: $log)"
  fi
  if [[ -z $fixed ]] && tail -n 20 "$log" | grep -q 'Address already in use'; then
    note "$name: port $port taken meanwhile, trying another"
    return 1
  fi
  tail -n 20 "$log" >&2 || true
  die "$name exited during startup on port $port (log: $log)"
}

mysql_start() {
  local pid port try rc fixed=${SHEETQ_MYSQL_PORT:-}
  if pid=$(live_pid "$MY_DIR/mariadbd.pid" mariadbd); then
    port=$(<"$MY_DIR/port")
    [[ -z $fixed || $fixed == "$port" ]] ||
      die "mariadb already running in $MY_DIR on port $port, not $fixed (stop it first)"
    wait_ready "$pid" mysql_ping || die "mariadb (pid $pid) is running but does not answer"
    note "mariadb: reusing pid $pid on port $port"
    MY_PORT=$port
    return 0
  fi
  mysql_init
  [[ -n $fixed ]] && valid_port "$fixed"
  local tls=() t=${SHEETQ_MYSQL_TLS_DIR:-}
  [[ -z $t ]] || tls=(--ssl-ca="$t/ca.pem" --ssl-cert="$t/server-cert.pem" --ssl-key="$t/server-key.pem")
  local binlog=(--skip-log-bin) f=${SHEETQ_MYSQL_BINLOG_FORMAT:-}
  case $f in
    "") ;;
    ROW | MIXED | STATEMENT) binlog=(--log-bin="$MY_DIR/binlog" --server-id=1 --binlog-format="$f") ;;
    *) die "SHEETQ_MYSQL_BINLOG_FORMAT: ROW, MIXED or STATEMENT, not \"$f\"" ;;
  esac
  for ((try = 1; try <= PORT_TRIES; try++)); do
    port=${fixed:-$(pick_port)}
    rm -f "$MY_DIR/mariadbd.pid" "$MY_SOCK"
    # Its own tmpdir: temporary tables must not share /tmp with other
    # servers and whatever cleans /tmp.
    mkdir -p "$MY_DIR/tmp"
    # setsid: the server must outlive this script and its process group.
    setsid mariadbd --no-defaults --user=root \
      --datadir="$MY_DIR/data" --socket="$MY_SOCK" --tmpdir="$MY_DIR/tmp" \
      --pid-file="$MY_DIR/mariadbd.pid" --log-error="$MY_DIR/mariadbd.log" \
      --port="$port" --bind-address=127.0.0.1 "${binlog[@]}" \
      --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci \
      --innodb-buffer-pool-size="${SHEETQ_MYSQL_BUFFER_POOL:-1G}" \
      --innodb-log-file-size=256M --max-allowed-packet=64M "${tls[@]}" \
      </dev/null >>"$MY_DIR/mariadbd.log" 2>&1 &
    pid=$!
    rc=0
    wait_ready "$pid" mysql_ping || rc=$?
    start_outcome mariadb "$pid" "$rc" "$MY_DIR/mariadbd.log" "$port" "$fixed" || continue
    printf '%s\n' "$port" >"$MY_DIR/port"
    MY_PORT=$port
    note "mariadb: started pid $pid on 127.0.0.1:$port"
    return 0
  done
  die "mariadb: no usable port after $PORT_TRIES tries"
}

mysql_create_db() {
  mariadb --no-defaults -uroot --socket="$MY_SOCK" -e \
    "CREATE DATABASE IF NOT EXISTS \`$DB_NAME\` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci" ||
    die "could not create database $DB_NAME"
}

# --- redis ----------------------------------------------------------------

redis_ping() {
  [[ $(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null) == PONG ]]
}

redis_start() {
  local pid port try rc fixed=${SHEETQ_REDIS_PORT:-}
  mkdir -p "$RD_DIR"
  if pid=$(live_pid "$RD_DIR/redis.pid" redis-server); then
    port=$(<"$RD_DIR/port")
    [[ -z $fixed || $fixed == "$port" ]] ||
      die "redis already running in $RD_DIR on port $port, not $fixed (stop it first)"
    wait_ready "$pid" redis_ping "$port" || die "redis (pid $pid) is running but does not answer"
    note "redis: reusing pid $pid on port $port"
    RD_PORT=$port
    return 0
  fi
  [[ -n $fixed ]] && valid_port "$fixed"
  for ((try = 1; try <= PORT_TRIES; try++)); do
    port=${fixed:-$(pick_port)}
    rm -f "$RD_DIR/redis.pid"
    setsid redis-server --port "$port" --bind 127.0.0.1 --dir "$RD_DIR" \
      --pidfile "$RD_DIR/redis.pid" \
      --daemonize no --appendonly yes --appendfsync everysec --save '' \
      --maxmemory-policy noeviction \
      </dev/null >>"$RD_DIR/redis.log" 2>&1 &
    pid=$!
    rc=0
    wait_ready "$pid" redis_ping "$port" || rc=$?
    start_outcome redis "$pid" "$rc" "$RD_DIR/redis.log" "$port" "$fixed" || continue
    printf '%s\n' "$port" >"$RD_DIR/port"
    RD_PORT=$port
    note "redis: started pid $pid on 127.0.0.1:$port"
    return 0
  done
  die "redis: no usable port after $PORT_TRIES tries"
}

# --- env.sh ---------------------------------------------------------------

write_env() {
  local tmp=$DIR/env.sh.tmp
  # Client defaults for the mariadb CLI (read through MARIADB_HOME), so that
  # a plain `mariadb` reaches this server and its database.
  {
    printf '# Written by scripts/servers.sh start.\n'
    printf '[client]\nuser=root\nhost=127.0.0.1\nport=%s\nsocket=%s\n' "$MY_PORT" "$MY_SOCK"
    printf 'default-character-set=utf8mb4\n'
    printf '[mysql]\ndatabase=%s\n' "$DB_NAME"
  } >"$DIR/my.cnf.tmp"
  mv -f "$DIR/my.cnf.tmp" "$DIR/my.cnf"
  {
    printf '# Written by scripts/servers.sh start; source it: . %q\n' "$DIR/env.sh"
    printf 'export SHEETQ_MYSQL_URL=%q\n' "mysql://root@127.0.0.1:$MY_PORT/$DB_NAME"
    printf 'export SHEETQ_REDIS_URL=%q\n' "redis://127.0.0.1:$RD_PORT/0"
    printf 'export SHEETQ_MYSQL_DATABASE=%q\n' "$DB_NAME"
    # Not SHEETQ_*_PORT: those pin the ports of the next `start`.
    # shellcheck disable=SC2016 # literal text for the reader of env.sh
    printf '# CLIs: mariadb (reads $MARIADB_HOME/my.cnf); redis-cli -u "$SHEETQ_REDIS_URL"\n'
    printf 'export MARIADB_HOME=%q MYSQL_HOME=%q\n' "$DIR" "$DIR"
    printf 'export MYSQL_HOST=127.0.0.1 MYSQL_TCP_PORT=%q MYSQL_UNIX_PORT=%q\n' \
      "$MY_PORT" "$MY_SOCK"
  } >"$tmp"
  mv -f "$tmp" "$DIR/env.sh"
}

# --- commands -------------------------------------------------------------

cmd_start() {
  need mariadbd mariadb-server
  need mariadb-install-db mariadb-server
  need mariadb-admin mariadb-client
  need mariadb mariadb-client
  need redis-server redis-server
  need redis-cli redis-tools
  need setsid util-linux
  [[ $(id -u) == 0 ]] || note "warning: not root; mariadbd --user=root may fail"
  [[ $DB_NAME =~ ^[A-Za-z0-9_]{1,64}$ ]] ||
    die "invalid database name \"$DB_NAME\" (letters, digits, _)"
  mkdir -p "$MY_DIR" "$RD_DIR"
  mysql_start
  redis_start
  mysql_create_db
  write_env
  printf 'SHEETQ_MYSQL_URL=mysql://root@127.0.0.1:%s/%s\n' "$MY_PORT" "$DB_NAME"
  printf 'SHEETQ_REDIS_URL=redis://127.0.0.1:%s/0\n' "$RD_PORT"
  printf 'source %s/env.sh to use them\n' "$DIR"
}

cmd_stop() {
  [[ -d $DIR ]] || die "$DIR: no such directory"
  stop_pid "$MY_DIR/mariadbd.pid" mariadbd mariadb
  stop_pid "$RD_DIR/redis.pid" redis-server redis
}

cmd_status() {
  local pid ok=0
  if pid=$(live_pid "$MY_DIR/mariadbd.pid" mariadbd); then
    printf 'mariadb: running, pid %s, 127.0.0.1:%s, socket %s\n' \
      "$pid" "$(cat "$MY_DIR/port" 2>/dev/null || echo '?')" "$MY_SOCK"
  else
    printf 'mariadb: stopped\n'
    ok=3
  fi
  if pid=$(live_pid "$RD_DIR/redis.pid" redis-server); then
    printf 'redis: running, pid %s, 127.0.0.1:%s\n' \
      "$pid" "$(cat "$RD_DIR/port" 2>/dev/null || echo '?')"
  else
    printf 'redis: stopped\n'
    ok=3
  fi
  return "$ok"
}

(($# == 2)) || usage
cmd=$1
[[ -n $2 ]] || usage
if [[ $cmd == start ]]; then mkdir -p -- "$2" || die "cannot create $2"; fi
[[ -d $2 ]] || die "$2: no such directory"
DIR=$(cd -- "$2" && pwd -P)
MY_DIR=$DIR/mariadb
RD_DIR=$DIR/redis
MY_SOCK=$MY_DIR/mariadbd.sock
MY_PORT=
RD_PORT=
DB_NAME=${SHEETQ_MYSQL_DATABASE:-sheetq}
# sun_path holds 107 bytes plus NUL.
((${#MY_SOCK} <= 107)) || die "$DIR is too long a path for a unix socket; use a shorter DIR"

case $cmd in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
*) usage ;;
esac
