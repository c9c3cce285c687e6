#include "core/period.h"
#include "tests/unit/harness.h"

TEST(parses_valid) {
  sq_period p;
  ASSERT_INT_EQ(sq_period_parse("2026-10", &p, NULL), SQ_OK);
  ASSERT_INT_EQ(p.year, 2026);
  ASSERT_INT_EQ(p.month, 10);
}

TEST(rejects_invalid) {
  static const char *const bad[] = {"2026-13", "2026-00", "abc", "", "2026-1",
                                    "2026-010", "2026/10", "1969-12", "20x6-10",
                                    "2026-1a", " 2026-10"};
  sq_period p;
  sq_err e;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ASSERT_INT_EQ(sq_period_parse(bad[i], &p, &e), SQ_EBAD_PERIOD);
    ASSERT(strstr(e.msg, "YYYY-MM") != NULL);
  }
  ASSERT_INT_EQ(sq_period_parse(NULL, &p, &e), SQ_EBAD_PERIOD);
}

TEST(range_and_rollover) {
  sq_period p = {2026, 12};
  char s[SQ_DATETIME_STR_LEN], e[SQ_DATETIME_STR_LEN], f[SQ_PERIOD_STR_LEN];
  sq_period_range(p, s, e);
  ASSERT_STR_EQ(s, "2026-12-01 00:00:00");
  ASSERT_STR_EQ(e, "2027-01-01 00:00:00");
  sq_period_format(sq_period_prev((sq_period){2026, 1}), f);
  ASSERT_STR_EQ(f, "2025-12");
}

TEST_MAIN(TEST_ENTRY(parses_valid), TEST_ENTRY(rejects_invalid),
          TEST_ENTRY(range_and_rollover))
