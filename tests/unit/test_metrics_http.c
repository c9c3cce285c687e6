/* test_metrics_http.c - the metrics endpoint served for real on 127.0.0.1
 * (port 0), asked with the project's HTTP client (core/http.h) and with raw
 * sockets. Redis is a closed port, so each scrape renders the worker's own
 * figures with sheetq_redis_up 0. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/http.h"
#include "queue/metrics_http.h"
#include "tests/unit/harness.h"

typedef struct fixture {
  sq_config cfg;
  sq_metrics metrics;
  sq_metrics_server *srv;
  int port;
} fixture;

static bool fixture_start(fixture *f, const char *addr) {
  sq_err e;
  const char *a;
  memset(f, 0, sizeof *f);
  if (sq_config_init(&f->cfg, &e) != SQ_OK) return false;
  free(f->cfg.redis_url);
  f->cfg.redis_url = strdup("redis://127.0.0.1:1"); /* nothing listens there */
  sq_metrics_init(&f->metrics, 1700000000.0);
  sq_metrics_observe_attempt(&f->metrics, 0.2, SQ_ATTEMPT_SUCCEEDED, SQ_OK);
  sq_metrics_observe_attempt(&f->metrics, 40, SQ_ATTEMPT_FAILED, SQ_ETIMEOUT);
  /* Every failure reason once: a body of several KiB. */
  for (int c = 1; c < SQ_E__COUNT; c++)
    sq_metrics_observe_attempt(&f->metrics, 1, SQ_ATTEMPT_FAILED_FINAL, (sq_errcode)c);
  if (sq_metrics_server_start(addr, &f->metrics, &f->cfg, &f->srv, &e) != SQ_OK) {
    fprintf(stderr, "  start %s: %s\n", addr, e.msg);
    return false;
  }
  a = sq_metrics_server_address(f->srv);
  f->port = (int)strtol(strrchr(a, ':') + 1, NULL, 10);
  return true;
}

static void fixture_stop(fixture *f) {
  sq_metrics_server_stop(f->srv);
  sq_metrics_close(&f->metrics);
  sq_config_free(&f->cfg);
}

/* What a scrape must return: the rendering of this worker's figures. */
static void expected_body(fixture *f, sq_buf *out) {
  sq_metrics_snapshot s;
  sq_metrics_cluster c;
  memset(&c, 0, sizeof c);
  c.queue = f->cfg.queue;
  sq_metrics_snapshot_get(&f->metrics, &s);
  sq_buf_init(out, 4 << 20);
  sq_metrics_render(&s, &c, out);
}

/* One request through core/http.h; the response in r (caller frees). */
static long ask(const char *method, const char *url, const char *body, sq_http_response *r) {
  sq_http_request req;
  sq_err e;
  sq_http *h = sq_http_new(&e);
  memset(&req, 0, sizeof req);
  req.method = method;
  req.url = url;
  if (body != NULL) {
    req.body_kind = SQ_HTTP_BODY_MEMORY;
    req.body = body;
    req.body_len = strlen(body);
  }
  req.timeout_ms = 5000;
  req.max_body = 1 << 20;
  sq_http_response_init(r);
  if (h == NULL || sq_http_perform(h, &req, r, &e) != SQ_OK) r->status = -1;
  sq_http_free(h);
  return r->status;
}

static int raw_connect(int port) {
  struct sockaddr_in a;
  struct timeval tv = {5, 0};
  int s = socket(AF_INET, SOCK_STREAM, 0);
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
    close(s);
    return -1;
  }
  return s;
}

/* Sends req as is and reads until the server closes (5 s at most). */
static size_t raw(int port, const char *req, size_t req_len, char *out, size_t cap) {
  size_t len = 0;
  ssize_t n;
  int s = raw_connect(port);
  if (s < 0) return 0;
  if (write(s, req, req_len) == (ssize_t)req_len)
    while (len < cap - 1 && (n = read(s, out + len, cap - 1 - len)) > 0) len += (size_t)n;
  out[len] = '\0';
  close(s);
  return len;
}

static char got[1 << 20];

TEST(get_answers_the_rendered_exposition) {
  fixture f;
  sq_http_response r;
  sq_buf want;
  char url[96], type[96];
  ASSERT(fixture_start(&f, "127.0.0.1:0"));
  ASSERT(strncmp(sq_metrics_server_address(f.srv), "127.0.0.1:", 10) == 0);
  ASSERT(f.port > 0);
  expected_body(&f, &want);
  snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics?name[]=x", f.port); /* query ignored */
  ASSERT_INT_EQ(ask("GET", url, NULL, &r), 200);
  ASSERT(sq_http_response_header(&r, "Content-Type", type, sizeof type));
  ASSERT_STR_EQ(type, "text/plain; version=0.0.4; charset=utf-8");
  ASSERT_STR_EQ(sq_buf_str(&r.body), sq_buf_str(&want));
  ASSERT(strstr(sq_buf_str(&r.body), "\nsheetq_redis_up 0\n") != NULL);
  sq_http_response_free(&r);
  sq_buf_free(&want);
  fixture_stop(&f);
}

TEST(head_sends_the_headers_alone) {
  static const char req[] = "HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  fixture f;
  sq_buf want;
  char length[64];
  const char *end;
  ASSERT(fixture_start(&f, "127.0.0.1:0"));
  expected_body(&f, &want);
  raw(f.port, req, sizeof req - 1, got, sizeof got);
  ASSERT(strncmp(got, "HTTP/1.1 200 ", 13) == 0);
  snprintf(length, sizeof length, "\r\nContent-Length: %zu\r\n", want.len);
  ASSERT(strstr(got, length) != NULL);
  end = strstr(got, "\r\n\r\n");
  ASSERT(end != NULL);
  ASSERT_STR_EQ(end + 4, ""); /* no body */
  sq_buf_free(&want);
  fixture_stop(&f);
}

TEST(other_paths_404_other_methods_405) {
  fixture f;
  sq_http_response r;
  char url[96], allow[64];
  ASSERT(fixture_start(&f, "127.0.0.1:0"));
  snprintf(url, sizeof url, "http://127.0.0.1:%d/", f.port);
  ASSERT_INT_EQ(ask("GET", url, NULL, &r), 404);
  ASSERT_STR_EQ(sq_buf_str(&r.body), "not found; try /metrics\n");
  sq_http_response_free(&r);
  snprintf(url, sizeof url, "http://127.0.0.1:%d/metricsx", f.port);
  ASSERT_INT_EQ(ask("GET", url, NULL, &r), 404);
  sq_http_response_free(&r);
  snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics/", f.port);
  ASSERT_INT_EQ(ask("GET", url, NULL, &r), 404);
  sq_http_response_free(&r);
  snprintf(url, sizeof url, "http://127.0.0.1:%d/x", f.port);
  ASSERT_INT_EQ(ask("DELETE", url, NULL, &r), 404);
  sq_http_response_free(&r);
  snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", f.port);
  ASSERT_INT_EQ(ask("POST", url, "a=1", &r), 405);
  ASSERT(sq_http_response_header(&r, "Allow", allow, sizeof allow));
  ASSERT_STR_EQ(allow, "GET, HEAD");
  sq_http_response_free(&r);
  fixture_stop(&f);
}

TEST(bad_and_idle_peers_do_not_stop_scrapes) {
  static char huge[10000];
  fixture f;
  sq_http_response r;
  char url[96];
  int idle;
  ASSERT(fixture_start(&f, "127.0.0.1:0"));
  idle = raw_connect(f.port); /* says nothing and stays open */
  ASSERT(idle >= 0);
  raw(f.port, "GET /metrics HTTP/2.0\r\n\r\n", 25, got, sizeof got);
  ASSERT(strncmp(got, "HTTP/1.1 505 ", 13) == 0);
  raw(f.port, "GET /metrics\r\n\r\n", 16, got, sizeof got); /* HTTP/0.9 */
  ASSERT(strncmp(got, "HTTP/1.1 400 ", 13) == 0);
  /* A request head over the per-connection memory. */
  memcpy(huge, "GET /", 5);
  memset(huge + 5, 'a', sizeof huge - 5);
  raw(f.port, huge, sizeof huge, got, sizeof got);
  ASSERT(strncmp(got, "HTTP/1.1 414 ", 13) == 0);
  ASSERT_INT_EQ(raw(f.port, "hello\r\n\r\n", 9, got, sizeof got), 0); /* closed, no answer */
  snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", f.port);
  ASSERT_INT_EQ(ask("GET", url, NULL, &r), 200);
  sq_http_response_free(&r);
  close(idle);
  fixture_stop(&f);
}

TEST(busy_or_foreign_address_is_a_config_error) {
  fixture f;
  sq_metrics_server *s = (sq_metrics_server *)&f; /* must be reset to NULL */
  sq_err e;
  ASSERT(fixture_start(&f, "127.0.0.1:0"));
  ASSERT_INT_EQ(sq_metrics_server_start(sq_metrics_server_address(f.srv), &f.metrics, &f.cfg,
                                        &s, &e), SQ_ECONFIG);
  ASSERT(s == NULL);
  ASSERT(strstr(e.msg, sq_metrics_server_address(f.srv)) != NULL);
  ASSERT(strstr(e.msg, "Address already in use") != NULL);
  /* TEST-NET-1: an address of no interface here. */
  ASSERT_INT_EQ(sq_metrics_server_start("192.0.2.1:0", &f.metrics, &f.cfg, &s, &e), SQ_ECONFIG);
  ASSERT(strstr(e.msg, "192.0.2.1:0: cannot listen") != NULL);
  fixture_stop(&f);
}

TEST(malformed_addresses_are_refused) {
  static const char *bad[] = {"9464", "127.0.0.1", "127.0.0.1:", "127.0.0.1:x",
                              "127.0.0.1:-1", "127.0.0.1:+80", "127.0.0.1:65536",
                              "localhost:9464", ":9464", "[::1]9464", "[]:9464"};
  sq_metrics_server *s;
  sq_err e;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    if (sq_metrics_server_start(bad[i], NULL, NULL, &s, &e) != SQ_ECONFIG)
      FAIL_AT("%s was accepted", bad[i]);
    ASSERT(s == NULL);
    ASSERT(strstr(e.msg, bad[i]) != NULL);
    ASSERT(strstr(e.msg, "is not HOST:PORT") != NULL);
  }
}

TEST(ipv6_loopback) {
  struct sockaddr_in6 a;
  fixture f;
  sq_http_response r;
  char url[96], want[32];
  int probe = socket(AF_INET6, SOCK_STREAM, 0);
  memset(&a, 0, sizeof a);
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  if (probe < 0 || bind(probe, (struct sockaddr *)&a, sizeof a) != 0) {
    fprintf(stderr, "  no IPv6 loopback here: skipped\n");
    if (probe >= 0) close(probe);
    return;
  }
  close(probe);
  ASSERT(fixture_start(&f, "[::1]:0"));
  snprintf(want, sizeof want, "[::1]:%d", f.port);
  ASSERT_STR_EQ(sq_metrics_server_address(f.srv), want);
  snprintf(url, sizeof url, "http://[::1]:%d/metrics", f.port);
  ASSERT_INT_EQ(ask("GET", url, NULL, &r), 200);
  sq_http_response_free(&r);
  fixture_stop(&f);
}

TEST(stop_null) { sq_metrics_server_stop(NULL); }

TEST_MAIN(TEST_ENTRY(get_answers_the_rendered_exposition), TEST_ENTRY(head_sends_the_headers_alone),
          TEST_ENTRY(other_paths_404_other_methods_405),
          TEST_ENTRY(bad_and_idle_peers_do_not_stop_scrapes),
          TEST_ENTRY(busy_or_foreign_address_is_a_config_error),
          TEST_ENTRY(malformed_addresses_are_refused), TEST_ENTRY(ipv6_loopback),
          TEST_ENTRY(stop_null))
