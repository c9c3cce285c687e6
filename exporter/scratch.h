/* scratch.h - where a job renders: the directory of the output file while it
 * is written, and the directory of libxlsxwriter's own temporary files.
 *
 * libxlsxwriter, as Debian builds it (without fmemopen), writes each XML
 * part of a workbook through a temporary file (about ten per workbook) and,
 * in constant-memory mode, the worksheet's rows too. For a small report
 * these are a few hundred KB written once and read once. On a memory file
 * system (`memory_tmpdir`, default /dev/shm) they cost no disk writes and no
 * inode allocations on the disk's file system: on this project's test
 * machines (ext4 without a journal, which re-reads the inode of every
 * recently deleted file while looking for a free one) creating them led the
 * kernel's share of tiny jobs' CPU (perf, docs/benchmarks.md).
 *
 * A report renders in memory when all of these hold: memory_tmpdir is set
 * and writable; the estimate records x (items + 2) x SQ_SCRATCH_CELL_BYTES
 * is at most memory_tmpdir_max_mb and the file system has room for twice
 * that now; it is the job's first attempt, so a memory file system filled
 * by other jobs cannot fail a job three times (a retry renders on disk). Everything else renders on disk, in tmpdir (default: next to file
 * storage, so the finished file is renamed into place, else $TMPDIR or
 * /tmp). The output file stays next to file storage in either case.
 */
#ifndef SQ_SCRATCH_H
#define SQ_SCRATCH_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "exporter/storage.h"

/* Bytes of worksheet XML one cell is expected to take, markup included
 * (`<c r="T222" s="3"><v>46317.4423611</v></c>` is 43; inline strings are
 * longer): generous, so that text-heavy reports stay within the bound. */
#define SQ_SCRATCH_CELL_BYTES 128

typedef struct sq_scratch {
  const char *output_dir; /* the output file's temporary */
  const char *render_dir; /* libxlsxwriter's temporary files */
  bool in_memory;         /* render_dir is memory_tmpdir */
} sq_scratch;

/* The disk scratch directory: tmpdir, else the storage's own (file://),
 * else $TMPDIR, else /tmp. Never NULL. */
const char *sq_scratch_disk_dir(const sq_storage *storage, const sq_config *cfg);

/* memory_tmpdir when this attempt (counting from 1) may render there: a
 * first attempt, a non-zero bound, a usable directory; else NULL. Only then
 * does the caller need the record count. */
const char *sq_scratch_memory_dir(const sq_config *cfg, int attempt);

/* Picks the directories for a report of about `records` records of
 * `n_items` items; memory_dir is sq_scratch_memory_dir()'s answer. The
 * strings belong to cfg, storage or the environment. */
sq_scratch sq_scratch_choose(const sq_storage *storage, const sq_config *cfg,
                             const char *memory_dir, uint64_t records, size_t n_items);

/* Removes rendering leftovers ("*.xlsx.tmp") older than max_age_s from the
 * disk and the memory scratch directories: the files of job processes that
 * were killed (SIGKILL leaves no chance to clean up). A running job's file
 * is younger than the attempt timeout, so a max_age_s above it never touches
 * live work, on this host or another sharing the directory. Returns how
 * many were removed. */
size_t sq_scratch_sweep(const sq_storage *storage, const sq_config *cfg, long max_age_s);

#endif
