/* Where a job renders (exporter/scratch.h): memory for a small report's first
 * attempt, disk for large reports, retries, and when the memory directory
 * is off or unusable; the sweep covers both directories. */
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>

#include "exporter/scratch.h"
#include "tests/unit/harness.h"

static char base[64]; /* /tmp/sq_scratch_XXXXXX */
static char mem[96], root[96], url[128], own[128];

static void setup(void) {
  if (base[0]) return;
  snprintf(base, sizeof base, "/tmp/sq_scratch_XXXXXX");
  if (mkdtemp(base) == NULL) abort();
  snprintf(mem, sizeof mem, "%s/mem", base);
  snprintf(root, sizeof root, "%s/root", base);
  snprintf(url, sizeof url, "file://%s", root);
  snprintf(own, sizeof own, "%s/.sheetq-tmp", root);
  if (mkdir(mem, 0700) != 0) abort();
}

/* A config with memory_tmpdir = mem (or `dir`) and the given bound. */
static void config(sq_config *c, const char *dir, const char *max_mb) {
  sq_err e;
  ASSERT_INT_EQ(sq_config_init(c, &e), SQ_OK);
  ASSERT_INT_EQ(sq_config_set(c, "memory_tmpdir", dir ? dir : mem, &e), SQ_OK);
  ASSERT_INT_EQ(sq_config_set(c, "memory_tmpdir_max_mb", max_mb, &e), SQ_OK);
}

/* Aborts when the storage cannot open: every test below needs it. */
static sq_storage *file_storage(void) {
  sq_err e;
  sq_storage *s = sq_storage_open(url, &e);
  if (s == NULL) {
    fprintf(stderr, "file storage %s: %s\n", url, e.msg);
    abort();
  }
  return s;
}

TEST(defaults) {
  sq_config c;
  sq_err e;
  ASSERT_INT_EQ(sq_config_init(&c, &e), SQ_OK);
  ASSERT_STR_EQ(c.memory_tmpdir, "/dev/shm");
  ASSERT_INT_EQ(c.memory_tmpdir_max_mb, 16);
  ASSERT(sq_config_set(&c, "memory_tmpdir_max_mb", "-1", &e) != SQ_OK);
  sq_config_free(&c);
}

TEST(small_first_attempt_renders_in_memory) {
  sq_config c;
  sq_storage *s;
  sq_scratch x;
  setup();
  config(&c, NULL, "1"); /* 1 MB / ((20 + 2) x 128 B) = 372 records */
  s = file_storage();
  ASSERT_STR_EQ(sq_scratch_memory_dir(&c, 1), mem);
  x = sq_scratch_choose(s, &c, sq_scratch_memory_dir(&c, 1), 372, 20);
  ASSERT(x.in_memory);
  ASSERT_STR_EQ(x.render_dir, mem);
  /* file://: the output still goes next to storage, to be renamed in */
  ASSERT_STR_EQ(x.output_dir, own);
  x = sq_scratch_choose(s, &c, sq_scratch_memory_dir(&c, 1), 373, 20);
  ASSERT(!x.in_memory);
  ASSERT_STR_EQ(x.render_dir, own);
  ASSERT_STR_EQ(x.output_dir, own);
  x = sq_scratch_choose(s, &c, sq_scratch_memory_dir(&c, 1), UINT64_MAX, 20); /* not counted */
  ASSERT(!x.in_memory);
  sq_storage_free(s);
  sq_config_free(&c);
}

TEST(retries_render_on_disk) {
  sq_config c;
  sq_storage *s;
  setup();
  config(&c, NULL, "16");
  s = file_storage();
  ASSERT(sq_scratch_memory_dir(&c, 2) == NULL);
  ASSERT(!sq_scratch_choose(s, &c, sq_scratch_memory_dir(&c, 2), 1, 1).in_memory);
  ASSERT(sq_scratch_choose(s, &c, sq_scratch_memory_dir(&c, 1), 1, 1).in_memory);
  sq_storage_free(s);
  sq_config_free(&c);
}

TEST(off_or_unusable_memory_dir_renders_on_disk) {
  const char *dirs[] = {"none", "", "/nonexistent/sheetq"};
  sq_storage *s;
  setup();
  s = file_storage();
  for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
    sq_config c;
    config(&c, dirs[i], "16");
    ASSERT(sq_scratch_memory_dir(&c, 1) == NULL);
    ASSERT(!sq_scratch_choose(s, &c, sq_scratch_memory_dir(&c, 1), 1, 1).in_memory);
    sq_config_free(&c);
  }
  {
    sq_config c;
    config(&c, NULL, "0"); /* bound 0: off */
    ASSERT(sq_scratch_memory_dir(&c, 1) == NULL);
    ASSERT(!sq_scratch_choose(s, &c, sq_scratch_memory_dir(&c, 1), 0, 1).in_memory);
    sq_config_free(&c);
  }
  sq_storage_free(s);
}

TEST(tmpdir_set_output_follows_render_dir) {
  sq_config c;
  sq_storage *s;
  sq_scratch x;
  sq_err e;
  setup();
  config(&c, NULL, "16");
  ASSERT_INT_EQ(sq_config_set(&c, "tmpdir", base, &e), SQ_OK);
  s = file_storage();
  ASSERT_STR_EQ(sq_scratch_disk_dir(s, &c), base);
  x = sq_scratch_choose(s, &c, sq_scratch_memory_dir(&c, 1), 10, 5);
  ASSERT(x.in_memory);
  ASSERT_STR_EQ(x.output_dir, mem); /* copied into storage afterwards */
  x = sq_scratch_choose(s, &c, sq_scratch_memory_dir(&c, 2), 10, 5);
  ASSERT_STR_EQ(x.output_dir, base);
  ASSERT_STR_EQ(x.render_dir, base);
  sq_storage_free(s);
  sq_config_free(&c);
}

static void touch(const char *dir, const char *name, time_t age) {
  char path[256];
  struct utimbuf t = {time(NULL) - age, time(NULL) - age};
  FILE *f;
  snprintf(path, sizeof path, "%s/%s", dir, name);
  ASSERT((f = fopen(path, "w")) != NULL);
  fclose(f);
  ASSERT_INT_EQ(utime(path, &t), 0);
}

static bool exists(const char *dir, const char *name) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  return access(path, F_OK) == 0;
}

TEST(sweep_covers_disk_and_memory_dirs) {
  sq_config c;
  sq_storage *s;
  setup();
  config(&c, NULL, "16");
  s = file_storage();
  touch(own, "j1.1.xlsx.tmp", 7200);
  touch(own, "j2.1.xlsx.tmp", 10); /* a live job's */
  touch(mem, "j3.1.xlsx.tmp", 7200);
  touch(mem, "other.tmp", 7200); /* not ours */
  ASSERT_INT_EQ((long)sq_scratch_sweep(s, &c, 3600), 2);
  ASSERT(!exists(own, "j1.1.xlsx.tmp"));
  ASSERT(exists(own, "j2.1.xlsx.tmp"));
  ASSERT(!exists(mem, "j3.1.xlsx.tmp"));
  ASSERT(exists(mem, "other.tmp"));
  sq_storage_free(s);
  sq_config_free(&c);
}

TEST(remove_test_directory) {
  char cmd[128];
  if (base[0] == '\0') return;
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
  ASSERT_INT_EQ(system(cmd), 0);
}

TEST_MAIN(TEST_ENTRY(defaults), TEST_ENTRY(small_first_attempt_renders_in_memory),
          TEST_ENTRY(retries_render_on_disk),
          TEST_ENTRY(off_or_unusable_memory_dir_renders_on_disk),
          TEST_ENTRY(tmpdir_set_output_follows_render_dir),
          TEST_ENTRY(sweep_covers_disk_and_memory_dirs), TEST_ENTRY(remove_test_directory))
