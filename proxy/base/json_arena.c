#include "base/json_arena.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "base/invariant.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* A 2 KB order's two documents take about 30 KB of values: the first chunk
 * holds them. Chunks double up to MAX_CHUNK for large documents; a value
 * over BIG bytes (a long string, a large array's table) gets a chunk of its
 * own. */
enum { ALIGN = 16, FIRST_CHUNK = 64 * 1024, MAX_CHUNK = 1024 * 1024, BIG = 16 * 1024 };

typedef struct chunk {
    struct chunk *next;
    size_t size;
} chunk; /* its `size` bytes of data follow */

_Static_assert(sizeof(chunk) % ALIGN == 0, "chunk data must stay aligned");

struct json_arena {
    chunk *chunks; /* newest first; allocation bumps in the newest */
    unsigned char *pos, *end;
    size_t held, keep, next_size;
    bool open;
};

/* The arena whose chunks this thread's frees look in, and whether its
 * allocations come from it now (inside a scope). */
static _Thread_local json_arena *tl_home;
static _Thread_local bool tl_on;

static unsigned char *data_of(chunk *c)
{
    return (unsigned char *)(c + 1);
}

static bool owns(const json_arena *a, const void *p)
{
    uintptr_t u = (uintptr_t)p;
    for (chunk *c = a->chunks; c; c = c->next) {
        uintptr_t lo = (uintptr_t)data_of(c);
        if (u >= lo && u < lo + c->size)
            return true;
    }
    return false;
}

static bool grow(json_arena *a)
{
    size_t size = a->next_size;
    chunk *c = malloc(sizeof *c + size);
    if (!c)
        return false;
    c->size = size;
    c->next = a->chunks;
    a->chunks = c;
    a->pos = data_of(c);
    a->end = a->pos + size;
    a->held += size;
    a->next_size = size * 2 > MAX_CHUNK ? MAX_CHUNK : size * 2;
    POISON(a->pos, size);
    return true;
}

/* A chunk of its own for one large value, behind the one being bumped, so
 * that json_arena_drop leaves nothing behind either. */
static void *take_big(json_arena *a, size_t n)
{
    chunk *c = malloc(sizeof *c + n);
    if (!c)
        return NULL;
    c->size = n;
    if (a->chunks) {
        c->next = a->chunks->next;
        a->chunks->next = c;
    } else { /* no bump chunk yet: pos and end stay NULL, the next take grows */
        c->next = NULL;
        a->chunks = c;
    }
    a->held += n;
    return data_of(c);
}

static void *take(json_arena *a, size_t n)
{
    size_t need = (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    if (n > BIG)
        return take_big(a, n);
    if ((size_t)(a->end - a->pos) < need && !grow(a))
        return NULL;
    void *p = a->pos;
    a->pos += need;
    UNPOISON(p, n);
    return p;
}

static void *arena_malloc(size_t n)
{
    return tl_on ? take(tl_home, n) : malloc(n);
}

static void arena_free(void *p)
{
    json_arena *a = tl_home;
    if (p && a && owns(a, p)) {
        assert(tl_on); /* a value of a closed scope: the rule above was broken */
        return;        /* back at json_arena_end */
    }
    free(p);
}

void json_arena_install(void)
{
    static bool installed;
    if (!installed)
        json_set_alloc_funcs(arena_malloc, arena_free);
    installed = true;
}

json_arena *json_arena_new(size_t keep_bytes)
{
    json_arena *a = calloc(1, sizeof *a);
    if (a) {
        a->keep = keep_bytes;
        a->next_size = FIRST_CHUNK;
    }
    return a;
}

static void free_chunks(chunk *c)
{
    while (c) {
        chunk *next = c->next;
        UNPOISON(data_of(c), c->size);
        free(c);
        c = next;
    }
}

void json_arena_free(json_arena *a)
{
    if (!a)
        return;
    assert(!a->open);
    if (tl_home == a)
        tl_home = NULL;
    free_chunks(a->chunks);
    free(a);
}

void json_arena_begin(json_arena *a)
{
    if (!a)
        return;
    assert(!a->open && !tl_on); /* scopes do not nest */
    a->open = true;
    tl_home = a;
    tl_on = true;
}

/* What the scope used, up to keep, stays as one chunk for the next scope
 * (the same work then needs no malloc); the rest goes back. */
void json_arena_end(json_arena *a)
{
    if (!a)
        return;
    assert(a->open && tl_home == a && tl_on);
    tl_on = false;
    a->open = false;
    size_t used = a->held <= a->keep ? a->held : 0;
    if (a->chunks && a->chunks->next == NULL && used) { /* one chunk: keep it */
        a->pos = data_of(a->chunks);
        a->end = a->pos + a->chunks->size;
        POISON(a->pos, a->chunks->size);
        return;
    }
    free_chunks(a->chunks);
    a->chunks = NULL;
    a->held = 0;
    a->pos = a->end = NULL;
    a->next_size = used ? used : FIRST_CHUNK;
    if (used && grow(a))
        a->next_size = FIRST_CHUNK > used ? FIRST_CHUNK : used; /* no doubling yet */
}

/* Is every value of v (v included) the open scope's? The literals true,
 * false and null are no one's. */
static bool all_in_scope(const json_arena *a, const json_t *v, int depth)
{
    if (!v || json_is_true(v) || json_is_false(v) || json_is_null(v))
        return true;
    if (!owns(a, v) || depth > 4096)
        return false;
    const char *key;
    const json_t *m;
    size_t i;
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, key, m) {
            if (!all_in_scope(a, m, depth + 1))
                return false;
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, m) {
            if (!all_in_scope(a, m, depth + 1))
                return false;
        }
    }
    return true;
}

void json_arena_drop(json_arena *a, json_t *v)
{
    if (!a) {
        json_decref(v);
        return;
    }
    assert(a->open && tl_home == a && tl_on);
    debug_assert(all_in_scope(a, v, 0)); /* else an outside value's count leaks */
}

json_t *json_arena_export(json_arena *a, const json_t *v)
{
    if (!a)
        return json_incref((json_t *)v);
    assert(a->open && tl_home == a && tl_on);
    tl_on = false; /* the copy is malloc's */
    json_t *copy = v ? json_deep_copy(v) : NULL;
    tl_on = true;
    return copy;
}

size_t json_arena_held(const json_arena *a)
{
    return a ? a->held : 0;
}
