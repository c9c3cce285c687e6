/* config.c - the configuration table and the sources that fill it. */
#include "core/config.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/job_size.h"
#include "core/retry_rules.h"
#include "core/rollout.h"

#define OFF(f) offsetof(sq_config, f)
#define CONFIG_FILE_MAX (1u << 20)

const sq_config_spec sq_config_specs[] = {
    {"mysql_url", "SHEETQ_MYSQL_URL", SQ_CONF_STR, OFF(mysql_url),
     "mysql://root@127.0.0.1:3306/sheetq", 0, 0, true,
     "database: mysql://user:pass@host:port/db or mysql://user@/db?socket=PATH"},
    {"redis_url", "SHEETQ_REDIS_URL", SQ_CONF_STR, OFF(redis_url),
     "redis://127.0.0.1:6379/0", 0, 0, true, "queue: redis://[[user]:password@]host:port/db"},
    {"mysql_password_file", "SHEETQ_MYSQL_PASSWORD_FILE", SQ_CONF_STR,
     OFF(mysql_password_file), NULL, 0, 0, false,
     "file holding the database password (replaces mysql_url's; also SHEETQ_MYSQL_PASSWORD)"},
    {"redis_password_file", "SHEETQ_REDIS_PASSWORD_FILE", SQ_CONF_STR,
     OFF(redis_password_file), NULL, 0, 0, false,
     "file holding the Redis password (replaces redis_url's; also SHEETQ_REDIS_PASSWORD)"},
    {"mysql_ssl_mode", "SHEETQ_MYSQL_SSL_MODE", SQ_CONF_STR, OFF(mysql_ssl_mode), NULL,
     0, 0, false, "TLS to the database: disabled, preferred, required, verify-ca, verify-identity"},
    {"mysql_ssl_ca", "SHEETQ_MYSQL_SSL_CA", SQ_CONF_STR, OFF(mysql_ssl_ca), NULL, 0, 0,
     false, "CA certificate file (PEM) for verify-ca and verify-identity"},
    {"storage_url", "SHEETQ_STORAGE_URL", SQ_CONF_STR, OFF(storage_url),
     "file:///var/lib/sheetq/exports", 0, 0, false,
     "where files go: file:///absolute/dir or s3://bucket/prefix"},
    {"queue", "SHEETQ_QUEUE", SQ_CONF_STR, OFF(queue), "default", 0, 0, false,
     "queue name (letters, digits, '-', '_', '.')"},
    {"key_template", "SHEETQ_KEY_TEMPLATE", SQ_CONF_STR, OFF(key_template),
     "{tenant_id}/{report_id}/{period}.xlsx", 0, 0, false,
     "object key; {tenant_id} {report_id} {period} {year} {month} {job_id}"},
    {"target_query", "SHEETQ_TARGET_QUERY", SQ_CONF_STR, OFF(target_query), NULL,
     0, 0, false, "SQL selecting tenant_id, report_id (see docs/configuration.md)"},
    {"timezone", "SHEETQ_TIMEZONE", SQ_CONF_STR, OFF(timezone), "Asia/Tokyo", 0, 0,
     false, "time zone of --period last-month (a tz database name)"},
    {"rollout_groups", "SHEETQ_ROLLOUT_GROUPS", SQ_CONF_STR, OFF(rollout_groups), NULL,
     0, 0, false, "tenants.rollout_group values enqueue exports: 1,2,3 or none (default: all)"},
    {"tenant_allow", "SHEETQ_TENANT_ALLOW", SQ_CONF_STR, OFF(tenant_allow), NULL, 0, 0,
     false, "tenant ids enqueue exports whatever their group: 7,12"},
    {"tenant_deny", "SHEETQ_TENANT_DENY", SQ_CONF_STR, OFF(tenant_deny), NULL, 0, 0,
     false, "tenant ids enqueue never exports (wins over tenant_allow)"},
    {"tmpdir", "SHEETQ_TMPDIR", SQ_CONF_STR, OFF(tmpdir), NULL, 0, 0, false,
     "scratch directory for rendering (default: next to file storage, or /tmp)"},
    {"memory_tmpdir", "SHEETQ_MEMORY_TMPDIR", SQ_CONF_STR, OFF(memory_tmpdir), "/dev/shm",
     0, 0, false, "memory file system where small reports render (\"none\": always on disk)"},
    {"memory_tmpdir_max_mb", "SHEETQ_MEMORY_TMPDIR_MAX_MB", SQ_CONF_INT,
     OFF(memory_tmpdir_max_mb), "16", 0, 1024, false,
     "largest estimated scratch (records x columns x 128 B) rendered in memory_tmpdir"},
    {"log_level", "SHEETQ_LOG_LEVEL", SQ_CONF_STR, OFF(log_level), "info", 0, 0,
     false, "debug, info, warn or error"},
    {"log_format", "SHEETQ_LOG_FORMAT", SQ_CONF_STR, OFF(log_format), "text", 0,
     0, false, "text or json"},
    {"max_attempts", "SHEETQ_MAX_ATTEMPTS", SQ_CONF_INT, OFF(max_attempts), "3",
     1, 10, false, "tries per job before it fails for good"},
    {"lease_seconds", "SHEETQ_LEASE_SECONDS", SQ_CONF_INT, OFF(lease_seconds),
     "30", 3, 3600, false, "a claimed job returns to the queue this long after its worker stops renewing"},
    {"attempt_timeout", "SHEETQ_ATTEMPT_TIMEOUT", SQ_CONF_INT,
     OFF(attempt_timeout), "1800", 60, 86400, false,
     "seconds one attempt may run before it is killed"},
    {"retry_backoff", "SHEETQ_RETRY_BACKOFF", SQ_CONF_INT, OFF(retry_backoff),
     "10", 0, 3600, false, "base delay in seconds before a retry (doubles each attempt, with jitter)"},
    {"retry_rules", "SHEETQ_RETRY_RULES", SQ_CONF_STR, OFF(retry_rules), NULL, 0,
     0, false, "which errors to retry: PATTERN=retry|fail,... (docs/failure-handling.md)"},
    {"concurrency", "SHEETQ_CONCURRENCY", SQ_CONF_INT, OFF(concurrency), "0", 0,
     256, false, "cap on jobs one worker runs at once (0: as many as fit in its vcpus)"},
    {"max_vcpus", "SHEETQ_MAX_VCPUS", SQ_CONF_VCPUS, OFF(max_vcpus_m), "40", 250,
     100000000, false, "vCPUs the whole cluster may use at once (all workers of a queue must agree)"},
    {"job_vcpus", "SHEETQ_JOB_VCPUS", SQ_CONF_VCPUS, OFF(job_vcpus_m), "2", 125,
     1000000, false, "vCPUs one job counts for (0.25, 0.5, 2, ...)"},
    {"job_vcpus_rule", "SHEETQ_JOB_VCPUS_RULE", SQ_CONF_STR, OFF(job_vcpus_rule), NULL,
     0, 0, false, "bigger reports count for more: RECORDS:VCPUS,... e.g. 100000:4,1000000:8"},
    {"reserve_after", "SHEETQ_RESERVE_AFTER", SQ_CONF_INT, OFF(reserve_after), "30", 0,
     86400, false, "seconds a job passed over for lack of room waits before room is held for it (0: never)"},
    {"vcpus", "SHEETQ_VCPUS", SQ_CONF_VCPUS, OFF(worker_vcpus_m), "0", 0, 1000000,
     false, "vCPUs this worker offers (0: its CPU count)"},
    {"auto_rerun_delay", "SHEETQ_AUTO_RERUN_DELAY", SQ_CONF_INT, OFF(auto_rerun_delay),
     "0", 0, 86400, false,
     "re-run a job that failed of a temporary cause once, this many seconds later (0: never)"},
    {"ledger_check_interval", "SHEETQ_LEDGER_CHECK_INTERVAL", SQ_CONF_INT,
     OFF(ledger_check_interval), "60", 1, 3600, false,
     "seconds between a worker's checks of the ledger (lost jobs, automatic re-runs)"},
    {"metrics_addr", "SHEETQ_METRICS_ADDR", SQ_CONF_STR, OFF(metrics_addr), NULL, 0, 0,
     false, "worker: serve Prometheus metrics at http://HOST:PORT/metrics (e.g. 127.0.0.1:9464)"},
    {"job_ttl", "SHEETQ_JOB_TTL", SQ_CONF_INT, OFF(job_ttl), "604800", 60,
     31536000, false, "seconds finished jobs stay visible in Redis"},
    {"slack_webhook_url", "SHEETQ_SLACK_WEBHOOK_URL", SQ_CONF_STR, OFF(slack_webhook_url),
     NULL, 0, 0, true, "Slack incoming-webhook URL for failure and batch notifications"},
    {"slack_webhook_file", "SHEETQ_SLACK_WEBHOOK_FILE", SQ_CONF_STR, OFF(slack_webhook_file),
     NULL, 0, 0, false, "a file holding the Slack webhook URL (instead of slack_webhook_url)"},
    {"slack_hold_seconds", "SHEETQ_SLACK_HOLD_SECONDS", SQ_CONF_INT, OFF(slack_hold_seconds),
     "30", 0, 3600, false,
     "failures wait up to this long to go out together (at once when their batch is done)"},
    {NULL, NULL, SQ_CONF_STR, 0, NULL, 0, 0, false, NULL},
};

const sq_config_spec *sq_config_find(const char *key) {
  for (const sq_config_spec *s = sq_config_specs; s->key; s++)
    if (strcmp(s->key, key) == 0) return s;
  return NULL;
}

static sq_errcode apply(sq_config *c, const sq_config_spec *s,
                        const char *value, const char *source, sq_err *err) {
  char *base = (char *)c;
  if (s->type == SQ_CONF_STR) {
    char **slot = (char **)(base + s->offset);
    char *copy = NULL;
    if (value && (copy = strdup(value)) == NULL)
      return sq_err_set(err, SQ_ENOMEM, "out of memory");
    free(*slot);
    *slot = copy;
    return SQ_OK;
  } else if (s->type == SQ_CONF_VCPUS) {
    long *slot = (long *)(base + s->offset), v;
    if (value == NULL || !sq_vcpus_parse(value, &v))
      return sq_err_set(err, SQ_ECONFIG, "%s: %s must be a number of vCPUs such as 2 or 0.25, not \"%.64s\"",
                        source, s->key, value ? value : "");
    if (v < s->min || v > s->max)
      return sq_err_set(err, SQ_ECONFIG, "%s: %s must be between %ld.%03ld and %ld.%03ld",
                        source, s->key, s->min / 1000, s->min % 1000, s->max / 1000, s->max % 1000);
    *slot = v;
    return SQ_OK;
  } else {
    long *slot = (long *)(base + s->offset);
    char *end = NULL;
    long v;
    errno = 0;
    v = strtol(value ? value : "", &end, 10);
    if (value == NULL || *value == '\0' || errno || *end != '\0')
      return sq_err_set(err, SQ_ECONFIG, "%s: %s must be a whole number, not \"%.64s\"",
                        source, s->key, value ? value : "");
    if (v < s->min || v > s->max)
      return sq_err_set(err, SQ_ECONFIG, "%s: %s must be between %ld and %ld, not %ld",
                        source, s->key, s->min, s->max, v);
    *slot = v;
    return SQ_OK;
  }
}

sq_errcode sq_config_init(sq_config *c, sq_err *err) {
  memset(c, 0, sizeof *c);
  for (const sq_config_spec *s = sq_config_specs; s->key; s++) {
    sq_errcode rc;
    if (s->def == NULL) continue;
    if ((rc = apply(c, s, s->def, "default", err)) != SQ_OK) return rc;
  }
  return SQ_OK;
}

void sq_config_free(sq_config *c) {
  if (c == NULL) return;
  for (const sq_config_spec *s = sq_config_specs; s->key; s++) {
    if (s->type == SQ_CONF_STR) {
      char **slot = (char **)((char *)c + s->offset);
      free(*slot);
      *slot = NULL;
    }
  }
}

sq_errcode sq_config_set(sq_config *c, const char *key, const char *value,
                         sq_err *err) {
  const sq_config_spec *s = sq_config_find(key);
  if (s == NULL)
    return sq_err_set(err, SQ_ECONFIG, "unknown setting \"%.64s\"", key);
  return apply(c, s, value, "setting", err);
}

static sq_errcode read_file(const char *path, char **out, sq_err *err) {
  FILE *f = fopen(path, "rb");
  sq_errcode rc = SQ_ECONFIG;
  char *text = NULL;
  size_t len;
  if (f == NULL)
    return sq_err_set(err, SQ_ECONFIG, "cannot open config file %s: %s", path,
                      strerror(errno));
  text = malloc(CONFIG_FILE_MAX + 1);
  if (text == NULL) {
    rc = sq_err_set(err, SQ_ENOMEM, "out of memory");
    goto out;
  }
  len = fread(text, 1, CONFIG_FILE_MAX + 1, f);
  if (ferror(f)) {
    sq_err_set(err, SQ_ECONFIG, "cannot read config file %s: %s", path, strerror(errno));
    goto out;
  }
  if (len > CONFIG_FILE_MAX) {
    sq_err_set(err, SQ_ECONFIG, "config file %s is larger than 1 MiB", path);
    goto out;
  }
  text[len] = '\0';
  *out = text;
  text = NULL;
  rc = SQ_OK;
out:
  free(text);
  fclose(f);
  return rc;
}

sq_errcode sq_config_load_file(sq_config *c, const char *path, sq_err *err) {
  char *text = NULL;
  cJSON *root = NULL, *item;
  sq_errcode rc = read_file(path, &text, err);
  if (rc != SQ_OK) return rc;
  rc = SQ_ECONFIG;
  root = cJSON_Parse(text);
  if (root == NULL || !cJSON_IsObject(root)) {
    sq_err_set(err, SQ_ECONFIG, "config file %s is not a JSON object", path);
    goto out;
  }
  cJSON_ArrayForEach(item, root) {
    const sq_config_spec *s = sq_config_find(item->string);
    char num[32];
    const char *value;
    if (s == NULL) {
      sq_err_set(err, SQ_ECONFIG, "config file %s: unknown setting \"%.64s\"", path,
                 item->string);
      goto out;
    }
    if (s->type == SQ_CONF_STR && cJSON_IsString(item)) {
      value = item->valuestring;
    } else if (s->type == SQ_CONF_INT && cJSON_IsNumber(item) &&
               item->valuedouble == (double)(long)item->valuedouble) {
      snprintf(num, sizeof num, "%ld", (long)item->valuedouble);
      value = num;
    } else if (s->type == SQ_CONF_VCPUS && (cJSON_IsNumber(item) || cJSON_IsString(item))) {
      if (cJSON_IsString(item))
        value = item->valuestring;
      else {
        snprintf(num, sizeof num, "%.3f", item->valuedouble);
        value = num;
      }
    } else if (cJSON_IsNull(item) && s->def == NULL) {
      value = NULL;
    } else {
      sq_err_set(err, SQ_ECONFIG, "config file %s: %s must be a %s", path, s->key,
                 s->type == SQ_CONF_STR ? "string" : "whole number");
      goto out;
    }
    if ((rc = apply(c, s, value, path, err)) != SQ_OK) goto out;
    rc = SQ_ECONFIG;
  }
  rc = SQ_OK;
out:
  cJSON_Delete(root);
  free(text);
  return rc;
}

sq_errcode sq_config_load_env(sq_config *c, sq_err *err) {
  for (const sq_config_spec *s = sq_config_specs; s->key; s++) {
    const char *v = getenv(s->env);
    sq_errcode rc;
    if (v == NULL) continue;
    if ((rc = apply(c, s, v, s->env, err)) != SQ_OK) return rc;
  }
  return SQ_OK;
}

static bool queue_name_ok(const char *q) {
  size_t n = strlen(q);
  if (n == 0 || n > 64) return false;
  for (size_t i = 0; i < n; i++) {
    char ch = q[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
          (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.'))
      return false;
  }
  return true;
}

sq_errcode sq_config_validate(const sq_config *c, sq_err *err) {
  sq_log_level lvl;
  if (!queue_name_ok(c->queue))
    return sq_err_set(err, SQ_ECONFIG,
                      "queue name \"%.64s\" must be 1-64 letters, digits, '-', '_' or '.'",
                      c->queue);
  if (!sq_log_level_parse(c->log_level, &lvl))
    return sq_err_set(err, SQ_ECONFIG, "log_level must be debug, info, warn or error");
  if (strcmp(c->log_format, "text") != 0 && strcmp(c->log_format, "json") != 0)
    return sq_err_set(err, SQ_ECONFIG, "log_format must be text or json");
  {
    sq_rollout rollout;
    sq_errcode rc = sq_rollout_parse(c->rollout_groups, c->tenant_allow, c->tenant_deny,
                                     &rollout, err);
    if (rc != SQ_OK) return rc;
    sq_rollout_free(&rollout);
  }
  {
    sq_retry_rules rules;
    sq_job_size_rule size;
    sq_errcode rc = sq_retry_rules_parse(c->retry_rules, &rules, err);
    if (rc != SQ_OK) return rc;
    if ((rc = sq_job_size_rule_parse(c->job_vcpus_rule, &size, err)) != SQ_OK) return rc;
    for (int i = 0; i < size.n; i++)
      if (size.steps[i].vcpus_m > c->max_vcpus_m)
        return sq_err_set(err, SQ_ECONFIG, "job_vcpus_rule gives a job more vCPUs than max_vcpus");
  }
  if (c->slack_webhook_url && c->slack_webhook_file)
    return sq_err_set(err, SQ_ECONFIG, "set slack_webhook_url or slack_webhook_file, not both");
  /* The URL is a secret: the message never quotes it. */
  if (c->slack_webhook_url && strncmp(c->slack_webhook_url, "https://", 8) != 0 &&
      strncmp(c->slack_webhook_url, "http://", 7) != 0)
    return sq_err_set(err, SQ_ECONFIG, "slack_webhook_url must start with https://");
  if (c->job_vcpus_m > c->max_vcpus_m)
    return sq_err_set(err, SQ_ECONFIG, "job_vcpus (%ld.%03ld) exceeds max_vcpus (%ld.%03ld): "
                      "no job could ever start", c->job_vcpus_m / 1000, c->job_vcpus_m % 1000,
                      c->max_vcpus_m / 1000, c->max_vcpus_m % 1000);
  return SQ_OK;
}

bool sq_vcpus_parse(const char *s, long *milli) {
  long whole = 0, frac = 0;
  int places = 0;
  const char *p = s;
  if (p == NULL || *p == '\0') return false;
  for (; *p >= '0' && *p <= '9'; p++) {
    whole = whole * 10 + (*p - '0');
    if (whole > 100000000) return false;
  }
  if (*p == '.') {
    for (p++; *p >= '0' && *p <= '9'; p++) {
      if (++places > 3) return false;
      frac = frac * 10 + (*p - '0');
    }
    if (places == 0) return false;
  }
  if (*p != '\0' || p == s) return false;
  while (places++ < 3) frac *= 10;
  *milli = whole * 1000 + frac;
  return true;
}

void sq_config_print_keys(FILE *out) {
  fprintf(out, "Settings (flag / environment variable / default):\n");
  for (const sq_config_spec *s = sq_config_specs; s->key; s++) {
    char flag[64];
    size_t i;
    for (i = 0; s->key[i] && i < sizeof flag - 1; i++)
      flag[i] = s->key[i] == '_' ? '-' : s->key[i];
    flag[i] = '\0';
    fprintf(out, "  --%-18s %-24s %s\n", flag, s->env,
            s->secret ? "(see docs; may hold a secret)" : (s->def ? s->def : "(none)"));
    fprintf(out, "  %-20s   %s\n", "", s->help);
  }
}
