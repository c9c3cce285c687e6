/* status.c - `sheetq status`: a batch's jobs by state and by tenant (from
 * the ledger), the live queue and why jobs are waiting (from Redis), and
 * its failures with their reasons; `--job` shows one job's attempts and
 * `--watch` follows a batch until it finishes (cmd/status_watch.c). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cli.h"
#include "cmd/commands.h"
#include "cmd/status_watch.h"
#include "core/db.h"
#include "core/db_ledger.h"
#include "core/ledger_stats.h"
#include "core/progress.h"
#include "core/wait_reasons.h"
#include "queue/queue.h"

#define DEFAULT_TENANTS 10
#define REDIS_TENANTS_MAX 100000 /* tenants read from the ready ring */

enum { OPT_BATCH = 1, OPT_JSON, OPT_JOB, OPT_WATCH, OPT_INTERVAL, OPT_TENANTS, OPT_ALL_TENANTS };

typedef struct status_args {
  const char *batch;
  const char *job;
  bool json;
  bool watch;
  double interval_s;
  long tenants; /* rows of the tenant table; 0: all */
} status_args;

static sq_errcode on_option(void *ctx, int id, const char *arg, sq_err *err) {
  status_args *a = ctx;
  if (id == OPT_BATCH) {
    if (!sq_id_valid(arg, 'b'))
      return sq_err_set(err, SQ_EUSAGE, "--batch: \"%.40s\" is not a batch id", arg);
    a->batch = arg;
    return SQ_OK;
  }
  if (id == OPT_JOB) {
    if (!sq_id_valid(arg, 'j'))
      return sq_err_set(err, SQ_EUSAGE, "--job: \"%.40s\" is not a job id", arg);
    a->job = arg;
    return SQ_OK;
  }
  if (id == OPT_JSON) {
    a->json = true;
    return SQ_OK;
  }
  if (id == OPT_WATCH) {
    a->watch = true;
    return SQ_OK;
  }
  if (id == OPT_INTERVAL) {
    char *end;
    double v = strtod(arg, &end);
    if (end == arg || *end != '\0' || !(v >= 0.2 && v <= 3600))
      return sq_err_set(err, SQ_EUSAGE, "--interval takes seconds between 0.2 and 3600");
    a->interval_s = v;
    return SQ_OK;
  }
  if (id == OPT_TENANTS) {
    if (!sq_cli_parse_long(arg, 1, 1000000, &a->tenants))
      return sq_err_set(err, SQ_EUSAGE, "--tenants takes a count (1-1000000)");
    return SQ_OK;
  }
  if (id == OPT_ALL_TENANTS) {
    a->tenants = 0;
    return SQ_OK;
  }
  return sq_err_set(err, SQ_EUSAGE, "unexpected option");
}

typedef struct failure_sink {
  bool json;
  cJSON *array;
  size_t n;
} failure_sink;

static sq_errcode on_failure(void *ctx, const sq_ledger_failure *f) {
  failure_sink *s = ctx;
  s->n++;
  if (s->json) {
    cJSON *o = cJSON_CreateObject();
    char id[24];
    if (o == NULL) return SQ_ENOMEM;
    cJSON_AddStringToObject(o, "job", f->job_id);
    snprintf(id, sizeof id, "%llu", (unsigned long long)f->tenant_id);
    cJSON_AddStringToObject(o, "tenant", id);
    snprintf(id, sizeof id, "%llu", (unsigned long long)f->report_id);
    cJSON_AddStringToObject(o, "report", id);
    cJSON_AddStringToObject(o, "period", f->period);
    cJSON_AddNumberToObject(o, "attempts", f->attempts);
    cJSON_AddStringToObject(o, "error_code", f->error_code);
    cJSON_AddStringToObject(o, "error", f->error);
    cJSON_AddItemToArray(s->array, o);
    return SQ_OK;
  }
  if (s->n == 1) printf("\nfailed jobs:\n");
  printf("  %s  tenant %llu report %llu %s  after %d attempt(s): %s: %s\n", f->job_id,
         (unsigned long long)f->tenant_id, (unsigned long long)f->report_id,
         f->period, f->attempts, f->error_code, f->error);
  return SQ_OK;
}

static sq_errcode print_attempt(void *ctx, const sq_ledger_attempt *a) {
  cJSON *array = ctx;
  if (array == NULL) {
    printf("  attempt %d  %-9s %s .. %s  %s  token %llu%s%s%s%s\n", a->attempt, a->outcome,
           a->started_at, a->finished_at[0] ? a->finished_at : "(running)", a->worker,
           (unsigned long long)a->token, a->error_code[0] ? "\n    " : "", a->error_code,
           a->error_code[0] ? ": " : "", a->error);
    return SQ_OK;
  } else {
    cJSON *o = cJSON_CreateObject();
    if (o == NULL) return SQ_ENOMEM;
    cJSON_AddNumberToObject(o, "attempt", a->attempt);
    cJSON_AddNumberToObject(o, "token", (double)a->token);
    cJSON_AddStringToObject(o, "worker", a->worker);
    cJSON_AddStringToObject(o, "outcome", a->outcome);
    cJSON_AddStringToObject(o, "error_code", a->error_code);
    cJSON_AddStringToObject(o, "error", a->error);
    cJSON_AddStringToObject(o, "started_at", a->started_at);
    cJSON_AddStringToObject(o, "finished_at", a->finished_at);
    cJSON_AddItemToArray(array, o);
    return SQ_OK;
  }
}

/* --job: the job and each of its attempts. */
static sq_errcode show_job(sq_db *db, const char *job_id, bool json, sq_err *err) {
  sq_job job;
  sq_job_state state;
  char period[SQ_PERIOD_STR_LEN];
  cJSON *o = NULL, *attempts = NULL;
  sq_errcode rc = sq_ledger_get_job(db, job_id, &job, &state, err);
  if (rc != SQ_OK) return rc;
  sq_period_format(job.period, period);
  if (!json) {
    printf("job %s: %s (batch %s, tenant %llu, report %llu, period %s)\n", job.id,
           sq_job_state_name(state), job.batch_id, (unsigned long long)job.tenant_id,
           (unsigned long long)job.report_id, period);
    rc = sq_ledger_attempts(db, job_id, print_attempt, NULL, err);
    if (rc == SQ_OK && state == SQ_JOB_FAILED)
      printf("re-run it with: sheetq rerun %s\n", job.id);
    return rc;
  }
  o = cJSON_CreateObject();
  attempts = cJSON_CreateArray();
  if (o == NULL || attempts == NULL) {
    cJSON_Delete(o);
    cJSON_Delete(attempts);
    return sq_err_set(err, SQ_ENOMEM, "out of memory");
  }
  cJSON_AddStringToObject(o, "job", job.id);
  cJSON_AddStringToObject(o, "state", sq_job_state_name(state));
  cJSON_AddStringToObject(o, "batch", job.batch_id);
  cJSON_AddStringToObject(o, "period", period);
  cJSON_AddItemToObject(o, "attempts", attempts);
  rc = sq_ledger_attempts(db, job_id, print_attempt, attempts, err);
  if (rc == SQ_OK) {
    char *text = cJSON_Print(o);
    if (text) printf("%s\n", text);
    cJSON_free(text);
  }
  cJSON_Delete(o);
  return rc;
}

/* ---- tenants ------------------------------------------------------------ */

typedef struct tenant_row {
  const sq_ledger_tenant_counts *ledger;
  uint64_t pending;  /* not finished: submitted, runnable, running */
  long long ready;   /* in the tenant's ready list now; -1 unknown */
} tenant_row;

static int by_pending(const void *a, const void *b) {
  const tenant_row *x = a, *y = b;
  if (x->pending != y->pending) return x->pending < y->pending ? 1 : -1;
  if (x->ledger->total != y->ledger->total) return x->ledger->total < y->ledger->total ? 1 : -1;
  return x->ledger->tenant_id < y->ledger->tenant_id ? -1 : x->ledger->tenant_id > y->ledger->tenant_id;
}

static long long ready_of(const sq_queue_waiting *w, uint64_t tenant) {
  if (w == NULL) return -1;
  for (size_t i = 0; i < w->n_tenants; i++)
    if (w->tenants[i].tenant_id == tenant) return w->tenants[i].ready;
  return 0;
}

/* The batch's tenants, most unfinished work first; *rows is malloc'd. */
static sq_errcode tenant_rows(const sq_ledger_tenant_counts *t, size_t n,
                              const sq_queue_waiting *w, tenant_row **rows, sq_err *err) {
  *rows = NULL;
  if (n == 0) return SQ_OK;
  if ((*rows = calloc(n, sizeof **rows)) == NULL)
    return sq_err_set(err, SQ_ENOMEM, "out of memory");
  for (size_t i = 0; i < n; i++) {
    (*rows)[i].ledger = &t[i];
    (*rows)[i].pending = t[i].by_state[SQ_JOB_SUBMITTED] + t[i].by_state[SQ_JOB_RUNNABLE] +
                         t[i].by_state[SQ_JOB_RUNNING];
    (*rows)[i].ready = ready_of(w, t[i].tenant_id);
  }
  qsort(*rows, n, sizeof **rows, by_pending);
  return SQ_OK;
}

static void print_tenants(const tenant_row *rows, size_t n, size_t shown) {
  char ready[24];
  if (n == 0) return;
  printf("\ntenants (%zu", n);
  if (shown < n) printf(", the %zu with the most unfinished jobs; --all-tenants for all", shown);
  printf("):\n  %-20s %8s %8s %9s %9s %7s %9s %8s\n", "tenant", "waiting", "running",
         "ready now", "succeeded", "failed", "cancelled", "total");
  for (size_t i = 0; i < shown; i++) {
    const sq_ledger_tenant_counts *t = rows[i].ledger;
    if (rows[i].ready < 0) snprintf(ready, sizeof ready, "?");
    else snprintf(ready, sizeof ready, "%lld", rows[i].ready);
    printf("  %-20llu %8llu %8llu %9s %9llu %7llu %9llu %8llu\n",
           (unsigned long long)t->tenant_id,
           (unsigned long long)(t->by_state[SQ_JOB_SUBMITTED] + t->by_state[SQ_JOB_RUNNABLE]),
           (unsigned long long)t->by_state[SQ_JOB_RUNNING], ready,
           (unsigned long long)t->by_state[SQ_JOB_SUCCEEDED],
           (unsigned long long)t->by_state[SQ_JOB_FAILED],
           (unsigned long long)t->by_state[SQ_JOB_CANCELLED], (unsigned long long)t->total);
  }
}

static void json_tenants(cJSON *o, const tenant_row *rows, size_t n, size_t shown) {
  cJSON *arr = cJSON_AddArrayToObject(o, "tenants");
  cJSON_AddNumberToObject(o, "tenants_total", (double)n);
  for (size_t i = 0; arr && i < shown; i++) {
    const sq_ledger_tenant_counts *t = rows[i].ledger;
    cJSON *r = cJSON_CreateObject(), *states;
    char id[24];
    if (r == NULL) return;
    snprintf(id, sizeof id, "%llu", (unsigned long long)t->tenant_id);
    cJSON_AddStringToObject(r, "tenant", id);
    cJSON_AddNumberToObject(r, "total", (double)t->total);
    cJSON_AddNumberToObject(r, "unfinished", (double)rows[i].pending);
    if (rows[i].ready >= 0) cJSON_AddNumberToObject(r, "ready", (double)rows[i].ready);
    else cJSON_AddNullToObject(r, "ready");
    states = cJSON_AddObjectToObject(r, "states");
    for (int s = 0; states && s < SQ_JOB__STATES; s++)
      cJSON_AddNumberToObject(states, sq_job_state_name((sq_job_state)s), (double)t->by_state[s]);
    cJSON_AddItemToArray(arr, r);
  }
}

/* ---- the reservation (queue/scripts.c, DESIGN) --------------------------- */

static void print_reservation(const sq_queue_reservation *r) {
  char held[32], waiting[32];
  if (!r->present) return;
  printf("reserved: job %s (%ld.%03ld vCPUs), passed over for %s, room held for it for "
         "%s; %s%s\n", r->id, r->vcpus_m / 1000, r->vcpus_m % 1000,
         sq_progress_format_duration((double)r->waiting_ms / 1000.0, waiting, sizeof waiting),
         sq_progress_format_duration((double)r->held_ms / 1000.0, held, sizeof held),
         r->host[0] ? "draining for it: " : "no worker able to run it is asking for work",
         r->host);
}

static void json_reservation(cJSON *d, const sq_queue_reservation *r) {
  cJSON *o;
  if (!r->present) {
    cJSON_AddNullToObject(d, "reservation");
    return;
  }
  if ((o = cJSON_AddObjectToObject(d, "reservation")) == NULL) return;
  cJSON_AddStringToObject(o, "job", r->id);
  cJSON_AddNumberToObject(o, "vcpus", (double)r->vcpus_m / 1000.0);
  cJSON_AddNumberToObject(o, "passed_over_s", (double)r->waiting_ms / 1000.0);
  cJSON_AddNumberToObject(o, "held_s", (double)r->held_ms / 1000.0);
  if (r->host[0])
    cJSON_AddStringToObject(o, "host", r->host);
  else
    cJSON_AddNullToObject(o, "host");
}

/* ---- why jobs wait ------------------------------------------------------ */

static size_t wait_reasons(const sq_config *cfg, const sq_ledger_counts *counts,
                           const sq_queue_depth *depth, bool have_depth,
                           const sq_queue_waiting *w, const sq_ledger_activity *act,
                           sq_wait_reason *out, size_t cap) {
  sq_wait_inputs in;
  memset(&in, 0, sizeof in);
  in.have_queue = have_depth;
  if (have_depth) {
    in.ready = depth->ready;
    in.delayed = depth->delayed;
    in.active = depth->active;
    in.used_vcpus_m = depth->used_vcpus_m;
  }
  in.budget_m = cfg->max_vcpus_m;
  in.job_vcpus_m = cfg->job_vcpus_m;
  in.next_retry_ms = w ? w->next_retry_ms : -1;
  in.submitted = counts->by_state[SQ_JOB_SUBMITTED];
  in.runnable = counts->by_state[SQ_JOB_RUNNABLE];
  in.since_last_start = act->since_last_start;
  return sq_wait_reasons(&in, out, cap);
}

int sq_cmd_status(int argc, char **argv) {
  static const sq_cli_option options[] = {
      {"batch", "ID", "the batch to show (default: the newest on the queue)", OPT_BATCH},
      {"job", "ID", "one job and every attempt it had", OPT_JOB},
      {"json", NULL, "print one JSON object (with --watch: one per line)", OPT_JSON},
      {"watch", NULL, "follow the batch's progress until it finishes (exit 0: no job "
       "failed, 3: some failed, 130: interrupted)", OPT_WATCH},
      {"interval", "SECONDS", "with --watch: time between refreshes (default 2)", OPT_INTERVAL},
      {"tenants", "N", "rows of the tenant table (default 10, most unfinished first)", OPT_TENANTS},
      {"all-tenants", NULL, "show every tenant of the batch", OPT_ALL_TENANTS},
      {NULL, NULL, NULL, 0}};
  static const sq_cli_command cmd = {
      "status", "Shows a batch's jobs by state and by tenant, the vCPUs in use against "
      "the budget, why jobs are waiting, and its failures with reasons. --watch shows "
      "live progress (done/total, failed, running, jobs/s, ETA) until the batch finishes.",
      "[--batch ID [--watch [--interval S]] | --job ID] [--json] [OPTIONS]", options, on_option};
  status_args args = {NULL, NULL, false, false, 2.0, DEFAULT_TENANTS};
  failure_sink sink = {false, NULL, 0};
  sq_ledger_counts counts;
  sq_queue_depth depth = {-1, -1, -1, -1, -1, -1, -1};
  sq_queue_waiting waiting = {NULL, 0, -1};
  sq_queue_reservation reservation = {false, "", 0, 0, 0, ""};
  sq_ledger_tenant_counts *tenants = NULL;
  sq_ledger_activity activity = {-1, -1, -1};
  sq_wait_reason reasons[8];
  tenant_row *rows = NULL;
  size_t n_tenants = 0, shown, n_reasons;
  sq_config cfg;
  sq_err err, qerr;
  sq_db *db = NULL;
  sq_queue *q = NULL;
  char batch[SQ_ID_SIZE];
  bool have_depth = false, have_waiting = false;
  int status;

  if (sq_cli_parse(&cmd, argc, argv, &cfg, &args, &status) == SQ_CLI_EXIT) goto out;
  if (args.job) {
    if ((db = sq_db_connect(cfg.mysql_url, &err)) == NULL ||
        show_job(db, args.job, args.json, &err) != SQ_OK)
      goto fail;
    status = 0;
    goto out;
  }
  if ((db = sq_db_connect(cfg.mysql_url, &err)) == NULL ||
      sq_ledger_migrate(db, &err) != SQ_OK ||
      sq_ledger_batch_counts(db, cfg.queue, args.batch, batch, &counts, &err) != SQ_OK)
    goto fail;
  if (counts.total == 0) {
    sq_err_set(&err, SQ_ENOT_FOUND, "batch %s has no jobs", batch);
    goto fail;
  }
  if (args.watch) {
    status = sq_status_watch(db, cfg.queue, batch, args.interval_s, args.json);
    goto out;
  }
  if (sq_ledger_batch_tenants(db, batch, &tenants, &n_tenants, &err) != SQ_OK ||
      sq_ledger_batch_activity(db, batch, &activity, &err) != SQ_OK)
    goto fail;
  /* Redis is optional here: the ledger alone answers "what happened". */
  if ((q = sq_queue_open(cfg.redis_url, cfg.queue, 3000, &qerr)) != NULL &&
      sq_queue_depth_get(q, &depth, &qerr) == SQ_OK) {
    have_depth = true;
    have_waiting = sq_queue_waiting_get(q, REDIS_TENANTS_MAX, &waiting, &qerr) == SQ_OK;
    if (sq_queue_reservation_get(q, &reservation, &qerr) != SQ_OK) reservation.present = false;
  }
  if (tenant_rows(tenants, n_tenants, have_waiting ? &waiting : NULL, &rows, &err) != SQ_OK)
    goto fail;
  shown = args.tenants > 0 && (size_t)args.tenants < n_tenants ? (size_t)args.tenants : n_tenants;
  n_reasons = wait_reasons(&cfg, &counts, &depth, have_depth, have_waiting ? &waiting : NULL,
                           &activity, reasons, sizeof reasons / sizeof reasons[0]);

  sink.json = args.json;
  if (args.json) {
    cJSON *o = cJSON_CreateObject(), *states = cJSON_CreateObject(), *why;
    char *text;
    sink.array = cJSON_CreateArray();
    if (o == NULL || states == NULL || sink.array == NULL) {
      cJSON_Delete(o);
      cJSON_Delete(states);
      cJSON_Delete(sink.array);
      sq_err_set(&err, SQ_ENOMEM, "out of memory");
      goto fail;
    }
    cJSON_AddStringToObject(o, "batch", batch);
    cJSON_AddStringToObject(o, "queue", cfg.queue);
    cJSON_AddNumberToObject(o, "total", (double)counts.total);
    for (int s = 0; s < SQ_JOB__STATES; s++)
      cJSON_AddNumberToObject(states, sq_job_state_name((sq_job_state)s),
                              (double)counts.by_state[s]);
    cJSON_AddItemToObject(o, "states", states);
    cJSON_AddNumberToObject(o, "vcpus_budget", (double)cfg.max_vcpus_m / 1000.0);
    if (have_depth) {
      cJSON *d = cJSON_AddObjectToObject(o, "queue_depth");
      cJSON_AddNumberToObject(d, "ready", (double)depth.ready);
      cJSON_AddNumberToObject(d, "delayed", (double)depth.delayed);
      cJSON_AddNumberToObject(d, "active", (double)depth.active);
      cJSON_AddNumberToObject(d, "failed", (double)depth.failed);
      cJSON_AddNumberToObject(d, "urgent", (double)depth.urgent);
      cJSON_AddNumberToObject(d, "tenants_waiting", (double)depth.tenants);
      cJSON_AddNumberToObject(d, "vcpus_in_use", (double)depth.used_vcpus_m / 1000.0);
      cJSON_AddNumberToObject(d, "vcpus_budget", (double)cfg.max_vcpus_m / 1000.0);
      if (have_waiting && waiting.next_retry_ms >= 0)
        cJSON_AddNumberToObject(d, "next_retry_s", (double)waiting.next_retry_ms / 1000.0);
      json_reservation(d, &reservation);
    } else {
      cJSON_AddStringToObject(o, "queue_error", qerr.msg);
    }
    json_tenants(o, rows, n_tenants, shown);
    why = cJSON_AddArrayToObject(o, "waiting");
    for (size_t i = 0; why && i < n_reasons; i++) {
      cJSON *r = cJSON_CreateObject();
      if (r == NULL) break;
      cJSON_AddStringToObject(r, "reason", reasons[i].name);
      cJSON_AddNumberToObject(r, "jobs", (double)reasons[i].jobs);
      cJSON_AddStringToObject(r, "message", reasons[i].text);
      cJSON_AddItemToArray(why, r);
    }
    if (activity.since_last_start >= 0)
      cJSON_AddNumberToObject(o, "last_attempt_started_s_ago", activity.since_last_start);
    else
      cJSON_AddNullToObject(o, "last_attempt_started_s_ago");
    cJSON_AddItemToObject(o, "failures", sink.array);
    if (sq_ledger_batch_failures(db, batch, on_failure, &sink, &err) != SQ_OK) {
      cJSON_Delete(o);
      goto fail;
    }
    text = cJSON_Print(o);
    if (text) printf("%s\n", text);
    cJSON_free(text);
    cJSON_Delete(o);
  } else {
    printf("batch %s (queue %s): %llu job(s)\n", batch, cfg.queue,
           (unsigned long long)counts.total);
    for (int s = 0; s < SQ_JOB__STATES; s++)
      printf("  %-10s %llu\n", sq_job_state_name((sq_job_state)s),
             (unsigned long long)counts.by_state[s]);
    if (have_depth) {
      printf("queue now: %lld ready (%lld urgent, %lld tenant(s) waiting), %lld waiting "
             "to retry, %lld running, %lld failed (kept)\n", depth.ready, depth.urgent,
             depth.tenants, depth.delayed, depth.active, depth.failed);
      printf("vCPUs: %lld.%03lld of %ld.%03ld in use\n", depth.used_vcpus_m / 1000,
             depth.used_vcpus_m % 1000, cfg.max_vcpus_m / 1000, cfg.max_vcpus_m % 1000);
      print_reservation(&reservation);
    } else
      printf("queue depth unavailable: %s\n", qerr.msg);
    print_tenants(rows, n_tenants, shown);
    if (n_reasons) printf("\nwhy jobs are waiting:\n");
    for (size_t i = 0; i < n_reasons; i++) printf("  %s\n", reasons[i].text);
    if (sq_ledger_batch_failures(db, batch, on_failure, &sink, &err) != SQ_OK) goto fail;
    if (sink.n)
      printf("see a job's attempts with: sheetq status --job JOB_ID; "
             "re-run it with: sheetq rerun JOB_ID\n");
  }
  status = 0;
  goto out;
fail:
  status = sq_cli_fail(cmd.name, &err);
out:
  free(rows);
  free(tenants);
  sq_queue_waiting_free(&waiting);
  sq_queue_close(q);
  sq_db_close(db);
  sq_config_free(&cfg);
  return status;
}
