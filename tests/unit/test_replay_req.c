/* replay_req: records back into requests, and what is refused. */
#include <jansson.h>
#include <stdlib.h>

#include "tools/replay_req.h"
#include "unit.h"

static json_t *rec(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (!j)
        fprintf(stderr, "bad test JSON: %s\n", e.text);
    return j;
}

/* Builds from a record text: 0 built, 1 skipped (*why), -1. */
static int build(const char *text, const replay_header *set, size_t nset, replay_req *out,
                 replay_skip *why)
{
    json_t *j = rec(text);
    int rc = j ? replay_req_build(j, set, nset, out, why) : -1;
    json_decref(j);
    return rc;
}

#define BASE "\"v\":1,\"id\":\"r-1\",\"method\":\"POST\",\"uri\":\"/api/orders?x=%41\""

TEST(json_body_and_headers)
{
    replay_req r;
    replay_skip why;
    int rc = build("{" BASE ",\"request\":{\"headers\":[[\"Host\",\"shop\"],"
                   "[\"Content-Type\",\"application/json\"],[\"Content-Length\",\"40\"],"
                   "[\"X-Request-Id\",\"other\"],[\"Connection\",\"keep-alive\"],[\"X-A\",\"1\"],[\"x-a\",\"2\"]],"
                   "\"body\":{\"sku\":\"MB01\",\"price\":19.99,\"qty\":1,\"n\":\"\\u00fc\"},"
                   "\"body_format\":\"json\",\"body_bytes\":40}}",
                   NULL, 0, &r, &why);
    CHECK(rc == 0);
    if (rc != 0)
        return;
    CHECK_STR(r.method, "POST");
    CHECK_STR(r.uri, "/api/orders?x=%41");
    CHECK(r.has_body);
    CHECK(r.body_len == strlen("{\"sku\":\"MB01\",\"price\":19.99,\"qty\":1,\"n\":\"\xc3\xbc\"}"));
    CHECK(memcmp(r.body, "{\"sku\":\"MB01\",\"price\":19.99,\"qty\":1,\"n\":\"\xc3\xbc\"}", r.body_len) == 0);
    /* order kept, duplicates kept, framing and hop-by-hop dropped, the id last */
    CHECK(r.nheaders == 5);
    CHECK_STR(r.headers[0], "Host: shop");
    CHECK_STR(r.headers[1], "Content-Type: application/json");
    CHECK_STR(r.headers[2], "X-A: 1");
    CHECK_STR(r.headers[3], "x-a: 2");
    CHECK_STR(r.headers[4], "X-Request-Id: r-1");
    CHECK(r.headers[5] == NULL);
    replay_req_free(&r);
}

TEST(text_and_base64_bodies)
{
    replay_req r;
    replay_skip why;
    CHECK(build("{" BASE ",\"request\":{\"headers\":[],\"body\":\"a=1&b=2\",\"body_format\":\"form\"}}",
                NULL, 0, &r, &why) == 0);
    CHECK(r.body_len == 7 && memcmp(r.body, "a=1&b=2", 7) == 0);
    replay_req_free(&r);
    CHECK(build("{" BASE ",\"request\":{\"headers\":[],\"body\":\"AAEC/w==\",\"body_format\":\"base64\"}}",
                NULL, 0, &r, &why) == 0);
    CHECK(r.body_len == 4 && memcmp(r.body, "\x00\x01\x02\xff", 4) == 0);
    replay_req_free(&r);
    CHECK(build("{" BASE ",\"request\":{\"headers\":[],\"body\":\"AAE\",\"body_format\":\"base64\"}}",
                NULL, 0, &r, &why) == 1);
    CHECK(why == REPLAY_SKIP_BAD_BODY);
    CHECK(build("{" BASE ",\"request\":{\"headers\":[],\"body\":null,\"body_format\":\"none\"}}",
                NULL, 0, &r, &why) == 0);
    CHECK(!r.has_body);
    replay_req_free(&r);
}

TEST(refused_records)
{
    static const struct {
        const char *request;
        replay_skip why;
    } cases[] = {
        {"{\"headers\":[],\"body\":\"abc\",\"body_format\":\"text\",\"body_truncated\":true}",
         REPLAY_SKIP_BODY_CUT},
        {"{\"headers\":[],\"body\":null,\"body_format\":\"redacted\"}", REPLAY_SKIP_BODY_REDACTED},
        {"{\"headers\":[],\"body\":null,\"body_format\":\"oversize\"}", REPLAY_SKIP_BODY_OVERSIZE},
        {"{\"headers\":[],\"body\":{\"a\":[{\"password\":\"[redacted]\"}]},\"body_format\":\"json\"}",
         REPLAY_SKIP_FIELD_REDACTED},
        {"{\"headers\":[],\"body\":\"<a>[redacted]</a>\",\"body_format\":\"xml\"}",
         REPLAY_SKIP_FIELD_REDACTED},
        {"{\"headers\":[[\"Cookie\",\"[redacted]\"]]}", REPLAY_SKIP_HEADER_REDACTED},
        {"{\"headers\":[[\"Content-Encoding\",\"gzip\"]],\"body\":\"x\",\"body_format\":\"text\"}",
         REPLAY_SKIP_ENCODED},
        {"{\"headers\":[[\"X\"]]}", REPLAY_SKIP_NOT_REQUEST},
        {"{\"headers\":{}}", REPLAY_SKIP_NOT_REQUEST},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char text[512];
        snprintf(text, sizeof text, "{%s,\"request\":%s}", BASE, cases[i].request);
        replay_req r;
        replay_skip why = REPLAY_SKIP_COUNT;
        int rc = build(text, NULL, 0, &r, &why);
        CHECK(rc == 1);
        if (why != cases[i].why)
            fprintf(stderr, "  case %zu: got %s\n", i, replay_skip_text(why));
        CHECK(why == cases[i].why);
    }
    replay_req r;
    replay_skip why;
    CHECK(build("{\"id\":\"x\",\"method\":\"GET\",\"uri\":\"/\",\"reason\":\"comparison queue full\","
                "\"request\":{\"headers\":[]}}", NULL, 0, &r, &why) == 1);
    CHECK(why == REPLAY_SKIP_INCOMPLETE);
    CHECK(build("{\"id\":\"x\",\"method\":\"GET\",\"uri\":\"/cb?access_token=[redacted]&a=1\","
                "\"request\":{\"headers\":[]}}", NULL, 0, &r, &why) == 1);
    CHECK(why == REPLAY_SKIP_URI_REDACTED);
    CHECK(build("{\"id\":\"x\",\"uri\":\"/\",\"request\":{\"headers\":[]}}", NULL, 0, &r, &why) == 1);
    CHECK(why == REPLAY_SKIP_NOT_REQUEST);
}

TEST(set_header_replaces_or_adds)
{
    replay_header set[2];
    CHECK(replay_header_parse("authorization:  Bearer t", &set[0]) == 0);
    CHECK(replay_header_parse("X-Tenant: 7", &set[1]) == 0);
    CHECK_STR(set[0].value, "Bearer t");
    replay_req r;
    replay_skip why;
    int rc = build("{" BASE ",\"request\":{\"headers\":[[\"Accept\",\"*/*\"],"
                   "[\"Authorization\",\"[redacted]\"],[\"Authorization\",\"[redacted]\"],[\"X-B\",\"b\"]]}}",
                   set, 2, &r, &why);
    CHECK(rc == 0);
    if (rc == 0) {
        CHECK(r.nheaders == 5);
        CHECK_STR(r.headers[0], "Accept: */*");
        CHECK_STR(r.headers[1], "authorization: Bearer t"); /* at the recorded place, once */
        CHECK_STR(r.headers[2], "X-B: b");
        CHECK_STR(r.headers[3], "X-Tenant: 7");
        CHECK_STR(r.headers[4], "X-Request-Id: r-1");
        replay_req_free(&r);
    }
    for (int i = 0; i < 2; i++) {
        free(set[i].name);
        free(set[i].value);
    }
    replay_header bad;
    CHECK(replay_header_parse("no colon", &bad) == -1);
    CHECK(replay_header_parse(": v", &bad) == -1);
    CHECK(replay_header_parse("Bad Name: v", &bad) == -1);
    CHECK(replay_header_parse("X: a\r\nInjected: 1", &bad) == -1);
}

int main(void)
{
    RUN(json_body_and_headers);
    RUN(text_and_base64_bodies);
    RUN(refused_records);
    RUN(set_header_replaces_or_adds);
    UNIT_DONE();
}
