#include "core/rollout.h"
#include "tests/unit/harness.h"

static sq_rollout_verdict decide(const char *groups, const char *allow, const char *deny,
                                 uint64_t tenant, bool has_group, uint64_t group) {
  sq_rollout r;
  sq_err e;
  sq_rollout_verdict v;
  if (sq_rollout_parse(groups, allow, deny, &r, &e) != SQ_OK) {
    fprintf(stderr, "  parse failed: %s\n", e.msg);
    return (sq_rollout_verdict)-1;
  }
  v = sq_rollout_decide(&r, tenant, has_group, group);
  sq_rollout_free(&r);
  return v;
}

TEST(default_exports_everyone) {
  sq_rollout r;
  ASSERT_INT_EQ(sq_rollout_parse(NULL, NULL, NULL, &r, NULL), SQ_OK);
  ASSERT(sq_rollout_is_open(&r));
  ASSERT(!sq_rollout_uses_groups(&r));
  ASSERT_INT_EQ(sq_rollout_decide(&r, 1, false, 0), SQ_ROLLOUT_IN_GROUP);
  sq_rollout_free(&r);
  ASSERT_INT_EQ(decide("", "", "", 9, true, 4), SQ_ROLLOUT_IN_GROUP);
}

TEST(groups) {
  ASSERT_INT_EQ(decide("1,2", NULL, NULL, 10, true, 1), SQ_ROLLOUT_IN_GROUP);
  ASSERT_INT_EQ(decide("1, 2", NULL, NULL, 10, true, 2), SQ_ROLLOUT_IN_GROUP);
  ASSERT_INT_EQ(decide("1,2", NULL, NULL, 10, true, 3), SQ_ROLLOUT_GROUP_OFF);
  /* A tenant whose group is unknown is not in any enabled group. */
  ASSERT_INT_EQ(decide("1,2", NULL, NULL, 10, false, 0), SQ_ROLLOUT_GROUP_OFF);
  ASSERT_INT_EQ(decide("none", NULL, NULL, 10, true, 1), SQ_ROLLOUT_GROUP_OFF);
}

TEST(allow_and_deny) {
  /* Allow-listed tenants go even when their group is off... */
  ASSERT_INT_EQ(decide("1", "7,12", NULL, 12, true, 5), SQ_ROLLOUT_ALLOWED);
  ASSERT_INT_EQ(decide("none", "7", NULL, 7, false, 0), SQ_ROLLOUT_ALLOWED);
  ASSERT_INT_EQ(decide("none", "7", NULL, 8, true, 1), SQ_ROLLOUT_GROUP_OFF);
  /* ...deny wins over both allow and an enabled group. */
  ASSERT_INT_EQ(decide("1", "7", "7", 7, true, 1), SQ_ROLLOUT_DENIED);
  ASSERT_INT_EQ(decide(NULL, NULL, "3", 3, true, 1), SQ_ROLLOUT_DENIED);
  ASSERT_INT_EQ(decide(NULL, NULL, "3", 4, true, 1), SQ_ROLLOUT_IN_GROUP);
  /* Lists in any order, with repeats: kept sorted and unique. */
  for (uint64_t t = 1; t <= 9; t++)
    ASSERT_INT_EQ(decide(NULL, NULL, "9, 5,1,7,5,9,3", t, true, 1),
                  t % 2 ? SQ_ROLLOUT_DENIED : SQ_ROLLOUT_IN_GROUP);
  {
    sq_rollout r;
    sq_err e;
    ASSERT_INT_EQ(sq_rollout_parse(NULL, "4,2,4,2", "8,6,8", &r, &e), SQ_OK);
    ASSERT_INT_EQ(r.n_allow, 2);
    ASSERT_INT_EQ(r.n_deny, 2);
    ASSERT(r.allow[0] == 2 && r.allow[1] == 4 && r.deny[0] == 6 && r.deny[1] == 8);
    sq_rollout_free(&r);
  }
  ASSERT(sq_rollout_exports(SQ_ROLLOUT_ALLOWED));
  ASSERT(!sq_rollout_exports(SQ_ROLLOUT_DENIED));
  ASSERT(!sq_rollout_exports(SQ_ROLLOUT_GROUP_OFF));
}

TEST(rejects_malformed_lists) {
  static const char *const bad[] = {"1,,2", "a", "1,", ",1", "-1", "1;2", "1 2",
                                    "99999999999999999999999", "none,1"};
  sq_rollout r;
  sq_err e;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ASSERT_INT_EQ(sq_rollout_parse(bad[i], NULL, NULL, &r, &e), SQ_ECONFIG);
    ASSERT(strstr(e.msg, "rollout_groups") != NULL);
    ASSERT_INT_EQ(sq_rollout_parse(NULL, NULL, bad[i], &r, &e), SQ_ECONFIG);
    ASSERT(strstr(e.msg, "tenant_deny") != NULL);
    ASSERT_INT_EQ(sq_rollout_parse(NULL, bad[i], NULL, &r, &e), SQ_ECONFIG);
    ASSERT(strstr(e.msg, "tenant_allow") != NULL);
  }
}

/* A blank value is neither "all groups" (unset) nor "no group". */
TEST(rejects_blank_groups) {
  sq_rollout r;
  sq_err e;
  ASSERT_INT_EQ(sq_rollout_parse(" ", NULL, NULL, &r, &e), SQ_ECONFIG);
  ASSERT(strstr(e.msg, "blank") != NULL);
  ASSERT_INT_EQ(sq_rollout_parse("\t\n", NULL, NULL, &r, &e), SQ_ECONFIG);
  ASSERT_INT_EQ(sq_rollout_parse("", NULL, NULL, &r, &e), SQ_OK);
  ASSERT(!sq_rollout_uses_groups(&r));
  sq_rollout_free(&r);
}

TEST_MAIN(TEST_ENTRY(default_exports_everyone), TEST_ENTRY(groups), TEST_ENTRY(rejects_blank_groups),
          TEST_ENTRY(allow_and_deny), TEST_ENTRY(rejects_malformed_lists))
