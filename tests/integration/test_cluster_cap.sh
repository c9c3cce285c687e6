#!/usr/bin/env bash
# Bounded parallelism across hosts: 4 workers, each able to run 2 jobs,
# share a cluster budget of 6 vCPUs with 2-vCPU jobs, so at most 3 jobs run
# at once. Each worker runs on a host of its own: its own network and UTS
# namespaces, reaching MariaDB and Redis only through relays into its own
# loopback (tests/integration/hosts_lib.sh); where namespaces cannot be made
# (not root, a container without CAP_SYS_ADMIN) the workers share this host
# and the test says so. A sampler reads the queue's holds and ready count
# from Redis every 50 ms (atomically, in one script). Asserts: never more
# than 3 running; 3 running whenever work was waiting, but for dispatch gaps;
# a worker killed while it holds capacity gives it back (its job is taken
# over) and every job succeeds; nothing is held at the end; the ledger names
# each attempt's worker by the host it ran on (at least 2 distinct hosts).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/hosts_lib.sh"

hosts_init
if [[ $HOSTS_MODE == netns ]]; then
  echo "hosts: one network and UTS namespace per worker"
  # A namespace reaches the servers only through its relays.
  if unshare --net -- bash -c "ip link set lo up && exec 3<>/dev/tcp/127.0.0.1/$T_MYSQL_PORT" 2>/dev/null; then
    fail "a network namespace without relays reached MariaDB"
  fi
else
  echo "hosts: all workers on this host; $HOSTS_WHY"
fi

load_schema
sql "$T_DB" <<'SQL'
INSERT INTO tenants (id, name) VALUES (1, 'A'), (2, 'B'), (3, 'C');
INSERT INTO reports (id, tenant_id, name)
  SELECT seq, 1 + seq % 3, CONCAT('Report ', seq) FROM seq_1_to_24;
INSERT INTO report_items (id, report_id, position, label, kind)
  SELECT seq, seq, 1, 'Value', 'number' FROM seq_1_to_24;
INSERT INTO records (report_id, recorded_at, recorded_by, `values`)
  SELECT seq, '2026-10-05 10:00:00', 'x', JSON_OBJECT(CAST(seq AS CHAR), seq) FROM seq_1_to_24;
SQL
export SHEETQ_MAX_VCPUS=6 SHEETQ_JOB_VCPUS=2 SHEETQ_LEASE_SECONDS=3
export SHEETQ_TEST_FAULT='slow:report=*:700'
out=$(sq enqueue --period 2026-10)
assert_contains "$out" "24 new job(s)" "enqueue"
p="sheetq:{$T_QUEUE}:"

sampler() { # one line per sample: running, ready
  local script="return {redis.call('HLEN', KEYS[1]), tonumber(redis.call('GET', KEYS[2]) or '0')}"
  for ((i = 0; i < 1200; i++)); do # bounded: at most ~60 s
    redis EVAL "$script" 2 "${p}holds" "${p}nready" | paste -sd' '
    sleep 0.05
  done
}
sampler >"$T_DIR/samples" &
sampler_pid=$!

pids=()
for w in 1 2 3 4; do
  host_start "sheetq-host$w"
  on_host "sheetq-host$w" "$SHEETQ_BIN" worker --vcpus 4 2>"$T_DIR/w$w.log" &
  pids+=($!)
done
# Each worker's host, as the worker sees it (once nsenter has become the
# sheetq binary): the ledger must name the same.
declare -A host_by_pid
nets=()
for pid in "${pids[@]}"; do
  for ((i = 0; i < 200; i++)); do # bounded: 10 s
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == sheetq ]] && break
    sleep 0.05
  done
  [[ $(cat "/proc/$pid/comm" 2>/dev/null) == sheetq ]] || fail "worker $pid did not start"
  host_by_pid[$pid]=$(host_of "$pid")
  nets+=("$(readlink "/proc/$pid/ns/net")")
done
if [[ $HOSTS_MODE == netns ]]; then
  n=$(printf '%s\n' "${nets[@]}" "$(readlink /proc/self/ns/net)" | sort -u | wc -l)
  assert_eq 5 "$n" "network namespaces of 4 workers and the test"
  n=$(printf '%s\n' "${host_by_pid[@]}" | sort -u | wc -l)
  assert_eq 4 "$n" "host names of 4 workers"
fi

# Kill, with SIGKILL, a worker that holds capacity.
victim=""
for ((i = 0; i < 100; i++)); do
  [[ -n $victim ]] && break
  sleep 0.1
  w=$(sql "$T_DB" -e "SELECT worker FROM sheetq_jobs WHERE state = 'running' LIMIT 1")
  [[ -n $w ]] && victim=${w##*:}
done
[[ -n $victim ]] || fail "no job started"
[[ -n ${host_by_pid[$victim]:-} ]] || fail "the ledger names pid $victim, not a worker's"
kill -9 "$victim"
echo "killed worker $victim while it ran a job"

for ((i = 0; i < 600; i++)); do # bounded: 60 s
  left=$(sql "$T_DB" -e "SELECT COUNT(*) FROM sheetq_jobs WHERE state <> 'succeeded'")
  [[ $left == 0 ]] && break
  sleep 0.1
done
assert_eq 0 "$left" "jobs not succeeded after 60 s"
for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
hosts_stop
kill "$sampler_pid" 2>/dev/null || true
wait "$sampler_pid" 2>/dev/null || true

assert_eq 0 "$(redis HLEN "${p}holds")" "vCPU holds left at the end"
# The killed worker's jobs (one or two) were taken over; no other was lost.
lost=$(sql "$T_DB" -e "SELECT COUNT(*) FROM sheetq_attempts WHERE outcome = 'lost'")
others=$(sql "$T_DB" -e "SELECT COUNT(*) FROM sheetq_attempts WHERE outcome = 'lost'
  AND worker NOT LIKE '%:$victim'")
((lost >= 1)) || fail "no attempt of the killed worker was recorded as lost"
assert_eq 0 "$others" "attempts lost by workers that were not killed"

# The samples: never over the cap; at the cap while work was waiting.
read -r max waiting full < <(awk 'NF == 2 {
    if ($1 > max) max = $1
    if ($2 > 0) { waiting++; if ($1 == 3) full++ } }
  END { print max + 0, waiting + 0, full + 0 }' "$T_DIR/samples")
echo "samples: max running $max; $full of $waiting samples with work waiting ran 3 jobs"
((max <= 3)) || fail "ran $max jobs at once with a budget of 3"
((max == 3)) || fail "never reached the budget of 3 jobs"
# While work waits, only dispatch gaps (ms) and the dead worker's lease (3 s
# of 1 slot) may leave a slot idle.
((waiting > 20)) || fail "too few samples with work waiting ($waiting)"
((full * 100 >= waiting * 70)) || fail "budget kept full in only $full of $waiting samples"

# The ledger agrees: no instant with more than 3 attempts in flight. Lost
# attempts are left out: the ledger learns of a loss only after Redis has
# taken the lease back (the samples above cover that moment exactly).
overlap=$(sql "$T_DB" -e "SELECT MAX(c) FROM (SELECT a.job_id, a.started_at,
    (SELECT COUNT(*) FROM sheetq_attempts b WHERE b.outcome <> 'lost'
       AND b.started_at <= a.started_at
       AND COALESCE(b.finished_at, UTC_TIMESTAMP(3)) > a.started_at) c
     FROM sheetq_attempts a WHERE a.outcome <> 'lost') x")
((overlap <= 3)) || fail "the ledger shows $overlap attempts at once"

# The ledger names each attempt's worker as host:pid, the host being the
# one that worker ran on.
while read -r w; do
  pid=${w##*:}
  [[ -n ${host_by_pid[$pid]:-} ]] || fail "the ledger names worker $w, not one of ours"
  assert_eq "${host_by_pid[$pid]}:$pid" "$w" "worker of an attempt"
done < <(sql "$T_DB" -e "SELECT DISTINCT worker FROM sheetq_attempts")
hosts=$(sql "$T_DB" -e "SELECT COUNT(DISTINCT SUBSTRING_INDEX(worker, ':', 1)) FROM sheetq_attempts")
echo "hosts: attempts ran on $hosts host(s) ($HOSTS_MODE)"
if [[ $HOSTS_MODE == netns ]]; then
  ((hosts >= 2)) || fail "attempts ran on $hosts host(s), not on 2 or more"
fi
echo "ok: cap of 3 held across 4 workers ($HOSTS_MODE), capacity returned after SIGKILL"
