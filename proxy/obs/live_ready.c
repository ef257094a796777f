/* live_ready: see live_ready.h. */
#include "obs/live_ready.h"
#include "obs/live.h"
#include "obs/readiness_judge.h"
#include "conf/rules.h"
#include "conf/endpoint.h"
#include "base/clock.h"

#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Answer times in microseconds: below 16 one bucket each, then 16 linear
 * buckets per power of two up to 2^36 us (19 hours; longer counts there). */
#define SUB 16
#define SUB_SHIFT 4
#define TOP_EXP 36
#define BUCKETS (SUB + (TOP_EXP - SUB_SHIFT) * SUB)

typedef struct row {
    char name[ENDPOINT_MAX];
    uint64_t exchanges, compared, mismatches, transient, errors;
    uint64_t answers[READINESS_SIDES];
    double min_ms[READINESS_SIDES], max_ms[READINESS_SIDES];
    uint64_t hist[READINESS_SIDES][BUCKETS];
} row;

struct live_ready {
    pthread_mutex_t own;  /* mu when no lock is shared */
    pthread_mutex_t *mu;  /* own, or the lock of the view that holds it */
    int64_t since_ms;
    row **rows;      /* first-seen order */
    size_t n, max;
    row *other;      /* the names past max */
    uint32_t *slots; /* open addressing: index + 1 into rows; 0 empty */
    size_t nslots;   /* a power of two >= 2 * max */
    uint64_t total;
};

live_ready *live_ready_new(size_t max_names, int64_t since_ms)
{
    return live_ready_new_sharing(max_names, since_ms, NULL);
}

live_ready *live_ready_new_sharing(size_t max_names, int64_t since_ms, pthread_mutex_t *lock)
{
    if (max_names < 1 || max_names > 1u << 20)
        return NULL;
    live_ready *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->max = max_names;
    t->since_ms = since_ms;
    for (t->nslots = 4; t->nslots < 2 * max_names; t->nslots *= 2) {
    }
    t->rows = calloc(max_names, sizeof *t->rows);
    t->slots = calloc(t->nslots, sizeof *t->slots);
    if (!t->rows || !t->slots) {
        free(t->rows);
        free(t->slots);
        free(t);
        return NULL;
    }
    pthread_mutex_init(&t->own, NULL);
    t->mu = lock ? lock : &t->own;
    return t;
}

void live_ready_free(live_ready *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++)
        free(t->rows[i]);
    free(t->other);
    free(t->rows);
    free(t->slots);
    pthread_mutex_destroy(&t->own);
    free(t);
}

static row *row_new(const char *name)
{
    row *r = calloc(1, sizeof *r);
    if (r)
        snprintf(r->name, sizeof r->name, "%s", name);
    return r;
}

/* The name's row, made on first sight; past the cap, "other". With mu
 * held. NULL only on no memory. */
static row *row_get(live_ready *t, const char *name)
{
    char key[ENDPOINT_MAX];
    size_t n = strnlen(name, sizeof key - 1); /* cut as snprintf would, without its cost */
    memcpy(key, name, n);
    key[n] = '\0';
    uint64_t h = 1469598103934665603u;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 1099511628211u;
    size_t mask = t->nslots - 1, i = (size_t)h & mask;
    for (; t->slots[i]; i = (i + 1) & mask)
        if (strcmp(t->rows[t->slots[i] - 1]->name, key) == 0)
            return t->rows[t->slots[i] - 1];
    if (t->n >= t->max)
        return t->other ? t->other : (t->other = row_new(LIVE_OTHER_ROUTE));
    row *r = row_new(key);
    if (!r)
        return NULL;
    t->rows[t->n++] = r;
    t->slots[i] = (uint32_t)t->n;
    return r;
}

static size_t bucket_of(double ms)
{
    double us = ms * 1000.0 + 0.5; /* the record's 0.001 ms */
    uint64_t u = us < (double)((uint64_t)1 << TOP_EXP) ? (uint64_t)us : ((uint64_t)1 << TOP_EXP) - 1;
    if (u < SUB)
        return (size_t)u;
    int k = 63 - __builtin_clzll(u); /* SUB_SHIFT <= k < TOP_EXP */
    size_t b = SUB + (size_t)(k - SUB_SHIFT) * SUB + (size_t)((u >> (k - SUB_SHIFT)) - SUB);
    assert(b < BUCKETS);
    return b;
}

/* The middle of bucket b, in ms. */
static double bucket_ms(size_t b)
{
    if (b < SUB)
        return (double)b / 1000.0;
    int k = (int)((b - SUB) / SUB) + SUB_SHIFT;
    double lo = (double)((SUB + (b - SUB) % SUB) << (k - SUB_SHIFT));
    return (lo + (double)((uint64_t)1 << (k - SUB_SHIFT)) / 2.0) / 1000.0;
}

static void add_time(row *r, int side, double ms)
{
    if (!(ms >= 0 && ms < 9e15)) /* no answer, or NaN */
        return;
    if (!r->answers[side] || ms < r->min_ms[side])
        r->min_ms[side] = ms;
    if (!r->answers[side] || ms > r->max_ms[side])
        r->max_ms[side] = ms;
    r->answers[side]++;
    r->hist[side][bucket_of(ms)]++;
}

void live_ready_count(live_ready *t, const char *name, verdict v, double legacy_ms, double new_ms)
{
    if (!t || (unsigned)v >= VERDICT_COUNT)
        return;
    pthread_mutex_lock(t->mu);
    live_ready_count_held(t, name, v, legacy_ms, new_ms);
    pthread_mutex_unlock(t->mu);
}

static row *count_held(live_ready *t, const char *name, verdict v, uint64_t n)
{
    row *r = row_get(t, name ? name : "default");
    if (r) {
        t->total += n;
        r->exchanges += n;
        r->compared += (v == VERDICT_MATCH || v == VERDICT_KNOWN || v == VERDICT_MISMATCH) * n;
        r->mismatches += (v == VERDICT_MISMATCH) * n;
        r->errors += (v == VERDICT_SHADOW_ERROR || v == VERDICT_SHADOW_TIMEOUT ||
                      v == VERDICT_AUTHORITATIVE_ERROR) * n;
    }
    return r;
}

void live_ready_count_held(live_ready *t, const char *name, verdict v, double legacy_ms,
                           double new_ms)
{
    if (!t || (unsigned)v >= VERDICT_COUNT)
        return;
    row *r = count_held(t, name, v, 1);
    if (r) {
        add_time(r, READINESS_LEGACY, legacy_ms);
        add_time(r, READINESS_NEW, new_ms);
    }
}

void live_ready_count_n(live_ready *t, const char *name, verdict v, uint64_t n)
{
    if (!t || (unsigned)v >= VERDICT_COUNT || n == 0)
        return;
    pthread_mutex_lock(t->mu);
    count_held(t, name, v, n);
    pthread_mutex_unlock(t->mu);
}

void live_ready_transient(live_ready *t, const char *name)
{
    if (!t)
        return;
    pthread_mutex_lock(t->mu);
    row *r = row_get(t, name ? name : "default");
    if (r)
        r->transient++;
    pthread_mutex_unlock(t->mu);
}

/* ---- judging ------------------------------------------------------------------- */

typedef struct snap {
    char name[ENDPOINT_MAX];
    readiness_numbers n;
} snap;

/* The p99 as `shadowproxy readiness` ranks it (nearest rank), read from
 * the histogram: the bucket's middle, kept within the smallest and largest
 * time seen (so the largest exactly when the rank is the last). */
static void side_p99(const row *r, int side, readiness_numbers *n)
{
    uint64_t count = r->answers[side];
    n->has_p99[side] = count > 0;
    if (!count)
        return;
    double q = 0.99 * (double)count - 1e-9;
    uint64_t rank = q < 1 ? 1 : (uint64_t)q;
    if ((double)rank < q)
        rank++;
    if (rank >= count) {
        n->p99_ms[side] = r->max_ms[side];
        return;
    }
    uint64_t seen = 0;
    size_t b = 0;
    for (; b < BUCKETS - 1 && (seen += r->hist[side][b]) < rank; b++) {
    }
    double ms = bucket_ms(b);
    n->p99_ms[side] = ms < r->min_ms[side] ? r->min_ms[side] : ms > r->max_ms[side] ? r->max_ms[side] : ms;
}

static void snap_of(const row *r, snap *s)
{
    snprintf(s->name, sizeof s->name, "%s", r->name);
    s->n = (readiness_numbers){.exchanges = r->exchanges, .compared = r->compared,
                               .mismatches = r->mismatches, .transient = r->transient,
                               .errors = r->errors};
    side_p99(r, READINESS_LEGACY, &s->n);
    side_p99(r, READINESS_NEW, &s->n);
}

static int snap_cmp(const void *x, const void *y)
{
    const snap *a = x, *b = y;
    if (a->n.exchanges != b->n.exchanges)
        return a->n.exchanges > b->n.exchanges ? -1 : 1;
    return strcmp(a->name, b->name);
}

#define NOT_LIVE "judged by `shadowproxy readiness` over the logs (not live)"

/* A money or coverage criterion: named, never judged here. */
static json_t *not_live(json_t *cl, const char *criterion)
{
    json_t *j = json_pack("{s:s, s:n, s:b, s:s}", "criterion", criterion, "ok", "live", 0,
                          "reason", NOT_LIVE);
    if (j && json_array_append_new(cl, j) != 0)
        return NULL;
    return j;
}

static json_t *judge(const rules *rs, const char *name, const readiness_numbers *n)
{
    const route *rt = rules_find(rs, name);
    route_readiness c;
    if (rules_readiness_of(rt ? rt : &rs->fallback, &c) != 0)
        return NULL;
    json_t *cl = json_array();
    if (cl) {
        readiness_judge_numbers(cl, &c, n);
        json_t *j;
        if (c.money_path && (j = not_live(cl, "money_gap")))
            json_object_set_new(j, "path", json_string(c.money_path));
        for (size_t i = 0; i < c.ncoverage; i++)
            if ((j = not_live(cl, "coverage"))) {
                json_object_set_new(j, "field", json_string(c.coverage[i].field));
                json_object_set_new(j, "in", json_string(c.coverage[i].in_response ? "response"
                                                                                    : "request"));
            }
    }
    json_t *v = readiness_route_verdict(name, c.required, n, cl);
    rules_readiness_free(&c);
    if (!v)
        return NULL;
    bool judged_ok = true, unjudged = false;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(v, "criteria"), i, e) {
        if (json_is_null(json_object_get(e, "ok")))
            unjudged = true;
        else
            judged_ok = judged_ok && json_is_true(json_object_get(e, "ok"));
    }
    const char *word = json_is_true(json_object_get(v, "ready")) ? "READY"
                          : judged_ok && unjudged                  ? "NOT JUDGED LIVE"
                                                                   : "NOT READY";
    json_object_set_new(v, "verdict", json_string(word));
    return v;
}

static bool seen(const snap *s, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s[i].name, name) == 0)
            return true;
    return false;
}

json_t *live_ready_evaluate(live_ready *t, const rules *rs, int64_t now_ms)
{
    if (!t || !rs)
        return NULL;
    pthread_mutex_lock(t->mu);
    size_t ns = t->n + (t->other != NULL);
    snap *s = calloc(ns ? ns : 1, sizeof *s);
    for (size_t i = 0; s && i < t->n; i++)
        snap_of(t->rows[i], &s[i]);
    if (s && t->other)
        snap_of(t->other, &s[t->n]);
    uint64_t total = t->total;
    int64_t since = t->since_ms;
    pthread_mutex_unlock(t->mu);
    if (!s)
        return NULL;
    qsort(s, ns, sizeof *s, snap_cmp);
    json_t *routes = json_array();
    for (size_t i = 0; routes && i < ns; i++)
        if (json_array_append_new(routes, judge(rs, s[i].name, &s[i].n)) != 0)
            goto oom;
    static const readiness_numbers none = {0};
    for (size_t i = 0; routes && i < rs->nroutes; i++)
        if (rs->routes[i].readiness && !seen(s, ns, rs->routes[i].name) &&
            json_array_append_new(routes, judge(rs, rs->routes[i].name, &none)) != 0)
            goto oom;
    if (!routes)
        goto oom;
    size_t nready = 0, nrequired = 0, i;
    json_t *e;
    json_array_foreach(routes, i, e) {
        if (json_is_true(json_object_get(e, "required"))) {
            nrequired++;
            nready += json_is_true(json_object_get(e, "ready"));
        }
    }
    free(s);
    char gen[40], from[40];
    clock_format_ts(now_ms, gen, sizeof gen);
    clock_format_ts(since, from, sizeof from);
    return json_pack("{s:i, s:b, s:s, s:s, s:s, s:b, s:I, s:I, s:I, s:s?, s:o}",
                     "readiness_version", 1, "live", 1, "since", from, "scope", "this replica",
                     "generated", gen, "ready", nrequired > 0 && nready == nrequired,
                     "routes_required", (json_int_t)nrequired, "routes_ready",
                     (json_int_t)nready, "records", (json_int_t)total, "rules", rs->path,
                     "routes", routes);
oom:
    free(s);
    json_decref(routes);
    return NULL;
}
