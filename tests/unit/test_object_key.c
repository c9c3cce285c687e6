#include "exporter/object_key.h"
#include "tests/unit/harness.h"

static const sq_object_key_vars vars = {
    .tenant_id = 7, .report_id = 42, .period = {2024, 3}, .job_id = "j-81"};

static char key[SQ_OBJECT_KEY_MAX];

#define ASSERT_CONFIG_ERROR(tmpl, fragment)                                \
  do {                                                                     \
    sq_err e_;                                                             \
    ASSERT_INT_EQ(sq_object_key_template_check(tmpl, &e_), SQ_ECONFIG);    \
    if (strstr(e_.msg, fragment) == NULL)                                  \
      FAIL_AT("%s: message \"%s\" lacks \"%s\"", tmpl, e_.msg, fragment);  \
  } while (0)

TEST(default_template) {
  sq_err e;
  ASSERT_INT_EQ(sq_object_key_template_check(SQ_OBJECT_KEY_DEFAULT_TEMPLATE, &e), SQ_OK);
  ASSERT_INT_EQ(sq_object_key_expand(SQ_OBJECT_KEY_DEFAULT_TEMPLATE, &vars, key, &e), SQ_OK);
  ASSERT_STR_EQ(key, "7/42/2024-03.xlsx");
}

TEST(all_variables) {
  sq_err e;
  const char *t = "exports/{year}/{month}/t={tenant_id}/r{report_id}_{period}+{job_id}.xlsx";
  ASSERT_INT_EQ(sq_object_key_template_check(t, &e), SQ_OK);
  ASSERT_INT_EQ(sq_object_key_expand(t, &vars, key, &e), SQ_OK);
  ASSERT_STR_EQ(key, "exports/2024/03/t=7/r42_2024-03+j-81.xlsx");
}

TEST(bad_templates) {
  ASSERT_CONFIG_ERROR("{tenant}/{report_id}/{period}", "unknown variable {tenant}");
  ASSERT_CONFIG_ERROR("{}/{report_id}/{period}", "unknown variable {}");
  ASSERT_CONFIG_ERROR("{report_id/{period}", "unbalanced \"{\"");
  ASSERT_CONFIG_ERROR("{report_id}/{period", "unbalanced \"{\"");
  ASSERT_CONFIG_ERROR("report_id}/{period}", "unbalanced \"}\"");
  ASSERT_CONFIG_ERROR("", "empty");
  ASSERT_INT_EQ(sq_object_key_template_check(NULL, NULL), SQ_ECONFIG);
  ASSERT_CONFIG_ERROR("/{report_id}/{period}.xlsx", "starts with \"/\"");
  ASSERT_CONFIG_ERROR("a//{report_id}/{period}", "segment");
  ASSERT_CONFIG_ERROR("{report_id}/{period}/", "segment");
  ASSERT_CONFIG_ERROR("../{report_id}/{period}", "segment");
  ASSERT_CONFIG_ERROR("a/./{report_id}/{period}", "segment");
  ASSERT_CONFIG_ERROR("a\\{report_id}/{period}", "not allowed");
  ASSERT_CONFIG_ERROR("my reports/{report_id}/{period}", "not allowed");
  ASSERT_CONFIG_ERROR("{tenant_id}/{period}.xlsx", "unique");
  ASSERT_CONFIG_ERROR("{report_id}/{year}.xlsx", "unique");
  ASSERT_CONFIG_ERROR("static.xlsx", "unique");
  /* Names (free text from the customer's database) can never be part of a
   * key: only ids, the period and the job id are variables. */
  ASSERT_CONFIG_ERROR("{tenant_name}/{report_id}/{period}", "unknown variable {tenant_name}");
  ASSERT_CONFIG_ERROR("{report_id}/{period}/{report_name}.xlsx", "unknown variable {report_name}");
  ASSERT_CONFIG_ERROR("{report_id}/{period}/{name}.xlsx", "unknown variable {name}");
}

TEST(unique_enough_templates) {
  sq_err e;
  ASSERT_INT_EQ(sq_object_key_template_check("{job_id}.xlsx", &e), SQ_OK);
  ASSERT_INT_EQ(sq_object_key_template_check("{report_id}/{year}/{month}.xlsx", &e), SQ_OK);
  ASSERT_INT_EQ(sq_object_key_template_check("..x/{report_id}-{period}", &e), SQ_OK);
}

TEST(results_are_checked) {
  sq_err e;
  sq_object_key_vars v = vars;
  v.job_id = "..";
  ASSERT_INT_EQ(sq_object_key_expand("{job_id}", &v, key, &e), SQ_EINVAL);
  ASSERT_STR_EQ(key, "");
  v.job_id = "a/../b";
  ASSERT_INT_EQ(sq_object_key_expand("x/{job_id}", &v, key, &e), SQ_EINVAL);
  v.job_id = "a\nb";
  ASSERT_INT_EQ(sq_object_key_expand("x/{job_id}", &v, key, &e), SQ_EINVAL);
  v.job_id = "";
  ASSERT_INT_EQ(sq_object_key_expand("x/{job_id}/y", &v, key, &e), SQ_EINVAL);
  v.job_id = NULL;
  ASSERT_INT_EQ(sq_object_key_expand("x/{job_id}", &v, key, &e), SQ_EINVAL);
  /* Still inside the prefix: fine. */
  v.job_id = "a/b";
  ASSERT_INT_EQ(sq_object_key_expand("x/{job_id}", &v, key, &e), SQ_OK);
  ASSERT_STR_EQ(key, "x/a/b");
  /* Too long. */
  static char big[2000];
  memset(big, 'j', sizeof big - 1);
  v.job_id = big;
  ASSERT_INT_EQ(sq_object_key_expand("{job_id}", &v, key, &e), SQ_EINVAL);
  ASSERT_STR_EQ(key, "");
  /* A bad template is a config error even at expansion time. */
  ASSERT_INT_EQ(sq_object_key_expand("{nope}", &vars, key, &e), SQ_ECONFIG);
}

TEST(key_check) {
  sq_err e;
  ASSERT_INT_EQ(sq_object_key_check("a/b.xlsx", &e), SQ_OK);
  ASSERT_INT_EQ(sq_object_key_check("..a/b..", &e), SQ_OK);
  ASSERT_INT_EQ(sq_object_key_check("日本/語.xlsx", &e), SQ_OK);
  ASSERT_INT_EQ(sq_object_key_check("/a", &e), SQ_EINVAL);
  ASSERT_INT_EQ(sq_object_key_check("a/", &e), SQ_EINVAL);
  ASSERT_INT_EQ(sq_object_key_check("a//b", &e), SQ_EINVAL);
  ASSERT_INT_EQ(sq_object_key_check(".", &e), SQ_EINVAL);
  ASSERT_INT_EQ(sq_object_key_check("a/../b", &e), SQ_EINVAL);
  ASSERT_INT_EQ(sq_object_key_check("a/..", &e), SQ_EINVAL);
  ASSERT_INT_EQ(sq_object_key_check("a\\b", &e), SQ_EINVAL);
  ASSERT_INT_EQ(sq_object_key_check("a\x7f", &e), SQ_EINVAL);
  ASSERT_INT_EQ(sq_object_key_check("", &e), SQ_EINVAL);
  ASSERT_INT_EQ(sq_object_key_check(NULL, &e), SQ_EINVAL);
}

TEST_MAIN(TEST_ENTRY(default_template), TEST_ENTRY(all_variables),
          TEST_ENTRY(bad_templates), TEST_ENTRY(unique_enough_templates),
          TEST_ENTRY(results_are_checked), TEST_ENTRY(key_check))
