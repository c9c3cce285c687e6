/* metrics_http.h - the worker's Prometheus endpoint: GET /metrics over
 * plain HTTP/1.x, served by a thread of its own with its own libuv loop, so
 * a slow scraper never delays the supervisor's loop and the supervisor needs
 * to know nothing about it.
 *
 * Each scrape renders what this process observed (core/metrics.h) and the
 * queue's cluster-wide figures, read from Redis at that moment through a
 * connection owned by the server thread. GET or HEAD /metrics answers 200,
 * any other path 404, another method on /metrics 405, a malformed request
 * 400, a request over 8 KiB 431. One request per connection (Connection:
 * close); connections that send no complete request within 10 s are closed,
 * and at most 64 are served at once (more get 503).
 */
#ifndef SQ_METRICS_HTTP_H
#define SQ_METRICS_HTTP_H

#include <stddef.h>

#include "core/config.h"
#include "core/error.h"
#include "core/metrics.h"

typedef struct sq_metrics_server sq_metrics_server;

/* Binds addr ("HOST:PORT", "[IPV6]:PORT"; port 0 picks a free one) before it
 * returns, so a malformed, busy or forbidden address is an error here, at
 * start-up (SQ_ECONFIG naming the address). cfg and m must outlive the
 * server. */
sq_errcode sq_metrics_server_start(const char *addr, sq_metrics *m,
                                   const sq_config *cfg,
                                   sq_metrics_server **out, sq_err *err);
/* "127.0.0.1:9464": the address actually bound. */
const char *sq_metrics_server_address(const sq_metrics_server *s);
/* Closes every connection, stops the thread and frees s. NULL is fine. */
void sq_metrics_server_stop(sq_metrics_server *s);

typedef enum sq_http_route {
  SQ_HTTP_NEED_MORE = 0, /* no complete request head yet */
  SQ_HTTP_METRICS,       /* GET /metrics (query string ignored) */
  SQ_HTTP_METRICS_HEAD,  /* HEAD /metrics */
  SQ_HTTP_NOT_FOUND,
  SQ_HTTP_BAD_METHOD,
  SQ_HTTP_BAD_REQUEST,
} sq_http_route;

/* Classifies the bytes received so far on a connection. Pure. */
sq_http_route sq_metrics_http_route(const char *buf, size_t len);

#endif
