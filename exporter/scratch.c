/* scratch.c - see scratch.h. */
#include "exporter/scratch.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

const char *sq_scratch_disk_dir(const sq_storage *storage, const sq_config *cfg) {
  const char *d = cfg->tmpdir;
  if (d == NULL) d = sq_storage_scratch_dir(storage);
  if (d == NULL) d = getenv("TMPDIR");
  return d ? d : "/tmp";
}

/* memory_tmpdir when it is set ("" and "none" turn it off) and usable. */
static const char *usable_memory_dir(const sq_config *cfg) {
  const char *d = cfg->memory_tmpdir;
  if (d == NULL || d[0] == '\0' || strcmp(d, "none") == 0) return NULL;
  return access(d, W_OK | X_OK) == 0 ? d : NULL;
}

const char *sq_scratch_memory_dir(const sq_config *cfg, int attempt) {
  if (attempt > 1 || cfg->memory_tmpdir_max_mb <= 0) return NULL;
  return usable_memory_dir(cfg);
}

static bool fits_memory(const sq_config *cfg, uint64_t records, size_t n_items) {
  uint64_t limit = (uint64_t)cfg->memory_tmpdir_max_mb << 20;
  uint64_t per_record = ((uint64_t)n_items + 2) * SQ_SCRATCH_CELL_BYTES;
  return limit > 0 && records <= limit / per_record;
}

/* Room for twice the estimate now: other jobs on the host share the memory
 * file system (a container's /dev/shm is 64 MB unless sized). */
static bool has_room(const char *dir, uint64_t records, size_t n_items) {
  struct statvfs v;
  uint64_t need = records * ((uint64_t)n_items + 2) * SQ_SCRATCH_CELL_BYTES * 2;
  return statvfs(dir, &v) == 0 && (uint64_t)v.f_bavail * v.f_frsize >= need;
}

sq_scratch sq_scratch_choose(const sq_storage *storage, const sq_config *cfg,
                             const char *memory_dir, uint64_t records, size_t n_items) {
  const char *disk = sq_scratch_disk_dir(storage, cfg);
  const char *own = cfg->tmpdir == NULL ? sq_storage_scratch_dir(storage) : NULL;
  sq_scratch s = {disk, disk, false};
  if (memory_dir != NULL && fits_memory(cfg, records, n_items) &&
      has_room(memory_dir, records, n_items)) {
    s.render_dir = memory_dir;
    s.output_dir = own != NULL ? own : memory_dir; /* file://: renamed into place */
    s.in_memory = true;
  }
  return s;
}

static size_t sweep_dir(const char *dir, time_t now, long max_age_s) {
  static const char suffix[] = ".xlsx.tmp";
  size_t removed = 0;
  struct dirent *d;
  DIR *dp = opendir(dir);
  if (dp == NULL) return 0;
  while ((d = readdir(dp)) != NULL) {
    size_t n = strlen(d->d_name);
    struct stat st;
    if (n <= sizeof suffix - 1 || strcmp(d->d_name + n - (sizeof suffix - 1), suffix) != 0)
      continue;
    if (fstatat(dirfd(dp), d->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) ||
        now - st.st_mtime < max_age_s)
      continue;
    if (unlinkat(dirfd(dp), d->d_name, 0) == 0) {
      removed++;
      SQ_INFO("removed %s/%s, left by a job process that was killed", dir, d->d_name);
    }
  }
  closedir(dp);
  return removed;
}

size_t sq_scratch_sweep(const sq_storage *storage, const sq_config *cfg, long max_age_s) {
  time_t now = time(NULL);
  const char *disk = sq_scratch_disk_dir(storage, cfg), *mem = usable_memory_dir(cfg);
  size_t removed = sweep_dir(disk, now, max_age_s);
  if (mem != NULL && strcmp(mem, disk) != 0) removed += sweep_dir(mem, now, max_age_s);
  return removed;
}
