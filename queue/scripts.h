/* scripts.h - the Lua scripts that make each queue transition atomic.
 *
 * Every state change of a job in Redis is one script, so no transition can be
 * half-applied by a crash between two commands. Scripts are short and bounded
 * (they touch at most a fixed number of jobs per call), so Redis never
 * answers BUSY to other clients because of them. Lease deadlines use the
 * Redis server's TIME, never a worker's clock.
 */
#ifndef SQ_SCRIPTS_H
#define SQ_SCRIPTS_H

#include <stddef.h>

#include "core/error.h"
#include "queue/redis_conn.h"

typedef enum sq_script_id {
  SQ_SCRIPT_SUBMIT = 0,
  SQ_SCRIPT_CLAIM,
  SQ_SCRIPT_RENEW,
  SQ_SCRIPT_COMPLETE,
  SQ_SCRIPT_FAIL,
  SQ_SCRIPT_RELEASE,
  SQ_SCRIPT_REAP,
  SQ_SCRIPT_CANCEL,
  SQ_SCRIPT_FENCE_FLOOR,
  SQ_SCRIPT_DEPTH,
  SQ_SCRIPT_UNCLAIM,
  SQ_SCRIPT__COUNT
} sq_script_id;

/* The SHA1 of each script as loaded into a server. */
typedef struct sq_scripts {
  char sha[SQ_SCRIPT__COUNT][41];
} sq_scripts;

/* SCRIPT LOAD of every script (after connecting, and after NOSCRIPT). */
sq_errcode sq_scripts_load(sq_redis *r, sq_scripts *s, sq_err *err);

/* Builds the argv of "EVALSHA sha 1 route_key args..." into argv/argvlen
 * (capacity cap); returns argc or -1 when it does not fit. route_key is any
 * key of the queue: it only routes the call to the queue's cluster slot. */
int sq_scripts_argv(const sq_scripts *s, sq_script_id id, const char *route_key,
                    int nargs, const char **args, const char **argv,
                    size_t *argvlen, int cap);

/* Runs a script; reloads the scripts once on NOSCRIPT (a restarted server). */
sq_errcode sq_scripts_run(sq_redis *r, sq_scripts *s, sq_script_id id,
                          const char *route_key, int nargs, const char **args,
                          struct redisReply **reply, sq_err *err);

#endif
