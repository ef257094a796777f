/* metrics: the process-wide counters, and the sharded registry of labelled
 * metrics (layout and threading rules in metrics_int.h; the exposition is
 * metrics_render.c).
 *
 *   worker thread ──metrics_request()──▶ its shard ─┐
 *   analyzer ──metrics_mismatch_path()─▶ its shard ─┼─▶ metrics_render()
 *   any thread ──metric_add()──▶ g_metrics ─────────┘   (admin thread)
 */
#include "obs/metrics.h"

#include <stdlib.h>
#include <string.h>

#include "obs/metrics_int.h"

metrics g_metrics;

const char *verdict_name(verdict v)
{
    static const char *const names[] = {
#define X(id, name) name,
        VERDICT_LIST(X)
#undef X
    };
    return v < VERDICT_COUNT ? names[v] : "unknown";
}

const char *metric_name(metric m)
{
    static const char *const names[] = {
#define X(id, help) #id,
        METRIC_LIST(X)
#undef X
    };
    return m < METRIC_COUNT ? names[m] : "unknown";
}

/* ---- Label tables --------------------------------------------------------- */

const double mx_bounds[MX_BOUNDS] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                     0.25,  0.5,    1,     2.5,  5,     10};
const char *const mx_bound_labels[MX_BUCKETS] = {"0.001", "0.0025", "0.005", "0.01", "0.025",
                                                 "0.05",  "0.1",    "0.25",  "0.5",  "1",
                                                 "2.5",   "5",      "10",    "+Inf"};
const char *const mx_method_names[MX_METHODS] = {"GET",    "HEAD",   "POST",    "PUT",
                                                 "PATCH",  "DELETE", "OPTIONS", "OTHER"};
const char *const mx_class_names[MX_CLASSES] = {"error", "1xx", "2xx", "3xx", "4xx", "5xx"};
const char *const mx_where_names[MX_WHERE] = {"status", "header", "body"};

/* ---- Registry ------------------------------------------------------------- */

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static metrics_shard *registry_head;

metrics_shard *mx_registry_lock(void)
{
    pthread_mutex_lock(&registry_mu);
    return registry_head;
}

void mx_registry_unlock(void)
{
    pthread_mutex_unlock(&registry_mu);
}

static metrics_shard *shard_get(const char *owner, bool endpoints)
{
    if (!owner)
        owner = "";
    pthread_mutex_lock(&registry_mu);
    metrics_shard **tail = &registry_head;
    for (metrics_shard *s = registry_head; s; s = s->next) {
        if (s->released && s->endpoints == endpoints && strcmp(s->owner, owner) == 0) {
            s->released = false; /* the lock orders the old owner's writes before ours */
            pthread_mutex_unlock(&registry_mu);
            return s;
        }
        tail = &s->next;
    }
    metrics_shard *s = calloc(1, sizeof *s);
    if (s && !(s->owner = strdup(owner))) {
        free(s);
        s = NULL;
    }
    if (s) {
        s->other = -1;
        s->endpoints = endpoints;
        *tail = s; /* at the end: the render order stays stable */
    }
    pthread_mutex_unlock(&registry_mu);
    return s;
}

metrics_shard *metrics_shard_new(const char *owner)
{
    return shard_get(owner, false);
}

metrics_shard *metrics_endpoint_shard_new(const char *owner)
{
    return shard_get(owner, true);
}

void metrics_shard_release(metrics_shard *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&registry_mu);
    s->released = true;
    pthread_mutex_unlock(&registry_mu);
}

static void paths_free(mx_paths *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->ntop; i++)
        free(p->top[i].path);
    for (size_t i = 0; i < p->ncand; i++)
        free(p->cand[i].path);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

static void shard_free(metrics_shard *s)
{
    size_t n = atomic_load_explicit(&s->nroutes, memory_order_acquire);
    for (size_t i = 0; i < n; i++) {
        metrics_route *r = mx_entry(s, i);
        free(r->name);
        paths_free(atomic_load_explicit(&r->paths, memory_order_acquire));
    }
    for (size_t c = 0; c < MX_CHUNKS; c++)
        free(s->chunk[c]);
    free(s->owner);
    free(s);
}

void metrics_shutdown(void)
{
    pthread_mutex_lock(&registry_mu);
    metrics_shard *s = registry_head;
    registry_head = NULL;
    pthread_mutex_unlock(&registry_mu);
    while (s) {
        metrics_shard *next = s->next;
        shard_free(s);
        s = next;
    }
}

/* ---- Route entries -------------------------------------------------------- */

/* Single writer: a plain load and store, no locked read-modify-write. */
static inline void bump(mx_counter *c, uint64_t d)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + d,
                          memory_order_relaxed);
}

static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* The bytes of a label value kept: at most METRICS_MAX_LABEL, cut on a
 * UTF-8 character boundary. */
static size_t label_len(const char *s)
{
    size_t n = strnlen(s, METRICS_MAX_LABEL + 1);
    if (n <= METRICS_MAX_LABEL)
        return n;
    n = METRICS_MAX_LABEL;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--; /* s[n] continues a character: cut before it starts */
    return n;
}

static char *copy_bytes(const char *p, size_t n)
{
    char *c = malloc(n + 1);
    if (c) {
        memcpy(c, p, n);
        c[n] = '\0';
    }
    return c;
}

/* Appends an entry and publishes it. NULL on no memory. */
static metrics_route *entry_add(metrics_shard *s, const char *name, size_t len, uint64_t h,
                                int *at)
{
    size_t i = atomic_load_explicit(&s->nroutes, memory_order_relaxed);
    if (i >= MX_ENTRIES)
        return NULL;
    if (!s->chunk[i / MX_CHUNK] && !(s->chunk[i / MX_CHUNK] = calloc(MX_CHUNK, sizeof(metrics_route))))
        return NULL;
    metrics_route *r = mx_entry(s, i);
    if (!(r->name = copy_bytes(name, len)))
        return NULL;
    r->len = len;
    r->hash = h;
    atomic_store_explicit(&s->nroutes, i + 1, memory_order_release);
    *at = (int)i;
    return r;
}

static metrics_route *overflow_entry(metrics_shard *s)
{
    if (s->other >= 0)
        return mx_entry(s, (size_t)s->other);
    int at;
    metrics_route *r = entry_add(s, "other", 5, hash_bytes("other", 5), &at);
    if (r)
        s->other = at;
    return r;
}

metrics_route *metrics_route_of(metrics_shard *s, const char *route)
{
    if (!s)
        return NULL;
    if (!route)
        route = "default";
    size_t len = label_len(route);
    uint64_t h = hash_bytes(route, len);
    size_t slot = h & (MX_INDEX - 1);
    for (uint16_t e; (e = s->index[slot]) != 0; slot = (slot + 1) & (MX_INDEX - 1)) {
        metrics_route *r = mx_entry(s, e - 1u);
        if (r->hash == h && r->len == len && memcmp(r->name, route, len) == 0)
            return r;
    }
    if (s->named >= (s->endpoints ? METRICS_MAX_ENDPOINTS : METRICS_MAX_ROUTES))
        return overflow_entry(s);
    int at;
    metrics_route *r = entry_add(s, route, len, h, &at);
    if (!r)
        return NULL;
    s->index[slot] = (uint16_t)(at + 1);
    s->named++;
    return r;
}

/* ---- Hot path ------------------------------------------------------------- */

static int method_index(const char *m)
{
    if (!m)
        return MX_METHODS - 1;
    switch (m[0]) {
    case 'G':
        return strcmp(m, "GET") == 0 ? 0 : MX_METHODS - 1;
    case 'H':
        return strcmp(m, "HEAD") == 0 ? 1 : MX_METHODS - 1;
    case 'P':
        return strcmp(m, "POST") == 0    ? 2
               : strcmp(m, "PUT") == 0   ? 3
               : strcmp(m, "PATCH") == 0 ? 4
                                         : MX_METHODS - 1;
    case 'D':
        return strcmp(m, "DELETE") == 0 ? 5 : MX_METHODS - 1;
    case 'O':
        return strcmp(m, "OPTIONS") == 0 ? 6 : MX_METHODS - 1;
    default:
        return MX_METHODS - 1;
    }
}

static void observe(mx_hist *hist, double seconds)
{
    if (!(seconds >= 0)) /* negative or NaN */
        seconds = 0;
    if (seconds > 1e9)
        seconds = 1e9;
    size_t b = 0;
    while (b < MX_BOUNDS && seconds > mx_bounds[b])
        b++;
    bump(&hist->bucket[b], 1);
    bump(&hist->sum_ns, (uint64_t)(seconds * 1e9 + 0.5));
}

void metrics_route_request(metrics_route *r, const char *method, sp_side authority, int status)
{
    if (!r || (unsigned)authority > SIDE_NEW)
        return;
    int cls = status >= 100 && status <= 599 ? status / 100 : 0;
    bump(&r->requests[method_index(method)][authority][cls], 1);
}

void metrics_route_upstream(metrics_route *r, sp_side side, bool shadow, double seconds)
{
    if (r && (unsigned)side <= SIDE_NEW)
        observe(&r->upstream[side][shadow ? 1 : 0], seconds);
}

void metrics_route_seconds(metrics_route *r, double seconds)
{
    if (r)
        observe(&r->duration, seconds);
}

void metrics_request(metrics_shard *s, const char *route, const char *method,
                     sp_side authority, int status)
{
    metrics_route_request(metrics_route_of(s, route), method, authority, status);
}

void metrics_upstream_seconds(metrics_shard *s, const char *route, sp_side side, bool shadow,
                              double seconds)
{
    metrics_route_upstream(metrics_route_of(s, route), side, shadow, seconds);
}

void metrics_request_seconds(metrics_shard *s, const char *route, double seconds)
{
    metrics_route_seconds(metrics_route_of(s, route), seconds);
}

/* ---- Analyzer: verdicts and differing paths ------------------------------- */

void metrics_verdict_route(metrics_shard *s, const char *route, verdict v)
{
    metrics_verdict_route_n(s, route, v, 1);
}

void metrics_verdict_route_n(metrics_shard *s, const char *route, verdict v, uint64_t n)
{
    if (s && v < VERDICT_COUNT && n) {
        metrics_route *r = metrics_route_of(s, route);
        if (r)
            bump(&r->verdicts[v], n);
    }
}

const char *const metrics_confirm_outcomes[METRICS_CONFIRM_OUTCOMES] = {
    "transient", "confirmed", "failed", "skipped"};

void metrics_confirm_route(metrics_shard *s, const char *route, const char *outcome)
{
    for (size_t i = 0; s && outcome && i < METRICS_CONFIRM_OUTCOMES; i++)
        if (strcmp(outcome, metrics_confirm_outcomes[i]) == 0) {
            metrics_route *r = metrics_route_of(s, route);
            if (r)
                bump(&r->confirms[i], 1);
        }
}

/* Differing paths: a Space-Saving summary (Metwally et al., 2005) decides
 * which paths deserve one of the METRICS_TOP_PATHS exported series.
 *
 *   - The first METRICS_TOP_PATHS distinct paths of a route take the slots.
 *   - A difference on a slotted path counts on that slot (exact).
 *   - Any other difference counts on path="other" (exact) and in the
 *     candidate summary: MX_CANDIDATES Space-Saving counters, each an
 *     overestimate `count` with its maximum error `error`.
 *   - A candidate whose guaranteed count (count - error) beats the weakest
 *     slot's rank by a quarter takes that slot; the evicted path becomes a
 *     candidate. The new series starts at 1 (this difference); the old one
 *     stops moving and goes stale.
 *   - Every MX_AGE_EVERY differences on the route, ranks and candidate
 *     counts are halved, so the slots follow what differs now.
 *
 * So each difference counts exactly once, in the series exported at that
 * moment: sum by (route) of the increases is the true number; which paths
 * get their own series is the approximation. */

static int where_index(const char *w)
{
    for (int i = 0; w && i < MX_WHERE; i++)
        if (strcmp(w, mx_where_names[i]) == 0)
            return i;
    return -1;
}

static mx_paths *paths_of(metrics_route *r)
{
    mx_paths *p = atomic_load_explicit(&r->paths, memory_order_relaxed);
    if (p)
        return p;
    if (!(p = calloc(1, sizeof *p)))
        return NULL;
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        free(p);
        return NULL;
    }
    atomic_store_explicit(&r->paths, p, memory_order_release);
    return p;
}

static void paths_age(mx_paths *p)
{
    for (size_t i = 0; i < p->ntop; i++)
        p->top[i].est /= 2;
    for (size_t i = 0; i < p->ncand; i++) {
        p->cand[i].count /= 2;
        p->cand[i].error /= 2;
    }
}

/* Counts one occurrence in the candidate summary; the candidate, or NULL on
 * no memory. */
static mx_cand *cand_observe(mx_paths *p, int w, const char *path, size_t len, uint64_t h)
{
    mx_cand *min = NULL;
    for (size_t i = 0; i < p->ncand; i++) {
        mx_cand *c = &p->cand[i];
        if (c->hash == h && c->where == w && c->len == len && memcmp(c->path, path, len) == 0) {
            c->count++;
            return c;
        }
        if (!min || c->count < min->count)
            min = c;
    }
    char *copy = copy_bytes(path, len);
    if (!copy)
        return NULL;
    uint64_t floor = 0;
    if (p->ncand < MX_CANDIDATES) {
        min = &p->cand[p->ncand++];
    } else {
        floor = min->count; /* Space-Saving: the newcomer inherits the minimum */
        free(min->path);
    }
    *min = (mx_cand){.path = copy, .len = len, .hash = h, .where = w,
                     .count = floor + 1, .error = floor};
    return min;
}

void metrics_mismatch_path(metrics_shard *s, const char *route, const char *where,
                           const char *path)
{
    int w = where_index(where);
    metrics_route *r = w >= 0 ? metrics_route_of(s, route) : NULL;
    mx_paths *p = r ? paths_of(r) : NULL;
    if (!p)
        return;
    if (!path)
        path = "";
    size_t len = label_len(path);
    uint64_t h = hash_bytes(path, len) ^ (uint64_t)w;
    if (++p->seen % MX_AGE_EVERY == 0)
        paths_age(p);
    mx_top *weakest = NULL;
    for (size_t i = 0; i < p->ntop; i++) {
        mx_top *t = &p->top[i];
        if (t->hash == h && t->where == w && t->len == len && memcmp(t->path, path, len) == 0) {
            bump(&t->hits, 1);
            t->est++;
            return;
        }
        if (!weakest || t->est < weakest->est)
            weakest = t;
    }
    if (p->ntop < METRICS_TOP_PATHS) {
        char *copy = copy_bytes(path, len);
        if (!copy)
            goto other;
        mx_top *t = &p->top[p->ntop];
        pthread_mutex_lock(&p->mu);
        t->path = copy;
        t->len = len;
        t->where = w;
        p->ntop++;
        pthread_mutex_unlock(&p->mu);
        t->hash = h;
        t->est = 1;
        bump(&t->hits, 1);
        return;
    }
    mx_cand *c = cand_observe(p, w, path, len, h);
    uint64_t sure = c ? c->count - c->error : 0;
    if (!c || sure <= weakest->est + weakest->est / 4)
        goto other;
    /* Promote: swap the two paths (no allocation), the slot restarts. */
    char *old_path = weakest->path;
    size_t old_len = weakest->len;
    int old_where = weakest->where;
    pthread_mutex_lock(&p->mu);
    weakest->path = c->path;
    weakest->len = c->len;
    weakest->where = c->where;
    atomic_store_explicit(&weakest->hits, 1, memory_order_relaxed);
    pthread_mutex_unlock(&p->mu);
    *c = (mx_cand){.path = old_path, .len = old_len, .hash = weakest->hash, .where = old_where,
                   .count = weakest->est, .error = 0};
    weakest->hash = h;
    weakest->est = sure;
    return;
other:
    bump(&p->other[w], 1);
}
