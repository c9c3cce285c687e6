/* cli.c - see cli.h. */
#include "cmd/cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/conn_urls.h"
#include "core/log.h"

enum { OPT_HELP = 1000, OPT_CONFIG, OPT_SETTING_BASE = 2000 };

#define MAX_OPTIONS 64

static void flag_name(const char *key, char *out, size_t cap) {
  size_t i;
  for (i = 0; key[i] && i < cap - 1; i++) out[i] = key[i] == '_' ? '-' : key[i];
  out[i] = '\0';
}

static void print_help(const sq_cli_command *cmd, FILE *out) {
  fprintf(out, "Usage: sheetq %s %s\n\n%s\n\nOptions:\n", cmd->name, cmd->usage,
          cmd->summary);
  for (const sq_cli_option *o = cmd->options; o && o->name; o++) {
    char left[64];
    snprintf(left, sizeof left, "--%s%s%s", o->name, o->arg_name ? " " : "",
             o->arg_name ? o->arg_name : "");
    fprintf(out, "  %-24s %s\n", left, o->help);
  }
  fprintf(out, "  %-24s %s\n", "--config FILE",
          "JSON file of settings (also SHEETQ_CONFIG)");
  fprintf(out, "  %-24s %s\n\n", "--help", "show this help");
  sq_config_print_keys(out);
  fprintf(out, "\nPrecedence: default < config file < environment < flags.\n");
}

int sq_cli_fail(const char *command, const sq_err *err) {
  fprintf(stderr, "sheetq %s: %s\n", command,
          err->msg[0] ? err->msg : sq_strerror(err->code));
  return sq_exit_status(err->code);
}

const char *sq_cli_take_positional(int *argc, char ***argv) {
  char **v = *argv;
  const char *arg;
  if (*argc < 2 || v[1][0] == '-') return NULL;
  arg = v[1];
  v[1] = v[0]; /* the command name moves up one: argv[0] stays the name */
  (*argv)++;
  (*argc)--;
  return arg;
}

bool sq_cli_parse_u64(const char *s, uint64_t *out) {
  char *end;
  unsigned long long v;
  if (s == NULL || *s < '0' || *s > '9') return false;
  errno = 0;
  v = strtoull(s, &end, 10);
  if (errno || *end != '\0') return false;
  *out = v;
  return true;
}

bool sq_cli_parse_long(const char *s, long min, long max, long *out) {
  char *end;
  long v;
  if (s == NULL || *s == '\0') return false;
  errno = 0;
  v = strtol(s, &end, 10);
  if (errno || *end != '\0' || v < min || v > max) return false;
  *out = v;
  return true;
}

sq_cli_outcome sq_cli_parse(const sq_cli_command *cmd, int argc, char **argv,
                            sq_config *cfg, void *ctx, int *status) {
  struct option longopts[MAX_OPTIONS + 1];
  char names[MAX_OPTIONS][48];
  struct { int spec; const char *value; } settings[MAX_OPTIONS * 2];
  const char *config_file = getenv("SHEETQ_CONFIG");
  int n = 0, n_settings = 0, c, spec_index = 0;
  sq_err err;
  sq_log_level level;

  sq_err_clear(&err);
  for (const sq_cli_option *o = cmd->options; o && o->name && n < MAX_OPTIONS; o++) {
    longopts[n] = (struct option){o->name, o->arg_name ? required_argument : no_argument,
                                  NULL, o->id};
    n++;
  }
  longopts[n++] = (struct option){"help", no_argument, NULL, OPT_HELP};
  longopts[n++] = (struct option){"config", required_argument, NULL, OPT_CONFIG};
  for (const sq_config_spec *s = sq_config_specs; s->key && n < MAX_OPTIONS; s++, spec_index++) {
    flag_name(s->key, names[n], sizeof names[n]);
    longopts[n] = (struct option){names[n], required_argument, NULL,
                                  OPT_SETTING_BASE + spec_index};
    n++;
  }
  longopts[n] = (struct option){NULL, 0, NULL, 0};

  if (sq_config_init(cfg, &err) != SQ_OK) goto fail;
  optind = 1;
  opterr = 0;
  while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
    if (c == OPT_HELP) {
      print_help(cmd, stdout);
      *status = 0;
      return SQ_CLI_EXIT;
    } else if (c == OPT_CONFIG) {
      config_file = optarg;
    } else if (c >= OPT_SETTING_BASE) {
      const sq_config_spec *s = &sq_config_specs[c - OPT_SETTING_BASE];
      char flag[48];
      flag_name(s->key, flag, sizeof flag);
      if (s->secret && sq_url_has_password(optarg))
        fprintf(stderr, "sheetq %s: warning: --%s puts a password on the command "
                "line, where other users can see it (ps, /proc); prefer %s, or the "
                "password from the environment or a file (docs/configuration.md)\n",
                cmd->name, flag, s->env);
      if (n_settings == (int)(sizeof settings / sizeof settings[0])) {
        sq_err_set(&err, SQ_EUSAGE, "too many setting flags (at most %zu)",
                   sizeof settings / sizeof settings[0]);
        goto fail;
      }
      settings[n_settings].spec = c - OPT_SETTING_BASE;
      settings[n_settings++].value = optarg;
    } else if (c == '?' || c == ':') {
      /* The option's name only: "--mysql_url=mysql://u:pw@h/db", a typo,
       * must not put its password in a log. A short option is named by
       * getopt's optopt: inside a cluster, argv[optind - 1] can be the
       * argument before it, a value. */
      const char *arg = argv[optind - 1];
      char shortopt[3] = {'-', (char)(optopt > 0 && optopt < 128 ? optopt : '?'), '\0'};
      if (strncmp(arg, "--", 2) != 0) arg = shortopt;
      sq_err_set(&err, SQ_EUSAGE, "%s option %.*s (see sheetq %s --help)",
                 c == ':' ? "missing value for" : "unknown", (int)strcspn(arg, "="), arg,
                 cmd->name);
      goto fail;
    } else if (cmd->on_option == NULL || cmd->on_option(ctx, c, optarg, &err) != SQ_OK) {
      goto fail;
    }
  }
  if (optind < argc) {
    sq_err_set(&err, SQ_EUSAGE, "unexpected argument \"%s\" (see sheetq %s --help)",
               argv[optind], cmd->name);
    goto fail;
  }
  if (config_file && sq_config_load_file(cfg, config_file, &err) != SQ_OK) goto fail;
  if (sq_config_load_env(cfg, &err) != SQ_OK) goto fail;
  for (int i = 0; i < n_settings; i++)
    if (sq_config_set(cfg, sq_config_specs[settings[i].spec].key, settings[i].value,
                      &err) != SQ_OK)
      goto fail;
  if (sq_config_validate(cfg, &err) != SQ_OK) goto fail;
  sq_log_level_parse(cfg->log_level, &level);
  sq_log_setup(level, strcmp(cfg->log_format, "json") == 0 ? SQ_LOG_JSON : SQ_LOG_TEXT,
               cmd->name);
  if (sq_conn_urls_apply(cfg, &err) != SQ_OK) goto fail;
  return SQ_CLI_RUN;
fail:
  *status = sq_cli_fail(cmd->name, &err);
  return SQ_CLI_EXIT;
}
