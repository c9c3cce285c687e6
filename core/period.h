/* period.h - an export period: one calendar month, "YYYY-MM".
 *
 * Pure functions, no I/O, except sq_period_resolve(), which reads the
 * system's time zone database. A period covers [first day 00:00:00, first
 * day of the next month 00:00:00) in the database's local time.
 */
#ifndef SQ_PERIOD_H
#define SQ_PERIOD_H

#include <time.h>

#include "core/error.h"

typedef struct sq_period {
  int year;  /* 1970..9999 */
  int month; /* 1..12 */
} sq_period;

#define SQ_PERIOD_STR_LEN 8    /* "YYYY-MM" + NUL */
#define SQ_DATETIME_STR_LEN 20 /* "YYYY-MM-DD HH:MM:SS" + NUL */

/* Accepts exactly "YYYY-MM"; anything else is SQ_EBAD_PERIOD with a message. */
sq_errcode sq_period_parse(const char *s, sq_period *out, sq_err *err);
void sq_period_format(sq_period p, char out[SQ_PERIOD_STR_LEN]);
sq_period sq_period_next(sq_period p);
sq_period sq_period_prev(sq_period p);
/* "YYYY-MM-01 00:00:00" of p and of the month after p. */
void sq_period_range(sq_period p, char start[SQ_DATETIME_STR_LEN],
                     char end[SQ_DATETIME_STR_LEN]);

/* Resolves a --period argument: "YYYY-MM", or "last-month" / "this-month"
 * relative to the calendar date `now` has in time zone `zone` (the monthly
 * batch runs just after midnight on the 1st, local time: at 2026-11-30
 * 15:10 UTC it is already 2026-12-01 in Asia/Tokyo, so last-month is
 * 2026-11). zone is a name of the system's tz database ("Asia/Tokyo",
 * "UTC"), looked up under $TZDIR or /usr/share/zoneinfo; an unknown or
 * malformed name is SQ_ECONFIG naming it (glibc would silently use UTC).
 * Sets and restores TZ around the conversion: not thread-safe. */
sq_errcode sq_period_resolve(const char *arg, time_t now, const char *zone,
                             sq_period *out, sq_err *err);

#endif
