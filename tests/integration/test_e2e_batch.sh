#!/usr/bin/env bash
# End to end on real servers: demo data -> enqueue -> two burst workers ->
# every file read back with openpyxl and compared with the database; then
# enqueue again submits nothing, and a third worker finds nothing to do.
source "$(dirname "$0")/lib.sh"

period=2026-10
load_schema
demo_data --tenants 6 --reports 40 --period "$period" --scale 0.05 --seed 7
want=$(expected_targets "$period")
((want > 20)) || fail "demo data made only $want targets"

out=$(sq enqueue --period "$period")
echo "$out"
batch=$(batch_of "$out")
[[ -n $batch ]] || fail "enqueue printed no batch id"
assert_contains "$out" "$want target(s), $want new job(s) submitted" "first enqueue"

# Two workers share the queue, as two machines would.
sq worker --burst --concurrency 2 2>"$T_DIR/w1.log" &
w1=$!
sq worker --burst --concurrency 2 2>"$T_DIR/w2.log" &
w2=$!
wait $w1 || fail "worker 1 exited $?: $(tail -5 "$T_DIR/w1.log")"
wait $w2 || fail "worker 2 exited $?: $(tail -5 "$T_DIR/w2.log")"
# The workers' own counts ("stopped: N succeeded") add up to the batch:
# every job was run once, by one of them.
ran=$(cat "$T_DIR/w1.log" "$T_DIR/w2.log" | sed -n 's/.* stopped: \([0-9]*\) succeeded.*/\1/p' |
  awk '{ n += $1; k++ } END { print k, n }')
assert_eq "2 $want" "$ran" "workers that stopped, and the jobs they ran"

status=$(sq status --batch "$batch" --json)
succeeded=$($PY -c 'import json,sys; print(json.load(sys.stdin)["states"]["succeeded"])' <<<"$status")
assert_eq "$want" "$succeeded" "succeeded jobs in status"
files=$(find "$T_OUT" -name '*.xlsx' | wc -l)
assert_eq "$want" "$files" "xlsx files written"
[[ -z $(find "$T_OUT" -name '*.tmp' -not -path '*/.sheetq-tmp/*') ]] || fail "temporary files left behind"

$PY "$TESTS_DIR/integration/check_exports.py" --mysql-url "$SHEETQ_MYSQL_URL" \
  --root "$T_OUT" --batch "$batch" --expect-jobs "$want" || fail "exports differ from the database"

# Idempotent: a second enqueue submits nothing; each report has one job.
out2=$(sq enqueue --period "$period")
assert_contains "$out2" "$want target(s), nothing new to submit" "second enqueue"
assert_contains "$out2" "$want succeeded" "second enqueue"
dups=$(sql "$T_DB" -e "SELECT COUNT(*) FROM (SELECT report_id FROM sheetq_jobs
  WHERE period = '$period' GROUP BY report_id HAVING COUNT(*) > 1) d")
assert_eq 0 "$dups" "reports with more than one job"
sq worker --burst 2>"$T_DIR/w3.log" || fail "idle burst worker failed"
if grep -q "started: tenant" "$T_DIR/w3.log"; then fail "a job ran twice"; fi

# --tenant narrows the set; a tenant with export disabled has no targets.
dry=$(sq enqueue --period "$period" --tenant 2 --dry-run)
assert_contains "$dry" "0 target(s)" "disabled tenant"
echo "ok: $want reports exported and verified"
