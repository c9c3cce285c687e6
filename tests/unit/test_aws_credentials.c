/* test_aws_credentials.c - choosing a credential source, parsing the
 * container endpoint's answer, when to refresh, which container URLs are
 * allowed. (Fetching is exercised against a live stub in
 * tests/integration/test_s3_errors.sh.) */
#include "exporter/aws_credentials.h"
#include "tests/unit/harness.h"

TEST(parse_container_answer) {
  static const char ok[] =
      "{\"RoleArn\":\"arn:aws:iam::123456789012:role/export\","
      "\"AccessKeyId\":\"ASIAEXAMPLE\",\"SecretAccessKey\":\"sec/ret+key\","
      "\"Token\":\"IQoJb3JpZ2luX2VjEXAMPLE==\",\"Expiration\":\"2026-11-22T10:30:00Z\"}";
  sq_aws_credentials c;
  sq_err e;
  time_t t;
  ASSERT_INT_EQ(sq_aws_credentials_parse(ok, sizeof ok - 1, &c, &e), SQ_OK);
  ASSERT_STR_EQ(c.access_key_id, "ASIAEXAMPLE");
  ASSERT_STR_EQ(c.secret_access_key, "sec/ret+key");
  ASSERT_STR_EQ(c.session_token, "IQoJb3JpZ2luX2VjEXAMPLE==");
  ASSERT(sq_aws_parse_time("2026-11-22T10:30:00Z", &t));
  ASSERT_INT_EQ(c.expiration, t);
  ASSERT_INT_EQ(t, 1795343400);
  sq_aws_credentials_clear(&c);
  ASSERT(c.access_key_id == NULL && c.secret_access_key == NULL && c.session_token == NULL);

  /* Missing fields, bad times, not JSON: errors that quote no value. */
  {
    static const char *const bad[] = {
        "{\"AccessKeyId\":\"A\"}",
        "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"\"}",
        "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"hidden-value\",\"Expiration\":\"soon\"}",
        "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"line\\r\\nbreak\"}",
        "[1,2]",
        "not json at all",
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
      ASSERT_INT_EQ(sq_aws_credentials_parse(bad[i], strlen(bad[i]), &c, &e), SQ_ESTORAGE);
      ASSERT(strstr(e.msg, "hidden-value") == NULL);
      ASSERT(c.access_key_id == NULL);
    }
  }
  /* No Expiration: static for as long as the process lives. */
  ASSERT_INT_EQ(sq_aws_credentials_parse("{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"B\"}", 41,
                                         &c, &e),
                SQ_OK);
  ASSERT_INT_EQ(c.expiration, 0);
  ASSERT(c.session_token == NULL);
  sq_aws_credentials_clear(&c);
}

TEST(times) {
  time_t t;
  ASSERT(sq_aws_parse_time("1970-01-01T00:00:00Z", &t));
  ASSERT_INT_EQ(t, 0);
  ASSERT(sq_aws_parse_time("2019-03-13T19:47:32.123Z", &t));
  ASSERT_INT_EQ(t, 1552506452);
  ASSERT(sq_aws_parse_time("2019-03-13T19:47:32+00:00", &t));
  ASSERT_INT_EQ(t, 1552506452);
  ASSERT(!sq_aws_parse_time("2019-03-13T19:47:32+02:00", &t));
  ASSERT(!sq_aws_parse_time("2019-03-13 19:47:32Z", &t));
  ASSERT(!sq_aws_parse_time("2019-13-13T19:47:32Z", &t));
  ASSERT(!sq_aws_parse_time("2019-03-13T19:47:32", &t));
  ASSERT(!sq_aws_parse_time(NULL, &t));
}

TEST(refresh_window) {
  sq_aws_credentials c = {"A", "B", "T", 10000};
  sq_aws_credentials none = {NULL, NULL, NULL, 0};
  sq_aws_credentials forever = {"A", "B", NULL, 0};
  ASSERT(!sq_aws_credentials_expiring(&c, 10000 - SQ_AWS_REFRESH_BEFORE - 1));
  ASSERT(sq_aws_credentials_expiring(&c, 10000 - SQ_AWS_REFRESH_BEFORE));
  ASSERT(sq_aws_credentials_expiring(&c, 20000));
  ASSERT(sq_aws_credentials_expiring(&none, 0));
  ASSERT(!sq_aws_credentials_expiring(&forever, 2000000000));
}

TEST(container_urls) {
  sq_err e;
  ASSERT_INT_EQ(sq_aws_container_url_check("http://127.0.0.1:8080/creds", &e), SQ_OK);
  ASSERT_INT_EQ(sq_aws_container_url_check("http://127.1.2.3/creds", &e), SQ_OK);
  ASSERT_INT_EQ(sq_aws_container_url_check("http://localhost/creds", &e), SQ_OK);
  ASSERT_INT_EQ(sq_aws_container_url_check("http://[::1]:80/creds", &e), SQ_OK);
  ASSERT_INT_EQ(sq_aws_container_url_check("http://169.254.170.2/v2/creds", &e), SQ_OK);
  ASSERT_INT_EQ(sq_aws_container_url_check("http://169.254.170.23/v1/credentials", &e), SQ_OK);
  ASSERT_INT_EQ(sq_aws_container_url_check("http://[fd00:ec2::23]/v1/credentials", &e), SQ_OK);
  ASSERT_INT_EQ(sq_aws_container_url_check("https://creds.example.com/x", &e), SQ_OK);
  ASSERT_INT_EQ(sq_aws_container_url_check("http://creds.example.com/x", &e), SQ_ECONFIG);
  ASSERT_INT_EQ(sq_aws_container_url_check("http://10.0.0.1/x", &e), SQ_ECONFIG);
  ASSERT_INT_EQ(sq_aws_container_url_check("http://127.0.0.1.evil.com/x", &e), SQ_ECONFIG);
  ASSERT_INT_EQ(sq_aws_container_url_check("http://u:p@127.0.0.1/x", &e), SQ_ECONFIG);
  ASSERT_INT_EQ(sq_aws_container_url_check("ftp://127.0.0.1/x", &e), SQ_ECONFIG);
}

TEST(choosing_a_source) {
  sq_aws_credential_env env;
  sq_aws_credential_source *s;
  const sq_aws_credentials *c;
  sq_err e;

  /* Static keys win over the container endpoint, and are never dropped. */
  memset(&env, 0, sizeof env);
  env.access_key_id = "AKIDEXAMPLE";
  env.secret_access_key = "secret";
  env.session_token = "token";
  env.container_relative_uri = "/v2/credentials/x";
  s = sq_aws_credentials_open(&env, &e);
  if (s == NULL) FAIL_AT("open: %s", e.msg);
  ASSERT_INT_EQ(sq_aws_credentials_get(s, NULL, time(NULL), &c, &e), SQ_OK);
  ASSERT_STR_EQ(c->access_key_id, "AKIDEXAMPLE");
  ASSERT_STR_EQ(c->secret_access_key, "secret");
  ASSERT_STR_EQ(c->session_token, "token");
  ASSERT_STR_EQ(sq_aws_credentials_describe(s), "environment (AWS_ACCESS_KEY_ID)");
  ASSERT(!sq_aws_credentials_invalidate(s));
  sq_aws_credentials_free(s);

  /* Half a key pair is an error that names the variables, not values. */
  env.access_key_id = "";
  env.secret_access_key = "only-the-secret";
  ASSERT(sq_aws_credentials_open(&env, &e) == NULL);
  ASSERT_INT_EQ(e.code, SQ_ECONFIG);
  ASSERT(strstr(e.msg, "AWS_ACCESS_KEY_ID") != NULL);
  ASSERT(strstr(e.msg, "only-the-secret") == NULL);

  /* The container endpoint: relative URI first, then full URI. */
  memset(&env, 0, sizeof env);
  env.container_relative_uri = "/v2/credentials/abc";
  env.container_full_uri = "http://127.0.0.1:1/x";
  s = sq_aws_credentials_open(&env, &e);
  ASSERT(s != NULL);
  ASSERT_STR_EQ(sq_aws_credentials_describe(s), "container endpoint " SQ_AWS_CONTAINER_HOST);
  sq_aws_credentials_free(s);
  env.container_relative_uri = "v2/no-slash";
  ASSERT(sq_aws_credentials_open(&env, &e) == NULL);
  env.container_relative_uri = NULL;
  env.container_full_uri = "http://evil.example/creds";
  ASSERT(sq_aws_credentials_open(&env, &e) == NULL);
  ASSERT_INT_EQ(e.code, SQ_ECONFIG);
  env.container_full_uri = "http://127.0.0.1:9/creds";
  env.container_token = "bad\r\ninjected: header";
  ASSERT(sq_aws_credentials_open(&env, &e) == NULL);
  ASSERT(strstr(e.msg, "injected") == NULL);

  /* Nothing configured. */
  memset(&env, 0, sizeof env);
  ASSERT(sq_aws_credentials_open(&env, &e) == NULL);
  ASSERT_INT_EQ(e.code, SQ_ECONFIG);
  ASSERT(strstr(e.msg, "AWS_ACCESS_KEY_ID") != NULL);
  sq_aws_credentials_free(NULL);
}

/* An unreachable endpoint (nothing listens on port 9 of 127.0.0.1) is a
 * temporary storage error, after a few quick tries. */
TEST(unreachable_endpoint) {
  sq_aws_credential_env env;
  sq_aws_credential_source *s;
  const sq_aws_credentials *c;
  sq_http *http;
  sq_err e;
  memset(&env, 0, sizeof env);
  env.container_full_uri = "http://127.0.0.1:9/creds";
  env.container_token = "tok-value";
  s = sq_aws_credentials_open(&env, &e);
  http = sq_http_new(&e);
  ASSERT(s != NULL && http != NULL);
  ASSERT_INT_EQ(sq_aws_credentials_get(s, http, time(NULL), &c, &e), SQ_ESTORAGE);
  ASSERT(strstr(e.msg, "127.0.0.1") != NULL);
  ASSERT(strstr(e.msg, "tok-value") == NULL);
  sq_aws_credentials_free(s);
  sq_http_free(http);
}

TEST_MAIN(TEST_ENTRY(parse_container_answer), TEST_ENTRY(times), TEST_ENTRY(refresh_window),
          TEST_ENTRY(container_urls), TEST_ENTRY(choosing_a_source),
          TEST_ENTRY(unreachable_endpoint))
