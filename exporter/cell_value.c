/* cell_value.c - see cell_value.h.
 *
 * The parsers are hand-written and strict: strtod alone would accept hex,
 * "inf", "nan" and trailing garbage handling would differ by caller, and
 * sscanf-based date parsing accepts signs and short fields. Every accepted
 * string is checked character by character first; strtod only converts a
 * string already known to be a plain decimal number. (strtod follows
 * LC_NUMERIC; sheetq never calls setlocale, so the decimal point is '.'.)
 */
#include "exporter/cell_value.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Longest numeric string converted; longer ones are kept as text. */
#define NUMBER_TEXT_MAX 128

static bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static void trim(const char **s, size_t *len) {
  while (*len > 0 && is_space(**s)) {
    (*s)++;
    (*len)--;
  }
  while (*len > 0 && is_space((*s)[*len - 1])) (*len)--;
}

/* [+-]? (d+ (. d*)? | . d+) ([eE] [+-]? d+)? , nothing else. */
static bool decimal_syntax(const char *s, size_t len) {
  size_t i = 0, digits = 0;
  if (i < len && (s[i] == '+' || s[i] == '-')) i++;
  while (i < len && is_digit(s[i])) i++, digits++;
  if (i < len && s[i] == '.') {
    i++;
    while (i < len && is_digit(s[i])) i++, digits++;
  }
  if (digits == 0) return false;
  if (i < len && (s[i] == 'e' || s[i] == 'E')) {
    size_t exp_digits = 0;
    i++;
    if (i < len && (s[i] == '+' || s[i] == '-')) i++;
    while (i < len && is_digit(s[i])) i++, exp_digits++;
    if (exp_digits == 0) return false;
  }
  return i == len;
}

/* Digits of the mantissa that carry value: without leading zeros, nor
 * trailing zeros after the point. Excel keeps 15; a longer string (a
 * barcode, an account number) would come out rounded, "1.23457E+19". */
#define SIGNIFICANT_MAX 15
static size_t significant_digits(const char *s, size_t len) {
  size_t i = 0, first = SIZE_MAX, last = 0, n = 0, point = SIZE_MAX;
  if (i < len && (s[i] == '+' || s[i] == '-')) i++;
  for (; i < len && (is_digit(s[i]) || s[i] == '.'); i++) {
    if (s[i] == '.') {
      point = i;
      continue;
    }
    if (s[i] != '0' && first == SIZE_MAX) first = i;
    if (first != SIZE_MAX && (s[i] != '0' || point == SIZE_MAX)) last = i;
  }
  if (first == SIZE_MAX) return 0;
  for (size_t j = first; j <= last; j++) n += is_digit(s[j]);
  return n;
}

static bool parse_number(const char *s, size_t len, double *out) {
  char tmp[NUMBER_TEXT_MAX + 1];
  char *end = NULL;
  double d;
  trim(&s, &len);
  if (len == 0 || len > NUMBER_TEXT_MAX || !decimal_syntax(s, len) ||
      significant_digits(s, len) > SIGNIFICANT_MAX)
    return false;
  memcpy(tmp, s, len);
  tmp[len] = '\0';
  d = strtod(tmp, &end);
  if (end != tmp + len || !isfinite(d)) return false;
  *out = d;
  return true;
}

static bool parse_boolean(const char *s, size_t len, bool *out) {
  static const struct {
    const char *word;
    bool value;
  } words[] = {{"true", true}, {"false", false}, {"yes", true},
               {"no", false},  {"1", true},      {"0", false}};
  trim(&s, &len);
  for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
    if (strlen(words[i].word) == len &&
        strncasecmp(words[i].word, s, len) == 0) {
      *out = words[i].value;
      return true;
    }
  }
  return false;
}

/* Reads exactly n digits at s. */
static bool digits(const char *s, size_t n, int *out) {
  int v = 0;
  for (size_t i = 0; i < n; i++) {
    if (!is_digit(s[i])) return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

static int days_in_month(int year, int month) {
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : days[month - 1];
}

/* "YYYY-MM-DD" at s (len >= 10). */
static bool parse_date(const char *s, sq_cell_datetime *dt) {
  if (s[4] != '-' || s[7] != '-' || !digits(s, 4, &dt->year) ||
      !digits(s + 5, 2, &dt->month) || !digits(s + 8, 2, &dt->day))
    return false;
  return dt->year >= 1900 && dt->year <= 9999 && dt->month >= 1 &&
         dt->month <= 12 && dt->day >= 1 &&
         dt->day <= days_in_month(dt->year, dt->month);
}

bool sq_cell_parse_datetime(const char *s, size_t len, sq_cell_datetime *out) {
  sq_cell_datetime dt = {0};
  size_t i;
  int oh, om;

  if (s == NULL) return false;
  trim(&s, &len);
  if (len < 10 || !parse_date(s, &dt)) return false;
  if (len == 10) goto ok;
  /* Time: [T ]HH:MM */
  if ((s[10] != 'T' && s[10] != ' ') || len < 16 || s[13] != ':' ||
      !digits(s + 11, 2, &dt.hour) || !digits(s + 14, 2, &dt.min) ||
      dt.hour > 23 || dt.min > 59)
    return false;
  dt.has_time = true;
  i = 16;
  if (i < len && s[i] == ':') { /* :SS[.f+] */
    int sec;
    if (len < i + 3 || !digits(s + i + 1, 2, &sec) || sec > 59) return false;
    dt.sec = sec;
    i += 3;
    if (i < len && s[i] == '.') {
      double scale = 0.1;
      size_t start = ++i;
      while (i < len && is_digit(s[i])) {
        dt.sec += (s[i] - '0') * scale;
        scale /= 10;
        i++;
      }
      if (i == start) return false;
    }
  }
  /* Offset: Z | [+-]HH:MM, validated, then ignored (wall clock kept). */
  if (i < len && s[i] == 'Z') {
    i++;
  } else if (i < len && (s[i] == '+' || s[i] == '-')) {
    if (len < i + 6 || s[i + 3] != ':' || !digits(s + i + 1, 2, &oh) ||
        !digits(s + i + 4, 2, &om) || oh > 23 || om > 59)
      return false;
    i += 6;
  }
  if (i != len) return false;
ok:
  *out = dt;
  return true;
}

bool sq_cell_parse_recorded_at(const char *s, sq_cell_datetime *out) {
  if (s == NULL || strlen(s) != 19 || s[10] != ' ' || s[16] != ':')
    return false;
  return sq_cell_parse_datetime(s, 19, out);
}

/* Shortest of %.15g / %.17g that reads back as d (as cJSON prints). */
static sq_errcode number_text(double d, sq_buf *scratch) {
  char tmp[64];
  if (!isfinite(d)) {
    /* cJSON turns 1e999 into inf; its digits are gone, say what it is. */
    snprintf(tmp, sizeof tmp, "%s", isnan(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity");
  } else if (d == 0) {
    snprintf(tmp, sizeof tmp, "0");
  } else if (d == trunc(d) && fabs(d) < 1e15) {
    snprintf(tmp, sizeof tmp, "%.0f", d);
  } else {
    snprintf(tmp, sizeof tmp, "%.15g", d);
    if (strtod(tmp, NULL) != d) snprintf(tmp, sizeof tmp, "%.17g", d);
  }
  return sq_buf_adds(scratch, tmp);
}

static sq_errcode set_text_form(const cJSON *v, sq_buf *scratch, sq_cell *out) {
  sq_errcode rc = SQ_ENOMEM;
  char *json = NULL;

  if (cJSON_IsNumber(v)) {
    if (number_text(v->valuedouble, scratch) != SQ_OK) goto out;
  } else if (cJSON_IsBool(v)) {
    if (sq_buf_adds(scratch, cJSON_IsTrue(v) ? "true" : "false") != SQ_OK)
      goto out;
  } else {
    json = cJSON_PrintUnformatted(v);
    if (json == NULL || sq_buf_adds(scratch, json) != SQ_OK) goto out;
  }
  out->type = SQ_CELL_STRING;
  out->text = sq_buf_str(scratch);
  out->text_len = scratch->len;
  rc = SQ_OK;
out:
  cJSON_free(json);
  return rc;
}

static void set_string(const char *s, size_t len, sq_cell *out) {
  out->type = SQ_CELL_STRING;
  out->text = s;
  out->text_len = len;
}

sq_errcode sq_cell_from_json(const cJSON *value, sq_item_kind kind,
                             sq_buf *scratch, sq_cell *out) {
  const char *s;
  size_t len;

  memset(out, 0, sizeof *out);
  sq_buf_reset(scratch);
  if (value == NULL || cJSON_IsNull(value) || cJSON_IsInvalid(value))
    return SQ_OK;

  if (cJSON_IsString(value)) {
    s = value->valuestring ? value->valuestring : "";
    len = strlen(s);
    if (len == 0) return SQ_OK;
    switch (kind) {
      case SQ_ITEM_NUMBER:
        if (parse_number(s, len, &out->number)) {
          out->type = SQ_CELL_NUMBER;
          return SQ_OK;
        }
        break;
      case SQ_ITEM_DATETIME:
        if (sq_cell_parse_datetime(s, len, &out->datetime)) {
          out->type = SQ_CELL_DATETIME;
          return SQ_OK;
        }
        break;
      case SQ_ITEM_BOOLEAN:
        if (parse_boolean(s, len, &out->boolean)) {
          out->type = SQ_CELL_BOOLEAN;
          return SQ_OK;
        }
        break;
      case SQ_ITEM_TEXT:
      case SQ_ITEM_CHOICE:
        break;
    }
    set_string(s, len, out);
    return SQ_OK;
  }

  if (cJSON_IsNumber(value)) {
    double d = value->valuedouble;
    if (kind == SQ_ITEM_NUMBER && isfinite(d)) {
      out->type = SQ_CELL_NUMBER;
      out->number = d;
      return SQ_OK;
    }
    if (kind == SQ_ITEM_BOOLEAN && (d == 0 || d == 1)) {
      out->type = SQ_CELL_BOOLEAN;
      out->boolean = d == 1;
      return SQ_OK;
    }
    return set_text_form(value, scratch, out);
  }

  if (cJSON_IsBool(value) && kind == SQ_ITEM_BOOLEAN) {
    out->type = SQ_CELL_BOOLEAN;
    out->boolean = cJSON_IsTrue(value);
    return SQ_OK;
  }
  return set_text_form(value, scratch, out);
}
