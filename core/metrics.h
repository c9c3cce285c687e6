/* metrics.h - a worker's Prometheus metrics: what it observed itself
 * (attempt durations, failures by reason) and a rendering of those plus the
 * cluster-wide figures (jobs by state, vCPUs) into the Prometheus text
 * exposition format 0.0.4.
 *
 * An sq_metrics is written by the worker's event loop (one call per finished
 * attempt) and read by the metrics server's thread; a mutex inside guards
 * it, so both may call in at any time. Rendering is pure: it takes a
 * snapshot and the cluster figures the caller read from Redis, and appends
 * text to an sq_buf, so it is tested without a server.
 */
#ifndef SQ_METRICS_H
#define SQ_METRICS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/error.h"

/* Upper bounds (seconds) of the attempt-duration histogram; +Inf is implied.
 * From a tiny report (well under a second) to the default 30-minute
 * attempt timeout. */
#define SQ_METRICS_BUCKETS 13
extern const double sq_metrics_bucket_bounds[SQ_METRICS_BUCKETS];

typedef enum sq_attempt_outcome {
  SQ_ATTEMPT_SUCCEEDED = 0,
  SQ_ATTEMPT_FAILED, /* will be retried */
  SQ_ATTEMPT_FAILED_FINAL, /* failed for good: permanent, or attempts used up */
  SQ_ATTEMPT__OUTCOMES
} sq_attempt_outcome;

const char *sq_attempt_outcome_name(sq_attempt_outcome o);

typedef struct sq_metrics_histogram {
  uint64_t buckets[SQ_METRICS_BUCKETS]; /* not cumulative: one per range */
  uint64_t count;                       /* includes what is past the last bound */
  double sum;
} sq_metrics_histogram;

/* What one process observed since it started. Plain data: copy it freely. */
typedef struct sq_metrics_snapshot {
  sq_metrics_histogram duration[SQ_ATTEMPT__OUTCOMES];
  uint64_t failures[SQ_E__COUNT]; /* failed attempts by error code */
  double started_at;              /* Unix time the worker started */
} sq_metrics_snapshot;

typedef struct sq_metrics {
  pthread_mutex_t lock;
  sq_metrics_snapshot data;
} sq_metrics;

void sq_metrics_init(sq_metrics *m, double started_at);
void sq_metrics_close(sq_metrics *m);

/* One finished attempt that ran for `seconds`. code is SQ_OK for a success,
 * else the failure's reason. m may be NULL (metrics off): nothing happens. */
void sq_metrics_observe_attempt(sq_metrics *m, double seconds,
                                sq_attempt_outcome outcome, sq_errcode code);
void sq_metrics_snapshot_get(sq_metrics *m, sq_metrics_snapshot *out);

/* Cluster-wide figures, read from Redis at scrape time. */
typedef struct sq_metrics_cluster {
  bool up; /* false: Redis could not be read; the fields below are unset */
  const char *queue;
  long long ready, urgent, delayed, active, failed, tenants_waiting;
  double vcpus_in_use, vcpus_budget;
} sq_metrics_cluster;

/* Appends the whole exposition (HELP/TYPE lines and samples) to out.
 * SQ_ENOMEM if out's cap is reached. */
sq_errcode sq_metrics_render(const sq_metrics_snapshot *s,
                             const sq_metrics_cluster *c, sq_buf *out);

/* Writes v as a label value, escaped as the format requires (\\, \", \n). */
sq_errcode sq_metrics_label_value(sq_buf *out, const char *v);

#endif
