/* cell_text.c - see cell_text.h. */
#include "exporter/cell_text.h"

#include <string.h>

static bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool x_escape_at(const char *s, size_t n, size_t i) {
  return i + 7 <= n && s[i] == '_' && s[i + 1] == 'x' && is_hex(s[i + 2]) &&
         is_hex(s[i + 3]) && is_hex(s[i + 4]) && is_hex(s[i + 5]) && s[i + 6] == '_';
}

static bool needs_x_escape(const char *s, size_t n) {
  const char *p = s, *end = s + n;
  while ((p = memchr(p, '_', (size_t)(end - p))) != NULL) {
    if (x_escape_at(s, n, (size_t)(p - s))) return true;
    p++;
  }
  return false;
}

static size_t x_escape(const char *s, size_t n, char *out, size_t cap) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    if (x_escape_at(s, n, i)) {
      if (cap - o <= 7) break;
      memcpy(out + o, "_x005F_", 7);
      o += 7;
    } else {
      if (cap - o <= 1) break;
      out[o++] = s[i];
    }
  }
  out[o] = '\0';
  return o;
}

size_t sq_cell_text(const char *s, size_t len, char *out, char *escaped, bool *cut) {
  bool cut2 = false;
  size_t n = sq_text_clean(s, len, out, SQ_TEXT_CLEAN_CAP, cut);
  if (n == 0 || !needs_x_escape(out, n)) return n;
  n = x_escape(out, n, escaped, SQ_CELL_TEXT_ESCAPED_CAP);
  /* Escaping may push it past the limit again: cut once more. */
  n = sq_text_clean(escaped, n, out, SQ_TEXT_CLEAN_CAP, &cut2);
  *cut = *cut || cut2;
  return n;
}
