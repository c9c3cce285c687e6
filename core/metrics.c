/* metrics.c - see metrics.h. The metric names and their meaning are listed
 * in docs/deploy.md ("Monitoring"); keep the two in step. */
#include "core/metrics.h"

#include <stddef.h>
#include <string.h>

const double sq_metrics_bucket_bounds[SQ_METRICS_BUCKETS] = {
    0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800};

static const char *const outcome_names[SQ_ATTEMPT__OUTCOMES] = {
    "succeeded", "failed", "failed_final"};

const char *sq_attempt_outcome_name(sq_attempt_outcome o) {
  return (unsigned)o < SQ_ATTEMPT__OUTCOMES ? outcome_names[o] : "unknown";
}

void sq_metrics_init(sq_metrics *m, double started_at) {
  memset(m, 0, sizeof *m);
  pthread_mutex_init(&m->lock, NULL);
  m->data.started_at = started_at;
}

void sq_metrics_close(sq_metrics *m) {
  if (m) pthread_mutex_destroy(&m->lock);
}

void sq_metrics_observe_attempt(sq_metrics *m, double seconds,
                                sq_attempt_outcome outcome, sq_errcode code) {
  sq_metrics_histogram *h;
  if (m == NULL || (unsigned)outcome >= SQ_ATTEMPT__OUTCOMES) return;
  if (seconds < 0) seconds = 0;
  pthread_mutex_lock(&m->lock);
  h = &m->data.duration[outcome];
  for (int i = 0; i < SQ_METRICS_BUCKETS; i++)
    if (seconds <= sq_metrics_bucket_bounds[i]) {
      h->buckets[i]++;
      break;
    }
  h->count++;
  h->sum += seconds;
  if (code != SQ_OK && (unsigned)code < SQ_E__COUNT) m->data.failures[code]++;
  pthread_mutex_unlock(&m->lock);
}

void sq_metrics_snapshot_get(sq_metrics *m, sq_metrics_snapshot *out) {
  pthread_mutex_lock(&m->lock);
  *out = m->data;
  pthread_mutex_unlock(&m->lock);
}

sq_errcode sq_metrics_label_value(sq_buf *out, const char *v) {
  sq_errcode rc = SQ_OK;
  for (const char *p = v; *p && rc == SQ_OK; p++) {
    if (*p == '\\') rc = sq_buf_adds(out, "\\\\");
    else if (*p == '"') rc = sq_buf_adds(out, "\\\"");
    else if (*p == '\n') rc = sq_buf_adds(out, "\\n");
    else rc = sq_buf_add(out, p, 1);
  }
  return rc;
}

/* Appends the HELP and TYPE lines of one metric family. */
static sq_errcode family(sq_buf *out, const char *name, const char *type,
                         const char *help) {
  return sq_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{queue="q"[,state="s"]} value, for the cluster gauges. */
static sq_errcode queue_gauge(sq_buf *out, const char *name, const char *queue,
                              const char *state, double value) {
  sq_errcode rc = sq_buf_printf(out, "%s{queue=\"", name);
  if (rc == SQ_OK) rc = sq_metrics_label_value(out, queue);
  if (rc == SQ_OK && state) rc = sq_buf_printf(out, "\",state=\"%s", state);
  if (rc == SQ_OK) rc = sq_buf_printf(out, "\"} %.17g\n", value);
  return rc;
}

static sq_errcode render_histograms(const sq_metrics_snapshot *s, sq_buf *out) {
  static const char name[] = "sheetq_attempt_duration_seconds";
  sq_errcode rc = family(out, name, "histogram",
                         "Run time of the job attempts this worker supervised, by outcome.");
  for (int o = 0; o < SQ_ATTEMPT__OUTCOMES && rc == SQ_OK; o++) {
    const sq_metrics_histogram *h = &s->duration[o];
    const char *on = outcome_names[o];
    uint64_t cumulative = 0;
    for (int i = 0; i < SQ_METRICS_BUCKETS && rc == SQ_OK; i++) {
      cumulative += h->buckets[i];
      rc = sq_buf_printf(out, "%s_bucket{outcome=\"%s\",le=\"%g\"} %llu\n", name, on,
                         sq_metrics_bucket_bounds[i], (unsigned long long)cumulative);
    }
    if (rc == SQ_OK)
      rc = sq_buf_printf(out, "%s_bucket{outcome=\"%s\",le=\"+Inf\"} %llu\n"
                         "%s_sum{outcome=\"%s\"} %.17g\n"
                         "%s_count{outcome=\"%s\"} %llu\n",
                         name, on, (unsigned long long)h->count, name, on, h->sum,
                         name, on, (unsigned long long)h->count);
  }
  return rc;
}

static sq_errcode render_failures(const sq_metrics_snapshot *s, sq_buf *out) {
  static const char name[] = "sheetq_attempt_failures_total";
  sq_errcode rc = family(out, name, "counter",
                         "Failed attempts this worker supervised, by the error's retry "
                         "class (temporary or permanent) and code.");
  for (int c = 0; c < SQ_E__COUNT && rc == SQ_OK; c++) {
    if (s->failures[c] == 0) continue;
    rc = sq_buf_printf(out, "%s{class=\"%s\",code=\"%s\"} %llu\n", name,
                       sq_error_is_temporary((sq_errcode)c) ? "temporary" : "permanent",
                       sq_errname((sq_errcode)c), (unsigned long long)s->failures[c]);
  }
  return rc;
}

static sq_errcode render_cluster(const sq_metrics_cluster *c, sq_buf *out) {
  static const struct {
    const char *state;
    size_t offset;
  } states[] = {{"ready", offsetof(sq_metrics_cluster, ready)},
                {"delayed", offsetof(sq_metrics_cluster, delayed)},
                {"running", offsetof(sq_metrics_cluster, active)},
                {"failed", offsetof(sq_metrics_cluster, failed)}};
  sq_errcode rc = family(out, "sheetq_jobs", "gauge",
                         "Jobs in the queue by state, cluster-wide (from Redis): ready to "
                         "run, delayed (waiting to retry), running, failed (newest 10,000 kept).");
  for (size_t i = 0; i < sizeof states / sizeof states[0] && rc == SQ_OK; i++) {
    long long v = *(const long long *)(const void *)((const char *)c + states[i].offset);
    rc = queue_gauge(out, "sheetq_jobs", c->queue, states[i].state, (double)v);
  }
  if (rc == SQ_OK)
    rc = family(out, "sheetq_queue_urgent_jobs", "gauge",
                "Ready jobs in the urgent list (re-runs, on-demand exports).");
  if (rc == SQ_OK)
    rc = queue_gauge(out, "sheetq_queue_urgent_jobs", c->queue, NULL, (double)c->urgent);
  if (rc == SQ_OK)
    rc = family(out, "sheetq_queue_tenants_waiting", "gauge",
                "Tenants with ready jobs.");
  if (rc == SQ_OK)
    rc = queue_gauge(out, "sheetq_queue_tenants_waiting", c->queue, NULL,
                     (double)c->tenants_waiting);
  if (rc == SQ_OK)
    rc = family(out, "sheetq_vcpus_in_use", "gauge",
                "vCPUs held by running jobs, cluster-wide.");
  if (rc == SQ_OK)
    rc = queue_gauge(out, "sheetq_vcpus_in_use", c->queue, NULL, c->vcpus_in_use);
  if (rc == SQ_OK)
    rc = family(out, "sheetq_vcpus_budget", "gauge",
                "The cluster's vCPU budget (max_vcpus) as this worker is configured.");
  if (rc == SQ_OK)
    rc = queue_gauge(out, "sheetq_vcpus_budget", c->queue, NULL, c->vcpus_budget);
  return rc;
}

sq_errcode sq_metrics_render(const sq_metrics_snapshot *s,
                             const sq_metrics_cluster *c, sq_buf *out) {
  sq_errcode rc = render_histograms(s, out);
  if (rc == SQ_OK) rc = render_failures(s, out);
  if (rc == SQ_OK)
    rc = family(out, "sheetq_worker_start_time_seconds", "gauge",
                "Unix time this worker started.");
  if (rc == SQ_OK)
    rc = sq_buf_printf(out, "sheetq_worker_start_time_seconds %.3f\n", s->started_at);
  if (rc == SQ_OK)
    rc = family(out, "sheetq_redis_up", "gauge",
                "1 if this scrape could read the queue's figures from Redis, else 0 "
                "(and the cluster-wide metrics are left out).");
  if (rc == SQ_OK) rc = sq_buf_printf(out, "sheetq_redis_up %d\n", c->up ? 1 : 0);
  if (rc == SQ_OK && c->up) rc = render_cluster(c, out);
  return rc;
}
