/* Unit tests: `shadowproxy readiness` (docs/readiness.md): the rules
 * loader's "readiness" section (validation, merging over "defaults"), the
 * coverage field lookup, and the verdicts of readiness_evaluate on records
 * fed through a real report model. */
#include "conf/rules.h"
#include "tools/readiness/readiness_eval.h"
#include "tools/report/report_model.h"
#include "unit.h"

static rules *load_q(const char *json, config_errors *e)
{
    const char *t = unit_q(json);
    return rules_load_buffer(t, strlen(t), e);
}

/* The single error of a file that must not load, or "(not one)". */
static const char *one_error(const char *json)
{
    static char buf[800];
    config_errors e = {0};
    rules *r = load_q(json, &e);
    CHECK(r == NULL);
    rules_unref(r);
    snprintf(buf, sizeof buf, "%s", e.n == 1 ? unit_err(&e, 0) : "(not one)");
    if (e.n != 1)
        for (size_t i = 0; i < e.n; i++)
            fprintf(stderr, "    %s\n", unit_err(&e, i));
    config_errors_free(&e);
    return buf;
}

static const char *const MERGED =
    "{'version': 1,"
    " 'defaults': {'readiness': {'min_exchanges': 50, 'max_error_rate': 0.02,"
    "   'coverage': [{'field': '/currency', 'in': 'response'}]}},"
    " 'routes': [{'name': 'pay', 'match': {'path': '/pay'},"
    "   'readiness': {'min_exchanges': 5, 'max_p99_delta_ms': 40,"
    "     'money': {'path': '/total', 'group': '/currency', 'max_gap': 0.01},"
    "     'coverage': [{'field': '/payment/method', 'min_count': 3, 'min_match_rate': 0.9}]}},"
    "  {'name': 'plain', 'match': {'path': '/plain'}}],"
    " 'default': {'readiness': {'required': false}}}";

TEST(section_merges_over_defaults)
{
    config_errors e = {0};
    rules *r = load_q(MERGED, &e);
    CHECK(r && e.n == 0);
    config_errors_free(&e);
    if (!r)
        return;
    route_readiness c;
    CHECK(rules_readiness_of(rules_find(r, "pay"), &c) == 0);
    CHECK(c.required && c.min_exchanges == 5); /* the route's value wins */
    CHECK(c.max_error_rate == 0.02);           /* the defaults' stays */
    CHECK(c.max_mismatch_rate == READINESS_DEFAULT_MAX_MISMATCH_RATE); /* built in */
    CHECK(c.has_p99 && c.max_p99_delta_ms == 40);
    CHECK_STR(c.money_path, "/total");
    CHECK_STR(c.money_group, "/currency");
    CHECK(c.money_max_gap == 0.01);
    CHECK(c.ncoverage == 2); /* lists concatenate, the defaults' first */
    if (c.ncoverage == 2) {
        CHECK_STR(c.coverage[0].field, "/currency");
        CHECK(c.coverage[0].in_response && c.coverage[0].min_count == READINESS_DEFAULT_MIN_COUNT);
        CHECK_STR(c.coverage[1].field, "/payment/method");
        CHECK(!c.coverage[1].in_response && c.coverage[1].min_count == 3 &&
              c.coverage[1].min_match_rate == 0.9);
    }
    rules_readiness_free(&c);
    CHECK(rules_readiness_of(rules_find(r, "plain"), &c) == 0);
    CHECK(c.required && c.min_exchanges == 50 && !c.has_p99 && !c.money_path && c.ncoverage == 1);
    rules_readiness_free(&c);
    CHECK(rules_readiness_of(&r->fallback, &c) == 0);
    CHECK(!c.required && c.min_exchanges == 50);
    rules_readiness_free(&c);
    rules_unref(r);
    /* no section anywhere: the built-in criteria */
    rules *d = rules_default();
    CHECK(d && rules_readiness_of(&d->fallback, &c) == 0);
    CHECK(c.required && c.min_exchanges == READINESS_DEFAULT_MIN_EXCHANGES && c.ncoverage == 0);
    rules_readiness_free(&c);
    rules_unref(d);
}

#define ROUTE(body) "{'version': 1, 'routes': [{'name': 'r', 'match': {'path': '/r'}, " body "}]}"

TEST(section_errors_say_where_and_why)
{
    CHECK(strstr(one_error(ROUTE("'readiness': {'max_mismatch_rate': 5}")),
                 "max_mismatch_rate must be between 0 and 1, got 5"));
    CHECK(strstr(one_error(ROUTE("'readiness': {'min_exchange': 5}")), "min_exchange"));
    CHECK(strstr(one_error(ROUTE("'readiness': {'money': {'path': '/t'}}")),
                 "max_gap is required"));
    CHECK(strstr(one_error(ROUTE("'readiness': {'money': {'path': 't', 'max_gap': 1}}")),
                 "must be a JSON Pointer such as /totals/grand_total"));
    CHECK(strstr(one_error(ROUTE("'readiness': {'coverage': [{'field': '/a', 'in': 'body'}]}")),
                 "must be \"request\" or \"response\""));
    CHECK(strstr(one_error(ROUTE("'readiness': {'coverage': [{'in': 'request'}]}")),
                 "field is required"));
    CHECK(strstr(one_error(ROUTE("'readiness': {'coverage': [{'field': '/a', 'min_count': 0}]}")),
                 "min_count must be between 1"));
    CHECK(strstr(one_error(ROUTE("'readiness': 3")), "must be an object"));
}

TEST(field_value_from_request_or_answer)
{
    json_t *rec = json_loads(unit_q("{'request': {'body_format': 'json', 'body': {'p': {'m': 'card'}}},"
                                    " 'legacy': {'body_format': 'text', 'body': 'x'},"
                                    " 'new': {'body_format': 'json', 'body': {'c': 'EUR', 'o': {}}}}"),
                             0, NULL);
    CHECK(rec != NULL);
    CHECK_STR(json_string_value(readiness_field_value(rec, "/p/m", false)), "card");
    CHECK(readiness_field_value(rec, "/p/m", true) == NULL);
    /* the legacy answer is not JSON: the new one's */
    CHECK_STR(json_string_value(readiness_field_value(rec, "/c", true)), "EUR");
    CHECK(readiness_field_value(rec, "/o", true) == NULL); /* not a scalar */
    CHECK(readiness_field_value(rec, "/c", false) == NULL);
    json_decref(rec);
}

/* A record of route "pay": verdict, payment method, legacy and new totals. */
static json_t *pay(const char *verdict, const char *method, double l, double n, double ms)
{
    return json_pack("{s:s, s:s, s:s, s:{s:s, s:{s:{s:s}}},"
                     " s:{s:i, s:s, s:{s:f, s:s}, s:f}, s:{s:i, s:s, s:{s:f, s:s}, s:f}}",
                     "ts", "2026-11-24T13:00:00Z", "route", "pay", "verdict", verdict, "request",
                     "body_format", "json", "body", "payment", "method", method, "legacy", "status",
                     200, "body_format", "json", "body", "total", l, "currency", "EUR",
                     "duration_ms", 10.0, "new", "status", 200, "body_format", "json", "body",
                     "total", n, "currency", "EUR", "duration_ms", ms);
}

static const json_t *crit(const json_t *rt, const char *name, size_t nth)
{
    size_t i;
    const json_t *c;
    json_array_foreach(json_object_get(rt, "criteria"), i, c)
        if (strcmp(json_string_value(json_object_get(c, "criterion")), name) == 0 && nth-- == 0)
            return c;
    return NULL;
}

static bool ok_of(const json_t *c) { return c && json_is_true(json_object_get(c, "ok")); }

static const json_t *route_of(const json_t *doc, const char *name)
{
    size_t i;
    const json_t *r;
    json_array_foreach(json_object_get(doc, "routes"), i, r)
        if (strcmp(json_string_value(json_object_get(r, "route")), name) == 0)
            return r;
    return NULL;
}

/* Feeds records through a real model with the tally, as the command does. */
static json_t *evaluate(const rules *rs, json_t **recs, size_t n, report_options *opt,
                        readiness_tally *t)
{
    readiness_tally_init(t, rs, opt);
    CHECK(readiness_collect_sums(rs, opt) == 0);
    opt->on_record = readiness_tally_record;
    opt->on_record_arg = t;
    report_model *m = report_model_new(opt);
    for (size_t i = 0; i < n; i++) {
        report_model_add(m, recs[i]);
        json_decref(recs[i]);
    }
    report_model_finalize(m);
    json_t *doc = readiness_evaluate(t, m, 0);
    report_model_free(m);
    return doc;
}

static void opt_free(report_options *opt)
{
    for (size_t i = 0; i < opt->nsums; i++) {
        free(opt->sums[i].path);
        free(opt->sums[i].group);
    }
    free(opt->sums);
}

TEST(verdicts_per_criterion)
{
    config_errors e = {0};
    rules *rs = load_q(MERGED, &e);
    config_errors_free(&e);
    CHECK(rs != NULL);
    if (!rs)
        return;
    json_t *recs[20];
    size_t n = 0;
    for (int i = 0; i < 8; i++)
        recs[n++] = pay("match", "checkmo", 10.0, 10.0, 12.0);
    recs[n++] = pay("mismatch", "card", 10.0, 10.5, 12.0);
    recs[n++] = pay("match", "card", 10.0, 10.0, 12.0);
    recs[n++] = pay("match", "card", 10.0, 10.0, 90.0);
    recs[n++] = pay("match", "bank", 10.0, 10.0, 12.0);
    report_options opt = {0};
    readiness_tally t;
    json_t *doc = evaluate(rs, recs, n, &opt, &t);
    CHECK(doc != NULL);
    const json_t *r = route_of(doc, "pay");
    CHECK(r && !json_is_true(json_object_get(r, "ready")));
    CHECK(json_integer_value(json_object_get(r, "compared")) == 12);
    CHECK(ok_of(crit(r, "min_exchanges", 0)));        /* 12 >= 5 */
    CHECK(!ok_of(crit(r, "max_mismatch_rate", 0)));   /* 1/12 > 0.1% */
    CHECK(ok_of(crit(r, "max_error_rate", 0)));
    CHECK(!ok_of(crit(r, "max_p99_delta_ms", 0)));    /* p99 90 - 10 = 80 > 40 */
    const json_t *money = crit(r, "money_gap", 0);
    CHECK(!ok_of(money));                             /* EUR gap 0.50 > 0.01 */
    CHECK(money && strstr(json_string_value(json_object_get(money, "reason")), "EUR 0.5 (legacy"));
    CHECK(ok_of(crit(r, "coverage", 0)) == false);    /* /currency: EUR agrees 11/12 < 99% */
    const json_t *cov = crit(r, "coverage", 1);       /* /payment/method */
    CHECK(cov && !ok_of(cov));
    const json_t *rare = json_object_get(cov, "rare");
    CHECK(json_array_size(rare) == 1 && strcmp(json_string_value(json_array_get(rare, 0)), "bank") == 0);
    const json_t *low = json_object_get(cov, "below_match_rate");
    CHECK(json_array_size(low) == 1 && strcmp(json_string_value(json_array_get(low, 0)), "card") == 0);
    CHECK(strstr(json_string_value(json_object_get(cov, "reason")), "\"bank\" (1)"));
    /* "plain" has criteria (from defaults) and no traffic: not ready */
    const json_t *plain = route_of(doc, "plain");
    CHECK(plain && !json_is_true(json_object_get(plain, "ready")) &&
          !ok_of(crit(plain, "min_exchanges", 0)));
    CHECK(!json_is_true(json_object_get(doc, "ready")));
    json_decref(doc);
    readiness_tally_free(&t);
    opt_free(&opt);
    rules_unref(rs);
}

TEST(ready_when_every_criterion_holds)
{
    const char *json = "{'version': 1, 'routes': [{'name': 'pay', 'match': {'path': '/pay'},"
                       " 'readiness': {'min_exchanges': 3, 'max_mismatch_rate': 0.5,"
                       "  'money': {'path': '/total', 'max_gap': 0.01},"
                       "  'coverage': [{'field': '/payment/method', 'min_count': 2}]}}]}";
    config_errors e = {0};
    rules *rs = load_q(json, &e);
    config_errors_free(&e);
    CHECK(rs != NULL);
    if (!rs)
        return;
    json_t *recs[4];
    for (int i = 0; i < 4; i++)
        recs[i] = pay(i == 3 ? "known" : "match", i % 2 ? "card" : "checkmo", 19.99, 19.99, 11.0);
    report_options opt = {0};
    readiness_tally t;
    json_t *doc = evaluate(rs, recs, 4, &opt, &t);
    const json_t *r = route_of(doc, "pay");
    CHECK(r && json_is_true(json_object_get(r, "ready")));
    CHECK(json_is_true(json_object_get(doc, "ready")));
    CHECK(json_integer_value(json_object_get(doc, "routes_ready")) == 1);
    json_decref(doc);
    readiness_tally_free(&t);
    opt_free(&opt);
    rules_unref(rs);
}

int main(void)
{
    RUN(section_merges_over_defaults);
    RUN(section_errors_say_where_and_why);
    RUN(field_value_from_request_or_answer);
    RUN(verdicts_per_criterion);
    RUN(ready_when_every_criterion_holds);
    UNIT_DONE();
}
