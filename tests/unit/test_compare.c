/* Unit tests for proxy/diff/compare.c: status, headers, bodies, structural JSON. */
#include "diff/compare.h"
#include "unit.h"

#include <stdbool.h>
#include <stdlib.h>
#include <zlib.h>

#define SHA_HELLO \
    "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
#define SHA_WORLD \
    "486ea46224d1bb4fb680f34f7c9ad96a8f24ec88be73ea8e5a6c65260e9cb8a7"
#define SHA_EMPTY \
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SHA_FF00 \
    "ea5dbf9596d187e9500f23e9a680109475341cf4e81f7e043f7d97152c10772f"
#define SHA_X \
    "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"
#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SHA_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static const compare_opts defaults = {0};

static json_t *J(const char *s)
{
    json_error_t err;
    json_t *v = json_loads(s, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    if (!v)
        fprintf(stderr, "  bad test JSON %s: %s\n", s, err.text);
    return v;
}

/* Compares two documents given as text; returns the count, fills diffs. */
static size_t cmp(const char *l, const char *n, json_t *diffs)
{
    json_t *a = J(l), *b = J(n);
    size_t r = compare_json(a, b, "", diffs, &defaults);
    json_decref(a);
    json_decref(b);
    return r;
}

/* Does diffs[i] equal the expected fields? legacy/new_ are JSON text, or
 * NULL when the key must be absent. Prints the actual entry on mismatch. */
static bool diff_is(const json_t *diffs, size_t i, const char *where,
                    const char *path, const char *kind, const char *legacy,
                    const char *new_)
{
    json_t *d = json_array_get(diffs, i);
    json_t *want = json_object();
    json_object_set_new(want, "where", json_string(where));
    json_object_set_new(want, "path", json_string(path));
    json_object_set_new(want, "kind", json_string(kind));
    if (legacy)
        json_object_set_new(want, "legacy", J(legacy));
    if (new_)
        json_object_set_new(want, "new", J(new_));
    bool ok = d && json_equal(d, want);
    if (!ok) {
        char *got = d ? json_dumps(d, JSON_ENCODE_ANY) : NULL;
        char *exp = json_dumps(want, 0);
        fprintf(stderr, "  diff %zu: got %s\n           want %s\n", i,
                got ? got : "(none)", exp);
        free(got);
        free(exp);
    }
    json_decref(want);
    return ok;
}

/* ---- compare_json -------------------------------------------------------- */

TEST(equal_ignores_key_order)
{
    json_t *d = json_array();
    CHECK(cmp("{\"a\":1,\"b\":[1,2,{\"c\":null,\"d\":\"x\"}],\"e\":true}",
              "{\"e\":true,\"b\":[1,2,{\"d\":\"x\",\"c\":null}],\"a\":1}",
              d) == 0);
    CHECK(json_array_size(d) == 0);
    json_decref(d);
}

TEST(numbers_by_value)
{
    json_t *d = json_array();
    CHECK(cmp("10", "10.0", d) == 0);
    CHECK(cmp("{\"n\":100}", "{\"n\":1e2}", d) == 0);
    CHECK(cmp("-0.0", "0", d) == 0);
    CHECK(cmp("0.1", "0.1", d) == 0);
    CHECK(json_array_size(d) == 0);
    CHECK(cmp("10", "10.5", d) == 1);
    CHECK(diff_is(d, 0, "body", "", "changed", "10", "10.5"));
    json_decref(d);
}

TEST(number_vs_string_is_type)
{
    json_t *d = json_array();
    CHECK(cmp("{\"id\":1}", "{\"id\":\"1\"}", d) == 1);
    CHECK(diff_is(d, 0, "body", "/id", "type", "1", "\"1\""));
    json_decref(d);
}

TEST(types)
{
    json_t *d = json_array();
    CHECK(cmp("{}", "[]", d) == 1);
    CHECK(diff_is(d, 0, "body", "", "type", "{}", "[]"));
    CHECK(cmp("[true]", "[false]", d) == 1);
    CHECK(diff_is(d, 1, "body", "/0", "changed", "true", "false"));
    CHECK(cmp("[null]", "[false]", d) == 1);
    CHECK(diff_is(d, 2, "body", "/0", "type", "null", "false"));
    CHECK(cmp("[null, true, \"s\"]", "[null, true, \"s\"]", d) == 0);
    CHECK(cmp("\"a\\u0000b\"", "\"a\\u0000c\"", d) == 1);
    CHECK(diff_is(d, 3, "body", "", "changed", "\"a\\u0000b\"",
                  "\"a\\u0000c\""));
    CHECK(cmp("\"ab\"", "\"abc\"", d) == 1);
    CHECK(json_array_size(d) == 5);
    json_decref(d);
}

TEST(nested_path)
{
    json_t *d = json_array();
    CHECK(cmp("{\"order\":{\"id\":7,\"items\":[{\"price\":1},{\"price\":2},"
              "{\"price\":10,\"sku\":\"a\"}]}}",
              "{\"order\":{\"items\":[{\"price\":1},{\"price\":2},"
              "{\"sku\":\"a\",\"price\":12.5}],\"id\":7}}",
              d) == 1);
    CHECK(diff_is(d, 0, "body", "/order/items/2/price", "changed", "10",
                  "12.5"));
    json_decref(d);
}

TEST(pointer_escaping)
{
    json_t *d = json_array();
    CHECK(cmp("{\"a/b\":{\"m~n\":1,\"~/\":[0]}}",
              "{\"a/b\":{\"m~n\":2,\"~/\":[1]}}", d) == 2);
    CHECK(diff_is(d, 0, "body", "/a~1b/m~0n", "changed", "1", "2"));
    CHECK(diff_is(d, 1, "body", "/a~1b/~0~1/0", "changed", "0", "1"));
    json_decref(d);
}

TEST(added_and_removed_keys)
{
    json_t *d = json_array();
    CHECK(cmp("{\"a\":1,\"b\":2,\"x\":{\"deep\":[1]}}",
              "{\"b\":2,\"c\":3}", d) == 3);
    CHECK(diff_is(d, 0, "body", "/a", "removed", "1", NULL));
    CHECK(diff_is(d, 1, "body", "/x", "removed", "{\"deep\":[1]}", NULL));
    CHECK(diff_is(d, 2, "body", "/c", "added", NULL, "3"));
    json_decref(d);
}

TEST(null_vs_missing)
{
    json_t *d = json_array();
    CHECK(cmp("{\"a\":null}", "{}", d) == 1);
    CHECK(diff_is(d, 0, "body", "/a", "removed", "null", NULL));
    CHECK(cmp("{}", "{\"a\":null}", d) == 1);
    CHECK(diff_is(d, 1, "body", "/a", "added", NULL, "null"));
    json_decref(d);
}

TEST(arrays_by_position)
{
    json_t *d = json_array();
    CHECK(cmp("[1,2,3]", "[1]", d) == 2);
    CHECK(diff_is(d, 0, "body", "/1", "removed", "2", NULL));
    CHECK(diff_is(d, 1, "body", "/2", "removed", "3", NULL));
    CHECK(cmp("[1]", "[9,[2]]", d) == 2);
    CHECK(diff_is(d, 2, "body", "/0", "changed", "1", "9"));
    CHECK(diff_is(d, 3, "body", "/1", "added", NULL, "[2]"));
    json_decref(d);
}

TEST(big_integers)
{
    json_t *d = json_array();
    /* 2^53+1 and 2^53 are the same double but different integers. */
    CHECK(cmp("9007199254740993", "9007199254740992", d) == 1);
    CHECK(diff_is(d, 0, "body", "", "changed", "9007199254740993",
                  "9007199254740992"));
    CHECK(cmp("9007199254740993", "9007199254740992.0", d) == 1);
    CHECK(cmp("9007199254740992", "9007199254740992.0", d) == 0);
    CHECK(cmp("9223372036854775807", "9223372036854775807", d) == 0);
    CHECK(cmp("-9223372036854775808", "-9223372036854775808.0", d) == 0);
    /* 2^63 as a real is out of range for any integer. */
    CHECK(cmp("9223372036854775807", "9223372036854775808.0", d) == 1);
    CHECK(json_array_size(d) == 3);
    json_decref(d);
}

TEST(values_are_copies)
{
    json_t *a = J("{\"k\":{\"x\":[1,2]}}"), *b = J("{\"k\":[1]}");
    json_t *d = json_array();
    CHECK(compare_json(a, b, "", d, NULL) == 1);
    json_t *got = json_object_get(json_array_get(d, 0), "legacy");
    json_t *orig = json_object_get(a, "k");
    CHECK(got && got != orig && json_equal(got, orig));
    CHECK(json_array_get(json_object_get(got, "x"), 0) !=
          json_array_get(json_object_get(orig, "x"), 0));
    CHECK(orig->refcount == 1);
    json_decref(a);
    json_decref(b);
    /* The diff outlives the documents. */
    CHECK(diff_is(d, 0, "body", "/k", "type", "{\"x\":[1,2]}", "[1]"));
    json_decref(d);
}

TEST(path_prefix_and_null_documents)
{
    json_t *a = J("{\"a\":1}"), *b = J("{\"a\":2}");
    json_t *d = json_array();
    CHECK(compare_json(a, b, "/req", d, NULL) == 1);
    CHECK(diff_is(d, 0, "body", "/req/a", "changed", "1", "2"));
    CHECK(compare_json(a, NULL, "", d, NULL) == 1);
    CHECK(diff_is(d, 1, "body", "", "removed", "{\"a\":1}", NULL));
    CHECK(compare_json(NULL, NULL, "", d, NULL) == 0);
    CHECK(compare_json(a, a, NULL, d, NULL) == 0);
    json_decref(a);
    json_decref(b);
    json_decref(d);
}

TEST(max_differences)
{
    json_t *a = J("[0,0,0,0,0,0,0,0,0,0]"), *b = J("[1,1,1,1,1,1,1,1,1,1]");
    json_t *d = json_array();
    compare_opts o = {.max_differences = 4};
    CHECK(compare_json(a, b, "", d, &o) == 10);
    CHECK(json_array_size(d) == 4);
    CHECK(diff_is(d, 3, "body", "/3", "changed", "0", "1"));
    /* The cap counts what the array already holds, across calls. */
    CHECK(compare_status(200, 500, d, &o) == 1);
    CHECK(json_array_size(d) == 4);
    o.max_differences = 5;
    CHECK(compare_status(200, 500, d, &o) == 1);
    CHECK(json_array_size(d) == 5);
    CHECK(diff_is(d, 4, "status", "", "changed", "200", "500"));
    json_decref(d);
    /* NULL array: only count. */
    CHECK(compare_json(a, b, "", NULL, &o) == 10);
    json_decref(a);
    json_decref(b);
    /* 0 means 100. */
    json_t *big_a = json_array(), *big_b = json_array();
    for (int i = 0; i < 150; i++) {
        json_array_append_new(big_a, json_integer(i));
        json_array_append_new(big_b, json_integer(-i - 1));
    }
    d = json_array();
    CHECK(compare_json(big_a, big_b, "", d, &defaults) == 150);
    CHECK(json_array_size(d) == 100);
    json_decref(big_a);
    json_decref(big_b);
    json_decref(d);
}

TEST(deep_documents)
{
    /* Near jansson's parse depth limit; the path outgrows the stack buffer. */
    int depth = 2000;
    char *s = malloc((size_t)depth * 2 + 2);
    memset(s, '[', (size_t)depth);
    s[depth] = '1';
    memset(s + depth + 1, ']', (size_t)depth);
    s[2 * depth + 1] = '\0';
    json_t *a = J(s);
    s[depth] = '2';
    json_t *b = J(s);
    CHECK(a && b);
    json_t *d = json_array();
    CHECK(compare_json(a, b, "", d, NULL) == 1);
    const char *path =
        json_string_value(json_object_get(json_array_get(d, 0), "path"));
    CHECK(path && strlen(path) == (size_t)depth * 2); /* "/0" per level */
    CHECK(path && strncmp(path, "/0/0/0", 6) == 0);
    CHECK(compare_json(a, a, "", d, NULL) == 0);
    json_decref(a);
    json_decref(b);
    json_decref(d);
    free(s);
}

/* ---- status and headers -------------------------------------------------- */

TEST(status)
{
    json_t *d = json_array();
    CHECK(compare_status(200, 200, d, NULL) == 0);
    CHECK(compare_status(200, 502, d, NULL) == 1);
    CHECK(json_array_size(d) == 1);
    CHECK(diff_is(d, 0, "status", "", "changed", "200", "502"));
    json_decref(d);
}

static void add(hdr_list *l, const char *name, const char *value)
{
    hdr_list_add(l, name, strlen(name), value, strlen(value));
}

TEST(headers)
{
    hdr_list l = {0}, n = {0};
    add(&l, "Content-Type", "application/json; charset=utf-8");
    add(&l, "Vary", "Accept");
    add(&l, "X-Cache", "HIT");
    add(&l, "vary", "Origin");
    add(&n, "content-type", "application/json");
    add(&n, "Vary", "Accept, Origin");
    add(&n, "X-Only-New", "1");
    add(&n, "X-Ignored", "not configured");
    const char *names[] = {"Content-Type", "Vary", "X-Cache", "X-Only-New",
                           "X-Absent"};
    compare_opts o = {.headers = names, .nheaders = 5};
    json_t *d = json_array();
    CHECK(compare_headers(&l, &n, d, &o) == 3);
    CHECK(json_array_size(d) == 3);
    CHECK(diff_is(d, 0, "header", "Content-Type", "changed",
                  "\"application/json; charset=utf-8\"",
                  "\"application/json\""));
    CHECK(diff_is(d, 1, "header", "X-Cache", "removed", "\"HIT\"", NULL));
    CHECK(diff_is(d, 2, "header", "X-Only-New", "added", NULL, "\"1\""));
    /* Duplicates joined in order: the order matters. */
    hdr_list_clear(&n);
    add(&n, "Vary", "Origin, Accept");
    const char *vary[] = {"VARY"};
    compare_opts ov = {.headers = vary, .nheaders = 1};
    CHECK(compare_headers(&l, &n, d, &ov) == 1);
    CHECK(diff_is(d, 3, "header", "VARY", "changed", "\"Accept, Origin\"",
                  "\"Origin, Accept\""));
    /* Missing lists are empty. */
    CHECK(compare_headers(NULL, NULL, d, &o) == 0);
    CHECK(compare_headers(&l, NULL, d, &ov) == 1);
    CHECK(diff_is(d, 4, "header", "VARY", "removed", "\"Accept, Origin\"",
                  NULL));
    hdr_list_free(&l);
    hdr_list_free(&n);
    json_decref(d);
}

TEST(header_obs_text)
{
    hdr_list l = {0}, n = {0};
    add(&l, "X-Name", "\xe9t\xe9"); /* ISO-8859-1 "été" */
    add(&n, "X-Name", "ete");
    const char *names[] = {"X-Name"};
    compare_opts o = {.headers = names, .nheaders = 1};
    json_t *d = json_array();
    CHECK(compare_headers(&l, &n, d, &o) == 1);
    CHECK(diff_is(d, 0, "header", "X-Name", "changed",
                  "\"\\u00e9t\\u00e9\"", "\"ete\""));
    hdr_list_free(&l);
    hdr_list_free(&n);
    json_decref(d);
}

/* ---- bodies -------------------------------------------------------------- */

static unsigned char *gzip(const char *s, size_t *out_len)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    size_t cap = deflateBound(&zs, (uLong)strlen(s));
    unsigned char *out = malloc(cap);
    zs.next_in = (unsigned char *)s;
    zs.avail_in = (uInt)strlen(s);
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    deflate(&zs, Z_FINISH);
    *out_len = zs.total_out;
    deflateEnd(&zs);
    return out;
}

static void view(body_view *v, const char *s, const char *ct, const char *ce)
{
    body_prepare(v, (const unsigned char *)s, strlen(s), true, strlen(s),
                 NULL, ct, ce, 1 << 20);
}

TEST(gzip_one_side_equals_plain)
{
    const char *docs[][2] = {{"{\"a\":[1,2]}", "application/json"},
                             {"plain words", "text/plain"}};
    for (int i = 0; i < 2; i++) {
        size_t zlen;
        unsigned char *z = gzip(docs[i][0], &zlen);
        body_view l, n;
        body_prepare(&l, z, zlen, true, zlen, NULL, docs[i][1], "gzip",
                     1 << 20);
        view(&n, docs[i][0], docs[i][1], NULL);
        CHECK(l.owned != NULL && l.kind == n.kind);
        json_t *d = json_array();
        CHECK(compare_bodies(&l, &n, d, NULL) == 0);
        CHECK(json_array_size(d) == 0);
        json_decref(d);
        body_view_free(&l);
        body_view_free(&n);
        free(z);
    }
}

TEST(json_bodies_structural)
{
    body_view l, n;
    view(&l, "{\"a\":1,\"b\":2}", "application/json", NULL);
    view(&n, "{ \"b\" : 2, \"a\" : 3 }", NULL, NULL); /* sniffed */
    json_t *d = json_array();
    CHECK(compare_bodies(&l, &n, d, NULL) == 1);
    CHECK(diff_is(d, 0, "body", "/a", "changed", "1", "3"));
    body_view_free(&l);
    body_view_free(&n);
    json_decref(d);
}

TEST(bytes_difference_once)
{
    body_view l, n;
    view(&l, "hello", "text/plain", NULL);
    view(&n, "world", "text/plain", NULL);
    json_t *d = json_array();
    CHECK(compare_bodies(&l, &n, d, NULL) == 1);
    CHECK(json_array_size(d) == 1);
    CHECK(diff_is(d, 0, "body", "", "changed",
                  "{\"format\":\"text\",\"bytes\":5,\"sha256\":\"" SHA_HELLO
                  "\"}",
                  "{\"format\":\"text\",\"bytes\":5,\"sha256\":\"" SHA_WORLD
                  "\"}"));
    body_view_free(&n);
    /* Binary against text, decoded from gzip: the decoded bytes' hash. */
    size_t zlen;
    unsigned char *z = gzip("world", &zlen);
    body_prepare(&n, z, zlen, true, zlen, SHA_A, NULL, "gzip", 1 << 20);
    CHECK(compare_bodies(&l, &n, d, NULL) == 1);
    CHECK(diff_is(d, 1, "body", "", "changed",
                  "{\"format\":\"text\",\"bytes\":5,\"sha256\":\"" SHA_HELLO
                  "\"}",
                  "{\"format\":\"text\",\"bytes\":5,\"sha256\":\"" SHA_WORLD
                  "\"}"));
    body_view_free(&n);
    body_prepare(&n, (const unsigned char *)"\xff\x00", 2, true, 2, NULL,
                 NULL, NULL, 1 << 20);
    CHECK(compare_bodies(&l, &n, d, NULL) == 1);
    CHECK(diff_is(d, 2, "body", "", "changed",
                  "{\"format\":\"text\",\"bytes\":5,\"sha256\":\"" SHA_HELLO
                  "\"}",
                  "{\"format\":\"binary\",\"bytes\":2,\"sha256\":\"" SHA_FF00
                  "\"}"));
    body_view_free(&l);
    body_view_free(&n);
    json_decref(d);
    free(z);
}

TEST(json_vs_text_is_type)
{
    body_view l, n;
    view(&l, "{\"ok\":true}", "application/json", NULL);
    view(&n, "hello", "text/html", NULL);
    json_t *d = json_array();
    CHECK(compare_bodies(&l, &n, d, NULL) == 1);
    json_t *e = json_array_get(d, 0);
    CHECK_STR(json_string_value(json_object_get(e, "kind")), "type");
    CHECK_STR(json_string_value(json_object_get(e, "path")), "");
    json_t *lv = json_object_get(e, "legacy"), *nv = json_object_get(e, "new");
    CHECK_STR(json_string_value(json_object_get(lv, "format")), "json");
    CHECK(json_integer_value(json_object_get(lv, "bytes")) == 11);
    CHECK_STR(json_string_value(json_object_get(nv, "format")), "text");
    CHECK_STR(json_string_value(json_object_get(nv, "sha256")), SHA_HELLO);
    body_view_free(&n);
    /* Same bytes classified differently (Content-Type differs): equal. */
    view(&n, "{\"ok\":true}", "text/html", NULL);
    CHECK(n.kind == BODY_TEXT);
    CHECK(compare_bodies(&l, &n, d, NULL) == 0);
    CHECK(json_array_size(d) == 1);
    body_view_free(&l);
    body_view_free(&n);
    json_decref(d);
}

TEST(oversize_by_wire_hash)
{
    body_view l, n;
    body_prepare(&l, NULL, 0, false, 9000000, SHA_A, NULL, NULL, 1 << 20);
    body_prepare(&n, NULL, 0, false, 9000000, SHA_A, NULL, NULL, 1 << 20);
    json_t *d = json_array();
    CHECK(compare_bodies(&l, &n, d, NULL) == 0);
    body_view_free(&n);
    body_prepare(&n, NULL, 0, false, 9000000, SHA_B, NULL, NULL, 1 << 20);
    CHECK(compare_bodies(&l, &n, d, NULL) == 1);
    CHECK(diff_is(d, 0, "body", "", "changed",
                  "{\"format\":\"oversize\",\"bytes\":9000000,"
                  "\"sha256\":\"" SHA_A "\"}",
                  "{\"format\":\"oversize\",\"bytes\":9000000,"
                  "\"sha256\":\"" SHA_B "\"}"));
    body_view_free(&n);
    /* Same hash, different length: different. No hash: never equal. */
    body_prepare(&n, NULL, 0, false, 9000001, SHA_A, NULL, NULL, 1 << 20);
    CHECK(compare_bodies(&l, &n, d, NULL) == 1);
    body_view_free(&l);
    body_view_free(&n);
    body_prepare(&l, NULL, 0, false, 9000000, NULL, NULL, NULL, 1 << 20);
    body_prepare(&n, NULL, 0, false, 9000000, NULL, NULL, NULL, 1 << 20);
    CHECK(compare_bodies(&l, &n, d, NULL) == 1);
    CHECK(diff_is(d, 2, "body", "", "changed",
                  "{\"format\":\"oversize\",\"bytes\":9000000}",
                  "{\"format\":\"oversize\",\"bytes\":9000000}"));
    body_view_free(&n);
    /* Oversize against JSON is "changed", not "type": format unknown. */
    view(&n, "{}", "application/json", NULL);
    CHECK(compare_bodies(&l, &n, d, NULL) == 1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(d, 3), "kind")),
              "changed");
    body_view_free(&l);
    body_view_free(&n);
    json_decref(d);
}

TEST(empty_bodies)
{
    body_view l, n;
    view(&l, "", NULL, NULL);
    view(&n, "", "application/json", NULL);
    json_t *d = json_array();
    CHECK(compare_bodies(&l, &n, d, NULL) == 0);
    CHECK(compare_bodies(NULL, &n, d, NULL) == 0);
    body_view_free(&n);
    view(&n, "x", NULL, NULL);
    CHECK(compare_bodies(&l, &n, d, NULL) == 1);
    CHECK(diff_is(d, 0, "body", "", "changed",
                  "{\"format\":\"none\",\"bytes\":0,\"sha256\":\"" SHA_EMPTY
                  "\"}",
                  "{\"format\":\"text\",\"bytes\":1,\"sha256\":\"" SHA_X
                  "\"}"));
    CHECK(compare_bodies(&n, NULL, d, NULL) == 1);
    CHECK_STR(json_string_value(json_object_get(
                  json_object_get(json_array_get(d, 1), "new"), "format")),
              "none");
    body_view_free(&l);
    body_view_free(&n);
    json_decref(d);
}

TEST(body_cap_shared_with_others)
{
    body_view l, n;
    view(&l, "[1,2,3]", NULL, NULL);
    view(&n, "[4,5,6]", NULL, NULL);
    json_t *d = json_array();
    compare_opts o = {.max_differences = 2};
    CHECK(compare_status(200, 201, d, &o) == 1);
    CHECK(compare_bodies(&l, &n, d, &o) == 3);
    CHECK(json_array_size(d) == 2);
    CHECK(diff_is(d, 1, "body", "/0", "changed", "1", "4"));
    body_view_free(&l);
    body_view_free(&n);
    json_decref(d);
}

int main(void)
{
    RUN(equal_ignores_key_order);
    RUN(numbers_by_value);
    RUN(number_vs_string_is_type);
    RUN(types);
    RUN(nested_path);
    RUN(pointer_escaping);
    RUN(added_and_removed_keys);
    RUN(null_vs_missing);
    RUN(arrays_by_position);
    RUN(big_integers);
    RUN(values_are_copies);
    RUN(path_prefix_and_null_documents);
    RUN(max_differences);
    RUN(deep_documents);
    RUN(status);
    RUN(headers);
    RUN(header_obs_text);
    RUN(gzip_one_side_equals_plain);
    RUN(json_bodies_structural);
    RUN(bytes_difference_once);
    RUN(json_vs_text_is_type);
    RUN(oversize_by_wire_hash);
    RUN(empty_bodies);
    RUN(body_cap_shared_with_others);
    UNIT_DONE();
}
