/* db.h - sheetq's only window on MySQL/MariaDB (MariaDB Connector/C).
 *
 * An sq_db is one connection, used by one thread at a time. SQL is built by
 * sq_db_bind(), which replaces named placeholders (":period_start") with
 * values escaped by the server's own rules, so no caller pastes strings into
 * SQL. Queries stream their rows (mysql_use_result) to a callback, so a
 * million-row result never sits in memory.
 *
 * Errors: a lost or refused connection is SQ_EDB_CONNECT (temporary); a failed
 * statement SQ_EDB_QUERY; err->msg carries the server's errno and message but
 * never the password or the URL.
 */
#ifndef SQ_DB_H
#define SQ_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/error.h"

typedef struct sq_db sq_db;

/* TLS to the server, as MySQL's --ssl-mode names it. */
typedef enum sq_db_ssl_mode {
  SQ_DB_SSL_DISABLED = 0, /* plain TCP (the default) */
  SQ_DB_SSL_PREFERRED,    /* TLS when the server offers it, unverified */
  SQ_DB_SSL_REQUIRED,     /* TLS or fail; the certificate is not verified */
  SQ_DB_SSL_VERIFY_CA,    /* TLS, certificate signed by ssl-ca */
  SQ_DB_SSL_VERIFY_IDENTITY, /* and issued for the host name connected to */
} sq_db_ssl_mode;

/* Parses an ssl-mode name ("disabled" ... "verify-identity"). */
bool sq_db_ssl_mode_parse(const char *s, size_t len, sq_db_ssl_mode *out);

/* The parts of a mysql:// URL. Strings are owned by the struct. */
typedef struct sq_db_url {
  char *user;
  char *password; /* NULL when absent */
  char *host;     /* NULL with a socket */
  unsigned port;  /* 3306 by default */
  char *database;
  char *socket;   /* from ?socket=/path, NULL otherwise */
  sq_db_ssl_mode ssl_mode; /* from ?ssl-mode= */
  char *ssl_ca;   /* from ?ssl-ca=/path (PEM), NULL otherwise */
} sq_db_url;

/* mysql://user[:password]@host[:port]/database[?socket=/path]
 * mysql://user[:password]@/database?socket=/path  (unix socket)
 * Options: socket=PATH, ssl-mode=disabled|preferred|required|verify-ca|
 * verify-identity, ssl-ca=PATH (verify-ca needs it; verify-identity uses
 * the system's CAs without it). Percent-escapes in user, password and
 * option values are decoded; a repeated option: the last wins. Pure; no I/O. */
sq_errcode sq_db_url_parse(const char *url, sq_db_url *out, sq_err *err);
void sq_db_url_free(sq_db_url *u);

/* Connects with connect/read/write timeouts, utf8mb4, and no automatic
 * reconnect (callers reconnect explicitly, so a statement is never silently
 * replayed on a new session). A connection that cannot meet the URL's
 * ssl-mode (no TLS on the server, a certificate that does not verify) is
 * SQ_ECONFIG: retrying will not help. Same as sq_db_open(url, 0, err). */
sq_db *sq_db_connect(const char *url, sq_err *err);

/* Options of sq_db_open(). */
enum {
  /* The server accepts several statements in one query
   * (CLIENT_MULTI_STATEMENTS), which sq_db_transaction() needs: one round
   * trip per transaction.
   * Only for connections that run sheetq's own SQL (the worker's ledger
   * connection): that SQL is constant text, every value in it comes through
   * sq_db_bind() (escaped by the server's rules, inside quotes, so no value
   * can end a statement), and sq_db_transaction() refuses a statement with a
   * ';' of its own. Connections that run the configured report SQL never ask
   * for it. */
  SQ_DB_MULTI_STATEMENTS = 1u << 0,
  /* Transactions at READ COMMITTED: a statement locks the rows it changes
   * and no gaps between index records. At REPEATABLE READ (the default)
   * workers writing neighbouring jobs in the same moment deadlock: a search
   * that finds nothing locks the gap where the row would be (the start's
   * look for an earlier running attempt), and so does a changed entry of a
   * secondary index (sheetq_jobs' state); the other's INSERT into that gap
   * then waits for it, and it for the other. The ledger's transitions need
   * nothing of REPEATABLE READ: each is fenced by a single-row UPDATE by
   * primary key. A server with binlog_format = STATEMENT refuses writes at
   * READ COMMITTED: checked at every connect, such a connection keeps the
   * server's default (and says so). */
  SQ_DB_READ_COMMITTED = 1u << 1,
};
/* sq_db_connect() with options (SQ_DB_*); sq_db_reconnect() keeps them. */
sq_db *sq_db_open(const char *url, unsigned options, sq_err *err);
void sq_db_close(sq_db *db); /* accepts NULL */
/* Drops and re-opens the connection after a temporary error. */
sq_errcode sq_db_reconnect(sq_db *db, sq_err *err);

/* Drops the connection; its next use reconnects. */
void sq_db_disconnect(sq_db *db);

/* Cutting a streaming query short. A row callback that stops early leaves
 * the rest of an unbuffered result to be read and dropped, all of it. To
 * avoid that, another thread calls sq_db_cut() with the socket sq_db_socket()
 * gave while the connection was idle (connecting first if need be): the
 * socket is shut down, so the reading thread's next read fails at once. The
 * connection is then dead: its owner drops it (sq_db_disconnect) once the
 * reader is done. Done on the client's side, this needs no privilege and
 * cannot hit another session behind a proxy, as a server-side KILL by
 * connection id could. */
sq_errcode sq_db_socket(sq_db *db, int *fd, sq_err *err);
void sq_db_cut(int socket_fd);

typedef enum sq_param_type {
  SQ_PARAM_NULL = 0,
  SQ_PARAM_U64,
  SQ_PARAM_I64,
  SQ_PARAM_STR,      /* NUL-terminated; NULL binds SQL NULL */
  SQ_PARAM_U64_LIST, /* expands to "1,2,3"; empty expands to NULL */
} sq_param_type;

typedef struct sq_param {
  const char *name; /* placeholder name without the colon */
  sq_param_type type;
  uint64_t u64;
  int64_t i64;
  const char *str;
  const uint64_t *list;
  size_t list_len;
} sq_param;

#define SQ_P_U64(n, v) ((sq_param){.name = (n), .type = SQ_PARAM_U64, .u64 = (v)})
#define SQ_P_I64(n, v) ((sq_param){.name = (n), .type = SQ_PARAM_I64, .i64 = (v)})
#define SQ_P_STR(n, v) ((sq_param){.name = (n), .type = SQ_PARAM_STR, .str = (v)})
#define SQ_P_LIST(n, v, len) \
  ((sq_param){.name = (n), .type = SQ_PARAM_U64_LIST, .list = (v), .list_len = (len)})

/* Replaces every :name outside quotes, backticks and comments with the
 * escaped value of the parameter of that name. "::" is left alone. A
 * placeholder with no parameter is SQ_EINVAL naming it; parameters that the
 * SQL does not use are fine. Appends to out. */
sq_errcode sq_db_bind(sq_db *db, const char *sql, const sq_param *params,
                      size_t n_params, sq_buf *out, sq_err *err);

/* The server's error number (mysqld_error.h) right after an sq_db_exec or
 * sq_db_query that failed on this connection; 0 when it did not fail there.
 * Not after sq_db_transaction, whose ROLLBACK clears it. */
unsigned sq_db_errno(const sq_db *db);

/* Runs a statement that returns no rows. affected may be NULL. */
sq_errcode sq_db_exec(sq_db *db, const char *sql, const sq_param *params,
                      size_t n_params, uint64_t *affected, sq_err *err);

/* Row callback: row[i] is NULL for SQL NULL, lengths[i] its byte length.
 * The pointers are valid only during the call. Returning non-SQ_OK stops the
 * query and is returned by sq_db_query (with err left as the callback set
 * it). */
typedef sq_errcode (*sq_db_row_cb)(void *ctx, char **row,
                                   const unsigned long *lengths,
                                   unsigned n_fields, sq_err *err);

sq_errcode sq_db_query(sq_db *db, const char *sql, const sq_param *params,
                       size_t n_params, sq_db_row_cb cb, void *ctx,
                       sq_err *err);

/* A statement with its own parameters (each uses the ones it names), and
 * for sq_db_transaction a callback for the rows it returns (NULL: read and
 * dropped). */
typedef struct sq_db_stmt {
  const char *sql;
  const sq_param *params;
  size_t n_params;
  sq_db_row_cb on_row;
  void *ctx;
} sq_db_stmt;

/* Runs stmts[0..n) in order as one transaction, START TRANSACTION ...
 * COMMIT, sent as one query: one round trip. Needs a connection opened with
 * SQ_DB_MULTI_STATEMENTS (SQ_EINVAL otherwise). affected (may be NULL) gets
 * n counts: statement i's affected rows (changed rows for an UPDATE, as
 * sq_db_exec reports them).
 *
 * The server stops at the first statement that fails. Then the transaction is
 * rolled back (nothing of it stays applied), the connection is ready for the
 * next call, *failed (may be NULL) is the index of that statement (n: START
 * TRANSACTION, COMMIT or the connection itself), and the code is mapped as
 * sq_db_exec maps it: a lost connection, a deadlock or a lock wait timeout
 * is SQ_EDB_CONNECT, so the caller reconnects and repeats the call.
 *
 * A statement is one statement without a ';' of its own (outside quotes and
 * comments) and without an unclosed quote or comment: SQ_EINVAL before
 * anything is sent, as is n == 0. Rows a statement returns go to its
 * on_row, or are dropped. The server runs the whole query whatever the
 * client does with them: an error on_row returns is the call's, but it
 * does not stop the COMMIT (collect in on_row, decide afterwards). */
sq_errcode sq_db_transaction(sq_db *db, const sq_db_stmt *stmts, size_t n,
                             uint64_t *affected, size_t *failed, sq_err *err);

/* Transactions for the ledger. */
sq_errcode sq_db_begin(sq_db *db, sq_err *err);
sq_errcode sq_db_commit(sq_db *db, sq_err *err);
void sq_db_rollback(sq_db *db);

/* Strict parse of an unsigned decimal (from a row); false on junk/overflow. */
bool sq_parse_u64(const char *s, size_t len, uint64_t *out);

#endif
