/* period.h - an export period: one calendar month, "YYYY-MM".
 *
 * Pure functions, no I/O. A period covers [first day 00:00:00, first day of
 * the next month 00:00:00) in the database's local time.
 */
#ifndef SQ_PERIOD_H
#define SQ_PERIOD_H

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

#endif
