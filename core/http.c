/* http.c - see http.h. The only file that includes curl.h.
 *
 * DESIGN. One CURL easy handle per sq_http, reset (curl_easy_reset keeps
 * the connection cache) and configured afresh for every request, so no
 * option leaks from one request to the next. Bodies are fed by a read
 * callback (pread on the caller's descriptor, or memcpy), and the seek
 * callback lets libcurl rewind when it must resend. Uploads go through
 * CURLOPT_UPLOAD with the method overridden when it is not PUT: that is the
 * one libcurl path that streams a body of known length for any method.
 * libcurl adds "Expect: 100-continue" to every non-empty upload; below
 * EXPECT_THRESHOLD it is suppressed, since waiting for the interim answer
 * costs a round trip that only pays off for large bodies a server may
 * reject early. The response body is kept up to a cap and the rest is
 * drained, not refused, so the connection stays reusable.
 */
#include "core/http.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define HEADERS_MAX (64 * 1024)
#define BODY_MAX_DEFAULT (64 * 1024)
#define CONNECT_TIMEOUT_DEFAULT_MS 10000L
#define EXPECT_THRESHOLD (1024 * 1024)

struct sq_http {
  CURL *easy;
  char errbuf[CURL_ERROR_SIZE];
};

/* State of one request, shared with the callbacks. */
typedef struct transfer {
  const sq_http_request *req;
  sq_http_response *resp;
  size_t max_body;
  uint64_t sent;   /* body bytes handed to libcurl since the last rewind */
  int source_errno; /* reading the body file failed; 0: no */
  bool source_short; /* the body file ended early */
} transfer;

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init(void) { global_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

sq_http *sq_http_new(sq_err *err) {
  sq_http *h;
  pthread_once(&global_once, global_init);
  if (global_rc != CURLE_OK) {
    sq_err_set(err, SQ_EINTERNAL, "http: libcurl initialisation failed: %s",
               curl_easy_strerror(global_rc));
    return NULL;
  }
  h = calloc(1, sizeof *h);
  if (h == NULL) {
    sq_err_set(err, SQ_ENOMEM, "http: out of memory");
    return NULL;
  }
  h->easy = curl_easy_init();
  if (h->easy == NULL) {
    free(h);
    sq_err_set(err, SQ_ENOMEM, "http: cannot create a libcurl handle");
    return NULL;
  }
  return h;
}

void sq_http_free(sq_http *h) {
  if (h == NULL) return;
  curl_easy_cleanup(h->easy);
  free(h);
}

void sq_http_response_init(sq_http_response *r) {
  memset(r, 0, sizeof *r);
  sq_buf_init(&r->headers, HEADERS_MAX);
  sq_buf_init(&r->body, BODY_MAX_DEFAULT);
}

void sq_http_response_free(sq_http_response *r) {
  sq_buf_free(&r->headers);
  sq_buf_free(&r->body);
  sq_http_response_init(r);
}

static size_t on_header(char *data, size_t size, size_t n, void *ctx) {
  transfer *t = ctx;
  size_t len = size * n;
  /* A new status line starts a new response (after "100 Continue"): only
   * the final response's headers are kept. */
  if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) sq_buf_reset(&t->resp->headers);
  (void)sq_buf_add(&t->resp->headers, data, len); /* past the cap: dropped */
  return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *ctx) {
  transfer *t = ctx;
  size_t len = size * n, room = 0;
  sq_buf *b = &t->resp->body;
  if (b->len < t->max_body) room = t->max_body - b->len;
  if (room > len) room = len;
  if (room > 0 && sq_buf_add(b, data, room) != SQ_OK) room = 0;
  if (room < len) t->resp->body_truncated = true;
  t->resp->body_total += len;
  return len;
}

static size_t on_read(char *dest, size_t size, size_t n, void *ctx) {
  transfer *t = ctx;
  const sq_http_request *req = t->req;
  uint64_t left = req->body_len - t->sent;
  size_t want = size * n;
  if ((uint64_t)want > left) want = (size_t)left;
  if (want == 0) return 0;
  if (req->body_kind == SQ_HTTP_BODY_MEMORY) {
    memcpy(dest, (const char *)req->body + t->sent, want);
  } else {
    ssize_t r;
    do {
      r = pread(req->body_fd, dest, want, (off_t)(req->body_offset + t->sent));
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
      t->source_errno = errno;
      return CURL_READFUNC_ABORT;
    }
    if (r == 0) { /* the file shrank under us */
      t->source_short = true;
      return CURL_READFUNC_ABORT;
    }
    want = (size_t)r;
  }
  t->sent += want;
  return want;
}

static int on_seek(void *ctx, curl_off_t offset, int origin) {
  transfer *t = ctx;
  if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > t->req->body_len)
    return CURL_SEEKFUNC_CANTSEEK;
  t->sent = (uint64_t)offset;
  return CURL_SEEKFUNC_OK;
}

static sq_http_failure classify(CURLcode c) {
  switch (c) {
    case CURLE_OK:
      return SQ_HTTP_OK;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
      return SQ_HTTP_CONNECT;
    case CURLE_OPERATION_TIMEDOUT:
      return SQ_HTTP_TIMEOUT;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SEND_FAIL_REWIND:
    case CURLE_HTTP3:
    case CURLE_QUIC_CONNECT_ERROR:
      return SQ_HTTP_NETWORK;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_USE_SSL_FAILED:
      return SQ_HTTP_TLS;
    default:
      return SQ_HTTP_OTHER;
  }
}

/* "https://host:port" of url, for messages (no path: it may carry a query
 * with signatures some day). */
static int origin_len(const char *url) {
  const char *p = strstr(url, "://");
  p = p ? p + 3 : url;
  p += strcspn(p, "/?#");
  return (int)(p - url > 200 ? 200 : p - url);
}

sq_errcode sq_http_perform(sq_http *h, const sq_http_request *req,
                           sq_http_response *resp, sq_err *err) {
  struct curl_slist *list = NULL, *tmp;
  sq_errcode rc = SQ_EINTERNAL;
  transfer t;
  CURL *c;
  CURLcode cc;
  bool upload, has_expect = false;
  const char *why;

  sq_http_response_free(resp);
  if (h == NULL || req == NULL || req->url == NULL || req->method == NULL ||
      (req->body_kind == SQ_HTTP_BODY_MEMORY && req->body == NULL &&
       req->body_len > 0) ||
      (req->body_kind == SQ_HTTP_BODY_FILE && req->body_fd < 0)) {
    resp->failure = SQ_HTTP_OTHER;
    return sq_err_set(err, SQ_EINVAL, "http: invalid request");
  }
  memset(&t, 0, sizeof t);
  t.req = req;
  t.resp = resp;
  t.max_body = req->max_body ? req->max_body : BODY_MAX_DEFAULT;
  resp->body.max = t.max_body;
  c = h->easy;
  curl_easy_reset(c);
  h->errbuf[0] = '\0';

  for (const char *const *line = req->headers; line && *line; line++) {
    if (strncasecmp(*line, "Expect:", 7) == 0) has_expect = true;
    if ((tmp = curl_slist_append(list, *line)) == NULL) goto nomem;
    list = tmp;
  }
  upload = req->body_kind != SQ_HTTP_BODY_NONE || strcmp(req->method, "PUT") == 0 ||
           strcmp(req->method, "POST") == 0;
  if (upload && !has_expect && req->body_len < EXPECT_THRESHOLD) {
    if ((tmp = curl_slist_append(list, "Expect:")) == NULL) goto nomem;
    list = tmp;
  }

  /* curl_easy_setopt() only fails here for unknown options or no memory;
   * either would also make the transfer fail, which is checked below. */
  (void)curl_easy_setopt(c, CURLOPT_URL, req->url);
  (void)curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  (void)curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  /* The path goes out as given: a signed path must not be normalised. */
  (void)curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
  (void)curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->errbuf);
  (void)curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                         req->connect_timeout_ms > 0 ? req->connect_timeout_ms
                                                     : CONNECT_TIMEOUT_DEFAULT_MS);
  if (req->timeout_ms > 0) (void)curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, req->timeout_ms);
  if (req->stall_seconds > 0) {
    (void)curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    (void)curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, req->stall_seconds);
  }
  (void)curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
  (void)curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  (void)curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  (void)curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  (void)curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  if (upload) {
    (void)curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    (void)curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE,
                           (curl_off_t)(req->body_kind == SQ_HTTP_BODY_NONE ? 0 : req->body_len));
    (void)curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
    (void)curl_easy_setopt(c, CURLOPT_READDATA, &t);
    (void)curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
    (void)curl_easy_setopt(c, CURLOPT_SEEKDATA, &t);
    if (strcmp(req->method, "PUT") != 0)
      (void)curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
  } else if (strcmp(req->method, "HEAD") == 0) {
    (void)curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (strcmp(req->method, "GET") != 0) {
    (void)curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
  }

  cc = curl_easy_perform(c);
  resp->lib_code = (int)cc;
  if (cc == CURLE_OK) {
    long status = 0;
    (void)curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    resp->status = status;
    resp->failure = SQ_HTTP_OK;
    rc = SQ_OK;
    goto out;
  }

  resp->failure = classify(cc);
  if (t.source_errno != 0 || t.source_short) resp->failure = SQ_HTTP_BODY_SOURCE;
  why = h->errbuf[0] ? h->errbuf : curl_easy_strerror(cc);
  switch (resp->failure) {
    case SQ_HTTP_TIMEOUT:
      rc = SQ_ETIMEOUT;
      break;
    case SQ_HTTP_CONNECT:
    case SQ_HTTP_NETWORK:
      rc = SQ_EIO;
      break;
    case SQ_HTTP_TLS:
      rc = SQ_ECONFIG;
      break;
    case SQ_HTTP_BODY_SOURCE: {
      char ebuf[128];
      rc = sq_err_set(err, SQ_EIO, "%s %.*s: reading the request body: %s", req->method,
                      origin_len(req->url), req->url,
                      t.source_short ? "file is shorter than expected"
                                     : strerror_r(t.source_errno, ebuf, sizeof ebuf));
      goto out;
    }
    default:
      rc = cc == CURLE_OUT_OF_MEMORY ? SQ_ENOMEM : SQ_EINVAL;
      break;
  }
  sq_err_set(err, rc, "%s %.*s: %s", req->method, origin_len(req->url), req->url, why);
  goto out;
nomem:
  resp->failure = SQ_HTTP_OTHER;
  rc = sq_err_set(err, SQ_ENOMEM, "http: out of memory");
out:
  /* The handle keeps pointers to the list and to t: drop them now. */
  (void)curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
  curl_slist_free_all(list);
  return rc;
}

bool sq_http_response_header(const sq_http_response *r, const char *name,
                             char *out, size_t cap) {
  const char *p = sq_buf_str(&r->headers);
  size_t nlen = strlen(name);
  while (*p) {
    const char *eol = strchr(p, '\n');
    const char *end = eol ? eol : p + strlen(p);
    if ((size_t)(end - p) > nlen && strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
      const char *v = p + nlen + 1;
      size_t n;
      while (v < end && (*v == ' ' || *v == '\t')) v++;
      while (end > v && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t')) end--;
      n = (size_t)(end - v);
      if (cap > 0) {
        if (n >= cap) n = cap - 1;
        memcpy(out, v, n);
        out[n] = '\0';
      }
      return true;
    }
    if (eol == NULL) break;
    p = eol + 1;
  }
  return false;
}
