/* error.c - tables behind sq_strerror() and friends, generated from
 * SQ_ERRNO_MAP so the names, messages and retry classes cannot drift. */
#include "core/error.h"

#include <stdio.h>
#include <string.h>

static const struct {
  const char *name;
  const char *msg;
  bool temporary;
} error_table[] = {
#define XX(n, id, m, t) {id, m, t},
    SQ_ERRNO_MAP(XX)
#undef XX
};

static bool code_valid(sq_errcode code) {
  return (int)code >= 0 && code < SQ_E__COUNT;
}

const char *sq_strerror(sq_errcode code) {
  return code_valid(code) ? error_table[code].msg : "unknown error";
}

const char *sq_errname(sq_errcode code) {
  return code_valid(code) ? error_table[code].name : "internal";
}

sq_errcode sq_errcode_from_name(const char *name) {
  if (name == NULL) return SQ_EINTERNAL;
  for (int i = 0; i < SQ_E__COUNT; i++)
    if (strcmp(error_table[i].name, name) == 0) return (sq_errcode)i;
  return SQ_EINTERNAL;
}

bool sq_error_is_temporary(sq_errcode code) {
  return code_valid(code) && error_table[code].temporary;
}

sq_errcode sq_err_vset(sq_err *err, sq_errcode code, const char *fmt,
                       va_list ap) {
  if (err) {
    err->code = code;
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  }
  return code;
}

sq_errcode sq_err_set(sq_err *err, sq_errcode code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  sq_err_vset(err, code, fmt, ap);
  va_end(ap);
  return code;
}

void sq_err_clear(sq_err *err) {
  if (err) {
    err->code = SQ_OK;
    err->msg[0] = '\0';
  }
}

int sq_exit_status(sq_errcode code) {
  if (code == SQ_OK) return 0;
  /* A period like 2026-13 or "lastmonth" comes from the command line or the
   * configuration: a usage error like the others. */
  if (code == SQ_EUSAGE || code == SQ_ECONFIG || code == SQ_EBAD_PERIOD) return 2;
  if (sq_error_is_temporary(code)) return 75;
  return 1;
}
