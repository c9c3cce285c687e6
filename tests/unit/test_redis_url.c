#include <stdio.h>
#include <string.h>

#include "queue/redis_conn.h"
#include "tests/unit/harness.h"

/* "host|port|db|user|password" for a URL that parses, or "error: ..." */
static const char *parse(const char *url) {
  static char out[1024];
  sq_redis_url u;
  sq_err e;
  if (sq_redis_url_parse(url, &u, &e) != SQ_OK) {
    snprintf(out, sizeof out, "error: %s", e.msg);
    return out;
  }
  snprintf(out, sizeof out, "%s|%u|%d|%s|%s", u.host, u.port, u.db, u.user ? u.user : "-",
           u.password ? u.password : "-");
  sq_redis_url_free(&u);
  return out;
}

TEST(hosts_ports_and_databases) {
  ASSERT_STR_EQ(parse("redis://127.0.0.1:6380/2"), "127.0.0.1|6380|2|-|-");
  ASSERT_STR_EQ(parse("redis://cache.internal"), "cache.internal|6379|0|-|-");
  ASSERT_STR_EQ(parse("redis://[::1]:6381/1"), "::1|6381|1|-|-");
  ASSERT_STR_EQ(parse("redis://[fd00::5]/3"), "fd00::5|6379|3|-|-");
  ASSERT(strstr(parse("redis://[::1/0"), "IPv6 host must be written") != NULL);
  ASSERT(strstr(parse("redis://[::1]x:1/0"), "IPv6 host must be written") != NULL);
  ASSERT(strstr(parse("redis://h:0/0"), "invalid port") != NULL);
  ASSERT(strstr(parse("redis://h:65536/0"), "invalid port") != NULL);
  ASSERT(strstr(parse("redis://h:1/x"), "invalid database") != NULL);
  ASSERT(strstr(parse("http://h/0"), "must look like") != NULL);
  ASSERT(strstr(parse("redis://:1/0"), "no host") != NULL);
}

TEST(credentials) {
  ASSERT_STR_EQ(parse("redis://:pw@h:1/0"), "h|1|0|-|pw");
  ASSERT_STR_EQ(parse("redis://alice:pw@h:1/0"), "h|1|0|alice|pw");
  ASSERT_STR_EQ(parse("redis://alice:p%40ss%3Aw@[::1]:1/0"), "::1|1|0|alice|p@ss:w");
  /* A raw '@' stays in the password: the last '@' ends the credentials,
   * as core/conn_urls.c reads them. */
  ASSERT_STR_EQ(parse("redis://:p@ss@h:1/0"), "h|1|0|-|p@ss");
  ASSERT(strstr(parse("redis://alice@h:1/0"), "[user]:password@") != NULL);
  ASSERT(strstr(parse("redis://:%zz@h:1/0"), "bad %-escape") != NULL);
}

/* The version INFO server reports, for the worker's start-up check. */
TEST(info_version) {
  ASSERT_INT_EQ(sq_redis_info_version("# Server\r\nredis_version:7.0.15\r\nredis_git_sha1:0\r\n"),
                70015);
  ASSERT_INT_EQ(sq_redis_info_version("redis_version:6.0.6\r\n"), 60006);
  ASSERT_INT_EQ(sq_redis_info_version("redis_version:5.0.14\r\n"), 50014);
  ASSERT(sq_redis_info_version("redis_version:6.0.5\r\n") < 60006);
  ASSERT_INT_EQ(sq_redis_info_version("# Server\r\nuptime:3\r\n"), -1);
  ASSERT_INT_EQ(sq_redis_info_version("redis_version:seven\r\n"), -1);
  ASSERT_INT_EQ(sq_redis_info_version(NULL), -1);
}

TEST_MAIN(TEST_ENTRY(hosts_ports_and_databases), TEST_ENTRY(credentials),
          TEST_ENTRY(info_version))
