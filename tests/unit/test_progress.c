#include "core/progress.h"
#include "tests/unit/harness.h"

static sq_progress_counts counts(uint64_t total, uint64_t ok, uint64_t failed, uint64_t running) {
  sq_progress_counts c = {total, ok, failed, 0, running};
  return c;
}

TEST(no_rate_until_a_second_of_samples) {
  sq_progress_tracker t;
  sq_progress p;
  sq_progress_counts c = counts(100, 10, 0, 4);
  sq_progress_tracker_init(&t, 60);
  sq_progress_update(&t, 1000, &c, &p);
  ASSERT(p.rate < 0);
  ASSERT(p.eta_s < 0);
  ASSERT_DBL_EQ(p.percent, 10);
  ASSERT(!p.complete);
  c.succeeded = 11;
  sq_progress_update(&t, 1000.5, &c, &p);
  ASSERT(p.rate < 0); /* half a second: too noisy */
}

TEST(rate_and_eta) {
  sq_progress_tracker t;
  sq_progress p;
  sq_progress_counts c = counts(100, 10, 0, 4);
  sq_progress_tracker_init(&t, 60);
  sq_progress_update(&t, 0, &c, &p);
  c.succeeded = 18;
  c.failed = 2; /* failed jobs are finished too */
  sq_progress_update(&t, 5, &c, &p);
  ASSERT_DBL_EQ(p.rate, 2.0); /* 10 more in 5 s */
  ASSERT_DBL_EQ(p.eta_s, 40.0); /* 80 left */
  ASSERT_INT_EQ(p.finished, 20);
}

TEST(rate_follows_the_window) {
  sq_progress_tracker t;
  sq_progress p;
  sq_progress_counts c = counts(1000, 0, 0, 2);
  sq_progress_tracker_init(&t, 10);
  /* 1 job/s for 20 s, then 5 jobs/s: after 10 s at the new pace, the old
   * pace has left the window. */
  for (int s = 0; s <= 20; s++) {
    c.succeeded = (uint64_t)s;
    sq_progress_update(&t, s, &c, &p);
  }
  ASSERT_DBL_EQ(p.rate, 1.0);
  for (int s = 21; s <= 30; s++) {
    c.succeeded += 5;
    sq_progress_update(&t, s, &c, &p);
  }
  ASSERT_DBL_EQ(p.rate, 5.0);
  ASSERT_DBL_EQ(p.eta_s, (1000.0 - 70.0) / 5.0);
}

TEST(stalled_batch_has_no_eta) {
  sq_progress_tracker t;
  sq_progress p;
  sq_progress_counts c = counts(10, 3, 0, 0);
  sq_progress_tracker_init(&t, 60);
  sq_progress_update(&t, 0, &c, &p);
  sq_progress_update(&t, 30, &c, &p);
  ASSERT_DBL_EQ(p.rate, 0);
  ASSERT(p.eta_s < 0);
}

TEST(rerun_restarts_the_window) {
  sq_progress_tracker t;
  sq_progress p;
  sq_progress_counts c = counts(10, 5, 5, 0);
  sq_progress_tracker_init(&t, 60);
  sq_progress_update(&t, 0, &c, &p);
  ASSERT(p.complete);
  ASSERT_DBL_EQ(p.eta_s, 0);
  c.failed = 4; /* one failed job re-run: its clone is not finished */
  sq_progress_update(&t, 2, &c, &p);
  ASSERT(!p.complete);
  ASSERT(p.rate < 0); /* no negative rate from the drop */
  c.succeeded = 6;
  sq_progress_update(&t, 4, &c, &p);
  ASSERT_DBL_EQ(p.rate, 0.5);
  ASSERT(p.complete);
}

TEST(running_jobs_keep_it_open) {
  sq_progress_tracker t;
  sq_progress p;
  sq_progress_counts c = counts(0, 0, 0, 0);
  sq_progress_tracker_init(&t, 60);
  sq_progress_update(&t, 0, &c, &p);
  ASSERT(p.complete); /* an empty batch is finished */
  ASSERT_DBL_EQ(p.percent, 100);
}

TEST(durations) {
  char b[32];
  ASSERT_STR_EQ(sq_progress_format_duration(-1, b, sizeof b), "?");
  ASSERT_STR_EQ(sq_progress_format_duration(0, b, sizeof b), "0s");
  ASSERT_STR_EQ(sq_progress_format_duration(59.4, b, sizeof b), "59s");
  ASSERT_STR_EQ(sq_progress_format_duration(59.6, b, sizeof b), "1m00s");
  ASSERT_STR_EQ(sq_progress_format_duration(187, b, sizeof b), "3m07s");
  ASSERT_STR_EQ(sq_progress_format_duration(7500, b, sizeof b), "2h05m");
  ASSERT_STR_EQ(sq_progress_format_duration(3 * 86400 + 4 * 3600 + 59, b, sizeof b), "3d04h");
}

TEST(lines) {
  sq_progress_tracker t;
  sq_progress p;
  sq_progress_counts c = counts(500, 117, 3, 6);
  char line[200];
  sq_progress_tracker_init(&t, 60);
  sq_progress_update(&t, 0, &c, &p);
  ASSERT_STR_EQ(sq_progress_format_line(&p, 0, line, sizeof line),
                "120/500 done (24%), 3 failed, 6 running, - jobs/s, ETA ?");
  c.succeeded = 141;
  sq_progress_update(&t, 10, &c, &p);
  ASSERT_STR_EQ(sq_progress_format_line(&p, 10, line, sizeof line),
                "[##........] 144/500 done (28%), 3 failed, 6 running, 2.4 jobs/s, ETA 2m28s");
  c.succeeded = 497;
  c.running = 0;
  sq_progress_update(&t, 20, &c, &p);
  ASSERT_STR_EQ(sq_progress_format_line(&p, 4, line, sizeof line),
                "[####] 500/500 done (100%), 3 failed, 0 running, 19 jobs/s, finished");
  /* A small buffer truncates, never overflows. */
  ASSERT_STR_EQ(sq_progress_format_line(&p, 4, line, 12), "[####] 500/");
  ASSERT_STR_EQ(sq_progress_format_line(&p, 40, line, 12), "500/500 don");
}

TEST_MAIN(TEST_ENTRY(no_rate_until_a_second_of_samples), TEST_ENTRY(rate_and_eta),
          TEST_ENTRY(rate_follows_the_window), TEST_ENTRY(stalled_batch_has_no_eta),
          TEST_ENTRY(rerun_restarts_the_window), TEST_ENTRY(running_jobs_keep_it_open),
          TEST_ENTRY(durations), TEST_ENTRY(lines))
