/* sq_retry_delay_ms: base x 2^(attempt-1), capped at 15 minutes, with half
 * fixed and half random ("equal jitter"). */
#include "queue/supervisor.h"
#include "tests/unit/harness.h"

TEST(bounds_per_attempt) {
  for (int attempt = 1; attempt <= 12; attempt++) {
    long full = 10000L << (attempt - 1);
    if (full > 900000) full = 900000;
    for (int i = 0; i < 200; i++) {
      long d = sq_retry_delay_ms(10, attempt);
      if (d < full / 2 || d > full) FAIL_AT("attempt %d: %ld not in [%ld, %ld]", attempt, d, full / 2, full);
    }
  }
}

TEST(jitter_varies_and_zero_base) {
  long first = sq_retry_delay_ms(10, 3);
  int differs = 0;
  for (int i = 0; i < 50; i++) differs |= sq_retry_delay_ms(10, 3) != first;
  ASSERT(differs);
  ASSERT_INT_EQ(sq_retry_delay_ms(0, 5), 0);
}

TEST_MAIN(TEST_ENTRY(bounds_per_attempt), TEST_ENTRY(jitter_varies_and_zero_base))
