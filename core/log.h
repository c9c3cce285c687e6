/* log.h - one logging entry point for the whole program.
 *
 * Lines go to stderr, one event a line: a UTC timestamp, the level, the
 * process role and pid, then the job id and attempt when the line is about a
 * job. The level is checked before any formatting happens. Callers must never
 * pass secrets (passwords, tokens): connections are named by user, host and
 * port, never by their URL.
 */
#ifndef SQ_LOG_H
#define SQ_LOG_H

#include <stdbool.h>

typedef enum sq_log_level {
  SQ_LOG_DEBUG = 0,
  SQ_LOG_INFO,
  SQ_LOG_WARN,
  SQ_LOG_ERROR,
} sq_log_level;

typedef enum sq_log_format { SQ_LOG_TEXT = 0, SQ_LOG_JSON } sq_log_format;

/* Set once at start-up, before any thread or child process starts. */
void sq_log_setup(sq_log_level threshold, sq_log_format format, const char *role);
bool sq_log_enabled(sq_log_level level);
/* For a process that works on one attempt of one job at a time (run-job):
 * every line then carries the job id and attempt, also lines from modules
 * that do not know the job (storage retries, credentials). Set before each
 * job, while no other thread of the process is logging. */
void sq_log_set_job(const char *job_id, int attempt);
/* Parses "debug", "info", "warn", "error"; returns false if unknown. */
bool sq_log_level_parse(const char *s, sq_log_level *out);

void sq_log_write(sq_log_level level, const char *job_id, int attempt,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#define SQ_LOG(level, ...)                                                    \
  do {                                                                        \
    if (sq_log_enabled(level)) sq_log_write(level, NULL, 0, __VA_ARGS__);     \
  } while (0)

/* A line about one attempt of one job. */
#define SQ_LOG_JOB(level, job_id, attempt, ...)                               \
  do {                                                                        \
    if (sq_log_enabled(level))                                                \
      sq_log_write(level, job_id, attempt, __VA_ARGS__);                      \
  } while (0)

#define SQ_DEBUG(...) SQ_LOG(SQ_LOG_DEBUG, __VA_ARGS__)
#define SQ_INFO(...) SQ_LOG(SQ_LOG_INFO, __VA_ARGS__)
#define SQ_WARN(...) SQ_LOG(SQ_LOG_WARN, __VA_ARGS__)
#define SQ_ERROR(...) SQ_LOG(SQ_LOG_ERROR, __VA_ARGS__)

#endif
