/* log.c - formats log lines. Each line is built in one buffer and written
 * with a single write(2), so lines from concurrent job processes sharing the
 * same stderr do not interleave. */
#include "core/log.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static sq_log_level log_threshold = SQ_LOG_INFO;
static sq_log_format log_format = SQ_LOG_TEXT;
static char log_role[16] = "sheetq";

static char log_job[32]; /* "" unless the process works on one job */
static int log_attempt;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void sq_log_setup(sq_log_level threshold, sq_log_format format,
                  const char *role) {
  log_threshold = threshold;
  log_format = format;
  if (role) snprintf(log_role, sizeof log_role, "%s", role);
}

bool sq_log_enabled(sq_log_level level) { return level >= log_threshold; }

void sq_log_set_job(const char *job_id, int attempt) {
  snprintf(log_job, sizeof log_job, "%s", job_id ? job_id : "");
  log_attempt = attempt;
}

bool sq_log_level_parse(const char *s, sq_log_level *out) {
  for (int i = 0; i < 4; i++) {
    if (strcmp(s, level_names[i]) == 0) {
      *out = (sq_log_level)i;
      return true;
    }
  }
  return false;
}

static void write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return; /* nowhere left to report a failing stderr */
    }
    buf += n;
    len -= (size_t)n;
  }
}

void sq_log_write(sq_log_level level, const char *job_id, int attempt,
                  const char *fmt, ...) {
  char msg[2048], line[4096], stamp[40];
  struct timeval tv;
  struct tm tm;
  va_list ap;
  int len;

  if (job_id == NULL && log_job[0]) {
    job_id = log_job;
    attempt = log_attempt;
  }
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);

  gettimeofday(&tv, NULL);
  gmtime_r(&tv.tv_sec, &tm);
  len = (int)strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(stamp + len, sizeof stamp - (size_t)len, ".%03dZ",
           (int)(tv.tv_usec / 1000));

  if (log_format == SQ_LOG_JSON) {
    cJSON *o = cJSON_CreateObject();
    char *text;
    if (o == NULL) return;
    cJSON_AddStringToObject(o, "ts", stamp);
    cJSON_AddStringToObject(o, "level", level_names[level]);
    cJSON_AddStringToObject(o, "role", log_role);
    cJSON_AddNumberToObject(o, "pid", (double)getpid());
    if (job_id) {
      cJSON_AddStringToObject(o, "job", job_id);
      cJSON_AddNumberToObject(o, "attempt", attempt);
    }
    cJSON_AddStringToObject(o, "msg", msg);
    text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (text == NULL) return;
    len = snprintf(line, sizeof line, "%s\n", text);
    cJSON_free(text);
  } else if (job_id) {
    len = snprintf(line, sizeof line, "%s %-5s %s[%d] job=%s attempt=%d: %s\n",
                   stamp, level_names[level], log_role, (int)getpid(), job_id,
                   attempt, msg);
  } else {
    len = snprintf(line, sizeof line, "%s %-5s %s[%d]: %s\n", stamp,
                   level_names[level], log_role, (int)getpid(), msg);
  }
  if (len < 0) return;
  if ((size_t)len >= sizeof line) {
    len = (int)sizeof line - 1;
    line[len - 1] = '\n';
  }
  write_all(STDERR_FILENO, line, (size_t)len);
}
