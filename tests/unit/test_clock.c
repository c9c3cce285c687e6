#include <signal.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "core/clock.h"
#include "tests/unit/harness.h"

static volatile sig_atomic_t alarms;

static void on_alarm(int sig) {
  (void)sig;
  alarms++;
}

static double elapsed_ms(const struct timespec *a, const struct timespec *b) {
  return (double)(b->tv_sec - a->tv_sec) * 1e3 + (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

/* Signals every 5 ms (no SA_RESTART, as the worker's handlers) do not cut a
 * 60 ms sleep short. A lower bound only: a slow machine cannot fail it. */
TEST(signals_do_not_cut_the_sleep_short) {
  struct sigaction sa, old;
  struct itimerval every = {{0, 5000}, {0, 5000}}, off;
  struct timespec t0, t1;
  memset(&sa, 0, sizeof sa);
  memset(&off, 0, sizeof off);
  sa.sa_handler = on_alarm;
  sigemptyset(&sa.sa_mask);
  ASSERT_INT_EQ(sigaction(SIGALRM, &sa, &old), 0);
  alarms = 0;
  ASSERT_INT_EQ(setitimer(ITIMER_REAL, &every, NULL), 0);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  sq_sleep_ms(60);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  setitimer(ITIMER_REAL, &off, NULL);
  sigaction(SIGALRM, &old, NULL);
  ASSERT(alarms >= 2); /* the sleep was interrupted, and went on */
  ASSERT(elapsed_ms(&t0, &t1) >= 60.0);
}

TEST(nothing_to_sleep) {
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  sq_sleep_ms(0);
  sq_sleep_ms(-5);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  ASSERT(elapsed_ms(&t0, &t1) < 1000.0); /* returned, did not wrap into a huge sleep */
}

TEST_MAIN(TEST_ENTRY(signals_do_not_cut_the_sleep_short), TEST_ENTRY(nothing_to_sleep))
