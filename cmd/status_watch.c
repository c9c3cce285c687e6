/* status_watch.c - see status_watch.h. The rate and ETA math is in
 * core/progress.c; this file samples the ledger, draws and waits. */
#include "cmd/status_watch.h"

#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "core/db_ledger.h"
#include "core/progress.h"

#define RATE_WINDOW_S 60.0

static volatile sig_atomic_t interrupted;

static void on_signal(int sig) {
  (void)sig;
  interrupted = 1;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sleeps until `until` (monotonic seconds) or a signal. */
static void sleep_until(double until) {
  while (!interrupted) {
    double left = until - now_s();
    struct timespec ts;
    if (left <= 0) return;
    ts.tv_sec = (time_t)left;
    ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
    if (nanosleep(&ts, NULL) == 0) return;
  }
}

static int terminal_columns(void) {
  struct winsize ws;
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

static void print_json(const char *batch, const sq_progress *p) {
  cJSON *o = cJSON_CreateObject();
  char *text;
  if (o == NULL) return;
  cJSON_AddStringToObject(o, "batch", batch);
  cJSON_AddNumberToObject(o, "total", (double)p->counts.total);
  cJSON_AddNumberToObject(o, "done", (double)p->finished);
  cJSON_AddNumberToObject(o, "succeeded", (double)p->counts.succeeded);
  cJSON_AddNumberToObject(o, "failed", (double)p->counts.failed);
  cJSON_AddNumberToObject(o, "cancelled", (double)p->counts.cancelled);
  cJSON_AddNumberToObject(o, "running", (double)p->counts.running);
  cJSON_AddNumberToObject(o, "percent", p->percent);
  if (p->rate >= 0) cJSON_AddNumberToObject(o, "rate_jobs_per_s", p->rate);
  else cJSON_AddNullToObject(o, "rate_jobs_per_s");
  if (p->eta_s >= 0) cJSON_AddNumberToObject(o, "eta_s", p->eta_s);
  else cJSON_AddNullToObject(o, "eta_s");
  cJSON_AddBoolToObject(o, "finished", p->complete);
  text = cJSON_PrintUnformatted(o);
  if (text) printf("%s\n", text);
  cJSON_free(text);
  cJSON_Delete(o);
}

/* Draws one progress line; returns true if it was printed. */
static bool draw(const char *batch, const sq_progress *p, bool tty, bool json,
                 bool changed) {
  char line[512];
  if (json) {
    if (!changed) return false;
    print_json(batch, p);
  } else if (tty) {
    int cols = terminal_columns(), bar;
    sq_progress_format_line(p, 0, line, sizeof line);
    bar = cols - (int)strlen(line) - 4;
    if (bar > 40) bar = 40;
    if (bar < 10) bar = 0;
    sq_progress_format_line(p, bar, line, sizeof line);
    if ((int)strlen(line) >= cols) line[cols > 1 ? cols - 1 : 0] = '\0';
    printf("\r\033[K%s", line); /* back to column 0, clear, redraw */
  } else {
    if (!changed) return false;
    printf("%s\n", sq_progress_format_line(p, 0, line, sizeof line));
  }
  fflush(stdout);
  return true;
}

int sq_status_watch(sq_db *db, const char *queue, const char *batch_id,
                    double interval_s, bool json) {
  struct sigaction sa, old_int, old_term;
  sq_progress_tracker tracker;
  sq_progress_counts last;
  sq_progress p;
  bool tty = !json && isatty(STDOUT_FILENO), first = true, warned = false;
  int status = 1;

  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal; /* no SA_RESTART: the sleep must end at once */
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  interrupted = 0;
  sq_progress_tracker_init(&tracker, RATE_WINDOW_S);
  memset(&last, 0, sizeof last);

  while (!interrupted) {
    double t = now_s();
    char batch_out[SQ_ID_SIZE];
    sq_ledger_counts counts;
    sq_progress_counts c;
    sq_err err;
    sq_errcode rc = sq_ledger_batch_counts(db, queue, batch_id, batch_out, &counts, &err);
    if (rc == SQ_EDB_CONNECT || rc == SQ_EDB_QUERY) {
      /* A database restart should not end a watch of a long batch. */
      if (!warned) fprintf(stderr, "%sledger unreachable (%s); retrying\n", tty ? "\n" : "", err.msg);
      warned = true;
      (void)sq_db_reconnect(db, &err);
      sleep_until(t + interval_s);
      continue;
    }
    if (rc != SQ_OK) {
      fprintf(stderr, "%ssheetq status: %s\n", tty && !first ? "\n" : "", err.msg);
      status = sq_exit_status(rc);
      goto out;
    }
    if (counts.total == 0) {
      fprintf(stderr, "sheetq status: batch %s has no jobs\n", batch_id);
      status = sq_exit_status(SQ_ENOT_FOUND);
      goto out;
    }
    warned = false;
    c.total = counts.total;
    c.succeeded = counts.by_state[SQ_JOB_SUCCEEDED];
    c.failed = counts.by_state[SQ_JOB_FAILED];
    c.cancelled = counts.by_state[SQ_JOB_CANCELLED];
    c.running = counts.by_state[SQ_JOB_RUNNING];
    sq_progress_update(&tracker, t, &c, &p);
    draw(batch_id, &p, tty, json, first || memcmp(&c, &last, sizeof c) != 0);
    first = false;
    last = c;
    if (p.complete) {
      if (tty) printf("\n");
      status = c.failed ? SQ_STATUS_EXIT_FAILED_JOBS : 0;
      goto out;
    }
    sleep_until(t + interval_s);
  }
  if (tty && !first) printf("\n");
  status = SQ_STATUS_EXIT_INTERRUPTED;
out:
  fflush(stdout);
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);
  return status;
}
