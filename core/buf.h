/* buf.h - a growable byte buffer with a hard size cap (after curl's dynbuf).
 *
 * Every string sheetq builds at run time (SQL, keys, JSON) grows through
 * sq_buf, so no buffer can grow without bound and every append is checked.
 * The content is always NUL-terminated. The buffer owns its memory;
 * sq_buf_free() releases it, sq_buf_take() hands it to the caller.
 */
#ifndef SQ_BUF_H
#define SQ_BUF_H

#include <stddef.h>

#include "core/error.h"

typedef struct sq_buf {
  char *data;
  size_t len;
  size_t cap;
  size_t max; /* hard limit on len */
} sq_buf;

void sq_buf_init(sq_buf *b, size_t max);
void sq_buf_free(sq_buf *b);
void sq_buf_reset(sq_buf *b);
/* Returns SQ_ENOMEM when allocation fails or max would be exceeded. */
sq_errcode sq_buf_add(sq_buf *b, const void *data, size_t len);
sq_errcode sq_buf_adds(sq_buf *b, const char *s);
sq_errcode sq_buf_printf(sq_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Detaches the content (caller frees with free()); the buffer is reset. */
char *sq_buf_take(sq_buf *b);
static inline const char *sq_buf_str(const sq_buf *b) {
  return b->data ? b->data : "";
}

#endif
