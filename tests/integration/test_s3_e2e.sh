#!/usr/bin/env bash
# End to end with s3:// storage: demo data -> enqueue -> two burst workers
# storing into a SigV4-checking S3 server (s3rver) -> the bucket downloaded
# with Debian's awscli -> every file compared with the database by
# check_exports.py, and every object's bytes with the MD5 the store
# computed (ETag). Then `run-job` with a wrong secret must fail clearly and
# print no secret.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/s3_lib.sh"

[[ -x $AWS_CLI ]] || skip "Debian's awscli is not installed (scripts/setup.sh)"
bucket=exports
start_s3rver "$bucket"
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1
export AWS_ENDPOINT_URL_S3=$S3_ENDPOINT
unset AWS_SESSION_TOKEN AWS_CONTAINER_CREDENTIALS_RELATIVE_URI AWS_CONTAINER_CREDENTIALS_FULL_URI \
  AWS_ENDPOINT_URL AWS_DEFAULT_REGION AWS_MAX_ATTEMPTS AWS_PROFILE
export SHEETQ_STORAGE_URL="s3://$bucket/monthly?path_style=1"
export SHEETQ_TMPDIR="$T_DIR/scratch"
mkdir -p "$SHEETQ_TMPDIR"

period=2026-10
load_schema
demo_data --tenants 4 --reports 16 --period "$period" --scale 0.05 --seed 11
want=$(expected_targets "$period")
((want > 5)) || fail "demo data made only $want targets"

out=$(sq enqueue --period "$period")
batch=$(batch_of "$out")
[[ -n $batch ]] || fail "enqueue printed no batch id"
sq worker --burst --concurrency 2 2>"$T_DIR/w1.log" &
w1=$!
sq worker --burst --concurrency 2 2>"$T_DIR/w2.log" &
w2=$!
wait $w1 || fail "worker 1 exited $?: $(tail -5 "$T_DIR/w1.log")"
wait $w2 || fail "worker 2 exited $?: $(tail -5 "$T_DIR/w2.log")"

status=$(sq status --batch "$batch" --json)
succeeded=$($PY -c 'import json,sys; print(json.load(sys.stdin)["states"]["succeeded"])' <<<"$status")
assert_eq "$want" "$succeeded" "succeeded jobs"
[[ -z $(ls -A "$SHEETQ_TMPDIR") ]] || fail "rendered files left in the scratch directory"
[[ -z $(ls -A "$SHEETQ_MEMORY_TMPDIR") ]] || fail "rendered files left in memory_tmpdir"

# Everything under the prefix, nothing elsewhere; read back independently.
aws_s3 s3 cp --recursive "s3://$bucket/monthly" "$T_DIR/download" --only-show-errors ||
  fail "awscli cannot download the exports"
files=$(find "$T_DIR/download" -type f -name '*.xlsx' | wc -l)
assert_eq "$want" "$files" "objects stored"
all=$(aws_s3 s3api list-objects-v2 --bucket "$bucket" --query 'length(Contents)' --output text)
assert_eq "$want" "$all" "objects in the bucket"
$PY "$TESTS_DIR/integration/check_exports.py" --mysql-url "$SHEETQ_MYSQL_URL" \
  --root "$T_DIR/download" --batch "$batch" --expect-jobs "$want" || fail "exports differ from the database"
# Bytes: what the store holds has the MD5 it computed on receipt.
while IFS= read -r f; do
  key=monthly/${f#"$T_DIR/download/"}
  etag=$(aws_s3 s3api head-object --bucket "$bucket" --key "$key" --query ETag --output text)
  assert_eq "\"$(md5sum <"$f" | cut -d' ' -f1)\"" "$etag" "ETag of $key"
done < <(find "$T_DIR/download" -type f)

# A wrong secret: run-job fails with the store's reason and no secret.
read -r tenant report < <(sql "$T_DB" -e "SELECT tenant_id, report_id FROM sheetq_jobs LIMIT 1")
rc=0
AWS_SECRET_ACCESS_KEY=this-is-the-wrong-secret sq run-job --tenant "$tenant" --report "$report" \
  --period "$period" >"$T_DIR/bad.out" 2>"$T_DIR/bad.err" || rc=$?
assert_eq 1 "$rc" "run-job exit status with a wrong secret"
assert_contains "$(<"$T_DIR/bad.err")" "SignatureDoesNotMatch" "run-job error"
if grep -q 'this-is-the-wrong-secret\|Signature=' "$T_DIR/bad.out" "$T_DIR/bad.err"; then
  fail "run-job printed the secret"
fi
echo "ok: $want reports exported to s3 and verified"
