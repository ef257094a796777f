/* jsonfast: JSON straight from the buffer into jansson values.
 *
 *   jsonfast_load ──► value() ──► object / array / string / number / literal
 *        │ any doubt (syntax, range, NUL key, depth, locale)
 *        └──────────────────────────────────────────► json_loadb (jansson)
 *
 * The grammar accepted here is a subset of what jansson 2.14 accepts with
 * JSON_DECODE_ANY | JSON_ALLOW_NUL (load.c, utf.c), and each accepted
 * document gives the value jansson gives: strings are checked for UTF-8
 * as jansson checks them (no overlong forms, no surrogates, nothing past
 * U+10FFFF, no control characters), numbers are converted by the same
 * strtoll/strtod (or, for the common short ones, to the same value without
 * them: number_at), members are set with json_object_setn_new_nocheck in
 * document order. Anything else goes to json_loadb whole, which then gives
 * the error (or, for a case this scanner declines, the value). */
#include "diff/jsonfast.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Deeper documents go to jansson (its limit: JSON_PARSER_MAX_DEPTH, 2048). */
#define FAST_MAX_DEPTH 512
/* Longer number literals go to jansson (they are converted from a copy). */
#define FAST_MAX_NUMBER 64

typedef struct scan {
    const unsigned char *p, *end;
    char *scratch;       /* decoded strings with escapes; owned */
    size_t scratch_cap;
    int depth;
    int dot_decimal;     /* -1 unknown, else whether the locale's decimal point is "." */
} scan;

static void skip_ws(scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
        s->p++;
}

/* Length of the well-formed UTF-8 sequence at p (2-4), 0 if it is not one
 * (jansson's utf8_check_first + utf8_check_full). */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end)
{
    unsigned char c = p[0];
    size_t n;
    unsigned v;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2, v = c & 0x1Fu;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3, v = c & 0x0Fu;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4, v = c & 0x07u;
    else
        return 0;
    if ((size_t)(end - p) < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
        v = (v << 6) | (p[i] & 0x3Fu);
    }
    if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF) || (n == 3 && v < 0x800) ||
        (n == 4 && v < 0x10000))
        return 0;
    return n;
}

static int hex4(const unsigned char *p, const unsigned char *end)
{
    if (end - p < 4)
        return -1;
    int v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = p[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

static size_t utf8_put(char *w, unsigned v)
{
    if (v < 0x80) {
        w[0] = (char)v;
        return 1;
    }
    if (v < 0x800) {
        w[0] = (char)(0xC0 | (v >> 6));
        w[1] = (char)(0x80 | (v & 0x3F));
        return 2;
    }
    if (v < 0x10000) {
        w[0] = (char)(0xE0 | (v >> 12));
        w[1] = (char)(0x80 | ((v >> 6) & 0x3F));
        w[2] = (char)(0x80 | (v & 0x3F));
        return 3;
    }
    w[0] = (char)(0xF0 | (v >> 18));
    w[1] = (char)(0x80 | ((v >> 12) & 0x3F));
    w[2] = (char)(0x80 | ((v >> 6) & 0x3F));
    w[3] = (char)(0x80 | (v & 0x3F));
    return 4;
}

/* One escape after the backslash at s->p into w; bytes written, 0: not
 * one jansson accepts. */
static size_t unescape(scan *s, char *w)
{
    const unsigned char *p = s->p + 1;
    if (p >= s->end)
        return 0;
    static const char simple[] = "\"\"\\\\//b\bf\fn\nr\rt\t";
    for (size_t i = 0; i + 1 < sizeof simple; i += 2) {
        if (*p == (unsigned char)simple[i]) {
            *w = simple[i + 1];
            s->p = p + 1;
            return 1;
        }
    }
    if (*p != 'u')
        return 0;
    int v = hex4(p + 1, s->end);
    if (v < 0 || (v >= 0xDC00 && v <= 0xDFFF))
        return 0;
    p += 5;
    if (v >= 0xD800 && v <= 0xDBFF) {
        if (s->end - p < 2 || p[0] != '\\' || p[1] != 'u')
            return 0;
        int lo = hex4(p + 2, s->end);
        if (lo < 0xDC00 || lo > 0xDFFF)
            return 0;
        v = ((v - 0xD800) << 10) + (lo - 0xDC00) + 0x10000;
        p += 6;
    }
    s->p = p;
    return utf8_put(w, (unsigned)v);
}

/* Bytes from p up to the first one a string needs a look at: '"', '\\',
 * a control character or a byte of a multi-byte sequence. Eight at a time
 * (strings were a sixth of a noisy comparison's instructions, byte by byte). */
static const unsigned char *plain_run(const unsigned char *p, const unsigned char *end)
{
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    while (end - p >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        uint64_t q = v ^ (ones * '"'), b = v ^ (ones * '\\');
        /* a byte's high bit set: it was 0 (q, b), below 0x20, or >= 0x80 */
        uint64_t hit = (((q - ones) & ~q) | ((b - ones) & ~b) | (v - ones * 0x20) | v) & high;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        if (hit) /* p[0] is the low byte; its lowest flag is exact (borrows move up) */
            return p + (__builtin_ctzll(hit) >> 3);
#else
        if (hit)
            return p;
#endif
        p += 8;
    }
    return p;
}

/* The string whose opening quote is at s->p: *out points into the input
 * (no escapes) or into s->scratch (valid until the next string). */
static bool string_at(scan *s, const char **out, size_t *len)
{
    const unsigned char *start = ++s->p;
    char *w = NULL; /* writing decoded bytes once an escape was met */
    while (s->p < s->end) {
        if (!w)
            s->p = plain_run(s->p, s->end);
        if (s->p >= s->end)
            break;
        unsigned char c = *s->p;
        if (c == '"') {
            if (w) {
                *out = s->scratch;
                *len = (size_t)(w - s->scratch);
            } else {
                *out = (const char *)start;
                *len = (size_t)(s->p - start);
            }
            s->p++;
            return true;
        }
        if (c < 0x20)
            return false;
        if (c == '\\') {
            if (!w) {
                /* decoded, the rest is never longer than it is in the input */
                size_t need = (size_t)(s->end - start) + 1;
                if (s->scratch_cap < need) {
                    char *n = realloc(s->scratch, need);
                    if (!n)
                        return false;
                    s->scratch = n;
                    s->scratch_cap = need;
                }
                memcpy(s->scratch, start, (size_t)(s->p - start));
                w = s->scratch + (s->p - start);
            }
            size_t n = unescape(s, w);
            if (!n)
                return false;
            w += n;
            continue;
        }
        size_t n = c < 0x80 ? 1 : utf8_seq(s->p, s->end);
        if (!n)
            return false;
        if (w) {
            memcpy(w, s->p, n);
            w += n;
        }
        s->p += n;
    }
    return false;
}

static bool is_digit(const unsigned char *p, const unsigned char *end)
{
    return p < end && *p >= '0' && *p <= '9';
}

/* Exact powers of ten as doubles (10^22 is the last one). */
static const double POW10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                               1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                               1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Digits m up to 2^53 and a power of ten e within +-22 are both exact
 * doubles, so m * 10^e (or m / 10^-e) is one correctly rounded IEEE
 * operation: the same double strtod gives (Clinger's fast path). */
bool jsonfast_real(const char *text, size_t len, double *out)
{
    const unsigned char *t = (const unsigned char *)text, *end = t + len;
    bool neg = *t == '-';
    t += neg;
    uint64_t m = 0;
    int e = 0;
    bool frac = false;
    for (; t < end; t++) {
        if (*t == '.') {
            frac = true;
            continue;
        }
        if (*t < '0' || *t > '9')
            break;
        if (m >= (1ull << 60))
            return false; /* too many digits for the fast path */
        m = m * 10 + (uint64_t)(*t - '0');
        e -= frac;
    }
    if (t < end) { /* the exponent */
        t++;
        bool eneg = *t == '-';
        t += *t == '-' || *t == '+';
        int x = 0;
        for (; t < end; t++) {
            if (x > 1000)
                return false;
            x = x * 10 + (*t - '0');
        }
        e += eneg ? -x : x;
    }
    if (m > (1ull << 53) || e < -22 || e > 22)
        return false;
    double v = e >= 0 ? (double)m * POW10[e] : (double)m / POW10[-e];
    *out = neg ? -v : v;
    return true;
}

static json_t *number_at(scan *s)
{
    const unsigned char *start = s->p, *p = s->p, *end = s->end;
    bool real = false;
    if (*p == '-')
        p++;
    if (!is_digit(p, end))
        return NULL;
    if (*p == '0') {
        if (is_digit(++p, end))
            return NULL; /* a leading zero */
    } else {
        while (is_digit(p, end))
            p++;
    }
    if (p < end && *p == '.') {
        if (!is_digit(++p, end))
            return NULL;
        while (is_digit(p, end))
            p++;
        real = true;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (!is_digit(p, end))
            return NULL;
        while (is_digit(p, end))
            p++;
        real = true;
    }
    size_t n = (size_t)(p - start);
    if (!real && n <= 18) { /* 18 digits at most: no long long overflows */
        long long v = 0;
        for (const unsigned char *d = start + (*start == '-'); d < p; d++)
            v = v * 10 + (*d - '0');
        s->p = p;
        return json_integer(*start == '-' ? -v : v);
    }
    double fast;
    if (real && jsonfast_real((const char *)start, n, &fast)) { /* any locale */
        s->p = p;
        return json_real(fast);
    }
    char text[FAST_MAX_NUMBER];
    if (n >= sizeof text)
        return NULL;
    memcpy(text, start, n);
    text[n] = '\0';
    s->p = p;
    errno = 0;
    if (!real) {
        long long v = strtoll(text, NULL, 10);
        return errno == ERANGE ? NULL : json_integer(v);
    }
    if (s->dot_decimal < 0) {
        const char *dp = localeconv()->decimal_point;
        s->dot_decimal = dp && dp[0] == '.' && dp[1] == '\0';
    }
    if (!s->dot_decimal)
        return NULL;
    double v = strtod(text, NULL);
    if ((v == HUGE_VAL || v == -HUGE_VAL) && errno == ERANGE)
        return NULL;
    return json_real(v);
}

static json_t *literal_at(scan *s, const char *word, json_t *v)
{
    size_t n = strlen(word);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return NULL;
    s->p += n;
    return v;
}

static json_t *value(scan *s);

static json_t *object_at(scan *s)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == '}') {
        s->p++;
        return o;
    }
    for (;;) {
        const char *key;
        size_t klen;
        if (s->p >= s->end || *s->p != '"' || !string_at(s, &key, &klen) ||
            memchr(key, '\0', klen))
            break;
        /* A decoded key lives in the scratch the value may reuse. */
        char *copy = NULL;
        if (key == s->scratch && !(key = copy = malloc(klen ? klen : 1)))
            break;
        if (copy)
            memcpy(copy, s->scratch, klen);
        skip_ws(s);
        json_t *v = NULL;
        if (s->p < s->end && *s->p == ':') {
            s->p++;
            skip_ws(s);
            v = value(s);
        }
        int rc = v ? json_object_setn_new_nocheck(o, key, klen, v) : -1;
        free(copy);
        if (rc != 0)
            break;
        skip_ws(s);
        if (s->p < s->end && *s->p == '}') {
            s->p++;
            return o;
        }
        if (s->p >= s->end || *s->p != ',')
            break;
        s->p++;
        skip_ws(s);
    }
    json_decref(o);
    return NULL;
}

static json_t *array_at(scan *s)
{
    json_t *a = json_array();
    if (!a)
        return NULL;
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == ']') {
        s->p++;
        return a;
    }
    for (;;) {
        json_t *v = value(s);
        if (!v || json_array_append_new(a, v) != 0)
            break;
        skip_ws(s);
        if (s->p < s->end && *s->p == ']') {
            s->p++;
            return a;
        }
        if (s->p >= s->end || *s->p != ',')
            break;
        s->p++;
        skip_ws(s);
    }
    json_decref(a);
    return NULL;
}

/* The value at s->p (no white space before it); NULL: not here. */
static json_t *value(scan *s)
{
    if (s->p >= s->end || s->depth >= FAST_MAX_DEPTH)
        return NULL;
    s->depth++;
    json_t *v = NULL;
    const char *str;
    size_t len;
    switch (*s->p) {
    case '{': v = object_at(s); break;
    case '[': v = array_at(s); break;
    case '"':
        if (string_at(s, &str, &len))
            v = json_stringn_nocheck(str, len);
        break;
    case 't': v = literal_at(s, "true", json_true()); break;
    case 'f': v = literal_at(s, "false", json_false()); break;
    case 'n': v = literal_at(s, "null", json_null()); break;
    default:
        if (*s->p == '-' || (*s->p >= '0' && *s->p <= '9'))
            v = number_at(s);
        break;
    }
    s->depth--;
    return v;
}

json_t *jsonfast_load(const char *data, size_t len, json_error_t *err)
{
    scan s = {.p = (const unsigned char *)data, .end = (const unsigned char *)data + len,
              .dot_decimal = -1};
    json_t *v = NULL;
    if (data) {
        skip_ws(&s);
        v = value(&s);
        skip_ws(&s);
        if (v && s.p != s.end) {
            json_decref(v); /* something after the document */
            v = NULL;
        }
    }
    free(s.scratch);
    return v ? v : json_loadb(data, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, err);
}
