/* s3_put.c - test driver: stores one local file through the storage
 * interface, exactly as sheetq run-job does after rendering.
 *
 *   sq_s3_put STORAGE_URL LOCAL_FILE KEY
 *
 * Prints "ok <seconds>" or "error <code name>: <message>" on stdout; logs
 * (SHEETQ_LOG_LEVEL, default debug) go to stderr. Exit status as sheetq's:
 * 0, 75 temporary, 1 permanent, 2 configuration. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/log.h"
#include "exporter/storage.h"

int main(int argc, char **argv) {
  const char *level_name = getenv("SHEETQ_LOG_LEVEL");
  sq_log_level level = SQ_LOG_DEBUG;
  struct timespec t0, t1;
  sq_storage *s;
  sq_errcode rc;
  sq_err err;

  if (argc != 4) {
    fprintf(stderr, "usage: sq_s3_put STORAGE_URL LOCAL_FILE KEY\n");
    return 2;
  }
  if (level_name && !sq_log_level_parse(level_name, &level)) level = SQ_LOG_DEBUG;
  sq_log_setup(level, SQ_LOG_TEXT, "s3-put");
  sq_err_clear(&err);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  s = sq_storage_open(argv[1], &err);
  rc = s ? sq_storage_put_file(s, argv[2], argv[3], &err) : err.code;
  clock_gettime(CLOCK_MONOTONIC, &t1);
  if (rc == SQ_OK)
    printf("ok %.3f\n", (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
  else
    printf("error %s: %s\n", sq_errname(rc), err.msg);
  sq_storage_free(s);
  return sq_exit_status(rc);
}
