#include "core/job.h"
#include "tests/unit/harness.h"

TEST(ids_are_unique_and_valid) {
  char a[SQ_ID_SIZE], b[SQ_ID_SIZE];
  ASSERT_INT_EQ(sq_id_new('j', a), SQ_OK);
  ASSERT_INT_EQ(sq_id_new('j', b), SQ_OK);
  ASSERT(sq_id_valid(a, 'j'));
  ASSERT(!sq_id_valid(a, 'b'));
  ASSERT(strcmp(a, b) != 0);
  ASSERT(!sq_id_valid("j0123", 'j'));
  ASSERT(!sq_id_valid("j0000000000000000000000G", 'j'));
}

TEST(round_trip) {
  sq_job j = {.tenant_id = 18446744073709551615ull, .report_id = 7,
              .period = {2026, 10}}, back;
  char *text;
  sq_err e;
  ASSERT_INT_EQ(sq_id_new('j', j.id), SQ_OK);
  ASSERT_INT_EQ(sq_id_new('b', j.batch_id), SQ_OK);
  text = sq_job_to_json(&j);
  ASSERT(text != NULL);
  ASSERT_INT_EQ(sq_job_from_json(text, strlen(text), &back, &e), SQ_OK);
  free(text);
  ASSERT_STR_EQ(back.id, j.id);
  ASSERT_STR_EQ(back.batch_id, j.batch_id);
  ASSERT(back.tenant_id == j.tenant_id);
  ASSERT_INT_EQ(back.report_id, 7);
  ASSERT_INT_EQ(back.period.month, 10);
}

TEST(rejects_malformed) {
  static const char *const bad[] = {
      "", "{", "[]", "null", "{\"v\":2}",
      "{\"v\":1,\"id\":\"x\",\"batch\":\"b0000000000000000000000a\",\"tenant\":\"1\",\"report\":\"2\",\"period\":\"2026-10\"}",
      "{\"v\":1,\"id\":\"j0000000000000000000000a\",\"batch\":\"b0000000000000000000000a\",\"tenant\":1,\"report\":\"2\",\"period\":\"2026-10\"}",
      "{\"v\":1,\"id\":\"j0000000000000000000000a\",\"batch\":\"b0000000000000000000000a\",\"tenant\":\"1\",\"report\":\"-2\",\"period\":\"2026-10\"}",
      "{\"v\":1,\"id\":\"j0000000000000000000000a\",\"batch\":\"b0000000000000000000000a\",\"tenant\":\"1\",\"report\":\"2\",\"period\":\"2026-13\"}",
      "{\"v\":1,\"id\":\"j0000000000000000000000a\",\"batch\":\"b0000000000000000000000a\",\"tenant\":\"1\",\"report\":\"2\"}",
  };
  sq_job j;
  sq_err e;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ASSERT_INT_EQ(sq_job_from_json(bad[i], strlen(bad[i]), &j, &e), SQ_EBAD_JOB);
    ASSERT(e.code == SQ_EBAD_JOB && e.msg[0] != '\0');
  }
  /* truncated payload: a prefix of a valid one */
  ASSERT_INT_EQ(sq_job_from_json("{\"v\":1,\"id\":\"j00", 16, &j, &e), SQ_EBAD_JOB);
}

TEST_MAIN(TEST_ENTRY(ids_are_unique_and_valid), TEST_ENTRY(round_trip),
          TEST_ENTRY(rejects_malformed))
