/* aws_credentials.c - see aws_credentials.h.
 *
 * The container endpoint answers GET <url> (with "Authorization: <token>"
 * when a token is configured) with a JSON object. A fetch is tried up to
 * FETCH_ATTEMPTS times with short timeouts, as the SDKs do: the endpoint is
 * local to the task and either answers fast or not at all.
 */
#include "exporter/aws_credentials.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"

#define FETCH_ATTEMPTS 3
#define FETCH_CONNECT_MS 2000L
#define FETCH_TIMEOUT_MS 5000L
#define TOKEN_MAX 16384
#define URL_MAX 2048

typedef enum source_kind { SOURCE_ENV, SOURCE_CONTAINER } source_kind;

struct sq_aws_credential_source {
  source_kind kind;
  sq_aws_credentials creds; /* cached; access_key_id == NULL: none */
  char *url;                /* container */
  char *token;              /* container, fixed token */
  char *token_file;         /* container, token re-read at each fetch */
  char description[96];
};

static bool set(const char *s) { return s != NULL && s[0] != '\0'; }

static void wipe_free(char *s) {
  if (s == NULL) return;
  explicit_bzero(s, strlen(s));
  free(s);
}

void sq_aws_credentials_clear(sq_aws_credentials *c) {
  wipe_free(c->access_key_id);
  wipe_free(c->secret_access_key);
  wipe_free(c->session_token);
  memset(c, 0, sizeof *c);
}

void sq_aws_credential_env_read(sq_aws_credential_env *e) {
  e->access_key_id = getenv("AWS_ACCESS_KEY_ID");
  e->secret_access_key = getenv("AWS_SECRET_ACCESS_KEY");
  e->session_token = getenv("AWS_SESSION_TOKEN");
  e->container_relative_uri = getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
  e->container_full_uri = getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
  e->container_token = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN");
  e->container_token_file = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
}

bool sq_aws_parse_time(const char *s, time_t *out) {
  struct tm tm;
  int y, mo, d, h, mi, sec, n = 0;
  const char *p;
  time_t t;
  if (s == NULL || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 ||
      n != 19)
    return false;
  p = s + n;
  if (*p == '.')
    for (p++; *p >= '0' && *p <= '9'; p++) continue;
  if (!(strcmp(p, "Z") == 0 || strcmp(p, "+00:00") == 0 || strcmp(p, "+0000") == 0))
    return false;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return false;
  memset(&tm, 0, sizeof tm);
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  t = timegm(&tm);
  if (t == (time_t)-1) return false;
  *out = t;
  return true;
}

bool sq_aws_credentials_expiring(const sq_aws_credentials *c, time_t now) {
  if (c->access_key_id == NULL) return true;
  return c->expiration != 0 && now >= c->expiration - SQ_AWS_REFRESH_BEFORE;
}

static char *dup_field(const cJSON *root, const char *name) {
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, name);
  if (!cJSON_IsString(it) || it->valuestring == NULL || it->valuestring[0] == '\0') return NULL;
  /* A value that would break a header line is no credential. */
  if (strpbrk(it->valuestring, "\r\n") != NULL) return NULL;
  return strdup(it->valuestring);
}

sq_errcode sq_aws_credentials_parse(const char *json, size_t len, sq_aws_credentials *out,
                                    sq_err *err) {
  cJSON *root = cJSON_ParseWithLength(json, len);
  const cJSON *exp;
  sq_errcode rc = SQ_ESTORAGE;

  memset(out, 0, sizeof *out);
  if (!cJSON_IsObject(root)) {
    sq_err_set(err, SQ_ESTORAGE, "container credentials: the answer is not a JSON object");
    goto out;
  }
  out->access_key_id = dup_field(root, "AccessKeyId");
  out->secret_access_key = dup_field(root, "SecretAccessKey");
  out->session_token = dup_field(root, "Token");
  if (out->access_key_id == NULL || out->secret_access_key == NULL) {
    sq_err_set(err, SQ_ESTORAGE,
               "container credentials: AccessKeyId or SecretAccessKey missing or invalid");
    goto out;
  }
  exp = cJSON_GetObjectItemCaseSensitive(root, "Expiration");
  if (exp != NULL && !cJSON_IsNull(exp) &&
      !(cJSON_IsString(exp) && sq_aws_parse_time(exp->valuestring, &out->expiration))) {
    sq_err_set(err, SQ_ESTORAGE, "container credentials: Expiration is not an ISO 8601 UTC time");
    goto out;
  }
  rc = SQ_OK;
out:
  if (rc != SQ_OK) sq_aws_credentials_clear(out);
  if (root) {
    /* The parsed tree holds the secret too. */
    cJSON *f = cJSON_GetObjectItemCaseSensitive(root, "SecretAccessKey");
    if (cJSON_IsString(f) && f->valuestring) explicit_bzero(f->valuestring, strlen(f->valuestring));
    f = cJSON_GetObjectItemCaseSensitive(root, "Token");
    if (cJSON_IsString(f) && f->valuestring) explicit_bzero(f->valuestring, strlen(f->valuestring));
    cJSON_Delete(root);
  }
  return rc;
}

/* Host part of an http(s) URL into host (brackets of IPv6 removed). */
static bool url_host(const char *url, bool *https, char *host, size_t cap) {
  const char *p, *end;
  size_t n;
  if (strncmp(url, "https://", 8) == 0) {
    *https = true;
    p = url + 8;
  } else if (strncmp(url, "http://", 7) == 0) {
    *https = false;
    p = url + 7;
  } else {
    return false;
  }
  end = p + strcspn(p, "/?#");
  if (memchr(p, '@', (size_t)(end - p)) != NULL) return false; /* no userinfo */
  if (*p == '[') {
    const char *close = memchr(p, ']', (size_t)(end - p));
    if (close == NULL) return false;
    p++;
    end = close;
  } else {
    const char *colon = memchr(p, ':', (size_t)(end - p));
    if (colon) end = colon;
  }
  n = (size_t)(end - p);
  if (n == 0 || n >= cap) return false;
  memcpy(host, p, n);
  host[n] = '\0';
  return true;
}

sq_errcode sq_aws_container_url_check(const char *url, sq_err *err) {
  char host[256];
  bool https;
  int a, b, c, d, n = 0;
  if (url == NULL || !url_host(url, &https, host, sizeof host))
    return sq_err_set(err, SQ_ECONFIG,
                      "AWS_CONTAINER_CREDENTIALS_FULL_URI is not an http(s) URL with a host");
  if (https) return SQ_OK;
  if (strcasecmp(host, "localhost") == 0 || strcmp(host, "::1") == 0 ||
      strcmp(host, "169.254.170.2") == 0 || strcmp(host, "169.254.170.23") == 0 ||
      strcasecmp(host, "fd00:ec2::23") == 0)
    return SQ_OK;
  if (sscanf(host, "%3d.%3d.%3d.%3d%n", &a, &b, &c, &d, &n) == 4 && host[n] == '\0' &&
      a == 127 && b >= 0 && b <= 255 && c >= 0 && c <= 255 && d >= 0 && d <= 255)
    return SQ_OK;
  return sq_err_set(err, SQ_ECONFIG,
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI: plain http is allowed only to a "
                    "loopback address or the container credentials host, not %.100s",
                    host);
}

sq_aws_credential_source *sq_aws_credentials_open(const sq_aws_credential_env *env,
                                                  sq_err *err) {
  sq_aws_credential_source *s = calloc(1, sizeof *s);
  sq_aws_credential_source *result = NULL;
  sq_buf b;

  sq_buf_init(&b, URL_MAX);
  if (s == NULL) goto nomem;
  if (set(env->access_key_id) || set(env->secret_access_key)) {
    if (!set(env->access_key_id) || !set(env->secret_access_key)) {
      sq_err_set(err, SQ_ECONFIG,
                 "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together");
      goto out;
    }
    if (strpbrk(env->access_key_id, "\r\n/ ") || strpbrk(env->secret_access_key, "\r\n") ||
        (set(env->session_token) && strpbrk(env->session_token, "\r\n"))) {
      sq_err_set(err, SQ_ECONFIG, "AWS credentials in the environment contain invalid characters");
      goto out;
    }
    s->kind = SOURCE_ENV;
    s->creds.access_key_id = strdup(env->access_key_id);
    s->creds.secret_access_key = strdup(env->secret_access_key);
    if (set(env->session_token)) s->creds.session_token = strdup(env->session_token);
    if (s->creds.access_key_id == NULL || s->creds.secret_access_key == NULL ||
        (set(env->session_token) && s->creds.session_token == NULL))
      goto nomem;
    snprintf(s->description, sizeof s->description, "environment (AWS_ACCESS_KEY_ID)");
  } else if (set(env->container_relative_uri) || set(env->container_full_uri)) {
    char host[256];
    bool https;
    s->kind = SOURCE_CONTAINER;
    if (set(env->container_relative_uri)) {
      if (env->container_relative_uri[0] != '/') {
        sq_err_set(err, SQ_ECONFIG, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI must start with '/'");
        goto out;
      }
      if (sq_buf_printf(&b, "http://" SQ_AWS_CONTAINER_HOST "%s",
                        env->container_relative_uri) != SQ_OK)
        goto too_long;
    } else {
      if (sq_aws_container_url_check(env->container_full_uri, err) != SQ_OK) goto out;
      if (sq_buf_adds(&b, env->container_full_uri) != SQ_OK) goto too_long;
    }
    if (strpbrk(sq_buf_str(&b), " \r\n") != NULL) {
      sq_err_set(err, SQ_ECONFIG, "the container credentials URL contains blanks");
      goto out;
    }
    if ((s->url = sq_buf_take(&b)) == NULL) goto nomem;
    if (set(env->container_token_file)) {
      if ((s->token_file = strdup(env->container_token_file)) == NULL) goto nomem;
    } else if (set(env->container_token)) {
      if (strpbrk(env->container_token, "\r\n")) {
        sq_err_set(err, SQ_ECONFIG, "AWS_CONTAINER_AUTHORIZATION_TOKEN contains a line break");
        goto out;
      }
      if ((s->token = strdup(env->container_token)) == NULL) goto nomem;
    }
    if (!url_host(s->url, &https, host, sizeof host)) snprintf(host, sizeof host, "?");
    snprintf(s->description, sizeof s->description, "container endpoint %.60s", host);
  } else {
    sq_err_set(err, SQ_ECONFIG,
               "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run "
               "where AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or _FULL_URI is set (ECS task role)");
    goto out;
  }
  result = s;
  s = NULL;
  goto out;
too_long:
  sq_err_set(err, SQ_ECONFIG, "the container credentials URL is too long");
  goto out;
nomem:
  sq_err_set(err, SQ_ENOMEM, "AWS credentials: out of memory");
out:
  sq_aws_credentials_free(s);
  sq_buf_free(&b);
  return result;
}

void sq_aws_credentials_free(sq_aws_credential_source *s) {
  if (s == NULL) return;
  sq_aws_credentials_clear(&s->creds);
  free(s->url);
  wipe_free(s->token);
  free(s->token_file);
  free(s);
}

const char *sq_aws_credentials_describe(const sq_aws_credential_source *s) {
  return s ? s->description : "(none)";
}

bool sq_aws_credentials_invalidate(sq_aws_credential_source *s) {
  if (s == NULL || s->kind == SOURCE_ENV) return false;
  sq_aws_credentials_clear(&s->creds);
  return true;
}

/* The token file's content, trimmed, into *out (malloc'd). */
static sq_errcode read_token_file(const char *path, char **out, sq_err *err) {
  FILE *f = fopen(path, "rb");
  char *buf = NULL;
  size_t n;
  sq_errcode rc = SQ_EIO;
  char ebuf[128];
  if (f == NULL)
    return sq_err_set(err, SQ_EIO, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE %.200s: %s", path,
                      strerror_r(errno, ebuf, sizeof ebuf));
  buf = malloc(TOKEN_MAX + 1);
  if (buf == NULL) {
    rc = sq_err_set(err, SQ_ENOMEM, "out of memory");
    goto out;
  }
  n = fread(buf, 1, TOKEN_MAX + 1, f);
  if (ferror(f) || n > TOKEN_MAX) {
    sq_err_set(err, SQ_EIO, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE %.200s: %s", path,
               ferror(f) ? "read error" : "larger than 16 KiB");
    goto out;
  }
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ')) n--;
  buf[n] = '\0';
  if (n == 0 || memchr(buf, '\n', n) || memchr(buf, '\r', n)) {
    sq_err_set(err, SQ_EIO, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE %.200s: %s", path,
               n == 0 ? "empty" : "more than one line");
    goto out;
  }
  *out = buf;
  buf = NULL;
  rc = SQ_OK;
out:
  if (buf) {
    explicit_bzero(buf, TOKEN_MAX + 1);
    free(buf);
  }
  fclose(f);
  return rc;
}

static sq_errcode fetch_container(sq_aws_credential_source *s, sq_http *http,
                                  sq_aws_credentials *fresh, sq_err *err) {
  sq_http_response resp;
  sq_http_request req;
  sq_buf auth;
  char *file_token = NULL;
  const char *token = s->token;
  const char *headers[3] = {"Accept: application/json", NULL, NULL};
  sq_errcode rc = SQ_ESTORAGE;

  sq_http_response_init(&resp);
  sq_buf_init(&auth, TOKEN_MAX + 32);
  if (s->token_file) {
    if ((rc = read_token_file(s->token_file, &file_token, err)) != SQ_OK) goto out;
    token = file_token;
  }
  if (token) {
    if (sq_buf_printf(&auth, "Authorization: %s", token) != SQ_OK) {
      rc = sq_err_set(err, SQ_ENOMEM, "out of memory");
      goto out;
    }
    headers[1] = sq_buf_str(&auth);
  }
  memset(&req, 0, sizeof req);
  req.method = "GET";
  req.url = s->url;
  req.headers = headers;
  req.connect_timeout_ms = FETCH_CONNECT_MS;
  req.timeout_ms = FETCH_TIMEOUT_MS;
  for (int attempt = 1; attempt <= FETCH_ATTEMPTS; attempt++) {
    sq_err e;
    if (attempt > 1) sq_sleep_ms(200L * (attempt - 1));
    rc = sq_http_perform(http, &req, &resp, &e);
    if (rc != SQ_OK) {
      rc = sq_err_set(err, SQ_ESTORAGE, "fetching credentials from the %s: %s", s->description,
                      e.msg);
      continue;
    }
    if (resp.status >= 200 && resp.status < 300) {
      rc = sq_aws_credentials_parse(resp.body.data ? resp.body.data : "", resp.body.len, fresh,
                                    err);
      if (rc == SQ_OK) break;
      continue;
    }
    if (resp.status >= 400 && resp.status < 500 && resp.status != 429) {
      rc = sq_err_set(err, SQ_ESTORAGE_DENIED,
                      "the %s refused to give credentials (HTTP %ld): check the task role "
                      "and the authorization token",
                      s->description, resp.status);
      break;
    }
    rc = sq_err_set(err, SQ_ESTORAGE, "the %s answered HTTP %ld", s->description, resp.status);
  }
out:
  if (resp.body.data) explicit_bzero(resp.body.data, resp.body.cap);
  sq_http_response_free(&resp);
  if (auth.data) explicit_bzero(auth.data, auth.cap);
  sq_buf_free(&auth);
  wipe_free(file_token);
  return rc;
}

sq_errcode sq_aws_credentials_get(sq_aws_credential_source *s, sq_http *http, time_t now,
                                  const sq_aws_credentials **out, sq_err *err) {
  sq_aws_credentials fresh;
  sq_errcode rc;
  if (s->kind == SOURCE_ENV || !sq_aws_credentials_expiring(&s->creds, now)) {
    *out = &s->creds;
    return SQ_OK;
  }
  rc = fetch_container(s, http, &fresh, err);
  if (rc != SQ_OK) {
    /* Keys that are still valid for a while beat no keys. */
    if (s->creds.access_key_id != NULL && now + 30 < s->creds.expiration) {
      SQ_WARN("AWS credentials not refreshed, using the current ones until they expire: %s",
              err ? err->msg : sq_strerror(rc));
      *out = &s->creds;
      return SQ_OK;
    }
    return rc;
  }
  if (fresh.expiration != 0 && fresh.expiration <= now)
    SQ_WARN("the %s gave credentials that have already expired (clock skew?)", s->description);
  sq_aws_credentials_clear(&s->creds);
  s->creds = fresh;
  SQ_DEBUG("AWS credentials fetched from the %s", s->description);
  *out = &s->creds;
  return SQ_OK;
}
