/* metrics_http.c - see metrics_http.h.
 *
 * DESIGN
 * The listening socket is bound and put in listen state on the caller's
 * thread (libuv reports a busy address only at uv_listen), then a thread
 * runs the server's own loop. Every connection is a `client` with two
 * handles (the socket and its deadline timer), freed in the close callback
 * of the last one. A client reads into a fixed 8 KiB buffer: nothing an
 * unauthenticated peer sends can make the server allocate more. Stopping
 * goes through a uv_async: only the server thread ever touches its loop. */
#include "queue/metrics_http.h"

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "core/buf.h"
#include "core/log.h"
#include "queue/queue.h"

#define REQUEST_MAX 8192
#define RESPONSE_MAX (4u << 20)
#define MAX_CLIENTS 64
#define CLIENT_DEADLINE_MS 10000
#define REDIS_TIMEOUT_MS 2000

typedef struct client client;

struct sq_metrics_server {
  uv_loop_t loop;
  uv_tcp_t listener;
  uv_async_t stop;
  uv_thread_t thread;
  sq_metrics *metrics;
  const sq_config *cfg;
  sq_queue *queue; /* server thread only; opened at the first scrape */
  client *clients; /* open connections, to close them at stop */
  int n_clients;
  bool stopping;
  char address[80];
};

struct client {
  sq_metrics_server *srv;
  client *prev, *next;
  uv_tcp_t tcp;
  uv_timer_t deadline;
  uv_write_t write;
  int open_handles;
  bool closing;
  size_t len;
  char request[REQUEST_MAX];
  sq_buf response;
};

/* ---- request classification (pure) ------------------------------------ */

static bool is_token_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

sq_http_route sq_metrics_http_route(const char *buf, size_t len) {
  const char *eol = memchr(buf, '\n', len), *sp1, *sp2, *line_end;
  size_t method_len, target_len, path_len;
  bool head_done = false;

  if (memchr(buf, '\0', len) != NULL) return SQ_HTTP_BAD_REQUEST;
  if (eol == NULL) return SQ_HTTP_NEED_MORE;
  line_end = eol > buf && eol[-1] == '\r' ? eol - 1 : eol;
  /* request-line = method SP request-target SP HTTP-version */
  sp1 = memchr(buf, ' ', (size_t)(line_end - buf));
  if (sp1 == NULL || sp1 == buf) return SQ_HTTP_BAD_REQUEST;
  sp2 = memchr(sp1 + 1, ' ', (size_t)(line_end - sp1 - 1));
  if (sp2 == NULL || sp2 == sp1 + 1) return SQ_HTTP_BAD_REQUEST;
  method_len = (size_t)(sp1 - buf);
  for (size_t i = 0; i < method_len; i++)
    if (!is_token_char(buf[i])) return SQ_HTTP_BAD_REQUEST;
  if ((size_t)(line_end - sp2 - 1) != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0 ||
      sp2[8] < '0' || sp2[8] > '9')
    return SQ_HTTP_BAD_REQUEST;
  target_len = (size_t)(sp2 - sp1 - 1);
  for (size_t i = 0; i < target_len; i++)
    if ((unsigned char)sp1[1 + i] <= ' ' || (unsigned char)sp1[1 + i] >= 0x7f)
      return SQ_HTTP_BAD_REQUEST;
  /* The head ends at an empty line. */
  head_done = memmem(eol, (size_t)(buf + len - eol), "\n\n", 2) != NULL ||
              memmem(eol, (size_t)(buf + len - eol), "\n\r\n", 3) != NULL;
  if (!head_done) return SQ_HTTP_NEED_MORE;
  path_len = strcspn(sp1 + 1, "? ");
  if (path_len > target_len) path_len = target_len;
  if (path_len != 8 || memcmp(sp1 + 1, "/metrics", 8) != 0) return SQ_HTTP_NOT_FOUND;
  if (method_len == 3 && memcmp(buf, "GET", 3) == 0) return SQ_HTTP_METRICS;
  if (method_len == 4 && memcmp(buf, "HEAD", 4) == 0) return SQ_HTTP_METRICS_HEAD;
  return SQ_HTTP_BAD_METHOD;
}

/* ---- connections -------------------------------------------------------- */

static void on_client_closed(uv_handle_t *h) {
  client *c = h->data;
  if (--c->open_handles > 0) return;
  sq_buf_free(&c->response);
  free(c);
}

static void client_close(client *c) {
  sq_metrics_server *srv = c->srv;
  if (c->closing) return;
  c->closing = true;
  if (c->prev) c->prev->next = c->next;
  else srv->clients = c->next;
  if (c->next) c->next->prev = c->prev;
  srv->n_clients--;
  uv_close((uv_handle_t *)&c->tcp, on_client_closed);
  uv_close((uv_handle_t *)&c->deadline, on_client_closed);
}

static void on_written(uv_write_t *w, int status) {
  (void)status; /* the peer may have gone; either way this connection is done */
  client_close(w->data);
}

static void respond(client *c, int status, const char *reason, const char *type,
                    const char *body, size_t body_len, bool head_only) {
  uv_buf_t b;
  uv_read_stop((uv_stream_t *)&c->tcp);
  uv_timer_stop(&c->deadline);
  sq_buf_reset(&c->response);
  if (sq_buf_printf(&c->response,
                    "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                    "Connection: close\r\n\r\n", status, reason, type, body_len) != SQ_OK ||
      (!head_only && sq_buf_add(&c->response, body, body_len) != SQ_OK)) {
    client_close(c);
    return;
  }
  b = uv_buf_init(c->response.data, (unsigned)c->response.len);
  c->write.data = c;
  if (uv_write(&c->write, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0) client_close(c);
}

static void respond_text(client *c, int status, const char *reason, const char *body) {
  respond(c, status, reason, "text/plain; charset=utf-8", body, strlen(body), false);
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

static void serve_metrics(client *c, bool head_only) {
  sq_metrics_snapshot snap;
  sq_metrics_cluster cl;
  sq_buf body;
  sq_metrics_snapshot_get(c->srv->metrics, &snap);
  read_cluster(c->srv, &cl);
  sq_buf_init(&body, RESPONSE_MAX);
  if (sq_metrics_render(&snap, &cl, &body) != SQ_OK)
    respond_text(c, 500, "Internal Server Error", "metrics too large\n");
  else
    respond(c, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", sq_buf_str(&body),
            body.len, head_only);
  sq_buf_free(&body);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  client *c = h->data;
  (void)suggested;
  /* Never more than the request buffer's free space. A full buffer is
   * answered (431) before the next read, so the space is never zero. */
  *buf = uv_buf_init(c->request + c->len, (unsigned)(REQUEST_MAX - c->len));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  client *c = s->data;
  (void)buf;
  if (n < 0) { /* EOF before a whole request, or a socket error */
    client_close(c);
    return;
  }
  c->len += (size_t)n;
  switch (sq_metrics_http_route(c->request, c->len)) {
  case SQ_HTTP_NEED_MORE:
    if (c->len == REQUEST_MAX)
      respond_text(c, 431, "Request Header Fields Too Large", "request too large\n");
    return;
  case SQ_HTTP_METRICS: serve_metrics(c, false); return;
  case SQ_HTTP_METRICS_HEAD: serve_metrics(c, true); return;
  case SQ_HTTP_NOT_FOUND: respond_text(c, 404, "Not Found", "not found; try /metrics\n"); return;
  case SQ_HTTP_BAD_METHOD: respond_text(c, 405, "Method Not Allowed", "use GET\n"); return;
  case SQ_HTTP_BAD_REQUEST: respond_text(c, 400, "Bad Request", "bad request\n"); return;
  }
}

static void on_deadline(uv_timer_t *t) {
  client_close(t->data); /* no complete request in time (slow or idle peer) */
}

static void on_connection(uv_stream_t *listener, int status) {
  sq_metrics_server *srv = listener->data;
  client *c;
  if (status != 0 || srv->stopping) return;
  c = calloc(1, sizeof *c);
  if (c == NULL) return; /* the peer waits in the backlog and retries */
  c->srv = srv;
  sq_buf_init(&c->response, RESPONSE_MAX + 512);
  uv_tcp_init(&srv->loop, &c->tcp);
  uv_timer_init(&srv->loop, &c->deadline);
  c->tcp.data = c->deadline.data = c;
  c->open_handles = 2;
  c->next = srv->clients;
  if (srv->clients) srv->clients->prev = c;
  srv->clients = c;
  srv->n_clients++;
  if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
    client_close(c);
    return;
  }
  if (srv->n_clients > MAX_CLIENTS) {
    respond_text(c, 503, "Service Unavailable", "too many connections\n");
    return;
  }
  uv_timer_start(&c->deadline, on_deadline, CLIENT_DEADLINE_MS, 0);
  if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) client_close(c);
}

/* ---- start and stop ------------------------------------------------------ */

static void on_stop(uv_async_t *a) {
  sq_metrics_server *srv = a->data;
  srv->stopping = true;
  while (srv->clients) client_close(srv->clients);
  uv_close((uv_handle_t *)&srv->listener, NULL);
  uv_close((uv_handle_t *)&srv->stop, NULL);
}

static void server_main(void *arg) {
  sq_metrics_server *srv = arg;
  uv_run(&srv->loop, UV_RUN_DEFAULT);
}

/* "host:port" or "[v6]:port" into a socket address. */
static bool parse_address(const char *addr, struct sockaddr_storage *out) {
  char host[64];
  const char *colon = strrchr(addr, ':'), *h = addr;
  size_t host_len;
  char *end;
  long port;
  if (colon == NULL || colon[1] == '\0') return false;
  port = strtol(colon + 1, &end, 10);
  if (*end != '\0' || port < 0 || port > 65535) return false;
  host_len = (size_t)(colon - addr);
  if (host_len >= 2 && addr[0] == '[' && colon[-1] == ']') {
    h = addr + 1;
    host_len -= 2;
  }
  if (host_len == 0 || host_len >= sizeof host) return false;
  memcpy(host, h, host_len);
  host[host_len] = '\0';
  if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)out) == 0) return true;
  return uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)out) == 0;
}

static void format_bound(sq_metrics_server *srv) {
  struct sockaddr_storage ss;
  int len = sizeof ss;
  char ip[64] = "?";
  int port = 0;
  if (uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&ss, &len) != 0) return;
  if (ss.ss_family == AF_INET6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    uv_ip6_name(a, ip, sizeof ip);
    port = ntohs(a->sin6_port);
    snprintf(srv->address, sizeof srv->address, "[%s]:%d", ip, port);
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    uv_ip4_name(a, ip, sizeof ip);
    port = ntohs(a->sin_port);
    snprintf(srv->address, sizeof srv->address, "%s:%d", ip, port);
  }
}

sq_errcode sq_metrics_server_start(const char *addr, sq_metrics *m,
                                   const sq_config *cfg,
                                   sq_metrics_server **out, sq_err *err) {
  sq_metrics_server *srv = NULL;
  struct sockaddr_storage sa;
  sigset_t all, old;
  bool loop_ready = false;
  int r;
  sq_errcode rc = SQ_ECONFIG;

  *out = NULL;
  memset(&sa, 0, sizeof sa);
  if (!parse_address(addr, &sa)) {
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
  if ((r = uv_loop_init(&srv->loop)) != 0) {
    rc = sq_err_set(err, SQ_EINTERNAL, "metrics server: %s", uv_strerror(r));
    goto out;
  }
  loop_ready = true;
  uv_tcp_init(&srv->loop, &srv->listener);
  srv->listener.data = srv;
  if ((r = uv_tcp_bind(&srv->listener, (struct sockaddr *)&sa, 0)) != 0 ||
      (r = uv_listen((uv_stream_t *)&srv->listener, 128, on_connection)) != 0) {
    sq_err_set(err, SQ_ECONFIG, "metrics_addr %.64s: cannot listen: %s", addr,
               uv_strerror(r));
    uv_close((uv_handle_t *)&srv->listener, NULL);
    goto out;
  }
  format_bound(srv);
  uv_async_init(&srv->loop, &srv->stop, on_stop);
  srv->stop.data = srv;
  /* The thread blocks every signal: SIGTERM and SIGCHLD are the
   * supervisor's, handled on its loop. */
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  r = uv_thread_create(&srv->thread, server_main, srv);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (r != 0) {
    sq_err_set(err, SQ_EINTERNAL, "metrics server: cannot start thread: %s", uv_strerror(r));
    uv_close((uv_handle_t *)&srv->listener, NULL);
    uv_close((uv_handle_t *)&srv->stop, NULL);
    goto out;
  }
  *out = srv;
  srv = NULL;
  rc = SQ_OK;
out:
  if (srv) {
    if (loop_ready) {
      uv_run(&srv->loop, UV_RUN_DEFAULT); /* runs the close callbacks */
      uv_loop_close(&srv->loop);
    }
    free(srv);
  }
  return rc;
}

const char *sq_metrics_server_address(const sq_metrics_server *s) {
  return s->address;
}

void sq_metrics_server_stop(sq_metrics_server *s) {
  if (s == NULL) return;
  uv_async_send(&s->stop);
  uv_thread_join(&s->thread);
  uv_loop_close(&s->loop);
  sq_queue_close(s->queue);
  free(s);
}
