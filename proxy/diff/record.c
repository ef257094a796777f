/* record: one diff-log record per exchange, redacted before it exists.
 *
 *   record_input ──► record_build ──► json_t record ──► record_to_line ──► "…\n"
 *                     │  headers: Authorization/Cookie/... → "[redacted]"
 *                     │  JSON bodies: copy-on-redact (never edits the caller's)
 *                     │  XML/form bodies: their text; re-written with secrets
 *                     │    replaced when their tree holds one (redact.c)
 *                     └  differences: per-item copy, secret values replaced
 *
 * Sharing: values that need no redaction are not copied; the record holds a
 * reference (json_incref) to them. jansson 2.14 refcounts atomically and its
 * dumper is thread-safe, so the writer thread may serialize a record while
 * the comparer still reads the same bodies. Nobody may modify them. */
#include "diff/record.h"
#include "diff/jsonline.h"
#include "base/clock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---- small helpers ------------------------------------------------------ */

static bool put(json_t *obj, const char *key, json_t *v)
{
    return json_object_set_new(obj, key, v) == 0; /* steals v, NULL-safe */
}

/* The replacement for a secret. Never NULL: under memory pressure the
 * secret becomes null rather than staying in place. */
static json_t *redacted(void)
{
    json_t *s = json_string(RECORD_REDACTED);
    return s ? s : json_null();
}

/* A JSON string from bytes that should be UTF-8. When they are not (a
 * header with obs-text, a raw request-target), the whole string is read as
 * ISO-8859-1, as compare.c does for header values, so the record always
 * serializes and a header shows the same text in the list and in a
 * difference. */
static json_t *jstr_n(const char *s, size_t n)
{
    if (!s)
        return json_null();
    json_t *j = json_stringn(s, n);
    if (j || n > SIZE_MAX / 2)
        return j;
    char *t = malloc(2 * n + 1);
    if (!t)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char b = (unsigned char)s[i];
        if (b < 0x80) {
            t[o++] = (char)b;
        } else {
            t[o++] = (char)(0xC0 | (b >> 6));
            t[o++] = (char)(0x80 | (b & 0x3F));
        }
    }
    j = json_stringn(t, o);
    free(t);
    return j;
}

static json_t *jstr(const char *s)
{
    return s ? jstr_n(s, strlen(s)) : json_null();
}

/* Largest k <= cap that does not split a UTF-8 sequence (n > cap). */
static size_t utf8_cut(const unsigned char *s, size_t n, size_t cap)
{
    if (n <= cap)
        return n;
    size_t k = cap;
    for (int back = 0; back < 3 && k > 0 && (s[k] & 0xC0) == 0x80; back++)
        k--;
    return (s[k] & 0xC0) == 0x80 ? cap : k; /* not UTF-8 after all */
}

/* ---- growing buffer for json_dump_callback ------------------------------ */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    size_t limit; /* stop (and set .over) past this many bytes */
    bool over;
} sbuf;

static bool sbuf_reserve(sbuf *b, size_t extra)
{
    if (extra > SIZE_MAX - b->len)
        return false;
    size_t need = b->len + extra;
    if (need <= b->cap)
        return true;
    size_t n = b->cap ? b->cap : 256;
    while (n < need)
        n = n > SIZE_MAX / 2 ? need : n * 2;
    char *q = realloc(b->p, n);
    if (!q)
        return false;
    b->p = q;
    b->cap = n;
    return true;
}

static int sbuf_cb(const char *s, size_t n, void *data)
{
    sbuf *b = data;
    if (n > b->limit - b->len) {
        n = b->limit - b->len;
        b->over = true;
    }
    if (n && !sbuf_reserve(b, n))
        return -1;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    return b->over ? -1 : 0;
}

/* ---- real numbers: lossless, and short when possible -------------------- */

static void spend(size_t *budget, size_t n)
{
    *budget = n < *budget ? *budget - n : 0;
}

/* The digits the reals of v need, in dump order, until *budget bytes are
 * spent. Each value is charged a lower bound of its dumped size, so no real
 * that starts within the first *budget bytes of the dump is missed. */
static int max_digits(const json_t *v, int cur, size_t *budget)
{
    json_t *m = (json_t *)v; /* jansson's iterators take non-const */
    if (cur >= 17 || *budget == 0)
        return cur;
    if (json_is_real(v)) {
        int d = jsonline_real_digits(json_real_value(v));
        cur = d > cur ? d : cur;
    } else if (json_is_string(v)) {
        spend(budget, json_string_length(v) + 1); /* + 1 below */
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v) && cur < 17 && *budget; i++)
            cur = max_digits(json_array_get(v, i), cur, budget);
    } else if (json_is_object(v)) {
        for (void *it = json_object_iter(m); it && cur < 17 && *budget;
             it = json_object_iter_next(m, it)) {
            spend(budget, strlen(json_object_iter_key(it)) + 3);
            cur = max_digits(json_object_iter_value(it), cur, budget);
        }
    }
    spend(budget, 1);
    return cur;
}

/* Dump flags: compact, UTF-8, and the fewest digits (15, 16 or 17) that
 * write every real of v back exactly: 19.99 stays 19.99, and a value that
 * needs 17 digits gets them (then every real of that dump gets 17). When
 * the dump will be cut after `bytes`, only the reals before the cut count. */
static size_t dump_flags(const json_t *v, size_t bytes)
{
    return JSON_COMPACT | JSON_ENCODE_ANY |
           JSON_REAL_PRECISION(max_digits(v, 15, &bytes));
}

/* ---- record parts ------------------------------------------------------- */

/* Headers whose value is a URI: their query is redacted as the uri's. */
static bool uri_header(const char *name)
{
    static const char *const names[] = {"Location", "Content-Location", "Referer"};
    for (size_t i = 0; name && i < sizeof names / sizeof *names; i++)
        if (strcasecmp(name, names[i]) == 0)
            return true;
    return false;
}

/* A header's value for the record: "[redacted]" for a secret header or a
 * card number, the query's secrets replaced for a URI header, else as
 * received. */
static json_t *header_value_json(const char *name, const char *v, size_t n,
                                 const record_opts *o)
{
    if (redact_header_name(name, o) ||
        (v && secret_card_value(name, v, n, &o->secrets)))
        return redacted();
    if (!uri_header(name) || !v)
        return jstr_n(v, n);
    char *clean = secret_redact_uri(v, n, &o->secrets, RECORD_REDACTED, &n);
    json_t *j = clean ? jstr_n(clean, n) : NULL;
    free(clean);
    return j;
}

static json_t *headers_json(const hdr_list *l, const record_opts *o)
{
    if (!l)
        return json_null();
    json_t *a = json_array();
    for (size_t i = 0; a && i < l->n; i++) {
        const char *name = hdr_name(l, i);
        json_t *pair = json_array();
        if (pair &&
            (json_array_append_new(pair, jstr_n(name, l->f[i].name_len)) ||
             json_array_append_new(
                 pair, header_value_json(name, hdr_value(l, i),
                                         l->f[i].value_len, o)))) {
            json_decref(pair);
            pair = NULL;
        }
        if (json_array_append_new(a, pair) != 0) {
            json_decref(a);
            a = NULL;
        }
    }
    return a;
}

static json_t *base64_json(const unsigned char *s, size_t n)
{
    static const char tbl[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (n > SIZE_MAX / 4 * 3 - 3)
        return NULL;
    size_t olen = (n + 2) / 3 * 4;
    char *t = malloc(olen + 1);
    if (!t)
        return NULL;
    char *w = t;
    for (size_t i = 0; i < n; i += 3) {
        unsigned long x = (unsigned long)s[i] << 16;
        if (i + 1 < n)
            x |= (unsigned long)s[i + 1] << 8;
        if (i + 2 < n)
            x |= s[i + 2];
        *w++ = tbl[(x >> 18) & 63];
        *w++ = tbl[(x >> 12) & 63];
        *w++ = i + 1 < n ? tbl[(x >> 6) & 63] : '=';
        *w++ = i + 2 < n ? tbl[x & 63] : '=';
    }
    json_t *j = json_stringn(t, olen);
    free(t);
    return j;
}

/* What a body contributes to its parent object. */
typedef struct body_desc {
    json_t *body;       /* owned reference, never NULL unless ENOMEM */
    const char *format; /* none, json, text, base64, oversize, xml, form,
                         * redacted */
    bool truncated;
} body_desc;

/* A body that may hold a secret which cannot be redacted field by field:
 * its content is withheld, only its size and hash are written. */
static bool withhold(body_desc *d)
{
    d->format = "redacted";
    d->truncated = false;
    d->body = json_null();
    return true;
}

/* Text cut at the cap on a UTF-8 boundary. */
static bool text_body(body_desc *d, const char *format, const void *text,
                      size_t len, size_t cap)
{
    size_t k = utf8_cut(text, len, cap);
    d->format = format;
    d->truncated = len > cap;
    d->body = jstr_n(text, k);
    return d->body != NULL;
}

/* Is v nested more than `levels` deep (a scalar is 0, [] is 1, [[]] 2)?
 * Recurses at most `levels` deep, whatever v's depth. */
static bool deeper_than(json_t *v, int levels)
{
    if (!json_is_array(v) && !json_is_object(v))
        return false;
    if (levels <= 0)
        return true;
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            if (deeper_than(json_array_get(v, i), levels - 1))
                return true;
        return false;
    }
    for (void *it = json_object_iter(v); it; it = json_object_iter_next(v, it))
        if (deeper_than(json_object_iter_value(it), levels - 1))
            return true;
    return false;
}

/* v's compact text as a JSON string, cut at cap (RECORD_MAX_JSON_DEPTH). */
static json_t *json_as_text(json_t *v, size_t cap)
{
    sbuf sb = {.limit = cap};
    int rc = json_dump_callback(v, sbuf_cb, &sb, dump_flags(v, cap));
    json_t *t = rc == 0 || sb.over
                    ? jstr_n(sb.p ? sb.p : "", utf8_cut((unsigned char *)sb.p, sb.len, cap))
                    : NULL;
    free(sb.p);
    return t;
}

/* A JSON body: the redacted value, or its serialized text cut at the cap
 * (also when it is nested deeper than RECORD_MAX_JSON_DEPTH). */
static bool json_body(body_desc *d, json_t *v, const record_opts *o)
{
    json_t *r = redact_copy(v, "", o, false);
    if (!r)
        return false;
    size_t cap = o->max_body_bytes;
    /* The usual body fits: kept as the tree without dumping it with
     * jansson only to measure it (126,000 instructions a record, 2026-12-07).
     * jsonline's text is never shorter than jansson's at the digits the
     * record's line will have; one that does not fit is measured below. */
    if (!deeper_than(r, RECORD_MAX_JSON_DEPTH) && jsonline_fits(r, cap)) {
        d->body = r;
        d->format = "json";
        return true;
    }
    sbuf sb = {.limit = cap > SIZE_MAX - 4 ? SIZE_MAX : cap + 4};
    int rc = json_dump_callback(r, sbuf_cb, &sb, dump_flags(r, sb.limit));
    bool deep = deeper_than(r, RECORD_MAX_JSON_DEPTH);
    if (rc == 0 && sb.len <= cap && !deep) {
        d->body = r;
        d->format = "json";
    } else if (rc == 0 || sb.over) {
        size_t k = utf8_cut((unsigned char *)sb.p, sb.len, cap);
        d->body = jstr_n(sb.p ? sb.p : "", k);
        d->format = "text";
        d->truncated = sb.over || sb.len > cap;
        json_decref(r);
    } else {
        json_decref(r);
    }
    free(sb.p);
    return d->body != NULL;
}

/* An XML body: its own text when its tree holds no secret and the text is
 * UTF-8; else re-serialized by libxml2 with the secrets replaced. A body
 * that cannot be re-serialized is withheld: never embedded unredacted. */
static bool xml_body(body_desc *d, const body_view *b, const record_opts *o)
{
    size_t len = b->data ? b->len : 0;
    if (redact_at(o, NULL, NULL, 0, true)) /* the whole body ("" pattern) */
        return withhold(d);
    bool secret = !b->json || redact_tree_has_secret(b->json, o, true) ||
                  redact_xml_aside_has_secret(b->data, len, o);
    if (!secret) {
        size_t k = utf8_cut(b->data, len, o->max_body_bytes);
        json_t *j = json_stringn((const char *)b->data, k);
        if (j) {
            d->format = "xml";
            d->truncated = len > o->max_body_bytes;
            d->body = j;
            return true;
        }
    }
    char *text = NULL;
    size_t n = 0;
    if (!b->data || redact_xml_text(b->data, len, o, &text, &n) != 0)
        return withhold(d);
    bool ok = text_body(d, "xml", text, n, o->max_body_bytes);
    free(text);
    return ok;
}

/* A form body: its own text, or rebuilt with secret values replaced. */
static bool form_body(body_desc *d, const body_view *b, const record_opts *o)
{
    size_t len = b->data ? b->len : 0;
    if (redact_at(o, NULL, NULL, 0, true))
        return withhold(d);
    if (b->json && !redact_tree_has_secret(b->json, o, true))
        return text_body(d, "form", b->data, len, o->max_body_bytes);
    char *text = NULL;
    size_t n = 0;
    if (!b->json || redact_form_text(b->data, len, b->json, o, &text, &n))
        return withhold(d);
    bool ok = text_body(d, "form", text, n, o->max_body_bytes);
    free(text);
    return ok;
}

/* A JSON-lines body (body_view.json_lines): each line redacted as a JSON
 * body. With a line that is not JSON it is text that claimed JSON: withheld
 * if it may hold a secret (redact_may_hold_secret), else as received. */
static bool json_lines_body(body_desc *d, const body_view *b,
                            const record_opts *o)
{
    size_t len = b->data ? b->len : 0;
    if (redact_at(o, NULL, NULL, 0, true))
        return withhold(d);
    char *text = NULL;
    size_t n = 0;
    int rc = redact_json_lines_text(b->data, len, o, &text, &n);
    if (rc == -EINVAL && !redact_may_hold_secret(b->data, len, o))
        return text_body(d, "text", b->data, len, o->max_body_bytes);
    if (rc != 0)
        return withhold(d);
    bool ok = text_body(d, "text", text, n, o->max_body_bytes);
    free(text);
    return ok;
}

/* One line of a JSON-lines body, as a difference's value. */
static json_t *json_line_json(const json_t *v, const record_opts *o)
{
    const char *s = json_string_value(v);
    size_t len = json_string_length(v), n = 0;
    char *text = NULL;
    int rc = redact_json_lines_text((const unsigned char *)s, len, o, &text, &n);
    if (rc == -EINVAL && !redact_may_hold_secret((const unsigned char *)s, len, o))
        return json_incref((json_t *)v);
    json_t *j = rc == 0 ? jstr_n(text, n) : redacted();
    free(text);
    return j;
}

/* A text or binary body as it may be written: a multipart form's secret
 * parts replaced (*owned: the copy to free). false: withhold it. */
static bool plain_bytes(const body_view *b, const record_opts *o,
                        const unsigned char **data, size_t *len,
                        char **owned)
{
    *owned = NULL;
    /* Claimed JSON or XML, did not parse: no field to redact by name. */
    if (b->unparsed != BODY_NONE || b->json_lines)
        return !redact_may_hold_secret(*data, *len, o);
    if (!redact_is_multipart(*data, *len))
        return true;
    size_t n = 0;
    int rc = redact_multipart_text(*data, *len, o, owned, &n);
    if (rc == -EINVAL) /* not well formed: parts unknown */
        return !redact_may_hold_secret(*data, *len, o);
    if (rc != 0)
        return false;
    *data = (const unsigned char *)*owned;
    *len = n;
    return true;
}

/* A bare JSON string answered on a route whose path names a secret
 * (Magento's /V1/integration/customer/token answers the token so): there
 * is no member name to match, the path is the name. */
static bool json_body_of(body_desc *d, json_t *v, const record_opts *o,
                         bool secret_path)
{
    if (secret_path && json_is_string(v)) {
        d->format = "json";
        d->body = redacted();
        return true;
    }
    return json_body(d, v, o);
}

static bool body_describe(body_desc *d, const body_view *b,
                          const record_opts *o, bool secret_path)
{
    const unsigned char *data = b->data ? b->data : (const unsigned char *)"";
    size_t len = b->data ? b->len : 0, cap = o->max_body_bytes;
    char *owned = NULL;
    if (b->json_lines && b->kind == BODY_TEXT && !b->withhold)
        return json_lines_body(d, b, o);
    if (b->withhold || ((b->kind == BODY_TEXT || b->kind == BODY_BINARY) &&
                        !plain_bytes(b, o, &data, &len, &owned)))
        return withhold(d);
    size_t k = len > cap ? cap : len;
    d->truncated = len > cap;
    bool ok = true;
    switch (b->kind) {
    case BODY_JSON:
        if (b->json)
            return json_body_of(d, b->json, o, secret_path);
        d->truncated = false; /* not parsed after all: say nothing */
        d->format = "none";
        d->body = json_null();
        break;
    case BODY_XML:
        return xml_body(d, b, o);
    case BODY_FORM:
        return form_body(d, b, o);
    case BODY_TEXT:
        ok = text_body(d, "text", data, len, cap);
        break;
    case BODY_BINARY:
        d->format = "base64";
        d->body = base64_json(data, k);
        break;
    case BODY_OVERSIZE:
    case BODY_OMITTED:
        d->truncated = false;
        d->format = body_kind_name(b->kind);
        d->body = json_null();
        break;
    case BODY_NONE:
    default:
        d->truncated = false;
        d->format = "none";
        d->body = json_null();
        break;
    }
    free(owned);
    return ok && d->body != NULL;
}

/* Adds body, body_format, body_bytes [, body_sha256] [, body_truncated]
 * [, body_decode_error] to obj. b may be NULL (no body). */
static bool put_body(json_t *obj, const body_view *b, const record_opts *o,
                     bool secret_path)
{
    static const body_view none = {.kind = BODY_NONE};
    body_desc d = {0};
    if (!b)
        b = &none;
    if (!body_describe(&d, b, o, secret_path))
        return false;
    bool ok = put(obj, "body", d.body) &&
              put(obj, "body_format", json_string(d.format)) &&
              put(obj, "body_bytes", json_integer((json_int_t)b->wire_len));
    bool hidden = b->kind == BODY_OVERSIZE || strcmp(d.format, "redacted") == 0;
    if (ok && (d.truncated || hidden) && b->sha256[0])
        ok = put(obj, "body_sha256", jstr_n(b->sha256, strnlen(b->sha256, 64)));
    if (ok && d.truncated)
        ok = put(obj, "body_truncated", json_true());
    if (ok && b->decode_error)
        ok = put(obj, "body_decode_error", jstr(b->decode_error));
    return ok;
}

static json_t *duration_json(double ms)
{
    if (!(ms >= 0 && ms < 9e15)) /* also rejects NaN */
        return json_null();
    /* round half up to 0.001 ms, without libm */
    return json_real((double)(long long)(ms * 1000.0 + 0.5) / 1000.0);
}

static json_t *leg_json(const record_leg *l, const record_opts *o,
                        bool secret_path)
{
    static const record_leg never = {.attempted = false};
    json_t *j = json_object();
    if (!j)
        return NULL;
    if (!l->attempted)
        l = &never; /* a leg never sent has nothing else to say */
    bool ok = put(j, "attempted", json_boolean(l->attempted)) &&
              put(j, "status", l->status > 0 ? json_integer(l->status)
                                             : json_null()) &&
              put(j, "headers", headers_json(l->headers, o)) &&
              put_body(j, l->body, o, secret_path) &&
              put(j, "duration_ms", l->attempted ? duration_json(l->duration_ms)
                                                 : json_null()) &&
              put(j, "error", jstr(l->error));
    if (!ok) {
        json_decref(j);
        return NULL;
    }
    return j;
}

static json_t *request_json(const record_input *in, const record_opts *o,
                            bool secret_path)
{
    json_t *j = json_object();
    if (j && !(put(j, "headers", headers_json(in->req_headers, o)) &&
               put_body(j, in->req_body, o, secret_path))) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

/* Is difference d about a secret (a redacted header, a body path through
 * a redacted field or path, or a whole body on a secret path, see
 * json_body_of)? `lenient`: the bodies are XML or forms. */
static bool diff_is_secret(const json_t *d, const record_opts *o,
                           bool lenient, bool secret_path)
{
    const char *where = json_string_value(json_object_get(d, "where"));
    const char *path = json_string_value(json_object_get(d, "path"));
    if (!where || !path)
        return false;
    if (strcmp(where, "header") == 0)
        return redact_header_name(path, o);
    if (strcmp(where, "body") == 0)
        return (secret_path && path[0] == '\0') ||
               redact_path_in(path, o, lenient);
    return false;
}

/* One difference for the record: same keys in the same order; "legacy" and
 * "new" replaced by "[redacted]" (null stays null: it says "absent") when
 * the difference is about a secret, else redacted inside. */
static json_t *diff_json(json_t *d, const record_opts *o, bool lenient,
                         bool secret_path, bool json_lines)
{
    if (!json_is_object(d))
        return redact_copy(d, "", o, false);
    bool secret = diff_is_secret(d, o, lenient, secret_path);
    const char *where = json_string_value(json_object_get(d, "where"));
    const char *path = json_string_value(json_object_get(d, "path"));
    if (!where || strcmp(where, "body") != 0 || !path)
        path = ""; /* a header or status value: no body path */
    json_t *c = json_object();
    for (void *it = json_object_iter(d); c && it;
         it = json_object_iter_next(d, it)) {
        const char *key = json_object_iter_key(it);
        json_t *v = json_object_iter_value(it), *nv;
        bool side = strcmp(key, "legacy") == 0 || strcmp(key, "new") == 0;
        if (side && secret && !json_is_null(v))
            nv = redacted();
        else if (side && json_is_string(v) && where && strcmp(where, "header") == 0)
            nv = header_value_json(json_string_value(json_object_get(d, "path")),
                                   json_string_value(v), json_string_length(v), o);
        else if (side && json_lines && json_is_string(v))
            nv = json_line_json(v, o); /* a line ("/3") of JSON lines */
        else if (side)
            nv = redact_copy(v, path, o, lenient);
        else
            nv = json_incref(v);
        if (side && nv && deeper_than(nv, RECORD_MAX_JSON_DEPTH)) {
            json_t *t = json_as_text(nv, o->max_body_bytes);
            json_decref(nv);
            nv = t;
        }
        if (!put(c, key, nv)) {
            json_decref(c);
            c = NULL;
        }
    }
    return c;
}

static bool tree_kind(const body_view *b)
{
    return b && (b->kind == BODY_XML || b->kind == BODY_FORM);
}

static bool json_lines_kind(const body_view *b)
{
    return b && b->json_lines && b->kind == BODY_TEXT;
}

static json_t *differences_json(const record_input *in, const record_opts *o,
                                bool secret_path)
{
    json_t *diffs = in->differences, *a = json_array();
    bool lenient = tree_kind(in->legacy.body) || tree_kind(in->new_.body);
    bool lines = json_lines_kind(in->legacy.body) || json_lines_kind(in->new_.body);
    size_t n = json_is_array(diffs) ? json_array_size(diffs) : 0;
    for (size_t i = 0; a && i < n; i++)
        if (json_array_append_new(
                a, diff_json(json_array_get(diffs, i), o, lenient, secret_path,
                             lines))) {
            json_decref(a);
            a = NULL;
        }
    return a;
}

/* Does a segment of the uri's path (before '?') name a secret
 * ("/V1/integration/customer/token")? */
static bool uri_path_secret(const char *uri, const record_opts *o)
{
    size_t end = uri ? strcspn(uri, "?#") : 0;
    for (size_t i = 0; i < end;) {
        size_t k = strcspn(uri + i, "/?#");
        if (k > end - i)
            k = end - i;
        if (k && secret_name(uri + i, k, &o->secrets))
            return true;
        i += k + 1;
    }
    return false;
}

/* The uri with its query's secrets replaced (secret_redact_uri). */
static json_t *uri_json(const char *uri, const record_opts *o)
{
    if (!uri)
        return json_null();
    char *clean = secret_redact_uri(uri, strlen(uri), &o->secrets,
                                    RECORD_REDACTED, NULL);
    json_t *j = clean ? jstr(clean) : NULL; /* ENOMEM: no record */
    free(clean);
    return j;
}

/* ---- public ------------------------------------------------------------- */

json_t *record_build(const record_input *in, const record_opts *o)
{
    static const record_opts defaults = {.max_body_bytes = 64 * 1024};
    char ts[32];
    if (!in)
        return NULL;
    if (!o)
        o = &defaults;
    json_t *r = json_object();
    if (!r)
        return NULL;
    clock_format_ts(in->ts_ms, ts, sizeof ts);
    bool ok = put(r, "v", json_integer(RECORD_SCHEMA_VERSION)) &&
              put(r, "id", jstr(in->id)) &&
              (!in->client_request_id ||
               put(r, "client_request_id", jstr(in->client_request_id))) &&
              (!in->trace_id || put(r, "trace_id", jstr(in->trace_id))) &&
              put(r, "ts", json_string(ts)) &&
              put(r, "route", jstr(in->route)) &&
              (!in->endpoint || put(r, "endpoint", jstr(in->endpoint))) &&
              put(r, "method", jstr(in->method)) &&
              put(r, "uri", uri_json(in->uri, o)) &&
              put(r, "authority", jstr(in->authority)) &&
              put(r, "verdict", jstr(in->verdict));
    if (ok && in->reason)
        ok = put(r, "reason", jstr(in->reason));
    bool sp = uri_path_secret(in->uri, o);
    ok = ok && put(r, "request", request_json(in, o, sp)) &&
         put(r, "legacy", leg_json(&in->legacy, o, sp)) &&
         put(r, "new", leg_json(&in->new_, o, sp)) &&
         put(r, "differences", differences_json(in, o, sp));
    if (!ok) {
        json_decref(r);
        return NULL;
    }
    return r;
}

/* One line: jsonline writes the dump's bytes straight into one buffer, with
 * U+0085, U+2028 and U+2029 as \u escapes (valid raw in JSON, but Python's
 * str.splitlines() and JavaScript treat them as line breaks). */
char *record_to_line(const json_t *record, size_t *len)
{
    return jsonline_dump(record, len);
}
