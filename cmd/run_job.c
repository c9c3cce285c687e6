/* run_job.c - `sheetq run-job`: exports one report and period in this
 * process; people use it to export or debug one report by hand (no queue,
 * no ledger involved). The worker runs attempts in child processes of this
 * command with --serve: one job per request line on stdin, one result line
 * each on stdout, keeping its database connection and storage client warm
 * between jobs (queue/job_process.h). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "cmd/cli.h"
#include "cmd/commands.h"
#include "core/clock.h"
#include "core/db.h"
#include "core/log.h"
#include "exporter/export_job.h"
#include "exporter/scratch.h"
#include "exporter/storage.h"

enum { OPT_JOB_ID = 1, OPT_TENANT, OPT_REPORT, OPT_PERIOD, OPT_ATTEMPT, OPT_WORKER_PID,
       OPT_SERVE };

typedef struct run_args {
  sq_job job;
  bool have_job_id, have_tenant, have_report, have_period;
  long attempt;
  bool serve; /* run for a worker: requests on stdin, JSON results on stdout */
  bool gated;      /* this request's file waits for "go" (await_go) */
  bool gate_read;  /* ... and its "go" or "abort" line has been read */
  long worker_pid; /* 0: not run by a worker */
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
    case OPT_WORKER_PID:
      return sq_cli_parse_long(arg, 1, 4194304, &a->worker_pid)
                 ? SQ_OK
                 : sq_err_set(err, SQ_EUSAGE, "--worker-pid takes a process id");
    case OPT_SERVE:
      a->serve = true;
      return SQ_OK;
  }
  return sq_err_set(err, SQ_EUSAGE, "unexpected option");
}

/* A job process started by a worker (--serve) dies with it. If the
 * worker is killed, nobody renews this attempt's lease any more: the job
 * passes to another worker once the lease expires, and this process must not
 * go on to store a result that no one will record, possibly over a newer one.
 * (A live worker that loses a lease SIGKILLs its job process itself.) */
static sq_errcode die_with_worker(long worker_pid, sq_err *err) {
  struct pollfd out = {STDOUT_FILENO, 0, 0};
  char buf[128];
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
    return sq_err_set(err, SQ_EINTERNAL, "prctl(PR_SET_PDEATHSIG): %s",
                      strerror_r(errno, buf, sizeof buf));
  /* The race-free test: once the death signal is armed, a parent that is no
   * longer the worker means the worker died before (the orphan was
   * re-parented to init or a subreaper, so comparing with 1 is not enough). */
  if (worker_pid > 0 && getppid() != (pid_t)worker_pid)
    return sq_err_set(err, SQ_EKILLED, "the worker exited before the job started");
  /* A worker that died before prctl() sent no signal, but its end of the
   * result pipe is closed by now (a dying process closes its files before
   * its children are told). */
  if (poll(&out, 1, 0) == 1 && (out.revents & (POLLERR | POLLHUP | POLLNVAL)))
    return sq_err_set(err, SQ_EKILLED, "the worker exited before the job started");
  return SQ_OK;
}

/* ---- test-only fault injection --------------------------------------------
 * SHEETQ_TEST_FAULT makes this process misbehave on cue, so that the test
 * suite can prove what the worker does with a job that crashes, hangs, exits
 * oddly or is slow (docs/testing.md). It is read here and nowhere else, and
 * is never meant for production. Grammar, parsed strictly:
 *   crash:report=ID       die of SIGSEGV before exporting
 *   hang:report=ID        sleep until killed
 *   exit:report=ID:CODE   exit with status CODE (0-255) and no result line
 *   slow:report=ID:MS     sleep MS milliseconds (1-600000), then export
 *   linger:report=ID      export, but once serving, ignore the end of input
 *                         (a process that does not exit when retired)
 * ID is a report id, or '*' for every report. A malformed value is a usage
 * error, so a typo in a test fails loudly instead of testing nothing. */
enum { FAULT_CRASH, FAULT_HANG, FAULT_EXIT, FAULT_SLOW, FAULT_LINGER, FAULT__COUNT };

static bool linger_at_eof; /* FAULT_LINGER was injected */

static sq_errcode inject_test_fault(const sq_job *job, int attempt, sq_err *err) {
  static const char *const kinds[FAULT__COUNT] = {"crash", "hang", "exit", "slow", "linger"};
  const char *spec = getenv("SHEETQ_TEST_FAULT");
  char buf[128], *target, *arg;
  uint64_t report_id = 0; /* 0: every report */
  long value = 0;
  int kind;
  if (spec == NULL || *spec == '\0') return SQ_OK;
  if (snprintf(buf, sizeof buf, "%s", spec) >= (int)sizeof buf) goto bad;
  if ((target = strchr(buf, ':')) == NULL) goto bad;
  *target++ = '\0';
  if ((arg = strchr(target, ':')) != NULL) *arg++ = '\0';
  for (kind = 0; kind < FAULT__COUNT && strcmp(buf, kinds[kind]) != 0; kind++) continue;
  if (kind == FAULT__COUNT || strncmp(target, "report=", 7) != 0) goto bad;
  target += 7;
  if (strcmp(target, "*") != 0 && (!sq_cli_parse_u64(target, &report_id) || report_id == 0))
    goto bad;
  if ((kind == FAULT_EXIT || kind == FAULT_SLOW) != (arg != NULL)) goto bad;
  if (kind == FAULT_EXIT && !sq_cli_parse_long(arg, 0, 255, &value)) goto bad;
  if (kind == FAULT_SLOW && !sq_cli_parse_long(arg, 1, 600000, &value)) goto bad;
  if (report_id != 0 && report_id != job->report_id) return SQ_OK;

  SQ_LOG_JOB(SQ_LOG_WARN, job->id, attempt, "SHEETQ_TEST_FAULT=%s: injecting a test fault", spec);
  if (kind == FAULT_CRASH) {
    /* Default action, even under a sanitizer that catches SIGSEGV itself. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    sigaction(SIGSEGV, &sa, NULL);
    raise(SIGSEGV);
    abort();
  } else if (kind == FAULT_HANG) {
    for (;;) pause();
  } else if (kind == FAULT_LINGER) {
    linger_at_eof = true;
  } else if (kind == FAULT_EXIT) {
    fflush(NULL);
    _exit((int)value);
  } else {
    sq_sleep_ms(value);
  }
  return SQ_OK;
bad:
  return sq_err_set(err, SQ_EUSAGE,
                    "SHEETQ_TEST_FAULT: expected crash|hang|linger:report=ID, "
                    "exit:report=ID:CODE or slow:report=ID:MS (ID may be *), "
                    "not \"%.64s\"", spec);
}

static void print_result(const run_args *a, sq_errcode rc, const sq_export_result *r,
                         const sq_err *err) {
  cJSON *o;
  char *text;
  if (!a->serve) {
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
  fflush(stdout);
}

/* ---- --serve ---------------------------------------------------------------
 * Requests are one JSON object per line, written by the worker:
 *   {"job_id":"j...","tenant":"N","report":"N","period":"YYYY-MM","attempt":N}
 * (ids as strings, as in the queue's job payloads: BIGINT UNSIGNED does not
 * fit a JSON number), optionally with "gate":true: the worker sends the
 * request before the ledger has recorded the attempt, and follows it with
 * "go" once it has (if the ledger refuses, it kills this process). A gated
 * job stores nothing before "go"; any other gate line ("abort") or end of
 * input withdraws it. The gate line is read before the result is written,
 * whatever the outcome, so requests and gate lines never mix.
 * Each gets exactly one result line (print_result) before the next is read.
 * End of input (the worker retired this process, or died) ends the loop. */

static bool json_id(const cJSON *o, const char *name, uint64_t *out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
  return cJSON_IsString(v) && sq_cli_parse_u64(v->valuestring, out) && *out > 0;
}

/* The gate line of a gated request: "go" lets the file be stored. */
static sq_errcode await_go(void *ctx, sq_err *err) {
  run_args *a = ctx;
  char *line = NULL;
  size_t cap = 0;
  ssize_t n = getline(&line, &cap, stdin);
  bool go = n >= 2 && strncmp(line, "go", 2) == 0 && (n == 2 || line[2] == '\n');
  a->gate_read = true;
  free(line);
  if (go) return SQ_OK;
  return sq_err_set(err, SQ_ECANCELLED, n > 0 ? "withdrawn by the worker"
                                              : "withdrawn: the worker is gone");
}

static sq_errcode parse_request(const char *line, size_t len, run_args *a, sq_err *err) {
  cJSON *o = cJSON_ParseWithLength(line, len);
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "job_id");
  const cJSON *period = cJSON_GetObjectItemCaseSensitive(o, "period");
  const cJSON *attempt = cJSON_GetObjectItemCaseSensitive(o, "attempt");
  sq_errcode rc = SQ_OK;
  memset(&a->job, 0, sizeof a->job);
  a->gate_read = false;
  /* Read first: a malformed request that is gated is still followed by its
   * gate line, which must not be taken for the next request. */
  a->gated = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "gate"));
  if (!cJSON_IsString(id) || !sq_id_valid(id->valuestring, 'j') ||
      !json_id(o, "tenant", &a->job.tenant_id) || !json_id(o, "report", &a->job.report_id) ||
      !cJSON_IsNumber(attempt) || attempt->valueint < 1 || attempt->valueint > 100 ||
      !cJSON_IsString(period) ||
      sq_period_parse(period->valuestring, &a->job.period, err) != SQ_OK) {
    rc = sq_err_set(err, SQ_EBAD_JOB, "malformed request from the worker: \"%.80s\"", line);
  } else {
    snprintf(a->job.id, sizeof a->job.id, "%s", id->valuestring);
    a->attempt = attempt->valueint;
  }
  cJSON_Delete(o);
  return rc;
}

/* Runs one export, by hand or for a request. The two database connections
 * (the report's and the records' reader's) and the storage client open on
 * first use and, in a serving process, stay open for the next request; a
 * connection that went stale while idle (server restart, wait_timeout) is
 * reopened and the job tried once more, since nothing was exported yet when
 * the first query fails. */
static sq_errcode run_one(const sq_config *cfg, run_args *a, sq_db *db[2],
                            sq_storage **storage, sq_export_result *result, sq_err *err) {
  sq_errcode rc;
  bool was_open = db[0] != NULL && db[1] != NULL;
  sq_export_gate gate = {await_go, a};
  sq_log_set_job(a->job.id, (int)a->attempt);
  if ((rc = inject_test_fault(&a->job, (int)a->attempt, err)) != SQ_OK) return rc;
  if (*storage == NULL) {
    if ((*storage = sq_storage_open(cfg->storage_url, err)) == NULL) return err->code;
    /* Once per process: what killed predecessors left behind. */
    (void)sq_scratch_sweep(*storage, cfg, cfg->attempt_timeout + 3600);
  }
  for (int i = 0; i < 2; i++)
    if (db[i] == NULL && (db[i] = sq_db_connect(cfg->mysql_url, err)) == NULL) return err->code;
  rc = sq_export_job(db[0], db[1], *storage, cfg, &a->job, (int)a->attempt,
                     a->gated ? &gate : NULL, result, err);
  if (rc == SQ_EDB_CONNECT && was_open && !a->gate_read && sq_db_reconnect(db[0], err) == SQ_OK &&
      sq_db_reconnect(db[1], err) == SQ_OK)
    rc = sq_export_job(db[0], db[1], *storage, cfg, &a->job, (int)a->attempt,
                       a->gated ? &gate : NULL, result, err);
  return rc;
}

static int serve(const sq_config *cfg, run_args *a) {
  sq_db *db[2] = {NULL, NULL};
  sq_storage *storage = NULL;
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  /* Each job allocates the same few MB (row batches, text buffers); kept in
   * the heap instead of fresh mmap()s, the next job reuses them without
   * page faults (5x fewer on 500-record jobs: ~260 -> ~55 per job), and
   * nothing grows, since the same sizes come back every job. */
  mallopt(M_MMAP_THRESHOLD, 8 << 20);
  mallopt(M_TRIM_THRESHOLD, 32 << 20);
  /* The worker's own connections (Redis, its ledger's and notifier's
   * MariaDB) come along through exec: hiredis and Connector/C open their
   * sockets without close-on-exec, and a worker thread may be connecting at
   * any moment. Closed here, once, whatever opened them: a job process
   * holds only its pipes and what it opens itself. */
  (void)close_range(3, ~0U, 0);
  while ((n = getline(&line, &cap, stdin)) > 0) {
    sq_export_result result;
    sq_err err;
    sq_errcode rc;
    memset(&result, 0, sizeof result);
    sq_err_clear(&err);
    if (line[n - 1] == '\n') line[--n] = '\0';
    rc = parse_request(line, (size_t)n, a, &err);
    if (rc == SQ_OK) rc = run_one(cfg, a, db, &storage, &result, &err);
    if (a->gated && !a->gate_read) { /* failed before its gate: read the line */
      sq_err ignored;
      (void)await_go(a, &ignored);
    }
    if (rc != SQ_OK)
      SQ_LOG_JOB(SQ_LOG_ERROR, a->job.id, (int)a->attempt, "%s",
                 err.msg[0] ? err.msg : sq_strerror(rc));
    print_result(a, rc, &result, &err);
  }
  if (linger_at_eof) {
    fflush(NULL);
    for (;;) pause();
  }
  free(line);
  sq_db_close(db[0]);
  sq_db_close(db[1]);
  sq_storage_free(storage);
  return 0;
}

int sq_cmd_run_job(int argc, char **argv) {
  static const sq_cli_option options[] = {
      {"tenant", "ID", "the report's tenant (required)", OPT_TENANT},
      {"report", "ID", "the report to export (required)", OPT_REPORT},
      {"period", "YYYY-MM", "the month to export (required)", OPT_PERIOD},
      {"job-id", "ID", "job id, for logs and the {job_id} key variable", OPT_JOB_ID},
      {"attempt", "N", "attempt number, for logs", OPT_ATTEMPT},
      {"worker-pid", "PID", "the supervising worker: exit at once if it is gone (used by the worker)", OPT_WORKER_PID},
      {"serve", NULL, "run jobs read from stdin, one JSON request per line, each answered by one JSON result line, until end of input; die with the worker (used by the worker)", OPT_SERVE},
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
  sq_db *db[2] = {NULL, NULL};
  sq_storage *storage = NULL;
  sq_errcode rc = SQ_OK;
  int status;

  memset(&args, 0, sizeof args);
  memset(&result, 0, sizeof result);
  args.attempt = 1;
  sq_err_clear(&err);
  if (sq_cli_parse(&cmd, argc, argv, &cfg, &args, &status) == SQ_CLI_EXIT) goto out;
  if (args.serve) {
    if ((rc = die_with_worker(args.worker_pid, &err)) != SQ_OK) {
      status = sq_cli_fail(cmd.name, &err);
      goto out;
    }
    status = serve(&cfg, &args);
    goto out;
  }
  if (!args.have_tenant || !args.have_report || !args.have_period) {
    rc = sq_err_set(&err, SQ_EUSAGE, "--tenant, --report and --period are required");
    goto done;
  }
  if (!args.have_job_id && (rc = sq_id_new('j', args.job.id)) != SQ_OK) goto done;
  rc = run_one(&cfg, &args, db, &storage, &result, &err);
done:
  print_result(&args, rc, &result, &err);
  status = sq_exit_status(rc);
  if (rc != SQ_OK) (void)sq_cli_fail(cmd.name, &err);
out:
  sq_db_close(db[0]);
  sq_db_close(db[1]);
  sq_storage_free(storage);
  sq_config_free(&cfg);
  return status;
}
