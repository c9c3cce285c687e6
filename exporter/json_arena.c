/* json_arena.c - see json_arena.h. */
#include "exporter/json_arena.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#define BLOCK_MIN (64u << 10)
#define BLOCK_MAX (4u << 20)
#define ALIGN 16u

typedef struct block {
  char *base;
  size_t cap, used;
  size_t spilled; /* bytes malloc'ed during the current parse: did not fit */
  bool active;    /* inside sq_json_arena_parse */
} block;

static _Thread_local block *mine; /* this thread's; freed at its exit */
static pthread_key_t exit_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static pthread_once_t hooks_once = PTHREAD_ONCE_INIT;

static void block_free(void *p) {
  block *b = p;
  free(b->base);
  free(b);
}

static void make_key(void) { (void)pthread_key_create(&exit_key, block_free); }

static void *hook_malloc(size_t n) {
  block *b = mine;
  if (b != NULL && b->active) {
    size_t need = (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    if (need >= n && need <= b->cap - b->used) {
      void *p = b->base + b->used;
      b->used += need;
      return p;
    }
    b->spilled += n;
  }
  return malloc(n);
}

static void hook_free(void *p) {
  block *b = mine;
  if (p != NULL && b != NULL && b->base != NULL && (char *)p >= b->base &&
      (char *)p < b->base + b->cap)
    return; /* in the block: gone with the next reset */
  free(p);
}

static void install(void) {
  cJSON_Hooks h = {hook_malloc, hook_free};
  cJSON_InitHooks(&h);
}

void sq_json_arena_install(void) { (void)pthread_once(&hooks_once, install); }

/* This thread's block, sized for what the last parse needed; NULL when no
 * memory (the parse then goes through malloc). */
static block *ready_block(void) {
  block *b = mine;
  size_t want;
  if (b == NULL) {
    if (pthread_once(&key_once, make_key) != 0 || (b = calloc(1, sizeof *b)) == NULL)
      return NULL;
    if (pthread_setspecific(exit_key, b) != 0) {
      free(b);
      return NULL;
    }
    mine = b;
  }
  want = b->cap ? b->cap : BLOCK_MIN;
  while (want < b->used + b->spilled && want < BLOCK_MAX) want *= 2;
  if (want > BLOCK_MAX) want = BLOCK_MAX;
  if (want != b->cap) {
    char *base = malloc(want); /* no tree lives in the old block now */
    if (base != NULL) {
      free(b->base);
      b->base = base;
      b->cap = want;
    }
  }
  b->used = b->spilled = 0;
  return b;
}

cJSON *sq_json_arena_parse(const char *s, size_t len) {
  block *b = ready_block();
  cJSON *tree;
  if (b == NULL || b->base == NULL) return cJSON_ParseWithLength(s, len);
  b->active = true;
  tree = cJSON_ParseWithLength(s, len);
  b->active = false;
  return tree;
}

void sq_json_arena_last(size_t *in_block, size_t *spilled) {
  const block *b = mine;
  *in_block = b ? b->used : 0;
  *spilled = b ? b->spilled : 0;
}

void sq_json_arena_drop(cJSON *tree) {
  const block *b = mine;
  /* All of it in the block: nothing to walk. Else cJSON_Delete frees the
   * spilled nodes (hook_free skips the others). */
  if (tree != NULL && (b == NULL || b->spilled > 0 || b->base == NULL)) cJSON_Delete(tree);
}
