/* storage_s3.h - the "s3://" storage backend: objects in an S3 bucket (or an
 * S3-compatible store), uploaded with SigV4-signed requests (s3_sigv4.h)
 * over the HTTP helper (core/http.h), credentials from aws_credentials.h.
 * Reached through storage.h; this header exists for sq_storage_open() and,
 * below the open function, for the unit tests of the pure parts.
 *
 * URL: s3://BUCKET[/PREFIX][?path_style=0|1]. Objects are stored under
 * PREFIX/KEY. Settings come from the variables AWS users know:
 *   AWS_REGION, then AWS_DEFAULT_REGION       the bucket's region
 *   AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL another endpoint
 *                                             (default https://s3.REGION.amazonaws.com)
 *   AWS_MAX_ATTEMPTS                          tries per request (default 3)
 *   credentials: see aws_credentials.h
 * Addressing is virtual-hosted (BUCKET.host) unless path_style=1, or the
 * bucket name or the endpoint (an IP address, localhost) cannot work that
 * way. docs/configuration.md has the user's view.
 *
 * put: files up to SQ_S3_PART_MIN go up in one PutObject; larger ones in a
 * multipart upload. Every request carries the body's SHA-256
 * (x-amz-content-sha256, signed) and MD5 (Content-MD5), so the store
 * rejects a body that changed in transit. put returns SQ_OK only once the
 * store has confirmed the whole object. Errors: SQ_ESTORAGE (temporary:
 * 5xx, throttling, connection trouble, after the retries), SQ_ESTORAGE_DENIED
 * (permanent: 403 and other 4xx, expired static keys), SQ_EIO (reading the
 * local file), SQ_ECONFIG (bad URL or settings, TLS trust problems).
 */
#ifndef SQ_STORAGE_S3_H
#define SQ_STORAGE_S3_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"
#include "core/http.h"
#include "exporter/storage.h"

/* url starts with "s3://". Reads the environment once, here. Checks the
 * settings and that credentials are configured; contacts nobody. */
sq_storage *sq_storage_s3_open(const char *url, sq_err *err);

/* ---- Pure parts, exposed for tests ------------------------------------ */

#define SQ_S3_PART_MIN (8ull << 20)     /* also the single-PUT limit */
#define SQ_S3_MAX_PARTS 10000ull
#define SQ_S3_MAX_OBJECT (5ull << 40)   /* 5 TiB */
#define SQ_S3_BUCKET_MAX 64
#define SQ_S3_PREFIX_MAX 512
#define SQ_S3_BACKOFF_CAP_MS 20000L

typedef struct sq_s3_location {
  char bucket[SQ_S3_BUCKET_MAX];
  char prefix[SQ_S3_PREFIX_MAX]; /* no leading or trailing '/'; may be "" */
  int path_style;                /* -1: not given, 0, 1 */
} sq_s3_location;

/* "s3://bucket/some/prefix/?path_style=1" -> bucket, "some/prefix", 1.
 * SQ_ECONFIG for a bad bucket name (3-63 of a-z A-Z 0-9 . - _), a bad
 * prefix (empty, "." or ".." segments, control characters), credentials
 * in the URL, or an unknown option. Messages never echo the URL. */
sq_errcode sq_s3_url_parse(const char *url, sq_s3_location *out, sq_err *err);

/* The settings read from the environment (NULL or "" when unset). */
typedef struct sq_s3_env {
  const char *region;         /* AWS_REGION */
  const char *default_region; /* AWS_DEFAULT_REGION */
  const char *endpoint_s3;    /* AWS_ENDPOINT_URL_S3 */
  const char *endpoint;       /* AWS_ENDPOINT_URL */
  const char *max_attempts;   /* AWS_MAX_ATTEMPTS */
} sq_s3_env;

void sq_s3_env_read(sq_s3_env *e);

typedef struct sq_s3_endpoint {
  char region[64];
  char host[320];       /* Host header: [bucket.]host[:port] */
  char base_url[340];   /* "https://" + host */
  char path_prefix[80]; /* "/bucket" (path style) or "" */
  bool path_style;
  int max_attempts;
} sq_s3_endpoint;

/* Where requests for loc go. SQ_ECONFIG when no region is set and no
 * endpoint is given, for a malformed endpoint URL (http(s)://host[:port]
 * only) or region, or AWS_MAX_ATTEMPTS outside 1-10. */
sq_errcode sq_s3_endpoint_resolve(const sq_s3_location *loc, const sq_s3_env *env,
                                  sq_s3_endpoint *out, sq_err *err);

/* Part size for a multipart upload of size bytes: SQ_S3_PART_MIN, or the
 * smallest whole number of MiB that keeps the count within
 * SQ_S3_MAX_PARTS. 0 when size exceeds SQ_S3_MAX_OBJECT. */
uint64_t sq_s3_part_size(uint64_t size);

/* What to do with one request's outcome. */
typedef enum sq_s3_verdict {
  SQ_S3_DONE,    /* success */
  SQ_S3_RETRY,   /* transient: 500/502/503/504, throttling, connection */
  SQ_S3_REFRESH, /* expired token: new credentials may help */
  SQ_S3_FAIL,    /* permanent */
} sq_s3_verdict;

/* status: HTTP status (0 when failure != SQ_HTTP_OK); code: the S3 error
 * code from the body ("SlowDown"), or NULL/"" when none. A 2xx with an
 * error code is judged by the code (CompleteMultipartUpload's 200 with an
 * <Error> inside). */
sq_s3_verdict sq_s3_classify(long status, const char *code, sq_http_failure failure);

/* Delay before retry number `retry` (1 = the first retry), AWS SDK standard
 * mode: r * min(2^(retry-1), 20) seconds, r uniform in [0, 1) (full
 * jitter). In milliseconds; never above SQ_S3_BACKOFF_CAP_MS. */
long sq_s3_backoff_ms(int retry, double r);

typedef struct sq_s3_error {
  char code[64];
  char message[256];
  char request_id[96];
} sq_s3_error;

/* The root element's name of an XML document (after the declaration,
 * comments and whitespace), into out. False when there is none. */
bool sq_s3_xml_root(const char *xml, size_t len, char *out, size_t cap);

/* The text of the first <name> element, entities decoded, into out (cut).
 * False when absent. */
bool sq_s3_xml_text(const char *xml, size_t len, const char *name, char *out, size_t cap);

/* Fills out from an <Error> document. False when the root is not Error. */
bool sq_s3_parse_error(const char *xml, size_t len, sq_s3_error *out);

/* Appends s to b as XML text: & < > escaped (quotes need no escape in
 * text, and some servers do not decode &quot; in an ETag). */
sq_errcode sq_s3_xml_escape(sq_buf *b, const char *s);

#endif
