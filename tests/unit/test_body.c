/* Unit tests for proxy/diff/body.c: decoding, classification, JSON, XML and
 * form parsing, text lines, aligning two trees. */
#include "diff/body.h"
#include "unit.h"

#include <stdlib.h>
#include <time.h>
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
        {"\xff\xfd", BODY_BINARY},          /* (FF FE would be a UTF-16 BOM) */
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
    CHECK_STR(body_kind_name(BODY_OMITTED), "omitted");
    CHECK_STR(body_kind_name(BODY_XML), "xml");
    CHECK_STR(body_kind_name(BODY_FORM), "form");
}

/* Does v's tree equal the JSON text want? */
static bool json_is(const json_t *v, const char *want)
{
    json_t *w = json_loads(want, JSON_DECODE_ANY, NULL);
    bool eq = v && w && json_equal(v, w);
    if (!eq) {
        char *got = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        fprintf(stderr, "  got  %s\n  want %s\n", got ? got : "(null)", want);
        free(got);
    }
    json_decref(w);
    return eq;
}

TEST(xml_by_content_type)
{
    static const char *types[] = {
        "application/xml", "text/xml; charset=utf-8", "application/soap+xml",
        "application/soap+xml; charset=utf-8; action=\"urn:getOrder\"",
        " Application/XML ", "application/vnd.erp.order+xml", "text/XML",
    };
    const char *s = "<Order id=\"7\"><Total>19.99</Total></Order>";
    for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
        body_view v;
        CHECK(prep(&v, s, strlen(s), types[i], NULL) == 0);
        CHECK(v.kind == BODY_XML && v.decode_error == NULL);
        CHECK(v.unparsed == BODY_NONE);
        CHECK(json_is(v.json, "{\"Order\":{\"@id\":\"7\",\"Total\":\"19.99\"}}"));
        CHECK(bytes_are(&v, s) && v.owned == NULL);
        body_view_free(&v);
    }
    /* JSON types still win; other types are not XML */
    body_view v;
    CHECK(prep(&v, s, strlen(s), "text/html", NULL) == 0);
    CHECK(v.kind == BODY_TEXT && v.json == NULL);
    body_view_free(&v);
    CHECK(prep(&v, s, strlen(s), "image/svg+xml", NULL) == 0);
    CHECK(v.kind == BODY_TEXT);
    body_view_free(&v);
}

TEST(xml_sniffing)
{
    static const struct {
        const char *body, *ct;
        body_kind kind;
    } cases[] = {
        {"<?xml version=\"1.0\"?><a>1</a>", NULL, BODY_XML},
        {"<?xml version=\"1.0\"?>\n<a>1</a>", "text/plain", BODY_XML},
        {" \r\n<soap:Envelope xmlns:soap=\"urn:s\"/>", NULL, BODY_XML},
        /* sniffed, but a declaration after whitespace is not well-formed
         * (PHP's classic stray newline): text, with the reason */
        {" \r\n\t<?xml version=\"1.0\"?>\n<a>1</a>", "text/plain", BODY_TEXT},
        {"\xef\xbb\xbf<?xml version=\"1.0\"?><a>1</a>", NULL, BODY_XML},
        {"<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\">"
         "<soap:Body/></soap:Envelope>", NULL, BODY_XML},
        {"<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"urn:s\"/>", "text/plain; charset=utf-8",
         BODY_XML},
        {"<Envelope>\n<Body/></Envelope>", NULL, BODY_XML},
        /* not enough to call it XML */
        {"<html><body>hi</body></html>", NULL, BODY_TEXT},
        {"<!DOCTYPE html><html></html>", NULL, BODY_TEXT},
        {"<p>x</p>", "text/plain", BODY_TEXT},
        {"<Envelopes/>", NULL, BODY_TEXT},
        {"<soap:EnvelopeX/>", NULL, BODY_TEXT},
        {"<?xml-stylesheet href=\"a\"?><a/>", NULL, BODY_TEXT},
        {"<?xml version=\"1.0\"?><a>1</a>", "text/html", BODY_TEXT},
        {"<?xml", NULL, BODY_TEXT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        body_view v;
        CHECK(prep(&v, cases[i].body, strlen(cases[i].body), cases[i].ct,
                   NULL) == 0);
        if (v.kind != cases[i].kind)
            fprintf(stderr, "  case %zu: kind %s\n", i, body_kind_name(v.kind));
        CHECK(v.kind == cases[i].kind);
        CHECK((v.json != NULL) == (cases[i].kind == BODY_XML));
        body_view_free(&v);
    }
}

TEST(invalid_xml)
{
    body_view v;
    const char *s = "<a>\n<b></a>";
    CHECK(prep(&v, s, strlen(s), "application/xml", NULL) == 0);
    CHECK(v.kind == BODY_TEXT && v.json == NULL && bytes_are(&v, s));
    CHECK_STR(v.decode_error, "invalid XML: Opening and ending tag mismatch: "
                              "b line 2 and a at line 2");
    CHECK(v.unparsed == BODY_XML);
    body_view_free(&v);
    /* not UTF-8 either: binary, still says why */
    CHECK(prep(&v, "<a>\xff\xfe</a>", 9, "text/xml", NULL) == 0);
    CHECK(v.kind == BODY_BINARY && v.unparsed == BODY_XML);
    CHECK(v.decode_error && strncmp(v.decode_error, "invalid XML: ", 13) == 0);
    body_view_free(&v);
    /* sniffed ("<?xml" is a claim of its own): the same */
    s = "<?xml version=\"1.0\"?><a>";
    CHECK(prep(&v, s, strlen(s), NULL, NULL) == 0);
    CHECK(v.kind == BODY_TEXT && v.unparsed == BODY_XML);
    CHECK(v.decode_error && strstr(v.decode_error, "at line 1"));
    body_view_free(&v);
    s = "\n<?xml version=\"1.0\"?><a/>";
    CHECK(prep(&v, s, strlen(s), "text/xml", NULL) == 0);
    CHECK(v.kind == BODY_TEXT && v.decode_error &&
          strstr(v.decode_error, "XML declaration allowed only at the start"));
    body_view_free(&v);
    /* empty after decoding is still none, not invalid XML */
    CHECK(prep(&v, "", 0, "text/xml", NULL) == 0);
    CHECK(v.kind == BODY_NONE && v.decode_error == NULL);
    body_view_free(&v);
    /* whitespace only */
    CHECK(prep(&v, "  \n", 3, "text/xml", NULL) == 0);
    CHECK(v.kind == BODY_TEXT && v.decode_error != NULL);
    body_view_free(&v);
}

TEST(hostile_xml)
{
    const char *lol =
        "<?xml version=\"1.0\"?><!DOCTYPE l [<!ENTITY a \"aaaaaaaaaa\">"
        "<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">"
        "<!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">"
        "<!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\">"
        "<!ENTITY e \"&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;\">"
        "<!ENTITY f \"&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;\">"
        "<!ENTITY g \"&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;\">"
        "<!ENTITY h \"&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;\">"
        "<!ENTITY i \"&h;&h;&h;&h;&h;&h;&h;&h;&h;&h;\">]><l>&i;</l>";
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    body_view v;
    CHECK(prep(&v, lol, strlen(lol), "text/xml", NULL) == 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CHECK(t1.tv_sec - t0.tv_sec < 2);
    CHECK(v.kind == BODY_TEXT || (v.kind == BODY_XML && v.json));
    if (v.kind == BODY_TEXT)
        CHECK(v.decode_error && strstr(v.decode_error, "entity"));
    body_view_free(&v);
    /* 1000 levels: refused by libxml2's depth cap, not a crash */
    size_t n = 1000;
    char *deep = malloc(n * 7 + 1), *p = deep;
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "<a>");
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "</a>");
    CHECK(prep(&v, deep, strlen(deep), "application/xml", NULL) == 0);
    CHECK(v.kind == BODY_TEXT);
    CHECK(v.decode_error && strstr(v.decode_error, "Excessive depth"));
    body_view_free(&v);
    free(deep);
}

TEST(xml_gzipped)
{
    const char *s = "<soap:Envelope xmlns:soap=\"urn:s\"><soap:Body><r>1</r>"
                    "</soap:Body></soap:Envelope>";
    size_t zlen;
    unsigned char *z = squeeze(s, strlen(s), 15 + 16, &zlen);
    body_view v;
    CHECK(prep(&v, z, zlen, "text/xml; charset=utf-8", "gzip") == 0);
    CHECK(v.kind == BODY_XML && bytes_are(&v, s) && v.owned != NULL);
    CHECK(json_is(v.json, "{\"Envelope\":{\"@xmlns\":\"urn:s\",\"Body\":{\"r\":\"1\"}}}"));
    body_view_free(&v);
    free(z);
}

TEST(unparsed_json_marked)
{
    body_view v;
    CHECK(prep(&v, "{\"password\": ", 13, "application/json", NULL) == 0);
    CHECK(v.kind == BODY_TEXT && v.unparsed == BODY_JSON && v.decode_error);
    body_view_free(&v);
    CHECK(prep(&v, "{oops", 5, NULL, NULL) == 0); /* sniffed */
    CHECK(v.kind == BODY_TEXT && v.unparsed == BODY_JSON && !v.decode_error);
    body_view_free(&v);
    CHECK(prep(&v, "plain", 5, NULL, NULL) == 0);
    CHECK(v.kind == BODY_TEXT && v.unparsed == BODY_NONE);
    body_view_free(&v);
}

#define FORM "application/x-www-form-urlencoded"

TEST(form_parsing)
{
    body_view v;
    const char *s = "a=1&b=x+y&c=%41%4a%4A&a=2&empty=&flag&&%zz=%4&d=%e2%82%ac"
                    "&e=%ff&a=3&sp%20ace=1%2B1&=nokey&q=a%3Db%26c";
    CHECK(prep(&v, s, strlen(s), FORM, NULL) == 0);
    CHECK(v.kind == BODY_FORM && v.decode_error == NULL);
    CHECK(bytes_are(&v, s));
    CHECK(json_is(v.json,
                  "{\"a\":[\"1\",\"2\",\"3\"],\"b\":\"x y\",\"c\":\"AJJ\","
                  "\"empty\":\"\",\"flag\":\"\",\"%zz\":\"%4\","
                  "\"d\":\"\u20ac\",\"e\":\"\u00ff\",\"sp ace\":\"1+1\","
                  "\"\":\"nokey\",\"q\":\"a=b&c\"}"));
    body_view_free(&v);
    /* parameters; only '&' separates; NUL in a key stays escaped */
    s = "k%00x=v%00w&x=1;y=2";
    CHECK(prep(&v, s, strlen(s), FORM "; charset=UTF-8", NULL) == 0);
    CHECK(v.kind == BODY_FORM);
    json_t *val = json_object_get(v.json, "k%00x");
    CHECK(val && json_string_length(val) == 3 &&
          memcmp(json_string_value(val), "v\0w", 3) == 0);
    CHECK(json_is(json_object_get(v.json, "x"), "\"1;y=2\""));
    body_view_free(&v);
    /* nothing but separators: an empty form */
    CHECK(prep(&v, "&&", 2, FORM, NULL) == 0);
    CHECK(v.kind == BODY_FORM && json_is(v.json, "{}"));
    body_view_free(&v);
    /* not sniffed: a form must be declared */
    CHECK(prep(&v, "a=1&b=2", 7, NULL, NULL) == 0);
    CHECK(v.kind == BODY_TEXT && v.json == NULL);
    body_view_free(&v);
    /* gzip'd form */
    size_t zlen;
    unsigned char *z = squeeze("u=a%20b", 7, 15 + 16, &zlen);
    CHECK(prep(&v, z, zlen, FORM, "gzip") == 0);
    CHECK(v.kind == BODY_FORM && json_is(v.json, "{\"u\":\"a b\"}"));
    body_view_free(&v);
    free(z);
}

TEST(form_helpers)
{
    const unsigned char *s = (const unsigned char *)"a=1&&flag&=x&k=";
    size_t pos = 0, n = strlen((const char *)s);
    body_form_pair p;
    static const struct {
        const char *k, *v;
        bool eq;
    } want[] = {{"a", "1", true}, {"flag", "", false}, {"", "x", true},
                {"k", "", true}};
    for (size_t i = 0; i < 4; i++) {
        CHECK(body_form_next(s, n, &pos, &p));
        CHECK(p.key_len == strlen(want[i].k) &&
              memcmp(p.key, want[i].k, p.key_len) == 0);
        CHECK(p.value_len == strlen(want[i].v) &&
              memcmp(p.value, want[i].v, p.value_len) == 0);
        CHECK(p.has_eq == want[i].eq);
    }
    CHECK(!body_form_next(s, n, &pos, &p));
    CHECK(!body_form_next(NULL, 0, &pos, &p));
    size_t len;
    char *d = body_form_decode((const unsigned char *)"%41+%2b%%4%", 11, false,
                               &len);
    CHECK_STR(d, "A +%%4%");
    CHECK(len == 7);
    free(d);
    d = body_form_decode((const unsigned char *)"a%00b", 5, true, &len);
    CHECK_STR(d, "a%00b");
    free(d);
    d = body_form_decode((const unsigned char *)"caf%E9", 6, false, &len);
    CHECK_STR(d, "caf\xc3\xa9"); /* not UTF-8: read as ISO-8859-1 */
    free(d);
}

TEST(text_lines)
{
    static const struct {
        const char *text;
        const char *want; /* NULL: no lines array */
    } cases[] = {
        {"a\r\nb\nc", "[\"a\",\"b\",\"c\"]"},
        {"a\n", "[\"a\",\"\"]"},
        {"\n", "[\"\",\"\"]"},
        {"a\r\r\nb\r", "[\"a\\r\",\"b\"]"},
        {"one line", NULL},
        {"only\rcarriage\rreturns", NULL},
        {"l1\nl2\n\nl4", "[\"l1\",\"l2\",\"\",\"l4\"]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        body_view v;
        CHECK(prep(&v, cases[i].text, strlen(cases[i].text), "text/plain",
                   NULL) == 0);
        CHECK(v.kind == BODY_TEXT);
        json_t *l = body_lines(&v);
        if (cases[i].want)
            CHECK(json_is(l, cases[i].want));
        else
            CHECK(l == NULL);
        CHECK(v.json == NULL); /* never put in the view */
        json_decref(l);
        body_view_free(&v);
    }
    /* not text: none */
    body_view v;
    CHECK(prep(&v, "[1,\n2]", 6, "application/json", NULL) == 0);
    CHECK(body_lines(&v) == NULL);
    body_view_free(&v);
    CHECK(prep(&v, "a=1\nb", 5, FORM, NULL) == 0);
    CHECK(body_lines(&v) == NULL);
    body_view_free(&v);
    CHECK(body_lines(NULL) == NULL);
    /* the line cap */
    size_t n = BODY_LINES_MAX;
    char *many = malloc(2 * n + 1);
    for (size_t i = 0; i < n; i++) {
        many[2 * i] = 'x';
        many[2 * i + 1] = '\n';
    }
    CHECK(prep(&v, many, 2 * n - 1, "text/plain", NULL) == 0); /* n lines */
    json_t *l = body_lines(&v);
    CHECK(l && json_array_size(l) == n);
    json_decref(l);
    body_view_free(&v);
    CHECK(prep(&v, many, 2 * n, "text/plain", NULL) == 0); /* n + 1 lines */
    CHECK(body_lines(&v) == NULL);
    body_view_free(&v);
    free(many);
}

TEST(align_pairs)
{
    body_view l, n;
    const char *a = "<o><i>1</i></o>", *b = "<o><i>1</i><i>2</i></o>";
    CHECK(prep(&l, a, strlen(a), "text/xml", NULL) == 0);
    CHECK(prep(&n, b, strlen(b), "text/xml", NULL) == 0);
    CHECK(body_align(&l, &n) == 0);
    CHECK(json_is(l.json, "{\"o\":{\"i\":[\"1\"]}}"));
    CHECK(json_is(n.json, "{\"o\":{\"i\":[\"1\",\"2\"]}}"));
    body_view_free(&l);
    body_view_free(&n);
    a = "x=1&tag=a&y=2";
    b = "x=1&tag=a&tag=b";
    CHECK(prep(&l, a, strlen(a), FORM, NULL) == 0);
    CHECK(prep(&n, b, strlen(b), FORM, NULL) == 0);
    CHECK(body_align(&n, &l) == 0); /* either order */
    CHECK(json_is(l.json, "{\"x\":\"1\",\"tag\":[\"a\"],\"y\":\"2\"}"));
    CHECK(json_is(n.json, "{\"x\":\"1\",\"tag\":[\"a\",\"b\"]}"));
    body_view_free(&n);
    /* different kinds, JSON, NULL: left alone */
    CHECK(prep(&n, "{\"tag\":[1]}", 11, "application/json", NULL) == 0);
    CHECK(body_align(&l, &n) == 0);
    CHECK(json_is(n.json, "{\"tag\":[1]}"));
    CHECK(body_align(NULL, &n) == 0 && body_align(&l, NULL) == 0);
    body_view_free(&l);
    body_view_free(&n);
}

/* UTF-16/32 to the bytes of an ASCII string, with an optional BOM. */
static size_t wide(unsigned char *out, const char *ascii, int width, bool be,
                   bool bom)
{
    size_t n = 0;
    const char *src = bom ? "\xff\xfe" : "";
    if (bom && width == 2 && be)
        src = "\xfe\xff";
    if (bom && width == 4)
        src = be ? "\x00\x00\xfe\xff" : "\xff\xfe\x00\x00";
    if (bom)
        for (int i = 0; i < width; i++)
            out[n++] = (unsigned char)src[i];
    for (const char *c = ascii; *c; c++)
        for (int i = 0; i < width; i++)
            out[n++] = (unsigned char)((be ? i == width - 1 : i == 0) ? *c : 0);
    return n;
}

TEST(utf16_and_utf32_json_decoded)
{
    static const char doc[] = "{\"password\":\"s3cr3t\",\"n\":1}";
    unsigned char raw[512];
    static const struct {
        int width;
        bool be, bom;
        const char *ct;
    } cases[] = {
        {2, false, true, "application/json"},            /* UTF-16LE, BOM */
        {2, true, true, NULL},                           /* UTF-16BE, BOM, sniffed */
        {2, true, false, "application/json; charset=utf-16"},
        {2, false, false, "application/json; charset=\"UTF-16LE\""},
        {2, false, false, "application/json"},           /* RFC 4627 pattern */
        {4, false, true, "text/plain"},                  /* UTF-32LE, BOM */
        {4, true, false, "application/json"},            /* UTF-32BE pattern */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        size_t n = wide(raw, doc, cases[i].width, cases[i].be, cases[i].bom);
        body_view v;
        CHECK(prep(&v, raw, n, cases[i].ct, NULL) == 0);
        if (v.kind != BODY_JSON)
            fprintf(stderr, "  case %zu: kind %s\n", i, body_kind_name(v.kind));
        CHECK(v.kind == BODY_JSON);
        CHECK(bytes_are(&v, doc));
        CHECK(v.wire_len == n && !v.withhold);
        body_view_free(&v);
    }
    /* non-ASCII: a surrogate pair and a BMP character */
    static const unsigned char pair[] = {0xff, 0xfe, '"', 0, 0x3d, 0xd8, 0x00, 0xde,
                                         0xe9, 0, '"', 0};
    body_view v;
    CHECK(prep(&v, pair, sizeof pair, "application/json", NULL) == 0);
    CHECK(v.kind == BODY_JSON);
    CHECK(bytes_are(&v, "\"\xf0\x9f\x98\x80\xc3\xa9\""));
    body_view_free(&v);
    /* a UTF-8 BOM is dropped, the JSON parses */
    CHECK(prep(&v, "\xef\xbb\xbf{\"a\":1}", 10, "application/json", NULL) == 0);
    CHECK(v.kind == BODY_JSON && bytes_are(&v, "{\"a\":1}"));
    body_view_free(&v);
    /* not valid in its encoding: binary, and withheld by the diff log */
    static const unsigned char lone[] = {0xff, 0xfe, '{', 0, 0x00, 0xd8, '}', 0};
    CHECK(prep(&v, lone, sizeof lone, "application/json", NULL) == 0);
    CHECK(v.kind == BODY_BINARY && v.withhold);
    CHECK(v.decode_error && strcmp(v.decode_error, "invalid utf-16le text") == 0);
    body_view_free(&v);
    CHECK(prep(&v, "\xff\xfe{", 3, "application/json", NULL) == 0); /* odd length */
    CHECK(v.kind == BODY_BINARY && v.withhold);
    body_view_free(&v);
    /* XML keeps its own encoding handling (libxml2) */
    size_t n = wide(raw, "<a>1</a>", 2, false, true);
    CHECK(prep(&v, raw, n, "application/xml", NULL) == 0);
    CHECK(v.kind == BODY_XML && v.len == n);
    body_view_free(&v);
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
    RUN(xml_by_content_type);
    RUN(xml_sniffing);
    RUN(invalid_xml);
    RUN(hostile_xml);
    RUN(xml_gzipped);
    RUN(unparsed_json_marked);
    RUN(form_parsing);
    RUN(form_helpers);
    RUN(text_lines);
    RUN(align_pairs);
    RUN(utf16_and_utf32_json_decoded);
    UNIT_DONE();
}
