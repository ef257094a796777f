/* report_util: times, paths, pointers, quantiles and drift buckets
 * (report_util.h); numbers are in report_num.c, text and JSON writing in
 * report_write.c, the volatility heuristics in report_vol.c. */
#include "tools/report/report_util.h"

#include <ctype.h>
#include <math.h> /* macros only: the build links no libm */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"

double report_round(double x)
{
    if (!(x > -4e18 && x < 4e18))
        return x;
    return (double)(long long)(x < 0 ? x - 0.5 : x + 0.5);
}

/* ---- times ------------------------------------------------------------------ */

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* n digits at *p (advanced); -1 if not. */
static int take_digits(const char **p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    return v;
}

static int parse_relative(const char *s, int64_t now_ms, int64_t *out)
{
    if (strcmp(s, "now") == 0) {
        *out = now_ms;
        return 0;
    }
    const char *p = s;
    int64_t n = 0;
    while (isdigit((unsigned char)*p)) {
        n = n * 10 + (*p++ - '0');
        if (n > 100000000)
            return -1;
    }
    if (p == s || p[0] == '\0' || p[1] != '\0')
        return -1;
    int64_t unit;
    switch (*p) {
    case 's': unit = 1000; break;
    case 'm': unit = 60000; break;
    case 'h': unit = 3600000; break;
    case 'd': unit = 86400000; break;
    case 'w': unit = 7 * 86400000LL; break;
    default: return -1;
    }
    *out = now_ms - n * unit;
    return 0;
}

int report_parse_time(const char *s, int64_t now_ms, bool allow_relative, int64_t *out_ms)
{
    if (!s)
        return -1;
    if (allow_relative && parse_relative(s, now_ms, out_ms) == 0)
        return 0;
    const char *p = s;
    int y = take_digits(&p, 4);
    if (y < 0 || *p++ != '-')
        return -1;
    int mo = take_digits(&p, 2);
    if (mo < 1 || mo > 12 || *p++ != '-')
        return -1;
    int d = take_digits(&p, 2);
    if (d < 1 || d > clock_days_in_month(y, mo))
        return -1;
    int64_t ms = clock_days_from_civil(y, mo, d) * 86400000LL;
    if (*p == '\0') {
        *out_ms = ms;
        return 0;
    }
    if (*p != 'T' && *p != 't' && *p != ' ')
        return -1;
    p++;
    int h = take_digits(&p, 2);
    if (h < 0 || h > 23 || *p++ != ':')
        return -1;
    int mi = take_digits(&p, 2);
    if (mi < 0 || mi > 59)
        return -1;
    int sec = 0, frac = 0;
    if (*p == ':') {
        p++;
        sec = take_digits(&p, 2);
        if (sec < 0 || sec > 60)
            return -1;
        if (sec == 60)
            sec = 59; /* a leap second: the last second of the minute */
        if (*p == '.' || *p == ',') {
            p++;
            if (!isdigit((unsigned char)*p))
                return -1;
            int scale = 100;
            while (isdigit((unsigned char)*p)) {
                frac += (*p - '0') * scale;
                scale /= 10;
                p++;
            }
        }
    }
    ms += ((int64_t)h * 3600 + mi * 60 + sec) * 1000 + frac;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '+' ? 1 : -1;
        int oh = take_digits(&p, 2);
        if (*p == ':')
            p++;
        int om = take_digits(&p, 2);
        if (oh < 0 || oh > 23 || om < 0 || om > 59)
            return -1;
        ms -= sign * ((int64_t)oh * 3600 + om * 60) * 1000;
    }
    if (*p != '\0')
        return -1;
    *out_ms = ms;
    return 0;
}

void report_format_time(int64_t ms, bool with_ms, char *buf, size_t size)
{
    int64_t days = report_floor_div(ms, 86400000);
    int64_t rem = ms - days * 86400000;
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    int64_t secs = rem / 1000;
    if (with_ms)
        snprintf(buf, size, "%04lld-%02u-%02uT%02d:%02d:%02d.%03dZ", (long long)y, m, d,
                 (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60), (int)(rem % 1000));
    else
        snprintf(buf, size, "%04lld-%02u-%02uT%02d:%02d:%02dZ", (long long)y, m, d,
                 (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60));
}

void report_format_duration(int64_t ms, char *buf, size_t size)
{
    if (ms % 86400000 == 0 && ms > 0)
        snprintf(buf, size, "%lldd", (long long)(ms / 86400000));
    else if (ms % 3600000 == 0 && ms > 0)
        snprintf(buf, size, "%lldh", (long long)(ms / 3600000));
    else if (ms % 60000 == 0 && ms > 0)
        snprintf(buf, size, "%lldm", (long long)(ms / 60000));
    else if (ms % 1000 == 0)
        snprintf(buf, size, "%llds", (long long)(ms / 1000));
    else
        snprintf(buf, size, "%.3fs", (double)ms / 1000.0);
}

/* ---- paths ------------------------------------------------------------------- */

static bool all_digits(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

/* Appends one generalized segment s[0, n) (escaped form) to b. */
static void generalize_seg(strbuf *b, const char *s, size_t n, bool pattern)
{
    const char *eq = memchr(s, '=', n);
    if (all_digits(s, n) || (n > 1 && s[0] == '#' && all_digits(s + 1, n - 1))) {
        strbuf_add(b, "*", 1);
    } else if (eq && eq > s) {
        if (pattern) {
            strbuf_add(b, "*", 1);
        } else {
            strbuf_add(b, s, (size_t)(eq - s));
            strbuf_add(b, "=*", 2);
        }
    } else {
        strbuf_add(b, s, n);
    }
}

static char *generalize(const char *path, bool pattern)
{
    strbuf b = {0};
    const char *p = path;
    while (*p == '/') {
        const char *seg = p + 1;
        const char *end = strchr(seg, '/');
        size_t n = end ? (size_t)(end - seg) : strlen(seg);
        strbuf_add(&b, "/", 1);
        generalize_seg(&b, seg, n, pattern);
        p = seg + n;
    }
    if (*p) /* not a pointer: kept as it is */
        strbuf_add(&b, p, strlen(p));
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p ? b.p : strdup("");
}

char *report_path_generalize(const char *where, const char *path)
{
    if (!path)
        path = "";
    if (!where || strcmp(where, "body") != 0 || path[0] != '/')
        return strdup(path);
    char *r = generalize(path, false);
    return r ? r : NULL;
}

char *report_path_pattern(const char *generalized)
{
    if (!generalized || generalized[0] != '/')
        return strdup(generalized ? generalized : "");
    return generalize(generalized, true);
}

bool report_pointer_valid(const char *s)
{
    if (!s)
        return false;
    if (*s == '\0')
        return true;
    if (*s != '/')
        return false;
    for (const char *p = s; *p; p++)
        if (*p == '~' && p[1] != '0' && p[1] != '1')
            return false;
    return true;
}

/* Unescapes one segment [s, s+n) into a malloc'd buffer (length in *len). */
static char *unescape_seg(const char *s, size_t n, size_t *len)
{
    char *o = malloc(n + 1);
    if (!o)
        return NULL;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '~' && i + 1 < n && (s[i + 1] == '0' || s[i + 1] == '1')) {
            o[j++] = s[i + 1] == '0' ? '~' : '/';
            i++;
        } else {
            o[j++] = s[i];
        }
    }
    o[j] = '\0';
    *len = j;
    return o;
}

static bool parse_index(const char *s, size_t n, size_t *out)
{
    if (!all_digits(s, n) || (n > 1 && s[0] == '0') || n > 18)
        return false;
    size_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (size_t)(s[i] - '0');
    *out = v;
    return true;
}

json_t *report_pointer_get(const json_t *root, const char *ptr)
{
    if (!root || !ptr)
        return NULL;
    const json_t *cur = root;
    const char *p = ptr;
    if (*p && *p != '/')
        return NULL;
    while (*p == '/' && cur) {
        const char *seg = p + 1;
        const char *end = strchr(seg, '/');
        size_t n = end ? (size_t)(end - seg) : strlen(seg);
        size_t len;
        char *key = unescape_seg(seg, n, &len);
        if (!key)
            return NULL;
        size_t idx;
        if (json_is_object(cur))
            cur = json_object_getn(cur, key, len);
        else if (json_is_array(cur) && parse_index(key, len, &idx))
            cur = json_array_get(cur, idx);
        else
            cur = NULL;
        free(key);
        p = seg + n;
    }
    return (json_t *)cur;
}

/* The key text of an element, as the comparison names keyed elements
 * (compare_walk.c key_text). false: none usable. */
static bool key_text(const json_t *el, const char *key, size_t klen, strbuf *out)
{
    const json_t *kv = json_is_object(el) ? json_object_getn(el, key, klen) : NULL;
    char num[40];
    switch (kv ? json_typeof(kv) : JSON_NULL) {
    case JSON_STRING: strbuf_add(out, json_string_value(kv), json_string_length(kv)); return true;
    case JSON_INTEGER:
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(kv));
        strbuf_add(out, num, strlen(num));
        return true;
    case JSON_REAL: {
        double d = json_real_value(kv);
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(num, sizeof num, "%.*g", prec, d);
            if (strtod(num, NULL) == d)
                break;
        }
        strbuf_add(out, num, strlen(num));
        return true;
    }
    case JSON_TRUE: strbuf_add(out, "true", 4); return true;
    case JSON_FALSE: strbuf_add(out, "false", 5); return true;
    default: return false;
    }
}

/* The index of the occ-th element (1-based) whose key member reads `val`. */
static bool find_keyed(const json_t *arr, const char *key, size_t klen, const char *val,
                       size_t vlen, size_t occ, size_t *out)
{
    size_t seen = 0;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        strbuf t = {0};
        bool ok = key_text(json_array_get(arr, i), key, klen, &t) && !t.oom &&
                  t.len == vlen && memcmp(t.p ? t.p : "", val, vlen) == 0;
        free(t.p);
        if (ok && ++seen == occ) {
            *out = i;
            return true;
        }
    }
    return false;
}

/* An array element named by a difference-path segment (unescaped). */
static bool resolve_elem(const json_t *arr, const char *seg, size_t n, size_t *out)
{
    if (parse_index(seg, n, out))
        return *out < json_array_size(arr);
    if (n > 1 && seg[0] == '#' && parse_index(seg + 1, n - 1, out))
        return *out < json_array_size(arr);
    const char *eq = memchr(seg, '=', n);
    if (!eq || eq == seg)
        return false;
    size_t klen = (size_t)(eq - seg);
    const char *val = eq + 1;
    size_t vlen = n - klen - 1;
    if (find_keyed(arr, seg, klen, val, vlen, 1, out))
        return true;
    const char *hash = NULL; /* `KEY=VALUE#OCC` */
    for (size_t i = vlen; i-- > 0;)
        if (val[i] == '#') {
            hash = val + i;
            break;
        }
    size_t occ;
    if (!hash || !parse_index(hash + 1, (size_t)(val + vlen - hash - 1), &occ) || occ < 2)
        return false;
    return find_keyed(arr, seg, klen, val, (size_t)(hash - val), occ, out);
}

static void add_escaped_seg(strbuf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '~')
            strbuf_add(b, "~0", 2);
        else if (s[i] == '/')
            strbuf_add(b, "~1", 2);
        else
            strbuf_add(b, s + i, 1);
    }
}

char *report_path_resolve(const json_t *body, const char *path)
{
    if (!body || !path || (*path && *path != '/'))
        return NULL;
    strbuf b = {0};
    const json_t *cur = body;
    const char *p = path;
    bool ok = true;
    while (ok && *p == '/') {
        const char *seg = p + 1;
        const char *end = strchr(seg, '/');
        size_t n = end ? (size_t)(end - seg) : strlen(seg);
        size_t len, idx;
        char *key = unescape_seg(seg, n, &len);
        if (!key) {
            ok = false;
        } else if (json_is_object(cur) && (cur = json_object_getn(cur, key, len))) {
            strbuf_add(&b, "/", 1);
            add_escaped_seg(&b, key, len);
        } else if (json_is_array(cur) && resolve_elem(cur, key, len, &idx)) {
            cur = json_array_get(cur, idx);
            report_buf_printf(&b, "/%zu", idx);
        } else {
            ok = false;
        }
        free(key);
        p = seg + n;
    }
    if (!ok || b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p ? b.p : strdup("");
}

/* ---- latency samples ------------------------------------------------------------ */

bool report_floats_push(report_floats *f, float x)
{
    if (f->n == f->cap) {
        size_t nc = f->cap ? f->cap * 2 : 256;
        float *nv = realloc(f->v, nc * sizeof *nv);
        if (!nv)
            return false;
        f->v = nv;
        f->cap = nc;
    }
    f->v[f->n++] = x;
    return true;
}

void report_floats_free(report_floats *f)
{
    free(f->v);
    f->v = NULL;
    f->n = f->cap = 0;
}

static int float_cmp(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

void report_floats_sort(report_floats *f)
{
    if (f->n > 1)
        qsort(f->v, f->n, sizeof *f->v, float_cmp);
}

double report_quantile(const float *sorted, size_t n, double q)
{
    if (n == 0)
        return 0;
    double t = q * (double)n - 1e-9;
    size_t rank = t < 1 ? 1 : (size_t)t;
    if ((double)rank < t)
        rank++;
    if (rank > n)
        rank = n;
    return sorted[rank - 1];
}

/* ---- drift buckets --------------------------------------------------------------- */

int64_t report_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int64_t nbuckets(int64_t first, int64_t last, int64_t w)
{
    return report_floor_div(last, w) - report_floor_div(first, w) + 1;
}

int64_t report_bucket_width(int64_t first_ms, int64_t last_ms)
{
    static const int64_t ladder[] = {60000, 300000, 900000, 3600000, 21600000, 86400000};
    const size_t nl = sizeof ladder / sizeof ladder[0];
    if (last_ms < first_ms)
        return ladder[0];
    int64_t best = ladder[0];
    double best_score = 0;
    for (size_t i = 0; i < nl; i++) {
        double n = (double)nbuckets(first_ms, last_ms, ladder[i]);
        double score = n < 20 ? 20 / n : n > 60 ? n / 60 : 1;
        if (i == 0 || score < best_score) {
            best = ladder[i];
            best_score = score;
        }
    }
    if (best == 86400000 && nbuckets(first_ms, last_ms, best) > 60) {
        int64_t days = (last_ms - first_ms) / (60 * 86400000LL);
        if (days < 2)
            days = 2;
        while (nbuckets(first_ms, last_ms, days * 86400000LL) > 60)
            days++;
        best = days * 86400000LL;
    }
    return best;
}
