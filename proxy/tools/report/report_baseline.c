/* report_baseline: what changed between two runs (`report --baseline OLD
 * NEW`, docs/report.md "Baseline"): routes and differing fields that
 * appeared, disappeared, rose or fell. Pure: two finalized models in, JSON
 * out (the text and JSON reports render it). */
#include "tools/report/report_out.h"

#include <string.h>

/* A change of a share or rate smaller than this is not listed. */
#define BASELINE_STEP 0.01

static const report_field *field_find(const report_route *r, const report_field *f)
{
    for (size_t i = 0; r && i < r->nfields; i++) {
        const report_field *g = r->fields[i];
        if (!strcmp(g->where, f->where) && !strcmp(g->path, f->path) && !strcmp(g->kind, f->kind) &&
            (g->known == NULL) == (f->known == NULL) && (!g->known || !strcmp(g->known, f->known)))
            return g;
    }
    return NULL;
}

static double share_of(const report_field *f, const report_route *r)
{
    uint64_t c = r ? report_route_compared(r) : 0;
    return f && c ? (double)f->exchanges / (double)c : 0;
}

static const char *change_of(bool before, bool after, double old, double neu)
{
    if (!before)
        return "appeared";
    if (!after)
        return "disappeared";
    if (neu - old >= BASELINE_STEP)
        return "rose";
    if (old - neu >= BASELINE_STEP)
        return "fell";
    return NULL;
}

static json_t *rate_json(bool defined, double x)
{
    return defined ? json_real(report_round_rate(x)) : json_null();
}

static void route_change(json_t *routes, const report_route *o, const report_route *n)
{
    double ro = 0, rn = 0;
    bool dof = o && report_route_rate(o, RV_MISMATCH, &ro);
    bool dnf = n && report_route_rate(n, RV_MISMATCH, &rn);
    const char *c = change_of(o != NULL, n != NULL, ro, rn);
    if (!c && o && n && dof != dnf)
        c = dnf ? "rose" : "fell";
    if (c)
        json_array_append_new(routes, json_pack("{s:s, s:s, s:o, s:o, s:I, s:I}", "name",
                                                (n ? n : o)->name, "change", c, "old_mismatch_rate",
                                                rate_json(dof, ro), "new_mismatch_rate", rate_json(dnf, rn),
                                                "old_exchanges", (json_int_t)(o ? o->exchanges : 0),
                                                "new_exchanges", (json_int_t)(n ? n->exchanges : 0)));
}

static void field_change(json_t *fields, const report_route *ro, const report_route *rn,
                         const report_field *fo, const report_field *fn)
{
    double so = share_of(fo, ro), sn = share_of(fn, rn);
    const char *c = change_of(fo != NULL, fn != NULL, so, sn);
    if (!c)
        return;
    const report_field *f = fn ? fn : fo;
    json_array_append_new(fields, json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s, s:f, s:f, s:I, s:I}",
                                            "route", (rn ? rn : ro)->name, "where", f->where, "path",
                                            f->path, "kind", f->kind, "known", f->known, "change", c,
                                            "old_share", report_round_rate(so), "new_share",
                                            report_round_rate(sn), "old_exchanges",
                                            (json_int_t)(fo ? fo->exchanges : 0), "new_exchanges",
                                            (json_int_t)(fn ? fn->exchanges : 0)));
}

json_t *report_baseline_build(const report_model *old, const report_model *neu)
{
    json_t *routes = json_array(), *fields = json_array();
    for (size_t i = 0; i < neu->nroutes; i++) {
        const report_route *n = neu->routes[i], *o = report_model_route(old, n->name);
        route_change(routes, o, n);
        for (size_t j = 0; j < n->nfields; j++)
            field_change(fields, o, n, field_find(o, n->fields[j]), n->fields[j]);
        for (size_t j = 0; o && j < o->nfields; j++)
            if (!field_find(n, o->fields[j]))
                field_change(fields, o, n, o->fields[j], NULL);
    }
    for (size_t i = 0; i < old->nroutes; i++) {
        const report_route *o = old->routes[i];
        if (report_model_route(neu, o->name))
            continue;
        route_change(routes, o, NULL);
        for (size_t j = 0; j < o->nfields; j++)
            field_change(fields, o, NULL, o->fields[j], NULL);
    }
    return json_pack("{s:I, s:I, s:o, s:o}", "old_records", (json_int_t)old->used, "new_records",
                     (json_int_t)neu->used, "routes", routes, "fields", fields);
}
