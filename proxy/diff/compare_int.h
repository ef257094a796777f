/* compare_int: internals of the structural JSON walk, shared by compare.c
 * (the walk, status, headers, bodies) and compare_walk.c (the rules that
 * act during the walk: rule lookup by path, tolerance, keyed and unordered
 * arrays). Not for other modules: use compare.h. */
#ifndef SP_COMPARE_INT_H
#define SP_COMPARE_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "diff/compare.h"
#include "conf/rules.h"

#define CMP_PATH_STACK 256
#define CMP_PAIR_BUDGET ((size_t)1 << 20) /* per comparison */

/* One step of the walk, on the C stack: the chain from the current node up
 * to the root is its pointer. Nothing is formatted while nodes compare
 * equal; the pointer is spelled out only for a reported difference. */
typedef struct seg {
    const struct seg *up; /* NULL at the root */
    const char *key;      /* object member or keyed-array name; NULL: index */
    size_t n;             /* key length, or the array index */
} seg;

typedef struct ctx {
    json_t *diffs;
    size_t max;                 /* cap on json_array_size(diffs) */
    size_t found;               /* differences found by this call */
    const route_compare *rules; /* NULL: none */
    size_t *known;              /* compare_opts.known */
    bool probe;                 /* only asking "equal?": stop at the first
                                   difference, build nothing */
    size_t pair_budget;         /* unordered arrays: pairwise probes left */
    const char *prefix;         /* compare_json's `path` */
    size_t prefix_len;
    char **pre;                 /* prefix split into segments (rules only) */
    size_t npre;
    char *buf; /* where a pointer is rendered: .stack, or malloc'd if longer */
    size_t cap;
    char stack[CMP_PATH_STACK];
} ctx;

/* A body difference at `at` (counted; listed and classified as needed);
 * l/n are deep-copied when listed, NULL: the key is omitted. */
void cmp_report(ctx *c, const seg *at, const char *kind, const json_t *l,
                const json_t *n);
/* Compares two values at `at`, reporting what differs. */
void cmp_value(ctx *c, const seg *at, const json_t *l, const json_t *n);
/* Are l and n equal under the rules? Reports nothing, stops early. */
bool cmp_probe(ctx *c, const seg *at, const json_t *l, const json_t *n);

/* Loops stop once a probe has its answer. */
static inline bool cmp_stopped(const ctx *c)
{
    return c->probe && c->found;
}

/* ---- compare_walk.c ---- */

/* The first array rule (rule order) whose pattern matches `at`, or NULL. */
const rule_array *cmp_array_rule(const ctx *c, const seg *at);
/* Are the numbers a != b equal under the first tolerance rule matching
 * `at`? */
bool cmp_tolerated(const ctx *c, const seg *at, double a, double b);
/* Arrays by key / as multisets. Each returns 0, or -1 when out of memory
 * before anything was reported (the caller then compares by position). */
int cmp_keyed(ctx *c, const seg *at, const json_t *l, const json_t *n,
              const char *key);
int cmp_unordered(ctx *c, const seg *at, const json_t *l, const json_t *n);

#endif
