/* The job process's line framing and lifetime, with /bin/sh as the child. */
#include "queue/job_process.h"
#include "tests/unit/harness.h"

typedef struct recorder {
  char lines[8][64];
  int n_lines;
  int gone_calls, closed_calls, lines_before_gone;
  int64_t status;
  int signal;
  const char *reply; /* sent after the first line, if set */
} recorder;

static void on_line(sq_job_process *p, const char *line, size_t len) {
  recorder *r = p->data;
  if (r->n_lines < 8) snprintf(r->lines[r->n_lines], 64, "%.*s", (int)len, line);
  r->n_lines++;
  if (r->reply && r->n_lines == 1) {
    sq_job_process_send(p, r->reply);
    r->reply = NULL;
  }
}
static void on_gone(sq_job_process *p, int64_t status, int signum) {
  recorder *r = p->data;
  r->gone_calls++;
  r->lines_before_gone = r->n_lines;
  r->status = status;
  r->signal = signum;
}
static void on_closed(sq_job_process *p) { ((recorder *)p->data)->closed_calls++; }
static const sq_job_process_events events = {on_line, on_gone, on_closed};

static int run_sh(const char *script, recorder *r, sq_job_process *p, const char *first) {
  char *args[] = {"sh", "-c", (char *)script, NULL};
  int rc = sq_job_process_spawn(p, uv_default_loop(), "/bin/sh", args, NULL, &events, r);
  if (rc == 0 && first) sq_job_process_send(p, first);
  return rc;
}

TEST(lines_split_across_reads_arrive_whole_and_before_gone) {
  recorder r = {0};
  sq_job_process p;
  ASSERT_INT_EQ(run_sh("read a; printf 'one\\ntw'; sleep 0.1; printf 'o\\nthree\\nrest'; exit 3",
                       &r, &p, "go"), 0);
  uv_run(uv_default_loop(), UV_RUN_DEFAULT);
  ASSERT_INT_EQ(r.n_lines, 3);
  ASSERT_STR_EQ(r.lines[0], "one");
  ASSERT_STR_EQ(r.lines[1], "two");
  ASSERT_STR_EQ(r.lines[2], "three");
  ASSERT_INT_EQ(r.gone_calls, 1);
  ASSERT_INT_EQ(r.lines_before_gone, 3);
  ASSERT_INT_EQ(r.status, 3);
  ASSERT_INT_EQ(r.closed_calls, 1);
}

/* A line past the 64 KiB cap is dropped whole; the line after it, in the same
 * read or not, still arrives. */
TEST(overlong_line_is_dropped_and_the_next_arrives) {
  recorder r = {0};
  sq_job_process p;
  ASSERT_INT_EQ(run_sh("read a; head -c 70000 /dev/zero | tr '\\0' x; printf 'y\\nok\\n';"
                       " head -c 140000 /dev/zero | tr '\\0' z; printf '\\nagain\\n'",
                       &r, &p, "go"), 0);
  uv_run(uv_default_loop(), UV_RUN_DEFAULT);
  ASSERT_INT_EQ(r.n_lines, 2);
  ASSERT_STR_EQ(r.lines[0], "ok");
  ASSERT_STR_EQ(r.lines[1], "again");
  ASSERT_INT_EQ(r.gone_calls, 1);
  ASSERT_INT_EQ(r.closed_calls, 1);
}

TEST(serves_requests_until_retired) {
  recorder r = {0};
  sq_job_process p;
  r.reply = "second";
  ASSERT_INT_EQ(run_sh("while read l; do echo \"got $l\"; done", &r, &p, "first"), 0);
  /* Retire once both answers are in: run the loop until then. */
  while (r.n_lines < 2 && uv_run(uv_default_loop(), UV_RUN_ONCE)) continue;
  ASSERT_INT_EQ(r.n_lines, 2);
  ASSERT_STR_EQ(r.lines[0], "got first");
  ASSERT_STR_EQ(r.lines[1], "got second");
  ASSERT_INT_EQ(r.gone_calls, 0);
  sq_job_process_retire(&p);
  ASSERT(sq_job_process_send(&p, "late") != 0); /* stdin is closed */
  uv_run(uv_default_loop(), UV_RUN_DEFAULT);
  ASSERT_INT_EQ(r.gone_calls, 1);
  ASSERT_INT_EQ(r.status, 0);
  ASSERT_INT_EQ(r.signal, 0);
  ASSERT_INT_EQ(r.closed_calls, 1);
}

TEST(kill_reports_the_signal) {
  recorder r = {0};
  sq_job_process p;
  ASSERT_INT_EQ(run_sh("exec sleep 30", &r, &p, NULL), 0);
  sq_job_process_kill(&p, SIGKILL);
  uv_run(uv_default_loop(), UV_RUN_DEFAULT);
  ASSERT_INT_EQ(r.gone_calls, 1);
  ASSERT_INT_EQ(r.signal, SIGKILL);
  ASSERT_INT_EQ(r.closed_calls, 1);
}

/* A failed spawn closes every handle, the process's too (libuv keeps it on
 * the loop even then): the loop closes cleanly, and the slot's struct can be
 * spawned into again, twice here. */
TEST(failed_spawn_still_closes) {
  recorder r = {0};
  sq_job_process p;
  uv_loop_t loop;
  char *args[] = {"nope", NULL};
  ASSERT_INT_EQ(uv_loop_init(&loop), 0);
  for (int i = 0; i < 2; i++) {
    ASSERT(sq_job_process_spawn(&p, &loop, "/nonexistent/sheetq", args, NULL, &events, &r) != 0);
    uv_run(&loop, UV_RUN_DEFAULT);
  }
  ASSERT_INT_EQ(r.gone_calls, 0);
  ASSERT_INT_EQ(r.closed_calls, 2);
  ASSERT_INT_EQ(uv_loop_close(&loop), 0); /* UV_EBUSY if a handle was left open */
}

TEST_MAIN(TEST_ENTRY(lines_split_across_reads_arrive_whole_and_before_gone),
          TEST_ENTRY(overlong_line_is_dropped_and_the_next_arrives),
          TEST_ENTRY(serves_requests_until_retired), TEST_ENTRY(kill_reports_the_signal),
          TEST_ENTRY(failed_spawn_still_closes))
