/* rerun.c - `sheetq rerun`: clones a finished job into a new one with a fresh
 * set of attempts and queues it ahead of the batch (AWS Batch has no clone;
 * a re-run there is a new submission: here the link to the original is kept
 * in sheetq_jobs.cloned_from). */
#include <stdio.h>
#include <string.h>

#include "cmd/cli.h"
#include "cmd/commands.h"
#include "core/db.h"
#include "core/db_ledger.h"
#include "queue/ledger_sync.h"

enum { OPT_REPORT = 1, OPT_PERIOD };

typedef struct rerun_args {
  uint64_t report;
  const char *period;
} rerun_args;

static sq_errcode on_option(void *ctx, int id, const char *arg, sq_err *err) {
  rerun_args *a = ctx;
  if (id == OPT_REPORT) {
    if (!sq_cli_parse_u64(arg, &a->report) || a->report == 0)
      return sq_err_set(err, SQ_EUSAGE, "--report takes a positive id");
    return SQ_OK;
  }
  if (id == OPT_PERIOD) {
    a->period = arg;
    return SQ_OK;
  }
  return sq_err_set(err, SQ_EUSAGE, "unexpected option");
}

int sq_cmd_rerun(int argc, char **argv) {
  static const sq_cli_option options[] = {
      {"report", "ID", "re-run the newest job of this report (with --period)", OPT_REPORT},
      {"period", "YYYY-MM", "the period, with --report", OPT_PERIOD},
      {NULL, NULL, NULL, 0}};
  static const sq_cli_command cmd = {
      "rerun",
      "Clones a failed (or succeeded, or cancelled) job into a new job with a "
      "fresh set of attempts, linked to the original, and queues it ahead of "
      "the rest. Prints the new job's id.",
      "JOB_ID | --report ID --period YYYY-MM [OPTIONS]", options, on_option};
  rerun_args args = {0, NULL};
  sq_config cfg;
  sq_err err;
  sq_db *db = NULL;
  sq_queue *q = NULL;
  sq_job clone;
  char job_id[SQ_ID_SIZE] = "";
  const char *positional = NULL;
  size_t added = 0;
  int status;

  positional = sq_cli_take_positional(&argc, &argv);
  if (sq_cli_parse(&cmd, argc, argv, &cfg, &args, &status) == SQ_CLI_EXIT) goto out;
  if ((positional != NULL) == (args.report != 0)) {
    sq_err_set(&err, SQ_EUSAGE, "give either JOB_ID or --report ID --period YYYY-MM");
    goto fail;
  }
  if (positional && !sq_id_valid(positional, 'j')) {
    sq_err_set(&err, SQ_EUSAGE, "\"%.40s\" is not a job id (j followed by 23 hex digits)",
               positional);
    goto fail;
  }
  if ((db = sq_db_connect(cfg.mysql_url, &err)) == NULL) goto fail;
  if (sq_ledger_migrate(db, &err) != SQ_OK) goto fail;
  if (positional) {
    snprintf(job_id, sizeof job_id, "%s", positional);
  } else {
    sq_period p;
    if (args.period == NULL) {
      sq_err_set(&err, SQ_EUSAGE, "--report needs --period YYYY-MM");
      goto fail;
    }
    if (sq_period_parse(args.period, &p, &err) != SQ_OK ||
        sq_ledger_latest_job(db, args.report, p, job_id, &err) != SQ_OK)
      goto fail;
  }
  if (sq_ledger_clone(db, job_id, (int)cfg.max_attempts, false, &clone, &err) != SQ_OK) goto fail;
  if ((q = sq_queue_open(cfg.redis_url, cfg.queue, 10000, &err)) == NULL ||
      sq_sync_push(db, q, &clone, 1, &added, NULL, &err) != SQ_OK) {
    /* The clone is in the ledger as submitted: `enqueue --repair` (or the
     * workers' periodic check) will queue it. Say so. */
    fprintf(stderr, "sheetq rerun: job %s was created but not queued yet: %s; "
            "it will be queued by the next `sheetq enqueue --repair`\n", clone.id, err.msg);
    status = sq_exit_status(err.code);
    goto out;
  }
  printf("queued job %s, a clone of %s (tenant %llu, report %llu, period %04d-%02d)\n",
         clone.id, job_id, (unsigned long long)clone.tenant_id,
         (unsigned long long)clone.report_id, clone.period.year, clone.period.month);
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
