/* object_key.c - see object_key.h.
 *
 * The template is walked once per call; templates are a few dozen bytes and
 * one key is built per job, so nothing is precompiled. Checking a template
 * means walking it for syntax and then expanding it with sample values and
 * checking the resulting key, so both functions share one walker.
 */
#include "exporter/object_key.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

typedef enum key_var {
  VAR_TENANT_ID,
  VAR_REPORT_ID,
  VAR_PERIOD,
  VAR_YEAR,
  VAR_MONTH,
  VAR_JOB_ID,
  VAR__COUNT
} key_var;

static const char *const var_names[VAR__COUNT] = {
    "tenant_id", "report_id", "period", "year", "month", "job_id"};

static bool literal_ok(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
         c == '=' || c == '+' || c == '/';
}

/* Appends n bytes to out[*len]; false when the key would be too long. */
static bool append(char *out, size_t *len, const char *s, size_t n) {
  if (n >= SQ_OBJECT_KEY_MAX - *len) return false;
  memcpy(out + *len, s, n);
  *len += n;
  out[*len] = '\0';
  return true;
}

/* Walks tmpl: syntax errors are SQ_ECONFIG. When vars is non-NULL, expands
 * into out (SQ_EINVAL when too long or job_id is missing). used[] records
 * which variables appear. */
static sq_errcode walk(const char *tmpl, const sq_object_key_vars *vars,
                       char out[SQ_OBJECT_KEY_MAX], bool used[VAR__COUNT],
                       sq_err *err) {
  size_t len = 0;
  const char *p = tmpl;

  out[0] = '\0';
  if (tmpl == NULL || tmpl[0] == '\0')
    return sq_err_set(err, SQ_ECONFIG, "object key template is empty");
  while (*p) {
    const char *close;
    size_t name_len;
    key_var v;
    char val[64];
    const char *text;

    if (*p == '}')
      return sq_err_set(err, SQ_ECONFIG,
                        "object key template \"%.200s\": unbalanced \"}\" at "
                        "offset %zu", tmpl, (size_t)(p - tmpl));
    if (*p != '{') {
      if (!literal_ok(*p))
        return sq_err_set(err, SQ_ECONFIG,
                          "object key template \"%.200s\": character 0x%02x "
                          "at offset %zu is not allowed (use A-Z a-z 0-9 - _ "
                          ". = + /)",
                          tmpl, (unsigned char)*p, (size_t)(p - tmpl));
      if (vars && !append(out, &len, p, 1)) goto too_long;
      p++;
      continue;
    }
    close = strpbrk(p + 1, "{}");
    if (close == NULL || *close != '}')
      return sq_err_set(err, SQ_ECONFIG,
                        "object key template \"%.200s\": unbalanced \"{\" at "
                        "offset %zu", tmpl, (size_t)(p - tmpl));
    name_len = (size_t)(close - p - 1);
    for (v = 0; v < VAR__COUNT; v++)
      if (strlen(var_names[v]) == name_len &&
          memcmp(var_names[v], p + 1, name_len) == 0)
        break;
    if (v == VAR__COUNT)
      return sq_err_set(err, SQ_ECONFIG,
                        "object key template \"%.200s\": unknown variable "
                        "{%.*s} (known: {tenant_id} {report_id} {period} "
                        "{year} {month} {job_id})",
                        tmpl, (int)(name_len > 64 ? 64 : name_len), p + 1);
    used[v] = true;
    p = close + 1;
    if (vars == NULL) continue;
    text = val;
    switch (v) {
      case VAR_TENANT_ID:
        snprintf(val, sizeof val, "%" PRIu64, vars->tenant_id);
        break;
      case VAR_REPORT_ID:
        snprintf(val, sizeof val, "%" PRIu64, vars->report_id);
        break;
      case VAR_PERIOD:
        sq_period_format(vars->period, val);
        break;
      case VAR_YEAR:
        snprintf(val, sizeof val, "%04d", vars->period.year % 10000);
        break;
      case VAR_MONTH:
        snprintf(val, sizeof val, "%02d", vars->period.month % 100);
        break;
      case VAR_JOB_ID:
      default:
        if (vars->job_id == NULL)
          return sq_err_set(err, SQ_EINVAL,
                            "object key template uses {job_id} but no job id "
                            "was given");
        text = vars->job_id;
        break;
    }
    if (!append(out, &len, text, strlen(text))) goto too_long;
  }
  return SQ_OK;
too_long:
  out[0] = '\0';
  return sq_err_set(err, SQ_EINVAL, "object key would exceed %d bytes",
                    SQ_OBJECT_KEY_MAX - 1);
}

sq_errcode sq_object_key_check(const char *key, sq_err *err) {
  size_t seg = 0, len;

  if (key == NULL || key[0] == '\0')
    return sq_err_set(err, SQ_EINVAL, "object key is empty");
  len = strlen(key);
  if (len >= SQ_OBJECT_KEY_MAX)
    return sq_err_set(err, SQ_EINVAL, "object key is longer than %d bytes",
                      SQ_OBJECT_KEY_MAX - 1);
  if (key[0] == '/')
    return sq_err_set(err, SQ_EINVAL, "object key \"%.200s\" starts with \"/\"",
                      key);
  for (size_t i = 0; i <= len; i++) {
    unsigned char c = (unsigned char)key[i];
    if (c == '\\' || (c < 0x20 && c != '\0') || c == 0x7F)
      return sq_err_set(err, SQ_EINVAL,
                        "object key \"%.200s\": byte 0x%02x at offset %zu is "
                        "not allowed", key, c, i);
    if (c == '/' || c == '\0') {
      size_t n = i - seg;
      if (n == 0 || (n == 1 && key[seg] == '.') ||
          (n == 2 && key[seg] == '.' && key[seg + 1] == '.'))
        return sq_err_set(err, SQ_EINVAL,
                          "object key \"%.200s\": empty, \".\" or \"..\" "
                          "segment at offset %zu", key, seg);
      seg = i + 1;
    }
  }
  return SQ_OK;
}

sq_errcode sq_object_key_template_check(const char *tmpl, sq_err *err) {
  static const sq_object_key_vars sample = {
      .tenant_id = 1, .report_id = 2, .period = {2024, 1}, .job_id = "job"};
  char key[SQ_OBJECT_KEY_MAX];
  bool used[VAR__COUNT] = {false};
  sq_err walk_err, key_err;

  /* Expanding with sample values also catches templates too long for any
   * key; every problem is a configuration error here. */
  if (walk(tmpl, &sample, key, used, &walk_err) != SQ_OK)
    return sq_err_set(err, SQ_ECONFIG, "%s", walk_err.msg);
  if (!used[VAR_JOB_ID] &&
      !(used[VAR_REPORT_ID] &&
        (used[VAR_PERIOD] || (used[VAR_YEAR] && used[VAR_MONTH]))))
    return sq_err_set(err, SQ_ECONFIG,
                      "object key template \"%.200s\" does not make keys "
                      "unique per export: use {report_id} and {period} (or "
                      "{year} and {month}), or {job_id}",
                      tmpl);
  if (sq_object_key_check(key, &key_err) != SQ_OK)
    return sq_err_set(err, SQ_ECONFIG,
                      "object key template \"%.200s\" makes invalid keys: %s",
                      tmpl, key_err.msg);
  return SQ_OK;
}

sq_errcode sq_object_key_expand(const char *tmpl, const sq_object_key_vars *vars,
                                char out[SQ_OBJECT_KEY_MAX], sq_err *err) {
  bool used[VAR__COUNT] = {false};
  sq_errcode rc;

  if (vars == NULL) {
    out[0] = '\0';
    return sq_err_set(err, SQ_EINVAL, "object key variables missing");
  }
  rc = walk(tmpl, vars, out, used, err);
  if (rc == SQ_OK) rc = sq_object_key_check(out, err);
  if (rc != SQ_OK) out[0] = '\0';
  return rc;
}
