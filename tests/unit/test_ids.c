/* Unit tests: correlated ids acted on (data/ids.c): the shadow's copy of a
 * request rewritten at each place (path template, query, header, body) in
 * both directions, an unknown id refused with its place, pairs learned
 * from JSON answers and Location headers, and the new side's ids mapped
 * back before a comparison. */
#include "base/clock.h"
#include "data/ids.h"
#include "unit.h"
#include "unit_rules.h"

static const char *RULES =
    "{'version': 1, 'routes': ["
    " {'name': 'create', 'match': {'path': '/api/orders'},"
    "  'ids': {'learn': [{'name': 'order', 'legacy': '/erp_order_id', 'new': '/erp_order_id'},"
    "                    {'name': 'doc', 'location': '/api/docs/{id}'}]}},"
    " {'name': 'use', 'match': {'path_prefix': '/api/orders/'},"
    "  'ids': {'use': [{'name': 'order', 'path_template': '/api/orders/{id}/status'},"
    "                  {'name': 'order', 'query': 'order'},"
    "                  {'name': 'order', 'header': 'X-Order-Id'},"
    "                  {'name': 'order', 'body': '/order/id'}]}}]}";

static blob *blob_of(const char *s)
{
    blob *b = NULL;
    CHECK(blob_append(&b, s, strlen(s)) == 0);
    return b;
}

/* Ends a learning test: no ledger in force, both answers and the rules freed. */
static void release_answers(idledger *l, rules *r, blob *b[2], hdr_list h[2])
{
    ids_set_ledger(NULL);
    for (int s = 0; s < 2; s++) {
        blob_unref(b[s]);
        hdr_list_free(&h[s]);
    }
    idledger_free(l);
    rules_unref(r);
}

TEST(rewrites_each_place_both_ways)
{
    rules *r = ok(RULES);
    idledger *l = idledger_new(10, 60000);
    CHECK(r && l && idledger_put(l, "order", "SO-1", "NX-7", clock_wall_ms()) == 0);
    ids_set_ledger(l);
    const route *use = rules_find(r, "use");
    hdr_list h = {0};
    CHECK(hdr_list_add(&h, "X-Order-Id", 10, "SO-1", 4) == 0);
    blob *body = blob_of("{\"order\": {\"id\": \"SO-1\"}, \"n\": 1}");
    ids_rewrite w;
    char why[300] = "";
    CHECK(ids_rewrite_request(use, SIDE_NEW, "/api/orders/SO-1/status?order=SO-1&x=2", &h, body,
                              &w, why, sizeof why) == 0);
    CHECK_STR(w.target, "/api/orders/NX-7/status?order=NX-7&x=2");
    CHECK_STR(w.header_name, "X-Order-Id");
    CHECK_STR(w.header_value, "NX-7");
    CHECK(w.body && w.body->len == strlen("{\"order\":{\"id\":\"NX-7\"},\"n\":1}") &&
          memcmp(w.body->data, "{\"order\":{\"id\":\"NX-7\"},\"n\":1}", w.body->len) == 0);
    CHECK(json_array_size(w.pairs) == 4);
    ids_rewrite_free(&w);
    /* After a flip the client speaks new's ids; the legacy shadow gets legacy's. */
    CHECK(ids_rewrite_request(use, SIDE_LEGACY, "/api/orders/NX-7/status", NULL, NULL, &w, why,
                              sizeof why) == 0);
    CHECK_STR(w.target, "/api/orders/SO-1/status");
    CHECK_STR(json_string_value(json_array_get(json_array_get(w.pairs, 0), 1)), "SO-1");
    ids_rewrite_free(&w);
    /* Nothing at any place: unchanged, nothing looked up. */
    CHECK(ids_rewrite_request(use, SIDE_NEW, "/api/orders/", NULL, NULL, &w, why, sizeof why) == 0);
    CHECK(!w.target && !w.body && !w.header_name && !w.pairs);
    /* An unknown id: refused, with its place. */
    CHECK(ids_rewrite_request(use, SIDE_NEW, "/api/orders/list?order=SO-2", NULL, NULL, &w, why,
                              sizeof why) == 1);
    CHECK(strstr(why, "\"SO-2\"") && strstr(why, "query parameter order"));
    CHECK(!w.target && !w.pairs);
    ids_set_ledger(NULL);
    blob_unref(body);
    hdr_list_free(&h);
    idledger_free(l);
    rules_unref(r);
}

TEST(learns_from_answers_and_maps_back)
{
    rules *r = ok(RULES);
    idledger *l = idledger_new(10, 60000);
    CHECK(r && l);
    ids_set_ledger(l);
    hdr_list h[2] = {{0}, {0}};
    CHECK(hdr_list_add(&h[0], "Location", 8, "http://erp-a:8080/api/docs/D-1", 30) == 0);
    CHECK(hdr_list_add(&h[1], "Location", 8, "/api/docs/X-9", 13) == 0);
    CHECK(hdr_list_add(&h[0], "Content-Type", 12, "application/json", 16) == 0);
    blob *b[2] = {blob_of("{\"erp_order_id\": \"SO-3\"}"), blob_of("{\"erp_order_id\": 42}")};
    const hdr_list *hp[2] = {&h[0], &h[1]};
    const blob *bp[2] = {b[0], b[1]};
    json_t *pairs = NULL;
    CHECK(ids_learn(rules_find(r, "create"), hp, bp, &pairs) == 0);
    CHECK(json_array_size(pairs) == 2);
    char *got = idledger_new_side_of(l, "order", "SO-3", clock_wall_ms());
    CHECK_STR(got, "42"); /* an integer id, as its text */
    free(got);
    got = idledger_legacy_side_of(l, "doc", "X-9", clock_wall_ms());
    CHECK_STR(got, "D-1");
    free(got);
    /* The new side's answer read with legacy's ids: strings and integers. */
    json_t *answer = json_loads("{\"id\": 42, \"doc\": \"X-9\", \"other\": \"X-99\", "
                                "\"list\": [\"X-9\", 43]}", 0, NULL);
    CHECK(ids_map_back(answer, pairs) == 2); /* 42 -> "SO-3" is not an integer: left alone */
    CHECK_STR(json_string_value(json_object_get(answer, "doc")), "D-1");
    CHECK_STR(json_string_value(json_array_get(json_object_get(answer, "list"), 0)), "D-1");
    CHECK_STR(json_string_value(json_object_get(answer, "other")), "X-99");
    json_decref(answer);
    json_decref(pairs);
    release_answers(l, r, b, h);
}

TEST(learns_from_xml_answers)
{
    rules *r = ok("{'version': 1, 'routes': [{'name': 'soap', 'match': {'path': '/soap'},"
                      " 'ids': {'learn': [{'name': 'order', 'legacy': '/Envelope/Body/Created/OrderId',"
                      "                    'new': '/Envelope/Body/Created/OrderId'}]}}]}");
    idledger *l = idledger_new(10, 60000);
    CHECK(r && l);
    ids_set_ledger(l);
    hdr_list h[2] = {{0}, {0}};
    for (int s = 0; s < 2; s++)
        CHECK(hdr_list_add(&h[s], "Content-Type", 12, "text/xml", 8) == 0);
    blob *b[2] = {blob_of("<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\">"
                          "<soap:Body><Created><OrderId>SO-5</OrderId></Created></soap:Body>"
                          "</soap:Envelope>"),
                  blob_of("<S:Envelope xmlns:S=\"http://schemas.xmlsoap.org/soap/envelope/\">"
                          "<S:Body><Created><OrderId>NX-5</OrderId></Created></S:Body>"
                          "</S:Envelope>")};
    const hdr_list *hp[2] = {&h[0], &h[1]};
    const blob *bp[2] = {b[0], b[1]};
    json_t *pairs = NULL;
    CHECK(ids_learn(rules_find(r, "soap"), hp, bp, &pairs) == 0);
    CHECK(json_array_size(pairs) == 1);
    char *got = idledger_new_side_of(l, "order", "SO-5", clock_wall_ms());
    CHECK_STR(got, "NX-5");
    free(got);
    json_decref(pairs);
    release_answers(l, r, b, h);
}

TEST(ledger_path_beside_the_state_file)
{
    sp_config c = {0};
    c.state_file = "/var/lib/sp/state.json";
    char *p = ids_ledger_path(&c);
    CHECK_STR(p, "/var/lib/sp/shadowproxy-ids.json");
    free(p);
    c.state_file = "state.json";
    p = ids_ledger_path(&c);
    CHECK_STR(p, "shadowproxy-ids.json");
    free(p);
    c.ids_ledger_file = "/tmp/l.json";
    p = ids_ledger_path(&c);
    CHECK_STR(p, "/tmp/l.json");
    free(p);
    c.ids_ledger_file = NULL;
    c.state_file = NULL;
    CHECK(ids_ledger_path(&c) == NULL); /* the replay: memory only */
}

int main(void)
{
    RUN(rewrites_each_place_both_ways);
    RUN(learns_from_answers_and_maps_back);
    RUN(learns_from_xml_answers);
    RUN(ledger_path_beside_the_state_file);
    UNIT_DONE();
}
