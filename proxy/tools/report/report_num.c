/* report_num: numbers for the reconciliation (report_util.h, "sums"):
 * numeric values of JSON and of numeric strings, compensated sums, and
 * amounts as text. The build links no libm: nothing here needs it. */
#include "tools/report/report_util.h"

#include <ctype.h>
#include <math.h> /* isfinite only */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- sums ----------------------------------------------------------------------- */

void report_sum_add(report_sum *sum, long double x)
{
    long double t = sum->s + x;
    if (__builtin_fabsl(sum->s) >= __builtin_fabsl(x))
        sum->c += (sum->s - t) + x;
    else
        sum->c += (x - t) + sum->s;
    sum->s = t;
    sum->count++;
}

long double report_sum_value(const report_sum *sum) { return sum->s + sum->c; }

/* Decimals of a decimal number's text: digits after the point minus the
 * exponent. -1 if s is not exactly a decimal number. */
static int decimal_places(const char *s, size_t n)
{
    size_t i = 0;
    if (i < n && s[i] == '-')
        i++;
    size_t int_digits = 0;
    while (i < n && isdigit((unsigned char)s[i])) {
        i++;
        int_digits++;
    }
    if (int_digits == 0)
        return -1;
    int frac = 0;
    if (i < n && s[i] == '.') {
        i++;
        int fd = 0;
        while (i < n && isdigit((unsigned char)s[i])) {
            i++;
            fd++;
        }
        if (fd == 0)
            return -1;
        frac = fd;
    }
    long e = 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        int sign = 1;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            sign = s[i++] == '-' ? -1 : 1;
        size_t ed = 0;
        while (i < n && isdigit((unsigned char)s[i])) {
            if (e < 100000)
                e = e * 10 + (s[i] - '0');
            i++;
            ed++;
        }
        if (ed == 0)
            return -1;
        e *= sign;
    }
    if (i != n)
        return -1;
    long d = frac - e;
    return d < 0 ? 0 : d > 40 ? 40 : (int)d;
}

bool report_number_of(const json_t *v, long double *out, int *decimals)
{
    char text[64];
    const char *s;
    size_t n;
    if (json_is_integer(v)) {
        *out = (long double)json_integer_value(v);
        *decimals = 0;
        return true;
    }
    if (json_is_real(v)) {
        report_real_text(json_real_value(v), text);
        s = text;
        n = strlen(text);
    } else if (json_is_string(v)) {
        s = json_string_value(v);
        n = json_string_length(v);
        while (n > 0 && (*s == ' ' || *s == '\t')) {
            s++;
            n--;
        }
        while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
            n--;
        if (n == 0 || n >= sizeof text)
            return false;
    } else {
        return false;
    }
    int d = decimal_places(s, n);
    if (d < 0)
        return false;
    if (s != text)
        memcpy(text, s, n);
    text[n] = '\0';
    char *end;
    long double x = strtold(text, &end);
    if (*end != '\0' || !isfinite(x))
        return false;
    *out = x;
    *decimals = d;
    return true;
}

void report_format_decimal(long double x, int decimals, char *buf, size_t size)
{
    if (decimals < 0)
        decimals = 0;
    if (decimals > REPORT_MAX_DECIMALS)
        decimals = REPORT_MAX_DECIMALS;
    snprintf(buf, size, "%.*Lf", decimals, x);
    if (buf[0] == '-' && strspn(buf + 1, "0.") == strlen(buf + 1))
        memmove(buf, buf + 1, strlen(buf));
}
