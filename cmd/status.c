/* status.c - `sheetq status`: a batch's jobs by state (from the ledger), its
 * failures with their reasons, and the live queue depth (from Redis). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cli.h"
#include "cmd/commands.h"
#include "core/db.h"
#include "core/db_ledger.h"
#include "queue/queue.h"

enum { OPT_BATCH = 1, OPT_JSON, OPT_JOB };

typedef struct status_args {
  const char *batch;
  const char *job;
  bool json;
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

int sq_cmd_status(int argc, char **argv) {
  static const sq_cli_option options[] = {
      {"batch", "ID", "the batch to show (default: the newest on the queue)", OPT_BATCH},
      {"job", "ID", "one job and every attempt it had", OPT_JOB},
      {"json", NULL, "print one JSON object", OPT_JSON},
      {NULL, NULL, NULL, 0}};
  static const sq_cli_command cmd = {
      "status", "Shows a batch's jobs by state, its failures with reasons, and "
      "the queue's live depth.",
      "[--batch ID | --job ID] [--json] [OPTIONS]", options, on_option};
  status_args args = {NULL, NULL, false};
  failure_sink sink = {false, NULL, 0};
  sq_ledger_counts counts;
  sq_queue_depth depth = {-1, -1, -1, -1};
  sq_config cfg;
  sq_err err, qerr;
  sq_db *db = NULL;
  sq_queue *q = NULL;
  char batch[SQ_ID_SIZE];
  bool have_depth = false;
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
  /* Redis is optional here: the ledger alone answers "what happened". */
  if ((q = sq_queue_open(cfg.redis_url, cfg.queue, 3000, &qerr)) != NULL &&
      sq_queue_depth_get(q, &depth, &qerr) == SQ_OK)
    have_depth = true;

  sink.json = args.json;
  if (args.json) {
    cJSON *o = cJSON_CreateObject(), *states = cJSON_CreateObject();
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
    }
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
      if (depth.ready > 0 && depth.used_vcpus_m + cfg.job_vcpus_m > cfg.max_vcpus_m)
        printf("jobs are waiting for the cluster's vCPU budget to free up\n");
      else if (depth.ready > 0)
        printf("jobs are waiting for a worker with spare vCPUs (is one running?)\n");
    } else
      printf("queue depth unavailable: %s\n", qerr.msg);
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
  sq_queue_close(q);
  sq_db_close(db);
  sq_config_free(&cfg);
  return status;
}
