/* config.h - sheetq's one configuration struct.
 *
 * Every setting is a row of one table (key, environment variable, type,
 * default, bounds, help), after redis's static_configs[]. Values are applied
 * in this order, later winning: built-in default, the JSON config file
 * (--config FILE or SHEETQ_CONFIG), the environment, command-line flags
 * (--key-name VALUE). sq_config_validate() runs once, after all sources.
 */
#ifndef SQ_CONFIG_H
#define SQ_CONFIG_H

#include <stdbool.h>
#include <stdio.h>

#include "core/error.h"

typedef struct sq_config {
  char *mysql_url;
  char *redis_url;
  char *mysql_password_file; /* replaces mysql_url's password (core/conn_urls.h) */
  char *redis_password_file; /* replaces redis_url's password */
  char *mysql_ssl_mode; /* disabled, preferred, required, verify-ca, verify-identity */
  char *mysql_ssl_ca;   /* CA file for verify-ca / verify-identity */
  char *storage_url;
  char *queue;
  char *key_template;
  char *target_query; /* NULL: the built-in query */
  char *timezone;     /* tz database name for last-month (core/period.h) */
  char *rollout_groups; /* enqueue: enabled tenants.rollout_group values; NULL: all */
  char *tenant_allow;   /* enqueue: tenant ids always included (core/rollout.h) */
  char *tenant_deny;    /* enqueue: tenant ids never included; wins over allow */
  char *tmpdir;       /* NULL: $TMPDIR or /tmp */
  char *memory_tmpdir; /* small reports render here (exporter/scratch.h); "" or none: off */
  char *log_level;
  char *log_format;
  char *retry_rules; /* see core/retry_rules.h; NULL: by error class */
  long max_attempts;
  long lease_seconds;
  long attempt_timeout;
  long retry_backoff;
  long concurrency;
  long memory_tmpdir_max_mb; /* estimated scratch bound for memory_tmpdir; 0: off */
  long job_ttl;
  long auto_rerun_delay; /* seconds; 0: failed jobs are not re-run by themselves */
  long ledger_check_interval; /* seconds between a worker's ledger checks */
  long max_vcpus_m;    /* cluster budget, milli-vCPUs */
  long job_vcpus_m;    /* a job's default size, milli-vCPUs */
  long worker_vcpus_m; /* this worker's capacity; 0: its CPU count */
  char *job_vcpus_rule; /* bigger reports get more: see core/job_size.h */
  long reserve_after;   /* seconds passed over before room is held for a job; 0: never */
  char *slack_webhook_url;  /* secret; NULL: see slack_webhook_file */
  char *slack_webhook_file; /* file holding the URL; NULL: none */
  long slack_hold_seconds;  /* how long a failure may wait for others */
  char *metrics_addr;   /* worker: HOST:PORT of the Prometheus endpoint; NULL: off */
} sq_config;

/* SQ_CONF_VCPUS: a decimal with up to 3 places ("0.25"), stored as a long
 * in thousandths, so vCPU arithmetic is exact. Bounds are in thousandths. */
typedef enum sq_config_type { SQ_CONF_STR, SQ_CONF_INT, SQ_CONF_VCPUS } sq_config_type;

typedef struct sq_config_spec {
  const char *key;  /* config-file key; flag is --key with '_' as '-' */
  const char *env;  /* environment variable */
  sq_config_type type;
  size_t offset;
  const char *def;  /* default, as text; NULL for none */
  long min, max;    /* bounds for integers */
  bool secret;      /* may hold a password: never printed */
  const char *help;
} sq_config_spec;

/* The table, terminated by a row with key == NULL. */
extern const sq_config_spec sq_config_specs[];

/* Fills defaults. */
sq_errcode sq_config_init(sq_config *c, sq_err *err);
void sq_config_free(sq_config *c);
/* Applies a JSON object file; unknown keys and wrong types are errors. */
sq_errcode sq_config_load_file(sq_config *c, const char *path, sq_err *err);
/* Applies every SHEETQ_* variable that is set. */
sq_errcode sq_config_load_env(sq_config *c, sq_err *err);
/* Applies one value by key (config-file spelling) from any source. */
sq_errcode sq_config_set(sq_config *c, const char *key, const char *value,
                         sq_err *err);
const sq_config_spec *sq_config_find(const char *key);
/* Cross-field checks that only make sense once every source is applied. */
sq_errcode sq_config_validate(const sq_config *c, sq_err *err);
/* Parses "2", "0.25", "1.5" into thousandths; false if not such a number. */
bool sq_vcpus_parse(const char *s, long *milli);
/* Lists every key, its variable and default, for --help. */
void sq_config_print_keys(FILE *out);

#endif
