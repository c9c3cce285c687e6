/* migrate.c - `sheetq migrate`: creates or upgrades the ledger tables and
 * procedures. */
#include <stdio.h>

#include "cmd/cli.h"
#include "cmd/commands.h"
#include "core/db.h"
#include "core/db_ledger.h"

int sq_cmd_migrate(int argc, char **argv) {
  static const sq_cli_option options[] = {{NULL, NULL, NULL, 0}};
  static const sq_cli_command cmd = {
      "migrate", "Creates sheetq's own ledger tables and procedures (sheetq_*) in the "
      "database, or upgrades them. Never touches any other table. Safe to run again.",
      "[OPTIONS]", options, NULL};
  sq_config cfg;
  sq_err err;
  sq_db *db = NULL;
  int status;
  if (sq_cli_parse(&cmd, argc, argv, &cfg, NULL, &status) == SQ_CLI_EXIT) goto out;
  status = 0;
  if ((db = sq_db_connect(cfg.mysql_url, &err)) == NULL ||
      sq_ledger_migrate(db, &err) != SQ_OK ||
      /* Also when the version is current: a restore that left out the
       * procedures (mysqldump without --routines) needs them made. */
      sq_ledger_ensure_procedures(db, &err) != SQ_OK) {
    status = sq_cli_fail(cmd.name, &err);
    goto out;
  }
  printf("ledger tables and procedures are up to date (schema version %d)\n",
         SQ_LEDGER_SCHEMA_VERSION);
out:
  sq_db_close(db);
  sq_config_free(&cfg);
  return status;
}
