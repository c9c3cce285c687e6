/* s3_sigv4.c - see s3_sigv4.h. The four steps of SigV4: canonical request,
 * string to sign, signing key (HMAC chain over date, region, service,
 * "aws4_request"), signature. SHA-256 and HMAC come from libcrypto; key
 * material is wiped from memory once used. */
#include "exporter/s3_sigv4.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PAIRS 64
#define CANONICAL_MAX (256 * 1024)
#define SMALL_MAX (16 * 1024)

typedef struct sorted_pair {
  char *name;
  char *value;
} sorted_pair;

static const char hexdig[] = "0123456789abcdef";

static void to_hex(const unsigned char *in, size_t n, char *out) {
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = hexdig[in[i] >> 4];
    out[2 * i + 1] = hexdig[in[i] & 15];
  }
  out[2 * n] = '\0';
}

bool sq_sigv4_sha256_hex(const void *data, size_t len, char out[SQ_SIGV4_HEX_LEN]) {
  unsigned char md[32];
  unsigned int mdlen = 0;
  if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
    out[0] = '\0';
    return false;
  }
  to_hex(md, 32, out);
  return true;
}

static bool hmac(const void *key, size_t keylen, const char *msg, size_t len,
                 unsigned char out[32]) {
  unsigned int outlen = 0;
  return HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)msg, len, out,
              &outlen) != NULL &&
         outlen == 32;
}

static bool unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '.' || c == '_' || c == '~';
}

sq_errcode sq_sigv4_uri_encode(sq_buf *out, const char *s, bool keep_slash) {
  static const char upper[] = "0123456789ABCDEF";
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (unreserved(*p) || (keep_slash && *p == '/')) {
      if (sq_buf_add(out, p, 1) != SQ_OK) return SQ_ENOMEM;
    } else {
      char esc[3] = {'%', upper[*p >> 4], upper[*p & 15]};
      if (sq_buf_add(out, esc, 3) != SQ_OK) return SQ_ENOMEM;
    }
  }
  return SQ_OK;
}

sq_errcode sq_sigv4_encode_path(sq_buf *out, const char *raw_path) {
  return sq_sigv4_uri_encode(out, raw_path, true);
}

static int cmp_pair(const void *a, const void *b) {
  const sorted_pair *x = a, *y = b;
  int c = strcmp(x->name, y->name);
  return c ? c : strcmp(x->value, y->value);
}

static void free_pairs(sorted_pair *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(p[i].name);
    free(p[i].value);
  }
}

sq_errcode sq_sigv4_canonical_query(sq_buf *out, const sq_sigv4_pair *params, size_t n) {
  sorted_pair sorted[MAX_PAIRS];
  sq_buf b;
  size_t done = 0;
  sq_errcode rc = SQ_ENOMEM;

  if (n > MAX_PAIRS) return SQ_EINVAL;
  sq_buf_init(&b, SMALL_MAX);
  for (; done < n; done++) {
    if (sq_sigv4_uri_encode(&b, params[done].name, false) != SQ_OK) goto out;
    sorted[done].name = sq_buf_take(&b);
    sorted[done].value = NULL;
    if (sorted[done].name == NULL) goto out;
    if (params[done].value &&
        sq_sigv4_uri_encode(&b, params[done].value, false) != SQ_OK) {
      done++;
      goto out;
    }
    if ((sorted[done].value = sq_buf_take(&b)) == NULL) {
      done++;
      goto out;
    }
  }
  qsort(sorted, n, sizeof sorted[0], cmp_pair);
  for (size_t i = 0; i < n; i++) {
    if ((i > 0 && sq_buf_add(out, "&", 1) != SQ_OK) ||
        sq_buf_printf(out, "%s=%s", sorted[i].name, sorted[i].value) != SQ_OK)
      goto out;
  }
  rc = SQ_OK;
out:
  free_pairs(sorted, done);
  sq_buf_free(&b);
  return rc;
}

/* Lower-case name; value trimmed, runs of blanks collapsed to one space. */
static sq_errcode canonical_header(const sq_sigv4_pair *h, sorted_pair *out) {
  size_t n = strlen(h->name), vn, j = 0;
  const char *v = h->value ? h->value : "";
  out->name = malloc(n + 1);
  vn = strlen(v);
  out->value = malloc(vn + 1);
  if (out->value) out->value[0] = '\0';
  if (out->name == NULL || out->value == NULL) return SQ_ENOMEM;
  for (size_t i = 0; i <= n; i++) {
    char c = h->name[i];
    out->name[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
  }
  while (*v == ' ' || *v == '\t') v++;
  for (; *v; v++) {
    bool blank = *v == ' ' || *v == '\t';
    if (blank && (j == 0 || out->value[j - 1] == ' ')) continue;
    out->value[j++] = blank ? ' ' : *v;
  }
  while (j > 0 && out->value[j - 1] == ' ') j--;
  out->value[j] = '\0';
  return SQ_OK;
}

void sq_sigv4_result_init(sq_sigv4_result *r) {
  sq_buf_init(&r->canonical_request, CANONICAL_MAX);
  sq_buf_init(&r->string_to_sign, SMALL_MAX);
  sq_buf_init(&r->authorization, SMALL_MAX);
  r->signature[0] = '\0';
}

static void wipe_buf(sq_buf *b) {
  if (b->data) OPENSSL_cleanse(b->data, b->cap);
  sq_buf_free(b);
}

void sq_sigv4_result_free(sq_sigv4_result *r) {
  wipe_buf(&r->canonical_request);
  wipe_buf(&r->string_to_sign);
  wipe_buf(&r->authorization);
  OPENSSL_cleanse(r->signature, sizeof r->signature);
}

void sq_sigv4_amz_date(time_t t, char out[SQ_SIGV4_DATE_LEN]) {
  struct tm tm;
  gmtime_r(&t, &tm);
  if (strftime(out, SQ_SIGV4_DATE_LEN, "%Y%m%dT%H%M%SZ", &tm) == 0) out[0] = '\0';
}

/* HMAC chain: kSecret = "AWS4" + secret; kDate; kRegion; kService;
 * kSigning. Then the signature over the string to sign. */
static bool compute_signature(const sq_sigv4_key *key, const char *date8,
                              const sq_buf *sts, char out[SQ_SIGV4_HEX_LEN]) {
  unsigned char k[32], sig[32];
  char secret[256];
  int n = snprintf(secret, sizeof secret, "AWS4%s", key->secret_access_key);
  bool ok = n > 0 && (size_t)n < sizeof secret &&
            hmac(secret, (size_t)n, date8, 8, k) &&
            hmac(k, 32, key->region, strlen(key->region), k) &&
            hmac(k, 32, key->service, strlen(key->service), k) &&
            hmac(k, 32, "aws4_request", 12, k) &&
            hmac(k, 32, sts->data, sts->len, sig);
  if (ok) to_hex(sig, 32, out);
  OPENSSL_cleanse(secret, sizeof secret);
  OPENSSL_cleanse(k, sizeof k);
  OPENSSL_cleanse(sig, sizeof sig);
  return ok;
}

sq_errcode sq_sigv4_sign(const sq_sigv4_request *req, const sq_sigv4_key *key,
                         sq_sigv4_result *out, sq_err *err) {
  sorted_pair hdrs[MAX_PAIRS];
  size_t nh = 0;
  bool have_host = false, have_date = false;
  char creq_hash[SQ_SIGV4_HEX_LEN], date8[9];
  sq_buf signed_names;
  sq_errcode rc = SQ_ENOMEM;

  sq_sigv4_result_free(out);
  sq_buf_init(&signed_names, SMALL_MAX);
  if (req->method == NULL || req->path == NULL || req->path[0] != '/' ||
      req->payload_hash == NULL || key->access_key_id == NULL ||
      key->secret_access_key == NULL || key->region == NULL || key->service == NULL ||
      key->amz_date == NULL || strlen(key->amz_date) != SQ_SIGV4_DATE_LEN - 1) {
    rc = sq_err_set(err, SQ_EINVAL, "sigv4: incomplete request or key");
    goto out;
  }
  if (req->n_headers > MAX_PAIRS || req->n_query > MAX_PAIRS) {
    rc = sq_err_set(err, SQ_EINVAL, "sigv4: too many headers or parameters");
    goto out;
  }
  for (; nh < req->n_headers; nh++) {
    hdrs[nh].name = hdrs[nh].value = NULL;
    if (canonical_header(&req->headers[nh], &hdrs[nh]) != SQ_OK) {
      nh++;
      goto nomem;
    }
    if (strcmp(hdrs[nh].name, "host") == 0) have_host = true;
    if (strcmp(hdrs[nh].name, "x-amz-date") == 0) have_date = true;
  }
  if (!have_host || !have_date) {
    rc = sq_err_set(err, SQ_EINVAL, "sigv4: host and x-amz-date must be signed");
    goto out;
  }
  qsort(hdrs, nh, sizeof hdrs[0], cmp_pair);
  for (size_t i = 0; i < nh; i++) {
    if (i > 0 && strcmp(hdrs[i].name, hdrs[i - 1].name) == 0) {
      rc = sq_err_set(err, SQ_EINVAL, "sigv4: header %.64s given twice", hdrs[i].name);
      goto out;
    }
    if ((i > 0 && sq_buf_add(&signed_names, ";", 1) != SQ_OK) ||
        sq_buf_adds(&signed_names, hdrs[i].name) != SQ_OK)
      goto nomem;
  }

  /* 1. Canonical request. */
  {
    sq_buf *c = &out->canonical_request;
    if (sq_buf_printf(c, "%s\n", req->method) != SQ_OK ||
        sq_sigv4_encode_path(c, req->path) != SQ_OK || sq_buf_add(c, "\n", 1) != SQ_OK ||
        sq_sigv4_canonical_query(c, req->query, req->n_query) != SQ_OK ||
        sq_buf_add(c, "\n", 1) != SQ_OK)
      goto nomem;
    for (size_t i = 0; i < nh; i++)
      if (sq_buf_printf(c, "%s:%s\n", hdrs[i].name, hdrs[i].value) != SQ_OK) goto nomem;
    if (sq_buf_printf(c, "\n%s\n%s", sq_buf_str(&signed_names), req->payload_hash) != SQ_OK)
      goto nomem;
  }
  /* 2. String to sign. */
  memcpy(date8, key->amz_date, 8);
  date8[8] = '\0';
  if (!sq_sigv4_sha256_hex(out->canonical_request.data, out->canonical_request.len,
                           creq_hash)) {
    rc = sq_err_set(err, SQ_EINTERNAL, "sigv4: SHA-256 failed");
    goto out;
  }
  if (sq_buf_printf(&out->string_to_sign, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s",
                    key->amz_date, date8, key->region, key->service, creq_hash) != SQ_OK)
    goto nomem;
  /* 3 and 4. Signing key and signature. */
  if (!compute_signature(key, date8, &out->string_to_sign, out->signature)) {
    rc = sq_err_set(err, SQ_EINTERNAL, "sigv4: HMAC failed (secret key too long?)");
    goto out;
  }
  if (sq_buf_printf(&out->authorization,
                    "AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request,"
                    "SignedHeaders=%s,Signature=%s",
                    key->access_key_id, date8, key->region, key->service,
                    sq_buf_str(&signed_names), out->signature) != SQ_OK)
    goto nomem;
  rc = SQ_OK;
  goto out;
nomem:
  rc = sq_err_set(err, SQ_ENOMEM, "sigv4: out of memory");
out:
  for (size_t i = 0; i < nh; i++) {
    if (hdrs[i].value) OPENSSL_cleanse(hdrs[i].value, strlen(hdrs[i].value));
  }
  free_pairs(hdrs, nh);
  sq_buf_free(&signed_names);
  if (rc != SQ_OK) sq_sigv4_result_free(out);
  return rc;
}
