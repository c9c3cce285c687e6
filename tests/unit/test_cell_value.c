#include <math.h>
#include <stdbool.h>

#include "exporter/cell_value.h"
#include "tests/unit/harness.h"

/* Converts the JSON text of one value; the cell's text is copied into
 * cell_text so the parsed JSON can be freed at once. */
static char cell_text[4096];

static sq_cell conv(const char *json, sq_item_kind kind) {
  sq_buf scratch;
  sq_cell c;
  cJSON *v = json ? cJSON_Parse(json) : NULL;
  sq_buf_init(&scratch, 1 << 20);
  memset(&c, 0xAB, sizeof c);
  if (json && v == NULL) {
    fprintf(stderr, "bad test JSON: %s\n", json);
    abort();
  }
  if (sq_cell_from_json(v, kind, &scratch, &c) != SQ_OK) abort();
  cell_text[0] = '\0';
  if (c.type == SQ_CELL_STRING) {
    snprintf(cell_text, sizeof cell_text, "%.*s", (int)c.text_len, c.text);
    c.text = cell_text;
  }
  cJSON_Delete(v);
  sq_buf_free(&scratch);
  return c;
}

#define ASSERT_NUMBER(json, kind, want)                 \
  do {                                                  \
    sq_cell c_ = conv(json, kind);                      \
    if (c_.type != SQ_CELL_NUMBER)                      \
      FAIL_AT("%s: type %d, not number", json, c_.type); \
    ASSERT_DBL_EQ(c_.number, want);                     \
  } while (0)

#define ASSERT_STRING(json, kind, want)                           \
  do {                                                            \
    sq_cell c_ = conv(json, kind);                                \
    if (c_.type != SQ_CELL_STRING)                                \
      FAIL_AT("%s: type %d, not string", json, c_.type);          \
    ASSERT_STR_EQ(c_.text, want);                                 \
  } while (0)

#define ASSERT_BOOL(json, kind, want)                     \
  do {                                                    \
    sq_cell c_ = conv(json, kind);                        \
    if (c_.type != SQ_CELL_BOOLEAN)                       \
      FAIL_AT("%s: type %d, not boolean", json, c_.type); \
    ASSERT_INT_EQ(c_.boolean, want);                      \
  } while (0)

#define ASSERT_BLANK(json, kind)                        \
  do {                                                  \
    sq_cell c_ = conv(json, kind);                      \
    if (c_.type != SQ_CELL_BLANK)                       \
      FAIL_AT("%s: type %d, not blank", json, c_.type); \
  } while (0)

#define ASSERT_DATETIME(json, y, mo, d, h, mi, s, with_time)  \
  do {                                                        \
    sq_cell c_ = conv(json, SQ_ITEM_DATETIME);                \
    if (c_.type != SQ_CELL_DATETIME)                          \
      FAIL_AT("%s: type %d, not datetime", json, c_.type);    \
    ASSERT_INT_EQ(c_.datetime.year, y);                       \
    ASSERT_INT_EQ(c_.datetime.month, mo);                     \
    ASSERT_INT_EQ(c_.datetime.day, d);                        \
    ASSERT_INT_EQ(c_.datetime.hour, h);                       \
    ASSERT_INT_EQ(c_.datetime.min, mi);                       \
    ASSERT_DBL_EQ(c_.datetime.sec, s);                        \
    ASSERT_INT_EQ(c_.datetime.has_time, with_time);           \
  } while (0)

TEST(number_items) {
  ASSERT_NUMBER("21.5", SQ_ITEM_NUMBER, 21.5);
  ASSERT_NUMBER("-3", SQ_ITEM_NUMBER, -3);
  ASSERT_NUMBER("\"12.5\"", SQ_ITEM_NUMBER, 12.5);
  ASSERT_NUMBER("\" 7 \"", SQ_ITEM_NUMBER, 7);
  ASSERT_NUMBER("\"1e3\"", SQ_ITEM_NUMBER, 1000);
  ASSERT_NUMBER("\"-.5\"", SQ_ITEM_NUMBER, -0.5);
  ASSERT_NUMBER("\"+4.\"", SQ_ITEM_NUMBER, 4);
  ASSERT_NUMBER("\"007\"", SQ_ITEM_NUMBER, 7);
  /* Excel keeps 15 significant digits: up to there a number, beyond it the
   * text as written (leading zeros and trailing fraction zeros not counted). */
  ASSERT_NUMBER("\"123456789012345\"", SQ_ITEM_NUMBER, 123456789012345.0);
  ASSERT_NUMBER("\"0.000123456789012345\"", SQ_ITEM_NUMBER, 0.000123456789012345);
  ASSERT_NUMBER("\"1.50000000000000000000\"", SQ_ITEM_NUMBER, 1.5);
  ASSERT_NUMBER("\"1.2e21\"", SQ_ITEM_NUMBER, 1.2e21);
  /* A whole number's every digit counts (an id ending in zeros is an id). */
  ASSERT_STRING("\"1200000000000000000000\"", SQ_ITEM_NUMBER, "1200000000000000000000");
  ASSERT_STRING("\"12345678901234567890\"", SQ_ITEM_NUMBER, "12345678901234567890");
  ASSERT_STRING("\"4006381333931.0012\"", SQ_ITEM_NUMBER, "4006381333931.0012");
  /* Not plain decimal numbers: kept as written. */
  ASSERT_STRING("\"0x10\"", SQ_ITEM_NUMBER, "0x10");
  ASSERT_STRING("\"inf\"", SQ_ITEM_NUMBER, "inf");
  ASSERT_STRING("\"NaN\"", SQ_ITEM_NUMBER, "NaN");
  ASSERT_STRING("\"1e999\"", SQ_ITEM_NUMBER, "1e999");
  ASSERT_STRING("\"12abc\"", SQ_ITEM_NUMBER, "12abc");
  ASSERT_STRING("\"1,5\"", SQ_ITEM_NUMBER, "1,5");
  ASSERT_STRING("\"1e\"", SQ_ITEM_NUMBER, "1e");
  ASSERT_STRING("\".\"", SQ_ITEM_NUMBER, ".");
  ASSERT_STRING("\" \"", SQ_ITEM_NUMBER, " ");
  ASSERT_STRING("true", SQ_ITEM_NUMBER, "true");
  ASSERT_STRING("[1,2]", SQ_ITEM_NUMBER, "[1,2]");
  ASSERT_STRING("{\"a\":1}", SQ_ITEM_NUMBER, "{\"a\":1}");
  /* cJSON reads 1e999 as infinity: not a cell number, say what it was. */
  ASSERT_STRING("1e999", SQ_ITEM_NUMBER, "Infinity");
  ASSERT_BLANK("\"\"", SQ_ITEM_NUMBER);
  ASSERT_BLANK("null", SQ_ITEM_NUMBER);
}

TEST(datetime_items) {
  ASSERT_DATETIME("\"2024-03-05\"", 2024, 3, 5, 0, 0, 0, false);
  ASSERT_DATETIME("\"2024-03-05T14:30\"", 2024, 3, 5, 14, 30, 0, true);
  ASSERT_DATETIME("\"2024-03-05T14:30:15\"", 2024, 3, 5, 14, 30, 15, true);
  ASSERT_DATETIME("\"2024-03-05T14:30:15.250Z\"", 2024, 3, 5, 14, 30, 15.25, true);
  /* The offset is checked, then ignored: the wall clock stays as written. */
  ASSERT_DATETIME("\"2024-03-05T23:59:59+09:00\"", 2024, 3, 5, 23, 59, 59, true);
  ASSERT_DATETIME("\"2024-03-05T00:00-05:30\"", 2024, 3, 5, 0, 0, 0, true);
  ASSERT_DATETIME("\"2024-03-05 14:30:15\"", 2024, 3, 5, 14, 30, 15, true);
  ASSERT_DATETIME("\" 2024-02-29 \"", 2024, 2, 29, 0, 0, 0, false);
  ASSERT_DATETIME("\"1900-01-01\"", 1900, 1, 1, 0, 0, 0, false);
  ASSERT_DATETIME("\"9999-12-31T23:59:59\"", 9999, 12, 31, 23, 59, 59, true);
  ASSERT_STRING("\"2023-02-29\"", SQ_ITEM_DATETIME, "2023-02-29");
  ASSERT_STRING("\"2024-04-31\"", SQ_ITEM_DATETIME, "2024-04-31");
  ASSERT_STRING("\"2024-13-01\"", SQ_ITEM_DATETIME, "2024-13-01");
  ASSERT_STRING("\"1899-12-31\"", SQ_ITEM_DATETIME, "1899-12-31");
  ASSERT_STRING("\"2024-3-5\"", SQ_ITEM_DATETIME, "2024-3-5");
  ASSERT_STRING("\"2024-03-05T24:00\"", SQ_ITEM_DATETIME, "2024-03-05T24:00");
  ASSERT_STRING("\"2024-03-05T14:60\"", SQ_ITEM_DATETIME, "2024-03-05T14:60");
  ASSERT_STRING("\"2024-03-05T14\"", SQ_ITEM_DATETIME, "2024-03-05T14");
  ASSERT_STRING("\"2024-03-05T14:30:15.\"", SQ_ITEM_DATETIME, "2024-03-05T14:30:15.");
  ASSERT_STRING("\"2024-03-05T14:30+0900\"", SQ_ITEM_DATETIME, "2024-03-05T14:30+0900");
  ASSERT_STRING("\"2024-03-05Z\"", SQ_ITEM_DATETIME, "2024-03-05Z");
  ASSERT_STRING("\"05/03/2024\"", SQ_ITEM_DATETIME, "05/03/2024");
  ASSERT_STRING("\"yesterday\"", SQ_ITEM_DATETIME, "yesterday");
  ASSERT_STRING("20240305", SQ_ITEM_DATETIME, "20240305");
  ASSERT_BLANK("null", SQ_ITEM_DATETIME);
}

TEST(boolean_items) {
  ASSERT_BOOL("true", SQ_ITEM_BOOLEAN, 1);
  ASSERT_BOOL("false", SQ_ITEM_BOOLEAN, 0);
  ASSERT_BOOL("1", SQ_ITEM_BOOLEAN, 1);
  ASSERT_BOOL("0", SQ_ITEM_BOOLEAN, 0);
  ASSERT_BOOL("\"yes\"", SQ_ITEM_BOOLEAN, 1);
  ASSERT_BOOL("\"No\"", SQ_ITEM_BOOLEAN, 0);
  ASSERT_BOOL("\" TRUE \"", SQ_ITEM_BOOLEAN, 1);
  ASSERT_BOOL("\"false\"", SQ_ITEM_BOOLEAN, 0);
  ASSERT_BOOL("\"1\"", SQ_ITEM_BOOLEAN, 1);
  ASSERT_BOOL("\"0\"", SQ_ITEM_BOOLEAN, 0);
  ASSERT_STRING("2", SQ_ITEM_BOOLEAN, "2");
  ASSERT_STRING("\"maybe\"", SQ_ITEM_BOOLEAN, "maybe");
  ASSERT_STRING("\"y\"", SQ_ITEM_BOOLEAN, "y");
  ASSERT_STRING("[true]", SQ_ITEM_BOOLEAN, "[true]");
  ASSERT_BLANK("null", SQ_ITEM_BOOLEAN);
}

TEST(text_and_choice_items) {
  ASSERT_STRING("\"=SUM(A1:A9)\"", SQ_ITEM_TEXT, "=SUM(A1:A9)");
  ASSERT_STRING("\"  spaced  \"", SQ_ITEM_TEXT, "  spaced  ");
  ASSERT_STRING("\"12.5\"", SQ_ITEM_TEXT, "12.5");
  ASSERT_STRING("42", SQ_ITEM_TEXT, "42");
  ASSERT_STRING("-0", SQ_ITEM_TEXT, "0");
  ASSERT_STRING("12.5", SQ_ITEM_TEXT, "12.5");
  ASSERT_STRING("0.1", SQ_ITEM_TEXT, "0.1");
  ASSERT_STRING("1e20", SQ_ITEM_TEXT, "1e+20");
  ASSERT_STRING("123456789012", SQ_ITEM_TEXT, "123456789012");
  ASSERT_STRING("true", SQ_ITEM_TEXT, "true");
  ASSERT_STRING("false", SQ_ITEM_CHOICE, "false");
  ASSERT_STRING("[1, \"a\", null]", SQ_ITEM_TEXT, "[1,\"a\",null]");
  ASSERT_STRING("{ \"k\" : \"v\" }", SQ_ITEM_TEXT, "{\"k\":\"v\"}");
  ASSERT_STRING("\"A\"", SQ_ITEM_CHOICE, "A");
  ASSERT_STRING("[\"a\",\"b\"]", SQ_ITEM_CHOICE, "[\"a\",\"b\"]");
  ASSERT_STRING("\"日本語\"", SQ_ITEM_TEXT, "日本語");
  ASSERT_BLANK("\"\"", SQ_ITEM_TEXT);
  ASSERT_BLANK("null", SQ_ITEM_CHOICE);
  { /* missing */
    sq_cell c_ = conv(NULL, SQ_ITEM_TEXT);
    ASSERT_INT_EQ(c_.type, SQ_CELL_BLANK);
  }
}

TEST(recorded_at) {
  sq_cell_datetime dt;
  ASSERT(sq_cell_parse_recorded_at("2024-01-31 23:59:58", &dt));
  ASSERT_INT_EQ(dt.year, 2024);
  ASSERT_INT_EQ(dt.month, 1);
  ASSERT_INT_EQ(dt.day, 31);
  ASSERT_INT_EQ(dt.hour, 23);
  ASSERT_INT_EQ(dt.min, 59);
  ASSERT_DBL_EQ(dt.sec, 58);
  ASSERT(dt.has_time);
  ASSERT(!sq_cell_parse_recorded_at("2024-01-31T23:59:58", &dt));
  ASSERT(!sq_cell_parse_recorded_at("2024-01-31 23:59", &dt));
  ASSERT(!sq_cell_parse_recorded_at("2024-01-31 23:59:58Z", &dt));
  ASSERT(!sq_cell_parse_recorded_at("2024-01-32 00:00:00", &dt));
  ASSERT(!sq_cell_parse_recorded_at("", &dt));
  ASSERT(!sq_cell_parse_recorded_at(NULL, &dt));
}

TEST(scratch_cap_is_reported) {
  sq_buf scratch;
  sq_cell c;
  cJSON *v = cJSON_Parse("[1,2,3,4,5]");
  ASSERT(v != NULL);
  sq_buf_init(&scratch, 4);
  ASSERT_INT_EQ(sq_cell_from_json(v, SQ_ITEM_TEXT, &scratch, &c), SQ_ENOMEM);
  cJSON_Delete(v);
  sq_buf_free(&scratch);
}

TEST_MAIN(TEST_ENTRY(number_items), TEST_ENTRY(datetime_items),
          TEST_ENTRY(boolean_items), TEST_ENTRY(text_and_choice_items),
          TEST_ENTRY(recorded_at), TEST_ENTRY(scratch_cap_is_reported))
