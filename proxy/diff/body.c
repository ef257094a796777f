/* body: decode (Content-Encoding), classify and parse a captured body.
 *
 *   raw bytes ──► over the cap? ──► undo codings (gzip/deflate, capped) ──►
 *        JSON by content type or sniffing? ──► jsonfast_load ──► BODY_JSON
 *         XML by content type or sniffing? ──► xmltree_parse ──► BODY_XML
 *                    form by content type? ──► pairs ──► BODY_FORM
 *                 otherwise (or no parse) ──► strict UTF-8? TEXT : BINARY
 *
 * Bad input never fails the call: it only changes the kind and sets
 * decode_error, so the comparison can still say something useful. */
#include "diff/body.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "base/hex.h"
#include "diff/body_decode.h"
#include "diff/jsonfast.h"
#include "diff/textenc.h"
#include "diff/xmltree.h"

const char *body_kind_name(body_kind k)
{
    switch (k) {
    case BODY_NONE: return "none";
    case BODY_JSON: return "json";
    case BODY_TEXT: return "text";
    case BODY_BINARY: return "binary";
    case BODY_OVERSIZE: return "oversize";
    case BODY_XML: return "xml";
    case BODY_FORM: return "form";
    case BODY_OMITTED: return "omitted";
    }
    return "unknown";
}

json_t *body_json_parse(const unsigned char *data, size_t len, json_error_t *err)
{
    return jsonfast_load((const char *)data, len, err);
}

void body_view_free(body_view *b)
{
    if (!b)
        return;
    free(b->owned);
    json_decref(b->json);
    free(b->error_owned);
    memset(b, 0, sizeof *b);
}

/* A formatted decode_error. Falls back to `fallback` (static) when out of
 * memory: an error message is not worth failing the comparison for. */
static void set_error(body_view *b, const char *fallback, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    free(b->error_owned);
    b->error_owned = strdup(tmp);
    b->decode_error = b->error_owned ? b->error_owned : fallback;
}

/* ---- Content-Encoding (undoing it: body_decode.c) ------------------------ */

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static bool token_is(const char *s, size_t n, const char *name)
{
    return strlen(name) == n && strncasecmp(s, name, n) == 0;
}

/* Parses a Content-Encoding list into codings[], in the order applied by the
 * sender. "identity" and empty items are skipped. Returns the count, or -1
 * with *bad and *bad_len naming the first unsupported token (or the whole
 * value when there are too many codings). */
static int parse_codings(const char *v, body_coding *codings, const char **bad,
                         size_t *bad_len)
{
    int n = 0;
    const char *p = v;
    while (*p) {
        while (is_ows(*p) || *p == ',')
            p++;
        const char *s = p;
        while (*p && *p != ',')
            p++;
        const char *e = p;
        while (e > s && is_ows(e[-1]))
            e--;
        size_t len = (size_t)(e - s);
        if (len == 0 || token_is(s, len, "identity"))
            continue;
        body_coding c;
        if (token_is(s, len, "gzip") || token_is(s, len, "x-gzip"))
            c = BODY_CODING_GZIP;
        else if (token_is(s, len, "deflate"))
            c = BODY_CODING_DEFLATE;
        else {
            *bad = s;
            *bad_len = len;
            return -1;
        }
        if (n == BODY_MAX_CODINGS) {
            *bad = v;
            *bad_len = strlen(v);
            return -1;
        }
        codings[n++] = c;
    }
    return n;
}

/* ---- classification ------------------------------------------------------ */

/* The media type of a Content-Type value, without parameters or spaces. */
static void media_type(const char *ct, const char **s, size_t *n)
{
    while (is_ows(*ct))
        ct++;
    const char *e = ct;
    while (*e && *e != ';')
        e++;
    while (e > ct && is_ows(e[-1]))
        e--;
    *s = ct;
    *n = (size_t)(e - ct);
}

static bool is_json_type(const char *ct)
{
    if (!ct)
        return false;
    const char *s;
    size_t n;
    media_type(ct, &s, &n);
    static const char app[] = "application/", suffix[] = "+json";
    size_t la = sizeof app - 1, ls = sizeof suffix - 1;
    if (token_is(s, n, "application/json") || token_is(s, n, "text/json"))
        return true;
    return n > la + ls && strncasecmp(s, app, la) == 0 &&
           strncasecmp(s + n - ls, suffix, ls) == 0;
}

/* JSON texts one per line (NDJSON, JSON Lines, RFC 7464 sequences). */
static bool is_json_lines_type(const char *ct)
{
    if (!ct)
        return false;
    const char *s;
    size_t n;
    media_type(ct, &s, &n);
    return token_is(s, n, "application/x-ndjson") ||
           token_is(s, n, "application/ndjson") ||
           token_is(s, n, "application/jsonl") ||
           token_is(s, n, "application/x-jsonlines") ||
           token_is(s, n, "application/json-seq") ||
           token_is(s, n, "application/stream+json");
}

/* Absent or text/plain: types under which JSON is often served unlabelled. */
static bool may_sniff(const char *ct)
{
    if (!ct)
        return true;
    const char *s;
    size_t n;
    media_type(ct, &s, &n);
    return n == 0 || token_is(s, n, "text/plain");
}

static bool looks_like_json(const unsigned char *p, size_t n)
{
    size_t i = 0;
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' ||
                     p[i] == '\n'))
        i++;
    return i < n && (p[i] == '{' || p[i] == '[');
}

/* Length of the UTF-8 sequence starting at p[0..n), 0 if invalid. Strict
 * (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF; /* bounds for the second byte */
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        if (c == 0xED)
            hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        if (c == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
    } else
        return 0;
    if (n < len || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    return len;
}

static bool utf8_valid(const unsigned char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        /* ASCII fast path, eight bytes at a time. */
        if (n - i >= 8) {
            uint64_t w;
            memcpy(&w, p + i, sizeof w);
            if ((w & 0x8080808080808080u) == 0) {
                i += 8;
                continue;
            }
        }
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t len = utf8_seq(p + i, n - i);
        if (len == 0)
            return false;
        i += len;
    }
    return true;
}

/* ---- XML and forms: recognising them ------------------------------------ */

static bool is_xml_type(const char *ct)
{
    if (!ct)
        return false;
    const char *s;
    size_t n;
    media_type(ct, &s, &n);
    static const char app[] = "application/", suffix[] = "+xml";
    size_t la = sizeof app - 1, ls = sizeof suffix - 1;
    if (token_is(s, n, "application/xml") || token_is(s, n, "text/xml"))
        return true; /* application/soap+xml is one of the +xml below */
    return n > la + ls && strncasecmp(s, app, la) == 0 &&
           strncasecmp(s + n - ls, suffix, ls) == 0;
}

static bool is_form_type(const char *ct)
{
    if (!ct)
        return false;
    const char *s;
    size_t n;
    media_type(ct, &s, &n);
    return token_is(s, n, "application/x-www-form-urlencoded");
}

static bool name_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
}

/* "<?xml" or a SOAP envelope ("<Envelope", "<soap:Envelope", ...) after an
 * optional UTF-8 BOM and whitespace. A bare '<' is not enough: HTML. */
static bool looks_like_xml(const unsigned char *p, size_t n)
{
    size_t i = 0;
    if (n >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF)
        i = 3;
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' ||
                     p[i] == '\n'))
        i++;
    if (n - i >= 6 && memcmp(p + i, "<?xml", 5) == 0 &&
        (p[i + 5] == ' ' || p[i + 5] == '\t' || p[i + 5] == '\r' ||
         p[i + 5] == '\n' || p[i + 5] == '?'))
        return true;
    if (i >= n || p[i] != '<')
        return false;
    size_t s = ++i;
    while (i < n && name_char(p[i]))
        i++;
    if (i < n && p[i] == ':' && i > s)
        s = ++i;
    while (i < n && name_char(p[i]))
        i++;
    return i - s == 8 && memcmp(p + s, "Envelope", 8) == 0 && i < n &&
           (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n' ||
            p[i] == '>' || p[i] == '/');
}

/* ---- forms --------------------------------------------------------------- */

bool body_form_next(const unsigned char *data, size_t len, size_t *pos,
                    body_form_pair *p)
{
    while (data && *pos < len) {
        const unsigned char *s = data + *pos;
        const unsigned char *amp = memchr(s, '&', len - *pos);
        const unsigned char *e = amp ? amp : data + len;
        *pos = (size_t)(e - data) + (amp ? 1 : 0);
        if (e == s)
            continue; /* "a=1&&b=2" */
        const unsigned char *eq = memchr(s, '=', (size_t)(e - s));
        p->key = s;
        p->key_len = (size_t)((eq ? eq : e) - s);
        p->value = eq ? eq + 1 : e;
        p->value_len = eq ? (size_t)(e - eq - 1) : 0;
        p->has_eq = eq != NULL;
        return true;
    }
    return false;
}

/* s[0..n) read as ISO-8859-1, as UTF-8 (malloc'd, NUL-terminated). */
static char *latin1_to_utf8(const unsigned char *s, size_t n, size_t *out_len)
{
    char *t = n <= (SIZE_MAX - 1) / 2 ? malloc(2 * n + 1) : NULL;
    size_t o = 0;
    for (size_t i = 0; t && i < n; i++) {
        if (s[i] < 0x80) {
            t[o++] = (char)s[i];
        } else {
            t[o++] = (char)(0xC0 | (s[i] >> 6));
            t[o++] = (char)(0x80 | (s[i] & 0x3F));
        }
    }
    if (t) {
        t[o] = '\0';
        *out_len = o;
    }
    return t;
}

char *body_form_decode(const unsigned char *s, size_t n, bool is_key,
                       size_t *out_len)
{
    unsigned char *t = malloc(n + 1);
    size_t o = 0;
    for (size_t i = 0; t && i < n; i++) {
        int hi, lo;
        if (s[i] == '+') {
            t[o++] = ' ';
        } else if (s[i] == '%' && i + 2 < n &&
                   (hi = hex_digit_value(s[i + 1])) >= 0 &&
                   (lo = hex_digit_value(s[i + 2])) >= 0 && (!is_key || hi || lo)) {
            t[o++] = (unsigned char)(hi << 4 | lo);
            i += 2;
        } else {
            t[o++] = s[i];
        }
    }
    if (!t)
        return NULL;
    t[o] = '\0';
    if (utf8_valid(t, o)) {
        *out_len = o;
        return (char *)t;
    }
    char *u = latin1_to_utf8(t, o, out_len);
    free(t);
    return u;
}

/* Adds a value under key: a repeated key becomes an array, in order.
 * Steals v. */
static bool add_repeated(json_t *obj, const char *key, json_t *v)
{
    if (!v)
        return false;
    json_t *cur = json_object_get(obj, key);
    if (!cur)
        return json_object_set_new(obj, key, v) == 0;
    if (json_is_array(cur))
        return json_array_append_new(cur, v) == 0;
    json_t *arr = json_array();
    if (!arr || json_array_append(arr, cur) != 0 ||
        json_array_append_new(arr, v) != 0) {
        if (!arr)
            json_decref(v);
        json_decref(arr);
        return false;
    }
    return json_object_set_new(obj, key, arr) == 0;
}

/* {"key": "value", "repeated": ["first", "second"]}. Only fails on ENOMEM. */
static int parse_form(body_view *b)
{
    json_t *obj = json_object();
    size_t pos = 0;
    body_form_pair p;
    bool ok = obj != NULL;
    while (ok && body_form_next(b->data, b->len, &pos, &p)) {
        size_t kl, vl;
        char *k = body_form_decode(p.key, p.key_len, true, &kl);
        char *v = k ? body_form_decode(p.value, p.value_len, false, &vl)
                    : NULL;
        ok = v && add_repeated(obj, k, json_stringn(v, vl));
        free(k);
        free(v);
    }
    if (!ok) {
        json_decref(obj);
        return -ENOMEM;
    }
    b->json = obj;
    b->kind = BODY_FORM;
    return 0;
}

/* ---- classification proper ----------------------------------------------- */

/* Returns 0 when parsed as XML, 1 when it is not XML after all, -ENOMEM. */
static int parse_xml(body_view *b)
{
    xmltree_error err;
    int rc = xmltree_parse(b->data, b->len, &b->json, &err);
    if (rc == 0) {
        b->kind = BODY_XML;
        return 0;
    }
    if (rc == -ENOMEM)
        return rc;
    b->unparsed = BODY_XML;
    if (err.line > 0)
        set_error(b, "invalid XML", "invalid XML: %s at line %d",
                  err.message, err.line);
    else
        set_error(b, "invalid XML", "invalid XML: %s", err.message);
    return 1;
}

/* UTF-16/32 text, or text with a UTF-8 BOM, becomes plain UTF-8 before it
 * is classified (textenc_normalize), so JSON is parsed, compared and
 * redacted whatever its encoding; XML is left to libxml2. 0, 1 (invalid in
 * its encoding: BINARY, withheld from the diff log) or -ENOMEM. */
static int to_utf8(body_view *b, const char *content_type)
{
    unsigned char *owned = NULL;
    textenc e = TEXTENC_UTF8;
    bool json = is_json_type(content_type) || may_sniff(content_type);
    int rc = is_xml_type(content_type)
                 ? 0
                 : textenc_normalize(&b->data, &b->len, content_type, json, &owned, &e);
    if (owned) {
        free(b->owned);
        b->owned = owned;
    }
    if (rc != -EINVAL)
        return rc;
    b->kind = BODY_BINARY;
    b->withhold = true;
    set_error(b, "invalid text encoding", "invalid %s text", textenc_name(e));
    return 1;
}

/* Parses as JSON if the type or the first byte says so, as XML if the type
 * or the first bytes say so, as a form if the type says so. Returns 0 or
 * -ENOMEM; sets b->kind to JSON, XML, FORM, TEXT or BINARY. */
static int classify(body_view *b, const char *content_type)
{
    int converted = to_utf8(b, content_type);
    if (converted != 0)
        return converted < 0 ? converted : 0;
    bool declared = is_json_type(content_type);
    bool sniff = may_sniff(content_type);
    b->json_lines = is_json_lines_type(content_type);
    if (declared || (sniff && looks_like_json(b->data, b->len))) {
        json_error_t err;
        /* JSON_DECODE_ANY: a scalar is a valid document. Nesting is bounded
         * by jansson (JSON_PARSER_MAX_DEPTH, 2048 in 2.14), which also
         * bounds the recursion in compare_json. */
        b->json = body_json_parse(b->data, b->len, &err);
        if (b->json) {
            b->kind = BODY_JSON;
            return 0;
        }
        if (json_error_code(&err) == json_error_out_of_memory)
            return -ENOMEM;
        b->unparsed = BODY_JSON;
        if (declared)
            set_error(b, "invalid JSON",
                      "invalid JSON: %s at line %d column %d", err.text,
                      err.line, err.column);
    } else if (is_xml_type(content_type) ||
               (sniff && looks_like_xml(b->data, b->len))) {
        int rc = parse_xml(b);
        if (rc <= 0)
            return rc;
    } else if (is_form_type(content_type)) {
        return parse_form(b);
    }
    b->kind = utf8_valid(b->data, b->len) ? BODY_TEXT : BODY_BINARY;
    return 0;
}

/* ---- after classification ------------------------------------------------ */

int body_align(body_view *legacy, body_view *new_)
{
    if (!legacy || !new_ || legacy->kind != new_->kind || !legacy->json ||
        !new_->json)
        return 0;
    if (legacy->kind == BODY_XML)
        return xmltree_align(legacy->json, new_->json);
    if (legacy->kind != BODY_FORM)
        return 0;
    json_t *l = legacy->json, *n = new_->json;
    for (void *it = json_object_iter(l); it; it = json_object_iter_next(l, it)) {
        const char *key = json_object_iter_key(it);
        json_t *lv = json_object_iter_value(it), *nv = json_object_get(n, key);
        if (!nv || json_is_array(lv) == json_is_array(nv))
            continue;
        json_t *single = json_is_array(lv) ? nv : lv, *arr = json_array();
        if (!arr || json_array_append(arr, single) != 0) {
            json_decref(arr);
            return -ENOMEM;
        }
        if (single == lv)
            json_object_iter_set_new(l, it, arr); /* cannot fail */
        else if (json_object_set_new(n, key, arr) != 0)
            return -ENOMEM;
    }
    return 0;
}

json_t *body_lines(const body_view *b)
{
    if (!b || b->kind != BODY_TEXT || !b->data || b->len == 0)
        return NULL;
    const unsigned char *p = b->data, *end = b->data + b->len;
    size_t nl = 0;
    for (const unsigned char *q = p; (q = memchr(q, '\n', (size_t)(end - q)));
         q++)
        if (++nl >= BODY_LINES_MAX)
            return NULL; /* nl + 1 lines */
    if (nl == 0)
        return NULL;
    json_t *a = json_array();
    while (a) {
        const unsigned char *e = memchr(p, '\n', (size_t)(end - p));
        const unsigned char *stop = e ? e : end;
        size_t n = (size_t)(stop - p);
        if (n && p[n - 1] == '\r')
            n--;
        if (json_array_append_new(a, json_stringn((const char *)p, n)) != 0) {
            json_decref(a);
            return NULL;
        }
        if (!e)
            break;
        p = e + 1;
    }
    return a;
}

/* ---- entry point --------------------------------------------------------- */

static int prepare(body_view *b, const unsigned char *raw, size_t raw_len,
                   const char *content_type, const char *content_encoding,
                   size_t limit)
{
    if (raw_len > limit) {
        b->kind = BODY_OVERSIZE;
        return 0;
    }
    b->data = raw;
    b->len = raw_len;
    body_coding codings[BODY_MAX_CODINGS];
    const char *bad = NULL;
    size_t bad_len = 0;
    int n = content_encoding
                ? parse_codings(content_encoding, codings, &bad, &bad_len)
                : 0;
    if (n < 0) {
        b->kind = BODY_BINARY;
        set_error(b, "unsupported content-encoding",
                  "unsupported content-encoding: %.*s",
                  (int)(bad_len > 64 ? 64 : bad_len), bad);
        return 0;
    }
    bool go = false;
    int rc = body_decode(b, codings, n, limit, &go);
    if (rc < 0 || !go)
        return rc;
    if (b->len == 0) {
        b->kind = BODY_NONE; /* e.g. an empty gzip stream */
        return 0;
    }
    return classify(b, content_type);
}

int body_prepare(body_view *out, const unsigned char *raw, size_t raw_len,
                 bool whole, uint64_t wire_len, const char *sha256_hex,
                 const char *content_type, const char *content_encoding,
                 size_t max_decoded)
{
    memset(out, 0, sizeof *out);
    out->wire_len = wire_len;
    if (sha256_hex)
        snprintf(out->sha256, sizeof out->sha256, "%s", sha256_hex);
    if (!whole) {
        out->kind = BODY_OVERSIZE;
        return 0;
    }
    if (raw_len == 0 || !raw) {
        out->kind = BODY_NONE;
        return 0;
    }
    size_t limit = max_decoded ? max_decoded : BODY_DEFAULT_MAX_DECODED;
    if (limit > SIZE_MAX / 2)
        limit = SIZE_MAX / 2; /* so that limit + 1 cannot overflow */
    int rc = prepare(out, raw, raw_len, content_type, content_encoding, limit);
    if (rc < 0)
        body_view_free(out);
    return rc;
}
