/* json_arena.h - parses one record's values with cJSON, its allocations taken
 * from the calling thread's own block instead of malloc.
 *
 * cJSON allocates a node for every value and a copy of every key and string
 * value: two or three malloc/free pairs per value, per record. Taking them
 * from a block cut the reader's CPU for a 200,000 x 30 report from 1.34 to
 * 0.94 s (bench/raw_render's load figure, docs/benchmarks.md).
 * cJSON's allocation hooks (cJSON_InitHooks) are process-wide, so the hooks
 * installed here take from a thread's block only between the start and the
 * end of sq_json_arena_parse() on that thread; every other allocation (other
 * threads, other cJSON use, any time else) is malloc/free as before, and a
 * free of memory that is not in the thread's block is free().
 *
 * The block is reset by each parse: a tree is dropped (sq_json_arena_drop)
 * on the thread that parsed it, before that thread's next parse. A record
 * bigger than the block still parses: what does not fit is malloc'ed (and
 * freed by the drop), and the block grows (up to 4 MB) for the next parse.
 * Each thread's block is freed when the thread exits.
 *
 * Without sq_json_arena_install() everything still works, through malloc.
 */
#ifndef SQ_JSON_ARENA_H
#define SQ_JSON_ARENA_H

#include <stddef.h>

#include <cjson/cJSON.h>

/* Installs the hooks; call once, at start, before other threads use cJSON
 * (cJSON_InitHooks writes globals). Idempotent. */
void sq_json_arena_install(void);

/* cJSON_ParseWithLength(s, len) into this thread's block. */
cJSON *sq_json_arena_parse(const char *s, size_t len);

/* Releases a tree from sq_json_arena_parse (NULL is fine). */
void sq_json_arena_drop(cJSON *tree);

/* What the calling thread's last parse took: bytes from its block and bytes
 * it had to malloc (both 0 before a first parse). For tests. */
void sq_json_arena_last(size_t *in_block, size_t *spilled);

#endif
