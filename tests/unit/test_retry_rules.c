#include "core/retry_rules.h"
#include "tests/unit/harness.h"

TEST(defaults_follow_error_class) {
  sq_retry_rules r;
  ASSERT_INT_EQ(sq_retry_rules_parse(NULL, &r, NULL), SQ_OK);
  ASSERT_INT_EQ(r.n, 0);
  ASSERT(sq_retry_rules_allow(&r, SQ_EDB_CONNECT));
  ASSERT(sq_retry_rules_allow(&r, SQ_ECRASHED));
  ASSERT(!sq_retry_rules_allow(&r, SQ_ENOT_FOUND));
  ASSERT(!sq_retry_rules_allow(NULL, SQ_EBAD_JOB));
}

TEST(first_match_wins) {
  sq_retry_rules r;
  sq_err e;
  ASSERT_INT_EQ(sq_retry_rules_parse("crashed=fail, storage_*=retry,storage_denied=fail,render=retry",
                                     &r, &e), SQ_OK);
  ASSERT_INT_EQ(r.n, 4);
  ASSERT(!sq_retry_rules_allow(&r, SQ_ECRASHED));      /* temporary, but ruled fail */
  ASSERT(sq_retry_rules_allow(&r, SQ_ESTORAGE_DENIED)); /* storage_* comes first */
  ASSERT(sq_retry_rules_allow(&r, SQ_ERENDER));         /* permanent, but ruled retry */
  ASSERT(sq_retry_rules_allow(&r, SQ_ETIMEOUT));        /* no rule: its class */
  ASSERT_INT_EQ(sq_retry_rules_parse("*=fail", &r, &e), SQ_OK);
  ASSERT(!sq_retry_rules_allow(&r, SQ_EDB_CONNECT));
}

TEST(rejects_bad_rules) {
  static const char *const bad[] = {"crashed", "crashed=maybe", "Crashed=fail", "=fail",
                                    "no_such_error=retry", "crashed=fail,",
                                    "a=retry,b=retry,c=retry,d=retry,e=retry,f=retry,g=retry,"
                                    "h=retry,i=retry,j=retry,k=retry,l=retry,m=retry,n=retry,"
                                    "o=retry,p=retry,q=retry"};
  sq_retry_rules r;
  sq_err e;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ASSERT_INT_EQ(sq_retry_rules_parse(bad[i], &r, &e), SQ_ECONFIG);
    ASSERT(strstr(e.msg, "retry_rules") != NULL);
  }
}

TEST_MAIN(TEST_ENTRY(defaults_follow_error_class), TEST_ENTRY(first_match_wins),
          TEST_ENTRY(rejects_bad_rules))
