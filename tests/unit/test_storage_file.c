#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exporter/storage.h"
#include "tests/unit/harness.h"

static char base[64];  /* a fresh directory per run under /tmp */
static char root[96];  /* <base>/root */
static char url[128];  /* file://<root>/ */

static void setup(void) {
  if (base[0]) return;
  snprintf(base, sizeof base, "/tmp/sq_storage_XXXXXX");
  if (mkdtemp(base) == NULL) abort();
  chmod(base, 0755);
  snprintf(root, sizeof root, "%s/root", base);
  snprintf(url, sizeof url, "file://%s/", root); /* trailing slash trimmed */
}

static bool write_file(const char *path, const char *data, size_t n) {
  FILE *f = fopen(path, "wb");
  bool ok = f && fwrite(data, 1, n, f) == n;
  if (f && fclose(f) != 0) ok = false;
  return ok;
}

static char *read_file(const char *path, char *buf, size_t cap) {
  FILE *f = fopen(path, "rb");
  size_t n;
  if (f == NULL) return NULL;
  n = fread(buf, 1, cap - 1, f);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

/* Names in dir other than "." and ".."; fills first (cap >= 256). */
static int count_entries(const char *dir, char *first, size_t cap) {
  DIR *d = opendir(dir);
  struct dirent *e;
  int n = 0;
  if (d == NULL) return -1;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    if (n++ == 0 && first) snprintf(first, cap, "%.255s", e->d_name);
  }
  closedir(d);
  return n;
}

TEST(urls) {
  sq_err e;
  sq_storage *s;
  ASSERT(sq_storage_open("file://relative/dir", &e) == NULL);
  ASSERT_INT_EQ(e.code, SQ_ECONFIG);
  ASSERT(sq_storage_open("s3://key:secret@bucket/prefix", &e) == NULL);
  ASSERT_INT_EQ(e.code, SQ_ECONFIG);
  ASSERT(strstr(e.msg, "secret") == NULL); /* no secrets echoed */
  ASSERT(sq_storage_open("ftp://user:pw@host/x", &e) == NULL);
  ASSERT_INT_EQ(e.code, SQ_ECONFIG);
  ASSERT(strstr(e.msg, "pw") == NULL); /* no secrets echoed */
  ASSERT(sq_storage_open("/no/scheme", &e) == NULL);
  ASSERT_INT_EQ(e.code, SQ_ECONFIG);
  ASSERT(sq_storage_open(NULL, &e) == NULL);

  setup();
  s = sq_storage_open(url, &e);
  if (s == NULL) FAIL_AT("open %s: %s", url, e.msg);
  {
    char want[256], scratch[256];
    struct stat st;
    snprintf(want, sizeof want, "file://%s", root);
    ASSERT_STR_EQ(sq_storage_describe(s), want);
    snprintf(scratch, sizeof scratch, "%s/.sheetq-tmp", root);
    ASSERT_STR_EQ(sq_storage_scratch_dir(s), scratch);
    ASSERT(stat(scratch, &st) == 0 && S_ISDIR(st.st_mode));
  }
  sq_storage_free(s);
  sq_storage_free(NULL);
}

TEST(put_renames_and_replaces_atomically) {
  sq_err e;
  sq_storage *s;
  char local[256], dest[256], buf[256], first[256];
  struct stat before, after;
  int old_fd;

  setup();
  s = sq_storage_open(url, &e);
  ASSERT(s != NULL);
  snprintf(local, sizeof local, "%s/job1.xlsx.tmp", sq_storage_scratch_dir(s));
  snprintf(dest, sizeof dest, "%s/7/42/2024-03.xlsx", root);

  ASSERT(write_file(local, "first version", 13));
  ASSERT_INT_EQ(sq_storage_put_file(s, local, "7/42/2024-03.xlsx", &e), SQ_OK);
  ASSERT_STR_EQ(read_file(dest, buf, sizeof buf), "first version");
  ASSERT(access(local, F_OK) != 0); /* consumed */

  /* A reader holding the old object keeps reading it whole. */
  old_fd = open(dest, O_RDONLY);
  ASSERT(old_fd >= 0);
  ASSERT(stat(dest, &before) == 0);
  ASSERT(write_file(local, "second", 6));
  ASSERT_INT_EQ(sq_storage_put_file(s, local, "7/42/2024-03.xlsx", &e), SQ_OK);
  ASSERT_STR_EQ(read_file(dest, buf, sizeof buf), "second");
  ASSERT(stat(dest, &after) == 0);
  ASSERT(before.st_ino != after.st_ino); /* replaced, not rewritten */
  {
    ssize_t n = pread(old_fd, buf, sizeof buf - 1, 0);
    ASSERT(n == 13);
    buf[n] = '\0';
    ASSERT_STR_EQ(buf, "first version");
  }
  close(old_fd);
  /* Nothing else was left beside the object. */
  snprintf(buf, sizeof buf, "%s/7/42", root);
  ASSERT_INT_EQ(count_entries(buf, first, sizeof first), 1);
  ASSERT_STR_EQ(first, "2024-03.xlsx");
  /* Four directories that do not exist yet, made from the deepest up. */
  ASSERT(write_file(local, "deep", 4));
  ASSERT_INT_EQ(sq_storage_put_file(s, local, "a/b/c/d/2024-03.xlsx", &e), SQ_OK);
  snprintf(dest, sizeof dest, "%s/a/b/c/d/2024-03.xlsx", root);
  ASSERT_STR_EQ(read_file(dest, buf, sizeof buf), "deep");
  sq_storage_free(s);
}

TEST(put_copies_across_filesystems) {
  sq_err e;
  sq_storage *s;
  char local[] = "/dev/shm/sq_storage_XXXXXX";
  char dest[256], dir[256], buf[64], first[256];
  struct stat a, b;
  int fd;

  setup();
  fd = mkstemp(local);
  if (fd < 0 || fstat(fd, &a) != 0 || stat(base, &b) != 0 || a.st_dev == b.st_dev) {
    fprintf(stderr, "  (no second filesystem at /dev/shm: copy path not exercised)\n");
    if (fd >= 0) close(fd), unlink(local);
    return;
  }
  ASSERT(write(fd, "copied bytes", 12) == 12);
  close(fd);
  s = sq_storage_open(url, &e);
  ASSERT(s != NULL);
  ASSERT_INT_EQ(sq_storage_put_file(s, local, "7/43/2024-03.xlsx", &e), SQ_OK);
  snprintf(dest, sizeof dest, "%s/7/43/2024-03.xlsx", root);
  ASSERT_STR_EQ(read_file(dest, buf, sizeof buf), "copied bytes");
  ASSERT(access(local, F_OK) != 0);
  snprintf(dir, sizeof dir, "%s/7/43", root);
  ASSERT_INT_EQ(count_entries(dir, first, sizeof first), 1); /* no .tmp- */
  sq_storage_free(s);
}

/* A write error while copying (EFBIG via RLIMIT_FSIZE, in a child) leaves
 * neither the object nor a temporary file behind. */
TEST(failed_copy_leaves_nothing) {
  char local[] = "/dev/shm/sq_storage_XXXXXX";
  static char data[1 << 20];
  struct stat a, b;
  pid_t pid;
  int fd, status;

  setup();
  fd = mkstemp(local);
  if (fd < 0 || fstat(fd, &a) != 0 || stat(base, &b) != 0 || a.st_dev == b.st_dev) {
    fprintf(stderr, "  (no second filesystem at /dev/shm: skipped)\n");
    if (fd >= 0) close(fd), unlink(local);
    return;
  }
  memset(data, 'z', sizeof data);
  ASSERT(write(fd, data, sizeof data) == (ssize_t)sizeof data);
  close(fd);
  pid = fork();
  ASSERT(pid >= 0);
  if (pid == 0) {
    struct rlimit rl = {64 * 1024, 64 * 1024};
    sq_err e;
    sq_storage *s = sq_storage_open(url, &e);
    sq_errcode rc;
    signal(SIGXFSZ, SIG_IGN);
    if (s == NULL || setrlimit(RLIMIT_FSIZE, &rl) != 0) _exit(2);
    rc = sq_storage_put_file(s, local, "big/1/2024-03.xlsx", &e);
    fprintf(stderr, "  child: %s: %s\n", sq_errname(rc), e.msg);
    _exit(rc == SQ_ESTORAGE && strstr(e.msg, "big/1/2024-03.xlsx") ? 0 : 1);
  }
  ASSERT(waitpid(pid, &status, 0) == pid);
  ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  {
    char dir[256];
    snprintf(dir, sizeof dir, "%s/big/1", root);
    ASSERT_INT_EQ(count_entries(dir, NULL, 0), 0);
  }
  ASSERT(access(local, F_OK) == 0); /* left for the caller */
  unlink(local);
}

TEST(bad_puts) {
  sq_err e;
  sq_storage *s;
  char local[256];

  setup();
  s = sq_storage_open(url, &e);
  ASSERT(s != NULL);
  snprintf(local, sizeof local, "%s/x.tmp", sq_storage_scratch_dir(s));
  ASSERT(write_file(local, "x", 1));
  ASSERT_INT_EQ(sq_storage_put_file(s, local, "../escape.xlsx", &e), SQ_EINVAL);
  ASSERT_INT_EQ(sq_storage_put_file(s, local, "/abs.xlsx", &e), SQ_EINVAL);
  ASSERT_INT_EQ(sq_storage_put_file(s, local, ".sheetq-tmp/x.xlsx", &e), SQ_EINVAL);
  ASSERT_INT_EQ(sq_storage_put_file(s, "/nonexistent/file", "a/b.xlsx", &e), SQ_EIO);
  ASSERT(strstr(e.msg, "a/b.xlsx") != NULL);
  /* A parent that is a file, not a directory: the key template and the
   * store disagree, which no retry mends (permanent). */
  ASSERT_INT_EQ(sq_storage_put_file(s, local, "plain", &e), SQ_OK);
  ASSERT(write_file(local, "y", 1));
  ASSERT_INT_EQ(sq_storage_put_file(s, local, "plain/child.xlsx", &e), SQ_ECONFIG);
  ASSERT(strstr(e.msg, "plain/child.xlsx") != NULL);
  unlink(local);
  sq_storage_free(s);
}

/* EACCES: root ignores permission bits, so the put runs in a child that
 * has dropped to nobody (65534) against a root-owned 0755 directory. */
TEST(permission_denied) {
  char local[256];
  pid_t pid;
  int status;
  sq_err e;
  sq_storage *s;

  setup();
  s = sq_storage_open(url, &e);
  ASSERT(s != NULL);
  snprintf(local, sizeof local, "%s/denied.tmp", base);
  ASSERT(write_file(local, "x", 1));
  chmod(local, 0644);
  pid = fork();
  ASSERT(pid >= 0);
  if (pid == 0) {
    sq_errcode rc;
    if (geteuid() == 0) {
      if (setgid(65534) != 0 || setuid(65534) != 0) _exit(77);
    } else if (chmod(root, 0555) != 0) {
      _exit(77);
    }
    rc = sq_storage_put_file(s, local, "newdir/1.xlsx", &e);
    fprintf(stderr, "  child: %s: %s\n", sq_errname(rc), e.msg);
    _exit(rc == SQ_ESTORAGE_DENIED ? 0 : 1);
  }
  ASSERT(waitpid(pid, &status, 0) == pid);
  ASSERT(WIFEXITED(status));
  if (WEXITSTATUS(status) == 77)
    fprintf(stderr, "  (cannot drop privileges: EACCES case skipped)\n");
  else
    ASSERT_INT_EQ(WEXITSTATUS(status), 0);
  chmod(root, 0755);
  unlink(local);
  sq_storage_free(s);
}

TEST(errno_classes) {
  ASSERT_INT_EQ(sq_storage_errno_code(ENOSPC), SQ_ESTORAGE_FULL);
  ASSERT_INT_EQ(sq_storage_errno_code(EDQUOT), SQ_ESTORAGE_FULL);
  ASSERT_INT_EQ(sq_storage_errno_code(EACCES), SQ_ESTORAGE_DENIED);
  ASSERT_INT_EQ(sq_storage_errno_code(EPERM), SQ_ESTORAGE_DENIED);
  ASSERT_INT_EQ(sq_storage_errno_code(EROFS), SQ_ESTORAGE_DENIED);
  ASSERT_INT_EQ(sq_storage_errno_code(EIO), SQ_ESTORAGE);
  /* Paths that cannot exist under the root: permanent, a configuration. */
  ASSERT_INT_EQ(sq_storage_errno_code(ENOTDIR), SQ_ECONFIG);
  ASSERT_INT_EQ(sq_storage_errno_code(EISDIR), SQ_ECONFIG);
  ASSERT_INT_EQ(sq_storage_errno_code(ENAMETOOLONG), SQ_ECONFIG);
  ASSERT_INT_EQ(sq_storage_errno_code(ELOOP), SQ_ECONFIG);
  ASSERT(!sq_error_is_temporary(SQ_ECONFIG));
  ASSERT(sq_error_is_temporary(SQ_ESTORAGE_FULL));
  ASSERT(!sq_error_is_temporary(SQ_ESTORAGE_DENIED));
}

static void cleanup(void) {
  char cmd[256];
  if (base[0] == '\0' || strncmp(base, "/tmp/sq_storage_", 16) != 0) return;
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
  if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", base);
}

TEST(remove_test_directory) { cleanup(); }

TEST_MAIN(TEST_ENTRY(urls), TEST_ENTRY(put_renames_and_replaces_atomically),
          TEST_ENTRY(put_copies_across_filesystems),
          TEST_ENTRY(failed_copy_leaves_nothing), TEST_ENTRY(bad_puts),
          TEST_ENTRY(permission_denied), TEST_ENTRY(errno_classes),
          TEST_ENTRY(remove_test_directory))
