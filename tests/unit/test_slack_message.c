/* test_slack_message.c - the Slack messages: read back as JSON, every field
 * present, database text escaped, the fallback text complete, and a burst
 * capped at SQ_SLACK_LIST_MAX entries. */
#include <cjson/cJSON.h>

#include "core/slack_message.h"
#include "tests/unit/harness.h"

static sq_slack_failure failure(int i) {
  sq_slack_failure f;
  memset(&f, 0, sizeof f);
  snprintf(f.job_id, sizeof f.job_id, "j%023d", i);
  snprintf(f.batch_id, sizeof f.batch_id, "b%023d", 7);
  snprintf(f.queue, sizeof f.queue, "monthly");
  f.tenant_id = 100 + (uint64_t)i;
  f.report_id = 4200 + (uint64_t)i;
  snprintf(f.tenant_name, sizeof f.tenant_name, "Acme & Sons");
  snprintf(f.report_name, sizeof f.report_name, "Sales <!channel> `x`");
  snprintf(f.period, sizeof f.period, "2026-10");
  f.attempts = 3;
  f.max_attempts = 3;
  snprintf(f.error_code, sizeof f.error_code, "storage");
  snprintf(f.error, sizeof f.error, "PUT failed: HTTP 503 <SlowDown>\nsecond line %d", i);
  return f;
}

/* Concatenates every "text" string in the blocks (any depth). */
static void collect_text(const cJSON *node, char *out, size_t cap) {
  const cJSON *child;
  if (cJSON_IsObject(node)) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(node, "text");
    if (cJSON_IsString(t)) {
      strncat(out, t->valuestring, cap - strlen(out) - 1);
      strncat(out, "\n", cap - strlen(out) - 1);
    }
  }
  cJSON_ArrayForEach(child, node) collect_text(child, out, cap);
}

TEST(single_failure_has_every_field) {
  sq_slack_failure f = failure(1);
  sq_err err;
  char *json = sq_slack_failures_json(&f, 1, &err);
  cJSON *root = json ? cJSON_Parse(json) : NULL;
  const cJSON *text = cJSON_GetObjectItemCaseSensitive(root, "text");
  const cJSON *blocks = cJSON_GetObjectItemCaseSensitive(root, "blocks");
  static char all[65536];
  ASSERT(root != NULL);
  ASSERT(cJSON_IsString(text));
  ASSERT(cJSON_IsArray(blocks));
  ASSERT_STR_EQ(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(blocks, 0), "type")->valuestring,
                "header");
  all[0] = '\0';
  collect_text(blocks, all, sizeof all);
  /* The same facts in the blocks and in the fallback. */
  const char *wanted[] = {"j00000000000000000000001", "Report 4201", "tenant 101",
                          "Acme &amp; Sons", "2026-10", "attempts 3 of 3", "storage",
                          "PUT failed: HTTP 503 &lt;SlowDown&gt;",
                          "sheetq rerun j00000000000000000000001 --queue monthly"};
  for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++) {
    if (strstr(all, wanted[i]) == NULL) FAIL_AT("blocks lack \"%s\": %s", wanted[i], all);
    if (strstr(text->valuestring, wanted[i]) == NULL)
      FAIL_AT("fallback lacks \"%s\": %s", wanted[i], text->valuestring);
  }
  /* Escaped: no raw mention, no backtick from the data, only the first line. */
  ASSERT(strstr(json, "<!channel>") == NULL);
  ASSERT(strstr(all, "Sales &lt;!channel&gt; 'x'") != NULL);
  ASSERT(strstr(all, "second line") == NULL);
  ASSERT(strstr(text->valuestring, "second line") == NULL);
  ASSERT(strstr(all, "more") == NULL);
  cJSON_Delete(root);
  free(json);
}

TEST(default_queue_needs_no_flag) {
  sq_slack_failure f = failure(2);
  sq_err err;
  char *json;
  snprintf(f.queue, sizeof f.queue, "default");
  json = sq_slack_failures_json(&f, 1, &err);
  ASSERT(json != NULL);
  ASSERT(strstr(json, "sheetq rerun j00000000000000000000002`") != NULL);
  ASSERT(strstr(json, "--queue") == NULL);
  free(json);
}

TEST(burst_is_capped) {
  enum { N = 25 };
  sq_slack_failure f[N];
  sq_err err;
  char *json;
  cJSON *root, *blocks;
  const cJSON *text;
  char id[SQ_ID_SIZE];
  for (int i = 0; i < N; i++) f[i] = failure(i);
  json = sq_slack_failures_json(f, N, &err);
  ASSERT(json != NULL);
  root = cJSON_Parse(json);
  ASSERT(root != NULL);
  blocks = cJSON_GetObjectItemCaseSensitive(root, "blocks");
  text = cJSON_GetObjectItemCaseSensitive(root, "text");
  /* header + one section per listed failure + the "more" context */
  ASSERT_INT_EQ(cJSON_GetArraySize(blocks), 1 + SQ_SLACK_LIST_MAX + 1);
  ASSERT(strstr(json, "sheetq: 25 exports failed") != NULL);
  ASSERT(strstr(json, "and 15 more") != NULL);
  ASSERT(strstr(text->valuestring, "and 15 more") != NULL);
  ASSERT(strstr(json, "b00000000000000000000007") != NULL);
  snprintf(id, sizeof id, "j%023d", SQ_SLACK_LIST_MAX - 1);
  ASSERT(strstr(json, id) != NULL);
  snprintf(id, sizeof id, "j%023d", SQ_SLACK_LIST_MAX);
  ASSERT(strstr(json, id) == NULL);
  cJSON_Delete(root);
  free(json);
}

TEST(no_failures_is_an_error) {
  sq_err err;
  ASSERT(sq_slack_failures_json(NULL, 0, &err) == NULL);
  ASSERT_INT_EQ(err.code, SQ_EINVAL);
}

TEST(first_line_is_cut_on_a_character) {
  char out[16];
  sq_slack_first_line("short\nmore", out, sizeof out);
  ASSERT_STR_EQ(out, "short");
  sq_slack_first_line("a<b", out, sizeof out);
  ASSERT_STR_EQ(out, "a&lt;b");
  /* 14 bytes fit; "é" is two bytes and must not be split. */
  sq_slack_first_line("abcdefghijkl\xc3\xa9xyz", out, sizeof out);
  ASSERT_STR_EQ(out, "abcdefghijkl...");
  sq_slack_first_line("abcdefghijk\xc3\xa9xyz", out, sizeof out);
  ASSERT_STR_EQ(out, "abcdefghijk...");
  sq_slack_first_line("&&&&", out, sizeof out);
  ASSERT_STR_EQ(out, "&amp;&amp;...");
  sq_slack_first_line(NULL, out, sizeof out);
  ASSERT_STR_EQ(out, "");
}

TEST(batch_summary) {
  sq_slack_batch_summary s;
  sq_err err;
  char *json;
  cJSON *root;
  const cJSON *text;
  memset(&s, 0, sizeof s);
  snprintf(s.batch_id, sizeof s.batch_id, "b%023d", 9);
  snprintf(s.queue, sizeof s.queue, "monthly");
  snprintf(s.period, sizeof s.period, "2026-10");
  s.jobs = 100;
  s.succeeded = 95;
  s.failed = 4;
  s.cancelled = 1;
  s.duration_s = 3723;
  s.n_slowest = 2;
  s.slowest[0] = (sq_slack_slow_report){7, 42, "Big <report>", "j1", 754.0};
  s.slowest[1] = (sq_slack_slow_report){8, 43, "", "j2", 12.5};
  json = sq_slack_batch_json(&s, &err);
  ASSERT(json != NULL);
  root = cJSON_Parse(json);
  ASSERT(root != NULL);
  text = cJSON_GetObjectItemCaseSensitive(root, "text");
  ASSERT(cJSON_IsString(text));
  ASSERT(strstr(text->valuestring, "95 succeeded, 4 failed, 1 cancelled of 100 jobs in 1h 02m 03s") != NULL);
  ASSERT(strstr(json, "*Succeeded:* 95") != NULL);
  ASSERT(strstr(json, "*Failed:* 4") != NULL);
  ASSERT(strstr(json, "1. report 42 \\\"Big &lt;report&gt;\\\" (tenant 7): 12m 34s") != NULL);
  ASSERT(strstr(json, "2. report 43 (tenant 8): 12.5 s") != NULL);
  ASSERT(strstr(json, "sheetq status --batch b00000000000000000000009") != NULL);
  ASSERT(strstr(json, "with failures") != NULL);
  cJSON_Delete(root);
  free(json);
}

TEST_MAIN(TEST_ENTRY(single_failure_has_every_field), TEST_ENTRY(default_queue_needs_no_flag),
          TEST_ENTRY(burst_is_capped), TEST_ENTRY(no_failures_is_an_error),
          TEST_ENTRY(first_line_is_cut_on_a_character), TEST_ENTRY(batch_summary))
