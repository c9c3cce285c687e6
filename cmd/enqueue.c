/* enqueue.c - `sheetq enqueue`: finds the conversion targets of a period and
 * submits one job per report, idempotently.
 *
 * Order matters for crash safety: jobs are written to the ledger first
 * (state submitted), then to Redis, then marked runnable. A crash between
 * the steps leaves jobs in state submitted, and the next enqueue pushes them
 * to Redis again (Redis ignores ids it already holds). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd/cli.h"
#include "cmd/commands.h"
#include "core/db.h"
#include "core/db_ledger.h"
#include "core/db_report.h"
#include "core/job_size.h"
#include "core/log.h"
#include "core/rollout.h"
#include "queue/ledger_sync.h"
#include "queue/queue.h"

#define MAX_FILTER_IDS 10000

enum { OPT_PERIOD = 1, OPT_TENANT, OPT_REPORT, OPT_DRY_RUN, OPT_REPAIR, OPT_PRIORITY };

typedef struct enqueue_args {
  const char *period_arg;
  uint64_t tenants[MAX_FILTER_IDS];
  size_t n_tenants;
  uint64_t reports[MAX_FILTER_IDS];
  size_t n_reports;
  bool dry_run;
  bool repair;
  bool urgent;
} enqueue_args;

static sq_errcode on_option(void *ctx, int id, const char *arg, sq_err *err) {
  enqueue_args *a = ctx;
  uint64_t v;
  switch (id) {
    case OPT_PERIOD:
      a->period_arg = arg;
      return SQ_OK;
    case OPT_TENANT:
    case OPT_REPORT:
      if (!sq_cli_parse_u64(arg, &v) || v == 0)
        return sq_err_set(err, SQ_EUSAGE, "--%s takes a positive id, not \"%s\"",
                          id == OPT_TENANT ? "tenant" : "report", arg);
      if ((id == OPT_TENANT ? a->n_tenants : a->n_reports) >= MAX_FILTER_IDS)
        return sq_err_set(err, SQ_EUSAGE, "too many --%s options",
                          id == OPT_TENANT ? "tenant" : "report");
      if (id == OPT_TENANT)
        a->tenants[a->n_tenants++] = v;
      else
        a->reports[a->n_reports++] = v;
      return SQ_OK;
    case OPT_DRY_RUN:
      a->dry_run = true;
      return SQ_OK;
    case OPT_REPAIR:
      a->repair = true;
      return SQ_OK;
    case OPT_PRIORITY:
      if (strcmp(arg, "high") != 0 && strcmp(arg, "normal") != 0)
        return sq_err_set(err, SQ_EUSAGE, "--priority is high or normal, not \"%.20s\"", arg);
      a->urgent = strcmp(arg, "high") == 0;
      return SQ_OK;
  }
  return sq_err_set(err, SQ_EUSAGE, "unexpected option");
}

/* Each job's share of the vCPU budget: job_vcpus, or what job_vcpus_rule
 * gives for the report's record count (counted only when a rule is set). */
static sq_errcode size_jobs(sq_db *db, const sq_config *cfg, const sq_target *targets,
                            size_t n, const char *start, const char *end,
                            sq_ledger_entry *entries, sq_err *err) {
  sq_job_size_rule rule;
  uint64_t *counts = NULL;
  sq_errcode rc = sq_job_size_rule_parse(cfg->job_vcpus_rule, &rule, err);
  if (rc != SQ_OK) return rc;
  for (size_t i = 0; i < n; i++) entries[i].job.vcpus_m = cfg->job_vcpus_m;
  if (rule.n == 0) return SQ_OK;
  if ((counts = calloc(n, sizeof *counts)) == NULL)
    return sq_err_set(err, SQ_ENOMEM, "out of memory");
  rc = sq_db_count_records(db, targets, n, start, end, counts, err);
  for (size_t i = 0; rc == SQ_OK && i < n; i++)
    entries[i].job.vcpus_m = sq_job_size_vcpus(&rule, counts[i], cfg->job_vcpus_m);
  free(counts);
  return rc;
}

typedef struct rollout_counts {
  size_t allowed, denied, group_off;
} rollout_counts;

/* Drops the targets the staged rollout leaves out (core/rollout.h), in
 * place, keeping the query's order. The groups are read only when a group
 * filter is set, so a schema without tenants.rollout_group works by
 * default. */
static sq_errcode apply_rollout(sq_db *db, const sq_config *cfg, sq_target *targets,
                                size_t *n, rollout_counts *counts, sq_err *err) {
  sq_rollout r;
  uint64_t *tenant_ids = NULL, *groups = NULL;
  bool *has_group = NULL;
  size_t kept = 0;
  sq_errcode rc = sq_rollout_parse(cfg->rollout_groups, cfg->tenant_allow,
                                   cfg->tenant_deny, &r, err);
  memset(counts, 0, sizeof *counts);
  if (rc != SQ_OK) return rc;
  if (sq_rollout_is_open(&r) || *n == 0) goto out;
  if (sq_rollout_uses_groups(&r)) {
    tenant_ids = calloc(*n, sizeof *tenant_ids);
    groups = calloc(*n, sizeof *groups);
    has_group = calloc(*n, sizeof *has_group);
    if (tenant_ids == NULL || groups == NULL || has_group == NULL) {
      rc = sq_err_set(err, SQ_ENOMEM, "out of memory");
      goto out;
    }
    for (size_t i = 0; i < *n; i++) tenant_ids[i] = targets[i].tenant_id;
    if ((rc = sq_db_tenant_groups(db, tenant_ids, *n, groups, has_group, err)) != SQ_OK)
      goto out;
  }
  for (size_t i = 0; i < *n; i++) {
    sq_rollout_verdict v = sq_rollout_decide(&r, targets[i].tenant_id,
                                             has_group && has_group[i],
                                             groups ? groups[i] : 0);
    if (v == SQ_ROLLOUT_ALLOWED) counts->allowed++;
    if (v == SQ_ROLLOUT_DENIED) counts->denied++;
    if (v == SQ_ROLLOUT_GROUP_OFF) counts->group_off++;
    if (sq_rollout_exports(v)) targets[kept++] = targets[i];
  }
  *n = kept;
out:
  free(tenant_ids);
  free(groups);
  free(has_group);
  sq_rollout_free(&r);
  return rc;
}

static void print_rollout(const rollout_counts *c) {
  if (c->denied + c->group_off + c->allowed == 0) return;
  printf("rollout: left out %zu target(s) (%zu denied, %zu in groups not enabled); "
         "%zu allow-listed\n", c->denied + c->group_off, c->denied, c->group_off,
         c->allowed);
}

/* A report name on one line: quotes and control characters escaped. */
static void print_quoted(const char *s) {
  putchar('"');
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') printf("\\%c", c);
    else if (c < 0x20 || c == 0x7f) printf("\\x%02x", c);
    else putchar(c);
  }
  putchar('"');
}

/* --dry-run: one line per target and what the ledger already holds for
 * it. Reads only: no ledger migration, no Redis. */
static sq_errcode dry_run(sq_db *db, sq_period period, const sq_target *targets, size_t n,
                          sq_err *err) {
  char p[SQ_PERIOD_STR_LEN];
  char **names = calloc(n ? n : 1, sizeof *names);
  uint64_t *report_ids = calloc(n ? n : 1, sizeof *report_ids);
  sq_job_state *states = calloc(n ? n : 1, sizeof *states);
  size_t fresh = 0;
  sq_errcode rc;
  if (names == NULL || report_ids == NULL || states == NULL) {
    rc = sq_err_set(err, SQ_ENOMEM, "out of memory");
    goto out;
  }
  for (size_t i = 0; i < n; i++) report_ids[i] = targets[i].report_id;
  if ((rc = sq_db_report_names(db, targets, n, names, err)) != SQ_OK ||
      (rc = sq_ledger_live_states(db, period, report_ids, n, states, err)) != SQ_OK)
    goto out;
  sq_period_format(period, p);
  for (size_t i = 0; i < n; i++) {
    const char *what = "new";
    if (states[i] == SQ_JOB_SUBMITTED || states[i] == SQ_JOB_RUNNABLE) what = "queued";
    else if (states[i] == SQ_JOB_RUNNING) what = "running";
    else if (states[i] == SQ_JOB_SUCCEEDED) what = "succeeded";
    else fresh++;
    printf("tenant=%llu report=%llu period=%s job=%s name=",
           (unsigned long long)targets[i].tenant_id,
           (unsigned long long)targets[i].report_id, p, what);
    print_quoted(names[i] ? names[i] : "");
    putchar('\n');
  }
  printf("dry run: period %s: %zu target(s), %zu new job(s) would be submitted; "
         "nothing was written\n", p, n, fresh);
out:
  for (size_t i = 0; names && i < n; i++) free(names[i]);
  free(names);
  free(report_ids);
  free(states);
  return rc;
}

/* A Redis that answers LOADING is restarting with its data and will serve
 * soon: enqueue waits for it rather than exit 75 and leave its batch in the
 * ledger until a worker's ledger check (or a scheduler's retry) queues it. */
#define REDIS_LOADING_WAIT_MS (5 * 60 * 1000L)

/* --repair: the ledger is the source of truth; put back what Redis lost. */
static sq_errcode repair(const sq_config *cfg, sq_err *err) {
  sq_repair_stats st;
  sq_db *db = NULL;
  sq_queue *q = NULL;
  sq_errcode rc = SQ_OK;
  if ((db = sq_db_connect(cfg->mysql_url, err)) == NULL ||
      (q = sq_queue_open(cfg->redis_url, cfg->queue, 10000, err)) == NULL) {
    rc = err->code;
    goto out;
  }
  if ((rc = sq_ledger_migrate(db, err)) != SQ_OK ||
      (rc = sq_queue_wait_loaded(q, REDIS_LOADING_WAIT_MS, err)) != SQ_OK ||
      (rc = sq_sync_repair(db, q, cfg->queue, &st, err)) != SQ_OK)
    goto out;
  printf("repair: queue %s: %zu unfinished job(s) in the ledger, %zu missing from "
         "redis and queued again, %zu failed in redis and now failed in the ledger\n",
         cfg->queue, st.unfinished, st.requeued, st.finished);
out:
  sq_queue_close(q);
  sq_db_close(db);
  return rc;
}

int sq_cmd_enqueue(int argc, char **argv) {
  static const sq_cli_option options[] = {
      {"period", "YYYY-MM", "month to export, or last-month / this-month in --timezone (default Asia/Tokyo); required", OPT_PERIOD},
      {"tenant", "ID", "only this tenant's reports (repeatable)", OPT_TENANT},
      {"report", "ID", "only this report (repeatable)", OPT_REPORT},
      {"dry-run", NULL, "print each target (tenant, report, name, period, new or already queued/succeeded); write nothing", OPT_DRY_RUN},
      {"priority", "LEVEL", "high: ahead of the queued batch (on-demand exports); default normal", OPT_PRIORITY},
      {"repair", NULL, "put back every unfinished job of the ledger that Redis lost (no --period)", OPT_REPAIR},
      {NULL, NULL, NULL, 0}};
  static const sq_cli_command cmd = {
      "enqueue",
      "Finds the reports that need exporting for a period (by default: monthly, "
      "not archived, tenant enabled, with records in the month) and queues one "
      "job per report. Running it again submits nothing that is already queued, "
      "running or succeeded; jobs that failed are submitted afresh. Staged "
      "rollout: --rollout-groups, --tenant-allow and --tenant-deny (or their "
      "variables) decide which tenants' targets go; deny wins over allow, and "
      "allow-listed tenants go whatever their group (docs/configuration.md).",
      "--period YYYY-MM [--tenant ID]... [--report ID]... [OPTIONS] | --repair", options,
      on_option};
  enqueue_args *args = calloc(1, sizeof *args);
  sq_config cfg;
  sq_err err;
  sq_db *db = NULL;
  sq_queue *q = NULL;
  sq_target *targets = NULL;
  sq_ledger_entry *entries = NULL;
  sq_job *to_push = NULL;
  size_t n_targets = 0, n_push = 0, added = 0;
  size_t existing[SQ_JOB__STATES] = {0}, created = 0, other_queue = 0;
  char batch[SQ_ID_SIZE], period_s[SQ_PERIOD_STR_LEN];
  char start[SQ_DATETIME_STR_LEN], end[SQ_DATETIME_STR_LEN];
  sq_period period;
  rollout_counts rollout;
  int status;

  memset(&cfg, 0, sizeof cfg);
  if (args == NULL) {
    fprintf(stderr, "sheetq enqueue: out of memory\n");
    return 1;
  }
  if (sq_cli_parse(&cmd, argc, argv, &cfg, args, &status) == SQ_CLI_EXIT) goto out;
  if (args->repair) {
    status = repair(&cfg, &err) == SQ_OK ? 0 : sq_cli_fail(cmd.name, &err);
    goto out;
  }
  if (sq_period_resolve(args->period_arg, time(NULL), cfg.timezone, &period, &err) != SQ_OK)
    goto fail;
  sq_period_format(period, period_s);
  sq_period_range(period, start, end);

  if ((db = sq_db_connect(cfg.mysql_url, &err)) == NULL) goto fail;
  if (!args->dry_run && sq_ledger_migrate(db, &err) != SQ_OK) goto fail;
  {
    sq_target_filter f = {period_s, start, end, args->tenants, args->n_tenants,
                          args->reports, args->n_reports};
    if (sq_db_find_targets(db, cfg.target_query, &f, &targets, &n_targets, &err) != SQ_OK)
      goto fail;
  }
  if (apply_rollout(db, &cfg, targets, &n_targets, &rollout, &err) != SQ_OK) goto fail;
  print_rollout(&rollout);
  if (args->dry_run) {
    if (dry_run(db, period, targets, n_targets, &err) != SQ_OK) goto fail;
    status = 0;
    goto out;
  }
  if (n_targets == 0) {
    printf("period %s: no reports to export\n", period_s);
    status = 0;
    goto out;
  }

  entries = calloc(n_targets, sizeof *entries);
  to_push = calloc(n_targets, sizeof *to_push);
  if (entries == NULL || to_push == NULL) {
    sq_err_set(&err, SQ_ENOMEM, "out of memory for %zu targets", n_targets);
    goto fail;
  }
  if (size_jobs(db, &cfg, targets, n_targets, start, end, entries, &err) != SQ_OK) goto fail;
  for (size_t i = 0; i < n_targets; i++) {
    entries[i].job.tenant_id = targets[i].tenant_id;
    entries[i].job.report_id = targets[i].report_id;
    entries[i].job.urgent = args->urgent;
  }
  if (sq_id_new('b', batch) != SQ_OK) {
    sq_err_set(&err, SQ_EIO, "cannot make a batch id");
    goto fail;
  }
  /* Submission is idempotent, so a deadlock or a dropped connection is
   * simply tried again (a few times) before giving up. */
  for (int tries = 1;; tries++) {
    sq_errcode rc = sq_ledger_submit(db, batch, cfg.queue, period, (int)cfg.max_attempts,
                                     entries, n_targets, &err);
    if (rc == SQ_OK) break;
    if (!sq_error_is_temporary(rc) || tries == 3) goto fail;
    SQ_WARN("ledger submit failed (%s); trying again", err.msg);
    if (rc == SQ_EDB_CONNECT && sq_db_reconnect(db, &err) != SQ_OK) goto fail;
  }

  /* Push what Redis may not hold yet: new jobs, and jobs an earlier run left
   * in state submitted (it crashed before reaching Redis). */
  for (size_t i = 0; i < n_targets; i++) {
    sq_ledger_entry *e = &entries[i];
    if (e->other_queue) { /* that queue's enqueue and workers look after it */
      other_queue++;
      continue;
    }
    if (e->created)
      created++;
    else
      existing[e->state]++;
    if (e->state == SQ_JOB_SUBMITTED) to_push[n_push++] = e->job;
  }
  if (n_push > 0) {
    if ((q = sq_queue_open(cfg.redis_url, cfg.queue, 10000, &err)) == NULL) goto fail;
    if (sq_queue_wait_loaded(q, REDIS_LOADING_WAIT_MS, &err) != SQ_OK ||
        sq_queue_check_server(q, &err) != SQ_OK)
      goto fail;
    if (sq_sync_push(db, q, to_push, n_push, &added, NULL, &err) != SQ_OK)
      goto fail;
  }

  if (created > 0)
    printf("batch %s: period %s, queue %s: %zu target(s), %zu new job(s) submitted",
           batch, period_s, cfg.queue, n_targets, created);
  else
    printf("period %s, queue %s: %zu target(s), nothing new to submit", period_s,
           cfg.queue, n_targets);
  if (n_push > created)
    printf(", %zu unconfirmed job(s) from an earlier run re-sent", n_push - created);
  printf("\n");
  if (n_targets > created + other_queue)
    printf("skipped %zu already known: %zu queued, %zu running, %zu succeeded\n",
           n_targets - created - other_queue,
           existing[SQ_JOB_SUBMITTED] + existing[SQ_JOB_RUNNABLE],
           existing[SQ_JOB_RUNNING], existing[SQ_JOB_SUCCEEDED]);
  if (other_queue > 0)
    printf("skipped %zu with a live job in another queue (not moved to %s)\n", other_queue,
           cfg.queue);
  SQ_INFO("batch %s: %zu targets, %zu new, %zu added to redis", batch, n_targets,
          created, added);
  status = 0;
  goto out;
fail:
  status = sq_cli_fail(cmd.name, &err);
out:
  free(to_push);
  free(entries);
  free(targets);
  sq_queue_close(q);
  sq_db_close(db);
  sq_config_free(&cfg);
  free(args);
  return status;
}
