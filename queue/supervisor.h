/* supervisor.h - a worker process's job supervisor.
 *
 * Claims jobs from the queue while it has free slots, runs each attempt in a
 * child process (`sheetq run-job ...`), and owns everything about the attempt
 * that must survive the child: the lease (renewed from the event loop every
 * lease/3, so a child busy rendering for an hour keeps it), the per-attempt
 * timeout (SIGTERM, then SIGKILL), and the outcome, written to the ledger
 * first and to Redis second. A segfault, an OOM kill or a hang ends that
 * attempt only.
 *
 * The child reports its result as one JSON line on stdout:
 *   {"ok":true,"key":"1/2/2026-10.xlsx","rows":1234}
 *   {"ok":false,"code":"db_connect","error":"..."}
 * and exits 0 on success, non-zero otherwise. No line at all (a crash) is
 * classified from the exit status or signal.
 *
 * Shutdown: the first SIGTERM/SIGINT stops claiming and lets running
 * attempts finish for shutdown_grace_ms; what is still running then is
 * killed and handed back unrun (its attempt not counted) so another worker
 * takes it at once. A second signal does that immediately.
 */
#ifndef SQ_SUPERVISOR_H
#define SQ_SUPERVISOR_H

#include <stdbool.h>

#include "core/config.h"
#include "core/error.h"
#include "core/metrics.h"

typedef struct sq_supervisor_options {
  const sq_config *cfg;
  const char *job_exe;     /* the sheetq binary to run as the job process */
  char **child_env;        /* environment for job processes (NULL-ended) */
  long capacity_vcpus_m;   /* this worker's vCPUs, thousandths */
  int concurrency;         /* cap on attempts at once; 0: by vCPUs only */
  bool burst;              /* exit once the whole queue has drained */
  long shutdown_grace_ms;
  long kill_grace_ms;      /* SIGTERM to SIGKILL on timeout */
  sq_metrics *metrics;     /* attempts are observed here; NULL: none */
} sq_supervisor_options;

/* Runs until the queue drains (burst) or a signal asks it to stop.
 * Returns SQ_OK on a clean stop; temporary infrastructure errors are retried
 * internally, never returned. */
sq_errcode sq_supervisor_run(const sq_supervisor_options *opt, sq_err *err);

/* Delay before retry number `attempt` (1-based): base * 2^(attempt-1),
 * capped at 15 minutes, with "equal jitter" (half fixed, half random) so
 * retries of a burst of failures spread out. Pure but for the random draw. */
long sq_retry_delay_ms(long base_s, int attempt);

#endif
