#include "queue/metrics_http.h"
#include "tests/unit/harness.h"

static sq_http_route route(const char *s) { return sq_metrics_http_route(s, strlen(s)); }

TEST(metrics_path) {
  ASSERT_INT_EQ(route("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), SQ_HTTP_METRICS);
  ASSERT_INT_EQ(route("GET /metrics?x=1 HTTP/1.0\r\n\r\n"), SQ_HTTP_METRICS);
  ASSERT_INT_EQ(route("GET /metrics HTTP/1.1\n\n"), SQ_HTTP_METRICS); /* bare LF */
  ASSERT_INT_EQ(route("HEAD /metrics HTTP/1.1\r\n\r\n"), SQ_HTTP_METRICS_HEAD);
}

TEST(incomplete_heads_wait) {
  ASSERT_INT_EQ(route(""), SQ_HTTP_NEED_MORE);
  ASSERT_INT_EQ(route("GET /met"), SQ_HTTP_NEED_MORE);
  ASSERT_INT_EQ(route("GET /metrics HTTP/1.1\r\n"), SQ_HTTP_NEED_MORE);
  ASSERT_INT_EQ(route("GET /metrics HTTP/1.1\r\nHost: x\r\n"), SQ_HTTP_NEED_MORE);
}

TEST(other_paths_and_methods) {
  ASSERT_INT_EQ(route("GET / HTTP/1.1\r\n\r\n"), SQ_HTTP_NOT_FOUND);
  ASSERT_INT_EQ(route("GET /metricsx HTTP/1.1\r\n\r\n"), SQ_HTTP_NOT_FOUND);
  ASSERT_INT_EQ(route("GET /metric HTTP/1.1\r\n\r\n"), SQ_HTTP_NOT_FOUND);
  ASSERT_INT_EQ(route("POST /metrics HTTP/1.1\r\n\r\n"), SQ_HTTP_BAD_METHOD);
  ASSERT_INT_EQ(route("DELETE /x HTTP/1.1\r\n\r\n"), SQ_HTTP_NOT_FOUND);
}

TEST(garbage_is_rejected_as_soon_as_the_first_line_is_in) {
  static const char nul[] = "GET /metrics\0 HTTP/1.1\r\n\r\n";
  ASSERT_INT_EQ(route("hello\n"), SQ_HTTP_BAD_REQUEST);
  ASSERT_INT_EQ(route("GET /metrics\r\n"), SQ_HTTP_BAD_REQUEST);         /* HTTP/0.9 */
  ASSERT_INT_EQ(route("GET /metrics HTTP/2.0\r\n"), SQ_HTTP_BAD_REQUEST);
  ASSERT_INT_EQ(route("GET  /metrics HTTP/1.1\r\n"), SQ_HTTP_BAD_REQUEST); /* empty target */
  ASSERT_INT_EQ(route("G(T /metrics HTTP/1.1\r\n"), SQ_HTTP_BAD_REQUEST);
  ASSERT_INT_EQ(route("GET /m\x01 HTTP/1.1\r\n"), SQ_HTTP_BAD_REQUEST);
  ASSERT_INT_EQ(route("\x16\x03\x01\x02\n"), SQ_HTTP_BAD_REQUEST); /* TLS hello */
  ASSERT_INT_EQ(sq_metrics_http_route(nul, sizeof nul - 1), SQ_HTTP_BAD_REQUEST);
}

TEST_MAIN(TEST_ENTRY(metrics_path), TEST_ENTRY(incomplete_heads_wait),
          TEST_ENTRY(other_paths_and_methods),
          TEST_ENTRY(garbage_is_rejected_as_soon_as_the_first_line_is_in))
