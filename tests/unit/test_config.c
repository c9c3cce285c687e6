#include <stdlib.h>
#include <unistd.h>

#include "core/config.h"
#include "tests/unit/harness.h"

TEST(defaults_then_file_then_env) {
  sq_config c;
  sq_err e;
  char path[] = "/tmp/sheetq-config-XXXXXX";
  int fd = mkstemp(path);
  FILE *f = fdopen(fd, "w");
  fputs("{\"queue\": \"monthly\", \"max_attempts\": 5, \"lease_seconds\": 12}", f);
  fclose(f);
  ASSERT_INT_EQ(sq_config_init(&c, &e), SQ_OK);
  ASSERT_STR_EQ(c.queue, "default");
  ASSERT_INT_EQ(c.max_attempts, 3);
  ASSERT_INT_EQ(sq_config_load_file(&c, path, &e), SQ_OK);
  ASSERT_STR_EQ(c.queue, "monthly");
  ASSERT_INT_EQ(c.max_attempts, 5);
  setenv("SHEETQ_MAX_ATTEMPTS", "2", 1);
  ASSERT_INT_EQ(sq_config_load_env(&c, &e), SQ_OK);
  unsetenv("SHEETQ_MAX_ATTEMPTS");
  ASSERT_INT_EQ(c.max_attempts, 2);
  ASSERT_INT_EQ(c.lease_seconds, 12);
  ASSERT_INT_EQ(sq_config_set(&c, "queue", "x.y-z_1", &e), SQ_OK);
  ASSERT_INT_EQ(sq_config_validate(&c, &e), SQ_OK);
  unlink(path);
  sq_config_free(&c);
}

TEST(rejects_bad_values) {
  sq_config c;
  sq_err e;
  ASSERT_INT_EQ(sq_config_init(&c, &e), SQ_OK);
  ASSERT_INT_EQ(sq_config_set(&c, "max_attempts", "11", &e), SQ_ECONFIG);
  ASSERT(strstr(e.msg, "between 1 and 10") != NULL);
  ASSERT_INT_EQ(sq_config_set(&c, "max_attempts", "3x", &e), SQ_ECONFIG);
  ASSERT_INT_EQ(sq_config_set(&c, "no_such_key", "1", &e), SQ_ECONFIG);
  ASSERT_INT_EQ(sq_config_set(&c, "queue", "a b", &e), SQ_OK);
  ASSERT_INT_EQ(sq_config_validate(&c, &e), SQ_ECONFIG);
  ASSERT_INT_EQ(sq_config_load_file(&c, "/nonexistent/sheetq.json", &e), SQ_ECONFIG);
  sq_config_free(&c);
}

/* The webhook URL is a secret: a rejected one is never quoted back. */
TEST(slack_webhook_checks) {
  sq_config c;
  sq_err e;
  ASSERT_INT_EQ(sq_config_init(&c, &e), SQ_OK);
  ASSERT(c.slack_webhook_url == NULL);
  ASSERT_INT_EQ(c.slack_hold_seconds, 30);
  ASSERT_INT_EQ(sq_config_set(&c, "slack_webhook_url", "hooks.example/T0/B0/s3cr3t", &e), SQ_OK);
  ASSERT_INT_EQ(sq_config_validate(&c, &e), SQ_ECONFIG);
  ASSERT(strstr(e.msg, "s3cr3t") == NULL);
  ASSERT_INT_EQ(sq_config_set(&c, "slack_webhook_url", "https://hooks.example/T0/B0/s3cr3t", &e),
                SQ_OK);
  ASSERT_INT_EQ(sq_config_validate(&c, &e), SQ_OK);
  ASSERT_INT_EQ(sq_config_set(&c, "slack_webhook_file", "/run/secrets/slack", &e), SQ_OK);
  ASSERT_INT_EQ(sq_config_validate(&c, &e), SQ_ECONFIG);
  ASSERT(strstr(e.msg, "not both") != NULL);
  ASSERT(sq_config_find("slack_webhook_url")->secret);
  sq_config_free(&c);
}

TEST_MAIN(TEST_ENTRY(defaults_then_file_then_env), TEST_ENTRY(rejects_bad_values),
          TEST_ENTRY(slack_webhook_checks))
