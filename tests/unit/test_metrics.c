#include "core/metrics.h"
#include "tests/unit/harness.h"

/* The value of the sample line that starts with `prefix` ("name{labels} "),
 * or -1 if there is none. */
static double sample(const char *text, const char *prefix) {
  size_t n = strlen(prefix);
  for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
    if (strncmp(p, prefix, n) == 0 && p[n] == ' ') return strtod(p + n + 1, NULL);
  return -1;
}

static sq_metrics_cluster cluster_down(void) {
  sq_metrics_cluster c;
  memset(&c, 0, sizeof c);
  c.queue = "default";
  return c;
}

TEST(histogram_buckets_are_cumulative) {
  sq_metrics m;
  sq_metrics_snapshot s;
  sq_metrics_cluster c = cluster_down();
  sq_buf out;
  const char *t;
  sq_metrics_init(&m, 1700000000.0);
  sq_metrics_observe_attempt(&m, 0.05, SQ_ATTEMPT_SUCCEEDED, SQ_OK);
  sq_metrics_observe_attempt(&m, 0.1, SQ_ATTEMPT_SUCCEEDED, SQ_OK); /* le is inclusive */
  sq_metrics_observe_attempt(&m, 7, SQ_ATTEMPT_SUCCEEDED, SQ_OK);
  sq_metrics_observe_attempt(&m, 5000, SQ_ATTEMPT_SUCCEEDED, SQ_OK); /* past the last bound */
  sq_metrics_snapshot_get(&m, &s);
  sq_buf_init(&out, 1 << 20);
  ASSERT_INT_EQ(sq_metrics_render(&s, &c, &out), SQ_OK);
  t = sq_buf_str(&out);
  ASSERT(strstr(t, "# TYPE sheetq_attempt_duration_seconds histogram\n") != NULL);
  ASSERT_DBL_EQ(sample(t, "sheetq_attempt_duration_seconds_bucket{outcome=\"succeeded\",le=\"0.1\"}"), 2);
  ASSERT_DBL_EQ(sample(t, "sheetq_attempt_duration_seconds_bucket{outcome=\"succeeded\",le=\"5\"}"), 2);
  ASSERT_DBL_EQ(sample(t, "sheetq_attempt_duration_seconds_bucket{outcome=\"succeeded\",le=\"10\"}"), 3);
  ASSERT_DBL_EQ(sample(t, "sheetq_attempt_duration_seconds_bucket{outcome=\"succeeded\",le=\"1800\"}"), 3);
  ASSERT_DBL_EQ(sample(t, "sheetq_attempt_duration_seconds_bucket{outcome=\"succeeded\",le=\"+Inf\"}"), 4);
  ASSERT_DBL_EQ(sample(t, "sheetq_attempt_duration_seconds_count{outcome=\"succeeded\"}"), 4);
  ASSERT_DBL_EQ(sample(t, "sheetq_attempt_duration_seconds_sum{outcome=\"succeeded\"}"), 5007.15);
  ASSERT_DBL_EQ(sample(t, "sheetq_attempt_duration_seconds_count{outcome=\"failed\"}"), 0);
  sq_buf_free(&out);
  sq_metrics_close(&m);
}

TEST(failures_by_class_and_code) {
  sq_metrics m;
  sq_metrics_snapshot s;
  sq_metrics_cluster c = cluster_down();
  sq_buf out;
  const char *t;
  sq_metrics_init(&m, 0);
  sq_metrics_observe_attempt(&m, 1, SQ_ATTEMPT_FAILED, SQ_ECRASHED);
  sq_metrics_observe_attempt(&m, 1, SQ_ATTEMPT_FAILED, SQ_ECRASHED);
  sq_metrics_observe_attempt(&m, 1, SQ_ATTEMPT_FAILED_FINAL, SQ_ENOT_FOUND);
  sq_metrics_observe_attempt(NULL, 1, SQ_ATTEMPT_FAILED, SQ_ECRASHED); /* metrics off */
  sq_metrics_snapshot_get(&m, &s);
  sq_buf_init(&out, 1 << 20);
  ASSERT_INT_EQ(sq_metrics_render(&s, &c, &out), SQ_OK);
  t = sq_buf_str(&out);
  ASSERT_DBL_EQ(sample(t, "sheetq_attempt_failures_total{class=\"temporary\",code=\"crashed\"}"), 2);
  ASSERT_DBL_EQ(sample(t, "sheetq_attempt_failures_total{class=\"permanent\",code=\"not_found\"}"), 1);
  ASSERT(strstr(t, "code=\"timeout\"") == NULL); /* only codes that happened */
  ASSERT_DBL_EQ(sample(t, "sheetq_attempt_duration_seconds_count{outcome=\"failed\"}"), 2);
  ASSERT_DBL_EQ(sample(t, "sheetq_attempt_duration_seconds_count{outcome=\"failed_final\"}"), 1);
  /* Redis unreadable: said so, and no stale cluster figures. */
  ASSERT_DBL_EQ(sample(t, "sheetq_redis_up"), 0);
  ASSERT(strstr(t, "sheetq_jobs") == NULL);
  sq_buf_free(&out);
  sq_metrics_close(&m);
}

TEST(cluster_gauges_and_escaping) {
  sq_metrics_snapshot s;
  sq_metrics_cluster c = cluster_down();
  sq_buf out;
  const char *t;
  memset(&s, 0, sizeof s);
  c.up = true;
  c.queue = "q\"1\\";
  c.ready = 12;
  c.urgent = 2;
  c.delayed = 4;
  c.active = 3;
  c.failed = 1;
  c.tenants_waiting = 5;
  c.vcpus_in_use = 6;
  c.vcpus_budget = 6.5;
  sq_buf_init(&out, 1 << 20);
  ASSERT_INT_EQ(sq_metrics_render(&s, &c, &out), SQ_OK);
  t = sq_buf_str(&out);
  ASSERT_DBL_EQ(sample(t, "sheetq_redis_up"), 1);
  ASSERT_DBL_EQ(sample(t, "sheetq_jobs{queue=\"q\\\"1\\\\\",state=\"ready\"}"), 12);
  ASSERT_DBL_EQ(sample(t, "sheetq_jobs{queue=\"q\\\"1\\\\\",state=\"running\"}"), 3);
  ASSERT_DBL_EQ(sample(t, "sheetq_jobs{queue=\"q\\\"1\\\\\",state=\"delayed\"}"), 4);
  ASSERT_DBL_EQ(sample(t, "sheetq_jobs{queue=\"q\\\"1\\\\\",state=\"failed\"}"), 1);
  ASSERT_DBL_EQ(sample(t, "sheetq_queue_urgent_jobs{queue=\"q\\\"1\\\\\"}"), 2);
  ASSERT_DBL_EQ(sample(t, "sheetq_queue_tenants_waiting{queue=\"q\\\"1\\\\\"}"), 5);
  ASSERT_DBL_EQ(sample(t, "sheetq_vcpus_budget{queue=\"q\\\"1\\\\\"}"), 6.5);
  ASSERT(strstr(t, "# TYPE sheetq_jobs gauge\n") != NULL);
  /* Every line is a comment or "name[{labels}] value": no blank lines. */
  ASSERT(strstr(t, "\n\n") == NULL);
  ASSERT(t[strlen(t) - 1] == '\n');
  sq_buf_free(&out);
}

TEST(render_respects_the_buffer_cap) {
  sq_metrics_snapshot s;
  sq_metrics_cluster c = cluster_down();
  sq_buf out;
  memset(&s, 0, sizeof s);
  sq_buf_init(&out, 64);
  ASSERT_INT_EQ(sq_metrics_render(&s, &c, &out), SQ_ENOMEM);
  ASSERT(out.len <= 64);
  sq_buf_free(&out);
}

TEST_MAIN(TEST_ENTRY(histogram_buckets_are_cumulative), TEST_ENTRY(failures_by_class_and_code),
          TEST_ENTRY(cluster_gauges_and_escaping), TEST_ENTRY(render_respects_the_buffer_cap))
