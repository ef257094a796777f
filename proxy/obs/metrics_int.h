/* metrics_int: the layout of the sharded registry, shared by metrics.c (the
 * writers: one owning thread per shard) and metrics_render.c (the scraper).
 * Not for other modules: they use metrics.h.
 *
 * Who touches what:
 *   - A shard's counters are written by its owner alone (relaxed atomic
 *     load + store: no read-modify-write, no lock) and read by the scraper
 *     (relaxed loads: a counter is never torn, only possibly a bit behind).
 *   - Route entries live in fixed-size chunks that never move; the owner
 *     fills an entry, then publishes it by storing nroutes with release; the
 *     scraper loads nroutes with acquire and reads entries below it only.
 *   - The name index (open addressing) and the candidate list of a path
 *     summary are the owner's alone; the scraper never looks at them.
 *   - A path summary's exported slots (top[]) change membership under its
 *     mutex, which the scraper takes to copy them; hit counts move outside
 *     it (relaxed atomics). */
#ifndef SP_METRICS_INT_H
#define SP_METRICS_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "obs/metrics.h"

#define MX_METHODS 8 /* GET HEAD POST PUT PATCH DELETE OPTIONS OTHER */
#define MX_CLASSES 6 /* error 1xx 2xx 3xx 4xx 5xx */
#define MX_BOUNDS 13 /* finite histogram bounds; +1 bucket for +Inf */
#define MX_BUCKETS (MX_BOUNDS + 1)
#define MX_WHERE 3 /* status header body */
#define MX_CANDIDATES (4 * METRICS_TOP_PATHS) /* Space-Saving counters behind the top N */
#define MX_AGE_EVERY 65536u /* differences on a route between two halvings */
#define MX_CHUNK 32 /* route entries per chunk */
#define MX_ENTRIES (METRICS_MAX_ROUTES + 1) /* + "other" */
#define MX_CHUNKS ((MX_ENTRIES + MX_CHUNK - 1) / MX_CHUNK)
#define MX_INDEX 2048 /* power of two, > 2 * MX_ENTRIES */

typedef atomic_uint_fast64_t mx_counter;

extern const double mx_bounds[MX_BOUNDS];
extern const char *const mx_bound_labels[MX_BUCKETS];
extern const char *const mx_method_names[MX_METHODS];
extern const char *const mx_class_names[MX_CLASSES];
extern const char *const mx_where_names[MX_WHERE];

/* Per-bucket (not cumulative) counts; the scraper accumulates. The count is
 * the sum of the buckets, so it always agrees with them. */
typedef struct mx_hist {
    mx_counter bucket[MX_BUCKETS];
    mx_counter sum_ns;
} mx_hist;

/* An exported (monitored) field path. */
typedef struct mx_top {
    char *path;     /* under mu */
    size_t len;     /* under mu */
    uint64_t hash;  /* owner only */
    int where;      /* under mu */
    mx_counter hits; /* exact count since this path took the slot */
    uint64_t est;   /* owner only: rank, halved every MX_AGE_EVERY */
} mx_top;

/* A Space-Saving counter for a path not exported (owner only). */
typedef struct mx_cand {
    char *path;
    size_t len;
    uint64_t hash;
    int where;
    uint64_t count, error; /* count - error: guaranteed occurrences */
} mx_cand;

typedef struct mx_paths {
    pthread_mutex_t mu;
    size_t ntop; /* under mu */
    mx_top top[METRICS_TOP_PATHS];
    mx_counter other[MX_WHERE];
    mx_cand cand[MX_CANDIDATES];
    size_t ncand;
    uint64_t seen;
} mx_paths;

struct metrics_route {
    char *name; /* interned copy, immutable once published */
    size_t len;
    uint64_t hash;
    mx_counter requests[MX_METHODS][2][MX_CLASSES]; /* [method][authority][class] */
    mx_hist upstream[2][2];                          /* [side][shadow] */
    mx_hist duration;                                /* client-facing */
    mx_counter verdicts[VERDICT_COUNT];
    mx_counter confirms[METRICS_CONFIRM_OUTCOMES]; /* metrics_confirm_outcomes */
    _Atomic(mx_paths *) paths; /* NULL until the first difference */
};

struct metrics_shard {
    char *owner;
    bool endpoints;       /* entries are endpoints (verdicts only), not routes */
    bool released;        /* under the registry lock */
    metrics_shard *next;  /* under the registry lock */
    atomic_size_t nroutes; /* published entries */
    metrics_route *chunk[MX_CHUNKS];
    /* owner only */
    uint16_t index[MX_INDEX]; /* entry index + 1; 0 empty */
    size_t named;             /* entries other than the overflow one */
    int other;                /* the overflow entry's index, or -1 */
};

static inline metrics_route *mx_entry(const metrics_shard *s, size_t i)
{
    return &s->chunk[i / MX_CHUNK][i % MX_CHUNK];
}

static inline uint64_t mx_load(const mx_counter *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

/* The registry, held locked while the scraper reads it (blocks only shard
 * creation and release). */
metrics_shard *mx_registry_lock(void);
void mx_registry_unlock(void);

#endif
