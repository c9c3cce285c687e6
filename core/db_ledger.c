/* db_ledger.c - the ledger tables and their state transitions (see
 * db_ledger.h for the design). Times are UTC, from the database server's
 * clock, so hosts with skewed clocks still agree on the order of events. */
#include "core/db_ledger.h"

#include <mysqld_error.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK 500 /* rows per multi-row statement */

static const char *const state_names[SQ_JOB__STATES] = {
    "submitted", "runnable", "running", "succeeded", "failed", "cancelled"};

const char *sq_job_state_name(sq_job_state s) {
  return (unsigned)s < SQ_JOB__STATES ? state_names[s] : "unknown";
}

bool sq_job_state_parse(const char *s, size_t len, sq_job_state *out) {
  for (int i = 0; i < SQ_JOB__STATES; i++) {
    if (strlen(state_names[i]) == len && memcmp(state_names[i], s, len) == 0) {
      *out = (sq_job_state)i;
      return true;
    }
  }
  return false;
}

static const char *const schema[] = {
    "CREATE TABLE IF NOT EXISTS sheetq_schema ("
    " version INT NOT NULL, applied_at DATETIME(3) NOT NULL"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",

    "CREATE TABLE IF NOT EXISTS sheetq_batches ("
    " id CHAR(24) NOT NULL PRIMARY KEY,"
    " queue VARCHAR(64) NOT NULL,"
    " period CHAR(7) NOT NULL,"
    " targets INT UNSIGNED NOT NULL,"
    " created INT UNSIGNED NOT NULL,"
    " created_at DATETIME(3) NOT NULL,"
    " summary_sent_at DATETIME(3) NULL,"
    " KEY queue_created (queue, created_at)"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",

    "CREATE TABLE IF NOT EXISTS sheetq_jobs ("
    " id CHAR(24) NOT NULL PRIMARY KEY,"
    " batch_id CHAR(24) NOT NULL,"
    " queue VARCHAR(64) NOT NULL,"
    " tenant_id BIGINT UNSIGNED NOT NULL,"
    " report_id BIGINT UNSIGNED NOT NULL,"
    " period CHAR(7) NOT NULL,"
    " state ENUM('submitted','runnable','running','succeeded','failed',"
    "  'cancelled') NOT NULL,"
    " live TINYINT NULL,"
    " attempts INT NOT NULL DEFAULT 0,"
    " max_attempts INT NOT NULL,"
    " vcpus_m INT UNSIGNED NOT NULL DEFAULT 2000,"
    " urgent TINYINT NOT NULL DEFAULT 0,"
    " auto_rerun TINYINT NOT NULL DEFAULT 0,"
    " lease_token BIGINT UNSIGNED NULL,"
    " worker VARCHAR(128) NULL,"
    " cloned_from CHAR(24) NULL,"
    " output_key VARCHAR(1024) NULL,"
    " rows_written BIGINT UNSIGNED NULL,"
    " last_error_code VARCHAR(32) NULL,"
    " last_error TEXT NULL,"
    " created_at DATETIME(3) NOT NULL,"
    " started_at DATETIME(3) NULL,"
    " finished_at DATETIME(3) NULL,"
    " updated_at DATETIME(3) NOT NULL,"
    " notified_at DATETIME(3) NULL,"
    " UNIQUE KEY live_job (report_id, period, live),"
    " KEY batch_state (batch_id, state),"
    " KEY state (state),"
    " KEY state_notified (state, notified_at)"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",

    "CREATE TABLE IF NOT EXISTS sheetq_attempts ("
    " job_id CHAR(24) NOT NULL,"
    " attempt INT NOT NULL,"
    " lease_token BIGINT UNSIGNED NOT NULL,"
    " worker VARCHAR(128) NOT NULL,"
    " outcome ENUM('running','succeeded','failed','lost') NOT NULL,"
    " error_code VARCHAR(32) NULL,"
    " error TEXT NULL,"
    " started_at DATETIME(3) NOT NULL,"
    " finished_at DATETIME(3) NULL,"
    " PRIMARY KEY (job_id, attempt, lease_token)"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
};

/* Columns added after the tables were first created. A database made
 * before them gets each one when information_schema says it is missing
 * (under a named lock, so two processes migrating at once add it once), and
 * the backfill then runs once with it. */
static const struct added_column {
  const char *table, *column, *alter, *backfill;
} added_columns[] = {
    /* Slack outbox (queue/notifier.c): failures and finished batches from
     * before the upgrade count as already announced. */
    {"sheetq_jobs", "notified_at",
     "ALTER TABLE sheetq_jobs ADD COLUMN notified_at DATETIME(3) NULL, "
     "ADD KEY state_notified (state, notified_at)",
     "UPDATE sheetq_jobs SET notified_at = UTC_TIMESTAMP(3) WHERE state = 'failed'"},
    {"sheetq_batches", "summary_sent_at",
     "ALTER TABLE sheetq_batches ADD COLUMN summary_sent_at DATETIME(3) NULL",
     "UPDATE sheetq_batches b SET summary_sent_at = UTC_TIMESTAMP(3) WHERE NOT EXISTS "
     "(SELECT 1 FROM sheetq_jobs j WHERE j.batch_id = b.id "
     "AND j.state IN ('submitted','runnable','running'))"},
};

/* FENCED TRANSITIONS
 * An attempt's start and end each change the job's row, fenced by the lease
 * token, and the job's attempt rows. The job UPDATE is the fence: it changes
 * the job's row (one row: id is the primary key) or nothing, and only when it
 * applies may anything else of the transition be applied. Each transition
 * is a stored procedure, created by sq_ledger_migrate, so that a step is
 * one statement on the wire (CALL) and the server decides, in one call:
 *
 *   UPDATE sheetq_jobs SET ... WHERE <fence>;
 *   SET p_applied = ROW_COUNT();
 *   IF p_applied = 1 THEN <follow-ups: the attempt rows> END IF;
 *
 * ROW_COUNT() is read inside the call, where no result goes to the client
 * between the statements, so it is the fence's own count. (When the same
 * statements went one by one in the round's multi-statement query, a guard
 * SET @sq_fence = ROW_COUNT() after the fence did not hold when the client
 * died just after sending the round: MariaDB ran the rest and committed,
 * but ROW_COUNT() had lost the fence's count once the fence's OK packet
 * could not be sent; test_db_ledger.c, fence_client_killed_mid_round. The
 * multi-statement form then needed a locking check of the row before the
 * fence, a statement more per step: 7 statements per job on the wire
 * against 2 calls now; docs/benchmarks.md.) The count comes back through
 * the OUT parameter, into a user variable per step that the round reads
 * with one SELECT after its calls: a CALL's own affected rows cannot say
 * it (MariaDB adds up every statement of the call; MySQL reports the last
 * one).
 *
 * The guard is the fence's own outcome, decided on the row before the fence,
 * never what the row holds after: a guard on the new row (job has this token and state) would also hold
 * when the same call is repeated after its first run committed (a round sent
 * again after a lost reply): a start would then mark its own attempt lost
 * and insert it twice, a success would rewrite the attempt's finished_at
 * although the fence refused, and a non-final failure (job back to
 * runnable, same token) would too. A repeated start or success is refused
 * by the fence's condition itself (the token is no longer newer, the state
 * has moved on). A repeated non-final failure is not: the row stays
 * runnable under the same token, which its condition accepts, so the repeat
 * writes its attempt's outcome again with what it carries (a resend carries
 * the same). Within the same millisecond its fence changes nothing
 * (ROW_COUNT() counts rows changed), its follow-ups do not run, and the
 * client counts the step as refused. With the fence refused, fence_refused() works out why
 * (and, for steps sent again after a lost connection, whether they had
 * applied).
 *
 * The names carry a version: a changed body gets a new name (and the schema
 * version a bump), so workers of the old and the new release can share a
 * database during a rollout. Each procedure's COMMENT holds a fingerprint
 * of its text, which `sheetq migrate` compares: one made from another text
 * (the tables' collation changed since, a pre-release body) is made again,
 * and one a restore left out (mysqldump without --routines) is made. */
#define START_FENCE                                                        \
  "id = p_id AND state IN ('submitted','runnable','running') "             \
  "AND (lease_token IS NULL OR lease_token < p_token)"
#define SUCCEEDED_FENCE "id = p_id AND state = 'running' AND lease_token = p_token"
#define FAILED_FENCE                                                       \
  "id = p_id AND state IN ('submitted','runnable','running') "             \
  "AND COALESCE(lease_token, 0) = p_token"

/* A procedure: its name, its parameters after p_id (the job id, declared
 * by make_routine), its fence (an UPDATE of the job's row) and what follows
 * when the fence applied (the attempt rows). */
static const struct routine {
  const char *name, *params, *fence, *then;
} routines[] = {
    {"sheetq_start_v1",
     "p_attempt INT, p_token BIGINT UNSIGNED, p_worker VARCHAR(128) CHARACTER SET utf8mb4",
     "UPDATE sheetq_jobs SET state = 'running', attempts = p_attempt, lease_token = p_token, "
     "worker = p_worker, started_at = COALESCE(started_at, UTC_TIMESTAMP(3)), "
     "updated_at = UTC_TIMESTAMP(3) WHERE " START_FENCE,
     /* An earlier attempt still marked running lost its worker. */
     "UPDATE sheetq_attempts SET outcome = 'lost', error_code = 'lease_lost', "
     "error = 'the worker stopped renewing its lease; the job was taken over', "
     "finished_at = UTC_TIMESTAMP(3) WHERE job_id = p_id AND outcome = 'running'; "
     "INSERT INTO sheetq_attempts (job_id, attempt, lease_token, worker, outcome, "
     "started_at) VALUES (p_id, p_attempt, p_token, p_worker, 'running', UTC_TIMESTAMP(3));"},
    {"sheetq_succeeded_v1",
     "p_attempt INT, p_token BIGINT UNSIGNED, p_key VARCHAR(1024) CHARACTER SET utf8mb4, "
     "p_rows BIGINT UNSIGNED",
     "UPDATE sheetq_jobs SET state = 'succeeded', output_key = p_key, rows_written = p_rows, "
     "last_error_code = NULL, last_error = NULL, finished_at = UTC_TIMESTAMP(3), "
     "updated_at = UTC_TIMESTAMP(3) WHERE " SUCCEEDED_FENCE,
     "UPDATE sheetq_attempts SET outcome = 'succeeded', finished_at = UTC_TIMESTAMP(3) "
     "WHERE job_id = p_id AND attempt = p_attempt AND lease_token = p_token;"},
    /* A job that never started (malformed, found unrunnable before the
     * claim reached the ledger) has no token yet: token 0 fences nothing. */
    {"sheetq_failed_v1",
     "p_attempt INT, p_token BIGINT UNSIGNED, p_final TINYINT, "
     "p_code VARCHAR(32) CHARACTER SET utf8mb4, p_msg TEXT CHARACTER SET utf8mb4",
     "UPDATE sheetq_jobs SET state = IF(p_final, 'failed', 'runnable'), "
     "live = IF(p_final, NULL, 1), attempts = GREATEST(attempts, p_attempt), "
     "last_error_code = p_code, last_error = p_msg, "
     "finished_at = IF(p_final, UTC_TIMESTAMP(3), NULL), updated_at = UTC_TIMESTAMP(3) "
     "WHERE " FAILED_FENCE,
     "UPDATE sheetq_attempts SET outcome = 'failed', error_code = p_code, error = p_msg, "
     "finished_at = UTC_TIMESTAMP(3) WHERE job_id = p_id AND attempt = p_attempt "
     "AND lease_token = p_token;"},
};

/* FNV-1a, 64 bits, continued from h: tells one procedure text from
 * another, nothing more. */
static uint64_t fingerprint(uint64_t h, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
  return h;
}

/* The CREATE PROCEDURE of r, in out; its COMMENT ("sheetq <fingerprint>")
 * in comment. p_id takes the character set and collation of the id columns
 * it is compared with ("utf8mb4 COLLATE utf8mb4_general_ci"): a parameter's
 * collation is the server's default for its character set when the
 * procedure is made, and comparing it with a column of another collation
 * is an error on MySQL (1267, "illegal mix of collations"), where the
 * literals of the statements before were coerced to the column's. An id
 * longer than the column's 24 characters matches no job, as a literal did,
 * instead of failing the round. */
static sq_errcode make_routine(const struct routine *r, const char *charset, sq_buf *out,
                               char comment[32], sq_err *err) {
  sq_buf sig, body;
  sq_errcode rc;
  sq_buf_init(&sig, 1u << 16);
  sq_buf_init(&body, 1u << 16);
  rc = sq_buf_printf(&sig, "(p_id VARCHAR(64) CHARACTER SET %s, %s, OUT p_applied TINYINT)",
                     charset, r->params);
  if (rc == SQ_OK)
    rc = sq_buf_printf(&body,
                       "MODIFIES SQL DATA SQL SECURITY INVOKER BEGIN %s; "
                       "SET p_applied = ROW_COUNT(); IF p_applied = 1 THEN %s END IF; END",
                       r->fence, r->then);
  if (rc == SQ_OK) {
    uint64_t h = fingerprint(0xcbf29ce484222325ull, sq_buf_str(&sig), sig.len);
    snprintf(comment, 32, "sheetq %016llx",
             (unsigned long long)fingerprint(h, sq_buf_str(&body), body.len));
    /* The COMMENT is a characteristic: after the parameters. */
    rc = sq_buf_printf(out, "CREATE PROCEDURE %s%s COMMENT '%s' %s", r->name,
                       sq_buf_str(&sig), comment, sq_buf_str(&body));
  }
  sq_buf_free(&sig);
  sq_buf_free(&body);
  return rc == SQ_OK ? SQ_OK : sq_err_set(err, SQ_ENOMEM, "out of memory");
}

typedef struct text_row {
  char text[128];
  bool found;
} text_row;

static sq_errcode read_text(void *ctx, char **row, const unsigned long *len,
                            unsigned n_fields, sq_err *err) {
  text_row *t = ctx;
  (void)err;
  if (n_fields >= 1 && row[0] != NULL) {
    snprintf(t->text, sizeof t->text, "%.*s", (int)len[0], row[0]);
    t->found = true;
  }
  return SQ_OK;
}

static sq_errcode read_flag(void *ctx, char **row, const unsigned long *len,
                            unsigned n_fields, sq_err *err) {
  uint64_t v = 0;
  (void)err;
  if (n_fields >= 1 && row[0] && sq_parse_u64(row[0], len[0], &v)) *(bool *)ctx = v != 0;
  return SQ_OK;
}

/* The character set and collation of sheetq_jobs.id and
 * sheetq_attempts.job_id, which must agree ("utf8mb4 COLLATE
 * utf8mb4_general_ci" for tables made by migrate on MariaDB 10.11). */
static sq_errcode id_charset(sq_db *db, char out[256], sq_err *err) {
  text_row jobs = {{0}, false}, attempts = {{0}, false};
  static const char sql[] = "SELECT CONCAT(CHARACTER_SET_NAME, ' COLLATE ', COLLATION_NAME) "
                            "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
                            "AND TABLE_NAME = :t AND COLUMN_NAME = :c";
  sq_errcode rc = sq_db_query(db, sql, (sq_param[]){SQ_P_STR("t", "sheetq_jobs"),
                                                    SQ_P_STR("c", "id")},
                              2, read_text, &jobs, err);
  if (rc == SQ_OK)
    rc = sq_db_query(db, sql, (sq_param[]){SQ_P_STR("t", "sheetq_attempts"),
                                           SQ_P_STR("c", "job_id")},
                     2, read_text, &attempts, err);
  if (rc != SQ_OK) return rc;
  if (!jobs.found || !attempts.found)
    return sq_err_set(err, SQ_ECONFIG, "ledger: cannot read the character set of the job id "
                      "columns from information_schema");
  if (strcmp(jobs.text, attempts.text) != 0)
    return sq_err_set(err, SQ_ECONFIG, "ledger: sheetq_jobs.id (%s) and "
                      "sheetq_attempts.job_id (%s) differ in character set or collation",
                      jobs.text, attempts.text);
  /* It goes into SQL text: names only. */
  if (strspn(jobs.text, "abcdefghijklmnopqrstuvwxyz0123456789_ ACOLTE") != strlen(jobs.text))
    return sq_err_set(err, SQ_ECONFIG, "ledger: unexpected character set %.60s", jobs.text);
  snprintf(out, 256, "%s", jobs.text);
  return SQ_OK;
}

/* The COMMENT of procedure name ("" when this account sees none). */
static sq_errcode routine_comment(sq_db *db, const char *name, text_row *out, sq_err *err) {
  memset(out, 0, sizeof *out);
  return sq_db_query(db,
                     "SELECT ROUTINE_COMMENT FROM information_schema.ROUTINES WHERE "
                     "ROUTINE_SCHEMA = DATABASE() AND ROUTINE_TYPE = 'PROCEDURE' AND "
                     "ROUTINE_NAME = :n",
                     (sq_param[]){SQ_P_STR("n", name)}, 1, read_text, out, err);
}

/* Makes r from create (its COMMENT comment) unless it is there already. */
static sq_errcode ensure_routine(sq_db *db, const struct routine *r, const char *create,
                                 const char *comment, sq_err *err) {
  text_row have;
  char drop[96];
  sq_errcode rc = routine_comment(db, r->name, &have, err);
  if (rc != SQ_OK || (have.found && strcmp(have.text, comment) == 0)) return rc;
  if (have.found) {
    /* Made from another text (the tables' collation changed since, a
     * pre-release body): made again. A worker's round that calls it
     * meanwhile fails as a passing error and is sent again
     * (queue/supervisor.c keeps its successes). */
    snprintf(drop, sizeof drop, "DROP PROCEDURE IF EXISTS %s", r->name);
    if ((rc = sq_db_exec(db, drop, NULL, 0, NULL, err)) != SQ_OK) return rc;
  }
  /* CREATE PROCEDURE has no IF NOT EXISTS in MySQL. Migrations hold a lock
   * here; one this account cannot see (no privilege on it) is left. */
  rc = sq_db_exec(db, create, NULL, 0, NULL, err);
  return rc != SQ_OK && sq_db_errno(db) == ER_SP_ALREADY_EXISTS ? SQ_OK : rc;
}

sq_errcode sq_ledger_ensure_procedures(sq_db *db, sq_err *err) {
  char charset[256];
  bool locked = false;
  sq_errcode rc = id_charset(db, charset, err);
  if (rc != SQ_OK) return rc;
  /* One migration at a time: another must not drop what this one made. */
  rc = sq_db_query(db, "SELECT GET_LOCK('sheetq_migrate', 60)", NULL, 0, read_flag, &locked,
                   err);
  if (rc != SQ_OK) return rc;
  if (!locked) return sq_err_set(err, SQ_EDB_QUERY, "ledger: another migration holds the lock");
  for (size_t i = 0; rc == SQ_OK && i < sizeof routines / sizeof routines[0]; i++) {
    char comment[32];
    sq_buf create;
    sq_buf_init(&create, 1u << 16);
    rc = make_routine(&routines[i], charset, &create, comment, err);
    if (rc == SQ_OK) rc = ensure_routine(db, &routines[i], sq_buf_str(&create), comment, err);
    sq_buf_free(&create);
  }
  sq_db_exec(db, "DO RELEASE_LOCK('sheetq_migrate')", NULL, 0, NULL, NULL);
  return rc;
}


static sq_errcode has_column(sq_db *db, const struct added_column *c, bool *has,
                             sq_err *err) {
  *has = false;
  return sq_db_query(db,
                     "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE "
                     "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :t AND COLUMN_NAME = :c",
                     (sq_param[]){SQ_P_STR("t", c->table), SQ_P_STR("c", c->column)}, 2,
                     read_flag, has, err);
}

static sq_errcode add_columns(sq_db *db, sq_err *err) {
  size_t n = sizeof added_columns / sizeof added_columns[0], missing = 0;
  bool has, locked = false;
  sq_errcode rc = SQ_OK;
  for (size_t i = 0; i < n && rc == SQ_OK; i++)
    if ((rc = has_column(db, &added_columns[i], &has, err)) == SQ_OK && !has) missing++;
  if (rc != SQ_OK || missing == 0) return rc;
  rc = sq_db_query(db, "SELECT GET_LOCK('sheetq_migrate', 60)", NULL, 0, read_flag,
                   &locked, err);
  if (rc != SQ_OK) return rc;
  if (!locked) return sq_err_set(err, SQ_EDB_QUERY, "ledger: another migration holds the lock");
  for (size_t i = 0; i < n && rc == SQ_OK; i++) {
    if ((rc = has_column(db, &added_columns[i], &has, err)) != SQ_OK || has) continue;
    rc = sq_db_exec(db, added_columns[i].alter, NULL, 0, NULL, err);
    if (rc == SQ_OK) rc = sq_db_exec(db, added_columns[i].backfill, NULL, 0, NULL, err);
  }
  sq_db_exec(db, "DO RELEASE_LOCK('sheetq_migrate')", NULL, 0, NULL, NULL);
  return rc;
}

static sq_errcode read_version(void *ctx, char **row, const unsigned long *len,
                               unsigned n_fields, sq_err *err) {
  (void)err;
  if (n_fields == 1 && row[0]) (void)sq_parse_u64(row[0], len[0], ctx);
  return SQ_OK;
}

/* The ledger already has this version: nothing to create. Checked first, so
 * that an account with only SELECT, INSERT and UPDATE (docs/deploy.md) runs
 * every command once the schema is in place: MariaDB checks the CREATE
 * privilege of CREATE TABLE IF NOT EXISTS even when the table exists. A
 * missing table (or any error) means "not current": the DDL says why. */
static bool schema_current(sq_db *db) {
  uint64_t version = 0;
  sq_err ignored;
  return sq_db_query(db, "SELECT MAX(version) FROM sheetq_schema", NULL, 0, read_version,
                     &version, &ignored) == SQ_OK &&
         version >= SQ_LEDGER_SCHEMA_VERSION;
}

sq_errcode sq_ledger_migrate(sq_db *db, sq_err *err) {
  sq_errcode rc;
  uint64_t have = 0;
  if (schema_current(db)) return SQ_OK;
  for (size_t i = 0; i < sizeof schema / sizeof schema[0]; i++)
    if ((rc = sq_db_exec(db, schema[i], NULL, 0, NULL, err)) != SQ_OK) return rc;
  if ((rc = add_columns(db, err)) != SQ_OK) return rc;
  if ((rc = sq_ledger_ensure_procedures(db, err)) != SQ_OK) return rc;
  rc = sq_db_exec(db,
                  "INSERT INTO sheetq_schema (version, applied_at) "
                  "SELECT :v, UTC_TIMESTAMP(3) FROM DUAL WHERE NOT EXISTS "
                  "(SELECT 1 FROM sheetq_schema WHERE version = :v)",
                  (sq_param[]){SQ_P_I64("v", SQ_LEDGER_SCHEMA_VERSION)}, 1,
                  &have, err);
  return rc;
}

/* ---- submission ------------------------------------------------------- */

typedef struct lookup_ctx {
  sq_ledger_entry *entries;
  bool *matched; /* per entry: a live row was read back */
  size_t n;
  const char *batch_id, *queue;
} lookup_ctx;

/* Row: id, batch_id, report_id, state, vcpus_m, urgent, max_attempts,
 * attempts, queue. Matches rows back to entries. */
static sq_errcode lookup_row(void *ctx, char **row, const unsigned long *len,
                             unsigned n_fields, sq_err *err) {
  lookup_ctx *c = ctx;
  uint64_t report_id, vcpus_m, urgent, max_attempts, attempts;
  sq_job_state state;
  if (n_fields != 9 || !row[0] || !row[1] || !row[2] || !row[3] || !row[8] ||
      len[0] != SQ_ID_LEN || !sq_parse_u64(row[2], len[2], &report_id) ||
      !sq_job_state_parse(row[3], len[3], &state) ||
      !sq_parse_u64(row[4], len[4], &vcpus_m) || !sq_parse_u64(row[5], len[5], &urgent) ||
      !sq_parse_u64(row[6], len[6], &max_attempts) || !sq_parse_u64(row[7], len[7], &attempts))
    return sq_err_set(err, SQ_EDB_DATA, "ledger: malformed sheetq_jobs row");
  for (size_t i = 0; i < c->n; i++) {
    sq_ledger_entry *e = &c->entries[i];
    if (e->job.report_id != report_id) continue;
    memcpy(e->job.id, row[0], SQ_ID_SIZE - 1);
    e->job.id[SQ_ID_LEN] = '\0';
    memcpy(e->job.batch_id, row[1], SQ_ID_SIZE - 1);
    e->job.batch_id[SQ_ID_LEN] = '\0';
    e->state = state;
    e->job.vcpus_m = (long)vcpus_m;
    e->job.urgent = urgent != 0;
    e->job.max_attempts = (int)max_attempts;
    e->job.attempts = (int)attempts;
    e->created = strcmp(e->job.batch_id, c->batch_id) == 0;
    e->other_queue = strlen(c->queue) != len[8] || memcmp(row[8], c->queue, len[8]) != 0;
    c->matched[i] = true;
  }
  return SQ_OK;
}

/* *unmatched: entries no live row was read back for (see below). */
static sq_errcode submit_chunk(sq_db *db, const char *batch_id,
                               const char *queue, const char *period,
                               int max_attempts, sq_ledger_entry *entries,
                               size_t n, size_t *unmatched, sq_err *err) {
  sq_buf sql;
  uint64_t *report_ids = NULL;
  bool *matched = NULL;
  sq_errcode rc = SQ_ENOMEM;
  lookup_ctx lc = {entries, NULL, n, batch_id, queue};

  sq_buf_init(&sql, 1u << 20);
  report_ids = malloc(n * sizeof *report_ids);
  matched = calloc(n, sizeof *matched);
  if (report_ids == NULL || matched == NULL) goto nomem;
  lc.matched = matched;
  if (sq_buf_adds(&sql,
                  "INSERT IGNORE INTO sheetq_jobs (id, batch_id, queue, "
                  "tenant_id, report_id, period, state, live, max_attempts, "
                  "vcpus_m, urgent, created_at, updated_at) VALUES ") != SQ_OK)
    goto nomem;
  for (size_t i = 0; i < n; i++) {
    if ((rc = sq_id_new('j', entries[i].job.id)) != SQ_OK) {
      sq_err_set(err, rc, "cannot make a job id");
      goto out;
    }
    memcpy(entries[i].job.batch_id, batch_id, SQ_ID_SIZE);
    report_ids[i] = entries[i].job.report_id;
    /* Ids and the period were validated; queue by sq_config_validate(). */
    if (sq_buf_printf(&sql,
                      "%s('%s',:batch,:queue,%llu,%llu,:period,'submitted',1,"
                      ":max,%ld,%d,UTC_TIMESTAMP(3),UTC_TIMESTAMP(3))",
                      i ? "," : "", entries[i].job.id,
                      (unsigned long long)entries[i].job.tenant_id,
                      (unsigned long long)entries[i].job.report_id,
                      entries[i].job.vcpus_m, entries[i].job.urgent ? 1 : 0) != SQ_OK)
      goto nomem;
  }
  {
    sq_param p[] = {SQ_P_STR("batch", batch_id), SQ_P_STR("queue", queue),
                    SQ_P_STR("period", period), SQ_P_I64("max", max_attempts),
                    SQ_P_LIST("reports", report_ids, n)};
    rc = sq_db_exec(db, sq_buf_str(&sql), p, 5, NULL, err);
    if (rc != SQ_OK) goto out;
    rc = sq_db_query(db,
                     "SELECT id, batch_id, report_id, state, vcpus_m, urgent, "
                     "max_attempts, attempts, queue FROM sheetq_jobs WHERE period = :period "
                     "AND live = 1 AND report_id IN (:reports)",
                     p, 5, lookup_row, &lc, err);
  }
  /* A live job that kept this one out, then ended (cancelled, failed for
   * good) before the read-back, leaves its entry unmatched: the caller
   * runs the chunk again, which creates it now. */
  *unmatched = 0;
  for (size_t i = 0; rc == SQ_OK && i < n; i++) *unmatched += !matched[i];
  goto out;
nomem:
  rc = sq_err_set(err, SQ_ENOMEM, "out of memory building ledger insert");
out:
  free(report_ids);
  free(matched);
  sq_buf_free(&sql);
  return rc;
}

sq_errcode sq_ledger_submit(sq_db *db, const char *batch_id, const char *queue,
                            sq_period period, int max_attempts,
                            sq_ledger_entry *entries, size_t n, sq_err *err) {
  char p[SQ_PERIOD_STR_LEN];
  sq_errcode rc;
  size_t created = 0;
  sq_period_format(period, p);
  for (size_t i = 0; i < n; i++) {
    entries[i].job.period = period;
    entries[i].job.max_attempts = max_attempts;
    entries[i].job.attempts = 0;
    entries[i].created = entries[i].other_queue = false;
  }
  /* The batch first: jobs never point at a batch the ledger lacks. Its
   * count of created jobs is set once they are in, and a batch that created
   * nothing is removed again, so a run that submits nothing new leaves no
   * trace. Readers go by the batch's jobs, not that count: a batch with no
   * job yet is still being written (or its enqueue died first). */
  rc = sq_db_exec(db,
                  "INSERT IGNORE INTO sheetq_batches (id, queue, period, targets, created, "
                  "created_at) VALUES (:batch, :queue, :period, :targets, 0, "
                  "UTC_TIMESTAMP(3))",
                  (sq_param[]){SQ_P_STR("batch", batch_id), SQ_P_STR("queue", queue),
                               SQ_P_STR("period", p), SQ_P_U64("targets", n)},
                  4, NULL, err);
  if (rc != SQ_OK) return rc;
  for (size_t off = 0; off < n; off += CHUNK) {
    size_t len = n - off < CHUNK ? n - off : CHUNK;
    size_t unmatched = 0;
    int tries = 0;
    do {
      rc = submit_chunk(db, batch_id, queue, p, max_attempts, entries + off, len, &unmatched,
                        err);
      if (rc != SQ_OK) return rc;
    } while (unmatched > 0 && ++tries < 3);
    if (unmatched > 0) /* temporary: the next run sees a settled ledger */
      return sq_err_set(err, SQ_EDB_QUERY,
                        "%zu report(s) had their live job change during submission; "
                        "run enqueue again", unmatched);
  }
  for (size_t i = 0; i < n; i++) created += entries[i].created;
  if (created == 0)
    return sq_db_exec(db, "DELETE FROM sheetq_batches WHERE id = :batch AND created = 0",
                      (sq_param[]){SQ_P_STR("batch", batch_id)}, 1, NULL, err);
  return sq_db_exec(db, "UPDATE sheetq_batches SET created = :created WHERE id = :batch",
                    (sq_param[]){SQ_P_STR("batch", batch_id), SQ_P_U64("created", created)},
                    2, NULL, err);
}

sq_errcode sq_ledger_mark_runnable(sq_db *db, const sq_job *jobs, size_t n,
                                   sq_err *err) {
  for (size_t off = 0; off < n; off += CHUNK) {
    size_t len = n - off < CHUNK ? n - off : CHUNK;
    sq_buf sql;
    sq_errcode rc = SQ_OK;
    sq_buf_init(&sql, 1u << 20);
    rc = sq_buf_adds(&sql,
                     "UPDATE sheetq_jobs SET state = 'runnable', "
                     "updated_at = UTC_TIMESTAMP(3) WHERE state = 'submitted' "
                     "AND id IN (");
    for (size_t i = 0; i < len && rc == SQ_OK; i++)
      rc = sq_buf_printf(&sql, "%s'%s'", i ? "," : "", jobs[off + i].id);
    if (rc == SQ_OK) rc = sq_buf_adds(&sql, ")");
    if (rc == SQ_OK)
      rc = sq_db_exec(db, sq_buf_str(&sql), NULL, 0, NULL, err);
    else
      sq_err_set(err, rc, "out of memory");
    sq_buf_free(&sql);
    if (rc != SQ_OK) return rc;
  }
  return SQ_OK;
}

/* ---- attempts --------------------------------------------------------- */

typedef struct state_row {
  bool found;
  sq_job_state state;
  uint64_t token;
  char worker[128]; /* "" when NULL */
} state_row;

static sq_errcode read_state(void *ctx, char **row, const unsigned long *len,
                             unsigned n_fields, sq_err *err) {
  state_row *s = ctx;
  (void)n_fields;
  s->found = true;
  if (!sq_job_state_parse(row[0], len[0], &s->state))
    return sq_err_set(err, SQ_EDB_DATA, "ledger: unknown job state");
  s->token = 0;
  if (row[1] && !sq_parse_u64(row[1], len[1], &s->token))
    return sq_err_set(err, SQ_EDB_DATA, "ledger: bad lease token");
  snprintf(s->worker, sizeof s->worker, "%.*s", row[2] ? (int)len[2] : 0,
           row[2] ? row[2] : "");
  return SQ_OK;
}

static sq_errcode job_state(sq_db *db, const char *job_id, state_row *out,
                            sq_err *err) {
  memset(out, 0, sizeof *out);
  return sq_db_query(db,
                     "SELECT state, lease_token, worker FROM sheetq_jobs WHERE id = :id",
                     (sq_param[]){SQ_P_STR("id", job_id)}, 1, read_state, out,
                     err);
}

/* Where the step puts its job when it applies. */
static bool step_applied(const sq_ledger_step *step, const state_row *s) {
  switch (step->kind) {
  case SQ_STEP_START: return s->state == SQ_JOB_RUNNING;
  case SQ_STEP_SUCCEEDED: return s->state == SQ_JOB_SUCCEEDED;
  case SQ_STEP_FAILED: return s->state == (step->final ? SQ_JOB_FAILED : SQ_JOB_RUNNABLE);
  }
  return false;
}

/* Explains why a fenced step changed no row; a step sent `again` that
 * finds its own work done counts as done (db_ledger.h). */
static sq_errcode fence_refused(sq_db *db, const sq_ledger_step *step, sq_err *err) {
  const char *job_id = step->job_id;
  uint64_t token = step->token;
  state_row s;
  sq_errcode rc = job_state(db, job_id, &s, err);
  if (rc != SQ_OK) return rc;
  if (!s.found)
    return sq_err_set(err, SQ_ENOT_FOUND, "job %s is not in the ledger", job_id);
  if (step->again && s.token == token && step->worker != NULL &&
      strcmp(s.worker, step->worker) == 0 && step_applied(step, &s)) {
    err->code = SQ_OK;
    err->msg[0] = '\0';
    return SQ_OK;
  }
  if (s.state == SQ_JOB_SUCCEEDED || s.state == SQ_JOB_FAILED ||
      s.state == SQ_JOB_CANCELLED)
    return sq_err_set(err, SQ_ECANCELLED, "job %s is already %s", job_id,
                      sq_job_state_name(s.state));
  return sq_err_set(err, SQ_ELEASE_LOST,
                    "job %s: the ledger does not accept claim token %llu "
                    "(it holds token %llu, state %s)", job_id,
                    (unsigned long long)token, (unsigned long long)s.token,
                    sq_job_state_name(s.state));
}

/* A step as its CALL (FENCED TRANSITIONS, above); the fence's answer goes
 * to @sq_applied_<i>, i the step's place in the round. */
#define STEP_PARAMS 6

typedef struct step_sql {
  char call[128];
  sq_param p[STEP_PARAMS];
  size_t n_p;
} step_sql;

static void step_sql_of(const sq_ledger_step *s, size_t i, step_sql *q) {
  const char *fmt = "";
  q->p[0] = SQ_P_STR("id", s->job_id);
  q->p[1] = SQ_P_I64("attempt", s->attempt);
  q->p[2] = SQ_P_U64("token", s->token);
  q->n_p = 3;
  switch (s->kind) {
  case SQ_STEP_START:
    fmt = "CALL sheetq_start_v1(:id, :attempt, :token, :worker, @sq_applied_%zu)";
    q->p[q->n_p++] = SQ_P_STR("worker", s->worker);
    break;
  case SQ_STEP_SUCCEEDED:
    fmt = "CALL sheetq_succeeded_v1(:id, :attempt, :token, :key, :rows, @sq_applied_%zu)";
    q->p[q->n_p++] = SQ_P_STR("key", s->output_key);
    q->p[q->n_p++] = SQ_P_U64("rows", s->rows);
    break;
  case SQ_STEP_FAILED:
    fmt = "CALL sheetq_failed_v1(:id, :attempt, :token, :final, :code, :msg, @sq_applied_%zu)";
    q->p[q->n_p++] = SQ_P_I64("final", s->final);
    q->p[q->n_p++] = SQ_P_STR("code", sq_errname(s->reason));
    q->p[q->n_p++] = SQ_P_STR("msg", s->message);
    break;
  }
  snprintf(q->call, sizeof q->call, fmt, i);
}

/* The row of SELECT @sq_applied_0, ...: 1 applied, 0 refused, -1 unknown
 * (never expected; the step is then checked as one sent again). */
typedef struct applied_row {
  signed char *applied;
  size_t n;
} applied_row;

static sq_errcode read_applied(void *ctx, char **row, const unsigned long *len,
                               unsigned n_fields, sq_err *err) {
  applied_row *a = ctx;
  (void)err;
  for (size_t i = 0; i < a->n && i < n_fields; i++)
    if (row[i] != NULL && len[i] == 1 && (row[i][0] == '0' || row[i][0] == '1'))
      a->applied[i] = (signed char)(row[i][0] - '0');
  return SQ_OK;
}

/* DESIGN: steps of different jobs share one transaction, each fenced on its
 * own inside its own call, so the argument above holds step by step: a
 * refused step applies nothing and does not stop the others. One round trip
 * and one commit (one redo-log flush) for all of them: the worker writes the
 * success of one attempt with the starts of the next ones. */
sq_errcode sq_ledger_transitions(sq_db *db, sq_ledger_step *steps, size_t n,
                                 sq_err *err) {
  step_sql *q = calloc(n ? n : 1, sizeof *q);
  sq_db_stmt *stmts = calloc(n + 1, sizeof *stmts);
  signed char *applied = malloc(n ? n : 1);
  applied_row ar = {applied, n};
  sq_buf select;
  sq_errcode rc = SQ_OK;
  sq_err ignored;
  if (err == NULL) err = &ignored;
  sq_buf_init(&select, 1u << 16);
  if (q == NULL || stmts == NULL || applied == NULL) {
    rc = sq_err_set(err, SQ_ENOMEM, "out of memory");
    goto out;
  }
  memset(applied, -1, n ? n : 1);
  rc = sq_buf_adds(&select, "SELECT ");
  for (size_t i = 0; i < n && rc == SQ_OK; i++) {
    step_sql_of(&steps[i], i, &q[i]);
    stmts[i] = (sq_db_stmt){q[i].call, q[i].p, q[i].n_p, NULL, NULL};
    rc = sq_buf_printf(&select, "%s@sq_applied_%zu", i ? ", " : "", i);
  }
  if (rc != SQ_OK) {
    rc = sq_err_set(err, SQ_ENOMEM, "out of memory");
    goto out;
  }
  stmts[n] = (sq_db_stmt){sq_buf_str(&select), NULL, 0, read_applied, &ar};
  rc = n == 0 ? SQ_OK : sq_db_transaction(db, stmts, n + 1, NULL, NULL, err);
out:
  for (size_t i = 0; i < n; i++) {
    steps[i].rc = rc;
    if (rc != SQ_OK) {
      steps[i].err = *err;
    } else if (applied[i] == 1) {
      steps[i].err.code = SQ_OK;
      steps[i].err.msg[0] = '\0';
    } else {
      sq_ledger_step s = steps[i];
      s.again = s.again || applied[i] < 0;
      steps[i].rc = fence_refused(db, &s, &steps[i].err);
    }
  }
  sq_buf_free(&select);
  free(q);
  free(stmts);
  free(applied);
  return rc;
}

sq_errcode sq_ledger_check_procedures(sq_db *db, sq_err *err) {
  /* Token 0 never matches a running job: the call reads no row, locks
   * nothing and changes nothing. */
  sq_errcode rc = sq_db_exec(db, "CALL sheetq_succeeded_v1('', 0, 0, '', 0, @sq_applied_0)",
                             NULL, 0, NULL, err);
  unsigned e = rc == SQ_OK ? 0 : sq_db_errno(db);
  /* Missing, or made for another collation than the tables' (1267): for a
   * worker about to start, the schema is not migrated. In a round the same
   * errors stay passing ones: a migration may be making it again. */
  if (e == ER_SP_DOES_NOT_EXIST || e == ER_CANT_AGGREGATE_2COLLATIONS ||
      e == ER_CANT_AGGREGATE_3COLLATIONS || e == ER_CANT_AGGREGATE_NCOLLATIONS) {
    rc = SQ_ECONFIG;
    if (err) err->code = rc;
  }
  return rc;
}

/* ---- reading ---------------------------------------------------------- */

typedef struct counts_ctx {
  sq_ledger_counts *counts;
  char *batch;
  bool have_batch;
} counts_ctx;

static sq_errcode read_batch_id(void *ctx, char **row, const unsigned long *len,
                                unsigned n_fields, sq_err *err) {
  counts_ctx *c = ctx;
  (void)err;
  if (n_fields >= 1 && row[0] && len[0] == SQ_ID_LEN) {
    memcpy(c->batch, row[0], SQ_ID_SIZE - 1);
    c->batch[SQ_ID_LEN] = '\0';
    c->have_batch = true;
  }
  return SQ_OK;
}

static sq_errcode read_count(void *ctx, char **row, const unsigned long *len,
                             unsigned n_fields, sq_err *err) {
  counts_ctx *c = ctx;
  sq_job_state s;
  uint64_t n;
  (void)n_fields;
  if (!sq_job_state_parse(row[0], len[0], &s) || !sq_parse_u64(row[1], len[1], &n))
    return sq_err_set(err, SQ_EDB_DATA, "ledger: malformed count row");
  c->counts->by_state[s] += n;
  c->counts->total += n;
  return SQ_OK;
}

sq_errcode sq_ledger_batch_counts(sq_db *db, const char *queue,
                                  const char *batch_id,
                                  char batch_out[SQ_ID_SIZE],
                                  sq_ledger_counts *counts, sq_err *err) {
  counts_ctx c = {counts, batch_out, false};
  sq_errcode rc;
  memset(counts, 0, sizeof *counts);
  if (batch_id) {
    snprintf(batch_out, SQ_ID_SIZE, "%s", batch_id);
    c.have_batch = true;
  } else {
    rc = sq_db_query(db,
                     "SELECT b.id FROM sheetq_batches b WHERE b.queue = :queue AND EXISTS "
                     "(SELECT 1 FROM sheetq_jobs j WHERE j.batch_id = b.id) "
                     "ORDER BY b.created_at DESC, b.id DESC LIMIT 1",
                     (sq_param[]){SQ_P_STR("queue", queue)}, 1, read_batch_id,
                     &c, err);
    if (rc != SQ_OK) return rc;
    if (!c.have_batch)
      return sq_err_set(err, SQ_ENOT_FOUND, "no batch has been enqueued on queue %s", queue);
  }
  return sq_db_query(db,
                     "SELECT j.state, COUNT(*) FROM sheetq_jobs j "
                     "WHERE j.batch_id = :batch AND NOT EXISTS (SELECT 1 FROM "
                     "sheetq_jobs c WHERE c.cloned_from = j.id) GROUP BY j.state",
                     (sq_param[]){SQ_P_STR("batch", batch_out)}, 1, read_count,
                     &c, err);
}

typedef struct failures_ctx {
  sq_ledger_failure_cb cb;
  void *ctx;
} failures_ctx;

static sq_errcode read_failure(void *ctx, char **row, const unsigned long *len,
                               unsigned n_fields, sq_err *err) {
  failures_ctx *c = ctx;
  sq_ledger_failure f;
  uint64_t attempts = 0;
  memset(&f, 0, sizeof f);
  if (n_fields != 7 || !sq_parse_u64(row[1], len[1], &f.tenant_id) ||
      !sq_parse_u64(row[2], len[2], &f.report_id) ||
      !sq_parse_u64(row[4], len[4], &attempts))
    return sq_err_set(err, SQ_EDB_DATA, "ledger: malformed failure row");
  snprintf(f.job_id, sizeof f.job_id, "%s", row[0]);
  snprintf(f.period, sizeof f.period, "%s", row[3]);
  f.attempts = (int)attempts;
  snprintf(f.error_code, sizeof f.error_code, "%s", row[5] ? row[5] : "");
  snprintf(f.error, sizeof f.error, "%s", row[6] ? row[6] : "");
  return c->cb(c->ctx, &f);
}

sq_errcode sq_ledger_batch_failures(sq_db *db, const char *batch_id,
                                    sq_ledger_failure_cb cb, void *ctx,
                                    sq_err *err) {
  failures_ctx c = {cb, ctx};
  return sq_db_query(db,
                     "SELECT id, tenant_id, report_id, period, attempts, "
                     "last_error_code, last_error FROM sheetq_jobs "
                     "WHERE batch_id = :batch AND state = 'failed' AND NOT EXISTS "
                     "(SELECT 1 FROM sheetq_jobs c WHERE c.cloned_from = "
                     "sheetq_jobs.id) ORDER BY id",
                     (sq_param[]){SQ_P_STR("batch", batch_id)}, 1,
                     read_failure, &c, err);
}

/* ---- re-runs, cancels, repair ------------------------------------------ */

typedef struct job_row {
  bool found;
  sq_job job;
  sq_job_state state;
  uint64_t token;
} job_row;

/* Row: id, batch_id, tenant_id, report_id, period, state, lease_token,
 * vcpus_m, urgent. */
static sq_errcode read_job(void *ctx, char **row, const unsigned long *len,
                           unsigned n_fields, sq_err *err) {
  job_row *j = ctx;
  uint64_t vcpus_m = 0, urgent = 0, max_attempts = 0, attempts = 0;
  if (n_fields != 11 || !sq_parse_u64(row[7], len[7], &vcpus_m) ||
      !sq_parse_u64(row[8], len[8], &urgent) || !sq_parse_u64(row[9], len[9], &max_attempts) ||
      !sq_parse_u64(row[10], len[10], &attempts) || !row[0] || len[0] != SQ_ID_LEN || !row[1] ||
      len[1] != SQ_ID_LEN || !sq_parse_u64(row[2], len[2], &j->job.tenant_id) ||
      !sq_parse_u64(row[3], len[3], &j->job.report_id) ||
      sq_period_parse(row[4], &j->job.period, NULL) != SQ_OK ||
      !sq_job_state_parse(row[5], len[5], &j->state))
    return sq_err_set(err, SQ_EDB_DATA, "ledger: malformed sheetq_jobs row");
  memcpy(j->job.id, row[0], SQ_ID_LEN);
  j->job.id[SQ_ID_LEN] = '\0';
  memcpy(j->job.batch_id, row[1], SQ_ID_LEN);
  j->job.batch_id[SQ_ID_LEN] = '\0';
  j->job.vcpus_m = (long)vcpus_m;
  j->job.urgent = urgent != 0;
  j->job.max_attempts = (int)max_attempts;
  j->job.attempts = (int)attempts;
  j->token = 0;
  if (row[6] && !sq_parse_u64(row[6], len[6], &j->token))
    return sq_err_set(err, SQ_EDB_DATA, "ledger: bad lease token");
  j->found = true;
  return SQ_OK;
}

#define JOB_COLUMNS                                                         \
  "id, batch_id, tenant_id, report_id, period, state, lease_token, vcpus_m, " \
  "urgent, max_attempts, attempts"

sq_errcode sq_ledger_get_job(sq_db *db, const char *job_id, sq_job *job,
                             sq_job_state *state, sq_err *err) {
  job_row j;
  sq_errcode rc;
  memset(&j, 0, sizeof j);
  rc = sq_db_query(db, "SELECT " JOB_COLUMNS " FROM sheetq_jobs WHERE id = :id",
                   (sq_param[]){SQ_P_STR("id", job_id)}, 1, read_job, &j, err);
  if (rc != SQ_OK) return rc;
  if (!j.found) return sq_err_set(err, SQ_ENOT_FOUND, "no job %s in the ledger", job_id);
  *job = j.job;
  if (state) *state = j.state;
  return SQ_OK;
}

sq_errcode sq_ledger_clone(sq_db *db, const char *job_id, int max_attempts,
                           bool automatic, sq_job *clone, sq_err *err) {
  sq_job orig;
  sq_job_state state;
  char period[SQ_PERIOD_STR_LEN];
  uint64_t changed = 0;
  sq_errcode rc = sq_db_begin(db, err);
  if (rc != SQ_OK) return rc;
  /* Lock the row first so two re-runs of one job cannot both clone it. */
  rc = sq_db_exec(db, "SELECT id FROM sheetq_jobs WHERE id = :id FOR UPDATE",
                  (sq_param[]){SQ_P_STR("id", job_id)}, 1, NULL, err);
  if (rc != SQ_OK) goto fail;
  rc = sq_ledger_get_job(db, job_id, &orig, &state, err);
  if (rc != SQ_OK) goto fail;
  if (state != SQ_JOB_FAILED && state != SQ_JOB_SUCCEEDED && state != SQ_JOB_CANCELLED) {
    rc = sq_err_set(err, SQ_EINVAL, "job %s is %s: only a finished job can be re-run",
                    job_id, sq_job_state_name(state));
    goto fail;
  }
  *clone = orig;
  clone->urgent = true; /* a re-run goes before the batch */
  clone->max_attempts = max_attempts;
  clone->attempts = 0;
  if ((rc = sq_id_new('j', clone->id)) != SQ_OK) {
    sq_err_set(err, rc, "cannot make a job id");
    goto fail;
  }
  sq_period_format(orig.period, period);
  rc = sq_db_exec(db, "UPDATE sheetq_jobs SET live = NULL, updated_at = UTC_TIMESTAMP(3) "
                      "WHERE id = :id", (sq_param[]){SQ_P_STR("id", job_id)}, 1, NULL, err);
  if (rc != SQ_OK) goto fail;
  {
    sq_param p[] = {SQ_P_STR("id", clone->id), SQ_P_STR("batch", orig.batch_id),
                    SQ_P_U64("tenant", orig.tenant_id), SQ_P_U64("report", orig.report_id),
                    SQ_P_STR("period", period), SQ_P_I64("max", max_attempts),
                    SQ_P_STR("from", job_id), SQ_P_I64("auto", automatic)};
    rc = sq_db_exec(db,
                    "INSERT IGNORE INTO sheetq_jobs (id, batch_id, queue, tenant_id, "
                    "report_id, period, state, live, max_attempts, vcpus_m, urgent, "
                    "auto_rerun, cloned_from, created_at, updated_at) SELECT :id, "
                    ":batch, queue, :tenant, :report, :period, 'submitted', 1, :max, "
                    "vcpus_m, 1, :auto, :from, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3) "
                    "FROM sheetq_jobs WHERE id = :from",
                    p, 8, &changed, err);
  }
  if (rc != SQ_OK) goto fail;
  if (changed == 0) {
    rc = sq_err_set(err, SQ_EINVAL,
                    "report %llu period %s already has a job queued or running; "
                    "not re-running %s", (unsigned long long)orig.report_id, period, job_id);
    goto fail;
  }
  if ((rc = sq_db_commit(db, err)) == SQ_OK) return SQ_OK;
fail:
  sq_db_rollback(db);
  return rc;
}

typedef struct live_states_ctx {
  const uint64_t *ids;
  size_t n;
  sq_job_state *states;
  bool tables_exist;
} live_states_ctx;

/* Row: report_id, state. */
static sq_errcode read_live_state(void *ctx, char **row, const unsigned long *len,
                                  unsigned n_fields, sq_err *err) {
  live_states_ctx *c = ctx;
  uint64_t report_id;
  sq_job_state state;
  if (n_fields != 2 || !sq_parse_u64(row[0], len[0], &report_id) ||
      !sq_job_state_parse(row[1], len[1], &state))
    return sq_err_set(err, SQ_EDB_DATA, "ledger: malformed live job row");
  for (size_t i = 0; i < c->n; i++)
    if (c->ids[i] == report_id) c->states[i] = state;
  return SQ_OK;
}

static sq_errcode read_table_count(void *ctx, char **row, const unsigned long *len,
                                   unsigned n_fields, sq_err *err) {
  live_states_ctx *c = ctx;
  uint64_t count = 0;
  (void)err;
  c->tables_exist = n_fields == 1 && sq_parse_u64(row[0], len[0], &count) && count > 0;
  return SQ_OK;
}

sq_errcode sq_ledger_live_states(sq_db *db, sq_period period, const uint64_t *report_ids,
                                 size_t n, sq_job_state *states, sq_err *err) {
  char p[SQ_PERIOD_STR_LEN];
  live_states_ctx c = {NULL, 0, NULL, false};
  sq_errcode rc;
  for (size_t i = 0; i < n; i++) states[i] = SQ_JOB__STATES;
  sq_period_format(period, p);
  /* Asking first, rather than migrating: a dry run writes nothing. */
  rc = sq_db_query(db,
                   "SELECT COUNT(*) FROM information_schema.tables WHERE "
                   "table_schema = DATABASE() AND table_name = 'sheetq_jobs'",
                   NULL, 0, read_table_count, &c, err);
  if (rc != SQ_OK || !c.tables_exist) return rc;
  for (size_t off = 0; off < n && rc == SQ_OK; off += 500) {
    size_t len = n - off < 500 ? n - off : 500;
    c.ids = report_ids + off;
    c.n = len;
    c.states = states + off;
    rc = sq_db_query(db,
                     "SELECT report_id, state FROM sheetq_jobs WHERE period = :period "
                     "AND live = 1 AND report_id IN (:ids)",
                     (sq_param[]){SQ_P_STR("period", p), SQ_P_LIST("ids", report_ids + off, len)},
                     2, read_live_state, &c, err);
  }
  return rc;
}

typedef struct latest_ctx {
  char *id;
  bool found;
} latest_ctx;

static sq_errcode read_latest(void *ctx, char **row, const unsigned long *len,
                              unsigned n_fields, sq_err *err) {
  latest_ctx *l = ctx;
  (void)n_fields;
  (void)err;
  if (row[0] && len[0] == SQ_ID_LEN) {
    memcpy(l->id, row[0], SQ_ID_LEN);
    l->id[SQ_ID_LEN] = '\0';
    l->found = true;
  }
  return SQ_OK;
}

sq_errcode sq_ledger_latest_job(sq_db *db, uint64_t report_id, sq_period period,
                                char job_id[SQ_ID_SIZE], sq_err *err) {
  char p[SQ_PERIOD_STR_LEN];
  latest_ctx l = {job_id, false};
  sq_errcode rc;
  sq_period_format(period, p);
  rc = sq_db_query(db,
                   "SELECT id FROM sheetq_jobs WHERE report_id = :report AND "
                   "period = :period ORDER BY created_at DESC, id DESC LIMIT 1",
                   (sq_param[]){SQ_P_U64("report", report_id), SQ_P_STR("period", p)},
                   2, read_latest, &l, err);
  if (rc == SQ_OK && !l.found)
    rc = sq_err_set(err, SQ_ENOT_FOUND, "no job for report %llu period %s",
                    (unsigned long long)report_id, p);
  return rc;
}

sq_errcode sq_ledger_cancel(sq_db *db, const char *job_id, sq_err *err) {
  uint64_t changed = 0;
  sq_job job;
  sq_job_state state;
  sq_errcode rc = sq_db_exec(db,
                             "UPDATE sheetq_jobs SET state = 'cancelled', live = NULL, "
                             "last_error_code = 'cancelled', last_error = 'cancelled by "
                             "sheetq cancel', finished_at = UTC_TIMESTAMP(3), "
                             "updated_at = UTC_TIMESTAMP(3) WHERE id = :id AND state IN "
                             "('submitted','runnable')",
                             (sq_param[]){SQ_P_STR("id", job_id)}, 1, &changed, err);
  if (rc != SQ_OK || changed == 1) return rc;
  if ((rc = sq_ledger_get_job(db, job_id, &job, &state, err)) != SQ_OK) return rc;
  return sq_err_set(err, SQ_EINVAL, "job %s is %s: only a job that has not started can be cancelled",
                    job_id, sq_job_state_name(state));
}

typedef struct unfinished_ctx {
  sq_ledger_job_cb cb;
  void *ctx;
  uint64_t max_token;
} unfinished_ctx;

static sq_errcode read_unfinished(void *ctx, char **row, const unsigned long *len,
                                  unsigned n_fields, sq_err *err) {
  unfinished_ctx *u = ctx;
  job_row j;
  sq_errcode rc;
  memset(&j, 0, sizeof j);
  if ((rc = read_job(&j, row, len, n_fields, err)) != SQ_OK) return rc;
  return u->cb(u->ctx, &j.job, j.state);
}

static sq_errcode read_max(void *ctx, char **row, const unsigned long *len,
                           unsigned n_fields, sq_err *err) {
  uint64_t *max = ctx;
  (void)n_fields;
  (void)err;
  if (row[0] && !sq_parse_u64(row[0], len[0], max)) *max = 0;
  return SQ_OK;
}

sq_errcode sq_ledger_unfinished(sq_db *db, const char *queue, sq_ledger_job_cb cb,
                                void *ctx, uint64_t *max_token, sq_err *err) {
  unfinished_ctx u = {cb, ctx, 0};
  sq_param p[] = {SQ_P_STR("queue", queue)};
  sq_errcode rc = sq_db_query(db,
                              "SELECT " JOB_COLUMNS " FROM sheetq_jobs WHERE queue = :queue "
                              "AND state IN ('submitted','runnable','running') ORDER BY id",
                              p, 1, read_unfinished, &u, err);
  *max_token = 0;
  if (rc == SQ_OK)
    rc = sq_db_query(db, "SELECT MAX(lease_token) FROM sheetq_jobs WHERE queue = :queue",
                     p, 1, read_max, max_token, err);
  return rc;
}

typedef struct attempts_ctx {
  sq_ledger_attempt_cb cb;
  void *ctx;
} attempts_ctx;

static void copy_field(char *dst, size_t cap, const char *src) {
  snprintf(dst, cap, "%s", src ? src : "");
}

/* Row: attempt, lease_token, worker, outcome, error_code, error, started_at,
 * finished_at. */
static sq_errcode read_attempt(void *ctx, char **row, const unsigned long *len,
                               unsigned n_fields, sq_err *err) {
  attempts_ctx *c = ctx;
  sq_ledger_attempt a;
  uint64_t n = 0;
  memset(&a, 0, sizeof a);
  if (n_fields != 8 || !sq_parse_u64(row[0], len[0], &n) ||
      !sq_parse_u64(row[1], len[1], &a.token))
    return sq_err_set(err, SQ_EDB_DATA, "ledger: malformed attempt row");
  a.attempt = (int)n;
  copy_field(a.worker, sizeof a.worker, row[2]);
  copy_field(a.outcome, sizeof a.outcome, row[3]);
  copy_field(a.error_code, sizeof a.error_code, row[4]);
  copy_field(a.error, sizeof a.error, row[5]);
  copy_field(a.started_at, sizeof a.started_at, row[6]);
  copy_field(a.finished_at, sizeof a.finished_at, row[7]);
  return c->cb(c->ctx, &a);
}

sq_errcode sq_ledger_attempts(sq_db *db, const char *job_id,
                              sq_ledger_attempt_cb cb, void *ctx, sq_err *err) {
  attempts_ctx c = {cb, ctx};
  return sq_db_query(db,
                     "SELECT attempt, lease_token, worker, outcome, error_code, "
                     "error, started_at, finished_at FROM sheetq_attempts "
                     "WHERE job_id = :id ORDER BY started_at, lease_token",
                     (sq_param[]){SQ_P_STR("id", job_id)}, 1, read_attempt, &c, err);
}

typedef struct rerun_ctx {
  sq_ledger_rerun_cb cb;
  void *ctx;
} rerun_ctx;

static sq_errcode read_rerun(void *ctx, char **row, const unsigned long *len,
                             unsigned n_fields, sq_err *err) {
  rerun_ctx *r = ctx;
  char id[SQ_ID_SIZE];
  (void)err;
  if (n_fields != 2 || !row[0] || len[0] != SQ_ID_LEN) return SQ_OK;
  memcpy(id, row[0], SQ_ID_LEN);
  id[SQ_ID_LEN] = '\0';
  return r->cb(r->ctx, id, sq_errcode_from_name(row[1] ? row[1] : ""));
}

sq_errcode sq_ledger_auto_rerun_candidates(sq_db *db, const char *queue,
                                           long delay_s, sq_ledger_rerun_cb cb,
                                           void *ctx, sq_err *err) {
  rerun_ctx r = {cb, ctx};
  return sq_db_query(db,
                     "SELECT j.id, j.last_error_code FROM sheetq_jobs j "
                     "WHERE j.queue = :queue AND j.state = 'failed' AND j.auto_rerun = 0 "
                     "AND j.finished_at <= UTC_TIMESTAMP(3) - INTERVAL :delay SECOND "
                     "AND j.finished_at > UTC_TIMESTAMP(3) - INTERVAL :delay SECOND "
                     "- INTERVAL 1 DAY AND NOT EXISTS (SELECT 1 FROM sheetq_jobs c "
                     "WHERE c.cloned_from = j.id) ORDER BY j.finished_at LIMIT 100",
                     (sq_param[]){SQ_P_STR("queue", queue), SQ_P_I64("delay", delay_s)},
                     2, read_rerun, &r, err);
}

sq_errcode sq_ledger_attempt_lost(sq_db *db, const char *job_id, uint64_t token,
                                  sq_err *err) {
  sq_param p[] = {SQ_P_STR("id", job_id), SQ_P_U64("token", token)};
  sq_errcode rc = sq_db_exec(db,
                             "UPDATE sheetq_attempts SET outcome = 'lost', "
                             "error_code = 'lease_lost', error = 'the worker stopped "
                             "renewing its lease; the job went back to the queue', "
                             "finished_at = UTC_TIMESTAMP(3) WHERE job_id = :id "
                             "AND lease_token = :token AND outcome = 'running'",
                             p, 2, NULL, err);
  if (rc == SQ_OK)
    rc = sq_db_exec(db,
                    "UPDATE sheetq_jobs SET state = 'runnable', "
                    "updated_at = UTC_TIMESTAMP(3) WHERE id = :id "
                    "AND lease_token = :token AND state = 'running'",
                    p, 2, NULL, err);
  return rc;
}

sq_errcode sq_ledger_fail_lost(sq_db *db, const char *job_id, int attempt,
                               uint64_t token, const char *message, sq_err *err) {
  sq_param p[] = {SQ_P_STR("id", job_id), SQ_P_I64("attempt", attempt),
                  SQ_P_U64("token", token), SQ_P_STR("msg", message)};
  sq_errcode rc = sq_db_begin(db, err);
  if (rc != SQ_OK) return rc;
  /* The lost claim may never have reached the ledger (its worker died first):
   * the ledger then holds an older token, and that is fine. */
  rc = sq_db_exec(db,
                  "UPDATE sheetq_jobs SET state = 'failed', live = NULL, "
                  "attempts = GREATEST(attempts, :attempt), last_error_code = 'lease_lost', "
                  "last_error = :msg, finished_at = UTC_TIMESTAMP(3), "
                  "updated_at = UTC_TIMESTAMP(3) WHERE id = :id "
                  "AND state IN ('submitted','runnable','running') "
                  "AND COALESCE(lease_token, 0) <= :token",
                  p, 4, NULL, err);
  if (rc == SQ_OK)
    rc = sq_db_exec(db,
                    "UPDATE sheetq_attempts SET outcome = 'lost', error_code = 'lease_lost', "
                    "error = :msg, finished_at = UTC_TIMESTAMP(3) WHERE job_id = :id "
                    "AND outcome = 'running' AND lease_token <= :token",
                    p, 4, NULL, err);
  if (rc == SQ_OK) rc = sq_db_commit(db, err);
  if (rc != SQ_OK) sq_db_rollback(db);
  return rc;
}
