/* report_json: `--format json`, report_version 1 (docs/report.md lists
 * every field). Built as a jansson tree, written with shortest reals. */
#include "tools/report/report_out.h"

#include <math.h> /* isfinite only: no libm */
#include <stdlib.h>
#include <string.h>

double report_round_rate(double x) { return report_round(x * 1e6) / 1e6; }
double report_round_ms(double x) { return report_round(x * 1000) / 1000; }

/* json_object_set_new that tolerates NULL values (out of memory shows as a
 * missing member, never as a crash). */
static void set(json_t *o, const char *k, json_t *v)
{
    if (o && v)
        json_object_set_new(o, k, v);
    else
        json_decref(v);
}

/* Text from the command line (file names, --route, --fail-if) may not be
 * UTF-8; JSON strings must be. */
static json_t *lossy(const char *s)
{
    char *c = report_utf8_lossy(s);
    json_t *j = c ? json_string(c) : NULL;
    free(c);
    return j;
}

static json_t *count(uint64_t n) { return json_integer((json_int_t)n); }

static json_t *time_or_null(bool has, int64_t ms)
{
    if (!has)
        return json_null();
    char buf[40];
    report_format_time(ms, true, buf, sizeof buf);
    return json_string(buf);
}

static json_t *rate_or_null(bool ok, double x) { return ok ? json_real(report_round_rate(x)) : json_null(); }

static json_t *verdicts_json(const report_route *r)
{
    json_t *o = json_object();
    for (int v = 0; v < RV_COUNT; v++)
        set(o, report_verdict_names[v], count(r->verdicts[v]));
    return o;
}

/* rules "confirm": mismatches read again, by outcome (docs/report.md);
 * a route's or a differing field's. */
static json_t *confirmations_json(const uint64_t confirm[RC_COUNT])
{
    json_t *o = json_object();
    for (int c = 0; c < RC_COUNT; c++)
        set(o, report_confirm_names[c], count(confirm[c]));
    return o;
}

static json_t *rates_json(const report_route *r)
{
    json_t *o = json_object();
    double x = 0;
    bool ok = report_route_rate(r, RV_MATCH, &x);
    set(o, "match", rate_or_null(ok, x));
    ok = report_route_rate(r, RV_MISMATCH, &x);
    set(o, "mismatch", rate_or_null(ok, x));
    ok = report_route_rate(r, RV_KNOWN, &x);
    set(o, "known", rate_or_null(ok, x));
    set(o, "error", rate_or_null(r->exchanges > 0, r->exchanges
                                                          ? (double)report_route_errors(r) / (double)r->exchanges
                                                          : 0));
    return o;
}

static json_t *latency_json(const report_route *r)
{
    json_t *o = json_object();
    for (int s = 0; s < RS_COUNT; s++) {
        const report_latency *l = &r->latency[s];
        json_t *side = json_object();
        set(side, "samples", count(l->samples));
        set(side, "p50", l->samples ? json_real(report_round_ms(l->p50)) : json_null());
        set(side, "p99", l->samples ? json_real(report_round_ms(l->p99)) : json_null());
        set(o, report_side_names[s], side);
    }
    bool both = r->latency[RS_LEGACY].samples && r->latency[RS_NEW].samples;
    json_t *d = json_object();
    set(d, "p50", both ? json_real(report_round_ms(r->latency[RS_NEW].p50 - r->latency[RS_LEGACY].p50))
                       : json_null());
    set(d, "p99", both ? json_real(report_round_ms(r->latency[RS_NEW].p99 - r->latency[RS_LEGACY].p99))
                       : json_null());
    set(o, "delta", d);
    return o;
}

static json_t *example_value(const report_example *ex)
{
    if (ex->truncated)
        return json_string(ex->text);
    json_t *v = json_loads(ex->text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    return v ? v : json_string(ex->text);
}

static json_t *field_json(const report_field *f, uint64_t compared)
{
    json_t *o = json_object();
    set(o, "where", json_string(f->where));
    set(o, "path", json_string(f->path));
    set(o, "kind", json_string(f->kind));
    set(o, "known", f->known ? json_string(f->known) : json_null());
    set(o, "exchanges", count(f->exchanges));
    set(o, "occurrences", count(f->occurrences));
    set(o, "share", rate_or_null(compared > 0, compared ? (double)f->exchanges / (double)compared : 0));
    set(o, "noise_exchanges", count(f->noise_exchanges));
    set(o, "noise_share", rate_or_null(compared > 0, compared ? (double)f->noise_exchanges /
                                                                    (double)compared : 0));
    set(o, "confirmations", confirmations_json(f->confirm));
    json_t *ids = json_array();
    for (size_t i = 0; i < f->nsample_ids; i++)
        json_array_append_new(ids, json_string(f->sample_ids[i]));
    set(o, "sample_ids", ids);
    json_t *ex = json_object();
    bool cut = false;
    for (int s = 0; s < RS_COUNT && f->has_example; s++)
        if (f->example[s].present) {
            set(ex, report_side_names[s], example_value(&f->example[s]));
            cut = cut || f->example[s].truncated;
        }
    set(ex, "truncated", json_boolean(cut));
    set(o, "example", ex);
    return o;
}

/* Columns of the route's drift buckets (model.bucket_start + i * bucket_ms). */
static json_t *drift_json(const report_route *r, const report_model *m)
{
    json_t *o = json_object();
    json_t *ex = json_array(), *cmp = json_array(), *mis = json_array(), *err = json_array();
    json_t *rate = json_array();
    for (size_t b = 0; r->buckets && b < m->nbuckets; b++) {
        const report_bucket *k = &r->buckets[b];
        json_array_append_new(ex, count(k->exchanges));
        json_array_append_new(cmp, count(k->compared));
        json_array_append_new(mis, count(k->mismatches));
        json_array_append_new(err, count(k->errors));
        json_array_append_new(rate, rate_or_null(k->compared > 0, k->compared ? (double)k->mismatches /
                                                                              (double)k->compared : 0));
    }
    set(o, "exchanges", ex);
    set(o, "compared", cmp);
    set(o, "mismatches", mis);
    set(o, "errors", err);
    set(o, "mismatch_rate", rate);
    return o;
}

static json_t *amount(long double x, int decimals)
{
    char buf[96];
    report_format_decimal(x, decimals, buf, sizeof buf);
    return json_real(strtod(buf, NULL));
}

static json_t *amount_text(long double x, int decimals)
{
    char buf[96];
    report_format_decimal(x, decimals, buf, sizeof buf);
    return json_string(buf);
}

static json_t *sum_json(const report_sum_spec *spec, const report_sum_acc *a)
{
    json_t *o = json_object();
    int dec = a->decimals < 2 ? 2 : a->decimals;
    set(o, "path", lossy(spec->path));
    set(o, "group_by", spec->group ? lossy(spec->group) : json_null());
    set(o, "decimals", json_integer(dec));
    json_t *groups = json_array();
    for (size_t g = 0; g < a->ngroups; g++) {
        const report_group *gr = &a->groups[g];
        json_t *go = json_object();
        set(go, "group", gr->name ? json_string(gr->name) : json_null());
        for (int s = 0; s < RS_COUNT; s++) {
            json_t *side = json_object();
            long double v = report_sum_value(&gr->sum[s]);
            set(side, "sum", amount(v, dec));
            set(side, "text", amount_text(v, dec));
            set(side, "count", count(gr->sum[s].count));
            set(go, report_side_names[s], side);
        }
        long double gap = report_sum_value(&gr->sum[RS_NEW]) - report_sum_value(&gr->sum[RS_LEGACY]);
        set(go, "gap", amount(gap, dec));
        set(go, "gap_text", amount_text(gap, dec));
        json_array_append_new(groups, go);
    }
    set(o, "groups", groups);
    json_t *missing = json_object(), *unusable = json_object();
    for (int s = 0; s < RS_COUNT; s++) {
        set(missing, report_side_names[s], count(a->missing[s]));
        set(unusable, report_side_names[s], count(a->unusable[s]));
    }
    set(o, "missing", missing);
    set(o, "unusable", unusable);
    set(o, "groups_dropped", count(a->groups_dropped));
    json_t *one = json_object();
    for (int s = 0; s < RS_COUNT; s++) {
        json_t *side = json_object();
        for (int k = 0; k < RO_COUNT; k++) {
            const report_sum *x = &a->one_sided[s][k];
            long double v = report_sum_value(x);
            set(side, report_onesided_names[k],
                json_pack("{s:o, s:o, s:o}", "count", count(x->count), "sum", amount(v, dec), "text",
                          amount_text(v, dec)));
        }
        set(one, report_side_names[s], side);
    }
    set(o, "one_sided", one);
    return o;
}

static json_t *reconciliation_json(const report_route *r, const report_options *opt)
{
    json_t *o = json_object();
    set(o, "legacy_2xx", count(r->ok2xx[RS_LEGACY]));
    set(o, "new_2xx", count(r->ok2xx[RS_NEW]));
    set(o, "both_2xx", count(r->both2xx));
    json_t *sums = json_array();
    for (size_t i = 0; i < opt->nsums; i++)
        json_array_append_new(sums, sum_json(&opt->sums[i], &r->sums[i]));
    set(o, "sums", sums);
    return o;
}

static void suggestions_json(json_t *o, const report_route *r)
{
    json_t *a = json_array();
    uint64_t compared = report_route_compared(r);
    for (size_t i = 0; i < r->nsuggestions; i++) {
        const report_suggestion *s = &r->suggestions[i];
        json_t *so = json_object();
        set(so, "path", json_string(s->field->path));
        set(so, "rule", json_string(s->normalize < 0 ? "ignore" : "normalize"));
        set(so, "ignore", s->normalize < 0 ? json_string(s->pattern) : json_null());
        set(so, "normalize", s->normalize < 0 ? json_null()
                                              : json_pack("{s:s, s:b}", "path", s->pattern,
                                                          noise_flag_name(s->normalize), 1));
        set(so, "reason", json_string(s->reason));
        set(so, "exchanges", count(s->field->exchanges));
        set(so, "share", rate_or_null(compared > 0, compared ? (double)s->field->exchanges / (double)compared : 0));
        json_array_append_new(a, so);
    }
    set(o, "suggestions", a);
    json_t *snippet = report_route_suggested_rules(r);
    set(o, "suggested_rules", snippet ? snippet : json_null());
}

static json_t *route_json(const report_route *r, const report_render *rr, bool full)
{
    json_t *o = json_object();
    set(o, "name", lossy(r->name));
    set(o, "exchanges", count(r->exchanges));
    set(o, "compared", count(report_route_compared(r)));
    set(o, "errors", count(report_route_errors(r)));
    set(o, "verdicts", verdicts_json(r));
    set(o, "confirmations", confirmations_json(r->confirm));
    set(o, "rates", rates_json(r));
    set(o, "latency_ms", latency_json(r));
    if (full) {
        json_t *fields = json_array();
        uint64_t compared = report_route_compared(r);
        for (size_t i = 0; i < r->nfields; i++)
            json_array_append_new(fields, field_json(r->fields[i], compared));
        set(o, "fields", fields);
    }
    set(o, "fields_dropped", count(r->fields_dropped));
    set(o, "differences_truncated", count(r->diffs_truncated));
    set(o, "drift", drift_json(r, rr->m));
    set(o, "reconciliation", reconciliation_json(r, rr->opt));
    if (full)
        suggestions_json(o, r);
    return o;
}

static json_t *inputs_json(const report_model *m)
{
    json_t *a = json_array();
    for (size_t i = 0; i < m->ninputs; i++) {
        const report_input *in = &m->inputs[i];
        json_t *o = json_object();
        set(o, "path", lossy(in->path));
        set(o, "lines", count(in->st.lines));
        set(o, "records", count(in->st.records));
        set(o, "used", count(in->used));
        set(o, "torn", count(in->st.torn));
        set(o, "invalid", count(in->st.invalid));
        set(o, "too_long", count(in->st.too_long));
        set(o, "duplicate", json_boolean(in->duplicate));
        set(o, "error", in->error ? lossy(in->error) : json_null());
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *failif_json(const report_render *r)
{
    json_t *a = json_array();
    for (size_t i = 0; i < r->nfailifs; i++) {
        const report_failif_result *res = &r->failifs[i];
        json_t *o = json_object();
        set(o, "expr", lossy(res->f->text));
        set(o, "route", res->f->route ? lossy(res->f->route) : json_null());
        set(o, "metric", json_string(report_failif_metric(res->f)));
        set(o, "op", json_string(report_failif_op_text(res->f->op)));
        set(o, "threshold", json_real(res->f->threshold));
        set(o, "value", res->defined ? json_real(res->value) : json_null());
        set(o, "holds", json_boolean(res->holds));
        json_array_append_new(a, o);
    }
    return a;
}

json_t *report_json_build(const report_render *r)
{
    const report_model *m = r->m;
    json_t *o = json_object();
    set(o, "report_version", json_integer(1));
    set(o, "generated_at", time_or_null(true, r->now_ms));
    json_t *filters = json_object(), *routes = json_array();
    set(filters, "since", time_or_null(r->opt->has_since, r->opt->since_ms));
    set(filters, "until", time_or_null(r->opt->has_until, r->opt->until_ms));
    for (size_t i = 0; i < r->opt->nroutes; i++)
        json_array_append_new(routes, lossy(r->opt->routes[i]));
    set(filters, "routes", routes);
    set(o, "filters", filters);
    set(o, "inputs", inputs_json(m));
    json_t *recs = json_object();
    set(recs, "read", count(m->records));
    set(recs, "used", count(m->used));
    set(recs, "filtered_by_time", count(m->filtered_time));
    set(recs, "filtered_by_route", count(m->filtered_route));
    set(recs, "without_ts", count(m->no_ts));
    set(recs, "overload", count(m->overload_records));
    set(recs, "unlogged_exchanges", count(m->overload_unlogged));
    set(recs, "not_mirrored", count(m->not_mirrored_records));
    set(recs, "not_mirrored_exchanges", count(m->not_mirrored_exchanges));
    set(o, "records", recs);
    json_t *versions = json_object();
    for (size_t i = 0; i < m->nversions; i++)
        set(versions, m->versions[i].label, count(m->versions[i].count));
    set(o, "schema_versions", versions);
    json_t *range = json_null();
    if (m->has_ts) {
        json_decref(range);
        range = json_object();
        set(range, "first", time_or_null(true, m->ts_min));
        set(range, "last", time_or_null(true, m->ts_max));
    }
    set(o, "time_range", range);
    bool matches = report_model_has_matches(m);
    set(o, "logged_matches", json_boolean(matches));
    set(o, "rates_over", json_string(matches ? "all_exchanges" : "logged_records"));
    json_t *drift = json_null();
    if (m->nbuckets) {
        json_decref(drift);
        drift = json_object();
        set(drift, "bucket_seconds", count((uint64_t)(m->bucket_ms / 1000)));
        set(drift, "start", time_or_null(true, m->bucket_start));
        set(drift, "buckets", count(m->nbuckets));
    }
    set(o, "drift", drift);
    json_t *sums = json_array();
    for (size_t i = 0; i < r->opt->nsums; i++) {
        json_t *s = json_object();
        set(s, "path", lossy(r->opt->sums[i].path));
        set(s, "group_by", r->opt->sums[i].group ? lossy(r->opt->sums[i].group) : json_null());
        json_array_append_new(sums, s);
    }
    set(o, "sums", sums);
    if (m->total)
        set(o, "totals", route_json(m->total, r, false));
    json_t *ra = json_array();
    for (size_t i = 0; i < m->nroutes; i++)
        json_array_append_new(ra, route_json(m->routes[i], r, true));
    set(o, "routes", ra);
    set(o, "fail_if", failif_json(r));
    set(o, "baseline", r->baseline ? json_deep_copy(r->baseline) : json_null());
    return o;
}

int report_json_write(FILE *out, const report_render *r)
{
    json_t *doc = report_json_build(r);
    if (!doc)
        return -1;
    strbuf b = {0};
    report_json_append(&b, doc, 2, 0);
    strbuf_add(&b, "\n", 1);
    json_decref(doc);
    int rc = b.oom ? -1 : 0;
    if (rc == 0 && fwrite(b.p, 1, b.len, out) != b.len)
        rc = -1;
    free(b.p);
    return rc;
}
