/* storage_s3.c - the s3:// backend (see storage_s3.h, storage.h).
 *
 * DESIGN. One logical S3 call (PutObject, CreateMultipartUpload,
 * UploadPart, CompleteMultipartUpload, AbortMultipartUpload) is an s3_call;
 * s3_perform() runs it with retries as the AWS SDKs' standard mode does:
 * up to max_attempts tries, a transient failure (5xx 500/502/503/504,
 * throttling codes such as SlowDown, a dropped or refused connection, a
 * stalled transfer) is retried after a full-jitter exponential delay, a
 * permanent one (403, other 4xx) ends the call at once. Each try is signed
 * afresh (new x-amz-date, possibly new credentials): an expired session
 * token from the container endpoint is dropped and fetched again.
 *
 * Bodies are never held in memory: each is hashed (SHA-256 for the
 * signature, MD5 for Content-MD5) by reading its file range once, then
 * streamed from the same range by the HTTP helper. Large files go up in
 * parts, each retried on its own; the upload is aborted if a part or the
 * completion fails for good, so no orphaned parts keep costing money (a
 * crash can still leave some: docs/deploy.md has the lifecycle rule).
 *
 * CompleteMultipartUpload may answer 200 and then report an error in the
 * body (S3 sends the status before it has finished assembling): the body's
 * root element decides. A Complete answered NoSuchUpload may have been
 * carried out by an earlier try whose answer was lost (libcurl also resends
 * on its own when a reused connection answers nothing, so not every try is
 * ours to see): the outcome is unknown and the put fails as temporary, so
 * the job runs again rather than being recorded as done without proof.
 *
 * Messages carry the operation, the key, the HTTP status, S3's error code
 * and message and its request id; any credential text a server might echo
 * is masked before it reaches a message.
 */
#include "exporter/storage_s3.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "exporter/aws_credentials.h"
#include "exporter/object_key.h"
#include "exporter/s3_sigv4.h"

#define HASH_CHUNK (1u << 20)
#define URL_MAX 4096
#define HEADER_LINE_MAX (20 * 1024) /* session tokens run to several KB */
#define COMPLETE_XML_MAX (2u << 20) /* 10,000 parts at ~110 bytes each */
#define CONNECT_TIMEOUT_MS 10000L
#define STALL_SECONDS 30L
#define SMALL_CALL_TIMEOUT_MS 120000L
#define COMPLETE_TIMEOUT_MS 900000L /* S3 may take minutes to assemble */
#define XLSX_TYPE "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

typedef struct s3_storage {
  sq_storage base;
  sq_s3_location loc;
  sq_s3_endpoint ep;
  sq_aws_credential_source *creds;
  sq_http *http;
  unsigned char *chunk; /* HASH_CHUNK bytes for hashing */
} s3_storage;

/* ---- Pure parts ---------------------------------------------------------- */

static bool bucket_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
         (c >= 'A' && c <= 'Z') || c == '_';
}

sq_errcode sq_s3_url_parse(const char *url, sq_s3_location *out, sq_err *err) {
  const char *p, *q, *slash;
  size_t blen, plen;
  char prefix[SQ_S3_PREFIX_MAX];

  memset(out, 0, sizeof *out);
  out->path_style = -1;
  if (url == NULL || strncmp(url, "s3://", 5) != 0)
    return sq_err_set(err, SQ_ECONFIG, "s3 storage URL must start with s3://");
  p = url + 5;
  q = strchr(p, '?');
  slash = strchr(p, '/');
  if (slash != NULL && q != NULL && slash > q) slash = NULL;
  blen = slash ? (size_t)(slash - p) : q ? (size_t)(q - p) : strlen(p);
  if (memchr(p, '@', blen) != NULL || memchr(p, ':', blen) != NULL)
    return sq_err_set(err, SQ_ECONFIG,
                      "s3 storage URL: credentials and ports do not belong in it "
                      "(use AWS_ACCESS_KEY_ID, AWS_ENDPOINT_URL_S3...)");
  if (blen < 3 || blen > 63)
    return sq_err_set(err, SQ_ECONFIG, "s3 storage URL: the bucket name must be 3-63 characters");
  for (size_t i = 0; i < blen; i++)
    if (!bucket_char(p[i]))
      return sq_err_set(err, SQ_ECONFIG,
                        "s3 storage URL: the bucket name may hold only letters, digits, "
                        "'.', '-' and '_'");
  memcpy(out->bucket, p, blen);
  out->bucket[blen] = '\0';

  /* Prefix: between the bucket and '?', without outer slashes. */
  p = slash ? slash : p + blen;
  plen = q ? (size_t)(q - p) : strlen(p);
  while (plen > 0 && *p == '/') p++, plen--;
  while (plen > 0 && p[plen - 1] == '/') plen--;
  if (plen >= sizeof prefix)
    return sq_err_set(err, SQ_ECONFIG, "s3 storage URL: the prefix is longer than %d bytes",
                      SQ_S3_PREFIX_MAX - 1);
  memcpy(prefix, p, plen);
  prefix[plen] = '\0';
  if (plen > 0) {
    sq_err e;
    if (sq_object_key_check(prefix, &e) != SQ_OK)
      return sq_err_set(err, SQ_ECONFIG,
                        "s3 storage URL: the prefix must be segments without '.', '..', "
                        "empty parts, backslashes or control characters");
  }
  memcpy(out->prefix, prefix, plen + 1);

  /* Options. */
  while (q != NULL && *q) {
    const char *opt = q + 1, *end = opt + strcspn(opt, "&");
    size_t n = (size_t)(end - opt);
    if (n == 0) {
      /* empty: "?" or "&&" */
    } else if (n == 12 && strncmp(opt, "path_style=1", 12) == 0) {
      out->path_style = 1;
    } else if (n == 12 && strncmp(opt, "path_style=0", 12) == 0) {
      out->path_style = 0;
    } else if (n == 15 && strncmp(opt, "path_style=true", 15) == 0) {
      out->path_style = 1;
    } else if (n == 16 && strncmp(opt, "path_style=false", 16) == 0) {
      out->path_style = 0;
    } else {
      return sq_err_set(err, SQ_ECONFIG,
                        "s3 storage URL: unknown option (the only one is path_style=0|1)");
    }
    q = *end ? end : NULL;
  }
  return SQ_OK;
}

static const char *first_set(const char *a, const char *b) {
  if (a != NULL && a[0] != '\0') return a;
  if (b != NULL && b[0] != '\0') return b;
  return NULL;
}

void sq_s3_env_read(sq_s3_env *e) {
  e->region = getenv("AWS_REGION");
  e->default_region = getenv("AWS_DEFAULT_REGION");
  e->endpoint_s3 = getenv("AWS_ENDPOINT_URL_S3");
  e->endpoint = getenv("AWS_ENDPOINT_URL");
  e->max_attempts = getenv("AWS_MAX_ATTEMPTS");
}

static bool region_ok(const char *r) {
  size_t n = strlen(r);
  if (n == 0 || n >= 64) return false;
  for (size_t i = 0; i < n; i++)
    if (!((r[i] >= 'a' && r[i] <= 'z') || (r[i] >= '0' && r[i] <= '9') || r[i] == '-'))
      return false;
  return true;
}

/* A host where BUCKET.host cannot resolve: an IP literal or localhost. */
static bool host_is_literal(const char *host, size_t n) {
  bool digits_dots = n > 0;
  if (n > 0 && host[0] == '[') return true;
  if (n == 9 && strncasecmp(host, "localhost", 9) == 0) return true;
  for (size_t i = 0; i < n; i++)
    if (!((host[i] >= '0' && host[i] <= '9') || host[i] == '.')) digits_dots = false;
  return digits_dots;
}

/* Can the bucket be the first label(s) of a host name (under TLS: without
 * dots, which a wildcard certificate does not cover)? */
static bool bucket_dns_ok(const char *b, bool https) {
  size_t n = strlen(b);
  if (b[0] == '-' || b[0] == '.' || b[n - 1] == '-' || b[n - 1] == '.') return false;
  for (size_t i = 0; i < n; i++) {
    char c = b[i];
    if ((c >= 'A' && c <= 'Z') || c == '_') return false;
    if (c == '.' && (https || b[i + 1] == '.')) return false;
  }
  return !host_is_literal(b, n);
}

sq_errcode sq_s3_endpoint_resolve(const sq_s3_location *loc, const sq_s3_env *env,
                                  sq_s3_endpoint *out, sq_err *err) {
  const char *region = first_set(env->region, env->default_region);
  const char *endpoint = first_set(env->endpoint_s3, env->endpoint);
  const char *which = first_set(env->endpoint_s3, NULL) ? "AWS_ENDPOINT_URL_S3" : "AWS_ENDPOINT_URL";
  char authority[256];
  bool https = true, literal = false;
  int n;

  memset(out, 0, sizeof *out);
  out->max_attempts = 3;
  if (first_set(env->max_attempts, NULL)) {
    char *end = NULL;
    long v;
    errno = 0;
    v = strtol(env->max_attempts, &end, 10);
    if (errno || *end != '\0' || v < 1 || v > 10)
      return sq_err_set(err, SQ_ECONFIG, "AWS_MAX_ATTEMPTS must be a whole number from 1 to 10");
    out->max_attempts = (int)v;
  }
  if (region != NULL && !region_ok(region))
    return sq_err_set(err, SQ_ECONFIG,
                      "AWS_REGION / AWS_DEFAULT_REGION must be a region name such as eu-west-1");
  if (endpoint != NULL) {
    const char *a;
    size_t alen;
    if (strncmp(endpoint, "https://", 8) == 0) {
      a = endpoint + 8;
    } else if (strncmp(endpoint, "http://", 7) == 0) {
      a = endpoint + 7;
      https = false;
    } else {
      return sq_err_set(err, SQ_ECONFIG, "%s must start with http:// or https://", which);
    }
    alen = strcspn(a, "/?#");
    if (alen == 0 || alen >= sizeof authority || (a[alen] != '\0' && strcmp(a + alen, "/") != 0))
      return sq_err_set(err, SQ_ECONFIG, "%s must be scheme://host[:port], without a path",
                        which);
    for (size_t i = 0; i < alen; i++)
      if (a[i] == '@' || (unsigned char)a[i] <= ' ' || a[i] == '\\')
        return sq_err_set(err, SQ_ECONFIG, "%s: the host is malformed (no user info allowed)",
                          which);
    memcpy(authority, a, alen);
    authority[alen] = '\0';
    {
      /* Host without the port, to recognise literals. */
      size_t hlen = authority[0] == '[' ? strcspn(authority, "]") + 1 : strcspn(authority, ":");
      literal = host_is_literal(authority, hlen);
    }
    if (region == NULL) region = "us-east-1"; /* what S3-compatible servers expect */
  } else {
    if (region == NULL)
      return sq_err_set(err, SQ_ECONFIG,
                        "s3 storage needs a region: set AWS_REGION (or AWS_DEFAULT_REGION)");
    n = snprintf(authority, sizeof authority, "s3.%s.amazonaws.com%s", region,
                 strncmp(region, "cn-", 3) == 0 ? ".cn" : "");
    if (n < 0 || (size_t)n >= sizeof authority)
      return sq_err_set(err, SQ_ECONFIG, "region name too long");
  }
  snprintf(out->region, sizeof out->region, "%s", region);

  if (loc->path_style == 1) {
    out->path_style = true;
  } else if (!bucket_dns_ok(loc->bucket, https) || literal) {
    if (loc->path_style == 0)
      return sq_err_set(err, SQ_ECONFIG,
                        "bucket %.63s cannot be addressed as a host name here: use "
                        "path_style=1",
                        loc->bucket);
    out->path_style = true;
  }
  if (out->path_style) {
    n = snprintf(out->host, sizeof out->host, "%s", authority);
    snprintf(out->path_prefix, sizeof out->path_prefix, "/%s", loc->bucket);
  } else {
    n = snprintf(out->host, sizeof out->host, "%s.%s", loc->bucket, authority);
  }
  if (n < 0 || (size_t)n >= sizeof out->host)
    return sq_err_set(err, SQ_ECONFIG, "s3 endpoint host name too long");
  snprintf(out->base_url, sizeof out->base_url, "%s://%s", https ? "https" : "http", out->host);
  return SQ_OK;
}

uint64_t sq_s3_part_size(uint64_t size) {
  const uint64_t mib = 1ull << 20;
  uint64_t part;
  if (size > SQ_S3_MAX_OBJECT) return 0;
  part = SQ_S3_PART_MIN;
  if ((size + part - 1) / part > SQ_S3_MAX_PARTS) {
    part = (size + SQ_S3_MAX_PARTS - 1) / SQ_S3_MAX_PARTS;
    part = (part + mib - 1) / mib * mib;
  }
  return part;
}

static bool code_in(const char *code, const char *const *list) {
  for (; *list; list++)
    if (strcmp(code, *list) == 0) return true;
  return false;
}

sq_s3_verdict sq_s3_classify(long status, const char *code, sq_http_failure failure) {
  /* The AWS SDKs' lists (standard retry mode), plus S3's own. */
  static const char *const throttling[] = {
      "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
      "TooManyRequestsException", "ProvisionedThroughputExceededException",
      "TransactionInProgressException", "RequestLimitExceeded", "BandwidthLimitExceeded",
      "LimitExceededException", "RequestThrottled", "SlowDown", "PriorRequestNotComplete",
      "EC2ThrottledException", NULL};
  static const char *const transient[] = {
      "RequestTimeout", "RequestTimeoutException", "InternalError", "ServiceUnavailable",
      /* the body changed in transit: a clean resend can succeed */
      "BadDigest", "XAmzContentSHA256Mismatch", "IncompleteBody", NULL};
  static const char *const expired[] = {"ExpiredToken", "ExpiredTokenException",
                                        "TokenRefreshRequired", NULL};
  bool has_code = code != NULL && code[0] != '\0';

  switch (failure) {
    case SQ_HTTP_OK:
      break;
    case SQ_HTTP_CONNECT:
    case SQ_HTTP_TIMEOUT:
    case SQ_HTTP_NETWORK:
      return SQ_S3_RETRY;
    default:
      return SQ_S3_FAIL;
  }
  if (has_code) {
    if (code_in(code, throttling) || code_in(code, transient)) return SQ_S3_RETRY;
    if (code_in(code, expired)) return SQ_S3_REFRESH;
  }
  if (status >= 200 && status < 300) return has_code ? SQ_S3_FAIL : SQ_S3_DONE;
  if (status == 500 || status == 502 || status == 503 || status == 504 || status == 429)
    return SQ_S3_RETRY;
  return SQ_S3_FAIL;
}

long sq_s3_backoff_ms(int retry, double r) {
  double cap_s = 1.0;
  long ms;
  if (retry < 1) retry = 1;
  for (int i = 1; i < retry && cap_s < 20.0; i++) cap_s *= 2.0;
  if (cap_s > 20.0) cap_s = 20.0;
  if (!(r >= 0.0)) r = 0.0; /* also NaN */
  if (r >= 1.0) r = 0.999999;
  ms = (long)(r * cap_s * 1000.0);
  return ms > SQ_S3_BACKOFF_CAP_MS ? SQ_S3_BACKOFF_CAP_MS : ms;
}

/* Skips whitespace, the XML declaration, comments and processing
 * instructions; returns the position of the first element's '<'. */
static const char *xml_first_element(const char *p, const char *end) {
  while (p < end) {
    if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') {
      p++;
    } else if (end - p >= 2 && p[0] == '<' && (p[1] == '?' || p[1] == '!')) {
      const char *close = p[1] == '!' && end - p >= 4 && memcmp(p, "<!--", 4) == 0
                              ? NULL
                              : memchr(p, '>', (size_t)(end - p));
      if (close == NULL) { /* a comment: up to "-->" */
        const char *c = p + 4;
        while (c + 3 <= end && memcmp(c, "-->", 3) != 0) c++;
        if (c + 3 > end) return NULL;
        close = c + 2;
      }
      p = close + 1;
    } else {
      return *p == '<' ? p : NULL;
    }
  }
  return NULL;
}

static bool name_char(char c) {
  return c != '>' && c != '/' && c != ' ' && c != '\t' && c != '\r' && c != '\n';
}

bool sq_s3_xml_root(const char *xml, size_t len, char *out, size_t cap) {
  const char *end, *p, *n;
  size_t k;
  if (xml == NULL || cap == 0) return false;
  end = xml + len;
  if ((p = xml_first_element(xml, end)) == NULL) return false;
  n = ++p;
  while (p < end && name_char(*p)) p++;
  if (p == end || p == n) return false;
  /* Drop a namespace prefix ("s3:Error" -> "Error"). */
  for (const char *c = n; c < p; c++)
    if (*c == ':') n = c + 1;
  k = (size_t)(p - n);
  if (k >= cap) k = cap - 1;
  memcpy(out, n, k);
  out[k] = '\0';
  return true;
}

/* Decodes the five predefined entities and numeric references (ASCII
 * range; others become '?'). */
static void xml_decode(const char *s, size_t n, char *out, size_t cap) {
  static const struct {
    const char *ent;
    char ch;
  } ents[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
  size_t j = 0;
  for (size_t i = 0; i < n && j + 1 < cap;) {
    if (s[i] == '&') {
      bool done = false;
      for (size_t e = 0; e < sizeof ents / sizeof ents[0]; e++) {
        size_t el = strlen(ents[e].ent);
        if (i + el <= n && memcmp(s + i, ents[e].ent, el) == 0) {
          out[j++] = ents[e].ch;
          i += el;
          done = true;
          break;
        }
      }
      if (!done && i + 2 < n && s[i + 1] == '#') {
        const char *semi = memchr(s + i, ';', n - i);
        if (semi != NULL) {
          long v = s[i + 2] == 'x' ? strtol(s + i + 3, NULL, 16) : strtol(s + i + 2, NULL, 10);
          out[j++] = v > 0 && v < 128 ? (char)v : '?';
          i = (size_t)(semi - s) + 1;
          done = true;
        }
      }
      if (done) continue;
    }
    out[j++] = s[i++];
  }
  if (cap > 0) out[j] = '\0';
}

bool sq_s3_xml_text(const char *xml, size_t len, const char *name, char *out, size_t cap) {
  const char *end, *p = xml;
  size_t nlen = strlen(name);
  if (xml == NULL || cap == 0) return false;
  end = xml + len;
  while (p < end) {
    const char *lt = memchr(p, '<', (size_t)(end - p)), *gt, *close;
    if (lt == NULL || (size_t)(end - lt) < nlen + 2) return false;
    p = lt + 1;
    if (memcmp(p, name, nlen) != 0 || (p[nlen] != '>' && p[nlen] != ' ' && p[nlen] != '/'))
      continue;
    gt = memchr(p, '>', (size_t)(end - p));
    if (gt == NULL) return false;
    if (gt[-1] == '/') { /* <Name/> */
      out[0] = '\0';
      return true;
    }
    close = gt + 1;
    while (close < end && *close != '<') close++;
    if (close >= end) return false;
    xml_decode(gt + 1, (size_t)(close - gt - 1), out, cap);
    return true;
  }
  return false;
}

bool sq_s3_parse_error(const char *xml, size_t len, sq_s3_error *out) {
  char root[32];
  memset(out, 0, sizeof *out);
  if (!sq_s3_xml_root(xml, len, root, sizeof root) || strcmp(root, "Error") != 0) return false;
  sq_s3_xml_text(xml, len, "Code", out->code, sizeof out->code);
  sq_s3_xml_text(xml, len, "Message", out->message, sizeof out->message);
  sq_s3_xml_text(xml, len, "RequestId", out->request_id, sizeof out->request_id);
  return true;
}

sq_errcode sq_s3_xml_escape(sq_buf *b, const char *s) {
  for (; *s; s++) {
    const char *rep = *s == '&' ? "&amp;" : *s == '<' ? "&lt;" : *s == '>' ? "&gt;" : NULL;
    if ((rep ? sq_buf_adds(b, rep) : sq_buf_add(b, s, 1)) != SQ_OK) return SQ_ENOMEM;
  }
  return SQ_OK;
}

/* ---- Requests ------------------------------------------------------------ */

typedef struct s3_call {
  const char *op;     /* "UploadPart", for messages */
  const char *method;
  const char *key;    /* full object key, prefix included */
  sq_sigv4_pair query[2];
  size_t n_query;
  sq_http_body_kind body_kind;
  const void *body;   /* memory body */
  int fd;             /* file body */
  uint64_t offset, len;
  const char *sha256_hex;   /* of the body */
  const char *content_md5;  /* base64, or NULL */
  const char *content_type; /* or NULL */
  const char *result_root;  /* a 2xx must carry this root element; or NULL */
  /* NoSuchUpload means an earlier try (ours, or libcurl's own silent resend
   * on a reused connection) may have completed the upload: temporary. */
  bool missing_is_unknown;
  /* NoSuchUpload means there is nothing left to do (abort). */
  bool missing_is_done;
  long timeout_ms;
  long stall_seconds;
} s3_call;

static double random_unit(void) {
  uint64_t r;
  struct timespec ts;
  if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
    clock_gettime(CLOCK_MONOTONIC, &ts);
    r = (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull;
  }
  return (double)(r >> 11) / 9007199254740992.0; /* [0, 1) */
}

/* Overwrites any credential text inside s with '*'. */
static void mask_secrets(char *s, const sq_aws_credentials *c) {
  const char *secrets[2];
  if (c == NULL) return;
  secrets[0] = c->secret_access_key;
  secrets[1] = c->session_token;
  for (int i = 0; i < 2; i++) {
    size_t n = secrets[i] ? strlen(secrets[i]) : 0;
    char *hit;
    if (n < 4) continue;
    while ((hit = strstr(s, secrets[i])) != NULL) memset(hit, '*', n);
  }
}

static const char *content_type_for(const char *key) {
  size_t n = strlen(key);
  if (n >= 5 && strcasecmp(key + n - 5, ".xlsx") == 0) return XLSX_TYPE;
  return "application/octet-stream";
}

/* Builds the URL of call into url. */
static sq_errcode call_url(const s3_storage *s, const s3_call *call, sq_buf *path,
                           sq_buf *url) {
  if (sq_buf_printf(path, "%s/%s", s->ep.path_prefix, call->key) != SQ_OK ||
      sq_buf_adds(url, s->ep.base_url) != SQ_OK ||
      sq_sigv4_encode_path(url, sq_buf_str(path)) != SQ_OK)
    return SQ_ENOMEM;
  if (call->n_query > 0 && (sq_buf_add(url, "?", 1) != SQ_OK ||
                            sq_sigv4_canonical_query(url, call->query, call->n_query) != SQ_OK))
    return SQ_ENOMEM;
  return SQ_OK;
}

/* Signs one try of call: fills the header lines (owned by lines[]). */
static sq_errcode sign_call(const s3_storage *s, const s3_call *call, const char *raw_path,
                            const sq_aws_credentials *creds, sq_buf lines[8],
                            const char *argv[9], sq_err *err) {
  static const char *const names[] = {"Host", "x-amz-date", "x-amz-content-sha256"};
  sq_sigv4_pair h[6];
  size_t nh = 0, nl = 0;
  char amz_date[SQ_SIGV4_DATE_LEN];
  sq_sigv4_request req;
  sq_sigv4_key key;
  sq_sigv4_result sig;
  sq_errcode rc;

  sq_sigv4_amz_date(time(NULL), amz_date);
  h[nh++] = (sq_sigv4_pair){"host", s->ep.host};
  h[nh++] = (sq_sigv4_pair){"x-amz-date", amz_date};
  h[nh++] = (sq_sigv4_pair){"x-amz-content-sha256", call->sha256_hex};
  if (creds->session_token) h[nh++] = (sq_sigv4_pair){"x-amz-security-token", creds->session_token};
  if (call->content_md5) h[nh++] = (sq_sigv4_pair){"content-md5", call->content_md5};
  if (call->content_type) h[nh++] = (sq_sigv4_pair){"content-type", call->content_type};
  memset(&req, 0, sizeof req);
  req.method = call->method;
  req.path = raw_path;
  req.query = call->query;
  req.n_query = call->n_query;
  req.headers = h;
  req.n_headers = nh;
  req.payload_hash = call->sha256_hex;
  key.access_key_id = creds->access_key_id;
  key.secret_access_key = creds->secret_access_key;
  key.region = s->ep.region;
  key.service = "s3";
  key.amz_date = amz_date;
  sq_sigv4_result_init(&sig);
  rc = sq_sigv4_sign(&req, &key, &sig, err);
  if (rc != SQ_OK) goto out;
  /* Header lines: the signed ones in their sent spelling, then the
   * signature. */
  for (size_t i = 0; i < nh; i++) {
    const char *name = i < 3                                         ? names[i]
                       : strcmp(h[i].name, "x-amz-security-token") == 0 ? "x-amz-security-token"
                       : strcmp(h[i].name, "content-md5") == 0          ? "Content-MD5"
                                                                        : "Content-Type";
    if (sq_buf_printf(&lines[nl], "%s: %s", name, h[i].value) != SQ_OK) goto nomem;
    nl++;
  }
  if (sq_buf_printf(&lines[nl], "Authorization: %s", sq_buf_str(&sig.authorization)) != SQ_OK)
    goto nomem;
  nl++;
  for (size_t i = 0; i < nl; i++) argv[i] = sq_buf_str(&lines[i]);
  argv[nl] = NULL;
  rc = SQ_OK;
  goto out;
nomem:
  rc = sq_err_set(err, SQ_ENOMEM, "s3: out of memory");
out:
  sq_sigv4_result_free(&sig);
  return rc;
}

static void wipe_lines(sq_buf lines[8]) {
  for (int i = 0; i < 8; i++) {
    if (lines[i].data) explicit_bzero(lines[i].data, lines[i].cap);
    sq_buf_free(&lines[i]);
  }
}

/* Runs call with retries (see DESIGN). ctx starts every message:
 * "storing \"key\" in s3://bucket/prefix". On SQ_OK, resp holds the
 * successful response. */
static sq_errcode s3_perform(s3_storage *s, const s3_call *call, sq_http_response *resp,
                             const char *ctx, sq_err *err) {
  sq_buf path, url, lines[8];
  const char *argv[9];
  sq_http_request req;
  sq_errcode rc = SQ_ESTORAGE;
  bool ambiguous = false; /* an earlier try may have taken effect */
  char what[400];
  int attempt;

  sq_buf_init(&path, URL_MAX);
  sq_buf_init(&url, URL_MAX);
  for (int i = 0; i < 8; i++) sq_buf_init(&lines[i], HEADER_LINE_MAX);
  if (call_url(s, call, &path, &url) != SQ_OK) {
    rc = sq_err_set(err, SQ_EINVAL, "%s: %s: the request URL is too long", ctx, call->op);
    goto out;
  }
  memset(&req, 0, sizeof req);
  req.method = call->method;
  req.url = sq_buf_str(&url);
  req.headers = argv;
  req.body_kind = call->body_kind;
  req.body = call->body;
  req.body_fd = call->fd;
  req.body_offset = call->offset;
  req.body_len = call->len;
  req.connect_timeout_ms = CONNECT_TIMEOUT_MS;
  req.timeout_ms = call->timeout_ms;
  req.stall_seconds = call->stall_seconds;

  for (attempt = 1;; attempt++) {
    const sq_aws_credentials *creds = NULL;
    sq_s3_error s3e;
    sq_s3_verdict verdict;
    sq_err e;
    sq_errcode hrc;
    bool no_result = false;

    rc = sq_aws_credentials_get(s->creds, s->http, time(NULL), &creds, &e);
    if (rc != SQ_OK) {
      sq_err_set(err, rc, "%s: %s: AWS credentials: %s", ctx, call->op, e.msg);
      goto out;
    }
    wipe_lines(lines);
    rc = sign_call(s, call, sq_buf_str(&path), creds, lines, argv, &e);
    if (rc != SQ_OK) {
      sq_err_set(err, rc, "%s: %s: %s", ctx, call->op, e.msg);
      goto out;
    }
    hrc = sq_http_perform(s->http, &req, resp, &e);
    wipe_lines(lines);

    memset(&s3e, 0, sizeof s3e);
    if (hrc == SQ_OK) {
      bool ok_status = resp->status >= 200 && resp->status < 300;
      if (!ok_status || call->result_root) {
        char root[64];
        (void)sq_s3_parse_error(resp->body.data, resp->body.len, &s3e);
        if (ok_status && s3e.code[0] == '\0' &&
            (!sq_s3_xml_root(resp->body.data, resp->body.len, root, sizeof root) ||
             strcmp(root, call->result_root) != 0))
          no_result = true;
      }
      if (!ok_status && s3e.code[0] == '\0' && resp->status == 503)
        snprintf(s3e.code, sizeof s3e.code, "ServiceUnavailable");
      verdict = no_result ? SQ_S3_RETRY : sq_s3_classify(resp->status, s3e.code, SQ_HTTP_OK);
      if (s3e.request_id[0] == '\0')
        (void)sq_http_response_header(resp, "x-amz-request-id", s3e.request_id,
                                      sizeof s3e.request_id);
      if (no_result)
        snprintf(what, sizeof what, "HTTP %ld without a %s in the answer", resp->status,
                 call->result_root);
      else
        snprintf(what, sizeof what, "HTTP %ld%s%.64s%s%.200s%s%.96s%s", resp->status,
                 s3e.code[0] ? " " : "", s3e.code, s3e.message[0] ? ": " : "", s3e.message,
                 s3e.request_id[0] ? " (request id " : "", s3e.request_id,
                 s3e.request_id[0] ? ")" : "");
    } else {
      verdict = sq_s3_classify(0, NULL, resp->failure);
      snprintf(what, sizeof what, "%.380s", e.msg);
    }
    mask_secrets(what, creds);
    SQ_DEBUG("s3 %s %s %.200s: %s (attempt %d of %d)", call->op, call->method, call->key,
             verdict == SQ_S3_DONE ? "ok" : what, attempt, s->ep.max_attempts);

    if (verdict == SQ_S3_DONE ||
        (call->missing_is_done && strcmp(s3e.code, "NoSuchUpload") == 0)) {
      rc = SQ_OK;
      goto out;
    }
    if (verdict == SQ_S3_REFRESH) {
      if (attempt < s->ep.max_attempts && sq_aws_credentials_invalidate(s->creds)) {
        SQ_WARN("s3 %s %.200s: %s; fetching new credentials", call->op, call->key, what);
        continue;
      }
      rc = sq_err_set(err, SQ_ESTORAGE_DENIED,
                      "%s: %s: %s: the credentials from the %s have expired", ctx, call->op,
                      what, sq_aws_credentials_describe(s->creds));
      goto out;
    }
    if (verdict == SQ_S3_RETRY) {
      ambiguous = true;
      if (attempt < s->ep.max_attempts) {
        long ms = sq_s3_backoff_ms(attempt, random_unit());
        SQ_WARN("s3 %s %.200s: %s; retrying in %.1f s (attempt %d of %d)", call->op, call->key,
                what, (double)ms / 1000.0, attempt, s->ep.max_attempts);
        sq_sleep_ms(ms);
        continue;
      }
      rc = sq_err_set(err, SQ_ESTORAGE, "%s: %s: %s (gave up after %d attempts)", ctx, call->op,
                      what, attempt);
      goto out;
    }
    /* Permanent. */
    if (hrc != SQ_OK) {
      rc = sq_err_set(err, hrc == SQ_ECONFIG ? SQ_ECONFIG
                           : resp->failure == SQ_HTTP_BODY_SOURCE ? SQ_EIO
                                                                  : SQ_ESTORAGE,
                      "%s: %s: %s", ctx, call->op, what);
    } else if ((ambiguous || call->missing_is_unknown) && strcmp(s3e.code, "NoSuchUpload") == 0) {
      rc = sq_err_set(err, SQ_ESTORAGE,
                      "%s: %s: %s: an earlier try may have completed it, or the upload was "
                      "aborted; the outcome is unknown, so the file is uploaded again on "
                      "the next attempt",
                      ctx, call->op, what);
    } else {
      char region[64];
      bool moved = sq_http_response_header(resp, "x-amz-bucket-region", region, sizeof region) &&
                   strcmp(region, s->ep.region) != 0;
      /* A 4xx is the request's fault and permanent, except the ones S3
       * documents as "try again": a timed-out request, a conflicting
       * operation in progress, throttling. */
      bool again = resp->status == 408 || resp->status == 429 ||
                   (resp->status == 409 && strcmp(s3e.code, "OperationAborted") == 0);
      rc = sq_err_set(err,
                      resp->status >= 300 && resp->status < 500 && !again ? SQ_ESTORAGE_DENIED
                                                                          : SQ_ESTORAGE,
                      "%s: %s: %s%s%.60s%s", ctx, call->op, what,
                      moved ? " (the bucket is in region " : "", moved ? region : "",
                      moved ? ": set AWS_REGION)" : "");
    }
    goto out;
  }
out:
  wipe_lines(lines);
  sq_buf_free(&path);
  sq_buf_free(&url);
  return rc;
}

/* SHA-256 (hex) and MD5 (base64) of len bytes of fd from offset. */
static sq_errcode digest_range(s3_storage *s, int fd, uint64_t offset, uint64_t len,
                               char sha_hex[SQ_SIGV4_HEX_LEN], char md5_b64[32],
                               const char *ctx, const char *local_path, sq_err *err) {
  EVP_MD_CTX *sha = EVP_MD_CTX_new(), *md5 = EVP_MD_CTX_new();
  unsigned char sd[32], md[16];
  unsigned int n1 = 0, n2 = 0;
  sq_errcode rc = SQ_EINTERNAL;
  static const char hexdig[] = "0123456789abcdef";

  if (sha == NULL || md5 == NULL || EVP_DigestInit_ex(sha, EVP_sha256(), NULL) != 1 ||
      EVP_DigestInit_ex(md5, EVP_md5(), NULL) != 1) {
    rc = sq_err_set(err, SQ_EINTERNAL, "%s: libcrypto: cannot start SHA-256/MD5", ctx);
    goto out;
  }
  while (len > 0) {
    size_t want = len > HASH_CHUNK ? HASH_CHUNK : (size_t)len;
    ssize_t r = pread(fd, s->chunk, want, (off_t)offset);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      char ebuf[128];
      rc = sq_err_set(err, SQ_EIO, "%s: read %.300s: %s", ctx, local_path,
                      r == 0 ? "file is shorter than expected"
                             : strerror_r(errno, ebuf, sizeof ebuf));
      goto out;
    }
    if (EVP_DigestUpdate(sha, s->chunk, (size_t)r) != 1 ||
        EVP_DigestUpdate(md5, s->chunk, (size_t)r) != 1) {
      rc = sq_err_set(err, SQ_EINTERNAL, "%s: libcrypto: digest failed", ctx);
      goto out;
    }
    offset += (uint64_t)r;
    len -= (uint64_t)r;
  }
  if (EVP_DigestFinal_ex(sha, sd, &n1) != 1 || EVP_DigestFinal_ex(md5, md, &n2) != 1 ||
      n1 != 32 || n2 != 16) {
    rc = sq_err_set(err, SQ_EINTERNAL, "%s: libcrypto: digest failed", ctx);
    goto out;
  }
  for (int i = 0; i < 32; i++) {
    sha_hex[2 * i] = hexdig[sd[i] >> 4];
    sha_hex[2 * i + 1] = hexdig[sd[i] & 15];
  }
  sha_hex[64] = '\0';
  EVP_EncodeBlock((unsigned char *)md5_b64, md, 16); /* 24 chars + NUL */
  rc = SQ_OK;
out:
  EVP_MD_CTX_free(sha);
  EVP_MD_CTX_free(md5);
  return rc;
}

static sq_errcode put_single(s3_storage *s, int fd, uint64_t size, const char *key,
                             const char *ctx, const char *local_path, sq_err *err) {
  char sha[SQ_SIGV4_HEX_LEN], md5[32];
  sq_http_response resp;
  s3_call call;
  sq_errcode rc;

  sq_http_response_init(&resp);
  rc = digest_range(s, fd, 0, size, sha, md5, ctx, local_path, err);
  if (rc != SQ_OK) goto out;
  memset(&call, 0, sizeof call);
  call.op = "PutObject";
  call.method = "PUT";
  call.key = key;
  call.body_kind = SQ_HTTP_BODY_FILE;
  call.fd = fd;
  call.len = size;
  call.sha256_hex = sha;
  call.content_md5 = md5;
  call.content_type = content_type_for(key);
  call.stall_seconds = STALL_SECONDS;
  rc = s3_perform(s, &call, &resp, ctx, err);
out:
  sq_http_response_free(&resp);
  return rc;
}

/* Best effort: the parts of an abandoned upload would be billed forever. */
static void abort_upload(s3_storage *s, const char *key, const char *upload_id,
                         const char *ctx) {
  sq_http_response resp;
  s3_call call;
  sq_err e;
  sq_http_response_init(&resp);
  memset(&call, 0, sizeof call);
  call.op = "AbortMultipartUpload";
  call.method = "DELETE";
  call.key = key;
  call.query[0] = (sq_sigv4_pair){"uploadId", upload_id};
  call.n_query = 1;
  call.sha256_hex = SQ_SIGV4_EMPTY_SHA256;
  call.missing_is_done = true;
  call.timeout_ms = SMALL_CALL_TIMEOUT_MS;
  if (s3_perform(s, &call, &resp, ctx, &e) != SQ_OK)
    SQ_WARN("%s (the parts stay until a lifecycle rule removes them)", e.msg);
  else
    SQ_INFO("s3: aborted the multipart upload of %.200s", key);
  sq_http_response_free(&resp);
}

static sq_errcode put_multipart(s3_storage *s, int fd, uint64_t size, const char *key,
                                const char *ctx, const char *local_path, sq_err *err) {
  uint64_t part_size = sq_s3_part_size(size), nparts;
  char upload_id[1024] = "", partnum[24];
  char sha[SQ_SIGV4_HEX_LEN], md5[32], etag[256];
  sq_http_response resp;
  sq_buf xml;
  s3_call call;
  sq_errcode rc;

  sq_http_response_init(&resp);
  sq_buf_init(&xml, COMPLETE_XML_MAX);
  if (part_size == 0) {
    rc = sq_err_set(err, SQ_ESTORAGE_DENIED, "%s: the file is larger than S3's 5 TiB limit", ctx);
    goto out;
  }
  nparts = (size + part_size - 1) / part_size;

  /* 1. Create. */
  memset(&call, 0, sizeof call);
  call.op = "CreateMultipartUpload";
  call.method = "POST";
  call.key = key;
  call.query[0] = (sq_sigv4_pair){"uploads", NULL};
  call.n_query = 1;
  call.sha256_hex = SQ_SIGV4_EMPTY_SHA256;
  call.content_type = content_type_for(key);
  call.result_root = "InitiateMultipartUploadResult";
  call.timeout_ms = SMALL_CALL_TIMEOUT_MS;
  rc = s3_perform(s, &call, &resp, ctx, err);
  if (rc != SQ_OK) goto out;
  if (!sq_s3_xml_text(resp.body.data, resp.body.len, "UploadId", upload_id, sizeof upload_id) ||
      upload_id[0] == '\0') {
    rc = sq_err_set(err, SQ_ESTORAGE, "%s: CreateMultipartUpload: no UploadId in the answer", ctx);
    goto out;
  }
  SQ_DEBUG("s3: multipart upload of %.200s: %" PRIu64 " parts of %" PRIu64 " bytes", key, nparts,
           part_size);
  if (sq_buf_adds(&xml, "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">") !=
      SQ_OK)
    goto nomem;

  /* 2. Parts, one after the other, each retried on its own. */
  for (uint64_t i = 0; i < nparts; i++) {
    uint64_t off = i * part_size, len = size - off < part_size ? size - off : part_size;
    rc = digest_range(s, fd, off, len, sha, md5, ctx, local_path, err);
    if (rc != SQ_OK) goto abort;
    snprintf(partnum, sizeof partnum, "%" PRIu64, i + 1);
    memset(&call, 0, sizeof call);
    call.op = "UploadPart";
    call.method = "PUT";
    call.key = key;
    call.query[0] = (sq_sigv4_pair){"partNumber", partnum};
    call.query[1] = (sq_sigv4_pair){"uploadId", upload_id};
    call.n_query = 2;
    call.body_kind = SQ_HTTP_BODY_FILE;
    call.fd = fd;
    call.offset = off;
    call.len = len;
    call.sha256_hex = sha;
    call.content_md5 = md5;
    call.stall_seconds = STALL_SECONDS;
    rc = s3_perform(s, &call, &resp, ctx, err);
    if (rc != SQ_OK) goto abort;
    if (!sq_http_response_header(&resp, "ETag", etag, sizeof etag) || etag[0] == '\0') {
      rc = sq_err_set(err, SQ_ESTORAGE, "%s: UploadPart %s: no ETag in the answer", ctx, partnum);
      goto abort;
    }
    if (sq_buf_printf(&xml, "<Part><PartNumber>%s</PartNumber><ETag>", partnum) != SQ_OK ||
        sq_s3_xml_escape(&xml, etag) != SQ_OK || sq_buf_adds(&xml, "</ETag></Part>") != SQ_OK)
      goto nomem_abort;
  }
  if (sq_buf_adds(&xml, "</CompleteMultipartUpload>") != SQ_OK) goto nomem_abort;

  /* 3. Complete: a 200 counts only with a result inside. */
  if (!sq_sigv4_sha256_hex(xml.data, xml.len, sha)) {
    rc = sq_err_set(err, SQ_EINTERNAL, "%s: libcrypto: SHA-256 failed", ctx);
    goto abort;
  }
  memset(&call, 0, sizeof call);
  call.op = "CompleteMultipartUpload";
  call.method = "POST";
  call.key = key;
  call.query[0] = (sq_sigv4_pair){"uploadId", upload_id};
  call.n_query = 1;
  call.body_kind = SQ_HTTP_BODY_MEMORY;
  call.body = xml.data;
  call.len = xml.len;
  call.sha256_hex = sha;
  call.content_type = "application/xml";
  call.result_root = "CompleteMultipartUploadResult";
  call.missing_is_unknown = true;
  call.timeout_ms = COMPLETE_TIMEOUT_MS;
  rc = s3_perform(s, &call, &resp, ctx, err);
  if (rc != SQ_OK) goto abort;
  goto out;
nomem_abort:
  rc = sq_err_set(err, SQ_ENOMEM, "%s: out of memory", ctx);
abort:
  abort_upload(s, key, upload_id, ctx);
  goto out;
nomem:
  rc = sq_err_set(err, SQ_ENOMEM, "%s: out of memory", ctx);
  abort_upload(s, key, upload_id, ctx);
out:
  sq_http_response_free(&resp);
  sq_buf_free(&xml);
  return rc;
}

static sq_errcode s3_put(sq_storage *st, const char *local_path, const char *key, sq_err *err) {
  s3_storage *s = (s3_storage *)st;
  char full[SQ_OBJECT_KEY_MAX + SQ_S3_PREFIX_MAX], ctx[300];
  struct stat sb;
  sq_errcode rc = SQ_ESTORAGE;
  int fd = -1, n;
  struct timespec t0, t1;

  snprintf(ctx, sizeof ctx, "storing \"%.200s\" in %.80s", key, st->description);
  n = snprintf(full, sizeof full, "%s%s%s", s->loc.prefix, s->loc.prefix[0] ? "/" : "", key);
  if (n < 0 || (size_t)n >= SQ_OBJECT_KEY_MAX) {
    rc = sq_err_set(err, SQ_EINVAL, "%s: the object key with its prefix exceeds %d bytes", ctx,
                    SQ_OBJECT_KEY_MAX - 1);
    goto out;
  }
  fd = open(local_path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || fstat(fd, &sb) != 0) {
    char ebuf[128];
    rc = sq_err_set(err, SQ_EIO, "%s: open %.300s: %s", ctx, local_path,
                    strerror_r(errno, ebuf, sizeof ebuf));
    goto out;
  }
  clock_gettime(CLOCK_MONOTONIC, &t0);
  if ((uint64_t)sb.st_size <= SQ_S3_PART_MIN)
    rc = put_single(s, fd, (uint64_t)sb.st_size, full, ctx, local_path, err);
  else
    rc = put_multipart(s, fd, (uint64_t)sb.st_size, full, ctx, local_path, err);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  if (rc == SQ_OK) {
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    SQ_DEBUG("s3: stored %.200s: %lld bytes in %.3f s", full, (long long)sb.st_size, secs);
  }
out:
  if (fd >= 0) close(fd);
  return rc;
}

static void s3_free(sq_storage *st) {
  s3_storage *s = (s3_storage *)st;
  sq_aws_credentials_free(s->creds);
  sq_http_free(s->http);
  free(s->chunk);
  free(s);
}

static const sq_storage_type s3_type = {
    .scheme = "s3",
    .put_file = s3_put,
    .scratch_dir = NULL,
    .free = s3_free,
};

sq_storage *sq_storage_s3_open(const char *url, sq_err *err) {
  s3_storage *s = calloc(1, sizeof *s);
  sq_storage *result = NULL;
  sq_aws_credential_env cenv;
  sq_s3_env env;
  sq_buf b;

  sq_buf_init(&b, 1024);
  if (s == NULL) goto nomem;
  s->base.type = &s3_type;
  if (sq_s3_url_parse(url, &s->loc, err) != SQ_OK) goto out;
  sq_s3_env_read(&env);
  if (sq_s3_endpoint_resolve(&s->loc, &env, &s->ep, err) != SQ_OK) goto out;
  sq_aws_credential_env_read(&cenv);
  if ((s->creds = sq_aws_credentials_open(&cenv, err)) == NULL) goto out;
  if ((s->http = sq_http_new(err)) == NULL) goto out;
  if ((s->chunk = malloc(HASH_CHUNK)) == NULL) goto nomem;
  if (sq_buf_printf(&b, "s3://%s%s%s", s->loc.bucket, s->loc.prefix[0] ? "/" : "",
                    s->loc.prefix) != SQ_OK ||
      (s->base.description = sq_buf_take(&b)) == NULL)
    goto nomem;
  SQ_DEBUG("s3 storage %s: %s, %s addressing, region %s, credentials from the %s",
           s->base.description, s->ep.base_url, s->ep.path_style ? "path-style" : "virtual-hosted",
           s->ep.region, sq_aws_credentials_describe(s->creds));
  result = &s->base;
  s = NULL;
  goto out;
nomem:
  sq_err_set(err, SQ_ENOMEM, "s3 storage: out of memory");
out:
  if (s) sq_storage_free(&s->base);
  sq_buf_free(&b);
  return result;
}
