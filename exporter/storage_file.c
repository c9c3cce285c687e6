/* storage_file.c - the file:// backend (see storage_file.h, storage.h).
 *
 * DESIGN. A put must never expose a partial file, must survive a crash once
 * it returns, and must replace an older object whole. The renderer writes
 * into <root>/.sheetq-tmp (sq_storage_scratch_dir), on the same filesystem
 * as the destination, so the usual put is: create missing parent
 * directories (fsyncing each new directory's parent), fsync the finished
 * file, rename() it over the destination (atomic replace), fsync the
 * destination directory so the new entry is durable. When the local file is
 * elsewhere (rename fails with EXDEV) it is copied to
 * "<dest>.tmp-<pid>-<random>" next to the destination, fsynced, renamed into
 * place, and the directory fsynced: the same guarantees, as redis rdbSave()
 * does. A crash can leave a stale "*.tmp-*" file, never a torn object.
 */
#include "exporter/storage_file.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"

#define SCRATCH_NAME ".sheetq-tmp"
#define PATH_CAP 4096
#define COPY_CHUNK (256 * 1024)

typedef struct file_storage {
  sq_storage base;
  char *root;    /* absolute, no trailing slash (except "/") */
  char *scratch; /* <root>/.sheetq-tmp */
} file_storage;

/* Sets err for a failed system call on the store and returns the code. */
static sq_errcode sys_error(sq_err *err, int errnum, const char *ctx,
                           const char *what, const char *path) {
  char buf[128];
  return sq_err_set(err, sq_storage_errno_code(errnum), "%s: %s %.300s: %s",
                    ctx, what, path, strerror_r(errnum, buf, sizeof buf));
}

/* fsync a directory so that entries created or renamed in it are durable.
 * Filesystems that cannot fsync directories report EINVAL; nothing more can
 * be done there. */
static int fsync_dir(const char *path) {
  int fd, rc = 0, saved;
  fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  if (fsync(fd) != 0 && errno != EINVAL) rc = -1;
  saved = errno;
  close(fd);
  errno = saved;
  return rc;
}

/* The directory part of path ("/" for "/x"), in out. */
static void parent_of(const char *path, char *out, size_t cap) {
  const char *slash = strrchr(path, '/');
  size_t n = slash == NULL ? 0 : (size_t)(slash - path);
  if (n == 0) n = 1; /* "/x" -> "/" */
  if (n >= cap) n = cap - 1;
  memcpy(out, slash == NULL ? "." : path, slash == NULL ? 1 : n);
  out[slash == NULL ? 1 : n] = '\0';
}

/* Makes the directory path, whose parent exists, and fsyncs the parent;
 * one made meanwhile by someone else is fine. On failure -1 with errno
 * (ENOENT: the parent does not exist) and *what failed. */
static int mkdir_one(const char *path, const char **what) {
  char parent[PATH_CAP];
  struct stat st;
  *what = "create directory";
  if (mkdir(path, 0755) == 0) {
    parent_of(path, parent, sizeof parent);
    *what = "fsync the parent of directory";
    return fsync_dir(parent);
  }
  if (errno != EEXIST) return -1;
  if (stat(path, &st) != 0) return -1;
  if (!S_ISDIR(st.st_mode)) {
    errno = ENOTDIR;
    return -1;
  }
  return 0;
}

/* mkdir -p path (absolute), fsyncing the parent of each directory made.
 * From the deepest directory up: a new report's directory under its
 * tenant's is one mkdir, not one per component from the root. */
static sq_errcode mkdir_p(const char *path, const char *ctx, sq_err *err) {
  char p[PATH_CAP];
  struct stat st;
  const char *what;
  size_t len = strlen(path);
  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return SQ_OK;
  if (len >= sizeof p) return sq_err_set(err, SQ_ESTORAGE, "%s: path too long", ctx);
  memcpy(p, path, len + 1);
  /* Up: cut the last component off until a directory can be made. */
  while (mkdir_one(p, &what) != 0) {
    char *slash = strrchr(p, '/');
    if (errno != ENOENT || slash == NULL || slash == p)
      return sys_error(err, errno, ctx, what, p);
    *slash = '\0';
  }
  /* Down: put each cut slash back and make that directory. */
  while (strlen(p) < len) {
    p[strlen(p)] = '/';
    if (mkdir_one(p, &what) != 0) return sys_error(err, errno, ctx, what, p);
  }
  return SQ_OK;
}

static int write_all(int fd, const char *buf, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, buf, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    buf += w;
    n -= (size_t)w;
  }
  return 0;
}

static uint64_t random64(void) {
  uint64_t r;
  struct timespec ts;
  if (getrandom(&r, sizeof r, GRND_NONBLOCK) == (ssize_t)sizeof r) return r;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull ^ (uint64_t)ts.tv_sec;
}

/* Copies the open local file src to a temporary name beside dest, fsyncs it
 * and renames it over dest. */
static sq_errcode copy_into_place(int src, const char *local_path,
                                  const char *dest, const char *ctx,
                                  sq_err *err) {
  sq_errcode rc = SQ_ESTORAGE;
  char tmp[PATH_CAP];
  char *chunk = NULL;
  struct stat st;
  int out = -1, n;
  bool tmp_exists = false;
  mode_t mode = 0644;

  if (fstat(src, &st) == 0) mode = st.st_mode & 0777;
  for (int attempt = 0; out < 0; attempt++) {
    n = snprintf(tmp, sizeof tmp, "%s.tmp-%ld-%016" PRIx64, dest,
                 (long)getpid(), random64());
    if (n < 0 || (size_t)n >= sizeof tmp) {
      rc = sq_err_set(err, SQ_ESTORAGE, "%s: path too long", ctx);
      goto out;
    }
    out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (out < 0 && (errno != EEXIST || attempt >= 8)) {
      rc = sys_error(err, errno, ctx, "create", tmp);
      goto out;
    }
  }
  tmp_exists = true;
  chunk = malloc(COPY_CHUNK);
  if (chunk == NULL) {
    rc = sq_err_set(err, SQ_ENOMEM, "%s: out of memory", ctx);
    goto out;
  }
  for (;;) {
    ssize_t r = read(src, chunk, COPY_CHUNK);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      char buf[128];
      rc = sq_err_set(err, SQ_EIO, "%s: read %.300s: %s", ctx, local_path,
                      strerror_r(errno, buf, sizeof buf));
      goto out;
    }
    if (r == 0) break;
    if (write_all(out, chunk, (size_t)r) != 0) {
      rc = sys_error(err, errno, ctx, "write", tmp);
      goto out;
    }
  }
  if (fsync(out) != 0) {
    rc = sys_error(err, errno, ctx, "fsync", tmp);
    goto out;
  }
  n = close(out);
  out = -1;
  if (n != 0) {
    rc = sys_error(err, errno, ctx, "close", tmp);
    goto out;
  }
  if (rename(tmp, dest) != 0) {
    rc = sys_error(err, errno, ctx, "rename into", dest);
    goto out;
  }
  tmp_exists = false;
  rc = SQ_OK;
out:
  if (out >= 0) close(out);
  if (tmp_exists) unlink(tmp);
  free(chunk);
  return rc;
}

static sq_errcode file_put(sq_storage *s, const char *local_path,
                           const char *key, sq_err *err) {
  file_storage *fs = (file_storage *)s;
  sq_errcode rc = SQ_ESTORAGE;
  char dest[PATH_CAP], dir[PATH_CAP], ctx[256];
  size_t first_len;
  int fd = -1, n;

  if (key == NULL || local_path == NULL) /* storage.c checked; for the compiler */
    return sq_err_set(err, SQ_EINVAL, "storage put: missing argument");
  first_len = strcspn(key, "/");
  snprintf(ctx, sizeof ctx, "storing \"%.200s\"", key);
  if (first_len == strlen(SCRATCH_NAME) &&
      memcmp(key, SCRATCH_NAME, first_len) == 0) {
    rc = sq_err_set(err, SQ_EINVAL,
                    "object key \"%.200s\" is inside the scratch directory",
                    key);
    goto out;
  }
  n = snprintf(dest, sizeof dest, "%s%s%s", fs->root,
               strcmp(fs->root, "/") == 0 ? "" : "/", key);
  if (n < 0 || (size_t)n >= sizeof dest) {
    rc = sq_err_set(err, SQ_ESTORAGE, "%s: path too long", ctx);
    goto out;
  }
  parent_of(dest, dir, sizeof dir);
  rc = mkdir_p(dir, ctx, err);
  if (rc != SQ_OK) goto out;

  fd = open(local_path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    char buf[128];
    rc = sq_err_set(err, SQ_EIO, "%s: open %.300s: %s", ctx, local_path,
                    strerror_r(errno, buf, sizeof buf));
    goto out;
  }
  /* The data must be on disk before the name points at it. */
  if (fsync(fd) != 0) {
    rc = sys_error(err, errno, ctx, "fsync", local_path);
    goto out;
  }
  if (rename(local_path, dest) != 0) {
    if (errno != EXDEV) {
      rc = sys_error(err, errno, ctx, "rename into", dest);
      goto out;
    }
    rc = copy_into_place(fd, local_path, dest, ctx, err);
    if (rc != SQ_OK) goto out;
    unlink(local_path); /* consumed; a leftover is the caller's to remove */
  }
  if (fsync_dir(dir) != 0) {
    rc = sys_error(err, errno, ctx, "fsync directory", dir);
    goto out;
  }
  rc = SQ_OK;
out:
  if (fd >= 0) close(fd);
  return rc;
}

static const char *file_scratch_dir(const sq_storage *s) {
  return ((const file_storage *)s)->scratch;
}

static void file_free(sq_storage *s) {
  file_storage *fs = (file_storage *)s;
  free(fs->root);
  free(fs->scratch);
  free(fs);
}

static const sq_storage_type file_type = {
    .scheme = "file",
    .put_file = file_put,
    .scratch_dir = file_scratch_dir,
    .free = file_free,
};

sq_storage *sq_storage_file_open(const char *root, sq_err *err) {
  file_storage *fs = NULL;
  sq_storage *result = NULL;
  sq_buf b;
  size_t len;

  sq_buf_init(&b, PATH_CAP);
  if (root == NULL || root[0] != '/') {
    sq_err_set(err, SQ_ECONFIG, "file storage root must be an absolute path");
    goto out;
  }
  len = strlen(root);
  while (len > 1 && root[len - 1] == '/') len--;
  fs = calloc(1, sizeof *fs);
  if (fs == NULL) goto nomem;
  fs->base.type = &file_type;
  if (sq_buf_add(&b, root, len) != SQ_OK) goto too_long;
  fs->root = sq_buf_take(&b);
  if (fs->root == NULL) goto nomem;
  if (sq_buf_printf(&b, "%s%s" SCRATCH_NAME, fs->root,
                    len == 1 ? "" : "/") != SQ_OK)
    goto too_long;
  fs->scratch = sq_buf_take(&b);
  if (fs->scratch == NULL) goto nomem;
  if (sq_buf_printf(&b, "file://%s", fs->root) != SQ_OK) goto too_long;
  fs->base.description = sq_buf_take(&b);
  if (fs->base.description == NULL) goto nomem;

  if (mkdir_p(fs->root, "opening file storage", err) != SQ_OK ||
      mkdir_p(fs->scratch, "opening file storage", err) != SQ_OK)
    goto out;
  result = &fs->base;
  fs = NULL;
  goto out;
too_long:
  sq_err_set(err, SQ_ECONFIG, "file storage root is too long");
  goto out;
nomem:
  sq_err_set(err, SQ_ENOMEM, "file storage: out of memory");
out:
  if (fs) sq_storage_free(&fs->base);
  sq_buf_free(&b);
  return result;
}
