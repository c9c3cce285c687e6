# hosts_lib.sh - run processes on simulated hosts (sourced after lib.sh).
#
# A simulated host is a network and a UTS namespace of its own: its own
# loopback and nothing else, and its own host name. A holder process made
# by `unshare --net --uts` keeps them (so they outlive a worker killed in
# them, as a host outlives its crashed process); the host's processes enter
# them with nsenter. No pid namespace: a process keeps its pid, so the
# "host:pid" a worker gives itself names a pid the test can kill. MariaDB
# and Redis listen on 127.0.0.1 of the real host, which a namespace cannot
# reach; socat relays carry the traffic through unix sockets, whose paths
# cross network namespaces:
#   host       127.0.0.1:PORT  -> socat -> T_DIR/hosts/PORT.sock
#   real host  T_DIR/hosts/PORT.sock -> socat -> 127.0.0.1:PORT (the server)
# so a host reaches the servers only through its own network, at the same
# URLs as before.
#
#   hosts_init          picks HOSTS_MODE: "netns", or "same-host" (with the
#                       reason in HOSTS_WHY) when namespaces cannot be made
#                       (not root, no CAP_SYS_ADMIN as in many containers) or
#                       a tool is missing; in netns mode starts the real
#                       host's relays.
#   host_start NAME     makes host NAME with its relays (same-host: nothing).
#   on_host NAME CMD... runs CMD on host NAME; call it in the background
#                       (on_host h1 cmd &): it execs, so $! is CMD's pid.
#   host_of PID         the host name the process PID sees.
#   hosts_stop          ends the hosts and relays (call it once the
#                       processes on the hosts have exited).
#
# Every process here is a background job of the test, so lib.sh's EXIT trap
# kills it with its children if the test ends early; the namespaces have no
# names and go with their last process.
set -euo pipefail

HOSTS_DIR=$T_DIR/hosts
HOSTS_MODE=same-host
HOSTS_WHY=""
HOSTS_PORTS=()
HOSTS_JOBS=() # pids of the holders and relays
declare -A HOST_PID # host name -> pid of the process holding its namespaces

# Prints why namespaces cannot be used here; prints nothing if they can.
hosts_unusable() {
  local tool
  for tool in unshare nsenter socat ip ss; do
    if ! command -v "$tool" >/dev/null 2>&1; then
      echo "$tool not found (scripts/setup.sh installs it)"
      return
    fi
  done
  if [[ $T_MYSQL_HOST != 127.0.0.1 || ${T_REDIS[2]} != 127.0.0.1 ]]; then
    echo "the test servers are not on 127.0.0.1"
  elif ((${#HOSTS_DIR} + 12 > 107)); then # sun_path: 107 bytes plus NUL
    echo "$HOSTS_DIR is too long for a unix socket"
  elif ! unshare --net --uts -- sh -c \
    'ip link set lo up && echo probe >/proc/sys/kernel/hostname' 2>/dev/null; then
    echo "cannot create network namespaces (needs root or CAP_SYS_ADMIN)"
  fi
}

hosts_wait_for() { # hosts_wait_for COMMAND...: until it succeeds, 10 s at most
  local i
  for ((i = 0; i < 200; i++)); do
    "$@" && return 0
    sleep 0.05
  done
  return 1
}

hosts_init() {
  local port
  HOSTS_WHY=$(hosts_unusable)
  if [[ -n $HOSTS_WHY ]]; then
    HOSTS_MODE=same-host
    return 0
  fi
  HOSTS_MODE=netns
  HOSTS_PORTS=("$T_MYSQL_PORT" "${T_REDIS[4]}")
  mkdir -p "$HOSTS_DIR"
  for port in "${HOSTS_PORTS[@]}"; do
    socat -lf "$HOSTS_DIR/relays.log" "UNIX-LISTEN:$HOSTS_DIR/$port.sock,fork" \
      "TCP:127.0.0.1:$port" &
    HOSTS_JOBS+=($!)
  done
  for port in "${HOSTS_PORTS[@]}"; do
    hosts_wait_for test -S "$HOSTS_DIR/$port.sock" || fail "relay for port $port did not start"
  done
}

host_of() { # host_of PID
  if [[ $HOSTS_MODE == netns ]]; then
    nsenter --target "$1" --uts cat /proc/sys/kernel/hostname
  else
    cat /proc/sys/kernel/hostname
  fi
}

host_listens() { # host_listens HOLDER PORT
  [[ -n $(nsenter --target "$1" --net ss -Hltn "sport = :$2") ]]
}

host_is_ready() { [[ $(host_of "$1" 2>/dev/null) == "$2" ]]; }

host_start() { # host_start NAME
  local name=$1 holder port
  [[ $HOSTS_MODE == netns ]] || return 0
  # The host name is set last: once the holder shows it, loopback is up.
  # shellcheck disable=SC2016 # $1 is the inner shell's
  unshare --net --uts -- sh -c 'ip link set lo up && echo "$1" >/proc/sys/kernel/hostname &&
    exec sleep infinity' host "$name" </dev/null &
  holder=$!
  HOSTS_JOBS+=("$holder")
  hosts_wait_for host_is_ready "$holder" "$name" || fail "host $name did not come up"
  HOST_PID[$name]=$holder
  for port in "${HOSTS_PORTS[@]}"; do
    nsenter --target "$holder" --net -- socat -lf "$HOSTS_DIR/relays.log" \
      "TCP-LISTEN:$port,bind=127.0.0.1,fork,reuseaddr" "UNIX-CONNECT:$HOSTS_DIR/$port.sock" </dev/null &
    HOSTS_JOBS+=($!)
  done
  for port in "${HOSTS_PORTS[@]}"; do
    hosts_wait_for host_listens "$holder" "$port" || fail "host $name: relay on port $port did not start"
  done
}

on_host() { # on_host NAME CMD... (in the background)
  local name=$1
  shift
  [[ $HOSTS_MODE == netns ]] || exec "$@"
  exec nsenter --target "${HOST_PID[$name]}" --net --uts -- "$@"
}

hosts_stop() {
  local pid
  for pid in "${HOSTS_JOBS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${HOSTS_JOBS[@]}"; do wait "$pid" 2>/dev/null || true; done
  HOSTS_JOBS=()
}
