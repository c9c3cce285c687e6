/* test_db_ledger.c - sq_db_transaction and the ledger's fenced attempt
 * transitions against a real MariaDB.
 *
 * Needs SHEETQ_TEST_MYSQL_URL (what scripts/test.sh exports) or
 * SHEETQ_MYSQL_URL; exits 77 (skipped) without either. The URL's database is
 * never touched: the test creates its own, sqt_db_ledger_<pid>, refuses to
 * run if that exists already, and drops it at the end. The checks run on a
 * connection opened with SQ_DB_MULTI_STATEMENTS, as the worker's ledger
 * connection is; what the tables hold is read back with plain SELECTs.
 */
#include <signal.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/db.h"
#include "core/db_ledger.h"
#include "core/job.h"
#include "core/period.h"
#include "harness.h"

static sq_db *admin;         /* creates and drops the database; holds locks */
static sq_db *ledger;        /* SQ_DB_MULTI_STATEMENTS, as the worker's */
static char test_db[64];
static char test_url[1024];

#define NEED_CONNECTIONS() ASSERT(admin != NULL && ledger != NULL)

/* ---- helpers ------------------------------------------------------------ */

static sq_errcode append_row(void *ctx, char **row, const unsigned long *len,
                             unsigned n_fields, sq_err *err) {
  sq_buf *b = ctx;
  sq_errcode rc = SQ_OK;
  (void)len;
  (void)err;
  if (b->len > 0) rc = sq_buf_adds(b, "\n");
  for (unsigned i = 0; i < n_fields && rc == SQ_OK; i++) {
    if (i > 0) rc = sq_buf_adds(b, "|");
    if (rc == SQ_OK) rc = sq_buf_adds(b, row[i] ? row[i] : "NULL");
  }
  return rc;
}

#define ROWS_MAX 8192
#define SNAPSHOT_SIZE (2 * ROWS_MAX + 8)

/* The rows of a query as "a|b\nc|d", or "ERROR ..." (a static buffer,
 * valid until the next call). */
static const char *rows(sq_db *c, const char *sql) {
  static char out[ROWS_MAX];
  sq_buf b;
  sq_err err;
  sq_buf_init(&b, sizeof out - 1);
  if (sq_db_query(c, sql, NULL, 0, append_row, &b, &err) != SQ_OK)
    snprintf(out, sizeof out, "ERROR %s", err.msg);
  else
    snprintf(out, sizeof out, "%s", sq_buf_str(&b));
  sq_buf_free(&b);
  return out;
}

/* Everything the ledger holds, for "nothing was applied" checks. */
static void ledger_snapshot(sq_db *c, char *out, size_t cap) {
  char jobs[ROWS_MAX];
  snprintf(jobs, sizeof jobs, "%s",
           rows(c, "SELECT id, state, live, attempts, lease_token, worker, output_key, "
                   "rows_written, last_error_code, last_error, started_at, finished_at, "
                   "updated_at FROM sheetq_jobs ORDER BY id"));
  snprintf(out, cap, "%s\n--\n%s", jobs,
           rows(c, "SELECT job_id, attempt, lease_token, worker, outcome, error_code, "
                   "error, started_at, finished_at FROM sheetq_attempts "
                   "ORDER BY job_id, attempt, lease_token"));
}

static sq_errcode exec(sq_db *c, const char *sql) {
  sq_err err;
  sq_errcode rc = sq_db_exec(c, sql, NULL, 0, NULL, &err);
  if (rc != SQ_OK) fprintf(stderr, "  %s: %s\n", sql, err.msg);
  return rc;
}

/* A fresh job of the ledger in state runnable; its id goes to id. */
static sq_errcode new_job(sq_db *c, uint64_t report_id, char id[SQ_ID_SIZE]) {
  sq_ledger_entry e;
  sq_period period;
  char batch[SQ_ID_SIZE];
  sq_err err;
  sq_errcode rc;
  memset(&e, 0, sizeof e);
  if ((rc = sq_period_parse("2026-10", &period, &err)) != SQ_OK ||
      (rc = sq_id_new('b', batch)) != SQ_OK)
    return rc;
  e.job.tenant_id = 1;
  e.job.report_id = report_id;
  e.job.period = period;
  if ((rc = sq_ledger_submit(c, batch, "q", period, 3, &e, 1, &err)) != SQ_OK ||
      (rc = sq_ledger_mark_runnable(c, &e.job, 1, &err)) != SQ_OK) {
    fprintf(stderr, "  new_job: %s\n", err.msg);
    return rc;
  }
  memcpy(id, e.job.id, SQ_ID_SIZE);
  return SQ_OK;
}

/* ---- set-up --------------------------------------------------------------- */

TEST(setup) {
  const char *url = getenv("SHEETQ_TEST_MYSQL_URL");
  const char *path, *query;
  char sql[128];
  sq_err err;

  if (url == NULL || *url == '\0') url = getenv("SHEETQ_MYSQL_URL");
  if (url == NULL || *url == '\0') {
    fprintf(stderr, "skip: set SHEETQ_TEST_MYSQL_URL or SHEETQ_MYSQL_URL\n");
    exit(77);
  }
  admin = sq_db_connect(url, &err);
  if (admin == NULL) FAIL_AT("connect: %s", err.msg);
  snprintf(test_db, sizeof test_db, "sqt_db_ledger_%ld", (long)getpid());
  snprintf(sql, sizeof sql, "CREATE DATABASE `%s` CHARACTER SET utf8mb4", test_db);
  if (exec(admin, sql) != SQ_OK) {
    test_db[0] = '\0'; /* someone else's: teardown must not drop it */
    FAIL_AT("refusing to run: cannot create a fresh database");
  }
  snprintf(sql, sizeof sql, "USE `%s`", test_db);
  ASSERT_INT_EQ(exec(admin, sql), SQ_OK);

  /* The same URL with our database, so that a reconnect comes back to it. */
  path = strchr(url + strlen("mysql://"), '/');
  ASSERT(path != NULL);
  query = strchr(path, '?');
  snprintf(test_url, sizeof test_url, "%.*s/%s%s", (int)(path - url), url, test_db,
           query ? query : "");
  ledger = sq_db_open(test_url, SQ_DB_MULTI_STATEMENTS, &err);
  if (ledger == NULL) FAIL_AT("connect: %s", err.msg);
  ASSERT_INT_EQ(sq_ledger_migrate(admin, &err), SQ_OK);
  ASSERT_INT_EQ(exec(admin, "CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL, "
                            "note VARCHAR(64) NULL) ENGINE=InnoDB"),
                SQ_OK);
}

/* ---- sq_db_transaction ------------------------------------------------------ */

/* sq_db_transaction on the ledger connection, every statement bound with
 * the same parameters. */
static sq_errcode txn(const char *const *sql, size_t n, const sq_param *p, size_t n_p,
                      uint64_t *affected, size_t *failed, sq_err *err) {
  sq_db_stmt stmts[8];
  if (n > 8) return SQ_EINVAL;
  for (size_t i = 0; i < n; i++) stmts[i] = (sq_db_stmt){sql[i], p, n_p};
  return sq_db_transaction(ledger, stmts, n, affected, failed, err);
}

TEST(transaction_affected_rows) {
  static const char *const stmts[] = {
      "INSERT INTO t (id, v) VALUES (1, 0), (2, 0), (3, 0)",
      "UPDATE t SET v = :v WHERE id <= 2",
      "UPDATE t SET v = :v WHERE id = 99",
      "UPDATE t SET v = :v WHERE id = 1", /* already :v: matched, not changed */
      "SELECT id FROM t", /* rows are read and dropped */
      "DELETE FROM t WHERE id = 3 -- a comment at the end",
  };
  sq_param p[] = {SQ_P_I64("v", 7)};
  NEED_CONNECTIONS();
  uint64_t affected[6];
  size_t failed = 42;
  sq_err err;
  ASSERT_INT_EQ(exec(admin, "DELETE FROM t"), SQ_OK);
  memset(affected, 0xff, sizeof affected);
  ASSERT_INT_EQ(txn(stmts, 6, p, 1, affected, &failed, &err), SQ_OK);
  ASSERT_INT_EQ(affected[0], 3);
  ASSERT_INT_EQ(affected[1], 2);
  ASSERT_INT_EQ(affected[2], 0);
  ASSERT_INT_EQ(affected[3], 0);
  ASSERT_INT_EQ(affected[5], 1);
  ASSERT_STR_EQ(rows(admin, "SELECT id, v FROM t ORDER BY id"), "1|7\n2|7");
  /* The connection is ready for more. */
  ASSERT_STR_EQ(rows(ledger, "SELECT COUNT(*) FROM t"), "2");
}

TEST(transaction_error_rolls_back) {
  static const char *const stmts[] = {
      "INSERT INTO t (id, v) VALUES (10, 1)",
      "INSERT INTO t (id, v) VALUES (:dup, 1)", /* duplicate key */
      "INSERT INTO t (id, v) VALUES (11, 1)",
  };
  static const char *const after[] = {"UPDATE t SET v = v + 1 WHERE id = :dup"};
  sq_param p[] = {SQ_P_I64("dup", 1)};
  NEED_CONNECTIONS();
  uint64_t affected[3];
  size_t failed = 42;
  sq_err err;
  ASSERT_INT_EQ(exec(admin, "DELETE FROM t"), SQ_OK);
  ASSERT_INT_EQ(exec(admin, "INSERT INTO t (id, v) VALUES (1, 0)"), SQ_OK);
  ASSERT_INT_EQ(txn(stmts, 3, p, 1, affected, &failed, &err), SQ_EDB_QUERY);
  ASSERT_INT_EQ(failed, 1);
  ASSERT(strstr(err.msg, "statement 2 of 3") != NULL);
  ASSERT(strstr(err.msg, "Duplicate entry") != NULL);
  /* The first insert was rolled back, the third never ran. */
  ASSERT_STR_EQ(rows(admin, "SELECT id, v FROM t ORDER BY id"), "1|0");
  /* The connection is usable, outside any transaction. */
  ASSERT_INT_EQ(txn(after, 1, p, 1, affected, &failed, &err), SQ_OK);
  ASSERT_INT_EQ(affected[0], 1);
  ASSERT_STR_EQ(rows(admin, "SELECT id, v FROM t ORDER BY id"), "1|1");
  ASSERT_STR_EQ(rows(ledger, "SELECT @@in_transaction"), "0");
}

TEST(transaction_one_statement_each) {
  static const char *const two[] = {"UPDATE t SET v = 5", "UPDATE t SET v = 6; DELETE FROM t"};
  static const char *const unclosed[] = {"UPDATE t SET note = 'x"};
  static const char *const comment[] = {"UPDATE t SET v = 5 /* ; "};
  static const char *const quoted[] = {
      "UPDATE t SET note = CONCAT('a;b', :s) WHERE id = 1 -- ; not a separator"};
  /* A value cannot end the statement: it is escaped and quoted. */
  sq_param p[] = {SQ_P_STR("s", "'; DELETE FROM t; -- \\")};
  NEED_CONNECTIONS();
  size_t failed = 42;
  sq_err err;
  ASSERT_INT_EQ(exec(admin, "DELETE FROM t"), SQ_OK);
  ASSERT_INT_EQ(exec(admin, "INSERT INTO t (id, v) VALUES (1, 0)"), SQ_OK);
  ASSERT_INT_EQ(txn(two, 2, p, 1, NULL, &failed, &err), SQ_EINVAL);
  ASSERT_INT_EQ(failed, 1);
  ASSERT_INT_EQ(txn(unclosed, 1, p, 1, NULL, &failed, &err), SQ_EINVAL);
  ASSERT_INT_EQ(txn(comment, 1, p, 1, NULL, &failed, &err), SQ_EINVAL);
  ASSERT_INT_EQ(txn(two, 0, p, 1, NULL, &failed, &err), SQ_EINVAL);
  /* Only on a connection that takes several statements in one query. */
  sq_db *plain = sq_db_connect(test_url, &err);
  ASSERT(plain != NULL);
  sq_db_stmt one = {"UPDATE t SET v = 5", NULL, 0};
  ASSERT_INT_EQ(sq_db_transaction(plain, &one, 1, NULL, &failed, &err), SQ_EINVAL);
  sq_db_close(plain);
  /* Nothing of the refused ones ran, not even the first statement. */
  ASSERT_STR_EQ(rows(admin, "SELECT id, v, note FROM t"), "1|0|NULL");
  ASSERT_INT_EQ(txn(quoted, 1, p, 1, NULL, &failed, &err), SQ_OK);
  ASSERT_STR_EQ(rows(admin, "SELECT id, v, note FROM t"), "1|0|a;b'; DELETE FROM t; -- \\");
}

/* A temporary error (a lock wait timeout) comes back as sq_db_exec gives it,
 * SQ_EDB_CONNECT, and what ran before it is rolled back. */
TEST(transaction_lock_timeout) {
  static const char *const stmts[] = {"INSERT INTO t (id, v) VALUES (20, 0)",
                                      "UPDATE t SET v = 9 WHERE id = 1"};
  NEED_CONNECTIONS();
  size_t failed = 42;
  sq_err err;
  ASSERT_INT_EQ(exec(admin, "DELETE FROM t"), SQ_OK);
  ASSERT_INT_EQ(exec(admin, "INSERT INTO t (id, v) VALUES (1, 0)"), SQ_OK);
  ASSERT_INT_EQ(exec(ledger, "SET SESSION innodb_lock_wait_timeout = 1"), SQ_OK);
  ASSERT_INT_EQ(sq_db_begin(admin, &err), SQ_OK);
  ASSERT_STR_EQ(rows(admin, "SELECT id FROM t WHERE id = 1 FOR UPDATE"), "1");
  ASSERT_INT_EQ(txn(stmts, 2, NULL, 0, NULL, &failed, &err), SQ_EDB_CONNECT);
  sq_db_rollback(admin);
  ASSERT_INT_EQ(failed, 1);
  ASSERT(strstr(err.msg, "Lock wait timeout") != NULL);
  ASSERT_STR_EQ(rows(admin, "SELECT id, v FROM t ORDER BY id"), "1|0");
  ASSERT_INT_EQ(exec(ledger, "SET SESSION innodb_lock_wait_timeout = DEFAULT"), SQ_OK);
}

/* A lost connection is SQ_EDB_CONNECT; sq_db_reconnect keeps
 * SQ_DB_MULTI_STATEMENTS (without it the next transaction would be
 * refused). */
TEST(transaction_lost_connection) {
  static const char *const stmts[] = {"UPDATE t SET v = v + 1 WHERE id = 1",
                                      "UPDATE t SET v = v + 1 WHERE id = 1"};
  NEED_CONNECTIONS();
  char kill[64], before[32];
  uint64_t affected[2];
  size_t failed = 42;
  sq_err err;
  ASSERT_INT_EQ(exec(admin, "DELETE FROM t"), SQ_OK);
  ASSERT_INT_EQ(exec(admin, "INSERT INTO t (id, v) VALUES (1, 0)"), SQ_OK);
  snprintf(before, sizeof before, "%.20s", rows(ledger, "SELECT CONNECTION_ID()"));
  snprintf(kill, sizeof kill, "KILL %s", before);
  ASSERT_INT_EQ(exec(admin, kill), SQ_OK);
  ASSERT_INT_EQ(txn(stmts, 2, NULL, 0, affected, &failed, &err), SQ_EDB_CONNECT);
  ASSERT_STR_EQ(rows(admin, "SELECT v FROM t"), "0");
  ASSERT_INT_EQ(sq_db_reconnect(ledger, &err), SQ_OK);
  ASSERT(strcmp(rows(ledger, "SELECT CONNECTION_ID()"), before) != 0);
  ASSERT_INT_EQ(txn(stmts, 2, NULL, 0, affected, &failed, &err), SQ_OK);
  ASSERT_INT_EQ(affected[1], 1);
  ASSERT_STR_EQ(rows(admin, "SELECT v FROM t"), "2");
}

/* ---- fenced attempt transitions ------------------------------------------- */

static const char *attempts_of(const char *job) {
  char sql[256];
  snprintf(sql, sizeof sql,
           "SELECT attempt, lease_token, outcome, IFNULL(error_code, '-'), "
           "finished_at IS NOT NULL FROM sheetq_attempts WHERE job_id = '%s' "
           "ORDER BY lease_token", job);
  return rows(admin, sql);
}

static const char *job_of(const char *job) {
  char sql[256];
  snprintf(sql, sizeof sql,
           "SELECT state, IFNULL(live, '-'), attempts, IFNULL(lease_token, '-'), "
           "IFNULL(output_key, '-'), IFNULL(last_error_code, '-') FROM sheetq_jobs "
           "WHERE id = '%s'", job);
  return rows(admin, sql);
}

/* The transitions one step at a time, as tests state them. */
static sq_errcode one_step(sq_db *db, sq_ledger_step *s, sq_err *err) {
  if (sq_ledger_transitions(db, s, 1, err) != SQ_OK) return s->rc;
  if (s->rc != SQ_OK) *err = s->err;
  return s->rc;
}

static sq_errcode attempt_start(sq_db *db, const char *job, int attempt, uint64_t token,
                                const char *worker, sq_err *err) {
  sq_ledger_step s = {.kind = SQ_STEP_START, .job_id = job, .attempt = attempt,
                      .token = token, .worker = worker};
  return one_step(db, &s, err);
}

static sq_errcode attempt_succeeded(sq_db *db, const char *job, int attempt, uint64_t token,
                                    const char *key, uint64_t rows, sq_err *err) {
  sq_ledger_step s = {.kind = SQ_STEP_SUCCEEDED, .job_id = job, .attempt = attempt,
                      .token = token, .output_key = key, .rows = rows};
  return one_step(db, &s, err);
}

static sq_errcode attempt_failed(sq_db *db, const char *job, int attempt, uint64_t token,
                                 bool final, sq_errcode reason, const char *message,
                                 sq_err *err) {
  sq_ledger_step s = {.kind = SQ_STEP_FAILED, .job_id = job, .attempt = attempt,
                      .token = token, .final = final, .reason = reason, .message = message};
  return one_step(db, &s, err);
}

/* Several steps, all sent `again` or none. */
static sq_errcode transitions(sq_db *db, sq_ledger_step *s, size_t n, bool again,
                              sq_err *err) {
  for (size_t i = 0; i < n; i++) s[i].again = again;
  return sq_ledger_transitions(db, s, n, err);
}

TEST(fence_start_and_succeed) {
  NEED_CONNECTIONS();
  sq_db *db = ledger;
  char job[SQ_ID_SIZE], before[SNAPSHOT_SIZE], after[SNAPSHOT_SIZE];
  sq_err err;
  ASSERT_INT_EQ(new_job(admin, 100, job), SQ_OK);
  ASSERT_INT_EQ(attempt_start(db, job, 1, 5, "w1", &err), SQ_OK);
  ASSERT_STR_EQ(job_of(job), "running|1|1|5|-|-");
  ASSERT_STR_EQ(attempts_of(job), "1|5|running|-|0");

  /* A lower token, and the same token again (a repeated call, or a Redis
   * that handed the token out twice): refused, nothing applied. */
  ledger_snapshot(admin, before, sizeof before);
  ASSERT_INT_EQ(attempt_start(db, job, 2, 3, "w2", &err), SQ_ELEASE_LOST);
  ASSERT(strstr(err.msg, "holds token 5") != NULL);
  ASSERT_INT_EQ(attempt_start(db, job, 1, 5, "w1", &err), SQ_ELEASE_LOST);
  ASSERT_INT_EQ(attempt_succeeded(db, job, 1, 4, "old.xlsx", 1, &err),
                SQ_ELEASE_LOST);
  ASSERT_INT_EQ(attempt_failed(db, job, 1, 4, false, SQ_ERENDER, "x", &err),
                SQ_ELEASE_LOST);
  ledger_snapshot(admin, after, sizeof after);
  ASSERT_STR_EQ(after, before);

  /* A newer claim takes over: the old attempt is lost. */
  ASSERT_INT_EQ(attempt_start(db, job, 2, 7, "w2", &err), SQ_OK);
  ASSERT_STR_EQ(attempts_of(job), "1|5|lost|lease_lost|1\n2|7|running|-|0");
  ASSERT_INT_EQ(attempt_succeeded(db, job, 1, 5, "old.xlsx", 1, &err),
                SQ_ELEASE_LOST);
  ASSERT_INT_EQ(attempt_succeeded(db, job, 2, 7, "k.xlsx", 42, &err), SQ_OK);
  ASSERT_STR_EQ(job_of(job), "succeeded|1|2|7|k.xlsx|-");
  ASSERT_STR_EQ(attempts_of(job), "1|5|lost|lease_lost|1\n2|7|succeeded|-|1");

  /* Succeeded already: the same call again, a failure and a new claim
   * are all refused as cancelled, and change nothing. */
  ledger_snapshot(admin, before, sizeof before);
  ASSERT_INT_EQ(attempt_succeeded(db, job, 2, 7, "k.xlsx", 42, &err),
                SQ_ECANCELLED);
  ASSERT(strstr(err.msg, "already succeeded") != NULL);
  ASSERT_INT_EQ(attempt_failed(db, job, 2, 7, true, SQ_ERENDER, "x", &err),
                SQ_ECANCELLED);
  ASSERT_INT_EQ(attempt_start(db, job, 3, 9, "w3", &err), SQ_ECANCELLED);
  ledger_snapshot(admin, after, sizeof after);
  ASSERT_STR_EQ(after, before);

  ASSERT_INT_EQ(attempt_start(db, "j000000000000000000000000", 1, 1, "w", &err),
                SQ_ENOT_FOUND);
  ledger_snapshot(admin, after, sizeof after);
  ASSERT_STR_EQ(after, before);
  ASSERT_STR_EQ(rows(db, "SELECT @@in_transaction"), "0");
}

TEST(fence_failures) {
  NEED_CONNECTIONS();
  sq_db *db = ledger;
  char job[SQ_ID_SIZE], never[SQ_ID_SIZE], before[SNAPSHOT_SIZE], after[SNAPSHOT_SIZE];
  sq_err err;
  ASSERT_INT_EQ(new_job(admin, 200, job), SQ_OK);
  ASSERT_INT_EQ(new_job(admin, 300, never), SQ_OK);

  /* Not final: back to runnable, still live. */
  ASSERT_INT_EQ(attempt_start(db, job, 1, 11, "w1", &err), SQ_OK);
  ASSERT_INT_EQ(attempt_failed(db, job, 1, 11, false, SQ_ESTORAGE, "s3 down",
                                         &err), SQ_OK);
  ASSERT_STR_EQ(job_of(job), "runnable|1|1|11|-|storage");
  ASSERT_STR_EQ(attempts_of(job), "1|11|failed|storage|1");

  /* Another token cannot fail it. */
  ledger_snapshot(admin, before, sizeof before);
  ASSERT_INT_EQ(attempt_failed(db, job, 1, 10, true, SQ_ERENDER, "x", &err),
                SQ_ELEASE_LOST);
  ASSERT_INT_EQ(attempt_failed(db, job, 1, 12, true, SQ_ERENDER, "x", &err),
                SQ_ELEASE_LOST);
  ledger_snapshot(admin, after, sizeof after);
  ASSERT_STR_EQ(after, before);

  /* Final: failed, no longer live. */
  ASSERT_INT_EQ(attempt_start(db, job, 2, 12, "w2", &err), SQ_OK);
  ASSERT_INT_EQ(attempt_failed(db, job, 2, 12, true, SQ_ERENDER, "bad cell",
                                         &err), SQ_OK);
  ASSERT_STR_EQ(job_of(job), "failed|-|2|12|-|render");
  ASSERT_STR_EQ(attempts_of(job), "1|11|failed|storage|1\n2|12|failed|render|1");
  ledger_snapshot(admin, before, sizeof before);
  ASSERT_INT_EQ(attempt_failed(db, job, 2, 12, true, SQ_ERENDER, "bad cell",
                                         &err), SQ_ECANCELLED);
  ASSERT_INT_EQ(attempt_failed(db, job, 2, 12, false, SQ_ERENDER, "bad cell",
                                         &err), SQ_ECANCELLED);
  ledger_snapshot(admin, after, sizeof after);
  ASSERT_STR_EQ(after, before);

  /* A job that never started (token 0) fails without an attempt row. */
  ASSERT_INT_EQ(attempt_failed(db, never, 1, 0, true, SQ_EBAD_JOB, "malformed",
                                         &err), SQ_OK);
  ASSERT_STR_EQ(job_of(never), "failed|-|1|-|-|bad_job");
  ASSERT_STR_EQ(attempts_of(never), "");
  ASSERT_STR_EQ(rows(db, "SELECT @@in_transaction"), "0");
}

/* Several jobs' steps in one transaction, as the worker writes one
 * attempt's success with the next attempts' starts: each applied or refused
 * on its own, the refused ones changing nothing. */
TEST(fence_steps_together) {
  NEED_CONNECTIONS();
  sq_db *db = ledger;
  char done[SQ_ID_SIZE], next[SQ_ID_SIZE], taken[SQ_ID_SIZE], gone[SQ_ID_SIZE];
  char taken_before[ROWS_MAX], gone_before[ROWS_MAX];
  sq_err err;
  ASSERT_INT_EQ(new_job(admin, 400, done), SQ_OK);
  ASSERT_INT_EQ(new_job(admin, 500, next), SQ_OK);
  ASSERT_INT_EQ(new_job(admin, 600, taken), SQ_OK);
  ASSERT_INT_EQ(new_job(admin, 700, gone), SQ_OK);
  ASSERT_INT_EQ(attempt_start(db, done, 1, 21, "w1", &err), SQ_OK);
  ASSERT_INT_EQ(attempt_start(db, taken, 1, 30, "w2", &err), SQ_OK);
  ASSERT_INT_EQ(attempt_start(db, gone, 1, 40, "w2", &err), SQ_OK);
  ASSERT_INT_EQ(attempt_succeeded(db, gone, 1, 40, "g.xlsx", 1, &err), SQ_OK);
  snprintf(taken_before, sizeof taken_before, "%s", attempts_of(taken));
  snprintf(gone_before, sizeof gone_before, "%s", attempts_of(gone));

  sq_ledger_step steps[] = {
      {.kind = SQ_STEP_SUCCEEDED, .job_id = done, .attempt = 1, .token = 21,
       .output_key = "d.xlsx", .rows = 3},
      {.kind = SQ_STEP_START, .job_id = next, .attempt = 1, .token = 22, .worker = "w1"},
      /* held by a newer claim elsewhere: refused */
      {.kind = SQ_STEP_START, .job_id = taken, .attempt = 1, .token = 23, .worker = "w1"},
      /* finished already: refused as cancelled */
      {.kind = SQ_STEP_START, .job_id = gone, .attempt = 2, .token = 41, .worker = "w1"},
      {.kind = SQ_STEP_FAILED, .job_id = taken, .attempt = 1, .token = 29, .final = true,
       .reason = SQ_ERENDER, .message = "stale"},
  };
  ASSERT_INT_EQ(transitions(db, steps, 5, false, &err), SQ_OK);
  ASSERT_INT_EQ(steps[0].rc, SQ_OK);
  ASSERT_INT_EQ(steps[1].rc, SQ_OK);
  ASSERT_INT_EQ(steps[2].rc, SQ_ELEASE_LOST);
  ASSERT(strstr(steps[2].err.msg, "holds token 30") != NULL);
  ASSERT_INT_EQ(steps[3].rc, SQ_ECANCELLED);
  ASSERT_INT_EQ(steps[4].rc, SQ_ELEASE_LOST);
  ASSERT_STR_EQ(job_of(done), "succeeded|1|1|21|d.xlsx|-");
  ASSERT_STR_EQ(attempts_of(done), "1|21|succeeded|-|1");
  ASSERT_STR_EQ(job_of(next), "running|1|1|22|-|-");
  ASSERT_STR_EQ(attempts_of(next), "1|22|running|-|0");
  ASSERT_STR_EQ(job_of(taken), "running|1|1|30|-|-");
  ASSERT_STR_EQ(attempts_of(taken), taken_before);
  ASSERT_STR_EQ(job_of(gone), "succeeded|1|1|40|g.xlsx|-");
  ASSERT_STR_EQ(attempts_of(gone), gone_before);

  /* The same round again. Sent plainly (a Redis that handed the tokens
   * out twice, say), its success and start are refused like any repeat.
   * Sent `again` (the worker reconnected after losing the first answer),
   * the ones that applied, under their own token and worker, count as done,
   * and the refusals stay refusals. Nothing is applied twice either way. */
  char round_before[SNAPSHOT_SIZE], round_after[SNAPSHOT_SIZE];
  steps[0].worker = "w1"; /* who started the attempt */
  ledger_snapshot(admin, round_before, sizeof round_before);
  ASSERT_INT_EQ(transitions(db, steps, 5, false, &err), SQ_OK);
  ASSERT_INT_EQ(steps[0].rc, SQ_ECANCELLED);
  ASSERT_INT_EQ(steps[1].rc, SQ_ELEASE_LOST);
  ASSERT_INT_EQ(transitions(db, steps, 5, true, &err), SQ_OK);
  ASSERT_INT_EQ(steps[0].rc, SQ_OK);
  ASSERT_INT_EQ(steps[1].rc, SQ_OK);
  ASSERT_INT_EQ(steps[2].rc, SQ_ELEASE_LOST);
  ASSERT_INT_EQ(steps[3].rc, SQ_ECANCELLED);
  ASSERT_INT_EQ(steps[4].rc, SQ_ELEASE_LOST);
  /* `again` for one step only (a success kept through a failed round, sent
   * with fresh starts): that step counts as done, the others are judged as
   * usual. */
  steps[0].again = true;
  steps[1].again = false;
  ASSERT_INT_EQ(sq_ledger_transitions(db, steps, 2, &err), SQ_OK);
  ASSERT_INT_EQ(steps[0].rc, SQ_OK);
  ASSERT_INT_EQ(steps[1].rc, SQ_ELEASE_LOST);
  /* Another worker holding the same token is no repeat of this one's. */
  sq_ledger_step other = steps[1];
  other.worker = "w9";
  ASSERT_INT_EQ(transitions(db, &other, 1, true, &err), SQ_OK);
  ASSERT_INT_EQ(other.rc, SQ_ELEASE_LOST);
  ledger_snapshot(admin, round_after, sizeof round_after);
  ASSERT_STR_EQ(round_after, round_before);

  /* A final failure sent again after it applied counts as done too. */
  char failing[SQ_ID_SIZE];
  ASSERT_INT_EQ(new_job(admin, 450, failing), SQ_OK);
  ASSERT_INT_EQ(attempt_start(db, failing, 1, 50, "w1", &err), SQ_OK);
  sq_ledger_step fail = {.kind = SQ_STEP_FAILED, .job_id = failing, .attempt = 1, .token = 50,
                         .worker = "w1", .final = true, .reason = SQ_ERENDER,
                         .message = "bad cell"};
  ASSERT_INT_EQ(transitions(db, &fail, 1, false, &err), SQ_OK);
  ASSERT_INT_EQ(fail.rc, SQ_OK);
  ledger_snapshot(admin, round_before, sizeof round_before);
  ASSERT_INT_EQ(transitions(db, &fail, 1, false, &err), SQ_OK);
  ASSERT_INT_EQ(fail.rc, SQ_ECANCELLED);
  ASSERT_INT_EQ(transitions(db, &fail, 1, true, &err), SQ_OK);
  ASSERT_INT_EQ(fail.rc, SQ_OK);
  ledger_snapshot(admin, round_after, sizeof round_after);
  ASSERT_STR_EQ(round_after, round_before);
  ASSERT_STR_EQ(job_of(failing), "failed|-|1|50|-|render");

  /* A step that breaks the transaction (a key longer than the column)
   * applies nothing of any step, and every step says why. */
  char huge[2048];
  memset(huge, 'k', sizeof huge - 1);
  huge[sizeof huge - 1] = '\0';
  sq_ledger_step broken[] = {
      {.kind = SQ_STEP_SUCCEEDED, .job_id = next, .attempt = 1, .token = 22,
       .output_key = "n.xlsx", .rows = 1},
      {.kind = SQ_STEP_SUCCEEDED, .job_id = taken, .attempt = 1, .token = 30,
       .output_key = huge, .rows = 1},
  };
  char before[SNAPSHOT_SIZE], after[SNAPSHOT_SIZE];
  ledger_snapshot(admin, before, sizeof before);
  ASSERT(transitions(db, broken, 2, false, &err) != SQ_OK);
  ASSERT(broken[0].rc != SQ_OK && broken[0].rc == broken[1].rc);
  ASSERT_STR_EQ(broken[0].err.msg, err.msg);
  ledger_snapshot(admin, after, sizeof after);
  ASSERT_STR_EQ(after, before);
  ASSERT_STR_EQ(rows(db, "SELECT @@in_transaction"), "0");
}

/* Makes the sockets opened since `before` (a bitmap of the descriptors
 * open then) close with a reset: a process killed with results unread. */
static void reset_on_close(const unsigned char before[128]) {
  struct linger l = {1, 0};
  for (int fd = 3; fd < 1024; fd++) {
    struct stat st;
    if ((before[fd / 8] & (1u << (fd % 8))) || fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode))
      continue;
    (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  }
}

static void open_fds(unsigned char set[128]) {
  memset(set, 0, 128);
  for (int fd = 0; fd < 1024; fd++) {
    struct stat st;
    if (fstat(fd, &st) == 0) set[fd / 8] |= (unsigned char)(1u << (fd % 8));
  }
}

/* A worker SIGKILLed just after sending a round (chaos kills them at any
 * moment): the server still runs the statements it received, and commits,
 * with nobody reading the results. Each step must then apply whole or not
 * at all: a job succeeded in the ledger without its succeeded attempt, or
 * running with no attempt row, is what a guard that depends on the results
 * reaching the client leaves behind (seen in the chaos test: MariaDB 10.11
 * has ROW_COUNT() lose the count of a statement whose OK packet it failed
 * to send). To get there every time, another connection holds the job's
 * row, so the round waits on its lock; the worker is killed while it waits
 * (its connection set to close with a reset, as a process killed with
 * results unread does), and the lock is let go. Without the reset, a
 * client that had read every result so far closes cleanly and the server's
 * next write still succeeds: the damage then depends on timing. */
TEST(fence_client_killed_mid_round) {
  enum { ROUNDS = 3 };
  char done[SQ_ID_SIZE], next[SQ_ID_SIZE], sql[512];
  char waits[512];
  sq_err err;
  NEED_CONNECTIONS();
  /* The round has reached the server and runs into the held row: some
   * connection but this one is in a statement on sheetq_jobs (the holder
   * and the ledger connection are idle). */
  snprintf(waits, sizeof waits, "SELECT COUNT(*) FROM information_schema.processlist "
           "WHERE db = '%s' AND command = 'Query' AND info LIKE '%%sheetq_jobs%%' "
           "AND id <> CONNECTION_ID()", test_db);
  for (int i = 0; i < ROUNDS; i++) {
    sq_db *holder = sq_db_open(test_url, 0, &err);
    int go[2], n;
    char byte = 0;
    pid_t pid;
    ASSERT(holder != NULL);
    ASSERT_INT_EQ(new_job(admin, 1000 + 2 * (uint64_t)i, done), SQ_OK);
    ASSERT_INT_EQ(new_job(admin, 1001 + 2 * (uint64_t)i, next), SQ_OK);
    ASSERT_INT_EQ(attempt_start(ledger, done, 1, 5, "w", &err), SQ_OK);
    ASSERT_INT_EQ(sq_db_begin(holder, &err), SQ_OK);
    snprintf(sql, sizeof sql, "SELECT id FROM sheetq_jobs WHERE id = '%s' FOR UPDATE", done);
    ASSERT_STR_EQ(rows(holder, sql), done);
    ASSERT(pipe(go) == 0);
    fflush(NULL);
    pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) { /* the worker: its round, as ledger_round sends it */
      unsigned char before[128];
      sq_db *db;
      open_fds(before);
      db = sq_db_open(test_url, SQ_DB_MULTI_STATEMENTS | SQ_DB_READ_COMMITTED, &err);
      reset_on_close(before);
      sq_ledger_step steps[] = {
          {.kind = SQ_STEP_SUCCEEDED, .job_id = done, .attempt = 1, .token = 5,
           .worker = "w", .output_key = "k.xlsx", .rows = 1},
          {.kind = SQ_STEP_START, .job_id = next, .attempt = 1, .token = 6, .worker = "w"},
      };
      if (db == NULL || write(go[1], "g", 1) != 1) _exit(3);
      (void)sq_ledger_transitions(db, steps, 2, &err);
      _exit(0); /* not reached: it waits for the lock until killed */
    }
    close(go[1]);
    n = (int)read(go[0], &byte, 1);
    close(go[0]);
    ASSERT(n == 1 && byte == 'g');
    for (int t = 0; t < 600 && strcmp(rows(admin, waits), "1") != 0; t++) {
      struct timespec d = {0, 50 * 1000000L};
      nanosleep(&d, NULL);
    }
    ASSERT_STR_EQ(rows(admin, waits), "1");
    { /* well into its wait for the lock (this is no timing assertion) */
      struct timespec d = {0, 300 * 1000000L};
      nanosleep(&d, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    sq_db_rollback(holder); /* the round goes on, its client gone */
    sq_db_close(holder);
    /* Until the server has run what it received and dropped the
     * connection: only ours (admin, ledger) are left. */
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM information_schema.processlist "
             "WHERE db = '%s'", test_db);
    for (int t = 0; t < 600 && strcmp(rows(admin, sql), "2") != 0; t++) {
      struct timespec d = {0, 50 * 1000000L};
      nanosleep(&d, NULL);
    }
    ASSERT_STR_EQ(rows(admin, sql), "2");
    if (strncmp(job_of(done), "succeeded|", 10) == 0)
      ASSERT_STR_EQ(attempts_of(done), "1|5|succeeded|-|1");
    else
      ASSERT_STR_EQ(attempts_of(done), "1|5|running|-|0");
    if (strncmp(job_of(next), "running|", 8) == 0)
      ASSERT_STR_EQ(attempts_of(next), "1|6|running|-|0");
    else
      ASSERT_STR_EQ(attempts_of(next), "");
  }
}

/* Two workers start neighbouring jobs in the same moment. At REPEATABLE
 * READ the start's search for an earlier running attempt, finding none,
 * locks the gap where the job's rows would be, and the other's INSERT into
 * that gap waits (with each also waiting for the other: a deadlock, which
 * the worker's bench met). SQ_DB_READ_COMMITTED takes no such lock. */
TEST(read_committed_takes_no_gap_locks) {
  char a[SQ_ID_SIZE], b[SQ_ID_SIZE], sql[512];
  NEED_CONNECTIONS();
  /* The newest jobs: no attempt row sorts between or after them. */
  ASSERT_INT_EQ(new_job(admin, 800, a), SQ_OK);
  ASSERT_INT_EQ(new_job(admin, 801, b), SQ_OK);
  for (int rc_level = 0; rc_level < 2; rc_level++) {
    unsigned opts = rc_level ? SQ_DB_READ_COMMITTED : 0;
    sq_err err;
    sq_db *x = sq_db_open(test_url, opts, &err), *y = sq_db_open(test_url, opts, &err);
    ASSERT(x != NULL && y != NULL);
    fprintf(stderr, "  at %s\n", rc_level ? "READ COMMITTED" : "REPEATABLE READ");
    ASSERT_STR_EQ(rows(y, "SELECT @@tx_isolation"),
                  rc_level ? "READ-COMMITTED" : "REPEATABLE-READ");
    ASSERT_INT_EQ(exec(y, "SET SESSION innodb_lock_wait_timeout = 1"), SQ_OK);
    ASSERT_INT_EQ(sq_db_begin(x, &err), SQ_OK);
    snprintf(sql, sizeof sql, "UPDATE sheetq_attempts SET outcome = 'lost' WHERE job_id = "
             "'%s' AND outcome = 'running'", b);
    ASSERT_INT_EQ(exec(x, sql), SQ_OK);
    ASSERT_INT_EQ(sq_db_begin(y, &err), SQ_OK);
    snprintf(sql, sizeof sql, "INSERT INTO sheetq_attempts (job_id, attempt, lease_token, "
             "worker, outcome, started_at) VALUES ('%s', 1, 1, 'y', 'running', "
             "UTC_TIMESTAMP(3))", a);
    sq_errcode rc = sq_db_exec(y, sql, NULL, 0, NULL, &err);
    if (rc_level) {
      ASSERT_INT_EQ(rc, SQ_OK);
    } else {
      ASSERT_INT_EQ(rc, SQ_EDB_CONNECT);
      ASSERT(strstr(err.msg, "Lock wait timeout") != NULL);
    }
    sq_db_rollback(y);
    sq_db_rollback(x);
    sq_db_close(x);
    sq_db_close(y);
  }
  ASSERT_STR_EQ(attempts_of(a), "");
}

TEST(teardown) {
  char sql[128];
  sq_db_close(ledger);
  ledger = NULL;
  if (admin == NULL) return;
  if (test_db[0] != '\0') {
    snprintf(sql, sizeof sql, "DROP DATABASE `%s`", test_db);
    if (exec(admin, sql) != SQ_OK) {
      sq_db_close(admin);
      admin = NULL;
      FAIL_AT("cannot drop %s", test_db);
    }
  }
  sq_db_close(admin);
  admin = NULL;
}

TEST_MAIN(TEST_ENTRY(setup), TEST_ENTRY(transaction_affected_rows),
          TEST_ENTRY(transaction_error_rolls_back), TEST_ENTRY(transaction_one_statement_each),
          TEST_ENTRY(transaction_lock_timeout), TEST_ENTRY(transaction_lost_connection),
          TEST_ENTRY(fence_start_and_succeed), TEST_ENTRY(fence_failures),
          TEST_ENTRY(fence_steps_together), TEST_ENTRY(fence_client_killed_mid_round),
          TEST_ENTRY(read_committed_takes_no_gap_locks),
          TEST_ENTRY(teardown))
