/* Unit tests: the judging shared by `shadowproxy readiness` and the live
 * verdict (obs/readiness_judge: flags, reasons, values, limits), and the
 * live tally (obs/live_ready: per-name counts, the p99 from its histogram,
 * the names' cap, money and coverage never judged live). */
#include "conf/rules.h"
#include "obs/live.h"
#include "obs/live_ready.h"
#include "obs/readiness_judge.h"
#include "unit.h"

#include <math.h>

static const json_t *crit(const json_t *rt, const char *name)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(rt, "criteria"), i, c)
        if (strcmp(json_string_value(json_object_get(c, "criterion")), name) == 0)
            return c;
    return NULL;
}

static const char *reason(const json_t *rt, const char *name)
{
    const json_t *c = crit(rt, name);
    return c ? json_string_value(json_object_get(c, "reason")) : "(none)";
}

static bool ok(const json_t *rt, const char *name)
{
    return json_is_true(json_object_get(crit(rt, name), "ok"));
}

static json_t *judged(const route_readiness *c, const readiness_numbers *n)
{
    json_t *cl = json_array();
    readiness_judge_numbers(cl, c, n);
    return readiness_route_verdict("r", c->required, n, cl);
}

TEST(judging_flags_and_reasons)
{
    route_readiness c = {.required = true, .min_exchanges = 10, .max_mismatch_rate = 0.05,
                         .max_error_rate = 0.1, .has_p99 = true, .max_p99_delta_ms = 50};
    readiness_numbers n = {.exchanges = 25, .compared = 20, .mismatches = 1, .errors = 2,
                           .has_p99 = {true, true}, .p99_ms = {12.0, 40.25}};
    json_t *v = judged(&c, &n);
    CHECK(json_is_true(json_object_get(v, "ready")));
    CHECK_STR(reason(v, "min_exchanges"), "20 compared exchanges (need 10)");
    CHECK_STR(reason(v, "max_mismatch_rate"), "mismatch rate 5% (1 of 20; limit 5%)");
    CHECK_STR(reason(v, "max_error_rate"), "error rate 8% (2 of 25 exchanges; limit 10%)");
    CHECK_STR(reason(v, "max_p99_delta_ms"), "p99 new 40.2 ms - legacy 12.0 ms = +28.2 ms (limit 50 ms)");
    CHECK(json_real_value(json_object_get(crit(v, "max_p99_delta_ms"), "value")) == 28.25);
    CHECK(json_real_value(json_object_get(crit(v, "max_mismatch_rate"), "value")) == 0.05);
    CHECK(json_integer_value(json_object_get(crit(v, "min_exchanges"), "limit")) == 10);
    CHECK(json_integer_value(json_object_get(v, "exchanges")) == 25);
    json_decref(v);

    /* each criterion failing on its own */
    n.mismatches = 2;
    n.errors = 3;
    n.p99_ms[READINESS_NEW] = 63.0;
    n.compared = 9;
    v = judged(&c, &n);
    CHECK(json_is_false(json_object_get(v, "ready")));
    CHECK(!ok(v, "min_exchanges") && !ok(v, "max_mismatch_rate") && !ok(v, "max_error_rate") &&
          !ok(v, "max_p99_delta_ms"));
    CHECK_STR(reason(v, "max_mismatch_rate"), "mismatch rate 22.222% (2 of 9; limit 5%)");
    json_decref(v);

    /* no evidence at all: every criterion fails, and says why */
    readiness_numbers none = {0};
    v = judged(&c, &none);
    CHECK_STR(reason(v, "min_exchanges"), "0 compared exchanges (need 10)");
    CHECK_STR(reason(v, "max_mismatch_rate"), "no compared exchange (limit 5%)");
    CHECK_STR(reason(v, "max_error_rate"), "no exchange (limit 10%)");
    CHECK_STR(reason(v, "max_p99_delta_ms"), "no answer time of both sides (limit 50 ms)");
    json_decref(v);
    none.has_p99[READINESS_LEGACY] = true;
    c.has_p99 = true;
    v = judged(&c, &none);
    CHECK_STR(reason(v, "max_p99_delta_ms"), "no answer time of the new side (limit 50 ms)");
    json_decref(v);

    /* no p99 limit: no p99 criterion; a criterion with "ok": null is not ready */
    c.has_p99 = false;
    v = judged(&c, &n);
    CHECK(crit(v, "max_p99_delta_ms") == NULL);
    json_decref(v);
    json_t *cl = json_array();
    json_array_append_new(cl, json_pack("{s:s, s:n}", "criterion", "money_gap", "ok"));
    v = readiness_route_verdict("r", true, &n, cl);
    CHECK(json_is_false(json_object_get(v, "ready")));
    json_decref(v);
    CHECK(readiness_route_verdict("r", true, &n, NULL) == NULL);
}

TEST(percent_and_rounding)
{
    char b[32];
    readiness_pct(0.001, b, sizeof b);
    CHECK_STR(b, "0.1%");
    readiness_pct(1.0 / 3, b, sizeof b);
    CHECK_STR(b, "33.333%");
    readiness_pct(0, b, sizeof b);
    CHECK_STR(b, "0%");
    CHECK(readiness_round_rate(1.0 / 3) == 0.333333);
    CHECK(readiness_round_ms(-1.23456) == -1.235);
}

static const char *const RULES_JSON =
    "{'version': 1,"
    " 'defaults': {'readiness': {'max_p99_delta_ms': 100}},"
    " 'routes': ["
    "  {'name': 'a', 'match': {'path': '/a'}, 'readiness': {'min_exchanges': 3}},"
    "  {'name': 'm', 'match': {'path': '/m'}, 'readiness': {'min_exchanges': 1,"
    "    'money': {'path': '/t', 'max_gap': 0.01},"
    "    'coverage': [{'field': '/c', 'in': 'response'}]}},"
    "  {'name': 'quiet', 'match': {'path': '/q'}, 'readiness': {'min_exchanges': 1}},"
    "  {'name': 'plain', 'match': {'path': '/p'}}],"
    " 'default': {'readiness': {'required': false}}}";

static const json_t *route_of(const json_t *doc, const char *name)
{
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(doc, "routes"), i, r)
        if (strcmp(json_string_value(json_object_get(r, "route")), name) == 0)
            return r;
    return NULL;
}

static const char *verdict_of(const json_t *doc, const char *name)
{
    const json_t *r = route_of(doc, name);
    return r ? json_string_value(json_object_get(r, "verdict")) : "(absent)";
}

TEST(live_tally_judges_every_name)
{
    config_errors e = {0};
    const char *t = unit_q(RULES_JSON);
    rules *rs = rules_load_buffer(t, strlen(t), &e);
    config_errors_free(&e);
    CHECK(rs != NULL);
    live_ready *lr = live_ready_new(3, 1765100000000);
    CHECK(lr != NULL);
    if (!rs || !lr)
        return;
    for (int i = 0; i < 4; i++)
        live_ready_count(lr, "a", VERDICT_MATCH, 10, 12);
    live_ready_count(lr, "a", VERDICT_SHADOW_ERROR, 10, -1);
    live_ready_count(lr, "m", VERDICT_MATCH, 1, 1);
    live_ready_count(lr, "GET /x/{id}", VERDICT_MISMATCH, 1, 1);
    live_ready_count(lr, "GET /y", VERDICT_MATCH, 1, 1);  /* past the cap of 3 */
    live_ready_count(lr, "GET /z", VERDICT_MATCH, 1, 1);
    live_ready_count(NULL, "a", VERDICT_MATCH, 1, 1);     /* a NULL tally: nothing */
    json_t *doc = live_ready_evaluate(lr, rs, 1765100060000);
    CHECK(doc != NULL);
    CHECK(json_is_true(json_object_get(doc, "live")));
    CHECK_STR(json_string_value(json_object_get(doc, "since")), "2025-12-07T09:33:20.000Z");
    CHECK(json_integer_value(json_object_get(doc, "records")) == 9);
    const json_t *a = route_of(doc, "a");
    CHECK(json_integer_value(json_object_get(a, "exchanges")) == 5);
    CHECK(json_integer_value(json_object_get(a, "compared")) == 4);
    CHECK_STR(reason(a, "max_error_rate"), "error rate 20% (1 of 5 exchanges; limit 1%)");
    CHECK_STR(reason(a, "max_p99_delta_ms"), "p99 new 12.0 ms - legacy 10.0 ms = +2.0 ms (limit 100 ms)");
    CHECK_STR(verdict_of(doc, "a"), "NOT READY");
    /* the first route in the document has the most exchanges */
    CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(doc, "routes"), 0),
                                                "route")), "a");
    /* money and coverage: named, never judged live */
    const json_t *m = route_of(doc, "m");
    CHECK(json_is_null(json_object_get(crit(m, "money_gap"), "ok")));
    CHECK(json_is_null(json_object_get(crit(m, "coverage"), "ok")));
    CHECK(strstr(reason(m, "coverage"), "not live") != NULL);
    CHECK_STR(verdict_of(doc, "m"), "NOT JUDGED LIVE");
    CHECK(json_is_false(json_object_get(m, "ready")));
    /* the route default's endpoints: the default section (not required) */
    CHECK_STR(verdict_of(doc, "GET /x/{id}"), "NOT READY");
    CHECK(json_is_false(json_object_get(route_of(doc, "GET /x/{id}"), "required")));
    CHECK(route_of(doc, "GET /y") == NULL);
    CHECK(json_integer_value(json_object_get(route_of(doc, "(other)"), "exchanges")) == 2);
    /* routes of the rules with criteria (their own, or from defaults) and no traffic */
    CHECK_STR(reason(route_of(doc, "quiet"), "min_exchanges"), "0 compared exchanges (need 1)");
    CHECK_STR(verdict_of(doc, "plain"), "NOT READY");
    CHECK(json_integer_value(json_object_get(doc, "routes_required")) == 4);
    CHECK(json_integer_value(json_object_get(doc, "routes_ready")) == 0);
    CHECK(json_is_false(json_object_get(doc, "ready")));
    json_decref(doc);
    live_ready_free(lr);
    rules_unref(rs);
    CHECK(live_ready_new(0, 0) == NULL);
    live_ready_free(NULL);
}

/* live_count_exchange (one lock for the live view and its tally) counts
 * what live_count, live_count_endpoint and live_ready_count counted one
 * lock each: the same live_stats and the same readiness document. */
TEST(one_lock_counts_as_three)
{
    config_errors e = {0};
    const char *t = unit_q(RULES_JSON);
    rules *rs = rules_load_buffer(t, strlen(t), &e);
    config_errors_free(&e);
    live *three = live_new(NULL), *one = live_new(NULL);
    CHECK(rs && three && one);
    if (!rs || !three || !one)
        return;
    static const struct {
        const char *route, *endpoint;
        verdict v;
        double lms, nms;
    } ex[] = {
        {"a", NULL, VERDICT_MATCH, 10, 12},
        {"a", NULL, VERDICT_SHADOW_ERROR, 10, -1},
        {"m", NULL, VERDICT_MISMATCH, 1, 3},
        {"default", "GET /x/{id}", VERDICT_MISMATCH, 1, 1},
        {"default", "GET /x/{id}", VERDICT_MATCH, 2, 2},
        {NULL, NULL, VERDICT_KNOWN, 5, 6},
    };
    const int64_t now = 1765100000000;
    for (size_t i = 0; i < sizeof ex / sizeof *ex; i++) {
        live_count(three, ex[i].route, ex[i].v, now);
        if (ex[i].endpoint)
            live_count_endpoint(three, ex[i].endpoint, ex[i].v, now);
        live_ready_count(live_readiness(three),
                         ex[i].endpoint ? ex[i].endpoint : ex[i].route ? ex[i].route : "default",
                         ex[i].v, ex[i].lms, ex[i].nms);
        live_count_exchange(one, ex[i].route, ex[i].endpoint, ex[i].v, now, ex[i].lms, ex[i].nms);
    }
    live_ready_transient(live_readiness(one), "m"); /* the shared lock, taken alone */
    live_ready_transient(live_readiness(three), "m");
    json_t *s3 = live_stats(three, now), *s1 = live_stats(one, now);
    json_t *r3 = live_ready_evaluate(live_readiness(three), rs, now + 1000);
    json_t *r1 = live_ready_evaluate(live_readiness(one), rs, now + 1000);
    CHECK(s3 && s1 && r3 && r1);
    CHECK(json_equal(s3, s1));
    json_object_del(r3, "generated");
    json_object_del(r1, "generated");
    json_object_del(r3, "since"); /* each view's own start */
    json_object_del(r1, "since");
    CHECK(json_equal(r3, r1));
    CHECK(json_integer_value(json_object_get(r1, "records")) == 6);
    CHECK(json_integer_value(json_object_get(route_of(r1, "GET /x/{id}"), "exchanges")) == 2);
    json_decref(s3);
    json_decref(s1);
    json_decref(r3);
    json_decref(r1);
    live_free(three);
    live_free(one);
    rules_unref(rs);
}

/* The p99 as the CLI ranks it (nearest rank over the sorted times). */
static double exact_p99(double *v, size_t n)
{
    for (size_t i = 1; i < n; i++) /* insertion sort: small n */
        for (size_t k = i; k > 0 && v[k - 1] > v[k]; k--) {
            double t = v[k];
            v[k] = v[k - 1];
            v[k - 1] = t;
        }
    double q = 0.99 * (double)n - 1e-9;
    size_t rank = q < 1 ? 1 : (size_t)q;
    if ((double)rank < q)
        rank++;
    return v[rank - 1];
}

static double live_p99_new(live_ready *lr, const rules *rs)
{
    json_t *doc = live_ready_evaluate(lr, rs, 0);
    const char *why = reason(route_of(doc, "a"), "max_p99_delta_ms");
    double l = -1, n = -1;
    CHECK(sscanf(why, "p99 new %lf ms - legacy %lf ms", &n, &l) == 2);
    json_decref(doc);
    return n;
}

TEST(p99_from_the_histogram_is_close)
{
    config_errors e = {0};
    const char *t = unit_q(RULES_JSON);
    rules *rs = rules_load_buffer(t, strlen(t), &e);
    config_errors_free(&e);
    if (!rs)
        return;
    /* spread over six orders of magnitude, in a scrambled order */
    static double v[2000];
    size_t n = 0;
    live_ready *lr = live_ready_new(4, 0);
    for (size_t i = 0; i < 2000; i++, n++) {
        v[i] = 0.003 * pow(1.0075, (double)((i * 7919) % 2000));
        live_ready_count(lr, "a", VERDICT_MATCH, 1, v[i]);
    }
    double want = exact_p99(v, n), got = live_p99_new(lr, rs);
    CHECK(fabs(got - want) <= want / 32 + 0.05);
    live_ready_free(lr);
    /* under 100 times the p99 is the largest: exact */
    lr = live_ready_new(4, 0);
    for (int i = 0; i < 50; i++)
        live_ready_count(lr, "a", VERDICT_MATCH, 1, 3.0 + i * 0.5);
    CHECK(live_p99_new(lr, rs) == 27.5);
    live_ready_count(lr, "a", VERDICT_MATCH, 1, 1e300); /* absurd: capped, not a crash */
    live_ready_count(lr, "a", VERDICT_MATCH, 1, NAN);   /* not an answer time */
    live_ready_free(lr);
    rules_unref(rs);
}

int main(void)
{
    RUN(judging_flags_and_reasons);
    RUN(percent_and_rounding);
    RUN(live_tally_judges_every_name);
    RUN(one_lock_counts_as_three);
    RUN(p99_from_the_histogram_is_close);
    UNIT_DONE();
}
