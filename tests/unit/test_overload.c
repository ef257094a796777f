/* The overload tally and records (obs/overload.c), and the comparer pool's
 * share under overload (analyzer_share_bp) with the id choice it feeds
 * (rules_sampled_at), and when the comparers yield (analyzer_should_yield). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "conf/rules.h"
#include "data/analyzer.h"
#include "obs/overload.h"
#include "unit.h"

static json_t *line_at(const char *lines, size_t i)
{
    const char *p = lines;
    for (size_t k = 0; k < i && p; k++) {
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    const char *end = p ? strchr(p, '\n') : NULL;
    return end ? json_loadb(p, (size_t)(end - p), 0, NULL) : NULL;
}

TEST(tally_counts_per_route_and_verdict)
{
    static overload_tally t, w;
    CHECK(overload_tally_empty(&t));
    overload_tally_add(&t, "orders", VERDICT_SKIPPED, true);
    overload_tally_add(&t, "orders", VERDICT_SKIPPED, true);
    overload_tally_add(&t, NULL, VERDICT_SHADOW_TIMEOUT, false);
    overload_tally_add(&w, "orders", VERDICT_MATCH, false);
    overload_tally_merge(&w, &t);
    CHECK(overload_tally_empty(&t));
    CHECK(overload_tally_size(&w) == 2);
    size_t len = 0, n = 0;
    char *lines = overload_tally_lines(&w, 1000, 2500, &len, &n);
    CHECK(lines && n == 2 && len == strlen(lines) && lines[len - 1] == '\n');
    CHECK(overload_tally_empty(&w));
    json_t *a = line_at(lines, 0), *b = line_at(lines, 1);
    CHECK(a && b);
    CHECK_STR(json_string_value(json_object_get(a, "type")), "overload");
    CHECK_STR(json_string_value(json_object_get(a, "route")), "orders");
    CHECK(json_integer_value(json_object_get(a, "not_compared")) == 2);
    CHECK(json_integer_value(json_object_get(a, "unlogged")) == 3);
    CHECK(json_integer_value(json_object_get(a, "window_ms")) == 1500);
    CHECK_STR(json_string_value(json_object_get(a, "window_start")), "1970-01-01T00:00:01.000Z");
    json_t *v = json_object_get(a, "verdicts");
    CHECK(json_object_size(v) == 2);
    CHECK(json_integer_value(json_object_get(v, "skipped")) == 2);
    CHECK(json_integer_value(json_object_get(v, "match")) == 1);
    CHECK_STR(json_string_value(json_object_get(b, "route")), "default");
    CHECK(json_integer_value(json_object_get(b, "not_compared")) == 0);
    json_decref(a);
    json_decref(b);
    free(lines);
    CHECK(overload_tally_lines(&w, 0, 1, &len, &n) == NULL && len == 0 && n == 0);
}

/* Not-mirrored counts: their own record type per route, by reason; a route
 * with both kinds of counts gets both records, one whole line each. */
TEST(tally_not_mirrored_records_by_route_and_reason)
{
    static overload_tally t, w;
    for (int i = 0; i < 3; i++)
        overload_tally_not_mirrored(&t, "orders", NULL, NM_NOT_SAMPLED);
    overload_tally_not_mirrored(&t, "orders", NULL, NM_PAUSED);
    overload_tally_not_mirrored(&t, NULL, NULL, NM_SHADOW_DISABLED);
    /* the route default's by endpoint: apart from the route's own counts */
    overload_tally_not_mirrored(&t, "default", "GET /o/{id}", NM_NOT_SAMPLED);
    overload_tally_not_mirrored(&t, "default", "GET /o/{id}", NM_NOT_SAMPLED);
    overload_tally_add(&w, "orders", VERDICT_SKIPPED, true);
    overload_tally_merge(&w, &t);
    CHECK(overload_tally_size(&w) == 3);
    CHECK(overload_count_not_mirrored(overload_tally_at(&w, 0)) == 4);
    size_t len = 0, n = 0;
    char *lines = overload_tally_lines(&w, 1000, 2000, &len, &n);
    CHECK(lines && n == 4 && len == strlen(lines) && lines[len - 1] == '\n');
    CHECK(overload_tally_empty(&w));
    json_t *ov = line_at(lines, 0), *nm = line_at(lines, 1), *def = line_at(lines, 2),
           *ep = line_at(lines, 3);
    CHECK(ov && nm && def && ep);
    CHECK_STR(json_string_value(json_object_get(ov, "type")), "overload");
    CHECK(json_integer_value(json_object_get(ov, "unlogged")) == 1); /* not the not-mirrored */
    CHECK_STR(json_string_value(json_object_get(nm, "type")), "not_mirrored");
    CHECK_STR(json_string_value(json_object_get(nm, "route")), "orders");
    CHECK(json_integer_value(json_object_get(nm, "count")) == 4);
    CHECK(json_integer_value(json_object_get(nm, "window_ms")) == 1000);
    CHECK(!json_object_get(nm, "verdicts") && !json_object_get(nm, "unlogged"));
    json_t *r = json_object_get(nm, "reasons");
    CHECK(json_object_size(r) == 2);
    CHECK(json_integer_value(json_object_get(r, "not sampled")) == 3);
    CHECK(json_integer_value(json_object_get(r, "shadow paused by operator")) == 1);
    CHECK_STR(json_string_value(json_object_get(def, "type")), "not_mirrored");
    CHECK_STR(json_string_value(json_object_get(def, "route")), "default");
    CHECK(json_integer_value(json_object_get(json_object_get(def, "reasons"), "shadow disabled")) == 1);
    CHECK(!json_object_get(def, "endpoint") && !json_object_get(nm, "endpoint"));
    CHECK_STR(json_string_value(json_object_get(ep, "route")), "default");
    CHECK_STR(json_string_value(json_object_get(ep, "endpoint")), "GET /o/{id}");
    CHECK(json_integer_value(json_object_get(ep, "count")) == 2);
    json_decref(ep);
    json_decref(ov);
    json_decref(nm);
    json_decref(def);
    free(lines);
    CHECK_STR(not_mirrored_text(NM_METHOD), "method not mirrored on this route");
}

TEST(tally_past_the_route_cap_counts_as_other)
{
    static overload_tally t;
    char name[32];
    for (int i = 0; i < OVERLOAD_MAX_ROUTES + 5; i++) {
        snprintf(name, sizeof name, "r%d", i);
        overload_tally_add(&t, name, VERDICT_SKIPPED, true);
    }
    overload_tally_add(&t, "r0", VERDICT_SKIPPED, true); /* known: its own slot */
    CHECK(overload_tally_size(&t) == OVERLOAD_MAX_ROUTES + 1);
    const overload_count *other = overload_tally_at(&t, OVERLOAD_MAX_ROUTES);
    CHECK_STR(other->route, OVERLOAD_OTHER_ROUTE);
    CHECK(other->not_compared == 5);
    CHECK(overload_tally_at(&t, 0)->not_compared == 2);
}

TEST(tally_cuts_long_names_on_a_character)
{
    static overload_tally t;
    char name[OVERLOAD_MAX_NAME + 10];
    memset(name, 'a', sizeof name);
    memcpy(name + OVERLOAD_MAX_NAME - 1, "\xc3\xa9", 2); /* é across the cut */
    name[sizeof name - 1] = '\0';
    overload_tally_add(&t, name, VERDICT_SKIPPED, true);
    overload_tally_add(&t, name, VERDICT_SKIPPED, true);
    CHECK(overload_tally_size(&t) == 1);
    CHECK(strlen(overload_tally_at(&t, 0)->route) == OVERLOAD_MAX_NAME - 1);
    size_t len, n;
    char *lines = overload_tally_lines(&t, 0, 1000, &len, &n);
    CHECK(lines && n == 1); /* valid UTF-8, so a record */
    free(lines);
}

TEST(share_falls_from_half_the_limit)
{
    CHECK(analyzer_share_bp(0, 8) == 10000);
    CHECK(analyzer_share_bp(4, 8) == 10000);
    CHECK(analyzer_share_bp(5, 8) == 7500);
    CHECK(analyzer_share_bp(7, 8) == 2500);
    CHECK(analyzer_share_bp(8, 8) == 0);
    CHECK(analyzer_share_bp(100, 8) == 0);
    for (size_t p = 0; p < 100; p++)
        CHECK(analyzer_share_bp(p + 1, 64) <= analyzer_share_bp(p, 64));
}

/* The comparers yield once a worker is 90% busy and stop below 80%: a
 * worker hovering between the two does not flip their policy back and
 * forth. */
TEST(comparers_yield_with_hysteresis)
{
    CHECK(!analyzer_should_yield(false, 0));
    CHECK(!analyzer_should_yield(false, 8999));
    CHECK(analyzer_should_yield(false, 9000));
    CHECK(analyzer_should_yield(false, 10000));
    CHECK(analyzer_should_yield(true, 8500));  /* between: stays as it was */
    CHECK(!analyzer_should_yield(false, 8500));
    CHECK(analyzer_should_yield(true, 8000));
    CHECK(!analyzer_should_yield(true, 7999));
}

/* A yielding comparer keeps to 3% of the wall time in its own CPU time,
 * however long its jobs took on the clock: preempted by the worker, 1 ms
 * of CPU can take 20 ms, and the old rule (the jobs' wall time against a
 * 10 ms window) then started a new window without a sleep. */
TEST(yielding_comparer_sleeps_by_its_cpu_time)
{
    const uint64_t ms = 1000000;
    CHECK(analyzer_yield_sleep_ns(1 * ms, ms / 5) == 0);          /* under the budget */
    CHECK(analyzer_yield_sleep_ns(1 * ms, 3 * ms / 10) == 9 * ms); /* 0.3 ms: to 10 ms */
    uint64_t rest = analyzer_yield_sleep_ns(20 * ms, 1 * ms);      /* 1 ms of CPU in 20 */
    CHECK(rest > 13 * ms && rest < 14 * ms);                       /* to 33.3 ms */
    CHECK(analyzer_yield_sleep_ns(40 * ms, 1 * ms) == 0);          /* already under 3% */
    CHECK(analyzer_yield_sleep_ns(0, 60 * ms) == 100 * ms);        /* at most 100 ms */
}

/* The id choice is nested: an id compared at a share is compared at every
 * larger one, so a falling share drops the same ids on every replica. */
TEST(id_choice_is_nested_and_stable)
{
    char id[32];
    int kept_half = 0;
    for (int i = 0; i < 2000; i++) {
        snprintf(id, sizeof id, "req-%d", i);
        bool prev = false;
        for (unsigned bp = 0; bp <= 10000; bp += 500) {
            bool in = rules_sampled_at(bp / 100.0, id);
            CHECK(in == rules_sampled_at(bp / 100.0, id));
            CHECK(!prev || in);
            prev = in;
        }
        kept_half += rules_sampled_at(50.0, id);
    }
    CHECK(kept_half > 900 && kept_half < 1100);
}

int main(void)
{
    RUN(tally_counts_per_route_and_verdict);
    RUN(tally_not_mirrored_records_by_route_and_reason);
    RUN(tally_past_the_route_cap_counts_as_other);
    RUN(tally_cuts_long_names_on_a_character);
    RUN(share_falls_from_half_the_limit);
    RUN(comparers_yield_with_hysteresis);
    RUN(yielding_comparer_sleeps_by_its_cpu_time);
    RUN(id_choice_is_nested_and_stable);
    UNIT_DONE();
}
