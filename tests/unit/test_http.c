/* test_http.c - the HTTP helper against a scripted peer: a forked child
 * that accepts one connection on 127.0.0.1, reads the request, reports what
 * it received through a pipe and answers with canned bytes. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/http.h"
#include "tests/unit/harness.h"

typedef enum peer_mode {
  PEER_ANSWER,       /* read the whole request, send the answer */
  PEER_CONTINUE,     /* send "100 Continue" first, then the answer */
  PEER_DROP_IN_BODY, /* read the headers and some body, then close */
} peer_mode;

typedef struct peer {
  pid_t pid;
  int port;
  int report; /* read end: what the peer received */
} peer;

static void write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    p += w;
    n -= (size_t)w;
  }
}

/* Reads one request: headers, then Content-Length bytes (or some). */
static size_t read_request(int c, char *buf, size_t cap, peer_mode mode, const char *answer) {
  size_t len = 0, need = (size_t)-1;
  bool continued = false;
  while (len < cap - 1) {
    ssize_t r = read(c, buf + len, cap - 1 - len);
    if (r <= 0) break;
    len += (size_t)r;
    buf[len] = '\0';
    if (need == (size_t)-1) {
      char *end = strstr(buf, "\r\n\r\n");
      if (end != NULL) {
        char *cl = strcasestr(buf, "\ncontent-length:");
        need = (size_t)(end + 4 - buf) + (cl ? (size_t)strtoull(cl + 16, NULL, 10) : 0);
        if (mode == PEER_CONTINUE && !continued && strcasestr(buf, "\nexpect: 100-continue")) {
          write_all(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
          continued = true;
        }
      }
    }
    if (mode == PEER_DROP_IN_BODY && need != (size_t)-1 && len > 200000) return len;
    if (len >= need) break;
  }
  write_all(c, answer, strlen(answer));
  return len;
}

static bool peer_start(peer *p, peer_mode mode, const char *answer) {
  struct sockaddr_in a;
  socklen_t alen = sizeof a;
  int fds[2], s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  if (s < 0 || pipe(fds) != 0) return false;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, 4) != 0 ||
      getsockname(s, (struct sockaddr *)&a, &alen) != 0)
    return false;
  p->port = ntohs(a.sin_port);
  p->pid = fork();
  if (p->pid < 0) return false;
  if (p->pid == 0) {
    static char buf[4 << 20];
    int c = accept(s, NULL, NULL);
    size_t n;
    close(fds[0]);
    if (c < 0) _exit(1);
    n = read_request(c, buf, sizeof buf, mode, mode == PEER_DROP_IN_BODY ? "" : answer);
    close(c); /* first: the parent reads the report only after its request */
    write_all(fds[1], buf, n);
    _exit(0);
  }
  close(s);
  close(fds[1]);
  p->report = fds[0];
  return true;
}

/* Everything the peer received, NUL-terminated, in buf. */
static size_t peer_finish(peer *p, char *buf, size_t cap) {
  size_t len = 0;
  int status;
  for (;;) {
    ssize_t r = read(p->report, buf + len, cap - 1 - len);
    if (r <= 0) break;
    len += (size_t)r;
  }
  buf[len] = '\0';
  close(p->report);
  waitpid(p->pid, &status, 0);
  return len;
}

static char seen[4 << 20];

TEST(get_with_headers_and_capped_body) {
  peer p;
  sq_http *h;
  sq_http_request req;
  sq_http_response resp;
  sq_err e;
  char url[64], v[64];
  const char *hdrs[] = {"X-Test: one", "Host: example.test", NULL};
  ASSERT(peer_start(&p, PEER_ANSWER,
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 26\r\nETag:  \"abc\" \r\n"
                    "x-amz-request-id: R1\r\nConnection: close\r\n\r\n"
                    "abcdefghijklmnopqrstuvwxyz"));
  snprintf(url, sizeof url, "http://127.0.0.1:%d/a%%20b?x=1", p.port);
  h = sq_http_new(&e);
  ASSERT(h != NULL);
  memset(&req, 0, sizeof req);
  req.method = "GET";
  req.url = url;
  req.headers = hdrs;
  req.max_body = 10;
  req.timeout_ms = 5000;
  sq_http_response_init(&resp);
  ASSERT_INT_EQ(sq_http_perform(h, &req, &resp, &e), SQ_OK);
  ASSERT_INT_EQ(resp.status, 404);
  ASSERT_INT_EQ(resp.failure, SQ_HTTP_OK);
  ASSERT_STR_EQ(sq_buf_str(&resp.body), "abcdefghij");
  ASSERT(resp.body_truncated);
  ASSERT_INT_EQ(resp.body_total, 26);
  ASSERT(sq_http_response_header(&resp, "etag", v, sizeof v));
  ASSERT_STR_EQ(v, "\"abc\"");
  ASSERT(sq_http_response_header(&resp, "X-Amz-Request-Id", v, sizeof v));
  ASSERT_STR_EQ(v, "R1");
  ASSERT(!sq_http_response_header(&resp, "ETa", v, sizeof v));
  ASSERT(!sq_http_response_header(&resp, "missing", v, sizeof v));
  sq_http_response_free(&resp);
  sq_http_free(h);
  peer_finish(&p, seen, sizeof seen);
  ASSERT(strncmp(seen, "GET /a%20b?x=1 HTTP/1.1\r\n", 25) == 0);
  ASSERT(strstr(seen, "\r\nX-Test: one\r\n") != NULL);
  ASSERT(strstr(seen, "\r\nHost: example.test\r\n") != NULL); /* replaced */
}

/* A 3 MiB file range goes up streamed, after "100 Continue"; only the
 * final response's headers are kept. */
TEST(put_file_range_with_continue) {
  static char data[4 << 20];
  char path[] = "/tmp/sq_http_XXXXXX", url[64], v[32];
  peer p;
  sq_http *h;
  sq_http_request req;
  sq_http_response resp;
  sq_err e;
  size_t n, hdr;
  int fd = mkstemp(path);
  ASSERT(fd >= 0);
  for (size_t i = 0; i < sizeof data; i++) data[i] = (char)('a' + (i * 7 + i / 4096) % 26);
  ASSERT(write(fd, data, sizeof data) == (ssize_t)sizeof data);
  ASSERT(peer_start(&p, PEER_CONTINUE,
                    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nETag: final\r\n\r\n"));
  snprintf(url, sizeof url, "http://127.0.0.1:%d/obj", p.port);
  h = sq_http_new(&e);
  memset(&req, 0, sizeof req);
  req.method = "PUT";
  req.url = url;
  req.body_kind = SQ_HTTP_BODY_FILE;
  req.body_fd = fd;
  req.body_offset = 12345;
  req.body_len = 3u << 20;
  req.stall_seconds = 10;
  sq_http_response_init(&resp);
  ASSERT_INT_EQ(sq_http_perform(h, &req, &resp, &e), SQ_OK);
  ASSERT_INT_EQ(resp.status, 200);
  ASSERT(sq_http_response_header(&resp, "ETag", v, sizeof v));
  ASSERT_STR_EQ(v, "final");
  ASSERT(strstr(sq_buf_str(&resp.headers), "100 Continue") == NULL);
  sq_http_response_free(&resp);
  sq_http_free(h);
  n = peer_finish(&p, seen, sizeof seen);
  ASSERT(strstr(seen, "Expect: 100-continue") != NULL);
  ASSERT(strstr(seen, "Content-Length: 3145728\r\n") != NULL);
  hdr = (size_t)(strstr(seen, "\r\n\r\n") + 4 - seen);
  ASSERT_INT_EQ(n - hdr, 3u << 20);
  ASSERT(memcmp(seen + hdr, data + 12345, 3u << 20) == 0);
  close(fd);
  unlink(path);
}

/* POST with a small memory body: no Expect header, exact bytes. */
TEST(post_memory_body) {
  char url[64];
  peer p;
  sq_http *h;
  sq_http_request req;
  sq_http_response resp;
  sq_err e;
  const char *body = "<Complete>x</Complete>";
  ASSERT(peer_start(&p, PEER_ANSWER, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
  snprintf(url, sizeof url, "http://127.0.0.1:%d/k?uploadId=1", p.port);
  h = sq_http_new(&e);
  memset(&req, 0, sizeof req);
  req.method = "POST";
  req.url = url;
  req.body_kind = SQ_HTTP_BODY_MEMORY;
  req.body = body;
  req.body_len = strlen(body);
  sq_http_response_init(&resp);
  ASSERT_INT_EQ(sq_http_perform(h, &req, &resp, &e), SQ_OK);
  ASSERT_INT_EQ(resp.status, 200);
  ASSERT_STR_EQ(sq_buf_str(&resp.body), "ok");
  sq_http_response_free(&resp);
  sq_http_free(h);
  peer_finish(&p, seen, sizeof seen);
  ASSERT(strncmp(seen, "POST /k?uploadId=1 HTTP/1.1\r\n", 29) == 0);
  ASSERT(strstr(seen, "Expect:") == NULL);
  ASSERT(strstr(seen, "\r\n\r\n<Complete>x</Complete>") != NULL);
}

/* The peer hangs up in the middle of the body: a network failure. */
TEST(connection_dropped_mid_body) {
  static char data[1 << 20];
  char url[64];
  peer p;
  sq_http *h;
  sq_http_request req;
  sq_http_response resp;
  sq_err e;
  sq_errcode rc;
  memset(data, 'x', sizeof data);
  ASSERT(peer_start(&p, PEER_DROP_IN_BODY, NULL));
  snprintf(url, sizeof url, "http://127.0.0.1:%d/obj", p.port);
  h = sq_http_new(&e);
  memset(&req, 0, sizeof req);
  req.method = "PUT";
  req.url = url;
  req.headers = (const char *const[]){"Expect:", NULL};
  req.body_kind = SQ_HTTP_BODY_MEMORY;
  req.body = data;
  req.body_len = sizeof data;
  req.timeout_ms = 10000;
  sq_http_response_init(&resp);
  rc = sq_http_perform(h, &req, &resp, &e);
  ASSERT_INT_EQ(rc, SQ_EIO);
  ASSERT_INT_EQ(resp.failure, SQ_HTTP_NETWORK);
  ASSERT_INT_EQ(resp.status, 0);
  ASSERT(strstr(e.msg, "PUT http://127.0.0.1:") != NULL);
  ASSERT(strstr(e.msg, "/obj") == NULL); /* origin only */
  sq_http_response_free(&resp);
  sq_http_free(h);
  peer_finish(&p, seen, sizeof seen);
}

TEST(refused_bad_url_and_short_file) {
  sq_http *h;
  sq_http_request req;
  sq_http_response resp;
  sq_err e;
  char path[] = "/tmp/sq_http_XXXXXX";
  int fd = mkstemp(path);
  ASSERT(fd >= 0 && write(fd, "tiny", 4) == 4);
  h = sq_http_new(&e);
  sq_http_response_init(&resp);
  memset(&req, 0, sizeof req);
  req.method = "GET";
  req.url = "http://127.0.0.1:9/"; /* discard port: nothing listens */
  ASSERT_INT_EQ(sq_http_perform(h, &req, &resp, &e), SQ_EIO);
  ASSERT_INT_EQ(resp.failure, SQ_HTTP_CONNECT);
  req.url = "gopher://127.0.0.1/";
  ASSERT(sq_http_perform(h, &req, &resp, &e) != SQ_OK);
  ASSERT_INT_EQ(resp.failure, SQ_HTTP_OTHER);
  /* The body file is shorter than promised. A listening socket nobody
   * answers is enough: the body is read before any answer. */
  {
    peer p;
    char url[64];
    ASSERT(peer_start(&p, PEER_ANSWER, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
    snprintf(url, sizeof url, "http://127.0.0.1:%d/obj", p.port);
    req.method = "PUT";
    req.url = url;
    req.body_kind = SQ_HTTP_BODY_FILE;
    req.body_fd = fd;
    req.body_len = 100;
    req.timeout_ms = 5000;
    ASSERT_INT_EQ(sq_http_perform(h, &req, &resp, &e), SQ_EIO);
    ASSERT_INT_EQ(resp.failure, SQ_HTTP_BODY_SOURCE);
    ASSERT(strstr(e.msg, "shorter") != NULL);
    kill(p.pid, SIGKILL);
    peer_finish(&p, seen, sizeof seen);
  }
  sq_http_response_free(&resp);
  sq_http_free(h);
  sq_http_free(NULL);
  close(fd);
  unlink(path);
}

TEST_MAIN(TEST_ENTRY(get_with_headers_and_capped_body), TEST_ENTRY(put_file_range_with_continue),
          TEST_ENTRY(post_memory_body), TEST_ENTRY(connection_dropped_mid_body),
          TEST_ENTRY(refused_bad_url_and_short_file))
