/* conn_urls.h - the database and Redis URLs sheetq actually connects with.
 *
 * Passwords should not sit in a URL that is typed on a command line (other
 * users can read a process's argv) or kept in a config file in plain text.
 * So a password may also come from the environment (SHEETQ_MYSQL_PASSWORD,
 * SHEETQ_REDIS_PASSWORD) or from a file (mysql_password_file,
 * redis_password_file: Docker and Kubernetes secrets), and the TLS settings
 * of the database (mysql_ssl_mode, mysql_ssl_ca) from their own settings.
 * sq_conn_urls_apply() folds them into cfg->mysql_url and cfg->redis_url,
 * once, after the settings are validated, so every connection sheetq makes
 * uses them. Order for a password, first wins: the file, the environment
 * variable, the URL's own.
 *
 * URL helpers are pure; sq_conn_urls_apply() reads files and the
 * environment. Errors never quote a password or a password file's content.
 */
#ifndef SQ_CONN_URLS_H
#define SQ_CONN_URLS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"
#include "core/error.h"

#define SQ_PASSWORD_FILE_MAX 4096

/* Applies the password files and variables and the TLS settings to
 * c->mysql_url and c->redis_url (see above). SQ_ECONFIG when a password file
 * cannot be read or is empty, or mysql_ssl_mode is not one of disabled,
 * preferred, required, verify-ca, verify-identity. Idempotent. */
sq_errcode sq_conn_urls_apply(sq_config *c, sq_err *err);

/* Reads a password file: at most SQ_PASSWORD_FILE_MAX bytes, trailing
 * newlines (\n, \r\n) removed; empty is an error. *out is malloc'd. */
sq_errcode sq_password_file_read(const char *path, char **out, sq_err *err);

/* scheme://[user[:password]@]rest with the password replaced by password
 * (percent-encoded), the user kept; a URL without a user gets default_user
 * (NULL: none, "scheme://:password@rest"). *out is malloc'd. SQ_ECONFIG
 * when url has no "://". */
sq_errcode sq_url_set_password(const char *url, const char *password,
                               const char *default_user, char **out, sq_err *err);

/* url with the query parameter key set to value (percent-encoded): an
 * existing key=... is replaced, otherwise "?key=value" or "&key=value" is
 * appended. *out is malloc'd. */
sq_errcode sq_url_set_param(const char *url, const char *key, const char *value,
                            char **out, sq_err *err);

/* True when url holds a password ("scheme://user:pass@..." or ":pass@"). */
bool sq_url_has_password(const char *url);

/* Copies [s, s+len) decoding %XX escapes; NULL on a bad escape or no memory. */
char *sq_url_decode(const char *s, size_t len);

#endif
