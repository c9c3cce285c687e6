/* commands.h - the subcommands' entry points, dispatched by main.c. Each
 * takes argv with argv[0] = the subcommand's name and returns the process
 * exit status. */
#ifndef SQ_COMMANDS_H
#define SQ_COMMANDS_H

int sq_cmd_migrate(int argc, char **argv);
int sq_cmd_enqueue(int argc, char **argv);
int sq_cmd_worker(int argc, char **argv);
int sq_cmd_run_job(int argc, char **argv);
int sq_cmd_status(int argc, char **argv);
int sq_cmd_rerun(int argc, char **argv);
int sq_cmd_cancel(int argc, char **argv);

#endif
