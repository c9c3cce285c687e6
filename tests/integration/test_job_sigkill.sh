#!/usr/bin/env bash
# A job process SIGKILLed mid-job (the OOM killer, an operator's kill -9):
# that attempt fails as `killed` (a temporary error) and counts; the worker
# goes on and retries the job, which succeeds. The object being replaced
# (this is a re-run of an exported report) stays the old complete file until
# the retry's complete file takes its place: no reader ever sees a partial
# file, and nothing half-written is left at the destination.
source "$(dirname "$0")/lib.sh"

load_schema
sql "$T_DB" <<'SQL'
INSERT INTO tenants (id, name) VALUES (1, 'T');
INSERT INTO reports (id, tenant_id, name) VALUES (1, 1, 'Big');
INSERT INTO report_items (id, report_id, position, label, kind)
  SELECT seq, 1, seq, CONCAT('Item ', seq), IF(seq = 3, 'text', 'number') FROM seq_1_to_10;
INSERT INTO records (report_id, recorded_at, recorded_by, `values`)
  SELECT 1, '2026-10-05 10:00:00' + INTERVAL seq SECOND, CONCAT('user', seq % 50),
    CONCAT('{"1": ', seq, ', "2": ', seq * 2, ', "3": "text ', seq, '", "4": 4.5, "5": 5,',
           ' "6": 6, "7": 7, "8": 8, "9": 9, "10": 10}')
  FROM seq_1_to_40000;
SQL
dest="$T_OUT/1/1/2026-10.xlsx"
out=$(sq enqueue --period 2026-10)
batch=$(batch_of "$out")
sq worker --burst 2>"$T_DIR/w1.log" || fail "first export: $(tail -3 "$T_DIR/w1.log")"
[[ -f $dest ]] || fail "the first export stored no file"
old_sum=$(sha256sum <"$dest")

# New data, and a re-run: the next file differs from the stored one.
sql "$T_DB" -e "INSERT INTO records (report_id, recorded_at, recorded_by, \`values\`)
  VALUES (1, '2026-10-31 23:00:00', 'late', '{\"1\": -1}')"
out=$(sq rerun --report 1 --period 2026-10)
[[ $out =~ queued\ job\ (j[0-9a-f]{23}) ]] || fail "rerun printed no job id: $out"
clone=${BASH_REMATCH[1]}

"$SHEETQ_BIN" worker 2>"$T_DIR/w2.log" &
w=$!
# The job process is mid-job once its file under the storage's scratch
# directory exists (it is made when rendering starts and renamed over the
# destination at the end): kill it then.
child=""
for ((i = 0; i < 3000; i++)); do
  if compgen -G "$T_OUT/.sheetq-tmp/$clone.*.xlsx.tmp" >/dev/null; then
    child=$(pgrep -f "run-job --serve --worker-pid $w\$" || true)
    [[ -n $child ]] && break
  fi
  sleep 0.02
done
[[ -n $child ]] || fail "never saw the job process mid-job"
assert_eq running "$(sql "$T_DB" -e "SELECT state FROM sheetq_jobs WHERE id = '$clone'")" \
  "the re-run's state when its process is killed"
kill -KILL "$child"
# Between the kill and the retry's success the old file stays, whole.
assert_eq "$old_sum" "$(sha256sum <"$dest")" "the stored file right after the kill"

done_ok() { [[ $(sql "$T_DB" -e "SELECT state FROM sheetq_jobs WHERE id = '$clone'") == succeeded ]]; }
for ((i = 0; i < 600; i++)); do
  done_ok && break
  kill -0 $w 2>/dev/null || fail "the worker died: $(tail -3 "$T_DIR/w2.log")"
  sleep 0.1
done
done_ok || fail "the re-run did not succeed: $(tail -3 "$T_DIR/w2.log")"
kill -0 $w 2>/dev/null || fail "the worker died"
kill -TERM $w
wait $w || fail "worker exited $?: $(tail -3 "$T_DIR/w2.log")"

attempts=$(sql "$T_DB" -e "SELECT CONCAT_WS('|', attempt, outcome, error_code) FROM sheetq_attempts
  WHERE job_id = '$clone' ORDER BY attempt" | tr '\n' ' ')
assert_eq "1|failed|killed 2|succeeded " "$attempts" "attempts of the re-run"
assert_contains "$(sql "$T_DB" -e "SELECT error FROM sheetq_attempts WHERE job_id = '$clone' AND attempt = 1")" \
  "signal 9" "reason of the killed attempt"
assert_eq "succeeded|2" "$(sql "$T_DB" -e "SELECT CONCAT_WS('|', state, attempts) FROM sheetq_jobs WHERE id = '$clone'")" \
  "the re-run in the ledger"
grep -q "job=$clone attempt=1: attempt failed (killed" "$T_DIR/w2.log" || fail "the killed attempt was not logged"
[[ $(sha256sum <"$dest") != "$old_sum" ]] || fail "the retry did not replace the file"
# The file is the retry's, whole: every record, cell by cell.
$PY "$TESTS_DIR/integration/check_exports.py" --mysql-url "$SHEETQ_MYSQL_URL" --root "$T_OUT" \
  --batch "$batch" >"$T_DIR/check.out" || fail "exports differ: $(tail -5 "$T_DIR/check.out")"
# Both jobs of the batch (the original and its re-run) name this one file.
assert_contains "$(cat "$T_DIR/check.out")" "checked 2 file(s), 80002 record(s)" "records checked"
# Outside the storage's scratch directory there is the one object, nothing
# half-written beside it.
others=$(find "$T_OUT" -path "$T_OUT/.sheetq-tmp" -prune -o -type f ! -path "$dest" -print)
[[ -z $others ]] || fail "files beside the export: $others"
# In the scratch directory, only the killed process's file may remain (it
# had no chance to remove it; a later job process sweeps such files once
# they are older than attempt_timeout + 1 h, docs/architecture.md).
for f in "$T_OUT"/.sheetq-tmp/*; do
  [[ -e $f ]] || continue
  [[ ${f##*/} == "$clone.$child."*.xlsx.tmp ]] || fail "scratch file not from the killed process: $f"
done
echo "ok: a SIGKILLed job process costs one attempt; the retry succeeds, no partial file"
