/* Unit tests for proxy/diff/jsonline.c: the line is jansson's compact dump
 * (at the precision jsonline_digits picks) with U+0085, U+2028 and U+2029
 * escaped, byte for byte, on fixed values and on many generated trees. */
#include <stdint.h>
#include <string.h>

#include "diff/jsonline.h"
#include "unit.h"

/* What the record line was before jsonline: json_dumps, the separators
 * replaced, '\n'. */
static char *reference(const json_t *v)
{
    char *d = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY |
                                JSON_REAL_PRECISION(jsonline_digits(v)));
    if (!d)
        return NULL;
    size_t n = strlen(d);
    char *r = malloc(n * 3 + 2), *w = r;
    for (size_t i = 0; r && i < n; i++) {
        const unsigned char *u = (const unsigned char *)d + i;
        if (u[0] == 0xC2 && u[1] == 0x85) {
            w += sprintf(w, "\\u0085"), i += 1;
        } else if (u[0] == 0xE2 && u[1] == 0x80 && (u[2] == 0xA8 || u[2] == 0xA9)) {
            w += sprintf(w, u[2] == 0xA8 ? "\\u2028" : "\\u2029"), i += 2;
        } else {
            *w++ = (char)u[0];
        }
    }
    if (r) {
        *w++ = '\n';
        *w = '\0';
    }
    free(d);
    return r;
}

static int same_as_reference(json_t *v)
{
    size_t len = 0;
    char *got = jsonline_dump(v, &len), *want = reference(v);
    int ok = got && want && strcmp(got, want) == 0 && len == strlen(got);
    if (!ok)
        fprintf(stderr, "  got  %s  want %s", got ? got : "(null)\n", want ? want : "(null)\n");
    free(got);
    free(want);
    return ok;
}

TEST(fixed_values)
{
    json_t *v = json_loads(unit_q("{'a':1,'b':[true,false,null,-0.0,1e300,1e-7,19.99,"
                                  "0.1,123456789012345678,-9223372036854775807],"
                                  "'':{},'e':[],'s':'q\\'\\\\/\\b\\f\\n\\r\\t\\u0001\\u001f\\u007f',"
                                  "'u':'caf\\u00e9 \\u20ac \\ud83d\\ude00 \\u0085\\u2028\\u2029\\u00c2',"
                                  "'nested':{'x':[[{'y':[1.5]}]]}}"),
                           0, NULL);
    CHECK(v != NULL);
    CHECK(same_as_reference(v));
    size_t len;
    char *line = jsonline_dump(v, &len);
    CHECK(line && strstr(line, "\\u2028\\u2029") && strstr(line, "\\u0085"));
    CHECK(line && strstr(line, "\\u001F") && strstr(line, "\"\":{}"));
    CHECK(line && strchr(line, '\n') == line + len - 1);
    free(line);
    json_decref(v);
}

TEST(reals_and_scalars)
{
    const double reals[] = {0.0, -0.0, 1.0, -1.5, 100.0, 1e15, 1e16, 1e17, 1e21, 1e-5,
                            1.0 / 3, 2.0 / 3, 123.456, 5e-324, 1.7976931348623157e308,
                            223.854, 0.000123, 12345678.9};
    for (size_t i = 0; i < sizeof reals / sizeof *reals; i++) {
        json_t *r = json_real(reals[i]);
        CHECK(same_as_reference(r));
        json_t *a = json_pack("[f,f]", reals[i], 0.1);
        CHECK(same_as_reference(a));
        json_decref(r);
        json_decref(a);
    }
    json_t *s = json_stringn("a\0b", 3);
    CHECK(same_as_reference(s));
    char *line = jsonline_dump(s, NULL);
    CHECK_STR(line, "\"a\\u0000b\"\n");
    free(line);
    json_decref(s);
    CHECK(jsonline_dump(NULL, NULL) == NULL);
}

/* A small deterministic generator (xorshift) of nested values. */
static uint32_t rnd_state = 2463534242u;
static uint32_t rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 17;
    rnd_state ^= rnd_state << 5;
    return rnd_state;
}

static json_t *random_string(void)
{
    static const char *const pieces[] = {"a", "Z", " ", "\"", "\\", "/", "\n", "\t", "\x01",
                                         "\x1f", "\x7f", "\xc3\xa9", "\xc2\x85", "\xc2\xa0",
                                         "\xe2\x80\xa8", "\xe2\x80\xa9", "\xe2\x82\xac",
                                         "\xf0\x9f\x98\x80", "order_id", "{}", ":,"};
    char buf[256];
    size_t n = 0, k = rnd() % 12;
    for (size_t i = 0; i < k; i++) {
        const char *p = pieces[rnd() % (sizeof pieces / sizeof *pieces)];
        size_t pl = strlen(p);
        memcpy(buf + n, p, pl);
        n += pl;
    }
    return json_stringn(buf, n);
}

static json_t *random_value(int depth)
{
    switch (rnd() % (depth > 4 ? 6 : 8)) {
    case 0: return json_integer((json_int_t)(int32_t)rnd() * (json_int_t)(rnd() % 1000));
    case 1: return json_real((double)(int32_t)rnd() / (double)(1 + rnd() % 100000));
    case 2: return random_string();
    case 3: return rnd() % 2 ? json_true() : json_false();
    case 4: return json_null();
    case 5: return json_real((double)(rnd() % 1000) / 8.0);
    case 6: {
        json_t *a = json_array();
        for (uint32_t i = 0, n = rnd() % 5; i < n; i++)
            json_array_append_new(a, random_value(depth + 1));
        return a;
    }
    default: {
        json_t *o = json_object();
        for (uint32_t i = 0, n = rnd() % 5; i < n; i++) {
            json_t *k = random_string();
            json_object_setn_new(o, json_string_value(k), json_string_length(k),
                                 random_value(depth + 1));
            json_decref(k);
        }
        return o;
    }
    }
}

/* jsonline_real_digits' shortcut for short decimals (no printing) gives
 * the digits printing and reading back gives: on prices and quantities
 * (cents and mills up to 10^12), integers near 2^53, tiny and huge
 * values, and 300,000 doubles of random bits. */
TEST(real_digits_shortcut_agrees)
{
    size_t disagree = 0, short15 = 0, n = 0;
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 300000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift64 */
        double d;
        switch (i % 6) {
        case 0: d = (double)(int64_t)(x % 100000000000000ull) / 100; break;  /* cents */
        case 1: d = (double)(int64_t)(x % 1000000000ull) / 1000; break;      /* mills */
        case 2: d = -(double)(x % 10000000ull) / 1000000; break;             /* 6 places */
        case 3: d = (double)(x >> 11) * (i % 2 ? 1.0 : 1e-3); break;         /* near 2^53 */
        case 4: memcpy(&d, &x, sizeof d); break;                             /* any bits */
        default: d = (double)(x % 100000) / 7; break;                        /* long fractions */
        }
        if (d != d)
            continue; /* NaN: never a JSON real */
        int a = jsonline_real_digits(d), b = jsonline_real_digits_by_printf(d);
        n++;
        short15 += a == 15;
        if (a != b && disagree++ < 5)
            fprintf(stderr, "  %.17g: %d digits, printf says %d\n", d, a, b);
    }
    const double edge[] = {0.0, -0.0, 1e15, -1e15, 999999999999999.0, 1e-5, 0.1, 0.7,
                           9007199254740993.0, 1e300, 5e-324, 19.99, 160.65, -25.65};
    for (size_t i = 0; i < sizeof edge / sizeof *edge; i++)
        disagree += jsonline_real_digits(edge[i]) != jsonline_real_digits_by_printf(edge[i]);
    CHECK(disagree == 0);
    CHECK(short15 > n / 3 && short15 < n); /* both ways were taken */
}

TEST(generated_trees)
{
    int bad = 0;
    for (int i = 0; i < 3000 && bad < 3; i++) {
        json_t *v = random_value(0);
        if (!same_as_reference(v))
            bad++;
        json_decref(v);
    }
    CHECK(bad == 0);
}

/* jsonline_fits says what the dump's length says, at the boundary, and
 * never fits where jansson's own dump (the record's old measure) would not. */
TEST(fits_as_the_dump_measures)
{
    int bad = 0;
    for (int i = 0; i < 3000 && bad < 3; i++) {
        json_t *v = random_value(0);
        size_t len = 0;
        char *line = jsonline_dump(v, &len);
        char *jd = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY |
                                     JSON_REAL_PRECISION(jsonline_digits(v)));
        size_t n = len - 1; /* without the '\n' */
        bool ok = line && jd && strlen(jd) <= n && jsonline_fits(v, n) &&
                  (n == 0 || !jsonline_fits(v, n - 1)) && jsonline_fits(v, n + 1) &&
                  (n < 2 || !jsonline_fits(v, n / 2));
        if (!ok && bad++ < 3)
            fprintf(stderr, "  %s: fits disagrees with its length %zu\n", line ? line : "?", n);
        free(line);
        free(jd);
        json_decref(v);
    }
    CHECK(bad == 0);
    CHECK(!jsonline_fits(NULL, 100));
}

int main(void)
{
    RUN(fixed_values);
    RUN(reals_and_scalars);
    RUN(generated_trees);
    RUN(fits_as_the_dump_measures);
    RUN(real_digits_shortcut_agrees);
    UNIT_DONE();
}
