/* report_model: see report_model.h. */
#include "tools/report/report_model.h"
#include "tools/report/report_route.h"
#include "conf/endpoint.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *const report_verdict_names[RV_COUNT] = {
    "match",          "mismatch", "known",   "shadow_error", "shadow_timeout",
    "shadow_dropped", "skipped",  "authoritative_error", "write_paused",
    "id_unknown",
    "other",
};

const char *const report_side_names[RS_COUNT] = {"legacy", "new"};

const char *const report_confirm_names[RC_COUNT] = {"transient", "confirmed", "failed",
                                                    "skipped"};

/* rules "confirm": a mismatch read again; its outcome counted per route.
 * Returns the state (enum report_confirm), -1 without a known one. */
static int count_confirmation(report_route *r, const json_t *rec)
{
    const char *st = json_string_value(json_object_get(json_object_get(rec, "confirmation"),
                                                       "state"));
    for (int c = 0; st && c < RC_COUNT; c++)
        if (strcmp(st, report_confirm_names[c]) == 0) {
            r->confirm[c]++;
            return c;
        }
    return -1;
}

enum report_verdict report_verdict_of(const char *s)
{
    if (s)
        for (int v = 0; v < RV_OTHER; v++)
            if (strcmp(s, report_verdict_names[v]) == 0)
                return (enum report_verdict)v;
    return RV_OTHER;
}

uint64_t report_route_compared(const report_route *r)
{
    return r->verdicts[RV_MATCH] + r->verdicts[RV_MISMATCH] + r->verdicts[RV_KNOWN];
}

uint64_t report_route_errors(const report_route *r)
{
    return r->verdicts[RV_SHADOW_ERROR] + r->verdicts[RV_SHADOW_TIMEOUT] +
           r->verdicts[RV_AUTHORITATIVE_ERROR];
}

bool report_route_rate(const report_route *r, enum report_verdict v, double *out)
{
    uint64_t c = report_route_compared(r);
    if (c == 0)
        return false;
    *out = (double)r->verdicts[v] / (double)c;
    return true;
}

static const char *str_member(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* ---- routes -------------------------------------------------------------------- */

static uint64_t name_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static int route_index_grow(report_model *m)
{
    size_t nc = m->route_index_cap ? m->route_index_cap * 2 : 64;
    size_t *ni = calloc(nc, sizeof *ni);
    if (!ni)
        return -1;
    for (size_t i = 0; i < m->nroutes; i++) {
        size_t h = (size_t)name_hash(m->routes[i]->name) & (nc - 1);
        while (ni[h])
            h = (h + 1) & (nc - 1);
        ni[h] = i + 1;
    }
    free(m->route_index);
    m->route_index = ni;
    m->route_index_cap = nc;
    return 0;
}

static report_route *route_find(const report_model *m, const char *name)
{
    if (!m->route_index_cap)
        return NULL;
    size_t mask = m->route_index_cap - 1;
    for (size_t h = (size_t)name_hash(name) & mask; m->route_index[h]; h = (h + 1) & mask) {
        report_route *r = m->routes[m->route_index[h] - 1];
        if (strcmp(r->name, name) == 0)
            return r;
    }
    return NULL;
}

static report_route *route_add(report_model *m, const char *name)
{
    if ((m->nroutes + 1) * 2 > m->route_index_cap && route_index_grow(m) != 0)
        return NULL;
    if (m->nroutes == m->routes_cap) {
        size_t nc = m->routes_cap ? m->routes_cap * 2 : 16;
        report_route **nr = realloc(m->routes, nc * sizeof *nr);
        if (!nr)
            return NULL;
        m->routes = nr;
        m->routes_cap = nc;
    }
    report_route *r = report_route_new(name, m->opt->nsums);
    if (!r)
        return NULL;
    size_t mask = m->route_index_cap - 1;
    size_t h = (size_t)name_hash(name) & mask;
    while (m->route_index[h])
        h = (h + 1) & mask;
    m->routes[m->nroutes++] = r;
    m->route_index[h] = m->nroutes;
    return r;
}

static report_route *route_get(report_model *m, const char *name)
{
    report_route *r = route_find(m, name);
    if (r)
        return r;
    if (m->nroutes >= REPORT_MAX_ROUTES) {
        r = route_find(m, REPORT_OTHER_ROUTES);
        return r ? r : route_add(m, REPORT_OTHER_ROUTES);
    }
    return route_add(m, name);
}

report_model *report_model_new(const report_options *opt)
{
    report_model *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->opt = opt;
    m->nfields_total = REPORT_MAX_FIELDS_TOTAL; /* the budget left */
    for (size_t i = 0; i < opt->nroutes; i++) {
        char *name = report_strdup_max(opt->routes[i], REPORT_NAME_MAX); /* as records' names */
        bool ok = name && (route_find(m, name) || route_add(m, name));
        free(name);
        if (!ok) {
            report_model_free(m);
            return NULL;
        }
    }
    return m;
}

void report_model_free(report_model *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->ninputs; i++) {
        free(m->inputs[i].path);
        free(m->inputs[i].error);
    }
    free(m->inputs);
    for (size_t i = 0; i < m->nroutes; i++)
        report_route_free(m->routes[i], m->opt->nsums);
    free(m->routes);
    free(m->route_index);
    for (size_t i = 0; i < m->nversions; i++)
        free(m->versions[i].label);
    free(m->versions);
    report_route_free(m->total, m->opt->nsums);
    free(m);
}

/* ---- records --------------------------------------------------------------------- */

static void count_version(report_model *m, const json_t *v)
{
    char label[32];
    if (!v)
        snprintf(label, sizeof label, "missing");
    else if (json_is_integer(v))
        snprintf(label, sizeof label, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else
        snprintf(label, sizeof label, "not an integer");
    for (size_t i = 0; i < m->nversions; i++)
        if (strcmp(m->versions[i].label, label) == 0) {
            m->versions[i].count++;
            return;
        }
    if (m->nversions >= 64) /* hostile: one label per record */
        snprintf(label, sizeof label, "other");
    for (size_t i = 0; i < m->nversions; i++)
        if (strcmp(m->versions[i].label, label) == 0) {
            m->versions[i].count++;
            return;
        }
    report_version_count *nv = realloc(m->versions, (m->nversions + 1) * sizeof *nv);
    if (!nv)
        return;
    m->versions = nv;
    if (!(nv[m->nversions].label = strdup(label)))
        return;
    nv[m->nversions++].count = 1;
}

static bool route_selected(const report_model *m, const char *name)
{
    if (m->opt->nroutes == 0)
        return true;
    for (size_t i = 0; i < m->opt->nroutes; i++)
        if (strcmp(m->opt->routes[i], name) == 0)
            return true;
    return false;
}

/* A leg's answer time when it got an HTTP answer (status an integer). */
static bool leg_duration(const json_t *leg, double *ms)
{
    const json_t *d = json_object_get(leg, "duration_ms");
    if (!json_is_integer(json_object_get(leg, "status")) || !json_is_number(d))
        return false;
    *ms = json_number_value(d);
    return isfinite(*ms) && *ms >= 0;
}

static bool leg_2xx(const json_t *leg)
{
    const json_t *s = json_object_get(leg, "status");
    return json_is_integer(s) && json_integer_value(s) >= 200 && json_integer_value(s) <= 299;
}

void report_endpoint_of(const json_t *rec, char *out, size_t size)
{
    const char *g = endpoint_group("default", str_member(rec, "endpoint"), str_member(rec, "method"),
                                   str_member(rec, "uri"), out, size);
    if (g != out)
        snprintf(out, size, "%s", g);
}

/* Whether a record's ts passes --since/--until; *ts, *has_ts: what it says. */
static bool in_time(report_model *m, const json_t *rec, int64_t *ts, bool *has_ts)
{
    *ts = 0;
    *has_ts = report_parse_time(str_member(rec, "ts"), 0, false, ts) == 0;
    if (!m->opt->has_since && !m->opt->has_until)
        return true;
    return *has_ts && !(m->opt->has_since && *ts < m->opt->since_ms) &&
           !(m->opt->has_until && *ts >= m->opt->until_ms);
}

static void note_ts(report_model *m, bool has_ts, int64_t ts)
{
    if (has_ts) {
        if (!m->has_ts || ts < m->ts_min)
            m->ts_min = ts;
        if (!m->has_ts || ts > m->ts_max)
            m->ts_max = ts;
        m->has_ts = true;
    } else {
        m->no_ts++;
    }
}

/* A record that counts exchanges (an exchange's, a not_mirrored count):
 * counted as read, its version noted, then --since/--until and --route.
 * Returns the route (for `default`, the endpoint) it counts in, the record
 * counted as used, its time in *ts and *has_ts; NULL when a filter leaves
 * it out (counted) or on no memory. */
static report_route *record_route(report_model *m, const json_t *rec, int64_t *ts, bool *has_ts)
{
    m->records++;
    count_version(m, json_object_get(rec, "v"));
    if (!in_time(m, rec, ts, has_ts)) {
        m->filtered_time++;
        return NULL;
    }
    const char *name = str_member(rec, "route");
    if (!name || !*name)
        name = REPORT_NO_ROUTE;
    bool selected = route_selected(m, name); /* --route default: all its endpoints */
    char endpoint[ENDPOINT_MAX];
    if (strcmp(name, "default") == 0) { /* no route matched: group by endpoint */
        report_endpoint_of(rec, endpoint, sizeof endpoint);
        name = endpoint;
        selected = selected || route_selected(m, name);
    }
    if (!selected) {
        m->filtered_route++;
        return NULL;
    }
    char *short_name = NULL; /* a hostile 10 MB name is kept short */
    if (strnlen(name, REPORT_NAME_MAX + 1) > REPORT_NAME_MAX && (short_name = report_strdup_max(name, REPORT_NAME_MAX)))
        name = short_name;
    report_route *r = route_get(m, name);
    free(short_name);
    if (!r)
        return NULL; /* out of memory: the record is not counted */
    m->used++;
    if (m->ninputs)
        m->inputs[m->ninputs - 1].used++;
    note_ts(m, *has_ts, *ts);
    return r;
}

/* A `not_mirrored` record: `count` exchanges of its route (for the route
 * `default`, of its endpoint) whose shadow was not sent by choice, verdict
 * skipped, in the window ending at its ts. In the tables as exchanges (no
 * answer times, no fields). */
static void add_not_mirrored(report_model *m, const json_t *rec)
{
    const json_t *cnt = json_object_get(rec, "count");
    uint64_t n = json_is_integer(cnt) && json_integer_value(cnt) > 0
                     ? (uint64_t)json_integer_value(cnt) : 0;
    m->not_mirrored_records++;
    int64_t ts;
    bool has_ts;
    report_route *r = record_route(m, rec, &ts, &has_ts); /* a record read, like any in `used` */
    if (!r)
        return;
    m->not_mirrored_exchanges += n;
    r->verdicts[RV_SKIPPED] += n;
    r->exchanges += n;
    if (has_ts)
        report_route_add_cell_n(r, ts, RV_SKIPPED, n);
}

void report_model_add(report_model *m, const json_t *rec)
{
    const char *type = str_member(rec, "type");
    if (type && strcmp(type, "not_mirrored") == 0) {
        add_not_mirrored(m, rec);
        return;
    }
    if (type && strcmp(type, "overload") == 0) { /* a count, not an exchange */
        const json_t *n = json_object_get(rec, "unlogged");
        m->overload_records++;
        if (json_is_integer(n) && json_integer_value(n) > 0)
            m->overload_unlogged += (uint64_t)json_integer_value(n);
        return;
    }
    enum report_verdict v = report_verdict_of(str_member(rec, "verdict"));
    m->matches_read += v == RV_MATCH;
    int64_t ts;
    bool has_ts;
    report_route *r = record_route(m, rec, &ts, &has_ts);
    if (!r)
        return;
    m->seq++;
    r->verdicts[v]++;
    r->exchanges++;
    int confirm = count_confirmation(r, rec);
    const json_t *legs[RS_COUNT];
    bool ok[RS_COUNT];
    for (int s = 0; s < RS_COUNT; s++) {
        legs[s] = json_object_get(rec, report_side_names[s]);
        if (!json_is_object(legs[s]))
            legs[s] = NULL;
        double ms;
        if (leg_duration(legs[s], &ms))
            report_floats_push(&r->lat[s], (float)ms);
        ok[s] = leg_2xx(legs[s]);
        r->ok2xx[s] += ok[s];
    }
    r->both2xx += ok[RS_LEGACY] && ok[RS_NEW];
    if (has_ts)
        report_route_add_cell(r, ts, v);
    const json_t *diffs = json_object_get(rec, "differences");
    if (json_is_array(diffs)) {
        report_route_add_diffs(r, diffs, str_member(rec, "id"), m->seq, confirm,
                               &m->nfields_total);
        const json_t *total = json_object_get(rec, "differences_total");
        if (json_is_integer(total) && json_integer_value(total) > (json_int_t)json_array_size(diffs))
            r->diffs_truncated++;
    }
    if (m->opt->nsums)
        report_route_add_sums(r, m->opt, legs, ok);
    report_route_add_sample(r, rec, v);
    if (m->opt->on_record)
        m->opt->on_record(m->opt->on_record_arg, rec, r->name);
}

static report_input *input_add(report_model *m, const char *path)
{
    if (m->ninputs == m->inputs_cap) {
        size_t nc = m->inputs_cap ? m->inputs_cap * 2 : 8;
        report_input *ni = realloc(m->inputs, nc * sizeof *ni);
        if (!ni)
            return NULL;
        m->inputs = ni;
        m->inputs_cap = nc;
    }
    report_input *in = &m->inputs[m->ninputs];
    memset(in, 0, sizeof *in);
    if (!(in->path = strdup(path)))
        return NULL;
    m->ninputs++;
    return in;
}

static void input_fail(report_input *in, const char *msg)
{
    in->failed = true;
    free(in->error);
    in->error = strdup(msg);
}

bool report_model_read(report_model *m, const char *path)
{
    report_input *in = input_add(m, path);
    if (!in)
        return false;
    struct stat st;
    if (strcmp(path, "-") != 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
        for (size_t i = 0; i + 1 < m->ninputs; i++)
            if (m->inputs[i].has_id && m->inputs[i].dev == (uint64_t)st.st_dev &&
                m->inputs[i].ino == (uint64_t)st.st_ino) {
                in->duplicate = true;
                return true;
            }
        in->has_id = true;
        in->dev = (uint64_t)st.st_dev;
        in->ino = (uint64_t)st.st_ino;
    }
    char err[512];
    logread *lr;
    if (logread_open(&lr, path, err, sizeof err) != 0) {
        input_fail(in, err);
        return false;
    }
    int rc;
    json_t *rec;
    while ((rc = logread_next(lr, &rec, err, sizeof err)) == 1) {
        report_model_add(m, rec);
        json_decref(rec);
    }
    in = &m->inputs[m->ninputs - 1];
    in->st = *logread_stats_of(lr);
    logread_close(lr);
    if (rc < 0) {
        input_fail(in, err);
        return false;
    }
    return true;
}

/* ---- finalize -------------------------------------------------------------------- */

static int route_cmp(const void *a, const void *b)
{
    const report_route *x = *(report_route *const *)a, *y = *(report_route *const *)b;
    if (x->exchanges != y->exchanges)
        return x->exchanges > y->exchanges ? -1 : 1;
    return strcmp(x->name, y->name);
}

void report_model_finalize(report_model *m)
{
    if (m->finalized)
        return;
    m->finalized = true;
    if (m->has_ts) {
        m->bucket_ms = report_bucket_width(m->ts_min, m->ts_max);
        m->bucket_start = report_floor_div(m->ts_min, m->bucket_ms) * m->bucket_ms;
        m->nbuckets = (size_t)(report_floor_div(m->ts_max, m->bucket_ms) -
                               report_floor_div(m->ts_min, m->bucket_ms) + 1);
    }
    if (m->nroutes > 1)
        qsort(m->routes, m->nroutes, sizeof *m->routes, route_cmp);
    free(m->route_index); /* order changed; lookups are linear from now on */
    m->route_index = NULL;
    m->route_index_cap = 0;
    m->total = report_route_new("(all routes)", m->opt->nsums);
    for (size_t i = 0; i < m->nroutes; i++) {
        report_route_finalize(m->routes[i], m);
        if (m->total && report_route_merge(m->total, m->routes[i], m) != 0) {
            report_route_free(m->total, m->opt->nsums);
            m->total = NULL;
        }
    }
    if (!m->total)
        m->total = report_route_new("(all routes)", m->opt->nsums); /* counters only */
    if (m->total) {
        report_route_sort_groups(m->total, m->opt->nsums);
        for (int s = 0; s < RS_COUNT; s++) {
            report_floats_sort(&m->total->lat[s]);
            m->total->latency[s].samples = m->total->lat[s].n;
            if (m->total->lat[s].n) {
                m->total->latency[s].p50 = report_quantile(m->total->lat[s].v, m->total->lat[s].n, 0.5);
                m->total->latency[s].p99 = report_quantile(m->total->lat[s].v, m->total->lat[s].n, 0.99);
            }
            report_floats_free(&m->total->lat[s]);
        }
    }
    for (size_t i = 0; i < m->nroutes; i++)
        for (int s = 0; s < RS_COUNT; s++)
            report_floats_free(&m->routes[i]->lat[s]);
}

bool report_model_has_matches(const report_model *m) { return m->matches_read > 0; }

const report_route *report_model_route(const report_model *m, const char *name)
{
    for (size_t i = 0; i < m->nroutes; i++)
        if (strcmp(m->routes[i]->name, name) == 0)
            return m->routes[i];
    return NULL;
}
