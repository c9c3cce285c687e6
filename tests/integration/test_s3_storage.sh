#!/usr/bin/env bash
# The s3:// backend against a real S3-compatible server that verifies SigV4
# (@20minutes/s3rver on 127.0.0.1), every object read back with Debian's
# awscli and compared byte for byte: a small file, an empty one, keys that
# need encoding, a replacement, a multipart upload of a file over 64 MiB
# (timed), and a wrong secret that must fail clearly and without printing
# it. SQ_S3_PUT is the storage driver (tests/integration/s3_put.c).
source "$(dirname "$0")/s3_lib.sh"

[[ -n ${SQ_S3_PUT:-} && -x $SQ_S3_PUT ]] || skip "SQ_S3_PUT must name the sq_s3_put driver"
[[ -x $AWS_CLI ]] || skip "Debian's awscli is not installed (scripts/setup.sh)"
bucket=exports
start_s3rver "$bucket"

export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1
export AWS_ENDPOINT_URL_S3=$S3_ENDPOINT SHEETQ_LOG_LEVEL=debug
unset AWS_SESSION_TOKEN AWS_CONTAINER_CREDENTIALS_RELATIVE_URI AWS_CONTAINER_CREDENTIALS_FULL_URI \
  AWS_ENDPOINT_URL AWS_DEFAULT_REGION AWS_MAX_ATTEMPTS AWS_PROFILE
url="s3://$bucket/tenants/exports?path_style=1"

put() { # put FILE KEY: sets rc, out, log
  rc=0
  out=$("$SQ_S3_PUT" "$url" "$T_DIR/$1" "$2" 2>"$T_DIR/put.log") || rc=$?
  log=$(<"$T_DIR/put.log")
}

read_back() { # read_back FILE KEY: the object, fetched with awscli, equals FILE
  rm -f "$T_DIR/back"
  aws_s3 s3 cp "s3://$bucket/tenants/exports/$2" "$T_DIR/back" --only-show-errors ||
    fail "awscli cannot read tenants/exports/$2"
  cmp -s "$T_DIR/$1" "$T_DIR/back" || fail "object tenants/exports/$2 differs from $1"
}

# Small files and keys that need percent-encoding in the path and in the
# signature.
head -c 1500000 /dev/urandom >"$T_DIR/report.xlsx"
: >"$T_DIR/empty.xlsx"
for key in "7/42/2026-10.xlsx" "7/42/Prüfbericht März (v1+2)=x&y.xlsx" "7/42/a~b_c-d.e!'*.xlsx"; do
  put report.xlsx "$key"
  [[ $rc == 0 ]] || fail "put $key: exit $rc: $out"
  read_back report.xlsx "$key"
done
put empty.xlsx "7/43/empty.xlsx"
[[ $rc == 0 ]] || fail "put of an empty file: $out"
read_back empty.xlsx "7/43/empty.xlsx"
type=$(aws_s3 s3api head-object --bucket "$bucket" --key "tenants/exports/7/42/2026-10.xlsx" \
  --query ContentType --output text)
assert_eq "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" "$type" "content type"

# A second put of the same key replaces the object whole.
head -c 2000 /dev/urandom >"$T_DIR/v2.xlsx"
put v2.xlsx "7/42/2026-10.xlsx"
[[ $rc == 0 ]] || fail "replacing: $out"
read_back v2.xlsx "7/42/2026-10.xlsx"

# Over 64 MiB: a multipart upload in 9 parts of 8 MiB, streamed from disk.
head -c $((70 * 1024 * 1024 + 4321)) /dev/urandom >"$T_DIR/big.bin"
put big.bin "big/70MiB.bin"
[[ $rc == 0 ]] || fail "multipart put: exit $rc: $out: $(tail -3 <<<"$log")"
parts=$(grep -c 's3 UploadPart PUT .*: ok' <<<"$log" || true)
assert_eq 9 "$parts" "parts uploaded"
grep -q 's3 CompleteMultipartUpload POST .*: ok' <<<"$log" || fail "no completed multipart upload"
echo "multipart upload of 70 MiB: ${out#ok } s" >&2
read_back big.bin "big/70MiB.bin"

# A wrong secret: permanent (exit 1), S3's reason, no secret anywhere.
rc=0
out=$(AWS_SECRET_ACCESS_KEY=wrong-secret-value "$SQ_S3_PUT" "$url" "$T_DIR/report.xlsx" \
  "7/42/denied.xlsx" 2>"$T_DIR/put.log") || rc=$?
log=$(<"$T_DIR/put.log")
assert_eq 1 "$rc" "exit status with a wrong secret"
assert_contains "$out" "error storage_denied: storing \"7/42/denied.xlsx\" in s3://$bucket/tenants/exports" \
  "wrong secret"
assert_contains "$out" "HTTP 403 SignatureDoesNotMatch" "wrong secret"
[[ $out$log != *wrong-secret-value* && $out$log != *Signature=* ]] || fail "a secret was printed"
if aws_s3 s3api head-object --bucket "$bucket" --key "tenants/exports/7/42/denied.xlsx" >/dev/null 2>&1; then
  fail "an object was stored with a wrong secret"
fi
# A bucket that does not exist: permanent too.
rc=0
out=$("$SQ_S3_PUT" "s3://no-such-bucket/x" "$T_DIR/report.xlsx" "k.xlsx" 2>/dev/null) || rc=$?
assert_eq 1 "$rc" "exit status for a missing bucket"
assert_contains "$out" "NoSuchBucket" "missing bucket"

echo "ok: s3 storage against s3rver"
