/* json_arena: jansson's values of one comparison from a bump allocator.
 *
 * A comparison parses two documents into jansson values, rewrites and
 * compares them, and frees them all: one malloc and one free per value,
 * about 40% of a noisy 2 KB comparison's instructions (callgrind, 2026-12-07).
 * Between json_arena_begin and json_arena_end, the calling thread's jansson
 * allocations come from the arena's chunks and their frees cost a range
 * check; json_arena_end takes them all back at once.
 *
 * The rule that makes this safe: no value allocated inside a scope is used,
 * referenced or freed after its end, and no value allocated outside is
 * changed inside in a way that allocates (a set into an outside object).
 * What must outlive the scope leaves through json_arena_export, a copy. The
 * ASan build poisons the chunks at the end of each scope, so a break of the
 * rule is a test failure there, not silent corruption.
 *
 * One arena per thread that uses it, owned by that thread (the comparers).
 * json_arena_install routes jansson's allocations here once, before any
 * thread starts; without it an arena scope is plain malloc and free. */
#ifndef SP_JSON_ARENA_H
#define SP_JSON_ARENA_H

#include <jansson.h>
#include <stddef.h>

typedef struct json_arena json_arena;

/* jansson's malloc and free become this module's (json_set_alloc_funcs).
 * Call once, before any thread uses jansson. Idempotent. */
void json_arena_install(void);

/* An arena that keeps up to keep_bytes of chunks between scopes (the rest
 * goes back to malloc at each end). NULL: out of memory. */
json_arena *json_arena_new(size_t keep_bytes);
void json_arena_free(json_arena *a); /* NULL-safe; not inside a scope */

/* This thread's jansson allocations come from `a` until json_arena_end.
 * Scopes do not nest. A NULL arena is no scope: malloc as usual. */
void json_arena_begin(json_arena *a);
void json_arena_end(json_arena *a);

/* Lets go of v, a value of the open scope that nothing outside it
 * references and that references nothing from outside (debug builds check
 * the second): its memory comes back at json_arena_end, without the walk
 * json_decref makes (a sixth of a noisy comparison's instructions). The
 * same as json_decref when `a` is NULL. */
void json_arena_drop(json_arena *a, json_t *v);

/* A new reference usable after the scope: a deep copy of v (the scope's)
 * in malloc'd memory; v itself when `a` is NULL. NULL if v is NULL or out
 * of memory. */
json_t *json_arena_export(json_arena *a, const json_t *v);

/* Bytes of chunks the arena holds now (tests, metrics). */
size_t json_arena_held(const json_arena *a);

#endif
