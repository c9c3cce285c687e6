/* clock.c - see clock.h. */
#include "core/clock.h"

#include <errno.h>
#include <time.h>

void sq_sleep_ms(long ms) {
  struct timespec left;
  if (ms <= 0) return;
  left.tv_sec = ms / 1000;
  left.tv_nsec = (ms % 1000) * 1000000L;
  /* nanosleep leaves the remainder in `left` when a signal interrupts it. */
  while (nanosleep(&left, &left) != 0 && errno == EINTR) continue;
}
