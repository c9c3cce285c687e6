/* s3_sigv4.h - AWS Signature Version 4 for S3 requests, pure: no I/O, no
 * clock, no globals. Given a request (method, raw path, query parameters,
 * the headers to sign, the payload hash) and a key (credentials, region,
 * service, timestamp) it yields the canonical request, the string to sign,
 * the signature and the Authorization header value. Checked against the
 * examples AWS publishes for S3 (tests/unit/test_s3_sigv4.c).
 *
 * Written here, not taken from libcurl's CURLOPT_AWS_SIGV4: libcurl 7.88
 * does not sort the query, drops the '=' of valueless parameters
 * ("?uploads"), cannot hash a streamed body and does not encode the path.
 *
 * S3 rules, which differ from other AWS services: the path is URI-encoded
 * once (not twice) and not normalised ("a//b" and "." segments are kept).
 * The URL a caller sends must use exactly the path and query strings that
 * sq_sigv4_encode_path() and sq_sigv4_canonical_query() produce, so build
 * the URL with them.
 *
 * The results hold the signature; the canonical request holds any session
 * token that is signed. Neither may be logged.
 */
#ifndef SQ_S3_SIGV4_H
#define SQ_S3_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "core/buf.h"
#include "core/error.h"

#define SQ_SIGV4_HEX_LEN 65  /* 64 hex digits + NUL */
#define SQ_SIGV4_DATE_LEN 17 /* "20130524T000000Z" + NUL */

/* SHA-256 of the empty string: the payload hash of a request with no body. */
#define SQ_SIGV4_EMPTY_SHA256 \
  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

typedef struct sq_sigv4_pair {
  const char *name;
  const char *value; /* NULL for a valueless query parameter ("uploads") */
} sq_sigv4_pair;

typedef struct sq_sigv4_request {
  const char *method;
  const char *path; /* raw, unencoded, starting with '/': "/bucket/a b.xlsx" */
  const sq_sigv4_pair *query; /* raw names and values, any order */
  size_t n_query;
  /* Every header to sign, any case, any order; must include host and
   * x-amz-date. Names must be distinct. */
  const sq_sigv4_pair *headers;
  size_t n_headers;
  const char *payload_hash; /* hex SHA-256 of the body, or UNSIGNED-PAYLOAD */
} sq_sigv4_request;

typedef struct sq_sigv4_key {
  const char *access_key_id;
  const char *secret_access_key;
  const char *region;   /* "us-east-1" */
  const char *service;  /* "s3" */
  const char *amz_date; /* "20130524T000000Z", as sent in x-amz-date */
} sq_sigv4_key;

typedef struct sq_sigv4_result {
  sq_buf canonical_request;
  sq_buf string_to_sign;
  sq_buf authorization; /* the Authorization header's value */
  char signature[SQ_SIGV4_HEX_LEN];
} sq_sigv4_result;

void sq_sigv4_result_init(sq_sigv4_result *r);
/* Frees and wipes (the buffers held signing material). */
void sq_sigv4_result_free(sq_sigv4_result *r);

/* Signs. SQ_EINVAL for a malformed request (missing host or x-amz-date,
 * a path not starting with '/', too many parameters), SQ_ENOMEM, SQ_EINTERNAL
 * if libcrypto fails. out is reset first. */
sq_errcode sq_sigv4_sign(const sq_sigv4_request *req, const sq_sigv4_key *key,
                         sq_sigv4_result *out, sq_err *err);

/* Appends s to out URI-encoded per RFC 3986 as AWS requires: unreserved
 * characters (A-Z a-z 0-9 - . _ ~) kept, every other byte as %XX (upper
 * case); '/' kept when keep_slash. SQ_ENOMEM when out's cap is reached. */
sq_errcode sq_sigv4_uri_encode(sq_buf *out, const char *s, bool keep_slash);

/* The path as sent and signed: each segment encoded, '/' kept. */
sq_errcode sq_sigv4_encode_path(sq_buf *out, const char *raw_path);

/* Appends the canonical query string: each name and value encoded, sorted
 * by name then value, "name=value" joined by '&' ("uploads=" for a
 * valueless one). Also what goes after '?' in the URL. */
sq_errcode sq_sigv4_canonical_query(sq_buf *out, const sq_sigv4_pair *params,
                                    size_t n);

/* t as "YYYYMMDDTHHMMSSZ" (UTC). */
void sq_sigv4_amz_date(time_t t, char out[SQ_SIGV4_DATE_LEN]);

/* Lower-case hex SHA-256 of data. False if libcrypto fails. */
bool sq_sigv4_sha256_hex(const void *data, size_t len,
                         char out[SQ_SIGV4_HEX_LEN]);

#endif
