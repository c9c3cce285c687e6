/* period.c - parsing and arithmetic on "YYYY-MM" periods, and the month
 * "last-month" means in a given time zone.
 *
 * The time zone conversion goes through the C library (TZ, tzset,
 * localtime_r) rather than a TZif parser of our own: glibc already handles
 * every rule of the tz database. glibc falls back to UTC, silently, for a
 * zone it cannot load, so the zone file is looked up first. */
#include "core/period.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ZONE_NAME_MAX 128

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

/* A tz database name: letters, digits, '_', '+', '-' in '/'-separated parts,
 * none of them empty, "." or "..", so it cannot leave the zoneinfo tree. */
static bool zone_name_ok(const char *zone) {
  size_t n = strlen(zone), part = 0;
  if (n == 0 || n >= ZONE_NAME_MAX) return false;
  for (size_t i = 0; i <= n; i++) {
    char c = zone[i];
    if (c == '/' || c == '\0') {
      if (part == 0) return false;
      if (zone[i - part] == '.') return false; /* ".", "..", ".hidden" */
      part = 0;
    } else if (isalnum((unsigned char)c) || c == '_' || c == '+' || c == '-' ||
               c == '.') {
      part++;
    } else {
      return false;
    }
  }
  return true;
}

/* The zone file exists and is a compiled zone (it starts with "TZif"). */
static sq_errcode check_zone(const char *zone, sq_err *err) {
  const char *dir = getenv("TZDIR");
  char path[512], magic[4];
  FILE *f;
  size_t got;
  if (zone == NULL || !zone_name_ok(zone))
    return sq_err_set(err, SQ_ECONFIG,
                      "time zone \"%.64s\" is not a tz database name such as "
                      "Asia/Tokyo or UTC", zone ? zone : "");
  if (dir == NULL || dir[0] == '\0') dir = "/usr/share/zoneinfo";
  if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, zone) >= sizeof path)
    return sq_err_set(err, SQ_ECONFIG, "time zone \"%.64s\": path too long", zone);
  if ((f = fopen(path, "rb")) == NULL)
    return sq_err_set(err, SQ_ECONFIG,
                      "unknown time zone \"%.64s\": %s: %s (is the tzdata "
                      "package installed?)", zone, path, strerror(errno));
  got = fread(magic, 1, sizeof magic, f);
  fclose(f);
  if (got != sizeof magic || memcmp(magic, "TZif", 4) != 0)
    return sq_err_set(err, SQ_ECONFIG, "time zone \"%.64s\": %s is not a zone file",
                      zone, path);
  return SQ_OK;
}

/* now's calendar month in zone; TZ is restored afterwards. */
static sq_errcode month_in_zone(time_t now, const char *zone, sq_period *out,
                                sq_err *err) {
  const char *old = getenv("TZ");
  char *saved = old ? strdup(old) : NULL;
  char tz[ZONE_NAME_MAX + 1];
  struct tm tm;
  bool ok;
  if (old && saved == NULL) return sq_err_set(err, SQ_ENOMEM, "out of memory");
  /* A leading ':' makes glibc read the file, never parse a POSIX rule. */
  snprintf(tz, sizeof tz, ":%s", zone);
  setenv("TZ", tz, 1);
  tzset();
  ok = localtime_r(&now, &tm) != NULL;
  if (saved) setenv("TZ", saved, 1);
  else unsetenv("TZ");
  tzset();
  free(saved);
  if (!ok || tm.tm_year + 1900 < 1970)
    return sq_err_set(err, SQ_EBAD_PERIOD, "cannot convert the current time to %.64s", zone);
  out->year = tm.tm_year + 1900;
  out->month = tm.tm_mon + 1;
  return SQ_OK;
}

sq_errcode sq_period_resolve(const char *arg, time_t now, const char *zone,
                             sq_period *out, sq_err *err) {
  bool last;
  sq_period p;
  sq_errcode rc;
  if (arg == NULL)
    return sq_err_set(err, SQ_EUSAGE, "--period YYYY-MM is required (or last-month, this-month)");
  last = strcmp(arg, "last-month") == 0;
  if (!last && strcmp(arg, "this-month") != 0) return sq_period_parse(arg, out, err);
  if ((rc = check_zone(zone, err)) != SQ_OK) return rc;
  if ((rc = month_in_zone(now, zone, &p, err)) != SQ_OK) return rc;
  if (last && p.year == 1970 && p.month == 1)
    return sq_err_set(err, SQ_EBAD_PERIOD, "last-month would be before 1970-01");
  *out = last ? sq_period_prev(p) : p;
  return SQ_OK;
}
