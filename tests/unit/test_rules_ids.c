/* Unit tests: the rules' "ids" section (conf/rules_ids.c): validation with
 * positions, merging over "defaults", and the path template helpers the
 * shadow request's rewrite uses. */
#include "conf/rules.h"
#include "unit.h"

static rules *load_q(const char *json, config_errors *e)
{
    const char *t = unit_q(json);
    return rules_load_buffer(t, strlen(t), e);
}

static const char *first_error(const char *json)
{
    static char buf[800];
    config_errors e = {0};
    rules *r = load_q(json, &e);
    CHECK(r == NULL);
    rules_unref(r);
    snprintf(buf, sizeof buf, "%s", e.n ? unit_err(&e, 0) : "(none)");
    config_errors_free(&e);
    return buf;
}

#define ROUTE(body) "{'version': 1, 'routes': [{'name': 'r', 'match': {'path': '/r'}, " body "}]}"

TEST(section_loads_and_merges)
{
    config_errors e = {0};
    rules *r = load_q("{'version': 1,"
                      " 'defaults': {'ids': {'use': [{'name': 'order', 'header': 'X-Order-Id'}]}},"
                      " 'routes': [{'name': 'create', 'match': {'path': '/api/orders'},"
                      "   'ids': {'learn': [{'name': 'order', 'legacy': '/erp_order_id', 'new': '/erp_order_id'},"
                      "                     {'name': 'order', 'location': '/api/orders/{id}'}]}},"
                      "  {'name': 'status', 'match': {'path_glob': '/api/orders/*/status'},"
                      "   'ids': {'use': [{'name': 'order', 'path_template': '/api/orders/{id}/status'},"
                      "                   {'name': 'order', 'query': 'order_id'},"
                      "                   {'name': 'order', 'body': '/order/id'}]}}]}",
                      &e);
    for (size_t i = 0; i < e.n; i++)
        fprintf(stderr, "  unexpected: %s\n", unit_err(&e, i));
    CHECK(r && e.n == 0);
    config_errors_free(&e);
    if (!r)
        return;
    const route *c = rules_find(r, "create"), *s = rules_find(r, "status");
    CHECK(json_array_size(json_object_get(c->ids, "learn")) == 2);
    CHECK(json_array_size(json_object_get(c->ids, "use")) == 1); /* the defaults' header */
    CHECK(json_array_size(json_object_get(s->ids, "use")) == 4); /* defaults' first */
    CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(s->ids, "use"), 0),
                                                "header")), "X-Order-Id");
    CHECK(r->fallback.ids != NULL); /* the defaults' reach "default" too */
    rules_unref(r);
}

TEST(section_errors)
{
    CHECK(strstr(first_error(ROUTE("'ids': {'learn': [{'name': 'o', 'legacy': '/a'}]}")),
                 "needs \"legacy\" and \"new\""));
    CHECK(strstr(first_error(ROUTE("'ids': {'learn': [{'name': 'o', 'location': '/a/{id}', "
                                   "'legacy': '/a', 'new': '/b'}]}")),
                 "has both \"location\""));
    CHECK(strstr(first_error(ROUTE("'ids': {'learn': [{'name': 'o', 'location': '/a/x{id}'}]}")),
                 "one whole segment {id}"));
    CHECK(strstr(first_error(ROUTE("'ids': {'use': [{'name': 'o'}]}")),
                 "needs one of \"path_template\""));
    CHECK(strstr(first_error(ROUTE("'ids': {'use': [{'name': 'o', 'query': 'a', 'header': 'B'}]}")),
                 "has both"));
    CHECK(strstr(first_error(ROUTE("'ids': {'use': [{'path_template': '/a/{id}'}]}")),
                 "name is required"));
    CHECK(strstr(first_error(ROUTE("'ids': {'use': [{'name': 'o', 'body': 'id'}]}")),
                 "must be a JSON Pointer"));
    CHECK(strstr(first_error(ROUTE("'ids': {'use': [{'name': 'o', 'header': 'X Y'}]}")),
                 "must be a header name"));
    CHECK(strstr(first_error(ROUTE("'ids': {'lern': []}")), "lern"));
}

TEST(template_match_and_splice)
{
    size_t st, n;
    CHECK(rules_ids_template_match("/api/orders/{id}/status", "/api/orders/SO-1/status?x=1", &st, &n));
    CHECK(st == 12 && n == 4);
    CHECK(rules_ids_template_match("/api/orders/{id}", "/api/orders/SO-1", &st, &n) && n == 4);
    CHECK(!rules_ids_template_match("/api/orders/{id}", "/api/orders/", &st, &n));
    CHECK(!rules_ids_template_match("/api/orders/{id}", "/api/orders/a/b", &st, &n));
    CHECK(!rules_ids_template_match("/api/orders/{id}/status", "/api/invoices/1/status", &st, &n));
    char *s = rules_ids_splice("/api/orders/SO-1/status?x=1", 12, 4, "NX-987");
    CHECK_STR(s, "/api/orders/NX-987/status?x=1");
    free(s);
    CHECK(rules_ids_splice("/a", 1, 5, "x") == NULL);
}

int main(void)
{
    RUN(section_loads_and_merges);
    RUN(section_errors);
    RUN(template_match_and_splice);
    UNIT_DONE();
}
