/* cli.h - what every sheetq subcommand shares: flag parsing, the config
 * sources in their order, logging set-up, and help text.
 *
 * Each subcommand declares its own options; every config setting is also
 * accepted as --key-name VALUE (generated from sq_config_specs), plus
 * --config FILE and --help. Config precedence: default < file < environment
 * < flags.
 */
#ifndef SQ_CLI_H
#define SQ_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"
#include "core/error.h"

typedef struct sq_cli_option {
  const char *name;     /* long name without dashes */
  const char *arg_name; /* NULL for a switch */
  const char *help;
  int id;               /* passed to the command's handler */
} sq_cli_option;

typedef struct sq_cli_command {
  const char *name;
  const char *summary;
  const char *usage; /* after "sheetq NAME " */
  const sq_cli_option *options; /* terminated by name == NULL */
  /* Receives each of the command's own options; returns SQ_EUSAGE with a
   * message for a bad value. NULL for a command without options. */
  sq_errcode (*on_option)(void *ctx, int id, const char *arg, sq_err *err);
} sq_cli_command;

typedef enum sq_cli_outcome {
  SQ_CLI_RUN = 0, /* go on */
  SQ_CLI_EXIT,    /* --help printed, or an error reported: exit with *status */
} sq_cli_outcome;

/* Parses argv (argv[0] is the subcommand's name) and fills cfg. Prints
 * errors and help itself. */
sq_cli_outcome sq_cli_parse(const sq_cli_command *cmd, int argc, char **argv,
                            sq_config *cfg, void *ctx, int *status);

/* Takes a leading positional argument (one not starting with '-', such as
 * a job id) out of argv, so the rest parses as flags. NULL if there is none. */
const char *sq_cli_take_positional(int *argc, char ***argv);

/* Reports err on stderr ("sheetq NAME: message") and returns the exit
 * status for its code. */
int sq_cli_fail(const char *command, const sq_err *err);

/* Strict parsers for option values. */
bool sq_cli_parse_u64(const char *s, uint64_t *out);
bool sq_cli_parse_long(const char *s, long min, long max, long *out);

#endif
