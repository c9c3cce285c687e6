/* db.c - the MySQL/MariaDB connection, named-parameter binding and streamed
 * queries (see db.h).
 *
 * Binding is done client-side with mysql_real_escape_string() rather than
 * server-side prepared statements: the target query is user-supplied SQL with
 * named parameters and list parameters (IN (:ids)), which prepared statements
 * cannot express, and one well-tested binder for all SQL keeps one path. */
#include "core/db.h"

#include <ctype.h>
#include <errno.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <errmsg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/conn_urls.h"
#include "core/log.h"

#define SQL_MAX (64u << 20) /* largest statement we build: 64 MiB */

struct sq_db {
  MYSQL *conn;
  sq_db_url url;
  unsigned options; /* SQ_DB_*, kept across reconnects */
};

/* ---- URL parsing ------------------------------------------------------ */

void sq_db_url_free(sq_db_url *u) {
  if (u == NULL) return;
  free(u->user);
  free(u->password);
  free(u->host);
  free(u->database);
  free(u->socket);
  free(u->ssl_ca);
  memset(u, 0, sizeof *u);
}

static const char *const ssl_mode_names[] = {"disabled", "preferred", "required",
                                             "verify-ca", "verify-identity"};

bool sq_db_ssl_mode_parse(const char *s, size_t len, sq_db_ssl_mode *out) {
  for (size_t i = 0; i < sizeof ssl_mode_names / sizeof ssl_mode_names[0]; i++)
    if (strlen(ssl_mode_names[i]) == len && memcmp(ssl_mode_names[i], s, len) == 0) {
      *out = (sq_db_ssl_mode)i;
      return true;
    }
  return false;
}

sq_errcode sq_db_url_parse(const char *url, sq_db_url *out, sq_err *err) {
  static const char scheme[] = "mysql://";
  const char *p, *at, *slash, *query, *hostport, *colon, *end;
  sq_db_url u = {0};
  sq_errcode rc = SQ_ECONFIG;

  if (url == NULL || strncmp(url, scheme, sizeof scheme - 1) != 0) {
    sq_err_set(err, SQ_ECONFIG,
               "database URL must start with mysql:// "
               "(mysql://user:password@host:port/database)");
    goto out;
  }
  p = url + sizeof scheme - 1;
  slash = strchr(p, '/');
  if (slash == NULL) {
    sq_err_set(err, SQ_ECONFIG, "database URL has no /database part");
    goto out;
  }
  at = memchr(p, '@', (size_t)(slash - p));
  /* The password may contain '@' only percent-encoded; take the last '@'. */
  while (at && at + 1 < slash) {
    const char *next = memchr(at + 1, '@', (size_t)(slash - at - 1));
    if (next == NULL) break;
    at = next;
  }
  if (at) {
    const char *pw = memchr(p, ':', (size_t)(at - p));
    u.user = sq_url_decode(p, (size_t)((pw ? pw : at) - p));
    if (pw) u.password = sq_url_decode(pw + 1, (size_t)(at - pw - 1));
    if (u.user == NULL || (pw && u.password == NULL)) {
      sq_err_set(err, SQ_ECONFIG, "database URL: bad %%-escape in user or password");
      goto out;
    }
    hostport = at + 1;
  } else {
    u.user = strdup("root");
    if (u.user == NULL) goto nomem;
    hostport = p;
  }
  u.port = 3306;
  if (hostport < slash) {
    const char *hend = slash;
    if (*hostport == '[') { /* [::1]:3306 */
      const char *rb = memchr(hostport, ']', (size_t)(slash - hostport));
      if (rb == NULL) {
        sq_err_set(err, SQ_ECONFIG, "database URL: unbalanced [ in host");
        goto out;
      }
      u.host = strndup(hostport + 1, (size_t)(rb - hostport - 1));
      colon = (rb + 1 < slash && rb[1] == ':') ? rb + 1 : NULL;
    } else {
      colon = memchr(hostport, ':', (size_t)(slash - hostport));
      u.host = strndup(hostport, (size_t)((colon ? colon : hend) - hostport));
    }
    if (u.host == NULL) goto nomem;
    if (colon) {
      char *e = NULL;
      unsigned long port;
      errno = 0;
      port = strtoul(colon + 1, &e, 10);
      if (errno || e != slash || port == 0 || port > 65535) {
        sq_err_set(err, SQ_ECONFIG, "database URL: invalid port");
        goto out;
      }
      u.port = (unsigned)port;
    }
  }
  query = strchr(slash, '?');
  end = query ? query : slash + strlen(slash);
  u.database = sq_url_decode(slash + 1, (size_t)(end - slash - 1));
  if (u.database == NULL) goto nomem;
  if (u.database[0] == '\0') {
    sq_err_set(err, SQ_ECONFIG, "database URL names no database");
    goto out;
  }
  while (query && *query) {
    const char *kv = query + 1, *amp = strchr(kv, '&');
    size_t kvlen = amp ? (size_t)(amp - kv) : strlen(kv);
    if (kvlen > 7 && strncmp(kv, "socket=", 7) == 0) {
      free(u.socket);
      u.socket = sq_url_decode(kv + 7, kvlen - 7);
      if (u.socket == NULL) goto nomem;
    } else if (kvlen > 7 && strncmp(kv, "ssl-ca=", 7) == 0) {
      free(u.ssl_ca);
      u.ssl_ca = sq_url_decode(kv + 7, kvlen - 7);
      if (u.ssl_ca == NULL) goto nomem;
    } else if (kvlen >= 9 && strncmp(kv, "ssl-mode=", 9) == 0) {
      if (!sq_db_ssl_mode_parse(kv + 9, kvlen - 9, &u.ssl_mode)) {
        sq_err_set(err, SQ_ECONFIG, "database URL: ssl-mode must be disabled, preferred, "
                   "required, verify-ca or verify-identity, not \"%.*s\"",
                   (int)(kvlen - 9 > 32 ? 32 : kvlen - 9), kv + 9);
        goto out;
      }
    } else if (kvlen > 0) {
      const char *eq = memchr(kv, '=', kvlen);
      sq_err_set(err, SQ_ECONFIG, "database URL: unknown option \"%.*s\"",
                 (int)(eq ? (size_t)(eq - kv) : kvlen), kv);
      goto out;
    }
    query = amp;
  }
  if (u.host == NULL && u.socket == NULL) {
    sq_err_set(err, SQ_ECONFIG, "database URL needs a host or ?socket=/path");
    goto out;
  }
  if (u.ssl_mode == SQ_DB_SSL_VERIFY_CA && u.ssl_ca == NULL) {
    sq_err_set(err, SQ_ECONFIG, "ssl-mode verify-ca needs a CA file (mysql_ssl_ca)");
    goto out;
  }
  *out = u;
  memset(&u, 0, sizeof u);
  rc = SQ_OK;
  goto out;
nomem:
  rc = sq_err_set(err, SQ_ENOMEM, "out of memory parsing database URL");
out:
  sq_db_url_free(&u);
  return rc;
}

/* ---- connection ------------------------------------------------------- */

/* Server errors that mean "the connection is gone", as opposed to "this
 * statement is wrong". */
static bool errno_is_connection(unsigned e) {
  return e == CR_SERVER_GONE_ERROR || e == CR_SERVER_LOST ||
         e == CR_CONN_HOST_ERROR || e == CR_CONNECTION_ERROR ||
         e == CR_UNKNOWN_HOST || e == CR_SERVER_LOST_EXTENDED ||
         e == ER_SERVER_SHUTDOWN || e == ER_CON_COUNT_ERROR ||
         e == ER_TOO_MANY_USER_CONNECTIONS || e == ER_CONNECTION_KILLED ||
         e == ER_LOCK_DEADLOCK || e == ER_LOCK_WAIT_TIMEOUT ||
         e == 2026 /* CR_SSL_CONNECTION_ERROR */;
}

static sq_errcode db_error(sq_db *db, sq_err *err, const char *what) {
  unsigned e = mysql_errno(db->conn);
  sq_errcode code = errno_is_connection(e) ? SQ_EDB_CONNECT : SQ_EDB_QUERY;
  /* Wrong SQL or a schema that lacks a table or column will not heal by
   * retrying: permanent, reported as a configuration problem. */
  if (e == ER_PARSE_ERROR || e == ER_NO_SUCH_TABLE || e == ER_BAD_FIELD_ERROR ||
      e == ER_WRONG_VALUE_COUNT_ON_ROW || e == ER_BAD_TABLE_ERROR)
    code = SQ_ECONFIG;
  /* Nor will a privilege the account lacks (the grants are configuration). */
  if (e == ER_TABLEACCESS_DENIED_ERROR || e == ER_COLUMNACCESS_DENIED_ERROR ||
      e == ER_DBACCESS_DENIED_ERROR || e == ER_SPECIFIC_ACCESS_DENIED_ERROR ||
      e == ER_PROCACCESS_DENIED_ERROR)
    code = SQ_ECONFIG;
  return sq_err_set(err, code, "%s: mysql error %u: %s", what, e,
                    mysql_error(db->conn));
}

/* SQ_DB_READ_COMMITTED, at every connect. A server that logs statements
 * (binlog_format = STATEMENT) refuses InnoDB writes at READ COMMITTED
 * (error 1665): such a connection keeps the server's default, and says so. */
static sq_errcode set_read_committed(sq_db *db, sq_err *err) {
  MYSQL_RES *res;
  MYSQL_ROW row;
  bool statement_log;
  if (mysql_query(db->conn, "SELECT @@log_bin = 1 AND @@binlog_format = 'STATEMENT'") != 0 ||
      (res = mysql_store_result(db->conn)) == NULL)
    return db_error(db, err, "reading the binary log's format");
  row = mysql_fetch_row(res);
  statement_log = row != NULL && row[0] != NULL && strcmp(row[0], "1") == 0;
  mysql_free_result(res);
  if (statement_log) {
    SQ_WARN("the database logs statements (binlog_format = STATEMENT), which READ "
            "COMMITTED cannot use; ledger transactions run at the server's default "
            "isolation level");
    return SQ_OK;
  }
  if (mysql_query(db->conn, "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED") != 0)
    return db_error(db, err, "setting READ COMMITTED");
  return SQ_OK;
}

/* ssl-mode to Connector/C (3.3) options. mysql_ssl_set() turns TLS on
 * (use_ssl); the chain is verified when a CA is set or VERIFY_SERVER_CERT
 * is on, the host name only with VERIFY_SERVER_CERT. A server without TLS
 * is refused only when the certificate is to be verified, so open_conn()
 * checks "required" itself. Non-zero on failure. */
static int set_tls(sq_db *db) {
  my_bool on = 1, off = 0;
  sq_db_ssl_mode m = db->url.ssl_mode;
  const char *ca = m >= SQ_DB_SSL_VERIFY_CA ? db->url.ssl_ca : NULL;
  int rc = 0;
  if (m == SQ_DB_SSL_DISABLED) return 0;
  rc |= mysql_ssl_set(db->conn, NULL, NULL, ca, NULL, NULL) != 0;
  rc |= mysql_options(db->conn, MYSQL_OPT_SSL_VERIFY_SERVER_CERT,
                      m == SQ_DB_SSL_VERIFY_IDENTITY ? &on : &off) != 0;
  return rc;
}

void sq_db_disconnect(sq_db *db) {
  if (db->conn) mysql_close(db->conn);
  db->conn = NULL;
}

static sq_errcode open_conn(sq_db *db, sq_err *err) {
  unsigned timeout_connect = 5, timeout_rw = 60;
  my_bool off = 0;
  db->conn = mysql_init(NULL);
  if (db->conn == NULL) return sq_err_set(err, SQ_ENOMEM, "mysql_init failed");
  mysql_options(db->conn, MYSQL_OPT_CONNECT_TIMEOUT, &timeout_connect);
  mysql_options(db->conn, MYSQL_OPT_READ_TIMEOUT, &timeout_rw);
  mysql_options(db->conn, MYSQL_OPT_WRITE_TIMEOUT, &timeout_rw);
  mysql_options(db->conn, MYSQL_OPT_RECONNECT, &off);
  mysql_options(db->conn, MYSQL_SET_CHARSET_NAME, "utf8mb4");
  if (set_tls(db) != 0) {
    sq_errcode rc = sq_err_set(err, SQ_ECONFIG, "cannot set TLS options (ssl-mode %s)",
                               ssl_mode_names[db->url.ssl_mode]);
    sq_db_disconnect(db);
    return rc;
  }
  if (mysql_real_connect(db->conn, db->url.host, db->url.user,
                         db->url.password, db->url.database, db->url.port,
                         db->url.socket,
                         (db->options & SQ_DB_MULTI_STATEMENTS) ? CLIENT_MULTI_STATEMENTS
                                                                : 0) == NULL) {
    sq_errcode rc;
    unsigned e = mysql_errno(db->conn);
    /* A wrong password or unknown database is not going to fix itself. */
    rc = (e == ER_ACCESS_DENIED_ERROR || e == ER_BAD_DB_ERROR ||
          e == ER_DBACCESS_DENIED_ERROR)
             ? SQ_ECONFIG
             : SQ_EDB_CONNECT;
    /* The server has no TLS, or its certificate does not verify: a
     * configuration problem on one side or the other. */
    if (e == CR_SSL_CONNECTION_ERROR && db->url.ssl_mode >= SQ_DB_SSL_REQUIRED)
      rc = SQ_ECONFIG;
    sq_err_set(err, rc, "cannot connect to database %s@%s%s%u/%s%s%s: %s",
               db->url.user, db->url.host ? db->url.host : db->url.socket,
               db->url.host ? ":" : " port ", db->url.port, db->url.database,
               db->url.ssl_mode ? " with ssl-mode " : "",
               db->url.ssl_mode ? ssl_mode_names[db->url.ssl_mode] : "",
               mysql_error(db->conn));
    sq_db_disconnect(db);
    return rc;
  }
  /* Connector/C 3.3 enforces TLS only when it verifies the certificate:
   * with ssl-mode required against a server without TLS it connects in
   * plain text. Refuse that connection before any statement is sent. */
  if (db->url.ssl_mode >= SQ_DB_SSL_REQUIRED && mysql_get_ssl_cipher(db->conn) == NULL) {
    sq_err_set(err, SQ_ECONFIG, "cannot connect to database %s@%s%s%u/%s with ssl-mode %s: "
               "the server does not support TLS", db->url.user,
               db->url.host ? db->url.host : db->url.socket, db->url.host ? ":" : " port ",
               db->url.port, db->url.database, ssl_mode_names[db->url.ssl_mode]);
    sq_db_disconnect(db);
    return SQ_ECONFIG;
  }
  /* A record stream waits on rendering between packets: let the server
   * wait for a slow reader longer than its default 60 s. */
  if (mysql_query(db->conn, "SET SESSION net_write_timeout = 600") != 0) {
    sq_errcode rc = db_error(db, err, "setting session timeouts");
    sq_db_disconnect(db);
    return rc;
  }
  if (db->options & SQ_DB_READ_COMMITTED) {
    sq_errcode rc = set_read_committed(db, err);
    if (rc != SQ_OK) {
      sq_db_disconnect(db);
      return rc;
    }
  }
  return SQ_OK;
}

sq_db *sq_db_connect(const char *url, sq_err *err) {
  return sq_db_open(url, 0, err);
}

sq_db *sq_db_open(const char *url, unsigned options, sq_err *err) {
  sq_db *db = calloc(1, sizeof *db);
  if (db == NULL) {
    sq_err_set(err, SQ_ENOMEM, "out of memory");
    return NULL;
  }
  db->options = options;
  if (sq_db_url_parse(url, &db->url, err) != SQ_OK ||
      open_conn(db, err) != SQ_OK) {
    sq_db_close(db);
    return NULL;
  }
  return db;
}

void sq_db_close(sq_db *db) {
  if (db == NULL) return;
  sq_db_disconnect(db);
  sq_db_url_free(&db->url);
  free(db);
}

sq_errcode sq_db_reconnect(sq_db *db, sq_err *err) {
  sq_db_disconnect(db);
  return open_conn(db, err);
}

/* ---- binding ---------------------------------------------------------- */

static sq_errcode append_escaped(sq_db *db, sq_buf *out, const char *s) {
  size_t len = strlen(s);
  char *tmp;
  sq_errcode rc;
  if (len > (SQL_MAX - 3) / 2) return SQ_ENOMEM;
  tmp = malloc(len * 2 + 1);
  if (tmp == NULL) return SQ_ENOMEM;
  if (db && db->conn) {
    mysql_real_escape_string(db->conn, tmp, s, (unsigned long)len);
  } else { /* no connection (unit tests): escape the portable set */
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
      char c = s[i];
      if (c == '\'' || c == '\\' || c == '"') tmp[o++] = '\\';
      if (c == '\0') { tmp[o++] = '\\'; c = '0'; }
      if (c == '\n') { tmp[o++] = '\\'; c = 'n'; }
      if (c == '\r') { tmp[o++] = '\\'; c = 'r'; }
      if (c == '\032') { tmp[o++] = '\\'; c = 'Z'; }
      tmp[o++] = c;
    }
    tmp[o] = '\0';
  }
  rc = sq_buf_adds(out, "'");
  if (rc == SQ_OK) rc = sq_buf_adds(out, tmp);
  if (rc == SQ_OK) rc = sq_buf_adds(out, "'");
  free(tmp);
  return rc;
}

static sq_errcode append_param(sq_db *db, sq_buf *out, const sq_param *p) {
  sq_errcode rc = SQ_OK;
  switch (p->type) {
    case SQ_PARAM_NULL:
      return sq_buf_adds(out, "NULL");
    case SQ_PARAM_U64:
      return sq_buf_printf(out, "%llu", (unsigned long long)p->u64);
    case SQ_PARAM_I64:
      return sq_buf_printf(out, "%lld", (long long)p->i64);
    case SQ_PARAM_STR:
      return p->str ? append_escaped(db, out, p->str) : sq_buf_adds(out, "NULL");
    case SQ_PARAM_U64_LIST:
      if (p->list_len == 0) return sq_buf_adds(out, "NULL");
      for (size_t i = 0; i < p->list_len && rc == SQ_OK; i++)
        rc = sq_buf_printf(out, i ? ",%llu" : "%llu",
                           (unsigned long long)p->list[i]);
      return rc;
  }
  return SQ_EINTERNAL;
}

static bool is_ident(int c) { return isalnum(c) || c == '_'; }

/* sq_db_bind(); with one_statement, also refuses what would let the
 * statement run into the next one of a multi-statement query: a ';' outside
 * quotes and comments, an unclosed quote or comment. */
static sq_errcode bind_sql(sq_db *db, const char *sql, const sq_param *params,
                           size_t n_params, bool one_statement, sq_buf *out,
                           sq_err *err) {
  const char *s = sql, *run = sql;
  sq_errcode rc = SQ_OK;

#define FLUSH_RUN(upto)                                           \
  do {                                                            \
    if ((rc = sq_buf_add(out, run, (size_t)((upto) - run))) != SQ_OK) \
      goto nomem;                                                 \
  } while (0)

  while (*s) {
    char c = *s;
    if (c == '\'' || c == '"' || c == '`') { /* quoted: copy through */
      s++;
      while (*s && *s != c) {
        if (*s == '\\' && c != '`' && s[1]) s++;
        s++;
      }
      if (*s) s++;
      else if (one_statement) goto not_one;
    } else if (c == '-' && s[1] == '-') {
      while (*s && *s != '\n') s++;
    } else if (c == '#') {
      while (*s && *s != '\n') s++;
    } else if (c == '/' && s[1] == '*') {
      const char *e = strstr(s + 2, "*/");
      if (e == NULL && one_statement) goto not_one;
      s = e ? e + 2 : s + strlen(s);
    } else if (c == ':' && s[1] == ':') {
      s += 2;
    } else if (c == ':' && is_ident((unsigned char)s[1]) &&
               (s == sql || !is_ident((unsigned char)s[-1]))) {
      const char *name = s + 1, *e = name;
      size_t i;
      while (is_ident((unsigned char)*e)) e++;
      for (i = 0; i < n_params; i++)
        if (strlen(params[i].name) == (size_t)(e - name) &&
            memcmp(params[i].name, name, (size_t)(e - name)) == 0)
          break;
      if (i == n_params)
        return sq_err_set(err, SQ_EINVAL,
                          "SQL uses :%.*s, which is not a known parameter",
                          (int)(e - name), name);
      FLUSH_RUN(s);
      if ((rc = append_param(db, out, &params[i])) != SQ_OK) goto nomem;
      s = run = e;
    } else if (c == ';' && one_statement) {
      goto not_one;
    } else {
      s++;
    }
  }
  FLUSH_RUN(s);
  return SQ_OK;
#undef FLUSH_RUN
nomem:
  return sq_err_set(err, SQ_ENOMEM, "SQL statement too large");
not_one:
  return sq_err_set(err, SQ_EINVAL,
                    "SQL \"%.40s...\" is not one statement (a ';', or an unclosed "
                    "quote or comment)", sql);
}

sq_errcode sq_db_bind(sq_db *db, const char *sql, const sq_param *params,
                      size_t n_params, sq_buf *out, sq_err *err) {
  return bind_sql(db, sql, params, n_params, false, out, err);
}

/* ---- statements ------------------------------------------------------- */

static sq_errcode run_sql(sq_db *db, const char *sql, const sq_param *params,
                          size_t n_params, sq_err *err) {
  sq_buf stmt;
  sq_errcode rc;
  if (db->conn == NULL && (rc = open_conn(db, err)) != SQ_OK) return rc;
  sq_buf_init(&stmt, SQL_MAX);
  rc = sq_db_bind(db, sql, params, n_params, &stmt, err);
  if (rc == SQ_OK &&
      mysql_real_query(db->conn, sq_buf_str(&stmt), (unsigned long)stmt.len) != 0)
    rc = db_error(db, err, "query failed");
  sq_buf_free(&stmt);
  return rc;
}

unsigned sq_db_errno(const sq_db *db) {
  return db->conn ? mysql_errno(db->conn) : 0;
}

sq_errcode sq_db_exec(sq_db *db, const char *sql, const sq_param *params,
                      size_t n_params, uint64_t *affected, sq_err *err) {
  sq_errcode rc = run_sql(db, sql, params, n_params, err);
  MYSQL_RES *res;
  if (rc != SQ_OK) return rc;
  /* Drain a result set if the statement produced one. */
  res = mysql_store_result(db->conn);
  if (res) mysql_free_result(res);
  if (affected) *affected = (uint64_t)mysql_affected_rows(db->conn);
  return SQ_OK;
}

sq_errcode sq_db_query(sq_db *db, const char *sql, const sq_param *params,
                       size_t n_params, sq_db_row_cb cb, void *ctx,
                       sq_err *err) {
  MYSQL_RES *res = NULL;
  MYSQL_ROW row;
  unsigned n_fields;
  sq_errcode rc = run_sql(db, sql, params, n_params, err);
  if (rc != SQ_OK) return rc;
  res = mysql_use_result(db->conn);
  if (res == NULL) {
    if (mysql_field_count(db->conn) == 0)
      return sq_err_set(err, SQ_EDB_QUERY, "query returned no result set");
    return db_error(db, err, "reading result");
  }
  n_fields = mysql_num_fields(res);
  while ((row = mysql_fetch_row(res)) != NULL) {
    const unsigned long *lengths = mysql_fetch_lengths(res);
    rc = cb(ctx, row, lengths, n_fields, err);
    if (rc != SQ_OK) break;
  }
  if (rc == SQ_OK && mysql_errno(db->conn) != 0)
    rc = db_error(db, err, "reading result");
  /* Stopping early: mysql_free_result drains what the server still sends
   * (sq_db_cut from another thread cuts that short). */
  mysql_free_result(res);
  return rc;
}

sq_errcode sq_db_socket(sq_db *db, int *fd, sq_err *err) {
  sq_errcode rc = db->conn ? SQ_OK : open_conn(db, err);
  *fd = rc == SQ_OK ? (int)mysql_get_socket(db->conn) : -1;
  return rc;
}

void sq_db_cut(int socket_fd) {
  if (socket_fd >= 0) (void)shutdown(socket_fd, SHUT_RDWR);
}

/* ---- transactions ----------------------------------------------------- */

/* Reads and drops the current result's rows, if it has any. */
/* Reads the current result: its rows to stmt->on_row (stmt may be NULL:
 * START TRANSACTION, COMMIT), or dropped. */
static sq_errcode read_result(sq_db *db, const sq_db_stmt *stmt, sq_err *err,
                              const char *what) {
  MYSQL_RES *res = mysql_store_result(db->conn);
  MYSQL_ROW row;
  sq_errcode rc = SQ_OK;
  if (res == NULL)
    return mysql_field_count(db->conn) == 0 ? SQ_OK : db_error(db, err, what);
  while (stmt != NULL && stmt->on_row != NULL && rc == SQ_OK &&
         (row = mysql_fetch_row(res)) != NULL)
    rc = stmt->on_row(stmt->ctx, row, mysql_fetch_lengths(res), mysql_num_fields(res), err);
  mysql_free_result(res);
  return rc;
}

/* Names result k of a transaction of n statements, for error messages. */
static void name_result(char *what, size_t cap, size_t k, size_t n) {
  if (k == 0)
    snprintf(what, cap, "START TRANSACTION");
  else if (k <= n)
    snprintf(what, cap, "transaction statement %zu of %zu", k, n);
  else
    snprintf(what, cap, "COMMIT");
}

/* DESIGN: one query "START TRANSACTION\n;\n<stmt 0>\n;\n...\n;\nCOMMIT".
 * The server runs the statements in order and answers each with a result;
 * at the first error it stops, sends that error as the last result, and
 * leaves the transaction open. So the results are read in order (result 0 is
 * START TRANSACTION, result i + 1 is stmts[i], result n + 1 COMMIT), the
 * error is noted before anything else touches mysql_errno, and the
 * transaction rolled back. The separator starts with a newline so that a
 * "--" comment at the end of a statement cannot swallow the ';'. */
static sq_errcode transaction_multi(sq_db *db, const sq_db_stmt *stmts, size_t n,
                                    uint64_t *affected, size_t *failed, sq_err *err) {
  static const char sep[] = "\n;\n";
  char what[80]; /* name_result: up to 2 x 20 digits */
  sq_buf sql;
  size_t k = 0; /* the result being read */
  bool sent = false;
  sq_errcode rc;
  sq_buf_init(&sql, SQL_MAX);
  rc = sq_buf_adds(&sql, "START TRANSACTION");
  for (size_t i = 0; i < n && rc == SQ_OK; i++) {
    if ((rc = sq_buf_adds(&sql, sep)) != SQ_OK) break;
    if ((rc = bind_sql(db, stmts[i].sql, stmts[i].params, stmts[i].n_params, true, &sql,
                       err)) != SQ_OK) {
      *failed = i; /* err says why; nothing was sent */
      goto out;
    }
  }
  if (rc == SQ_OK) rc = sq_buf_adds(&sql, sep);
  if (rc == SQ_OK) rc = sq_buf_adds(&sql, "COMMIT");
  if (rc != SQ_OK) {
    rc = sq_err_set(err, SQ_ENOMEM, "SQL transaction too large");
    goto out;
  }
  sent = true;
  if (mysql_real_query(db->conn, sq_buf_str(&sql), (unsigned long)sql.len) != 0) {
    rc = db_error(db, err, "START TRANSACTION");
    goto out;
  }
  for (;; k++) {
    int next;
    name_result(what, sizeof what, k, n);
    if ((rc = read_result(db, k >= 1 && k <= n ? &stmts[k - 1] : NULL, err, what)) != SQ_OK)
      break;
    if (k >= 1 && k <= n && affected) affected[k - 1] = (uint64_t)mysql_affected_rows(db->conn);
    if ((next = mysql_next_result(db->conn)) == -1) break; /* k was the last */
    if (next > 0) { /* result k + 1 is the error that ended the query */
      name_result(what, sizeof what, ++k, n);
      rc = db_error(db, err, what);
      break;
    }
  }
  if (rc == SQ_OK && k != n + 1) /* bind_sql makes this impossible */
    rc = sq_err_set(err, SQ_EINTERNAL, "transaction of %zu statements gave %zu results",
                    n, k + 1);
  if (rc != SQ_OK && k >= 1 && k <= n) *failed = k - 1;
out:
  if (rc != SQ_OK && sent) {
    /* The server sends nothing after an error; this only matters when a
     * result could not be read, and a connection with results still pending
     * would refuse the ROLLBACK. */
    while (mysql_more_results(db->conn) && mysql_next_result(db->conn) == 0)
      (void)read_result(db, NULL, NULL, "draining");
    sq_db_rollback(db);
  }
  sq_buf_free(&sql);
  return rc;
}

sq_errcode sq_db_transaction(sq_db *db, const sq_db_stmt *stmts, size_t n,
                             uint64_t *affected, size_t *failed, sq_err *err) {
  size_t ignored;
  sq_errcode rc;
  if (failed == NULL) failed = &ignored;
  *failed = n;
  if (n == 0) return sq_err_set(err, SQ_EINVAL, "a transaction needs a statement");
  if (!(db->options & SQ_DB_MULTI_STATEMENTS))
    return sq_err_set(err, SQ_EINVAL,
                      "a transaction needs a connection opened with SQ_DB_MULTI_STATEMENTS");
  if (db->conn == NULL && (rc = open_conn(db, err)) != SQ_OK) return rc;
  return transaction_multi(db, stmts, n, affected, failed, err);
}

sq_errcode sq_db_begin(sq_db *db, sq_err *err) {
  return sq_db_exec(db, "START TRANSACTION", NULL, 0, NULL, err);
}

sq_errcode sq_db_commit(sq_db *db, sq_err *err) {
  return sq_db_exec(db, "COMMIT", NULL, 0, NULL, err);
}

void sq_db_rollback(sq_db *db) {
  if (db->conn) mysql_query(db->conn, "ROLLBACK");
}

bool sq_parse_u64(const char *s, size_t len, uint64_t *out) {
  uint64_t v = 0;
  if (s == NULL || len == 0 || len > 20) return false;
  for (size_t i = 0; i < len; i++) {
    unsigned d;
    if (s[i] < '0' || s[i] > '9') return false;
    d = (unsigned)(s[i] - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}
