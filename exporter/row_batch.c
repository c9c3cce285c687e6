/* row_batch.c - see row_batch.h.
 *
 * The hot path of a million-row export: called once per record. cJSON's
 * nodes come from the thread's arena (json_arena.h), reset per record; rows,
 * cells and texts go into arrays and a text buffer that grow to a batch's
 * size once and are reused: a record costs no malloc. */
#include "exporter/row_batch.h"

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "exporter/cell_text.h"
#include "exporter/json_arena.h"

#define FULL_ROWS 1024
#define FULL_CELLS 32768
#define FULL_TEXT (1u << 20)
#define TEXT_MAX (512u << 20)      /* a hard cap: one huge row still fits */
#define SCRATCH_MAX (64u << 20)    /* text forms of one value */

sq_errcode sq_row_batch_init(sq_row_batch *b, sq_err *err) {
  /* Here, before any reader thread parses: a batch is made by the thread
   * that starts the readers. */
  sq_json_arena_install();
  memset(b, 0, sizeof *b);
  sq_buf_init(&b->text, TEXT_MAX);
  sq_buf_init(&b->scratch, SCRATCH_MAX);
  /* One buffer for both: cleaned text first, then escape scratch. */
  b->escaped = malloc(SQ_TEXT_CLEAN_CAP + SQ_CELL_TEXT_ESCAPED_CAP);
  if (b->escaped == NULL) return sq_err_set(err, SQ_ENOMEM, "out of memory");
  return SQ_OK;
}

void sq_row_batch_free(sq_row_batch *b) {
  free(b->rows);
  free(b->cells);
  sq_buf_free(&b->text);
  sq_buf_free(&b->scratch);
  free(b->escaped);
  memset(b, 0, sizeof *b);
}

void sq_row_batch_reset(sq_row_batch *b) {
  b->n_rows = b->n_cells = 0;
  b->text.len = 0;
  b->bad_values_json = b->unknown_items = b->truncated_cells = 0;
}

bool sq_row_batch_full(const sq_row_batch *b) {
  return b->n_rows >= FULL_ROWS || b->n_cells >= FULL_CELLS || b->text.len >= FULL_TEXT;
}

static bool grow(void **v, size_t *cap, size_t need, size_t elem) {
  size_t n = *cap ? *cap : 256;
  void *p;
  if (need <= *cap) return true;
  while (n < need) n *= 2;
  if ((p = realloc(*v, n * elem)) == NULL) return false;
  *v = p;
  *cap = n;
  return true;
}

/* Adds the ready text of s[0..len) and says where it is (len 0: blank). */
static sq_errcode add_text(sq_row_batch *b, const char *s, size_t len, uint32_t *off,
                           uint32_t *len_out) {
  char *clean = b->escaped + SQ_CELL_TEXT_ESCAPED_CAP;
  bool cut = false;
  size_t n = sq_cell_text(s, len, clean, b->escaped, &cut);
  if (cut) b->truncated_cells++;
  *off = (uint32_t)b->text.len;
  *len_out = (uint32_t)n;
  if (n == 0) return SQ_OK;
  return sq_buf_add(&b->text, clean, n + 1); /* with its NUL */
}

/* The slot of a values key (an item id in decimal). *next is where the
 * record's next key is looked for first: forms store their values in item
 * order, so the slot after the last one found is nearly always right, and
 * that saves a binary search whose branches the CPU cannot predict (the
 * hottest part of preparing a record, by perf). */
static const sq_item_slot *find_slot(const sq_row_layout *l, const char *key, size_t *next) {
  uint64_t id = 0;
  size_t lo = 0, hi = l->n_slots;
  if (key == NULL || *key == '\0') return NULL;
  for (const char *s = key; *s; s++) {
    unsigned d = (unsigned)(*s - '0');
    if (d > 9 || id > (UINT64_MAX - d) / 10) return NULL;
    id = id * 10 + d;
  }
  if (*next < l->n_slots && l->slots[*next].id == id) return &l->slots[(*next)++];
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (l->slots[mid].id == id) {
      *next = mid + 1;
      return &l->slots[mid];
    }
    if (l->slots[mid].id < id)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

static sq_errcode add_value(sq_row_batch *b, const sq_item_slot *slot, const cJSON *value,
                            sq_err *err) {
  sq_prepared_cell *c;
  sq_cell cell;
  /* Over the scratch cap (64 MB of text for one value) every attempt would
   * fail alike: permanent, not the temporary out-of-memory. */
  if (sq_cell_from_json(value, slot->kind, &b->scratch, &cell) != SQ_OK)
    return sq_err_set(err, SQ_ERENDER, "item %llu: value too large to render (over %u MB as text)",
                      (unsigned long long)slot->id, (unsigned)(SCRATCH_MAX >> 20));
  if (cell.type == SQ_CELL_BLANK) return SQ_OK;
  if (!grow((void **)&b->cells, &b->cap_cells, b->n_cells + 1, sizeof *b->cells))
    return sq_err_set(err, SQ_ENOMEM, "out of memory");
  c = &b->cells[b->n_cells];
  c->col = slot->col;
  c->type = (uint8_t)cell.type;
  c->flag = false;
  switch (cell.type) {
    case SQ_CELL_NUMBER: c->v.number = cell.number; break;
    case SQ_CELL_BOOLEAN: c->flag = cell.boolean; break;
    case SQ_CELL_DATETIME:
      c->v.datetime = cell.datetime;
      c->flag = cell.datetime.has_time;
      break;
    case SQ_CELL_STRING:
      if (add_text(b, cell.text, cell.text_len, &c->v.text.off, &c->v.text.len) != SQ_OK)
        return sq_err_set(err, SQ_ENOMEM, "item %llu: out of memory for text",
                          (unsigned long long)slot->id);
      if (c->v.text.len == 0) return SQ_OK; /* cleaned to nothing: blank */
      break;
    default: return SQ_OK;
  }
  b->n_cells++;
  return SQ_OK;
}

sq_errcode sq_row_batch_add(sq_row_batch *b, const sq_row_layout *layout,
                            const sq_record *rec, sq_err *err) {
  sq_prepared_row *row;
  cJSON *values = NULL;
  sq_errcode rc = SQ_OK;

  if (!grow((void **)&b->rows, &b->cap_rows, b->n_rows + 1, sizeof *b->rows))
    return sq_err_set(err, SQ_ENOMEM, "out of memory");
  row = &b->rows[b->n_rows];
  memset(row, 0, sizeof *row);
  row->first_cell = (uint32_t)b->n_cells;
  if (rec->recorded_at != NULL) {
    row->at_is_datetime = sq_cell_parse_recorded_at(rec->recorded_at, &row->at);
    if (!row->at_is_datetime &&
        (rc = add_text(b, rec->recorded_at, strlen(rec->recorded_at), &row->at_text_off,
                       &row->at_text_len)) != SQ_OK)
      return sq_err_set(err, rc, "out of memory");
  }
  if (rec->recorded_by != NULL &&
      (rc = add_text(b, rec->recorded_by, rec->recorded_by_len, &row->by_off,
                     &row->by_len)) != SQ_OK)
    return sq_err_set(err, rc, "out of memory");

  if (rec->values != NULL && rec->values_len > 0) {
    values = sq_json_arena_parse(rec->values, rec->values_len);
    if (values == NULL || !cJSON_IsObject(values)) {
      b->bad_values_json++;
    } else {
      size_t next = 0;
      for (const cJSON *v = values->child; v != NULL && rc == SQ_OK; v = v->next) {
        const sq_item_slot *slot = find_slot(layout, v->string, &next);
        if (slot == NULL)
          b->unknown_items++;
        else
          rc = add_value(b, slot, v, err);
      }
    }
    sq_json_arena_drop(values);
  }
  if (rc != SQ_OK) {
    b->n_cells = row->first_cell; /* the row is not added */
    return rc;
  }
  row->n_cells = (uint32_t)(b->n_cells - row->first_cell);
  b->n_rows++;
  return SQ_OK;
}
