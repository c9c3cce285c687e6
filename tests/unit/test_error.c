#include "core/error.h"
#include "tests/unit/harness.h"

TEST(names_round_trip) {
  for (int i = 0; i < SQ_E__COUNT; i++)
    ASSERT_INT_EQ(sq_errcode_from_name(sq_errname((sq_errcode)i)), i);
  ASSERT_STR_EQ(sq_errname(SQ_EDB_CONNECT), "db_connect");
  ASSERT_INT_EQ(sq_errcode_from_name("no-such-name"), SQ_EINTERNAL);
}

TEST(classes) {
  ASSERT(sq_error_is_temporary(SQ_EDB_CONNECT));
  ASSERT(sq_error_is_temporary(SQ_EKILLED));
  ASSERT(!sq_error_is_temporary(SQ_EBAD_JOB));
  ASSERT(!sq_error_is_temporary(SQ_ENOT_FOUND));
  ASSERT(!sq_error_is_temporary((sq_errcode)9999));
}

TEST(exit_status) {
  ASSERT_INT_EQ(sq_exit_status(SQ_OK), 0);
  ASSERT_INT_EQ(sq_exit_status(SQ_EUSAGE), 2);
  ASSERT_INT_EQ(sq_exit_status(SQ_EBAD_PERIOD), 2); /* the command line's */
  ASSERT_INT_EQ(sq_exit_status(SQ_EREDIS), 75);
  ASSERT_INT_EQ(sq_exit_status(SQ_EBAD_JOB), 1);
}

TEST(err_set_formats) {
  sq_err e;
  ASSERT_INT_EQ(sq_err_set(&e, SQ_ENOT_FOUND, "report %d", 42), SQ_ENOT_FOUND);
  ASSERT_STR_EQ(e.msg, "report 42");
  ASSERT_INT_EQ(e.code, SQ_ENOT_FOUND);
  sq_err_clear(&e);
  ASSERT_INT_EQ(e.code, SQ_OK);
  ASSERT_INT_EQ(sq_err_set(NULL, SQ_EIO, "x"), SQ_EIO);
}

TEST_MAIN(TEST_ENTRY(names_round_trip), TEST_ENTRY(classes),
          TEST_ENTRY(exit_status), TEST_ENTRY(err_set_formats))
