/* sheet_name.c - see sheet_name.h. Works on the cleaned (valid UTF-8) name,
 * one character at a time. */
#include "exporter/sheet_name.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "exporter/text_clean.h"

/* Long names are cut far beyond 31 characters first; 31 characters take at
 * most 124 bytes, so the truncation marker never reaches the result. */
#define CLEAN_CAP 512

/* Length of the UTF-8 character starting with lead byte c (input is valid). */
static size_t char_len(unsigned char c) {
  if (c < 0x80) return 1;
  if (c < 0xE0) return 2;
  if (c < 0xF0) return 3;
  return 4;
}

static bool forbidden(unsigned char c) {
  return c == '[' || c == ']' || c == ':' || c == '*' || c == '?' ||
         c == '/' || c == '\\' || c == '\t' || c == '\n' || c == '\r';
}

static bool trimmable(char c) { return c == ' ' || c == '\''; }

/* Removes trailing spaces and apostrophes. */
static size_t trim_end(char *s, size_t n) {
  while (n > 0 && trimmable(s[n - 1])) n--;
  s[n] = '\0';
  return n;
}

/* Cuts s (length n) to at most max_units UTF-16 code units. */
static size_t cut_units(char *s, size_t n, size_t max_units) {
  size_t i = 0, units = 0;
  while (i < n) {
    size_t l = char_len((unsigned char)s[i]);
    size_t u = l == 4 ? 2 : 1;
    if (units + u > max_units) break;
    units += u;
    i += l;
  }
  s[i] = '\0';
  return i;
}

/* Cuts the last character of s (length n > 0). */
static size_t drop_last_char(char *s, size_t n) {
  do n--;
  while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80);
  s[n] = '\0';
  return n;
}

/* The cleaned, trimmed name without any suffix; returns its length. */
static size_t base_name(const char *report_name, uint64_t report_id,
                        char base[CLEAN_CAP]) {
  char clean[CLEAN_CAP];
  size_t n, i = 0, o = 0;

  if (report_name == NULL) report_name = "";
  n = sq_text_clean(report_name, strlen(report_name), clean, sizeof clean, NULL);
  while (i < n) {
    unsigned char c = (unsigned char)clean[i];
    size_t l = char_len(c);
    if (forbidden(c) || c == ' ') {
      if (o > 0 && base[o - 1] != ' ') base[o++] = ' ';
      i++;
      continue;
    }
    if (c == '\'' && o == 0) { /* leading apostrophes */
      i++;
      continue;
    }
    memcpy(base + o, clean + i, l);
    o += l;
    i += l;
  }
  base[o] = '\0';
  o = trim_end(base, o);
  /* Trimming the end may expose apostrophes or spaces at the start only if
   * nothing else is left; the loop above already skipped leading ones. */
  if (o == 0)
    o = (size_t)snprintf(base, CLEAN_CAP, "Report %" PRIu64, report_id);
  return o;
}

void sq_sheet_name(const char *report_name, uint64_t report_id, unsigned part,
                   char out[SQ_SHEET_NAME_CAP]) {
  char base[CLEAN_CAP], suffix[16] = "";
  size_t n, slen;
  bool reserved;

  if (part == 0) part = 1;
  n = base_name(report_name, report_id, base);
  reserved = strcasecmp(base, "History") == 0;
  if (part > 1 || reserved) snprintf(suffix, sizeof suffix, " (%u)", part);
  slen = strlen(suffix); /* at most 13: " (4294967295)" */
  n = cut_units(base, n, SQ_SHEET_NAME_MAX_CHARS - slen);
  n = trim_end(base, n);
  if (part > 1) {
    /* A 31-character name that itself ends in " (n)" would equal part n;
     * one character less keeps the parts distinct. */
    char first[SQ_SHEET_NAME_CAP];
    sq_sheet_name(report_name, report_id, 1, first);
    if (strlen(first) == n + slen && strncasecmp(first, base, n) == 0 &&
        strcasecmp(first + n, suffix) == 0) {
      n = drop_last_char(base, n);
      n = trim_end(base, n);
    }
  }
  /* n <= 3 bytes x (31 - slen) units, so both parts fit in out. */
  if (n + slen >= SQ_SHEET_NAME_CAP) n = 0; /* unreachable */
  memcpy(out, base, n);
  memcpy(out + n, suffix, slen + 1);
}
