/* worker.c - `sheetq worker`: runs jobs from the queue until stopped (or,
 * with --burst, until the queue has drained). The work is done by
 * queue/supervisor.c; this file turns flags into its options and builds the
 * job processes' environment so they see exactly this worker's settings. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd/cli.h"
#include "cmd/commands.h"
#include "core/buf.h"
#include "core/job_size.h"
#include "core/log.h"
#include "core/metrics.h"
#include "queue/metrics_http.h"
#include "queue/notifier.h"
#include "queue/supervisor.h"

extern char **environ;

enum { OPT_BURST = 1, OPT_SHUTDOWN_GRACE };

/* On exit, time a worker holding the Slack lease takes to send what is due
 * (a --burst worker's last jobs have just finished). */
#define NOTIFIER_FLUSH_MS 5000

typedef struct worker_args {
  bool burst;
  long shutdown_grace_s;
} worker_args;

static sq_errcode on_option(void *ctx, int id, const char *arg, sq_err *err) {
  worker_args *a = ctx;
  if (id == OPT_BURST) {
    a->burst = true;
    return SQ_OK;
  }
  if (id == OPT_SHUTDOWN_GRACE) {
    if (!sq_cli_parse_long(arg, 0, 86400, &a->shutdown_grace_s))
      return sq_err_set(err, SQ_EUSAGE, "--shutdown-grace takes seconds (0-86400)");
    return SQ_OK;
  }
  return sq_err_set(err, SQ_EUSAGE, "unexpected option");
}

static void free_env(char **env) {
  for (size_t i = 0; env && env[i]; i++) free(env[i]);
  free(env);
}

/* True for a variable that names a setting (or the config file): the child
 * gets the resolved value instead. Others (such as the test-only
 * SHEETQ_TEST_FAULT, docs/testing.md) pass through. */
static bool is_setting_var(const char *entry) {
  size_t n = strcspn(entry, "=");
  if (n == 13 && strncmp(entry, "SHEETQ_CONFIG", 13) == 0) return true;
  for (const sq_config_spec *s = sq_config_specs; s->key; s++)
    if (strlen(s->env) == n && strncmp(entry, s->env, n) == 0) return true;
  return false;
}

/* environ without the settings' variables, plus every resolved setting. */
static char **child_env(const sq_config *cfg) {
  size_t n_env = 0, n_specs = 0, k = 0;
  char **env;
  for (char **e = environ; *e; e++) n_env++;
  for (const sq_config_spec *s = sq_config_specs; s->key; s++) n_specs++;
  env = calloc(n_env + n_specs + 1, sizeof *env);
  if (env == NULL) return NULL;
  for (char **e = environ; *e; e++) {
    if (is_setting_var(*e)) continue;
    if ((env[k++] = strdup(*e)) == NULL) goto nomem;
  }
  for (const sq_config_spec *s = sq_config_specs; s->key; s++) {
    const char *base = (const char *)cfg + s->offset;
    sq_buf b;
    /* Only the worker talks to Slack: its secret URL stays out of jobs. */
    if (strncmp(s->key, "slack_", 6) == 0) continue;
    sq_buf_init(&b, 1u << 20);
    if (s->type == SQ_CONF_STR) {
      const char *v = *(char *const *)base;
      if (v == NULL) continue;
      if (sq_buf_printf(&b, "%s=%s", s->env, v) != SQ_OK) goto nomem;
    } else if (s->type == SQ_CONF_VCPUS) {
      long m = *(const long *)base;
      if (sq_buf_printf(&b, "%s=%ld.%03ld", s->env, m / 1000, m % 1000) != SQ_OK) goto nomem;
    } else if (sq_buf_printf(&b, "%s=%ld", s->env, *(const long *)base) != SQ_OK) {
      goto nomem;
    }
    env[k++] = sq_buf_take(&b);
  }
  return env;
nomem:
  free_env(env);
  return NULL;
}


/* A job bigger than every worker's capacity is never claimed, and nothing
 * else would say so: the claim script skips it and the queue looks busy.
 * This worker can only judge by its own configuration (the jobs in Redis
 * were sized by the enqueue's), and another worker may be bigger, so it
 * warns and runs. */
static void warn_jobs_too_big(const sq_config *cfg, long capacity_m) {
  sq_job_size_rule rule;
  sq_err e;
  long biggest = cfg->job_vcpus_m;
  if (sq_job_size_rule_parse(cfg->job_vcpus_rule, &rule, &e) == SQ_OK)
    for (int i = 0; i < rule.n; i++)
      if (rule.steps[i].vcpus_m > biggest) biggest = rule.steps[i].vcpus_m;
  if (biggest > capacity_m)
    SQ_WARN("this worker offers %ld.%03ld vCPUs, but jobs may need up to %ld.%03ld "
            "(job_vcpus, job_vcpus_rule): it never takes those, and they wait for a "
            "worker with more --vcpus", capacity_m / 1000, capacity_m % 1000,
            biggest / 1000, biggest % 1000);
}

int sq_cmd_worker(int argc, char **argv) {
  static const sq_cli_option options[] = {
      {"burst", NULL, "exit once the queue has drained (no job ready, delayed or running)", OPT_BURST},
      {"shutdown-grace", "SECONDS", "on SIGTERM, time running jobs get to finish (default 25)", OPT_SHUTDOWN_GRACE},
      {NULL, NULL, NULL, 0}};
  static const sq_cli_command cmd = {
      "worker",
      "Claims jobs from the queue and exports them in job processes it keeps warm between jobs, "
      "as many at once as fit in --vcpus (default: the CPU count) and in the "
      "cluster's --max-vcpus budget. Stop it with SIGTERM or Ctrl-C: running "
      "jobs get --shutdown-grace seconds, then are handed back to the queue. "
      "With a Slack webhook (--slack-webhook-url or --slack-webhook-file), one "
      "worker of the queue at a time posts failed jobs and finished batches. "
      "With --metrics-addr it serves Prometheus metrics at http://HOST:PORT/metrics.",
      "[--burst] [--vcpus N] [--concurrency N] [--metrics-addr HOST:PORT] [OPTIONS]",
      options, on_option};
  worker_args args = {false, 25};
  sq_supervisor_options so;
  sq_notifier *notifier = NULL;
  sq_metrics metrics;
  sq_metrics_server *metrics_server = NULL;
  sq_config cfg;
  sq_err err;
  char exe[PATH_MAX];
  char **env = NULL;
  ssize_t n;
  int status;

  sq_metrics_init(&metrics, (double)time(NULL));
  if (sq_cli_parse(&cmd, argc, argv, &cfg, &args, &status) == SQ_CLI_EXIT) goto out;
  n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) {
    sq_err_set(&err, SQ_EINTERNAL, "cannot find my own executable");
    goto fail;
  }
  exe[n] = '\0';
  if ((env = child_env(&cfg)) == NULL) {
    sq_err_set(&err, SQ_ENOMEM, "out of memory");
    goto fail;
  }
  memset(&so, 0, sizeof so);
  so.cfg = &cfg;
  so.job_exe = exe;
  so.child_env = env;
  so.capacity_vcpus_m = cfg.worker_vcpus_m > 0 ? cfg.worker_vcpus_m
                                               : 1000L * sysconf(_SC_NPROCESSORS_ONLN);
  warn_jobs_too_big(&cfg, so.capacity_vcpus_m);
  so.concurrency = (int)cfg.concurrency;
  so.burst = args.burst;
  so.shutdown_grace_ms = args.shutdown_grace_s * 1000;
  so.kill_grace_ms = 10000;
  so.metrics = &metrics;
  if (cfg.metrics_addr) {
    if (sq_metrics_server_start(cfg.metrics_addr, &metrics, &cfg, &metrics_server, &err) != SQ_OK)
      goto fail;
    SQ_INFO("metrics at http://%s/metrics", sq_metrics_server_address(metrics_server));
  }
  /* Slack notifications run beside the jobs, never in their way. */
  if (sq_notifier_start(&cfg, &notifier, &err) != SQ_OK) goto fail;
  if (sq_supervisor_run(&so, &err) != SQ_OK) goto fail;
  status = 0;
  goto out;
fail:
  status = sq_cli_fail(cmd.name, &err);
out:
  sq_notifier_stop(notifier, NOTIFIER_FLUSH_MS);
  sq_metrics_server_stop(metrics_server);
  sq_metrics_close(&metrics);
  free_env(env);
  sq_config_free(&cfg);
  return status;
}
