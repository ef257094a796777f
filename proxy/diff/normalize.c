/* normalize: see normalize.h. */
#include "diff/normalize.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "diff/jsonfast.h"

static bool ascii_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
           c == '\v';
}

static bool digit(char c)
{
    return c >= '0' && c <= '9';
}

json_t *normalize_number(const char *s, size_t n)
{
    size_t i = 0;
    bool integral = true;
    if (i < n && s[i] == '-')
        i++;
    if (i < n && s[i] == '0')
        i++;
    else if (i < n && digit(s[i]))
        while (i < n && digit(s[i]))
            i++;
    else
        return NULL;
    if (i < n && s[i] == '.') {
        integral = false;
        if (++i >= n || !digit(s[i]))
            return NULL;
        while (i < n && digit(s[i]))
            i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        integral = false;
        if (++i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= n || !digit(s[i]))
            return NULL;
        while (i < n && digit(s[i]))
            i++;
    }
    if (i != n)
        return NULL;
    double fast;
    if (!integral && jsonfast_real(s, n, &fast))
        return json_real(fast); /* no copy, no strtod */
    char small[64], *buf = n < sizeof small ? small : malloc(n + 1);
    if (!buf)
        return NULL;
    memcpy(buf, s, n);
    buf[n] = '\0';
    json_t *v = NULL;
    if (integral) {
        errno = 0;
        long long x = strtoll(buf, NULL, 10);
        if (errno == 0)
            v = json_integer((json_int_t)x);
    }
    if (!v) {
        double d = strtod(buf, NULL);
        if (d - d == 0) /* finite; jansson rejects inf and NaN anyway */
            v = json_real(d);
    }
    if (buf != small)
        free(buf);
    return v;
}

json_t *normalize_string(const json_t *v, unsigned f, int *p_err)
{
    const char *s = json_string_value(v);
    size_t len = json_string_length(v), b = 0, e = len;
    if (f & NORM_TRIM) {
        while (b < e && ascii_space(s[b]))
            b++;
        while (e > b && ascii_space(s[e - 1]))
            e--;
    }
    if (f & NORM_NUMBER) {
        json_t *num = normalize_number(s + b, e - b);
        if (num)
            return num;
    }
    if (f & NORM_DATETIME) {
        char out[64];
        size_t n = normalize_datetime(s + b, e - b, out, sizeof out);
        if (n) {
            if (n == len && memcmp(out, s, n) == 0)
                return NULL;
            json_t *r = json_stringn_nocheck(out, n); /* ASCII: no UTF-8 check */
            if (!r)
                *p_err = -ENOMEM;
            return r;
        }
    }
    bool upper = false;
    for (size_t i = b; (f & NORM_CASE) && i < e && !upper; i++)
        upper = s[i] >= 'A' && s[i] <= 'Z';
    if (!upper && b == 0 && e == len)
        return NULL;
    json_t *r;
    if (upper) {
        char *t = malloc(e - b + 1);
        if (!t) {
            *p_err = -ENOMEM;
            return NULL;
        }
        for (size_t i = b; i < e; i++)
            t[i - b] = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] + 32) : s[i];
        r = json_stringn(t, e - b);
        free(t);
    } else {
        r = json_stringn(s + b, e - b);
    }
    if (!r)
        *p_err = -ENOMEM;
    return r;
}

/* ---- date-times ----------------------------------------------------------- */

/* n decimal digits, or -1. */
static int digits(const char *s, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!digit(s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* The zone at s[i..len): Z, +hh:mm, +hhmm, +hh, or nothing. Offset in
 * seconds east of UTC; false when malformed. */
static bool parse_zone(const char *s, size_t i, size_t len, int *off)
{
    *off = 0;
    if (i == len)
        return true;
    if (s[i] == 'Z' || s[i] == 'z')
        return i + 1 == len;
    if (s[i] != '+' && s[i] != '-')
        return false;
    int sign = s[i++] == '-' ? -1 : 1;
    size_t rest = len - i;
    int oh = rest >= 2 ? digits(s + i, 2) : -1, om = 0;
    if (rest == 5 && s[i + 2] == ':')
        om = digits(s + i + 3, 2);
    else if (rest == 4)
        om = digits(s + i + 2, 2);
    else if (rest != 2)
        return false;
    if (oh < 0 || oh > 23 || om < 0 || om > 59)
        return false;
    *off = sign * (oh * 3600 + om * 60);
    return true;
}

/* Writes v (>= 0, < 10^w) as exactly w decimal digits; returns the end. */
static char *put_digits(char *o, long v, int w)
{
    for (int i = w - 1; i >= 0; i--, v /= 10)
        o[i] = (char)('0' + v % 10);
    return o + w;
}

size_t normalize_datetime(const char *s, size_t len, char *out, size_t out_size)
{
    if (len < 16 || s[4] != '-' || s[7] != '-' || s[13] != ':' ||
        (s[10] != 'T' && s[10] != 't' && s[10] != ' '))
        return 0;
    int Y = digits(s, 4), M = digits(s + 5, 2), D = digits(s + 8, 2);
    int h = digits(s + 11, 2), mi = digits(s + 14, 2), sec = 0;
    size_t i = 16;
    if (i < len && s[i] == ':') {
        sec = len - i >= 3 ? digits(s + i + 1, 2) : -1;
        i += 3;
    }
    long ns = 0; /* fraction in nanoseconds; further digits are dropped */
    if (i < len && (s[i] == '.' || s[i] == ',')) {
        size_t start = ++i;
        long scale = 100000000;
        for (; i < len && digit(s[i]); i++, scale /= 10)
            ns += scale * (s[i] - '0');
        if (i == start)
            return 0;
    }
    int off;
    if (Y < 0 || M < 1 || M > 12 || D < 1 || h < 0 || h > 23 || mi < 0 ||
        mi > 59 || sec < 0 || sec > 60 || D > clock_days_in_month(Y, M) ||
        !parse_zone(s, i, len, &off))
        return 0;
    int64_t t = clock_days_from_civil(Y, M, D) * 86400 + h * 3600 + mi * 60 + sec - off;
    int64_t days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
    int64_t rem = t - days * 86400, y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    if (y < 0 || y > 9999 || out_size < 64)
        return 0;
    /* Formatted by hand: snprintf was 9/10 of this function's cost, and a
     * datetime rule runs it on every matching string of both documents. */
    char *o = out;
    o = put_digits(o, (long)y, 4);
    *o++ = '-';
    o = put_digits(o, m, 2);
    *o++ = '-';
    o = put_digits(o, d, 2);
    *o++ = 'T';
    o = put_digits(o, (long)(rem / 3600), 2);
    *o++ = ':';
    o = put_digits(o, (long)(rem / 60 % 60), 2);
    *o++ = ':';
    o = put_digits(o, (long)(rem % 60), 2);
    *o++ = '.';
    o = put_digits(o, ns / 1000000, 3);
    long sub = ns % 1000000; /* digits past the millisecond, if any */
    if (sub) {
        char extra[6];
        put_digits(extra, sub, 6);
        int k = 6;
        while (k > 0 && extra[k - 1] == '0')
            k--;
        memcpy(o, extra, (size_t)k);
        o += k;
    }
    *o++ = 'Z';
    *o = '\0';
    size_t n = (size_t)(o - out);
    return n;
}

