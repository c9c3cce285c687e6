#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/conn_urls.h"
#include "core/db.h"
#include "tests/unit/harness.h"

static char *with_password(const char *url, const char *pw, const char *user) {
  static char keep[512];
  char *out = NULL;
  if (sq_url_set_password(url, pw, user, &out, NULL) != SQ_OK) return NULL;
  snprintf(keep, sizeof keep, "%s", out);
  free(out);
  return keep;
}

TEST(set_password) {
  ASSERT_STR_EQ(with_password("mysql://u:old@h:3306/db", "new", "root"), "mysql://u:new@h:3306/db");
  ASSERT_STR_EQ(with_password("mysql://u@h/db", "p", "root"), "mysql://u:p@h/db");
  ASSERT_STR_EQ(with_password("mysql://h:1/db?socket=/s", "p", "root"), "mysql://root:p@h:1/db?socket=/s");
  ASSERT_STR_EQ(with_password("redis://127.0.0.1:6379/0", "p", NULL), "redis://:p@127.0.0.1:6379/0");
  ASSERT_STR_EQ(with_password("redis://:old@h", "p", NULL), "redis://:p@h");
  ASSERT_STR_EQ(with_password("redis://alice:x@h:1/2", "p", NULL), "redis://alice:p@h:1/2");
  /* Every character that would break the URL is escaped. */
  ASSERT_STR_EQ(with_password("redis://alice@h", "a@b:c/d?e%f g", NULL),
                "redis://alice:a%40b%3Ac%2Fd%3Fe%25f%20g@h");
  /* A raw '@' in an old password: the last '@' ends the user part. */
  ASSERT_STR_EQ(with_password("mysql://u:a@b@h/db", "p", "root"), "mysql://u:p@h/db");
  ASSERT(with_password("no-scheme", "p", NULL) == NULL);
}

TEST(escaped_password_round_trips) {
  const char *pw = "p@ss:w/rd%?#&= \"'\\";
  char *url = NULL;
  sq_db_url u;
  ASSERT_INT_EQ(sq_url_set_password("mysql://app@db.internal:3306/sheetq", pw, "root", &url,
                                    NULL), SQ_OK);
  ASSERT_INT_EQ(sq_db_url_parse(url, &u, NULL), SQ_OK);
  ASSERT_STR_EQ(u.user, "app");
  ASSERT_STR_EQ(u.password, pw);
  ASSERT_STR_EQ(u.host, "db.internal");
  sq_db_url_free(&u);
  free(url);
}

static char *with_param(const char *url, const char *k, const char *v) {
  static char keep[512];
  char *out = NULL;
  if (sq_url_set_param(url, k, v, &out, NULL) != SQ_OK) return NULL;
  snprintf(keep, sizeof keep, "%s", out);
  free(out);
  return keep;
}

TEST(set_param) {
  ASSERT_STR_EQ(with_param("mysql://h/db", "ssl-mode", "required"), "mysql://h/db?ssl-mode=required");
  ASSERT_STR_EQ(with_param("mysql://h/db?socket=/s", "ssl-mode", "required"),
                "mysql://h/db?socket=/s&ssl-mode=required");
  ASSERT_STR_EQ(with_param("mysql://h/db?ssl-mode=disabled&socket=/s", "ssl-mode", "verify-ca"),
                "mysql://h/db?ssl-mode=verify-ca&socket=/s");
  ASSERT_STR_EQ(with_param("mysql://h/db?ssl-mode=a&ssl-mode=b", "ssl-mode", "c"),
                "mysql://h/db?ssl-mode=c");
  ASSERT_STR_EQ(with_param("mysql://h/db?ssl-modex=a", "ssl-mode", "c"),
                "mysql://h/db?ssl-modex=a&ssl-mode=c");
  ASSERT_STR_EQ(with_param("mysql://h/db", "ssl-ca", "/etc/my ca.pem"), "mysql://h/db?ssl-ca=%2Fetc%2Fmy%20ca.pem");
}

TEST(has_password) {
  ASSERT(sq_url_has_password("mysql://u:p@h/db"));
  ASSERT(sq_url_has_password("redis://:p@h"));
  ASSERT(!sq_url_has_password("mysql://u@h/db"));
  ASSERT(!sq_url_has_password("redis://h:6379/0"));
  ASSERT(!sq_url_has_password("mysql://h/db?socket=/a:b@c"));
  ASSERT(!sq_url_has_password(NULL));
}

static const char *write_file(const char *text, mode_t mode) {
  static char path[64];
  FILE *f;
  snprintf(path, sizeof path, "/tmp/sq_test_pw_%d", (int)getpid());
  f = fopen(path, "wb");
  fputs(text, f);
  fclose(f);
  chmod(path, mode);
  return path;
}

TEST(password_file) {
  char *pw = NULL;
  sq_err e;
  ASSERT_INT_EQ(sq_password_file_read(write_file("s3cret\n", 0600), &pw, &e), SQ_OK);
  ASSERT_STR_EQ(pw, "s3cret");
  free(pw);
  ASSERT_INT_EQ(sq_password_file_read(write_file("a b \r\n\n", 0600), &pw, &e), SQ_OK);
  ASSERT_STR_EQ(pw, "a b ");
  free(pw);
  ASSERT_INT_EQ(sq_password_file_read(write_file("\n", 0600), &pw, &e), SQ_ECONFIG);
  ASSERT(strstr(e.msg, "empty") != NULL);
  ASSERT_INT_EQ(sq_password_file_read("/nonexistent/pw", &pw, &e), SQ_ECONFIG);
  ASSERT(pw == NULL);
  unlink(write_file("", 0600));
}

TEST(apply_to_config) {
  sq_config c;
  sq_err e;
  ASSERT_INT_EQ(sq_config_init(&c, &e), SQ_OK);
  setenv("SHEETQ_MYSQL_PASSWORD", "from-env", 1);
  setenv("SHEETQ_REDIS_PASSWORD", "r@env", 1);
  c.mysql_ssl_mode = strdup("verify-identity");
  ASSERT_INT_EQ(sq_conn_urls_apply(&c, &e), SQ_OK);
  ASSERT_STR_EQ(c.mysql_url, "mysql://root:from-env@127.0.0.1:3306/sheetq?ssl-mode=verify-identity");
  ASSERT_STR_EQ(c.redis_url, "redis://:r%40env@127.0.0.1:6379/0");
  /* Applying twice changes nothing (job processes apply it again). */
  ASSERT_INT_EQ(sq_conn_urls_apply(&c, &e), SQ_OK);
  ASSERT_STR_EQ(c.mysql_url, "mysql://root:from-env@127.0.0.1:3306/sheetq?ssl-mode=verify-identity");
  /* The file wins over the variable. */
  c.mysql_password_file = strdup(write_file("from-file\n", 0600));
  ASSERT_INT_EQ(sq_conn_urls_apply(&c, &e), SQ_OK);
  ASSERT_STR_EQ(c.mysql_url, "mysql://root:from-file@127.0.0.1:3306/sheetq?ssl-mode=verify-identity");
  unlink(c.mysql_password_file);
  free(c.mysql_ssl_mode);
  c.mysql_ssl_mode = strdup("sometimes");
  ASSERT_INT_EQ(sq_conn_urls_apply(&c, &e), SQ_ECONFIG);
  ASSERT(strstr(e.msg, "cannot open password file") != NULL);
  free(c.mysql_password_file);
  c.mysql_password_file = NULL;
  ASSERT_INT_EQ(sq_conn_urls_apply(&c, &e), SQ_ECONFIG);
  ASSERT(strstr(e.msg, "mysql_ssl_mode must be") != NULL);
  ASSERT(strstr(e.msg, "from-env") == NULL);
  unsetenv("SHEETQ_MYSQL_PASSWORD");
  unsetenv("SHEETQ_REDIS_PASSWORD");
  sq_config_free(&c);
}

TEST(db_url_ssl_options) {
  sq_db_url u;
  sq_err e;
  ASSERT_INT_EQ(sq_db_url_parse("mysql://u@h/db?ssl-mode=required", &u, &e), SQ_OK);
  ASSERT_INT_EQ(u.ssl_mode, SQ_DB_SSL_REQUIRED);
  ASSERT(u.ssl_ca == NULL);
  sq_db_url_free(&u);
  ASSERT_INT_EQ(sq_db_url_parse("mysql://u@h/db?ssl-mode=verify-ca&ssl-ca=%2Fca.pem", &u, &e), SQ_OK);
  ASSERT_INT_EQ(u.ssl_mode, SQ_DB_SSL_VERIFY_CA);
  ASSERT_STR_EQ(u.ssl_ca, "/ca.pem");
  sq_db_url_free(&u);
  ASSERT_INT_EQ(sq_db_url_parse("mysql://u@h/db", &u, &e), SQ_OK);
  ASSERT_INT_EQ(u.ssl_mode, SQ_DB_SSL_DISABLED);
  sq_db_url_free(&u);
  ASSERT_INT_EQ(sq_db_url_parse("mysql://u@h/db?ssl-mode=verify-ca", &u, &e), SQ_ECONFIG);
  ASSERT(strstr(e.msg, "needs a CA file") != NULL);
  ASSERT_INT_EQ(sq_db_url_parse("mysql://u@h/db?ssl-mode=on", &u, &e), SQ_ECONFIG);
  ASSERT(strstr(e.msg, "ssl-mode must be") != NULL);
}

TEST_MAIN(TEST_ENTRY(set_password), TEST_ENTRY(escaped_password_round_trips),
          TEST_ENTRY(set_param), TEST_ENTRY(has_password), TEST_ENTRY(password_file),
          TEST_ENTRY(apply_to_config), TEST_ENTRY(db_url_ssl_options))
