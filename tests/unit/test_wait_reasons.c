#include "core/wait_reasons.h"
#include "tests/unit/harness.h"

static sq_wait_inputs base(void) {
  sq_wait_inputs in;
  memset(&in, 0, sizeof in);
  in.have_queue = true;
  in.budget_m = 3000;
  in.job_vcpus_m = 1000;
  in.next_retry_ms = -1;
  in.since_last_start = 5;
  return in;
}

TEST(nothing_waiting) {
  sq_wait_inputs in = base();
  sq_wait_reason r[6];
  ASSERT_INT_EQ(sq_wait_reasons(&in, r, 6), 0);
}

TEST(budget_full) {
  sq_wait_inputs in = base();
  sq_wait_reason r[6];
  in.ready = 12;
  in.active = 3;
  in.used_vcpus_m = 3000;
  ASSERT_INT_EQ(sq_wait_reasons(&in, r, 6), 1);
  ASSERT_STR_EQ(r[0].name, "vcpus");
  ASSERT_INT_EQ(r[0].jobs, 12);
  ASSERT_STR_EQ(r[0].text, "12 ready, waiting for vCPUs: 3.0/3.0 in use (the cluster budget is full)");
  in.used_vcpus_m = 2500; /* half a vCPU left: a 1-vCPU job still does not fit */
  ASSERT_INT_EQ(sq_wait_reasons(&in, r, 6), 1);
  ASSERT_INT_EQ(r[0].kind, SQ_WAIT_VCPUS);
}

TEST(room_but_no_worker) {
  sq_wait_inputs in = base();
  sq_wait_reason r[6];
  in.ready = 4;
  in.since_last_start = 600;
  ASSERT_INT_EQ(sq_wait_reasons(&in, r, 6), 1);
  ASSERT_STR_EQ(r[0].name, "no_worker");
  ASSERT(strstr(r[0].text, "for 10m00s") != NULL);
  in.since_last_start = -1;
  ASSERT_INT_EQ(sq_wait_reasons(&in, r, 6), 1);
  ASSERT(strstr(r[0].text, "no attempt of this batch has started") != NULL);
  in.since_last_start = 10; /* just started one: workers are there, busy */
  ASSERT_INT_EQ(sq_wait_reasons(&in, r, 6), 1);
  ASSERT_STR_EQ(r[0].name, "worker");
  in.since_last_start = 600;
  in.active = 1; /* something runs: a worker is up */
  ASSERT_INT_EQ(sq_wait_reasons(&in, r, 6), 1);
  ASSERT_STR_EQ(r[0].name, "worker");
}

TEST(retry_submitted_missing) {
  sq_wait_inputs in = base();
  sq_wait_reason r[6];
  in.delayed = 4;
  in.next_retry_ms = 12400;
  in.submitted = 2;
  ASSERT_INT_EQ(sq_wait_reasons(&in, r, 6), 2);
  ASSERT_STR_EQ(r[0].text, "4 delayed for retry backoff, next due in 12s");
  ASSERT_STR_EQ(r[1].name, "submitted");
  in.delayed = 0;
  in.submitted = 0;
  in.runnable = 7;
  ASSERT_INT_EQ(sq_wait_reasons(&in, r, 6), 1);
  ASSERT_STR_EQ(r[0].name, "missing");
  ASSERT_INT_EQ(r[0].jobs, 7);
  in.have_queue = false; /* Redis unknown: say nothing about it */
  ASSERT_INT_EQ(sq_wait_reasons(&in, r, 6), 0);
  in.runnable = 0;
  in.delayed = 1;
  in.have_queue = true;
  in.ready = 1;
  ASSERT_INT_EQ(sq_wait_reasons(&in, r, 1), 1); /* cap respected */
}

TEST_MAIN(TEST_ENTRY(nothing_waiting), TEST_ENTRY(budget_full), TEST_ENTRY(room_but_no_worker),
          TEST_ENTRY(retry_submitted_missing))
