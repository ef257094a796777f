/* Unit tests: the report model fed with records (report_model.c,
 * report_route.c), --fail-if parsing and evaluation (report_failif.c), and
 * the HTML pieces (report_html_parts.c): escaping, highlighted JSON. */
#include "tools/report/report_failif.h"
#include "tools/report/report_html.h"
#include "tools/report/report_model.h"
#include "tools/report/report_out.h"
#include "unit.h"

#include <stdlib.h>

static void add(report_model *m, const char *json)
{
    json_error_t e;
    json_t *rec = json_loads(json, 0, &e);
    if (!rec)
        fprintf(stderr, "  bad test record: %s\n", e.text);
    CHECK(rec != NULL);
    if (rec)
        report_model_add(m, rec);
    json_decref(rec);
}

/* A record: route, verdict, ts minute, legacy/new durations (-1: none). */
static void addr(report_model *m, const char *route, const char *verdict, int minute, double dl,
                 double dn, const char *diffs)
{
    char buf[2048];
    char legs[2][160];
    double d[2] = {dl, dn};
    for (int i = 0; i < 2; i++) {
        if (d[i] < 0)
            snprintf(legs[i], sizeof legs[i], "{\"attempted\":true,\"status\":null,\"duration_ms\":5000}");
        else
            snprintf(legs[i], sizeof legs[i],
                     "{\"attempted\":true,\"status\":200,\"duration_ms\":%g,\"body_format\":\"json\","
                     "\"body\":{\"t\":{\"g\":\"%g\"},\"cur\":\"EUR\"}}", d[i], d[i]);
    }
    snprintf(buf, sizeof buf,
             "{\"v\":1,\"id\":\"id-%s-%d\",\"ts\":\"2026-11-24T13:%02d:10.000Z\",\"route\":\"%s\","
             "\"verdict\":\"%s\",\"legacy\":%s,\"new\":%s,\"differences\":%s}",
             route, minute, minute, route, verdict, legs[0], legs[1], diffs ? diffs : "[]");
    add(m, buf);
}

static const report_field *field(const report_route *r, const char *path, const char *kind)
{
    for (size_t i = 0; r && i < r->nfields; i++)
        if (strcmp(r->fields[i]->path, path) == 0 && strcmp(r->fields[i]->kind, kind) == 0)
            return r->fields[i];
    return NULL;
}

TEST(aggregation)
{
    report_sum_spec sums[] = {{"/t/g", "/cur"}};
    report_options opt = {.sums = sums, .nsums = 1};
    report_model *m = report_model_new(&opt);
    const char *d1 = "[{\"where\":\"body\",\"path\":\"/items/0/price\",\"kind\":\"changed\",\"legacy\":1,\"new\":2},"
                     "{\"where\":\"body\",\"path\":\"/items/1/price\",\"kind\":\"changed\",\"legacy\":3,\"new\":4},"
                     "{\"where\":\"status\",\"path\":\"\",\"kind\":\"changed\",\"legacy\":200,\"new\":500}]";
    const char *d2 = "[{\"where\":\"body\",\"path\":\"/items/sku=MB01/price\",\"kind\":\"changed\",\"legacy\":5,"
                     "\"new\":6},{\"where\":\"body\",\"path\":\"/tax\",\"kind\":\"changed\",\"legacy\":1,"
                     "\"new\":2,\"known\":\"ERP-1\"}]";
    addr(m, "orders", "mismatch", 0, 10, 20, d1);
    addr(m, "orders", "mismatch", 1, 30, 40, d2);
    addr(m, "orders", "match", 2, 50, 60, NULL);
    addr(m, "orders", "known", 3, 70, 80,
         "[{\"where\":\"body\",\"path\":\"/tax\",\"kind\":\"changed\",\"legacy\":1,\"new\":2,\"known\":\"ERP-1\"}]");
    addr(m, "orders", "shadow_timeout", 4, 90, -1, NULL);
    addr(m, "stock", "match", 40, 1, 1, NULL);
    add(m, "{\"route\":\"stock\",\"verdict\":\"exploded\"}"); /* no v, no ts, unknown verdict */
    report_model_finalize(m);

    CHECK(m->used == 7 && m->no_ts == 1 && m->nroutes == 2);
    const report_route *o = report_model_route(m, "orders");
    CHECK(o && o->exchanges == 5);
    CHECK(o->verdicts[RV_MISMATCH] == 2 && o->verdicts[RV_MATCH] == 1 && o->verdicts[RV_KNOWN] == 1);
    CHECK(report_route_compared(o) == 4 && report_route_errors(o) == 1);
    double x = 0;
    CHECK(report_route_rate(o, RV_MATCH, &x) && x == 0.25);
    /* /items/0/price and /items/1/price of one record: one exchange, two occurrences;
     * the keyed path of the other record folds into its own generalized path */
    const report_field *f = field(o, "/items/*/price", "changed");
    CHECK(f && f->exchanges == 1 && f->occurrences == 2);
    f = field(o, "/items/sku=*/price", "changed");
    CHECK(f && f->exchanges == 1);
    f = field(o, "/tax", "changed");
    CHECK(f && f->known && strcmp(f->known, "ERP-1") == 0 && f->exchanges == 2);
    CHECK(f && f->nsample_ids == 2 && strcmp(f->sample_ids[0], "id-orders-1") == 0);
    f = field(o, "", "changed");
    CHECK(f && strcmp(f->where, "status") == 0 && f->example[RS_NEW].present &&
          strcmp(f->example[RS_NEW].text, "500") == 0);
    CHECK(o->fields[0]->exchanges >= o->fields[o->nfields - 1]->exchanges); /* sorted */
    /* latency: legs with an HTTP answer only (the timed-out new leg is not one) */
    CHECK(o->latency[RS_LEGACY].samples == 5 && o->latency[RS_NEW].samples == 4);
    CHECK(o->latency[RS_LEGACY].p50 == 50 && o->latency[RS_LEGACY].p99 == 90);
    CHECK(o->latency[RS_NEW].p50 == 40 && o->latency[RS_NEW].p99 == 80);
    /* drift: 13:00 .. 13:40 is 41 one-minute buckets (closest to 20..60) */
    CHECK(m->bucket_ms == 60000 && m->nbuckets == 41);
    CHECK(o->buckets[0].mismatches == 1 && o->buckets[0].compared == 1);
    CHECK(o->buckets[4].errors == 1 && o->buckets[4].compared == 0);
    CHECK(m->total->buckets[40].exchanges == 1);
    /* reconciliation: numeric strings count, grouped by currency */
    CHECK(o->ok2xx[RS_LEGACY] == 5 && o->ok2xx[RS_NEW] == 4 && o->both2xx == 4);
    CHECK(o->sums[0].ngroups == 1 && strcmp(o->sums[0].groups[0].name, "EUR") == 0);
    /* the gap is over exchanges both sides answered 2xx: the timed-out
     * exchange's legacy 90 is apart (the leg has no error text: "error") */
    CHECK(report_sum_value(&o->sums[0].groups[0].sum[RS_LEGACY]) == 160);
    CHECK(report_sum_value(&o->sums[0].groups[0].sum[RS_NEW]) == 200);
    CHECK(report_sum_value(&o->sums[0].one_sided[RS_LEGACY][RO_ERROR]) == 90 &&
          o->sums[0].one_sided[RS_LEGACY][RO_ERROR].count == 1);
    /* the sample: a mismatch with JSON bodies and the most differences, which are kept */
    CHECK(o->sample.score == 4003 && strcmp(o->sample.id, "id-orders-0") == 0 && o->sample.ndiffs == 3);
    const report_route *s = report_model_route(m, "stock");
    CHECK(s && s->exchanges == 2 && s->verdicts[RV_OTHER] == 1);
    CHECK(m->total->exchanges == 7 && m->total->verdicts[RV_MATCH] == 2);
    CHECK(m->total->latency[RS_LEGACY].samples == 6);
    CHECK(report_model_has_matches(m));
    CHECK(m->nversions == 2 && strcmp(m->versions[1].label, "missing") == 0);
    report_model_free(m);
}

TEST(filters_and_caps)
{
    char *routes[] = {"b", "zzz"};
    report_options opt = {.has_since = true, .since_ms = 0, .routes = routes, .nroutes = 2};
    CHECK(report_parse_time("2026-11-24T13:01:00Z", 0, false, &opt.since_ms) == 0);
    report_model *m = report_model_new(&opt);
    addr(m, "a", "match", 5, 1, 1, NULL);
    addr(m, "b", "match", 0, 1, 1, NULL); /* before --since */
    addr(m, "b", "mismatch", 2, 1, 1, NULL);
    add(m, "{\"route\":\"b\",\"verdict\":\"match\"}"); /* no ts: out with a time filter */
    report_model_finalize(m);
    CHECK(m->used == 1 && m->filtered_time == 2 && m->filtered_route == 1);
    CHECK(m->nroutes == 2); /* b, and zzz listed with nothing */
    CHECK(report_model_route(m, "zzz") && report_model_route(m, "zzz")->exchanges == 0);
    CHECK(report_model_has_matches(m)); /* "a" and the early "b" are matches, filtered or not */
    report_model_free(m);

    /* hostile: more routes and fields than the caps */
    report_options none = {0};
    m = report_model_new(&none);
    char rec[512];
    for (int i = 0; i < REPORT_MAX_ROUTES + 50; i++) {
        snprintf(rec, sizeof rec, "{\"route\":\"r%d\",\"verdict\":\"match\"}", i);
        add(m, rec);
    }
    for (int i = 0; i < REPORT_MAX_FIELDS_PER_ROUTE + 10; i++) {
        snprintf(rec, sizeof rec, "{\"route\":\"r0\",\"verdict\":\"mismatch\",\"differences\":"
                 "[{\"where\":\"body\",\"path\":\"/k%d\",\"kind\":\"added\",\"new\":%d}]}", i, i);
        add(m, rec);
    }
    report_model_finalize(m);
    CHECK(m->nroutes == REPORT_MAX_ROUTES + 1);
    const report_route *other = report_model_route(m, REPORT_OTHER_ROUTES);
    CHECK(other && other->exchanges == 50);
    const report_route *r0 = report_model_route(m, "r0");
    CHECK(r0 && r0->nfields == REPORT_MAX_FIELDS_PER_ROUTE && r0->fields_dropped == 10);
    CHECK(m->total->exchanges == REPORT_MAX_ROUTES + 50 + REPORT_MAX_FIELDS_PER_ROUTE + 10);
    report_model_free(m);

    /* hostile: a 1 MB route name and a 1 MB path are kept short */
    m = report_model_new(&none);
    size_t big = 1 << 20;
    char *huge = malloc(big + 2048);
    memcpy(huge, "{\"route\":\"", 10);
    memset(huge + 10, 'r', big);
    snprintf(huge + 10 + big, 2000, "\",\"verdict\":\"mismatch\",\"differences\":[{\"where\":\"body\","
             "\"path\":\"/k%01100d\",\"kind\":\"changed\"}]}", 1);
    add(m, huge);
    add(m, huge); /* the same (shortened) route and field */
    free(huge);
    report_model_finalize(m);
    CHECK(m->nroutes == 1 && strlen(m->routes[0]->name) == REPORT_NAME_MAX + 3);
    CHECK(m->routes[0]->exchanges == 2 && m->routes[0]->nfields == 1);
    CHECK(m->routes[0]->nfields == 1 && strlen(m->routes[0]->fields[0]->path) == REPORT_PATH_MAX + 3 &&
          m->routes[0]->fields[0]->exchanges == 2);
    report_model_free(m);
}

TEST(suggestions)
{
    report_options opt = {0};
    report_model *m = report_model_new(&opt);
    char d[512];
    for (int i = 0; i < 10; i++) {
        snprintf(d, sizeof d,
                 "[{\"where\":\"body\",\"path\":\"/items/sku=A%d/updated_at\",\"kind\":\"changed\","
                 "\"legacy\":\"2024-01-01 00:00:0%d\",\"new\":\"2026-11-24T13:00:0%dZ\"},"
                 "{\"where\":\"body\",\"path\":\"/status\",\"kind\":\"changed\",\"legacy\":\"a\",\"new\":\"b\"}]",
                 i, i, i);
        addr(m, "orders", i == 9 ? "match" : "mismatch", i, 1, 1, i == 9 ? NULL : d);
    }
    report_model_finalize(m);
    const report_route *r = report_model_route(m, "orders");
    /* 9 of 10 compared: 90% is enough; /status always changes the same way: a bug */
    CHECK(r && r->nsuggestions == 1);
    if (r && r->nsuggestions == 1) {
        CHECK_STR(r->suggestions[0].pattern, "/items/*/updated_at");
        CHECK_STR(r->suggestions[0].reason, "date-time values");
        CHECK_STR(r->suggestions[0].field->path, "/items/sku=*/updated_at");
    }
    report_model_free(m);
}

static report_failif_result eval(const report_model *m, const char *expr)
{
    static report_failif f;
    char err[512];
    report_failif_free(&f);
    int rc = report_failif_parse(expr, &f, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "  %s\n", err);
    CHECK(rc == 0);
    return rc == 0 ? report_failif_eval(m, &f) : (report_failif_result){0};
}

static const char *parse_err(const char *expr)
{
    static char err[512];
    report_failif f;
    err[0] = '\0';
    if (report_failif_parse(expr, &f, err, sizeof err) == 0) {
        report_failif_free(&f);
        return "(parsed)";
    }
    return err;
}

TEST(failif_parse)
{
    report_failif f;
    char err[512];
    CHECK(report_failif_parse("mismatch_rate>0.1%", &f, err, sizeof err) == 0);
    CHECK(f.route == NULL && f.op == RF_GT && f.threshold > 0.000999 && f.threshold < 0.001001);
    CHECK_STR(report_failif_metric(&f), "mismatch_rate");
    report_failif_free(&f);
    CHECK(report_failif_parse(" route:orders-get : p99_delta_ms >= 50ms ", &f, err, sizeof err) == 0);
    CHECK_STR(f.route, "orders-get");
    CHECK(f.op == RF_GE && f.threshold == 50 && report_failif_kind(&f) == RM_MS);
    report_failif_free(&f);
    CHECK(report_failif_parse("mismatch=3", &f, err, sizeof err) == 0); /* alias, = for == */
    CHECK_STR(report_failif_metric(&f), "mismatches");
    CHECK(f.op == RF_EQ);
    report_failif_free(&f);
    CHECK(report_failif_parse("match_rate<0.995", &f, err, sizeof err) == 0);
    CHECK(f.op == RF_LT && f.threshold == 0.995);
    report_failif_free(&f);
    CHECK(report_failif_parse("errors!=0", &f, err, sizeof err) == 0 && f.op == RF_NE);
    report_failif_free(&f);
    CHECK(strstr(parse_err("bogus>1"), "unknown metric \"bogus\"") != NULL);
    CHECK(strstr(parse_err(">1"), "no metric") != NULL);
    CHECK(strstr(parse_err("errors"), "expected one of") != NULL);
    CHECK(strstr(parse_err("errors>"), "expected a number") != NULL);
    CHECK(strstr(parse_err("errors>x"), "expected a number") != NULL);
    CHECK(strstr(parse_err("errors>1%"), "% only goes with a rate") != NULL);
    CHECK(strstr(parse_err("errors>1ms"), "ms only goes with a latency") != NULL);
    CHECK(strstr(parse_err("mismatch_rate>2"), "fraction from 0 to 1") != NULL);
    CHECK(strstr(parse_err("errors>1 and more"), "unexpected") != NULL);
    CHECK(strstr(parse_err("route:x:torn_lines>0"), "not a route") != NULL);
    CHECK(strstr(parse_err("route:errors>0"), "route:NAME:") != NULL);
    CHECK(strstr(parse_err("route: :errors>0"), "route:NAME:") != NULL);
    CHECK(strstr(parse_err("errors>inf"), "expected a number") != NULL);
    CHECK(strstr(parse_err("Errors>1"), "unknown metric") != NULL);
}

TEST(failif_eval)
{
    report_options opt = {0};
    report_model *m = report_model_new(&opt);
    addr(m, "orders", "mismatch", 0, 10, 100, NULL);
    addr(m, "orders", "match", 0, 10, 100, NULL);
    addr(m, "orders", "match", 0, 10, 100, NULL);
    addr(m, "orders", "match", 0, 10, 100, NULL);
    addr(m, "stock", "shadow_error", 0, 10, -1, NULL);
    addr(m, "quiet", "skipped", 0, 10, -1, NULL);
    report_model_finalize(m);
    report_failif_result r = eval(m, "mismatch_rate>0.1%");
    CHECK(r.defined && r.holds && r.value == 0.25);
    r = eval(m, "mismatch_rate>=25%");
    CHECK(r.holds); /* 25% is 0.25 exactly, whatever the float noise */
    r = eval(m, "mismatch_rate>25%");
    CHECK(!r.holds);
    CHECK(eval(m, "errors>0").holds && eval(m, "errors==1").holds);
    CHECK(!eval(m, "mismatches>=5").holds && eval(m, "mismatches<5").holds);
    CHECK(eval(m, "route:orders:p99_delta_ms>50").holds);
    r = eval(m, "route:orders:p50_delta_ms>=90ms");
    CHECK(r.holds && r.value == 90);
    r = eval(m, "route:stock:p99_delta_ms>0"); /* no new-side sample: no data */
    CHECK(!r.defined && !r.holds);
    r = eval(m, "route:quiet:match_rate<99%"); /* nothing compared: no data, not holding */
    CHECK(!r.defined && !r.holds);
    r = eval(m, "route:nowhere:exchanges==0"); /* a route not in the logs has no records */
    CHECK(r.defined && r.holds);
    r = eval(m, "error_rate>=16%"); /* 1 of 6 exchanges */
    CHECK(r.defined && r.holds && r.value > 0.16 && r.value < 0.17);
    CHECK(eval(m, "torn_lines==0").holds);
    char buf[64];
    report_failif f;
    char err[256];
    report_failif_parse("mismatch_rate>1%", &f, err, sizeof err);
    report_failif_format(&f, 0.025, buf, sizeof buf);
    CHECK_STR(buf, "2.5%");
    report_failif_free(&f);
    report_failif_result z = eval(m, "errors>0");
    report_failif_free((report_failif *)z.f); /* eval's static one */
    report_model_free(m);
}

static const char *esc(const char *s)
{
    static char out[512];
    strbuf b = {0};
    report_html_esc(&b, s);
    snprintf(out, sizeof out, "%s", b.p ? b.p : "");
    free(b.p);
    return out;
}

TEST(html_escaping)
{
    CHECK_STR(esc("<script>alert('x')</script>"), "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;");
    CHECK_STR(esc("a&b \"q\""), "a&amp;b &quot;q&quot;");
    CHECK_STR(esc("ok\x01\x7f\xff"), "ok\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    CHECK_STR(esc("Gr\xc3\xbc\xc3\x9f" "e\n\t"), "Gr\xc3\xbc\xc3\x9f" "e\n\t");
    CHECK_STR(esc(NULL), "");
}

TEST(html_json_marks)
{
    json_t *body = json_loads("{\"a\":1,\"items\":[{\"sku\":\"X\",\"p\":\"<b>\"}],\"z/w\":{\"q\":true}}", 0, NULL);
    char *c1 = report_path_resolve(body, "/items/sku=X/p");
    char *c2 = report_path_resolve(body, "/z~1w");
    report_html_mark marks[] = {{c1, "/items/sku=X/p changed"}, {c2, "/z~1w added"}};
    strbuf b = {0};
    report_html_json(&b, body, marks, 2, 1 << 20);
    CHECK(b.p && strstr(b.p, "<mark class=\"d\" title=\"/items/sku=X/p changed\"><span class=\"jkey\">"
                             "&quot;p&quot;</span>: <span class=\"js\">&quot;&lt;b&gt;&quot;</span></mark>"));
    CHECK(b.p && strstr(b.p, "<mark class=\"d\" title=\"/z~1w added\"><span class=\"jkey\">&quot;z/w&quot;"));
    CHECK(b.p && !strstr(b.p, "<b>"));
    CHECK(b.p && strstr(b.p, "<span class=\"jkey\">&quot;a&quot;</span>: <span class=\"jn\">1</span>,"));
    /* nothing is marked twice inside a marked value, and the whole body can be marked */
    report_html_mark whole[] = {{"", "(whole body) changed"}, {c1, "x"}};
    strbuf w = {0};
    report_html_json(&w, body, whole, 2, 1 << 20);
    CHECK(w.p && strncmp(w.p, "<mark", 5) == 0);
    CHECK(w.p && strstr(w.p + 5, "<mark") == NULL);
    /* a size cap */
    strbuf s = {0};
    report_html_json(&s, body, NULL, 0, 20);
    CHECK(s.p && strstr(s.p, "cut") && s.len < 200);
    free(b.p);
    free(w.p);
    free(s.p);
    free(c1);
    free(c2);
    json_decref(body);
}

TEST(json_document)
{
    report_options opt = {0};
    report_model *m = report_model_new(&opt);
    addr(m, "orders", "mismatch", 0, 10, 20,
         "[{\"where\":\"body\",\"path\":\"/x\",\"kind\":\"changed\",\"legacy\":\"<a>\",\"new\":{\"k\":[1]}}]");
    report_model_finalize(m);
    report_render r = {.m = m, .opt = &opt, .top = 20};
    json_t *doc = report_json_build(&r);
    CHECK(json_integer_value(json_object_get(doc, "report_version")) == 1);
    json_t *rt = json_array_get(json_object_get(doc, "routes"), 0);
    CHECK_STR(json_string_value(json_object_get(rt, "name")), "orders");
    json_t *ex = json_object_get(json_array_get(json_object_get(rt, "fields"), 0), "example");
    CHECK_STR(json_string_value(json_object_get(ex, "legacy")), "<a>");
    CHECK(json_is_array(json_object_get(json_object_get(ex, "new"), "k")));
    CHECK(json_is_false(json_object_get(ex, "truncated")));
    CHECK(json_is_null(json_object_get(doc, "time_range")) == 0);
    CHECK_STR(json_string_value(json_object_get(doc, "rates_over")), "logged_records");
    json_decref(doc);
    report_model_free(m);
}

int main(void)
{
    RUN(aggregation);
    RUN(filters_and_caps);
    RUN(suggestions);
    RUN(failif_parse);
    RUN(failif_eval);
    RUN(html_escaping);
    RUN(html_json_marks);
    RUN(json_document);
    UNIT_DONE();
}
