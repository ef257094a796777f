/* Unit tests: the pure parts of `shadowproxy report` (report_util.c):
 * times, generalized paths, pointers, quantiles, drift bucket widths, sums,
 * the JSON writer and the volatility heuristics. */
#include "base/pathpat.h"
#include "tools/report/report_noise.h"
#include "tools/report/report_util.h"
#include "unit.h"

#include <stdlib.h>

static char *gen(const char *where, const char *path)
{
    static char buf[512];
    char *g = report_path_generalize(where, path);
    snprintf(buf, sizeof buf, "%s", g ? g : "(null)");
    free(g);
    return buf;
}

static char *pat(const char *g)
{
    static char buf[512];
    char *p = report_path_pattern(g);
    snprintf(buf, sizeof buf, "%s", p ? p : "(null)");
    free(p);
    return buf;
}

TEST(path_generalize)
{
    CHECK_STR(gen("body", "/items/0/sku"), "/items/*/sku");
    CHECK_STR(gen("body", "/items/12/lines/3"), "/items/*/lines/*");
    CHECK_STR(gen("body", "/items/sku=MB01/price"), "/items/sku=*/price");
    CHECK_STR(gen("body", "/items/sku=MB01#2/price"), "/items/sku=*/price");
    CHECK_STR(gen("body", "/packages/#3/weight_g"), "/packages/*/weight_g");
    CHECK_STR(gen("body", "/totals/tax"), "/totals/tax");
    CHECK_STR(gen("body", ""), "");
    CHECK_STR(gen("body", "/"), "/");
    CHECK_STR(gen("body", "/a~1b/0"), "/a~1b/*");
    CHECK_STR(gen("body", "/#/x"), "/#/x");  /* "#" alone is a name */
    CHECK_STR(gen("body", "/=x/1"), "/=x/*"); /* no key before '=' */
    CHECK_STR(gen("body", "/12"), "/*");     /* a text body's line */
    /* headers and status are names, not pointers */
    CHECK_STR(gen("header", "Content-Type"), "Content-Type");
    CHECK_STR(gen("header", "X-0"), "X-0");
    CHECK_STR(gen("status", ""), "");
}

TEST(path_pattern_is_a_valid_rules_pattern)
{
    CHECK_STR(pat("/items/sku=*/updated_at"), "/items/*/updated_at");
    CHECK_STR(pat("/items/*/x"), "/items/*/x");
    CHECK_STR(pat("/updated_at"), "/updated_at");
    const char *samples[] = {"/items/sku=*/updated_at", "/a~1b/*", "/updated_at"};
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        char *p = report_path_pattern(samples[i]);
        path_pattern pp;
        const char *why = NULL;
        CHECK(p && path_pattern_compile(&pp, p, &why) == 0);
        if (p && why == NULL) {
            CHECK(path_pattern_match_str(&pp, "/items/0/updated_at") ||
                  !path_pattern_match_str(&pp, "/nothing"));
            path_pattern_free(&pp);
        }
        free(p);
    }
    /* and the pattern of a keyed path matches the body's index path */
    char *p = report_path_pattern("/items/sku=*/updated_at");
    path_pattern pp;
    const char *why;
    CHECK(path_pattern_compile(&pp, p, &why) == 0);
    CHECK(path_pattern_match_str(&pp, "/items/3/updated_at"));
    CHECK(path_pattern_match_str(&pp, "/items/sku=MB01/updated_at"));
    path_pattern_free(&pp);
    free(p);
}

TEST(pointers)
{
    json_t *doc = json_loads("{\"a\":{\"b/c\":[10,{\"~k\":\"v\"}]},\"\":1}", 0, NULL);
    CHECK(json_integer_value(report_pointer_get(doc, "/a/b~1c/0")) == 10);
    CHECK_STR(json_string_value(report_pointer_get(doc, "/a/b~1c/1/~0k")), "v");
    CHECK(report_pointer_get(doc, "") == doc);
    CHECK(json_integer_value(report_pointer_get(doc, "/")) == 1);
    CHECK(report_pointer_get(doc, "/a/b~1c/2") == NULL);
    CHECK(report_pointer_get(doc, "/a/b~1c/01") == NULL);
    CHECK(report_pointer_get(doc, "/a/x") == NULL);
    CHECK(report_pointer_get(doc, "a") == NULL);
    CHECK(report_pointer_valid(""));
    CHECK(report_pointer_valid("/totals/grand_total"));
    CHECK(!report_pointer_valid("totals"));
    CHECK(!report_pointer_valid("/a~2"));
    json_decref(doc);
}

static char *res(const json_t *body, const char *path)
{
    static char buf[256];
    char *r = report_path_resolve(body, path);
    snprintf(buf, sizeof buf, "%s", r ? r : "(none)");
    free(r);
    return buf;
}

TEST(path_resolve_keyed_selectors)
{
    json_t *b = json_loads("{\"items\":[{\"sku\":\"A\",\"p\":1},{\"sku\":\"B\",\"p\":2},"
                           "{\"sku\":\"B\",\"p\":3},{\"p\":4},{\"sku\":7,\"p\":5}],"
                           "\"a/b\":{\"c\":1}}", 0, NULL);
    CHECK_STR(res(b, "/items/sku=B/p"), "/items/1/p");
    CHECK_STR(res(b, "/items/sku=B#2/p"), "/items/2/p");
    CHECK_STR(res(b, "/items/#3/p"), "/items/3/p");
    CHECK_STR(res(b, "/items/sku=7"), "/items/4");
    CHECK_STR(res(b, "/items/0/p"), "/items/0/p");
    CHECK_STR(res(b, "/a~1b/c"), "/a~1b/c");
    CHECK_STR(res(b, "/items/sku=Z/p"), "(none)");
    CHECK_STR(res(b, "/items/9"), "(none)");
    CHECK_STR(res(b, ""), "");
    json_decref(b);
}

static int64_t t(const char *s)
{
    int64_t ms = -1;
    if (report_parse_time(s, 1000000000000, true, &ms) != 0)
        return -1;
    return ms;
}

TEST(times)
{
    CHECK(t("1970-01-01T00:00:00Z") == 0);
    CHECK(t("2026-11-24T13:00:00Z") == 1795525200000);
    CHECK(t("2026-11-24T13:00:00.250Z") == 1795525200250);
    CHECK(t("2026-11-24T14:00:00+01:00") == 1795525200000);
    CHECK(t("2026-11-24T08:00:00-05:00") == 1795525200000);
    CHECK(t("2026-11-24 13:00:00") == 1795525200000); /* no zone: UTC */
    CHECK(t("2026-11-24t13:00z") == 1795525200000);
    CHECK(t("2026-11-24") == 1795478400000);
    CHECK(t("2024-02-29") > 0);
    CHECK(t("2023-02-29") == -1);
    CHECK(t("2026-13-01") == -1);
    CHECK(t("2026-11-24T25:00:00Z") == -1);
    CHECK(t("2026-11-24T13:00:00Zjunk") == -1);
    CHECK(t("") == -1);
    CHECK(t("30m") == 1000000000000 - 30 * 60000);
    CHECK(t("2h") == 1000000000000 - 2 * 3600000);
    CHECK(t("7d") == 1000000000000 - 7 * 86400000LL);
    CHECK(t("90s") == 1000000000000 - 90000);
    CHECK(t("now") == 1000000000000);
    CHECK(t("7x") == -1);
    CHECK(t("m") == -1);
    CHECK(t("-3h") == -1);
    int64_t ms;
    CHECK(report_parse_time("30m", 0, false, &ms) == -1); /* record ts: absolute only */
    char buf[40];
    report_format_time(1795525200123, true, buf, sizeof buf);
    CHECK_STR(buf, "2026-11-24T13:00:00.123Z");
    report_format_time(-1, true, buf, sizeof buf);
    CHECK_STR(buf, "1969-12-31T23:59:59.999Z");
    report_format_time(951782400000, false, buf, sizeof buf);
    CHECK_STR(buf, "2000-02-29T00:00:00Z");
    report_format_duration(900000, buf, sizeof buf);
    CHECK_STR(buf, "15m");
    report_format_duration(86400000 * 3LL, buf, sizeof buf);
    CHECK_STR(buf, "3d");
}

TEST(quantiles)
{
    float v[100];
    for (int i = 0; i < 100; i++)
        v[i] = (float)(i + 1); /* 1..100 */
    CHECK(report_quantile(v, 100, 0.5) == 50);
    CHECK(report_quantile(v, 100, 0.99) == 99);
    CHECK(report_quantile(v, 100, 1.0) == 100);
    CHECK(report_quantile(v, 1, 0.5) == 1);
    CHECK(report_quantile(v, 1, 0.99) == 1);
    CHECK(report_quantile(v, 4, 0.5) == 2);  /* nearest rank: ceil(2) */
    CHECK(report_quantile(v, 3, 0.5) == 2);  /* ceil(1.5) = 2 */
    CHECK(report_quantile(v, 10, 0.99) == 10);
    CHECK(report_quantile(v, 1000 / 10, 0.01) == 1);
    report_floats f = {0};
    for (int i = 0; i < 1000; i++)
        CHECK(report_floats_push(&f, (float)((i * 7919) % 1000)));
    report_floats_sort(&f);
    CHECK(f.n == 1000 && f.v[0] == 0 && f.v[999] == 999);
    CHECK(report_quantile(f.v, f.n, 0.5) == 499);
    CHECK(report_quantile(f.v, f.n, 0.99) == 989);
    report_floats_free(&f);
}

static int64_t nb(int64_t first, int64_t last)
{
    int64_t w = report_bucket_width(first, last);
    return report_floor_div(last, w) - report_floor_div(first, w) + 1;
}

TEST(bucket_sizing)
{
    const int64_t M = 60000, H = 3600000, D = 86400000;
    int64_t base = 1795525200000; /* a whole hour */
    CHECK(report_bucket_width(base, base) == M);
    CHECK(report_bucket_width(base, base + 10 * M) == M);     /* too short for 20: finest */
    CHECK(report_bucket_width(base, base + 30 * M) == M);     /* 31 buckets */
    CHECK(report_bucket_width(base, base + 2 * H) == 5 * M);  /* 25 */
    CHECK(report_bucket_width(base, base + 5 * H) == 15 * M); /* 61 at 5m, 21 at 15m */
    CHECK(report_bucket_width(base, base + 10 * H) == 15 * M); /* 41 */
    CHECK(report_bucket_width(base, base + 24 * H) == H);      /* 25 */
    CHECK(report_bucket_width(base, base + 61 * H) == H);      /* 62 beats 11 at 6h */
    CHECK(report_bucket_width(base, base + 7 * D) == 6 * H);   /* 29 */
    CHECK(report_bucket_width(base, base + 30 * D) == D);      /* 31 */
    CHECK(report_bucket_width(base, base + 365 * D) == 7 * D); /* whole days, <= 60 buckets */
    CHECK(nb(base, base + 365 * D) <= 60);
    CHECK(nb(0, 9999LL * 365 * D) <= 60);
    for (int64_t span = M; span < 400 * D; span = span * 3 / 2 + 7) {
        int64_t n = nb(base + 12345, base + 12345 + span);
        CHECK(n >= 1 && n <= 66);
        if (span >= 20 * M && span <= 60 * D)
            CHECK(n >= 10);
    }
    CHECK(report_floor_div(-1, 60000) == -1);
    CHECK(report_floor_div(59999, 60000) == 0);
    CHECK(report_floor_div(-60000, 60000) == -1);
}

static bool num(const char *json, long double *x, int *dec)
{
    json_t *v = json_loads(json, JSON_DECODE_ANY, NULL);
    bool ok = report_number_of(v, x, dec);
    json_decref(v);
    return ok;
}

static const char *dec_text(long double x, int d)
{
    static char buf[64];
    report_format_decimal(x, d, buf, sizeof buf);
    return buf;
}

TEST(numbers_and_sums)
{
    long double x;
    int d;
    CHECK(num("19.99", &x, &d) && d == 2);
    CHECK_STR(dec_text(x, 2), "19.99");
    CHECK(num("\" 12.50 \"", &x, &d) && d == 2);
    CHECK(num("\"7\"", &x, &d) && d == 0 && x == 7);
    CHECK(num("45.0", &x, &d) && d == 1 && x == 45);
    CHECK(num("1.5e-3", &x, &d) && d == 4);
    CHECK(num("-3", &x, &d) && x == -3);
    CHECK(!num("\"12,50\"", &x, &d));
    CHECK(!num("\"abc\"", &x, &d));
    CHECK(!num("\"\"", &x, &d));
    CHECK(!num("\"1e\"", &x, &d));
    CHECK(!num("true", &x, &d));
    CHECK(!num("null", &x, &d));
    CHECK(!num("[1]", &x, &d));
    /* 0.1 a million times: a plain double sum drifts, this one does not */
    report_sum s = {0};
    double plain = 0;
    for (int i = 0; i < 1000000; i++) {
        num("0.1", &x, &d);
        report_sum_add(&s, x);
        plain += 0.1;
    }
    CHECK_STR(dec_text(report_sum_value(&s), 6), "100000.000000");
    CHECK(s.count == 1000000);
    char pb[64];
    snprintf(pb, sizeof pb, "%.6f", plain);
    CHECK(strcmp(pb, "100000.000000") != 0); /* the test would not show anything otherwise */
    /* cancellation: big and small values */
    report_sum c = {0};
    report_sum_add(&c, 1e16L);
    report_sum_add(&c, 0.01L);
    report_sum_add(&c, -1e16L);
    CHECK_STR(dec_text(report_sum_value(&c), 2), "0.01");
    CHECK_STR(dec_text(-0.001L, 2), "0.00"); /* never "-0.00" */
    CHECK_STR(dec_text(-1.005L, 2), "-1.00");
    CHECK_STR(dec_text(2.5L, 9), "2.500000"); /* at most 6 decimals */
}

static const char *js(const char *json, int indent, size_t max)
{
    static char buf[1024];
    json_t *v = json_loads(json, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    strbuf b = {0};
    bool cut = report_json_append(&b, v, indent, max);
    snprintf(buf, sizeof buf, "%s%s", b.p ? b.p : "", cut ? "|CUT" : "");
    free(b.p);
    json_decref(v);
    return buf;
}

TEST(json_writer)
{
    CHECK_STR(js("{\"a\":19.99,\"b\":[1,2],\"c\":45.0,\"d\":0.30000000000000004}", -1, 0),
              "{\"a\":19.99,\"b\":[1,2],\"c\":45.0,\"d\":0.30000000000000004}");
    CHECK_STR(js("{\"a\":[1,{\"b\":null}]}", 2, 0),
              "{\n  \"a\": [\n    1,\n    {\n      \"b\": null\n    }\n  ]\n}");
    CHECK_STR(js("[1,2,\"x\"]", 2, 0), "[1, 2, \"x\"]");
    CHECK_STR(js("\"<\\u2028>\\u0000\\n\\\"\"", -1, 0), "\"<\\u2028>\\u0000\\n\\\"\"");
    CHECK_STR(js("\"h\\u00e9llo\"", -1, 0), "\"h\xc3\xa9llo\"");
    CHECK_STR(js("[\"aaaaaaaaaa\",\"bbbbbbbbbb\"]", -1, 8), "[\"aaaaaa|CUT");
    CHECK_STR(js("\"\\u00e9\\u00e9\\u00e9\"", -1, 4), "\"\xc3\xa9|CUT"); /* no half character */
    char rt[40];
    report_real_text(5000.0, rt);
    CHECK_STR(rt, "5000.0");
    report_real_text(1e300, rt);
    CHECK_STR(rt, "1e+300");
    CHECK(report_round(2.5) == 3 && report_round(-2.5) == -3 && report_round(0.4) == 0);
}

TEST(utf8)
{
    char *s = report_utf8_lossy("ok\xff\xc3\xa9\xe2\x82");
    CHECK_STR(s, "ok\xef\xbf\xbd\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd");
    free(s);
    uint32_t cp;
    CHECK(report_utf8_char((const unsigned char *)"\xed\xa0\x80", 3, &cp) == 0); /* surrogate */
    CHECK(report_utf8_char((const unsigned char *)"\xc0\xaf", 2, &cp) == 0);     /* overlong */
    CHECK(report_utf8_char((const unsigned char *)"\xe2\x80\xae", 3, &cp) == 3 && cp == 0x202e);
}

TEST(strdup_max)
{
    char *s = report_strdup_max("abcdef", 6);
    CHECK_STR(s, "abcdef");
    free(s);
    s = report_strdup_max("abcdefg", 6);
    CHECK_STR(s, "abcdef\xe2\x80\xa6");
    free(s);
    s = report_strdup_max("ab\xc3\xa9\xc3\xa9", 3); /* never half a character */
    CHECK_STR(s, "ab\xe2\x80\xa6");
    free(s);
}

TEST(volatile_values)
{
    CHECK(report_looks_datetime("2026-11-24T13:41:22.123Z"));
    CHECK(report_looks_datetime("2024-01-01 07:18:12"));
    CHECK(report_looks_datetime("2024-01-01T08:18:12+01:00"));
    CHECK(report_looks_datetime("2024-01-01T08:18"));
    CHECK(!report_looks_datetime("2024-01-01"));
    CHECK(!report_looks_datetime("pending"));
    CHECK(!report_looks_datetime("2024-01-01T08:18:12+01:00 and more"));
    CHECK(report_looks_uuid("7f3a9c2e-5b1d-4e8f-9a6b-0c4d2e1f3a5b"));
    CHECK(!report_looks_uuid("7f3a9c2e-5b1d-4e8f-9a6b-0c4d2e1f3a5"));
    CHECK(!report_looks_uuid("7f3a9c2e5b1d-4e8f-9a6b-0c4d2e1f3a5b"));
    CHECK(report_looks_hexid("9f86d081884c7d65"));
    CHECK(!report_looks_hexid("12345678"));  /* a number */
    CHECK(!report_looks_hexid("deadbeef"));  /* a word */
    CHECK(!report_looks_hexid("9f86d0"));    /* short */
    CHECK(report_looks_epoch(1795957200.0L));
    CHECK(report_looks_epoch(1795525200123.0L));
    CHECK(!report_looks_epoch(19.99L));
    CHECK(!report_looks_epoch(100000.0L));
}

static const char *vol_of(const char *const *legacy, const char *const *neu, int n)
{
    report_vol v = {0};
    for (int i = 0; i < n; i++) {
        json_t *l = legacy[i] ? json_loads(legacy[i], JSON_DECODE_ANY, NULL) : NULL;
        json_t *w = neu[i] ? json_loads(neu[i], JSON_DECODE_ANY, NULL) : NULL;
        report_vol_observe(&v, l, w);
        json_decref(l);
        json_decref(w);
    }
    return report_vol_reason(&v, 5);
}

TEST(volatility_detection)
{
    const char *ts_l[] = {"\"2024-01-01 07:18:12\"", "\"2024-01-02 07:18:12\"", "\"2024-01-03 07:18:12\"",
                          "\"2024-01-04 07:18:12\"", "\"2024-01-05 07:18:12\"", "\"2024-01-06 07:18:12\""};
    const char *ts_n[] = {"\"2026-11-24 13:00:01\"", "\"2026-11-24 13:00:02\"", "\"2026-11-24 13:00:03\"",
                          "\"2026-11-24 13:00:04\"", "\"2026-11-24 13:00:05\"", "\"2026-11-24 13:00:06\""};
    CHECK_STR(vol_of(ts_l, ts_n, 6), "date-time values");
    CHECK(vol_of(ts_l, ts_n, 4) == NULL); /* too few */
    const char *id_l[] = {"\"ERP-000001-1A2B\"", "\"ERP-000002-3C4D\"", "\"ERP-000003-5E6F\"",
                          "\"ERP-000004-7A8B\"", "\"ERP-000005-9C0D\"", "\"ERP-000006-1E2F\""};
    const char *id_n[] = {"\"SO00000001-3F9A1C\"", "\"SO00000002-1B2C3D\"", "\"SO00000003-4E5F6A\"",
                          "\"SO00000004-7B8C9D\"", "\"SO00000005-0E1F2A\"", "\"SO00000006-3B4C5D\""};
    CHECK_STR(vol_of(id_l, id_n, 6), "always different values");
    const char *u_n[] = {"\"7f3a9c2e-5b1d-4e8f-9a6b-0c4d2e1f3a5b\"", "\"8f3a9c2e-5b1d-4e8f-9a6b-0c4d2e1f3a5b\"",
                         "\"9f3a9c2e-5b1d-4e8f-9a6b-0c4d2e1f3a5b\"", "\"af3a9c2e-5b1d-4e8f-9a6b-0c4d2e1f3a5b\"",
                         "\"bf3a9c2e-5b1d-4e8f-9a6b-0c4d2e1f3a5b\""};
    const char *none[] = {NULL, NULL, NULL, NULL, NULL, NULL};
    CHECK_STR(vol_of(none, u_n, 5), "UUIDs"); /* added on the new side */
    const char *h_n[] = {"\"9f86d081884c\"", "\"1b4f0e9851971\"", "\"a3c5e1f2d4b6\"", "\"c0ffee123456\"",
                         "\"0badf00d4321\""};
    CHECK_STR(vol_of(none, h_n, 5), "hex ids");
    const char *e_l[] = {"1795957200", "1795957201", "1795957205", "1795957203", "1795957209"};
    const char *e_n[] = {"1795957300", "1795957100", "1795957400", "1795957000", "1795957500"};
    CHECK_STR(vol_of(e_l, e_n, 5), "epoch-like numbers");
    const char *m_l[] = {"1", "1", "1", "1", "1", "1"};
    const char *m_n[] = {"101", "102", "105", "230", "231", "400"};
    CHECK_STR(vol_of(m_l, m_n, 6), "monotonic numbers");
    /* real bugs are not noise */
    const char *tax_l[] = {"2.66", "5.32", "1.2", "9.5", "3.3", "4.4"};
    const char *tax_n[] = {"2.67", "5.33", "1.21", "9.51", "3.31", "4.41"};
    CHECK(vol_of(tax_l, tax_n, 6) == NULL); /* numbers that go up and down */
    const char *st_l[] = {"\"pending\"", "\"pending\"", "\"pending\"", "\"pending\"", "\"pending\""};
    const char *st_n[] = {"\"new\"", "\"new\"", "\"new\"", "\"new\"", "\"new\""};
    CHECK(vol_of(st_l, st_n, 5) == NULL); /* always the same change */
    const char *em_l[] = {"\"a@x.com\"", "\"b@x.com\"", "\"c@x.com\"", "\"d@x.com\"", "\"e@x.com\""};
    const char *em_n[] = {"\"A@X.COM\"", "\"B@X.COM\"", "\"C@X.COM\"", "\"D@X.COM\"", "\"E@X.COM\""};
    CHECK(vol_of(em_l, em_n, 5) == NULL); /* a case change: normalise, don't ignore */
    const char *nm_l[] = {"\"Joust Bag\"", "\"Strive Bag\"", "\"Crown Bag\"", "\"Wayfarer Bag\"", "\"Rival Bag\""};
    const char *nm_n[] = {"\"Joust Bag (old)\"", "\"Strive Bag (old)\"", "\"Crown Bag (old)\"",
                          "\"Wayfarer Bag (old)\"", "\"Rival Bag (old)\""};
    CHECK(vol_of(nm_l, nm_n, 5) == NULL); /* one inside the other */
    const char *q_l[] = {"16", "3", "8", "12", "5"};
    const char *q_n[] = {"\"16\"", "\"3\"", "\"8\"", "\"12\"", "\"5\""};
    CHECK(vol_of(q_l, q_n, 5) == NULL); /* a type change */
}

/* One difference per exchange, values from two printf patterns with i. */
static void observe_n(noise_field *f, int n, const char *lfmt, const char *nfmt, bool nnum)
{
    for (int i = 1; i <= n; i++) {
        char l[64], v[64];
        snprintf(l, sizeof l, lfmt, i);
        snprintf(v, sizeof v, nfmt, i);
        json_t *a = json_string(l), *b = nnum ? json_integer(atoi(v)) : json_string(v);
        noise_observe(f, (uint64_t)i, a, b);
        json_decref(a);
        json_decref(b);
    }
    noise_finish(f);
}

TEST(noise_decisions)
{
    json_t *a = json_string("2024-01-01 07:18:12"), *b = json_string("2024-01-01T08:18:12+01:00");
    CHECK(noise_fixes(a, b) == 1u << NOISE_DATETIME);
    json_decref(b);
    b = json_string("2024-01-01T07:18:13Z");
    CHECK(noise_fixes(a, b) == 0);
    CHECK(noise_fixes(a, NULL) == 0);
    json_decref(a);
    json_decref(b);
    a = json_pack("{s:f, s:[i]}", "x", 45.0, "y", 1);
    b = json_pack("{s:[i], s:i}", "y", 1, "x", 45);
    CHECK(noise_equal(a, b));
    json_decref(a);
    json_decref(b);

    /* the same instant in every exchange: normalize, not ignore */
    noise_field f = {0};
    observe_n(&f, 20, "2024-01-01 07:%02d:00", "2024-01-01T08:%02d:00+01:00", false);
    noise_verdict v = noise_decide(&f, 20);
    CHECK(v.rule == NOISE_NORMALIZE && v.flag == NOISE_DATETIME);
    CHECK_STR(noise_flag_name(v.flag), "datetime");
    /* other instants every time: generated, ignore */
    f = (noise_field){0};
    observe_n(&f, 20, "2024-01-01 07:%02d:00", "2026-11-24T13:%02d:07Z", false);
    v = noise_decide(&f, 20);
    CHECK(v.rule == NOISE_IGNORE && strcmp(v.reason, "date-time values") == 0);
    /* a number as a string in most exchanges: number_strings */
    f = (noise_field){0};
    observe_n(&f, 12, "%d", "%d", true);
    v = noise_decide(&f, 20);
    CHECK(v.rule == NOISE_NORMALIZE && v.flag == NOISE_NUMBER);
    /* ... but in a minority of the exchanges with the field: a bug, no rule */
    v = noise_decide(&f, 40);
    CHECK(v.rule == NOISE_NONE);
    /* generated values in 85% of exchanges: under 90%, no ignore */
    f = (noise_field){0};
    observe_n(&f, 17, "ERP-%06d-1A2B", "SO%08d-3F9A1C", false);
    CHECK(noise_decide(&f, 20).rule == NOISE_NONE);
    CHECK(noise_decide(&f, 18).rule == NOISE_IGNORE);
    /* too few exchanges */
    f = (noise_field){0};
    observe_n(&f, 4, "2024-01-01 07:%02d:00", "2024-01-01T08:%02d:00+01:00", false);
    CHECK(noise_decide(&f, 4).rule == NOISE_NONE);
}

int main(void)
{
    RUN(noise_decisions);
    RUN(path_generalize);
    RUN(path_pattern_is_a_valid_rules_pattern);
    RUN(pointers);
    RUN(path_resolve_keyed_selectors);
    RUN(times);
    RUN(quantiles);
    RUN(bucket_sizing);
    RUN(numbers_and_sums);
    RUN(json_writer);
    RUN(utf8);
    RUN(strdup_max);
    RUN(volatile_values);
    RUN(volatility_detection);
    UNIT_DONE();
}
