/* storage_file.h - the "file://" storage backend: objects are files under a
 * root directory, written durably (fsync, rename, fsync of the directory),
 * as redis writes its RDB file. Reached through storage.h; this header only
 * exists for sq_storage_open(). */
#ifndef SQ_STORAGE_FILE_H
#define SQ_STORAGE_FILE_H

#include "core/error.h"
#include "exporter/storage.h"

/* root: an absolute directory, created (with parents) if missing, and its
 * scratch directory <root>/.sheetq-tmp. SQ_ECONFIG if root is not absolute;
 * storage errors (storage.h) if it cannot be created. */
sq_storage *sq_storage_file_open(const char *root, sq_err *err);

#endif
