/* run_job.c - `sheetq run-job`: exports one report and period in this
 * process. The worker runs every attempt this way, as a child process, and
 * reads the result line it prints with --result-json; people use it to
 * export or debug one report by hand (no queue, no ledger involved). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cli.h"
#include "cmd/commands.h"
#include "core/db.h"
#include "core/log.h"
#include "exporter/export_job.h"
#include "exporter/storage.h"

enum { OPT_JOB_ID = 1, OPT_TENANT, OPT_REPORT, OPT_PERIOD, OPT_ATTEMPT, OPT_RESULT_JSON };

typedef struct run_args {
  sq_job job;
  bool have_job_id, have_tenant, have_report, have_period;
  long attempt;
  bool result_json;
} run_args;

static sq_errcode on_option(void *ctx, int id, const char *arg, sq_err *err) {
  run_args *a = ctx;
  switch (id) {
    case OPT_JOB_ID:
      if (!sq_id_valid(arg, 'j'))
        return sq_err_set(err, SQ_EUSAGE, "--job-id: \"%.40s\" is not a job id", arg);
      snprintf(a->job.id, sizeof a->job.id, "%s", arg);
      a->have_job_id = true;
      return SQ_OK;
    case OPT_TENANT:
      a->have_tenant = sq_cli_parse_u64(arg, &a->job.tenant_id) && a->job.tenant_id > 0;
      return a->have_tenant ? SQ_OK : sq_err_set(err, SQ_EUSAGE, "--tenant takes a positive id");
    case OPT_REPORT:
      a->have_report = sq_cli_parse_u64(arg, &a->job.report_id) && a->job.report_id > 0;
      return a->have_report ? SQ_OK : sq_err_set(err, SQ_EUSAGE, "--report takes a positive id");
    case OPT_PERIOD:
      a->have_period = true;
      return sq_period_parse(arg, &a->job.period, err) == SQ_OK
                 ? SQ_OK
                 : (err->code = SQ_EUSAGE);
    case OPT_ATTEMPT:
      return sq_cli_parse_long(arg, 1, 100, &a->attempt)
                 ? SQ_OK
                 : sq_err_set(err, SQ_EUSAGE, "--attempt takes 1-100");
    case OPT_RESULT_JSON:
      a->result_json = true;
      return SQ_OK;
  }
  return sq_err_set(err, SQ_EUSAGE, "unexpected option");
}

static void print_result(const run_args *a, sq_errcode rc, const sq_export_result *r,
                         const sq_err *err) {
  cJSON *o;
  char *text;
  if (!a->result_json) {
    if (rc == SQ_OK)
      printf("%s: %llu rows\n", r->key, (unsigned long long)r->stats.rows);
    return;
  }
  o = cJSON_CreateObject();
  if (o == NULL) return;
  cJSON_AddBoolToObject(o, "ok", rc == SQ_OK);
  if (rc == SQ_OK) {
    cJSON_AddStringToObject(o, "key", r->key);
    cJSON_AddNumberToObject(o, "rows", (double)r->stats.rows);
  } else {
    cJSON_AddStringToObject(o, "code", sq_errname(rc));
    cJSON_AddStringToObject(o, "error", err->msg[0] ? err->msg : sq_strerror(rc));
  }
  text = cJSON_PrintUnformatted(o);
  if (text) {
    printf("%s\n", text);
    cJSON_free(text);
  }
  cJSON_Delete(o);
}

int sq_cmd_run_job(int argc, char **argv) {
  static const sq_cli_option options[] = {
      {"tenant", "ID", "the report's tenant (required)", OPT_TENANT},
      {"report", "ID", "the report to export (required)", OPT_REPORT},
      {"period", "YYYY-MM", "the month to export (required)", OPT_PERIOD},
      {"job-id", "ID", "job id, for logs and the {job_id} key variable", OPT_JOB_ID},
      {"attempt", "N", "attempt number, for logs", OPT_ATTEMPT},
      {"result-json", NULL, "print the outcome as one JSON line (used by the worker)", OPT_RESULT_JSON},
      {NULL, NULL, NULL, 0}};
  static const sq_cli_command cmd = {
      "run-job",
      "Exports one report's records of one month to storage, in the "
      "foreground, without the queue or the ledger.",
      "--tenant ID --report ID --period YYYY-MM [OPTIONS]", options, on_option};
  run_args args;
  sq_export_result result;
  sq_config cfg;
  sq_err err;
  sq_db *db = NULL;
  sq_storage *storage = NULL;
  sq_errcode rc = SQ_OK;
  int status;

  memset(&args, 0, sizeof args);
  memset(&result, 0, sizeof result);
  args.attempt = 1;
  sq_err_clear(&err);
  if (sq_cli_parse(&cmd, argc, argv, &cfg, &args, &status) == SQ_CLI_EXIT) goto out;
  if (!args.have_tenant || !args.have_report || !args.have_period) {
    rc = sq_err_set(&err, SQ_EUSAGE, "--tenant, --report and --period are required");
    goto done;
  }
  if (!args.have_job_id && (rc = sq_id_new('j', args.job.id)) != SQ_OK) goto done;
  if ((storage = sq_storage_open(cfg.storage_url, &err)) == NULL ||
      (db = sq_db_connect(cfg.mysql_url, &err)) == NULL) {
    rc = err.code;
    goto done;
  }
  rc = sq_export_job(db, storage, &cfg, &args.job, &result, &err);
done:
  if (rc != SQ_OK)
    SQ_LOG_JOB(SQ_LOG_ERROR, args.job.id, (int)args.attempt, "%s",
               err.msg[0] ? err.msg : sq_strerror(rc));
  print_result(&args, rc, &result, &err);
  status = sq_exit_status(rc);
  if (rc != SQ_OK && !args.result_json) status = sq_cli_fail(cmd.name, &err);
out:
  sq_db_close(db);
  sq_storage_free(storage);
  sq_config_free(&cfg);
  return status;
}
