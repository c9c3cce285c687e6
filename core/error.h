/* error.h - sheetq's one error enum.
 *
 * Every fallible function returns an sq_errcode (SQ_OK == 0) and, where the
 * caller needs more than the code, fills an sq_err with a one-line message.
 * Each code also says whether it is *temporary* (worth retrying: a lost
 * connection, a full disk, a timeout) or *permanent* (retrying cannot help: a
 * deleted report, a malformed job). Retry logic reads that flag, never the
 * message text.
 */
#ifndef SQ_ERROR_H
#define SQ_ERROR_H

#include <stdarg.h>
#include <stdbool.h>

/* XX(NAME, "name", message, temporary): "name" is the stable identifier
 * stored in the ledger and printed in logs. */
#define SQ_ERRNO_MAP(XX)                                               \
  XX(OK, "ok", "success", false)                                       \
  XX(NOMEM, "nomem", "out of memory", true)                            \
  XX(USAGE, "usage", "invalid command-line usage", false)              \
  XX(CONFIG, "config", "invalid configuration", false)                 \
  XX(INVAL, "inval", "invalid argument", false)                        \
  XX(BAD_PERIOD, "bad_period", "invalid period", false)                \
  XX(BAD_JOB, "bad_job", "malformed job", false)                       \
  XX(NOT_FOUND, "not_found", "not found", false)                       \
  XX(DB_CONNECT, "db_connect", "database unreachable", true)           \
  XX(DB_QUERY, "db_query", "database query failed", true)              \
  XX(DB_DATA, "db_data", "unexpected data in database", false)         \
  XX(REDIS, "redis", "redis unavailable", true)                        \
  XX(REDIS_REPLY, "redis_reply", "unexpected redis reply", false)      \
  XX(RENDER, "render", "xlsx rendering failed", false)                 \
  XX(STORAGE, "storage", "storage unavailable", true)                  \
  XX(STORAGE_FULL, "storage_full", "storage full", true)               \
  XX(STORAGE_DENIED, "storage_denied", "storage access denied", false) \
  XX(IO, "io", "I/O error", true)                                      \
  XX(TIMEOUT, "timeout", "timed out", true)                            \
  XX(LEASE_LOST, "lease_lost", "lease lost to another worker", true)   \
  XX(KILLED, "killed", "job process killed", true)                     \
  XX(CRASHED, "crashed", "job process crashed", true)                  \
  XX(CANCELLED, "cancelled", "cancelled", false)                       \
  XX(INTERNAL, "internal", "internal error", false)

typedef enum sq_errcode {
#define XX(name, id, msg, temp) SQ_E##name,
  SQ_ERRNO_MAP(XX)
#undef XX
      SQ_E__COUNT
} sq_errcode;

#define SQ_OK SQ_EOK

/* Static description of a code; never NULL. */
const char *sq_strerror(sq_errcode code);
/* Stable lower-case identifier ("db_connect"), used in the ledger and logs. */
const char *sq_errname(sq_errcode code);
/* Inverse of sq_errname(); SQ_EINTERNAL for unknown names. */
sq_errcode sq_errcode_from_name(const char *name);
bool sq_error_is_temporary(sq_errcode code);

#define SQ_ERR_MSG_MAX 512

/* Error detail that travels with a call: the code plus a message that names
 * the object concerned ("report 42: no such report"). Never holds secrets. */
typedef struct sq_err {
  sq_errcode code;
  char msg[SQ_ERR_MSG_MAX];
} sq_err;

/* Sets code and message (printf-style); returns code so callers can write
 * `return sq_err_set(err, SQ_EINVAL, "...")`. err may be NULL. */
sq_errcode sq_err_set(sq_err *err, sq_errcode code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
sq_errcode sq_err_vset(sq_err *err, sq_errcode code, const char *fmt,
                       va_list ap) __attribute__((format(printf, 3, 0)));
void sq_err_clear(sq_err *err);

/* Process exit status for a code: 0 ok, 2 usage/config, 75 (EX_TEMPFAIL)
 * temporary, 1 other permanent errors. */
int sq_exit_status(sq_errcode code);

#endif
