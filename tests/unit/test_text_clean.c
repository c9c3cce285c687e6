#include <stdbool.h>

#include "exporter/text_clean.h"
#include "tests/unit/harness.h"

#define MARKER SQ_TEXT_TRUNCATED_MARKER

static char out[SQ_TEXT_CLEAN_CAP];

static const char *clean(const char *s, size_t len, bool *cut) {
  size_t n = sq_text_clean(s, len, out, sizeof out, cut);
  if (n != strlen(out)) return "(length mismatch)";
  return out;
}

/* UTF-16 code units of valid UTF-8. */
static size_t units(const char *s) {
  size_t u = 0;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if ((*p & 0xC0) != 0x80) u += *p >= 0xF0 ? 2 : 1;
  }
  return u;
}

static bool ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

TEST(clean_text_is_untouched) {
  bool cut = true;
  const char *jp = "日本語のテキスト、半角ｶﾅと全角！ 😀 tab\there\r\nnew line";
  ASSERT_STR_EQ(clean("hello, world", 12, &cut), "hello, world");
  ASSERT(!cut);
  ASSERT_STR_EQ(clean(jp, strlen(jp), &cut), jp);
  ASSERT(!cut);
  ASSERT_STR_EQ(clean(NULL, 0, &cut), "");
  ASSERT_STR_EQ(clean("\xef\xbf\xbd", 3, &cut), "\xef\xbf\xbd"); /* U+FFFD */
  ASSERT_STR_EQ(clean("\x7f\xc2\x85", 3, &cut), "\x7f\xc2\x85");  /* DEL, NEL */
}

TEST(invalid_utf8_becomes_replacement_char) {
  bool cut;
  ASSERT_STR_EQ(clean("a\xff" "b", 3, &cut), "a\xef\xbf\xbd" "b");
  /* A truncated 3-byte sequence is one maximal subpart: one U+FFFD. */
  ASSERT_STR_EQ(clean("x\xe3\x81", 3, &cut), "x\xef\xbf\xbd");
  ASSERT_STR_EQ(clean("\xe3\x81Z", 3, &cut), "\xef\xbf\xbdZ");
  /* Overlong "/" (C0 AF): two bytes that start nothing valid. */
  ASSERT_STR_EQ(clean("\xc0\xaf", 2, &cut), "\xef\xbf\xbd\xef\xbf\xbd");
  /* Above U+10FFFF, lone continuation bytes, latin-1 text. */
  ASSERT_STR_EQ(clean("\xf5\x80", 2, &cut), "\xef\xbf\xbd\xef\xbf\xbd");
  ASSERT_STR_EQ(clean("caf\xe9!", 5, &cut), "caf\xef\xbf\xbd!");
  ASSERT(!cut);
}

TEST(xml_invalid_characters_are_dropped) {
  bool cut;
  static const char in[] = "a\x01" "b\x1f" "c\x00" "d\te\nf\rg";
  ASSERT_STR_EQ(clean(in, sizeof in - 1, &cut), "abcd\te\nf\rg");
  /* U+FFFE, U+FFFF and an encoded surrogate (ED A0 80) are dropped. */
  ASSERT_STR_EQ(clean("1\xef\xbf\xbe" "2\xef\xbf\xbf" "3\xed\xa0\x80" "4", 13, &cut),
                "1234");
  ASSERT_STR_EQ(clean("\x01\x02\x03", 3, &cut), "");
}

TEST(long_ascii_is_cut_with_marker) {
  static char in[100000];
  bool cut = false;
  memset(in, 'a', sizeof in);
  clean(in, sizeof in, &cut);
  ASSERT(cut);
  ASSERT(ends_with(out, MARKER));
  ASSERT_INT_EQ(units(out), SQ_TEXT_CELL_MAX_CHARS);
  ASSERT_INT_EQ(strlen(out), SQ_TEXT_CELL_MAX_CHARS - 12 + strlen(MARKER));
  ASSERT(out[SQ_TEXT_CELL_MAX_CHARS - 13] == 'a');
}

TEST(limit_is_exact) {
  static char in[SQ_TEXT_CELL_MAX_CHARS + 1];
  bool cut = true;
  memset(in, 'b', sizeof in);
  ASSERT_INT_EQ(sq_text_clean(in, SQ_TEXT_CELL_MAX_CHARS, out, sizeof out, &cut),
                SQ_TEXT_CELL_MAX_CHARS);
  ASSERT(!cut);
  sq_text_clean(in, SQ_TEXT_CELL_MAX_CHARS + 1, out, sizeof out, &cut);
  ASSERT(cut);
  ASSERT(ends_with(out, MARKER));
  /* Dropped characters do not count. */
  in[0] = '\x01';
  sq_text_clean(in, SQ_TEXT_CELL_MAX_CHARS + 1, out, sizeof out, &cut);
  ASSERT(!cut);
}

TEST(long_japanese_is_cut_on_a_character_boundary) {
  static char in[3 * 100000 + 1];
  static char again[SQ_TEXT_CLEAN_CAP];
  bool cut = false;
  size_t n;
  for (int i = 0; i < 100000; i++) memcpy(in + 3 * i, "語", 3);
  n = sq_text_clean(in, 3 * 100000, out, sizeof out, &cut);
  ASSERT(cut);
  ASSERT(ends_with(out, MARKER));
  ASSERT_INT_EQ(units(out), SQ_TEXT_CELL_MAX_CHARS);
  ASSERT_INT_EQ(n, 3 * (SQ_TEXT_CELL_MAX_CHARS - 12) + strlen(MARKER));
  /* Still valid UTF-8: cleaning again changes nothing. */
  ASSERT_INT_EQ(sq_text_clean(out, n, again, sizeof again, &cut), n);
  ASSERT(!cut);
  ASSERT(memcmp(out, again, n) == 0);
}

TEST(characters_outside_the_bmp_count_twice) {
  static char in[4 * 16384];
  bool cut;
  for (int i = 0; i < 16384; i++) memcpy(in + 4 * i, "😀", 4);
  sq_text_clean(in, 4 * 16383, out, sizeof out, &cut); /* 32766 units */
  ASSERT(!cut);
  sq_text_clean(in, 4 * 16384, out, sizeof out, &cut); /* 32768 units */
  ASSERT(cut);
  ASSERT(units(out) <= SQ_TEXT_CELL_MAX_CHARS);
  ASSERT(ends_with(out, "😀" MARKER));
}

TEST(small_buffers_cut_by_bytes) {
  char small[20];
  bool cut;
  /* 19 usable bytes: 5 + the 14-byte marker. */
  sq_text_clean("abcdefghijklmnopqrstuvwxyz", 26, small, sizeof small, &cut);
  ASSERT(cut);
  ASSERT_STR_EQ(small, "abcde" MARKER);
  /* Never splits a character: one 3-byte char + marker = 17 bytes. */
  sq_text_clean("あああああああ", 21, small, sizeof small, &cut);
  ASSERT(cut);
  ASSERT_STR_EQ(small, "あ" MARKER);
  sq_text_clean("ああああああ", 18, small, sizeof small, &cut); /* fits */
  ASSERT(!cut);
  ASSERT_STR_EQ(small, "ああああああ");
  /* Too small for the marker: a plain cut. */
  sq_text_clean("hello world", 11, small, 6, &cut);
  ASSERT(cut);
  ASSERT_STR_EQ(small, "hello");
  /* A character limit works the same way. */
  sq_text_clean_n("abcdefghijklmnopqrstuvwxyz", 26, 15, out, sizeof out, &cut);
  ASSERT(cut);
  ASSERT_STR_EQ(out, "abc" MARKER);
}

TEST_MAIN(TEST_ENTRY(clean_text_is_untouched),
          TEST_ENTRY(invalid_utf8_becomes_replacement_char),
          TEST_ENTRY(xml_invalid_characters_are_dropped),
          TEST_ENTRY(long_ascii_is_cut_with_marker), TEST_ENTRY(limit_is_exact),
          TEST_ENTRY(long_japanese_is_cut_on_a_character_boundary),
          TEST_ENTRY(characters_outside_the_bmp_count_twice),
          TEST_ENTRY(small_buffers_cut_by_bytes))
