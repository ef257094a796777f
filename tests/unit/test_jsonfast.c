/* Unit tests for proxy/diff/jsonfast.c: every document, valid or not, loads
 * as json_loadb(JSON_DECODE_ANY | JSON_ALLOW_NUL) loads it: the same types,
 * string bytes, member order, integers and reals bit for bit, and for an
 * invalid one the same error (text, line, column, position). Each input is
 * copied into a buffer of exactly its length (not NUL-terminated), so that
 * ASan sees a read past the end. */
#include <stdint.h>

#include "diff/jsonfast.h"
#include "unit.h"

static bool same_value(const json_t *a, const json_t *b)
{
    if (json_typeof(a) != json_typeof(b))
        return false;
    switch (json_typeof(a)) {
    case JSON_OBJECT: {
        if (json_object_size(a) != json_object_size(b))
            return false;
        void *ia = json_object_iter((json_t *)a), *ib = json_object_iter((json_t *)b);
        for (; ia && ib; ia = json_object_iter_next((json_t *)a, ia),
                         ib = json_object_iter_next((json_t *)b, ib)) {
            size_t la = json_object_iter_key_len(ia), lb = json_object_iter_key_len(ib);
            if (la != lb || memcmp(json_object_iter_key(ia), json_object_iter_key(ib), la) ||
                !same_value(json_object_iter_value(ia), json_object_iter_value(ib)))
                return false;
        }
        return !ia && !ib;
    }
    case JSON_ARRAY:
        if (json_array_size(a) != json_array_size(b))
            return false;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!same_value(json_array_get(a, i), json_array_get(b, i)))
                return false;
        return true;
    case JSON_STRING:
        return json_string_length(a) == json_string_length(b) &&
               memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
    case JSON_INTEGER:
        return json_integer_value(a) == json_integer_value(b);
    case JSON_REAL: {
        double x = json_real_value(a), y = json_real_value(b);
        return memcmp(&x, &y, sizeof x) == 0;
    }
    default:
        return true;
    }
}

/* 1: same as jansson (and valid), 0: same as jansson (an error), -1: not */
static int check_bytes(const char *doc, size_t len)
{
    char *buf = malloc(len ? len : 1);
    if (!buf)
        abort();
    memcpy(buf, doc, len);
    json_error_t e1, e2;
    memset(&e1, 0, sizeof e1);
    memset(&e2, 0, sizeof e2);
    json_t *fast = jsonfast_load(buf, len, &e1);
    json_t *ref = json_loadb(buf, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e2);
    int r;
    if (fast && ref)
        r = same_value(fast, ref) ? 1 : -1;
    else if (!fast && !ref)
        r = strcmp(e1.text, e2.text) == 0 && e1.line == e2.line && e1.column == e2.column &&
                    e1.position == e2.position
                ? 0
                : -1;
    else
        r = -1;
    if (r < 0)
        fprintf(stderr, "  differs from jansson (%s): %.*s\n", fast ? "loaded" : e2.text,
                (int)(len > 200 ? 200 : len), buf);
    json_decref(fast);
    json_decref(ref);
    free(buf);
    return r;
}

static int check(const char *doc)
{
    return check_bytes(doc, strlen(doc));
}

TEST(valid_documents)
{
    static const char *docs[] = {
        "{}", "[]", " { } ", "[ ]", "0", "-0", "-0.0", "1.5", "\"\"", "true", "false", "null",
        " \t\r\n[1, 2 ,3]\n", "{\"a\":1,\"b\":[true,false,null],\"c\":{\"d\":\"e\"}}",
        "{\"a\":1,\"b\":2,\"a\":3}",                     /* the last duplicate, first place */
        "9223372036854775807", "-9223372036854775808", "1e5", "1E+5", "2.5e-3", "1e-400",
        "123456789012345678901234567890.5", "0.1", "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"",
        "\"\\u0041\\u00e9\\u20AC\\ud83d\\ude00\"", "[\"\\u0000\"]", "{\"k\\u00e9y\":\"v\"}",
        "{\"a\\nb\":{\"c\\td\":1}}", "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"", "\"\x7f\"",
        "{\"x\":\"\\u00e9\",\"y\":\"\\u00e8\"}", "[[[[[[[[[[1]]]]]]]]]]",
    };
    for (size_t i = 0; i < sizeof docs / sizeof *docs; i++)
        CHECK(check(docs[i]) == 1);
}

TEST(invalid_documents)
{
    static const char *docs[] = {
        "", " ", "{", "[", "]", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "[1,]", "[1 2]", "{1:2}",
        "01", "-", "1.", ".5", "1e", "1e+", "+1", "--1", "1e400", "-1e400",
        "9223372036854775808", "-9223372036854775809", "tru", "truex", "[truefalse]", "nul",
        "nullx", "\"abc", "\"\\x\"", "\"\\u12\"", "\"\\u12G4\"", "\"\\ud800\"", "\"\\udc00\"",
        "\"\\ud800\\u0041\"", "\"\\ud800x\"", "{\"a\\u0000b\":1}", "\"\x01\"", "\"a\nb\"",
        "\"\xc0\x80\"", "\"\xc1\xbf\"", "\"\xe0\x80\x80\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"",
        "\"\xf5\x80\x80\x80\"", "\"\x80\"", "\"\xc3\"", "\"\xe2\x82\"", "\"\xc3\x28\"",
        "\xef\xbb\xbf{}", "{} {}", "[1] x", "{\"a\":1}}", "'a'", "[\xc3\xa9]", "NaN", "Infinity",
        "[1,,2]", "{,}", "{\"a\" 1}", "[-]", "1.e5", "0x10", "1 2",
    };
    for (size_t i = 0; i < sizeof docs / sizeof *docs; i++)
        CHECK(check(docs[i]) == 0);
    /* NUL bytes inside the buffer (jansson's path, whatever it makes of
     * them), and a very long number */
    CHECK(check_bytes("[1,\0 2]", 7) >= 0);
    CHECK(check_bytes("\"a\0b\"", 5) >= 0);
    CHECK(check_bytes("1\0", 2) >= 0);
    CHECK(check_bytes("1\0x", 3) >= 0);
    char longnum[200];
    memset(longnum, '7', sizeof longnum - 1);
    longnum[sizeof longnum - 1] = '\0';
    CHECK(check(longnum) == 0);  /* too big an integer */
    longnum[1] = '.';
    CHECK(check(longnum) == 1);  /* a long real: jansson's path, same value */
}

TEST(deep_nesting)
{
    /* past this scanner's depth (jansson loads it) and past jansson's */
    for (int depth = 100; depth <= 2100; depth += 1000) {
        char *d = malloc((size_t)depth * 2 + 2);
        if (!d)
            abort();
        memset(d, '[', (size_t)depth);
        memset(d + depth, ']', (size_t)depth);
        d[2 * depth] = '\0';
        CHECK(check(d) == (depth <= 2048 ? 1 : 0));
        free(d);
    }
}

/* The bench's noisy pair: a compact legacy order, a pretty-printed new one. */
TEST(orders)
{
    const char *legacy =
        "{\"id\":\"5f2b9c1e0d8a4b7c\",\"ts\":1765112345.123,\"increment_id\":\"000000042\","
        "\"status\":\"processing\",\"customer\":{\"id\":7,\"email\":\"roni_cost@example.com\"},"
        "\"lines\":[{\"sku\":\"24-MB01\",\"qty\":1,\"price\":19.0,\"row_total\":19.0},"
        "{\"sku\":\"24-MB04\",\"qty\":2,\"price\":26.5,\"row_total\":53.0}],"
        "\"totals\":{\"subtotal\":612.5,\"tax\":116.38,\"shipping\":0,\"grand_total\":728.88}}";
    const char *pretty = "{\n  \"lines\": [\n    {\n      \"sku\": \"24-MB04\",\n"
                         "      \"price\": 26.5\n    },\n    {\n      \"sku\": \"24-MB01\"\n"
                         "    }\n  ],\n  \"ts\": 1765112345.124\n}\n";
    CHECK(check(legacy) == 1);
    CHECK(check(pretty) == 1);
}

/* Random edits of valid documents (a fixed seed: the same inputs every run)
 * load as jansson loads them, whatever they have become. */
TEST(mutations)
{
    static const char *seeds[] = {
        "{\"a\":[1,2.5,-3e2,true,false,null],\"b\":{\"c\":\"d\\u00e9\\n\",\"e\":[]}}",
        "[\"caf\xc3\xa9\",\"\\ud83d\\ude00\",{\"k\":{\"k\":{\"k\":0.125}}},-0,1E-2]",
        "{\n  \"lines\": [\n    {\"sku\": \"24-MB01\", \"qty\": 1}\n  ],\n  \"x\": \"\\\"q\\\"\"\n}",
    };
    static const char pieces[] = "{}[]\":,\\u0123456789.eE+-tfnrl \t\n\x80\xc3\xa9\xed\xf0\x00";
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    int loaded = 0, failed = 0, differed = 0;
    char buf[512];
    for (int iter = 0; iter < 30000; iter++) {
        const char *seed = seeds[iter % 3];
        size_t n = strlen(seed);
        memcpy(buf, seed, n);
        int edits = 1 + (int)(rng % 3);
        for (int k = 0; k < edits; k++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            size_t at = (size_t)(rng >> 33) % (n ? n : 1);
            char c = pieces[(rng >> 17) % (sizeof pieces - 1)];
            switch ((rng >> 9) % 4) {
            case 0: buf[at] = c; break;                                       /* replace */
            case 1: if (n + 1 < sizeof buf) { memmove(buf + at + 1, buf + at, n - at); buf[at] = c; n++; } break;
            case 2: if (n > 1) { memmove(buf + at, buf + at + 1, n - at - 1); n--; } break;
            default: n = at; break;                                           /* cut */
            }
        }
        int r = check_bytes(buf, n);
        loaded += r == 1;
        failed += r == 0;
        differed += r < 0;
    }
    CHECK(differed == 0);
    CHECK(loaded > 1000 && failed > 1000); /* both paths were exercised */
}

/* Numbers take a path of their own (no strtod for short ones): every one
 * gives jansson's double, bit for bit, near the fast path's edges too. */
TEST(numbers_same_as_jansson)
{
    static const char *edges[] = {
        "9007199254740992.0", "9007199254740993.0", "9007199254740993", "1e22", "1e23",
        "-1e22", "1.5e-22", "1e-22", "1e-23", "0.1e-21", "999999999999999999",
        "-999999999999999999", "1234567890123456789", "-9223372036854775808",
        "0.000000000000000000001", "4.9e-324", "1.7976931348623157e308",
        "2.2250738585072014e-308", "-0.0", "0.0e0", "1E+0", "100000000000000000000000.0",
        "3.14159265358979323846", "0.30000000000000004", "1e0000000000000000001",
        "[0.1,0.2,0.3,1.1,2.675,1.005,8.5e-5,45.0,19.99,1e-7]",
    };
    for (size_t i = 0; i < sizeof edges / sizeof *edges; i++)
        CHECK(check(edges[i]) == 1);
    uint64_t rng = 0xD1B54A32D192ED03ull;
    int differed = 0;
    char buf[96];
    for (int iter = 0; iter < 200000; iter++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        int ndig = 1 + (int)((rng >> 40) % 20), dot = (int)((rng >> 30) % (unsigned)(ndig + 1));
        size_t n = 0;
        if (rng & 1)
            buf[n++] = '-';
        for (int d = 0; d < ndig; d++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            if (d == dot && d > 0)
                buf[n++] = '.';
            buf[n++] = (char)('0' + (d == 0 && ndig > 1 && dot != 1 ? 1 + (rng >> 50) % 9 : (rng >> 50) % 10));
        }
        if (rng & 2)
            n += (size_t)snprintf(buf + n, sizeof buf - n, "e%d", (int)((rng >> 20) % 61) - 30);
        differed += check_bytes(buf, n) < 0;
    }
    CHECK(differed == 0);
}

int main(void)
{
    RUN(valid_documents);
    RUN(invalid_documents);
    RUN(deep_nesting);
    RUN(orders);
    RUN(mutations);
    RUN(numbers_same_as_jansson);
    UNIT_DONE();
}
