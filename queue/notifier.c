/* notifier.c - the Slack notifier thread (see notifier.h for the design). */
#include "queue/notifier.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/db.h"
#include "core/conn_urls.h"
#include "core/db_ledger.h"
#include "core/http.h"
#include "core/ledger_outbox.h"
#include "core/log.h"
#include "core/slack_message.h"
#include "queue/leader_lease.h"

#define LEASE_MS 15000L
#define POLL_MS 1000L
#define MIN_GAP_MS 1000L      /* Slack takes about one message a second */
#define BACKOFF_MAX_MS 60000L
#define RETRY_AFTER_DEFAULT_S 30L
#define RETRY_AFTER_MAX_S 900L
#define FAILURES_PER_MESSAGE 500 /* the rest go in the next message */
/* Two tries of a message (Block Kit, then plain text) fit in the lease,
 * renewed right before the send (still_leading), so neither a slow Slack nor
 * a slow ledger can make two holders send the same message. */
#define HTTP_TIMEOUT_MS 5000L

struct sq_notifier {
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cond;
  bool stop;               /* under mu */
  long long flush_until;   /* under mu: monotonic ms */
  /* Owned by the thread once it runs: */
  char *webhook;           /* secret */
  char *mysql_url, *queue;
  long hold_s;
  sq_db *db;
  bool migrated;
  sq_leader_lease *lease;
  bool leading;
  sq_http *http;
  long long next_send;     /* monotonic ms: rate limit, Retry-After, backoff */
  long backoff_ms;
  bool redis_down, db_down; /* to log a state change once, not every second */
};

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* An error message with anything from the webhook's path cut out: http.c
 * names only the origin, but the URL must not leak even if that changes. */
static void redact(const sq_notifier *n, char *msg) {
  const char *scheme = strstr(n->webhook, "://");
  const char *path = scheme ? strchr(scheme + 3, '/') : NULL;
  char *at;
  if (path && path[1] && (at = strstr(msg, path)) != NULL) snprintf(at, 4, "***");
}

/* ---- sending ------------------------------------------------------------ */

typedef enum send_result {
  SEND_OK,       /* Slack took it */
  SEND_REJECTED, /* HTTP 400: this message will never be accepted */
  SEND_LATER,    /* 429, 5xx, no answer...: keep it and try again */
} send_result;

static long retry_after_s(const sq_http_response *r) {
  char v[32];
  char *end = NULL;
  long s;
  if (!sq_http_response_header(r, "Retry-After", v, sizeof v)) return RETRY_AFTER_DEFAULT_S;
  errno = 0;
  s = strtol(v, &end, 10);
  if (errno || end == v || *end != '\0') return RETRY_AFTER_DEFAULT_S; /* an HTTP date */
  return s < 1 ? 1 : s > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : s;
}

/* Slack's answer is a short word ("invalid_blocks", "no_service"): worth a
 * log line, kept printable and short. */
static void reason_of(const sq_http_response *r, char *out, size_t cap) {
  size_t k = 0;
  const char *b = sq_buf_str(&r->body);
  for (size_t i = 0; b[i] && k + 1 < cap && i < 80; i++)
    out[k++] = isprint((unsigned char)b[i]) ? b[i] : ' ';
  out[k] = '\0';
}

static send_result post(sq_notifier *n, const char *json, const char *what) {
  static const char *const headers[] = {"Content-Type: application/json; charset=utf-8",
                                        NULL};
  sq_http_request req;
  sq_http_response resp;
  sq_err err;
  send_result result = SEND_LATER;
  char reason[96] = "";
  sq_errcode rc;
  memset(&req, 0, sizeof req);
  req.method = "POST";
  req.url = n->webhook;
  req.headers = headers;
  req.body_kind = SQ_HTTP_BODY_MEMORY;
  req.body = json;
  req.body_len = strlen(json);
  req.connect_timeout_ms = 3000;
  req.timeout_ms = HTTP_TIMEOUT_MS;
  req.max_body = 1024;
  sq_http_response_init(&resp);
  rc = sq_http_perform(n->http, &req, &resp, &err);
  if (rc == SQ_OK) reason_of(&resp, reason, sizeof reason);
  if (rc == SQ_OK && resp.status >= 200 && resp.status < 300) {
    n->backoff_ms = 0;
    n->next_send = now_ms() + MIN_GAP_MS;
    result = SEND_OK;
  } else if (rc == SQ_OK && resp.status == 429) {
    long s = retry_after_s(&resp);
    n->next_send = now_ms() + s * 1000;
    SQ_WARN("slack: %s rate limited (HTTP 429): next try in %ld s", what, s);
  } else if (rc == SQ_OK && resp.status == 400) {
    SQ_ERROR("slack: %s refused as malformed: HTTP 400 %s", what, reason);
    n->next_send = now_ms() + MIN_GAP_MS;
    result = SEND_REJECTED;
  } else {
    n->backoff_ms = n->backoff_ms ? n->backoff_ms * 2 : 1000;
    if (n->backoff_ms > BACKOFF_MAX_MS) n->backoff_ms = BACKOFF_MAX_MS;
    n->next_send = now_ms() + n->backoff_ms;
    if (rc == SQ_OK) {
      SQ_WARN("slack: POST failed: HTTP %ld %s; %s kept, next try in %ld s", resp.status,
              reason, what, n->backoff_ms / 1000);
    } else {
      redact(n, err.msg);
      SQ_WARN("slack: POST failed: %s; %s kept, next try in %ld s", err.msg, what,
              n->backoff_ms / 1000);
    }
  }
  sq_http_response_free(&resp);
  return result;
}

/* The same message without its blocks: what a refused layout falls back to. */
static char *text_only(const char *json) {
  cJSON *root = cJSON_Parse(json);
  char *out = NULL;
  if (root != NULL) {
    cJSON_DeleteItemFromObjectCaseSensitive(root, "blocks");
    out = cJSON_PrintUnformatted(root);
  }
  cJSON_Delete(root);
  return out;
}

static void wait_ms(sq_notifier *n, long long until);

/* Sends json; a refused Block Kit layout is sent again as plain text.
 * SEND_REJECTED only when both forms were refused. */
static send_result deliver(sq_notifier *n, const char *json, const char *what) {
  send_result r = post(n, json, what);
  char *plain;
  if (r != SEND_REJECTED) return r;
  if ((plain = text_only(json)) == NULL) return SEND_LATER;
  wait_ms(n, n->next_send);
  r = post(n, plain, what);
  free(plain);
  if (r == SEND_REJECTED) SQ_ERROR("slack: %s dropped: Slack refused it twice", what);
  return r;
}

/* ---- one round ---------------------------------------------------------- */

static void db_failed(sq_notifier *n, sq_err *err) {
  if (!n->db_down) SQ_WARN("slack: ledger unavailable, notifications wait: %s", err->msg);
  n->db_down = true;
  sq_db_close(n->db);
  n->db = NULL;
}

static bool db_ready(sq_notifier *n) {
  sq_err err;
  if (n->db == NULL && (n->db = sq_db_connect(n->mysql_url, &err)) == NULL) {
    db_failed(n, &err);
    return false;
  }
  /* Adds the outbox columns to a ledger made by an older sheetq. */
  if (!n->migrated) {
    if (sq_ledger_migrate(n->db, &err) != SQ_OK) {
      db_failed(n, &err);
      return false;
    }
    n->migrated = true;
  }
  if (n->db_down) SQ_INFO("slack: ledger available again");
  n->db_down = false;
  return true;
}

/* Renews the lease just before a message goes out. The round's start
 * renewed it too, but its ledger queries may have taken seconds since
 * (a slow database): sending on an old renewal could overlap a new
 * holder's send of the same rows. Renewed here, the lease outlasts the
 * message's two tries (HTTP_TIMEOUT_MS each) and its marking. */
static bool still_leading(sq_notifier *n) {
  bool held = false;
  sq_err err;
  if (sq_leader_lease_refresh(n->lease, &held, &err) != SQ_OK || !held) {
    SQ_INFO("slack: the notifier lease was lost before sending; the new holder sends");
    n->leading = false;
    return false;
  }
  return true;
}

/* Sends what is due, if this process holds the lease. True when something
 * is still waiting to be sent now (used when flushing before exit). */
static bool round_once(sq_notifier *n) {
  sq_slack_failure *failures = NULL;
  sq_slack_batch_summary summary;
  size_t n_failures = 0;
  bool held = false, due = false, found = false;
  char *json = NULL;
  char what[96];
  sq_err err;
  send_result sent;

  if (sq_leader_lease_refresh(n->lease, &held, &err) != SQ_OK) {
    if (!n->redis_down) SQ_WARN("slack: cannot reach Redis for the notifier lease: %s", err.msg);
    n->redis_down = true;
    n->leading = false;
    return false;
  }
  n->redis_down = false;
  if (held != n->leading)
    SQ_INFO(held ? "slack: this worker now sends the queue's notifications"
                 : "slack: another worker sends the queue's notifications now");
  n->leading = held;
  if (!held) return false;
  if (now_ms() < n->next_send) return true;
  if (!db_ready(n)) return false;

  if (sq_outbox_failures(n->db, n->queue, FAILURES_PER_MESSAGE, n->hold_s, &failures,
                         &n_failures, &due, &err) != SQ_OK) {
    db_failed(n, &err);
    return false;
  }
  if (n_failures > 0 && due) {
    snprintf(what, sizeof what, "message about %zu failed job%s", n_failures,
             n_failures == 1 ? "" : "s");
    if ((json = sq_slack_failures_json(failures, n_failures, &err)) == NULL) {
      SQ_ERROR("slack: %s", err.msg);
      goto out;
    }
    if (!still_leading(n)) goto out;
    if ((sent = deliver(n, json, what)) == SEND_LATER) goto out;
    if (sent == SEND_OK) SQ_INFO("slack: sent %s", what);
    if (sq_outbox_failures_sent(n->db, failures, n_failures, &err) != SQ_OK) {
      SQ_WARN("slack: could not mark the failures sent (they may be sent again): %s", err.msg);
      db_failed(n, &err);
    }
    goto out;
  }
  if (sq_outbox_next_summary(n->db, n->queue, &summary, &found, &err) != SQ_OK) {
    db_failed(n, &err);
    goto out;
  }
  if (!found) goto out;
  snprintf(what, sizeof what, "summary of batch %s", summary.batch_id);
  if ((json = sq_slack_batch_json(&summary, &err)) == NULL) {
    SQ_ERROR("slack: %s", err.msg);
    goto out;
  }
  if (!still_leading(n)) goto out;
  if ((sent = deliver(n, json, what)) == SEND_LATER) goto out;
  if (sent == SEND_OK) SQ_INFO("slack: sent %s", what);
  if (sq_outbox_summary_sent(n->db, summary.batch_id, &err) != SQ_OK) {
    SQ_WARN("slack: could not mark the %s sent (it may be sent again): %s", what, err.msg);
    db_failed(n, &err);
  }
out:
  free(json);
  free(failures);
  /* Sent or kept: either way there may be more (the next summary). */
  return (n_failures > 0 && due) || found;
}

/* ---- the thread --------------------------------------------------------- */

/* Sleeps until the monotonic time `until`, or until stop is requested. */
static void wait_ms(sq_notifier *n, long long until) {
  struct timespec ts;
  pthread_mutex_lock(&n->mu);
  while (!n->stop && now_ms() < until) {
    long long ms = until;
    ts.tv_sec = (time_t)(ms / 1000);
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    if (pthread_cond_timedwait(&n->cond, &n->mu, &ts) == ETIMEDOUT) break;
  }
  pthread_mutex_unlock(&n->mu);
}

static void *run(void *arg) {
  sq_notifier *n = arg;
  for (;;) {
    bool pending = round_once(n), stop;
    long long until, now = now_ms();
    pthread_mutex_lock(&n->mu);
    stop = n->stop;
    until = n->flush_until;
    pthread_mutex_unlock(&n->mu);
    if (stop) {
      /* Flushing: go on only while something is due and time is left. */
      long long next = n->next_send > now ? n->next_send : now;
      if (!pending || next >= until) break;
      sq_sleep_ms((long)(next - now_ms()));
      continue;
    }
    wait_ms(n, now + POLL_MS);
  }
  return NULL;
}

/* ---- start and stop ----------------------------------------------------- */

/* The webhook URL from its file: read like a password file (conn_urls.h:
 * capped, trailing newline dropped, a warning when others can read it). The
 * messages never quote the content: it is the secret. */
static sq_errcode read_webhook_file(const char *path, char **out, sq_err *err) {
  char *url = NULL;
  sq_err e;
  sq_errcode rc = sq_password_file_read(path, &url, &e);
  if (rc != SQ_OK) return sq_err_set(err, rc, "slack_webhook_file: %.400s", e.msg);
  if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)
    rc = sq_err_set(err, SQ_ECONFIG, "slack_webhook_file %s does not hold an https:// URL", path);
  else if (strpbrk(url, " \t\r\n") != NULL)
    rc = sq_err_set(err, SQ_ECONFIG, "slack_webhook_file %s holds more than one URL", path);
  if (rc != SQ_OK) {
    memset(url, 0, strlen(url));
    free(url);
    return rc;
  }
  *out = url;
  return SQ_OK;
}

static void notifier_free(sq_notifier *n) {
  if (n == NULL) return;
  sq_leader_lease_close(n->lease);
  sq_http_free(n->http);
  sq_db_close(n->db);
  free(n->webhook);
  free(n->mysql_url);
  free(n->queue);
  pthread_cond_destroy(&n->cond);
  pthread_mutex_destroy(&n->mu);
  free(n);
}

sq_errcode sq_notifier_start(const sq_config *cfg, sq_notifier **out, sq_err *err) {
  sq_notifier *n = NULL;
  pthread_condattr_t ca;
  sigset_t all, old;
  char key[160];
  sq_err ignored;
  sq_errcode rc = SQ_ENOMEM;
  int e;
  *out = NULL;
  if (cfg->slack_webhook_url == NULL && cfg->slack_webhook_file == NULL) return SQ_OK;
  if ((n = calloc(1, sizeof *n)) == NULL) return sq_err_set(err, rc, "out of memory");
  pthread_mutex_init(&n->mu, NULL);
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&n->cond, &ca);
  pthread_condattr_destroy(&ca);
  if (cfg->slack_webhook_file) {
    if ((rc = read_webhook_file(cfg->slack_webhook_file, &n->webhook, err)) != SQ_OK) goto fail;
  } else if ((n->webhook = strdup(cfg->slack_webhook_url)) == NULL) {
    goto nomem;
  }
  n->mysql_url = strdup(cfg->mysql_url);
  n->queue = strdup(cfg->queue);
  if (n->mysql_url == NULL || n->queue == NULL) goto nomem;
  n->hold_s = cfg->slack_hold_seconds;
  snprintf(key, sizeof key, "sheetq:{%s}:notifier", cfg->queue);
  if ((n->lease = sq_leader_lease_open(cfg->redis_url, key, LEASE_MS, err)) == NULL) {
    rc = err->code;
    goto fail;
  }
  /* The HTTP client and the first database connection are made here, on
   * the caller's thread: libcurl's and Connector/C's one-time library set-up
   * must not race with another thread's. An unreachable database is not an
   * error: the thread connects later. */
  if ((n->http = sq_http_new(err)) == NULL) {
    rc = err->code;
    goto fail;
  }
  n->db = sq_db_connect(n->mysql_url, &ignored);
  /* Signals belong to the worker's event loop, not to this thread. */
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  e = pthread_create(&n->thread, NULL, run, n);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (e != 0) {
    rc = sq_err_set(err, SQ_EINTERNAL, "slack: cannot start the notifier thread: %s", strerror(e));
    goto fail;
  }
  SQ_INFO("slack: notifications on (webhook %s)",
          cfg->slack_webhook_file ? "from slack_webhook_file" : "from slack_webhook_url");
  *out = n;
  return SQ_OK;
nomem:
  rc = sq_err_set(err, SQ_ENOMEM, "out of memory");
fail:
  notifier_free(n);
  return rc;
}

void sq_notifier_stop(sq_notifier *n, long flush_ms) {
  if (n == NULL) return;
  pthread_mutex_lock(&n->mu);
  n->stop = true;
  n->flush_until = now_ms() + flush_ms;
  pthread_cond_broadcast(&n->cond);
  pthread_mutex_unlock(&n->mu);
  pthread_join(n->thread, NULL);
  notifier_free(n);
}
