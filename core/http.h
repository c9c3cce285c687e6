/* http.h - sheetq's one HTTP client, a thin wrapper over libcurl.
 *
 * Every HTTP exchange (S3 today, Slack webhooks later) goes through
 * sq_http_perform(): one request, one response, no retries (callers decide
 * what is worth retrying from the status and from `failure`). No other file
 * includes curl.h or sees a CURL handle (after curl's own vtls/ split).
 *
 * An sq_http owns one connection cache (keep-alive): use it from one thread
 * at a time; make one per thread. The request body is either nothing, bytes
 * in memory, or a byte range of an open file read with pread(), so a large
 * upload is streamed and never held in memory. The response status, the
 * header block of the final response and the body (up to a cap, the rest
 * counted and dropped) land in an sq_http_response the caller owns.
 *
 * Nothing here logs: headers may carry credentials (Authorization, tokens),
 * so only the caller knows what is safe to print. Error messages name the
 * method, the host and libcurl's reason, never header values.
 */
#ifndef SQ_HTTP_H
#define SQ_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/error.h"

typedef struct sq_http sq_http;

typedef enum sq_http_body_kind {
  SQ_HTTP_BODY_NONE = 0,
  SQ_HTTP_BODY_MEMORY, /* body, body_len */
  SQ_HTTP_BODY_FILE,   /* body_len bytes of body_fd from body_offset */
} sq_http_body_kind;

typedef struct sq_http_request {
  const char *method; /* "GET", "PUT", "POST", "DELETE", "HEAD" */
  const char *url;    /* absolute http:// or https:// URL, already encoded */
  /* "Name: value" lines, NULL-terminated (NULL: none). A "Host: ..." line
   * replaces the one libcurl would derive from the URL. */
  const char *const *headers;
  sq_http_body_kind body_kind;
  const void *body;     /* SQ_HTTP_BODY_MEMORY */
  int body_fd;          /* SQ_HTTP_BODY_FILE: not closed, position unused */
  uint64_t body_offset; /* SQ_HTTP_BODY_FILE */
  uint64_t body_len;    /* both kinds; sent as Content-Length */
  long connect_timeout_ms; /* 0: 10 s */
  long timeout_ms;         /* whole exchange; 0: no limit */
  /* Abort when fewer than 1024 bytes/s move for this many seconds (a stalled
   * peer); 0: never. Better than timeout_ms for large bodies. */
  long stall_seconds;
  size_t max_body;    /* response body kept; 0: 64 KiB */
} sq_http_request;

/* Why no response arrived. */
typedef enum sq_http_failure {
  SQ_HTTP_OK = 0,      /* a response arrived (whatever its status) */
  SQ_HTTP_CONNECT,     /* name resolution or connection refused/failed */
  SQ_HTTP_TIMEOUT,     /* connect, whole-exchange or stall timeout */
  SQ_HTTP_NETWORK,     /* connection broke mid-exchange, garbled reply */
  SQ_HTTP_TLS,         /* certificate or TLS setup problem (not transient) */
  SQ_HTTP_BODY_SOURCE, /* reading the request body from its file failed */
  SQ_HTTP_OTHER,       /* bad URL, out of memory, unsupported feature */
} sq_http_failure;

typedef struct sq_http_response {
  long status;             /* 0 when no response arrived */
  sq_http_failure failure; /* SQ_HTTP_OK when status != 0 */
  int lib_code;            /* the CURLcode, for diagnostics */
  sq_buf headers;          /* header lines of the final response (capped) */
  sq_buf body;             /* first max_body bytes of the body */
  uint64_t body_total;     /* bytes received, kept or not */
  bool body_truncated;     /* body_total > body.len */
} sq_http_response;

/* A client with its own connection cache; NULL with err set on failure. */
sq_http *sq_http_new(sq_err *err);
void sq_http_free(sq_http *h); /* NULL is fine */

void sq_http_response_init(sq_http_response *r);
void sq_http_response_free(sq_http_response *r); /* then reusable */

/* Performs req. Returns SQ_OK when a response arrived, whatever its status
 * (resp->status). Otherwise resp->failure says why and the code is:
 * SQ_ETIMEOUT (SQ_HTTP_TIMEOUT), SQ_EIO (SQ_HTTP_CONNECT, SQ_HTTP_NETWORK,
 * SQ_HTTP_BODY_SOURCE), SQ_ECONFIG (SQ_HTTP_TLS), SQ_EINVAL or SQ_ENOMEM
 * (SQ_HTTP_OTHER). resp is reset first; free it with
 * sq_http_response_free() either way. */
sq_errcode sq_http_perform(sq_http *h, const sq_http_request *req,
                           sq_http_response *resp, sq_err *err);

/* The value of the first response header called name (case-insensitive),
 * without surrounding blanks, copied into out (cut to cap-1 bytes). False
 * when there is no such header. */
bool sq_http_response_header(const sq_http_response *r, const char *name,
                             char *out, size_t cap);

#endif
