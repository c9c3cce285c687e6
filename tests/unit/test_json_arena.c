/* The cJSON arena (exporter/json_arena.h): trees parse as with malloc, in
 * the block or spilling out of it, on several threads at once; cJSON use
 * outside a parse is plain malloc/free. Run under ASan, a tree freed into
 * the wrong place or a block leaked at thread exit fails the test. */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "exporter/json_arena.h"
#include "tests/unit/harness.h"

/* {"k0": 0, "k1": "v1", ..., "k<n-1>": ...}: numbers at even keys, strings
 * of `width` characters at odd ones. Caller frees. */
static char *make_record(int n, int width) {
  size_t cap = (size_t)n * (size_t)(width + 32) + 16, len = 0;
  char *s = malloc(cap);
  if (s == NULL) abort();
  s[len++] = '{';
  for (int i = 0; i < n; i++) {
    len += (size_t)snprintf(s + len, cap - len, "%s\"k%d\": ", i ? ", " : "", i);
    if (i % 2 == 0) {
      len += (size_t)snprintf(s + len, cap - len, "%d", i);
    } else {
      s[len++] = '"';
      for (int j = 0; j < width; j++) s[len++] = (char)('a' + (i + j) % 26);
      s[len++] = '"';
    }
  }
  s[len++] = '}';
  s[len] = '\0';
  return s;
}

/* The parsed tree holds exactly what make_record(n, width) wrote. */
static bool tree_ok(const cJSON *t, int n, int width) {
  int i = 0;
  if (!cJSON_IsObject(t)) return false;
  for (const cJSON *v = t->child; v != NULL; v = v->next, i++) {
    char key[16];
    snprintf(key, sizeof key, "k%d", i);
    if (v->string == NULL || strcmp(v->string, key) != 0) return false;
    if (i % 2 == 0) {
      if (!cJSON_IsNumber(v) || v->valueint != i) return false;
    } else {
      if (!cJSON_IsString(v) || (int)strlen(v->valuestring) != width) return false;
      if (v->valuestring[0] != (char)('a' + i % 26)) return false;
    }
  }
  return i == n;
}

TEST(parses_like_cjson) {
  char *small = make_record(30, 12), *bad = strdup("{\"a\": [1, 2");
  cJSON *t;
  sq_json_arena_install();
  sq_json_arena_install(); /* idempotent */
  for (int round = 0; round < 1000; round++) {
    size_t in_block, spilled;
    t = sq_json_arena_parse(small, strlen(small));
    ASSERT(tree_ok(t, 30, 12));
    /* It came from the block: 30 nodes and their strings, nothing malloc'ed. */
    sq_json_arena_last(&in_block, &spilled);
    ASSERT(in_block > 30 * sizeof(cJSON));
    ASSERT_INT_EQ((long)spilled, 0);
    sq_json_arena_drop(t);
  }
  ASSERT(sq_json_arena_parse(bad, strlen(bad)) == NULL); /* malformed */
  sq_json_arena_drop(NULL);
  free(small);
  free(bad);
}

TEST(bigger_than_the_block) {
  /* ~9 MB of strings: more than the 4 MB a block grows to. */
  char *huge = make_record(600, 30000), *small = make_record(10, 5);
  cJSON *t;
  for (int round = 0; round < 3; round++) {
    size_t in_block, spilled;
    t = sq_json_arena_parse(huge, strlen(huge));
    ASSERT(tree_ok(t, 600, 30000));
    sq_json_arena_last(&in_block, &spilled);
    ASSERT(spilled > 0); /* more than the block's 4 MB */
    sq_json_arena_drop(t); /* frees what spilled to malloc */
    t = sq_json_arena_parse(small, strlen(small));
    ASSERT(tree_ok(t, 10, 5));
    sq_json_arena_drop(t);
  }
  free(huge);
  free(small);
}

TEST(outside_a_parse_is_malloc) {
  /* A tree built and printed outside sq_json_arena_parse, on a thread that
   * has a block, is ordinary memory: freed by cJSON_Delete and free(). */
  char *rec = make_record(4, 3);
  cJSON *t = sq_json_arena_parse(rec, strlen(rec));
  cJSON *o = cJSON_CreateObject();
  char *text;
  sq_json_arena_drop(t);
  ASSERT(o != NULL);
  cJSON_AddStringToObject(o, "job_id", "j1");
  cJSON_AddNumberToObject(o, "rows", 500);
  text = cJSON_PrintUnformatted(o);
  ASSERT(text != NULL);
  ASSERT_STR_EQ(text, "{\"job_id\":\"j1\",\"rows\":500}");
  free(text);
  cJSON_Delete(o);
  free(rec);
}

static void *parse_many(void *arg) {
  int width = *(const int *)arg;
  char *rec = make_record(40, width);
  bool ok = true;
  for (int round = 0; round < 2000 && ok; round++) {
    cJSON *t = sq_json_arena_parse(rec, strlen(rec));
    ok = tree_ok(t, 40, width);
    sq_json_arena_drop(t);
  }
  free(rec);
  return ok ? arg : NULL;
}

TEST(threads_have_their_own_blocks) {
  /* Four threads at once; the last spills (40 x 4 KB > 64 KB) until its
   * block has grown. */
  static int widths[4] = {3, 50, 500, 4000};
  pthread_t th[4];
  for (int i = 0; i < 4; i++) ASSERT_INT_EQ(pthread_create(&th[i], NULL, parse_many, &widths[i]), 0);
  for (int i = 0; i < 4; i++) {
    void *r = NULL;
    ASSERT_INT_EQ(pthread_join(th[i], &r), 0);
    ASSERT(r == &widths[i]);
  }
}

TEST_MAIN(TEST_ENTRY(parses_like_cjson), TEST_ENTRY(bigger_than_the_block),
          TEST_ENTRY(outside_a_parse_is_malloc), TEST_ENTRY(threads_have_their_own_blocks))
