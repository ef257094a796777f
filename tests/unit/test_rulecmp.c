/* Unit tests for the rule-aware comparison: proxy/diff/rulecmp.c (prepare:
 * maps, ignore, normalize; known), proxy/diff/compare_walk.c (tolerance, keyed
 * and unordered arrays) and the rules in proxy/diff/compare.c (status, headers,
 * status_only). Rules are built by hand, as the loader would build them. */
#include "diff/compare.h"
#include "diff/rulecmp.h"
#include "unit.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_us(void);

/* ---- building rules -------------------------------------------------------- */

#define GROW(arr, n) ((arr) = realloc((arr), ((n) + 1) * sizeof *(arr)), &(arr)[(n)++])

static void pat(path_pattern *p, const char *text)
{
    const char *why;
    int rc = path_pattern_compile(p, text, &why);
    if (rc != 0)
        fprintf(stderr, "  bad test pattern %s: %s\n", text, why ? why : "");
    CHECK(rc == 0);
}

static void add_ignore(route_compare *rc, const char *p)
{
    pat(GROW(rc->ignore, rc->nignore), p);
}

static void add_tol(route_compare *rc, const char *p, double abs, double rel)
{
    rule_tolerance *t = GROW(rc->tolerance, rc->ntolerance);
    pat(&t->path, p);
    t->absolute = abs;
    t->relative = rel;
}

static void add_array(route_compare *rc, const char *p, const char *key,
                      bool unordered)
{
    rule_array *a = GROW(rc->arrays, rc->narrays);
    pat(&a->path, p);
    a->key = key ? strdup(key) : NULL;
    a->unordered = unordered;
}

static void add_map(route_compare *rc, sp_side side, const char *from,
                    const char *to)
{
    rule_map *m = GROW(rc->maps, rc->nmaps);
    m->side = side;
    m->from = strdup(from);
    m->to = strdup(to);
}

enum { TRIM = 1, NUM = 2, CASE = 4, DATE = 8 };

static void add_norm(route_compare *rc, const char *p, unsigned f)
{
    rule_normalize *n = GROW(rc->normalize, rc->nnormalize);
    pat(&n->path, p);
    n->trim = f & TRIM;
    n->number_strings = f & NUM;
    n->case_insensitive = f & CASE;
    n->datetime = f & DATE;
}

/* path NULL: no path. Header paths are names (not patterns), as text. */
static void add_known(route_compare *rc, const char *name, diff_where w,
                      const char *path, const char *kind)
{
    rule_known *k = GROW(rc->known, rc->nknown);
    memset(k, 0, sizeof *k);
    k->name = strdup(name);
    k->where = w;
    if (path && w == WHERE_HEADER)
        k->path.text = strdup(path);
    else if (path)
        pat(&k->path, path);
    k->kind = kind ? strdup(kind) : NULL;
}

static void add_equiv(route_compare *rc, int a, int b)
{
    int(*p)[2] = GROW(rc->status_equiv, rc->nstatus_equiv);
    (*p)[0] = a;
    (*p)[1] = b;
}

static void rc_free(route_compare *rc)
{
    for (size_t i = 0; i < rc->nignore; i++)
        path_pattern_free(&rc->ignore[i]);
    for (size_t i = 0; i < rc->ntolerance; i++)
        path_pattern_free(&rc->tolerance[i].path);
    for (size_t i = 0; i < rc->narrays; i++) {
        path_pattern_free(&rc->arrays[i].path);
        free(rc->arrays[i].key);
    }
    for (size_t i = 0; i < rc->nmaps; i++) {
        free(rc->maps[i].from);
        free(rc->maps[i].to);
    }
    for (size_t i = 0; i < rc->nnormalize; i++)
        path_pattern_free(&rc->normalize[i].path);
    for (size_t i = 0; i < rc->nknown; i++) {
        free(rc->known[i].name);
        free(rc->known[i].kind);
        path_pattern_free(&rc->known[i].path);
    }
    for (size_t i = 0; i < rc->nheaders; i++)
        free(rc->headers[i]);
    for (size_t i = 0; i < rc->nignore_headers; i++)
        free(rc->ignore_headers[i]);
    free(rc->ignore);
    free(rc->tolerance);
    free(rc->arrays);
    free(rc->maps);
    free(rc->normalize);
    free(rc->known);
    free(rc->status_equiv);
    free(rc->headers);
    free(rc->ignore_headers);
    memset(rc, 0, sizeof *rc);
}

/* ---- comparing ------------------------------------------------------------- */

static json_t *J(const char *s)
{
    json_error_t err;
    json_t *v = json_loads(s, JSON_DECODE_ANY, &err);
    if (!v)
        fprintf(stderr, "  bad test JSON %s: %s\n", s, err.text);
    return v;
}

static char *dump(const json_t *v)
{
    return json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS);
}

static size_t known_count;

/* Compares two JSON bodies under rc the way the analyzer does (compare_bodies
 * with opts.rules), and checks that neither parsed body was modified. */
static size_t rcmp_max(const route_compare *rc, const char *l, const char *n,
                       json_t *diffs, size_t max)
{
    json_t *a = J(l), *b = J(n);
    char *da = dump(a), *db = dump(b);
    body_view lv = {.kind = BODY_JSON, .json = a};
    body_view nv = {.kind = BODY_JSON, .json = b};
    known_count = 0;
    compare_opts o = {.rules = rc, .known = &known_count, .max_differences = max};
    json_t *twin = diffs ? json_deep_copy(diffs) : NULL;
    size_t r = compare_bodies(&lv, &nv, diffs, &o);
    char *ea = dump(a), *eb = dump(b);
    CHECK_STR(ea, da);
    CHECK_STR(eb, db);
    CHECK(a->refcount == 1 && b->refcount == 1);
    /* The consuming comparison (rules in place, no copies) finds the same. */
    size_t known_first = known_count;
    known_count = 0;
    body_view lc = {.kind = BODY_JSON, .json = J(l), .data = (const unsigned char *)l,
                    .len = strlen(l)};
    body_view nc = {.kind = BODY_JSON, .json = J(n), .data = (const unsigned char *)n,
                    .len = strlen(n)};
    CHECK(compare_bodies_consume(&lc, &nc, twin, &o) == r);
    CHECK(!lc.json && !nc.json && lc.kind == BODY_NONE);
    CHECK(known_count == known_first);
    CHECK(!diffs || json_equal(diffs, twin));
    json_decref(twin);
    free(da);
    free(db);
    free(ea);
    free(eb);
    json_decref(a);
    json_decref(b);
    return r;
}

static size_t rcmp(const route_compare *rc, const char *l, const char *n,
                   json_t *diffs)
{
    return rcmp_max(rc, l, n, diffs, 0);
}

/* Does diffs[i] equal the expected fields? legacy/new_/known NULL: absent. */
static bool diff_k(const json_t *diffs, size_t i, const char *where,
                   const char *path, const char *kind, const char *legacy,
                   const char *new_, const char *known)
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
    if (known)
        json_object_set_new(want, "known", json_string(known));
    bool ok = d && json_equal(d, want);
    if (!ok) {
        char *got = d ? dump(d) : NULL, *exp = dump(want);
        fprintf(stderr, "  diff %zu: got %s\n           want %s\n", i,
                got ? got : "(none)", exp);
        free(got);
        free(exp);
    }
    json_decref(want);
    return ok;
}

static bool diff_is(const json_t *diffs, size_t i, const char *path,
                    const char *kind, const char *legacy, const char *new_)
{
    return diff_k(diffs, i, "body", path, kind, legacy, new_, NULL);
}

/* rulecmp_prepare on a private copy of `text`; the result as sorted JSON. */
static char *prep(const route_compare *rc, sp_side side, const char *text, int *rc_out)
{
    json_t *d = J(text);
    int r = rulecmp_prepare(rc, side, &d);
    if (rc_out)
        *rc_out = r;
    char *s = dump(d);
    json_decref(d);
    return s;
}

#define CHECK_PREP(rc, side, in, want)                                       \
    do {                                                                     \
        char *got_ = prep(rc, side, in, NULL);                               \
        CHECK_STR(got_, want);                                               \
        free(got_);                                                          \
    } while (0)

/* ---- ignore ---------------------------------------------------------------- */

TEST(ignore_double_star_every_depth)
{
    route_compare rc = {0};
    add_ignore(&rc, "/**/created_at");
    json_t *d = json_array();
    CHECK(rcmp(&rc,
               "{\"created_at\":1,\"a\":{\"created_at\":2,\"b\":{\"created_at\":3}},"
               "\"items\":[{\"created_at\":4,\"x\":1},[{\"created_at\":5}]]}",
               "{\"created_at\":9,\"a\":{\"created_at\":8,\"b\":{}},"
               "\"items\":[{\"x\":1,\"created_at\":7},[{\"created_at\":6}]]}",
               d) == 0);
    /* Everything else is still compared. */
    CHECK(rcmp(&rc, "{\"a\":{\"created_at\":1,\"v\":1}}",
               "{\"a\":{\"created_at\":2,\"v\":2}}", d) == 1);
    CHECK(diff_is(d, 0, "/a/v", "changed", "1", "2"));
    /* A member named like the pattern's parent is not ignored. */
    CHECK(rcmp(&rc, "{\"created_at_x\":1}", "{\"created_at_x\":2}", d) == 1);
    CHECK(diff_is(d, 1, "/created_at_x", "changed", "1", "2"));
    CHECK(json_array_size(d) == 2);
    json_decref(d);
    rc_free(&rc);
}

TEST(ignore_star_only_at_its_depth)
{
    route_compare rc = {0};
    add_ignore(&rc, "/items/*/updated_at");
    json_t *d = json_array();
    CHECK(rcmp(&rc,
               "{\"updated_at\":1,\"items\":[{\"updated_at\":1,\"q\":1},{\"updated_at\":2}],"
               "\"o\":{\"items\":[{\"updated_at\":1}]}}",
               "{\"updated_at\":2,\"items\":[{\"updated_at\":5,\"q\":1},{}],"
               "\"o\":{\"items\":[{\"updated_at\":2}]}}",
               d) == 2);
    CHECK(diff_is(d, 0, "/updated_at", "changed", "1", "2"));
    CHECK(diff_is(d, 1, "/o/items/0/updated_at", "changed", "1", "2"));
    /* "*" also matches object members. */
    CHECK(rcmp(&rc, "{\"items\":{\"a\":{\"updated_at\":1}}}",
               "{\"items\":{\"a\":{\"updated_at\":2}}}", d) == 0);
    json_decref(d);
    rc_free(&rc);
}

TEST(ignore_subtree_missing_and_root)
{
    route_compare rc = {0};
    add_ignore(&rc, "/meta");
    add_ignore(&rc, "/nowhere/at/all");
    json_t *d = json_array();
    CHECK(rcmp(&rc, "{\"meta\":{\"a\":[1,2,{\"b\":3}]},\"v\":1}",
               "{\"meta\":\"gone\",\"v\":1}", d) == 0);
    CHECK(rcmp(&rc, "{\"v\":1}", "{\"meta\":{\"x\":1},\"v\":1}", d) == 0);
    CHECK(json_array_size(d) == 0);
    /* Nothing matches: prepare hands back the very same document. */
    json_t *doc = J("{\"v\":{\"w\":[1]}}"), *same = doc;
    CHECK(rulecmp_prepare(&rc, SIDE_LEGACY, &doc) == 0);
    CHECK(doc == same && doc->refcount == 1);
    json_decref(doc);
    rc_free(&rc);

    /* The root: "" and "/ **" (no space) ignore the whole body: both become
     * null. */
    add_ignore(&rc, "");
    CHECK(rcmp(&rc, "{\"a\":1}", "[2]", d) == 0);
    CHECK_PREP(&rc, SIDE_NEW, "{\"a\":1}", "null");
    rc_free(&rc);
    add_ignore(&rc, "/**");
    CHECK(rcmp(&rc, "{\"a\":1}", "\"x\"", d) == 0);
    rc_free(&rc);
    json_decref(d);
}

TEST(ignore_array_elements)
{
    route_compare rc = {0};
    add_ignore(&rc, "/list/1");
    add_ignore(&rc, "/list/3");
    CHECK_PREP(&rc, SIDE_LEGACY, "{\"list\":[0,1,2,3,4]}", "{\"list\":[0,2,4]}");
    rc_free(&rc);
}

TEST(null_vs_missing)
{
    route_compare rc = {0};
    add_ignore(&rc, "/other");
    json_t *d = json_array();
    CHECK(rcmp(&rc, "{\"a\":null}", "{}", d) == 1);
    CHECK(diff_is(d, 0, "/a", "removed", "null", NULL));
    CHECK(rcmp(&rc, "{}", "{\"a\":null}", d) == 1);
    CHECK(diff_is(d, 1, "/a", "added", NULL, "null"));
    add_ignore(&rc, "/a");
    CHECK(rcmp(&rc, "{\"a\":null}", "{}", d) == 0);
    json_decref(d);
    rc_free(&rc);
}

/* ---- keyed arrays ---------------------------------------------------------- */

#define ITEMS_L                                                              \
    "{\"items\":[{\"sku\":\"MB01\",\"price\":10,\"qty\":1},"                 \
    "{\"sku\":\"MB02\",\"price\":20,\"qty\":2},{\"sku\":\"MB03\",\"price\":30}]}"

TEST(keyed_reorder_is_no_difference)
{
    route_compare rc = {0};
    add_array(&rc, "/items", "sku", false);
    json_t *d = json_array();
    CHECK(rcmp(&rc, ITEMS_L,
               "{\"items\":[{\"sku\":\"MB03\",\"price\":30},{\"qty\":1,\"price\":10,"
               "\"sku\":\"MB01\"},{\"sku\":\"MB02\",\"price\":20,\"qty\":2}]}",
               d) == 0);
    /* Without the rule, the same bodies differ by position. */
    route_compare none = {0};
    CHECK(rcmp(&none, ITEMS_L,
               "{\"items\":[{\"sku\":\"MB03\",\"price\":30},{\"qty\":1,\"price\":10,"
               "\"sku\":\"MB01\"},{\"sku\":\"MB02\",\"price\":20,\"qty\":2}]}",
               d) > 0);
    json_decref(d);
    rc_free(&rc);
}

TEST(keyed_changed_added_removed)
{
    route_compare rc = {0};
    add_array(&rc, "/items", "sku", false);
    json_t *d = json_array();
    CHECK(rcmp(&rc, ITEMS_L,
               "{\"items\":[{\"sku\":\"XX\",\"price\":1},{\"sku\":\"MB02\",\"price\":20,"
               "\"qty\":2},{\"sku\":\"MB01\",\"price\":10.5,\"qty\":1}]}",
               d) == 3);
    CHECK(diff_is(d, 0, "/items/sku=MB01/price", "changed", "10", "10.5"));
    CHECK(diff_is(d, 1, "/items/sku=MB03", "removed",
                  "{\"sku\":\"MB03\",\"price\":30}", NULL));
    CHECK(diff_is(d, 2, "/items/sku=XX", "added", NULL,
                  "{\"sku\":\"XX\",\"price\":1}"));
    CHECK(json_array_size(d) == 3);
    json_decref(d);
    rc_free(&rc);
}

TEST(keyed_duplicates_missing_and_odd_keys)
{
    route_compare rc = {0};
    add_array(&rc, "/items", "sku", false);
    json_t *d = json_array();
    /* Duplicates pair in array order: the second "A" is "sku=A#2". */
    CHECK(rcmp(&rc,
               "{\"items\":[{\"sku\":\"A\",\"q\":1},{\"sku\":\"B\"},{\"sku\":\"A\",\"q\":2}]}",
               "{\"items\":[{\"sku\":\"B\"},{\"sku\":\"A\",\"q\":1},{\"sku\":\"A\",\"q\":3}]}",
               d) == 1);
    CHECK(diff_is(d, 0, "/items/sku=A#2/q", "changed", "2", "3"));
    CHECK(rcmp(&rc, "{\"items\":[{\"sku\":\"A\"},{\"sku\":\"A\"},{\"sku\":\"A\"}]}",
               "{\"items\":[{\"sku\":\"A\"}]}", d) == 2);
    CHECK(diff_is(d, 1, "/items/sku=A#2", "removed", "{\"sku\":\"A\"}", NULL));
    CHECK(diff_is(d, 2, "/items/sku=A#3", "removed", "{\"sku\":\"A\"}", NULL));
    /* No key, null key, object key, not an object: named by index. */
    CHECK(rcmp(&rc,
               "{\"items\":[{\"x\":1},{\"sku\":null},{\"sku\":{\"a\":1}},5,{\"sku\":\"K\"}]}",
               "{\"items\":[{\"x\":2},{\"sku\":null},{\"sku\":{\"a\":1}},6,{\"sku\":\"K\"}]}",
               d) == 2);
    CHECK(diff_is(d, 3, "/items/#0/x", "changed", "1", "2"));
    CHECK(diff_is(d, 4, "/items/#3", "changed", "5", "6"));
    /* Unkeyed elements at other positions do not pair. */
    CHECK(rcmp(&rc, "{\"items\":[{\"sku\":\"A\"},{\"x\":1}]}",
               "{\"items\":[{\"x\":1},{\"sku\":\"A\"}]}", d) == 2);
    CHECK(diff_is(d, 5, "/items/#1", "removed", "{\"x\":1}", NULL));
    CHECK(diff_is(d, 6, "/items/#0", "added", NULL, "{\"x\":1}"));
    json_decref(d);
    rc_free(&rc);
}

TEST(keyed_number_bool_and_escaped_keys)
{
    route_compare rc = {0};
    add_array(&rc, "/l", "id", false);
    json_t *d = json_array();
    /* 5 and 5.0 are one name; "5" and 5 too, and then the id differs. */
    CHECK(rcmp(&rc, "{\"l\":[{\"id\":5,\"v\":1},{\"id\":\"7\"},{\"id\":1.5},{\"id\":true}]}",
               "{\"l\":[{\"id\":true},{\"id\":1.5},{\"id\":7},{\"id\":5.0,\"v\":2}]}",
               d) == 2);
    CHECK(diff_is(d, 0, "/l/id=5/v", "changed", "1", "2"));
    CHECK(diff_is(d, 1, "/l/id=7/id", "type", "\"7\"", "7"));
    CHECK(rcmp(&rc, "{\"l\":[{\"id\":\"a/b~c\",\"v\":1}]}",
               "{\"l\":[{\"id\":\"a/b~c\",\"v\":2}]}", d) == 1);
    CHECK(diff_is(d, 2, "/l/id=a~1b~0c/v", "changed", "1", "2"));
    json_decref(d);
    rc_free(&rc);
}

TEST(keyed_empty_nested_and_not_arrays)
{
    route_compare rc = {0};
    add_array(&rc, "/orders", "id", false);
    add_array(&rc, "/orders/*/items", "sku", false);
    json_t *d = json_array();
    CHECK(rcmp(&rc, "{\"orders\":[]}", "{\"orders\":[]}", d) == 0);
    CHECK(rcmp(&rc, "{\"orders\":[]}", "{\"orders\":[{\"id\":1}]}", d) == 1);
    CHECK(diff_is(d, 0, "/orders/id=1", "added", NULL, "{\"id\":1}"));
    CHECK(rcmp(&rc,
               "{\"orders\":[{\"id\":7,\"items\":[{\"sku\":\"MB01\",\"qty\":1},"
               "{\"sku\":\"MB02\",\"qty\":2}]},{\"id\":8,\"items\":[]}]}",
               "{\"orders\":[{\"id\":8,\"items\":[]},{\"id\":7,\"items\":[{\"sku\":\"MB02\","
               "\"qty\":2},{\"sku\":\"MB01\",\"qty\":3}]}]}",
               d) == 1);
    CHECK(diff_is(d, 1, "/orders/id=7/items/sku=MB01/qty", "changed", "1", "3"));
    /* Not an array on one side: a type difference with the values as sent. */
    CHECK(rcmp(&rc, "{\"orders\":[{\"id\":1}]}", "{\"orders\":null}", d) == 1);
    CHECK(diff_is(d, 2, "/orders", "type", "[{\"id\":1}]", "null"));
    json_decref(d);
    rc_free(&rc);
}

TEST(keyed_many_elements_and_long_names)
{
    /* More elements and longer names than the walk keeps on its stack. */
    route_compare rc = {0};
    add_array(&rc, "/items", "sku", false);
    char l[8192] = "{\"items\":[", n[8192] = "{\"items\":[";
    for (int i = 0; i < 40; i++) {
        char el[128];
        snprintf(el, sizeof el, "%s{\"sku\":\"SKU-%02d-with-a-rather-long-name\",\"q\":%d}",
                 i ? "," : "", i, i);
        strcat(l, el);
        snprintf(el, sizeof el, "%s{\"sku\":\"SKU-%02d-with-a-rather-long-name\",\"q\":%d}",
                 i ? "," : "", 39 - i, 39 - i == 17 ? 99 : 39 - i);
        strcat(n, el);
    }
    strcat(l, "]}");
    strcat(n, "]}");
    json_t *d = json_array();
    CHECK(rcmp(&rc, l, n, d) == 1);
    CHECK(diff_is(d, 0, "/items/sku=SKU-17-with-a-rather-long-name/q", "changed", "17",
                  "99"));
    json_decref(d);
    rc_free(&rc);
}

/* ---- unordered arrays ------------------------------------------------------ */

TEST(unordered_multisets)
{
    route_compare rc = {0};
    add_array(&rc, "/tags", NULL, true);
    add_array(&rc, "/objs", NULL, true);
    json_t *d = json_array();
    CHECK(rcmp(&rc, "{\"tags\":[\"a\",\"b\",\"c\",\"a\"]}",
               "{\"tags\":[\"c\",\"a\",\"a\",\"b\"]}", d) == 0);
    CHECK(rcmp(&rc, "{\"objs\":[{\"a\":1,\"b\":[1,2]},{\"c\":2.0}]}",
               "{\"objs\":[{\"c\":2},{\"b\":[1,2],\"a\":1}]}", d) == 0);
    CHECK(rcmp(&rc, "{\"tags\":[]}", "{\"tags\":[]}", d) == 0);
    /* Counts matter: [1,1,2] vs [1,2,2]; leftovers at their own index. */
    CHECK(rcmp(&rc, "{\"tags\":[1,1,2]}", "{\"tags\":[1,2,2]}", d) == 2);
    CHECK(diff_is(d, 0, "/tags/1", "removed", "1", NULL));
    CHECK(diff_is(d, 1, "/tags/1", "added", NULL, "2"));
    CHECK(rcmp(&rc, "{\"tags\":[1,2]}", "{\"tags\":[2,3,1]}", d) == 1);
    CHECK(diff_is(d, 2, "/tags/1", "added", NULL, "3"));
    CHECK(rcmp(&rc, "{\"tags\":[3,1,1,2]}", "{\"tags\":[1,2,2,1]}", d) == 2);
    CHECK(diff_is(d, 3, "/tags/0", "removed", "3", NULL));
    CHECK(diff_is(d, 4, "/tags/2", "added", NULL, "2"));
    CHECK(rcmp(&rc, "{\"tags\":[\"x\"]}", "{\"tags\":[]}", d) == 1);
    CHECK(diff_is(d, 5, "/tags/0", "removed", "\"x\"", NULL));
    /* Other arrays keep their order. */
    CHECK(rcmp(&rc, "{\"other\":[1,2]}", "{\"other\":[2,1]}", d) == 2);
    json_decref(d);
    rc_free(&rc);
}

TEST(unordered_large_permutation)
{
    /* 300 x 300 candidate pairs: beyond the pairwise budget, so this only
     * passes because equal elements pair by hash first. */
    route_compare rc = {0};
    add_array(&rc, "", NULL, true);
    json_t *a = json_array(), *b = json_array();
    for (int i = 0; i < 300; i++) {
        json_array_append_new(a, json_pack("{s:i,s:[i]}", "n", i, "v", i % 7));
        json_array_append_new(b, json_pack("{s:i,s:[i]}", "n", 299 - i, "v", (299 - i) % 7));
    }
    json_array_append_new(b, json_integer(7));
    compare_opts o = {.rules = &rc};
    json_t *d = json_array();
    CHECK(compare_json(a, b, "", d, &o) == 1);
    CHECK(diff_is(d, 0, "/300", "added", NULL, "7"));
    json_decref(a);
    json_decref(b);
    json_decref(d);
    rc_free(&rc);
}

/* Nested unordered arrays that differ only at the bottom: every level must
 * not probe its subtree more than once (that would be 2^depth). */
TEST(deep_documents_with_rules)
{
    route_compare rc = {0};
    add_ignore(&rc, "/**/x");
    add_norm(&rc, "/**", CASE);
    add_array(&rc, "/**", NULL, true);
    add_tol(&rc, "/**/n", 0.5, 0);
    int depth = 1500;
    size_t len = (size_t)depth * 2 + 64;
    char *s = malloc(len), *t = malloc(len);
    for (int v = 0; v < 2; v++) {
        char *p = v ? t : s;
        memset(p, '[', (size_t)depth);
        int off = depth + sprintf(p + depth, "{\"x\":%d,\"s\":\"%s\",\"n\":%s}", v,
                                  v ? "a" : "A", v ? "1.2" : "1");
        memset(p + off, ']', (size_t)depth);
        p[off + depth] = '\0';
    }
    json_t *d = json_array();
    double t0 = now_us();
    CHECK(rcmp(&rc, s, t, d) == 0);
    /* A real difference at the bottom: reported once per side, at the top
     * level (an unordered array's element is removed and another added). */
    char *u = strdup(t);
    char *n = strstr(u, "1.2");
    n[0] = '9';
    CHECK(rcmp(&rc, s, u, d) == 2);
    CHECK(json_array_size(d) == 2);
    CHECK(now_us() - t0 < 20e6); /* exponential would never finish */
    free(s);
    free(t);
    free(u);
    json_decref(d);
    rc_free(&rc);
}

TEST(unordered_pairs_under_rules)
{
    route_compare rc = {0};
    add_array(&rc, "/l", NULL, true);
    add_array(&rc, "/l/*/skus", NULL, true);
    add_tol(&rc, "/l/*/p", 0.01, 0);
    json_t *d = json_array();
    /* Equal only within the tolerance, or with an unordered inner array. */
    CHECK(rcmp(&rc, "{\"l\":[{\"p\":1.00},{\"p\":2.00},{\"skus\":[1,2]}]}",
               "{\"l\":[{\"skus\":[2,1]},{\"p\":2.001},{\"p\":0.999}]}", d) == 0);
    CHECK(rcmp(&rc, "{\"l\":[{\"p\":1.00}]}", "{\"l\":[{\"p\":1.02}]}", d) == 2);
    CHECK(diff_is(d, 0, "/l/0", "removed", "{\"p\":1.0}", NULL));
    CHECK(diff_is(d, 1, "/l/0", "added", NULL, "{\"p\":1.02}"));
    json_decref(d);
    rc_free(&rc);
}

/* ---- tolerance ------------------------------------------------------------- */

TEST(tolerance_boundary)
{
    route_compare rc = {0};
    add_tol(&rc, "/total", 0.005, 0);
    add_tol(&rc, "/big", 0.005, 0);
    add_tol(&rc, "/exact", 0, 0);
    json_t *d = json_array();
    CHECK(rcmp(&rc, "{\"total\":19.99}", "{\"total\":19.995}", d) == 0);
    CHECK(rcmp(&rc, "{\"total\":19.995}", "{\"total\":19.99}", d) == 0);
    CHECK(rcmp(&rc, "{\"total\":10}", "{\"total\":10.005}", d) == 0);
    CHECK(rcmp(&rc, "{\"big\":1000000.00}", "{\"big\":1000000.005}", d) == 0);
    /* As doubles these differ by 0.00500001: the ulps of 1e8 count too. */
    CHECK(rcmp(&rc, "{\"big\":99999999.99}", "{\"big\":99999999.995}", d) == 0);
    CHECK(rcmp(&rc, "{\"total\":19.99}", "{\"total\":19.996}", d) == 1);
    CHECK(diff_is(d, 0, "/total", "changed", "19.99", "19.996"));
    CHECK(rcmp(&rc, "{\"big\":1000000.00}", "{\"big\":1000000.006}", d) == 1);
    /* Zero tolerance is exact, even for 0.1+0.2 vs 0.3. */
    CHECK(rcmp(&rc, "{\"exact\":0.30000000000000004}", "{\"exact\":0.3}", d) == 1);
    /* Only at the configured path; strings are not numbers. */
    CHECK(rcmp(&rc, "{\"other\":19.99}", "{\"other\":19.995}", d) == 1);
    CHECK(diff_is(d, 3, "/other", "changed", "19.99", "19.995"));
    CHECK(rcmp(&rc, "{\"total\":\"19.99\"}", "{\"total\":\"19.995\"}", d) == 1);
    CHECK(json_array_size(d) == 5);
    json_decref(d);
    rc_free(&rc);
}

TEST(tolerance_relative_wildcards_first_match)
{
    route_compare rc = {0};
    add_tol(&rc, "/a/amount", 0.1, 0);
    add_tol(&rc, "/**/amount", 0, 0.01);
    add_array(&rc, "/items", "sku", false);
    add_tol(&rc, "/items/*/price", 0.01, 0);
    json_t *d = json_array();
    CHECK(rcmp(&rc, "{\"x\":{\"amount\":100}}", "{\"x\":{\"amount\":101}}", d) == 0);
    CHECK(rcmp(&rc, "{\"x\":{\"amount\":-100}}", "{\"x\":{\"amount\":-101}}", d) == 0);
    CHECK(rcmp(&rc, "{\"amount\":100}", "{\"amount\":101.5}", d) == 1);
    CHECK(diff_is(d, 0, "/amount", "changed", "100", "101.5"));
    /* The first matching rule decides: /a/amount allows 0.1, though the
     * later double-star rule would allow 1%. */
    CHECK(rcmp(&rc, "{\"a\":{\"amount\":100}}", "{\"a\":{\"amount\":100.05}}", d) == 0);
    CHECK(rcmp(&rc, "{\"a\":{\"amount\":100}}", "{\"a\":{\"amount\":100.5}}", d) == 1);
    CHECK(diff_is(d, 1, "/a/amount", "changed", "100", "100.5"));
    /* Through keyed names. */
    CHECK(rcmp(&rc, "{\"items\":[{\"sku\":\"A\",\"price\":1.00},{\"sku\":\"B\",\"price\":2}]}",
               "{\"items\":[{\"sku\":\"B\",\"price\":2.01},{\"sku\":\"A\",\"price\":1.02}]}",
               d) == 1);
    CHECK(diff_is(d, 2, "/items/sku=A/price", "changed", "1.0", "1.02"));
    json_decref(d);
    rc_free(&rc);
}

/* ---- normalize ------------------------------------------------------------- */

TEST(normalize_number_strings)
{
    route_compare rc = {0};
    add_norm(&rc, "/n", NUM);
    add_norm(&rc, "/t", NUM | TRIM);
    json_t *d = json_array();
    CHECK(rcmp(&rc, "{\"n\":\"10.00\"}", "{\"n\":10}", d) == 0);
    CHECK(rcmp(&rc, "{\"n\":\"1e2\"}", "{\"n\":100}", d) == 0);
    CHECK(rcmp(&rc, "{\"n\":\"10\"}", "{\"n\":\"10.0\"}", d) == 0);
    CHECK(rcmp(&rc, "{\"n\":\"abc\"}", "{\"n\":\"abc\"}", d) == 0);
    CHECK(rcmp(&rc, "{\"t\":\" 7 \"}", "{\"t\":7}", d) == 0);
    /* Without trim " 7 " stays a string; "abc" untouched; other paths too. */
    CHECK(rcmp(&rc, "{\"n\":\" 7 \"}", "{\"n\":7}", d) == 1);
    CHECK(diff_is(d, 0, "/n", "type", "\" 7 \"", "7"));
    CHECK(rcmp(&rc, "{\"n\":\"abc\"}", "{\"n\":10}", d) == 1);
    CHECK(diff_is(d, 1, "/n", "type", "\"abc\"", "10"));
    CHECK(rcmp(&rc, "{\"m\":\"10\"}", "{\"m\":10}", d) == 1);
    CHECK(diff_is(d, 2, "/m", "type", "\"10\"", "10"));
    /* A real difference still shows, with the normalized values. */
    CHECK(rcmp(&rc, "{\"n\":\"10.00\"}", "{\"n\":\"10.01\"}", d) == 1);
    CHECK(diff_is(d, 3, "/n", "changed", "10.0", "10.01"));
    json_decref(d);
    rc_free(&rc);
}

TEST(normalize_case_trim_subtree)
{
    route_compare rc = {0};
    add_norm(&rc, "/customer", CASE | TRIM);
    json_t *d = json_array();
    CHECK(rcmp(&rc, "{\"customer\":{\"email\":\" JO@EXAMPLE.com\",\"tags\":[\"VIP \"]}}",
               "{\"customer\":{\"email\":\"jo@example.COM\",\"tags\":[\"vip\"]}}", d) == 0);
    CHECK(rcmp(&rc, "{\"customer\":\"\xc3\x89T\xc3\x89\"}",
               "{\"customer\":\"\xc3\xa9t\xc3\xa9\"}", d) == 1);
    CHECK(diff_is(d, 0, "/customer", "changed", "\"\xc3\x89t\xc3\x89\"",
                  "\"\xc3\xa9t\xc3\xa9\""));
    CHECK(rcmp(&rc, "{\"name\":\"A\"}", "{\"name\":\"a\"}", d) == 1);
    /* Member names are not folded. */
    CHECK(rcmp(&rc, "{\"customer\":{\"A\":1}}", "{\"customer\":{\"a\":1}}", d) == 2);
    json_decref(d);
    rc_free(&rc);
}

TEST(normalize_datetimes)
{
    route_compare rc = {0};
    add_norm(&rc, "/**/at", DATE);
    json_t *d = json_array();
    CHECK(rcmp(&rc, "{\"at\":\"2024-01-01T10:00:00+02:00\"}",
               "{\"at\":\"2024-01-01 08:00:00\"}", d) == 0);
    CHECK(rcmp(&rc, "{\"x\":[{\"at\":\"2024-01-01T08:00:00.000Z\"}]}",
               "{\"x\":[{\"at\":\"2024-01-01T08:00:00Z\"}]}", d) == 0);
    CHECK(rcmp(&rc, "{\"at\":\"soon\"}", "{\"at\":\"soon\"}", d) == 0);
    CHECK(rcmp(&rc, "{\"at\":\"2024-01-01T10:00:00+02:00\"}",
               "{\"at\":\"2024-01-01T10:00:00Z\"}", d) == 1);
    CHECK(diff_is(d, 0, "/at", "changed", "\"2024-01-01T08:00:00.000Z\"",
                  "\"2024-01-01T10:00:00.000Z\""));
    CHECK(rcmp(&rc, "{\"at\":\"2024-01-01\"}", "{\"at\":\"2024-01-01T00:00:00Z\"}", d) == 1);
    json_decref(d);
    rc_free(&rc);
}

/* ---- maps ------------------------------------------------------------------ */

TEST(maps_rename_move_and_missing)
{
    route_compare rc = {0};
    add_map(&rc, SIDE_NEW, "/quantity", "/qty");
    add_map(&rc, SIDE_NEW, "/total", "/totals/grand");
    add_map(&rc, SIDE_LEGACY, "/old", "/renamed");
    json_t *d = json_array();
    CHECK(rcmp(&rc, "{\"qty\":5,\"totals\":{\"grand\":9,\"tax\":1}}",
               "{\"quantity\":5,\"total\":9,\"totals\":{\"tax\":1}}", d) == 0);
    CHECK_PREP(&rc, SIDE_NEW, "{\"total\":9}", "{\"totals\":{\"grand\":9}}");
    /* Only the configured side is rewritten. */
    CHECK_PREP(&rc, SIDE_LEGACY, "{\"quantity\":5,\"old\":1}",
               "{\"quantity\":5,\"renamed\":1}");
    /* A missing `from` is a no-op: the same document comes back. */
    json_t *doc = J("{\"x\":1}"), *same = doc;
    CHECK(rulecmp_prepare(&rc, SIDE_NEW, &doc) == 0);
    CHECK(doc == same);
    json_decref(doc);
    /* An existing `to` is replaced; a real difference after mapping stays. */
    CHECK_PREP(&rc, SIDE_NEW, "{\"quantity\":5,\"qty\":4}", "{\"qty\":5}");
    CHECK(rcmp(&rc, "{\"qty\":5}", "{\"quantity\":6}", d) == 1);
    CHECK(diff_is(d, 0, "/qty", "changed", "5", "6"));
    json_decref(d);
    rc_free(&rc);
}

TEST(maps_wildcards_and_nesting)
{
    route_compare rc = {0};
    add_map(&rc, SIDE_NEW, "/items/*/quantity", "/items/*/qty");
    add_map(&rc, SIDE_NEW, "/a/b", "/c/d/e");
    add_map(&rc, SIDE_NEW, "/c/d", "/f"); /* sees the previous map's result */
    add_map(&rc, SIDE_NEW, "/o/*/lines/*/q", "/o/*/lines/*/qty");
    CHECK_PREP(&rc, SIDE_NEW,
               "{\"items\":[{\"quantity\":1},{\"qty\":2},{\"quantity\":3,\"x\":0}],"
               "\"a\":{\"b\":7}}",
               "{\"a\":{},\"c\":{},\"f\":{\"e\":7},\"items\":[{\"qty\":1},{\"qty\":2},"
               "{\"qty\":3,\"x\":0}]}");
    CHECK_PREP(&rc, SIDE_NEW, "{\"o\":{\"k\":{\"lines\":[{\"q\":1}]},\"m\":{\"lines\":[]}}}",
               "{\"o\":{\"k\":{\"lines\":[{\"qty\":1}]},\"m\":{\"lines\":[]}}}");
    json_t *d = json_array();
    add_array(&rc, "/items", "sku", false);
    CHECK(rcmp(&rc, "{\"items\":[{\"sku\":\"A\",\"qty\":1},{\"sku\":\"B\",\"qty\":2}]}",
               "{\"items\":[{\"sku\":\"B\",\"quantity\":2},{\"sku\":\"A\",\"quantity\":1}]}",
               d) == 0);
    json_decref(d);
    rc_free(&rc);
}

TEST(maps_unreachable_wrap_unwrap_invalid)
{
    route_compare rc = {0};
    add_map(&rc, SIDE_LEGACY, "/x", "/s/y");
    add_map(&rc, SIDE_LEGACY, "/arr/0", "/arr/-");
    CHECK_PREP(&rc, SIDE_LEGACY, "{\"x\":1,\"s\":\"str\"}", "{\"s\":\"str\",\"x\":1}");
    CHECK_PREP(&rc, SIDE_LEGACY, "{\"arr\":[1,2,3]}", "{\"arr\":[2,3,1]}");
    rc_free(&rc);
    add_map(&rc, SIDE_NEW, "/data", "");
    CHECK_PREP(&rc, SIDE_NEW, "{\"data\":{\"a\":1},\"meta\":2}", "{\"a\":1}");
    rc_free(&rc);
    add_map(&rc, SIDE_NEW, "", "/data");
    CHECK_PREP(&rc, SIDE_NEW, "[1]", "{\"data\":[1]}");
    rc_free(&rc);

    const char *why = NULL;
    rule_map bad1 = {SIDE_NEW, "/a/**/b", "/c"};
    rule_map bad2 = {SIDE_NEW, "/items/*/q", "/lines/*/q"};
    rule_map bad3 = {SIDE_NEW, "a", "/b"};
    rule_map good = {SIDE_NEW, "/items/*/q", "/items/*/x/y"};
    CHECK(rule_map_check(&bad1, &why) == -EINVAL && why);
    CHECK(rule_map_check(&bad2, &why) == -EINVAL && why);
    CHECK(rule_map_check(&bad3, &why) == -EINVAL && why);
    CHECK(rule_map_check(&good, &why) == 0);
    /* An invalid map is skipped and reported; the rest still applies. */
    add_map(&rc, SIDE_NEW, "/a/**/b", "/c");
    add_ignore(&rc, "/gone");
    int r = 0;
    char *got = prep(&rc, SIDE_NEW, "{\"gone\":1,\"a\":{\"b\":1}}", &r);
    CHECK(r == -EINVAL);
    CHECK_STR(got, "{\"a\":{\"b\":1}}");
    free(got);
    rc_free(&rc);
}

/* ---- copy-on-write --------------------------------------------------------- */

TEST(prepare_never_touches_shared_input)
{
    route_compare rc = {0};
    add_map(&rc, SIDE_NEW, "/items/*/quantity", "/items/*/qty");
    add_ignore(&rc, "/**/created_at");
    add_norm(&rc, "/**/price", NUM | TRIM);
    add_norm(&rc, "/name", CASE);
    const char *text = "{\"name\":\"ABC\",\"created_at\":1,\"items\":[{\"quantity\":1,"
                       "\"price\":\" 10.00 \",\"created_at\":2},{\"sku\":\"x\"}],"
                       "\"deep\":{\"keep\":[1,2,3]}}";
    json_t *orig = J(text);
    char *before = dump(orig);
    json_t *items = json_object_get(orig, "items");
    json_t *item0 = json_array_get(items, 0), *deep = json_object_get(orig, "deep");

    json_t *d = json_incref(orig);
    CHECK(rulecmp_prepare(&rc, SIDE_NEW, &d) == 0);
    char *after = dump(orig), *got = dump(d);
    CHECK_STR(after, before);
    CHECK_STR(got, "{\"deep\":{\"keep\":[1,2,3]},\"items\":[{\"price\":10.0,\"qty\":1},"
                   "{\"sku\":\"x\"}],\"name\":\"abc\"}");
    CHECK(d != orig);
    CHECK(orig->refcount == 1 && items->refcount == 1 && item0->refcount == 1);
    /* Unchanged subtrees are shared, not copied. */
    CHECK(json_object_get(d, "deep") == deep && deep->refcount == 2);
    CHECK(json_array_get(json_object_get(d, "items"), 1) == json_array_get(items, 1));
    json_decref(d);
    CHECK(deep->refcount == 1);
    free(after);
    free(got);

    /* Exclusive root but a subtree shared with someone else: that subtree is
     * copied, the rest is changed in place. */
    json_t *held = json_incref(item0);
    d = orig;
    orig = NULL;
    CHECK(rulecmp_prepare(&rc, SIDE_NEW, &d) == 0);
    got = dump(held);
    CHECK_STR(got, "{\"created_at\":2,\"price\":\" 10.00 \",\"quantity\":1}");
    CHECK(held->refcount == 1);
    free(got);
    got = dump(d);
    CHECK_STR(got, "{\"deep\":{\"keep\":[1,2,3]},\"items\":[{\"price\":10.0,\"qty\":1},"
                   "{\"sku\":\"x\"}],\"name\":\"abc\"}");
    CHECK(json_object_get(d, "items") == items); /* changed in place */
    free(got);
    json_decref(held);
    json_decref(d);
    free(before);
    rc_free(&rc);
}

/* ---- status, headers ------------------------------------------------------- */

static void add_hdr(hdr_list *l, const char *name, const char *value)
{
    hdr_list_add(l, name, strlen(name), value, strlen(value));
}

TEST(status_equivalence_and_status_only)
{
    route_compare rc = {0};
    add_equiv(&rc, 201, 200);
    compare_opts o = {.rules = &rc};
    json_t *d = json_array();
    CHECK(compare_status(200, 201, d, &o) == 0);
    CHECK(compare_status(201, 200, d, &o) == 0);
    CHECK(compare_status(200, 202, d, &o) == 1);
    CHECK(diff_k(d, 0, "status", "", "changed", "200", "202", NULL));
    CHECK(compare_status(201, 200, d, NULL) == 1);
    CHECK(!rulecmp_status_only(&rc) && !rulecmp_status_only(NULL));

    rc.status_only = true;
    CHECK(rulecmp_status_only(&rc));
    hdr_list l = {0}, n = {0};
    add_hdr(&l, "Content-Type", "application/json");
    add_hdr(&n, "Content-Type", "text/plain");
    const char *names[] = {"Content-Type"};
    o.headers = names;
    o.nheaders = 1;
    CHECK(compare_headers(&l, &n, d, &o) == 0);
    CHECK(rcmp(&rc, "{\"a\":1}", "{\"a\":2}", d) == 0);
    CHECK(compare_status(200, 500, d, &o) == 1);
    CHECK(json_array_size(d) == 3);
    hdr_list_free(&l);
    hdr_list_free(&n);
    json_decref(d);
    rc_free(&rc);
}

TEST(headers_set_and_ignored)
{
    route_compare rc = {0};
    hdr_list l = {0}, n = {0};
    add_hdr(&l, "Content-Type", "application/json");
    add_hdr(&l, "X-Version", "1");
    add_hdr(&l, "ETag", "a");
    add_hdr(&n, "content-type", "text/plain");
    add_hdr(&n, "X-Version", "2");
    add_hdr(&n, "ETag", "b");
    const char *cfg[] = {"Content-Type", "ETag"};
    compare_opts o = {.headers = cfg, .nheaders = 2, .rules = &rc};
    json_t *d = json_array();
    /* No header rules: the configured list. */
    CHECK(compare_headers(&l, &n, d, &o) == 2);
    /* ignore_headers removes names from it, case-insensitively. */
    rc.ignore_headers = malloc(sizeof *rc.ignore_headers);
    rc.ignore_headers[0] = strdup("etag");
    rc.nignore_headers = 1;
    CHECK(compare_headers(&l, &n, d, &o) == 1);
    CHECK(diff_k(d, 2, "header", "Content-Type", "changed", "\"application/json\"",
                 "\"text/plain\"", NULL));
    /* headers_set replaces the list (ignore still applies). */
    rc.headers = malloc(2 * sizeof *rc.headers);
    rc.headers[0] = strdup("X-Version");
    rc.headers[1] = strdup("ETAG");
    rc.nheaders = 2;
    rc.headers_set = true;
    CHECK(compare_headers(&l, &n, d, &o) == 1);
    CHECK(diff_k(d, 3, "header", "X-Version", "changed", "\"1\"", "\"2\"", NULL));
    /* An empty set compares no header. */
    rc.nheaders = 0;
    CHECK(compare_headers(&l, &n, d, &o) == 0);
    rc.nheaders = 2;
    CHECK(json_array_size(d) == 4);
    hdr_list_free(&l);
    hdr_list_free(&n);
    json_decref(d);
    rc_free(&rc);
}

/* ---- known ----------------------------------------------------------------- */

TEST(known_rules)
{
    route_compare rc = {0};
    add_known(&rc, "tax-rounding", WHERE_BODY, "/totals/tax", "changed");
    add_known(&rc, "new-fields", WHERE_ANY, "/items/*/extra", "added");
    add_known(&rc, "created", WHERE_STATUS, NULL, NULL);
    add_known(&rc, "server", WHERE_HEADER, "Server", NULL);
    add_array(&rc, "/items", "sku", false);
    json_t *d = json_array();
    CHECK(rcmp(&rc,
               "{\"totals\":{\"tax\":1.5,\"grand\":10},\"items\":[{\"sku\":\"A\"}]}",
               "{\"totals\":{\"tax\":1.51,\"grand\":11},\"items\":[{\"sku\":\"A\",\"extra\":1}]}",
               d) == 3);
    CHECK(known_count == 2);
    CHECK(diff_k(d, 0, "body", "/totals/tax", "changed", "1.5", "1.51", "tax-rounding"));
    CHECK(diff_k(d, 1, "body", "/totals/grand", "changed", "10", "11", NULL));
    CHECK(diff_k(d, 2, "body", "/items/sku=A/extra", "added", NULL, "1", "new-fields"));
    /* Kind must match: a removed tax is not "tax-rounding". */
    CHECK(rcmp(&rc, "{\"totals\":{\"tax\":1}}", "{\"totals\":{}}", d) == 1);
    CHECK(known_count == 0);
    CHECK(diff_k(d, 3, "body", "/totals/tax", "removed", "1", NULL, NULL));

    /* Status and headers. */
    size_t known = 0;
    compare_opts o = {.rules = &rc, .known = &known};
    CHECK(compare_status(200, 201, d, &o) == 1 && known == 1);
    CHECK(diff_k(d, 4, "status", "", "changed", "200", "201", "created"));
    hdr_list l = {0}, n = {0};
    add_hdr(&l, "server", "nginx");
    add_hdr(&n, "Server", "erp");
    add_hdr(&l, "X-A", "1");
    const char *names[] = {"SERVER", "X-A"};
    o.headers = names;
    o.nheaders = 2;
    CHECK(compare_headers(&l, &n, d, &o) == 2 && known == 2);
    CHECK(diff_k(d, 5, "header", "SERVER", "changed", "\"nginx\"", "\"erp\"", "server"));
    CHECK(diff_k(d, 6, "header", "X-A", "removed", "\"1\"", NULL, NULL));
    hdr_list_free(&l);
    hdr_list_free(&n);

    /* Past the cap, known differences are still counted. */
    CHECK(rcmp_max(&rc, "{\"items\":[{\"sku\":\"A\"},{\"sku\":\"B\"},{\"sku\":\"C\"}]}",
                   "{\"items\":[{\"sku\":\"A\",\"extra\":1},{\"sku\":\"B\",\"extra\":2},"
                   "{\"sku\":\"C\",\"extra\":3}]}",
                   d, 8) == 3);
    CHECK(known_count == 3 && json_array_size(d) == 8);
    json_decref(d);
    rc_free(&rc);
}

TEST(classify_arrays)
{
    route_compare rc = {0};
    add_known(&rc, "any-type", WHERE_ANY, NULL, "type");
    add_known(&rc, "body-root", WHERE_BODY, "", NULL);
    json_t *d = J("[{\"where\":\"body\",\"path\":\"/a\",\"kind\":\"type\"},"
                  "{\"where\":\"header\",\"path\":\"X\",\"kind\":\"changed\",\"known\":\"stale\"},"
                  "{\"where\":\"body\",\"path\":\"\",\"kind\":\"changed\"},"
                  "{\"where\":\"status\",\"path\":\"\",\"kind\":\"changed\"}]");
    CHECK(rulecmp_classify(&rc, d) == 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(d, 0), "known")), "any-type");
    CHECK(json_object_get(json_array_get(d, 1), "known") == NULL);
    CHECK_STR(json_string_value(json_object_get(json_array_get(d, 2), "known")), "body-root");
    CHECK(rulecmp_classify(NULL, d) == 4);
    CHECK(json_object_get(json_array_get(d, 0), "known") == NULL);
    CHECK_STR(rulecmp_known(&rc, WHERE_HEADER, "X", "type"), "any-type");
    CHECK(rulecmp_known(&rc, WHERE_BODY, "/a", "changed") == NULL);
    json_decref(d);
    rc_free(&rc);
}

TEST(compare_json_prefix_sees_rules)
{
    route_compare rc = {0};
    add_tol(&rc, "/body/p", 0.1, 0);
    compare_opts o = {.rules = &rc};
    json_t *d = json_array(), *a = J("{\"p\":1}"), *b = J("{\"p\":1.05}");
    CHECK(compare_json(a, b, "/body", d, &o) == 0);
    CHECK(compare_json(a, b, "", d, &o) == 1);
    CHECK(diff_is(d, 0, "/p", "changed", "1", "1.05"));
    json_decref(a);
    json_decref(b);
    json_decref(d);
    rc_free(&rc);
}

/* ---- performance sanity (printed, not asserted) ---------------------------- */

static json_t *big_doc(int variant)
{
    json_t *items = json_array();
    for (int i = 0; i < 750; i++) {
        int k = variant ? 749 - i : i; /* the new side lists items backwards */
        char sku[16], ts[32];
        snprintf(sku, sizeof sku, "SKU%04d", k);
        snprintf(ts, sizeof ts, "2024-01-01T10:%02d:%02dZ", k % 60, variant);
        json_array_append_new(
            items, json_pack("{s:s, s:f, s:i, s:s, s:s, s:[s,s]}", "sku", sku,
                             "price", 10.0 + k, "qty", k % 7, "name",
                             "Product name long enough to weigh", "updated_at",
                             ts, "tags", "a", "b"));
    }
    return json_pack("{s:i, s:s, s:o, s:{s:f, s:f}}", "id", 42, "created_at",
                     variant ? "2024-01-01" : "2023-12-31", "items", items,
                     "totals", "grand", 1234.5, "tax", 99.99);
}

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

TEST(performance_sanity)
{
    json_t *a = big_doc(0), *b = big_doc(0), *c = big_doc(1);
    char *text = json_dumps(a, JSON_COMPACT);
    size_t size = strlen(text);
    free(text);
    route_compare rc = {0};
    add_ignore(&rc, "/**/updated_at");
    add_ignore(&rc, "/created_at");
    add_array(&rc, "/items", "sku", false);
    add_array(&rc, "/items/*/tags", NULL, true);
    add_tol(&rc, "/**/price", 0.005, 0);
    add_tol(&rc, "/totals/*", 0.005, 0);
    add_norm(&rc, "/items/*/name", TRIM | CASE);
    body_view va = {.kind = BODY_JSON, .json = a}, vb = {.kind = BODY_JSON, .json = b},
              vc = {.kind = BODY_JSON, .json = c};
    compare_opts plain = {0}, ruled = {.rules = &rc};
#ifdef __SANITIZE_ADDRESS__
    const int rounds = 50; /* timings under ASan mean little */
#else
    const int rounds = 1000;
#endif
    double t0 = now_us();
    size_t found = 0;
    for (int i = 0; i < rounds; i++)
        found += compare_bodies(&va, &vb, NULL, &plain);
    double t1 = now_us();
    for (int i = 0; i < rounds; i++)
        found += compare_bodies(&va, &vc, NULL, &ruled);
    double t2 = now_us();
    CHECK(found == 0);
    printf("  perf: %zu-byte document, no rules %.1f us/compare, typical rules "
           "(reordered, noisy side) %.1f us/compare\n",
           size, (t1 - t0) / rounds, (t2 - t1) / rounds);
    json_decref(a);
    json_decref(b);
    json_decref(c);
    rc_free(&rc);
}

int main(void)
{
    RUN(ignore_double_star_every_depth);
    RUN(ignore_star_only_at_its_depth);
    RUN(ignore_subtree_missing_and_root);
    RUN(ignore_array_elements);
    RUN(null_vs_missing);
    RUN(keyed_reorder_is_no_difference);
    RUN(keyed_changed_added_removed);
    RUN(keyed_duplicates_missing_and_odd_keys);
    RUN(keyed_number_bool_and_escaped_keys);
    RUN(keyed_many_elements_and_long_names);
    RUN(keyed_empty_nested_and_not_arrays);
    RUN(unordered_multisets);
    RUN(unordered_large_permutation);
    RUN(unordered_pairs_under_rules);
    RUN(deep_documents_with_rules);
    RUN(tolerance_boundary);
    RUN(tolerance_relative_wildcards_first_match);
    RUN(normalize_number_strings);
    RUN(normalize_case_trim_subtree);
    RUN(normalize_datetimes);
    RUN(maps_rename_move_and_missing);
    RUN(maps_wildcards_and_nesting);
    RUN(maps_unreachable_wrap_unwrap_invalid);
    RUN(prepare_never_touches_shared_input);
    RUN(status_equivalence_and_status_only);
    RUN(headers_set_and_ignored);
    RUN(known_rules);
    RUN(classify_arrays);
    RUN(compare_json_prefix_sees_rules);
    RUN(performance_sanity);
    UNIT_DONE();
}
