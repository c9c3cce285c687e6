/* storage.c - the storage front end: URL scheme dispatch, key validation,
 * and the calls through the backend vtable (see storage.h). */
#include "exporter/storage.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "exporter/object_key.h"
#include "exporter/storage_file.h"
#include "exporter/storage_s3.h"

sq_storage *sq_storage_open(const char *url, sq_err *err) {
  size_t scheme_len;

  if (url == NULL || url[0] == '\0') {
    sq_err_set(err, SQ_ECONFIG, "storage URL is empty");
    return NULL;
  }
  if (strncmp(url, "file://", 7) == 0) {
    if (url[7] != '/') {
      sq_err_set(err, SQ_ECONFIG,
                 "storage URL must be file:///absolute/dir (no host, "
                 "absolute path)");
      return NULL;
    }
    return sq_storage_file_open(url + 7, err);
  }
  if (strncmp(url, "s3://", 5) == 0) return sq_storage_s3_open(url, err);
  /* Print only the scheme: the rest may hold credentials. */
  scheme_len = strcspn(url, ":");
  if (url[scheme_len] != ':') {
    sq_err_set(err, SQ_ECONFIG,
               "storage URL has no scheme (expected file:///dir)");
    return NULL;
  }
  sq_err_set(err, SQ_ECONFIG, "unsupported storage URL scheme \"%.*s\"",
             (int)(scheme_len > 16 ? 16 : scheme_len), url);
  return NULL;
}

sq_errcode sq_storage_put_file(sq_storage *s, const char *local_path,
                               const char *key, sq_err *err) {
  sq_errcode rc;
  if (s == NULL || local_path == NULL)
    return sq_err_set(err, SQ_EINVAL, "storage put: missing argument");
  rc = sq_object_key_check(key, err);
  if (rc != SQ_OK) return rc;
  return s->type->put_file(s, local_path, key, err);
}

const char *sq_storage_scratch_dir(const sq_storage *s) {
  if (s == NULL || s->type->scratch_dir == NULL) return NULL;
  return s->type->scratch_dir(s);
}

const char *sq_storage_describe(const sq_storage *s) {
  if (s == NULL || s->description == NULL) return "(no storage)";
  return s->description;
}

void sq_storage_free(sq_storage *s) {
  char *description;
  if (s == NULL) return;
  description = s->description;
  s->type->free(s);
  free(description);
}

sq_errcode sq_storage_errno_code(int errnum) {
  switch (errnum) {
    case ENOSPC:
    case EDQUOT:
      return SQ_ESTORAGE_FULL;
    case EACCES:
    case EPERM:
    case EROFS:
      return SQ_ESTORAGE_DENIED;
    /* A path that cannot exist under this root: the key template or the
     * storage URL is wrong, and retrying will not mend it. */
    case ENOTDIR:
    case EISDIR:
    case ENAMETOOLONG:
    case ELOOP:
      return SQ_ECONFIG;
    default:
      return SQ_ESTORAGE;
  }
}
