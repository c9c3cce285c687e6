/* text_clean.c - see text_clean.h.
 *
 * One pass over the input decodes a character, decides whether it is kept,
 * replaced or dropped, and copies it. While copying we remember the last
 * output position at which the marker would still fit ("soft end"); if a
 * character does not fit under the hard limits, the output is rewound to the
 * soft end and the marker appended. When the input is short enough that no
 * limit can be reached (every input byte yields at most 3 output bytes and 1
 * code unit), the limit checks are skipped altogether.
 */
#include "exporter/text_clean.h"

#include <stdint.h>
#include <string.h>

#define MARKER_BYTES (sizeof SQ_TEXT_TRUNCATED_MARKER - 1)
#define MARKER_UNITS 12

/* Decodes one non-ASCII sequence at p (avail >= 1 bytes). Returns the number
 * of bytes consumed (>= 1); *cp is the code point, or 0xFFFD with *valid
 * false for an ill-formed subpart. Encoded surrogates are decoded (and later
 * dropped) rather than reported as ill-formed. */
static size_t utf8_decode(const unsigned char *p, size_t avail, uint32_t *cp,
                          bool *valid) {
  unsigned char c = p[0], lo = 0x80, hi = 0xBF;
  size_t need;
  uint32_t v;

  if (c >= 0xC2 && c <= 0xDF) {
    need = 1;
    v = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    need = 2;
    v = c & 0x0F;
    if (c == 0xE0) lo = 0xA0;
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 3;
    v = c & 0x07;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    goto bad1;
  }
  for (size_t k = 1; k <= need; k++) {
    unsigned char b;
    if (k >= avail) goto badk;
    b = p[k];
    if (k == 1 ? (b < lo || b > hi) : (b & 0xC0) != 0x80) goto badk;
    v = (v << 6) | (b & 0x3F);
    continue;
  badk:
    *cp = 0xFFFD;
    *valid = false;
    return k;
  }
  *cp = v;
  *valid = true;
  return need + 1;
bad1:
  *cp = 0xFFFD;
  *valid = false;
  return 1;
}

static bool xml_char_ok(uint32_t cp) {
  if (cp < 0x20) return cp == '\t' || cp == '\n' || cp == '\r';
  if (cp >= 0xD800 && cp <= 0xDFFF) return false;
  return cp != 0xFFFE && cp != 0xFFFF;
}

/* The loop, specialised by the compiler for check == false (no limit can be
 * reached) and check == true. */
static inline size_t clean_loop(const unsigned char *in, size_t len,
                                size_t max_units, char *out, size_t out_cap,
                                bool check, bool *truncated) {
  size_t i = 0, o = 0, units = 0, soft = 0;
  size_t hard_bytes = out_cap - 1;
  bool with_marker = hard_bytes >= MARKER_BYTES && max_units >= MARKER_UNITS;
  size_t soft_bytes = with_marker ? hard_bytes - MARKER_BYTES : hard_bytes;
  size_t soft_units = with_marker ? max_units - MARKER_UNITS : max_units;

  while (i < len) {
    unsigned char c = in[i];
    const unsigned char *src;
    size_t n, ob, u;
    uint32_t cp;
    bool valid;

    if (c < 0x80) {
      if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
        i++;
        continue;
      }
      if (!check) {
        /* Runs of plain ASCII: the common case. */
        out[o++] = (char)c;
        i++;
        while (i < len && in[i] >= 0x20 && in[i] < 0x80) out[o++] = (char)in[i++];
        continue;
      }
      n = 1;
      ob = 1;
      u = 1;
      src = in + i;
    } else {
      n = utf8_decode(in + i, len - i, &cp, &valid);
      if (valid && !xml_char_ok(cp)) {
        i += n;
        continue;
      }
      if (valid) {
        ob = n;
        src = in + i;
      } else {
        ob = 3;
        src = (const unsigned char *)"\xef\xbf\xbd";
      }
      u = cp >= 0x10000 ? 2 : 1;
    }
    if (check && (ob > hard_bytes - o || u > max_units - units)) {
      o = soft;
      if (with_marker) {
        memcpy(out + o, SQ_TEXT_TRUNCATED_MARKER, MARKER_BYTES);
        o += MARKER_BYTES;
      }
      *truncated = true;
      break;
    }
    memcpy(out + o, src, ob);
    o += ob;
    units += u;
    i += n;
    if (check && o <= soft_bytes && units <= soft_units) soft = o;
  }
  out[o] = '\0';
  return o;
}

size_t sq_text_clean_n(const char *in, size_t len, size_t max_chars, char *out,
                       size_t out_cap, bool *truncated) {
  bool cut = false, check;
  size_t n, room;

  if (truncated) *truncated = false;
  if (out_cap == 0) return 0;
  if (in == NULL) len = 0;
  /* No limit can be reached when 3 bytes and 1 unit per input byte fit
   * below the soft limits (the marker reserve included). */
  room = out_cap - 1;
  check = len > max_chars - (max_chars >= MARKER_UNITS ? MARKER_UNITS : 0) ||
          room < MARKER_BYTES || len > (room - MARKER_BYTES) / 3;
  if (check)
    n = clean_loop((const unsigned char *)in, len, max_chars, out, out_cap,
                   true, &cut);
  else
    n = clean_loop((const unsigned char *)in, len, max_chars, out, out_cap,
                   false, &cut);
  if (truncated) *truncated = cut;
  return n;
}

size_t sq_text_clean(const char *in, size_t len, char *out, size_t out_cap,
                     bool *truncated) {
  return sq_text_clean_n(in, len, SQ_TEXT_CELL_MAX_CHARS, out, out_cap,
                         truncated);
}
