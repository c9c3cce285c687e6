/* db_ledger.h - the durable job ledger: sheetq's own tables in MySQL.
 *
 * Redis carries the live queue; the ledger is what survives. Every job, its
 * state and every attempt are recorded here, and the ledger decides what
 * "already exported" means.
 *
 * DESIGN
 * - Idempotent submission: sheetq_jobs has UNIQUE (report_id, period, live)
 *   where live is 1 for a job that is submitted, runnable, running or
 *   succeeded and NULL once it failed or was cancelled (MySQL lets NULLs
 *   repeat in a unique key). INSERT IGNORE therefore creates at most one live
 *   job per report and period, even with two enqueues racing.
 * - Fencing: every claim in Redis gets a cluster-wide increasing token. An
 *   attempt starts only with a token larger than the one recorded, and ends
 *   only with the token recorded, so a worker that lost its lease can never
 *   overwrite the outcome of the worker that took the job over.
 */
#ifndef SQ_DB_LEDGER_H
#define SQ_DB_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/db.h"
#include "core/job.h"

#define SQ_LEDGER_SCHEMA_VERSION 3 /* 3: the transitions' procedures */

typedef enum sq_job_state {
  SQ_JOB_SUBMITTED = 0, /* in the ledger, not yet confirmed in Redis */
  SQ_JOB_RUNNABLE,      /* in Redis, waiting for (or between) attempts */
  SQ_JOB_RUNNING,
  SQ_JOB_SUCCEEDED,
  SQ_JOB_FAILED,
  SQ_JOB_CANCELLED,
  SQ_JOB__STATES
} sq_job_state;

const char *sq_job_state_name(sq_job_state s);
bool sq_job_state_parse(const char *s, size_t len, sq_job_state *out);

/* Creates or upgrades sheetq's tables; never touches any other table. */
sq_errcode sq_ledger_migrate(sq_db *db, sq_err *err);

/* One target as submitted, and what the ledger made of it. */
typedef struct sq_ledger_entry {
  sq_job job;         /* job.id is the live job's id, new or existing */
  sq_job_state state; /* of that live job */
  bool created;       /* true when this call created it */
  bool other_queue;   /* the live job belongs to another queue: not this one's */
} sq_ledger_entry;

/* Records a batch (if it creates any job) and one job per entry (entries[i].job has tenant, report and
 * period set; id and batch are filled in). Jobs that already have a live job
 * for the same report and period are not created again: their entry is
 * filled with the existing job, which may belong to another queue
 * (other_queue). The batch's row is written before its jobs, so a crash in
 * between leaves no job without its batch. */
sq_errcode sq_ledger_submit(sq_db *db, const char *batch_id, const char *queue,
                            sq_period period, int max_attempts,
                            sq_ledger_entry *entries, size_t n, sq_err *err);
/* submitted -> runnable, once Redis holds the jobs. */
sq_errcode sq_ledger_mark_runnable(sq_db *db, const sq_job *jobs, size_t n,
                                   sq_err *err);

/* The same transitions as steps, several in one transaction: one round trip
 * and one commit for all (the worker writes one attempt's success with the
 * next attempts' starts). Each step is fenced on its own: one refused does
 * not stop the others. Returns SQ_OK when the transaction committed, and
 * then each step's rc (and err) says whether it was applied, as the single
 * call would; otherwise nothing was applied and every step carries the
 * transaction's error.
 *
 * A step is fenced by its token, and all-or-nothing. START: SQ_ELEASE_LOST
 * when a newer claim exists; SQ_ECANCELLED when the job is already finished
 * (the caller acknowledges the claim without running it). The connection
 * must be opened with SQ_DB_MULTI_STATEMENTS (the worker's ledger one).
 *
 * again (per step): this step was sent before and the connection was lost
 * before its answer came (the caller reconnected, or kept a success through
 * a failed round), so it may have applied. Refused, but its job is where
 * the step puts it under the step's own token and worker: it had, and it
 * returns SQ_OK, nothing applied twice. Without `again` such a step is
 * refused like any other: a token alone proves nothing, since a Redis that
 * lost its last writes can hand the same token out twice. */
typedef enum sq_ledger_step_kind {
  SQ_STEP_START,
  SQ_STEP_SUCCEEDED,
  SQ_STEP_FAILED,
} sq_ledger_step_kind;

typedef struct sq_ledger_step {
  sq_ledger_step_kind kind;
  const char *job_id;
  int attempt;
  uint64_t token;
  const char *worker;     /* START; with `again`, every kind: who started it */
  const char *output_key; /* SUCCEEDED */
  uint64_t rows;          /* SUCCEEDED */
  bool final;             /* FAILED */
  sq_errcode reason;      /* FAILED */
  const char *message;    /* FAILED */
  bool again;             /* it was sent before (see `again` above) */
  sq_errcode rc;          /* out */
  sq_err err;             /* out: why, when rc is not SQ_OK */
} sq_ledger_step;

sq_errcode sq_ledger_transitions(sq_db *db, sq_ledger_step *steps, size_t n,
                                 sq_err *err);

/* The transitions are stored procedures (db_ledger.c, FENCED TRANSITIONS)
 * that `sheetq migrate` creates and the account must be allowed to EXECUTE.
 * A harmless call of one: SQ_ECONFIG naming what is missing (the schema not
 * migrated or made for another collation, the grant), or a temporary code
 * when the database is out of reach. */
sq_errcode sq_ledger_check_procedures(sq_db *db, sq_err *err);
/* Makes the procedures that are missing, or were made from another text
 * (their COMMENT's fingerprint; the tables' collation is part of it).
 * sq_ledger_migrate does it when the schema version is behind; `sheetq
 * migrate` always (a restore may have left them out). */
sq_errcode sq_ledger_ensure_procedures(sq_db *db, sq_err *err);

/* Re-run: clones a finished job (failed, succeeded or cancelled) into a new
 * job with a fresh set of attempts, in the same batch, linked by
 * cloned_from; automatic marks a clone made by the auto-rerun policy, which
 * is never cloned automatically again. The original stays as it was but stops being the live job of
 * its report and period. SQ_EINVAL if the job is not finished, SQ_ENOT_FOUND
 * if it does not exist. The clone is in state submitted; *clone is filled. */
sq_errcode sq_ledger_clone(sq_db *db, const char *job_id, int max_attempts,
                           bool automatic, sq_job *clone, sq_err *err);

/* The automatic re-run policy: failed jobs of the queue that failed at least
 * delay_s ago (but less than a day before that), were not themselves
 * automatic re-runs, and have no clone yet, with their last error. */
typedef sq_errcode (*sq_ledger_rerun_cb)(void *ctx, const char *job_id,
                                         sq_errcode last_error);
sq_errcode sq_ledger_auto_rerun_candidates(sq_db *db, const char *queue,
                                           long delay_s, sq_ledger_rerun_cb cb,
                                           void *ctx, sq_err *err);
/* What the ledger holds for each report of a period, without writing
 * anything (for `enqueue --dry-run`): states[i] is the state of the live job
 * of report_ids[i] (submitted, runnable, running or succeeded), or
 * SQ_JOB__STATES when there is none. A database without the ledger tables
 * yet has no jobs. One query per 500 reports. */
sq_errcode sq_ledger_live_states(sq_db *db, sq_period period, const uint64_t *report_ids,
                                 size_t n, sq_job_state *states, sq_err *err);

/* The newest job of a report and period (for `rerun --report --period`). */
sq_errcode sq_ledger_latest_job(sq_db *db, uint64_t report_id,
                                sq_period period, char job_id[SQ_ID_SIZE],
                                sq_err *err);
/* Cancels a job that has not started (submitted or runnable). SQ_EINVAL
 * with the reason when it is running or finished. */
sq_errcode sq_ledger_cancel(sq_db *db, const char *job_id, sq_err *err);

/* Every job of the queue the ledger holds as unfinished (submitted, runnable,
 * running), for repair after Redis lost data. *max_token is the largest lease
 * token the ledger has seen on this queue. */
typedef sq_errcode (*sq_ledger_job_cb)(void *ctx, const sq_job *job,
                                       sq_job_state state);
sq_errcode sq_ledger_unfinished(sq_db *db, const char *queue,
                                sq_ledger_job_cb cb, void *ctx,
                                uint64_t *max_token, sq_err *err);

/* Loads one job; SQ_ENOT_FOUND when absent. */
sq_errcode sq_ledger_get_job(sq_db *db, const char *job_id, sq_job *job,
                             sq_job_state *state, sq_err *err);

typedef struct sq_ledger_attempt {
  int attempt;
  uint64_t token;
  char worker[128];
  char outcome[16];
  char error_code[32];
  char error[512];
  char started_at[32];
  char finished_at[32]; /* "" while running */
} sq_ledger_attempt;

typedef sq_errcode (*sq_ledger_attempt_cb)(void *ctx,
                                           const sq_ledger_attempt *a);
/* A job's attempts, oldest first. */
sq_errcode sq_ledger_attempts(sq_db *db, const char *job_id,
                              sq_ledger_attempt_cb cb, void *ctx, sq_err *err);

/* An attempt whose lease expired (its worker died or stalled) and whose job
 * went back to the queue: the attempt becomes lost, the job runnable. A
 * no-op when the job has moved on (another claim, an outcome). */
sq_errcode sq_ledger_attempt_lost(sq_db *db, const char *job_id, uint64_t token,
                                  sq_err *err);

/* A job whose last claim was lost (lease expired on its last attempt) and
 * that Redis therefore failed for good: fails it in the ledger too, whether
 * or not the lost claim had reached the ledger (any token up to `token` is
 * accepted). Pass UINT64_MAX when the token is unknown. */
sq_errcode sq_ledger_fail_lost(sq_db *db, const char *job_id, int attempt,
                               uint64_t token, const char *message, sq_err *err);

typedef struct sq_ledger_counts {
  uint64_t by_state[SQ_JOB__STATES];
  uint64_t total;
} sq_ledger_counts;

/* Counts a batch's jobs by state (batch_id NULL: the newest batch of the
 * queue), leaving out jobs that were re-run (a clone stands for them). The
 * batch id used is written to batch_out. */
sq_errcode sq_ledger_batch_counts(sq_db *db, const char *queue,
                                  const char *batch_id,
                                  char batch_out[SQ_ID_SIZE],
                                  sq_ledger_counts *counts, sq_err *err);

typedef struct sq_ledger_failure {
  char job_id[SQ_ID_SIZE];
  uint64_t tenant_id, report_id;
  char period[SQ_PERIOD_STR_LEN];
  int attempts;
  char error_code[32];
  char error[512];
} sq_ledger_failure;

typedef sq_errcode (*sq_ledger_failure_cb)(void *ctx,
                                           const sq_ledger_failure *f);
sq_errcode sq_ledger_batch_failures(sq_db *db, const char *batch_id,
                                    sq_ledger_failure_cb cb, void *ctx,
                                    sq_err *err);

#endif
