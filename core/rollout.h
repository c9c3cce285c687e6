/* rollout.h - which tenants `sheetq enqueue` may export: the staged rollout.
 *
 * A migration from another exporter moves tenants over group by group
 * (tenants.rollout_group), so that the old and the new system never export
 * the same report. Three settings decide, for each tenant the target query
 * returned:
 *   1. tenant_deny lists it      -> left out (always, whatever else says)
 *   2. tenant_allow lists it     -> exported, whatever its group
 *   3. rollout_groups is unset   -> exported (every group is enabled)
 *   4. its rollout_group is one of rollout_groups -> exported
 *   5. otherwise (another group, or no group)     -> left out
 * rollout_groups "none" enables no group: only allow-listed tenants go.
 *
 * Lists are comma-separated unsigned integers ("1,2,3", blanks allowed
 * around commas); an empty or unset list is empty. Pure; no I/O.
 */
#ifndef SQ_ROLLOUT_H
#define SQ_ROLLOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define SQ_ROLLOUT_MAX_IDS 10000

typedef struct sq_rollout {
  bool all_groups;  /* rollout_groups unset: no group filter */
  uint64_t *groups; /* enabled groups (none when n_groups is 0) */
  size_t n_groups;
  uint64_t *allow;
  size_t n_allow;
  uint64_t *deny;
  size_t n_deny;
} sq_rollout;

typedef enum sq_rollout_verdict {
  SQ_ROLLOUT_IN_GROUP = 0, /* exported: its group is enabled (or all are) */
  SQ_ROLLOUT_ALLOWED,      /* exported: on the allow-list */
  SQ_ROLLOUT_DENIED,       /* left out: on the deny-list */
  SQ_ROLLOUT_GROUP_OFF,    /* left out: its group is not enabled */
} sq_rollout_verdict;

/* Parses the three settings (each may be NULL). SQ_ECONFIG naming the
 * setting on a malformed list; SQ_ENOMEM. Free with sq_rollout_free(). */
sq_errcode sq_rollout_parse(const char *groups, const char *allow, const char *deny,
                            sq_rollout *out, sq_err *err);
void sq_rollout_free(sq_rollout *r);

/* True when a decision needs tenants' rollout_group (a group filter is set). */
bool sq_rollout_uses_groups(const sq_rollout *r);
/* Whether nothing is filtered at all (the default). */
bool sq_rollout_is_open(const sq_rollout *r);

/* The rule above for one tenant. has_group is false when the tenant's
 * rollout_group is unknown (NULL, or the tenant row is missing). */
sq_rollout_verdict sq_rollout_decide(const sq_rollout *r, uint64_t tenant_id,
                                     bool has_group, uint64_t group);
static inline bool sq_rollout_exports(sq_rollout_verdict v) {
  return v == SQ_ROLLOUT_IN_GROUP || v == SQ_ROLLOUT_ALLOWED;
}

#endif
