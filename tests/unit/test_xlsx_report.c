/* Renders a report with messy values and reads the file back with an
 * independent reader (tests/xlsx_check.py, openpyxl; path in $SQ_XLSX_CHECK). */
#include <errno.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "exporter/text_clean.h"
#include "exporter/xlsx_report.h"
#include "tests/unit/harness.h"

static sq_report_item items[] = {
    {10, 1, "Temperature", SQ_ITEM_NUMBER, "°C"},
    {11, 2, "Comment", SQ_ITEM_TEXT, NULL},
    {12, 3, "Checked", SQ_ITEM_BOOLEAN, NULL},
    {13, 4, "Inspected on", SQ_ITEM_DATETIME, NULL},
    {14, 5, "Grade", SQ_ITEM_CHOICE, ""},
    {15, 6, "Bad\x01label\xff", SQ_ITEM_TEXT, NULL},
    {9, 7,
     "A label far too long to be shown in full as a column width, which is "
     "capped so one column cannot take over the sheet",
     SQ_ITEM_NUMBER, NULL},
};

static sq_report report = {42, 7, "Monthly <Inspection> / Q1", "ACME 株式会社",
                           items, sizeof items / sizeof items[0]};

static char dir[] = "/tmp/sq_xlsx_XXXXXX";
static bool dir_made;
static char path[256];
static cJSON *dump;      /* array of the reader's JSON lines */
static sq_xlsx_stats stats;

/* ---- the reader -------------------------------------------------------- */

static cJSON *read_back(const char *file) {
  const char *script = getenv("SQ_XLSX_CHECK");
  char cmd[1024], *line = NULL;
  size_t cap = 0;
  ssize_t n;
  FILE *p;
  cJSON *all = cJSON_CreateArray();
  int status;

  if (script == NULL) script = "tests/xlsx_check.py";
  if (access("/usr/bin/python3", X_OK) != 0 || access(script, R_OK) != 0) {
    fprintf(stderr, "skip: /usr/bin/python3 or %s missing\n", script);
    exit(77);
  }
  snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' '%s'", script, file);
  p = popen(cmd, "r");
  if (p == NULL || all == NULL) abort();
  while ((n = getline(&line, &cap, p)) > 0) {
    cJSON *j = cJSON_ParseWithLength(line, (size_t)n);
    if (j == NULL) {
      fprintf(stderr, "bad reader line: %s", line);
      abort();
    }
    cJSON_AddItemToArray(all, j);
  }
  free(line);
  status = pclose(p);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
    fprintf(stderr, "skip: openpyxl not installed\n");
    exit(77);
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "reader failed on %s\n", file);
    cJSON_Delete(all);
    return NULL;
  }
  return all;
}

static int num(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsNumber(v) ? v->valueint : -1;
}

static const char *str(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const cJSON *sheet_info(int sheet) {
  const cJSON *l;
  cJSON_ArrayForEach(l, dump) if (cJSON_GetObjectItem(l, "name") &&
                                  num(l, "sheet") == sheet) return l;
  return NULL;
}

/* row and col 1-based, as in Excel. */
static const cJSON *cell(int sheet, int row, int col) {
  const cJSON *l;
  cJSON_ArrayForEach(l, dump) if (num(l, "sheet") == sheet &&
                                  num(l, "row") == row && num(l, "col") == col)
      return l;
  return NULL;
}

#define A 1
#define B 2
#define C 3
#define D 4
#define E 5
#define F 6
#define G 7
#define H 8
#define I 9

#define ASSERT_CELL(s, r, c, type, value)                                  \
  do {                                                                     \
    const cJSON *x_ = cell(s, r, c);                                       \
    if (x_ == NULL) FAIL_AT("sheet %d %c%d is empty", s, 'A' + c - 1, r);  \
    ASSERT_STR_EQ(str(x_, "type"), type);                                  \
    ASSERT_STR_EQ(str(x_, "value"), value);                                \
  } while (0)

#define ASSERT_NUM_CELL(s, r, c, want)                                     \
  do {                                                                     \
    const cJSON *x_ = cell(s, r, c);                                       \
    if (x_ == NULL) FAIL_AT("sheet %d %c%d is empty", s, 'A' + c - 1, r);  \
    ASSERT_STR_EQ(str(x_, "type"), "n");                                   \
    ASSERT_DBL_EQ(cJSON_GetObjectItem(x_, "value")->valuedouble, want);    \
  } while (0)

#define ASSERT_BOOL_CELL(s, r, c, want)                                    \
  do {                                                                     \
    const cJSON *x_ = cell(s, r, c);                                       \
    if (x_ == NULL) FAIL_AT("sheet %d %c%d is empty", s, 'A' + c - 1, r);  \
    ASSERT_STR_EQ(str(x_, "type"), "b");                                   \
    ASSERT(cJSON_IsTrue(cJSON_GetObjectItem(x_, "value")) == (want));      \
  } while (0)

#define ASSERT_EMPTY(s, r, c)                                                \
  do {                                                                       \
    if (cell(s, r, c) != NULL)                                               \
      FAIL_AT("sheet %d %c%d should be blank", s, 'A' + c - 1, r);          \
  } while (0)

/* ---- rendering --------------------------------------------------------- */

static sq_errcode add(sq_xlsx_report *x, const char *at, const char *by,
                      size_t by_len, const char *values, size_t values_len) {
  static uint64_t id;
  sq_record rec = {++id, at, by, by_len, values, values_len};
  sq_err e;
  sq_errcode rc = sq_xlsx_report_add(x, &rec, &e);
  if (rc != SQ_OK) fprintf(stderr, "add: %s\n", e.msg);
  return rc;
}

#define ADD(at, by, values) add(x, at, by, strlen(by), values, strlen(values))

TEST(render) {
  sq_xlsx_options opt = {.tmpdir = dir, .max_sheet_rows = 4};
  sq_err e;
  sq_xlsx_report *x;
  static char big[100000 + 16];
  static const char tail[] =
      "{\"11\":\"_x0041_ literal\",\"10\":\"1e3\",\"12\":1}trailing garbage";

  if (mkdtemp(dir) == NULL) FAIL_AT("mkdtemp: %s", strerror(errno));
  dir_made = true;
  snprintf(path, sizeof path, "%s/report.xlsx", dir);
  x = sq_xlsx_report_open(path, &report, "2024-03", &opt, &e);
  if (x == NULL) FAIL_AT("open: %s", e.msg);

  /* sheet 1, rows 6..9 */
  ASSERT_INT_EQ(ADD("2024-03-01 08:00:00", "alice",
                    "{\"10\":21.5,\"11\":\"=SUM(A1:A2)\",\"12\":true,"
                    "\"13\":\"2024-03-01T07:30:00+09:00\",\"14\":\"A\",\"15\":\"x\"}"),
                SQ_OK);
  ASSERT_INT_EQ(ADD("2024-03-02 09:15:30", "bob\xff",
                    "{\"10\":\"12.5\",\"11\":\"bad \xc3\x28 utf8 \\u0001ctrl\","
                    "\"12\":\"no\",\"13\":\"2024-03-02\",\"14\":[\"a\",\"b\"],"
                    "\"999\":\"unknown\",\"abc\":1}"),
                SQ_OK);
  ASSERT_INT_EQ(ADD("2024-03-03 10:00:00", "carol", "not json {"), SQ_OK);
  ASSERT_INT_EQ(ADD("2024-03-04 11:00:00", "dave",
                    "{\"10\":\"abc\",\"11\":42,\"12\":\"maybe\",\"13\":\"yesterday\"}"),
                SQ_OK);
  /* sheet 2, rows 6..8 */
  ASSERT_INT_EQ(ADD("garbage", "", "{}"), SQ_OK);
  memcpy(big, "{\"11\":\"", 7);
  memset(big + 7, 'x', 100000);
  memcpy(big + 7 + 100000, "\"}", 3);
  ASSERT_INT_EQ(ADD("2024-03-06 00:00:00", "erin", big), SQ_OK);
  /* values is not NUL-terminated: only values_len bytes count. */
  ASSERT_INT_EQ(add(x, "2024-03-07 00:00:00", "frank", 5, tail,
                    strchr(tail, '}') - tail + 1),
                SQ_OK);
  /* no values at all */
  ASSERT_INT_EQ(add(x, "2024-03-08 00:00:00", "gina", 4, NULL, 0), SQ_OK);

  ASSERT_INT_EQ(sq_xlsx_report_close(x, &stats, &e), SQ_OK);
  ASSERT_INT_EQ(stats.rows, 8);
  ASSERT_INT_EQ(stats.sheets, 2);
  ASSERT_INT_EQ(stats.bad_values_json, 1);
  ASSERT_INT_EQ(stats.unknown_items, 2);
  ASSERT_INT_EQ(stats.truncated_cells, 1);
  dump = read_back(path);
  ASSERT(dump != NULL);
}

TEST(sheets_have_title_header_freeze_and_filter) {
  static const char *const names[] = {"Monthly <Inspection> Q1",
                                      "Monthly <Inspection> Q1 (2)"};
  static const char *const filters[] = {"A5:I9", "A5:I9"};
  ASSERT(dump != NULL);
  ASSERT(sheet_info(2) == NULL);
  for (int s = 0; s < 2; s++) {
    const cJSON *info = sheet_info(s), *title;
    ASSERT(info != NULL);
    ASSERT_STR_EQ(str(info, "name"), names[s]);
    ASSERT_STR_EQ(str(info, "freeze"), "A6");
    ASSERT_STR_EQ(str(info, "filter"), filters[s]);
    ASSERT_CELL(s, 1, A, "s", "Monthly <Inspection> / Q1");
    title = cell(s, 1, A);
    ASSERT(cJSON_IsTrue(cJSON_GetObjectItem(title, "bold")));
    ASSERT_CELL(s, 2, A, "s", "Tenant: ACME 株式会社");
    ASSERT_CELL(s, 3, A, "s", "Period: 2024-03");
    for (int c = A; c <= I; c++) ASSERT_EMPTY(s, 4, c);
    ASSERT_CELL(s, 5, A, "s", "Recorded at");
    ASSERT_CELL(s, 5, B, "s", "Recorded by");
    ASSERT_CELL(s, 5, C, "s", "Temperature (°C)");
    ASSERT_CELL(s, 5, D, "s", "Comment");
    ASSERT_CELL(s, 5, E, "s", "Checked");
    ASSERT_CELL(s, 5, F, "s", "Inspected on");
    ASSERT_CELL(s, 5, G, "s", "Grade");
    ASSERT_CELL(s, 5, H, "s", "Badlabel\xef\xbf\xbd");
    ASSERT(cJSON_IsTrue(cJSON_GetObjectItem(cell(s, 5, C), "bold")));
  }
}

TEST(column_widths) {
  const cJSON *w;
  ASSERT(dump != NULL);
  w = cJSON_GetObjectItem(sheet_info(0), "widths");
  ASSERT(w != NULL);
  ASSERT(cJSON_GetObjectItem(w, "A")->valuedouble >= 19); /* a datetime */
  ASSERT(cJSON_GetObjectItem(w, "D")->valuedouble >= 24); /* text */
  ASSERT(cJSON_GetObjectItem(w, "C")->valuedouble >= 18); /* label + unit */
  ASSERT(cJSON_GetObjectItem(w, "E")->valuedouble < 12);  /* boolean */
  ASSERT(cJSON_GetObjectItem(w, "I")->valuedouble <= 61); /* capped */
  ASSERT(cJSON_GetObjectItem(w, "I")->valuedouble >= 59);
}

TEST(typed_cells) {
  const cJSON *c;
  ASSERT(dump != NULL);
  /* row 6: clean values */
  ASSERT_CELL(0, 6, A, "d", "2024-03-01T08:00:00");
  ASSERT_STR_EQ(str(cell(0, 6, A), "format"), "yyyy-mm-dd hh:mm:ss");
  ASSERT_CELL(0, 6, B, "s", "alice");
  ASSERT_NUM_CELL(0, 6, C, 21.5);
  ASSERT_CELL(0, 6, D, "s", "=SUM(A1:A2)"); /* text, not a formula */
  ASSERT_BOOL_CELL(0, 6, E, true);
  ASSERT_CELL(0, 6, F, "d", "2024-03-01T07:30:00"); /* wall clock kept */
  ASSERT_STR_EQ(str(cell(0, 6, F), "format"), "yyyy-mm-dd hh:mm:ss");
  ASSERT_CELL(0, 6, G, "s", "A");
  ASSERT_CELL(0, 6, H, "s", "x");
  /* row 7: values to convert or clean */
  ASSERT_CELL(0, 7, A, "d", "2024-03-02T09:15:30");
  ASSERT_CELL(0, 7, B, "s", "bob\xef\xbf\xbd");
  ASSERT_NUM_CELL(0, 7, C, 12.5);
  ASSERT_CELL(0, 7, D, "s", "bad \xef\xbf\xbd( utf8 ctrl");
  ASSERT_BOOL_CELL(0, 7, E, false);
  ASSERT_CELL(0, 7, F, "d", "2024-03-02T00:00:00");
  ASSERT_STR_EQ(str(cell(0, 7, F), "format"), "yyyy-mm-dd");
  ASSERT_CELL(0, 7, G, "s", "[\"a\",\"b\"]");
  ASSERT_EMPTY(0, 7, H);
  /* row 8: values not JSON: the row is there, item cells blank */
  ASSERT_CELL(0, 8, A, "d", "2024-03-03T10:00:00");
  ASSERT_CELL(0, 8, B, "s", "carol");
  for (int col = C; col <= I; col++) ASSERT_EMPTY(0, 8, col);
  /* row 9: values that do not fit their kind stay as text */
  ASSERT_CELL(0, 9, C, "s", "abc");
  ASSERT_CELL(0, 9, D, "s", "42");
  ASSERT_CELL(0, 9, E, "s", "maybe");
  ASSERT_CELL(0, 9, F, "s", "yesterday");
  ASSERT_EMPTY(0, 9, G);
  ASSERT_EMPTY(0, 9, H);
  ASSERT_EMPTY(0, 10, A);

  /* sheet 2 */
  ASSERT_CELL(1, 6, A, "s", "garbage");
  ASSERT_EMPTY(1, 6, B);
  for (int col = C; col <= I; col++) ASSERT_EMPTY(1, 6, col);
  c = cell(1, 7, D);
  ASSERT(c != NULL);
  {
    const char *v = str(c, "value");
    size_t n = v ? strlen(v) : 0;
    const char *m = SQ_TEXT_TRUNCATED_MARKER;
    ASSERT_INT_EQ(n, SQ_TEXT_CELL_MAX_CHARS - 12 + strlen(m));
    ASSERT(strcmp(v + n - strlen(m), m) == 0);
    ASSERT(v[0] == 'x' && v[n - strlen(m) - 1] == 'x');
  }
  /* Literal "_x0041_" is protected from Excel's unescaping; openpyxl shows
   * the raw stored text. */
  ASSERT_CELL(1, 8, D, "s", "_x005F_x0041_ literal");
  ASSERT_NUM_CELL(1, 8, C, 1000);
  ASSERT_BOOL_CELL(1, 8, E, true);
  ASSERT_CELL(1, 9, B, "s", "gina");
  for (int col = C; col <= I; col++) ASSERT_EMPTY(1, 9, col);
}

TEST(open_errors) {
  sq_err e;
  sq_report dup = report;
  sq_report_item two[] = {{5, 1, "a", SQ_ITEM_TEXT, NULL},
                          {5, 2, "b", SQ_ITEM_TEXT, NULL}};
  char p[300];
  ASSERT(sq_xlsx_report_open("/nonexistent-dir/x.xlsx", &report, "2024-03",
                             NULL, &e) == NULL);
  ASSERT_INT_EQ(e.code, SQ_EIO);
  ASSERT(sq_xlsx_report_open(path, &report, "2024-13", NULL, &e) == NULL);
  ASSERT_INT_EQ(e.code, SQ_EBAD_PERIOD);
  dup.items = two;
  dup.n_items = 2;
  snprintf(p, sizeof p, "%s/dup.xlsx", dir);
  ASSERT(sq_xlsx_report_open(p, &dup, "2024-03", NULL, &e) == NULL);
  ASSERT_INT_EQ(e.code, SQ_EINVAL);
  ASSERT(access(p, F_OK) != 0); /* the file it created is gone */
  ASSERT_INT_EQ(sq_xlsx_report_close(NULL, NULL, &e), SQ_EINVAL);
}

/* A file already at the path is someone else's (another host rendering the
 * same job into a shared root): refused, and left as it was. */
TEST(existing_file_is_not_truncated) {
  char p[300];
  FILE *f;
  char got[16] = "";
  sq_err e;
  snprintf(p, sizeof p, "%s/taken.xlsx.tmp", dir);
  f = fopen(p, "w");
  ASSERT(f != NULL && fputs("theirs", f) >= 0 && fclose(f) == 0);
  ASSERT(sq_xlsx_report_open(p, &report, "2024-03", NULL, &e) == NULL);
  ASSERT(strstr(e.msg, "File exists") != NULL);
  f = fopen(p, "r");
  ASSERT(f != NULL && fgets(got, sizeof got, f) != NULL && fclose(f) == 0);
  ASSERT_STR_EQ(got, "theirs");
  unlink(p);
}

/* A full disk when the zip is written (/dev/full answers ENOSPC). */
TEST(disk_full_is_storage_full) {
  struct stat st;
  sq_xlsx_options opt = {.tmpdir = dir};
  sq_err e;
  sq_xlsx_report *x;
  if (stat("/dev/full", &st) != 0 || !S_ISCHR(st.st_mode)) {
    fprintf(stderr, "  (no /dev/full: skipped)\n");
    return;
  }
  x = sq_xlsx_report_open("/dev/full", &report, "2024-03", &opt, &e);
  if (x == NULL) FAIL_AT("open: %s", e.msg);
  ASSERT_INT_EQ(ADD("2024-03-01 08:00:00", "alice", "{\"10\":1}"), SQ_OK);
  ASSERT_INT_EQ(sq_xlsx_report_close(x, NULL, &e), SQ_ESTORAGE_FULL);
  ASSERT(strstr(e.msg, "/dev/full") != NULL);
  ASSERT(stat("/dev/full", &st) == 0 && S_ISCHR(st.st_mode));
}

TEST(cleanup) {
  char cmd[300];
  cJSON_Delete(dump);
  dump = NULL;
  if (dir_made && getenv("SQ_KEEP_OUTPUT") == NULL) {
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ASSERT(system(cmd) == 0);
  }
}

TEST_MAIN(TEST_ENTRY(render), TEST_ENTRY(sheets_have_title_header_freeze_and_filter),
          TEST_ENTRY(column_widths), TEST_ENTRY(typed_cells),
          TEST_ENTRY(open_errors), TEST_ENTRY(existing_file_is_not_truncated),
          TEST_ENTRY(disk_full_is_storage_full),
          TEST_ENTRY(cleanup))
