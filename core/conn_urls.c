/* conn_urls.c - see conn_urls.h. */
#include "core/conn_urls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/buf.h"
#include "core/db.h"
#include "core/log.h"

#define URL_MAX (64u << 10)

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

char *sq_url_decode(const char *s, size_t len) {
  char *out = malloc(len + 1);
  size_t o = 0;
  if (out == NULL) return NULL;
  for (size_t i = 0; i < len; i++) {
    if (s[i] == '%') {
      int hi, lo;
      if (i + 2 >= len) goto bad;
      hi = hexval((unsigned char)s[i + 1]);
      lo = hexval((unsigned char)s[i + 2]);
      if (hi < 0 || lo < 0) goto bad;
      out[o++] = (char)(hi * 16 + lo);
      i += 2;
    } else {
      out[o++] = s[i];
    }
  }
  out[o] = '\0';
  return out;
bad:
  free(out);
  return NULL;
}

static sq_errcode add_encoded(sq_buf *b, const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  sq_errcode rc = SQ_OK;
  for (; *s && rc == SQ_OK; s++) {
    unsigned char c = (unsigned char)*s;
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
        c == '-' || c == '.' || c == '_' || c == '~') {
      rc = sq_buf_add(b, s, 1);
    } else {
      char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
      rc = sq_buf_add(b, esc, 3);
    }
  }
  return rc;
}

/* The authority of scheme://authority[/...][?...]: [*start, *end). */
static bool authority(const char *url, const char **start, const char **end) {
  const char *p = strstr(url, "://");
  if (p == NULL) return false;
  *start = p + 3;
  *end = *start + strcspn(*start, "/?");
  return true;
}

/* The last '@' of the authority (a password may hold a raw '@'), or NULL. */
static const char *userinfo_end(const char *start, const char *end) {
  const char *at = NULL;
  for (const char *p = start; p < end; p++)
    if (*p == '@') at = p;
  return at;
}

bool sq_url_has_password(const char *url) {
  const char *start, *end, *at;
  if (url == NULL || !authority(url, &start, &end)) return false;
  at = userinfo_end(start, end);
  return at != NULL && memchr(start, ':', (size_t)(at - start)) != NULL;
}

sq_errcode sq_url_set_password(const char *url, const char *password,
                               const char *default_user, char **out, sq_err *err) {
  const char *start, *end, *at, *user_end = NULL;
  sq_buf b;
  sq_errcode rc;
  *out = NULL;
  if (url == NULL || !authority(url, &start, &end))
    return sq_err_set(err, SQ_ECONFIG, "URL has no scheme:// part");
  at = userinfo_end(start, end);
  if (at) {
    user_end = memchr(start, ':', (size_t)(at - start));
    if (user_end == NULL) user_end = at;
  }
  sq_buf_init(&b, URL_MAX);
  rc = sq_buf_add(&b, url, (size_t)(start - url));
  if (rc == SQ_OK && user_end && user_end > start)
    rc = sq_buf_add(&b, start, (size_t)(user_end - start));
  else if (rc == SQ_OK && default_user) rc = sq_buf_adds(&b, default_user);
  if (rc == SQ_OK) rc = sq_buf_adds(&b, ":");
  if (rc == SQ_OK) rc = add_encoded(&b, password);
  if (rc == SQ_OK) rc = sq_buf_adds(&b, "@");
  if (rc == SQ_OK) rc = sq_buf_adds(&b, at ? at + 1 : start);
  if (rc != SQ_OK || (*out = sq_buf_take(&b)) == NULL) {
    sq_buf_free(&b);
    return sq_err_set(err, SQ_ENOMEM, "URL too long or out of memory");
  }
  return SQ_OK;
}

sq_errcode sq_url_set_param(const char *url, const char *key, const char *value,
                            char **out, sq_err *err) {
  const char *start, *end, *q, *p;
  size_t klen = strlen(key);
  bool replaced = false;
  sq_buf b;
  sq_errcode rc;
  *out = NULL;
  if (url == NULL || !authority(url, &start, &end))
    return sq_err_set(err, SQ_ECONFIG, "URL has no scheme:// part");
  q = strchr(end, '?');
  sq_buf_init(&b, URL_MAX);
  rc = sq_buf_add(&b, url, q ? (size_t)(q - url) : strlen(url));
  for (p = q; rc == SQ_OK && p && *p; ) {
    const char *kv = p + 1, *amp = strchr(kv, '&');
    size_t kvlen = amp ? (size_t)(amp - kv) : strlen(kv);
    rc = sq_buf_adds(&b, p == q ? "?" : "&");
    if (rc == SQ_OK && kvlen > klen && strncmp(kv, key, klen) == 0 && kv[klen] == '=') {
      if (!replaced) {
        rc = sq_buf_printf(&b, "%s=", key);
        if (rc == SQ_OK) rc = add_encoded(&b, value);
        replaced = true;
      } else {
        b.len--; /* a repeated key: drop it and its separator */
        b.data[b.len] = '\0';
      }
    } else if (rc == SQ_OK) {
      rc = sq_buf_add(&b, kv, kvlen);
    }
    p = amp;
  }
  if (rc == SQ_OK && !replaced) {
    rc = sq_buf_printf(&b, "%s%s=", q ? "&" : "?", key);
    if (rc == SQ_OK) rc = add_encoded(&b, value);
  }
  if (rc != SQ_OK || (*out = sq_buf_take(&b)) == NULL) {
    sq_buf_free(&b);
    return sq_err_set(err, SQ_ENOMEM, "URL too long or out of memory");
  }
  return SQ_OK;
}

sq_errcode sq_password_file_read(const char *path, char **out, sq_err *err) {
  char *text = NULL;
  size_t len;
  struct stat st;
  FILE *f;
  sq_errcode rc = SQ_ECONFIG;
  *out = NULL;
  if ((f = fopen(path, "rb")) == NULL)
    return sq_err_set(err, SQ_ECONFIG, "cannot open password file %s: %s", path,
                      strerror(errno));
  if (fstat(fileno(f), &st) == 0 && (st.st_mode & 0077))
    SQ_WARN("password file %s can be read by other users (mode %03o); chmod 600 it",
            path, (unsigned)(st.st_mode & 0777));
  if ((text = malloc(SQ_PASSWORD_FILE_MAX + 2)) == NULL) {
    rc = sq_err_set(err, SQ_ENOMEM, "out of memory");
    goto out;
  }
  len = fread(text, 1, SQ_PASSWORD_FILE_MAX + 1, f);
  if (ferror(f)) {
    sq_err_set(err, SQ_ECONFIG, "cannot read password file %s: %s", path, strerror(errno));
    goto out;
  }
  if (len > SQ_PASSWORD_FILE_MAX) {
    sq_err_set(err, SQ_ECONFIG, "password file %s is larger than %d bytes", path,
               SQ_PASSWORD_FILE_MAX);
    goto out;
  }
  while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r')) len--;
  text[len] = '\0';
  if (len == 0 || memchr(text, '\0', len) != NULL) {
    sq_err_set(err, SQ_ECONFIG, "password file %s is empty or holds a NUL byte", path);
    goto out;
  }
  *out = text;
  text = NULL;
  rc = SQ_OK;
out:
  if (text) {
    memset(text, 0, SQ_PASSWORD_FILE_MAX + 2);
    free(text);
  }
  fclose(f);
  return rc;
}

/* The password of one URL: file setting, then variable, then the URL's. */
static sq_errcode apply_password(char **url, const char *file, const char *env_name,
                                 const char *default_user, sq_err *err) {
  const char *env = getenv(env_name);
  char *password = NULL, *next = NULL;
  sq_errcode rc;
  if (file && file[0]) {
    if ((rc = sq_password_file_read(file, &password, err)) != SQ_OK) return rc;
  } else if (env && env[0]) {
    if ((password = strdup(env)) == NULL) return sq_err_set(err, SQ_ENOMEM, "out of memory");
  } else {
    return SQ_OK;
  }
  rc = sq_url_set_password(*url, password, default_user, &next, err);
  memset(password, 0, strlen(password));
  free(password);
  if (rc != SQ_OK) return rc;
  free(*url);
  *url = next;
  return SQ_OK;
}

sq_errcode sq_conn_urls_apply(sq_config *c, sq_err *err) {
  sq_errcode rc;
  char *next = NULL;
  if ((rc = apply_password(&c->mysql_url, c->mysql_password_file, "SHEETQ_MYSQL_PASSWORD",
                           "root", err)) != SQ_OK ||
      (rc = apply_password(&c->redis_url, c->redis_password_file, "SHEETQ_REDIS_PASSWORD",
                           NULL, err)) != SQ_OK)
    return rc;
  if (c->mysql_ssl_mode && c->mysql_ssl_mode[0]) {
    sq_db_ssl_mode mode;
    if (!sq_db_ssl_mode_parse(c->mysql_ssl_mode, strlen(c->mysql_ssl_mode), &mode))
      return sq_err_set(err, SQ_ECONFIG,
                        "mysql_ssl_mode must be disabled, preferred, required, verify-ca "
                        "or verify-identity, not \"%.32s\"", c->mysql_ssl_mode);
    if ((rc = sq_url_set_param(c->mysql_url, "ssl-mode", c->mysql_ssl_mode, &next, err)) != SQ_OK)
      return rc;
    free(c->mysql_url);
    c->mysql_url = next;
  }
  if (c->mysql_ssl_ca && c->mysql_ssl_ca[0]) {
    if ((rc = sq_url_set_param(c->mysql_url, "ssl-ca", c->mysql_ssl_ca, &next, err)) != SQ_OK)
      return rc;
    free(c->mysql_url);
    c->mysql_url = next;
  }
  return SQ_OK;
}
