/* clock.h - sleeping for a while, whatever signals arrive meanwhile.
 *
 * The retry and back-off loops (S3, credentials, Slack, the Redis loading
 * wait, the worker's queue waiter) and the test faults all want the same
 * thing: a pause of at least ms milliseconds that a signal handler (the
 * worker's SIGTERM, SIGCHLD) does not cut short. A sleep that a signal
 * should end (status --watch) is not this. */
#ifndef SQ_CLOCK_H
#define SQ_CLOCK_H

/* Sleeps at least ms milliseconds (none for ms <= 0), resuming after EINTR. */
void sq_sleep_ms(long ms);

#endif
