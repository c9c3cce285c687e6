/* leader_lease.h - "one of us at a time": a lease on one Redis key.
 *
 * Any number of processes compete for a named task (sending Slack
 * notifications); the one whose random token sits in the key does it. The
 * key is taken with SET NX PX and kept alive by renewing before it expires;
 * renewal and release compare the token first (in Lua, atomically), so a
 * holder that stalled past its lease can neither extend nor delete the
 * lease of the process that took over. A holder that dies simply stops
 * renewing and the lease passes on after ttl_ms.
 */
#ifndef SQ_LEADER_LEASE_H
#define SQ_LEADER_LEASE_H

#include <stdbool.h>

#include "core/error.h"

typedef struct sq_leader_lease sq_leader_lease;

/* key: the full Redis key, e.g. "sheetq:{monthly}:notifier". */
sq_leader_lease *sq_leader_lease_open(const char *redis_url, const char *key,
                                      long ttl_ms, sq_err *err);
/* Renews the lease if held, else tries to take it. *held says whether this
 * process holds it now. SQ_EREDIS (temporary) when Redis is unreachable:
 * then *held is false and the caller must not act as holder. */
sq_errcode sq_leader_lease_refresh(sq_leader_lease *l, bool *held, sq_err *err);
/* Gives the lease up if held (best effort), then closes. NULL is fine. */
void sq_leader_lease_close(sq_leader_lease *l);

#endif
