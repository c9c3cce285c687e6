/* buf.c - see buf.h. Grows geometrically so appends are amortised O(1). */
#include "core/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sq_buf_init(sq_buf *b, size_t max) {
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
  b->max = max;
}

void sq_buf_free(sq_buf *b) {
  free(b->data);
  sq_buf_init(b, b->max);
}

void sq_buf_reset(sq_buf *b) {
  b->len = 0;
  if (b->data) b->data[0] = '\0';
}

static sq_errcode ensure(sq_buf *b, size_t extra) {
  size_t need, cap;
  char *p;
  if (extra > b->max || b->len > b->max - extra) return SQ_ENOMEM;
  need = b->len + extra + 1;
  if (need <= b->cap) return SQ_OK;
  cap = b->cap ? b->cap : 64;
  while (cap < need) cap *= 2;
  p = realloc(b->data, cap);
  if (p == NULL) return SQ_ENOMEM;
  b->data = p;
  b->cap = cap;
  return SQ_OK;
}

sq_errcode sq_buf_add(sq_buf *b, const void *data, size_t len) {
  if (ensure(b, len) != SQ_OK) return SQ_ENOMEM;
  if (len) memcpy(b->data + b->len, data, len);
  b->len += len;
  b->data[b->len] = '\0';
  return SQ_OK;
}

sq_errcode sq_buf_adds(sq_buf *b, const char *s) {
  return sq_buf_add(b, s, strlen(s));
}

sq_errcode sq_buf_printf(sq_buf *b, const char *fmt, ...) {
  va_list ap;
  int n;
  va_start(ap, fmt);
  n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0 || ensure(b, (size_t)n) != SQ_OK) return SQ_ENOMEM;
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
  return SQ_OK;
}

char *sq_buf_take(sq_buf *b) {
  char *p = b->data;
  if (p == NULL) p = calloc(1, 1);
  sq_buf_init(b, b->max);
  return p;
}
