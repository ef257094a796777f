/* compare: the pure diff engine.
 *
 * Every difference is one object appended to the caller's array:
 *
 *   {"where": "status"|"header"|"body", "path": P, "kind": K,
 *    "legacy": V, "new": V}
 *
 * kind "changed": same type, different value; "type": different JSON types
 * (or JSON on one side only); "added": only in new ("legacy" omitted);
 * "removed": only in legacy ("new" omitted).
 *
 *   status   path "", values are integers.
 *   header   path is the header name as configured; the value is the
 *            field's values joined with ", " in order. Bytes that are not
 *            UTF-8 (obs-text) are read as ISO-8859-1 so the record stays
 *            valid JSON.
 *   body     both JSON: structural, path is an RFC 6901 pointer ("" = root),
 *            values are deep copies (never aliases of the parsed bodies, so
 *            redacting a record cannot touch a body and vice versa).
 *            Otherwise one difference at path "" whose values are body
 *            descriptors:
 *              {"format": "none"|"json"|"text"|"binary"|"oversize",
 *               "bytes": n, "sha256": "<64 hex>"}
 *            For every format but "oversize", bytes and sha256 describe the
 *            decoded bytes (so a gzip leg and a plain leg with equal content
 *            are equal). For "oversize" they describe the bytes as received
 *            (wire_len and the caller's hash); sha256 is omitted when the
 *            caller had none. kind is "type" when exactly one side is JSON,
 *            else "changed".
 *
 * Equality rules for bodies: both empty → equal; either oversize → equal
 * only when wire length and wire sha256 match; both JSON → structural;
 * otherwise equal decoded bytes → equal (even if one side was classified
 * JSON and the other text, e.g. because of its Content-Type: that shows up
 * as a header difference when Content-Type is compared).
 *
 * JSON numbers compare by value: integers as json_int_t, an integer against
 * a real exactly (10 == 10.0, but 2^53+1 != 9007199254740992.0), reals
 * exactly, unless a tolerance rule applies. Booleans are one type: true vs
 * false is "changed". null vs anything else is "type".
 *
 * With rules (compare_opts.rules, a route's route_compare; see rulecmp.h):
 *   status   a status_equiv pair counts as equal, in either order.
 *   header   rules->headers replace opts->headers when headers_set;
 *            ignore_headers are skipped; status_only compares none.
 *   body     status_only compares none. Both JSON: each side is first
 *            passed through rulecmp_prepare (maps, ignore, normalize) on a
 *            copy-on-write reference, so the views are left untouched; if
 *            that fails (out of memory, invalid map) the documents are
 *            compared as received, which can only add differences.
 *            compare_bodies_consume rewrites the views' own trees instead
 *            (no copies; same differences) and frees the views.
 *   tolerance  two numbers that differ, at a path matching a tolerance
 *            rule (the first that matches, in rule order), are equal when
 *            |a-b| <= absolute or |a-b| <= relative * max(|a|,|b|). Being
 *            exactly at the tolerance is equal: the bound gets a slack of
 *            1e-9 of itself plus 4 ulps of the larger operand, so the
 *            decimal 19.99 vs 19.995 at 0.005 is equal. 0 (both) is exact.
 *   arrays   an array at a path matching an array rule (first match): with
 *            a key, elements are paired by KEY=VALUE name, with an
 *            unordered flag as a multiset; see compare_walk.c.
 *   known    every difference, listed or past the cap, is matched against
 *            the known rules (rulecmp_known); a listed one gets
 *            "known": "<rule name>", and opts->known counts them.
 * Rule paths are matched on the compared path, prefix segments included.
 *
 * The cap (max_differences, 0 = 100) bounds what is appended to the array
 * in total; every function keeps counting past it and returns how many it
 * found, so the caller can flag the record as truncated. `diffs` may be
 * NULL to only count.
 *
 * Cost: equal documents allocate and format nothing (with rules: except
 * what rulecmp_prepare rewrites, and the names of keyed arrays). The walk
 * keeps its
 * position as a chain of frames on the C stack; the JSON pointer is spelled
 * out (into a stack buffer, or the heap when longer) only for a difference
 * that is appended. Objects are walked in parallel first (both sides
 * usually come from one serializer, in one key order), hashing a key only
 * when the orders disagree. Recursion depth equals document depth, which
 * jansson's parser bounds at JSON_PARSER_MAX_DEPTH (2048, about 100 bytes
 * of stack per level); documents built by hand deeper than that are the
 * caller's responsibility. */
#include "diff/compare.h"

#include <openssl/evp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/json_arena.h"
#include "diff/compare_int.h"
#include "diff/rulecmp.h"

static void ctx_init(ctx *c, json_t *diffs, const compare_opts *o)
{
    c->diffs = diffs;
    c->max = o && o->max_differences ? o->max_differences
                                     : COMPARE_MAX_DIFFERENCES;
    c->found = 0;
    c->rules = o ? o->rules : NULL;
    c->known = o ? o->known : NULL;
    c->probe = false;
    c->pair_budget = CMP_PAIR_BUDGET;
    c->prefix = "";
    c->prefix_len = 0;
    c->pre = NULL;
    c->npre = 0;
    c->buf = c->stack;
    c->cap = sizeof c->stack;
}

static void ctx_done(ctx *c)
{
    if (c->buf != c->stack)
        free(c->buf);
    pointer_segs_free(c->pre, (int)c->npre);
}

enum { TAKE_LIST = 1, TAKE_CLASSIFY = 2 };

/* Counts one difference; says whether to append it (TAKE_LIST) and whether
 * to match it against the known rules (TAKE_CLASSIFY). */
static unsigned take(ctx *c)
{
    c->found++;
    if (c->probe)
        return 0;
    unsigned t = c->diffs && json_array_size(c->diffs) < c->max ? TAKE_LIST : 0;
    if (c->rules && c->rules->nknown && (t || c->known))
        t |= TAKE_CLASSIFY;
    return t;
}

/* The known rule accepting a difference, counted in opts->known. */
static const char *classify(ctx *c, unsigned t, diff_where w, const char *path,
                            const char *kind)
{
    const char *k = t & TAKE_CLASSIFY ? rulecmp_known(c->rules, w, path, kind) : NULL;
    if (k && c->known)
        (*c->known)++;
    return k;
}

/* Appends {where, path, kind, legacy?, new?, known?}. Steals l and n (NULL:
 * the key is omitted). Out of memory loses this difference, nothing else; it
 * is still counted. */
static void append(ctx *c, const char *where, const char *path,
                   size_t path_len, const char *kind, json_t *l, json_t *n,
                   const char *known)
{
    json_t *d = json_object();
    if (!d) {
        json_decref(l);
        json_decref(n);
        return;
    }
    /* json_object_set_new and json_array_append_new take their value even
     * when they fail, so one decref of `d` cleans up whatever happened. */
    int bad = json_object_set_new(d, "where", json_string(where));
    bad |= json_object_set_new(d, "path", json_stringn(path, path_len));
    bad |= json_object_set_new(d, "kind", json_string(kind));
    if (l)
        bad |= json_object_set_new(d, "legacy", l);
    if (n)
        bad |= json_object_set_new(d, "new", n);
    if (known)
        bad |= json_object_set_new(d, "known", json_string(known));
    if (bad)
        json_decref(d);
    else
        json_array_append_new(c->diffs, d);
}

/* ---- JSON pointers ------------------------------------------------------- */

/* The walk's position is a chain of `seg` frames (compare_int.h): render_path
 * spells the pointer out only for a reported difference (formatting every
 * step cost about a third of an equal comparison). */

/* Length of "/" + the key escaped per RFC 6901 ('~' → "~0", '/' → "~1"). */
static size_t seg_len(const seg *s)
{
    size_t len = 1;
    if (!s->key) {
        size_t i = s->n;
        do
            len++;
        while (i /= 10);
        return len;
    }
    for (size_t i = 0; i < s->n; i++)
        len += s->key[i] == '~' || s->key[i] == '/' ? 2 : 1;
    return len;
}

/* Writes one segment ending just before `end`; returns its start. */
static char *seg_write(const seg *s, char *end)
{
    if (!s->key) {
        size_t i = s->n;
        do
            *--end = (char)('0' + i % 10);
        while (i /= 10);
    } else {
        for (size_t i = s->n; i-- > 0;) {
            char ch = s->key[i];
            if (ch == '~' || ch == '/') {
                *--end = ch == '~' ? '0' : '1';
                *--end = '~';
            } else
                *--end = ch;
        }
    }
    *--end = '/';
    return end;
}

/* The pointer of `at` (prefix included) in c->buf, NUL-terminated; NULL if
 * out of memory. Segments are written back to front, walking up the chain. */
static const char *render_path(ctx *c, const seg *at, size_t *len)
{
    size_t total = c->prefix_len;
    for (const seg *s = at; s; s = s->up)
        total += seg_len(s);
    if (total + 1 > c->cap) {
        char *p = malloc(total + 1);
        if (!p)
            return NULL;
        if (c->buf != c->stack)
            free(c->buf);
        c->buf = p;
        c->cap = total + 1;
    }
    c->buf[total] = '\0';
    char *end = c->buf + total;
    for (const seg *s = at; s; s = s->up)
        end = seg_write(s, end);
    memcpy(c->buf, c->prefix, c->prefix_len);
    *len = total;
    return c->buf;
}

/* ---- structural JSON ----------------------------------------------------- */

void cmp_report(ctx *c, const seg *at, const char *kind, const json_t *l,
                const json_t *n)
{
    size_t len;
    const char *path;
    unsigned t = take(c);
    if (!t || !(path = render_path(c, at, &len)))
        return;
    const char *known = classify(c, t, WHERE_BODY, path, kind);
    if (t & TAKE_LIST)
        append(c, "body", path, len, kind, l ? json_deep_copy(l) : NULL,
               n ? json_deep_copy(n) : NULL, known);
}

enum jclass { J_OBJECT, J_ARRAY, J_STRING, J_NUMBER, J_BOOL, J_NULL };

static enum jclass jclass(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return J_OBJECT;
    case JSON_ARRAY: return J_ARRAY;
    case JSON_STRING: return J_STRING;
    case JSON_INTEGER:
    case JSON_REAL: return J_NUMBER;
    case JSON_TRUE:
    case JSON_FALSE: return J_BOOL;
    case JSON_NULL: break;
    }
    return J_NULL;
}

/* Exact: converting the integer to double would make 2^53+1 equal
 * 2^53 (as a real). The real must be integral and within json_int_t. */
static bool int_equals_real(json_int_t i, double d)
{
    /* -2^63 and 2^63 are exact doubles; NaN fails both comparisons. */
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
        return false;
    json_int_t t = (json_int_t)d;
    return (double)t == d && t == i;
}

static bool numbers_equal(const json_t *l, const json_t *n)
{
    if (json_is_integer(l) && json_is_integer(n))
        return json_integer_value(l) == json_integer_value(n);
    if (json_is_real(l) && json_is_real(n))
        return json_real_value(l) == json_real_value(n);
    if (json_is_integer(l))
        return int_equals_real(json_integer_value(l), json_real_value(n));
    return int_equals_real(json_integer_value(n), json_real_value(l));
}

static bool scalars_equal(enum jclass k, const json_t *l, const json_t *n)
{
    switch (k) {
    case J_STRING:
        return json_string_length(l) == json_string_length(n) &&
               memcmp(json_string_value(l), json_string_value(n),
                      json_string_length(l)) == 0;
    case J_NUMBER: return numbers_equal(l, n);
    case J_BOOL: return json_typeof(l) == json_typeof(n);
    default: return true; /* null */
    }
}

/* Keys of `a` missing from `b`, reported with `a`'s value as `kind`. */
static void missing_keys(ctx *c, const seg *at, const json_t *a,
                         const json_t *b, const char *kind, bool a_is_legacy)
{
    json_t *obj = (json_t *)a; /* jansson's iterators take non-const */
    for (void *it = json_object_iter(obj); it && !cmp_stopped(c);
         it = json_object_iter_next(obj, it)) {
        const char *k = json_object_iter_key(it);
        size_t kl = json_object_iter_key_len(it);
        if (json_object_getn(b, k, kl))
            continue;
        seg s = {at, k, kl};
        const json_t *v = json_object_iter_value(it);
        cmp_report(c, &s, kind, a_is_legacy ? v : NULL,
                    a_is_legacy ? NULL : v);
    }
}

/* The value for `k` in the object `n`. Both sides usually come from the
 * same serializer, so their keys are often in the same order (jansson keeps
 * insertion order): try the key under the parallel iterator `*hint` before
 * hashing. Then advance the hint, in step with the caller's loop. */
static const json_t *lookup(const json_t *n, void **hint, const char *k,
                            size_t kl)
{
    const json_t *v = NULL;
    if (*hint) {
        if (json_object_iter_key_len(*hint) == kl &&
            memcmp(json_object_iter_key(*hint), k, kl) == 0)
            v = json_object_iter_value(*hint);
        *hint = json_object_iter_next((json_t *)n, *hint);
    }
    return v ? v : json_object_getn(n, k, kl);
}

static void diff_object(ctx *c, const seg *at, const json_t *l,
                        const json_t *n)
{
    json_t *obj = (json_t *)l;
    void *hint = json_object_iter((json_t *)n);
    size_t matched = 0;
    for (void *it = json_object_iter(obj); it && !cmp_stopped(c);
         it = json_object_iter_next(obj, it)) {
        const char *k = json_object_iter_key(it);
        size_t kl = json_object_iter_key_len(it);
        const json_t *nv = lookup(n, &hint, k, kl);
        if (!nv)
            continue; /* reported by missing_keys below, in one pass */
        matched++;
        seg s = {at, k, kl};
        cmp_value(c, &s, json_object_iter_value(it), nv);
    }
    if (matched < json_object_size(l))
        missing_keys(c, at, l, n, "removed", true);
    if (matched < json_object_size(n))
        missing_keys(c, at, n, l, "added", false);
}

/* By position: the common prefix element-wise, then the extra elements of
 * the longer side one by one. Unless an array rule says otherwise. */
static void diff_array(ctx *c, const seg *at, const json_t *l,
                       const json_t *n)
{
    const rule_array *r = c->rules ? cmp_array_rule(c, at) : NULL;
    if (r && r->key && cmp_keyed(c, at, l, n, r->key) == 0)
        return;
    if (r && !r->key && r->unordered && cmp_unordered(c, at, l, n) == 0)
        return;
    size_t nl = json_array_size(l), nn = json_array_size(n);
    size_t common = nl < nn ? nl : nn;
    for (size_t i = 0; i < common && !cmp_stopped(c); i++) {
        seg s = {at, NULL, i};
        cmp_value(c, &s, json_array_get(l, i), json_array_get(n, i));
    }
    for (size_t i = common; (i < nl || i < nn) && !cmp_stopped(c); i++) {
        seg s = {at, NULL, i};
        if (i < nl)
            cmp_report(c, &s, "removed", json_array_get(l, i), NULL);
        else
            cmp_report(c, &s, "added", NULL, json_array_get(n, i));
    }
}

void cmp_value(ctx *c, const seg *at, const json_t *l, const json_t *n)
{
    if (l == n)
        return; /* same node (e.g. the shared true/false/null singletons) */
    enum jclass kl = jclass(l), kn = jclass(n);
    if (kl != kn)
        cmp_report(c, at, "type", l, n);
    else if (kl == J_OBJECT)
        diff_object(c, at, l, n);
    else if (kl == J_ARRAY)
        diff_array(c, at, l, n);
    else if (!scalars_equal(kl, l, n) &&
             !(kl == J_NUMBER &&
               cmp_tolerated(c, at, json_number_value(l), json_number_value(n))))
        cmp_report(c, at, "changed", l, n);
}

bool cmp_probe(ctx *c, const seg *at, const json_t *l, const json_t *n)
{
    size_t found = c->found;
    bool probe = c->probe;
    c->found = 0;
    c->probe = true;
    cmp_value(c, at, l, n);
    bool equal = c->found == 0;
    c->found = found;
    c->probe = probe;
    return equal;
}

size_t compare_json(const json_t *legacy, const json_t *new_, const char *path,
                    json_t *diffs, const compare_opts *o)
{
    ctx c;
    ctx_init(&c, diffs, o);
    if (path) {
        c.prefix = path;
        c.prefix_len = strlen(path);
        /* Rule patterns see the whole path; a malformed prefix is
         * matched as if it were "". */
        int n = c.rules && *path ? pointer_split(path, &c.pre) : 0;
        c.npre = n > 0 ? (size_t)n : 0;
    }
    if (!legacy || !new_) {
        /* A missing document is not JSON null: report which side lacks it. */
        if (legacy != new_)
            cmp_report(&c, NULL, legacy ? "removed" : "added", legacy, new_);
    } else
        cmp_value(&c, NULL, legacy, new_);
    ctx_done(&c);
    return c.found;
}

/* ---- status and headers -------------------------------------------------- */

static bool status_equivalent(const route_compare *r, int a, int b)
{
    for (size_t i = 0; r && i < r->nstatus_equiv; i++) {
        const int *p = r->status_equiv[i];
        if ((p[0] == a && p[1] == b) || (p[0] == b && p[1] == a))
            return true;
    }
    return false;
}

size_t compare_status(int legacy, int new_, json_t *diffs,
                      const compare_opts *o)
{
    if (legacy == new_ || status_equivalent(o ? o->rules : NULL, legacy, new_))
        return 0;
    ctx c;
    ctx_init(&c, diffs, o);
    unsigned t = take(&c);
    const char *known = classify(&c, t, WHERE_STATUS, "", "changed");
    if (t & TAKE_LIST)
        append(&c, "status", "", 0, "changed", json_integer(legacy),
               json_integer(new_), known);
    return c.found;
}

/* A JSON string for header bytes: as is when UTF-8, else read as
 * ISO-8859-1 (RFC 9110 obs-text), so the record always serializes. */
static json_t *text_value(const char *s, size_t len)
{
    json_t *v = json_stringn(s, len);
    if (v || len > SIZE_MAX / 2)
        return v;
    char *u = malloc(2 * len);
    if (!u)
        return NULL;
    size_t j = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char b = (unsigned char)s[i];
        if (b < 0x80) {
            u[j++] = (char)b;
        } else {
            u[j++] = (char)(0xC0 | (b >> 6));
            u[j++] = (char)(0x80 | (b & 0x3F));
        }
    }
    v = json_stringn(u, j);
    free(u);
    return v;
}

/* All values of one header, joined with ", " in order. One field (the usual
 * case) aliases the list; several are joined into .heap. */
typedef struct joined {
    bool present;
    const char *s;
    size_t len;
    char *heap;
} joined;

static int join_values(const hdr_list *l, const char *name, joined *j)
{
    memset(j, 0, sizeof *j);
    size_t count = 0, total = 0;
    for (size_t i = 0; l && i < l->n; i++) {
        if (strcasecmp(hdr_name(l, i), name) != 0)
            continue;
        if (count++ == 0) {
            j->s = hdr_value(l, i);
            j->len = l->f[i].value_len;
        }
        total += l->f[i].value_len + (count > 1 ? 2 : 0);
    }
    j->present = count > 0;
    if (count < 2)
        return 0;
    if (!(j->heap = malloc(total)))
        return -1;
    size_t off = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (strcasecmp(hdr_name(l, i), name) != 0)
            continue;
        if (off) {
            memcpy(j->heap + off, ", ", 2);
            off += 2;
        }
        memcpy(j->heap + off, hdr_value(l, i), l->f[i].value_len);
        off += l->f[i].value_len;
    }
    j->s = j->heap;
    j->len = off;
    return 0;
}

static void compare_one_header(ctx *c, const char *name, const joined *l,
                               const joined *n)
{
    if (!l->present && !n->present)
        return;
    if (l->present && n->present && l->len == n->len &&
        memcmp(l->s, n->s, l->len) == 0)
        return;
    unsigned t = take(c);
    const char *kind = !l->present ? "added"
                       : !n->present ? "removed"
                                     : "changed";
    const char *known = classify(c, t, WHERE_HEADER, name, kind);
    if (t & TAKE_LIST)
        append(c, "header", name, strlen(name), kind,
               l->present ? text_value(l->s, l->len) : NULL,
               n->present ? text_value(n->s, n->len) : NULL, known);
}

static bool header_ignored(const route_compare *r, const char *name)
{
    for (size_t i = 0; r && i < r->nignore_headers; i++)
        if (strcasecmp(r->ignore_headers[i], name) == 0)
            return true;
    return false;
}

size_t compare_headers(const hdr_list *legacy, const hdr_list *new_,
                       json_t *diffs, const compare_opts *o)
{
    const route_compare *r = o ? o->rules : NULL;
    const char *const *names = o ? o->headers : NULL;
    size_t count = o ? o->nheaders : 0;
    if (r && r->status_only)
        return 0;
    if (r && r->headers_set) {
        names = (const char *const *)r->headers;
        count = r->nheaders;
    }
    ctx c;
    ctx_init(&c, diffs, o);
    for (size_t i = 0; i < count; i++) {
        joined l, n;
        if (header_ignored(r, names[i]))
            continue;
        /* Out of memory joining duplicates: skip this header rather than
         * report a difference that may not exist. */
        if (join_values(legacy, names[i], &l) == 0 &&
            join_values(new_, names[i], &n) == 0) {
            compare_one_header(&c, names[i], &l, &n);
            free(n.heap);
        }
        free(l.heap);
    }
    return c.found;
}

/* ---- bodies -------------------------------------------------------------- */

static void sha256_hex(const unsigned char *data, size_t len, char out[65])
{
    static const unsigned char empty[1];
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    out[0] = '\0';
    if (!EVP_Digest(data ? data : empty, len, md, &mdlen, EVP_sha256(), NULL))
        return;
    for (unsigned int i = 0; i < mdlen && i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
}

/* The decoded bytes are the wire bytes when nothing was decoded: then the
 * caller's streaming hash is reused instead of hashing up to the cap again. */
static bool wire_hash_applies(const body_view *b)
{
    return !b->owned && b->len == b->wire_len && strlen(b->sha256) == 64;
}

/* {"format", "bytes", "sha256"}: see the top of this file. */
static json_t *descriptor(const body_view *b)
{
    json_t *d = json_object();
    if (!d)
        return NULL;
    char hex[65];
    uint64_t bytes;
    if (b->kind == BODY_OVERSIZE) {
        bytes = b->wire_len;
        memcpy(hex, b->sha256, sizeof hex);
    } else {
        bytes = b->len;
        if (wire_hash_applies(b))
            memcpy(hex, b->sha256, sizeof hex);
        else
            sha256_hex(b->data, b->len, hex);
    }
    json_object_set_new(d, "format", json_string(body_kind_name(b->kind)));
    json_object_set_new(d, "bytes", json_integer((json_int_t)bytes));
    if (hex[0])
        json_object_set_new(d, "sha256", json_string(hex));
    return d;
}

/* Kinds parsed into a JSON tree that the structural diff compares. */
static bool is_tree(body_kind k)
{
    return k == BODY_JSON || k == BODY_XML || k == BODY_FORM;
}

static bool wire_equal(const body_view *l, const body_view *n)
{
    return l->wire_len == n->wire_len && l->sha256[0] &&
           strcmp(l->sha256, n->sha256) == 0;
}

static bool bytes_equal(const body_view *l, const body_view *n)
{
    return l->len == n->len &&
           (l->len == 0 || memcmp(l->data, n->data, l->len) == 0);
}

/* A reference to `doc` prepared for comparison under r (the original is
 * left as it is: see rulecmp_prepare); as received if that fails. */
static json_t *prepared(const route_compare *r, sp_side side, json_t *doc)
{
    json_t *d = json_incref(doc);
    if (r && rulecmp_prepare(r, side, &d) < 0) {
        json_decref(d);
        d = json_incref(doc);
    }
    return d;
}

/* The view's JSON tree prepared under r in place: the view's reference is
 * taken (b->json NULL after), so rulecmp_prepare rewrites the tree it
 * alone owns instead of copying what it changes. If that fails (only out of
 * memory: there are no maps here), the bytes are parsed again, so the
 * outcome is prepared()'s; the half-prepared tree is the last resort. */
static json_t *prepared_taken(const route_compare *r, sp_side side, body_view *b)
{
    json_t *d = b->json;
    b->json = NULL;
    if (rulecmp_prepare(r, side, &d) < 0) {
        json_t *again = body_json_parse(b->data, b->len, NULL);
        if (again) {
            json_decref(d);
            d = again;
        }
    }
    return d;
}

static size_t compare_trees(const json_t *ltree, const json_t *ntree, json_t *diffs,
                            const compare_opts *o)
{
    const route_compare *r = o ? o->rules : NULL;
    if (!r)
        return compare_json(ltree, ntree, "", diffs, o);
    json_t *lj = prepared(r, SIDE_LEGACY, (json_t *)ltree);
    json_t *nj = prepared(r, SIDE_NEW, (json_t *)ntree);
    size_t found = compare_json(lj, nj, "", diffs, o);
    json_decref(lj);
    json_decref(nj);
    return found;
}

size_t compare_bodies(const body_view *legacy, const body_view *new_,
                      json_t *diffs, const compare_opts *o)
{
    if (o && rulecmp_status_only(o->rules))
        return 0;
    static const body_view none; /* a missing view is an empty body */
    const body_view *l = legacy ? legacy : &none, *n = new_ ? new_ : &none;
    if (l->kind == BODY_NONE && n->kind == BODY_NONE)
        return 0;
    bool equal;
    if (l->kind == BODY_OVERSIZE || n->kind == BODY_OVERSIZE)
        equal = wire_equal(l, n);
    else if (is_tree(l->kind) && l->kind == n->kind && l->json && n->json)
        return compare_trees(l->json, n->json, diffs, o); /* JSON, XML, forms */
    else
        equal = bytes_equal(l, n);
    if (equal)
        return 0;
    if (l->kind == BODY_TEXT && n->kind == BODY_TEXT) {
        /* Multi-line text: a difference per line ("/12"), not one for all. */
        json_t *ll = body_lines(l), *nl = body_lines(n);
        size_t found = 0;
        if (ll && nl)
            found = compare_trees(ll, nl, diffs, o);
        json_decref(ll);
        json_decref(nl);
        if (ll && nl && found)
            return found;
    }
    ctx c;
    ctx_init(&c, diffs, o);
    bool one_json = l->kind != n->kind && (is_tree(l->kind) || is_tree(n->kind));
    /* Oversize hides the format, so a type difference cannot be claimed. */
    bool type = one_json && l->kind != BODY_OVERSIZE &&
                n->kind != BODY_OVERSIZE;
    const char *kind = type ? "type" : "changed";
    unsigned t = take(&c);
    const char *known = classify(&c, t, WHERE_BODY, "", kind);
    if (t & TAKE_LIST)
        append(&c, "body", "", 0, kind, descriptor(l), descriptor(n), known);
    return c.found;
}

static void release_view(body_view *b, const compare_opts *o)
{
    if (b && o && o->arena) {
        json_arena_drop(o->arena, b->json);
        b->json = NULL;
    }
    body_view_free(b);
}

size_t compare_bodies_consume(body_view *legacy, body_view *new_, json_t *diffs,
                              const compare_opts *o)
{
    const route_compare *r = o ? o->rules : NULL;
    size_t found;
    /* In place only where the answer cannot change: JSON trees the rules
     * rewrite without maps (a map's error falls back to the tree as
     * received, which an in-place rewrite no longer has). */
    if (r && !r->nmaps && !rulecmp_status_only(r) && legacy && new_ &&
        legacy->kind == BODY_JSON && new_->kind == BODY_JSON && legacy->json &&
        new_->json) {
        json_t *lj = prepared_taken(r, SIDE_LEGACY, legacy);
        json_t *nj = prepared_taken(r, SIDE_NEW, new_);
        found = compare_json(lj, nj, "", diffs, o);
        json_arena_drop(o->arena, lj);
        json_arena_drop(o->arena, nj);
    } else {
        found = compare_bodies(legacy, new_, diffs, o);
    }
    release_view(legacy, o);
    release_view(new_, o);
    return found;
}
