/* rollout.c - see rollout.h. Lists are kept sorted and unique, so that
 * deciding for every target of a batch stays cheap even with the largest
 * lists (SQ_ROLLOUT_MAX_IDS). */
#include "core/rollout.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/db.h"

static int id_cmp(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static bool contains(const uint64_t *v, size_t n, uint64_t x) {
  return n > 0 && bsearch(&x, v, n, sizeof *v, id_cmp) != NULL;
}

/* "1, 2,3" -> {1,2,3}; NULL or "" -> empty. */
static sq_errcode parse_list(const char *key, const char *s, uint64_t **out, size_t *n,
                             sq_err *err) {
  uint64_t *v = NULL;
  size_t len = 0;
  *out = NULL;
  *n = 0;
  if (s == NULL) return SQ_OK;
  while (isspace((unsigned char)*s)) s++;
  if (*s == '\0') return SQ_OK;
  if ((v = calloc(SQ_ROLLOUT_MAX_IDS, sizeof *v)) == NULL)
    return sq_err_set(err, SQ_ENOMEM, "out of memory");
  for (;;) {
    const char *start, *end;
    uint64_t id;
    while (isspace((unsigned char)*s)) s++;
    start = s;
    while (*s >= '0' && *s <= '9') s++;
    end = s;
    while (isspace((unsigned char)*s)) s++;
    if (start == end || !sq_parse_u64(start, (size_t)(end - start), &id) ||
        (*s != ',' && *s != '\0')) {
      free(v);
      return sq_err_set(err, SQ_ECONFIG,
                        "%s must be a comma-separated list of ids such as 1,2,3, "
                        "not \"%.64s\"", key, start);
    }
    if (len == SQ_ROLLOUT_MAX_IDS) {
      free(v);
      return sq_err_set(err, SQ_ECONFIG, "%s lists more than %d ids", key,
                        SQ_ROLLOUT_MAX_IDS);
    }
    v[len++] = id;
    if (*s == '\0') break;
    s++; /* the comma */
  }
  qsort(v, len, sizeof *v, id_cmp);
  *n = 0;
  for (size_t i = 0; i < len; i++) /* drop repeats */
    if (*n == 0 || v[i] != v[*n - 1]) v[(*n)++] = v[i];
  *out = v;
  return SQ_OK;
}

void sq_rollout_free(sq_rollout *r) {
  if (r == NULL) return;
  free(r->groups);
  free(r->allow);
  free(r->deny);
  memset(r, 0, sizeof *r);
}

sq_errcode sq_rollout_parse(const char *groups, const char *allow, const char *deny,
                            sq_rollout *out, sq_err *err) {
  sq_rollout r;
  sq_errcode rc;
  memset(&r, 0, sizeof r);
  memset(out, 0, sizeof *out);
  r.all_groups = groups == NULL || groups[0] == '\0';
  /* Blank is not unset: read as a list it would enable no group, read as
   * unset every group; a templating slip must not pick either silently. */
  if (!r.all_groups && groups[strspn(groups, " \t\r\n")] == '\0') {
    rc = sq_err_set(err, SQ_ECONFIG,
                    "rollout_groups is blank: leave it unset to export every group, "
                    "or set it to none or to a list such as 1,2,3");
    goto fail;
  }
  if (groups && strcmp(groups, "none") != 0 &&
      (rc = parse_list("rollout_groups", groups, &r.groups, &r.n_groups, err)) != SQ_OK)
    goto fail;
  if ((rc = parse_list("tenant_allow", allow, &r.allow, &r.n_allow, err)) != SQ_OK ||
      (rc = parse_list("tenant_deny", deny, &r.deny, &r.n_deny, err)) != SQ_OK)
    goto fail;
  *out = r;
  return SQ_OK;
fail:
  sq_rollout_free(&r);
  return rc;
}

bool sq_rollout_uses_groups(const sq_rollout *r) { return !r->all_groups; }

bool sq_rollout_is_open(const sq_rollout *r) {
  return r->all_groups && r->n_deny == 0;
}

sq_rollout_verdict sq_rollout_decide(const sq_rollout *r, uint64_t tenant_id,
                                     bool has_group, uint64_t group) {
  if (contains(r->deny, r->n_deny, tenant_id)) return SQ_ROLLOUT_DENIED;
  if (contains(r->allow, r->n_allow, tenant_id)) return SQ_ROLLOUT_ALLOWED;
  if (r->all_groups) return SQ_ROLLOUT_IN_GROUP;
  if (has_group && contains(r->groups, r->n_groups, group)) return SQ_ROLLOUT_IN_GROUP;
  return SQ_ROLLOUT_GROUP_OFF;
}
