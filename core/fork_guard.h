/* fork_guard.h - hiredis 0.14 and MariaDB Connector/C open their sockets
 * without close-on-exec, and sheetq sets the flag right after the connect.
 * A job process spawned from the loop thread in between (while the waiter or
 * notifier thread connects) would still inherit the socket. Connecting-then-flagging and spawning both
 * hold this lock, so neither happens inside the other. The price: while a
 * connect waits (up to its timeout, 2 s for Redis and 5 s for MariaDB, when the server is unreachable), a spawn
 * waits too. */
#ifndef SQ_FORK_GUARD_H
#define SQ_FORK_GUARD_H

void sq_fork_guard_lock(void);
void sq_fork_guard_unlock(void);

#endif
