/* main.c - `sheetq COMMAND ...`: dispatches to one subcommand. */
#include <stdio.h>
#include <string.h>

#include "cmd/commands.h"

#ifndef SHEETQ_VERSION
#define SHEETQ_VERSION "dev"
#endif

static const struct {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *summary;
} commands[] = {
    {"enqueue", sq_cmd_enqueue, "find the reports to export for a period and queue one job each"},
    {"worker", sq_cmd_worker, "run jobs from the queue (--burst: until it is empty)"},
    {"status", sq_cmd_status, "show a batch's jobs by state, and its failures"},
    {"rerun", sq_cmd_rerun, "re-run a finished job as a new clone (sheetq rerun JOB_ID)"},
    {"cancel", sq_cmd_cancel, "cancel a job that has not started"},
    {"migrate", sq_cmd_migrate, "create or upgrade sheetq's ledger tables"},
    {"run-job", sq_cmd_run_job, "export one report and period now, in the foreground"},
};

static void usage(FILE *out) {
  fprintf(out,
          "sheetq %s - export form records from MySQL to .xlsx through a Redis job queue\n\n"
          "Usage: sheetq COMMAND [OPTIONS]\n\nCommands:\n",
          SHEETQ_VERSION);
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fprintf(out, "\nRun 'sheetq COMMAND --help' for a command's options. "
               "See docs/ for configuration and operations.\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
      strcmp(argv[1], "help") == 0) {
    usage(stdout);
    return 0;
  }
  if (strcmp(argv[1], "--version") == 0) {
    printf("sheetq %s\n", SHEETQ_VERSION);
    return 0;
  }
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (strcmp(argv[1], commands[i].name) == 0)
      return commands[i].run(argc - 1, argv + 1);
  fprintf(stderr, "sheetq: unknown command \"%s\"\n\n", argv[1]);
  usage(stderr);
  return 2;
}
