/* job_size.h - how many vCPUs a job counts for in the cluster budget.
 *
 * Every job counts for job_vcpus by default. A rule can give bigger reports
 * more, by the number of records in the period: "100000:4,1000000:8" means
 * reports with at least 100,000 records count for 4 vCPUs, with at least
 * 1,000,000 for 8. So a million-row report and fifty small ones share the
 * budget honestly. All sizes are in thousandths of a vCPU.
 */
#ifndef SQ_JOB_SIZE_H
#define SQ_JOB_SIZE_H

#include <stdint.h>

#include "core/error.h"

#define SQ_JOB_SIZE_STEPS_MAX 16

typedef struct sq_job_size_rule {
  struct {
    uint64_t min_records;
    long vcpus_m;
  } steps[SQ_JOB_SIZE_STEPS_MAX]; /* ascending by min_records */
  int n;
} sq_job_size_rule;

/* NULL or "" gives an empty rule. SQ_ECONFIG on a malformed rule. */
sq_errcode sq_job_size_rule_parse(const char *text, sq_job_size_rule *out,
                                  sq_err *err);
/* The job's size: the step with the largest min_records <= records, or
 * default_m when none applies. */
long sq_job_size_vcpus(const sq_job_size_rule *rule, uint64_t records,
                       long default_m);

#endif
