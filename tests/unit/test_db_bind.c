/* Pure parts of core/db.c: URL parsing and named-parameter binding (with no
 * connection, the binder uses its portable escaper). */
#include "core/db.h"
#include "tests/unit/harness.h"

TEST(url_full) {
  sq_db_url u;
  sq_err e;
  ASSERT_INT_EQ(sq_db_url_parse("mysql://app:p%40ss@db.example:3307/forms", &u, &e), SQ_OK);
  ASSERT_STR_EQ(u.user, "app");
  ASSERT_STR_EQ(u.password, "p@ss");
  ASSERT_STR_EQ(u.host, "db.example");
  ASSERT_INT_EQ(u.port, 3307);
  ASSERT_STR_EQ(u.database, "forms");
  ASSERT(u.socket == NULL);
  sq_db_url_free(&u);
}

TEST(url_socket_and_defaults) {
  sq_db_url u;
  sq_err e;
  ASSERT_INT_EQ(sq_db_url_parse("mysql://root@/sheetq?socket=/tmp/my.sock", &u, &e), SQ_OK);
  ASSERT(u.host == NULL);
  ASSERT(u.password == NULL);
  ASSERT_STR_EQ(u.socket, "/tmp/my.sock");
  ASSERT_INT_EQ(u.port, 3306);
  sq_db_url_free(&u);
  ASSERT_INT_EQ(sq_db_url_parse("mysql://127.0.0.1/x", &u, &e), SQ_OK);
  ASSERT_STR_EQ(u.user, "root");
  sq_db_url_free(&u);
}

TEST(url_errors_do_not_leak_password) {
  static const char *const bad[] = {
      "postgres://u:secret@h/db", "mysql://u:secret@h", "mysql://u:secret@h:99999/db",
      "mysql://u:secret@h/", "mysql://u:secret@/db", "mysql://u:sec%zzret@h/db",
      "mysql://u:secret@h/db?sslmode=x"};
  sq_db_url u;
  sq_err e;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ASSERT_INT_EQ(sq_db_url_parse(bad[i], &u, &e), SQ_ECONFIG);
    ASSERT(strstr(e.msg, "secret") == NULL);
  }
}

TEST(bind_named_params) {
  sq_buf b;
  sq_err e;
  uint64_t ids[] = {3, 1, 2};
  sq_param p[] = {SQ_P_STR("period", "2026-10"), SQ_P_LIST("ids", ids, 3),
                  SQ_P_U64("n", 18446744073709551615ull),
                  SQ_P_LIST("none", NULL, 0), SQ_P_STR("evil", "a'b\\c")};
  sq_buf_init(&b, 4096);
  ASSERT_INT_EQ(sq_db_bind(NULL,
                           "SELECT ':period', `:n` -- :nope\n"
                           "FROM t WHERE p=:period AND id IN (:ids) AND n=:n "
                           "AND x IN (:none) AND s=:evil AND c::int /* :nope */",
                           p, 5, &b, &e),
                SQ_OK);
  ASSERT_STR_EQ(sq_buf_str(&b),
                "SELECT ':period', `:n` -- :nope\n"
                "FROM t WHERE p='2026-10' AND id IN (3,1,2) AND "
                "n=18446744073709551615 AND x IN (NULL) AND s='a\\'b\\\\c' "
                "AND c::int /* :nope */");
  sq_buf_free(&b);
}

TEST(bind_unknown_param) {
  sq_buf b;
  sq_err e;
  sq_buf_init(&b, 4096);
  ASSERT_INT_EQ(sq_db_bind(NULL, "SELECT :tenant_idz", NULL, 0, &b, &e), SQ_EINVAL);
  ASSERT(strstr(e.msg, ":tenant_idz") != NULL);
  sq_buf_free(&b);
}

TEST(parse_u64) {
  uint64_t v;
  ASSERT(sq_parse_u64("18446744073709551615", 20, &v));
  ASSERT(v == UINT64_MAX);
  ASSERT(!sq_parse_u64("18446744073709551616", 20, &v));
  ASSERT(!sq_parse_u64("12a", 3, &v));
  ASSERT(!sq_parse_u64("", 0, &v));
}

TEST_MAIN(TEST_ENTRY(url_full), TEST_ENTRY(url_socket_and_defaults),
          TEST_ENTRY(url_errors_do_not_leak_password),
          TEST_ENTRY(bind_named_params), TEST_ENTRY(bind_unknown_param),
          TEST_ENTRY(parse_u64))
