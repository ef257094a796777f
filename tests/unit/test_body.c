/* Unit tests for proxy/body.c: decoding, classification, JSON parsing. */
#include "body.h"
#include "unit.h"

#include <stdlib.h>
#include <zlib.h>

#define CAP ((size_t)1 << 20)
#define SHA_X "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* Compresses with zlib: wbits 15+16 gzip, 15 zlib-wrapped, -15 raw. */
static unsigned char *squeeze(const void *in, size_t n, int wbits,
                              size_t *out_len)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, 9, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return NULL;
    size_t cap = deflateBound(&zs, (uLong)n);
    unsigned char *out = malloc(cap);
    zs.next_in = (unsigned char *)in;
    zs.avail_in = (uInt)n;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    int rc = deflate(&zs, Z_FINISH);
    *out_len = zs.total_out;
    deflateEnd(&zs);
    if (rc != Z_STREAM_END) {
        free(out);
        return NULL;
    }
    return out;
}

static int prep(body_view *v, const void *raw, size_t n, const char *ct,
                const char *ce)
{
    return body_prepare(v, raw, n, true, n, NULL, ct, ce, CAP);
}

static bool bytes_are(const body_view *v, const char *s)
{
    return v->len == strlen(s) && memcmp(v->data, s, v->len) == 0;
}

TEST(not_whole_is_oversize)
{
    body_view v;
    const unsigned char raw[] = "partial";
    CHECK(body_prepare(&v, raw, 7, false, 123456, SHA_X, "application/json",
                       NULL, CAP) == 0);
    CHECK(v.kind == BODY_OVERSIZE);
    CHECK(v.data == NULL && v.len == 0 && v.json == NULL);
    CHECK(v.wire_len == 123456);
    CHECK_STR(v.sha256, SHA_X);
    CHECK(v.decode_error == NULL);
    body_view_free(&v);
}

TEST(empty_is_none)
{
    body_view v;
    CHECK(body_prepare(&v, (const unsigned char *)"", 0, true, 0, NULL,
                       "application/json", "gzip", CAP) == 0);
    CHECK(v.kind == BODY_NONE);
    CHECK_STR(v.sha256, "");
    body_view_free(&v);
}

TEST(json_by_content_type)
{
    static const char *types[] = {
        "application/json", "application/json; charset=utf-8",
        "  Application/JSON ;charset=UTF-8", "application/problem+json",
        "application/vnd.api+json", "text/json",
    };
    for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
        body_view v;
        const char *s = "{\"a\": [1, 2]}";
        CHECK(prep(&v, s, strlen(s), types[i], NULL) == 0);
        CHECK(v.kind == BODY_JSON);
        CHECK(json_integer_value(json_array_get(json_object_get(v.json, "a"),
                                                1)) == 2);
        CHECK(bytes_are(&v, s) && v.owned == NULL);
        body_view_free(&v);
    }
}

TEST(json_scalars_parse)
{
    body_view v;
    CHECK(prep(&v, " 42 ", 4, "application/json", NULL) == 0);
    CHECK(v.kind == BODY_JSON && json_integer_value(v.json) == 42);
    body_view_free(&v);
    CHECK(prep(&v, "\"a\\u0000b\"", 10, "application/json", NULL) == 0);
    CHECK(v.kind == BODY_JSON && json_string_length(v.json) == 3);
    body_view_free(&v);
}

TEST(json_sniffing)
{
    body_view v;
    CHECK(prep(&v, " \r\n[1]", 6, NULL, NULL) == 0);
    CHECK(v.kind == BODY_JSON && json_is_array(v.json));
    body_view_free(&v);
    CHECK(prep(&v, "{}", 2, "text/plain; charset=utf-8", NULL) == 0);
    CHECK(v.kind == BODY_JSON);
    body_view_free(&v);
    /* Not sniffed under other types, nor when it does not start like JSON. */
    CHECK(prep(&v, "{}", 2, "text/html", NULL) == 0);
    CHECK(v.kind == BODY_TEXT && v.json == NULL);
    body_view_free(&v);
    CHECK(prep(&v, "42", 2, NULL, NULL) == 0);
    CHECK(v.kind == BODY_TEXT);
    body_view_free(&v);
    /* Sniffed but invalid: just text, no error (nothing claimed JSON). */
    CHECK(prep(&v, "{oops", 5, NULL, NULL) == 0);
    CHECK(v.kind == BODY_TEXT && v.decode_error == NULL);
    body_view_free(&v);
}

TEST(gzip_decoded)
{
    static const char *encodings[] = {"gzip", " GZIP ", "x-gzip",
                                      "identity, gzip", "gzip,"};
    const char *s = "{\"order\": {\"id\": 7}}";
    size_t zlen;
    unsigned char *z = squeeze(s, strlen(s), 15 + 16, &zlen);
    for (size_t i = 0; i < sizeof encodings / sizeof *encodings; i++) {
        body_view v;
        CHECK(body_prepare(&v, z, zlen, true, zlen, SHA_X, "application/json",
                           encodings[i], CAP) == 0);
        CHECK(v.kind == BODY_JSON);
        CHECK(bytes_are(&v, s) && v.owned != NULL);
        CHECK(v.wire_len == zlen);
        CHECK_STR(v.sha256, SHA_X); /* the wire hash, untouched */
        CHECK(v.decode_error == NULL);
        body_view_free(&v);
    }
    free(z);
}

TEST(gzip_concatenated_members)
{
    size_t a_len, b_len;
    unsigned char *a = squeeze("hello ", 6, 15 + 16, &a_len);
    unsigned char *b = squeeze("world", 5, 15 + 16, &b_len);
    unsigned char *ab = malloc(a_len + b_len);
    memcpy(ab, a, a_len);
    memcpy(ab + a_len, b, b_len);
    body_view v;
    CHECK(prep(&v, ab, a_len + b_len, "text/plain", "gzip") == 0);
    CHECK(v.kind == BODY_TEXT && bytes_are(&v, "hello world"));
    body_view_free(&v);
    free(a);
    free(b);
    free(ab);
}

TEST(gzip_invalid_keeps_raw)
{
    const unsigned char raw[] = "\x1f\x8b this is not gzip";
    body_view v;
    CHECK(prep(&v, raw, sizeof raw - 1, "application/json", "gzip") == 0);
    CHECK(v.kind == BODY_BINARY);
    CHECK(v.data == raw && v.len == sizeof raw - 1 && v.owned == NULL);
    CHECK_STR(v.decode_error, "gzip: invalid data");
    body_view_free(&v);
    /* Plain text labelled gzip is not gzip either. */
    CHECK(prep(&v, "hello", 5, NULL, "gzip") == 0);
    CHECK(v.kind == BODY_BINARY && v.data && bytes_are(&v, "hello"));
    CHECK_STR(v.decode_error, "gzip: invalid data");
    body_view_free(&v);
}

TEST(gzip_truncated)
{
    const char *s = "a body long enough to be cut somewhere in the middle";
    size_t zlen;
    unsigned char *z = squeeze(s, strlen(s), 15 + 16, &zlen);
    body_view v;
    CHECK(prep(&v, z, zlen - 6, NULL, "gzip") == 0);
    CHECK(v.kind == BODY_BINARY && v.data == z && v.len == zlen - 6);
    CHECK_STR(v.decode_error, "gzip: truncated data");
    body_view_free(&v);
    free(z);
}

TEST(deflate_zlib_and_raw)
{
    const char *s = "deflated text, deflated text, deflated text";
    int wbits[] = {15, -15};
    for (int i = 0; i < 2; i++) {
        size_t zlen;
        unsigned char *z = squeeze(s, strlen(s), wbits[i], &zlen);
        body_view v;
        CHECK(prep(&v, z, zlen, "text/plain", "Deflate") == 0);
        CHECK(v.kind == BODY_TEXT && bytes_are(&v, s));
        CHECK(v.decode_error == NULL);
        body_view_free(&v);
        free(z);
    }
    body_view v;
    CHECK(prep(&v, "\xff\xff\xff\xff", 4, NULL, "deflate") == 0);
    CHECK(v.kind == BODY_BINARY && v.len == 4);
    CHECK_STR(v.decode_error, "deflate: invalid data");
    body_view_free(&v);
}

TEST(stacked_codings)
{
    /* "deflate, gzip": deflate applied first, so gunzip, then inflate. */
    const char *s = "[\"twice\"]";
    size_t d_len, g_len;
    unsigned char *d = squeeze(s, strlen(s), 15, &d_len);
    unsigned char *g = squeeze(d, d_len, 15 + 16, &g_len);
    body_view v;
    CHECK(prep(&v, g, g_len, "application/json", "deflate, gzip") == 0);
    CHECK(v.kind == BODY_JSON && bytes_are(&v, s));
    body_view_free(&v);
    /* The inner coding fails: the raw bytes are kept, not the outer output. */
    size_t p_len;
    unsigned char *p = squeeze("plain", 5, 15 + 16, &p_len);
    CHECK(prep(&v, p, p_len, NULL, "gzip, gzip") == 0);
    CHECK(v.kind == BODY_BINARY && v.data == p && v.len == p_len);
    CHECK(v.owned == NULL);
    CHECK_STR(v.decode_error, "gzip: invalid data");
    body_view_free(&v);
    free(d);
    free(g);
    free(p);
}

TEST(unsupported_encoding)
{
    body_view v;
    CHECK(prep(&v, "{}", 2, "application/json", "br") == 0);
    CHECK(v.kind == BODY_BINARY && bytes_are(&v, "{}") && v.json == NULL);
    CHECK_STR(v.decode_error, "unsupported content-encoding: br");
    body_view_free(&v);
    CHECK(prep(&v, "{}", 2, NULL, "gzip, zstd ") == 0);
    CHECK_STR(v.decode_error, "unsupported content-encoding: zstd");
    body_view_free(&v);
    CHECK(prep(&v, "{}", 2, "application/json", "identity") == 0);
    CHECK(v.kind == BODY_JSON && v.decode_error == NULL);
    body_view_free(&v);
}

TEST(error_survives_move)
{
    body_view v, moved;
    CHECK(prep(&v, "x", 1, NULL, "br") == 0);
    memcpy(&moved, &v, sizeof v);
    memset(&v, 0x5a, sizeof v);
    CHECK_STR(moved.decode_error, "unsupported content-encoding: br");
    body_view_free(&moved);
}

TEST(zip_bomb_capped)
{
    size_t n = 16 << 20, zlen;
    unsigned char *zeros = calloc(1, n);
    unsigned char *z = squeeze(zeros, n, 15 + 16, &zlen);
    free(zeros);
    CHECK(zlen < 100000);
    body_view v;
    CHECK(body_prepare(&v, z, zlen, true, zlen, SHA_X, NULL, "gzip", CAP) ==
          0);
    CHECK(v.kind == BODY_OVERSIZE);
    CHECK(v.data == NULL && v.len == 0 && v.owned == NULL);
    CHECK(v.wire_len == zlen);
    CHECK_STR(v.sha256, SHA_X);
    CHECK_STR(v.decode_error, "decoded body exceeds the comparison cap");
    body_view_free(&v);
    free(z);
}

TEST(cap_boundary)
{
    size_t n = 5000, zlen;
    unsigned char *text = malloc(n);
    memset(text, 'a', n);
    unsigned char *z = squeeze(text, n, 15 + 16, &zlen);
    body_view v;
    CHECK(body_prepare(&v, z, zlen, true, zlen, NULL, NULL, "gzip", n) == 0);
    CHECK(v.kind == BODY_TEXT && v.len == n); /* exactly the cap: fine */
    body_view_free(&v);
    CHECK(body_prepare(&v, z, zlen, true, zlen, NULL, NULL, "gzip", n - 1) ==
          0);
    CHECK(v.kind == BODY_OVERSIZE && v.decode_error != NULL);
    body_view_free(&v);
    /* Raw bytes over the cap: oversize without a decode error. */
    CHECK(body_prepare(&v, text, n, true, n, NULL, NULL, NULL, n - 1) == 0);
    CHECK(v.kind == BODY_OVERSIZE && v.data == NULL && !v.decode_error);
    body_view_free(&v);
    CHECK(body_prepare(&v, text, n, true, n, NULL, NULL, NULL, n) == 0);
    CHECK(v.kind == BODY_TEXT && v.len == n);
    body_view_free(&v);
    free(text);
    free(z);
}

TEST(empty_gzip_is_none)
{
    size_t zlen;
    unsigned char *z = squeeze("", 0, 15 + 16, &zlen);
    body_view v;
    CHECK(prep(&v, z, zlen, "application/json", "gzip") == 0);
    CHECK(v.kind == BODY_NONE && v.len == 0 && v.wire_len == zlen);
    body_view_free(&v);
    free(z);
}

TEST(utf8_strict)
{
    static const struct {
        const char *s;
        body_kind kind;
    } cases[] = {
        {"plain ascii", BODY_TEXT},
        {"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80", BODY_TEXT},
        {"\xef\xbf\xbf \xf4\x8f\xbf\xbf", BODY_TEXT}, /* U+FFFF, U+10FFFF */
        {"\xff\xfe", BODY_BINARY},
        {"\xc0\xaf", BODY_BINARY},             /* overlong '/' */
        {"\xe0\x80\xaf", BODY_BINARY},         /* overlong, 3 bytes */
        {"\xf0\x80\x80\xaf", BODY_BINARY},     /* overlong, 4 bytes */
        {"\xed\xa0\x80", BODY_BINARY},         /* surrogate */
        {"\xf4\x90\x80\x80", BODY_BINARY},     /* above U+10FFFF */
        {"\xf5\x80\x80\x80", BODY_BINARY},
        {"abc\xe2\x82", BODY_BINARY},          /* truncated */
        {"\xe2\x28\xa1", BODY_BINARY},         /* bad continuation */
        {"0123456789abcdef\x80", BODY_BINARY}, /* after the fast path */
        {"\x80" "0123456789abcdef", BODY_BINARY}, /* each byte of a word */
        {"0123456\xff" "0123456789", BODY_BINARY},
        {"0123\xc3" "456789abcdef", BODY_BINARY},
        {"01234567\xc3\xa9" "89abcdef", BODY_TEXT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        body_view v;
        CHECK(prep(&v, cases[i].s, strlen(cases[i].s), "text/plain", NULL) ==
              0);
        if (v.kind != cases[i].kind)
            fprintf(stderr, "  case %zu: kind %s\n", i,
                    body_kind_name(v.kind));
        CHECK(v.kind == cases[i].kind);
        body_view_free(&v);
    }
}

TEST(invalid_json_declared)
{
    body_view v;
    const char *s = "{\"a\": }";
    CHECK(prep(&v, s, strlen(s), "application/json", NULL) == 0);
    CHECK(v.kind == BODY_TEXT && v.json == NULL && bytes_are(&v, s));
    CHECK_STR(v.decode_error,
              "invalid JSON: unexpected token near '}' at line 1 column 7");
    body_view_free(&v);
    CHECK(prep(&v, "\xff{", 2, "application/json", NULL) == 0);
    CHECK(v.kind == BODY_BINARY);
    CHECK(v.decode_error && strncmp(v.decode_error, "invalid JSON: ", 14) == 0);
    body_view_free(&v);
    /* Trailing garbage is not JSON either. */
    CHECK(prep(&v, "{} {}", 5, "application/json", NULL) == 0);
    CHECK(v.kind == BODY_TEXT && v.decode_error != NULL);
    body_view_free(&v);
}

TEST(deep_nesting_does_not_crash)
{
    size_t n = 100000;
    char *s = malloc(2 * n);
    memset(s, '[', n);
    memset(s + n, ']', n);
    body_view v;
    CHECK(prep(&v, s, 2 * n, "application/json", NULL) == 0);
    CHECK(v.kind == BODY_TEXT && v.json == NULL);
    CHECK(v.decode_error && strstr(v.decode_error, "maximum parsing depth"));
    body_view_free(&v);
    CHECK(prep(&v, s, n, NULL, NULL) == 0); /* sniffed, unbalanced */
    CHECK(v.kind == BODY_TEXT && v.json == NULL && v.decode_error == NULL);
    body_view_free(&v);
    /* Within the limit it parses. */
    size_t ok = 1000;
    memmove(s + ok, s + n, ok);
    CHECK(prep(&v, s, 2 * ok, "application/json", NULL) == 0);
    CHECK(v.kind == BODY_JSON);
    body_view_free(&v);
    free(s);
}

TEST(free_is_idempotent)
{
    body_view v;
    memset(&v, 0, sizeof v);
    body_view_free(&v);
    body_view_free(&v);
    body_view_free(NULL);
    size_t zlen;
    unsigned char *z = squeeze("[1]", 3, 15 + 16, &zlen);
    CHECK(prep(&v, z, zlen, NULL, "gzip") == 0);
    CHECK(v.kind == BODY_JSON && v.owned && v.json);
    body_view_free(&v);
    CHECK(v.owned == NULL && v.json == NULL && v.kind == BODY_NONE);
    body_view_free(&v);
    free(z);
}

TEST(kind_names)
{
    CHECK_STR(body_kind_name(BODY_NONE), "none");
    CHECK_STR(body_kind_name(BODY_JSON), "json");
    CHECK_STR(body_kind_name(BODY_TEXT), "text");
    CHECK_STR(body_kind_name(BODY_BINARY), "binary");
    CHECK_STR(body_kind_name(BODY_OVERSIZE), "oversize");
}

int main(void)
{
    RUN(not_whole_is_oversize);
    RUN(empty_is_none);
    RUN(json_by_content_type);
    RUN(json_scalars_parse);
    RUN(json_sniffing);
    RUN(gzip_decoded);
    RUN(gzip_concatenated_members);
    RUN(gzip_invalid_keeps_raw);
    RUN(gzip_truncated);
    RUN(deflate_zlib_and_raw);
    RUN(stacked_codings);
    RUN(unsupported_encoding);
    RUN(error_survives_move);
    RUN(zip_bomb_capped);
    RUN(cap_boundary);
    RUN(empty_gzip_is_none);
    RUN(utf8_strict);
    RUN(invalid_json_declared);
    RUN(deep_nesting_does_not_crash);
    RUN(free_is_idempotent);
    RUN(kind_names);
    UNIT_DONE();
}
