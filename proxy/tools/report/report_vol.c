/* report_vol: the volatility heuristics behind noise suggestions
 * (report_util.h): what a date-time, a UUID, a hex id or an epoch looks
 * like, and whether a field's values over many exchanges look like noise
 * (volatile) rather than a real change. */
#include "tools/report/report_util.h"

#include <ctype.h>
#include <string.h>

/* n digits at *p (advanced); -1 if not. */
static int take_digits(const char **p, int n)
{
    for (int i = 0; i < n; i++)
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
    *p += n;
    return 0;
}

/* ---- volatility ------------------------------------------------------------------ */

static bool hexrun(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]))
            return false;
    return true;
}

bool report_looks_uuid(const char *s)
{
    static const size_t parts[] = {8, 4, 4, 4, 12};
    if (!s || strlen(s) != 36)
        return false;
    const char *p = s;
    for (size_t i = 0; i < 5; i++) {
        if (!hexrun(p, parts[i]))
            return false;
        p += parts[i];
        if (i < 4 && *p++ != '-')
            return false;
    }
    return true;
}

bool report_looks_hexid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 8 || !hexrun(s, n))
        return false;
    bool digit = false, letter = false;
    for (size_t i = 0; i < n; i++) {
        if (isdigit((unsigned char)s[i]))
            digit = true;
        else
            letter = true;
    }
    return digit && letter;
}

bool report_looks_datetime(const char *s)
{
    if (!s || strlen(s) < 16)
        return false;
    const char *p = s;
    if (take_digits(&p, 4) < 0 || *p++ != '-' || take_digits(&p, 2) < 0 || *p++ != '-' ||
        take_digits(&p, 2) < 0)
        return false;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return false;
    p++;
    if (take_digits(&p, 2) < 0 || *p++ != ':' || take_digits(&p, 2) < 0)
        return false;
    if (*p == ':') {
        p++;
        if (take_digits(&p, 2) < 0)
            return false;
        if (*p == '.' || *p == ',') {
            p++;
            if (!isdigit((unsigned char)*p))
                return false;
            while (isdigit((unsigned char)*p))
                p++;
        }
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        p++;
        if (take_digits(&p, 2) < 0)
            return false;
        if (*p == ':')
            p++;
        if (take_digits(&p, 2) < 0)
            return false;
    } else if (*p == ' ' && isalpha((unsigned char)p[1])) { /* "... UTC" */
        p++;
        while (isalpha((unsigned char)*p))
            p++;
    }
    return *p == '\0';
}

bool report_looks_epoch(long double x)
{
    const long double lo = 978307200.0L, hi = 4102444800.0L; /* 2001-01-01, 2100-01-01 */
    return (x >= lo && x < hi) || (x >= lo * 1000 && x < hi * 1000);
}

static uint64_t fnv(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* Equal ignoring ASCII case and blanks. */
static bool alike(const char *a, size_t an, const char *b, size_t bn)
{
    size_t i = 0, j = 0;
    for (;;) {
        while (i < an && isspace((unsigned char)a[i]))
            i++;
        while (j < bn && isspace((unsigned char)b[j]))
            j++;
        if (i == an || j == bn)
            return i == an && j == bn;
        if (tolower((unsigned char)a[i]) != tolower((unsigned char)b[j]))
            return false;
        i++;
        j++;
    }
}

static bool contains(const char *hay, size_t hn, const char *needle, size_t nn)
{
    return nn >= 3 && nn <= hn && memmem(hay, hn, needle, nn) != NULL;
}

static void classify(report_vol *v, const json_t *x)
{
    if (!x || json_is_object(x) || json_is_array(x) || json_is_null(x))
        return;
    v->values++;
    long double num;
    int dec;
    if (json_is_string(x)) {
        const char *s = json_string_value(x);
        if (report_looks_datetime(s))
            v->datetime++;
        else if (report_looks_uuid(s))
            v->uuid++;
        else if (report_looks_hexid(s))
            v->hexid++;
        else if (report_number_of(x, &num, &dec) && report_looks_epoch(num))
            v->epoch++;
    } else if (json_is_number(x) && report_number_of(x, &num, &dec) && report_looks_epoch(num)) {
        v->epoch++;
    }
}

void report_vol_observe(report_vol *v, const json_t *legacy, const json_t *neu)
{
    v->observations++;
    classify(v, legacy);
    classify(v, neu);
    const json_t *primary = neu ? neu : legacy;
    long double num;
    int dec;
    if (primary && json_is_number(primary) && report_number_of(primary, &num, &dec)) {
        if (v->has_prev_num) {
            v->num_pairs++;
            v->incr += num > v->prev_num;
            v->decr += num < v->prev_num;
        }
        v->prev_num = num;
        v->has_prev_num = true;
    }
    if (primary && json_is_string(primary)) {
        uint64_t h = fnv(json_string_value(primary), json_string_length(primary));
        if (v->has_prev_str) {
            v->str_pairs++;
            v->str_changed += h != v->prev_hash;
        }
        v->prev_hash = h;
        v->has_prev_str = true;
    }
    if (legacy && neu && json_typeof(legacy) != json_typeof(neu) &&
        !(json_is_number(legacy) && json_is_number(neu)))
        v->related++; /* a type change (16 against "16") is a bug, not noise */
    if (json_is_string(legacy) && json_is_string(neu)) {
        const char *a = json_string_value(legacy), *b = json_string_value(neu);
        size_t an = json_string_length(legacy), bn = json_string_length(neu);
        if (alike(a, an, b, bn) || contains(a, an, b, bn) || contains(b, bn, a, an))
            v->related++;
    }
}

static bool most(uint64_t part, uint64_t whole) { return whole > 0 && part * 10 >= whole * 9; }

const char *report_vol_reason(const report_vol *v, uint64_t min)
{
    if (v->observations >= min) {
        if (most(v->datetime, v->values))
            return "date-time values";
        if (most(v->uuid, v->values))
            return "UUIDs";
        if (most(v->hexid, v->values))
            return "hex ids";
        if (most(v->epoch, v->values))
            return "epoch-like numbers";
    }
    if (min > 0 && v->num_pairs + 1 >= min &&
        (most(v->incr, v->num_pairs) || most(v->decr, v->num_pairs)))
        return "monotonic numbers";
    if (min > 0 && v->str_pairs + 1 >= min && most(v->str_changed, v->str_pairs) && v->related == 0)
        return "always different values";
    return NULL;
}
