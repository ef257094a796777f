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
 * exactly. No tolerance here. Booleans are one type: true vs false is
 * "changed". null vs anything else is "type".
 *
 * The cap (max_differences, 0 = 100) bounds what is appended to the array
 * in total; every function keeps counting past it and returns how many it
 * found, so the caller can flag the record as truncated. `diffs` may be
 * NULL to only count.
 *
 * Cost: equal documents allocate and format nothing. The walk keeps its
 * position as a chain of frames on the C stack; the JSON pointer is spelled
 * out (into a stack buffer, or the heap when longer) only for a difference
 * that is appended. Objects are walked in parallel first (both sides
 * usually come from one serializer, in one key order), hashing a key only
 * when the orders disagree. Recursion depth equals document depth, which
 * jansson's parser bounds at JSON_PARSER_MAX_DEPTH (2048, about 100 bytes
 * of stack per level); documents built by hand deeper than that are the
 * caller's responsibility. */
#include "compare.h"

#include <openssl/evp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_MAX_DIFFERENCES 100
#define PATH_STACK 256

typedef struct ctx {
    json_t *diffs;
    size_t max;         /* cap on json_array_size(diffs) */
    size_t found;       /* differences found by this call, appended or not */
    const char *prefix; /* compare_json's `path` */
    size_t prefix_len;
    char *buf; /* where a pointer is rendered: .stack, or malloc'd if longer */
    size_t cap;
    char stack[PATH_STACK];
} ctx;

static void ctx_init(ctx *c, json_t *diffs, const compare_opts *o)
{
    c->diffs = diffs;
    c->max = o && o->max_differences ? o->max_differences
                                     : DEFAULT_MAX_DIFFERENCES;
    c->found = 0;
    c->prefix = "";
    c->prefix_len = 0;
    c->buf = c->stack;
    c->cap = sizeof c->stack;
}

static void ctx_done(ctx *c)
{
    if (c->buf != c->stack)
        free(c->buf);
}

/* Counts one difference; true when it should also be built and appended. */
static bool take(ctx *c)
{
    c->found++;
    return c->diffs && json_array_size(c->diffs) < c->max;
}

/* Appends {where, path, kind, legacy?, new?}. Steals l and n (NULL: the key
 * is omitted). Out of memory loses this difference, nothing else; it is
 * still counted. */
static void append(ctx *c, const char *where, const char *path,
                   size_t path_len, const char *kind, json_t *l, json_t *n)
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
    if (bad)
        json_decref(d);
    else
        json_array_append_new(c->diffs, d);
}

/* ---- JSON pointers ------------------------------------------------------- */

/* One step of the walk, on the C stack: the chain from the current node up
 * to the root is its pointer. Nothing is formatted while nodes compare
 * equal; render_path spells the pointer out only for a reported difference
 * (formatting every step cost about a third of an equal comparison). */
typedef struct seg {
    const struct seg *up; /* NULL at the root */
    const char *key;      /* object member, or NULL for an array element */
    size_t n;             /* key length, or the array index */
} seg;

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

/* The pointer of `at` (prefix included) in c->buf; NULL if out of memory.
 * Segments are written back to front, walking up the chain. */
static const char *render_path(ctx *c, const seg *at, size_t *len)
{
    size_t total = c->prefix_len;
    for (const seg *s = at; s; s = s->up)
        total += seg_len(s);
    if (total > c->cap) {
        char *p = malloc(total);
        if (!p)
            return NULL;
        if (c->buf != c->stack)
            free(c->buf);
        c->buf = p;
        c->cap = total;
    }
    char *end = c->buf + total;
    for (const seg *s = at; s; s = s->up)
        end = seg_write(s, end);
    memcpy(c->buf, c->prefix, c->prefix_len);
    *len = total;
    return c->buf;
}

/* ---- structural JSON ----------------------------------------------------- */

/* A body difference at `at`; l/n are copied (NULL: omitted). */
static void report_json(ctx *c, const seg *at, const char *kind,
                        const json_t *l, const json_t *n)
{
    size_t len;
    const char *path;
    if (!take(c) || !(path = render_path(c, at, &len)))
        return;
    append(c, "body", path, len, kind, l ? json_deep_copy(l) : NULL,
           n ? json_deep_copy(n) : NULL);
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

static void diff_value(ctx *c, const seg *at, const json_t *l,
                       const json_t *n);

/* Keys of `a` missing from `b`, reported with `a`'s value as `kind`. */
static void missing_keys(ctx *c, const seg *at, const json_t *a,
                         const json_t *b, const char *kind, bool a_is_legacy)
{
    json_t *obj = (json_t *)a; /* jansson's iterators take non-const */
    for (void *it = json_object_iter(obj); it;
         it = json_object_iter_next(obj, it)) {
        const char *k = json_object_iter_key(it);
        size_t kl = json_object_iter_key_len(it);
        if (json_object_getn(b, k, kl))
            continue;
        seg s = {at, k, kl};
        const json_t *v = json_object_iter_value(it);
        report_json(c, &s, kind, a_is_legacy ? v : NULL,
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
    for (void *it = json_object_iter(obj); it;
         it = json_object_iter_next(obj, it)) {
        const char *k = json_object_iter_key(it);
        size_t kl = json_object_iter_key_len(it);
        const json_t *nv = lookup(n, &hint, k, kl);
        if (!nv)
            continue; /* reported by missing_keys below, in one pass */
        matched++;
        seg s = {at, k, kl};
        diff_value(c, &s, json_object_iter_value(it), nv);
    }
    if (matched < json_object_size(l))
        missing_keys(c, at, l, n, "removed", true);
    if (matched < json_object_size(n))
        missing_keys(c, at, n, l, "added", false);
}

/* By position: the common prefix element-wise, then the extra elements of
 * the longer side one by one. */
static void diff_array(ctx *c, const seg *at, const json_t *l,
                       const json_t *n)
{
    size_t nl = json_array_size(l), nn = json_array_size(n);
    size_t common = nl < nn ? nl : nn;
    for (size_t i = 0; i < common; i++) {
        seg s = {at, NULL, i};
        diff_value(c, &s, json_array_get(l, i), json_array_get(n, i));
    }
    for (size_t i = common; i < nl || i < nn; i++) {
        seg s = {at, NULL, i};
        if (i < nl)
            report_json(c, &s, "removed", json_array_get(l, i), NULL);
        else
            report_json(c, &s, "added", NULL, json_array_get(n, i));
    }
}

static void diff_value(ctx *c, const seg *at, const json_t *l,
                       const json_t *n)
{
    if (l == n)
        return; /* same node (e.g. the shared true/false/null singletons) */
    enum jclass kl = jclass(l), kn = jclass(n);
    if (kl != kn)
        report_json(c, at, "type", l, n);
    else if (kl == J_OBJECT)
        diff_object(c, at, l, n);
    else if (kl == J_ARRAY)
        diff_array(c, at, l, n);
    else if (!scalars_equal(kl, l, n))
        report_json(c, at, "changed", l, n);
}

size_t compare_json(const json_t *legacy, const json_t *new_, const char *path,
                    json_t *diffs, const compare_opts *o)
{
    ctx c;
    ctx_init(&c, diffs, o);
    if (path) {
        c.prefix = path;
        c.prefix_len = strlen(path);
    }
    if (!legacy || !new_) {
        /* A missing document is not JSON null: report which side lacks it. */
        if (legacy != new_)
            report_json(&c, NULL, legacy ? "removed" : "added", legacy, new_);
    } else
        diff_value(&c, NULL, legacy, new_);
    ctx_done(&c);
    return c.found;
}

/* ---- status and headers -------------------------------------------------- */

size_t compare_status(int legacy, int new_, json_t *diffs,
                      const compare_opts *o)
{
    if (legacy == new_)
        return 0;
    ctx c;
    ctx_init(&c, diffs, o);
    if (take(&c))
        append(&c, "status", "", 0, "changed", json_integer(legacy),
               json_integer(new_));
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
    if (!take(c))
        return;
    const char *kind = !l->present ? "added"
                       : !n->present ? "removed"
                                     : "changed";
    append(c, "header", name, strlen(name), kind,
           l->present ? text_value(l->s, l->len) : NULL,
           n->present ? text_value(n->s, n->len) : NULL);
}

size_t compare_headers(const hdr_list *legacy, const hdr_list *new_,
                       json_t *diffs, const compare_opts *o)
{
    ctx c;
    ctx_init(&c, diffs, o);
    for (size_t i = 0; o && i < o->nheaders; i++) {
        joined l, n;
        /* Out of memory joining duplicates: skip this header rather than
         * report a difference that may not exist. */
        if (join_values(legacy, o->headers[i], &l) == 0 &&
            join_values(new_, o->headers[i], &n) == 0) {
            compare_one_header(&c, o->headers[i], &l, &n);
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

size_t compare_bodies(const body_view *legacy, const body_view *new_,
                      json_t *diffs, const compare_opts *o)
{
    static const body_view none; /* a missing view is an empty body */
    const body_view *l = legacy ? legacy : &none, *n = new_ ? new_ : &none;
    if (l->kind == BODY_NONE && n->kind == BODY_NONE)
        return 0;
    bool equal;
    if (l->kind == BODY_OVERSIZE || n->kind == BODY_OVERSIZE)
        equal = wire_equal(l, n);
    else if (l->kind == BODY_JSON && n->kind == BODY_JSON)
        return compare_json(l->json, n->json, "", diffs, o);
    else
        equal = bytes_equal(l, n);
    if (equal)
        return 0;
    ctx c;
    ctx_init(&c, diffs, o);
    bool one_json = (l->kind == BODY_JSON) != (n->kind == BODY_JSON);
    /* Oversize hides the format, so a type difference cannot be claimed. */
    bool type = one_json && l->kind != BODY_OVERSIZE &&
                n->kind != BODY_OVERSIZE;
    if (take(&c))
        append(&c, "body", "", 0, type ? "type" : "changed", descriptor(l),
               descriptor(n));
    return c.found;
}
