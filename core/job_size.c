/* job_size.c - see job_size.h. */
#include "core/job_size.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"

sq_errcode sq_job_size_rule_parse(const char *text, sq_job_size_rule *out,
                                  sq_err *err) {
  const char *p = (text && *text) ? text : NULL;
  memset(out, 0, sizeof *out);
  while (p) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    char step[64], *colon, *e;
    unsigned long long records;
    long v;
    if (len == 0 || len >= sizeof step)
      return sq_err_set(err, SQ_ECONFIG, "job_vcpus_rule: empty or overlong step");
    memcpy(step, p, len);
    step[len] = '\0';
    colon = strchr(step, ':');
    if (colon == NULL || step[0] < '0' || step[0] > '9')
      return sq_err_set(err, SQ_ECONFIG, "job_vcpus_rule: \"%s\" is not RECORDS:VCPUS", step);
    *colon = '\0';
    errno = 0;
    records = strtoull(step, &e, 10);
    if (errno || *e != '\0' || !sq_vcpus_parse(colon + 1, &v) || v <= 0)
      return sq_err_set(err, SQ_ECONFIG, "job_vcpus_rule: \"%s:%s\" is not RECORDS:VCPUS",
                        step, colon + 1);
    if (out->n == SQ_JOB_SIZE_STEPS_MAX)
      return sq_err_set(err, SQ_ECONFIG, "job_vcpus_rule: at most %d steps", SQ_JOB_SIZE_STEPS_MAX);
    if (out->n > 0 && records <= out->steps[out->n - 1].min_records)
      return sq_err_set(err, SQ_ECONFIG, "job_vcpus_rule: record counts must ascend");
    out->steps[out->n].min_records = records;
    out->steps[out->n].vcpus_m = v;
    out->n++;
    p = end ? end + 1 : NULL;
  }
  return SQ_OK;
}

long sq_job_size_vcpus(const sq_job_size_rule *rule, uint64_t records,
                       long default_m) {
  long v = default_m;
  for (int i = 0; rule && i < rule->n; i++)
    if (records >= rule->steps[i].min_records) v = rule->steps[i].vcpus_m;
  return v;
}
