#include "core/buf.h"
#include "tests/unit/harness.h"

TEST(appends_and_caps) {
  sq_buf b;
  sq_buf_init(&b, 16);
  ASSERT_STR_EQ(sq_buf_str(&b), "");
  ASSERT_INT_EQ(sq_buf_adds(&b, "hello"), SQ_OK);
  ASSERT_INT_EQ(sq_buf_printf(&b, " %d", 42), SQ_OK);
  ASSERT_STR_EQ(sq_buf_str(&b), "hello 42");
  ASSERT_INT_EQ(sq_buf_adds(&b, "0123456789"), SQ_ENOMEM); /* past the cap */
  ASSERT_STR_EQ(sq_buf_str(&b), "hello 42");             /* unchanged */
  ASSERT_INT_EQ(sq_buf_adds(&b, "01234567"), SQ_OK);      /* exactly 16 */
  ASSERT_INT_EQ(b.len, 16);
  sq_buf_free(&b);
}

TEST(take_detaches) {
  sq_buf b;
  char *s;
  sq_buf_init(&b, 1024);
  for (int i = 0; i < 100; i++) ASSERT_INT_EQ(sq_buf_adds(&b, "x"), SQ_OK);
  s = sq_buf_take(&b);
  ASSERT_INT_EQ(strlen(s), 100);
  ASSERT(b.data == NULL && b.len == 0);
  free(s);
}

TEST_MAIN(TEST_ENTRY(appends_and_caps), TEST_ENTRY(take_detaches))
