/* retry_rules.c - see retry_rules.h. */
#include "core/retry_rules.h"

#include <string.h>

static bool pattern_char_ok(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

sq_errcode sq_retry_rules_parse(const char *text, sq_retry_rules *out,
                                sq_err *err) {
  const char *p = text;
  memset(out, 0, sizeof *out);
  if (p && *p == '\0') p = NULL;
  while (p) {
    const char *end = strchr(p, ','), *eq;
    size_t len = end ? (size_t)(end - p) : strlen(p);
    size_t plen;
    sq_retry_rule *r;
    while (len > 0 && *p == ' ') p++, len--;
    eq = memchr(p, '=', len);
    if (eq == NULL)
      return sq_err_set(err, SQ_ECONFIG, "retry_rules: \"%.*s\" is not PATTERN=retry|fail",
                        (int)len, p);
    if (out->n == SQ_RETRY_RULES_MAX)
      return sq_err_set(err, SQ_ECONFIG, "retry_rules: at most %d rules", SQ_RETRY_RULES_MAX);
    r = &out->rules[out->n];
    plen = (size_t)(eq - p);
    if (plen > 0 && p[plen - 1] == '*') {
      r->prefix = true;
      plen--;
    }
    if (plen >= sizeof r->pattern || (plen == 0 && !r->prefix))
      return sq_err_set(err, SQ_ECONFIG, "retry_rules: bad pattern in \"%.*s\"", (int)len, p);
    for (size_t i = 0; i < plen; i++)
      if (!pattern_char_ok(p[i]))
        return sq_err_set(err, SQ_ECONFIG,
                          "retry_rules: pattern \"%.*s\" may hold only a-z, 0-9, _ and a final *",
                          (int)(eq - p), p);
    memcpy(r->pattern, p, plen);
    r->pattern[plen] = '\0';
    if (!r->prefix && sq_errcode_from_name(r->pattern) == SQ_EINTERNAL &&
        strcmp(r->pattern, "internal") != 0)
      return sq_err_set(err, SQ_ECONFIG, "retry_rules: no error is called \"%s\"", r->pattern);
    len -= (size_t)(eq + 1 - p);
    if (len == 5 && strncmp(eq + 1, "retry", 5) == 0)
      r->retry = true;
    else if (len == 4 && strncmp(eq + 1, "fail", 4) == 0)
      r->retry = false;
    else
      return sq_err_set(err, SQ_ECONFIG, "retry_rules: action after \"%s=\" must be retry or fail",
                        r->pattern);
    out->n++;
    p = end ? end + 1 : NULL;
  }
  return SQ_OK;
}

bool sq_retry_rules_allow(const sq_retry_rules *rules, sq_errcode code) {
  const char *name = sq_errname(code);
  for (int i = 0; rules && i < rules->n; i++) {
    const sq_retry_rule *r = &rules->rules[i];
    size_t plen = strlen(r->pattern);
    if (r->prefix ? strncmp(name, r->pattern, plen) == 0 : strcmp(name, r->pattern) == 0)
      return r->retry;
  }
  return sq_error_is_temporary(code);
}
