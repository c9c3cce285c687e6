#!/usr/bin/env bash
# The S3 backend's error paths, against a scripted stub (tests/s3/s3_stub.py)
# that checks signatures, payload hashes and Content-MD5 itself: retries on
# 500/SlowDown, a connection cut mid-part, a 200 Complete with an <Error>
# inside, a Complete whose answer is lost, 403, expired tokens, the
# container credentials endpoint (cached, refreshed, refused), a refused
# connection. Every outcome is checked by exit status, error class, what
# the stub saw, the bytes stored, and that no secret reached any output.
# Needs only python3; SQ_S3_PUT is the storage driver (tests/integration/s3_put.c).
source "$(dirname "$0")/s3_lib.sh"

[[ -n ${SQ_S3_PUT:-} && -x $SQ_S3_PUT ]] || skip "SQ_S3_PUT must name the sq_s3_put driver"

head -c 100000 /dev/urandom >"$T_DIR/small.xlsx"
head -c $((17 * 1024 * 1024 + 5)) /dev/urandom >"$T_DIR/multi.bin" # 3 parts of 8 MiB

# The environment of every run: nothing from the caller's AWS settings.
base_env() {
  env -u AWS_PROFILE -u AWS_SESSION_TOKEN -u AWS_CONTAINER_CREDENTIALS_RELATIVE_URI \
    -u AWS_CONTAINER_CREDENTIALS_FULL_URI -u AWS_CONTAINER_AUTHORIZATION_TOKEN \
    -u AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE -u AWS_ENDPOINT_URL -u AWS_DEFAULT_REGION \
    -u AWS_MAX_ATTEMPTS -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY \
    AWS_REGION=us-east-1 AWS_ENDPOINT_URL_S3="http://127.0.0.1:$STUB_PORT" \
    SHEETQ_LOG_LEVEL=debug "$@"
}
static_keys=(AWS_ACCESS_KEY_ID=STUBKEY AWS_SECRET_ACCESS_KEY=STUBSECRET)

# put FILE KEY [VAR=VALUE...]: runs the driver; sets rc, out, log.
put() {
  local file=$1 key=$2
  shift 2
  rc=0
  out=$(base_env "$@" "$SQ_S3_PUT" "s3://bucket/pfx" "$T_DIR/$file" "$key" \
    2>"$T_DIR/driver.log") || rc=$?
  log=$(<"$T_DIR/driver.log")
  # Secrets, tokens and signatures never reach stdout or a log line.
  if grep -qE 'STUBSECRET|STUBTOKEN|Signature=|Bearer' <<<"$out$log"; then
    fail "a secret leaked into the output: $out $log"
  fi
}

expect() { # expect RC CODE_PREFIX WHAT
  [[ $rc == "$1" ]] || fail "$3: exit $rc, expected $1: $out / $(tail -3 <<<"$log")"
  [[ $out == "$2"* ]] || fail "$3: printed '$out', expected '$2...'"
}

same_object() { # same_object FILE KEY
  cmp -s "$T_DIR/$1" "$STUB_OUT/pfx/$2" || fail "stored object pfx/$2 differs from $1"
}

# 1. The plain paths: one PutObject; a multipart upload in three parts.
start_stub ok
put small.xlsx "7/42/2026-10 (März).xlsx" "${static_keys[@]}"
expect 0 "ok" "single put"
same_object small.xlsx "7/42/2026-10 (März).xlsx"
assert_eq 1 "$(stub_count 'r["op"] == "PutObject" and r["status"] == 200')" "PutObject requests"
put multi.bin big/multi.bin "${static_keys[@]}"
expect 0 "ok" "multipart put"
same_object multi.bin big/multi.bin
assert_eq 3 "$(stub_count 'r["op"] == "UploadPart" and r["status"] == 200')" "parts uploaded"
assert_eq 1 "$(stub_count 'r["op"] == "CompleteMultipartUpload" and r["status"] == 200')" "completes"
# A wrong secret: permanent, clear, and secret-free.
put small.xlsx wrong.xlsx AWS_ACCESS_KEY_ID=STUBKEY AWS_SECRET_ACCESS_KEY=not-the-STUB-secret
expect 1 "error storage_denied" "wrong secret"
assert_contains "$out" "HTTP 403 SignatureDoesNotMatch" "wrong secret"
[[ $out$log != *not-the-STUB-secret* ]] || fail "the wrong secret was printed"
stop_stub

# 2. 500 InternalError, then 503 SlowDown, then success: three tries.
start_stub put_retry
put small.xlsx retry.xlsx "${static_keys[@]}"
expect 0 "ok" "put after 500 and SlowDown"
assert_eq 1 "$(stub_count 'r["op"] == "PutObject" and r["status"] == 500')" "500 answers"
assert_eq 1 "$(stub_count 'r["op"] == "PutObject" and r["code"] == "SlowDown"')" "SlowDown answers"
assert_eq 3 "$(stub_count 'r["op"] == "PutObject"')" "PutObject tries"
assert_contains "$log" "SlowDown" "retry log"
assert_contains "$log" "retrying in" "retry log"
same_object small.xlsx retry.xlsx
stop_stub

# 3. Always 500: temporary after 3 attempts (AWS_MAX_ATTEMPTS changes that).
start_stub put_500
put small.xlsx down.xlsx "${static_keys[@]}"
expect 75 "error storage:" "persistent 500"
assert_contains "$out" "InternalError" "persistent 500"
assert_contains "$out" "gave up after 3 attempts" "persistent 500"
assert_eq 3 "$(stub_count 'r["op"] == "PutObject"')" "PutObject tries"
put small.xlsx down.xlsx "${static_keys[@]}" AWS_MAX_ATTEMPTS=1
expect 75 "error storage:" "one attempt"
assert_eq 4 "$(stub_count 'r["op"] == "PutObject"')" "PutObject tries with AWS_MAX_ATTEMPTS=1"
stop_stub

# 4. 403 AccessDenied: permanent at once, not retried.
start_stub put_403
put small.xlsx denied.xlsx "${static_keys[@]}"
expect 1 "error storage_denied" "403"
assert_contains "$out" "HTTP 403 AccessDenied: Access Denied (request id stub-" "403 message"
assert_contains "$out" 'storing "denied.xlsx" in s3://bucket/pfx: PutObject' "403 message"
assert_eq 1 "$(stub_count 'r["op"] == "PutObject"')" "PutObject tries"
stop_stub

# 4b. 409 OperationAborted: S3 says "try again", so the failure is temporary
# (the job is retried), unlike other 4xx.
start_stub put_409
put small.xlsx busy.xlsx "${static_keys[@]}"
expect 75 "error storage:" "409 OperationAborted"
assert_contains "$out" "OperationAborted" "409 message"
stop_stub

# 5. The connection drops in the middle of part 2: only part 2 is resent.
start_stub part_drop
put multi.bin dropped.bin "${static_keys[@]}"
expect 0 "ok" "part dropped mid-body"
assert_eq 2 "$(stub_count 'r["op"] == "UploadPart" and r["part"] == 2')" "tries of part 2"
assert_eq 1 "$(stub_count 'r["op"] == "UploadPart" and r["part"] == 1')" "tries of part 1"
assert_eq 1 "$(stub_count 'r["op"] == "UploadPart" and r["part"] == 3')" "tries of part 3"
assert_eq 1 "$(stub_count 'r["op"] == "CreateMultipartUpload"')" "uploads created"
same_object multi.bin dropped.bin
stop_stub

# 6. Part 2 keeps failing: the upload is aborted, nothing is stored.
start_stub part_500
put multi.bin failed.bin "${static_keys[@]}"
expect 75 "error storage:" "part failing"
assert_contains "$out" "UploadPart" "part failing"
assert_eq 3 "$(stub_count 'r["op"] == "UploadPart" and r["part"] == 2')" "tries of part 2"
assert_eq 0 "$(stub_count 'r["op"] == "UploadPart" and r["part"] == 3')" "parts after the failure"
assert_eq 1 "$(stub_count 'r["op"] == "AbortMultipartUpload" and r["status"] == 204')" "aborts"
[[ ! -e $STUB_OUT/pfx/failed.bin ]] || fail "an object was stored after a failed upload"
stop_stub

# 7. Complete answers 200 with <Error>InternalError</Error>, then succeeds.
start_stub complete_error
put multi.bin completed.bin "${static_keys[@]}"
expect 0 "ok" "200 with an error inside"
assert_eq 2 "$(stub_count 'r["op"] == "CompleteMultipartUpload"')" "Complete tries"
assert_contains "$log" "HTTP 200 InternalError" "the 200 error is logged"
same_object multi.bin completed.bin
stop_stub

# 8. ... and always: temporary failure, upload aborted.
start_stub complete_error_always
put multi.bin never.bin "${static_keys[@]}"
expect 75 "error storage:" "200 with an error, always"
assert_contains "$out" "CompleteMultipartUpload: HTTP 200 InternalError" "message"
assert_eq 3 "$(stub_count 'r["op"] == "CompleteMultipartUpload"')" "Complete tries"
assert_eq 1 "$(stub_count 'r["op"] == "AbortMultipartUpload"')" "aborts"
stop_stub

# 9. Complete went through but its answer was lost; the retry finds no
#    upload. The outcome is unknown: temporary (the job runs again), not ok.
start_stub complete_lost
put multi.bin lost.bin "${static_keys[@]}"
expect 75 "error storage:" "lost Complete answer"
assert_contains "$out" "NoSuchUpload" "lost Complete answer"
assert_contains "$out" "outcome is unknown" "lost Complete answer"
stop_stub

# 10. ECS task role: credentials from the container endpoint, with the
#     authorization token from a file; fetched once for a whole multipart
#     upload; every request carries the session token.
printf 'Bearer stub-auth-token\n' >"$T_DIR/ecs-token"
export STUB_AUTH='Bearer stub-auth-token'
start_stub ok
container=(AWS_CONTAINER_CREDENTIALS_FULL_URI="http://127.0.0.1:$STUB_PORT/creds"
  AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE="$T_DIR/ecs-token")
put multi.bin role.bin "${container[@]}"
expect 0 "ok" "container credentials"
assert_eq 1 "$(stub_count 'r["op"] == "GetCredentials" and r["status"] == 200')" "credential fetches"
assert_eq 5 "$(stub_count 'r.get("token") == "STUBTOKEN1" and r["status"] == 200')" "requests with the token"
same_object multi.bin role.bin
stop_stub
# A wrong authorization token: the endpoint refuses; permanent, secret-free.
STUB_AUTH='Bearer another-token' start_stub ok # the endpoint wants another token
container[0]=AWS_CONTAINER_CREDENTIALS_FULL_URI="http://127.0.0.1:$STUB_PORT/creds"
put small.xlsx refused.xlsx "${container[@]}"
expect 1 "error storage_denied" "refused credentials"
assert_contains "$out" "refused to give credentials (HTTP 401)" "refused credentials"
[[ $out$log != *stub-auth-token* ]] || fail "the authorization token was printed"
stop_stub

# 11. An expired session token: new credentials are fetched and the request
#     is signed again. With static keys nothing can be refreshed: permanent.
start_stub expired_token
container[0]=AWS_CONTAINER_CREDENTIALS_FULL_URI="http://127.0.0.1:$STUB_PORT/creds"
put small.xlsx expired.xlsx "${container[@]}"
expect 0 "ok" "expired token, refreshed"
assert_eq 2 "$(stub_count 'r["op"] == "GetCredentials"')" "credential fetches"
assert_eq 1 "$(stub_count 'r["op"] == "PutObject" and r["code"] == "ExpiredToken"')" "expired tries"
assert_eq 1 "$(stub_count 'r["op"] == "PutObject" and r["token"] == "STUBTOKEN2" and r["status"] == 200')" \
  "put with the new token"
put small.xlsx expired2.xlsx "${static_keys[@]}" AWS_SESSION_TOKEN=STUBTOKEN1
expect 1 "error storage_denied" "expired static token"
assert_contains "$out" "ExpiredToken" "expired static token"
assert_contains "$out" "have expired" "expired static token"
stop_stub

# 12. Nobody listens: connection errors are retried, then temporary.
put small.xlsx nowhere.xlsx "${static_keys[@]}" AWS_MAX_ATTEMPTS=2
expect 75 "error storage:" "connection refused"
assert_contains "$out" "gave up after 2 attempts" "connection refused"

# 13. A local file that cannot be read is an I/O error, not a storage one.
start_stub ok
put no-such-file.xlsx x.xlsx "${static_keys[@]}"
expect 75 "error io:" "missing local file"
assert_eq 0 "$(stub_count 'True')" "requests for a missing file"
stop_stub

echo "ok: S3 error paths"
