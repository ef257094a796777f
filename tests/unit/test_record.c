/* Unit tests for proxy/diff/record.c and proxy/diff/redact.c: record layout, body
 * embedding, redaction, timestamps and line serialization. Most bodies are
 * built by hand; XML and form bodies come from body_prepare (their trees). */
#include <stdlib.h>

#include "diff/record.h"
#include "unit.h"
#include "base/clock.h"

static const char *const FIELDS[] = {"password", "token", "secret",
                                     "card_number", "cvv"};
static const record_opts OPTS = {.max_body_bytes = 64, .redact_fields = FIELDS,
                                 .nredact_fields = 5};
static const char SHA[] =
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

static body_view bv(body_kind k, const char *data, size_t len, json_t *json,
                    uint64_t wire)
{
    body_view b = {.kind = k, .data = (const unsigned char *)data,
                   .len = len, .json = json, .wire_len = wire};
    memcpy(b.sha256, SHA, sizeof SHA);
    return b;
}

static void hadd(hdr_list *l, const char *n, const char *v)
{
    CHECK(hdr_list_add(l, n, strlen(n), v, strlen(v)) == 0);
}

static record_input base_input(void)
{
    record_input in = {
        .id = "req-1", .ts_ms = 1795527682123LL, .route = "catalog",
        .method = "GET", .uri = "/rest/V1/products?x=1",
        .authority = "legacy", .verdict = "mismatch",
        .legacy = {.attempted = true, .status = 200, .duration_ms = 12.3456},
        .new_ = {.attempted = true, .status = 500, .duration_ms = 7},
    };
    return in;
}

/* The record's serialized line (caller frees). */
static char *line_of(const json_t *rec)
{
    size_t len = 0;
    char *s = record_to_line(rec, &len);
    CHECK(s != NULL);
    if (s)
        CHECK(len == strlen(s));
    return s;
}

static bool line_contains(const json_t *rec, const char *needle)
{
    char *s = line_of(rec);
    bool found = s && strstr(s, needle) != NULL;
    free(s);
    return found;
}

static const char *sget(json_t *obj, const char *path)
{
    /* path: "a.b.c" through objects only */
    char tmp[128];
    snprintf(tmp, sizeof tmp, "%s", path);
    json_t *v = obj;
    for (char *save = NULL, *p = strtok_r(tmp, ".", &save); p && v;
         p = strtok_r(NULL, ".", &save))
        v = json_object_get(v, p);
    return json_string_value(v);
}

TEST(ts_format)
{
    char b[25];
    clock_format_ts(1795527682123LL, b, sizeof b);
    CHECK_STR(b, "2026-11-24T13:41:22.123Z");
    clock_format_ts(0, b, sizeof b);
    CHECK_STR(b, "1970-01-01T00:00:00.000Z");
    clock_format_ts(946684799999LL, b, sizeof b);
    CHECK_STR(b, "1999-12-31T23:59:59.999Z");
    clock_format_ts(2147483648000LL, b, sizeof b); /* past 32-bit time_t */
    CHECK_STR(b, "2038-01-19T03:14:08.000Z");
    clock_format_ts(4107542399005LL, b, sizeof b); /* ms zero-padded */
    CHECK_STR(b, "2100-02-28T23:59:59.005Z");
    clock_format_ts(-1, b, sizeof b);
    CHECK_STR(b, "1969-12-31T23:59:59.999Z");
    clock_format_ts(INT64_MAX, b, sizeof b); /* clamped, still 24 chars */
    CHECK_STR(b, "9999-12-31T23:59:59.999Z");
    clock_format_ts(INT64_MIN, b, sizeof b);
    CHECK_STR(b, "0000-01-01T00:00:00.000Z");
}

TEST(field_order_and_presence)
{
    char keys[512];
    record_input in = base_input();
    json_t *rec = record_build(&in, &OPTS);
    CHECK(rec != NULL);
    unit_keys_of(rec, keys, sizeof keys);
    CHECK_STR(keys, "v,id,ts,route,method,uri,authority,verdict,request,"
                    "legacy,new,differences");
    CHECK(json_integer_value(json_object_get(rec, "v")) ==
          RECORD_SCHEMA_VERSION);
    CHECK_STR(sget(rec, "ts"), "2026-11-24T13:41:22.123Z");
    CHECK_STR(sget(rec, "uri"), "/rest/V1/products?x=1");
    unit_keys_of(json_object_get(rec, "request"), keys, sizeof keys);
    CHECK_STR(keys, "headers,body,body_format,body_bytes");
    unit_keys_of(json_object_get(rec, "legacy"), keys, sizeof keys);
    CHECK_STR(keys, "attempted,status,headers,body,body_format,body_bytes,"
                    "duration_ms,error");
    CHECK(json_integer_value(json_object_get(json_object_get(rec, "new"),
                                             "status")) == 500);
    json_t *d = json_object_get(rec, "differences");
    CHECK(json_is_array(d) && json_array_size(d) == 0);
    json_decref(rec);

    in.reason = "breaker open";
    in.verdict = "shadow_dropped";
    rec = record_build(&in, &OPTS);
    unit_keys_of(rec, keys, sizeof keys);
    CHECK_STR(keys, "v,id,ts,route,method,uri,authority,verdict,reason,"
                    "request,legacy,new,differences");
    CHECK_STR(sget(rec, "reason"), "breaker open");
    json_decref(rec);
}

TEST(leg_not_attempted)
{
    record_input in = base_input();
    in.verdict = "shadow_dropped";
    json_t *j = json_object();
    body_view b = bv(BODY_JSON, "{}", 2, j, 2);
    /* whatever else the struct holds is ignored */
    in.new_ = (record_leg){.attempted = false, .status = 200, .body = &b,
                           .duration_ms = 3, .error = "ignored"};
    json_t *rec = record_build(&in, &OPTS);
    json_t *want = json_loads(
        "{\"attempted\":false,\"status\":null,\"headers\":null,\"body\":null,"
        "\"body_format\":\"none\",\"body_bytes\":0,\"duration_ms\":null,"
        "\"error\":null}",
        0, NULL);
    CHECK(json_equal(json_object_get(rec, "new"), want));
    CHECK(json_is_true(json_object_get(json_object_get(rec, "legacy"),
                                       "attempted")));
    json_decref(want);
    json_decref(rec);
    json_decref(j);
}

TEST(leg_failed)
{
    record_input in = base_input();
    in.verdict = "shadow_error";
    in.new_ = (record_leg){.attempted = true, .status = 0,
                           .duration_ms = -1, .error = "connect refused"};
    json_t *rec = record_build(&in, &OPTS);
    json_t *n = json_object_get(rec, "new");
    CHECK(json_is_null(json_object_get(n, "status")));
    CHECK(json_is_null(json_object_get(n, "headers")));
    CHECK(json_is_null(json_object_get(n, "duration_ms")));
    CHECK_STR(json_string_value(json_object_get(n, "error")),
              "connect refused");
    CHECK(json_is_true(json_object_get(n, "attempted")));
    json_decref(rec);
}

/* Builds a record whose request body is *b and returns the request object
 * (borrowed from *rec). */
static json_t *req_with(json_t **rec, body_view *b, const record_opts *o)
{
    record_input in = base_input();
    in.req_body = b;
    *rec = record_build(&in, o);
    CHECK(*rec != NULL);
    return json_object_get(*rec, "request");
}

TEST(body_none)
{
    json_t *rec;
    body_view b = bv(BODY_NONE, NULL, 0, NULL, 0);
    json_t *r = req_with(&rec, &b, &OPTS);
    CHECK(json_is_null(json_object_get(r, "body")));
    CHECK_STR(sget(r, "body_format"), "none");
    CHECK(json_integer_value(json_object_get(r, "body_bytes")) == 0);
    CHECK(json_object_get(r, "body_sha256") == NULL);
    json_decref(rec);
    r = req_with(&rec, NULL, &OPTS); /* NULL body pointer: the same */
    CHECK_STR(sget(r, "body_format"), "none");
    CHECK(json_is_null(json_object_get(r, "body")));
    json_decref(rec);
}

TEST(body_json_embedded)
{
    json_t *rec, *j = json_loads("{\"a\":[1,2,{\"b\":\"c\"}]}", 0, NULL);
    body_view b = bv(BODY_JSON, "", 0, j, 9000);
    json_t *r = req_with(&rec, &b, &OPTS);
    CHECK(json_equal(json_object_get(r, "body"), j));
    CHECK_STR(sget(r, "body_format"), "json");
    CHECK(json_integer_value(json_object_get(r, "body_bytes")) == 9000);
    CHECK(json_object_get(r, "body_truncated") == NULL);
    CHECK(json_object_get(r, "body_sha256") == NULL);
    json_decref(rec);
    json_decref(j);

    j = json_integer(42); /* a scalar document is a JSON body too */
    b = bv(BODY_JSON, "42", 2, j, 2);
    r = req_with(&rec, &b, &OPTS);
    CHECK(json_integer_value(json_object_get(r, "body")) == 42);
    json_decref(rec);
    json_decref(j);
}

TEST(body_json_too_big_becomes_text)
{
    /* 16-byte cap; the serialized (redacted) text is cut there. */
    record_opts o = OPTS;
    o.max_body_bytes = 16;
    json_t *rec, *j = json_loads(
        "{\"password\":\"hunter2hunter2\",\"note\":\"\xe2\x82\xac\"}", 0, NULL);
    body_view b = bv(BODY_JSON, "", 0, j, 100);
    json_t *r = req_with(&rec, &b, &o);
    CHECK_STR(sget(r, "body"), "{\"password\":\"[re");
    CHECK_STR(sget(r, "body_format"), "text");
    CHECK(json_is_true(json_object_get(r, "body_truncated")));
    CHECK_STR(sget(r, "body_sha256"), SHA);
    CHECK(!line_contains(rec, "hunter2"));
    json_decref(rec);

    /* exactly at the cap: embedded as JSON */
    json_t *k = json_loads("{\"a\":\"0123456789\"}", 0, NULL); /* 18 bytes */
    o.max_body_bytes = 18;
    b = bv(BODY_JSON, "", 0, k, 18);
    r = req_with(&rec, &b, &o);
    CHECK_STR(sget(r, "body_format"), "json");
    json_decref(rec);
    o.max_body_bytes = 17;
    r = req_with(&rec, &b, &o);
    CHECK_STR(sget(r, "body_format"), "text");
    CHECK_STR(sget(r, "body"), "{\"a\":\"0123456789\"");
    json_decref(rec);
    json_decref(k);
    /* a 3-byte character straddling the cap is left out whole */
    k = json_loads("{\"a\":\"\xe2\x82\xac\"}", 0, NULL);
    o.max_body_bytes = 7;
    b = bv(BODY_JSON, "", 0, k, 11);
    r = req_with(&rec, &b, &o);
    CHECK_STR(sget(r, "body"), "{\"a\":\"");
    json_decref(rec);
    json_decref(k);
    json_decref(j);
}

TEST(body_text_utf8_cut)
{
    static const char t[] = "ab\xe2\x82\xac" "cd"; /* "ab€cd", 7 bytes */
    record_opts o = OPTS;
    json_t *rec, *r;
    body_view b = bv(BODY_TEXT, t, 7, NULL, 7);
    static const struct {
        size_t cap;
        const char *want;
        bool cut;
    } cases[] = {
        {3, "ab", true},  {4, "ab", true}, {5, "ab\xe2\x82\xac", true},
        {6, "ab\xe2\x82\xac" "c", true}, {7, t, false}, {0, "", true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        o.max_body_bytes = cases[i].cap;
        r = req_with(&rec, &b, &o);
        CHECK_STR(sget(r, "body"), cases[i].want);
        CHECK_STR(sget(r, "body_format"), "text");
        CHECK(json_is_true(json_object_get(r, "body_truncated")) ==
              cases[i].cut);
        CHECK((json_object_get(r, "body_sha256") != NULL) == cases[i].cut);
        json_decref(rec);
    }
}

TEST(body_binary_base64)
{
    record_opts o = OPTS;
    json_t *rec, *r;
    static const struct {
        const char *in;
        size_t len, cap;
        const char *want;
    } cases[] = {
        {"f", 1, 64, "Zg=="},         {"fo", 2, 64, "Zm8="},
        {"foo", 3, 64, "Zm9v"},       {"\x00\xff\x10", 3, 64, "AP8Q"},
        {"hello!", 6, 4, "aGVsbA=="}, {"", 0, 64, ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        body_view b = bv(BODY_BINARY, cases[i].in, cases[i].len, NULL, 6);
        o.max_body_bytes = cases[i].cap;
        r = req_with(&rec, &b, &o);
        CHECK_STR(sget(r, "body"), cases[i].want);
        CHECK_STR(sget(r, "body_format"), "base64");
        CHECK(json_is_true(json_object_get(r, "body_truncated")) ==
              (cases[i].len > cases[i].cap));
        json_decref(rec);
    }
}

TEST(body_oversize_and_decode_error)
{
    json_t *rec;
    body_view b = bv(BODY_OVERSIZE, NULL, 0, NULL, 123456789);
    b.decode_error = "gzip: output too large";
    json_t *r = req_with(&rec, &b, &OPTS);
    char keys[256];
    unit_keys_of(r, keys, sizeof keys);
    CHECK_STR(keys, "headers,body,body_format,body_bytes,body_sha256,"
                    "body_decode_error");
    CHECK(json_is_null(json_object_get(r, "body")));
    CHECK_STR(sget(r, "body_format"), "oversize");
    CHECK(json_integer_value(json_object_get(r, "body_bytes")) == 123456789);
    CHECK_STR(sget(r, "body_sha256"), SHA);
    CHECK_STR(sget(r, "body_decode_error"), "gzip: output too large");
    json_decref(rec);
}

TEST(body_omitted)
{
    /* An answer never compared: its length only, no content and no hash. */
    json_t *rec;
    body_view b = bv(BODY_OMITTED, NULL, 0, NULL, 4242);
    b.sha256[0] = '\0';
    json_t *r = req_with(&rec, &b, &OPTS);
    char keys[256];
    unit_keys_of(r, keys, sizeof keys);
    CHECK_STR(keys, "headers,body,body_format,body_bytes");
    CHECK(json_is_null(json_object_get(r, "body")));
    CHECK_STR(sget(r, "body_format"), "omitted");
    CHECK(json_integer_value(json_object_get(r, "body_bytes")) == 4242);
    json_decref(rec);
}

TEST(header_redaction)
{
    hdr_list req = {0}, leg = {0};
    hadd(&req, "authorization", "Bearer s3cr3t-a");
    hadd(&req, "X-Trace", "keep-me");
    hadd(&req, "Cookie", "sid=s3cr3t-b");
    hadd(&req, "COOKIE", "other=s3cr3t-c");
    hadd(&req, "Proxy-Authorization", "Basic s3cr3t-d");
    hadd(&req, "X-Authorization-Hint", "s3cr3t-g");  /* a secret family's */
    hadd(&req, "X-Author", "not secret");
    hadd(&leg, "Set-Cookie", "sid=s3cr3t-e");
    hadd(&leg, "set-cookie", "x=s3cr3t-f");
    hadd(&leg, "Content-Type", "application/json");
    record_input in = base_input();
    in.req_headers = &req;
    in.legacy.headers = &leg;
    json_t *rec = record_build(&in, &OPTS);
    json_t *want_req = json_loads(
        "[[\"authorization\",\"[redacted]\"],[\"X-Trace\",\"keep-me\"],"
        "[\"Cookie\",\"[redacted]\"],[\"COOKIE\",\"[redacted]\"],"
        "[\"Proxy-Authorization\",\"[redacted]\"],"
        "[\"X-Authorization-Hint\",\"[redacted]\"],"
        "[\"X-Author\",\"not secret\"]]",
        0, NULL);
    json_t *want_leg = json_loads(
        "[[\"Set-Cookie\",\"[redacted]\"],[\"set-cookie\",\"[redacted]\"],"
        "[\"Content-Type\",\"application/json\"]]",
        0, NULL);
    CHECK(json_equal(json_object_get(json_object_get(rec, "request"),
                                     "headers"),
                     want_req));
    CHECK(json_equal(json_object_get(json_object_get(rec, "legacy"),
                                     "headers"),
                     want_leg));
    CHECK(json_is_null(json_object_get(json_object_get(rec, "new"),
                                       "headers")));
    CHECK(!line_contains(rec, "s3cr3t"));
    CHECK(redact_header_name("AUTHORIZATION", NULL) && redact_header_name("cookie", NULL));
    CHECK(!redact_header_name("Cookie2", NULL) && !redact_header_name(NULL, NULL));
    json_decref(want_req);
    json_decref(want_leg);
    json_decref(rec);
    hdr_list_free(&req);
    hdr_list_free(&leg);
}

static const char SECRET_DOC[] =
    "{\"user\":{\"Password\":\"p1-leak\",\"profile\":{\"secret\":"
    "{\"k\":\"v-leak\"}}},\"items\":[{\"token\":\"t1-leak\"},{\"x\":"
    "[{\"CVV\":123}]}],\"keep\":\"ok\",\"passwordx\":\"x-leak\","
    "\"passage\":\"visible\",\"card_number\":[4111,1111]}";
static const char SECRET_DOC_REDACTED[] =
    "{\"user\":{\"Password\":\"[redacted]\",\"profile\":{\"secret\":"
    "\"[redacted]\"}},\"items\":[{\"token\":\"[redacted]\"},{\"x\":"
    "[{\"CVV\":\"[redacted]\"}]}],\"keep\":\"ok\",\"passwordx\":\"[redacted]\","
    "\"passage\":\"visible\",\"card_number\":\"[redacted]\"}";

TEST(json_field_redaction)
{
    json_t *j = json_loads(SECRET_DOC, 0, NULL);
    json_t *want = json_loads(SECRET_DOC_REDACTED, 0, NULL);
    json_t *before = json_deep_copy(j);
    body_view b = bv(BODY_JSON, "", 0, j, 10);
    record_input in = base_input();
    in.req_body = &b;
    in.new_.body = &b;
    record_opts o = OPTS;
    o.max_body_bytes = 4096;
    json_t *rec = record_build(&in, &o);
    CHECK(json_equal(json_object_get(json_object_get(rec, "request"), "body"),
                     want));
    CHECK(json_equal(json_object_get(json_object_get(rec, "new"), "body"),
                     want));
    CHECK(!line_contains(rec, "leak"));
    CHECK(!line_contains(rec, "4111"));
    /* the caller's value is untouched */
    CHECK(json_equal(j, before));
    CHECK_STR(sget(j, "user.Password"), "p1-leak");
    json_decref(rec);
    CHECK(j->refcount == 1); /* the record let go of everything it held */

    redact_json(j, &o); /* in place, on request */
    CHECK(json_equal(j, want));
    json_decref(before);
    json_decref(want);
    json_decref(j);
}

TEST(clean_json_shared_not_copied)
{
    json_t *j = json_loads("{\"a\":1}", 0, NULL);
    body_view b = bv(BODY_JSON, "", 0, j, 7);
    record_input in = base_input();
    in.legacy.body = &b;
    json_t *rec = record_build(&in, &OPTS);
    CHECK(json_object_get(json_object_get(rec, "legacy"), "body") == j);
    json_decref(rec);
    CHECK(j->refcount == 1);
    json_decref(j);
}

TEST(text_bodies_not_parsed)
{
    /* Documented limitation: only BODY_JSON is redacted field by field. */
    static const char t[] = "{\"password\":\"plain\"}";
    json_t *rec;
    body_view b = bv(BODY_TEXT, t, strlen(t), NULL, strlen(t));
    json_t *r = req_with(&rec, &b, &OPTS);
    CHECK_STR(sget(r, "body"), t);
    json_decref(rec);
}

TEST(redact_path_segments)
{
    record_opts o = OPTS;
    const char *const extra[] = {"we/ird", "ti~lde"};
    CHECK(redact_path("/password", &o));
    CHECK(redact_path("/customer/PASSWORD", &o));
    CHECK(redact_path("/payment/card_number/0", &o));
    CHECK(redact_path("/a/token/b/c", &o));
    CHECK(redact_path("/passwords/x", &o)); /* the password family */
    CHECK(redact_path("/xpassword", &o));
    CHECK(!redact_path("/pass/word", &o));
    CHECK(!redact_path("/passage", &o));
    CHECK(!redact_path("", &o));
    CHECK(!redact_path(NULL, &o));
    CHECK(!redact_path("/password", NULL));
    o.redact_fields = extra;
    o.nredact_fields = 2;
    CHECK(redact_path("/x/we~1ird", &o));
    CHECK(redact_path("/ti~0lde/1", &o));
    CHECK(!redact_path("/we/ird", &o));
    CHECK(!redact_path("/ti~01de", &o));
    CHECK(redact_field_name("Token", &OPTS));
    CHECK(!redact_field_name("tok", &OPTS));
}

TEST(difference_redaction)
{
    const char *src =
        "[{\"where\":\"body\",\"path\":\"/customer/password\",\"kind\":"
        "\"changed\",\"legacy\":\"old-leak\",\"new\":\"new-leak\"},"
        "{\"where\":\"body\",\"path\":\"/payment/card_number/0\",\"kind\":"
        "\"changed\",\"legacy\":4111,\"new\":4242},"
        "{\"where\":\"body\",\"path\":\"/customer\",\"kind\":\"added\","
        "\"legacy\":null,\"new\":{\"name\":\"x\",\"token\":\"tk-leak\"}},"
        "{\"where\":\"body\",\"path\":\"/a~1b/Secret\",\"kind\":\"removed\","
        "\"legacy\":{\"deep\":\"s-leak\"},\"new\":null},"
        "{\"where\":\"header\",\"path\":\"set-cookie\",\"kind\":\"changed\","
        "\"legacy\":\"sid=c-leak\",\"new\":\"sid=d-leak\"},"
        "{\"where\":\"header\",\"path\":\"Content-Type\",\"kind\":\"changed\","
        "\"legacy\":\"a\",\"new\":\"b\"},"
        "{\"where\":\"body\",\"path\":\"/total\",\"kind\":\"changed\","
        "\"legacy\":19.99,\"new\":20.5},"
        "{\"where\":\"status\",\"path\":\"\",\"kind\":\"changed\","
        "\"legacy\":200,\"new\":500}]";
    const char *want_src =
        "[{\"where\":\"body\",\"path\":\"/customer/password\",\"kind\":"
        "\"changed\",\"legacy\":\"[redacted]\",\"new\":\"[redacted]\"},"
        "{\"where\":\"body\",\"path\":\"/payment/card_number/0\",\"kind\":"
        "\"changed\",\"legacy\":\"[redacted]\",\"new\":\"[redacted]\"},"
        "{\"where\":\"body\",\"path\":\"/customer\",\"kind\":\"added\","
        "\"legacy\":null,\"new\":{\"name\":\"x\",\"token\":\"[redacted]\"}},"
        "{\"where\":\"body\",\"path\":\"/a~1b/Secret\",\"kind\":\"removed\","
        "\"legacy\":\"[redacted]\",\"new\":null},"
        "{\"where\":\"header\",\"path\":\"set-cookie\",\"kind\":\"changed\","
        "\"legacy\":\"[redacted]\",\"new\":\"[redacted]\"},"
        "{\"where\":\"header\",\"path\":\"Content-Type\",\"kind\":\"changed\","
        "\"legacy\":\"a\",\"new\":\"b\"},"
        "{\"where\":\"body\",\"path\":\"/total\",\"kind\":\"changed\","
        "\"legacy\":19.99,\"new\":20.5},"
        "{\"where\":\"status\",\"path\":\"\",\"kind\":\"changed\","
        "\"legacy\":200,\"new\":500}]";
    json_t *diffs = json_loads(src, 0, NULL);
    json_t *before = json_deep_copy(diffs);
    json_t *want = json_loads(want_src, 0, NULL);
    record_input in = base_input();
    in.differences = diffs;
    json_t *rec = record_build(&in, &OPTS);
    json_t *got = json_object_get(rec, "differences");
    CHECK(json_equal(got, want));
    CHECK(!line_contains(rec, "leak"));
    CHECK(!line_contains(rec, "4111"));
    CHECK(json_equal(diffs, before)); /* borrowed array untouched */
    char keys[128];
    unit_keys_of(json_array_get(got, 0), keys, sizeof keys);
    CHECK_STR(keys, "where,path,kind,legacy,new");
    json_decref(rec);
    CHECK(diffs->refcount == 1);
    json_decref(diffs);
    json_decref(before);
    json_decref(want);
}

/* [[[...]]] n levels deep, with "password":"deep-leak" at the bottom. */
static json_t *nested(int n)
{
    json_t *v = json_pack("{s:s}", "password", "deep-leak");
    for (int i = 1; i < n; i++) {
        json_t *a = json_array();
        json_array_append_new(a, v);
        v = a;
    }
    return v;
}

TEST(deep_json_embedded_as_text)
{
    record_opts o = OPTS;
    o.max_body_bytes = 1 << 20;
    /* at the limit: JSON; one level deeper: its (redacted) text */
    json_t *rec, *j = nested(RECORD_MAX_JSON_DEPTH);
    body_view b = bv(BODY_JSON, "", 0, j, 5000);
    json_t *r = req_with(&rec, &b, &o);
    CHECK_STR(sget(r, "body_format"), "json");
    json_decref(rec);
    json_decref(j);
    j = nested(RECORD_MAX_JSON_DEPTH + 1);
    b = bv(BODY_JSON, "", 0, j, 5000);
    r = req_with(&rec, &b, &o);
    CHECK_STR(sget(r, "body_format"), "text");
    CHECK(json_object_get(r, "body_truncated") == NULL);
    const char *text = sget(r, "body");
    CHECK(text && text[0] == '[' && strstr(text, "[redacted]") && !strstr(text, "leak"));
    json_decref(rec);
    /* cut at the cap like any text */
    o.max_body_bytes = 50;
    r = req_with(&rec, &b, &o);
    CHECK_STR(sget(r, "body_format"), "text");
    CHECK(json_is_true(json_object_get(r, "body_truncated")));
    CHECK(strlen(sget(r, "body")) == 50);
    json_decref(rec);
    /* a difference's deep value: its text too, redacted */
    o.max_body_bytes = 1 << 20;
    json_t *diffs = json_pack("[{s:s,s:s,s:s,s:O,s:i}]", "where", "body", "path", "/x", "kind",
                              "changed", "legacy", j, "new", 1);
    record_input in = base_input();
    in.differences = diffs;
    rec = record_build(&in, &o);
    json_t *d = json_array_get(json_object_get(rec, "differences"), 0);
    CHECK(json_is_string(json_object_get(d, "legacy")));
    CHECK(json_integer_value(json_object_get(d, "new")) == 1);
    CHECK(!line_contains(rec, "deep-leak"));
    json_decref(rec);
    json_decref(diffs);
    json_decref(j);
}

TEST(line_is_one_line_and_round_trips)
{
    /* "\n", "\r", U+2028, U+2029, U+0085 in a body and a header */
    static const char t[] = "l1\nl2\r\xe2\x80\xa8mid\xe2\x80\xa9\xc2\x85" "end";
    hdr_list h = {0};
    hadd(&h, "X-Odd", "a\xe2\x80\xa8" "b");
    body_view b = bv(BODY_TEXT, t, strlen(t), NULL, strlen(t));
    record_input in = base_input();
    in.req_body = &b;
    in.req_headers = &h;
    json_t *rec = record_build(&in, &OPTS);
    size_t len = 0;
    char *s = record_to_line(rec, &len);
    CHECK(s && len > 1 && s[len - 1] == '\n');
    CHECK(s && memchr(s, '\n', len - 1) == NULL);
    CHECK(s && strchr(s, '\r') == NULL);
    CHECK(s && strstr(s, "\xe2\x80\xa8") == NULL);
    CHECK(s && strstr(s, "\xe2\x80\xa9") == NULL);
    CHECK(s && strstr(s, "\xc2\x85") == NULL);
    CHECK(s && strstr(s, "l1\\nl2\\r\\u2028mid\\u2029\\u0085end") != NULL);
    json_error_t err;
    json_t *back = s ? json_loadb(s, len, 0, &err) : NULL;
    CHECK(back != NULL);
    CHECK(json_equal(back, rec));
    CHECK_STR(sget(back, "request.body"), t);
    json_decref(back);
    free(s);
    json_decref(rec);
    hdr_list_free(&h);
}

TEST(reals_print_short_and_exact)
{
    json_t *j = json_loads("{\"price\":19.99,\"tax\":0.1,\"n\":3}", 0, NULL);
    body_view b = bv(BODY_JSON, "", 0, j, 10);
    record_input in = base_input();
    in.legacy.body = &b;
    json_t *rec = record_build(&in, &OPTS);
    char *s = line_of(rec);
    CHECK(s && strstr(s, "{\"price\":19.99,\"tax\":0.1,\"n\":3}") != NULL);
    CHECK(s && strstr(s, "\"duration_ms\":12.346,") != NULL);
    CHECK(s && strstr(s, "\"duration_ms\":7.0,") != NULL);
    free(s);
    json_decref(rec);
    json_decref(j);

    /* a value that needs 17 digits is kept exactly */
    j = json_loads("[0.30000000000000004,19.99]", 0, NULL);
    b = bv(BODY_JSON, "", 0, j, 10);
    in.legacy.body = &b;
    rec = record_build(&in, &OPTS);
    s = line_of(rec);
    CHECK(s && strstr(s, "0.30000000000000004") != NULL);
    json_t *back = s ? json_loads(s, 0, NULL) : NULL;
    CHECK(back && json_equal(back, rec));
    CHECK(json_real_value(json_array_get(
              json_object_get(json_object_get(back, "legacy"), "body"), 0)) ==
          0.1 + 0.2);
    json_decref(back);
    free(s);
    json_decref(rec);
    json_decref(j);

    /* in a cut JSON body only the reals before the cut set the digits */
    j = json_loads("[19.99,\"xxxxxxxxxxxxxxxxxxxxxxxx\",0.30000000000000004]",
                   0, NULL);
    b = bv(BODY_JSON, "", 0, j, 10);
    in.legacy.body = &b;
    record_opts o = OPTS;
    o.max_body_bytes = 20;
    rec = record_build(&in, &o);
    CHECK_STR(sget(rec, "legacy.body"), "[19.99,\"xxxxxxxxxxxx");
    json_decref(rec);
    json_decref(j);
    /* ... and one before the cut, after a string, is exact */
    j = json_loads("[\"aaaaaaaaaaaaaaaaaaaa\",0.30000000000000004,\"xxxxxx\"]",
                   0, NULL);
    b = bv(BODY_JSON, "", 0, j, 10);
    o.max_body_bytes = 45;
    rec = record_build(&in, &o);
    CHECK_STR(sget(rec, "legacy.body"),
              "[\"aaaaaaaaaaaaaaaaaaaa\",0.30000000000000004,\"");
    json_decref(rec);
    json_decref(j);
}

TEST(invalid_utf8_read_as_latin1)
{
    hdr_list h = {0};
    hadd(&h, "Content-Disposition", "file=caf\xe9.txt");
    record_input in = base_input();
    in.uri = "/x?q=\xff";
    in.req_headers = &h;
    json_t *rec = record_build(&in, &OPTS);
    CHECK(rec != NULL);
    CHECK_STR(sget(rec, "uri"), "/x?q=\xc3\xbf");
    json_t *pair = json_array_get(
        json_object_get(json_object_get(rec, "request"), "headers"), 0);
    CHECK_STR(json_string_value(json_array_get(pair, 1)),
              "file=caf\xc3\xa9.txt");
    json_decref(rec);
    hdr_list_free(&h);
}

TEST(null_strings_and_opts)
{
    record_input in = base_input();
    in.id = NULL;
    in.route = NULL;
    json_t *rec = record_build(&in, NULL);
    CHECK(rec != NULL);
    CHECK(json_is_null(json_object_get(rec, "id")));
    CHECK(json_is_null(json_object_get(rec, "route")));
    CHECK(record_build(NULL, &OPTS) == NULL);
    CHECK(record_to_line(NULL, NULL) == NULL);
    json_decref(rec);
}

/* ---- XML, forms, per-route paths ---------------------------------------- */

static void prep_view(body_view *v, const char *s, const char *ct)
{
    CHECK(body_prepare(v, (const unsigned char *)s, strlen(s), true,
                       strlen(s), SHA, ct, NULL, 1 << 20) == 0);
}

/* Compiles patterns into ps[]; the options then point at them. */
static record_opts with_paths(path_pattern *ps, const char *const *texts,
                              size_t n)
{
    record_opts o = OPTS;
    o.max_body_bytes = 8192;
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

TEST(xml_body_embedded_as_text)
{
    const char *doc = "<?xml version=\"1.0\"?>\n<o:Order xmlns:o=\"urn:o\">\n"
                      "  <o:Id>7</o:Id><!-- c --></o:Order>\n";
    body_view b;
    prep_view(&b, doc, "application/xml");
    CHECK(b.kind == BODY_XML);
    record_opts o = OPTS;
    o.max_body_bytes = 4096;
    json_t *rec, *r = req_with(&rec, &b, &o);
    CHECK_STR(sget(r, "body"), doc); /* exactly as received */
    CHECK_STR(sget(r, "body_format"), "xml");
    CHECK(json_object_get(r, "body_truncated") == NULL);
    CHECK(json_object_get(r, "body_sha256") == NULL);
    json_decref(rec);
    /* cut at the cap, on a character boundary */
    o.max_body_bytes = 20;
    r = req_with(&rec, &b, &o);
    CHECK_STR(sget(r, "body"), "<?xml version=\"1.0\"?");
    CHECK(json_is_true(json_object_get(r, "body_truncated")));
    CHECK_STR(sget(r, "body_sha256"), SHA);
    json_decref(rec);
    body_view_free(&b);
    /* another encoding: written as UTF-8 (libxml2 re-serializes it) */
    prep_view(&b, "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>caf\xe9</a>",
              "text/xml");
    CHECK(b.kind == BODY_XML);
    r = req_with(&rec, &b, &OPTS);
    CHECK_STR(sget(r, "body"), "<a>caf\xc3\xa9</a>");
    CHECK_STR(sget(r, "body_format"), "xml");
    json_decref(rec);
    body_view_free(&b);
}

static const char SOAP_SECRETS[] =
    "<?xml version=\"1.0\"?>\n"
    "<!DOCTYPE e [<!ENTITY pw \"entity-leak\">]>"
    "<soap:Envelope xmlns:soap=\"urn:soap\" xmlns:wsse=\"urn:wsse\">"
    "<soap:Header><wsse:Security><wsse:UsernameToken>"
    "<wsse:Username>magento</wsse:Username>"
    "<wsse:Password Type=\"PasswordText\">wsse-leak</wsse:Password>"
    "</wsse:UsernameToken></wsse:Security></soap:Header>"
    "<soap:Body><Login password=\"attr-leak\" user=\"bob\">"
    "<Pin>pin-leak</Pin><Secret><deep>deep-leak</deep></Secret>"
    "<Password>&pw;</Password></Login>"
    "<Items><Item><Sku>A</Sku><cvv>cvv1-leak</cvv><Iban>iban1-leak</Iban></Item>"
    "<Item><Sku>B</Sku><CVV>cvv2-leak</CVV><Iban>iban2-leak</Iban></Item></Items>"
    "<Single><Item><Iban>iban3-leak</Iban><Sku>C</Sku></Item></Single>"
    "<note>keep-me</note></soap:Body></soap:Envelope>";

TEST(xml_body_redacted)
{
    static const char *const texts[] = {
        "/Envelope/Body/Login/Pin",
        "/Envelope/Body/Items/Item/*/Iban",  /* written for repeated items */
        "/Envelope/Body/Single/Item/*/Iban", /* ... but there is one */
    };
    path_pattern ps[3];
    record_opts o = with_paths(ps, texts, 3);
    body_view b;
    prep_view(&b, SOAP_SECRETS, "text/xml; charset=utf-8");
    CHECK(b.kind == BODY_XML);
    record_input in = base_input();
    in.req_body = &b;
    in.legacy.body = &b;
    json_t *rec = record_build(&in, &o);
    char *line = line_of(rec);
    if (line && strstr(line, "leak"))
        fprintf(stderr, "  leaked: %s\n", strstr(line, "leak") - 20);
    CHECK(line && strstr(line, "leak") == NULL);
    CHECK(line && strstr(line, "keep-me") && strstr(line, "bob"));
    /* WS-Security's UsernameToken is a token: the whole of it */
    CHECK(line && strstr(line, "<wsse:UsernameToken>[redacted]</wsse:UsernameToken>"));
    const char *body = sget(rec, "legacy.body");
    CHECK_STR(sget(rec, "legacy.body_format"), "xml");
    CHECK(body && strstr(body, "password=\"[redacted]\" user=\"bob\""));
    CHECK(body && strstr(body, "<Pin>[redacted]</Pin>"));
    CHECK(body && strstr(body, "<Sku>B</Sku><CVV>[redacted]</CVV>"));
    CHECK(body && strstr(body, "<Iban>[redacted]</Iban><Sku>C</Sku>"));
    CHECK(body && strstr(body, "<!DOCTYPE") == NULL);
    CHECK(json_object_get(json_object_get(rec, "legacy"), "body_sha256") == NULL);
    free(line);
    json_decref(rec);
    /* the tree itself is untouched (the comparison needs the real values) */
    json_t *pin = json_object_get(json_object_get(json_object_get(
        json_object_get(b.json, "Envelope"), "Body"), "Login"), "Pin");
    CHECK_STR(json_string_value(pin), "pin-leak");
    body_view_free(&b);
    free_paths(ps, 3);
}


int main(void)
{
    RUN(ts_format);
    RUN(field_order_and_presence);
    RUN(leg_not_attempted);
    RUN(leg_failed);
    RUN(body_none);
    RUN(body_json_embedded);
    RUN(body_json_too_big_becomes_text);
    RUN(body_text_utf8_cut);
    RUN(body_binary_base64);
    RUN(body_oversize_and_decode_error);
    RUN(body_omitted);
    RUN(header_redaction);
    RUN(json_field_redaction);
    RUN(clean_json_shared_not_copied);
    RUN(text_bodies_not_parsed);
    RUN(redact_path_segments);
    RUN(difference_redaction);
    RUN(deep_json_embedded_as_text);
    RUN(line_is_one_line_and_round_trips);
    RUN(reals_print_short_and_exact);
    RUN(invalid_utf8_read_as_latin1);
    RUN(null_strings_and_opts);
    RUN(xml_body_embedded_as_text);
    RUN(xml_body_redacted);
    UNIT_DONE();
}
