/* rulecmp: comparison rules applied before the diff (maps, ignore,
 * normalize), the "known" verdict, and their helpers. See rulecmp.h for the
 * contract; compare.c applies the rules that act during the diff.
 *
 * Copy-on-write. rulecmp_prepare owns the reference it is given. Every
 * rewrite is a walk that returns, for each node, either NULL ("nothing to
 * link": unchanged, or changed in place) or a new reference to link into
 * the parent in its place. A node is changed in place only when it is
 * exclusive: its refcount and every ancestor's is 1 (the `shared` flag
 * carries "some ancestor is shared" down the walk). A shared node is first
 * shallow-copied (json_copy increments its children, so they in turn count
 * as shared), and the copy is returned for linking. The caller's original
 * document, when it kept a reference, is therefore never modified, and
 * unchanged subtrees are shared rather than copied. */
#include "diff/rulecmp.h"

#include "diff/normalize.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- the path of the node being visited ----------------------------------- */

#define PATHV_SMALL 16 /* depths kept in the struct: no allocation */

/* Unescaped segments of the current node, for path_pattern_match. Index
 * segments point into .num, re-pointed when the arrays grow. The arrays are
 * the struct's own up to PATHV_SMALL levels (pathv_init), then malloc'd. */
typedef struct pathv {
    const char **segs;
    char (*num)[24];
    unsigned char *isnum;
    size_t cap;
    const char *small_segs[PATHV_SMALL];
    char small_num[PATHV_SMALL][24];
    unsigned char small_isnum[PATHV_SMALL];
} pathv;

static void pathv_init(pathv *p)
{
    p->segs = p->small_segs;
    p->num = p->small_num;
    p->isnum = p->small_isnum;
    p->cap = PATHV_SMALL;
}

/* A copy of old[0..n) of `size` bytes each into a bigger heap block: the
 * struct's own array is not realloc'able. */
static void *grow(void *old, const void *small, size_t n, size_t size, size_t cap)
{
    if (old != small)
        return realloc(old, cap * size);
    void *a = malloc(cap * size);
    if (a)
        memcpy(a, old, n * size);
    return a;
}

static int pathv_reserve(pathv *p, size_t d)
{
    if (d < p->cap)
        return 0;
    size_t cap = p->cap * 2;
    while (cap <= d)
        cap *= 2;
    unsigned char *isnum = grow(p->isnum, p->small_isnum, p->cap, 1, cap);
    if (!isnum)
        return -ENOMEM;
    p->isnum = isnum;
    const char **segs = grow(p->segs, p->small_segs, p->cap, sizeof *segs, cap);
    if (!segs)
        return -ENOMEM;
    p->segs = segs;
    char(*num)[24] = grow(p->num, p->small_num, p->cap, sizeof *num, cap);
    if (!num)
        return -ENOMEM;
    p->num = num;
    for (size_t i = 0; i < p->cap; i++) /* .num may have moved */
        if (p->isnum[i])
            p->segs[i] = p->num[i];
    p->cap = cap;
    return 0;
}

static inline int pathv_key(pathv *p, size_t d, const char *key)
{
    if (d >= p->cap && pathv_reserve(p, d) < 0)
        return -ENOMEM;
    p->segs[d] = key;
    p->isnum[d] = 0;
    return 0;
}

static int pathv_index(pathv *p, size_t d, size_t i)
{
    if (d >= p->cap && pathv_reserve(p, d) < 0)
        return -ENOMEM;
    char *end = p->num[d] + sizeof p->num[d], *s = end; /* no snprintf: hot */
    *--s = '\0';
    do
        *--s = (char)('0' + i % 10);
    while (i /= 10);
    p->segs[d] = memmove(p->num[d], s, (size_t)(end - s));
    p->isnum[d] = 1;
    return 0;
}

static void pathv_free(pathv *p)
{
    if (p->segs != p->small_segs)
        free(p->segs);
    if (p->num != p->small_num)
        free(p->num);
    if (p->isnum != p->small_isnum)
        free(p->isnum);
}

static bool is_wild(const char *seg)
{
    return seg[0] == '*' && (!seg[1] || (seg[1] == '*' && !seg[2]));
}

/* path_pattern_match, rejecting most paths early on the last segment (the
 * walk asks at every node). Inline: a call per node and pattern costs more
 * than the test. */
static inline bool pat_match(const path_pattern *pat, const char *const *segs, size_t d)
{
    if (d && pat->nsegs) {
        const char *last = pat->segs[pat->nsegs - 1], *seg = segs[d - 1];
        /* first byte first: most nodes differ there, and strcmp is a call */
        if (last[0] != seg[0] ? !is_wild(last) : !is_wild(last) && strcmp(last, seg) != 0)
            return false;
    }
    return path_pattern_match(pat, segs, d);
}

/* Could a path strictly below segs[0..d) match? Conservative: true as soon
 * as a "**" is reached. */
static bool may_match_below(const path_pattern *pat, const char *const *segs,
                            size_t d)
{
    for (size_t i = 0; i < d; i++) {
        const char *ps = i < pat->nsegs ? pat->segs[i] : NULL;
        if (!ps)
            return false;
        if (ps[0] == '*' && ps[1] == '*' && !ps[2])
            return true;
        if (!(ps[0] == '*' && !ps[1]) && strcmp(ps, segs[i]) != 0)
            return false;
    }
    return pat->nsegs > d;
}

/* ---- RFC 6901 helpers ----------------------------------------------------- */

/* An array index segment: "0" or [1-9][0-9]*, within size_t. */
static bool parse_index(const char *s, size_t *out)
{
    if (!*s || (s[0] == '0' && s[1]) )
        return false;
    size_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (SIZE_MAX - 9) / 10)
            return false;
        v = v * 10 + (size_t)(*s - '0');
    }
    *out = v;
    return true;
}

static json_t *child_at(const json_t *v, const char *seg)
{
    size_t i;
    if (json_is_object(v))
        return json_object_get(v, seg);
    if (json_is_array(v) && parse_index(seg, &i))
        return json_array_get(v, i);
    return NULL;
}

static json_t *lookup(json_t *v, char *const *segs, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        v = child_at(v, segs[i]);
    return v;
}

static bool is_container(const json_t *v)
{
    return json_is_object(v) || json_is_array(v);
}

/* A writable version of v: v itself when exclusive (borrowed), else a
 * shallow copy (a new reference). NULL when out of memory. */
static json_t *writable(json_t *v, bool shared)
{
    return shared ? json_copy(v) : v;
}

/* ---- ignore and normalize: one walk --------------------------------------- */

typedef struct prep {
    const route_compare *rc;
    const path_pattern *ignore; /* rc's, loaded once: the walk asks at every node */
    size_t nignore;
    bool deep; /* any_starts_deep(rc) */
    pathv path;
    int err;
} prep;

static inline bool ignored_at(const prep *p, size_t d)
{
    const char *const *segs = p->path.segs;
    for (size_t i = 0; i < p->nignore; i++)
        if (pat_match(&p->ignore[i], segs, d))
            return true;
    return false;
}

/* Neither a string nor a container: only an ignore rule can act on it. */
static inline bool is_plain_scalar(const json_t *v)
{
    return !json_is_string(v) && !json_is_object(v) && !json_is_array(v);
}

static unsigned norm_flags_at(const prep *p, size_t d)
{
    unsigned f = 0;
    const char *const *segs = p->path.segs;
    const rule_normalize *norm = p->rc->normalize;
    for (size_t i = 0, n = p->rc->nnormalize; i < n; i++) {
        const rule_normalize *r = &norm[i];
        if (!pat_match(&r->path, segs, d))
            continue;
        f |= (r->trim ? NORM_TRIM : 0) | (r->number_strings ? NORM_NUMBER : 0) |
             (r->case_insensitive ? NORM_CASE : 0) | (r->datetime ? NORM_DATETIME : 0);
    }
    return f;
}

static bool starts_deep(const path_pattern *pat)
{
    return pat->nsegs && strcmp(pat->segs[0], "**") == 0;
}

/* Does a pattern start with "**"? Then rules_below is always true. */
static bool any_starts_deep(const route_compare *rc)
{
    for (size_t i = 0; i < rc->nignore; i++)
        if (starts_deep(&rc->ignore[i]))
            return true;
    for (size_t i = 0; i < rc->nnormalize; i++)
        if (starts_deep(&rc->normalize[i].path))
            return true;
    return false;
}

static bool rules_below(const prep *p, size_t d)
{
    if (p->deep)
        return true;
    for (size_t i = 0; i < p->rc->nignore; i++)
        if (may_match_below(&p->rc->ignore[i], p->path.segs, d))
            return true;
    for (size_t i = 0; i < p->rc->nnormalize; i++)
        if (may_match_below(&p->rc->normalize[i].path, p->path.segs, d))
            return true;
    return false;
}

/* Deleted members or elements, applied after the loop over the container.
 * The first few in the struct itself (most containers lose one or two). */
typedef struct dels {
    size_t n, cap;
    struct del {
        const char *key; /* NULL for an array element */
        size_t len;      /* key length, or the index */
    } *v, small[4];
} dels;

static int dels_push(dels *d, const char *key, size_t len)
{
    if (!d->v) {
        d->v = d->small;
        d->cap = sizeof d->small / sizeof *d->small;
    }
    if (d->n == d->cap) {
        size_t cap = d->cap * 2;
        struct del *v = grow(d->v, d->small, d->n, sizeof *v, cap);
        if (!v)
            return -ENOMEM;
        d->v = v;
        d->cap = cap;
    }
    d->v[d->n++] = (struct del){key, len};
    return 0;
}

static json_t *clean(prep *p, json_t *v, size_t d, bool shared, unsigned flags,
                     bool *drop);

/* Applies one child's outcome to its container v: a deletion is deferred
 * (v is being iterated), a replacement is linked into *w, v's writable
 * version (made on first use). key NULL: n is an array index. */
static void link_child(prep *p, json_t *v, bool shared, json_t **w, dels *del,
                        const char *key, size_t n, json_t *r, bool drop)
{
    if (!drop && !r)
        return;
    if (!*w && !(*w = writable(v, shared))) {
        json_decref(r);
        p->err = -ENOMEM;
        return;
    }
    int bad;
    if (drop)
        bad = dels_push(del, key, n);
    else if (key)
        bad = json_object_setn_new(*w, key, n, r);
    else
        bad = json_array_set_new(*w, n, r);
    if (bad)
        p->err = -ENOMEM;
}

static json_t *clean_container(prep *p, json_t *v, size_t d, bool shared,
                               unsigned flags)
{
    json_t *w = NULL;
    dels del; /* not zeroed whole: a container visit is hot */
    del.n = del.cap = 0;
    del.v = NULL;
    bool drop;
    if (json_is_object(v)) {
        for (void *it = json_object_iter(v); it && !p->err;
             it = json_object_iter_next(v, it)) {
            const char *k = json_object_iter_key(it);
            size_t kl = json_object_iter_key_len(it);
            if (pathv_key(&p->path, d, k) < 0) {
                p->err = -ENOMEM;
                break;
            }
            json_t *c = json_object_iter_value(it), *r = NULL;
            if (is_plain_scalar(c)) /* no call for a number: half the nodes */
                drop = ignored_at(p, d + 1);
            else
                r = clean(p, c, d + 1, shared, flags, &drop);
            link_child(p, v, shared, &w, &del, k, kl, r, drop);
        }
        for (size_t i = 0; w && i < del.n; i++)
            json_object_deln(w, del.v[i].key, del.v[i].len);
    } else {
        for (size_t i = 0; i < json_array_size(v) && !p->err; i++) {
            if (pathv_index(&p->path, d, i) < 0) {
                p->err = -ENOMEM;
                break;
            }
            json_t *c = json_array_get(v, i), *r = NULL;
            if (is_plain_scalar(c))
                drop = ignored_at(p, d + 1);
            else
                r = clean(p, c, d + 1, shared, flags, &drop);
            link_child(p, v, shared, &w, &del, NULL, i, r, drop);
        }
        for (size_t i = del.n; w && i-- > 0;)
            json_array_remove(w, del.v[i].len);
    }
    if (del.v != del.small)
        free(del.v);
    return w && w != v ? w : NULL;
}

/* v at depth d (its path is p->path.segs[0..d)). Returns a new reference to
 * link in v's place, or NULL; *drop when v is ignored. */
static json_t *clean(prep *p, json_t *v, size_t d, bool shared, unsigned flags,
                     bool *drop)
{
    *drop = ignored_at(p, d);
    if (*drop || !(json_is_string(v) || is_container(v)))
        return NULL; /* normalize acts on strings only */
    flags |= norm_flags_at(p, d);
    if (json_is_string(v))
        return flags ? normalize_string(v, flags, &p->err) : NULL;
    if (!is_container(v) || (!flags && !rules_below(p, d)))
        return NULL;
    return clean_container(p, v, d, shared || v->refcount > 1, flags);
}

/* ---- maps ----------------------------------------------------------------- */

/* The container at segs below the exclusive container w, every container on
 * the way made exclusive (shared ones copied and linked); missing object
 * members are created as {} when `create`. NULL when unreachable. */
static json_t *writable_at(prep *p, json_t *w, char *const *segs, size_t n,
                           bool create)
{
    json_t *cur = w;
    for (size_t i = 0; cur && i < n; i++) {
        json_t *child = child_at(cur, segs[i]);
        if (!child && create && json_is_object(cur)) {
            child = json_object();
            if (!child || json_object_set_new(cur, segs[i], child)) {
                p->err = -ENOMEM;
                return NULL;
            }
        } else if (child && is_container(child) && child->refcount > 1) {
            json_t *c = json_copy(child);
            size_t idx;
            int bad = !c;
            if (c && json_is_object(cur))
                bad = json_object_set_new(cur, segs[i], c);
            else if (c && parse_index(segs[i], &idx))
                bad = json_array_set_new(cur, idx, c);
            if (bad) {
                p->err = -ENOMEM;
                return NULL;
            }
            child = c;
        }
        cur = child;
    }
    return cur && is_container(cur) ? cur : NULL;
}

/* Puts val (not stolen) under container c at seg: an object member, or an
 * array index (set; insert when `insert`; index == size or "-" appends). */
static bool put(json_t *c, const char *seg, json_t *val, bool insert)
{
    size_t i;
    if (json_is_object(c))
        return json_object_set(c, seg, val) == 0;
    if (strcmp(seg, "-") == 0)
        return json_array_append(c, val) == 0;
    if (!parse_index(seg, &i) || i > json_array_size(c))
        return false;
    if (i == json_array_size(c))
        return json_array_append(c, val) == 0;
    return (insert ? json_array_insert(c, i, val) : json_array_set(c, i, val)) == 0;
}

static void take_out(json_t *c, const char *seg)
{
    size_t i;
    if (json_is_object(c))
        json_object_del(c, seg);
    else if (parse_index(seg, &i))
        json_array_remove(c, i);
}

static bool same_segs(char *const *a, size_t na, char *const *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (strcmp(a[i], b[i]) != 0)
            return false;
    return true;
}

/* The move from/to relative to v (the node the wildcards led to). Returns
 * v's replacement (a new reference) or NULL. */
static json_t *map_apply(prep *p, json_t *v, bool shared, const rule_map_plan *mp)
{
    char *const *fs = mp->fs + mp->pre, *const *ts = mp->ts + mp->pre;
    size_t nf = (size_t)mp->nf - mp->pre, nt = (size_t)mp->nt - mp->pre;
    json_t *val = lookup(v, fs, nf);
    if (!val || same_segs(fs, nf, ts, nt))
        return NULL;
    json_incref(val);
    json_t *w = nf == 0 ? json_object() : shared ? json_copy(v) : json_incref(v);
    if (!w) {
        json_decref(val);
        p->err = -ENOMEM;
        return NULL;
    }
    if (nf > 0) {
        json_t *fp = writable_at(p, w, fs, nf - 1, false);
        if (fp)
            take_out(fp, fs[nf - 1]);
    }
    if (nt == 0) { /* unwrap: the value replaces v */
        json_decref(w);
        return val;
    }
    json_t *tp = writable_at(p, w, ts, nt - 1, true);
    if (!tp || !put(tp, ts[nt - 1], val, false)) {
        /* unreachable `to`: put the value back where it was */
        json_t *fp = nf ? writable_at(p, w, fs, nf - 1, false) : NULL;
        if (nf && (!fp || !put(fp, fs[nf - 1], val, true)))
            p->err = -ENOMEM;
    }
    json_decref(val);
    if (w == v) { /* exclusive: changed in place */
        json_decref(w);
        return NULL;
    }
    return w;
}

/* Follows the segments before the last "*" (expanding each "*"), then
 * applies the move. Returns v's replacement or NULL. */
static json_t *map_walk(prep *p, json_t *v, bool shared, const rule_map_plan *mp, size_t i)
{
    shared = shared || v->refcount > 1;
    if (i == mp->pre)
        return map_apply(p, v, shared, mp);
    json_t *w = NULL;
    bool all = strcmp(mp->fs[i], "*") == 0;
    if (json_is_object(v)) {
        for (void *it = json_object_iter(v); it && !p->err;
             it = json_object_iter_next(v, it)) {
            const char *k = json_object_iter_key(it);
            if (!all && strcmp(k, mp->fs[i]) != 0)
                continue;
            json_t *r = map_walk(p, json_object_iter_value(it), shared, mp, i + 1);
            link_child(p, v, shared, &w, NULL, k, json_object_iter_key_len(it), r, false);
        }
    } else if (json_is_array(v)) {
        size_t one = 0;
        if (!all && !parse_index(mp->fs[i], &one))
            return NULL;
        for (size_t k = all ? 0 : one;
             k < json_array_size(v) && (all || k == one) && !p->err; k++) {
            json_t *r = map_walk(p, json_array_get(v, k), shared, mp, i + 1);
            link_child(p, v, shared, &w, NULL, NULL, k, r, false);
        }
    }
    return w && w != v ? w : NULL;
}

/* ---- prepare -------------------------------------------------------------- */

static void relink(json_t **doc, json_t *r)
{
    if (r) {
        json_decref(*doc);
        *doc = r;
    }
}

int rulecmp_prepare(const route_compare *rc, sp_side side, json_t **doc)
{
    if (!rc || !doc || !*doc)
        return 0;
    prep p = {.rc = rc, .ignore = rc->ignore, .nignore = rc->nignore};
    pathv_init(&p.path);
    p.deep = any_starts_deep(rc);
    int invalid = 0;
    for (size_t i = 0; i < rc->nmaps && !p.err; i++) {
        if (rc->maps[i].side != side)
            continue;
        rule_map_plan mp;
        const char *why;
        if (rule_map_plan_make(&rc->maps[i], &mp, &why) < 0) {
            invalid = -EINVAL;
            continue;
        }
        relink(doc, map_walk(&p, *doc, false, &mp, 0));
        rule_map_plan_free(&mp);
    }
    if (!p.err && (rc->nignore || rc->nnormalize)) {
        bool drop;
        json_t *r = clean(&p, *doc, 0, false, 0, &drop);
        relink(doc, drop ? json_null() : r);
    }
    pathv_free(&p.path);
    return p.err ? p.err : invalid;
}

bool rulecmp_status_only(const route_compare *rc)
{
    return rc && rc->status_only;
}

/* ---- known differences ---------------------------------------------------- */

static bool known_path_fits(const rule_known *k, diff_where where,
                            const char *path)
{
    const char *t = k->path.text;
    if (!t)
        return true;
    switch (where) {
    case WHERE_STATUS: return k->where == WHERE_STATUS || !*t;
    case WHERE_HEADER: return !*t || strcasecmp(t, path) == 0;
    case WHERE_BODY:
        if (k->where == WHERE_ANY && !*t)
            return true;
        return (!*t || *t == '/') && path_pattern_match_str(&k->path, path);
    default: return false;
    }
}

const char *rulecmp_known(const route_compare *rc, diff_where where,
                          const char *path, const char *kind)
{
    for (size_t i = 0; rc && i < rc->nknown; i++) {
        const rule_known *k = &rc->known[i];
        if (k->where != WHERE_ANY && k->where != where)
            continue;
        if (k->kind && (!kind || strcmp(k->kind, kind) != 0))
            continue;
        if (known_path_fits(k, where, path ? path : ""))
            return k->name ? k->name : "";
    }
    return NULL;
}

static diff_where where_of(const char *s)
{
    if (!s)
        return WHERE_ANY;
    if (strcmp(s, "status") == 0)
        return WHERE_STATUS;
    if (strcmp(s, "header") == 0)
        return WHERE_HEADER;
    return strcmp(s, "body") == 0 ? WHERE_BODY : WHERE_ANY;
}

size_t rulecmp_classify(const route_compare *rc, json_t *diffs)
{
    size_t unknown = 0;
    for (size_t i = 0; i < json_array_size(diffs); i++) {
        json_t *d = json_array_get(diffs, i);
        diff_where w = where_of(json_string_value(json_object_get(d, "where")));
        const char *name = w == WHERE_ANY ? NULL
                           : rulecmp_known(rc, w, json_string_value(json_object_get(d, "path")),
                                           json_string_value(json_object_get(d, "kind")));
        if (name && json_object_set_new(d, "known", json_string(name)) == 0)
            continue;
        json_object_del(d, "known");
        unknown++;
    }
    return unknown;
}
