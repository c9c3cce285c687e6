/* object_key.h - where an export is stored: the object key template.
 *
 * Operators configure a template such as the default
 * "{tenant_id}/{report_id}/{period}.xlsx". Variables:
 *   {tenant_id} {report_id}  decimal ids
 *   {period}                 "YYYY-MM"
 *   {year} {month}           "YYYY", "MM"
 *   {job_id}                 the job's id (validated by the queue)
 * Literal text may use only A-Z a-z 0-9 and - _ . = + /; there is no brace
 * escape. A template must make keys unique per export, or one tenant's file
 * would replace another's: it must name {report_id} and the month ({period},
 * or {year} and {month}), or name {job_id}.
 *
 * A key is valid when it is 1..SQ_OBJECT_KEY_MAX-1 bytes, does not start with
 * "/", has no empty, "." or ".." segment, and holds no backslash or control
 * character. Expansion checks its result, so no input can make a key that
 * leaves the storage prefix. Pure, no allocation.
 */
#ifndef SQ_OBJECT_KEY_H
#define SQ_OBJECT_KEY_H

#include <stdint.h>

#include "core/error.h"
#include "core/period.h"

#define SQ_OBJECT_KEY_DEFAULT_TEMPLATE "{tenant_id}/{report_id}/{period}.xlsx"
/* Buffer size for a key, NUL included (S3 keys are at most 1024 bytes). */
#define SQ_OBJECT_KEY_MAX 1024

typedef struct sq_object_key_vars {
  uint64_t tenant_id;
  uint64_t report_id;
  sq_period period;
  const char *job_id; /* may be NULL when the template does not use it */
} sq_object_key_vars;

/* Validates a template for config loading. SQ_ECONFIG with a message naming
 * the problem (unknown variable, unbalanced brace, bad character, keys not
 * unique per export, or an invalid key shape such as "a//b"). */
sq_errcode sq_object_key_template_check(const char *tmpl, sq_err *err);

/* Expands tmpl into out. SQ_ECONFIG if the template is invalid (as above);
 * SQ_EINVAL if the result is not a valid key (e.g. a job id holding "..") or
 * {job_id} is used with a NULL job_id. out is "" on failure. */
sq_errcode sq_object_key_expand(const char *tmpl, const sq_object_key_vars *vars,
                                char out[SQ_OBJECT_KEY_MAX], sq_err *err);

/* Validates a finished key (rules above); SQ_EINVAL with a message. */
sq_errcode sq_object_key_check(const char *key, sq_err *err);

#endif
