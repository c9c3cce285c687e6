/* metrics_http.c - see metrics_http.h.
 *
 * DESIGN
 * GNU libmicrohttpd (MHD) does all of the HTTP: parsing, limits, timeouts,
 * HEAD (the GET response's headers without its body). This file routes
 * /metrics and renders the body. Every answer is queued as soon as the
 * request head is in, so MHD sends it with Connection: close and never reads
 * a request body.
 *
 * MHD serves everything from one internal polling thread
 * (MHD_USE_INTERNAL_POLLING_THREAD, with no thread pool and no thread per
 * connection), so on_request only ever runs on that thread and the Redis
 * connection `queue` is owned by it. Keep it that way: a pool or
 * MHD_USE_THREAD_PER_CONNECTION would share one hiredis context between
 * threads. The thread is created with every signal blocked (SIGTERM and
 * SIGCHLD are the supervisor's); MHD sends with MSG_NOSIGNAL, and the worker
 * ignores SIGPIPE anyway, so a scraper that hangs up cannot kill it. */
#include "queue/metrics_http.h"

#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/buf.h"
#include "core/log.h"
#include "queue/queue.h"

#define CONNECTIONS_MAX 64u     /* more wait in the listen backlog */
#define IDLE_TIMEOUT_S 10u      /* a connection quiet this long is closed */
#define CONNECTION_MEMORY 8192u /* per connection: the request head and I/O */
#define RESPONSE_MAX (4u << 20)
#define REDIS_TIMEOUT_MS 2000

#define TEXT_TYPE "text/plain; charset=utf-8"
#define EXPOSITION_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct sq_metrics_server {
  struct MHD_Daemon *daemon;
  sq_metrics *metrics;
  const sq_config *cfg;
  sq_queue *queue; /* MHD's thread only; opened at the first scrape */
  pthread_t starter;     /* the thread in sq_metrics_server_start */
  bool starting;         /* read and written by `starter` only */
  char start_error[160]; /* MHD's last message while starting */
  char address[80];
};

/* MHD's messages: while starting they explain a failure to the caller;
 * later ones (a client's broken request, the connection limit) are debug
 * lines. */
static void on_log(void *cls, const char *fmt, va_list ap) {
  sq_metrics_server *srv = cls;
  char msg[sizeof srv->start_error];
  vsnprintf(msg, sizeof msg, fmt, ap);
  msg[strcspn(msg, "\r\n")] = '\0';
  if (pthread_equal(pthread_self(), srv->starter) && srv->starting)
    memcpy(srv->start_error, msg, sizeof msg);
  else
    SQ_DEBUG("metrics: %s", msg);
}

/* The queue's figures from Redis; up = false if they cannot be read now. */
static void read_cluster(sq_metrics_server *srv, sq_metrics_cluster *cl) {
  sq_queue_depth d;
  sq_err e;
  memset(cl, 0, sizeof *cl);
  cl->queue = srv->cfg->queue;
  if (srv->queue == NULL)
    srv->queue = sq_queue_open(srv->cfg->redis_url, srv->cfg->queue, REDIS_TIMEOUT_MS, &e);
  if (srv->queue == NULL || sq_queue_depth_get(srv->queue, &d, &e) != SQ_OK) {
    SQ_DEBUG("metrics: queue figures unavailable: %s", e.msg);
    return;
  }
  cl->up = true;
  cl->ready = d.ready;
  cl->urgent = d.urgent;
  cl->delayed = d.delayed;
  cl->active = d.active;
  cl->failed = d.failed;
  cl->tenants_waiting = d.tenants;
  cl->vcpus_in_use = (double)d.used_vcpus_m / 1000.0;
  cl->vcpus_budget = (double)srv->cfg->max_vcpus_m / 1000.0;
}

/* Queues status with body; `owned` bodies are malloc'ed and MHD frees them. */
static enum MHD_Result answer(struct MHD_Connection *conn, unsigned status, const char *type,
                              char *body, size_t len, bool owned) {
  struct MHD_Response *r = MHD_create_response_from_buffer(
      len, body, owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
  enum MHD_Result ok;
  if (r == NULL) {
    if (owned) free(body);
    return MHD_NO; /* MHD closes the connection */
  }
  if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type) != MHD_YES ||
      (status == MHD_HTTP_METHOD_NOT_ALLOWED &&
       MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD") != MHD_YES))
    ok = MHD_NO;
  else
    ok = MHD_queue_response(conn, status, r);
  MHD_destroy_response(r);
  return ok;
}

static enum MHD_Result answer_text(struct MHD_Connection *conn, unsigned status,
                                   const char *text) {
  return answer(conn, status, TEXT_TYPE, (char *)text, strlen(text), false);
}

/* MHD's request handler; url is the path, without the query string. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **req_cls) {
  sq_metrics_server *srv = cls;
  sq_metrics_snapshot snap;
  sq_metrics_cluster cl;
  sq_buf body;
  size_t len;
  (void)version, (void)upload_data, (void)upload_data_size, (void)req_cls;

  if (strcmp(url, "/metrics") != 0) return answer_text(conn, 404, "not found; try /metrics\n");
  if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
    return answer_text(conn, 405, "use GET\n");
  sq_metrics_snapshot_get(srv->metrics, &snap);
  read_cluster(srv, &cl);
  sq_buf_init(&body, RESPONSE_MAX);
  if (sq_metrics_render(&snap, &cl, &body) != SQ_OK || body.len == 0) {
    sq_buf_free(&body);
    return answer_text(conn, 500, "metrics too large\n");
  }
  len = body.len;
  return answer(conn, 200, EXPOSITION_TYPE, sq_buf_take(&body), len, true);
}

/* "HOST:PORT" or "[IPV6]:PORT", numeric only, into a socket address. */
static struct addrinfo *parse_address(const char *addr) {
  const char *colon = strrchr(addr, ':'), *host = addr;
  struct addrinfo hints, *ai = NULL;
  char buf[64];
  size_t len;
  if (colon == NULL || colon[1] == '\0' || strspn(colon + 1, "0123456789") != strlen(colon + 1) ||
      strtol(colon + 1, NULL, 10) > 65535)
    return NULL;
  len = (size_t)(colon - addr);
  if (len >= 2 && addr[0] == '[' && colon[-1] == ']') {
    host++;
    len -= 2;
  }
  if (len == 0 || len >= sizeof buf) return NULL;
  memcpy(buf, host, len);
  buf[len] = '\0';
  memset(&hints, 0, sizeof hints);
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
  hints.ai_socktype = SOCK_STREAM;
  return getaddrinfo(buf, colon + 1, &hints, &ai) == 0 ? ai : NULL;
}

/* srv->address from the listening socket: the port the kernel picked. */
static void format_bound(sq_metrics_server *srv) {
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_LISTEN_FD);
  struct sockaddr_storage ss;
  socklen_t ss_len = sizeof ss;
  char host[64], port[8];
  bool v6;
  if (info == NULL || getsockname(info->listen_fd, (struct sockaddr *)&ss, &ss_len) != 0 ||
      getnameinfo((struct sockaddr *)&ss, ss_len, host, sizeof host, port, sizeof port,
                  NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    snprintf(srv->address, sizeof srv->address, "?");
    return;
  }
  v6 = ss.ss_family == AF_INET6;
  snprintf(srv->address, sizeof srv->address, "%s%s%s:%s", v6 ? "[" : "", host, v6 ? "]" : "",
           port);
}

sq_errcode sq_metrics_server_start(const char *addr, sq_metrics *m,
                                   const sq_config *cfg,
                                   sq_metrics_server **out, sq_err *err) {
  struct addrinfo *ai;
  sq_metrics_server *srv = NULL;
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
  uint16_t port; /* for MHD's messages; it binds ai_addr */
  sigset_t all, old;
  sq_errcode rc = SQ_ECONFIG;

  *out = NULL;
  if ((ai = parse_address(addr)) == NULL) {
    sq_err_set(err, SQ_ECONFIG, "metrics_addr \"%.64s\" is not HOST:PORT "
               "(such as 127.0.0.1:9464 or [::1]:9464)", addr);
    goto out;
  }
  if ((srv = calloc(1, sizeof *srv)) == NULL) {
    rc = sq_err_set(err, SQ_ENOMEM, "out of memory");
    goto out;
  }
  srv->metrics = m;
  srv->cfg = cfg;
  srv->starter = pthread_self();
  srv->starting = true;
  if (ai->ai_family == AF_INET6) {
    flags |= MHD_USE_IPv6;
    port = ntohs(((struct sockaddr_in6 *)ai->ai_addr)->sin6_port);
  } else {
    port = ntohs(((struct sockaddr_in *)ai->ai_addr)->sin_port);
  }
  /* MHD's thread inherits this mask: it takes no signal. */
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  srv->daemon = MHD_start_daemon(
      flags, port, NULL, NULL, on_request, srv,
      MHD_OPTION_EXTERNAL_LOGGER, on_log, srv,
      MHD_OPTION_SOCK_ADDR, ai->ai_addr,
      MHD_OPTION_CONNECTION_LIMIT, CONNECTIONS_MAX,
      MHD_OPTION_CONNECTION_TIMEOUT, IDLE_TIMEOUT_S,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
      MHD_OPTION_END);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  srv->starting = false;
  if (srv->daemon == NULL) {
    sq_err_set(err, SQ_ECONFIG, "metrics_addr %.64s: cannot listen: %s", addr,
               srv->start_error[0] ? srv->start_error : "the HTTP server did not start");
    goto out;
  }
  format_bound(srv);
  *out = srv;
  srv = NULL;
  rc = SQ_OK;
out:
  if (ai) freeaddrinfo(ai);
  free(srv);
  return rc;
}

const char *sq_metrics_server_address(const sq_metrics_server *s) {
  return s->address;
}

void sq_metrics_server_stop(sq_metrics_server *s) {
  if (s == NULL) return;
  MHD_stop_daemon(s->daemon); /* joins MHD's thread: `queue` is ours now */
  sq_queue_close(s->queue);
  free(s);
}
