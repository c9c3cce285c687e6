#!/usr/bin/env bash
# The worker's Prometheus endpoint (--metrics-addr), scraped with curl:
# queue depth while jobs wait, then attempt histograms and failures by
# reason after a batch with one job that fails every attempt; wrong paths,
# garbage and oversized requests are answered (by libmicrohttpd) and do not
# kill the worker; the connection limit and the idle timeout hold; a busy
# address is a clear start-up error.
source "$(dirname "$0")/lib.sh"
command -v curl >/dev/null || { echo "skip: curl not installed" >&2; exit 77; }

load_schema
sql "$T_DB" <<'SQL'
INSERT INTO tenants (id, name) VALUES (1, 'T');
INSERT INTO reports (id, tenant_id, name) VALUES (1, 1, 'A'), (2, 1, 'B'), (3, 1, 'Fails');
INSERT INTO report_items (id, report_id, position, label, kind) VALUES
  (1, 1, 1, 'V', 'number'), (2, 2, 1, 'V', 'number'), (3, 3, 1, 'V', 'number');
INSERT INTO records (report_id, recorded_at, recorded_by, `values`) VALUES
  (1, '2026-10-05 10:00:00', 'x', '{"1": 1}'), (2, '2026-10-05 10:00:00', 'x', '{"2": 2}'),
  (3, '2026-10-05 10:00:00', 'x', '{"3": 3}');
SQL
export SHEETQ_MAX_ATTEMPTS=2 SHEETQ_MAX_VCPUS=3 SHEETQ_JOB_VCPUS=1
sq enqueue --period 2026-10 >/dev/null

port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
addr=127.0.0.1:$port
url=http://$addr/metrics

# metric NAME{LABELS}: the sample's value from the last scrape (empty if absent).
metric() { awk -v k="$1" '$1 == k { print $2 }' "$T_DIR/scrape"; }
scrape() {
  curl -sS --max-time 10 -D "$T_DIR/headers" -o "$T_DIR/scrape" "$url" || fail "scrape failed"
  grep -q '^HTTP/1.1 200' "$T_DIR/headers" || fail "scrape: $(head -1 "$T_DIR/headers")"
}
wait_metrics() { # until the endpoint answers (up to 10 s)
  for ((i = 0; i < 100; i++)); do
    curl -s -o /dev/null "$url" && return 0
    sleep 0.1
  done
  fail "metrics endpoint never came up: $(tail -3 "$T_DIR/$1")"
}

# 1. A worker too small for any job (0.125 vCPUs, jobs need 1): the jobs stay
# ready and the scrape shows them.
"$SHEETQ_BIN" worker --vcpus 0.125 --metrics-addr "$addr" 2>"$T_DIR/w0.log" &
w=$!
wait_metrics w0.log
scrape
assert_contains "$(tr -d '\r' <"$T_DIR/headers")" "Content-Type: text/plain; version=0.0.4; charset=utf-8" "content type"
q="queue=\"$T_QUEUE\""
assert_eq 1 "$(metric sheetq_redis_up)" "redis_up"
assert_eq 3 "$(metric "sheetq_jobs{$q,state=\"ready\"}")" "ready jobs while none fits"
assert_eq 0 "$(metric "sheetq_jobs{$q,state=\"running\"}")" "running jobs while none fits"
assert_eq 1 "$(metric "sheetq_queue_tenants_waiting{$q}")" "tenants waiting"
assert_eq 3 "$(metric "sheetq_vcpus_budget{$q}")" "vCPU budget"
assert_eq 0 "$(metric 'sheetq_attempt_duration_seconds_count{outcome="succeeded"}')" "attempts before any ran"

# A busy address is a start-up error, and the running worker is unharmed.
set +e
msg=$(sq worker --metrics-addr "$addr" 2>&1)
rc=$?
set -e
assert_eq 2 "$rc" "exit status of a worker whose metrics address is busy"
assert_contains "$msg" "metrics_addr $addr: cannot listen" "busy address message"
assert_contains "$msg" "Address already in use" "busy address reason"
kill -TERM $w
wait $w || fail "worker 0 exited $?"

# 2. A worker that runs the batch; report 3 fails both attempts.
SHEETQ_TEST_FAULT='exit:report=3:7' "$SHEETQ_BIN" worker --metrics-addr "$addr" --log-format json \
  2>"$T_DIR/w1.log" &
w=$!
for ((i = 0; i < 300; i++)); do
  [[ $(sql "$T_DB" -e "SELECT COUNT(*) FROM sheetq_jobs WHERE state IN ('succeeded', 'failed')") == 3 ]] && break
  sleep 0.1
done
((i < 300)) || fail "batch did not finish: $(tail -5 "$T_DIR/w1.log")"
wait_metrics w1.log
scrape
attempts=$(sql "$T_DB" -e "SELECT COUNT(*) FROM sheetq_attempts")
assert_eq 4 "$attempts" "attempts in the ledger"
ok=$(metric 'sheetq_attempt_duration_seconds_count{outcome="succeeded"}')
retried=$(metric 'sheetq_attempt_duration_seconds_count{outcome="failed"}')
final=$(metric 'sheetq_attempt_duration_seconds_count{outcome="failed_final"}')
assert_eq 2 "$ok" "succeeded attempts"
assert_eq 1 "$retried" "failed attempts that were retried"
assert_eq 1 "$final" "attempts that failed for good"
assert_eq "$attempts" "$((ok + retried + final))" "histogram counts against the ledger's attempts"
assert_eq 2 "$(metric 'sheetq_attempt_duration_seconds_bucket{outcome="succeeded",le="+Inf"}')" "+Inf bucket"
assert_eq 2 "$(metric 'sheetq_attempt_failures_total{class="temporary",code="crashed"}')" "failures by reason"
assert_eq 0 "$(metric "sheetq_jobs{$q,state=\"ready\"}")" "ready jobs after the batch"
assert_eq 1 "$(metric "sheetq_jobs{$q,state=\"failed\"}")" "failed jobs after the batch"
assert_eq 0 "$(metric "sheetq_vcpus_in_use{$q}")" "vCPUs in use after the batch"
grep -q '^# TYPE sheetq_attempt_duration_seconds histogram$' "$T_DIR/scrape" || fail "histogram TYPE line"

# Wrong paths and methods, garbage, oversized and idle connections, the
# connection limit (64) and the idle timeout (10 s).
assert_eq 404 "$(curl -s -o /dev/null -w '%{http_code}' "http://$addr/")" "GET /"
assert_eq 405 "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$url")" "POST /metrics"
assert_eq 200 "$(curl -s -o /dev/null -w '%{http_code}' -I "$url")" "HEAD /metrics"
assert_eq 0 "$(curl -s -I "$url" -o /dev/null -w '%{size_download}')" "HEAD /metrics body"
$PY - "$port" <<'PY' || fail "raw requests"
import socket, sys, time
port = int(sys.argv[1])
def connect():
    return socket.create_connection(("127.0.0.1", port), timeout=10)
def ask(data, want):
    s = connect()
    s.sendall(data)
    got = s.recv(64)
    s.close()
    assert got.startswith(want), (data[:20], got)
def closed(s):  # the server hangs up without a word
    try:
        return s.recv(64) == b""
    except ConnectionResetError:
        return True
t0 = time.monotonic()
idle = connect()  # says nothing, stays open
s = connect()
s.sendall(b"hello\r\n\r\n")  # not HTTP: closed without an answer
assert closed(s), "hello answered"
s.close()
ask(b"GET /metrics\r\n\r\n", b"HTTP/1.1 400")
ask(b"GET /metrics HTTP/2.0\r\n\r\n", b"HTTP/1.1 505")
ask(b"GET /" + b"a" * 10000, b"HTTP/1.1 414")  # over the 8 KiB per connection
ask(b"GET /metrics HTTP/1.1\r\nX: " + b"b" * 10000 + b"\r\n", b"HTTP/1.1 431")
s = connect()
s.sendall(bytes(range(256)))  # binary garbage, and the peer leaves
s.close()
ask(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", b"HTTP/1.1 200")
# 64 open connections at most: one more waits, unanswered, until one closes.
# 64 of its own, not counting `idle`: on a slow machine the server may have
# closed that one already (its 10 s are counted from t0).
more = [connect() for _ in range(64)]
waiting = connect()
waiting.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
waiting.settimeout(1)
try:
    waiting.recv(64)
    raise AssertionError("a connection past the limit was served")
except socket.timeout:
    pass
for c in more:
    c.close()
waiting.settimeout(10)
got = waiting.recv(64)
assert got.startswith(b"HTTP/1.1 200"), got
waiting.close()
# The idle connection is closed for its silence, not before the 10 s are up
# (no upper bound: a loaded machine may close it late, which is fine).
idle.settimeout(60)
assert closed(idle), "idle connection answered"
assert time.monotonic() - t0 >= 9, time.monotonic() - t0
PY
# Several scrapers at once.
scrapers=()
for n in 1 2 3 4 5 6; do
  curl -s --max-time 10 -o "$T_DIR/c$n" -w '%{http_code}\n' "$url" >"$T_DIR/code$n" &
  scrapers+=($!)
done
wait "${scrapers[@]}"
for n in 1 2 3 4 5 6; do
  assert_eq 200 "$(cat "$T_DIR/code$n")" "concurrent scrape $n"
  grep -q '^sheetq_redis_up 1$' "$T_DIR/c$n" || fail "concurrent scrape $n body"
done
kill -0 $w 2>/dev/null || fail "worker died: $(tail -5 "$T_DIR/w1.log")"
scrape
assert_eq 2 "$(metric 'sheetq_attempt_duration_seconds_count{outcome="succeeded"}')" "succeeded after the abuse"

kill -TERM $w
wait $w || fail "worker exited $?: $(tail -3 "$T_DIR/w1.log")"

# --log-format json: every line (the worker's and its job processes') is one
# JSON object; each line about an attempt names the job and the attempt.
$PY - "$T_DIR/w1.log" <<'PY' || fail "JSON log lines"
import json, sys
lines = open(sys.argv[1]).read().splitlines()
events = [json.loads(l) for l in lines]
assert all({"ts", "level", "role", "pid", "msg"} <= e.keys() for e in events), events
started = [e for e in events if e["msg"].startswith("started:")]
assert len(started) == 4 and all(e["job"].startswith("j") and e["attempt"] >= 1 for e in started), started
fault = [e for e in events if "injecting a test fault" in e["msg"]]
assert [e["role"] for e in fault] == ["run-job", "run-job"] and all("job" in e for e in fault), fault
assert sorted(e["attempt"] for e in fault) == [1, 2], fault
PY
echo "ok: metrics scraped, counts match the ledger, bad requests answered"
