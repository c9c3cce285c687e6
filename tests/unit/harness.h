/* harness.h - a tiny unit-test harness (after libuv's test/task.h).
 *
 * TEST(name) defines a test; ASSERT_* print both sides and the location, then
 * fail the current test. Each test file is its own executable with a main()
 * from TEST_MAIN(...) that runs the listed tests and prints
 * "N passed, N failed". Exit 0 when all pass, 1 otherwise.
 */
#ifndef SQ_TEST_HARNESS_H
#define SQ_TEST_HARNESS_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int harness_failed_now;

#define TEST(name) static void test_##name(void)

#define FAIL_AT(...)                                                         \
  do {                                                                       \
    fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);                        \
    fprintf(stderr, __VA_ARGS__);                                            \
    fputc('\n', stderr);                                                     \
    harness_failed_now = 1;                                                  \
    return;                                                                  \
  } while (0)

#define ASSERT(cond)                                                         \
  do {                                                                       \
    if (!(cond)) FAIL_AT("assertion failed: %s", #cond);                     \
  } while (0)

#define ASSERT_INT_EQ(a, b)                                                  \
  do {                                                                       \
    long long va_ = (long long)(a), vb_ = (long long)(b);                    \
    if (va_ != vb_)                                                          \
      FAIL_AT("%s == %s: %lld != %lld", #a, #b, va_, vb_);                   \
  } while (0)

#define ASSERT_DBL_EQ(a, b)                                                  \
  do {                                                                       \
    double va_ = (double)(a), vb_ = (double)(b);                             \
    double d_ = va_ - vb_;                                                   \
    if (d_ > 1e-9 || d_ < -1e-9)                                             \
      FAIL_AT("%s == %s: %.12g != %.12g", #a, #b, va_, vb_);                 \
  } while (0)

#define ASSERT_STR_EQ(a, b)                                                  \
  do {                                                                       \
    const char *sa_ = (a), *sb_ = (b);                                       \
    if (sa_ == NULL || sb_ == NULL || strcmp(sa_, sb_) != 0)                 \
      FAIL_AT("%s == %s: \"%s\" != \"%s\"", #a, #b, sa_ ? sa_ : "(null)",    \
              sb_ ? sb_ : "(null)");                                         \
  } while (0)

typedef struct harness_case {
  const char *name;
  void (*fn)(void);
} harness_case;

#define TEST_ENTRY(name) {#name, test_##name}

#define TEST_MAIN(...)                                                       \
  int main(void) {                                                           \
    static const harness_case cases[] = {__VA_ARGS__};                       \
    int passed = 0, failed = 0;                                              \
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {           \
      harness_failed_now = 0;                                                \
      cases[i].fn();                                                         \
      if (harness_failed_now) {                                              \
        failed++;                                                            \
        fprintf(stderr, "not ok %s\n", cases[i].name);                       \
      } else {                                                               \
        passed++;                                                            \
        fprintf(stderr, "ok %s\n", cases[i].name);                           \
      }                                                                      \
    }                                                                        \
    printf("%d passed, %d failed\n", passed, failed);                        \
    return failed ? 1 : 0;                                                   \
  }

#endif
