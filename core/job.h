/* job.h - the job model: what one export job is, its id, and the payload
 * that travels through Redis.
 *
 * A job is one (report, period). Its payload is a small JSON object; every
 * field is validated on the way in, because a payload may have been written
 * by another version of sheetq or by hand: a bad one is SQ_EBAD_JOB, which
 * fails the job permanently instead of crashing the worker.
 */
#ifndef SQ_JOB_H
#define SQ_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/period.h"

/* 'j' or 'b', 13 hex digits of milliseconds since the epoch, 10 random hex
 * digits: unique without coordination and sortable by creation time. */
#define SQ_ID_LEN 24
#define SQ_ID_SIZE (SQ_ID_LEN + 1)

typedef struct sq_job {
  char id[SQ_ID_SIZE];
  char batch_id[SQ_ID_SIZE];
  uint64_t tenant_id;
  uint64_t report_id;
  sq_period period;
  /* Scheduling, kept in the ledger and the Redis job hash, not the payload: */
  long vcpus_m; /* share of the cluster's vCPU budget, thousandths */
  bool urgent;  /* re-runs and on-demand exports go before the batch */
  int max_attempts;
  int attempts; /* already used (the ledger's count; 0 for a new job) */
} sq_job;

/* Makes a new id with the given prefix ('j' job, 'b' batch). */
sq_errcode sq_id_new(char prefix, char out[SQ_ID_SIZE]);
bool sq_id_valid(const char *id, char prefix);

/* Serialises the payload; caller frees with free(). NULL on no memory. */
char *sq_job_to_json(const sq_job *job);
/* Parses and validates a payload; SQ_EBAD_JOB with the reason otherwise. */
sq_errcode sq_job_from_json(const char *json, size_t len, sq_job *out,
                            sq_err *err);

#endif
