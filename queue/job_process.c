/* job_process.c - see job_process.h. */
#include "queue/job_process.h"

#include <string.h>

#include "core/log.h"

#define OUTPUT_MAX 65536 /* a result line is a few hundred bytes */

static void on_handle_closed(uv_handle_t *h) {
  sq_job_process *p = h->data;
  if (--p->open_handles > 0) return;
  sq_buf_free(&p->output);
  p->ev->on_closed(p);
}

static void close_handle(sq_job_process *p, uv_handle_t *h) {
  if (!uv_is_closing(h)) uv_close(h, on_handle_closed);
  (void)p;
}

/* Exited and drained: report, then release the handles. */
static void maybe_gone(sq_job_process *p) {
  if (!p->exited || !p->eof || p->gone) return;
  p->gone = true;
  p->ev->on_gone(p, p->exit_status, p->term_signal);
  close_handle(p, (uv_handle_t *)&p->proc);
  close_handle(p, (uv_handle_t *)&p->in);
  close_handle(p, (uv_handle_t *)&p->out);
}

static void on_exit_cb(uv_process_t *proc, int64_t exit_status, int term_signal) {
  sq_job_process *p = proc->data;
  p->exited = true;
  p->exit_status = exit_status;
  p->term_signal = term_signal;
  maybe_gone(p);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  static char scratch[4096]; /* loop thread only; consumed in on_read */
  (void)h;
  (void)suggested;
  buf->base = scratch;
  buf->len = sizeof scratch;
}

/* Hands over each complete line; keeps the unfinished rest. */
static void deliver_lines(sq_job_process *p) {
  char *start = p->output.data, *nl;
  size_t left = p->output.len;
  while (left > 0 && (nl = memchr(start, '\n', left)) != NULL) {
    size_t n = (size_t)(nl - start);
    *nl = '\0';
    p->ev->on_line(p, start, n);
    start = nl + 1;
    left -= n + 1;
  }
  if (left > 0 && start != p->output.data) memmove(p->output.data, start, left);
  p->output.len = left;
  if (p->output.data) p->output.data[left] = '\0';
}

/* Takes one read's bytes. A line past the cap is nobody's answer (a result
 * line is a few hundred bytes): it is dropped whole, up to its newline, and
 * the lines after it, read in the same chunk or later, arrive as usual. */
static void take_output(sq_job_process *p, const char *data, size_t len) {
  if (p->skipping) {
    const char *nl = memchr(data, '\n', len);
    if (nl == NULL) return;
    p->skipping = false;
    len -= (size_t)(nl + 1 - data);
    data = nl + 1;
  }
  if (sq_buf_add(&p->output, data, len) != SQ_OK) {
    SQ_WARN("job process %d wrote a line of over %d bytes; dropped", p->proc.pid, OUTPUT_MAX);
    sq_buf_reset(&p->output);
    p->skipping = true;
    take_output(p, data, len); /* the buffer held no newline; this chunk may */
    return;
  }
  deliver_lines(p);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  sq_job_process *p = s->data;
  if (n > 0) {
    take_output(p, buf->base, (size_t)n);
    return;
  }
  if (n < 0) {
    uv_read_stop(s);
    p->eof = true;
    maybe_gone(p);
  }
}

int sq_job_process_spawn(sq_job_process *p, uv_loop_t *loop, const char *exe,
                         char **args, char **env,
                         const sq_job_process_events *ev, void *data) {
  uv_process_options_t po;
  uv_stdio_container_t stdio[3];
  int r;

  memset(p, 0, sizeof *p);
  p->data = data;
  p->ev = ev;
  sq_buf_init(&p->output, OUTPUT_MAX);
  uv_pipe_init(loop, &p->in, 0);
  uv_pipe_init(loop, &p->out, 0);
  p->in.data = p->out.data = p->proc.data = p;
  p->open_handles = 2;
  stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
  stdio[0].data.stream = (uv_stream_t *)&p->in;
  stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  stdio[1].data.stream = (uv_stream_t *)&p->out;
  stdio[2].flags = UV_INHERIT_FD;
  stdio[2].data.fd = 2;
  memset(&po, 0, sizeof po);
  po.file = exe;
  po.args = args;
  po.env = env;
  po.stdio = stdio;
  po.stdio_count = 3;
  po.exit_cb = on_exit_cb;
  r = uv_spawn(loop, &p->proc, &po);
  p->open_handles = 3;
  if (r != 0) {
    /* libuv has the process handle on the loop even when the spawn fails
     * (its own spawn_fails test closes it): left open, the slot's next
     * spawn would link it into the loop's handle list a second time. */
    p->gone = true;
    close_handle(p, (uv_handle_t *)&p->proc);
    close_handle(p, (uv_handle_t *)&p->in);
    close_handle(p, (uv_handle_t *)&p->out);
    return r;
  }
  uv_read_start((uv_stream_t *)&p->out, on_alloc, on_read);
  return 0;
}

static void on_written(uv_write_t *req, int status) {
  /* A failed write means the process is gone; its exit tells the rest. */
  sq_job_process *p = req->data;
  (void)status;
  p->writing = false;
}

int sq_job_process_send(sq_job_process *p, const char *line) {
  size_t n = strlen(line);
  uv_buf_t b;
  if (p->gone || p->exited || uv_is_closing((uv_handle_t *)&p->in)) return UV_EPIPE;
  if (p->writing) return UV_EBUSY;
  if (n + 1 >= sizeof p->request) return UV_E2BIG;
  memcpy(p->request, line, n);
  p->request[n] = '\n';
  b = uv_buf_init(p->request, (unsigned)n + 1);
  /* A pipe's buffer holds far more than one request: this completes at once
   * unless the process stopped reading, and then its exit ends the job. */
  p->write_req.data = p;
  p->writing = uv_write(&p->write_req, (uv_stream_t *)&p->in, &b, 1, on_written) == 0;
  return p->writing ? 0 : UV_EPIPE;
}

static void on_gate_written(uv_write_t *req, int status) {
  sq_job_process *p = req->data;
  (void)status; /* as on_written */
  p->gate_writing = false;
}

int sq_job_process_send_go(sq_job_process *p) {
  static char go_line[] = "go\n";
  uv_buf_t b = uv_buf_init(go_line, sizeof go_line - 1);
  if (p->gone || p->exited || uv_is_closing((uv_handle_t *)&p->in)) return UV_EPIPE;
  if (p->gate_writing) return UV_EBUSY;
  p->gate_req.data = p;
  p->gate_writing = uv_write(&p->gate_req, (uv_stream_t *)&p->in, &b, 1, on_gate_written) == 0;
  return p->gate_writing ? 0 : UV_EPIPE;
}

void sq_job_process_kill(sq_job_process *p, int signum) {
  if (!p->exited && !p->gone) uv_process_kill(&p->proc, signum);
}

void sq_job_process_retire(sq_job_process *p) {
  if (!p->gone) close_handle(p, (uv_handle_t *)&p->in);
}

int sq_job_process_pid(const sq_job_process *p) { return p->proc.pid; }
