/* Unit tests for rules: loading every option, merging over "defaults",
 * matching, sampling, rewriting, secrets, and the shipped examples, schema
 * and docs. Validation errors and hostile files: test_rules_errors.c. Run
 * from the repository root (`make unit`): some tests read rules/ and docs/.
 * JSON in tests is written with single quotes; unit_q() turns them into double
 * quotes. */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/rules.h"
#include "conf/rules_load.h" /* the key lists, to check the docs name them all */
#include "unit.h"
#include "unit_rules.h"

/* --- loading every option
 * ------------------------------------------------------ */

TEST(every_option_parsed)
{
    setenv("SP_TEST_AUTH", "Bearer env-token", 1);
    rules *r = ok(
        "{'version': 1, 'routes': [{"
        " 'name': 'orders-get', 'description': 'x',"
        " 'match': {'methods': ['get', 'Head'], 'path_glob': '/api/orders/*',"
        "           'query': {'status': 'pending'}, 'header': {'X-Store': "
        "true}},"
        " 'authority': 'new',"
        " 'mirror': {'enabled': false, 'sample_percent': 12.5,"
        "            'methods': ['GET'], 'timeout_ms': 1500},"
        " 'shadow_rewrite': {"
        "   'path_template': {'from': '/api/orders/{id}', 'to': "
        "'/v2/sales/orders/{id}'},"
        "   'set_headers': {'Authorization': {'env': 'SP_TEST_AUTH'},"
        "                   'X-Source': {'value': 'shadowproxy'}},"
        "   'remove_headers': ['Cookie', 'X-Debug'],"
        "   'host': 'erp-next.internal:8443'},"
        " 'compare': {"
        "   'status_only': true,"
        "   'status_equivalent': [[201, 200], [204, 200]],"
        "   'headers': ['Content-Type', 'ETag'],"
        "   'ignore_headers': ['Date'],"
        "   'ignore': ['/erp_ref', '/**/updated_at'],"
        "   'tolerance': [{'path': '/totals/*', 'absolute': 0.005},"
        "                 {'path': '/rate', 'relative': 0.001}],"
        "   'arrays': [{'path': '/items', 'key': 'sku'},"
        "              {'path': '/tags', 'unordered': true}],"
        "   'map': [{'side': 'legacy', 'from': '/qty', 'to': '/quantity'}],"
        "   'normalize': [{'path': '/**/created_at', 'datetime': true},"
        "                 {'path': '/email', 'case_insensitive': true, 'trim': "
        "true,"
        "                  'number_strings': true}],"
        "   'known': [{'name': 'ERP-123 tax rounding', 'where': 'body',"
        "              'path': '/totals/tax', 'kind': 'changed'},"
        "             {'name': 'ERP-7 etag', 'where': 'header', 'path': "
        "'ETag'},"
        "             {'name': 'ERP-9 status', 'where': 'status'},"
        "             {'name': 'anything'}]},"
        " 'redact': {'fields': ['taxvat'], 'paths': ['/customer/dob']}"
        "}]}");
    if (!r)
        return;
    CHECK(r->nroutes == 1);
    const route *rt = &r->routes[0];
    CHECK_STR(rt->name, "orders-get");
    CHECK(rt->match.nmethods == 2);
    CHECK_STR(rt->match.methods[0], "GET");
    CHECK_STR(rt->match.methods[1], "HEAD");
    CHECK(rt->match.path_kind == PATH_GLOB);
    CHECK_STR(rt->match.path, "/api/orders/*");
    CHECK_STR(rt->match.query_name, "status");
    CHECK_STR(rt->match.query_value, "pending");
    CHECK_STR(rt->match.header_name, "X-Store");
    CHECK(rt->match.header_value == NULL);
    CHECK(rt->authority == SIDE_NEW);
    CHECK(!rt->mirror);
    CHECK(rt->sample_percent == 12.5);
    CHECK(rt->nmirror_methods == 1);
    CHECK_STR(rt->mirror_methods[0], "GET");
    CHECK(rt->shadow_timeout_ms == 1500);
    CHECK(rt->prefix_from == NULL && rt->prefix_to == NULL);
    CHECK_STR(rt->template_from, "/api/orders/{id}");
    CHECK_STR(rt->template_to, "/v2/sales/orders/{id}");
    CHECK(rt->nset_headers == 2);
    CHECK_STR(rt->set_headers[0].name, "Authorization");
    CHECK_STR(rt->set_headers[0].value, "Bearer env-token");
    CHECK_STR(rt->set_headers[1].name, "X-Source");
    CHECK_STR(rt->set_headers[1].value, "shadowproxy");
    CHECK(rt->nremove_headers == 2);
    CHECK_STR(rt->remove_headers[1], "X-Debug");
    CHECK_STR(rt->shadow_host, "erp-next.internal:8443");
    const route_compare *c = &rt->cmp;
    CHECK(c->status_only);
    CHECK(c->nstatus_equiv == 2);
    CHECK(c->status_equiv[0][0] == 201 && c->status_equiv[0][1] == 200);
    CHECK(c->status_equiv[1][0] == 204 && c->status_equiv[1][1] == 200);
    CHECK(c->headers_set && c->nheaders == 2);
    CHECK_STR(c->headers[1], "ETag");
    CHECK(c->nignore_headers == 1);
    CHECK_STR(c->ignore_headers[0], "Date");
    CHECK(c->nignore == 2);
    CHECK_STR(c->ignore[1].text, "/**/updated_at");
    CHECK(c->ignore[1].nsegs == 2);
    CHECK(path_pattern_match_str(&c->ignore[1], "/items/3/updated_at"));
    CHECK(c->ntolerance == 2);
    CHECK_STR(c->tolerance[0].path.text, "/totals/*");
    CHECK(c->tolerance[0].absolute == 0.005 && c->tolerance[0].relative == 0);
    CHECK(c->tolerance[1].relative == 0.001 && c->tolerance[1].absolute == 0);
    CHECK(c->narrays == 2);
    CHECK_STR(c->arrays[0].key, "sku");
    CHECK(!c->arrays[0].unordered);
    CHECK(c->arrays[1].key == NULL && c->arrays[1].unordered);
    CHECK(c->nmaps == 1);
    CHECK(c->maps[0].side == SIDE_LEGACY);
    CHECK_STR(c->maps[0].from, "/qty");
    CHECK_STR(c->maps[0].to, "/quantity");
    CHECK(c->nnormalize == 2);
    CHECK(c->normalize[0].datetime && !c->normalize[0].trim);
    CHECK(c->normalize[1].case_insensitive && c->normalize[1].trim &&
          c->normalize[1].number_strings && !c->normalize[1].datetime);
    CHECK(c->nknown == 4);
    CHECK_STR(c->known[0].name, "ERP-123 tax rounding");
    CHECK(c->known[0].where == WHERE_BODY);
    CHECK_STR(c->known[0].path.text, "/totals/tax");
    CHECK_STR(c->known[0].kind, "changed");
    CHECK(c->known[1].where == WHERE_HEADER);
    CHECK_STR(c->known[1].path.text, "ETag");
    CHECK(c->known[1].kind == NULL);
    CHECK(c->known[2].where == WHERE_STATUS && c->known[2].path.text == NULL);
    CHECK(c->known[3].where == WHERE_ANY && c->known[3].path.text == NULL);
    CHECK(rt->nredact_fields == 1);
    CHECK_STR(rt->redact_fields[0], "taxvat");
    CHECK(rt->nredact_paths == 1);
    CHECK_STR(rt->redact_paths[0].text, "/customer/dob");
    /* the fallback has every default */
    CHECK_STR(r->fallback.name, "default");
    CHECK(r->fallback.authority == -1 && r->fallback.mirror &&
          r->fallback.sample_percent == 100 && !r->fallback.mirror_methods);
    rules_unref(r);
    unsetenv("SP_TEST_AUTH");
}

TEST(built_in_defaults)
{
    rules *r = ok(
        "{'version': 1, 'routes': [{'name': 'a', 'match': {'path': '/a'}}]}");
    if (!r)
        return;
    const route *rt = &r->routes[0];
    CHECK(rt->authority == -1);
    CHECK(rt->mirror);
    CHECK(rt->sample_percent == 100);
    CHECK(rt->mirror_methods == NULL && rt->nmirror_methods == 0);
    CHECK(rt->shadow_timeout_ms == 0);
    CHECK(rt->match.methods == NULL);
    CHECK(rt->match.path_kind == PATH_EXACT);
    CHECK(!rt->cmp.headers_set && rt->cmp.headers == NULL);
    CHECK(!rt->cmp.status_only);
    CHECK(rt->cmp.nignore == 0 && rt->nset_headers == 0);
    CHECK(strlen(r->version) == 16);
    CHECK(strspn(r->version, "0123456789abcdef") == 16);
    CHECK(r->loaded_ms > 1600000000000LL);
    CHECK(r->path == NULL);
    rules_unref(r);
}

TEST(empty_lists_are_not_null)
{
    rules *r =
        ok(with_route("'mirror': {'methods': []}, 'compare': {'headers': []}"));
    if (!r)
        return;
    const route *rt = &r->routes[0];
    CHECK(rt->mirror_methods != NULL && rt->nmirror_methods == 0);
    CHECK(!rules_mirror_method(rt, "GET"));
    CHECK(rt->cmp.headers_set && rt->cmp.nheaders == 0);
    rules_unref(r);
}

/* --- merging
 * --------------------------------------------------------------------- */

TEST(merge_over_defaults)
{
    rules *r = ok(
        "{'version': 1,"
        " 'defaults': {'authority': 'new',"
        "   'mirror': {'sample_percent': 50, 'methods': ['GET'], 'timeout_ms': "
        "900},"
        "   'shadow_rewrite': {'path_prefix': {'from': '/api', 'to': '/v2'},"
        "                      'set_headers': {'X-A': {'value': 'a'}},"
        "                      'remove_headers': ['Cookie'], 'host': 'h1'},"
        "   'compare': {'ignore': ['/d'], 'headers': ['Content-Type'],"
        "               'status_equivalent': [[201, 200]], 'ignore_headers': "
        "['Date'],"
        "               'tolerance': [{'path': '/t', 'absolute': 1}],"
        "               'arrays': [{'path': '/a', 'unordered': true}],"
        "               'map': [{'side': 'new', 'from': '/x', 'to': '/y'}],"
        "               'normalize': [{'path': '/n', 'trim': true}],"
        "               'known': [{'name': 'k1'}]},"
        "   'redact': {'fields': ['f1'], 'paths': ['/p1'], 'exempt': ['luhn:gtin']}},"
        " 'routes': ["
        "  {'name': 'over', 'match': {'path': '/o'}, 'authority': 'legacy',"
        "   'mirror': {'sample_percent': 5, 'methods': ['POST'], 'enabled': "
        "false},"
        "   'shadow_rewrite': {'path_template': {'from': '/o/{id}', 'to': "
        "'/p/{id}'},"
        "                      'set_headers': {'X-B': {'value': 'b'}},"
        "                      'remove_headers': ['X-R'], 'host': 'h2'},"
        "   'compare': {'ignore': ['/r'], 'headers': ['ETag'], 'status_only': "
        "true,"
        "               'status_equivalent': [[202, 200]], 'ignore_headers': "
        "['Age'],"
        "               'tolerance': [{'path': '/t2', 'relative': 0.5}],"
        "               'arrays': [{'path': '/b', 'key': 'id'}],"
        "               'map': [{'side': 'legacy', 'from': '/u', 'to': '/v'}],"
        "               'normalize': [{'path': '/m', 'datetime': true}],"
        "               'known': [{'name': 'k2'}]},"
        "   'redact': {'fields': ['f2'], 'paths': ['/p2'], 'exempt': ['token:*']}},"
        "  {'name': 'inherit', 'match': {'path': '/i'}}],"
        " 'default': {'compare': {'ignore': ['/z']}}}");
    if (!r)
        return;
    const route *o = &r->routes[0], *i = &r->routes[1], *f = &r->fallback;
    /* scalars: the route wins */
    CHECK(o->authority == SIDE_LEGACY && i->authority == SIDE_NEW);
    CHECK(!o->mirror && i->mirror);
    CHECK(o->sample_percent == 5 && i->sample_percent == 50);
    CHECK(o->nmirror_methods == 1 && strcmp(o->mirror_methods[0], "POST") == 0);
    CHECK(i->nmirror_methods == 1 && strcmp(i->mirror_methods[0], "GET") == 0);
    CHECK(o->shadow_timeout_ms == 900 && i->shadow_timeout_ms == 900);
    CHECK_STR(o->shadow_host, "h2");
    CHECK_STR(i->shadow_host, "h1");
    /* a route's path rewrite replaces the defaults' whole */
    CHECK(o->prefix_from == NULL && o->template_from != NULL);
    CHECK_STR(i->prefix_from, "/api");
    CHECK_STR(i->prefix_to, "/v2");
    CHECK(o->cmp.status_only && !i->cmp.status_only);
    CHECK(o->cmp.nheaders == 1 && strcmp(o->cmp.headers[0], "ETag") == 0);
    CHECK(i->cmp.headers_set && strcmp(i->cmp.headers[0], "Content-Type") == 0);
    /* lists: defaults first, then the route */
    CHECK(o->cmp.nignore == 2);
    CHECK_STR(o->cmp.ignore[0].text, "/d");
    CHECK_STR(o->cmp.ignore[1].text, "/r");
    CHECK(i->cmp.nignore == 1);
    CHECK(o->nset_headers == 2);
    CHECK_STR(o->set_headers[0].name, "X-A");
    CHECK_STR(o->set_headers[1].value, "b");
    CHECK(o->nremove_headers == 2);
    CHECK_STR(o->remove_headers[1], "X-R");
    CHECK(o->cmp.nstatus_equiv == 2 && o->cmp.status_equiv[1][0] == 202);
    CHECK(o->cmp.nignore_headers == 2);
    CHECK_STR(o->cmp.ignore_headers[1], "Age");
    CHECK(o->cmp.ntolerance == 2 && o->cmp.tolerance[1].relative == 0.5);
    CHECK_STR(o->cmp.tolerance[1].path.text, "/t2");
    CHECK(o->cmp.narrays == 2 && o->cmp.arrays[0].unordered);
    CHECK_STR(o->cmp.arrays[1].key, "id");
    CHECK(o->cmp.nmaps == 2 && o->cmp.maps[0].side == SIDE_NEW);
    CHECK_STR(o->cmp.maps[1].to, "/v");
    CHECK(o->cmp.nnormalize == 2 && o->cmp.normalize[1].datetime);
    CHECK(o->cmp.nknown == 2);
    CHECK_STR(o->cmp.known[1].name, "k2");
    CHECK(o->nredact_fields == 2 && o->nredact_paths == 2);
    CHECK(o->nredact_exempt == 2);
    CHECK_STR(o->redact_exempt[0], "luhn:gtin");
    CHECK_STR(o->redact_exempt[1], "token:*");
    CHECK_STR(o->redact_fields[1], "f2");
    CHECK_STR(o->redact_paths[0].text, "/p1");
    CHECK(path_pattern_match_str(&o->redact_paths[1], "/p2"));
    /* "default" merges over "defaults" too */
    CHECK_STR(f->name, "default");
    CHECK(f->authority == SIDE_NEW && f->sample_percent == 50);
    CHECK(f->cmp.nignore == 2);
    CHECK_STR(f->cmp.ignore[1].text, "/z");
    rules_unref(r);
}

TEST(fallback_without_default_uses_defaults)
{
    rules *r = ok("{'version': 1, 'defaults': {'mirror': {'sample_percent': 7},"
                  " 'compare': {'ignore': ['/x']}}}");
    if (!r)
        return;
    CHECK(r->nroutes == 0);
    const route *f = route_of(r, "GET", "/anything");
    CHECK(f == &r->fallback);
    CHECK_STR(f->name, "default");
    CHECK(f->sample_percent == 7 && f->cmp.nignore == 1);
    CHECK(rules_find(r, "default") == f);
    CHECK(rules_find(r, "nope") == NULL);
    rules_unref(r);
}

TEST(rules_default_and_refcount)
{
    rules *r = rules_default();
    CHECK(r != NULL);
    if (!r)
        return;
    CHECK(r->nroutes == 0);
    const route *f = rules_match(r, "POST", "/x?y=1", NULL);
    CHECK(f == &r->fallback);
    CHECK_STR(f->name, "default");
    CHECK(f->mirror && f->sample_percent == 100 && f->authority == -1);
    CHECK(rules_should_mirror(f, "POST", "id"));
    CHECK_STR(r->version, "builtin");
    CHECK(rules_ref(r) == r);
    CHECK(atomic_load(&r->refs) == 2);
    rules_unref(r);
    CHECK(atomic_load(&r->refs) == 1);
    rules_unref(r);
    rules_unref(NULL);
    CHECK(rules_ref(NULL) == NULL);
    /* no snapshot at all: still a route */
    CHECK_STR(rules_match(NULL, "GET", "/", NULL)->name, "default");
}

/* --- matching
 * ----------------------------------------------------------------------- */

TEST(match_first_wins_in_file_order)
{
    rules *r = ok("{'version': 1, 'routes': ["
                  " {'name': 'one', 'match': {'methods': ['GET'], 'path': "
                  "'/api/orders/1'}},"
                  " {'name': 'glob', 'match': {'path_glob': '/api/orders/*'}},"
                  " {'name': 'also', 'match': {'path': '/api/orders/1'}},"
                  " {'name': 'prefix', 'match': {'path_prefix': '/api'}}]}");
    if (!r)
        return;
    CHECK_STR(name_of(r, "GET", "/api/orders/1"), "one");
    CHECK_STR(name_of(r, "POST", "/api/orders/1"), "glob");
    CHECK_STR(name_of(r, "GET", "/api/orders/2"), "glob");
    CHECK_STR(name_of(r, "GET", "/api/customers/2"), "prefix");
    CHECK_STR(name_of(r, "GET", "/other"), "default");
    CHECK(rules_find(r, "also") == &r->routes[2]);
    rules_unref(r);
}

TEST(match_exact)
{
    rules *r = ok("{'version': 1, 'routes': [{'name': 'e', 'match': {'path': "
                  "'/api/orders'}}]}");
    if (!r)
        return;
    CHECK_STR(name_of(r, "GET", "/api/orders"), "e");
    CHECK_STR(name_of(r, "GET", "/api/orders?status=pending&page=2"), "e");
    CHECK_STR(name_of(r, "GET", "/api/orders/"), "default");
    CHECK_STR(name_of(r, "GET", "/api/orders/1"), "default");
    CHECK_STR(name_of(r, "GET", "/api/order"), "default");
    CHECK_STR(name_of(r, "GET", "/API/orders"), "default");
    CHECK_STR(name_of(r, "GET", "http://erp.example/api/orders?x"), "e");
    CHECK_STR(name_of(r, "GET", ""), "default");
    CHECK_STR(name_of(r, "GET", NULL), "default");
    rules_unref(r);
    /* raw: no percent-decoding */
    r = ok("{'version': 1, 'routes': [{'name': 'enc', 'match': {'path': "
           "'/a%20b'}}]}");
    if (!r)
        return;
    CHECK_STR(name_of(r, "GET", "/a%20b"), "enc");
    CHECK_STR(name_of(r, "GET", "/a b"), "default");
    rules_unref(r);
}

TEST(match_prefix_at_segment_boundary)
{
    rules *r = ok("{'version': 1, 'routes': ["
                  " {'name': 'p', 'match': {'path_prefix': '/api/orders'}},"
                  " {'name': 's', 'match': {'path_prefix': '/v2/'}},"
                  " {'name': 'root', 'match': {'methods': ['DELETE'], "
                  "'path_prefix': '/'}}]}");
    if (!r)
        return;
    CHECK_STR(name_of(r, "GET", "/api/orders"), "p");
    CHECK_STR(name_of(r, "GET", "/api/orders/"), "p");
    CHECK_STR(name_of(r, "GET", "/api/orders/7/items"), "p");
    CHECK_STR(name_of(r, "GET", "/api/orders?x=1"), "p");
    CHECK_STR(name_of(r, "GET", "/api/ordersX"), "default");
    CHECK_STR(name_of(r, "GET", "/api/order"), "default");
    CHECK_STR(name_of(r, "GET", "/api"), "default");
    CHECK_STR(name_of(r, "GET", "/v2/"), "s");
    CHECK_STR(name_of(r, "GET", "/v2/x"), "s");
    CHECK_STR(name_of(r, "GET", "/v2"), "default");
    CHECK_STR(name_of(r, "DELETE", "/anything/at/all"), "root");
    CHECK_STR(name_of(r, "DELETE", "/"), "root");
    rules_unref(r);
}

static bool glob(const char *pattern, const char *target)
{
    char json[512];
    snprintf(json, sizeof json,
             "{'version': 1, 'routes': [{'name': 'g', 'match': {'path_glob': "
             "'%s'}}]}",
             pattern);
    rules *r = ok(json);
    bool m = r && strcmp(name_of(r, "GET", target), "g") == 0;
    rules_unref(r);
    return m;
}

TEST(match_glob_every_position)
{
    /* "*": exactly one non-empty segment */
    CHECK(glob("/api/orders/*", "/api/orders/1"));
    CHECK(glob("/api/orders/*", "/api/orders/1?x=1"));
    CHECK(!glob("/api/orders/*", "/api/orders"));
    CHECK(!glob("/api/orders/*", "/api/orders/"));
    CHECK(!glob("/api/orders/*", "/api/orders/1/items"));
    CHECK(glob("/*/orders/*", "/api/orders/1"));
    CHECK(!glob("/*/orders/*", "/orders/1"));
    CHECK(glob("/api/*/items", "/api/7/items"));
    CHECK(!glob("/api/*/items", "/api/items"));
    CHECK(!glob("/**", "*")); /* OPTIONS * */
    CHECK(glob("/*", "/x"));
    CHECK(!glob("/*", "/"));
    CHECK(!glob("/*", "/x/y"));
    /* "**": any number of segments, zero included */
    CHECK(glob("/api/**", "/api"));
    CHECK(glob("/api/**", "/api/"));
    CHECK(glob("/api/**", "/api/orders/1/items"));
    CHECK(!glob("/api/**", "/apix"));
    CHECK(!glob("/api/**", "/v2/api"));
    CHECK(glob("/**", "/"));
    CHECK(glob("/**", "/a/b/c"));
    CHECK(glob("/**/items", "/items"));
    CHECK(glob("/**/items", "/api/orders/1/items"));
    CHECK(!glob("/**/items", "/api/items/1"));
    CHECK(glob("/api/**/items", "/api/items"));
    CHECK(glob("/api/**/items", "/api/orders/1/items"));
    CHECK(!glob("/api/**/items", "/v2/orders/1/items"));
    CHECK(glob("/api/**/*", "/api/x"));
    CHECK(!glob("/api/**/*", "/api"));
    CHECK(glob("/**/b/**/d", "/a/b/c/d"));
    CHECK(glob("/**/b/**/d", "/b/d"));
    CHECK(!glob("/**/b/**/d", "/a/c/d"));
    CHECK(glob("/**/orders/*", "/x/y/orders/9"));
    CHECK(!glob("/**/orders/*", "/x/y/orders/9/z"));
    /* literal segments compare exactly */
    CHECK(glob("/api/orders", "/api/orders"));
    CHECK(!glob("/api/orders", "/api/orders/"));
}

TEST(match_query_header_and_methods)
{
    rules *r =
        ok("{'version': 1, 'routes': ["
           " {'name': 'pending', 'match': {'path': '/api/orders', 'query': "
           "{'status': 'pending'}}},"
           " {'name': 'paged', 'match': {'path': '/api/orders', 'query': "
           "{'page': true}}},"
           " {'name': 'hdr', 'match': {'header': {'x-store': 'de'}}},"
           " {'name': 'hdr-any', 'match': {'header': {'X-Debug': true}}},"
           " {'name': 'writes', 'match': {'methods': ['post', 'PUT']}}]}");
    if (!r)
        return;
    CHECK_STR(name_of(r, "GET", "/api/orders?status=pending"), "pending");
    CHECK_STR(name_of(r, "GET", "/api/orders?page=2&status=pending"),
              "pending");
    CHECK_STR(name_of(r, "GET", "/api/orders?status=pending2"), "default");
    CHECK_STR(name_of(r, "GET", "/api/orders?status=Pending"), "default");
    CHECK_STR(name_of(r, "GET", "/api/orders?xstatus=pending"), "default");
    CHECK_STR(name_of(r, "GET", "/api/orders?status=a&status=pending"),
              "pending");
    CHECK_STR(name_of(r, "GET", "/api/orders?status=pend%69ng"), "default");
    CHECK_STR(name_of(r, "GET", "/api/orders?page"), "paged");
    CHECK_STR(name_of(r, "GET", "/api/orders?page="), "paged");
    CHECK_STR(name_of(r, "GET", "/api/orders?&&page=3&"), "paged");
    CHECK_STR(name_of(r, "GET", "/api/orders"), "default");
    CHECK_STR(name_of(r, "GET", "/api/orders?"), "default");
    CHECK_STR(name_of(r, "GET", "/api/orders?pages=1"), "default");
    hdr_list h = {0};
    CHECK(hdr_list_add(&h, "Accept", 6, "*/*", 3) == 0);
    CHECK_STR(rules_match(r, "GET", "/x", &h)->name, "default");
    CHECK(hdr_list_add(&h, "X-Store", 7, "fr", 2) == 0);
    CHECK_STR(rules_match(r, "GET", "/x", &h)->name, "default");
    CHECK(hdr_list_add(&h, "X-STORE", 7, "de", 2) ==
          0); /* any field of that name */
    CHECK_STR(rules_match(r, "GET", "/x", &h)->name, "hdr");
    hdr_list_clear(&h);
    CHECK(hdr_list_add(&h, "x-debug", 7, "", 0) == 0);
    CHECK_STR(rules_match(r, "GET", "/x", &h)->name, "hdr-any");
    hdr_list_free(&h);
    CHECK_STR(name_of(r, "POST", "/x"), "writes");
    CHECK_STR(name_of(r, "PUT", "/x"), "writes");
    CHECK_STR(name_of(r, "post", "/x"),
              "default"); /* methods are case-sensitive */
    CHECK_STR(name_of(r, NULL, "/x"), "default");
    rules_unref(r);
}

/* --- mirroring decisions
 * ------------------------------------------------------------- */

static route sample_route(double pct)
{
    route rt = {.mirror = true, .sample_percent = pct, .authority = -1};
    return rt;
}

TEST(sampling_deterministic_and_rate)
{
    route r10 = sample_route(10), r0 = sample_route(0),
          r100 = sample_route(100);
    route r50 = sample_route(50), rf = sample_route(0.5);
    char id[64];
    int hits = 0, hits50 = 0, hitsf = 0;
    for (int i = 0; i < 10000; i++) {
        snprintf(id, sizeof id, "req-%d", i);
        bool s = rules_sampled(&r10, id);
        CHECK(s == rules_sampled(&r10, id)); /* same id, same answer */
        hits += s;
        hits50 += rules_sampled(&r50, id);
        hitsf += rules_sampled(&rf, id);
        /* a request sampled at 10% is sampled at 50% too */
        CHECK(!s || rules_sampled(&r50, id));
        CHECK(!rules_sampled(&r0, id));
        CHECK(rules_sampled(&r100, id));
    }
    CHECK(hits >= 800 && hits <= 1200);
    CHECK(hits50 >= 4800 && hits50 <= 5200);
    CHECK(hitsf >= 20 && hitsf <= 80);
    /* UUID-style ids too */
    hits = 0;
    for (int i = 0; i < 10000; i++) {
        snprintf(id, sizeof id, "%08x-6c1e-4f5a-9b2d-%012x", i * 2654435761u,
                 i);
        hits += rules_sampled(&r10, id);
    }
    CHECK(hits >= 800 && hits <= 1200);
    CHECK(rules_sampled(&r100, NULL) && !rules_sampled(&r0, NULL));
    CHECK(rules_sampled(&r10, NULL) == rules_sampled(&r10, ""));
    CHECK(rules_sampled(NULL, "x"));
}

TEST(mirror_methods_and_should_mirror)
{
    char *methods[] = {(char *)"GET", (char *)"HEAD"};
    route rt = sample_route(100);
    CHECK(rules_mirror_method(&rt, "POST")); /* NULL list: all */
    rt.mirror_methods = methods;
    rt.nmirror_methods = 2;
    CHECK(rules_mirror_method(&rt, "GET"));
    CHECK(rules_mirror_method(&rt, "HEAD"));
    CHECK(!rules_mirror_method(&rt, "POST"));
    CHECK(!rules_mirror_method(&rt, "get"));
    CHECK(!rules_mirror_method(&rt, NULL));
    CHECK(rules_should_mirror(&rt, "GET", "a"));
    CHECK(!rules_should_mirror(&rt, "PUT", "a"));
    rt.mirror = false;
    CHECK(!rules_should_mirror(&rt, "GET", "a"));
    rt.mirror = true;
    rt.sample_percent = 0;
    CHECK(!rules_should_mirror(&rt, "GET", "a"));
}

/* --- rewriting
 * ------------------------------------------------------------------------- */

static const char *rw(const route *rt, const char *target)
{
    static char buf[4][512];
    static int next;
    char *b = buf[next++ % 4], *s = rules_rewrite_target(rt, target);
    snprintf(b, sizeof buf[0], "%s", s ? s : "(null)");
    free(s);
    return b;
}

TEST(rewrite_prefix)
{
    route rt = sample_route(100);
    CHECK_STR(rw(&rt, "/api/orders/1?x=1"), "/api/orders/1?x=1");
    rt.prefix_from = (char *)"/api";
    rt.prefix_to = (char *)"/v2";
    CHECK_STR(rw(&rt, "/api/orders/1"), "/v2/orders/1");
    CHECK_STR(rw(&rt, "/api/orders/1?status=a&x=/api"),
              "/v2/orders/1?status=a&x=/api");
    CHECK_STR(rw(&rt, "/api"), "/v2");
    CHECK_STR(rw(&rt, "/api?x"), "/v2?x");
    CHECK_STR(rw(&rt, "/api/"), "/v2/");
    CHECK_STR(rw(&rt, "/apix/1"), "/apix/1"); /* not at a segment boundary */
    CHECK_STR(rw(&rt, "/v1/api/1"), "/v1/api/1");
    CHECK_STR(rw(&rt, ""), "");
    CHECK_STR(rw(&rt, NULL), "");
    rt.prefix_to = (char *)"";
    CHECK_STR(rw(&rt, "/api/orders?x"), "/orders?x");
    CHECK_STR(rw(&rt, "/api?x"), "/?x");
    rt.prefix_from = (char *)"/api/";
    rt.prefix_to = (char *)"/erp/v2/";
    CHECK_STR(rw(&rt, "/api/orders"), "/erp/v2/orders");
    CHECK_STR(rw(&rt, "/api/"), "/erp/v2/");
    CHECK_STR(rw(&rt, "/api"), "/api");
    rt.prefix_from = (char *)"/";
    rt.prefix_to = (char *)"/v2";
    CHECK_STR(rw(&rt, "/orders/1?a"), "/v2/orders/1?a");
}

TEST(rewrite_template)
{
    route rt = sample_route(100);
    rt.template_from = (char *)"/api/orders/{id}";
    rt.template_to = (char *)"/v2/sales/orders/{id}";
    CHECK_STR(rw(&rt, "/api/orders/42"), "/v2/sales/orders/42");
    CHECK_STR(rw(&rt, "/api/orders/42?expand=items&x=%2F"),
              "/v2/sales/orders/42?expand=items&x=%2F");
    CHECK_STR(rw(&rt, "/api/orders/42/items"), "/api/orders/42/items");
    CHECK_STR(rw(&rt, "/api/orders"), "/api/orders");
    CHECK_STR(rw(&rt, "/api/orders/"), "/api/orders/");
    CHECK_STR(rw(&rt, "/api/invoices/42"), "/api/invoices/42");
    rt.template_from = (char *)"/api/{coll}/{id}/lines/{n}";
    rt.template_to = (char *)"/v2/{coll}/{id}/{n}/{id}";
    CHECK_STR(rw(&rt, "/api/orders/7/lines/3?q"), "/v2/orders/7/3/7?q");
    rt.template_to = (char *)"/flat";
    CHECK_STR(rw(&rt, "/api/orders/7/lines/3"), "/flat");
    /* loaded from a file */
    rules *r = ok(with_route(
        "'shadow_rewrite': {'path_template': "
        "{'from': '/api/inventory/{sku}', 'to': '/stock/{sku}/level'}}"));
    if (!r)
        return;
    CHECK_STR(rw(&r->routes[0], "/api/inventory/24-MB01?source=default"),
              "/stock/24-MB01/level?source=default");
    rules_unref(r);
}

/* --- shipped files
 * ------------------------------------------------------------------------ */

TEST(examples_load_cleanly)
{
    config_errors e = {0};
    setenv("NEW_ERP_AUTH", "Bearer example", 1);
    rules *r = rules_load_file("rules/examples/magento-erp.json", &e);
    for (size_t i = 0; i < e.n; i++)
        fprintf(stderr, "  magento-erp.json:%s\n", unit_err(&e, i));
    CHECK(r != NULL && e.n == 0);
    if (r) {
        CHECK_STR(r->path, "rules/examples/magento-erp.json");
        CHECK(r->nroutes == 10);
        CHECK_STR(name_of(r, "GET", "/api/orders/42"), "orders-get");
        CHECK_STR(name_of(r, "GET", "/api/orders/ERP-000042-1A2B/status"), "orders-status");
        CHECK_STR(name_of(r, "GET", "/api/orders?status=pending&page=1"),
                  "orders-list");
        CHECK_STR(name_of(r, "POST", "/api/orders"), "orders-create");
        CHECK_STR(name_of(r, "GET", "/api/inventory/24-MB01"), "inventory-get");
        CHECK_STR(name_of(r, "PUT", "/api/inventory/24-MB01"),
                  "inventory-update");
        CHECK_STR(name_of(r, "GET", "/api/customers/7"), "customers-get");
        CHECK_STR(name_of(r, "GET", "/api/invoices/7"), "invoices-get");
        CHECK_STR(name_of(r, "GET", "/api/shipments/9"), "shipments-get");
        CHECK_STR(name_of(r, "POST", "/api/shipments"), "shipments-create");
        CHECK_STR(name_of(r, "GET", "/health"), "default");
        const route *get = route_of(r, "GET", "/api/orders/42");
        const route *post = route_of(r, "POST", "/api/orders");
        CHECK(rules_should_mirror(get, "GET", "id-1"));
        CHECK(!rules_should_mirror(post, "POST",
                                   "id-1")); /* writes are not mirrored */
        CHECK(post->cmp.nstatus_equiv == 1 &&
              post->cmp.status_equiv[0][0] == 201);
        CHECK(get->nset_headers == 1);
        CHECK_STR(get->set_headers[0].value, "Bearer example");
        CHECK(get->cmp.nknown == 1);
        const route *ship = route_of(r, "GET", "/api/shipments/9");
        CHECK_STR(rw(ship, "/api/shipments/9?x=1"),
                  "/v2/logistics/shipments/9?x=1");
        rules_unref(r);
    }
    config_errors_free(&e);
    unsetenv("NEW_ERP_AUTH");
    /* without the variable the example names it */
    r = rules_load_file("rules/examples/magento-erp.json", &e);
    CHECK(r == NULL && e.n == 1);
    CHECK(e.n == 1 &&
          strstr(e.v[0].message, "\"NEW_ERP_AUTH\", which is not set"));
    config_errors_free(&e);
    r = rules_load_file("rules/examples/minimal.json", &e);
    CHECK(r != NULL && e.n == 0);
    if (r) {
        CHECK_STR(name_of(r, "HEAD", "/api/orders/1"), "orders-get");
        CHECK(r->routes[0].cmp.nignore == 1);
        rules_unref(r);
    }
    config_errors_free(&e);
}

TEST(schema_is_valid_json)
{
    json_error_t je;
    json_t *s =
        json_load_file("rules/rules.schema.json", JSON_REJECT_DUPLICATES, &je);
    if (!s)
        fprintf(stderr, "  rules.schema.json:%d:%d: %s\n", je.line, je.column,
                je.text);
    CHECK(s != NULL);
    CHECK_STR(json_string_value(json_object_get(s, "$schema")),
              "https://json-schema.org/draft/2020-12/schema");
    json_decref(s);
}

/* docs/rules.md and the schema name every key the loader accepts. */
TEST(docs_and_schema_name_every_key)
{
    size_t dl, sl;
    char *doc = unit_read_file("docs/rules.md", &dl);
    char *schema = unit_read_file("rules/rules.schema.json", &sl);
    CHECK(doc && schema);
    for (const rl_section *s = rl_sections; doc && schema && s->keys; s++)
        for (const char *const *k = s->keys; *k; k++) {
            char want[80];
            snprintf(want, sizeof want, "`%s`", *k);
            if (!strstr(doc, want)) {
                fprintf(stderr, "  docs/rules.md does not name %s.%s\n",
                        s->name, *k);
                CHECK(!"key missing from docs/rules.md");
            }
            snprintf(want, sizeof want, "\"%s\":", *k);
            if (!strstr(schema, want)) {
                fprintf(stderr, "  rules.schema.json does not name %s.%s\n",
                        s->name, *k);
                CHECK(!"key missing from the schema");
            }
        }
    free(doc);
    free(schema);
}

TEST(confirm_defaults_merge_and_reads_only)
{
    rules *r = ok("{'version': 1, 'defaults': {'confirm': {'after_ms': 100}},"
                  " 'routes': ["
                  "  {'name': 'a', 'match': {'methods': ['GET', 'POST']}},"
                  "  {'name': 'b', 'match': {'path': '/b'},"
                  "   'confirm': {'max_per_second': 2.5, 'max_in_flight': 3}},"
                  "  {'name': 'c', 'match': {'path': '/c'}, 'confirm': {'enabled': false}},"
                  "  {'name': 'w', 'match': {'methods': ['PUT']}, 'confirm': {'enabled': false}}]}");
    const route *a = rules_find(r, "a"), *b = rules_find(r, "b"), *c = rules_find(r, "c");
    CHECK(a->confirm.enabled && a->confirm.after_ms == 100);
    CHECK(a->confirm.max_per_second == CONFIRM_DEFAULT_PER_SECOND);
    CHECK(a->confirm.max_in_flight == CONFIRM_DEFAULT_IN_FLIGHT);
    /* a route's section replaces the defaults' whole: after_ms back to 500 */
    CHECK(b->confirm.enabled && b->confirm.after_ms == CONFIRM_DEFAULT_AFTER_MS);
    CHECK(b->confirm.max_per_second == 2.5 && b->confirm.max_in_flight == 3);
    CHECK(!c->confirm.enabled);
    rules_unref(r);
    r = rules_default();
    CHECK(r && !r->fallback.confirm.enabled);
    rules_unref(r);
    config_errors e = {0};
    CHECK(!load(unit_q("{'version': 1, 'routes': [{'name': 'w', 'match': {'methods': "
                       "['POST', 'PUT']}, 'confirm': {}}]}"), &e));
    CHECK(e.n == 1 && strstr(unit_err(&e, 0), "re-reads only GET and HEAD"));
    config_errors_free(&e);
    e = (config_errors){0};
    CHECK(!load(unit_q(with_route("'confirm': {'after_ms': 60001, 'max_in_flight': 0, "
                                  "'max_per_second': 0}")), &e));
    CHECK(e.n == 3);
    config_errors_free(&e);
}

TEST(same_bytes_same_version)
{
    const char *a = unit_q("{'version': 1}"), *b = unit_q("{'version': 1 }");
    config_errors e = {0};
    rules *r1 = load(a, &e), *r2 = load(a, &e), *r3 = load(b, &e);
    CHECK(r1 && r2 && r3 && e.n == 0);
    if (r1 && r2 && r3) {
        CHECK_STR(r1->version, r2->version);
        CHECK(strcmp(r1->version, r3->version) != 0);
    }
    rules_unref(r1);
    rules_unref(r2);
    rules_unref(r3);
    config_errors_free(&e);
}

int main(void)
{
    RUN(every_option_parsed);
    RUN(built_in_defaults);
    RUN(empty_lists_are_not_null);
    RUN(merge_over_defaults);
    RUN(fallback_without_default_uses_defaults);
    RUN(rules_default_and_refcount);
    RUN(match_first_wins_in_file_order);
    RUN(match_exact);
    RUN(match_prefix_at_segment_boundary);
    RUN(match_glob_every_position);
    RUN(match_query_header_and_methods);
    RUN(sampling_deterministic_and_rate);
    RUN(mirror_methods_and_should_mirror);
    RUN(rewrite_prefix);
    RUN(rewrite_template);
    RUN(examples_load_cleanly);
    RUN(schema_is_valid_json);
    RUN(docs_and_schema_name_every_key);
    RUN(same_bytes_same_version);
    RUN(confirm_defaults_merge_and_reads_only);
    UNIT_DONE();
}
