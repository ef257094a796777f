/* util: growable buffers, JSON writing and escaping, UTF-8 checks, base64
 * and strict number parsing. No I/O. */
#include "stub.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fputs("sp-stub: out of memory\n", stderr);
        abort();
    }
    return p;
}

void sb_reserve(struct sbuf *b, size_t extra)
{
    if (b->cap - b->len >= extra)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < extra) {
        if (cap > SIZE_MAX / 2)
            abort();
        cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (!p) {
        fputs("sp-stub: out of memory\n", stderr);
        abort();
    }
    b->p = p;
    b->cap = cap;
}

void sb_put(struct sbuf *b, const void *d, size_t n)
{
    if (!n)
        return;
    sb_reserve(b, n);
    memcpy(b->p + b->len, d, n);
    b->len += n;
}

void sb_puts(struct sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    sb_reserve(b, 64);
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= b->cap - b->len) {
        sb_reserve(b, (size_t)n + 1);
        va_start(ap, fmt);
        vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

void sb_free(struct sbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    unsigned min;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4, min = 0x10000;
    else
        return 0;
    if (n < len)
        return 0;
    unsigned cp = c & (0x3F >> (len - 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    /* overlongs, UTF-16 surrogates and code points past U+10FFFF */
    if (cp < min || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
        return 0;
    return len;
}

/* True if s[0..n) is the start of some valid sequence (cut short). */
static bool utf8_is_cut(const unsigned char *s, size_t n)
{
    unsigned char tmp[4] = {s[0], 0x80, 0x80, 0x80};
    for (size_t i = 1; i < n && i < 4; i++)
        tmp[i] = s[i];
    /* Complete it with the smallest continuation bytes, then re-check the
     * completed form; 0x80 can still be rejected as an overlong, so also
     * try 0xBF. */
    if (utf8_seq_len(tmp, 4) > n)
        return true;
    for (size_t i = n; i < 4; i++)
        tmp[i] = 0xBF;
    return utf8_seq_len(tmp, 4) > n;
}

bool utf8_valid(const unsigned char *s, size_t n, bool allow_cut)
{
    size_t i = 0;
    while (i < n) {
        size_t k = utf8_seq_len(s + i, n - i);
        if (k == 0)
            return allow_cut && n - i < 4 && utf8_is_cut(s + i, n - i);
        i += k;
    }
    return true;
}

void sb_json_str(struct sbuf *b, const void *d, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = d;
    sb_reserve(b, n + 2);
    b->p[b->len++] = '"';
    size_t i = 0;
    while (i < n) {
        /* copy the longest run that needs no escaping in one go */
        size_t run = i;
        while (run < n && s[run] >= 0x20 && s[run] < 0x7F && s[run] != '"' &&
               s[run] != '\\')
            run++;
        sb_put(b, s + i, run - i);
        i = run;
        if (i >= n)
            break;
        unsigned char c = s[i];
        size_t k = c >= 0x80 ? utf8_seq_len(s + i, n - i) : 0;
        if (k) {
            sb_put(b, s + i, k);
            i += k;
            continue;
        }
        char esc[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0};
        if (c == '"' || c == '\\') {
            esc[1] = (char)c;
            sb_put(b, esc, 2);
        } else if (c == '\n' || c == '\r' || c == '\t') {
            esc[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
            sb_put(b, esc, 2);
        } else {
            /* control characters, DEL and bytes that are not UTF-8 */
            sb_put(b, esc, 6);
        }
        i++;
    }
    sb_put(b, "\"", 1);
}

bool parse_u64(const char *s, size_t n, uint64_t max, uint64_t *out)
{
    if (n == 0 || n > 20)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (v > max)
        return false;
    *out = v;
    return true;
}

static int b64_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

bool base64_decode(const char *s, size_t n, struct sbuf *out)
{
    while (n > 0 && s[n - 1] == '=')
        n--;
    if (n % 4 == 1)
        return false;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_val((unsigned char)s[i]);
        if (v < 0)
            return false;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            char c = (char)((acc >> bits) & 0xFF);
            sb_put(out, &c, 1);
        }
    }
    return true;
}

bool ascii_ieq(const char *a, size_t a_len, const char *b)
{
    size_t i = 0;
    for (; i < a_len; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (!y)
            return false;
        if (x >= 'A' && x <= 'Z')
            x += 32;
        if (y >= 'A' && y <= 'Z')
            y += 32;
        if (x != y)
            return false;
    }
    return b[i] == 0;
}

bool is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        (c >= '0' && c <= '9'))
        return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* ---- JSON writer --------------------------------------------------------- */
void jw_init(struct jw *j, struct sbuf *b)
{
    j->b = b;
    j->nonfirst = 0;
    j->depth = 0;
    j->after_key = false;
}

/* Called before every value or key: a comma unless first in container. */
static void jw_sep(struct jw *j)
{
    if (j->after_key) {
        j->after_key = false;
        return;
    }
    uint64_t bit = 1ull << (j->depth & 63);
    if (j->nonfirst & bit)
        sb_put(j->b, ",", 1);
    j->nonfirst |= bit;
}

void jw_open(struct jw *j, char c)
{
    jw_sep(j);
    sb_put(j->b, &c, 1);
    j->depth++;
    j->nonfirst &= ~(1ull << (j->depth & 63));
}

void jw_close(struct jw *j, char c)
{
    sb_put(j->b, &c, 1);
    j->depth--;
}

void jw_key(struct jw *j, const char *k)
{
    jw_sep(j);
    sb_json_str(j->b, k, strlen(k));
    sb_put(j->b, ":", 1);
    j->after_key = true;
}

void jw_strn(struct jw *j, const void *s, size_t n)
{
    jw_sep(j);
    sb_json_str(j->b, s, n);
}

void jw_str(struct jw *j, const char *s)
{
    jw_strn(j, s, strlen(s));
}

void jw_int(struct jw *j, long long v)
{
    jw_sep(j);
    sb_printf(j->b, "%lld", v);
}

void jw_raw(struct jw *j, const char *lit)
{
    jw_sep(j);
    sb_puts(j->b, lit);
}

void jw_money(struct jw *j, long long cents, bool trailing_zero)
{
    jw_sep(j);
    const char *sign = cents < 0 ? "-" : "";
    unsigned long long a = cents < 0 ? 0ull - (unsigned long long)cents
                                     : (unsigned long long)cents;
    unsigned long long whole = a / 100, frac = a % 100;
    /* Shortest form, as a JSON encoder of doubles would print it. */
    if (frac == 0)
        sb_printf(j->b, trailing_zero ? "%s%llu.0" : "%s%llu", sign, whole);
    else if (frac % 10 == 0)
        sb_printf(j->b, "%s%llu.%llu", sign, whole, frac / 10);
    else
        sb_printf(j->b, "%s%llu.%02llu", sign, whole, frac);
}

bool list_next(const char **p, const char *end, const char **tok, size_t *len)
{
    const char *s = *p;
    while (s < end) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *a = s, *b = comma ? comma : end;
        s = comma ? comma + 1 : end;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        if (b > a) {
            *p = s;
            *tok = a;
            *len = (size_t)(b - a);
            return true;
        }
    }
    *p = end;
    return false;
}

void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    while (ms > 0 && nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}
