/* rules_readiness: the "readiness" section of a route, "defaults" or
 * "default" (docs/readiness.md): cutover criteria read by `shadowproxy
 * readiness`; the proxy itself does not use them. The loader validates the
 * section and keeps a copy of it in the route; merging overlays a route's
 * keys on the defaults' (coverage lists concatenate, defaults first). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conf/rules_load.h"

const char *const rl_readiness_keys[] = {
    "required",         "min_exchanges", "max_mismatch_rate", "max_error_rate",
    "max_p99_delta_ms", "money",         "coverage",          NULL};
static const char *const money_keys[] = {"path", "group", "max_gap", NULL};
static const char *const coverage_keys[] = {"field", "in", "min_count",
                                            "min_match_rate", NULL};

#define READINESS_MAX_COUNT 1000000000000LL

/* A concrete RFC 6901 pointer to a value ("/payment/method"): not the
 * whole document, "~" only as "~0" or "~1". */
static bool pointer(rl_ctx *x, const json_t *v, const rl_loc *at, const char *example)
{
    const char *s;
    char got[80];
    if (!rl_string(x, v, at, 1024, &s))
        return false;
    bool ok = s[0] == '/';
    for (const char *p = s; ok && *p; p++)
        if (*p == '~' && p[1] != '0' && p[1] != '1')
            ok = false;
    if (!ok) {
        rl_show(v, got, sizeof got);
        rl_report(x, at, false, "%s must be a JSON Pointer such as %s, got %s", at->name,
                  example, got);
    }
    return ok;
}

static void load_money(rl_ctx *x, json_t *v, const rl_loc *at)
{
    rl_loc l;
    json_t *e;
    double d;
    if (!rl_object(x, v, at))
        return;
    rl_keys(x, v, at, money_keys);
    rl_child(&l, at, "path");
    if ((e = json_object_get(v, "path")))
        pointer(x, e, &l, "/totals/grand_total");
    else
        rl_report(x, at, false, "%s is required (the amount to sum per side)", l.name);
    if ((e = json_object_get(v, "group"))) {
        rl_child(&l, at, "group");
        pointer(x, e, &l, "/currency");
    }
    rl_child(&l, at, "max_gap");
    if ((e = json_object_get(v, "max_gap")))
        rl_number(x, e, &l, 0, 1e15, &d);
    else
        rl_report(x, at, false, "%s is required (0.01: a cent per currency)", l.name);
}

static void load_coverage(rl_ctx *x, json_t *v, const rl_loc *at)
{
    size_t n;
    if (!rl_array(x, v, at, "objects", &n))
        return;
    for (size_t i = 0; i < n; i++) {
        rl_loc el, l;
        json_t *c = json_array_get(v, i), *e;
        rl_elem(&el, at, i);
        if (!rl_object(x, c, &el))
            continue;
        rl_keys(x, c, &el, coverage_keys);
        rl_child(&l, &el, "field");
        if ((e = json_object_get(c, "field")))
            pointer(x, e, &l, "/payment/method");
        else
            rl_report(x, &el, false, "%s is required", l.name);
        if ((e = json_object_get(c, "in"))) {
            const char *s;
            rl_child(&l, &el, "in");
            if (rl_string(x, e, &l, 16, &s) && strcmp(s, "request") != 0 &&
                strcmp(s, "response") != 0)
                rl_report(x, &l, false, "%s must be \"request\" or \"response\", got \"%s\"",
                          l.name, s);
        }
        long long k;
        double d;
        if ((e = json_object_get(c, "min_count"))) {
            rl_child(&l, &el, "min_count");
            rl_integer(x, e, &l, 1, READINESS_MAX_COUNT, &k);
        }
        if ((e = json_object_get(c, "min_match_rate"))) {
            rl_child(&l, &el, "min_match_rate");
            rl_number(x, e, &l, 0, 1, &d);
        }
    }
}

void rl_load_readiness(rl_ctx *x, json_t *v, const rl_loc *at, rl_opts *o)
{
    rl_loc l;
    json_t *e;
    bool b;
    long long k;
    double d;
    if (!rl_object(x, v, at))
        return;
    rl_keys(x, v, at, rl_readiness_keys);
    if ((e = json_object_get(v, "required"))) {
        rl_child(&l, at, "required");
        rl_bool(x, e, &l, &b);
    }
    if ((e = json_object_get(v, "min_exchanges"))) {
        rl_child(&l, at, "min_exchanges");
        rl_integer(x, e, &l, 0, READINESS_MAX_COUNT, &k);
    }
    static const char *const rates[] = {"max_mismatch_rate", "max_error_rate"};
    for (size_t i = 0; i < 2; i++)
        if ((e = json_object_get(v, rates[i]))) {
            rl_child(&l, at, rates[i]);
            rl_number(x, e, &l, 0, 1, &d); /* a fraction: 0.001 is 0.1% */
        }
    if ((e = json_object_get(v, "max_p99_delta_ms"))) {
        rl_child(&l, at, "max_p99_delta_ms");
        rl_number(x, e, &l, -1e9, 1e9, &d);
    }
    if ((e = json_object_get(v, "money"))) {
        rl_child(&l, at, "money");
        load_money(x, e, &l);
    }
    if ((e = json_object_get(v, "coverage"))) {
        rl_child(&l, at, "coverage");
        load_coverage(x, e, &l);
    }
    json_decref(o->r.readiness); /* a repeated section cannot happen (duplicate keys are refused) */
    if (!(o->r.readiness = json_deep_copy(v)))
        rl_nomem(x);
}

int rl_readiness_merge(json_t **out, const json_t *base, const json_t *over)
{
    *out = NULL;
    if (!base && !over)
        return 0;
    json_t *m = base ? json_deep_copy(base) : json_object();
    if (!m)
        return -ENOMEM;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)over, key, v) {
        json_t *have = json_object_get(m, key);
        int rc = strcmp(key, "coverage") == 0 && json_is_array(have)
                     ? json_array_extend(have, v)
                     : json_object_set_new(m, key, json_deep_copy(v));
        if (rc != 0) {
            json_decref(m);
            return -ENOMEM;
        }
    }
    *out = m;
    return 0;
}

/* ---- typed access ---------------------------------------------------------- */

static double num_or(const json_t *o, const char *k, double dflt)
{
    const json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : dflt;
}

int rules_readiness_of(const route *rt, route_readiness *out)
{
    const json_t *j = rt->readiness;
    memset(out, 0, sizeof *out);
    out->required = !json_is_false(json_object_get(j, "required"));
    out->min_exchanges = (uint64_t)num_or(j, "min_exchanges", READINESS_DEFAULT_MIN_EXCHANGES);
    out->max_mismatch_rate = num_or(j, "max_mismatch_rate", READINESS_DEFAULT_MAX_MISMATCH_RATE);
    out->max_error_rate = num_or(j, "max_error_rate", READINESS_DEFAULT_MAX_ERROR_RATE);
    out->has_p99 = json_is_number(json_object_get(j, "max_p99_delta_ms"));
    out->max_p99_delta_ms = num_or(j, "max_p99_delta_ms", 0);
    const json_t *money = json_object_get(j, "money");
    if (json_is_object(money)) {
        out->money_path = json_string_value(json_object_get(money, "path"));
        out->money_group = json_string_value(json_object_get(money, "group"));
        out->money_max_gap = num_or(money, "max_gap", 0);
    }
    const json_t *cov = json_object_get(j, "coverage");
    size_t n = json_array_size(cov);
    if (n && !(out->coverage = calloc(n, sizeof *out->coverage)))
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const json_t *c = json_array_get(cov, i);
        readiness_coverage *rc = &out->coverage[out->ncoverage++];
        const char *in = json_string_value(json_object_get(c, "in"));
        rc->field = json_string_value(json_object_get(c, "field"));
        rc->in_response = in && strcmp(in, "response") == 0;
        rc->min_count = (uint64_t)num_or(c, "min_count", READINESS_DEFAULT_MIN_COUNT);
        rc->min_match_rate = num_or(c, "min_match_rate", READINESS_DEFAULT_MIN_MATCH_RATE);
    }
    return 0;
}

void rules_readiness_free(route_readiness *r)
{
    free(r->coverage);
    memset(r, 0, sizeof *r);
}
