/* test_db_report.c - core/db_report against a real MariaDB.
 *
 * Needs SHEETQ_TEST_MYSQL_URL (what scripts/test.sh exports) or
 * SHEETQ_MYSQL_URL; exits 77 (skipped) without either. The URL's database is
 * never touched: the test creates its own, sqt_db_report_<pid>, refuses to
 * run if that exists already, loads scripts/demo_schema.sql and a small
 * handcrafted dataset into it, and drops it at the end. Expected results are
 * written out by hand from the dataset below, not computed by sheetq.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/db.h"
#include "core/db_report.h"
#include "core/period.h"
#include "harness.h"

#ifndef SQ_SOURCE_DIR
#error "SQ_SOURCE_DIR must name the source tree (set by tests/meson.build)"
#endif

static sq_db *db;
static char test_db[64];

static sq_errcode exec(const char *sql, const sq_param *params, size_t n,
                       sq_err *err) {
  return sq_db_exec(db, sql, params, n, NULL, err);
}

/* Runs the statements of an SQL file: ';' at the end of a line ends one,
 * lines starting with "--" are comments. Enough for demo_schema.sql. */
static sq_errcode run_sql_file(const char *path, sq_err *err) {
  FILE *f = fopen(path, "r");
  char line[4096];
  sq_buf stmt;
  sq_errcode rc = SQ_OK;
  if (f == NULL) return sq_err_set(err, SQ_EIO, "cannot open %s", path);
  sq_buf_init(&stmt, 1 << 20);
  while (rc == SQ_OK && fgets(line, sizeof line, f) != NULL) {
    size_t len = strlen(line);
    const char *p = line;
    while (*p == ' ' || *p == '\t') p++;
    if (p[0] == '-' && p[1] == '-') continue;
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' ||
                       line[len - 1] == ' '))
      line[--len] = '\0';
    if ((rc = sq_buf_add(&stmt, line, len)) != SQ_OK) break;
    if ((rc = sq_buf_adds(&stmt, "\n")) != SQ_OK) break;
    if (len > 0 && line[len - 1] == ';') {
      rc = exec(sq_buf_str(&stmt), NULL, 0, err);
      sq_buf_reset(&stmt);
    }
  }
  if (rc == SQ_OK && ferror(f)) rc = sq_err_set(err, SQ_EIO, "reading %s", path);
  fclose(f);
  sq_buf_free(&stmt);
  return rc;
}

/* ---- the dataset ----------------------------------------------------------
 * Period 2024-03 (a leap-year February before it).
 *   tenant 1 テナント一 (enabled), 2 Disabled Co (export_enabled=0), 3 Third.
 *   report 10 (t1) 衛生チェック   monthly, items, records in and around 2024-03
 *   report 11 (t1) archived       has a record in 2024-03
 *   report 12 (t1) schedule none  has a record in 2024-03
 *   report 20 (t2) disabled tenant, has a record in 2024-03
 *   report 30 (t3) monthly        one record in 2024-03
 *   report 31 (t3) monthly        records only in Feb and at 2024-04-01 00:00:00
 *   report 40 (tenant 99, which does not exist) has a record in 2024-03
 *   report 50 (t3) monthly, no items, one record in 2024-03
 * Targets of 2024-03: (1,10), (3,30), (3,50). Of 2024-04: (1,10), (3,31). */

/* Values as a client might have written them: odd spacing, key order, JSON
 * escapes, 4-byte UTF-8; they must come back byte for byte. */
static const char v1[] = "{\"1001\": 21.5, \"1003\": \"佐藤 花子\"}";
static const char v4[] =
    "{ \"1003\":\"温度\\u78ba\\u8a8d\\n2行目\" ,\"1001\" : \"23.5\", "
    "\"999\": null, \"1006\": \"=SUM(A1:A3)\", \"1005\": "
    "\"2024-03-15T12:00:00+09:00\", \"1004\": true, \"x\": \"👍 \\\"q\\\"\"}";
static const char v5[] = "{}";
static const char v6[] = "{\"1002\": 1e3, \"1004\": \"yes\"}";
static const char v7[] = "{\"1001\": -0.5}";

static const struct {
  uint64_t id, report_id;
  const char *at, *by, *values;
} records[] = {
    {1, 10, "2024-03-01 00:00:00", "佐藤 花子", v1}, /* first second: in */
    {2, 10, "2024-04-01 00:00:00", "b", "{}"},       /* end: out */
    {3, 10, "2024-02-29 23:59:59", "c", "{}"},       /* before: out */
    {4, 10, "2024-03-15 12:00:00", "O'Neil \\ \"x\"", v4},
    {5, 10, "2024-03-10 08:00:00", "", v5}, /* earlier than 4, larger id */
    {6, 10, "2024-03-15 12:00:00", "tie", v6}, /* same second as 4 */
    {7, 10, "2024-03-31 23:59:59", "last", v7}, /* last second: in */
    {8, 11, "2024-03-05 00:00:00", "a", "{}"},
    {9, 12, "2024-03-05 00:00:00", "a", "{}"},
    {10, 20, "2024-03-05 00:00:00", "a", "{}"},
    {11, 30, "2024-03-05 00:00:00", "a", "{}"},
    {12, 31, "2024-02-10 00:00:00", "a", "{}"},
    {13, 31, "2024-04-01 00:00:00", "a", "{}"},
    {14, 40, "2024-03-05 00:00:00", "a", "{}"},
    {15, 50, "2024-03-06 00:00:00", "a", "{}"},
};

TEST(setup) {
  const char *url = getenv("SHEETQ_TEST_MYSQL_URL");
  char path[4096];
  sq_err err;
  sq_buf q;
  sq_errcode rc;

  if (url == NULL || *url == '\0') url = getenv("SHEETQ_MYSQL_URL");
  if (url == NULL || *url == '\0') {
    fprintf(stderr, "skip: set SHEETQ_TEST_MYSQL_URL or SHEETQ_MYSQL_URL\n");
    exit(77);
  }
  db = sq_db_connect(url, &err);
  if (db == NULL) FAIL_AT("connect: %s", err.msg);

  /* A database of that name exists already: someone else's, leave it. */
  snprintf(test_db, sizeof test_db, "sqt_db_report_%ld", (long)getpid());
  sq_buf_init(&q, 4096);
  sq_buf_printf(&q, "CREATE DATABASE `%s` CHARACTER SET utf8mb4", test_db);
  rc = exec(sq_buf_str(&q), NULL, 0, &err);
  sq_buf_free(&q);
  if (rc != SQ_OK) {
    test_db[0] = '\0'; /* not ours: teardown must not drop it */
    FAIL_AT("refusing to run: cannot create a fresh database: %s", err.msg);
  }
  sq_buf_init(&q, 4096);
  sq_buf_printf(&q, "USE `%s`", test_db);
  rc = exec(sq_buf_str(&q), NULL, 0, &err);
  sq_buf_free(&q);
  if (rc != SQ_OK) FAIL_AT("use: %s", err.msg);

  snprintf(path, sizeof path, "%s/scripts/demo_schema.sql", SQ_SOURCE_DIR);
  if (run_sql_file(path, &err) != SQ_OK) FAIL_AT("schema: %s", err.msg);

  if (exec("INSERT INTO tenants (id, name, rollout_group, export_enabled) VALUES"
           " (1, 'テナント一', 1, 1), (2, 'Disabled Co', 1, 0),"
           " (3, 'Third', 2, 1)", NULL, 0, &err) != SQ_OK ||
      exec("INSERT INTO reports (id, tenant_id, name, export_schedule, archived_at) VALUES"
           " (10, 1, '衛生チェック', 'monthly', NULL),"
           " (11, 1, 'Archived', 'monthly', '2024-01-31 10:00:00'),"
           " (12, 1, 'Not scheduled', 'none', NULL),"
           " (20, 2, 'Disabled tenant', 'monthly', NULL),"
           " (30, 3, 'Third report', 'monthly', NULL),"
           " (31, 3, 'Quiet in March', 'monthly', NULL),"
           " (40, 99, 'Orphan', 'monthly', NULL),"
           " (50, 3, 'No items', 'monthly', NULL)", NULL, 0, &err) != SQ_OK ||
      /* Inserted out of position order; one negative position. */
      exec("INSERT INTO report_items (id, report_id, position, label, kind, unit) VALUES"
           " (1003, 10, 30, '点検者', 'text', NULL),"
           " (1001, 10, 10, '温度', 'number', '℃'),"
           " (1006, 10, 50, '判定', 'choice', NULL),"
           " (1002, 10, 20, '重量', 'number', 'kg'),"
           " (1005, 10, 40, '確認日時', 'datetime', NULL),"
           " (1004, 10, -5, 'First\\nline', 'boolean', ''),"
           " (3001, 30, 1, 'x', 'text', NULL)", NULL, 0, &err) != SQ_OK)
    FAIL_AT("data: %s", err.msg);
  for (size_t i = 0; i < sizeof records / sizeof records[0]; i++) {
    sq_param p[] = {
        SQ_P_U64("id", records[i].id), SQ_P_U64("report_id", records[i].report_id),
        SQ_P_STR("at", records[i].at), SQ_P_STR("by", records[i].by),
        SQ_P_STR("values", records[i].values),
    };
    if (exec("INSERT INTO records (id, report_id, recorded_at, recorded_by, `values`)"
             " VALUES (:id, :report_id, :at, :by, :values)", p, 5, &err) != SQ_OK)
      FAIL_AT("record %zu: %s", i, err.msg);
  }
}

/* ---- load_report ----------------------------------------------------------- */

TEST(load_report) {
  sq_report r;
  sq_err err;
  static const struct {
    uint64_t id;
    int position;
    const char *label;
    sq_item_kind kind;
    const char *unit;
  } want[] = {
      {1004, -5, "First\nline", SQ_ITEM_BOOLEAN, ""},
      {1001, 10, "温度", SQ_ITEM_NUMBER, "℃"},
      {1002, 20, "重量", SQ_ITEM_NUMBER, "kg"},
      {1003, 30, "点検者", SQ_ITEM_TEXT, NULL},
      {1005, 40, "確認日時", SQ_ITEM_DATETIME, NULL},
      {1006, 50, "判定", SQ_ITEM_CHOICE, NULL},
  };
  ASSERT(db != NULL);
  ASSERT_INT_EQ(sq_db_load_report(db, 10, &r, &err), SQ_OK);
  ASSERT_INT_EQ(r.id, 10);
  ASSERT_INT_EQ(r.tenant_id, 1);
  ASSERT_STR_EQ(r.name, "衛生チェック");
  ASSERT_STR_EQ(r.tenant_name, "テナント一");
  ASSERT_INT_EQ(r.n_items, 6);
  for (size_t i = 0; i < 6; i++) {
    ASSERT_INT_EQ(r.items[i].id, want[i].id);
    ASSERT_INT_EQ(r.items[i].position, want[i].position);
    ASSERT_STR_EQ(r.items[i].label, want[i].label);
    ASSERT_INT_EQ(r.items[i].kind, want[i].kind);
    if (want[i].unit == NULL)
      ASSERT(r.items[i].unit == NULL);
    else
      ASSERT_STR_EQ(r.items[i].unit, want[i].unit);
  }
  sq_report_free(&r);
}

TEST(load_report_no_items) {
  sq_report r;
  sq_err err;
  ASSERT(db != NULL);
  ASSERT_INT_EQ(sq_db_load_report(db, 50, &r, &err), SQ_OK);
  ASSERT_INT_EQ(r.tenant_id, 3);
  ASSERT_STR_EQ(r.tenant_name, "Third");
  ASSERT_INT_EQ(r.n_items, 0);
  ASSERT(r.items == NULL);
  sq_report_free(&r);
}

/* The report with the period's record count in the same query: the count
 * honours both bounds (records 1, 4, 5, 6, 7 of report 10 in March 2024);
 * the report itself loads exactly as sq_db_load_report() loads it. */
TEST(load_report_counted) {
  sq_report r, plain;
  sq_err err;
  uint64_t n = 12345;
  ASSERT(db != NULL);
  ASSERT_INT_EQ(sq_db_load_report_counted(db, 10, "2024-03-01 00:00:00",
                                          "2024-04-01 00:00:00", &r, &n, &err),
                SQ_OK);
  ASSERT_INT_EQ(n, 5);
  ASSERT_INT_EQ(sq_db_load_report(db, 10, &plain, &err), SQ_OK);
  ASSERT_STR_EQ(r.name, plain.name);
  ASSERT_STR_EQ(r.tenant_name, plain.tenant_name);
  ASSERT_INT_EQ(r.n_items, plain.n_items);
  for (size_t i = 0; i < r.n_items; i++) {
    ASSERT_INT_EQ(r.items[i].id, plain.items[i].id);
    ASSERT_STR_EQ(r.items[i].label, plain.items[i].label);
  }
  sq_report_free(&r);
  sq_report_free(&plain);
  /* no records in the range; a report without items still counts */
  ASSERT_INT_EQ(sq_db_load_report_counted(db, 10, "2025-01-01 00:00:00",
                                          "2025-02-01 00:00:00", &r, &n, &err),
                SQ_OK);
  ASSERT_INT_EQ(n, 0);
  sq_report_free(&r);
  ASSERT_INT_EQ(sq_db_load_report_counted(db, 50, "2024-03-01 00:00:00",
                                          "2024-04-01 00:00:00", &r, &n, &err),
                SQ_OK);
  ASSERT_INT_EQ(r.n_items, 0);
  ASSERT_INT_EQ(n, 1);
  sq_report_free(&r);
  ASSERT_INT_EQ(sq_db_load_report_counted(db, 999, "2024-03-01 00:00:00",
                                          "2024-04-01 00:00:00", &r, &n, &err),
                SQ_ENOT_FOUND);
}

TEST(load_report_errors) {
  sq_report r;
  sq_err err;
  ASSERT(db != NULL);
  ASSERT_INT_EQ(sq_db_load_report(db, 999, &r, &err), SQ_ENOT_FOUND);
  ASSERT_STR_EQ(err.msg, "report 999: no such report");
  ASSERT(r.name == NULL && r.items == NULL && r.n_items == 0);
  ASSERT_INT_EQ(sq_db_load_report(db, 40, &r, &err), SQ_EDB_DATA);
  ASSERT(strstr(err.msg, "report 40") != NULL);
  ASSERT(strstr(err.msg, "tenant 99") != NULL);
  ASSERT(r.name == NULL);
  sq_report_free(&r); /* harmless on a zeroed report */
}

/* ---- stream_records ------------------------------------------------------- */

typedef struct collected {
  size_t n;
  uint64_t ids[16];
  char at[16][SQ_DATETIME_STR_LEN];
  char by[16][64];
  char values[16][512];
  size_t values_len[16];
  size_t stop_after; /* 0: never */
} collected;

static sq_errcode collect(void *ctx, const sq_record *rec, sq_err *err) {
  collected *c = ctx;
  if (c->n >= 16 || rec->values_len >= sizeof c->values[0] ||
      rec->recorded_by_len >= sizeof c->by[0] || strlen(rec->recorded_at) != 19)
    return sq_err_set(err, SQ_EINTERNAL, "unexpected record");
  c->ids[c->n] = rec->id;
  memcpy(c->at[c->n], rec->recorded_at, SQ_DATETIME_STR_LEN);
  memcpy(c->by[c->n], rec->recorded_by, rec->recorded_by_len);
  c->by[c->n][rec->recorded_by_len] = '\0';
  memcpy(c->values[c->n], rec->values, rec->values_len);
  c->values[c->n][rec->values_len] = '\0';
  c->values_len[c->n] = rec->values_len;
  c->n++;
  if (c->stop_after && c->n == c->stop_after)
    return sq_err_set(err, SQ_ECANCELLED, "stopped by the test");
  return SQ_OK;
}

TEST(stream_records) {
  static collected c;
  sq_err err;
  static const uint64_t want_ids[] = {1, 5, 4, 6, 7};
  static const char *const want_at[] = {
      "2024-03-01 00:00:00", "2024-03-10 08:00:00", "2024-03-15 12:00:00",
      "2024-03-15 12:00:00", "2024-03-31 23:59:59"};
  static const char *const want_values[] = {v1, v5, v4, v6, v7};
  static const char *const want_by[] = {"佐藤 花子", "", "O'Neil \\ \"x\"", "tie", "last"};

  ASSERT(db != NULL);
  memset(&c, 0, sizeof c);
  ASSERT_INT_EQ(sq_db_stream_records(db, 10, "2024-03-01 00:00:00",
                                     "2024-04-01 00:00:00", collect, &c, &err),
                SQ_OK);
  ASSERT_INT_EQ(c.n, 5);
  for (size_t i = 0; i < 5; i++) {
    ASSERT_INT_EQ(c.ids[i], want_ids[i]);
    ASSERT_STR_EQ(c.at[i], want_at[i]);
    ASSERT_STR_EQ(c.by[i], want_by[i]);
    ASSERT_INT_EQ(c.values_len[i], strlen(want_values[i]));
    ASSERT_STR_EQ(c.values[i], want_values[i]);
  }
}

TEST(stream_records_bounds) {
  static collected c;
  sq_err err;
  ASSERT(db != NULL);
  /* Only the end boundary record: [2024-04-01 00:00:00, +1 s). */
  memset(&c, 0, sizeof c);
  ASSERT_INT_EQ(sq_db_stream_records(db, 10, "2024-04-01 00:00:00",
                                     "2024-04-01 00:00:01", collect, &c, &err),
                SQ_OK);
  ASSERT_INT_EQ(c.n, 1);
  ASSERT_INT_EQ(c.ids[0], 2);
  /* Empty ranges and unknown reports stream nothing. */
  memset(&c, 0, sizeof c);
  ASSERT_INT_EQ(sq_db_stream_records(db, 10, "2024-03-01 00:00:00",
                                     "2024-03-01 00:00:00", collect, &c, &err),
                SQ_OK);
  ASSERT_INT_EQ(c.n, 0);
  ASSERT_INT_EQ(sq_db_stream_records(db, 999, "2024-03-01 00:00:00",
                                     "2024-04-01 00:00:00", collect, &c, &err),
                SQ_OK);
  ASSERT_INT_EQ(c.n, 0);
  /* Malformed bounds never reach the server. */
  ASSERT_INT_EQ(sq_db_stream_records(db, 10, "2024-03-01", "2024-04-01 00:00:00",
                                     collect, &c, &err),
                SQ_EINVAL);
  ASSERT_INT_EQ(sq_db_stream_records(db, 10, "2024-03-01 00:00:00",
                                     "2024-04-01 00:00:00' OR '1'='1", collect,
                                     &c, &err),
                SQ_EINVAL);
  ASSERT_INT_EQ(sq_db_stream_records(db, 10, NULL, "2024-04-01 00:00:00",
                                     collect, &c, &err),
                SQ_EINVAL);
}

TEST(stream_records_stop) {
  static collected c;
  sq_err err;
  sq_report r;
  ASSERT(db != NULL);
  memset(&c, 0, sizeof c);
  c.stop_after = 2;
  ASSERT_INT_EQ(sq_db_stream_records(db, 10, "2024-03-01 00:00:00",
                                     "2024-04-01 00:00:00", collect, &c, &err),
                SQ_ECANCELLED);
  ASSERT_STR_EQ(err.msg, "stopped by the test");
  ASSERT_INT_EQ(c.n, 2);
  /* The connection is usable after a stream stopped half-way. */
  ASSERT_INT_EQ(sq_db_load_report(db, 30, &r, &err), SQ_OK);
  ASSERT_INT_EQ(r.n_items, 1);
  sq_report_free(&r);
}

/* ---- find_targets ---------------------------------------------------------- */

/* Runs find_targets and renders the result as "t:r t:r ...". */
static sq_errcode targets_str(const char *query, const sq_target_filter *f,
                              char *out, size_t out_size, sq_err *err) {
  sq_target *t = NULL;
  size_t n = 0, used = 0;
  sq_errcode rc = sq_db_find_targets(db, query, f, &t, &n, err);
  out[0] = '\0';
  if (rc != SQ_OK) {
    if (t != NULL || n != 0) rc = SQ_EINTERNAL;
    return rc;
  }
  for (size_t i = 0; i < n && used < out_size; i++)
    used += (size_t)snprintf(out + used, out_size - used, "%s%llu:%llu",
                             i ? " " : "", (unsigned long long)t[i].tenant_id,
                             (unsigned long long)t[i].report_id);
  free(t);
  return SQ_OK;
}

TEST(find_targets_default) {
  char s[256];
  sq_err err;
  uint64_t t3[] = {3}, t1[] = {1}, r_some[] = {10, 30, 11, 20}, r30[] = {30};
  sq_target_filter f = {.period = "2024-03"};
  ASSERT(db != NULL);

  /* Archived (11), schedule none (12), disabled tenant (20), no record in
   * the period (31), missing tenant (40) are not targets. */
  ASSERT_INT_EQ(targets_str(NULL, &f, s, sizeof s, &err), SQ_OK);
  ASSERT_STR_EQ(s, "1:10 3:30 3:50");

  f.tenant_ids = t3;
  f.n_tenant_ids = 1;
  ASSERT_INT_EQ(targets_str(NULL, &f, s, sizeof s, &err), SQ_OK);
  ASSERT_STR_EQ(s, "3:30 3:50");

  f.tenant_ids = NULL;
  f.n_tenant_ids = 0;
  f.report_ids = r_some;
  f.n_report_ids = 4;
  ASSERT_INT_EQ(targets_str(NULL, &f, s, sizeof s, &err), SQ_OK);
  ASSERT_STR_EQ(s, "1:10 3:30");

  f.tenant_ids = t1;
  f.n_tenant_ids = 1;
  f.report_ids = r30;
  f.n_report_ids = 1;
  ASSERT_INT_EQ(targets_str(NULL, &f, s, sizeof s, &err), SQ_OK);
  ASSERT_STR_EQ(s, "");

  /* April: the records at 2024-04-01 00:00:00 count (start is inclusive). */
  memset(&f, 0, sizeof f);
  f.period = "2024-04";
  ASSERT_INT_EQ(targets_str(NULL, &f, s, sizeof s, &err), SQ_OK);
  ASSERT_STR_EQ(s, "1:10 3:31");

  /* Explicit bounds win over the period's: only report 10 has a record on
   * 31 March. */
  f.period = "2024-03";
  f.period_start = "2024-03-31 00:00:00";
  f.period_end = "2024-04-01 00:00:00";
  ASSERT_INT_EQ(targets_str(NULL, &f, s, sizeof s, &err), SQ_OK);
  ASSERT_STR_EQ(s, "1:10");

  f.period_start = "2024-03-31";
  ASSERT_INT_EQ(targets_str(NULL, &f, s, sizeof s, &err), SQ_EINVAL);
  memset(&f, 0, sizeof f);
  f.period = "2024-13";
  ASSERT_INT_EQ(targets_str(NULL, &f, s, sizeof s, &err), SQ_EBAD_PERIOD);
}

TEST(find_targets_custom) {
  char s[256];
  sq_err err;
  uint64_t r_some[] = {31, 50};
  sq_target_filter f = {.period = "2024-03"};
  ASSERT(db != NULL);

  /* Its own order, extra columns ignored, every parameter available. */
  ASSERT_INT_EQ(targets_str("-- all of tenant 3, newest first\n"
                            "SELECT tenant_id, id AS report_id, name FROM reports"
                            " WHERE tenant_id = 3 AND :period = '2024-03'"
                            " AND :period_start = '2024-03-01 00:00:00'"
                            " AND :period_end = '2024-04-01 00:00:00'"
                            " AND (:has_tenant_filter = 0 OR tenant_id IN (:tenant_ids))"
                            " AND (:has_report_filter = 0 OR id IN (:report_ids))"
                            " ORDER BY id DESC",
                            &f, s, sizeof s, &err),
                SQ_OK);
  ASSERT_STR_EQ(s, "3:50 3:31 3:30");
  f.report_ids = r_some;
  f.n_report_ids = 2;
  ASSERT_INT_EQ(targets_str("(SELECT tenant_id, id FROM reports"
                            " WHERE :has_report_filter = 1 AND id IN (:report_ids)"
                            " ORDER BY id)",
                            &f, s, sizeof s, &err),
                SQ_OK);
  ASSERT_STR_EQ(s, "3:31 3:50");
  ASSERT_INT_EQ(targets_str("WITH x AS (SELECT tenant_id, id FROM reports WHERE id = 12)"
                            " SELECT * FROM x",
                            &f, s, sizeof s, &err),
                SQ_OK);
  ASSERT_STR_EQ(s, "1:12");
  ASSERT_INT_EQ(targets_str("SELECT 1, 2 FROM reports WHERE 0", &f, s, sizeof s, &err),
                SQ_OK);
  ASSERT_STR_EQ(s, "");
}

TEST(find_targets_bad_custom) {
  char s[256], count[32];
  sq_err err;
  sq_target_filter f = {.period = "2024-03"};
  static const struct {
    const char *sql, *msg_part;
  } bad[] = {
      {"SELECT id FROM reports", "returns 1 column"},
      {"SELECT name, id FROM reports", "column 1 (tenant_id) is \"衛生チェック\""},
      {"SELECT tenant_id, NULL FROM reports", "column 2 (report_id) is NULL"},
      {"SELECT tenant_id, CAST(id AS SIGNED) - 100 FROM reports", "is \"-90\", not an unsigned integer"},
      {"SELECT tenant_id, id FROM no_such_table", "no_such_table"},
      {"SELECT tenant_id, id FROM reports WHERE id = :nope", ":nope"},
      {"SELEC tenant_id, id FROM reports", "must be a SELECT"},
      {"DELETE FROM reports", "must be a SELECT"},
      {"", "must be a SELECT"},
  };
  ASSERT(db != NULL);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    memset(&err, 0, sizeof err);
    if (targets_str(bad[i].sql, &f, s, sizeof s, &err) != SQ_ECONFIG)
      FAIL_AT("\"%s\": expected SQ_ECONFIG, got %s (%s)", bad[i].sql,
              sq_errname(err.code), err.msg);
    if (strstr(err.msg, bad[i].msg_part) == NULL)
      FAIL_AT("\"%s\": message \"%s\" lacks \"%s\"", bad[i].sql, err.msg,
              bad[i].msg_part);
  }
  /* The DELETE never ran. */
  ASSERT_INT_EQ(targets_str("SELECT COUNT(*), 0 FROM reports", &f, count,
                            sizeof count, &err),
                SQ_OK);
  ASSERT_STR_EQ(count, "8:0");
}

TEST(teardown) {
  sq_err err;
  sq_buf q;
  if (db == NULL) return;
  if (test_db[0] != '\0') {
    sq_buf_init(&q, 4096);
    sq_buf_printf(&q, "DROP DATABASE `%s`", test_db);
    if (exec(sq_buf_str(&q), NULL, 0, &err) != SQ_OK) {
      sq_buf_free(&q);
      sq_db_close(db);
      db = NULL;
      FAIL_AT("drop %s: %s", test_db, err.msg);
    }
    sq_buf_free(&q);
  }
  sq_db_close(db);
  db = NULL;
}

TEST_MAIN(TEST_ENTRY(setup), TEST_ENTRY(load_report),
          TEST_ENTRY(load_report_no_items), TEST_ENTRY(load_report_counted),
          TEST_ENTRY(load_report_errors),
          TEST_ENTRY(stream_records), TEST_ENTRY(stream_records_bounds),
          TEST_ENTRY(stream_records_stop), TEST_ENTRY(find_targets_default),
          TEST_ENTRY(find_targets_custom), TEST_ENTRY(find_targets_bad_custom),
          TEST_ENTRY(teardown))
