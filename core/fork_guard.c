/* fork_guard.c - see fork_guard.h. */
#include "core/fork_guard.h"

#include <pthread.h>

static pthread_mutex_t guard = PTHREAD_MUTEX_INITIALIZER;

void sq_fork_guard_lock(void) { pthread_mutex_lock(&guard); }

void sq_fork_guard_unlock(void) { pthread_mutex_unlock(&guard); }
