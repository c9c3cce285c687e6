/* cancel.c - `sheetq cancel JOB_ID`: cancels a job that has not started.
 * The ledger is changed first: a worker that claims the job in the meantime
 * finds it cancelled there and does not run it. A running job is not
 * cancelled (as with AWS Batch, where only terminate stops a running job). */
#include <stdio.h>

#include "cmd/cli.h"
#include "cmd/commands.h"
#include "core/db.h"
#include "core/db_ledger.h"
#include "queue/queue.h"

int sq_cmd_cancel(int argc, char **argv) {
  static const sq_cli_option options[] = {{NULL, NULL, NULL, 0}};
  static const sq_cli_command cmd = {
      "cancel", "Cancels a job that is queued or waiting to retry. A running "
      "job is not stopped.", "JOB_ID [OPTIONS]", options, NULL};
  sq_config cfg;
  sq_err err;
  sq_db *db = NULL;
  sq_queue *q = NULL;
  const char *job_id = NULL;
  int status;

  job_id = sq_cli_take_positional(&argc, &argv);
  if (sq_cli_parse(&cmd, argc, argv, &cfg, NULL, &status) == SQ_CLI_EXIT) goto out;
  if (job_id == NULL || !sq_id_valid(job_id, 'j')) {
    sq_err_set(&err, SQ_EUSAGE, "give the id of the job to cancel (j followed by 23 hex digits)");
    goto fail;
  }
  if ((db = sq_db_connect(cfg.mysql_url, &err)) == NULL ||
      sq_ledger_cancel(db, job_id, &err) != SQ_OK)
    goto fail;
  if ((q = sq_queue_open(cfg.redis_url, cfg.queue, 10000, &err)) == NULL ||
      sq_queue_cancel(q, job_id, cfg.job_ttl, &err) != SQ_OK)
    fprintf(stderr, "sheetq cancel: warning: the ledger holds job %s as cancelled, but "
            "redis was not updated (%s); a worker that claims it will not run it\n",
            job_id, err.msg);
  printf("cancelled job %s\n", job_id);
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
