/* supervisor.c - see supervisor.h.
 *
 * DESIGN
 * One libuv loop thread owns the queue connection, the ledger connection and
 * every attempt. A second thread only blocks on the queue's wake list (BLPOP)
 * and pokes the loop through a uv_async when work arrives, so an idle worker
 * starts a job within milliseconds without polling. A 500 ms tick also tries
 * to claim (wake-ups are hints, never needed for correctness), reaps expired
 * leases of dead workers and promotes due retries.
 *
 * Each slot keeps a warm job process (queue/job_process.h) between attempts:
 * an attempt is one request line to it and one result line back. A process
 * that crashes, is killed (timeout, lost lease, shutdown) or has served
 * JOBS_PER_PROCESS jobs is replaced by a fresh one at the slot's next
 * attempt; until its old process is fully gone a slot takes no work and
 * keeps its vCPUs counted, so a dying job never overlaps a new one.
 *
 * Order of writes at the end of an attempt: ledger first, Redis second. If
 * the worker dies between the two, the lease expires, another worker claims
 * the job and the ledger (which already holds the outcome) tells it there is
 * nothing to run. The reverse order could lose an outcome. */
#include "queue/supervisor.h"

#include <cjson/cJSON.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>
#include <uv.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/db.h"
#include "core/db_ledger.h"
#include "core/job.h"
#include "core/log.h"
#include "core/retry_rules.h"
#include "queue/job_process.h"
#include "queue/ledger_sync.h"
#include "queue/queue.h"

#define TICK_MS 500
#define REAP_BATCH 64
/* A warm process is replaced after this many jobs, bounding what a slow leak
 * or heap fragmentation can grow to; one process start per 500 jobs is
 * noise. */
#define JOBS_PER_PROCESS 500
/* A retired process exits as soon as it reads the end of its input; one
 * still there after this is stuck, and holds its slot (or, at shutdown, the
 * worker) until killed. */
#define RETIRE_KILL_MS 10000
/* A ledger check that Redis or the database refused is tried again this
 * soon, not an interval later: it is what queues jobs an enqueue left in the
 * ledger when it could not reach Redis. */
#define REPAIR_RETRY_MS 1000
#define INFRA_BACKOFF_MAX_MS 30000

typedef struct supervisor supervisor;

/* Where a slot's job process is. */
typedef enum proc_state {
  PROC_NONE,    /* none: the next attempt starts one */
  PROC_WARM,    /* running and serving */
  PROC_DYING,   /* killed, crashed or retired: wait for it to be closed */
} proc_state;

typedef struct job_run {
  supervisor *sv;
  sq_job_process proc;
  proc_state proc_state;
  unsigned jobs_served;
  long held_m;      /* vCPUs this slot holds in sv->used_m (0: none) */
  /* The attempt, while busy. */
  bool busy;
  sq_claim claim;
  sq_job job;
  uv_timer_t renew_timer;
  uv_timer_t timeout_timer;
  bool lease_lost;  /* another worker owns the job now: record nothing */
  bool handed_back; /* released at shutdown: record nothing */
  bool withdrawn;   /* the ledger refused its start: record nothing */
  bool timed_out;
  bool killed;      /* signalled: the attempt ends when the process does */
  uint64_t started_ms;
} job_run;

/* An attempt that succeeded, waiting for the next ledger round. */
typedef struct finished_run {
  sq_claim claim;
  char key[1024];
  uint64_t rows;
  uint64_t elapsed_ms;
  uint64_t renewed_ms; /* its lease, last renewed (claimed, or by renew_waiting) */
  bool sent;           /* in a round that failed: it may have applied */
} finished_run;

struct supervisor {
  const sq_supervisor_options *opt;
  const sq_config *cfg;
  uv_loop_t *loop;
  sq_queue *queue;
  sq_db *db;
  char worker_name[128];
  job_run *slots;
  int n_slots, n_running; /* n_running: slots holding vCPUs (a job, or its dying process) */
  long capacity_m, used_m; /* this worker's vCPUs, and those its slots hold */
  char **job_args;          /* the job process's command line */
  bool budget_full_logged;
  uv_timer_t tick;
  uv_timer_t grace_timer;
  uv_async_t wake;
  uv_signal_t sigterm, sigint;
  uv_thread_t waiter_thread;
  atomic_bool waiter_stop;
  bool stopping, closing;
  uint64_t pause_until_ms; /* infrastructure trouble: claim nothing until */
  uint64_t next_repair_ms;
  long infra_backoff_ms;
  long spawn_backoff_ms; /* its own: every claim before a failed spawn succeeds */
  uint64_t jobs_done, jobs_failed;
  sq_retry_rules retry_rules;
  /* The next ledger round (ledger_round): successes not yet written, the
   * attempts whose start is being written, and the steps of both. */
  finished_run *done;
  size_t n_done;
  job_run **starting;
  sq_ledger_step *steps;
  uv_check_t round_check;
};

/* ---- helpers ----------------------------------------------------------- */

long sq_retry_delay_ms(long base_s, int attempt) {
  unsigned int r = 0;
  long long d = base_s * 1000LL;
  if (base_s <= 0) return 0;
  for (int i = 1; i < attempt && d < 15 * 60 * 1000LL; i++) d *= 2;
  if (d > 15 * 60 * 1000LL) d = 15 * 60 * 1000LL;
  if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) r = (unsigned)rand();
  return (long)(d / 2 + (long long)(r % (unsigned)(d / 2 + 1)));
}

/* Pauses claims for *backoff_ms, doubled from 250 ms up to the cap. */
static void pause_with(supervisor *sv, const sq_err *e, long *backoff_ms) {
  *backoff_ms = *backoff_ms ? *backoff_ms * 2 : 250;
  if (*backoff_ms > INFRA_BACKOFF_MAX_MS) *backoff_ms = INFRA_BACKOFF_MAX_MS;
  sv->pause_until_ms = uv_now(sv->loop) + (uint64_t)*backoff_ms;
  SQ_WARN("%s; pausing claims for %ld ms", e->msg, *backoff_ms);
}

static void pause_claims(supervisor *sv, const sq_err *e) {
  pause_with(sv, e, &sv->infra_backoff_ms);
}

/* rc = call, a ledger write that may simply be repeated (it is
 * idempotent), run once more after a reconnect if the connection was lost.
 * Fenced transitions use ledger_steps(). */
#define LEDGER_RETRY(rc, sv, err, call)                                    \
  do {                                                                     \
    (rc) = (call);                                                         \
    if ((rc) == SQ_EDB_CONNECT && sq_db_reconnect((sv)->db, (err)) == SQ_OK) \
      (rc) = (call);                                                       \
  } while (0)

/* Fenced transitions are not simply repeated: after a reconnect they go
 * again with `again` set, so a step that applied before the connection
 * was lost counts as done instead of refused (db_ledger.h). */
static sq_errcode ledger_steps(supervisor *sv, sq_ledger_step *steps, size_t n, sq_err *err) {
  sq_errcode rc = sq_ledger_transitions(sv->db, steps, n, err);
  if (rc != SQ_EDB_CONNECT || sq_db_reconnect(sv->db, err) != SQ_OK) return rc;
  for (size_t i = 0; i < n; i++) steps[i].again = true;
  return sq_ledger_transitions(sv->db, steps, n, err);
}

/* One fenced step: its outcome (and why, in err). */
static sq_errcode ledger_step(supervisor *sv, sq_ledger_step *step, sq_err *err) {
  sq_errcode rc = ledger_steps(sv, step, 1, err);
  if (rc != SQ_OK) return rc;
  if (step->rc != SQ_OK) *err = step->err;
  return step->rc;
}

/* The failure step of a claim this worker started. */
static sq_ledger_step failed_step(const supervisor *sv, const sq_claim *c, bool final,
                                  sq_errcode reason, const char *message) {
  return (sq_ledger_step){.kind = SQ_STEP_FAILED, .job_id = c->id, .attempt = c->attempt,
                          .token = c->token, .worker = sv->worker_name, .final = final,
                          .reason = reason, .message = message};
}

/* ---- ending an attempt ------------------------------------------------- */

static void fill_slots(supervisor *sv);
static void maybe_finish(supervisor *sv);
static void on_round(uv_check_t *h);
static void auto_rerun(supervisor *sv);

/* The slot may take work again: give back what it held. */
static void release_slot(job_run *a) {
  if (a->held_m == 0) return;
  a->sv->used_m -= a->held_m;
  a->sv->n_running--;
  a->held_m = 0;
}

static bool slot_free(const job_run *a) {
  return !a->busy && a->held_m == 0 && a->proc_state != PROC_DYING;
}

/* Records a failed attempt: ledger, then Redis. */
static void record_failure(supervisor *sv, job_run *a, sq_errcode code,
                           const char *message) {
  sq_err e;
  bool final = !sq_retry_rules_allow(&sv->retry_rules, code) ||
               a->claim.attempt >= a->claim.max_attempts;
  long delay = final ? 0 : sq_retry_delay_ms(sv->cfg->retry_backoff, a->claim.attempt);
  sq_metrics_observe_attempt(sv->opt->metrics, (double)(uv_now(sv->loop) - a->started_ms) / 1000.0,
                             final ? SQ_ATTEMPT_FAILED_FINAL : SQ_ATTEMPT_FAILED, code);
  sq_ledger_step step = failed_step(sv, &a->claim, final, code, message);
  sq_errcode rc = ledger_step(sv, &step, &e);
  if (rc == SQ_ELEASE_LOST || rc == SQ_ECANCELLED) {
    SQ_LOG_JOB(SQ_LOG_WARN, a->claim.id, a->claim.attempt,
               "outcome not recorded: %s", e.msg);
    return;
  }
  if (rc != SQ_OK && rc != SQ_ENOT_FOUND) {
    /* Leave the claim alone: its lease expires and the job is retried. */
    SQ_LOG_JOB(SQ_LOG_ERROR, a->claim.id, a->claim.attempt,
               "cannot record failure in the ledger (%s); the lease will expire "
               "and the job be retried", e.msg);
    return;
  }
  rc = sq_queue_fail(sv->queue, a->claim.id, a->claim.token, final, delay, code,
                     message, sv->cfg->job_ttl, &e);
  if (rc != SQ_OK)
    SQ_LOG_JOB(SQ_LOG_WARN, a->claim.id, a->claim.attempt,
               "cannot record failure in redis: %s", e.msg);
  if (final) {
    sv->jobs_failed++;
    SQ_LOG_JOB(SQ_LOG_ERROR, a->claim.id, a->claim.attempt,
               "failed for good after %d of %d attempts: %s: %s",
               a->claim.attempt, a->claim.max_attempts, sq_errname(code), message);
  } else {
    SQ_LOG_JOB(SQ_LOG_WARN, a->claim.id, a->claim.attempt,
               "attempt failed (%s: %s); retrying in %ld ms", sq_errname(code),
               message, delay);
  }
}

/* A success waits for the next ledger round, which writes it with the
 * starts of the jobs claimed meanwhile: one commit for both. Its slot may take
 * the next job now (the file is stored); Redis hears of it after the
 * ledger. */
static void queue_success(supervisor *sv, job_run *a, const char *key, uint64_t rows) {
  finished_run *d = &sv->done[sv->n_done++];
  d->elapsed_ms = uv_now(sv->loop) - a->started_ms;
  d->renewed_ms = uv_now(sv->loop); /* at most a renewal period ago, in truth */
  d->sent = false;
  sq_metrics_observe_attempt(sv->opt->metrics, (double)d->elapsed_ms / 1000.0,
                             SQ_ATTEMPT_SUCCEEDED, SQ_OK);
  d->claim = a->claim;
  memset(&a->claim, 0, sizeof a->claim); /* moved */
  snprintf(d->key, sizeof d->key, "%s", key);
  d->rows = rows;
}

static void success_recorded(supervisor *sv, finished_run *d, const sq_ledger_step *s) {
  sq_err e;
  if (s->rc != SQ_OK) {
    SQ_LOG_JOB(SQ_LOG_WARN, d->claim.id, d->claim.attempt,
               "success not recorded: %s", s->err.msg);
  } else {
    if (sq_queue_complete(sv->queue, d->claim.id, d->claim.token, sv->cfg->job_ttl,
                          &e) != SQ_OK)
      SQ_LOG_JOB(SQ_LOG_WARN, d->claim.id, d->claim.attempt,
                 "succeeded, but redis was not told (%s); the job's lease will "
                 "expire and the ledger will stop a re-run", e.msg);
    sv->jobs_done++;
    SQ_LOG_JOB(SQ_LOG_INFO, d->claim.id, d->claim.attempt,
               "succeeded: %s (%llu rows, %.3f s)", d->key, (unsigned long long)d->rows,
               (double)d->elapsed_ms / 1000.0);
  }
  sq_claim_free(&d->claim);
}

/* Parses a result line; false if it is not one. */
static bool parse_result(const char *line, size_t len, bool *ok, char *key,
                         size_t key_cap, uint64_t *rows, sq_errcode *code,
                         char *msg, size_t msg_cap) {
  cJSON *o = cJSON_ParseWithLength(line, len);
  const cJSON *v;
  bool parsed = false;
  if (o == NULL || !cJSON_IsObject(o)) goto out;
  v = cJSON_GetObjectItemCaseSensitive(o, "ok");
  if (!cJSON_IsBool(v)) goto out;
  *ok = cJSON_IsTrue(v);
  if (*ok) {
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(o, "key");
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, "rows");
    if (!cJSON_IsString(k) || !cJSON_IsNumber(r)) goto out;
    snprintf(key, key_cap, "%s", k->valuestring);
    *rows = (uint64_t)r->valuedouble;
  } else {
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "code");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "error");
    *code = cJSON_IsString(c) ? sq_errcode_from_name(c->valuestring) : SQ_EINTERNAL;
    snprintf(msg, msg_cap, "%s", cJSON_IsString(m) ? m->valuestring : "no message");
  }
  parsed = true;
out:
  cJSON_Delete(o);
  return parsed;
}

/* Judges and records the attempt; line is the process's result line, or
 * NULL when the process ended without one. */
static void attempt_ended(job_run *a, const char *line, size_t len,
                          int64_t exit_status, int term_signal) {
  supervisor *sv = a->sv;
  char key[1024] = "", msg[1024] = "";
  uint64_t rows = 0;
  sq_errcode code = SQ_EINTERNAL;
  bool ok = false;

  uv_timer_stop(&a->renew_timer);
  uv_timer_stop(&a->timeout_timer);
  if (a->withdrawn) {
    SQ_LOG_JOB(SQ_LOG_DEBUG, a->claim.id, a->claim.attempt, "withdrawn before storing anything");
  } else if (a->handed_back) {
    SQ_LOG_JOB(SQ_LOG_INFO, a->claim.id, a->claim.attempt, "handed back at shutdown");
  } else if (a->lease_lost) {
    SQ_LOG_JOB(SQ_LOG_WARN, a->claim.id, a->claim.attempt,
               "lease was lost; outcome left to the worker that took the job over");
  } else if (a->timed_out) {
    snprintf(msg, sizeof msg, "attempt timed out after %ld s",
             sv->cfg->attempt_timeout);
    record_failure(sv, a, SQ_ETIMEOUT, msg);
  } else if (line != NULL &&
             parse_result(line, len, &ok, key, sizeof key, &rows, &code, msg, sizeof msg)) {
    if (ok)
      queue_success(sv, a, key, rows);
    else
      record_failure(sv, a, code, msg);
  } else if (line != NULL) {
    snprintf(msg, sizeof msg, "job process answered \"%.200s\", not a result", line);
    record_failure(sv, a, SQ_EINTERNAL, msg);
  } else if (term_signal) {
    snprintf(msg, sizeof msg, "job process killed by signal %d (%s)",
             term_signal, strsignal(term_signal));
    record_failure(sv, a, term_signal == SIGKILL ? SQ_EKILLED : SQ_ECRASHED, msg);
  } else if (exit_status == 2) {
    /* run-job's status for a usage or configuration error: permanent. */
    record_failure(sv, a, SQ_ECONFIG,
                   "job process rejected its configuration (exit status 2; see its log)");
  } else {
    snprintf(msg, sizeof msg, "job process exited with status %lld and no result",
             (long long)exit_status);
    record_failure(sv, a, SQ_ECRASHED, msg);
  }
  a->busy = false;
  sq_claim_free(&a->claim);
}

static void on_retire_overdue(uv_timer_t *t) {
  job_run *a = t->data;
  if (a->proc_state != PROC_DYING) return;
  SQ_WARN("job process %d did not exit within %d ms of being retired; killing it",
          sq_job_process_pid(&a->proc), RETIRE_KILL_MS);
  sq_job_process_kill(&a->proc, SIGKILL);
}

/* An idle process is told to exit (its stdin closed), and killed if it does
 * not. The slot's attempt timer is free: no attempt runs in it. */
static void retire_process(job_run *a) {
  a->proc_state = PROC_DYING;
  sq_job_process_retire(&a->proc);
  uv_timer_start(&a->timeout_timer, on_retire_overdue, RETIRE_KILL_MS, 0);
}

/* A result line. A killed process's answer is ignored: its attempt is
 * judged when it is gone (timeout, lost lease, hand-back decide). */
static void on_proc_line(sq_job_process *p, const char *line, size_t len) {
  job_run *a = p->data;
  supervisor *sv = a->sv;
  if (!a->busy || a->killed) {
    if (!a->busy) SQ_WARN("job process %d said \"%.200s\" while idle; ignored",
                          sq_job_process_pid(p), line);
    return;
  }
  attempt_ended(a, line, len, 0, 0);
  if (++a->jobs_served >= JOBS_PER_PROCESS || sv->stopping) {
    retire_process(a); /* the slot stays held until it is gone */
  } else {
    release_slot(a);
  }
  /* Claim and write the ledger once this loop iteration has read every
   * result that is ready: one round for all of them. */
  uv_check_start(&sv->round_check, on_round);
}

static void on_proc_gone(sq_job_process *p, int64_t exit_status, int term_signal) {
  job_run *a = p->data;
  a->proc_state = PROC_DYING;
  if (a->busy) {
    attempt_ended(a, NULL, 0, exit_status, term_signal);
  } else if (exit_status != 0 || term_signal != 0) {
    SQ_WARN("idle job process %d ended (status %lld, signal %d); the next job starts a new one",
            sq_job_process_pid(p), (long long)exit_status, term_signal);
  }
}

static void on_proc_closed(sq_job_process *p) {
  job_run *a = p->data;
  uv_timer_stop(&a->timeout_timer); /* a retire's kill timer */
  if (a->sv->closing && !uv_is_closing((uv_handle_t *)&a->timeout_timer))
    uv_close((uv_handle_t *)&a->timeout_timer, NULL); /* close_all left it */
  a->proc_state = PROC_NONE;
  a->jobs_served = 0;
  release_slot(a);
  fill_slots(a->sv);
  maybe_finish(a->sv);
}

static const sq_job_process_events proc_events = {on_proc_line, on_proc_gone,
                                                  on_proc_closed};

/* Ends the attempt by ending its process: it is judged once gone. */
static void kill_attempt(job_run *a, int signum) {
  a->killed = true;
  a->proc_state = PROC_DYING;
  sq_job_process_kill(&a->proc, signum);
}

/* ---- timers ------------------------------------------------------------ */

static void on_renew(uv_timer_t *t) {
  job_run *a = t->data;
  supervisor *sv = a->sv;
  sq_err e;
  sq_errcode rc = sq_queue_renew(sv->queue, a->claim.id, a->claim.token,
                                 sv->cfg->lease_seconds * 1000, &e);
  if (rc == SQ_ELEASE_LOST) {
    a->lease_lost = true;
    SQ_LOG_JOB(SQ_LOG_WARN, a->claim.id, a->claim.attempt,
               "lease lost to another worker; stopping this attempt");
    kill_attempt(a, SIGKILL);
  } else if (rc != SQ_OK) {
    SQ_LOG_JOB(SQ_LOG_WARN, a->claim.id, a->claim.attempt,
               "cannot renew lease (will retry): %s", e.msg);
  }
}

static void on_timeout(uv_timer_t *t) {
  job_run *a = t->data;
  if (!a->timed_out) {
    a->timed_out = true;
    SQ_LOG_JOB(SQ_LOG_WARN, a->claim.id, a->claim.attempt,
               "attempt timed out after %ld s; sending SIGTERM",
               a->sv->cfg->attempt_timeout);
    kill_attempt(a, SIGTERM);
    uv_timer_start(t, on_timeout, (uint64_t)a->sv->opt->kill_grace_ms, 0);
  } else {
    kill_attempt(a, SIGKILL);
  }
}

/* ---- starting an attempt ----------------------------------------------- */

/* The checks of a claim's payload; false, with the reason, if it cannot run. */
static bool payload_ok(const sq_claim *c, sq_job *job, sq_err *why) {
  if (!sq_id_valid(c->id, 'j')) {
    sq_err_set(why, SQ_EBAD_JOB, "\"%.64s\" is not a job id", c->id);
    return false;
  }
  if (sq_job_from_json(c->payload, c->payload_len, job, why) != SQ_OK) return false;
  if (strcmp(job->id, c->id) != 0) {
    sq_err_set(why, SQ_EBAD_JOB, "job payload names job %s, not %s", job->id, c->id);
    return false;
  }
  return true;
}

/* Fails a claim for good (malformed, or unknown to the ledger) with the
 * reason, so it shows in the failed set instead of vanishing. started: the
 * ledger holds this attempt (its failure can be recorded there). */
static void reject_claim(supervisor *sv, const sq_claim *c, bool started, const sq_err *why) {
  sq_err e;
  if (started) {
    sq_ledger_step step = failed_step(sv, c, true, SQ_EBAD_JOB, why->msg);
    (void)ledger_step(sv, &step, &e);
  }
  SQ_LOG_JOB(SQ_LOG_ERROR, c->id, c->attempt, "rejected: %s", why->msg);
  (void)sq_queue_fail(sv->queue, c->id, c->token, true, 0, SQ_EBAD_JOB,
                      why->msg, sv->cfg->job_ttl, &e);
  sv->jobs_failed++;
}

/* The ledger did not record the start of a well-formed claim (rc, e). */
static void start_refused(supervisor *sv, const sq_claim *c, sq_errcode rc, sq_err *e) {
  if (rc == SQ_ENOT_FOUND) {
    reject_claim(sv, c, false, e);
  } else if (rc == SQ_ECANCELLED) {
    /* Already finished in the ledger (a duplicate delivery): don't re-run. */
    SQ_LOG_JOB(SQ_LOG_INFO, c->id, c->attempt, "not run: %s", e->msg);
    (void)sq_queue_complete(sv->queue, c->id, c->token, sv->cfg->job_ttl, e);
  } else if (rc == SQ_ELEASE_LOST) {
    SQ_LOG_JOB(SQ_LOG_WARN, c->id, c->attempt, "not run: %s", e->msg);
  } else {
    /* The ledger is unreachable: hand the job back unrun and back off. */
    pause_claims(sv, e);
    (void)sq_queue_release(sv->queue, c->id, c->token, e);
  }
}

/* Records the attempt's start in the ledger: the fence that lets its file be
 * stored. */
static sq_errcode ledger_start(supervisor *sv, const sq_claim *c, sq_err *e) {
  sq_ledger_step step = {.kind = SQ_STEP_START, .job_id = c->id, .attempt = c->attempt,
                         .token = c->token, .worker = sv->worker_name};
  return ledger_step(sv, &step, e);
}

typedef enum send_outcome {
  SENT,
  NO_PROCESS,  /* no process could be started */
  SEND_FAILED, /* the process went away; the claim is handed back unrun */
} send_outcome;

static send_outcome send_attempt(supervisor *sv, job_run *a) {
  char request[SQ_JOB_PROCESS_REQUEST_MAX], period[SQ_PERIOD_STR_LEN];
  int r;
  if (a->proc_state == PROC_NONE) {
    r = sq_job_process_spawn(&a->proc, sv->loop, sv->opt->job_exe, sv->job_args,
                             sv->opt->child_env, &proc_events, a);
    /* Even a failed spawn closes its pipes, through on_proc_closed. */
    a->proc_state = r == 0 ? PROC_WARM : PROC_DYING;
    if (r == 0) sv->spawn_backoff_ms = 0;
    if (r != 0) {
      SQ_LOG_JOB(SQ_LOG_ERROR, a->claim.id, a->claim.attempt,
                 "cannot start job process %s: %s", sv->opt->job_exe, uv_strerror(r));
      return NO_PROCESS;
    }
  }
  sq_period_format(a->job.period, period);
  /* Ids are validated ([0-9a-z]), numbers and a formatted period: no
   * escaping needed. */
  snprintf(request, sizeof request,
           "{\"job_id\":\"%s\",\"tenant\":\"%llu\",\"report\":\"%llu\",\"period\":\"%s\","
           "\"attempt\":%d,\"gate\":true}",
           a->job.id, (unsigned long long)a->job.tenant_id,
           (unsigned long long)a->job.report_id, period, a->claim.attempt);
  r = sq_job_process_send(&a->proc, request);
  if (r != 0) {
    /* A warm process that died since its last result: the job never
     * reached it, so the claim goes back unrun (no attempt spent), and its
     * exit records nothing. */
    sq_err e;
    SQ_LOG_JOB(SQ_LOG_WARN, a->claim.id, a->claim.attempt,
               "cannot send the job to process %d (%s); handing it back",
               sq_job_process_pid(&a->proc), uv_strerror(r));
    a->withdrawn = true;
    (void)sq_queue_release(sv->queue, a->claim.id, a->claim.token, &e);
    kill_attempt(a, SIGKILL);
    return SEND_FAILED;
  }
  return SENT;
}

/* A slot for the next attempt, one with a warm process first; NULL if none. */
static job_run *free_slot(supervisor *sv) {
  job_run *cold = NULL;
  for (int i = 0; i < sv->n_slots; i++) {
    job_run *a = &sv->slots[i];
    if (!slot_free(a)) continue;
    if (a->proc_state == PROC_WARM) return a;
    if (cold == NULL) cold = a;
  }
  return cold;
}

/* DESIGN: the job process gets the request first and the ledger records the
 * start while it loads and renders; the request is gated, so the process
 * stores nothing until this sends "go", which it does only once the ledger
 * has accepted the attempt (the same fence as recording it first). A
 * refused start kills the process, as a lost lease does: it would otherwise
 * render to the end for nothing. The attempt records nothing. The ledger's
 * round trip and commit are off the job's critical path.
 *
 * prepare_attempt sends the request; ledger_round then writes the starts of
 * every attempt prepared with the successes that freed their slots, in one
 * transaction, and opens or withdraws each. Returns the slot waiting for
 * its start to be written, or NULL when the claim was dealt with here (a
 * malformed payload, a process that could not start). */
static job_run *prepare_attempt(supervisor *sv, sq_claim *c) {
  job_run *a = NULL;
  sq_job job;
  sq_err e;
  sq_errcode rc;

  if (!payload_ok(c, &job, &e)) {
    sq_err why = e;
    rc = ledger_start(sv, c, &e);
    if (rc == SQ_OK || rc == SQ_ENOT_FOUND)
      reject_claim(sv, c, rc == SQ_OK, &why);
    else
      start_refused(sv, c, rc, &e); /* e.g. the ledger is unreachable: later */
    sq_claim_free(c);
    return NULL;
  }
  if ((a = free_slot(sv)) == NULL) { /* fill_slots checked: cannot happen */
    (void)sq_queue_release(sv->queue, c->id, c->token, &e);
    sq_claim_free(c);
    return NULL;
  }
  a->busy = true;
  a->claim = *c;
  a->job = job;
  a->lease_lost = a->handed_back = a->timed_out = a->killed = a->withdrawn = false;
  a->started_ms = uv_now(sv->loop);
  a->held_m = c->vcpus_m > 0 ? c->vcpus_m : 1;
  sv->n_running++;
  sv->used_m += a->held_m;
  switch (send_attempt(sv, a)) {
  case SENT: return a;
  case SEND_FAILED: return NULL; /* withdrawn: its exit frees the slot */
  case NO_PROCESS: break;
  }
  /* Could not even start a process: a problem of this worker (its binary
   * gone in an upgrade, a descriptor or process limit), not of the job. The
   * job goes back unrun, its attempt not spent, and this worker backs off:
   * recording a failure here would fail every job it claims, one by one. */
  (void)sq_queue_release(sv->queue, a->claim.id, a->claim.token, &e);
  sq_err_set(&e, SQ_ECRASHED, "cannot start a job process (%s); the job goes back unrun",
             sv->opt->job_exe);
  pause_with(sv, &e, &sv->spawn_backoff_ms);
  a->busy = false;
  sq_claim_free(&a->claim);
  return NULL;
}

/* The ledger has answered for a prepared attempt: open it or withdraw it.
 * unreachable: the whole round failed (claims are paused already). */
static void start_recorded(supervisor *sv, job_run *a, const sq_ledger_step *s,
                           bool unreachable) {
  uint64_t renew_ms = (uint64_t)sv->cfg->lease_seconds * 1000 / 3;
  sq_err e = s->err;
  if (s->rc != SQ_OK) {
    /* Judged when the process is gone; no lease to renew. */
    a->withdrawn = true;
    if (unreachable)
      (void)sq_queue_release(sv->queue, a->claim.id, a->claim.token, &e);
    else
      start_refused(sv, &a->claim, s->rc, &e);
    kill_attempt(a, SIGKILL);
    return;
  }
  if (sq_job_process_send_go(&a->proc) != 0) kill_attempt(a, SIGKILL);
  SQ_LOG_JOB(SQ_LOG_INFO, a->claim.id, a->claim.attempt,
             "started: tenant %llu report %llu period %04d-%02d (pid %d)",
             (unsigned long long)a->job.tenant_id, (unsigned long long)a->job.report_id,
             a->job.period.year, a->job.period.month, sq_job_process_pid(&a->proc));
  uv_timer_start(&a->renew_timer, on_renew, renew_ms ? renew_ms : 1,
                 renew_ms ? renew_ms : 1);
  uv_timer_start(&a->timeout_timer, on_timeout,
                 (uint64_t)sv->cfg->attempt_timeout * 1000, 0);
}

/* One transaction for the successes waiting and the starts of the n
 * attempts just prepared (one commit, one redo-log flush, instead of one
 * per transition); then each attempt is opened or withdrawn, and Redis
 * hears of the successes. If the transaction fails for a passing reason
 * (the database out of reach, a deadlock: SQ_EDB_CONNECT), the starts are
 * withdrawn but the successes wait for a later round, their leases renewed
 * meanwhile (renew_waiting): their files are stored, and dropping them
 * would have the job retried, or failed for good as "worker lost" on its
 * last attempt. Any other error would fail every later round as well, and
 * a worker that is stopping cannot wait: then they are given up (their
 * leases expire; the ledger check repairs). */
static void ledger_round(supervisor *sv, size_t n_starting) {
  size_t n = 0, n_done = sv->n_done;
  sq_err e;
  sq_errcode rc;
  if (n_done + n_starting == 0) return;
  /* Successes alone wait out a backoff the ledger asked for. */
  if (n_starting == 0 && uv_now(sv->loop) < sv->pause_until_ms && !sv->stopping) return;
  SQ_DEBUG("ledger round: %zu success(es), %zu start(s) in one transaction", n_done,
           n_starting);
  for (size_t i = 0; i < n_done; i++) {
    const finished_run *d = &sv->done[i];
    sv->steps[n++] = (sq_ledger_step){.kind = SQ_STEP_SUCCEEDED, .job_id = d->claim.id,
                                      .attempt = d->claim.attempt, .token = d->claim.token,
                                      .worker = sv->worker_name, .output_key = d->key,
                                      .rows = d->rows, .again = d->sent};
  }
  for (size_t i = 0; i < n_starting; i++) {
    const job_run *a = sv->starting[i];
    sv->steps[n++] = (sq_ledger_step){.kind = SQ_STEP_START, .job_id = a->claim.id,
                                      .attempt = a->claim.attempt, .token = a->claim.token,
                                      .worker = sv->worker_name};
  }
  rc = ledger_steps(sv, sv->steps, n, &e);
  if (rc != SQ_OK) pause_claims(sv, &e); /* the ledger is unreachable */
  /* The started jobs' "go" first: a tiny job may already wait at its gate,
   * and Redis's acknowledgements need not come before it. */
  for (size_t i = 0; i < n_starting; i++)
    start_recorded(sv, sv->starting[i], &sv->steps[n_done + i], rc != SQ_OK);
  if (sq_error_is_temporary(rc) && !sv->stopping) {
    /* A lost connection: the commit may have landed with only its answer
     * lost, so next time these go "again" and a success already recorded
     * counts as done. Another passing error (a server turned read-only by
     * a failover, a procedure a migration is making again) rolled the
     * round back. Either way the successes wait for the next round. */
    if (rc == SQ_EDB_CONNECT)
      for (size_t i = 0; i < n_done; i++) sv->done[i].sent = true;
    SQ_WARN("%zu success(es) wait for the ledger: %s", n_done, e.msg);
    return;
  }
  sv->n_done = 0;
  for (size_t i = 0; i < n_done; i++) success_recorded(sv, &sv->done[i], &sv->steps[i]);
}

/* Keeps the leases of successes that wait for the ledger (ledger_round). */
static void renew_waiting(supervisor *sv) {
  uint64_t every_ms = (uint64_t)sv->cfg->lease_seconds * 1000 / 3, now = uv_now(sv->loop);
  for (size_t i = 0; i < sv->n_done; i++) {
    finished_run *d = &sv->done[i];
    sq_err e;
    if (now - d->renewed_ms < every_ms) continue;
    d->renewed_ms = now;
    if (sq_queue_renew(sv->queue, d->claim.id, d->claim.token,
                       sv->cfg->lease_seconds * 1000, &e) != SQ_OK)
      SQ_LOG_JOB(SQ_LOG_WARN, d->claim.id, d->claim.attempt,
                 "cannot renew the lease of a success waiting for the ledger: %s", e.msg);
  }
}

/* Claims while this worker has a free slot and spare vCPUs (the claim
 * script also checks the cluster's budget), sends each claimed job to its
 * slot's process, and ends with a ledger round. true if the cluster's
 * budget stopped the claims. */
static bool claim_and_prepare(supervisor *sv) {
  size_t n_starting = 0;
  bool full = false;
  while (!sv->stopping && free_slot(sv) != NULL &&
         sv->used_m < sv->capacity_m && uv_now(sv->loop) >= sv->pause_until_ms) {
    sq_claim c;
    sq_claim_result res;
    sq_err e;
    job_run *a;
    if (sq_queue_claim(sv->queue, sv->cfg->lease_seconds * 1000, sv->cfg->max_vcpus_m,
                       sv->capacity_m - sv->used_m, &c, &res, &e) != SQ_OK) {
      pause_claims(sv, &e);
      break;
    }
    sv->infra_backoff_ms = 0;
    if (res == SQ_CLAIM_FULL && !sv->budget_full_logged)
      SQ_DEBUG("cluster vCPU budget (%ld.%03ld) in use; waiting for a slot",
               sv->cfg->max_vcpus_m / 1000, sv->cfg->max_vcpus_m % 1000);
    sv->budget_full_logged = res == SQ_CLAIM_FULL;
    full = res == SQ_CLAIM_FULL;
    if (res != SQ_CLAIM_GOT) break;
    if ((a = prepare_attempt(sv, &c)) != NULL) sv->starting[n_starting++] = a;
  }
  ledger_round(sv, n_starting);
  return full;
}

static void fill_slots(supervisor *sv) {
  /* The round's successes gave their vCPUs back to the cluster only after
   * the claims (Redis hears of a success after the ledger): if the budget
   * stopped the claims, they may fit now. */
  bool freed = sv->n_done > 0;
  if (claim_and_prepare(sv) && freed) (void)claim_and_prepare(sv);
}

static void on_round(uv_check_t *h) {
  supervisor *sv = h->data;
  uv_check_stop(h);
  fill_slots(sv);
  maybe_finish(sv);
}

/* ---- periodic work, wake-ups, shutdown ---------------------------------- */

static void reap(supervisor *sv) {
  sq_reaped reaped[REAP_BATCH];
  size_t n = 0;
  sq_err e;
  sq_errcode rc;
  /* A lost claim's job is handed back while its key lasts (a lease), even
   * while claims are paused for longer. */
  (void)sq_queue_undo_lost_claim(sv->queue, &e);
  if (sq_queue_reap(sv->queue, sv->cfg->job_ttl, reaped, REAP_BATCH, &n, &e) != SQ_OK) {
    SQ_WARN("reaping expired leases failed: %s", e.msg);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    sq_reaped *r = &reaped[i];
    if (!r->failed) {
      SQ_LOG_JOB(SQ_LOG_WARN, r->id, r->attempt,
                 "lease expired (worker lost); job returned to the queue");
      LEDGER_RETRY(rc, sv, &e, sq_ledger_attempt_lost(sv->db, r->id, r->token, &e));
      if (rc != SQ_OK)
        SQ_LOG_JOB(SQ_LOG_WARN, r->id, r->attempt, "ledger not updated: %s", e.msg);
      continue;
    }
    SQ_LOG_JOB(SQ_LOG_ERROR, r->id, r->attempt,
               "lease expired on the last attempt; job failed for good");
    /* If this fails (database down), the ledger check finishes it later:
     * Redis now holds the job as failed. */
    LEDGER_RETRY(rc, sv, &e,
                 sq_ledger_fail_lost(sv->db, r->id, r->attempt, r->token,
                                     "worker lost (lease expired) on the last attempt", &e));
    if (rc != SQ_OK)
      SQ_LOG_JOB(SQ_LOG_WARN, r->id, r->attempt, "ledger not updated yet: %s", e.msg);
  }
}

static void close_all(supervisor *sv);

static void maybe_finish(supervisor *sv) {
  /* Successes still to be written: the round (on_round) comes back here. */
  if (sv->closing || sv->n_running > 0 || sv->n_done > 0) return;
  if (sv->stopping) {
    close_all(sv);
    return;
  }
  if (sv->opt->burst) {
    sq_queue_depth d;
    sq_err e;
    if (sq_queue_depth_get(sv->queue, &d, &e) == SQ_OK && d.ready == 0 &&
        d.delayed == 0 && d.active == 0) {
      SQ_INFO("queue drained; burst worker exiting");
      sv->stopping = true;
      close_all(sv);
    }
  }
}

/* The ledger is the source of truth: if Redis lost data (a restart without
 * persistence, a failover), put back what it lost. One indexed query and one
 * pipelined, idempotent submit of every unfinished job: cheap for one
 * worker, but N workers each doing it would read the ledger and resubmit
 * its whole backlog N times per interval, so the check takes a cluster-wide
 * turn and one worker per interval does it. A lost Redis loses the turn
 * too, so the next worker whose own interval is up checks; a failed check
 * gives the turn back. */
static void repair(supervisor *sv) {
  long interval_ms = (long)sv->cfg->ledger_check_interval * 1000;
  sq_repair_stats st;
  sq_err e;
  sq_errcode rc;
  bool mine;
  if (uv_now(sv->loop) < sv->next_repair_ms) return;
  sv->next_repair_ms = uv_now(sv->loop) + (uint64_t)interval_ms;
  if (sq_queue_take_turn(sv->queue, "ledger_check", interval_ms, &mine, &e) != SQ_OK) {
    SQ_WARN("ledger check skipped (will retry): %s", e.msg);
    sv->next_repair_ms = uv_now(sv->loop) + REPAIR_RETRY_MS;
    return;
  }
  if (!mine) {
    SQ_DEBUG("ledger check: another worker did it within the last %lds",
             (long)sv->cfg->ledger_check_interval);
    return;
  }
  auto_rerun(sv);
  LEDGER_RETRY(rc, sv, &e, sq_sync_repair(sv->db, sv->queue, sv->cfg->queue, &st, &e));
  if (rc != SQ_OK) {
    sq_err ignored;
    SQ_WARN("ledger check failed (will retry): %s", e.msg);
    /* The turn goes back, so that a tick (this worker's soon, or
     * another's) tries again instead of no one for a whole interval. */
    (void)sq_queue_give_turn(sv->queue, "ledger_check", &ignored);
    sv->next_repair_ms = uv_now(sv->loop) + REPAIR_RETRY_MS;
  }
  else if (st.requeued > 0 || st.finished > 0)
    SQ_WARN("ledger check: of %zu unfinished job(s), %zu were missing from redis "
            "(queued again) and %zu had failed there (failed in the ledger too)",
            st.unfinished, st.requeued, st.finished);
}

/* The automatic re-run policy (auto_rerun_delay): a job that failed for good
 * of a temporary cause (attempts used up during an outage longer than the
 * backoff) is cloned once, after the delay. Permanent failures are left for
 * a person. Workers may race here: the ledger's unique live job lets one
 * clone through and refuses the others. */
typedef struct auto_rerun_ctx {
  supervisor *sv;
  size_t n;
  char ids[100][SQ_ID_SIZE];
} auto_rerun_ctx;

static sq_errcode auto_rerun_one(void *ctx, const char *job_id, sq_errcode last) {
  auto_rerun_ctx *r = ctx;
  /* Collected now, cloned after the query: one connection, one statement. */
  if (!sq_retry_rules_allow(&r->sv->retry_rules, last) || r->n == 100) return SQ_OK;
  snprintf(r->ids[r->n++], SQ_ID_SIZE, "%s", job_id);
  return SQ_OK;
}

static void auto_rerun(supervisor *sv) {
  static auto_rerun_ctx r; /* loop thread only; too big for the stack */
  sq_err e;
  if (sv->cfg->auto_rerun_delay <= 0) return;
  r.sv = sv;
  r.n = 0;
  if (sq_ledger_auto_rerun_candidates(sv->db, sv->cfg->queue, sv->cfg->auto_rerun_delay,
                                      auto_rerun_one, &r, &e) != SQ_OK) {
    SQ_WARN("auto-rerun check failed: %s", e.msg);
    return;
  }
  for (size_t i = 0; i < r.n; i++) {
    char original[SQ_ID_SIZE];
    sq_job clone;
    size_t added;
    snprintf(original, sizeof original, "%s", r.ids[i]);
    if (sq_ledger_clone(sv->db, original, (int)sv->cfg->max_attempts, true, &clone, &e) != SQ_OK)
      continue; /* another worker got there first, or it changed meanwhile */
    if (sq_sync_push(sv->db, sv->queue, &clone, 1, &added, NULL, &e) != SQ_OK)
      SQ_LOG_JOB(SQ_LOG_WARN, clone.id, 0, "auto-rerun clone not queued yet (%s); "
                 "the ledger check will queue it", e.msg);
    else
      SQ_LOG_JOB(SQ_LOG_INFO, original, 0, "failed for good; re-run automatically as job %s",
                 clone.id);
  }
}

static void on_tick(uv_timer_t *t) {
  supervisor *sv = t->data;
  renew_waiting(sv);
  if (!sv->stopping) {
    repair(sv);
    reap(sv);
    fill_slots(sv);
  } else {
    ledger_round(sv, 0); /* successes still waiting: one last try */
  }
  maybe_finish(sv);
}

static void on_wake(uv_async_t *h) {
  fill_slots(h->data);
}

static void waiter_main(void *arg) {
  supervisor *sv = arg;
  sq_err e;
  sq_queue_waiter *w = sq_queue_waiter_open(sv->cfg->redis_url, sv->cfg->queue, &e);
  if (w == NULL) return; /* the tick still claims: only latency suffers */
  while (!atomic_load(&sv->waiter_stop)) {
    bool woken = false;
    if (sq_queue_wait(w, 1000, &woken, &e) != SQ_OK) {
      sq_sleep_ms(500);
      continue;
    }
    if (woken) uv_async_send(&sv->wake);
  }
  sq_queue_waiter_close(w);
}

static void hand_back_all(supervisor *sv, int sig) {
  for (int i = 0; i < sv->n_slots; i++) {
    job_run *a = &sv->slots[i];
    sq_err e;
    if (!a->busy || a->handed_back) continue;
    a->handed_back = true;
    kill_attempt(a, sig);
    if (sq_queue_release(sv->queue, a->claim.id, a->claim.token, &e) != SQ_OK)
      SQ_LOG_JOB(SQ_LOG_WARN, a->claim.id, a->claim.attempt,
                 "could not hand back (%s); its lease will expire", e.msg);
    else {
      sq_ledger_step step = failed_step(sv, &a->claim, false, SQ_ECANCELLED,
                                        "handed back unfinished at worker shutdown");
      (void)ledger_step(sv, &step, &e);
    }
  }
}

static void on_grace_over(uv_timer_t *t) {
  supervisor *sv = t->data;
  SQ_WARN("shutdown grace period over; handing back %d running job(s)", sv->n_running);
  hand_back_all(sv, SIGTERM);
}

static void on_signal(uv_signal_t *h, int signum) {
  supervisor *sv = h->data;
  if (!sv->stopping) {
    sv->stopping = true;
    SQ_INFO("%s: no new jobs; waiting up to %ld ms for %d running job(s)",
            strsignal(signum), sv->opt->shutdown_grace_ms, sv->n_running);
    uv_timer_start(&sv->grace_timer, on_grace_over,
                   (uint64_t)sv->opt->shutdown_grace_ms, 0);
    maybe_finish(sv);
  } else {
    SQ_WARN("%s again: handing back running jobs now", strsignal(signum));
    hand_back_all(sv, SIGKILL);
  }
}

static void close_all(supervisor *sv) {
  if (sv->closing) return;
  sv->closing = true;
  atomic_store(&sv->waiter_stop, true);
  /* Idle warm processes exit when their stdin closes; the loop runs until
   * they are gone. */
  for (int i = 0; i < sv->n_slots; i++) {
    job_run *a = &sv->slots[i];
    if (a->proc_state == PROC_WARM) retire_process(a);
    uv_close((uv_handle_t *)&a->renew_timer, NULL);
    /* A process still there keeps its kill timer until it is closed. */
    if (a->proc_state == PROC_NONE) uv_close((uv_handle_t *)&a->timeout_timer, NULL);
  }
  uv_close((uv_handle_t *)&sv->tick, NULL);
  uv_close((uv_handle_t *)&sv->grace_timer, NULL);
  uv_close((uv_handle_t *)&sv->wake, NULL);
  uv_close((uv_handle_t *)&sv->round_check, NULL);
  uv_close((uv_handle_t *)&sv->sigterm, NULL);
  uv_close((uv_handle_t *)&sv->sigint, NULL);
}

sq_errcode sq_supervisor_run(const sq_supervisor_options *opt, sq_err *err) {
  supervisor sv;
  sq_errcode rc = SQ_OK;
  char host[64] = "host", pid_s[16];
  char *job_args[] = {(char *)opt->job_exe, "run-job", "--serve", "--worker-pid", pid_s, NULL};
  bool thread_started = false;
  sq_err undo_err;

  memset(&sv, 0, sizeof sv);
  sv.opt = opt;
  sv.cfg = opt->cfg;
  sv.loop = uv_default_loop();
  gethostname(host, sizeof host - 1);
  snprintf(sv.worker_name, sizeof sv.worker_name, "%s:%d", host, (int)getpid());
  sv.capacity_m = opt->capacity_vcpus_m > 0 ? opt->capacity_vcpus_m : 1000;
  /* Without a cap, slots are bounded by the smallest job size (0.125). */
  sv.n_slots = opt->concurrency > 0 ? opt->concurrency : (int)(sv.capacity_m / 125);
  if (sv.n_slots > 256) sv.n_slots = 256;
  if (sv.n_slots < 1) sv.n_slots = 1;
  if ((rc = sq_retry_rules_parse(sv.cfg->retry_rules, &sv.retry_rules, err)) != SQ_OK)
    return rc;
  sv.slots = calloc((size_t)sv.n_slots, sizeof *sv.slots);
  sv.done = calloc((size_t)sv.n_slots, sizeof *sv.done);
  sv.starting = calloc((size_t)sv.n_slots, sizeof *sv.starting);
  sv.steps = calloc(2 * (size_t)sv.n_slots, sizeof *sv.steps);
  if (sv.slots == NULL || sv.done == NULL || sv.starting == NULL || sv.steps == NULL) {
    rc = sq_err_set(err, SQ_ENOMEM, "out of memory");
    goto out;
  }
  snprintf(pid_s, sizeof pid_s, "%d", (int)getpid());
  sv.job_args = job_args;
  /* A job process that dies leaves a closed pipe: writing to it must fail
   * with EPIPE, not kill the worker. */
  signal(SIGPIPE, SIG_IGN);

  sv.queue = sq_queue_open(sv.cfg->redis_url, sv.cfg->queue, 5000, err);
  if (sv.queue == NULL) {
    rc = err->code;
    goto out;
  }
  sq_queue_set_claimer(sv.queue, sv.worker_name, sv.capacity_m, sv.cfg->reserve_after * 1000L);
  if ((rc = sq_queue_check_server(sv.queue, err)) != SQ_OK) {
    /* Bad credentials will not heal by waiting: stop now. */
    if (!sq_error_is_temporary(rc)) goto out;
    SQ_WARN("redis not reachable yet (%s); will keep trying", err->msg);
  }
  rc = SQ_OK;
  /* Several statements per query: a ledger round is one round trip
   * (core/db_ledger.c, FENCED TRANSITIONS); READ COMMITTED, so that workers
   * writing neighbouring jobs do not deadlock (core/db.h). */
  sv.db = sq_db_open(sv.cfg->mysql_url, SQ_DB_MULTI_STATEMENTS | SQ_DB_READ_COMMITTED, err);
  if (sv.db == NULL) {
    rc = err->code;
    goto out;
  }
  /* Every start and end of an attempt calls the ledger's procedures: a
   * database that lacks them (not migrated) or an account that may not run
   * them would fail every job, so the worker does not start. */
  if ((rc = sq_ledger_check_procedures(sv.db, err)) != SQ_OK) {
    if (!sq_error_is_temporary(rc)) {
      sq_err why = *err; /* err->msg is rewritten below */
      sq_err_set(err, rc, "the ledger's procedures cannot be called (%.300s); run `sheetq "
                 "migrate` with an account that may create them, and grant EXECUTE on the "
                 "database to this one", why.msg);
      goto out;
    }
    SQ_WARN("cannot call the ledger's procedures yet (%s); jobs wait for the ledger",
            err->msg);
  }
  rc = SQ_OK;

  uv_timer_init(sv.loop, &sv.tick);
  uv_timer_init(sv.loop, &sv.grace_timer);
  uv_async_init(sv.loop, &sv.wake, on_wake);
  uv_check_init(sv.loop, &sv.round_check);
  sv.round_check.data = &sv;
  uv_signal_init(sv.loop, &sv.sigterm);
  uv_signal_init(sv.loop, &sv.sigint);
  sv.tick.data = sv.grace_timer.data = sv.wake.data = &sv;
  sv.sigterm.data = sv.sigint.data = &sv;
  uv_signal_start(&sv.sigterm, on_signal, SIGTERM);
  uv_signal_start(&sv.sigint, on_signal, SIGINT);
  uv_timer_start(&sv.tick, on_tick, 0, TICK_MS);
  for (int i = 0; i < sv.n_slots; i++) {
    job_run *a = &sv.slots[i];
    a->sv = &sv;
    uv_timer_init(sv.loop, &a->renew_timer);
    uv_timer_init(sv.loop, &a->timeout_timer);
    a->renew_timer.data = a->timeout_timer.data = a;
  }
  atomic_store(&sv.waiter_stop, false);
  if (uv_thread_create(&sv.waiter_thread, waiter_main, &sv) == 0)
    thread_started = true;

  SQ_INFO("worker %s started: queue %s, %ld.%03ld vCPUs (cluster budget %ld.%03ld), "
          "at most %d job(s) at once%s", sv.worker_name, sv.cfg->queue,
          sv.capacity_m / 1000, sv.capacity_m % 1000, sv.cfg->max_vcpus_m / 1000,
          sv.cfg->max_vcpus_m % 1000, sv.n_slots, opt->burst ? ", burst" : "");
  uv_run(sv.loop, UV_RUN_DEFAULT);
  SQ_INFO("worker %s stopped: %llu succeeded, %llu failed", sv.worker_name,
          (unsigned long long)sv.jobs_done, (unsigned long long)sv.jobs_failed);
  atomic_store(&sv.waiter_stop, true);
  if (thread_started) uv_thread_join(&sv.waiter_thread);
out:
  sq_db_close(sv.db);
  if (sv.queue != NULL && sq_queue_undo_lost_claim(sv.queue, &undo_err) != SQ_OK)
    SQ_WARN("a claim whose reply was lost is not undone (its job, if any, waits out "
            "its lease): %s", undo_err.msg);
  sq_queue_close(sv.queue);
  free(sv.slots);
  free(sv.done);
  free(sv.starting);
  free(sv.steps);
  if (uv_loop_alive(sv.loop) == 0) uv_loop_close(sv.loop);
  return rc;
}
