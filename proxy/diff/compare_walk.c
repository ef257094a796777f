/* compare_walk: the rules that act during the JSON walk (compare.c):
 * looking a rule up by the compared path, numeric tolerance, and arrays
 * compared by key or as multisets.
 *
 * Rule patterns are matched against the chain of walk frames, without
 * formatting the pointer: the chain is collected into a small array (on
 * the stack up to depth 32) only when a rule must be looked up, i.e. at an
 * array when there are array rules, or at two numbers that differ when
 * there are tolerance rules.
 *
 * Keyed arrays (rule_array.key). Each element gets a name: "KEY=VALUE"
 * when it is an object whose KEY member is a string, number or boolean
 * ("sku=MB01", "id=42", "id=1.5", "gift=true"; a real with an integral
 * value is written as an integer so 5 and 5.0 pair, and "5" pairs with 5 as
 * well: the key member then differs by type); "#INDEX" otherwise (no such
 * member, null, object or array, or the element is not an object). The
 * second element with the same name is named "NAME#2", the third "NAME#3",
 * in array order. Elements pair by name; a paired element is compared
 * under its name ("/items/sku=MB01/price"), an unpaired one is "removed"
 * or "added" at its name ("/items/sku=XX"). Order never matters. Names
 * are escaped like any pointer segment ('/' -> "~1", '~' -> "~0").
 * Differences come in legacy array order, then the added ones in new array
 * order.
 *
 * Unordered arrays (rule_array.unordered, no key): a multiset. Elements
 * are paired greedily when equal under the rules: first position by
 * position (arrays in the same order cost one pass), then those with an
 * identical structural hash (consistent with exact equality: permutations
 * cost a sort), then, among the leftovers, any equal pair under the rules
 * (tolerance, nested array rules), trying at most UNORDERED_PAIR_BUDGET
 * pairs per array and CMP_PAIR_BUDGET per comparison (nested unordered
 * arrays multiply). Each pair is probed at most once. What remains is
 * reported element by element: "removed" at its legacy index, "added" at
 * its new index, each counted in its own side's array ([1,1,2] vs [1,2,2]:
 * "/1" removed 1, "/1" added 2; [3,1,1,2] vs [1,2,2,1]: "/0" removed 3,
 * "/2" added 2). A changed element of an
 * unordered array is therefore a removed and an added element. */
#include <float.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diff/compare_int.h"

#define UNORDERED_PAIR_BUDGET 65536

/* ---- rule paths ------------------------------------------------------------ */

/* The chain from the root down to `at`, for matching rule patterns without
 * formatting the pointer. Collected only when a rule must be looked up. */
typedef struct chain {
    const seg *small[32];
    const seg **v;
    size_t n;
} chain;

static bool chain_init(chain *ch, const seg *at)
{
    size_t n = 0;
    for (const seg *s = at; s; s = s->up)
        n++;
    ch->v = n <= 32 ? ch->small : malloc(n * sizeof *ch->v);
    if (!ch->v)
        return false;
    ch->n = n;
    for (const seg *s = at; s; s = s->up)
        ch->v[--n] = s;
    return true;
}

static void chain_done(chain *ch)
{
    if (ch->v != ch->small)
        free(ch->v);
}

/* Segment k of the compared path (compare_json's prefix first) == pat? */
static bool seg_is(const ctx *c, const chain *ch, size_t k, const char *pat)
{
    if (k < c->npre)
        return strcmp(c->pre[k], pat) == 0;
    const seg *s = ch->v[k - c->npre];
    if (s->key) /* a key with a NUL inside never equals a C string */
        return strlen(pat) == s->n && memcmp(pat, s->key, s->n) == 0;
    char num[24];
    snprintf(num, sizeof num, "%zu", s->n);
    return strcmp(num, pat) == 0;
}

typedef struct chain_at {
    const ctx *c;
    const chain *ch;
} chain_at;

static bool chain_seg_is(const void *at, size_t i, const char *literal)
{
    const chain_at *a = at;
    return seg_is(a->c, a->ch, i, literal);
}

/* The pattern over the chain (pathpat.h's one matcher). */
static bool chain_match(const ctx *c, const chain *ch, const path_pattern *p)
{
    chain_at at = {c, ch};
    return path_pattern_match_with(p, c->npre + ch->n, chain_seg_is, &at);
}

/* The first array rule matching `at`, or NULL. */
const rule_array *cmp_array_rule(const ctx *c, const seg *at)
{
    const route_compare *r = c->rules;
    const rule_array *found = NULL;
    chain ch;
    if (!r || !r->narrays || !chain_init(&ch, at))
        return NULL;
    for (size_t i = 0; i < r->narrays && !found; i++)
        if (chain_match(c, &ch, &r->arrays[i].path))
            found = &r->arrays[i];
    chain_done(&ch);
    return found;
}

/* Within the tolerance of the first tolerance rule matching `at`? */
bool cmp_tolerated(const ctx *c, const seg *at, double a, double b)
{
    const route_compare *r = c->rules;
    const rule_tolerance *t = NULL;
    chain ch;
    if (!r || !r->ntolerance || !chain_init(&ch, at))
        return false;
    for (size_t i = 0; i < r->ntolerance && !t; i++)
        if (chain_match(c, &ch, &r->tolerance[i].path))
            t = &r->tolerance[i];
    chain_done(&ch);
    if (!t)
        return false;
    /* no libm: the build does not link it */
    double d = a > b ? a - b : b - a;
    double m = a < 0 ? -a : a, mb = b < 0 ? -b : b;
    if (mb > m)
        m = mb;
    double slack = 4 * DBL_EPSILON * m;
    return (t->absolute > 0 && d <= t->absolute * (1 + 1e-9) + slack) ||
           (t->relative > 0 && d <= t->relative * m * (1 + 1e-9) + slack);
}

/* ---- keyed arrays --------------------------------------------------------- */

typedef struct kent {
    const char *name; /* "KEY=VALUE" or "#INDEX"; not NUL-terminated */
    size_t len;
    size_t off;   /* name's offset in the arena while it is built */
    size_t idx;   /* position in its array */
    size_t occ;   /* 1 for the first element of its name, 2 for the next... */
    size_t match; /* 1 + index of the paired element on the other side; 0 */
} kent;

#define KSIDE_SMALL 8 /* elements kept on the stack: no allocation (small, since
                       * nested keyed arrays recurse) */

typedef struct kside {
    kent *e;   /* in array order */
    kent **by; /* sorted by (name, idx) */
    size_t n;
    char *arena; /* the names: .small_arena, or malloc'd when longer */
    size_t used, cap;
    kent small_e[KSIDE_SMALL];
    kent *small_by[KSIDE_SMALL];
    char small_arena[256];
} kside;

/* A real as text: integral values as integers, others in the shortest
 * form that reads back the same. */
static size_t real_text(double d, char out[32])
{
    if (d > -9.2e18 && d < 9.2e18 && d == (double)(long long)d)
        return (size_t)snprintf(out, 32, "%lld", (long long)d);
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(out, 32, "%.*g", prec, d);
        if (strtod(out, NULL) == d)
            break;
    }
    return (size_t)n;
}

/* The text of el's key member; SIZE_MAX when it has none usable. */
static size_t key_text(const json_t *el, const char *key, char num[32],
                       const char **text)
{
    const json_t *kv = json_is_object(el) ? json_object_get(el, key) : NULL;
    *text = num;
    switch (kv ? json_typeof(kv) : JSON_NULL) {
    case JSON_STRING:
        *text = json_string_value(kv);
        return json_string_length(kv);
    case JSON_INTEGER:
        return (size_t)snprintf(num, 32, "%" JSON_INTEGER_FORMAT,
                                json_integer_value(kv));
    case JSON_REAL: return real_text(json_real_value(kv), num);
    case JSON_TRUE: *text = "true"; return 4;
    case JSON_FALSE: *text = "false"; return 5;
    default: return SIZE_MAX;
    }
}

static int kent_cmp_name(const kent *x, const kent *y)
{
    int r = memcmp(x->name, y->name, x->len < y->len ? x->len : y->len);
    if (r || x->len == y->len)
        return r;
    return x->len < y->len ? -1 : 1;
}

static int kent_cmp(const void *a, const void *b)
{
    const kent *x = *(const kent *const *)a, *y = *(const kent *const *)b;
    int r = kent_cmp_name(x, y);
    return r ? r : (x->idx > y->idx) - (x->idx < y->idx);
}

static void kside_free(kside *k)
{
    if (k->e != k->small_e)
        free(k->e);
    if (k->by != k->small_by)
        free(k->by);
    if (k->arena != k->small_arena)
        free(k->arena);
}

/* Room for len more bytes of names; the names are offsets until the arena
 * stops moving (kside_build points them in the end). */
static char *kside_room(kside *k, size_t len)
{
    if (len > k->cap - k->used) {
        size_t cap = k->cap * 2;
        while (cap - k->used < len)
            cap *= 2;
        char *a = k->arena == k->small_arena ? malloc(cap) : realloc(k->arena, cap);
        if (!a)
            return NULL;
        if (k->arena == k->small_arena)
            memcpy(a, k->small_arena, k->used);
        k->arena = a;
        k->cap = cap;
    }
    return k->arena + k->used;
}

/* k needs no initialisation. Small arrays (the common case: an order's lines) use
 * the struct's own storage; each element's key member is looked up once. */
static int kside_build(kside *k, const json_t *arr, const char *key)
{
    size_t n = json_array_size(arr), klen = strlen(key);
    char num[32];
    const char *text;
    k->n = n;
    k->e = n <= KSIDE_SMALL ? k->small_e : malloc(n * sizeof *k->e);
    k->by = n <= KSIDE_SMALL ? k->small_by : malloc(n * sizeof *k->by);
    k->arena = k->small_arena;
    k->cap = sizeof k->small_arena;
    if (!k->e || !k->by)
        return -1;
    for (size_t i = 0; i < n; i++) {
        kent *e = &k->e[i];
        size_t tl = key_text(json_array_get(arr, i), key, num, &text);
        char *w = kside_room(k, tl != SIZE_MAX ? klen + 1 + tl : 22); /* "#" + 20 digits */
        if (!w)
            return -1;
        if (tl != SIZE_MAX) {
            memcpy(w, key, klen);
            w[klen] = '=';
            memcpy(w + klen + 1, text, tl);
            e->len = klen + 1 + tl;
        } else {
            e->len = (size_t)snprintf(w, 22, "#%zu", i);
        }
        e->name = NULL;
        e->off = k->used;
        k->used += e->len;
        e->idx = i;
        e->occ = 1;
        e->match = 0;
        k->by[i] = e;
    }
    for (size_t i = 0; i < n; i++)
        k->e[i].name = k->arena + k->e[i].off;
    if (n <= KSIDE_SMALL) { /* insertion sort: no qsort call for a few lines */
        for (size_t i = 1; i < n; i++) {
            kent *x = k->by[i];
            size_t j = i;
            for (; j > 0 && kent_cmp(&k->by[j - 1], &x) > 0; j--)
                k->by[j] = k->by[j - 1];
            k->by[j] = x;
        }
    } else {
        qsort(k->by, n, sizeof *k->by, kent_cmp);
    }
    for (size_t i = 1; i < n; i++)
        if (kent_cmp_name(k->by[i - 1], k->by[i]) == 0)
            k->by[i]->occ = k->by[i - 1]->occ + 1;
    return 0;
}

/* Pairs equal (name, occurrence) across the sides: a merge of the sorted
 * lists (within a name, occurrences are in index order). */
static void kside_pair(kside *l, kside *n)
{
    size_t i = 0, j = 0;
    while (i < l->n && j < n->n) {
        kent *a = l->by[i], *b = n->by[j];
        int r = kent_cmp_name(a, b);
        if (!r)
            r = (a->occ > b->occ) - (a->occ < b->occ);
        if (r == 0) {
            a->match = b->idx + 1;
            b->match = a->idx + 1;
        }
        i += r <= 0;
        j += r >= 0;
    }
}

/* Compares (both values) or reports (one value) an element under its name:
 * the base name, with "#<occ>" from the second occurrence on. */
static void keyed_one(ctx *c, const seg *at, const kent *e, const json_t *lv,
                      const json_t *nv)
{
    char small[128], *name = small;
    size_t len = e->len;
    if (e->occ > 1) {
        if (len + 22 > sizeof small && !(name = malloc(len + 22))) {
            c->found++; /* cannot name it: counted, not listed */
            return;
        }
        memcpy(name, e->name, e->len);
        len += (size_t)snprintf(name + len, 22, "#%zu", e->occ);
    }
    seg s = {at, e->occ > 1 ? name : e->name, len};
    if (lv && nv)
        cmp_value(c, &s, lv, nv);
    else
        cmp_report(c, &s, lv ? "removed" : "added", lv, nv);
    if (name != small)
        free(name);
}

int cmp_keyed(ctx *c, const seg *at, const json_t *l, const json_t *n,
              const char *key)
{
    kside L, N;
    int rc = -1;
    L.n = N.n = 0;
    L.e = N.e = NULL;
    L.by = N.by = NULL;
    L.arena = N.arena = NULL;
    L.used = N.used = 0;
    if (kside_build(&L, l, key) == 0 && kside_build(&N, n, key) == 0) {
        kside_pair(&L, &N);
        for (size_t i = 0; i < L.n && !cmp_stopped(c); i++) {
            const kent *e = &L.e[i];
            keyed_one(c, at, e, json_array_get(l, i),
                      e->match ? json_array_get(n, e->match - 1) : NULL);
        }
        for (size_t j = 0; j < N.n && !cmp_stopped(c); j++)
            if (!N.e[j].match)
                keyed_one(c, at, &N.e[j], NULL, json_array_get(n, j));
        rc = 0;
    }
    kside_free(&L);
    kside_free(&N);
    return rc;
}

/* ---- unordered arrays ----------------------------------------------------- */

static uint64_t mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
    return h;
}

/* Equal values (exact equality, as compare.c without rules) hash equal:
 * members are summed (order-free), numbers hashed as doubles (10 == 10.0;
 * -0.0 as 0.0). Recursion depth is the value's depth. */
static uint64_t hash_json(const json_t *v)
{
    uint64_t h;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        h = 0x6f626a;
        for (void *it = json_object_iter((json_t *)v); it;
             it = json_object_iter_next((json_t *)v, it))
            h += mix(hash_bytes(json_object_iter_key(it),
                                json_object_iter_key_len(it)) ^
                     mix(hash_json(json_object_iter_value(it)) + 1));
        return mix(h ^ json_object_size(v));
    case JSON_ARRAY:
        h = 0x617272;
        for (size_t i = 0; i < json_array_size(v); i++)
            h = mix(h + hash_json(json_array_get(v, i)));
        return h;
    case JSON_STRING:
        return hash_bytes(json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
    case JSON_REAL: {
        double d = json_number_value(v);
        if (d == 0)
            d = 0;
        memcpy(&h, &d, sizeof h);
        return mix(h ^ 0x6e756d);
    }
    case JSON_TRUE: return mix(1);
    case JSON_FALSE: return mix(2);
    default: return mix(3);
    }
}

typedef struct uent {
    uint64_t h;
    size_t idx;
} uent;

static int uent_cmp(const void *a, const void *b)
{
    const uent *x = a, *y = b;
    if (x->h != y->h)
        return x->h < y->h ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

typedef struct uarr {
    const json_t *l, *n;
    unsigned char *lm, *nm; /* paired, by index */
    size_t common;          /* pairs (i, i) below this were probed */
} uarr;

/* Pairs legacy element a with new element b if they are equal. Each pair is
 * probed at most once: a probe recurses, and nested unordered arrays that
 * probed a pair twice per level would cost 2^depth. */
static bool upair(ctx *c, const seg *at, uarr *u, size_t a, size_t b)
{
    seg s = {at, NULL, a};
    if (u->nm[b] || (a == b && a < u->common) ||
        !cmp_probe(c, &s, json_array_get(u->l, a), json_array_get(u->n, b)))
        return false;
    u->lm[a] = u->nm[b] = 1;
    return true;
}

/* Phase 0: element i against element i. True when all of both pair. */
static bool pair_by_position(ctx *c, const seg *at, uarr *u, size_t nl, size_t nn)
{
    size_t paired = 0;
    u->common = 0;
    for (size_t i = 0; i < nl && i < nn; i++) {
        seg s = {at, NULL, i};
        if (cmp_probe(c, &s, json_array_get(u->l, i), json_array_get(u->n, i))) {
            u->lm[i] = u->nm[i] = 1;
            paired++;
        }
        u->common = i + 1;
    }
    return paired == nl && paired == nn;
}

/* Phase 1: elements with the same hash, sorted by (hash, index). */
static void pair_by_hash(ctx *c, const seg *at, uarr *u, const uent *L,
                         size_t nl, const uent *N, size_t nn)
{
    size_t i = 0, j = 0;
    while (i < nl && j < nn) {
        if (L[i].h < N[j].h) {
            i++;
            continue;
        }
        if (L[i].h > N[j].h) {
            j++;
            continue;
        }
        size_t i2 = i, j2 = j;
        while (i2 < nl && L[i2].h == L[i].h)
            i2++;
        while (j2 < nn && N[j2].h == N[j].h)
            j2++;
        for (size_t a = i; a < i2; a++) {
            size_t b = j;
            while (!u->lm[L[a].idx] && b < j2 && !upair(c, at, u, L[a].idx, N[b].idx))
                b++;
        }
        i = i2;
        j = j2;
    }
}

/* Phase 2: any equal pair among the leftovers, within the budgets (this
 * array's, and the whole comparison's: nested arrays multiply). */
static void pair_leftovers(ctx *c, const seg *at, uarr *u, size_t nl, size_t nn)
{
    size_t ll = 0, ln = 0;
    for (size_t a = 0; a < nl; a++)
        ll += !u->lm[a];
    for (size_t b = 0; b < nn; b++)
        ln += !u->nm[b];
    if (!ll || !ln || ll > UNORDERED_PAIR_BUDGET / ln)
        return;
    for (size_t a = 0; a < nl; a++)
        for (size_t b = 0; !u->lm[a] && b < nn && c->pair_budget; b++)
            if (!u->nm[b] && !(a == b && a < u->common)) {
                c->pair_budget--;
                upair(c, at, u, a, b);
            }
}

int cmp_unordered(ctx *c, const seg *at, const json_t *l, const json_t *n)
{
    size_t nl = json_array_size(l), nn = json_array_size(n);
    if (c->probe && nl != nn) { /* multisets of different sizes */
        c->found++;
        return 0;
    }
    uent *L = malloc((nl ? nl : 1) * sizeof *L), *N = malloc((nn ? nn : 1) * sizeof *N);
    uarr u = {l, n, calloc(nl + 1, 1), calloc(nn + 1, 1), 0};
    int rc = -1;
    if (L && N && u.lm && u.nm && pair_by_position(c, at, &u, nl, nn)) {
        rc = 0;
    } else if (L && N && u.lm && u.nm) {
        for (size_t i = 0; i < nl; i++)
            L[i] = (uent){hash_json(json_array_get(l, i)), i};
        for (size_t j = 0; j < nn; j++)
            N[j] = (uent){hash_json(json_array_get(n, j)), j};
        qsort(L, nl, sizeof *L, uent_cmp);
        qsort(N, nn, sizeof *N, uent_cmp);
        pair_by_hash(c, at, &u, L, nl, N, nn);
        pair_leftovers(c, at, &u, nl, nn);
        for (size_t a = 0; a < nl && !cmp_stopped(c); a++) {
            seg s = {at, NULL, a};
            if (!u.lm[a])
                cmp_report(c, &s, "removed", json_array_get(l, a), NULL);
        }
        for (size_t b = 0; b < nn && !cmp_stopped(c); b++) {
            seg s = {at, NULL, b};
            if (!u.nm[b])
                cmp_report(c, &s, "added", NULL, json_array_get(n, b));
        }
        rc = 0;
    }
    free(L);
    free(N);
    free(u.lm);
    free(u.nm);
    return rc;
}
