/* Unit tests for proxy/diff/redact.c: what is a secret (field names, path
 * patterns, strict and lenient), and what reaches the record for JSON
 * bodies, differences, bodies that did not parse, forms, and XML
 * redaction agreeing with the tree. More XML bodies in records:
 * test_record.c. */
#include <stdlib.h>

#include "diff/record.h"
#include "unit.h"

static const char *const FIELDS[] = {"password", "token", "secret",
                                     "card_number", "cvv"};
static const record_opts OPTS = {.max_body_bytes = 8192, .redact_fields = FIELDS,
                                 .nredact_fields = 5};
static const char SHA[] =
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

static body_view json_view(json_t *j)
{
    body_view b = {.kind = BODY_JSON, .data = (const unsigned char *)"",
                   .json = j, .wire_len = 10};
    memcpy(b.sha256, SHA, sizeof SHA);
    return b;
}

static record_input base_input(void)
{
    record_input in = {
        .id = "req-1", .ts_ms = 1795527682123LL, .route = "r",
        .method = "POST", .uri = "/x", .authority = "legacy",
        .verdict = "mismatch",
        .legacy = {.attempted = true, .status = 200},
        .new_ = {.attempted = true, .status = 200},
    };
    return in;
}

static bool line_contains(const json_t *rec, const char *needle)
{
    char *s = record_to_line(rec, NULL);
    CHECK(s != NULL);
    bool found = s && strstr(s, needle) != NULL;
    free(s);
    return found;
}

static const char *sget(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* The string at a dotted path ("body.payment.cc_cid"). */
static const char *sat(json_t *obj, const char *dotted)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", dotted);
    for (char *tok = strtok(buf, "."); tok && obj; tok = strtok(NULL, "."))
        obj = json_object_get(obj, tok);
    return json_string_value(obj);
}

/* A record whose request body is *b; returns its request object. */
static json_t *req_with(json_t **rec, body_view *b, const record_opts *o)
{
    record_input in = base_input();
    in.req_body = b;
    *rec = record_build(&in, o);
    CHECK(*rec != NULL);
    return json_object_get(*rec, "request");
}

static void prep_view(body_view *v, const char *s, const char *ct)
{
    CHECK(body_prepare(v, (const unsigned char *)s, strlen(s), true,
                       strlen(s), SHA, ct, NULL, 1 << 20) == 0);
}

static record_opts with_paths(path_pattern *ps, const char *const *texts,
                              size_t n)
{
    record_opts o = OPTS;
    for (size_t i = 0; i < n; i++) {
        const char *why = NULL;
        CHECK(path_pattern_compile(&ps[i], texts[i], &why) == 0);
    }
    o.redact_paths = ps;
    o.nredact_paths = n;
    return o;
}

static void free_paths(path_pattern *ps, size_t n)
{
    for (size_t i = 0; i < n; i++)
        path_pattern_free(&ps[i]);
}

/* Does pattern match pointer (as a node's own path, not a prefix)? */
static bool hits(const char *pattern, const char *pointer, bool lenient)
{
    path_pattern p;
    const char *why;
    record_opts o = {.redact_paths = &p, .nredact_paths = 1};
    CHECK(path_pattern_compile(&p, pattern, &why) == 0);
    char **segs = NULL;
    int n = pointer_split(pointer, &segs);
    CHECK(n >= 0);
    bool hit = redact_at(&o, NULL, (const char *const *)segs, (size_t)n,
                         lenient);
    pointer_segs_free(segs, n);
    path_pattern_free(&p);
    return hit;
}

TEST(pattern_matching)
{
    static const struct {
        const char *pattern, *path;
        bool strict, lenient;
    } cases[] = {
        {"/a/b", "/a/b", true, true},
        {"/a/b", "/a/b/c", false, false},
        {"/a/b", "/a", false, false},
        {"/a/*/b", "/a/0/b", true, true},
        {"/a/*/b", "/a/b", false, true},      /* one element, no index */
        {"/a/*/b", "/a/x/b", true, true},
        {"/a/*/b", "/a/x/y/b", false, false},
        {"/a/b", "/a/3/b", false, true},      /* index in the path skipped */
        {"/a/b", "/a/b/2", false, true},
        {"/a/0/b", "/a/b", false, true},
        {"/a/0/b", "/a/0/b", true, true},
        {"/a/0/b", "/a/1/b", false, true},    /* lenient: more, never less */
        {"/a/#text", "/a", false, true},
        {"/**/dob", "/dob", true, true},
        {"/**/dob", "/x/1/y/dob", true, true},
        {"/**/dob", "/x/dob/y", false, false},
        {"/**", "", true, true},
        {"", "", true, true},
        {"", "/a", false, false},
        {"/a/**", "/a", true, true},
        {"/a/**/c", "/a/b/c", true, true},
        {"/x/*", "/x/@id", true, true},
        {"/Env/Body/Item/*/Price", "/Env/Body/Item/Price", false, true},
        {"/Env/Body/Item/Price", "/Env/Body/Item/12/Price", false, true},
        {"/a/b", "/A/b", false, false},       /* paths are case-sensitive */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        bool s = hits(cases[i].pattern, cases[i].path, false);
        bool l = hits(cases[i].pattern, cases[i].path, true);
        if (s != cases[i].strict || l != cases[i].lenient)
            fprintf(stderr, "  \"%s\" vs \"%s\": strict %d lenient %d\n",
                    cases[i].pattern, cases[i].path, s, l);
        CHECK(s == cases[i].strict);
        CHECK(l == cases[i].lenient);
    }
    /* redact_path: the path or anything above it */
    static const char *const texts[] = {"/customer/ssn", "/items/*/bic"};
    path_pattern ps[2];
    record_opts o = with_paths(ps, texts, 2);
    CHECK(redact_path("/customer/ssn", &o));
    CHECK(redact_path("/customer/ssn/0/x", &o));
    CHECK(!redact_path("/customer", &o));
    CHECK(!redact_path("/customer/ssnx", &o));
    CHECK(redact_path("/items/4/bic", &o));
    CHECK(!redact_path("/items/bic", &o));
    CHECK(redact_path_in("/items/bic", &o, true));
    CHECK(!redact_path("nopointer", &o));
    CHECK(redact_path("/bad~2escape", &o)); /* malformed: fails closed */
    free_paths(ps, 2);
}

TEST(form_text)
{
    static const char *const texts[] = {"/pin"};
    path_pattern ps[1];
    record_opts o = with_paths(ps, texts, 1);
    body_view b;
    const char *form = "a=1&password=x&&pin=2&pin=3&k&login%5btoken%5d=t";
    prep_view(&b, form, "application/x-www-form-urlencoded");
    char *out = NULL;
    size_t n = 0;
    CHECK(redact_form_text(b.data, b.len, b.json, &o, &out, &n) == 0);
    CHECK_STR(out, "a=1&password=[redacted]&pin=[redacted]&pin=[redacted]&k"
                   "&login%5btoken%5d=[redacted]");
    CHECK(out && n == strlen(out));
    free(out);
    CHECK(redact_tree_has_secret(b.json, &o, true));
    /* no paths: the families still find password and login[token] */
    CHECK(redact_tree_has_secret(b.json, &(record_opts){0}, true));
    body_view_free(&b);
    prep_view(&b, "a=1&pinned=2&shipping=3&k", "application/x-www-form-urlencoded");
    CHECK(!redact_tree_has_secret(b.json, &(record_opts){0}, true));
    body_view_free(&b);
    free_paths(ps, 1);
}

TEST(may_hold_secret)
{
    const unsigned char *t = (const unsigned char *)"{\"PassWord\": \"x\"";
    CHECK(redact_may_hold_secret(t, strlen((const char *)t), &OPTS));
    t = (const unsigned char *)"{\"user\": \"x\"";
    CHECK(!redact_may_hold_secret(t, strlen((const char *)t), &OPTS));
    CHECK(!redact_may_hold_secret(NULL, 0, &OPTS));
    CHECK(!redact_may_hold_secret(t, 3, NULL));
}

TEST(field_names_xml_and_forms)
{
    CHECK(redact_field_name("@password", &OPTS));
    CHECK(redact_field_name("@PASSWORD", &OPTS));
    CHECK(redact_field_name("@{urn:x}token", &OPTS));
    CHECK(redact_field_name("login[password]", &OPTS));
    CHECK(redact_field_name("payment[cc][cvv]", &OPTS));
    CHECK(redact_field_name("secret[0]", &OPTS));
    CHECK(redact_field_name("@passwordx", &OPTS)); /* the password family */
    CHECK(redact_field_name("login[passwords]", &OPTS));
    CHECK(!redact_field_name("@company", &OPTS));
    CHECK(!redact_field_name("login[author]", &OPTS));
    CHECK(!redact_field_name("@", &OPTS));
    CHECK(!redact_field_name("[]", &OPTS));
    CHECK(!redact_field_name("#text", &OPTS));
    CHECK(redact_path("/Envelope/Body/Login/@password", &OPTS));
    CHECK(redact_path("/Login/@{urn:x}Token", &OPTS));
    CHECK(redact_path("/login[password]", &OPTS));
    CHECK(redact_path("/Items/Item/1/CVV", &OPTS));
    CHECK(!redact_path("/Envelope/Body/Login/@user", &OPTS));
}

TEST(differences_with_attributes_and_paths)
{
    static const char *const texts[] = {"/customer/ssn", "/items/*/bic",
                                        "/**/dob"};
    path_pattern ps[3];
    record_opts o = with_paths(ps, texts, 3);
    const char *src =
        "[{\"where\":\"body\",\"path\":\"/Envelope/Body/Login/@password\","
        "\"kind\":\"changed\",\"legacy\":\"a1-leak\",\"new\":\"a2-leak\"},"
        "{\"where\":\"body\",\"path\":\"/Envelope/Body/Login\",\"kind\":"
        "\"changed\",\"legacy\":{\"@password\":\"a3-leak\",\"@user\":\"bob\"},"
        "\"new\":\"x\"},"
        "{\"where\":\"body\",\"path\":\"/customer/ssn/0\",\"kind\":\"changed\","
        "\"legacy\":\"s1-leak\",\"new\":\"s2-leak\"},"
        "{\"where\":\"body\",\"path\":\"/customer\",\"kind\":\"added\","
        "\"new\":{\"name\":\"ann\",\"ssn\":\"s3-leak\",\"x\":{\"dob\":\"d-leak\"}}},"
        "{\"where\":\"body\",\"path\":\"/items/3/bic\",\"kind\":\"removed\","
        "\"legacy\":\"i1-leak\"},"
        "{\"where\":\"body\",\"path\":\"/items/bic\",\"kind\":\"removed\","
        "\"legacy\":\"json-strict-visible\"},"
        "{\"where\":\"body\",\"path\":\"/customer/ssnx\",\"kind\":\"removed\","
        "\"legacy\":\"visible\"}]";
    json_t *diffs = json_loads(src, 0, NULL);
    CHECK(diffs != NULL);
    record_input in = base_input();
    in.differences = diffs;
    json_t *rec = record_build(&in, &o);
    json_t *got = json_object_get(rec, "differences");
    CHECK(!line_contains(rec, "leak"));
    CHECK(line_contains(rec, "bob") && line_contains(rec, "ann"));
    CHECK_STR(json_string_value(json_object_get(json_array_get(got, 0), "new")),
              "[redacted]");
    CHECK_STR(json_string_value(json_object_get(
                  json_object_get(json_array_get(got, 1), "legacy"), "@password")),
              "[redacted]");
    /* JSON bodies match patterns strictly: one item is not "*" */
    CHECK_STR(json_string_value(json_object_get(json_array_get(got, 5), "legacy")),
              "json-strict-visible");
    CHECK_STR(json_string_value(json_object_get(json_array_get(got, 6), "legacy")),
              "visible");
    json_decref(rec);
    /* XML or form bodies: lenient, a single element matches "*" too */
    body_view x;
    prep_view(&x, "<a/>", "text/xml");
    in.new_.body = &x;
    rec = record_build(&in, &o);
    got = json_object_get(rec, "differences");
    CHECK_STR(json_string_value(json_object_get(json_array_get(got, 5), "legacy")),
              "[redacted]");
    CHECK_STR(json_string_value(json_object_get(json_array_get(got, 6), "legacy")),
              "visible");
    json_decref(rec);
    body_view_free(&x);
    json_decref(diffs);
    free_paths(ps, 3);
}

TEST(json_bodies_and_paths)
{
    static const char *const texts[] = {"/customer/ssn", "/items/*/bic",
                                        "/**/dob"};
    path_pattern ps[3];
    record_opts o = with_paths(ps, texts, 3);
    json_t *j = json_loads("{\"customer\":{\"ssn\":\"s-leak\",\"name\":\"ann\"},"
                           "\"items\":[{\"bic\":\"i-leak\",\"sku\":\"A\"}],"
                           "\"a\":{\"b\":{\"dob\":\"d-leak\"}},\"bic\":\"top\"}",
                           0, NULL);
    body_view b = json_view(j);
    json_t *rec, *r = req_with(&rec, &b, &o);
    json_t *want = json_loads(
        "{\"customer\":{\"ssn\":\"[redacted]\",\"name\":\"ann\"},"
        "\"items\":[{\"bic\":\"[redacted]\",\"sku\":\"A\"}],"
        "\"a\":{\"b\":{\"dob\":\"[redacted]\"}},\"bic\":\"top\"}", 0, NULL);
    CHECK(json_equal(json_object_get(r, "body"), want));
    CHECK(!line_contains(rec, "leak"));
    json_decref(rec);
    CHECK(j->refcount == 1);
    CHECK(redact_path("/customer/ssn", &o) && redact_path("/customer/ssn/x", &o));
    CHECK(redact_path("/x/y/dob", &o) && !redact_path("/customer/name", &o));
    redact_json(j, &o);
    CHECK(json_equal(j, want));
    json_decref(want);
    json_decref(j);
    free_paths(ps, 3);
    /* "" is the whole body */
    static const char *const root[] = {""};
    o = with_paths(ps, root, 1);
    j = json_string("bare-token-leak"); /* Magento's token endpoint */
    b = json_view(j);
    r = req_with(&rec, &b, &o);
    CHECK_STR(sget(r, "body"), "[redacted]");
    json_decref(rec);
    json_decref(j);
    /* ... for XML and forms too: withheld whole */
    body_view x;
    prep_view(&x, "<a>xml-leak</a>", "text/xml");
    r = req_with(&rec, &x, &o);
    CHECK_STR(sget(r, "body_format"), "redacted");
    CHECK(!line_contains(rec, "leak"));
    json_decref(rec);
    body_view_free(&x);
    prep_view(&x, "a=form-leak", "application/x-www-form-urlencoded");
    r = req_with(&rec, &x, &o);
    CHECK_STR(sget(r, "body_format"), "redacted");
    CHECK(!line_contains(rec, "leak"));
    json_decref(rec);
    body_view_free(&x);
    free_paths(ps, 1);
}

TEST(unparsed_bodies_withheld)
{
    /* claimed XML, not well-formed, mentions a secret field: withheld */
    const char *bad = "<login><password>hunter2-leak</password>";
    body_view b;
    prep_view(&b, bad, "text/xml");
    CHECK(b.kind == BODY_TEXT && b.unparsed == BODY_XML);
    json_t *rec, *r = req_with(&rec, &b, &OPTS);
    char keys[256];
    unit_keys_of(r, keys, sizeof keys);
    CHECK_STR(keys, "headers,body,body_format,body_bytes,body_sha256,"
                    "body_decode_error");
    CHECK(json_is_null(json_object_get(r, "body")));
    CHECK_STR(sget(r, "body_format"), "redacted");
    CHECK_STR(sget(r, "body_sha256"), SHA);
    CHECK(!line_contains(rec, "leak"));
    json_decref(rec);
    body_view_free(&b);
    /* invalid JSON with a token in it, and binary invalid XML */
    prep_view(&b, "{\"Token\": \"t-leak\",}", "application/json");
    r = req_with(&rec, &b, &OPTS);
    CHECK_STR(sget(r, "body_format"), "redacted");
    json_decref(rec);
    body_view_free(&b);
    prep_view(&b, "<a><cvv>\xff-leak</a>", "text/xml");
    CHECK(b.kind == BODY_BINARY);
    r = req_with(&rec, &b, &OPTS);
    CHECK_STR(sget(r, "body_format"), "redacted");
    json_decref(rec);
    body_view_free(&b);
    /* nothing that looks secret: shown, to help find why it is invalid */
    prep_view(&b, "<order><id>1</order>", "text/xml");
    r = req_with(&rec, &b, &OPTS);
    CHECK_STR(sget(r, "body_format"), "text");
    CHECK_STR(sget(r, "body"), "<order><id>1</order>");
    json_decref(rec);
    body_view_free(&b);
    /* a path pattern's last name counts too; only wildcards: always */
    static const char *const texts[] = {"/customer/ssn", "/**"};
    path_pattern ps[2];
    record_opts o = with_paths(ps, texts, 1);
    prep_view(&b, "<customer><ssn>1</customer>", "text/xml");
    r = req_with(&rec, &b, &o);
    CHECK_STR(sget(r, "body_format"), "redacted");
    json_decref(rec);
    body_view_free(&b);
    path_pattern_free(&ps[0]);
    o = with_paths(ps, texts + 1, 1);
    prep_view(&b, "<a>", "text/xml");
    r = req_with(&rec, &b, &o);
    CHECK_STR(sget(r, "body_format"), "redacted");
    json_decref(rec);
    body_view_free(&b);
    path_pattern_free(&ps[0]);
}


/* Adds every string in v to the set (an object used as a set). */
static void strings_of(const json_t *v, json_t *set)
{
    if (json_is_string(v))
        json_object_set_new(set, json_string_value(v), json_true());
    for (size_t i = 0; json_is_array(v) && i < json_array_size(v); i++)
        strings_of(json_array_get(v, i), set);
    const char *k;
    json_t *m;
    json_object_foreach((json_t *)v, k, m) strings_of(m, set);
}

/* Whatever redacting the tree removes, the embedded XML must not show,
 * for patterns of every shape: both walks agree. */
TEST(xml_redaction_agrees_with_tree)
{
    static const char doc[] =
        "<e:Env xmlns:e=\"urn:e\" a=\"v01\"><e:Body>"
        "<Items><Item k=\"v02\"><Sku>v03</Sku><P>v04</P></Item>"
        "<Item><Sku>v05</Sku><P>v06</P></Item></Items>"
        "<One><Item><Sku>v07</Sku><P x=\"v08\">v09</P></Item></One>"
        "<Mixed>v10<b>v11</b>v12</Mixed><Leaf>v13</Leaf>"
        "</e:Body></e:Env>";
    static const char *const texts[] = {
        "/Env/@a", "/Env/Body/Items/Item", "/Env/Body/Items/Item/1",
        "/Env/Body/Items/Item/*/P", "/Env/Body/One/Item/*/Sku",
        "/Env/Body/One/Item/0/P/@x", "/Env/Body/Mixed/#text",
        "/Env/Body/*", "/**/P", "/Env/*/Leaf", "/0", "/*", "/Env/Body/Items/*",
        "/Env/Body/One/Item/P/#text", "/**/Item/**", "/Env/Body/Items/Item/1/*",
        "/Env/0/Body", "/Env/Body/Mixed/b/#text",
    };
    body_view b;
    prep_view(&b, doc, "text/xml");
    CHECK(b.kind == BODY_XML);
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        path_pattern ps[1];
        record_opts o = with_paths(ps, texts + i, 1);
        o.nredact_fields = 0;
        json_t *red = redact_copy(b.json, "", &o, true);
        json_t *before = json_object(), *after = json_object();
        strings_of(b.json, before);
        strings_of(red, after);
        json_t *rec, *r = req_with(&rec, &b, &o);
        const char *body = sget(r, "body");
        const char *k;
        json_t *m;
        int removed = 0;
        json_object_foreach(before, k, m)
        {
            if (json_object_get(after, k))
                continue;
            removed++;
            /* each word: mixed content is joined in the tree */
            char word[64];
            for (const char *w = k; *w; w += strcspn(w, " ")) {
                w += strspn(w, " ");
                size_t n = strcspn(w, " ");
                snprintf(word, sizeof word, "%.*s", (int)n, w);
                if (body && n && strstr(body, word))
                    fprintf(stderr, "  %s: %s shown in %s\n", texts[i], word,
                            body);
                CHECK(!body || !n || strstr(body, word) == NULL);
            }
        }
        CHECK(removed > 0); /* every pattern above hits something */
        json_decref(rec);
        json_decref(before);
        json_decref(after);
        json_decref(red);
        path_pattern_free(&ps[0]);
    }
    body_view_free(&b);
}

TEST(form_body_redacted)
{
    static const char *const texts[] = {"/pin", "/tag/1"};
    path_pattern ps[2];
    record_opts o = with_paths(ps, texts, 2);
    const char *form = "user=bob&password=hunter2-leak&login%5Bpassword%5D=x-leak"
                       "&Token=t1-leak&Token=t2-leak&keep=ok+1&pin=p-leak"
                       "&tag=a-leak&tag=b-leak&&flag&password";
    body_view b;
    prep_view(&b, form, "application/x-www-form-urlencoded");
    CHECK(b.kind == BODY_FORM);
    json_t *rec, *r = req_with(&rec, &b, &o);
    CHECK_STR(sget(r, "body_format"), "form");
    CHECK_STR(sget(r, "body"),
              "user=bob&password=[redacted]&login%5Bpassword%5D=[redacted]"
              "&Token=[redacted]&Token=[redacted]&keep=ok+1&pin=[redacted]"
              "&tag=[redacted]&tag=[redacted]&flag&password");
    CHECK(!line_contains(rec, "leak"));
    json_decref(rec);
    body_view_free(&b);
    /* nothing secret: the text as received, cut at the cap */
    form = "user=bob&note=caf%C3%A9&x=1";
    prep_view(&b, form, "application/x-www-form-urlencoded");
    r = req_with(&rec, &b, &OPTS);
    CHECK_STR(sget(r, "body"), form);
    CHECK_STR(sget(r, "body_format"), "form");
    json_decref(rec);
    o.max_body_bytes = 10;
    r = req_with(&rec, &b, &o);
    CHECK_STR(sget(r, "body"), "user=bob&n");
    CHECK(json_is_true(json_object_get(r, "body_truncated")));
    json_decref(rec);
    body_view_free(&b);
    free_paths(ps, 2);
}

/* A Magento 2 order as GET /V1/orders/{id} answers it (trimmed): nothing
 * in it is a secret, so the record holds it unchanged. */
static const char MAGENTO_ORDER[] =
    "{\"base_currency_code\":\"USD\",\"base_grand_total\":39.0,"
    "\"created_at\":\"2026-12-07 09:00:00\",\"customer_email\":\"roni_cost@example.com\","
    "\"customer_firstname\":\"Veronica\",\"customer_id\":1,\"entity_id\":5,"
    "\"increment_id\":\"000000005\",\"protect_code\":\"a1b2c3\",\"quote_id\":12,"
    "\"remote_ip\":\"127.0.0.1\",\"shipping_description\":\"Flat Rate - Fixed\","
    "\"state\":\"new\",\"status\":\"pending\",\"store_id\":1,\"customer_group_id\":1,"
    "\"stock\":{\"source_code\":\"default\",\"stock_id\":1,\"quantity\":100,"
    "\"is_in_stock\":true,\"session_start\":\"09:00\",\"form_type\":\"erp\"},"
    "\"ext_order_id\":\"4111111111111111\",\"tracking_id\":4111111111111111,"
    "\"items\":[{\"item_id\":9,\"order_id\":5,\"sku\":\"24-MB01\",\"name\":\"Joust Duffle Bag\","
    "\"price\":34.0,\"product_id\":1,\"qty_ordered\":1,\"product_type\":\"simple\","
    "\"ean\":\"4006381333931\"}],"
    "\"billing_address\":{\"city\":\"Calder\",\"company\":\"Acme\",\"postcode\":\"49628-7978\","
    "\"street\":[\"6146 Honey Bluff Parkway\"],\"telephone\":\"(555) 229-3326\"},"
    "\"payment\":{\"account_status\":null,\"additional_information\":[\"Check / Money order\"],"
    "\"amount_ordered\":39.0,\"cc_last4\":\"1111\",\"cc_type\":\"VI\",\"cc_exp_month\":\"12\","
    "\"method\":\"checkmo\",\"parent_id\":5},"
    "\"extension_attributes\":{\"shipping_assignments\":[{\"shipping\":{\"method\":\"flatrate_flatrate\"}}],"
    "\"payment_additional_info\":[{\"key\":\"method_title\",\"value\":\"Check / Money order\"}]}}";

TEST(magento_order_keeps_its_fields)
{
    json_t *order = json_loads(MAGENTO_ORDER, 0, NULL);
    CHECK(order != NULL);
    CHECK(!redact_tree_has_secret(order, &OPTS, false));
    body_view b = json_view(order);
    json_t *rec, *r = req_with(&rec, &b, &OPTS);
    CHECK(json_object_get(r, "body") == order); /* shared: nothing to redact */
    json_decref(rec);
    json_decref(order);
}

/* The red-team's names, and card numbers under any name, in JSON. */
TEST(families_and_card_numbers_in_json)
{
    json_t *doc = json_loads(
        "{\"payment\":{\"cc_cid\":\"737\",\"cc_number\":\"4111111111111111\","
        "\"cardNumber\":\"5555 5555 5555 4444\",\"card.number\":\"x1\","
        "\"additional_data\":{\"note\":\"4012-8888-8888-1881\",\"n\":4111111111111111,"
        "\"list\":[\"378282246310005\",\"ok\"]}},"
        "\"currentPassword\":\"a\",\"newPassword\":\"b\",\"password_confirmation\":\"c\","
        "\"access_token\":\"d\",\"refresh_token\":\"e\",\"client_secret\":\"f\","
        "\"api_key\":\"g\",\"apiKey\":\"h\",\"passwd\":\"i\","
        "\"tokenized\":true,\"sku\":\"24-MB01\",\"order_id\":\"4111111111111111\"}",
        0, NULL);
    CHECK(doc != NULL);
    json_t *want = json_loads(
        "{\"payment\":{\"cc_cid\":\"[redacted]\",\"cc_number\":\"[redacted]\","
        "\"cardNumber\":\"[redacted]\",\"card.number\":\"[redacted]\","
        "\"additional_data\":{\"note\":\"[redacted]\",\"n\":\"[redacted]\","
        "\"list\":[\"[redacted]\",\"ok\"]}},"
        "\"currentPassword\":\"[redacted]\",\"newPassword\":\"[redacted]\","
        "\"password_confirmation\":\"[redacted]\",\"access_token\":\"[redacted]\","
        "\"refresh_token\":\"[redacted]\",\"client_secret\":\"[redacted]\","
        "\"api_key\":\"[redacted]\",\"apiKey\":\"[redacted]\",\"passwd\":\"[redacted]\","
        "\"tokenized\":true,\"sku\":\"24-MB01\",\"order_id\":\"4111111111111111\"}",
        0, NULL);
    body_view b = json_view(doc);
    record_opts none = {.max_body_bytes = 8192}; /* no redact_fields at all */
    json_t *rec, *r = req_with(&rec, &b, &none);
    CHECK(json_equal(json_object_get(r, "body"), want));
    json_decref(rec);
    /* differences: a path through a family's name, without redact_fields */
    CHECK(redact_path("/customer/currentPassword", &none));
    CHECK(redact_path("/payment/additional_data/cc_cid", &none));
    CHECK(!redact_path("/items/0/sku", &none));
    /* a difference whose value is a card number, at a path of no secret */
    json_t *v = json_string("4111 1111 1111 1111");
    json_t *c = redact_copy(v, "/payment/additional_data/note", &none, false);
    CHECK_STR(json_string_value(c), "[redacted]");
    json_decref(c);
    c = redact_copy(v, "/items/0/sku", &none, false);
    CHECK(c == v); /* an identifier's name: kept */
    json_decref(c);
    json_decref(v);
    /* exemptions: a family off for a name, luhn off for a name */
    const char *const ex[] = {"cvv:cc_cid", "luhn:note"};
    record_opts o = none;
    o.secrets = (secret_policy){.exempt = ex, .nexempt = 2};
    r = req_with(&rec, &b, &o);
    CHECK_STR(sat(r, "body.payment.cc_cid"), "737");
    CHECK_STR(sat(r, "body.payment.additional_data.note"), "4012-8888-8888-1881");
    CHECK_STR(sat(r, "body.payment.cc_number"), "[redacted]");
    json_decref(rec);
    json_decref(want);
    json_decref(doc);
}

TEST(card_numbers_in_xml_and_forms)
{
    body_view b;
    prep_view(&b,
              "<Order><Id>4111111111111111</Id><Note> 4111 1111 1111 1111 </Note>"
              "<Card number=\"5555555555554444\" type=\"VI\"/><Sku>24-MB01</Sku>"
              "<!-- card 378282246310005 -->"
              "<Data><![CDATA[<Login><Password>cdata-leak</Password></Login>]]></Data>"
              "<Memo><![CDATA[plain & simple]]></Memo><!-- kept --></Order>",
              "application/xml");
    CHECK(b.kind == BODY_XML);
    record_opts none = {.max_body_bytes = 8192};
    json_t *rec, *r = req_with(&rec, &b, &none);
    const char *x = sget(r, "body");
    CHECK_STR(x, "<Order><Id>4111111111111111</Id><Note>[redacted]</Note>"
                 "<Card number=\"[redacted]\" type=\"VI\"/><Sku>24-MB01</Sku>"
                 "<!--[redacted]-->"
                 "<Data>[redacted]</Data>" /* CDATA is parsed as text */
                 "<Memo>plain &amp; simple</Memo><!-- kept --></Order>");
    CHECK(!line_contains(rec, "leak") && !line_contains(rec, "4444"));
    json_decref(rec);
    body_view_free(&b);
    /* nested markup escaped rather than in CDATA: the tree has it */
    prep_view(&b, "<a><Data>&lt;Password&gt;esc-leak&lt;/Password&gt;</Data>"
                  "<Msg>Wrong password</Msg></a>", "text/xml");
    r = req_with(&rec, &b, &none);
    CHECK_STR(sget(r, "body"), "<a><Data>[redacted]</Data><Msg>Wrong password</Msg></a>");
    json_decref(rec);
    body_view_free(&b);
    /* a comment alone (the tree has none) is enough to re-write */
    prep_view(&b, "<a><!-- password: hunter2 --><b>1</b></a>", "text/xml");
    r = req_with(&rec, &b, &none);
    CHECK_STR(sget(r, "body"), "<a><!--[redacted]--><b>1</b></a>");
    json_decref(rec);
    body_view_free(&b);
    /* forms: the value decides, under any key */
    prep_view(&b, "order_id=4111111111111111&note=4111+1111+1111+1111&cc_cid=1&q=2",
              "application/x-www-form-urlencoded");
    r = req_with(&rec, &b, &none);
    CHECK_STR(sget(r, "body"),
              "order_id=4111111111111111&note=[redacted]&cc_cid=[redacted]&q=2");
    json_decref(rec);
    body_view_free(&b);
}

/* Secrets outside bodies: the uri's query, headers by family, multipart
 * form fields, a token answered as a bare JSON string. */
TEST(uri_headers_multipart_bare_strings)
{
    record_opts none = {.max_body_bytes = 8192};
    record_input in = base_input();
    in.uri = "/cb?access_token=q-leak&state=ok&cardNo=4111111111111111&note=x";
    hdr_list req = {0}, leg = {0};
    CHECK(hdr_list_add(&req, "X-Api-Key", 9, "h1-leak", 7) == 0);
    CHECK(hdr_list_add(&req, "X-Amz-Security-Token", 20, "h2-leak", 7) == 0);
    CHECK(hdr_list_add(&req, "X-Trace", 7, "keep", 4) == 0);
    CHECK(hdr_list_add(&leg, "X-Auth-Token", 12, "h3-leak", 7) == 0);
    CHECK(hdr_list_add(&leg, "Location", 8, "/next?token=h4-leak&p=1", 23) == 0);
    CHECK(hdr_list_add(&req, "Referer", 7, "https://shop/c?password=h5-leak", 31) == 0);
    CHECK(hdr_list_add(&req, "X-Card", 6, "4111 1111 1111 1111", 19) == 0);
    in.req_headers = &req;
    in.legacy.headers = &leg;
    json_t *rec = record_build(&in, &none);
    CHECK_STR(sget(rec, "uri"), "/cb?access_token=[redacted]&state=ok&cardNo=[redacted]&note=x");
    CHECK(!line_contains(rec, "leak") && !line_contains(rec, "4111"));
    CHECK(line_contains(rec, "[\"X-Trace\",\"keep\"]"));
    CHECK(line_contains(rec, "[\"Location\",\"/next?token=[redacted]&p=1\"]"));
    CHECK(line_contains(rec, "[\"Referer\",\"https://shop/c?password=[redacted]\"]"));
    CHECK(line_contains(rec, "[\"X-Card\",\"[redacted]\"]"));
    json_decref(rec);
    hdr_list_free(&req);
    hdr_list_free(&leg);
    /* a difference on a URI header: its query redacted the same way */
    in.differences = json_loads("[{\"where\":\"header\",\"path\":\"Location\","
                                "\"kind\":\"changed\",\"legacy\":\"/a?token=d-leak\","
                                "\"new\":\"/b\"}]", 0, NULL);
    in.req_headers = in.legacy.headers = NULL;
    rec = record_build(&in, &none);
    CHECK(line_contains(rec, "\"legacy\":\"/a?token=[redacted]\""));
    CHECK(!line_contains(rec, "leak"));
    json_decref(rec);
    json_decref(in.differences);

    /* multipart/form-data, by content (the record has no Content-Type) */
    static const char mp[] =
        "--XyZ\r\nContent-Disposition: form-data; name=\"user\"\r\n\r\nbob\r\n"
        "--XyZ\r\nContent-Disposition: form-data; name=\"newPassword\"\r\n\r\nmp-leak\r\n"
        "--XyZ\r\ncontent-disposition: form-data; name=\"memo\"; filename=\"a.txt\"\r\n"
        "Content-Type: text/plain\r\n\r\n4111 1111 1111 1111\r\n"
        "--XyZ\r\nContent-Disposition: form-data; name=\"sku\"\r\n\r\n24-MB01\r\n"
        "--XyZ--\r\n";
    body_view b = {.kind = BODY_TEXT, .data = (const unsigned char *)mp,
                   .len = sizeof mp - 1, .wire_len = sizeof mp - 1};
    json_t *r = req_with(&rec, &b, &none);
    CHECK_STR(sget(r, "body_format"), "text");
    CHECK_STR(sget(r, "body"),
              "--XyZ\r\nContent-Disposition: form-data; name=\"user\"\r\n\r\nbob\r\n"
              "--XyZ\r\nContent-Disposition: form-data; name=\"newPassword\"\r\n\r\n[redacted]\r\n"
              "--XyZ\r\ncontent-disposition: form-data; name=\"memo\"; filename=\"a.txt\"\r\n"
              "Content-Type: text/plain\r\n\r\n[redacted]\r\n"
              "--XyZ\r\nContent-Disposition: form-data; name=\"sku\"\r\n\r\n24-MB01\r\n"
              "--XyZ--\r\n");
    json_decref(rec);
    /* binary parts: the redacted bytes, as base64 */
    b.kind = BODY_BINARY;
    r = req_with(&rec, &b, &none);
    CHECK_STR(sget(r, "body_format"), "base64");
    CHECK(!line_contains(rec, "bXAtbGVhaw")); /* base64 of "mp-leak" */
    json_decref(rec);
    /* cut short (no closing delimiter): parts unknown, withheld */
    b.kind = BODY_TEXT;
    b.len = 120;
    r = req_with(&rec, &b, &none);
    CHECK_STR(sget(r, "body_format"), "redacted");
    json_decref(rec);

    /* Magento's /V1/integration/customer/token answers a bare string */
    json_t *tok1 = json_string("tok-leak-1"), *tok2 = json_string("tok-leak-2");
    body_view lb = json_view(tok1), nb = json_view(tok2);
    in = base_input();
    in.uri = "/rest/V1/integration/customer/token";
    in.legacy.body = &lb;
    in.new_.body = &nb;
    in.differences = json_loads("[{\"where\":\"body\",\"path\":\"\",\"kind\":\"changed\","
                                "\"legacy\":\"tok-leak-1\",\"new\":\"tok-leak-2\"}]", 0, NULL);
    rec = record_build(&in, &none);
    CHECK_STR(sat(rec, "legacy.body"), "[redacted]");
    CHECK(!line_contains(rec, "leak"));
    json_decref(rec);
    /* on another path a bare string is data */
    in.uri = "/rest/V1/guest-carts/abc/order";
    rec = record_build(&in, &none);
    CHECK_STR(sat(rec, "legacy.body"), "tok-leak-1");
    json_decref(rec);
    json_decref(in.differences);
    json_decref(tok1);
    json_decref(tok2);
}

/* UTF-16 JSON is decoded, then redacted like any JSON; text that is not
 * valid in its encoding is withheld, never base64 of a secret. */
TEST(utf16_json_redacted_or_withheld)
{
    static const char doc[] = "{\"newPassword\":\"u16-leak\",\"sku\":\"24-MB01\"}";
    unsigned char raw[256] = {0xff, 0xfe};
    size_t n = 2;
    for (const char *c = doc; *c; c++) {
        raw[n++] = (unsigned char)*c;
        raw[n++] = 0;
    }
    body_view b;
    CHECK(body_prepare(&b, raw, n, true, n, SHA, "application/json", NULL, 1 << 20) == 0);
    record_opts none = {.max_body_bytes = 8192};
    json_t *rec, *r = req_with(&rec, &b, &none);
    CHECK_STR(sget(r, "body_format"), "json");
    CHECK_STR(sat(r, "body.newPassword"), "[redacted]");
    CHECK_STR(sat(r, "body.sku"), "24-MB01");
    json_decref(rec);
    body_view_free(&b);
    raw[n++] = 0x00; /* a lone high surrogate at the end */
    raw[n++] = 0xd8;
    CHECK(body_prepare(&b, raw, n, true, n, SHA, "application/json", NULL, 1 << 20) == 0);
    r = req_with(&rec, &b, &none);
    CHECK_STR(sget(r, "body_format"), "redacted");
    CHECK(json_is_null(json_object_get(r, "body")));
    CHECK_STR(sget(r, "body_decode_error"), "invalid utf-16le text");
    json_decref(rec);
    body_view_free(&b);
}

/* NDJSON and its kin: each line redacted as JSON, the rest byte for byte;
 * a line that is not JSON withholds a body that may hold a secret. */
TEST(json_lines_redacted_line_by_line)
{
    static const char *const types[] = {
        "application/x-ndjson", "application/jsonl; charset=utf-8",
        "application/json-seq", "application/stream+json"};
    const char *src = "{\"sku\":\"24-MB01\", \"qty\":2}\n"
                      "\x1e{\"password\":\"SECRETND1\",\"user\":\"ann\"}\r\n\n";
    for (size_t i = 0; i < 4; i++) {
        body_view b;
        prep_view(&b, src, types[i]);
        CHECK(b.kind == BODY_TEXT && b.json_lines);
        json_t *rec, *r = req_with(&rec, &b, &OPTS);
        CHECK_STR(sget(r, "body_format"), "text");
        CHECK_STR(sget(r, "body"), "{\"sku\":\"24-MB01\", \"qty\":2}\n"
                  "\x1e{\"password\":\"[redacted]\",\"user\":\"ann\"}\r\n\n");
        CHECK(!line_contains(rec, "SECRETND1"));
        /* a difference on the second line ("/1") */
        record_input in = base_input();
        in.legacy.body = in.new_.body = &b;
        in.differences = json_loads(
            "[{\"where\":\"body\",\"path\":\"/1\",\"kind\":\"changed\","
            "\"legacy\":\"{\\\"password\\\":\\\"SECRETND2\\\"}\","
            "\"new\":\"{\\\"pin\\\": \\\"SECRETND3\"}]", 0, NULL);
        CHECK(in.differences != NULL);
        json_t *rec2 = record_build(&in, &OPTS);
        CHECK(rec2 && !line_contains(rec2, "SECRETND"));
        json_decref(rec2);
        json_decref(in.differences);
        json_decref(rec);
        body_view_free(&b);
    }
    /* a line that is not JSON: withheld if the body may hold a secret */
    body_view b;
    prep_view(&b, "{\"a\":1}\npassword=SECRETND4\n", "application/x-ndjson");
    json_t *rec, *r = req_with(&rec, &b, &OPTS);
    CHECK_STR(sget(r, "body_format"), "redacted");
    CHECK(!line_contains(rec, "SECRETND4"));
    json_decref(rec);
    body_view_free(&b);
    prep_view(&b, "{\"a\":1}\nplain words\n", "application/x-ndjson");
    r = req_with(&rec, &b, &OPTS);
    CHECK_STR(sget(r, "body"), "{\"a\":1}\nplain words\n");
    json_decref(rec);
    body_view_free(&b);
}

int main(void)
{
    RUN(pattern_matching);
    RUN(form_text);
    RUN(may_hold_secret);
    RUN(field_names_xml_and_forms);
    RUN(differences_with_attributes_and_paths);
    RUN(json_bodies_and_paths);
    RUN(unparsed_bodies_withheld);
    RUN(xml_redaction_agrees_with_tree);
    RUN(form_body_redacted);
    RUN(magento_order_keeps_its_fields);
    RUN(families_and_card_numbers_in_json);
    RUN(card_numbers_in_xml_and_forms);
    RUN(uri_headers_multipart_bare_strings);
    RUN(utf16_json_redacted_or_withheld);
    RUN(json_lines_redacted_line_by_line);
    UNIT_DONE();
}
