#include "core/config.h"
#include "core/job_size.h"
#include "tests/unit/harness.h"

TEST(vcpus_parse) {
  long v;
  ASSERT(sq_vcpus_parse("2", &v) && v == 2000);
  ASSERT(sq_vcpus_parse("0.25", &v) && v == 250);
  ASSERT(sq_vcpus_parse("1.5", &v) && v == 1500);
  ASSERT(sq_vcpus_parse("40.125", &v) && v == 40125);
  ASSERT(!sq_vcpus_parse("0.1234", &v));
  ASSERT(!sq_vcpus_parse("-1", &v));
  ASSERT(!sq_vcpus_parse("1.", &v));
  ASSERT(sq_vcpus_parse(".5", &v) && v == 500);
  ASSERT(!sq_vcpus_parse(".", &v));
  ASSERT(!sq_vcpus_parse("2x", &v));
  ASSERT(!sq_vcpus_parse("", &v));
}

TEST(rule_steps) {
  sq_job_size_rule r;
  sq_err e;
  ASSERT_INT_EQ(sq_job_size_rule_parse("100000:4,1000000:8", &r, &e), SQ_OK);
  ASSERT_INT_EQ(r.n, 2);
  ASSERT_INT_EQ(sq_job_size_vcpus(&r, 5, 2000), 2000);
  ASSERT_INT_EQ(sq_job_size_vcpus(&r, 100000, 2000), 4000);
  ASSERT_INT_EQ(sq_job_size_vcpus(&r, 999999, 2000), 4000);
  ASSERT_INT_EQ(sq_job_size_vcpus(&r, 5000000, 2000), 8000);
  ASSERT_INT_EQ(sq_job_size_rule_parse(NULL, &r, &e), SQ_OK);
  ASSERT_INT_EQ(sq_job_size_vcpus(&r, 5000000, 500), 500);
  ASSERT_INT_EQ(sq_job_size_rule_parse("0:0.25", &r, &e), SQ_OK);
  ASSERT_INT_EQ(sq_job_size_vcpus(&r, 0, 2000), 250);
}

TEST(rule_errors) {
  static const char *const bad[] = {"100", "a:1", "100:0", "100:x", "200:1,100:2",
                                    "100:1,", ",100:1", "100:1.2345"};
  sq_job_size_rule r;
  sq_err e;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    ASSERT_INT_EQ(sq_job_size_rule_parse(bad[i], &r, &e), SQ_ECONFIG);
}

TEST(config_budget_checks) {
  sq_config c;
  sq_err e;
  ASSERT_INT_EQ(sq_config_init(&c, &e), SQ_OK);
  ASSERT_INT_EQ(c.max_vcpus_m, 40000);
  ASSERT_INT_EQ(c.job_vcpus_m, 2000);
  ASSERT_INT_EQ(sq_config_set(&c, "job_vcpus", "0.5", &e), SQ_OK);
  ASSERT_INT_EQ(c.job_vcpus_m, 500);
  ASSERT_INT_EQ(sq_config_validate(&c, &e), SQ_OK);
  ASSERT_INT_EQ(sq_config_set(&c, "max_vcpus", "0.25", &e), SQ_OK);
  ASSERT_INT_EQ(sq_config_validate(&c, &e), SQ_ECONFIG); /* job bigger than cluster */
  ASSERT(strstr(e.msg, "no job could ever start") != NULL);
  ASSERT_INT_EQ(sq_config_set(&c, "max_vcpus", "abc", &e), SQ_ECONFIG);
  sq_config_free(&c);
}

TEST_MAIN(TEST_ENTRY(vcpus_parse), TEST_ENTRY(rule_steps), TEST_ENTRY(rule_errors),
          TEST_ENTRY(config_budget_checks))
