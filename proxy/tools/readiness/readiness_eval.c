/* readiness_eval: see readiness_eval.h. */
#include "tools/readiness/readiness_eval.h"
#include "obs/readiness_judge.h"
#include "tools/report/report_out.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *str_member(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* ---- money specs --------------------------------------------------------------- */

static long sum_find(const report_options *opt, const char *path, const char *group)
{
    for (size_t i = 0; i < opt->nsums; i++) {
        const report_sum_spec *s = &opt->sums[i];
        if (strcmp(s->path, path) == 0 &&
            ((!s->group && !group) || (s->group && group && strcmp(s->group, group) == 0)))
            return (long)i;
    }
    return -1;
}

static int sum_add(const route *rt, report_options *opt)
{
    route_readiness c;
    if (rules_readiness_of(rt, &c) != 0)
        return -1;
    int rc = 0;
    if (c.money_path && sum_find(opt, c.money_path, c.money_group) < 0) {
        report_sum_spec *ns = realloc(opt->sums, (opt->nsums + 1) * sizeof *ns);
        char *path = strdup(c.money_path), *group = c.money_group ? strdup(c.money_group) : NULL;
        if (ns)
            opt->sums = ns;
        if (!ns || !path || (c.money_group && !group)) {
            free(path);
            free(group);
            rc = -1;
        } else {
            opt->sums[opt->nsums++] = (report_sum_spec){path, group};
        }
    }
    rules_readiness_free(&c);
    return rc;
}

int readiness_collect_sums(const rules *rs, report_options *opt)
{
    for (size_t i = 0; i < rs->nroutes; i++)
        if (sum_add(&rs->routes[i], opt) != 0)
            return -1;
    return sum_add(&rs->fallback, opt);
}

/* ---- the tally ----------------------------------------------------------------- */

void readiness_tally_init(readiness_tally *t, const rules *rs, const report_options *opt)
{
    memset(t, 0, sizeof *t);
    t->rules = rs;
    t->opt = opt;
}

static void route_free(readiness_route *r)
{
    for (size_t i = 0; r->fields && i < r->crit.ncoverage; i++) {
        for (size_t k = 0; k < r->fields[i].nvalues; k++)
            free(r->fields[i].values[k].text);
        free(r->fields[i].values);
    }
    free(r->fields);
    rules_readiness_free(&r->crit);
    free(r->name);
}

void readiness_tally_free(readiness_tally *t)
{
    for (size_t i = 0; i < t->nroutes; i++)
        route_free(&t->routes[i]);
    free(t->routes);
    memset(t, 0, sizeof *t);
}

readiness_route *readiness_route_get(readiness_tally *t, const char *name)
{
    if (t->nroutes && strcmp(t->routes[t->last].name, name) == 0)
        return &t->routes[t->last];
    for (size_t i = 0; i < t->nroutes; i++)
        if (strcmp(t->routes[i].name, name) == 0)
            return &t->routes[t->last = i];
    if (t->nroutes == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 16;
        readiness_route *nr = realloc(t->routes, nc * sizeof *nr);
        if (!nr)
            goto oom;
        t->routes = nr;
        t->cap = nc;
    }
    readiness_route *r = &t->routes[t->nroutes];
    memset(r, 0, sizeof *r);
    const route *rt = rules_find(t->rules, name);
    if (!rt)
        rt = &t->rules->fallback; /* endpoints of the default route, (other routes) */
    if (!(r->name = strdup(name)) || rules_readiness_of(rt, &r->crit) != 0 ||
        (r->crit.ncoverage && !(r->fields = calloc(r->crit.ncoverage, sizeof *r->fields)))) {
        route_free(r);
        goto oom;
    }
    r->sum_index = r->crit.money_path ? sum_find(t->opt, r->crit.money_path, r->crit.money_group) : -1;
    t->last = t->nroutes++;
    return r;
oom:
    t->oom = true;
    return NULL;
}

const json_t *readiness_field_value(const json_t *rec, const char *pointer, bool in_response)
{
    static const char *const sides[] = {"legacy", "new"};
    for (int s = 0; s < (in_response ? 2 : 1); s++) {
        const json_t *leg = json_object_get(rec, in_response ? sides[s] : "request");
        const char *fmt = str_member(leg, "body_format");
        if (!fmt || strcmp(fmt, "json") != 0)
            continue;
        const json_t *v = report_pointer_get(json_object_get(leg, "body"), pointer);
        if (v && !json_is_object(v) && !json_is_array(v))
            return v;
    }
    return NULL;
}

static readiness_value *value_get(readiness_field *f, const char *text)
{
    for (size_t i = 0; i < f->nvalues; i++)
        if (strcmp(f->values[i].text, text) == 0)
            return &f->values[i];
    if (f->nvalues >= READINESS_MAX_VALUES)
        return NULL;
    if (f->nvalues == f->cap) {
        size_t nc = f->cap ? f->cap * 2 : 8;
        readiness_value *nv = realloc(f->values, nc * sizeof *nv);
        if (!nv)
            return NULL;
        f->values = nv;
        f->cap = nc;
    }
    readiness_value *v = &f->values[f->nvalues];
    memset(v, 0, sizeof *v);
    if (!(v->text = report_strdup_max(text, READINESS_VALUE_MAX)))
        return NULL;
    f->nvalues++;
    return v;
}

void readiness_tally_record(void *arg, const json_t *rec, const char *route_name)
{
    readiness_tally *t = arg;
    readiness_route *r = readiness_route_get(t, route_name);
    if (!r || !r->crit.ncoverage)
        return;
    enum report_verdict v = report_verdict_of(str_member(rec, "verdict"));
    bool compared = v == RV_MATCH || v == RV_MISMATCH || v == RV_KNOWN;
    for (size_t i = 0; i < r->crit.ncoverage; i++) {
        readiness_field *f = &r->fields[i];
        const json_t *val = readiness_field_value(rec, r->crit.coverage[i].field,
                                                  r->crit.coverage[i].in_response);
        if (!val) {
            f->absent++;
            continue;
        }
        strbuf b = {0};
        const char *text = json_string_value(val);
        if (!text) {
            report_json_append(&b, val, -1, READINESS_VALUE_MAX);
            text = b.oom ? NULL : b.p;
        }
        readiness_value *rv = text ? value_get(f, text) : NULL;
        free(b.p);
        if (!rv) {
            f->dropped++;
            continue;
        }
        rv->seen++;
        rv->compared += compared;
        rv->agreed += v == RV_MATCH || v == RV_KNOWN;
    }
}

/* ---- judging ------------------------------------------------------------------- */

static void judge_money(json_t *cl, const report_route *mr, const readiness_route *r)
{
    const route_readiness *c = &r->crit;
    json_t *groups = json_array();
    const report_sum_acc *a = mr && r->sum_index >= 0 ? &mr->sums[r->sum_index] : NULL;
    size_t over = 0, used = 0;
    strbuf worst = {0};
    for (size_t i = 0; groups && a && i < a->ngroups; i++) {
        const report_group *g = &a->groups[i];
        if (!g->sum[RS_LEGACY].count && !g->sum[RS_NEW].count)
            continue;
        long double l = report_sum_value(&g->sum[RS_LEGACY]), n = report_sum_value(&g->sum[RS_NEW]);
        long double gap = n - l, mag = gap < 0 ? -gap : gap;
        bool ok = mag <= (long double)c->money_max_gap + 1e-9L;
        char ls[64], ns[64], gs[64];
        report_format_decimal(l, a->decimals, ls, sizeof ls);
        report_format_decimal(n, a->decimals, ns, sizeof ns);
        report_format_decimal(gap, a->decimals, gs, sizeof gs);
        used++;
        if (!ok) {
            report_buf_printf(&worst, "%s%s %s (legacy %s, new %s)", over ? "; " : "",
                              g->name ? g->name : "(no group)", gs, ls, ns);
            over++;
        }
        json_array_append_new(groups, json_pack("{s:s?, s:s, s:s, s:s, s:b}", "group", g->name,
                                                "legacy", ls, "new", ns, "gap", gs, "ok", ok));
    }
    json_t *j;
    if (!used)
        j = readiness_criterion(cl, "money_gap", false, "no amount at %s in an exchange both sides answered 2xx",
                      c->money_path);
    else if (over)
        j = readiness_criterion(cl, "money_gap", false, "%zu of %zu %s over %g: %s", over, used,
                      c->money_group ? "groups" : "totals", c->money_max_gap,
                      worst.p ? worst.p : "");
    else
        j = readiness_criterion(cl, "money_gap", true, "%zu %s within %g", used,
                      c->money_group ? "groups" : "totals", c->money_max_gap);
    free(worst.p);
    if (j) {
        json_object_set_new(j, "path", json_string(c->money_path));
        if (c->money_group)
            json_object_set_new(j, "group", json_string(c->money_group));
        json_object_set_new(j, "limit", json_real(c->money_max_gap));
        json_object_set(j, "groups", groups);
    }
    json_decref(groups);
}

static const char *b_count(const readiness_coverage *c, char *buf, size_t size)
{
    snprintf(buf, size, "%llu", (unsigned long long)c->min_count);
    return buf;
}

static int value_cmp(const void *x, const void *y)
{
    const readiness_value *a = x, *b = y;
    if (a->seen != b->seen)
        return a->seen > b->seen ? -1 : 1;
    return strcmp(a->text, b->text);
}

static void judge_coverage(json_t *cl, readiness_field *f, const readiness_coverage *c)
{
    if (f->nvalues > 1)
        qsort(f->values, f->nvalues, sizeof *f->values, value_cmp);
    json_t *values = json_array(), *rare = json_array(), *low = json_array();
    strbuf rtext = {0}, ltext = {0};
    char a[32], b[32];
    readiness_pct(c->min_match_rate, b, sizeof b);
    for (size_t i = 0; values && rare && low && i < f->nvalues; i++) {
        const readiness_value *v = &f->values[i];
        double rate = v->compared ? (double)v->agreed / (double)v->compared : 0;
        bool enough = v->compared >= c->min_count, agrees = v->compared && rate >= c->min_match_rate;
        json_t *jv = json_pack("{s:s, s:I, s:I, s:I, s:b}", "value", v->text, "seen",
                               (json_int_t)v->seen, "compared", (json_int_t)v->compared, "agreed",
                               (json_int_t)v->agreed, "ok", enough && agrees);
        if (jv && v->compared)
            json_object_set_new(jv, "match_rate", json_real(report_round_rate(rate)));
        json_array_append_new(values, jv);
        if (!enough) {
            json_array_append_new(rare, json_string(v->text));
            report_buf_printf(&rtext, "%s\"%s\" (%llu)", json_array_size(rare) > 1 ? ", " : "",
                              v->text, (unsigned long long)v->compared);
        } else if (!agrees) {
            json_array_append_new(low, json_string(v->text));
            readiness_pct(rate, a, sizeof a);
            report_buf_printf(&ltext, "%s\"%s\" %s", json_array_size(low) > 1 ? ", " : "", v->text, a);
        }
    }
    size_t nr = json_array_size(rare), nl = json_array_size(low);
    char head[64];
    snprintf(head, sizeof head, "agreeing below %s: ", b);
    json_t *j;
    if (!f->nvalues)
        j = readiness_criterion(cl, "coverage", false, "%s (%s): no value seen", c->field,
                      c->in_response ? "response" : "request");
    else if (nr || nl)
        j = readiness_criterion(cl, "coverage", false, "%s (%s): %zu values; %s%s%s%s%s%s%s", c->field,
                      c->in_response ? "response" : "request", f->nvalues,
                      nr ? "compared fewer than " : "", nr ? b_count(c, a, sizeof a) : "",
                      nr ? " times: " : "", nr ? rtext.p : "", nr && nl ? "; " : "",
                      nl ? head : "", nl ? ltext.p : "");
    else
        j = readiness_criterion(cl, "coverage", true, "%s (%s): %zu values, each compared >= %llu times, "
                      "agreeing >= %s", c->field, c->in_response ? "response" : "request",
                      f->nvalues, (unsigned long long)c->min_count, b);
    if (j) {
        json_object_set_new(j, "field", json_string(c->field));
        json_object_set_new(j, "in", json_string(c->in_response ? "response" : "request"));
        json_object_set_new(j, "min_count", json_integer((json_int_t)c->min_count));
        json_object_set_new(j, "min_match_rate", json_real(c->min_match_rate));
        json_object_set(j, "values", values);
        json_object_set(j, "rare", rare);
        json_object_set(j, "below_match_rate", low);
        json_object_set_new(j, "absent", json_integer((json_int_t)f->absent));
        if (f->dropped)
            json_object_set_new(j, "values_dropped", json_integer((json_int_t)f->dropped));
    }
    json_decref(values);
    json_decref(rare);
    json_decref(low);
    free(rtext.p);
    free(ltext.p);
}

/* One route's verdict: {"route", "ready", "required", "exchanges",
 * "compared", "criteria"}; the count, rate and p99 criteria are judged by
 * obs/readiness_judge, as the dashboard's live verdict is. */
static json_t *judge_route(readiness_route *r, const report_model *m)
{
    const report_route *mr = report_model_route(m, r->name);
    const route_readiness *c = &r->crit;
    readiness_numbers n = {0};
    if (mr) {
        n.exchanges = mr->exchanges;
        n.compared = report_route_compared(mr);
        n.mismatches = mr->verdicts[RV_MISMATCH];
        n.transient = mr->confirm[RC_TRANSIENT];
        n.errors = report_route_errors(mr);
        for (int s = 0; s < RS_COUNT; s++) {
            int side = s == RS_LEGACY ? READINESS_LEGACY : READINESS_NEW;
            n.has_p99[side] = mr->latency[s].samples > 0;
            n.p99_ms[side] = mr->latency[s].p99;
        }
    }
    json_t *cl = json_array();
    if (!cl)
        return NULL;
    readiness_judge_numbers(cl, c, &n);
    if (c->money_path)
        judge_money(cl, mr, r);
    for (size_t i = 0; i < c->ncoverage; i++)
        judge_coverage(cl, &r->fields[i], &c->coverage[i]);
    return readiness_route_verdict(r->name, c->required, &n, cl);
}

json_t *readiness_evaluate(readiness_tally *t, const report_model *m, int64_t now_ms)
{
    /* the model's routes in its order (most exchanges first), then the
     * rules' routes with criteria that the logs never name */
    for (size_t i = 0; i < m->nroutes; i++)
        readiness_route_get(t, m->routes[i]->name);
    for (size_t i = 0; i < t->rules->nroutes; i++)
        if (t->rules->routes[i].readiness)
            readiness_route_get(t, t->rules->routes[i].name);
    if (t->oom)
        return NULL;
    json_t *routes = json_array();
    bool ready = true;
    size_t nready = 0, nrequired = 0;
    for (size_t i = 0; routes && i < m->nroutes; i++) {
        json_t *jr = judge_route(readiness_route_get(t, m->routes[i]->name), m);
        if (!jr || json_array_append_new(routes, jr) != 0)
            goto oom;
    }
    for (size_t i = 0; routes && i < t->nroutes; i++) {
        if (report_model_route(m, t->routes[i].name))
            continue; /* judged above */
        json_t *jr = judge_route(&t->routes[i], m);
        if (!jr || json_array_append_new(routes, jr) != 0)
            goto oom;
    }
    if (!routes)
        return NULL;
    size_t i;
    json_t *e;
    json_array_foreach(routes, i, e) {
        if (!json_is_true(json_object_get(e, "required")))
            continue;
        nrequired++;
        if (json_is_true(json_object_get(e, "ready")))
            nready++;
        else
            ready = false;
    }
    char gen[40], from[40] = "", to[40] = "";
    report_format_time(now_ms, false, gen, sizeof gen);
    if (m->has_ts) {
        report_format_time(m->ts_min, true, from, sizeof from);
        report_format_time(m->ts_max, true, to, sizeof to);
    }
    return json_pack("{s:i, s:s, s:b, s:I, s:I, s:I, s:s?, s:s?, s:s?, s:o}", "readiness_version", 1,
                     "generated", gen, "ready", ready && nrequired > 0, "routes_required",
                     (json_int_t)nrequired, "routes_ready", (json_int_t)nready, "records", (json_int_t)m->used, "from",
                     m->has_ts ? from : NULL, "to", m->has_ts ? to : NULL, "rules",
                     t->rules->path, "routes", routes);
oom:
    json_decref(routes);
    return NULL;
}
