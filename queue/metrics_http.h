/* metrics_http.h - the worker's Prometheus endpoint: GET /metrics over
 * HTTP/1.x, served by GNU libmicrohttpd on a thread of its own, so a slow
 * scraper never delays the supervisor's loop and the supervisor needs to
 * know nothing about it.
 *
 * Each scrape renders what this process observed (core/metrics.h) and the
 * queue's cluster-wide figures, read from Redis at that moment through a
 * connection owned by the server thread. GET or HEAD /metrics answers 200
 * (the query string is ignored), any other path 404, another method on
 * /metrics 405; libmicrohttpd answers a malformed request 400 (or closes
 * it) and a request head over the per-connection memory (8 KiB) 414 or 431.
 * At most 64 connections are open at once (more wait in the listen backlog
 * until one closes), and a connection idle for 10 s is closed.
 */
#ifndef SQ_METRICS_HTTP_H
#define SQ_METRICS_HTTP_H

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

#endif
