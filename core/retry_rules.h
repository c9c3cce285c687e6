/* retry_rules.h - which failed attempts are retried, as data.
 *
 * Like AWS Batch's evaluateOnExit: an ordered list of rules, each a pattern
 * over the error's name (core/error.h: "db_connect", "storage_full",
 * "crashed", ...; a trailing '*' matches any suffix) and an action, "retry"
 * or "fail". The first rule that matches decides; when none matches, the
 * error's own class decides (temporary: retry, permanent: fail). A retry
 * still needs attempts left.
 *
 * Text form (config key retry_rules): "storage_*=retry,crashed=fail".
 */
#ifndef SQ_RETRY_RULES_H
#define SQ_RETRY_RULES_H

#include <stdbool.h>

#include "core/error.h"

#define SQ_RETRY_RULES_MAX 16

typedef struct sq_retry_rule {
  char pattern[32];
  bool prefix; /* pattern ended in '*' */
  bool retry;
} sq_retry_rule;

typedef struct sq_retry_rules {
  sq_retry_rule rules[SQ_RETRY_RULES_MAX];
  int n;
} sq_retry_rules;

/* NULL or "" gives no rules. SQ_ECONFIG naming the bad rule otherwise. */
sq_errcode sq_retry_rules_parse(const char *text, sq_retry_rules *out,
                                sq_err *err);
/* Whether an attempt that failed with code may be tried again. */
bool sq_retry_rules_allow(const sq_retry_rules *rules, sq_errcode code);

#endif
