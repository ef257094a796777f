/* rules_suggest_scan: reads diff-log records for `rules suggest` and decides
 * the rules (rules_suggest_int.h). Two passes over the logs:
 *
 *   pass 1  both bodies walked in parallel: arrays that differ by position
 *           but hold the same elements (by a key member, or as multisets)
 *           -> one arrays rule per array path
 *   pass 2  the walk again, arrays paired as decided: every leaf that
 *           differs feeds its field's noise_field (report_noise.h, the
 *           report's own decision); statuses and compared headers that
 *           differ are counted -> normalize / ignore / status_equivalent /
 *           ignore_headers
 *
 * Only compared exchanges (match, mismatch, known) count. */
#include "tools/rules_suggest_int.h"

#include "conf/endpoint.h"
#include "diff/logread.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PATH_MAX_BYTES 1024

static const char *str_member(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static bool grow(void **v, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return true;
    size_t nc = *cap ? *cap * 2 : 16;
    void *p = realloc(*v, nc * size);
    if (!p)
        return false;
    memset((char *)p + *cap * size, 0, (nc - *cap) * size);
    *v = p;
    *cap = nc;
    return true;
}

/* ---- groups ------------------------------------------------------------------ */

static sg_group *group_get(sg_model *m, const char *name, bool endpoint)
{
    for (size_t i = 0; i < m->ngroups; i++)
        if (strcmp(m->groups[i].name, name) == 0)
            return &m->groups[i];
    if (m->ngroups >= SG_MAX_GROUPS || !grow((void **)&m->groups, &m->groups_cap, m->ngroups,
                                             sizeof *m->groups)) {
        m->groups_dropped++;
        return NULL;
    }
    sg_group *g = &m->groups[m->ngroups];
    if (!(g->name = strdup(name)) || !(g->field_index = json_object())) {
        free(g->name);
        *g = (sg_group){0};
        return NULL;
    }
    g->endpoint = endpoint;
    m->ngroups++;
    return g;
}

static sg_field *field_get(sg_group *g, const char *path)
{
    json_t *i = json_object_get(g->field_index, path);
    if (i)
        return &g->fields[json_integer_value(i)];
    if (g->nfields >= SG_MAX_FIELDS ||
        !grow((void **)&g->fields, &g->fields_cap, g->nfields, sizeof *g->fields))
        return NULL;
    sg_field *f = &g->fields[g->nfields];
    if (!(f->path = strdup(path)) ||
        json_object_set_new(g->field_index, path, json_integer((json_int_t)g->nfields)) != 0) {
        free(f->path);
        *f = (sg_field){0};
        return NULL;
    }
    g->nfields++;
    return f;
}

static sg_array *array_find(sg_group *g, const char *path)
{
    for (size_t i = 0; i < g->narrays; i++)
        if (strcmp(g->arrays[i].path, path) == 0)
            return &g->arrays[i];
    return NULL;
}

static sg_array *array_get(sg_group *g, const char *path)
{
    sg_array *a = array_find(g, path);
    if (a || g->narrays >= SG_MAX_FIELDS ||
        !grow((void **)&g->arrays, &g->arrays_cap, g->narrays, sizeof *g->arrays))
        return a;
    a = &g->arrays[g->narrays];
    if (!(a->path = strdup(path)))
        return NULL;
    g->narrays++;
    return a;
}

static char *example_text(const json_t *v)
{
    if (!v)
        return NULL;
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (s && strlen(s) > SG_EXAMPLE_MAX) {
        size_t n = SG_EXAMPLE_MAX;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
        memcpy(s + n, "\xe2\x80\xa6", 4); /* "…" fits: the text was longer */
    }
    return s;
}

static void example_add(sg_example *ex, size_t *nex, const json_t *l, const json_t *n)
{
    if (*nex >= 2)
        return;
    ex[*nex].v[0] = example_text(l);
    ex[*nex].v[1] = example_text(n);
    (*nex)++;
}

/* ---- walking both bodies ------------------------------------------------------- */

typedef struct walk {
    sg_model *m;
    sg_group *g;
    sg_pending *pending; /* pass 2, statuses differ: where the differences are */
    char path[PATH_MAX_BYTES];
    size_t len;
} walk;

static void visit(walk *w, const json_t *l, const json_t *n, int depth);

/* Appends "/seg" (escaped, RFC 6901); false when the path is too long. */
static bool push(walk *w, const char *seg)
{
    size_t need = 1;
    for (const char *p = seg; *p; p++)
        need += (*p == '~' || *p == '/') ? 2 : 1;
    if (w->len + need >= sizeof w->path)
        return false;
    w->path[w->len++] = '/';
    for (const char *p = seg; *p; p++) {
        if (*p == '~' || *p == '/') {
            w->path[w->len++] = '~';
            w->path[w->len++] = *p == '~' ? '0' : '1';
        } else {
            w->path[w->len++] = *p;
        }
    }
    w->path[w->len] = '\0';
    return true;
}

static void pop(walk *w, size_t len)
{
    w->len = len;
    w->path[len] = '\0';
}

static void pending_note(walk *w, size_t field, unsigned mask)
{
    sg_pending *p = w->pending;
    if (!p)
        return;
    size_t cap = p->cap;
    if (!grow((void **)&p->fields, &cap, p->n, sizeof *p->fields) ||
        !grow((void **)&p->masks, &p->cap, p->n, sizeof *p->masks)) {
        p->other = true;
        return;
    }
    p->fields[p->n] = field;
    p->masks[p->n++] = mask;
}

/* A leaf (or values of different shapes) at w->path. */
static void leaf(walk *w, const json_t *l, const json_t *n)
{
    sg_field *f = field_get(w->g, w->path);
    if (!f) {
        if (w->pending && !noise_equal(l, n))
            w->pending->other = true;
        return;
    }
    if (f->seen_seq != w->m->seq) {
        f->seen_seq = w->m->seq;
        f->present++;
    }
    if (noise_equal(l, n))
        return;
    if (f->noise.seq != w->m->seq)
        example_add(f->ex, &f->nex, l, n);
    noise_observe(&f->noise, w->m->seq, l, n);
    pending_note(w, (size_t)(f - w->g->fields), noise_fixes(l, n));
}

/* The key's value of an element as text, or NULL (not an object, no
 * scalar there). Malloc'd. */
static char *key_of(const json_t *e, const char *key)
{
    const json_t *v = json_object_get(e, key);
    if (!v || !(json_is_string(v) || json_is_integer(v)))
        return NULL;
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* The element of arr whose key is k, not yet taken; -1 if none. */
static long find_keyed(const json_t *arr, const char *key, const char *k, const bool *taken)
{
    for (size_t i = 0; i < json_array_size(arr); i++) {
        if (taken[i])
            continue;
        char *t = key_of(json_array_get(arr, i), key);
        bool hit = t && strcmp(t, k) == 0;
        free(t);
        if (hit)
            return (long)i;
    }
    return -1;
}

/* How many elements of arr have k as their key. */
static size_t key_count(const json_t *arr, const char *key, const char *k)
{
    size_t c = 0;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        char *t = key_of(json_array_get(arr, i), key);
        c += t && strcmp(t, k) == 0;
        free(t);
    }
    return c;
}

/* Differing leaves between two values (arrays by position). */
static size_t count_diffs(const json_t *l, const json_t *n)
{
    if (noise_equal(l, n))
        return 0;
    if (json_is_object(l) && json_is_object(n)) {
        size_t c = 0;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)l, k, v) c += count_diffs(v, json_object_get(n, k));
        json_object_foreach((json_t *)n, k, v) c += !json_object_get(l, k);
        return c;
    }
    if (json_is_array(l) && json_is_array(n)) {
        size_t c = 0, nl = json_array_size(l), nn = json_array_size(n);
        for (size_t i = 0; i < (nl > nn ? nl : nn); i++)
            c += count_diffs(json_array_get(l, i), json_array_get(n, i));
        return c;
    }
    return 1;
}

/* Does `key` identify the elements of both arrays (a scalar in each, unique
 * per side, the same set) and pairing by it leave fewer differences? */
static bool key_fits(const json_t *l, const json_t *n, const char *key, size_t positional)
{
    size_t nl = json_array_size(l);
    if (nl != json_array_size(n) || nl == 0)
        return false;
    bool *taken = calloc(nl, sizeof *taken);
    if (!taken)
        return false;
    size_t keyed = 0;
    bool ok = true;
    for (size_t i = 0; ok && i < nl; i++) {
        char *k = key_of(json_array_get(l, i), key);
        long j = k ? find_keyed(n, key, k, taken) : -1;
        ok = j >= 0 && key_count(l, key, k) == 1 && key_count(n, key, k) == 1;
        if (ok) {
            taken[j] = true;
            keyed += count_diffs(json_array_get(l, i), json_array_get(n, (size_t)j));
        }
        free(k);
    }
    free(taken);
    return ok && keyed < positional;
}

/* Are the arrays equal as multisets? */
static bool multiset_equal(const json_t *l, const json_t *n)
{
    size_t nl = json_array_size(l);
    if (nl != json_array_size(n))
        return false;
    bool *taken = calloc(nl ? nl : 1, sizeof *taken);
    bool ok = taken != NULL;
    for (size_t i = 0; ok && i < nl; i++) {
        ok = false;
        for (size_t j = 0; !ok && j < nl; j++)
            if (!taken[j] && noise_equal(json_array_get(l, i), json_array_get(n, j)))
                taken[j] = ok = true;
    }
    free(taken);
    return ok;
}

/* Pass 1: what pairing would make two arrays at w->path agree. */
static void arrays_observe(walk *w, const json_t *l, const json_t *n)
{
    if ((json_array_size(l) < 2 && json_array_size(n) < 2) || json_array_size(l) > SG_MAX_PAIRED ||
        json_array_size(n) > SG_MAX_PAIRED)
        return;
    sg_array *a = array_get(w->g, w->path);
    if (!a || a->seen_seq == w->m->seq)
        return;
    a->seen_seq = w->m->seq;
    a->multi++;
    size_t positional = count_diffs(l, n);
    if (!positional)
        return;
    a->misordered++;
    a->unordered += multiset_equal(l, n);
    const json_t *first = json_array_get(l, 0);
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)first, k, v) {
        if (!json_is_string(v) && !json_is_integer(v))
            continue;
        size_t i = 0;
        while (i < a->nkeys && strcmp(a->keys[i], k) != 0)
            i++;
        if (i == a->nkeys) {
            if (a->nkeys == SG_MAX_KEYS || !(a->keys[i] = strdup(k)))
                continue;
            a->nkeys++;
        }
        a->keyed[i] += key_fits(l, n, k, positional);
    }
}

/* Pass 2: the elements paired as decided, each pair walked. */
static void arrays_walk(walk *w, const json_t *l, const json_t *n, int depth)
{
    size_t at = w->len, nl = json_array_size(l), nn = json_array_size(n);
    const sg_array *a = array_find(w->g, w->path);
    bool ok = push(w, "*");
    if (!ok)
        return;
    if (a && (a->key || a->use_unordered) && nl <= SG_MAX_PAIRED && nn <= SG_MAX_PAIRED) {
        bool *taken = calloc(nn ? nn : 1, sizeof *taken);
        if (!taken) {
            pop(w, at);
            return;
        }
        for (size_t i = 0; i < nl; i++) {
            const json_t *e = json_array_get(l, i);
            long j = -1;
            if (a->key) {
                char *k = key_of(e, a->key);
                j = k ? find_keyed(n, a->key, k, taken) : -1;
                free(k);
            } else {
                for (size_t c = 0; j < 0 && c < nn; c++)
                    if (!taken[c] && noise_equal(e, json_array_get(n, c)))
                        j = (long)c;
            }
            if (j >= 0)
                taken[j] = true;
            visit(w, e, j >= 0 ? json_array_get(n, (size_t)j) : NULL, depth + 1);
        }
        for (size_t j = 0; j < nn; j++)
            if (!taken[j])
                visit(w, NULL, json_array_get(n, j), depth + 1);
        free(taken);
    } else {
        for (size_t i = 0; i < (nl > nn ? nl : nn); i++)
            visit(w, json_array_get(l, i), json_array_get(n, i), depth + 1);
    }
    pop(w, at);
}

static void visit(walk *w, const json_t *l, const json_t *n, int depth)
{
    if (depth > SG_MAX_DEPTH) {
        if (w->pending && !noise_equal(l, n))
            w->pending->other = true;
        return;
    }
    if (json_is_object(l) && json_is_object(n)) {
        size_t at = w->len;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)l, k, v) {
            if (push(w, k))
                visit(w, v, json_object_get(n, k), depth + 1);
            pop(w, at);
        }
        json_object_foreach((json_t *)n, k, v) {
            if (!json_object_get(l, k) && push(w, k))
                visit(w, NULL, v, depth + 1);
            pop(w, at);
        }
        return;
    }
    if (json_is_array(l) && json_is_array(n)) {
        if (w->m->pass == 1)
            arrays_observe(w, l, n);
        arrays_walk(w, l, n, depth);
        return;
    }
    if (w->m->pass == 2)
        leaf(w, l, n);
}

/* ---- records ----------------------------------------------------------------------- */

static bool compared(const char *verdict)
{
    return verdict && (!strcmp(verdict, "match") || !strcmp(verdict, "mismatch") ||
                       !strcmp(verdict, "known"));
}

static bool json_body(const json_t *leg)
{
    const char *fmt = str_member(leg, "body_format");
    return fmt && strcmp(fmt, "json") == 0 && !json_is_true(json_object_get(leg, "body_truncated"));
}

static void status_add(sg_model *m, sg_group *g, int ls, int ns, const char *id, sg_pending **pend)
{
    size_t i = 0;
    while (i < g->nstatuses && (g->statuses[i].legacy != ls || g->statuses[i].neu != ns))
        i++;
    if (i == g->nstatuses) {
        sg_status *s = realloc(g->statuses, (g->nstatuses + 1) * sizeof *s);
        if (!s)
            return;
        g->statuses = s;
        s[i] = (sg_status){.legacy = ls, .neu = ns};
        g->nstatuses++;
    }
    sg_status *s = &g->statuses[i];
    if (s->count < 2 && id)
        s->ids[s->count] = strdup(id);
    s->count++;
    if (!grow((void **)&g->pending, &g->pending_cap, g->npending, sizeof *g->pending))
        return;
    *pend = &g->pending[g->npending++];
    **pend = (sg_pending){.status = i};
    (void)m;
}

static void headers_add(sg_model *m, sg_group *g, const json_t *diffs)
{
    size_t i;
    const json_t *d;
    json_array_foreach(diffs, i, d) {
        const char *where = str_member(d, "where"), *name = str_member(d, "path");
        if (!where || strcmp(where, "header") != 0 || !name || json_object_get(d, "known"))
            continue;
        size_t h = 0;
        while (h < g->nheaders && strcasecmp(g->headers[h].name, name) != 0)
            h++;
        if (h == g->nheaders) {
            sg_header *nh = realloc(g->headers, (g->nheaders + 1) * sizeof *nh);
            if (!nh)
                continue;
            g->headers = nh;
            nh[h] = (sg_header){.name = strdup(name)};
            if (!nh[h].name)
                continue;
            g->nheaders++;
        }
        sg_header *hd = &g->headers[h];
        if (hd->seen_seq != m->seq) {
            hd->seen_seq = m->seq;
            hd->count++;
            example_add(hd->ex, &hd->nex, json_object_get(d, "legacy"), json_object_get(d, "new"));
        }
    }
}

void sg_add(sg_model *m, const json_t *rec)
{
    if (str_member(rec, "type")) /* overload, not_mirrored: counts, not exchanges */
        return;
    const char *route = str_member(rec, "route");
    char buf[ENDPOINT_MAX];
    const char *name = endpoint_group(route, str_member(rec, "endpoint"), str_member(rec, "method"),
                                      str_member(rec, "uri"), buf, sizeof buf);
    if (!name)
        return;
    sg_group *g = group_get(m, name, strcmp(route, "default") == 0);
    if (!g)
        return;
    m->seq++;
    if (m->pass == 1) {
        m->records++;
        g->records++;
    }
    if (!compared(str_member(rec, "verdict")))
        return;
    const json_t *l = json_object_get(rec, "legacy"), *n = json_object_get(rec, "new");
    walk w = {.m = m, .g = g};
    if (m->pass == 2) {
        m->compared++;
        g->compared++;
        json_t *ls = json_object_get(l, "status"), *ns = json_object_get(n, "status");
        if (json_is_integer(ls) && json_is_integer(ns) &&
            json_integer_value(ls) != json_integer_value(ns))
            status_add(m, g, (int)json_integer_value(ls), (int)json_integer_value(ns),
                       str_member(rec, "id"), &w.pending);
        headers_add(m, g, json_object_get(rec, "differences"));
    }
    if (json_body(l) && json_body(n)) {
        g->json_pairs += m->pass == 2;
        visit(&w, json_object_get(l, "body"), json_object_get(n, "body"), 0);
    } else if (w.pending) {
        w.pending->other = !noise_equal(json_object_get(l, "body"), json_object_get(n, "body"));
    }
}

int sg_scan_file(sg_model *m, const char *path, char *err, size_t errsize)
{
    logread *r;
    if (logread_open(&r, path, err, errsize) != 0)
        return -1;
    json_t *rec;
    int rc;
    while ((rc = logread_next(r, &rec, err, errsize)) == 1) {
        sg_add(m, rec);
        json_decref(rec);
    }
    logread_close(r);
    return rc < 0 ? -1 : 0;
}

/* ---- decisions ---------------------------------------------------------------------- */

static bool majority(uint64_t part, uint64_t whole)
{
    return part >= NOISE_MIN_EXCHANGES && (double)part > NOISE_MAJORITY * (double)whole;
}

void sg_decide_arrays(sg_model *m)
{
    for (size_t i = 0; i < m->ngroups; i++) {
        sg_group *g = &m->groups[i];
        for (size_t j = 0; j < g->narrays; j++) {
            sg_array *a = &g->arrays[j];
            size_t best = SG_MAX_KEYS;
            for (size_t k = 0; k < a->nkeys; k++)
                if (majority(a->keyed[k], a->multi) &&
                    (best == SG_MAX_KEYS || a->keyed[k] > a->keyed[best]))
                    best = k;
            if (best < SG_MAX_KEYS) {
                a->key = a->keys[best];
                a->evidence = a->keyed[best];
            } else if (majority(a->unordered, a->multi)) {
                a->use_unordered = true;
                a->evidence = a->unordered;
            }
        }
    }
}

/* Would the decided rules remove this difference? */
static bool covered(const sg_group *g, size_t field, unsigned mask)
{
    const noise_verdict *v = &g->fields[field].verdict;
    return v->rule == NOISE_IGNORE || (v->rule == NOISE_NORMALIZE && (mask >> v->flag) & 1u);
}

void sg_decide_rest(sg_model *m)
{
    for (size_t i = 0; i < m->ngroups; i++) {
        sg_group *g = &m->groups[i];
        for (size_t j = 0; j < g->nfields; j++) {
            sg_field *f = &g->fields[j];
            noise_finish(&f->noise);
            f->verdict = noise_decide(&f->noise, f->present);
        }
        for (size_t j = 0; j < g->npending; j++) {
            const sg_pending *p = &g->pending[j];
            bool agree = !p->other;
            for (size_t k = 0; agree && k < p->n; k++)
                agree = covered(g, p->fields[k], p->masks[k]);
            g->statuses[p->status].agree += agree;
        }
        for (size_t j = 0; j < g->nstatuses; j++) {
            sg_status *s = &g->statuses[j];
            /* the pair in most exchanges, and its bodies agree in most of
             * them (an exchange whose body differs as well stays a mismatch) */
            s->chosen = majority(s->count, g->compared) && majority(s->agree, s->count);
        }
        for (size_t j = 0; j < g->nheaders; j++) {
            sg_header *h = &g->headers[j];
            h->chosen = h->count >= NOISE_MIN_EXCHANGES &&
                        (double)h->count >= NOISE_IGNORE_SHARE * (double)g->compared;
        }
    }
}

static void examples_free(sg_example *ex, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(ex[i].v[0]);
        free(ex[i].v[1]);
    }
}

void sg_model_free(sg_model *m)
{
    for (size_t i = 0; i < m->ngroups; i++) {
        sg_group *g = &m->groups[i];
        for (size_t j = 0; j < g->nfields; j++) {
            free(g->fields[j].path);
            examples_free(g->fields[j].ex, g->fields[j].nex);
        }
        for (size_t j = 0; j < g->narrays; j++) {
            free(g->arrays[j].path);
            for (size_t k = 0; k < g->arrays[j].nkeys; k++)
                free(g->arrays[j].keys[k]);
        }
        for (size_t j = 0; j < g->nstatuses; j++) {
            free(g->statuses[j].ids[0]);
            free(g->statuses[j].ids[1]);
        }
        for (size_t j = 0; j < g->nheaders; j++) {
            free(g->headers[j].name);
            examples_free(g->headers[j].ex, g->headers[j].nex);
        }
        for (size_t j = 0; j < g->npending; j++) {
            free(g->pending[j].fields);
            free(g->pending[j].masks);
        }
        free(g->fields);
        free(g->arrays);
        free(g->statuses);
        free(g->headers);
        free(g->pending);
        json_decref(g->field_index);
        free(g->name);
    }
    free(m->groups);
    *m = (sg_model){0};
}
