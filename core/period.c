/* period.c - parsing and arithmetic on "YYYY-MM" periods. */
#include "core/period.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

sq_errcode sq_period_parse(const char *s, sq_period *out, sq_err *err) {
  int year = 0, month = 0;
  if (s == NULL || strlen(s) != 7 || s[4] != '-')
    goto bad;
  for (int i = 0; i < 7; i++) {
    if (i == 4) continue;
    if (!isdigit((unsigned char)s[i])) goto bad;
  }
  year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
  month = (s[5] - '0') * 10 + (s[6] - '0');
  if (year < 1970 || month < 1 || month > 12) goto bad;
  out->year = year;
  out->month = month;
  return SQ_OK;
bad:
  return sq_err_set(err, SQ_EBAD_PERIOD,
                    "invalid period \"%.32s\": expected YYYY-MM with a month "
                    "from 01 to 12 and a year from 1970",
                    s ? s : "");
}

void sq_period_format(sq_period p, char out[SQ_PERIOD_STR_LEN]) {
  snprintf(out, SQ_PERIOD_STR_LEN, "%04u-%02u", (unsigned)p.year % 10000u,
           (unsigned)p.month % 100u);
}

sq_period sq_period_next(sq_period p) {
  if (++p.month > 12) {
    p.month = 1;
    p.year++;
  }
  return p;
}

sq_period sq_period_prev(sq_period p) {
  if (--p.month < 1) {
    p.month = 12;
    p.year--;
  }
  return p;
}

void sq_period_range(sq_period p, char start[SQ_DATETIME_STR_LEN],
                     char end[SQ_DATETIME_STR_LEN]) {
  sq_period n = sq_period_next(p);
  snprintf(start, SQ_DATETIME_STR_LEN, "%04u-%02u-01 00:00:00",
           (unsigned)p.year % 10000u, (unsigned)p.month % 100u);
  snprintf(end, SQ_DATETIME_STR_LEN, "%04u-%02u-01 00:00:00",
           (unsigned)n.year % 10000u, (unsigned)n.month % 100u);
}
