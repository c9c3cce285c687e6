#!/usr/bin/env bash
# `sheetq status`: jobs per tenant (ledger) with ready jobs (Redis), why jobs
# wait (no worker; the vCPU budget), and `--watch`: plain lines without
# escape codes on a pipe, one JSON object per line, a redrawn line on a
# terminal, exit 3 when jobs failed, 130 on Ctrl-C.
source "$(dirname "$0")/lib.sh"

load_schema
sql "$T_DB" <<'SQL'
INSERT INTO tenants (id, name) VALUES (1, 'Big'), (2, 'Small');
INSERT INTO reports (id, tenant_id, name) VALUES (1, 1, 'a'), (2, 1, 'b'), (3, 1, 'c'), (4, 1, 'd'),
  (5, 2, 'e'), (6, 2, 'Fails');
INSERT INTO report_items (id, report_id, position, label, kind)
  SELECT id, id, 1, 'V', 'number' FROM reports;
INSERT INTO records (report_id, recorded_at, recorded_by, `values`)
  SELECT id, '2026-10-05 10:00:00', 'x', JSON_OBJECT(CAST(id AS CHAR), id) FROM reports;
SQL
export SHEETQ_MAX_ATTEMPTS=1 SHEETQ_MAX_VCPUS=1 SHEETQ_JOB_VCPUS=1
batch=$(batch_of "$(sq enqueue --period 2026-10)")
[[ -n $batch ]] || fail "no batch"
js() { $PY -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# 1. Nothing has run: tenants with their ready jobs; nobody is working.
st=$(sq status --batch "$batch" --json)
assert_eq "2 2" "$(js 'd["tenants_total"], len(d["tenants"])' <<<"$st" | tr -d '(),')" "tenants"
assert_eq "1 4 4 4" "$(js '" ".join(str(x) for x in (d["tenants"][0]["tenant"], d["tenants"][0]["total"], d["tenants"][0]["ready"], d["tenants"][0]["states"]["runnable"]))' <<<"$st")" "first tenant (most unfinished)"
assert_eq "2 2 2" "$(js '" ".join(str(x) for x in (d["tenants"][1]["tenant"], d["tenants"][1]["total"], d["tenants"][1]["ready"]))' <<<"$st")" "second tenant"
assert_eq "no_worker 6" "$(js 'd["waiting"][0]["reason"], d["waiting"][0]["jobs"]' <<<"$st" | tr -d "(),'")" "reason before any worker"
st=$(sq status --batch "$batch" --tenants 1)
echo "$st"
assert_contains "$st" "tenants (2, the 1 with the most unfinished jobs; --all-tenants for all)" "capped tenant table"
assert_contains "$st" "is a worker up?" "text reason"

# Ctrl-C ends a watch with 130.
"$SHEETQ_BIN" status --batch "$batch" --watch --interval 0.2 >"$T_DIR/int.out" &
wp=$!
# Interrupted once it has drawn a frame (however slow the machine), so that
# the output check below sees one.
for ((i = 0; i < 300; i++)); do
  grep -q "done (" "$T_DIR/int.out" 2>/dev/null && break
  sleep 0.1
done
kill -INT $wp
set +e
wait $wp
rc=$?
set -e
assert_eq 130 "$rc" "exit status of an interrupted watch"
assert_contains "$(cat "$T_DIR/int.out")" "0/6 done (0%)" "interrupted watch output"

# 2. One job holds the whole budget (1 of 1 vCPU): the rest wait for vCPUs.
SHEETQ_TEST_FAULT='hang:report=*' "$SHEETQ_BIN" worker --shutdown-grace 0 2>"$T_DIR/w0.log" &
w=$!
for ((i = 0; i < 100; i++)); do
  [[ $(sql "$T_DB" -e "SELECT COUNT(*) FROM sheetq_jobs WHERE state = 'running'") == 1 ]] && break
  sleep 0.1
done
st=$(sq status --batch "$batch" --json)
assert_eq "vcpus 5" "$(js 'd["waiting"][0]["reason"], d["waiting"][0]["jobs"]' <<<"$st" | tr -d "(),'")" "reason with the budget spent"
st=$(sq status --batch "$batch")
echo "$st"
assert_contains "$st" "5 ready, waiting for vCPUs: 1.0/1.0 in use" "text reason"
kill -TERM $w
wait $w || fail "hanging worker exited $?"

# 3. Watch on a pipe while a worker runs the batch; report 6 fails.
SHEETQ_TEST_FAULT='exit:report=6:7' "$SHEETQ_BIN" worker --burst 2>"$T_DIR/w1.log" &
w=$!
set +e
sq status --batch "$batch" --watch --interval 0.2 >"$T_DIR/watch.out"
rc=$?
set -e
wait $w || fail "worker exited $?: $(tail -3 "$T_DIR/w1.log")"
assert_eq 3 "$rc" "exit status of a watch whose batch has a failed job"
out=$(cat "$T_DIR/watch.out")
echo "$out"
[[ $out != *$'\e'* && $out != *$'\r'* ]] || fail "escape codes on a pipe: $out"
assert_contains "$(tail -1 <<<"$out")" "6/6 done (100%), 1 failed, 0 running" "last plain line"
assert_contains "$(tail -1 <<<"$out")" "finished" "last plain line"
assert_eq "$(wc -l <<<"$out")" "$(sort -u <<<"$out" | wc -l)" "a plain line per change, no repeats"

# JSON lines: the batch is finished, so one object.
set +e
sq status --batch "$batch" --watch --json >"$T_DIR/watch.json"
rc=$?
set -e
assert_eq 3 "$rc" "exit status of a JSON watch"
assert_eq 1 "$(wc -l <"$T_DIR/watch.json")" "JSON lines of a finished batch"
assert_eq "6 5 1 True" "$(js 'd["done"], d["succeeded"], d["failed"], d["finished"]' <"$T_DIR/watch.json" | tr -d '(),')" "JSON watch line"

# On a terminal: the line is redrawn in place, with a bar.
set +e
script -qec "$SHEETQ_BIN status --batch $batch --watch" /dev/null >"$T_DIR/tty.out"
rc=$?
set -e
assert_eq 3 "$rc" "exit status of a terminal watch"
grep -q $'\r\e\\[K\\[#*\\] 6/6 done' "$T_DIR/tty.out" || fail "no redrawn bar: $(cat -v "$T_DIR/tty.out")"

# A re-run makes the batch unfinished again; a worker finishes it: exit 0.
sq rerun "$(sql "$T_DB" -e "SELECT id FROM sheetq_jobs WHERE state = 'failed'")" >/dev/null
"$SHEETQ_BIN" worker --burst 2>"$T_DIR/w2.log" || fail "worker 2: $(tail -3 "$T_DIR/w2.log")"
sq status --batch "$batch" --watch --json >"$T_DIR/watch2.json" || fail "watch after the rerun exited $?"
assert_eq "6 0" "$(js 'd["succeeded"], d["failed"]' <"$T_DIR/watch2.json" | tr -d '(),')" "after the rerun"
echo "ok: status per tenant, wait reasons, watch on pipe, JSON and terminal"
