/* Records to prepared cells (exporter/row_batch.c): typing, columns, text
 * cleaning and the counters, without libxlsxwriter. */
#include "exporter/row_batch.h"
#include "tests/unit/harness.h"

static const sq_item_slot slots[] = {
    {5, 2, SQ_ITEM_NUMBER}, {7, 3, SQ_ITEM_TEXT}, {9, 4, SQ_ITEM_DATETIME}, {12, 5, SQ_ITEM_BOOLEAN}};
static const sq_row_layout layout = {slots, 4};

static sq_errcode add(sq_row_batch *b, const char *at, const char *by, const char *values) {
  sq_record r = {1, at, by, by ? strlen(by) : 0, values, values ? strlen(values) : 0};
  sq_err e;
  return sq_row_batch_add(b, &layout, &r, &e);
}

TEST(typed_cells_in_their_columns) {
  sq_row_batch b;
  sq_err e;
  const sq_prepared_row *r;
  ASSERT_INT_EQ(sq_row_batch_init(&b, &e), SQ_OK);
  ASSERT_INT_EQ(add(&b, "2026-10-05 10:00:00", "alice",
                    "{\"9\": \"2026-10-05\", \"5\": \"12.5\", \"12\": true, \"7\": \"x\\u0001y\"}"),
                SQ_OK);
  ASSERT_INT_EQ(b.n_rows, 1);
  r = &b.rows[0];
  ASSERT(r->at_is_datetime);
  ASSERT_INT_EQ(r->at.day, 5);
  ASSERT_STR_EQ(sq_row_batch_text(&b, r->by_off), "alice");
  ASSERT_INT_EQ(r->n_cells, 4);
  /* In the order of the JSON object; each in its item's column. */
  ASSERT_INT_EQ(b.cells[0].col, 4);
  ASSERT_INT_EQ(b.cells[0].type, SQ_CELL_DATETIME);
  ASSERT(!b.cells[0].flag); /* a date without time */
  ASSERT_INT_EQ(b.cells[1].col, 2);
  ASSERT_INT_EQ(b.cells[1].type, SQ_CELL_NUMBER);
  ASSERT(b.cells[1].v.number == 12.5); /* a number sent as a string */
  ASSERT_INT_EQ(b.cells[2].type, SQ_CELL_BOOLEAN);
  ASSERT(b.cells[2].flag);
  ASSERT_INT_EQ(b.cells[3].type, SQ_CELL_STRING);
  ASSERT_STR_EQ(sq_row_batch_text(&b, b.cells[3].v.text.off), "xy"); /* control char dropped */
  ASSERT_INT_EQ(b.cells[3].v.text.len, 2);
  sq_row_batch_free(&b);
}

/* Keys in item order take the look-up's fast path (the slot after the last
 * one found); a repeated key, a jump back and an unknown key in between
 * fall back to the search. Either way each value lands in its column. */
TEST(keys_in_and_out_of_item_order) {
  sq_row_batch b;
  sq_err e;
  static const int want[] = {2, 3, 4, 5, 2, 2, 5, 3};
  ASSERT_INT_EQ(sq_row_batch_init(&b, &e), SQ_OK);
  ASSERT_INT_EQ(add(&b, NULL, NULL, "{\"5\": 1, \"7\": \"a\", \"9\": \"2026-10-05\", \"12\": false}"),
                SQ_OK);
  ASSERT_INT_EQ(add(&b, NULL, NULL, "{\"5\": 1, \"5\": 2, \"6\": 0, \"12\": true, \"7\": \"b\"}"),
                SQ_OK);
  ASSERT_INT_EQ(b.n_rows, 2);
  ASSERT_INT_EQ(b.rows[0].n_cells, 4);
  ASSERT_INT_EQ(b.rows[1].n_cells, 4);
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) ASSERT_INT_EQ(b.cells[i].col, want[i]);
  ASSERT(b.cells[5].v.number == 2);
  ASSERT_INT_EQ(b.unknown_items, 1);
  sq_row_batch_free(&b);
}

TEST(messy_records_are_counted_not_fatal) {
  sq_row_batch b;
  sq_err e;
  ASSERT_INT_EQ(sq_row_batch_init(&b, &e), SQ_OK);
  ASSERT_INT_EQ(add(&b, "not a time", NULL, "not json"), SQ_OK);
  ASSERT_INT_EQ(add(&b, "2026-10-05 10:00:00", "", "{\"99\": 1, \"abc\": 2, \"7\": \"\", \"5\": null}"),
                SQ_OK);
  ASSERT_INT_EQ(b.n_rows, 2);
  ASSERT(!b.rows[0].at_is_datetime);
  ASSERT_STR_EQ(sq_row_batch_text(&b, b.rows[0].at_text_off), "not a time");
  ASSERT_INT_EQ(b.rows[0].by_len, 0);
  ASSERT_INT_EQ(b.bad_values_json, 1);
  ASSERT_INT_EQ(b.unknown_items, 2);
  ASSERT_INT_EQ(b.rows[1].n_cells, 0); /* empty text and null are blank */
  sq_row_batch_free(&b);
}

TEST(full_after_a_batch_and_reset_empties) {
  sq_row_batch b;
  sq_err e;
  int n = 0;
  ASSERT_INT_EQ(sq_row_batch_init(&b, &e), SQ_OK);
  while (!sq_row_batch_full(&b) && n < 100000) {
    ASSERT_INT_EQ(add(&b, "2026-10-05 10:00:00", "bob", "{\"5\": 1}"), SQ_OK);
    n++;
  }
  ASSERT(sq_row_batch_full(&b));
  ASSERT(n > 100 && n < 100000);
  sq_row_batch_reset(&b);
  ASSERT_INT_EQ(b.n_rows, 0);
  ASSERT_INT_EQ(b.n_cells, 0);
  ASSERT(!sq_row_batch_full(&b));
  ASSERT_INT_EQ(add(&b, NULL, "bob", "{\"5\": 2}"), SQ_OK);
  ASSERT_INT_EQ(b.rows[0].first_cell, 0);
  ASSERT(b.cells[0].v.number == 2);
  sq_row_batch_free(&b);
}

TEST_MAIN(TEST_ENTRY(typed_cells_in_their_columns), TEST_ENTRY(keys_in_and_out_of_item_order),
          TEST_ENTRY(messy_records_are_counted_not_fatal),
          TEST_ENTRY(full_after_a_batch_and_reset_empties))
