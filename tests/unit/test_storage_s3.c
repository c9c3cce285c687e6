/* test_storage_s3.c - the pure parts of the s3:// backend: URL parsing,
 * endpoint resolution, part sizes, retry classification and backoff, the
 * XML answers S3 gives; and that opening the backend fails cleanly. */
#include <stdlib.h>

#include "exporter/storage.h"
#include "exporter/storage_s3.h"
#include "tests/unit/harness.h"

TEST(url_parsing) {
  sq_s3_location l;
  sq_err e;
  ASSERT_INT_EQ(sq_s3_url_parse("s3://exports", &l, &e), SQ_OK);
  ASSERT_STR_EQ(l.bucket, "exports");
  ASSERT_STR_EQ(l.prefix, "");
  ASSERT_INT_EQ(l.path_style, -1);
  ASSERT_INT_EQ(sq_s3_url_parse("s3://exports/", &l, &e), SQ_OK);
  ASSERT_STR_EQ(l.prefix, "");
  ASSERT_INT_EQ(sq_s3_url_parse("s3://my.bucket-1/a/b/c/?path_style=1", &l, &e), SQ_OK);
  ASSERT_STR_EQ(l.bucket, "my.bucket-1");
  ASSERT_STR_EQ(l.prefix, "a/b/c");
  ASSERT_INT_EQ(l.path_style, 1);
  ASSERT_INT_EQ(sq_s3_url_parse("s3://b12?path_style=false", &l, &e), SQ_OK);
  ASSERT_STR_EQ(l.bucket, "b12");
  ASSERT_INT_EQ(l.path_style, 0);
  ASSERT_INT_EQ(sq_s3_url_parse("s3://b12/a//x", &l, &e), SQ_ECONFIG); /* empty segment */
  ASSERT_INT_EQ(sq_s3_url_parse("s3://b12/x?path_style=true&", &l, &e), SQ_OK);
  ASSERT_STR_EQ(l.prefix, "x");

  /* Errors: never echo the URL (it may hold a key someone pasted). */
  ASSERT_INT_EQ(sq_s3_url_parse("s3://AKIA:s3cr3t@bucket/p", &l, &e), SQ_ECONFIG);
  ASSERT(strstr(e.msg, "s3cr3t") == NULL);
  ASSERT_INT_EQ(sq_s3_url_parse("s3://bucket:9000/p", &l, &e), SQ_ECONFIG);
  ASSERT_INT_EQ(sq_s3_url_parse("s3://ab", &l, &e), SQ_ECONFIG);
  ASSERT_INT_EQ(sq_s3_url_parse("s3:///prefix", &l, &e), SQ_ECONFIG);
  ASSERT_INT_EQ(sq_s3_url_parse("s3://bad/bucket!name", &l, &e), SQ_OK); /* '!' is a key char */
  ASSERT_INT_EQ(sq_s3_url_parse("s3://bad!bucket/x", &l, &e), SQ_ECONFIG);
  ASSERT_INT_EQ(sq_s3_url_parse("s3://bucket/a/../b", &l, &e), SQ_ECONFIG);
  ASSERT_INT_EQ(sq_s3_url_parse("s3://bucket/a/./b", &l, &e), SQ_ECONFIG);
  ASSERT_INT_EQ(sq_s3_url_parse("s3://bucket/a\\b", &l, &e), SQ_ECONFIG);
  ASSERT_INT_EQ(sq_s3_url_parse("s3://bucket/p?region=x", &l, &e), SQ_ECONFIG);
  ASSERT(strstr(e.msg, "path_style") != NULL);
  ASSERT_INT_EQ(sq_s3_url_parse("file:///x", &l, &e), SQ_ECONFIG);
}

static sq_s3_env env_of(const char *region, const char *def, const char *ep_s3, const char *ep) {
  sq_s3_env v = {region, def, ep_s3, ep, NULL};
  return v;
}

TEST(endpoints) {
  sq_s3_location l;
  sq_s3_endpoint ep;
  sq_s3_env v;
  sq_err e;

  ASSERT_INT_EQ(sq_s3_url_parse("s3://exports/p", &l, &e), SQ_OK);
  /* AWS: virtual-hosted, regional endpoint; AWS_REGION wins. */
  v = env_of("eu-west-1", "us-west-2", NULL, NULL);
  ASSERT_INT_EQ(sq_s3_endpoint_resolve(&l, &v, &ep, &e), SQ_OK);
  ASSERT_STR_EQ(ep.region, "eu-west-1");
  ASSERT_STR_EQ(ep.host, "exports.s3.eu-west-1.amazonaws.com");
  ASSERT_STR_EQ(ep.base_url, "https://exports.s3.eu-west-1.amazonaws.com");
  ASSERT_STR_EQ(ep.path_prefix, "");
  ASSERT(!ep.path_style);
  ASSERT_INT_EQ(ep.max_attempts, 3);
  /* Then AWS_DEFAULT_REGION; China's partition. */
  v = env_of("", "cn-north-1", NULL, NULL);
  ASSERT_INT_EQ(sq_s3_endpoint_resolve(&l, &v, &ep, &e), SQ_OK);
  ASSERT_STR_EQ(ep.host, "exports.s3.cn-north-1.amazonaws.com.cn");
  /* No region and no endpoint. */
  v = env_of(NULL, NULL, NULL, NULL);
  ASSERT_INT_EQ(sq_s3_endpoint_resolve(&l, &v, &ep, &e), SQ_ECONFIG);
  ASSERT(strstr(e.msg, "AWS_REGION") != NULL);
  v = env_of("eu-west-1/../x", NULL, NULL, NULL);
  ASSERT_INT_EQ(sq_s3_endpoint_resolve(&l, &v, &ep, &e), SQ_ECONFIG);

  /* AWS_ENDPOINT_URL_S3 beats AWS_ENDPOINT_URL; an IP endpoint means
   * path-style; the region defaults to us-east-1. */
  v = env_of(NULL, NULL, "http://127.0.0.1:4568/", "https://other.example");
  ASSERT_INT_EQ(sq_s3_endpoint_resolve(&l, &v, &ep, &e), SQ_OK);
  ASSERT_STR_EQ(ep.region, "us-east-1");
  ASSERT_STR_EQ(ep.host, "127.0.0.1:4568");
  ASSERT_STR_EQ(ep.base_url, "http://127.0.0.1:4568");
  ASSERT_STR_EQ(ep.path_prefix, "/exports");
  ASSERT(ep.path_style);
  v = env_of("eu-central-1", NULL, "", "https://minio.example:9000");
  ASSERT_INT_EQ(sq_s3_endpoint_resolve(&l, &v, &ep, &e), SQ_OK);
  ASSERT_STR_EQ(ep.host, "exports.minio.example:9000");
  ASSERT_STR_EQ(ep.region, "eu-central-1");
  /* path_style=1 forces it; a dotted bucket under https needs it. */
  ASSERT_INT_EQ(sq_s3_url_parse("s3://exports/p?path_style=1", &l, &e), SQ_OK);
  ASSERT_INT_EQ(sq_s3_endpoint_resolve(&l, &v, &ep, &e), SQ_OK);
  ASSERT_STR_EQ(ep.host, "minio.example:9000");
  ASSERT_STR_EQ(ep.path_prefix, "/exports");
  ASSERT_INT_EQ(sq_s3_url_parse("s3://my.exports/p", &l, &e), SQ_OK);
  v = env_of("eu-west-1", NULL, NULL, NULL);
  ASSERT_INT_EQ(sq_s3_endpoint_resolve(&l, &v, &ep, &e), SQ_OK);
  ASSERT(ep.path_style);
  ASSERT_STR_EQ(ep.host, "s3.eu-west-1.amazonaws.com");
  ASSERT_INT_EQ(sq_s3_url_parse("s3://my.exports/p?path_style=0", &l, &e), SQ_OK);
  ASSERT_INT_EQ(sq_s3_endpoint_resolve(&l, &v, &ep, &e), SQ_ECONFIG);
  /* Malformed endpoints. */
  ASSERT_INT_EQ(sq_s3_url_parse("s3://exports", &l, &e), SQ_OK);
  v = env_of(NULL, NULL, "ftp://x", NULL);
  ASSERT_INT_EQ(sq_s3_endpoint_resolve(&l, &v, &ep, &e), SQ_ECONFIG);
  v = env_of(NULL, NULL, "https://x/path", NULL);
  ASSERT_INT_EQ(sq_s3_endpoint_resolve(&l, &v, &ep, &e), SQ_ECONFIG);
  v = env_of(NULL, NULL, "https://user:pw@x", NULL);
  ASSERT_INT_EQ(sq_s3_endpoint_resolve(&l, &v, &ep, &e), SQ_ECONFIG);
  ASSERT(strstr(e.msg, "pw") == NULL);
  /* AWS_MAX_ATTEMPTS. */
  v = env_of("eu-west-1", NULL, NULL, NULL);
  v.max_attempts = "5";
  ASSERT_INT_EQ(sq_s3_endpoint_resolve(&l, &v, &ep, &e), SQ_OK);
  ASSERT_INT_EQ(ep.max_attempts, 5);
  v.max_attempts = "0";
  ASSERT_INT_EQ(sq_s3_endpoint_resolve(&l, &v, &ep, &e), SQ_ECONFIG);
  v.max_attempts = "3x";
  ASSERT_INT_EQ(sq_s3_endpoint_resolve(&l, &v, &ep, &e), SQ_ECONFIG);
}

TEST(part_sizes) {
  const uint64_t MiB = 1ull << 20, GiB = 1ull << 30;
  ASSERT_INT_EQ(sq_s3_part_size(9 * MiB), 8 * MiB);
  ASSERT_INT_EQ(sq_s3_part_size(64 * MiB + 1), 8 * MiB);
  /* 8 MiB parts reach 10,000 parts at 78.125 GiB. */
  ASSERT_INT_EQ(sq_s3_part_size(10000 * 8 * MiB), 8 * MiB);
  ASSERT_INT_EQ(sq_s3_part_size(10000 * 8 * MiB + 1), 9 * MiB);
  ASSERT_INT_EQ(sq_s3_part_size(1024 * GiB), 105 * MiB); /* 1 TiB / 10,000 = 104.9 MiB */
  ASSERT_INT_EQ(sq_s3_part_size(5 * 1024 * GiB), 525 * MiB);
  ASSERT_INT_EQ(sq_s3_part_size(5 * 1024 * GiB + 1), 0);
  /* Whatever the size: >= 8 MiB, whole MiB, <= 10,000 parts, <= 5 GiB. */
  for (uint64_t size = 9 * MiB; size <= 5 * 1024 * GiB; size = size * 3 + 12345) {
    uint64_t p = sq_s3_part_size(size);
    ASSERT(p >= 8 * MiB && p % MiB == 0 && p <= 5 * GiB);
    ASSERT((size + p - 1) / p <= 10000);
  }
}

TEST(retry_classification) {
  /* Success, and a 200 that carries an error. */
  ASSERT_INT_EQ(sq_s3_classify(200, NULL, SQ_HTTP_OK), SQ_S3_DONE);
  ASSERT_INT_EQ(sq_s3_classify(204, "", SQ_HTTP_OK), SQ_S3_DONE);
  ASSERT_INT_EQ(sq_s3_classify(200, "InternalError", SQ_HTTP_OK), SQ_S3_RETRY);
  ASSERT_INT_EQ(sq_s3_classify(200, "InvalidPart", SQ_HTTP_OK), SQ_S3_FAIL);
  /* Transient statuses and codes. */
  ASSERT_INT_EQ(sq_s3_classify(500, "InternalError", SQ_HTTP_OK), SQ_S3_RETRY);
  ASSERT_INT_EQ(sq_s3_classify(500, NULL, SQ_HTTP_OK), SQ_S3_RETRY);
  ASSERT_INT_EQ(sq_s3_classify(502, NULL, SQ_HTTP_OK), SQ_S3_RETRY);
  ASSERT_INT_EQ(sq_s3_classify(503, "SlowDown", SQ_HTTP_OK), SQ_S3_RETRY);
  ASSERT_INT_EQ(sq_s3_classify(504, NULL, SQ_HTTP_OK), SQ_S3_RETRY);
  ASSERT_INT_EQ(sq_s3_classify(429, NULL, SQ_HTTP_OK), SQ_S3_RETRY);
  ASSERT_INT_EQ(sq_s3_classify(400, "RequestTimeout", SQ_HTTP_OK), SQ_S3_RETRY);
  ASSERT_INT_EQ(sq_s3_classify(400, "ThrottlingException", SQ_HTTP_OK), SQ_S3_RETRY);
  ASSERT_INT_EQ(sq_s3_classify(400, "BadDigest", SQ_HTTP_OK), SQ_S3_RETRY);
  /* Connection trouble. */
  ASSERT_INT_EQ(sq_s3_classify(0, NULL, SQ_HTTP_CONNECT), SQ_S3_RETRY);
  ASSERT_INT_EQ(sq_s3_classify(0, NULL, SQ_HTTP_TIMEOUT), SQ_S3_RETRY);
  ASSERT_INT_EQ(sq_s3_classify(0, NULL, SQ_HTTP_NETWORK), SQ_S3_RETRY);
  ASSERT_INT_EQ(sq_s3_classify(0, NULL, SQ_HTTP_TLS), SQ_S3_FAIL);
  ASSERT_INT_EQ(sq_s3_classify(0, NULL, SQ_HTTP_BODY_SOURCE), SQ_S3_FAIL);
  /* Expired tokens. */
  ASSERT_INT_EQ(sq_s3_classify(400, "ExpiredToken", SQ_HTTP_OK), SQ_S3_REFRESH);
  ASSERT_INT_EQ(sq_s3_classify(403, "ExpiredToken", SQ_HTTP_OK), SQ_S3_REFRESH);
  /* Permanent. */
  ASSERT_INT_EQ(sq_s3_classify(403, "AccessDenied", SQ_HTTP_OK), SQ_S3_FAIL);
  ASSERT_INT_EQ(sq_s3_classify(403, "SignatureDoesNotMatch", SQ_HTTP_OK), SQ_S3_FAIL);
  ASSERT_INT_EQ(sq_s3_classify(404, "NoSuchBucket", SQ_HTTP_OK), SQ_S3_FAIL);
  ASSERT_INT_EQ(sq_s3_classify(400, "EntityTooLarge", SQ_HTTP_OK), SQ_S3_FAIL);
  ASSERT_INT_EQ(sq_s3_classify(301, "PermanentRedirect", SQ_HTTP_OK), SQ_S3_FAIL);
  ASSERT_INT_EQ(sq_s3_classify(501, "NotImplemented", SQ_HTTP_OK), SQ_S3_FAIL);
}

TEST(backoff_bounds) {
  /* Full jitter: r * min(2^(n-1), 20) s. */
  ASSERT_INT_EQ(sq_s3_backoff_ms(1, 0.0), 0);
  ASSERT_INT_EQ(sq_s3_backoff_ms(1, 0.5), 500);
  ASSERT_INT_EQ(sq_s3_backoff_ms(2, 0.5), 1000);
  ASSERT_INT_EQ(sq_s3_backoff_ms(3, 0.25), 1000);
  ASSERT_INT_EQ(sq_s3_backoff_ms(5, 0.5), 8000);
  ASSERT_INT_EQ(sq_s3_backoff_ms(6, 0.5), 10000); /* min(32, 20) = 20 */
  ASSERT_INT_EQ(sq_s3_backoff_ms(1000, 0.5), 10000);
  ASSERT(sq_s3_backoff_ms(1000, 0.9999999) < 20000);
  ASSERT_INT_EQ(sq_s3_backoff_ms(2, -1.0), 0);
  ASSERT(sq_s3_backoff_ms(2, 7.0) < 2000);
  for (int n = 1; n < 40; n++) {
    long hi = n >= 6 ? 20000 : 1000L << (n - 1);
    for (int k = 0; k < 100; k++) {
      long ms = sq_s3_backoff_ms(n, (double)rand() / ((double)RAND_MAX + 1.0));
      ASSERT(ms >= 0 && ms < hi && ms <= SQ_S3_BACKOFF_CAP_MS);
    }
  }
}

TEST(xml_answers) {
  static const char create[] =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<InitiateMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
      "<Bucket>exports</Bucket><Key>7/42/2024-03.xlsx</Key>"
      "<UploadId>VXBsb2FkIElE&amp;.x-_~</UploadId></InitiateMultipartUploadResult>";
  /* S3 sends 200 at once, then whitespace while it works, then the error. */
  static const char complete_err[] =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n  \n  \n"
      "<Error><Code>InternalError</Code><Message>We encountered an internal error. "
      "Please try again.</Message><RequestId>656c76696e6727732072657175657374</RequestId>"
      "<HostId>Uuag1LuByRx9e6j5Onimru9pO4ZVKnJ2Qz7/C1NPcfTWAtRPfTaOFg==</HostId></Error>";
  static const char complete_ok[] =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<!-- a comment > with a bracket -->"
      "<CompleteMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
      "<Location>http://x/y</Location><ETag>&quot;3858f62230ac3c915f300c664312c11f-9&quot;</ETag>"
      "</CompleteMultipartUploadResult>";
  static const char slowdown[] =
      "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message>"
      "<Empty/></Error>";
  char buf[256];
  sq_s3_error e;

  ASSERT(sq_s3_xml_root(create, sizeof create - 1, buf, sizeof buf));
  ASSERT_STR_EQ(buf, "InitiateMultipartUploadResult");
  ASSERT(sq_s3_xml_text(create, sizeof create - 1, "UploadId", buf, sizeof buf));
  ASSERT_STR_EQ(buf, "VXBsb2FkIElE&.x-_~");
  ASSERT(!sq_s3_parse_error(create, sizeof create - 1, &e));

  ASSERT(sq_s3_parse_error(complete_err, sizeof complete_err - 1, &e));
  ASSERT_STR_EQ(e.code, "InternalError");
  ASSERT_STR_EQ(e.message, "We encountered an internal error. Please try again.");
  ASSERT_STR_EQ(e.request_id, "656c76696e6727732072657175657374");
  ASSERT_INT_EQ(sq_s3_classify(200, e.code, SQ_HTTP_OK), SQ_S3_RETRY);

  ASSERT(sq_s3_xml_root(complete_ok, sizeof complete_ok - 1, buf, sizeof buf));
  ASSERT_STR_EQ(buf, "CompleteMultipartUploadResult");
  ASSERT(sq_s3_xml_text(complete_ok, sizeof complete_ok - 1, "ETag", buf, sizeof buf));
  ASSERT_STR_EQ(buf, "\"3858f62230ac3c915f300c664312c11f-9\"");
  ASSERT(!sq_s3_parse_error(complete_ok, sizeof complete_ok - 1, &e));

  ASSERT(sq_s3_parse_error(slowdown, sizeof slowdown - 1, &e));
  ASSERT_STR_EQ(e.code, "SlowDown");
  ASSERT_STR_EQ(e.request_id, "");
  ASSERT(sq_s3_xml_text(slowdown, sizeof slowdown - 1, "Empty", buf, sizeof buf));
  ASSERT_STR_EQ(buf, "");

  /* Nothing, whitespace only (a 200 cut short), garbage, truncation. */
  ASSERT(!sq_s3_xml_root("", 0, buf, sizeof buf));
  ASSERT(!sq_s3_xml_root("   \n  ", 6, buf, sizeof buf));
  ASSERT(!sq_s3_xml_root("not xml", 7, buf, sizeof buf));
  ASSERT(!sq_s3_xml_root(NULL, 0, buf, sizeof buf));
  ASSERT(!sq_s3_parse_error("<Error><Code>Internal", 21, &e) || e.code[0] == '\0');
  ASSERT(!sq_s3_xml_text(complete_ok, 60, "ETag", buf, sizeof buf));
  /* Cut to the buffer. */
  ASSERT(sq_s3_xml_text(complete_err, sizeof complete_err - 1, "Message", buf, 8));
  ASSERT_STR_EQ(buf, "We enco");
  /* Numeric references, and a namespace prefix on the root. */
  ASSERT(sq_s3_xml_text("<a>x&#65;&#x42;y</a>", 20, "a", buf, sizeof buf));
  ASSERT_STR_EQ(buf, "xABy");
  ASSERT(sq_s3_xml_root("<s3:Error xmlns:s3=\"u\"/>", 24, buf, sizeof buf));
  ASSERT_STR_EQ(buf, "Error");
}

TEST(xml_escape) {
  sq_buf b;
  sq_buf_init(&b, 256);
  ASSERT_INT_EQ(sq_s3_xml_escape(&b, "\"a&b<c>d\""), SQ_OK);
  ASSERT_STR_EQ(sq_buf_str(&b), "\"a&amp;b&lt;c&gt;d\"");
  sq_buf_free(&b);
}

/* Opening reads the environment; failures are configuration errors that
 * name what is missing and never echo secrets. */
TEST(open_errors) {
  sq_err e;
  sq_storage *s;
  unsetenv("AWS_ENDPOINT_URL_S3");
  unsetenv("AWS_ENDPOINT_URL");
  unsetenv("AWS_REGION");
  unsetenv("AWS_DEFAULT_REGION");
  unsetenv("AWS_ACCESS_KEY_ID");
  unsetenv("AWS_SECRET_ACCESS_KEY");
  unsetenv("AWS_SESSION_TOKEN");
  unsetenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
  unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
  unsetenv("AWS_MAX_ATTEMPTS");
  ASSERT(sq_storage_open("s3://exports/p", &e) == NULL);
  ASSERT_INT_EQ(e.code, SQ_ECONFIG);
  ASSERT(strstr(e.msg, "AWS_REGION") != NULL);
  setenv("AWS_REGION", "eu-west-1", 1);
  ASSERT(sq_storage_open("s3://exports/p", &e) == NULL);
  ASSERT_INT_EQ(e.code, SQ_ECONFIG);
  ASSERT(strstr(e.msg, "credentials") != NULL);
  setenv("AWS_SECRET_ACCESS_KEY", "verysecretvalue", 1);
  ASSERT(sq_storage_open("s3://exports/p", &e) == NULL);
  ASSERT(strstr(e.msg, "verysecretvalue") == NULL);
  setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
  s = sq_storage_open("s3://exports/p/", &e);
  if (s == NULL) FAIL_AT("open: %s", e.msg);
  ASSERT_STR_EQ(sq_storage_describe(s), "s3://exports/p");
  ASSERT(sq_storage_scratch_dir(s) == NULL);
  sq_storage_free(s);
  unsetenv("AWS_SECRET_ACCESS_KEY");
  unsetenv("AWS_ACCESS_KEY_ID");
}

TEST_MAIN(TEST_ENTRY(url_parsing), TEST_ENTRY(endpoints), TEST_ENTRY(part_sizes),
          TEST_ENTRY(retry_classification), TEST_ENTRY(backoff_bounds), TEST_ENTRY(xml_answers),
          TEST_ENTRY(xml_escape), TEST_ENTRY(open_errors))
