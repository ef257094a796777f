/* jsonline: compact JSON written into one growing buffer (see jsonline.h).
 * The formats follow jansson 2.14's dump.c and strconv.c, so a record reads
 * the same whichever wrote it; tests/unit/test_jsonline.c compares the two. */
#include "diff/jsonline.h"

#include "base/strbuf.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct out {
    strbuf b;     /* out of memory is sticky in it */
    int digits;   /* real precision of this dump */
    size_t limit; /* containers stop adding members past this length */
} out;

static void put(out *o, const char *s, size_t n)
{
    strbuf_add(&o->b, s, n);
}

/* One byte, inline while it fits (a record is mostly punctuation). */
static void put_c(out *o, char c)
{
    if (o->b.len + 2 <= o->b.cap) {
        o->b.p[o->b.len++] = c;
        o->b.p[o->b.len] = '\0';
    } else {
        strbuf_add(&o->b, &c, 1);
    }
}

/* A decimal of at most 15 significant digits and 6 places that d is the
 * nearest double to (19.99, 160.65, 42.0): %.15g writes that decimal, and
 * it reads back as d, so 15 digits do, found without printing (a record's
 * prices cost three printf/strtod rounds each: 150,000 instructions a
 * record on 2026-12-07). m / 10^k is IEEE's correctly rounded quotient of
 * two exact doubles (|m| < 10^15 < 2^53, 10^k exact), so equality with d
 * says d is the double nearest that decimal; and a double's 0.5 ulp (at
 * most 1.1e-16 of it) is below half a unit of its 15th digit, so %.15g of
 * d rounds to the decimal itself. */
static bool short_decimal(double d)
{
    static const double pow10[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6};
    if (!(d > -1e15 && d < 1e15))
        return false; /* NaN, infinities and large values: the long way */
    for (size_t k = 0; k < sizeof pow10 / sizeof *pow10; k++) {
        double x = d * pow10[k];
        if (!(x > -1e15 && x < 1e15))
            return false;
        double m = (double)(long long)(x < 0 ? x - 0.5 : x + 0.5);
        if (m / pow10[k] == d)
            return true;
    }
    return false;
}

int jsonline_real_digits(double d)
{
    return short_decimal(d) ? 15 : jsonline_real_digits_by_printf(d);
}

int jsonline_real_digits_by_printf(double d)
{
    char t[40];
    for (int p = 15; p < 17; p++) {
        snprintf(t, sizeof t, "%.*g", p, d);
        if (strtod(t, NULL) == d)
            return p;
    }
    return 17;
}

static int digits_at_most_17(const json_t *v, int cur)
{
    if (cur >= 17)
        return cur;
    if (json_is_real(v)) {
        int d = jsonline_real_digits(json_real_value(v));
        return d > cur ? d : cur;
    }
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v) && cur < 17; i++)
            cur = digits_at_most_17(json_array_get(v, i), cur);
    } else if (json_is_object(v)) {
        json_t *m = (json_t *)v; /* jansson's iterators take non-const */
        for (void *it = json_object_iter(m); it && cur < 17; it = json_object_iter_next(m, it))
            cur = digits_at_most_17(json_object_iter_value(it), cur);
    }
    return cur;
}

int jsonline_digits(const json_t *v)
{
    return digits_at_most_17(v, 15);
}

/* jansson's jsonp_dtostr: %.*g, ".0" when it reads as an integer, no '+'
 * and no leading zeros in the exponent. */
static void put_real(out *o, double d)
{
    char b[48];
    int n = snprintf(b, sizeof b - 3, "%.*g", o->digits, d);
    if (n < 0 || (size_t)n >= sizeof b - 3) {
        o->b.oom = true;
        return;
    }
    size_t len = (size_t)n;
    if (!memchr(b, '.', len) && !memchr(b, 'e', len)) {
        memcpy(b + len, ".0", 3);
        len += 2;
    }
    char *start = memchr(b, 'e', len);
    if (start) {
        start++;
        char *end = start + 1;
        if (*start == '-')
            start++;
        while (*end == '0')
            end++;
        if (end != start) {
            memmove(start, end, len - (size_t)(end - b));
            len -= (size_t)(end - start);
        }
    }
    put(o, b, len);
}

/* A string's bytes between quotes: runs that need no escape are copied
 * whole; '"', '\\' and control bytes as jansson escapes them, and the three
 * line separators outside ASCII as \u escapes. */
static void put_string(out *o, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *u = (const unsigned char *)s;
    put_c(o, '"');
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = u[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c != 0xC2 && c != 0xE2)
            continue;
        char esc[7];
        size_t elen = 2, skip = 0;
        esc[0] = '\\';
        if (c == 0xC2 || c == 0xE2) {
            if (c == 0xC2 && i + 1 < n && u[i + 1] == 0x85)
                memcpy(esc, "\\u0085", 6), elen = 6, skip = 1;
            else if (c == 0xE2 && i + 2 < n && u[i + 1] == 0x80 &&
                     (u[i + 2] == 0xA8 || u[i + 2] == 0xA9))
                memcpy(esc, u[i + 2] == 0xA8 ? "\\u2028" : "\\u2029", 6), elen = 6, skip = 2;
            else
                continue; /* another character: as is */
        } else if (c == '"' || c == '\\') {
            esc[1] = (char)c;
        } else if (c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t') {
            esc[1] = c == '\b' ? 'b' : c == '\f' ? 'f' : c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
        } else {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            elen = 6;
        }
        put(o, s + run, i - run);
        put(o, esc, elen);
        i += skip;
        run = i + 1;
    }
    put(o, s + run, n - run);
    put_c(o, '"');
}

static void put_value(out *o, const json_t *v)
{
    char b[32];
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        json_t *m = (json_t *)v; /* jansson's iterators take non-const */
        put_c(o, '{');
        for (void *it = json_object_iter(m); it && !o->b.oom && o->b.len <= o->limit;) {
            put_string(o, json_object_iter_key(it), json_object_iter_key_len(it));
            put_c(o, ':');
            put_value(o, json_object_iter_value(it));
            it = json_object_iter_next(m, it);
            if (it)
                put_c(o, ',');
        }
        put_c(o, '}');
        break;
    }
    case JSON_ARRAY:
        put_c(o, '[');
        for (size_t i = 0; i < json_array_size(v) && !o->b.oom && o->b.len <= o->limit; i++) {
            if (i)
                put_c(o, ',');
            put_value(o, json_array_get(v, i));
        }
        put_c(o, ']');
        break;
    case JSON_STRING:
        put_string(o, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER: {
        int n = snprintf(b, sizeof b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        put(o, b, n > 0 ? (size_t)n : 0);
        break;
    }
    case JSON_REAL:
        put_real(o, json_real_value(v));
        break;
    case JSON_TRUE:
        put(o, "true", 4);
        break;
    case JSON_FALSE:
        put(o, "false", 5);
        break;
    case JSON_NULL:
        put(o, "null", 4);
        break;
    }
}

bool jsonline_fits(const json_t *v, size_t limit)
{
    if (!v)
        return false;
    out o = {.digits = jsonline_digits(v), .limit = limit};
    put_value(&o, v);
    bool fits = o.b.p && !o.b.oom && o.b.len <= limit;
    free(o.b.p);
    return fits;
}

char *jsonline_dump(const json_t *v, size_t *len)
{
    if (!v)
        return NULL;
    out o = {.digits = jsonline_digits(v), .limit = SIZE_MAX};
    /* a first allocation that holds a usual record (strbuf starts at 64) */
    o.b.p = malloc(1024);
    if (o.b.p) {
        o.b.cap = 1024;
        o.b.p[0] = '\0';
    }
    put_value(&o, v);
    put_c(&o, '\n');
    if (!o.b.p || o.b.oom) {
        free(o.b.p);
        return NULL;
    }
    if (len)
        *len = o.b.len;
    return o.b.p;
}
