/* progress.c - see progress.h. */
#include "core/progress.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Below this the rate is too noisy to show: a second of samples. */
#define MIN_SPAN_S 1.0

void sq_progress_tracker_init(sq_progress_tracker *t, double window_s) {
  memset(t, 0, sizeof *t);
  t->window_s = window_s > 0 ? window_s : 60;
}

static size_t slot(const sq_progress_tracker *t, size_t i) { /* i-th oldest */
  return (t->head + SQ_PROGRESS_SAMPLES - t->n + i) % SQ_PROGRESS_SAMPLES;
}

void sq_progress_update(sq_progress_tracker *t, double now_s,
                        const sq_progress_counts *c, sq_progress *out) {
  uint64_t finished = c->succeeded + c->failed + c->cancelled;
  uint64_t remaining = c->total > finished ? c->total - finished : 0;
  size_t oldest;

  memset(out, 0, sizeof *out);
  out->counts = *c;
  out->finished = finished;
  out->percent = c->total ? 100.0 * (double)finished / (double)c->total : 100.0;
  out->complete = remaining == 0 && c->running == 0;
  out->rate = -1;
  out->eta_s = -1;

  /* A count that went back (a re-run), or a clock that did: start over. */
  if (t->n > 0) {
    size_t newest = slot(t, t->n - 1);
    if (finished < t->samples[newest].finished || now_s < t->samples[newest].t) t->n = 0;
  }
  t->samples[t->head].t = now_s;
  t->samples[t->head].finished = finished;
  t->head = (t->head + 1) % SQ_PROGRESS_SAMPLES;
  if (t->n < SQ_PROGRESS_SAMPLES) t->n++;
  /* Drop samples older than the window, but keep two to measure with. */
  while (t->n > 2 && now_s - t->samples[slot(t, 0)].t > t->window_s) t->n--;

  if (out->complete) {
    out->eta_s = 0;
  }
  oldest = slot(t, 0);
  if (t->n >= 2 && now_s - t->samples[oldest].t >= MIN_SPAN_S) {
    double span = now_s - t->samples[oldest].t;
    out->rate = (double)(finished - t->samples[oldest].finished) / span;
    if (!out->complete && out->rate > 0) out->eta_s = (double)remaining / out->rate;
  }
}

char *sq_progress_format_duration(double s, char *out, size_t cap) {
  long long v;
  if (s < 0 || !isfinite(s)) {
    snprintf(out, cap, "?");
    return out;
  }
  v = (long long)llround(s);
  if (v < 60) snprintf(out, cap, "%llds", v);
  else if (v < 3600) snprintf(out, cap, "%lldm%02llds", v / 60, v % 60);
  else if (v < 86400) snprintf(out, cap, "%lldh%02lldm", v / 3600, v % 3600 / 60);
  else snprintf(out, cap, "%lldd%02lldh", v / 86400, v % 86400 / 3600);
  return out;
}

char *sq_progress_format_line(const sq_progress *p, int bar_width, char *out,
                              size_t cap) {
  char eta[32], rate[32];
  size_t len = 0;
  int n;
  if (cap == 0) return out;
  out[0] = '\0';
  if (bar_width > 0 && (size_t)bar_width + 3 < cap) {
    int filled = p->counts.total
                     ? (int)((double)bar_width * (double)p->finished / (double)p->counts.total)
                     : bar_width;
    if (filled > bar_width) filled = bar_width;
    out[len++] = '[';
    for (int i = 0; i < bar_width; i++) out[len++] = i < filled ? '#' : '.';
    out[len++] = ']';
    out[len++] = ' ';
    out[len] = '\0';
  }
  if (p->rate < 0) snprintf(rate, sizeof rate, "- jobs/s");
  else snprintf(rate, sizeof rate, "%.*f jobs/s", p->rate < 10 ? 1 : 0, p->rate);
  if (p->complete) snprintf(eta, sizeof eta, "finished");
  else {
    char d[24];
    snprintf(eta, sizeof eta, "ETA %s", sq_progress_format_duration(p->eta_s, d, sizeof d));
  }
  n = snprintf(out + len, cap - len, "%llu/%llu done (%.0f%%), %llu failed, %llu running, %s, %s",
               (unsigned long long)p->finished, (unsigned long long)p->counts.total,
               floor(p->percent), (unsigned long long)p->counts.failed,
               (unsigned long long)p->counts.running, rate, eta);
  (void)n; /* a truncated line is still a line */
  return out;
}
