/* slack_message.c - see slack_message.h. Text is assembled in sq_bufs
 * (escaped as it goes in), then placed into the JSON with cJSON, which does
 * the JSON escaping. */
#include "core/slack_message.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"

#define TEXT_MAX (64 * 1024)  /* one piece of text, well above Slack's limits */
#define ERROR_LINE_MAX 300    /* bytes of an error's first line shown */
#define NAME_MAX_SHOWN 120    /* bytes of a report or tenant name shown */
#define HEADER_MAX 150        /* Slack's limit for a header block */

/* Appends s[0..len) escaped for mrkdwn; a backtick becomes a quote so text
 * inside `code` cannot end it early. */
static sq_errcode add_escaped(sq_buf *b, const char *s, size_t len) {
  sq_errcode rc = SQ_OK;
  for (size_t i = 0; i < len && rc == SQ_OK; i++) {
    switch (s[i]) {
    case '&': rc = sq_buf_adds(b, "&amp;"); break;
    case '<': rc = sq_buf_adds(b, "&lt;"); break;
    case '>': rc = sq_buf_adds(b, "&gt;"); break;
    case '`': rc = sq_buf_adds(b, "'"); break;
    default: rc = sq_buf_add(b, &s[i], 1);
    }
  }
  return rc;
}

static size_t escaped_len(char c) {
  return c == '&' ? 5 : (c == '<' || c == '>') ? 4 : 1;
}

void sq_slack_first_line(const char *text, char *out, size_t cap) {
  size_t len = text ? strcspn(text, "\r\n") : 0, total = 0, cut = 0, used = 0;
  if (cap == 0) return;
  out[0] = '\0';
  if (cap < 5) return;
  for (size_t i = 0; i < len; i++) total += escaped_len(text[i]);
  if (total <= cap - 1) {
    cut = len;
  } else { /* keep room for "..." and end on a character boundary */
    for (size_t room = 0; cut < len && room + escaped_len(text[cut]) <= cap - 4; cut++)
      room += escaped_len(text[cut]);
    while (cut > 0 && ((unsigned char)text[cut] & 0xC0) == 0x80) cut--;
  }
  for (size_t i = 0; i < cut; i++) {
    switch (text[i]) {
    case '&': memcpy(out + used, "&amp;", 5); used += 5; break;
    case '<': memcpy(out + used, "&lt;", 4); used += 4; break;
    case '>': memcpy(out + used, "&gt;", 4); used += 4; break;
    case '`': out[used++] = '\''; break;
    case '\t': out[used++] = ' '; break;
    default: out[used++] = text[i];
    }
  }
  if (cut < len) {
    memcpy(out + used, "...", 3);
    used += 3;
  }
  out[used] = '\0';
}

static void format_duration(double s, char out[32]) {
  long t;
  if (s < 0) s = 0;
  if (s < 60) {
    snprintf(out, 32, "%.1f s", s);
    return;
  }
  t = (long)(s + 0.5);
  if (t < 3600)
    snprintf(out, 32, "%ldm %02lds", t / 60, t % 60);
  else
    snprintf(out, 32, "%ldh %02ldm %02lds", t / 3600, t % 3600 / 60, t % 60);
}

/* ---- JSON helpers: each returns NULL/false on no memory -------------- */

static cJSON *add_block(cJSON *blocks, const char *type) {
  cJSON *b = cJSON_CreateObject();
  if (b == NULL) return NULL;
  if (!cJSON_AddItemToArray(blocks, b)) {
    cJSON_Delete(b);
    return NULL;
  }
  return cJSON_AddStringToObject(b, "type", type) ? b : NULL;
}

/* {"type": kind, "text": s} as member `key` of obj (or appended to an array
 * when key is NULL). */
static bool add_text_object(cJSON *obj, const char *key, const char *kind,
                            const char *s) {
  cJSON *t = cJSON_CreateObject();
  bool ok;
  if (t == NULL) return false;
  ok = key ? cJSON_AddItemToObject(obj, key, t) : cJSON_AddItemToArray(obj, t);
  if (!ok) {
    cJSON_Delete(t);
    return false;
  }
  return cJSON_AddStringToObject(t, "type", kind) &&
         cJSON_AddStringToObject(t, "text", s);
}

static bool add_header(cJSON *blocks, const char *s) {
  cJSON *b = add_block(blocks, "header");
  return b && add_text_object(b, "text", "plain_text", s);
}

static bool add_section(cJSON *blocks, const char *mrkdwn) {
  cJSON *b = add_block(blocks, "section");
  return b && add_text_object(b, "text", "mrkdwn", mrkdwn);
}

static bool add_context(cJSON *blocks, const char *mrkdwn) {
  cJSON *b = add_block(blocks, "context");
  cJSON *elements = b ? cJSON_AddArrayToObject(b, "elements") : NULL;
  return elements && add_text_object(elements, NULL, "mrkdwn", mrkdwn);
}

/* Serialises {"text": text, "blocks": blocks} and takes blocks. */
static char *finish(cJSON *blocks, const char *text, sq_err *err) {
  cJSON *root = cJSON_CreateObject();
  char *json = NULL;
  if (root == NULL || !cJSON_AddStringToObject(root, "text", text) ||
      !cJSON_AddItemToObject(root, "blocks", blocks)) {
    cJSON_Delete(blocks);
    goto out;
  }
  json = cJSON_PrintUnformatted(root);
out:
  cJSON_Delete(root);
  if (json == NULL) sq_err_set(err, SQ_ENOMEM, "slack: out of memory building a message");
  return json;
}

/* "report 42 \"Name\"" with the name escaped and cut; no name: "report 42". */
static sq_errcode add_named(sq_buf *b, const char *what, uint64_t id, const char *name) {
  sq_errcode rc = sq_buf_printf(b, "%s %llu", what, (unsigned long long)id);
  size_t n = name ? strlen(name) : 0;
  if (rc != SQ_OK || n == 0) return rc;
  if (n > NAME_MAX_SHOWN) n = NAME_MAX_SHOWN;
  while (n > 0 && n < strlen(name) && ((unsigned char)name[n] & 0xC0) == 0x80) n--;
  if ((rc = sq_buf_adds(b, " \"")) == SQ_OK && (rc = add_escaped(b, name, n)) == SQ_OK)
    rc = sq_buf_adds(b, n < strlen(name) ? "...\"" : "\"");
  return rc;
}

/* "sheetq rerun JOB" (with --queue when it is not the default queue). */
static sq_errcode add_rerun(sq_buf *b, const sq_slack_failure *f) {
  if (f->queue[0] && strcmp(f->queue, "default") != 0)
    return sq_buf_printf(b, "sheetq rerun %s --queue %s", f->job_id, f->queue);
  return sq_buf_printf(b, "sheetq rerun %s", f->job_id);
}

/* One failure, for a section (mrkdwn) or for the fallback (plain). */
static sq_errcode add_failure(sq_buf *b, const sq_slack_failure *f, bool mrkdwn) {
  char line[ERROR_LINE_MAX + 1];
  sq_errcode rc;
  sq_slack_first_line(f->error, line, sizeof line);
  rc = sq_buf_adds(b, mrkdwn ? "*" : "- ");
  if (rc == SQ_OK) rc = add_named(b, "Report", f->report_id, f->report_name);
  if (rc == SQ_OK) rc = sq_buf_adds(b, mrkdwn ? "*, " : ", ");
  if (rc == SQ_OK) rc = add_named(b, "tenant", f->tenant_id, f->tenant_name);
  if (rc == SQ_OK)
    rc = sq_buf_printf(b, ", period %s\n%sJob %s%s%s, attempts %d of %d, %s%s%s: %s\n",
                       f->period, mrkdwn ? "" : "  ", mrkdwn ? "`" : "", f->job_id,
                       mrkdwn ? "`" : "", f->attempts, f->max_attempts, mrkdwn ? "`" : "",
                       f->error_code[0] ? f->error_code : "error", mrkdwn ? "`" : "",
                       line[0] ? line : "(no message)");
  if (rc == SQ_OK) rc = sq_buf_adds(b, mrkdwn ? "Re-run: `" : "  Re-run: ");
  if (rc == SQ_OK) rc = add_rerun(b, f);
  if (rc == SQ_OK && mrkdwn) rc = sq_buf_adds(b, "`");
  return rc;
}

/* The distinct batches of the unlisted failures (the first few), so the
 * reader knows where to look for the rest. */
static sq_errcode add_batches(sq_buf *b, const sq_slack_failure *f, size_t n) {
  size_t shown = 0;
  sq_errcode rc = SQ_OK;
  for (size_t i = 0; i < n && rc == SQ_OK; i++) {
    bool seen = false;
    for (size_t j = 0; j < i && !seen; j++) seen = strcmp(f[j].batch_id, f[i].batch_id) == 0;
    if (seen || f[i].batch_id[0] == '\0') continue;
    if (shown++ == 3) return sq_buf_adds(b, " ...");
    rc = sq_buf_printf(b, "%s `%s`", shown > 1 ? "," : "", f[i].batch_id);
  }
  return rc;
}

char *sq_slack_failures_json(const sq_slack_failure *f, size_t n, sq_err *err) {
  size_t listed = n < SQ_SLACK_LIST_MAX ? n : SQ_SLACK_LIST_MAX;
  cJSON *blocks = NULL;
  sq_buf text, section;
  char header[HEADER_MAX];
  char *json = NULL;
  if (n == 0) {
    sq_err_set(err, SQ_EINVAL, "slack: no failures to report");
    return NULL;
  }
  sq_buf_init(&text, TEXT_MAX);
  sq_buf_init(&section, TEXT_MAX);
  if ((blocks = cJSON_CreateArray()) == NULL) goto nomem;
  snprintf(header, sizeof header, "sheetq: %zu export%s failed", n, n == 1 ? "" : "s");
  if (!add_header(blocks, header)) goto nomem;
  if (sq_buf_printf(&text, "%s\n", header) != SQ_OK) goto nomem;
  for (size_t i = 0; i < listed; i++) {
    sq_buf_reset(&section);
    if (add_failure(&section, &f[i], true) != SQ_OK) goto nomem;
    if (!add_section(blocks, sq_buf_str(&section))) goto nomem;
    if (add_failure(&text, &f[i], false) != SQ_OK || sq_buf_adds(&text, "\n") != SQ_OK)
      goto nomem;
  }
  if (listed < n) {
    sq_buf_reset(&section);
    if (sq_buf_printf(&section, "and %zu more; `sheetq status --batch ID` lists them:",
                      n - listed) != SQ_OK)
      goto nomem;
    if (add_batches(&section, f + listed, n - listed) != SQ_OK) goto nomem;
    if (!add_context(blocks, sq_buf_str(&section))) goto nomem;
    if (sq_buf_printf(&text, "and %zu more\n", n - listed) != SQ_OK) goto nomem;
  }
  json = finish(blocks, sq_buf_str(&text), err);
  blocks = NULL;
  goto out;
nomem:
  sq_err_set(err, SQ_ENOMEM, "slack: out of memory building a message");
out:
  cJSON_Delete(blocks);
  sq_buf_free(&text);
  sq_buf_free(&section);
  return json;
}

char *sq_slack_batch_json(const sq_slack_batch_summary *s, sq_err *err) {
  cJSON *blocks = NULL;
  sq_buf text, section;
  char header[HEADER_MAX], took[32];
  char *json = NULL;
  sq_buf_init(&text, TEXT_MAX);
  sq_buf_init(&section, TEXT_MAX);
  format_duration(s->duration_s, took);
  if ((blocks = cJSON_CreateArray()) == NULL) goto nomem;
  snprintf(header, sizeof header, "sheetq: batch %s finished%s", s->period,
           s->failed ? " with failures" : "");
  if (!add_header(blocks, header)) goto nomem;
  if (sq_buf_printf(&section,
                    "Batch `%s`, queue `%s`, period %s\n"
                    "*Succeeded:* %llu   *Failed:* %llu   *Cancelled:* %llu   *Jobs:* %llu\n"
                    "*Duration:* %s",
                    s->batch_id, s->queue, s->period, (unsigned long long)s->succeeded,
                    (unsigned long long)s->failed, (unsigned long long)s->cancelled,
                    (unsigned long long)s->jobs, took) != SQ_OK)
    goto nomem;
  if (!add_section(blocks, sq_buf_str(&section))) goto nomem;
  if (sq_buf_printf(&text, "%s: batch %s, %llu succeeded, %llu failed, %llu cancelled "
                    "of %llu jobs in %s\n", header, s->batch_id,
                    (unsigned long long)s->succeeded, (unsigned long long)s->failed,
                    (unsigned long long)s->cancelled, (unsigned long long)s->jobs,
                    took) != SQ_OK)
    goto nomem;
  if (s->n_slowest > 0) {
    sq_buf_reset(&section);
    if (sq_buf_adds(&section, "*Slowest reports:*") != SQ_OK ||
        sq_buf_adds(&text, "Slowest reports:") != SQ_OK)
      goto nomem;
    for (size_t i = 0; i < s->n_slowest && i < SQ_SLACK_SLOWEST_MAX; i++) {
      const sq_slack_slow_report *r = &s->slowest[i];
      format_duration(r->seconds, took);
      if (sq_buf_printf(&section, "\n%zu. ", i + 1) != SQ_OK ||
          add_named(&section, "report", r->report_id, r->report_name) != SQ_OK ||
          sq_buf_printf(&section, " (tenant %llu): %s", (unsigned long long)r->tenant_id,
                        took) != SQ_OK ||
          sq_buf_printf(&text, "%s report %llu (%s)", i ? "," : "",
                        (unsigned long long)r->report_id, took) != SQ_OK)
        goto nomem;
    }
    if (!add_section(blocks, sq_buf_str(&section))) goto nomem;
    if (sq_buf_adds(&text, "\n") != SQ_OK) goto nomem;
  }
  if (s->failed > 0) {
    sq_buf_reset(&section);
    if (sq_buf_printf(&section, "`sheetq status --batch %s` lists the failed jobs",
                      s->batch_id) != SQ_OK)
      goto nomem;
    if (!add_context(blocks, sq_buf_str(&section))) goto nomem;
  }
  json = finish(blocks, sq_buf_str(&text), err);
  blocks = NULL;
  goto out;
nomem:
  sq_err_set(err, SQ_ENOMEM, "slack: out of memory building a message");
out:
  cJSON_Delete(blocks);
  sq_buf_free(&text);
  sq_buf_free(&section);
  return json;
}
