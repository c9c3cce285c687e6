/* test_s3_sigv4.c - the SigV4 signer against the four worked examples AWS
 * publishes for S3 ("Signature Calculations for the Authorization Header:
 * Transferring Payload in a Single Chunk"), checked at every step:
 * canonical request, string to sign, signature, Authorization header. */
#include "exporter/s3_sigv4.h"
#include "tests/unit/harness.h"

#define AK "AKIAIOSFODNN7EXAMPLE"
#define SK "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define HOST "examplebucket.s3.amazonaws.com"
#define DATE "20130524T000000Z"
#define EMPTY SQ_SIGV4_EMPTY_SHA256

static const sq_sigv4_key example_key = {AK, SK, "us-east-1", "s3", DATE};

/* Signs and compares every step; returns false (after printing) on a
 * mismatch. */
static int check(const sq_sigv4_request *req, const char *want_creq, const char *want_sts,
                 const char *want_sig, const char *want_signed) {
  sq_sigv4_result r;
  sq_err e;
  char auth[512];
  int ok = 1;
  sq_sigv4_result_init(&r);
  if (sq_sigv4_sign(req, &example_key, &r, &e) != SQ_OK) {
    fprintf(stderr, "  sign: %s\n", e.msg);
    ok = 0;
    goto out;
  }
  if (strcmp(sq_buf_str(&r.canonical_request), want_creq) != 0) {
    fprintf(stderr, "  canonical request:\n%s\n  want:\n%s\n", sq_buf_str(&r.canonical_request),
            want_creq);
    ok = 0;
  }
  if (strcmp(sq_buf_str(&r.string_to_sign), want_sts) != 0) {
    fprintf(stderr, "  string to sign:\n%s\n  want:\n%s\n", sq_buf_str(&r.string_to_sign), want_sts);
    ok = 0;
  }
  if (strcmp(r.signature, want_sig) != 0) {
    fprintf(stderr, "  signature %s, want %s\n", r.signature, want_sig);
    ok = 0;
  }
  snprintf(auth, sizeof auth,
           "AWS4-HMAC-SHA256 Credential=" AK "/20130524/us-east-1/s3/aws4_request,"
           "SignedHeaders=%s,Signature=%s",
           want_signed, want_sig);
  if (strcmp(sq_buf_str(&r.authorization), auth) != 0) {
    fprintf(stderr, "  authorization %s\n  want %s\n", sq_buf_str(&r.authorization), auth);
    ok = 0;
  }
out:
  sq_sigv4_result_free(&r);
  return ok;
}

TEST(aws_example_get_object) {
  /* Headers given in another order and case than the canonical one, with
   * blanks to trim: the signer must sort and normalise. */
  const sq_sigv4_pair h[] = {
      {"X-Amz-Date", DATE},
      {"Range", "  bytes=0-9 "},
      {"Host", HOST},
      {"x-amz-content-sha256", EMPTY},
  };
  const sq_sigv4_request req = {"GET", "/test.txt", NULL, 0, h, 4, EMPTY};
  ASSERT(check(&req,
               "GET\n/test.txt\n\nhost:" HOST "\nrange:bytes=0-9\nx-amz-content-sha256:" EMPTY
               "\nx-amz-date:" DATE "\n\nhost;range;x-amz-content-sha256;x-amz-date\n" EMPTY,
               "AWS4-HMAC-SHA256\n" DATE "\n20130524/us-east-1/s3/aws4_request\n"
               "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972",
               "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
               "host;range;x-amz-content-sha256;x-amz-date"));
}

TEST(aws_example_put_object) {
  const char *body = "Welcome to Amazon S3.";
  char hash[SQ_SIGV4_HEX_LEN];
  ASSERT(sq_sigv4_sha256_hex(body, strlen(body), hash));
  ASSERT_STR_EQ(hash, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  {
    const sq_sigv4_pair h[] = {
        {"Host", HOST},
        {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
        {"x-amz-date", DATE},
        {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
        {"x-amz-content-sha256", hash},
    };
    /* '$' in the key is encoded: /test%24file.text */
    const sq_sigv4_request req = {"PUT", "/test$file.text", NULL, 0, h, 5, hash};
    ASSERT(check(&req,
                 "PUT\n/test%24file.text\n\ndate:Fri, 24 May 2013 00:00:00 GMT\nhost:" HOST
                 "\nx-amz-content-sha256:44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
                 "\nx-amz-date:" DATE "\nx-amz-storage-class:REDUCED_REDUNDANCY\n\n"
                 "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n"
                 "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
                 "AWS4-HMAC-SHA256\n" DATE "\n20130524/us-east-1/s3/aws4_request\n"
                 "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d",
                 "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
                 "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class"));
  }
}

TEST(aws_example_get_lifecycle) {
  /* "?lifecycle": a valueless parameter is signed as "lifecycle=". */
  const sq_sigv4_pair q[] = {{"lifecycle", NULL}};
  const sq_sigv4_pair h[] = {{"host", HOST}, {"x-amz-date", DATE}, {"x-amz-content-sha256", EMPTY}};
  const sq_sigv4_request req = {"GET", "/", q, 1, h, 3, EMPTY};
  ASSERT(check(&req,
               "GET\n/\nlifecycle=\nhost:" HOST "\nx-amz-content-sha256:" EMPTY
               "\nx-amz-date:" DATE "\n\nhost;x-amz-content-sha256;x-amz-date\n" EMPTY,
               "AWS4-HMAC-SHA256\n" DATE "\n20130524/us-east-1/s3/aws4_request\n"
               "9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca",
               "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
               "host;x-amz-content-sha256;x-amz-date"));
}

TEST(aws_example_list_objects) {
  /* Given unsorted: the canonical query sorts by name. */
  const sq_sigv4_pair q[] = {{"prefix", "J"}, {"max-keys", "2"}};
  const sq_sigv4_pair h[] = {{"host", HOST}, {"x-amz-date", DATE}, {"x-amz-content-sha256", EMPTY}};
  const sq_sigv4_request req = {"GET", "/", q, 2, h, 3, EMPTY};
  ASSERT(check(&req,
               "GET\n/\nmax-keys=2&prefix=J\nhost:" HOST "\nx-amz-content-sha256:" EMPTY
               "\nx-amz-date:" DATE "\n\nhost;x-amz-content-sha256;x-amz-date\n" EMPTY,
               "AWS4-HMAC-SHA256\n" DATE "\n20130524/us-east-1/s3/aws4_request\n"
               "df57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7",
               "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
               "host;x-amz-content-sha256;x-amz-date"));
}

TEST(uri_encoding) {
  sq_buf b;
  sq_buf_init(&b, 4096);
  ASSERT_INT_EQ(sq_sigv4_uri_encode(&b, "AZaz09-._~", false), SQ_OK);
  ASSERT_STR_EQ(sq_buf_str(&b), "AZaz09-._~");
  sq_buf_reset(&b);
  ASSERT_INT_EQ(sq_sigv4_uri_encode(&b, "a b+c/d=e&f*g%h", false), SQ_OK);
  ASSERT_STR_EQ(sq_buf_str(&b), "a%20b%2Bc%2Fd%3De%26f%2Ag%25h");
  sq_buf_reset(&b);
  /* Paths keep '/', encode every other reserved byte, and UTF-8 bytewise
   * in upper-case hex. */
  ASSERT_INT_EQ(sq_sigv4_encode_path(&b, "/bucket/7/42/Ünïcode key (1)!.xlsx"), SQ_OK);
  ASSERT_STR_EQ(sq_buf_str(&b), "/bucket/7/42/%C3%9Cn%C3%AFcode%20key%20%281%29%21.xlsx");
  sq_buf_reset(&b);
  ASSERT_INT_EQ(sq_sigv4_encode_path(&b, "/a//b/./c"), SQ_OK); /* S3: not normalised */
  ASSERT_STR_EQ(sq_buf_str(&b), "/a//b/./c");
  sq_buf_free(&b);
  /* The cap is honoured. */
  sq_buf_init(&b, 8);
  ASSERT_INT_EQ(sq_sigv4_uri_encode(&b, "::::", false), SQ_ENOMEM);
  sq_buf_free(&b);
}

TEST(canonical_query) {
  /* Multipart parameters: "uploads=" and sorting by encoded name, then
   * value; the very defects libcurl 7.88 has. */
  const sq_sigv4_pair q1[] = {{"uploadId", "abc/def+=="}, {"partNumber", "10"}};
  const sq_sigv4_pair q2[] = {{"uploads", NULL}};
  const sq_sigv4_pair q3[] = {{"b", "2"}, {"a", "z"}, {"a", "y"}, {"a b", ""}};
  sq_buf b;
  sq_buf_init(&b, 4096);
  ASSERT_INT_EQ(sq_sigv4_canonical_query(&b, q1, 2), SQ_OK);
  ASSERT_STR_EQ(sq_buf_str(&b), "partNumber=10&uploadId=abc%2Fdef%2B%3D%3D");
  sq_buf_reset(&b);
  ASSERT_INT_EQ(sq_sigv4_canonical_query(&b, q2, 1), SQ_OK);
  ASSERT_STR_EQ(sq_buf_str(&b), "uploads=");
  sq_buf_reset(&b);
  ASSERT_INT_EQ(sq_sigv4_canonical_query(&b, q3, 4), SQ_OK);
  ASSERT_STR_EQ(sq_buf_str(&b), "a=y&a=z&a%20b=&b=2");
  sq_buf_reset(&b);
  ASSERT_INT_EQ(sq_sigv4_canonical_query(&b, NULL, 0), SQ_OK);
  ASSERT_STR_EQ(sq_buf_str(&b), "");
  sq_buf_free(&b);
}

TEST(session_token_and_bad_input) {
  const sq_sigv4_pair h[] = {{"host", HOST},
                             {"x-amz-date", DATE},
                             {"x-amz-security-token", "TOKEN/with+chars=="},
                             {"x-amz-content-sha256", EMPTY}};
  const sq_sigv4_pair no_host[] = {{"x-amz-date", DATE}};
  const sq_sigv4_pair twice[] = {{"host", HOST}, {"Host", HOST}, {"x-amz-date", DATE}};
  sq_sigv4_request req = {"GET", "/k", NULL, 0, h, 4, EMPTY};
  sq_sigv4_result r;
  sq_err e;
  sq_sigv4_result_init(&r);
  ASSERT_INT_EQ(sq_sigv4_sign(&req, &example_key, &r, &e), SQ_OK);
  ASSERT(strstr(sq_buf_str(&r.canonical_request), "x-amz-security-token:TOKEN/with+chars==\n"));
  ASSERT(strstr(sq_buf_str(&r.authorization),
                "SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,"));
  /* The secret never appears in anything the signer returns. */
  ASSERT(strstr(sq_buf_str(&r.authorization), SK) == NULL);
  ASSERT(strstr(sq_buf_str(&r.canonical_request), SK) == NULL);
  ASSERT(strstr(sq_buf_str(&r.string_to_sign), SK) == NULL);

  req.headers = no_host;
  req.n_headers = 1;
  ASSERT_INT_EQ(sq_sigv4_sign(&req, &example_key, &r, &e), SQ_EINVAL);
  req.headers = twice;
  req.n_headers = 3;
  ASSERT_INT_EQ(sq_sigv4_sign(&req, &example_key, &r, &e), SQ_EINVAL);
  req.headers = h;
  req.n_headers = 4;
  req.path = "no-slash";
  ASSERT_INT_EQ(sq_sigv4_sign(&req, &example_key, &r, &e), SQ_EINVAL);
  sq_sigv4_result_free(&r);
}

TEST(amz_date) {
  char d[SQ_SIGV4_DATE_LEN];
  sq_sigv4_amz_date((time_t)1369353600, d); /* 2013-05-24 00:00:00 UTC */
  ASSERT_STR_EQ(d, "20130524T000000Z");
  sq_sigv4_amz_date((time_t)1700000000, d);
  ASSERT_STR_EQ(d, "20231114T221320Z");
}

TEST_MAIN(TEST_ENTRY(aws_example_get_object), TEST_ENTRY(aws_example_put_object),
          TEST_ENTRY(aws_example_get_lifecycle), TEST_ENTRY(aws_example_list_objects),
          TEST_ENTRY(uri_encoding), TEST_ENTRY(canonical_query),
          TEST_ENTRY(session_token_and_bad_input), TEST_ENTRY(amz_date))
