/* Unit tests for live (the dashboard's live view): the record ring bounded
 * by count and by bytes, big records trimmed (stage by stage) without
 * touching the caller's record, minute buckets rolling over with an
 * injected clock, the route table's cap, and NULL safety. */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obs/live.h"
#include "diff/record.h"
#include "unit.h"

#define MIN_MS 60000LL
/* A minute boundary, so offsets below are easy to read. */
#define T0 (1800000000000LL / MIN_MS * MIN_MS)

/* A record shaped like the diff log's, with a body of `body_len` 'x's on
 * the legacy side and n differences. */
static json_t *rec_make(const char *id, const char *vname, size_t body_len, size_t ndiff)
{
    char *body = malloc(body_len + 1);
    memset(body, 'x', body_len);
    body[body_len] = '\0';
    json_t *diffs = json_array();
    for (size_t i = 0; i < ndiff; i++)
        json_array_append_new(diffs, json_pack("{s:s, s:s, s:s, s:i, s:i}", "where", "body", "path",
                                               "/a", "kind", "changed", "legacy", (int)i, "new",
                                               (int)i + 1));
    json_t *r = json_pack(
        "{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:{s:[], s:n}, s:{s:i, s:[], s:s, s:s},"
        " s:{s:i, s:[], s:{s:i}, s:s}, s:o}",
        "v", 1, "id", id, "ts", "2027-01-15T08:00:00.000Z", "route", "orders", "method", "GET",
        "uri", "/api/orders/1", "authority", "legacy", "verdict", vname, "request", "headers",
        "body", "legacy", "status", 200, "headers", "body", body, "body_format", "text", "new",
        "status", 200, "headers", "body", "a", 2, "body_format", "json", "differences", diffs);
    free(body);
    return r;
}

/* live_add of rec as the analyzer does it: with record_to_line's text. */
static void add(live *l, json_t *rec)
{
    size_t len = 0;
    char *line = record_to_line(rec, &len);
    live_add(l, rec, line, len);
}

static json_t *recent(live *l)
{
    size_t len = 0;
    char *t = live_recent(l, &len);
    json_t *j = t ? json_loadb(t, len, 0, NULL) : NULL;
    free(t);
    return j;
}

static json_t *record_of(live *l, uint64_t seq)
{
    size_t len = 0;
    char *t = live_record(l, seq, &len);
    json_t *j = t ? json_loadb(t, len, 0, NULL) : NULL;
    free(t);
    return j;
}

static json_int_t jint(json_t *o, const char *path)
{
    json_t *v = o;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *save = NULL, *k = strtok_r(buf, ".", &save); k; k = strtok_r(NULL, ".", &save))
        v = json_is_array(v) ? json_array_get(v, (size_t)atoi(k)) : json_object_get(v, k);
    return json_is_integer(v) ? json_integer_value(v) : -999;
}

TEST(keeps_only_non_matches_worth_a_look)
{
    CHECK(live_keeps(VERDICT_MISMATCH));
    CHECK(live_keeps(VERDICT_KNOWN));
    CHECK(live_keeps(VERDICT_SHADOW_ERROR));
    CHECK(live_keeps(VERDICT_SHADOW_TIMEOUT));
    CHECK(live_keeps(VERDICT_AUTHORITATIVE_ERROR));
    CHECK(!live_keeps(VERDICT_MATCH));
    CHECK(!live_keeps(VERDICT_SKIPPED));
    CHECK(!live_keeps(VERDICT_SHADOW_DROPPED));
}

TEST(ring_bounded_by_count)
{
    live_limits lim = {3, 1 << 20, 64 * 1024, 8};
    live *l = live_new(&lim);
    CHECK(l != NULL);
    for (int i = 1; i <= 5; i++) {
        char id[16];
        snprintf(id, sizeof id, "r%d", i);
        json_t *r = rec_make(id, "mismatch", 10, 2);
        add(l, r);
        json_decref(r);
    }
    json_t *j = recent(l);
    json_t *recs = json_object_get(j, "records");
    CHECK(json_array_size(recs) == 3);
    /* newest first, seq 5 4 3 */
    CHECK(jint(recs, "0.seq") == 5);
    CHECK(jint(recs, "2.seq") == 3);
    CHECK_STR(json_string_value(json_object_get(json_array_get(recs, 0), "id")), "r5");
    CHECK(jint(recs, "0.differences") == 2);
    CHECK(jint(recs, "0.status.new") == 200);
    CHECK(jint(j, "evicted") == 2);
    CHECK(jint(j, "latest_seq") == 5);
    CHECK(jint(j, "held.records") == 3);
    json_decref(j);
    /* evicted records are gone, held ones come back whole */
    size_t len;
    CHECK(live_record(l, 2, &len) == NULL);
    CHECK(live_record(l, 6, &len) == NULL);
    CHECK(live_record(l, 0, &len) == NULL);
    json_t *r4 = record_of(l, 4);
    CHECK_STR(json_string_value(json_object_get(r4, "id")), "r4");
    CHECK(json_object_get(r4, "live_trimmed") == NULL);
    CHECK(json_string_length(json_object_get(json_object_get(r4, "legacy"), "body")) == 10);
    json_decref(r4);
    live_free(l);
}

TEST(ring_bounded_by_bytes)
{
    live_limits lim = {50, 8192, 4096, 8};
    live *l = live_new(&lim);
    size_t one = 0;
    for (int i = 1; i <= 20; i++) {
        char id[16];
        snprintf(id, sizeof id, "b%d", i);
        json_t *r = rec_make(id, "mismatch", 1500, 1);
        if (i == 1) {
            char *t = record_to_line(r, &one);
            free(t);
        }
        add(l, r);
        json_decref(r);
        json_t *j = recent(l);
        CHECK(jint(j, "held.bytes") <= 8192);
        json_decref(j);
    }
    CHECK(one > 1500 && one < 4096);
    json_t *j = recent(l);
    json_int_t held = jint(j, "held.records");
    CHECK(held >= 2 && held < 8192 / (json_int_t)one + 1); /* only what fits */
    CHECK(jint(j, "records.0.seq") == 20);
    CHECK(jint(j, "evicted") == 20 - held);
    json_decref(j);
    json_t *st = live_stats(l, T0);
    CHECK(jint(st, "recent.records") == held);
    CHECK(jint(st, "recent.bytes") <= 8192);
    CHECK(jint(st, "recent.max_bytes") == 8192);
    json_decref(st);
    live_free(l);
}

TEST(big_record_is_trimmed_not_dropped)
{
    live_limits lim = {10, 64 * 1024, 4096, 8};
    live *l = live_new(&lim);
    json_t *r = rec_make("big", "mismatch", 100000, 3);
    add(l, r);
    /* the caller's record is untouched */
    CHECK(json_string_length(json_object_get(json_object_get(r, "legacy"), "body")) == 100000);
    CHECK(json_object_get(r, "live_trimmed") == NULL);
    json_decref(r);
    size_t len = 0;
    char *t = live_record(l, 1, &len);
    CHECK(t && len <= 4096 && strlen(t) == len);
    json_t *k = t ? json_loads(t, 0, NULL) : NULL;
    free(t);
    CHECK(k != NULL);
    json_t *notes = json_object_get(k, "live_trimmed");
    CHECK(json_is_array(notes) && json_array_size(notes) >= 1);
    CHECK_STR(json_string_value(json_array_get(notes, json_array_size(notes) - 1)), "legacy.body");
    json_t *leg = json_object_get(k, "legacy");
    CHECK(json_string_length(json_object_get(leg, "body")) == 1024);
    CHECK(json_is_true(json_object_get(leg, "body_truncated")));
    CHECK(json_array_size(json_object_get(k, "differences")) == 3); /* differences kept */
    CHECK(jint(k, "new.body.a") == 2);                              /* small body kept */
    json_decref(k);
    json_t *j = recent(l);
    CHECK(json_is_true(json_object_get(json_array_get(json_object_get(j, "records"), 0), "trimmed")));
    json_decref(j);
    /* just over the limit is trimmed too; just under is kept whole */
    r = rec_make("over", "mismatch", 4200, 1);
    add(l, r);
    json_decref(r);
    r = rec_make("under", "mismatch", 3500, 1);
    add(l, r);
    json_decref(r);
    t = live_record(l, 2, &len);
    CHECK(t && len <= 4096);
    free(t);
    k = record_of(l, 3);
    CHECK(json_string_length(json_object_get(json_object_get(k, "legacy"), "body")) == 3500);
    CHECK(json_object_get(k, "live_trimmed") == NULL);
    json_decref(k);
    live_free(l);
}

TEST(trim_goes_stage_by_stage)
{
    /* many differences: their number is cut, the total stays known */
    json_t *r = rec_make("many", "mismatch", 10, 2000);
    size_t len = 0;
    char *t = live_trim(r, 4096, &len);
    CHECK(t && len <= 4096);
    json_t *k = t ? json_loads(t, 0, NULL) : NULL;
    CHECK(json_array_size(json_object_get(k, "differences")) == 20);
    CHECK(jint(k, "differences_total") == 2000);
    CHECK_STR(json_string_value(json_object_get(json_object_get(k, "legacy"), "body")),
              "xxxxxxxxxx");
    free(t);
    json_decref(k);
    /* a flood of headers: headers go */
    json_t *hs = json_object_get(json_object_get(r, "new"), "headers");
    for (int i = 0; i < 500; i++)
        json_array_append_new(hs, json_pack("[s, s]", "X-Flood", "yyyyyyyyyyyyyyyyyyyyyyyyy"));
    t = live_trim(r, 4096, &len);
    k = t ? json_loads(t, 0, NULL) : NULL;
    CHECK(k && len <= 4096);
    CHECK(json_array_size(json_object_get(json_object_get(k, "new"), "headers")) == 0);
    free(t);
    json_decref(k);
    /* a uri beyond any budget: the minimal record, still saying what it is */
    char *uri = malloc(20000);
    memset(uri, 'u', 19999);
    uri[19999] = '\0';
    json_object_set_new(r, "uri", json_string(uri));
    free(uri);
    t = live_trim(r, 1024, &len);
    k = t ? json_loads(t, 0, NULL) : NULL;
    CHECK(k && len <= 1024);
    CHECK_STR(json_string_value(json_object_get(k, "id")), "many");
    CHECK_STR(json_string_value(json_object_get(k, "verdict")), "mismatch");
    json_t *notes = json_object_get(k, "live_trimmed");
    CHECK_STR(json_string_value(json_array_get(notes, json_array_size(notes) - 1)), "record");
    free(t);
    json_decref(k);
    json_decref(r);
}

TEST(trim_cuts_utf8_on_a_boundary)
{
    /* 3-byte characters: a cut at 1024 must not split one */
    json_t *r = rec_make("utf8", "mismatch", 1, 0);
    char *s = malloc(3 * 3000 + 1);
    for (int i = 0; i < 3000; i++)
        memcpy(s + 3 * i, "\xe2\x84\xa2", 3); /* U+2122 */
    s[9000] = '\0';
    json_object_set_new(json_object_get(r, "legacy"), "body", json_string(s));
    free(s);
    size_t len = 0;
    char *t = live_trim(r, 4096, &len);
    json_t *k = t ? json_loads(t, 0, NULL) : NULL; /* jansson refuses bad UTF-8 */
    CHECK(k != NULL);
    CHECK(json_string_length(json_object_get(json_object_get(k, "legacy"), "body")) == 1023);
    free(t);
    json_decref(k);
    json_decref(r);
}

TEST(minute_buckets_roll_over)
{
    live *l = live_new(NULL);
    live_count(l, "orders", VERDICT_MATCH, T0 + 1000);
    live_count(l, "orders", VERDICT_MATCH, T0 + 59999);
    live_count(l, "orders", VERDICT_MISMATCH, T0 + MIN_MS + 5000);
    live_count(l, "orders", VERDICT_KNOWN, T0 + MIN_MS + 6000);
    json_t *st = live_stats(l, T0 + MIN_MS + 10000);
    CHECK(jint(st, "minutes") == 15);
    json_t *o = json_object_get(json_object_get(st, "routes"), "orders");
    json_t *m = json_object_get(json_object_get(o, "per_minute"), "match");
    CHECK(json_array_size(m) == 15);
    CHECK(jint(m, "13") == 2 && jint(m, "14") == 0);
    CHECK(jint(o, "per_minute.mismatch.14") == 1);
    CHECK(json_object_get(json_object_get(o, "per_minute"), "shadow_error") == NULL);
    CHECK(jint(o, "last.1m.match") == 0 && jint(o, "last.1m.mismatch") == 1);
    CHECK(jint(o, "last.5m.match") == 2 && jint(o, "last.5m.compared") == 4);
    double rate = json_real_value(json_object_get(json_object_get(json_object_get(o, "last"), "5m"),
                                                  "match_rate"));
    CHECK(rate > 0.499 && rate < 0.501); /* match / compared, as the report */
    rate = json_real_value(json_object_get(json_object_get(json_object_get(o, "last"), "5m"),
                                           "agree_rate"));
    CHECK(rate > 0.749 && rate < 0.751); /* (match + known) / compared */
    CHECK(jint(st, "totals.last.15m.total") == 4);
    json_decref(st);
    /* 14 minutes later the first minute is the oldest bucket */
    st = live_stats(l, T0 + 14 * MIN_MS + 1);
    CHECK(jint(st, "routes.orders.per_minute.match.0") == 2);
    CHECK(jint(st, "routes.orders.last.15m.match") == 2);
    CHECK(jint(st, "routes.orders.last.5m.total") == 0);
    json_decref(st);
    /* 15 minutes later it has left the window, though its bucket is not reused yet */
    st = live_stats(l, T0 + 15 * MIN_MS + 1);
    CHECK(jint(st, "routes.orders.last.15m.match") == 0);
    CHECK(jint(st, "routes.orders.last.15m.mismatch") == 1);
    json_decref(st);
    /* counting in minute 15 reuses minute 0's bucket: the old counts are cleared */
    live_count(l, "orders", VERDICT_SHADOW_TIMEOUT, T0 + 15 * MIN_MS + 2);
    st = live_stats(l, T0 + 15 * MIN_MS + 3);
    CHECK(jint(st, "routes.orders.per_minute.shadow_timeout.14") == 1);
    CHECK(jint(st, "routes.orders.last.1m.total") == 1);
    CHECK(jint(st, "routes.orders.last.15m.total") == 3);
    json_decref(st);
    /* an hour later: nothing, but the route is still listed */
    st = live_stats(l, T0 + 60 * MIN_MS);
    CHECK(jint(st, "routes.orders.last.15m.total") == 0);
    CHECK(json_is_null(json_object_get(
        json_object_get(json_object_get(json_object_get(json_object_get(st, "routes"), "orders"),
                                        "last"), "15m"), "match_rate")));
    json_decref(st);
    live_free(l);
}

TEST(route_table_is_capped)
{
    live_limits lim = {5, 1 << 20, 64 * 1024, 2};
    live *l = live_new(&lim);
    live_count(l, "a", VERDICT_MATCH, T0);
    live_count(l, NULL, VERDICT_MATCH, T0); /* "default" */
    live_count(l, "c", VERDICT_MATCH, T0);
    live_count(l, "d", VERDICT_MISMATCH, T0);
    live_count(l, "a", VERDICT_MATCH, T0);
    json_t *st = live_stats(l, T0);
    json_t *routes = json_object_get(st, "routes");
    CHECK(json_object_size(routes) == 3);
    CHECK(jint(routes, "a.last.1m.match") == 2);
    CHECK(jint(routes, "default.last.1m.match") == 1);
    CHECK(json_object_get(routes, "c") == NULL);
    CHECK(jint(json_object_get(routes, LIVE_OTHER_ROUTE), "last.1m.total") == 2);
    CHECK(json_is_true(json_object_get(st, "routes_capped")));
    CHECK(jint(st, "totals.last.1m.total") == 5);
    json_decref(st);
    live_free(l);

    /* a long name is kept to LIVE_MAX_NAME - 1 bytes, and still one route */
    l = live_new(NULL);
    char name[400];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    live_count(l, name, VERDICT_MATCH, T0);
    name[300] = 'z'; /* differs past the kept part: the same route */
    live_count(l, name, VERDICT_MATCH, T0);
    st = live_stats(l, T0);
    routes = json_object_get(st, "routes");
    CHECK(json_object_size(routes) == 1);
    const char *k;
    json_t *v;
    json_object_foreach(routes, k, v) {
        CHECK(strlen(k) == LIVE_MAX_NAME - 1);
        CHECK(jint(v, "last.1m.match") == 2);
    }
    json_decref(st);
    live_free(l);
}

TEST(bad_limits_and_null)
{
    live_limits small = {1, 1000, 2000, 1}; /* max_bytes < max_record_bytes */
    CHECK(live_new(&small) == NULL);
    live_limits none = {0, 1 << 20, 4096, 1};
    CHECK(live_new(&none) == NULL);
    live_count(NULL, "a", VERDICT_MATCH, T0);
    json_t *r = rec_make("n", "mismatch", 1, 1);
    add(NULL, r); /* frees the line: ASan would see a leak otherwise */
    json_decref(r);
    size_t len = 0;
    CHECK(live_record(NULL, 1, &len) == NULL);
    char *t = live_recent(NULL, &len);
    CHECK_STR(t, "{\"records\":[]}");
    free(t);
    json_t *st = live_stats(NULL, T0);
    CHECK(st != NULL && json_object_size(json_object_get(st, "routes")) == 0);
    json_decref(st);
    live_free(NULL);
}

/* The comparer writes while the admin thread reads. */
static void *writer(void *arg)
{
    live *l = arg;
    for (int i = 0; i < 3000; i++) {
        live_count(l, i % 3 ? "a" : "b", (verdict)(i % VERDICT_COUNT), T0 + i * 1000);
        if (i % 50 == 0) {
            json_t *r = rec_make("w", "mismatch", 100, 1);
            add(l, r);
            json_decref(r);
        }
    }
    return NULL;
}

TEST(concurrent_reads_and_writes)
{
    live_limits lim = {7, 1 << 20, 64 * 1024, 4};
    live *l = live_new(&lim);
    pthread_t t;
    pthread_create(&t, NULL, writer, l);
    for (int i = 0; i < 200; i++) {
        json_t *st = live_stats(l, T0 + i * 15000);
        json_t *j = recent(l);
        CHECK(st && j);
        CHECK(json_array_size(json_object_get(j, "records")) <= 7);
        json_int_t latest = jint(j, "latest_seq");
        if (latest > 0) {
            json_decref(record_of(l, (uint64_t)latest));
        }
        json_decref(st);
        json_decref(j);
    }
    pthread_join(t, NULL);
    json_t *j = recent(l);
    CHECK(jint(j, "latest_seq") == 60);
    json_decref(j);
    live_free(l);
}

TEST(endpoints_counted_apart_and_capped)
{
    live *l = live_new(NULL);
    char name[64];
    for (int i = 0; i < LIVE_MAX_ENDPOINTS + 5; i++) {
        snprintf(name, sizeof name, "GET /slug/e%d", i);
        live_count(l, "default", VERDICT_MISMATCH, T0);
        live_count_endpoint(l, name, VERDICT_MISMATCH, T0);
    }
    live_count_endpoint(l, "GET /slug/e0", VERDICT_MATCH, T0);
    live_count_endpoint(l, NULL, VERDICT_MATCH, T0); /* ignored */
    json_t *st = live_stats(l, T0);
    json_t *eps = json_object_get(st, "endpoints");
    CHECK(json_object_size(eps) == LIVE_MAX_ENDPOINTS + 1);
    CHECK(json_is_true(json_object_get(st, "endpoints_capped")));
    CHECK(json_is_false(json_object_get(st, "routes_capped")));
    json_t *e0 = json_object_get(json_object_get(json_object_get(eps, "GET /slug/e0"), "last"), "15m");
    CHECK(json_integer_value(json_object_get(e0, "compared")) == 2);
    json_t *other = json_object_get(json_object_get(json_object_get(eps, LIVE_OTHER_ROUTE), "last"), "15m");
    CHECK(json_integer_value(json_object_get(other, "mismatch")) == 5);
    /* the totals are the routes': the endpoints are not counted twice */
    json_t *tot = json_object_get(json_object_get(json_object_get(st, "totals"), "last"), "15m");
    CHECK(json_integer_value(json_object_get(tot, "total")) == LIVE_MAX_ENDPOINTS + 5);
    json_decref(st);
    live_free(l);
}

int main(void)
{
    RUN(endpoints_counted_apart_and_capped);
    RUN(keeps_only_non_matches_worth_a_look);
    RUN(ring_bounded_by_count);
    RUN(ring_bounded_by_bytes);
    RUN(big_record_is_trimmed_not_dropped);
    RUN(trim_goes_stage_by_stage);
    RUN(trim_cuts_utf8_on_a_boundary);
    RUN(minute_buckets_roll_over);
    RUN(route_table_is_capped);
    RUN(bad_limits_and_null);
    RUN(concurrent_reads_and_writes);
    UNIT_DONE();
}
