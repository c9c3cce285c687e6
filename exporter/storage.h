/* storage.h - where finished exports go: object storage behind one vtable.
 *
 * sq_storage_open() picks a backend from the URL scheme ("file:///abs/dir",
 * storage_file.c; "s3://bucket/prefix", storage_s3.c). Callers only see
 * the opaque sq_storage and the functions below; backends fill in an
 * sq_storage_type (after redis connection.h) and embed struct sq_storage as
 * the first member of their own struct.
 *
 * Contract of put: when sq_storage_put_file() returns SQ_OK the object is
 * complete and durable; no reader ever sees a partial object; a second put
 * of the same key replaces the object whole. Errors: SQ_ESTORAGE_FULL (no
 * space or quota), SQ_ESTORAGE_DENIED (permissions, read-only), SQ_ESTORAGE
 * (anything else about the store), SQ_EINVAL (bad key), SQ_EIO (reading the
 * local file). Messages name the key and the system error, never secrets.
 *
 * An sq_storage is used by one thread at a time; sq_storage_free() releases
 * it (NULL is fine).
 */
#ifndef SQ_STORAGE_H
#define SQ_STORAGE_H

#include "core/error.h"

typedef struct sq_storage sq_storage;

/* "file:///abs/dir" (the directory is created if missing; no %-decoding);
 * "s3://bucket[/prefix][?path_style=1]" (docs/configuration.md); anything
 * else SQ_ECONFIG. Returns NULL with err set on failure. */
sq_storage *sq_storage_open(const char *url, sq_err *err);

/* Durably stores the finished local file under key (checked with
 * sq_object_key_check()). local_path may be consumed (renamed into place, or
 * copied and then removed), so afterwards, success or not, the caller
 * removes it if it still exists and ignores ENOENT. */
sq_errcode sq_storage_put_file(sq_storage *s, const char *local_path,
                               const char *key, sq_err *err);

/* A directory where the renderer should write its file so that put can
 * rename instead of copy (file backend: <root>/.sheetq-tmp, created on
 * open). NULL means "no preference: use TMPDIR". Owned by s. */
const char *sq_storage_scratch_dir(const sq_storage *s);

/* For logs, e.g. "file:///srv/out"; never holds credentials. Owned by s. */
const char *sq_storage_describe(const sq_storage *s);

void sq_storage_free(sq_storage *s);

/* The error class of a failed system call on the store: ENOSPC/EDQUOT ->
 * SQ_ESTORAGE_FULL, EACCES/EPERM/EROFS -> SQ_ESTORAGE_DENIED, others
 * SQ_ESTORAGE. For backends. */
sq_errcode sq_storage_errno_code(int errnum);

/* ---- Backend interface ------------------------------------------------ */

typedef struct sq_storage_type {
  const char *scheme; /* "file" */
  /* key is already validated; same contract as sq_storage_put_file(). */
  sq_errcode (*put_file)(sq_storage *s, const char *local_path,
                         const char *key, sq_err *err);
  const char *(*scratch_dir)(const sq_storage *s); /* may be NULL */
  void (*free)(sq_storage *s); /* frees the backend's struct */
} sq_storage_type;

struct sq_storage {
  const sq_storage_type *type;
  char *description; /* malloc'd by the backend, freed by sq_storage_free() */
};

#endif
