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

/* 2026-11-30T15:10:00Z: already 2026-12-01 00:10 in Tokyo (UTC+9). */
#define NOV30_1510Z ((time_t)1796051400)

static const char *resolved(const char *arg, time_t now, const char *zone) {
  static char out[SQ_PERIOD_STR_LEN];
  static sq_err e; /* its message is returned on failure */
  sq_period p;
  if (sq_period_resolve(arg, now, zone, &p, &e) != SQ_OK) return e.msg;
  sq_period_format(p, out);
  return out;
}

TEST(last_month_in_zone) {
  ASSERT_STR_EQ(resolved("last-month", NOV30_1510Z, "Asia/Tokyo"), "2026-11");
  ASSERT_STR_EQ(resolved("this-month", NOV30_1510Z, "Asia/Tokyo"), "2026-12");
  ASSERT_STR_EQ(resolved("last-month", NOV30_1510Z, "UTC"), "2026-10");
  /* 14:59:59Z is still November 30 in Tokyo. */
  ASSERT_STR_EQ(resolved("last-month", NOV30_1510Z - 11 * 60 - 1, "Asia/Tokyo"), "2026-10");
  /* Behind UTC: 2027-01-01T03:00Z is still 2026-12-31 in New York. */
  ASSERT_STR_EQ(resolved("last-month", (time_t)1798772400, "America/New_York"), "2026-11");
  ASSERT_STR_EQ(resolved("last-month", (time_t)1798772400, "UTC"), "2026-12");
  /* January: last month is December of the year before. */
  ASSERT_STR_EQ(resolved("last-month", (time_t)1798772400, "Asia/Tokyo"), "2026-12");
  /* An explicit month ignores the clock and the zone. */
  ASSERT_STR_EQ(resolved("2025-03", NOV30_1510Z, "No/Such_Zone"), "2025-03");
}

TEST(restores_tz) {
  const char *before;
  setenv("TZ", "America/New_York", 1);
  ASSERT_STR_EQ(resolved("last-month", NOV30_1510Z, "Asia/Tokyo"), "2026-11");
  before = getenv("TZ");
  ASSERT_STR_EQ(before, "America/New_York");
  unsetenv("TZ");
  ASSERT_STR_EQ(resolved("last-month", NOV30_1510Z, "Asia/Tokyo"), "2026-11");
  ASSERT(getenv("TZ") == NULL);
}

TEST(rejects_unknown_zones) {
  static const char *const bad[] = {"No/Such_Zone", "Asia/Tokio", "", "../etc/passwd",
                                    "/etc/localtime", "Asia//Tokyo", "Asia/", "a b",
                                    "Asia/../Asia/Tokyo", "zone.tab"};
  sq_period p;
  sq_err e;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ASSERT_INT_EQ(sq_period_resolve("last-month", NOV30_1510Z, bad[i], &p, &e), SQ_ECONFIG);
    ASSERT(strstr(e.msg, "time zone") != NULL);
  }
  ASSERT_INT_EQ(sq_period_resolve("last-month", NOV30_1510Z, NULL, &p, &e), SQ_ECONFIG);
  ASSERT_INT_EQ(sq_period_resolve(NULL, NOV30_1510Z, "UTC", &p, &e), SQ_EUSAGE);
  ASSERT_INT_EQ(sq_period_resolve("previous-month", NOV30_1510Z, "UTC", &p, &e),
                SQ_EBAD_PERIOD);
}

TEST_MAIN(TEST_ENTRY(parses_valid), TEST_ENTRY(rejects_invalid),
          TEST_ENTRY(range_and_rollover), TEST_ENTRY(last_month_in_zone),
          TEST_ENTRY(restores_tz), TEST_ENTRY(rejects_unknown_zones))
