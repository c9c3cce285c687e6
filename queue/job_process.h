/* job_process.h - one warm job process: a child `sheetq run-job --serve`
 * that a worker keeps between jobs, fed one request line at a time on its
 * stdin and answering with one result line each on its stdout.
 *
 * Why warm: starting a process, linking libcurl and OpenSSL and opening a
 * MariaDB connection cost ~10 ms, more than rendering a small report; a warm
 * process pays them once per many jobs. Why still a process: a job that
 * crashes, leaks or hangs takes down its own process, never the worker.
 *
 * The struct is embedded in the caller's memory (libuv style) and must stay
 * put from spawn until on_closed. Lifetime:
 *   spawn -> send / result lines ... -> (exit | kill | retire) -> on_gone
 *   -> on_closed, after which the struct may be spawned again.
 * on_gone comes once the process has exited AND its output is drained, so
 * every result line it printed has been delivered first. All callbacks run
 * on the loop thread. */
#ifndef SQ_JOB_PROCESS_H
#define SQ_JOB_PROCESS_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "core/buf.h"

#define SQ_JOB_PROCESS_REQUEST_MAX 512

typedef struct sq_job_process sq_job_process;

typedef struct sq_job_process_events {
  /* One line the process printed (without its '\n'; NUL-terminated). */
  void (*on_line)(sq_job_process *p, const char *line, size_t len);
  /* The process is gone: exit status, or the signal that ended it. */
  void (*on_gone)(sq_job_process *p, int64_t exit_status, int term_signal);
  /* Every handle is closed: the struct is free again. */
  void (*on_closed)(sq_job_process *p);
} sq_job_process_events;

struct sq_job_process {
  void *data; /* the caller's */
  /* private */
  const sq_job_process_events *ev;
  uv_process_t proc;
  uv_pipe_t in, out;
  uv_write_t write_req, gate_req;
  char request[SQ_JOB_PROCESS_REQUEST_MAX];
  sq_buf output; /* bytes after the last complete line */
  int open_handles;
  bool exited, eof, gone, writing, gate_writing;
  bool skipping; /* inside a line past the output cap */
  int64_t exit_status;
  int term_signal;
};

/* Starts exe with args (NULL-ended, args[0] the program name) and env.
 * Returns 0, or a libuv error code; on error on_closed still follows, once
 * the pipes are closed. */
int sq_job_process_spawn(sq_job_process *p, uv_loop_t *loop, const char *exe,
                         char **args, char **env,
                         const sq_job_process_events *ev, void *data);

/* Sends one request line (a '\n' is appended). Returns 0 or a libuv error
 * code (the process is gone, or a request is still being written). */
int sq_job_process_send(sq_job_process *p, const char *line);

/* Sends "go", the gate line that lets a gated request's file be stored
 * (cmd/run_job.c). A write of its own, so it may follow the request at once.
 * Returns 0 or a libuv error code (the process is gone, or a gate line is
 * still being written). */
int sq_job_process_send_go(sq_job_process *p);

/* Sends a signal; a no-op once the process has exited. */
void sq_job_process_kill(sq_job_process *p, int signum);

/* Closes the process's stdin: a serving process exits when it sees that. */
void sq_job_process_retire(sq_job_process *p);

int sq_job_process_pid(const sq_job_process *p);

#endif
