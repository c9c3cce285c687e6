#include <strings.h>
#include <unistd.h>

#include <xlsxwriter.h>

#include "exporter/sheet_name.h"
#include "tests/unit/harness.h"

static char name[SQ_SHEET_NAME_CAP];

static const char *sheet(const char *report_name, unsigned part) {
  sq_sheet_name(report_name, 42, part, name);
  return name;
}

static size_t utf16_units(const char *s) {
  size_t u = 0;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++)
    if ((*p & 0xC0) != 0x80) u += *p >= 0xF0 ? 2 : 1;
  return u;
}

TEST(plain_names_and_parts) {
  ASSERT_STR_EQ(sheet("Sales", 1), "Sales");
  ASSERT_STR_EQ(sheet("Sales", 0), "Sales");
  ASSERT_STR_EQ(sheet("Sales", 2), "Sales (2)");
  ASSERT_STR_EQ(sheet("Sales", 12), "Sales (12)");
  ASSERT_STR_EQ(sheet("点検記録", 1), "点検記録");
}

TEST(forbidden_characters) {
  ASSERT_STR_EQ(sheet("a/b:c", 1), "a b c");
  ASSERT_STR_EQ(sheet("Q1 [draft]*?", 1), "Q1 draft");
  ASSERT_STR_EQ(sheet("[]:*?/\\", 1), "Report 42");
  ASSERT_STR_EQ(sheet("[]:*?/\\", 2), "Report 42 (2)");
  ASSERT_STR_EQ(sheet("''", 1), "Report 42");
  ASSERT_STR_EQ(sheet("   ", 1), "Report 42");
  ASSERT_STR_EQ(sheet("", 1), "Report 42");
  ASSERT_STR_EQ(sheet(NULL, 1), "Report 42");
  ASSERT_STR_EQ(sheet("\x01\x02", 1), "Report 42");
  ASSERT_STR_EQ(sheet("'quoted'", 1), "quoted");
  ASSERT_STR_EQ(sheet("it's", 1), "it's");
  ASSERT_STR_EQ(sheet("tab\there\nnl", 1), "tab here nl");
  ASSERT_STR_EQ(sheet("bad\xff", 1), "bad\xef\xbf\xbd");
}

TEST(japanese_names_are_cut_by_characters) {
  char in[3 * 40 + 1] = "";
  char want[3 * 31 + 16] = "";
  for (int i = 0; i < 40; i++) memcpy(in + 3 * i, "検", 4);
  for (int i = 0; i < 31; i++) memcpy(want + 3 * i, "検", 4);
  ASSERT_STR_EQ(sheet(in, 1), want);
  want[3 * 27] = '\0';
  memcpy(want + 3 * 27, " (2)", 5);
  ASSERT_STR_EQ(sheet(in, 2), want);
  /* Characters outside the BMP count twice. */
  char emoji[4 * 20 + 1] = "";
  for (int i = 0; i < 20; i++) memcpy(emoji + 4 * i, "😀", 5);
  ASSERT_INT_EQ(strlen(sheet(emoji, 1)), 4 * 15);
}

TEST(cuts_do_not_leave_a_trailing_apostrophe) {
  /* 30 letters then "'b": the cut at 31 would end in an apostrophe. */
  char in[64];
  memset(in, 'a', 30);
  memcpy(in + 30, "'b", 3);
  ASSERT_INT_EQ(strlen(sheet(in, 1)), 30);
  ASSERT(name[29] == 'a');
}

TEST(reserved_and_colliding_names) {
  ASSERT_STR_EQ(sheet("History", 1), "History (1)");
  ASSERT_STR_EQ(sheet("history", 2), "history (2)");
  /* A 31-character name ending in " (2)" must not equal its own part 2. */
  char in[32];
  char first[SQ_SHEET_NAME_CAP];
  memset(in, 'x', 27);
  memcpy(in + 27, " (2)", 5);
  sq_sheet_name(in, 1, 1, first);
  ASSERT_STR_EQ(first, in);
  sq_sheet_name(in, 1, 2, name);
  ASSERT(strcasecmp(first, name) != 0);
  ASSERT(utf16_units(name) <= 31);
}

/* Every name is accepted by libxlsxwriter itself and parts never clash. */
TEST(libxlsxwriter_accepts_every_name) {
  static const char *names[] = {
      "Sales", "History", "'''", "a'", "'a", "[]", "x:y", "  spaced  ",
      "0123456789012345678901234567890123456789",
      "検査検査検査検査検査検査検査検査検査検査検査検査検査検査検査検査",
      "😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀", "\xff\xfe\xfd", "a\x01" "b",
      "xxxxxxxxxxxxxxxxxxxxxxxxxxx (2)", "Report 42", NULL};
  char path[] = "/tmp/sq_sheet_name_XXXXXX";
  int fd = mkstemp(path);
  lxw_workbook *wb;
  ASSERT(fd >= 0);
  wb = workbook_new(path);
  ASSERT(wb != NULL);
  for (int i = 0; names[i]; i++) {
    for (unsigned part = 1; part <= 3; part++) {
      lxw_error e;
      sq_sheet_name(names[i], 42, part, name);
      e = workbook_validate_sheet_name(wb, name);
      if (e != LXW_NO_ERROR)
        FAIL_AT("name %d part %u \"%s\": %s", i, part, name, lxw_strerror(e));
      ASSERT(lxw_utf8_strlen(name) <= 31);
      ASSERT(utf16_units(name) <= 31);
      ASSERT(workbook_add_worksheet(wb, name) != NULL);
    }
    /* Fresh workbook per report name: parts only have to differ within one. */
    workbook_close(wb);
    wb = workbook_new(path);
    ASSERT(wb != NULL);
  }
  workbook_close(wb);
  close(fd);
  unlink(path);
}

TEST_MAIN(TEST_ENTRY(plain_names_and_parts), TEST_ENTRY(forbidden_characters),
          TEST_ENTRY(japanese_names_are_cut_by_characters),
          TEST_ENTRY(cuts_do_not_leave_a_trailing_apostrophe),
          TEST_ENTRY(reserved_and_colliding_names),
          TEST_ENTRY(libxlsxwriter_accepts_every_name))
