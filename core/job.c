/* job.c - job ids and the payload codec. */
#include "core/job.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

sq_errcode sq_id_new(char prefix, char out[SQ_ID_SIZE]) {
  struct timespec ts;
  unsigned char rnd[5];
  unsigned long long ms;
  ssize_t n;
  clock_gettime(CLOCK_REALTIME, &ts);
  ms = (unsigned long long)ts.tv_sec * 1000ull + (unsigned long long)ts.tv_nsec / 1000000ull;
  do {
    n = getrandom(rnd, sizeof rnd, 0);
  } while (n < 0 && errno == EINTR);
  if (n != (ssize_t)sizeof rnd) return SQ_EIO;
  snprintf(out, SQ_ID_SIZE, "%c%013llx%02x%02x%02x%02x%02x", prefix, ms & 0xfffffffffffffull,
           rnd[0], rnd[1], rnd[2], rnd[3], rnd[4]);
  return SQ_OK;
}

bool sq_id_valid(const char *id, char prefix) {
  if (id == NULL || strlen(id) != SQ_ID_LEN || id[0] != prefix) return false;
  for (int i = 1; i < SQ_ID_LEN; i++) {
    char c = id[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

char *sq_job_to_json(const sq_job *job) {
  char period[SQ_PERIOD_STR_LEN], tenant[24], report[24];
  cJSON *o = cJSON_CreateObject();
  char *text = NULL;
  if (o == NULL) return NULL;
  sq_period_format(job->period, period);
  /* Ids are BIGINT UNSIGNED: as strings, because a JSON number (a double)
   * cannot hold every 64-bit value. */
  snprintf(tenant, sizeof tenant, "%llu", (unsigned long long)job->tenant_id);
  snprintf(report, sizeof report, "%llu", (unsigned long long)job->report_id);
  if (cJSON_AddNumberToObject(o, "v", 1) && cJSON_AddStringToObject(o, "id", job->id) &&
      cJSON_AddStringToObject(o, "batch", job->batch_id) &&
      cJSON_AddStringToObject(o, "tenant", tenant) &&
      cJSON_AddStringToObject(o, "report", report) &&
      cJSON_AddStringToObject(o, "period", period))
    text = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  return text;
}

static bool get_u64(const cJSON *o, const char *key, uint64_t *out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  char *end = NULL;
  unsigned long long x;
  if (!cJSON_IsString(v) || v->valuestring[0] < '0' || v->valuestring[0] > '9')
    return false;
  errno = 0;
  x = strtoull(v->valuestring, &end, 10);
  if (errno || *end != '\0' || x == 0) return false;
  *out = x;
  return true;
}

static bool get_id(const cJSON *o, const char *key, char prefix, char out[SQ_ID_SIZE]) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  if (!cJSON_IsString(v) || !sq_id_valid(v->valuestring, prefix)) return false;
  memcpy(out, v->valuestring, SQ_ID_SIZE);
  return true;
}

sq_errcode sq_job_from_json(const char *json, size_t len, sq_job *out,
                            sq_err *err) {
  cJSON *o = cJSON_ParseWithLength(json, len);
  const cJSON *v, *period;
  sq_errcode rc = SQ_EBAD_JOB;
  sq_job job;
  memset(&job, 0, sizeof job);
  if (o == NULL || !cJSON_IsObject(o)) {
    sq_err_set(err, SQ_EBAD_JOB, "job payload is not a JSON object (%zu bytes)", len);
    goto out;
  }
  v = cJSON_GetObjectItemCaseSensitive(o, "v");
  if (!cJSON_IsNumber(v) || v->valuedouble != 1) {
    sq_err_set(err, SQ_EBAD_JOB, "job payload has no supported version (\"v\": 1)");
    goto out;
  }
  if (!get_id(o, "id", 'j', job.id)) {
    sq_err_set(err, SQ_EBAD_JOB, "job payload: missing or invalid \"id\"");
    goto out;
  }
  if (!get_id(o, "batch", 'b', job.batch_id)) {
    sq_err_set(err, SQ_EBAD_JOB, "job payload: missing or invalid \"batch\"");
    goto out;
  }
  if (!get_u64(o, "tenant", &job.tenant_id) || !get_u64(o, "report", &job.report_id)) {
    sq_err_set(err, SQ_EBAD_JOB, "job payload: \"tenant\" and \"report\" must be positive decimal strings");
    goto out;
  }
  period = cJSON_GetObjectItemCaseSensitive(o, "period");
  if (!cJSON_IsString(period)) {
    sq_err_set(err, SQ_EBAD_JOB, "job payload: missing \"period\"");
    goto out;
  }
  if (sq_period_parse(period->valuestring, &job.period, err) != SQ_OK) {
    if (err) err->code = SQ_EBAD_JOB;
    goto out;
  }
  *out = job;
  rc = SQ_OK;
out:
  cJSON_Delete(o);
  return rc;
}
