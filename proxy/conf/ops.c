/* ops: the operator's decisions as an immutable, refcounted snapshot, and
 * the state file that keeps them across restarts.
 *
 *   admin API / state file ─► ops_with / ops_load ─► new snapshot ─► workers
 *   workers: ops_authority / ops_paused / ops_sample (bsearch, no allocation)
 *   ops_save: JSON ─► PATH.tmp.PID.XXXXXX ─► fsync ─► rename ─► fsync(dir)
 *
 * Parse errors cite line:column (jsonpos over the text jansson accepted) in
 * the config loader's style: "routes.orders-get.authority must be "legacy"
 * or "new", got "x"". */
#include "conf/ops.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/jsonpos.h"
#include "conf/jsonread.h"
#include "base/refcount.h"

/* Messages quote user text up to 96 bytes (jsonpos.h). */
static void quote(const char *s, char *buf, size_t size) { jsonpos_quote(s, 96, buf, size); }
static const char *type_name(const json_t *v) { return jsonpos_type_name(v); }
static void show(const json_t *v, char *buf, size_t size) { jsonpos_show(v, 96, buf, size); }
#include "base/clock.h"

#define NAME_MAX_LEN 64

static const ops_decision no_decision = {OPS_UNSET, OPS_UNSET, -1.0, OPS_UNSET, OPS_UNSET};

static bool decision_empty(const ops_decision *d)
{
    return d->authority < 0 && d->paused < 0 && !(d->sample_percent >= 0) &&
           d->writes_paused < 0;
}

/* A sample percentage (0..100) kept to 6 decimal places (plenty for
 * sampling, and short in the state file); -0.0 becomes 0. Idempotent. No
 * libm: the build does not link it. */
static double percent(double p)
{
    return (double)(long long)(p * 1e6 + 0.5) / 1e6;
}

static bool decision_equal(const ops_decision *a, const ops_decision *b)
{
    bool sa = a->sample_percent >= 0, sb = b->sample_percent >= 0;
    return a->authority == b->authority && a->paused == b->paused && sa == sb &&
           (!sa || a->sample_percent == b->sample_percent) &&
           a->writes_paused == b->writes_paused && a->retry_after_s == b->retry_after_s;
}

/* --- snapshots ------------------------------------------------------------ */

ops_state *ops_new(void)
{
    ops_state *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    atomic_init(&o->refs, 1);
    o->global = no_decision;
    return o;
}

ops_state *ops_ref(ops_state *o)
{
    if (o)
        refcount_inc(&o->refs);
    return o;
}

void ops_unref(ops_state *o)
{
    if (!o || !refcount_dec(&o->refs))
        return;
    for (size_t i = 0; i < o->nroutes; i++)
        free(o->routes[i].name);
    free(o->routes);
    free(o);
}

bool ops_route_name_ok(const char *name)
{
    size_t n = 0;
    if (!name)
        return false;
    for (; name[n]; n++) {
        char c = name[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return false;
    }
    return n >= 1 && n <= NAME_MAX_LEN;
}

/* The first index whose name is >= name (the insertion point). */
static size_t lower_bound(const ops_state *o, const char *name)
{
    size_t lo = 0, hi = o->nroutes;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(o->routes[mid].name, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The route's own decisions, or NULL. Per request: no allocation. */
static const ops_decision *find(const ops_state *o, const char *route)
{
    if (!o || !route || !o->nroutes)
        return NULL;
    size_t i = lower_bound(o, route);
    return i < o->nroutes && strcmp(o->routes[i].name, route) == 0
               ? &o->routes[i].d
               : NULL;
}

int ops_authority(const ops_state *o, const char *route)
{
    const ops_decision *d = find(o, route);
    if (d && d->authority >= 0)
        return d->authority;
    return o && o->global.authority >= 0 ? o->global.authority : OPS_UNSET;
}

bool ops_paused(const ops_state *o, const char *route)
{
    const ops_decision *d = find(o, route);
    if (d && d->paused >= 0)
        return d->paused == 1;
    return o && o->global.paused == 1;
}

double ops_sample(const ops_state *o, const char *route)
{
    const ops_decision *d = find(o, route);
    if (d && d->sample_percent >= 0)
        return d->sample_percent;
    return o && o->global.sample_percent >= 0 ? o->global.sample_percent : -1.0;
}

bool ops_writes_paused(const ops_state *o, const char *route, int *retry_after)
{
    const ops_decision *d = find(o, route);
    if (!d || d->writes_paused < 0)
        d = o ? &o->global : NULL;
    if (!d || d->writes_paused != 1)
        return false;
    if (retry_after)
        *retry_after = d->retry_after_s > 0 ? d->retry_after_s : OPS_RETRY_AFTER_DEFAULT;
    return true;
}

bool ops_is_write_method(const char *method)
{
    static const char *const writes[] = {"POST", "PUT", "PATCH", "DELETE"};
    for (size_t i = 0; method && i < sizeof writes / sizeof writes[0]; i++)
        if (strcmp(method, writes[i]) == 0)
            return true;
    return false;
}

ops_decision ops_get(const ops_state *o, const char *route)
{
    const ops_decision *d = route ? find(o, route) : o ? &o->global : NULL;
    return d ? *d : no_decision;
}

bool ops_equal(const ops_state *a, const ops_state *b)
{
    const ops_decision *ga = a ? &a->global : &no_decision;
    const ops_decision *gb = b ? &b->global : &no_decision;
    size_t na = a ? a->nroutes : 0, nb = b ? b->nroutes : 0;
    if (!decision_equal(ga, gb) || na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (strcmp(a->routes[i].name, b->routes[i].name) != 0 ||
            !decision_equal(&a->routes[i].d, &b->routes[i].d))
            return false;
    return true;
}

/* --- ops_with ------------------------------------------------------------- */

static bool change_ok(int authority, int paused, double sample)
{
    bool a = authority == OPS_UNSET || authority == OPS_CLEAR ||
             authority == SIDE_LEGACY || authority == SIDE_NEW;
    bool p = paused >= OPS_CLEAR && paused <= 1;
    return a && p && !isnan(sample) && sample <= 100;
}

static void change(ops_decision *d, int authority, int paused, double sample)
{
    if (authority != OPS_UNSET)
        d->authority = authority == OPS_CLEAR ? OPS_UNSET : authority;
    if (paused != OPS_UNSET)
        d->paused = paused == OPS_CLEAR ? OPS_UNSET : paused;
    if (sample == OPS_CLEAR)
        d->sample_percent = -1.0;
    else if (sample >= 0)
        d->sample_percent = percent(sample);
}

/* Appends a route (name copied); false on no memory. The array has room. */
static bool push(ops_state *o, const char *name, const ops_decision *d)
{
    char *copy = strdup(name);
    if (!copy)
        return false;
    o->routes[o->nroutes].name = copy;
    o->routes[o->nroutes].d = *d;
    o->nroutes++;
    return true;
}

/* The end of building a changed copy n of o: stamped, or freed (ENOMEM). */
static ops_state *finish(ops_state *n, bool ok, const ops_state *o)
{
    if (!ok) {
        ops_unref(n);
        errno = ENOMEM;
        return NULL;
    }
    n->changed_ms = clock_wall_ms();
    n->revision = o ? o->revision : 0;
    return n;
}

/* One scope's change: what ops_with or ops_with_writes asked for. */
typedef struct scope_change {
    int authority, paused;
    double sample;
    int writes_paused, retry_after_s; /* OPS_UNSET: unchanged */
} scope_change;

static void apply_change(ops_decision *d, const scope_change *c)
{
    change(d, c->authority, c->paused, c->sample);
    if (c->writes_paused == OPS_CLEAR || c->writes_paused == 0) {
        d->writes_paused = c->writes_paused == 0 ? 0 : OPS_UNSET;
        d->retry_after_s = OPS_UNSET;
    } else if (c->writes_paused == 1) {
        d->writes_paused = 1;
        d->retry_after_s = c->retry_after_s;
    }
}

/* A copy of o with one scope changed (the checks are the caller's). */
static ops_state *with_change(const ops_state *o, const char *route, const scope_change *c)
{
    if (route && !ops_route_name_ok(route)) {
        errno = EINVAL;
        return NULL;
    }
    size_t have = o ? o->nroutes : 0, pos = 0;
    bool found = false;
    ops_state *n = ops_new();
    if (!n || !(n->routes = calloc(have + 1, sizeof *n->routes))) {
        ops_unref(n);
        errno = ENOMEM;
        return NULL;
    }
    n->global = o ? o->global : no_decision;
    ops_decision d = no_decision;
    if (!route) {
        apply_change(&n->global, c);
    } else {
        pos = o ? lower_bound(o, route) : 0;
        found = pos < have && strcmp(o->routes[pos].name, route) == 0;
        if (found)
            d = o->routes[pos].d;
        apply_change(&d, c);
    }
    bool ok = true;
    for (size_t i = 0; ok && i <= have; i++) {
        if (route && i == pos && !decision_empty(&d))
            ok = push(n, route, &d);
        if (ok && i < have && !(found && i == pos))
            ok = push(n, o->routes[i].name, &o->routes[i].d);
    }
    return finish(n, ok, o);
}

ops_state *ops_with(const ops_state *o, const char *route, int authority,
                    int paused, double sample_percent)
{
    if (!change_ok(authority, paused, sample_percent)) {
        errno = EINVAL;
        return NULL;
    }
    scope_change c = {authority, paused, sample_percent, OPS_UNSET, OPS_UNSET};
    return with_change(o, route, &c);
}

ops_state *ops_with_writes(const ops_state *o, const char *route, int paused, int retry_after_s)
{
    bool ok = paused == OPS_CLEAR || paused == 0 ||
              (paused == 1 && (retry_after_s == OPS_UNSET ||
                               (retry_after_s >= 1 && retry_after_s <= OPS_RETRY_AFTER_MAX)));
    if (!ok) {
        errno = EINVAL;
        return NULL;
    }
    scope_change c = {OPS_UNSET, OPS_UNSET, -1.0, paused, paused == 1 ? retry_after_s : OPS_UNSET};
    return with_change(o, route, &c);
}

ops_state *ops_without_route_authority(const ops_state *o, json_t *cleared)
{
    ops_state *n = ops_new();
    size_t have = o ? o->nroutes : 0;
    bool ok = n && (n->routes = calloc(have + 1, sizeof *n->routes));
    if (ok && o)
        n->global = o->global;
    for (size_t i = 0; ok && i < have; i++) {
        ops_decision d = o->routes[i].d;
        if (d.authority >= 0 && cleared)
            ok = !json_array_append_new(cleared, json_string(o->routes[i].name));
        d.authority = OPS_UNSET;
        if (ok && !decision_empty(&d))
            ok = push(n, o->routes[i].name, &d);
    }
    return finish(n, ok, o);
}

/* --- to JSON -------------------------------------------------------------- */

/* 50 rather than 50.0 when whole. */
static json_t *percent_json(double p)
{
    if (p == (double)(json_int_t)p)
        return json_integer((json_int_t)p);
    return json_real(p);
}

static json_t *decision_json(const ops_decision *d)
{
    json_t *j = json_object(), *sh = json_object();
    bool ok = j && sh;
    if (ok && d->authority >= 0)
        ok = !json_object_set_new(j, "authority",
                                  json_string(config_side_name(d->authority)));
    if (ok && d->paused >= 0)
        ok = !json_object_set_new(sh, "paused", json_boolean(d->paused == 1));
    if (ok && d->sample_percent >= 0)
        ok = !json_object_set_new(sh, "sample_percent",
                                  percent_json(d->sample_percent));
    if (ok && json_object_size(sh))
        ok = !json_object_set(j, "shadow", sh);
    json_decref(sh);
    if (ok && d->writes_paused >= 0) {
        json_t *w = json_pack("{s:b}", "paused", d->writes_paused == 1);
        if (w && d->retry_after_s > 0)
            json_object_set_new(w, "retry_after_s", json_integer(d->retry_after_s));
        ok = w && !json_object_set_new(j, "writes", w);
    }
    if (!ok) {
        json_decref(j);
        return NULL;
    }
    return j;
}

json_t *ops_to_json(const ops_state *o)
{
    char ts[32];
    const ops_decision *g = o ? &o->global : &no_decision;
    json_t *j = json_object(), *routes = json_object();
    bool ok = j && routes && !json_object_set_new(j, "version", json_integer(1));
    if (ok && o && o->revision > 0)
        ok = !json_object_set_new(j, "revision", json_integer((json_int_t)o->revision));
    if (ok && o && o->changed_ms) {
        clock_format_ts(o->changed_ms, ts, sizeof ts);
        ok = !json_object_set_new(j, "changed", json_string(ts));
    }
    ok = ok && !json_object_set_new(j, "global", decision_json(g));
    for (size_t i = 0; ok && o && i < o->nroutes; i++)
        ok = !json_object_set_new(routes, o->routes[i].name,
                                  decision_json(&o->routes[i].d));
    ok = ok && !json_object_set(j, "routes", routes);
    json_decref(routes);
    if (!ok) {
        json_decref(j);
        return NULL;
    }
    return j;
}

/* --- from JSON: reporting ------------------------------------------------- */

/* The state file being read, and where a value is (conf/jsonread.h). */
typedef jr_doc ctx;
typedef jr_loc loc;
#define child jr_child
#define report jr_report

/* --- from JSON: keys ------------------------------------------------------ */

static const char *const top_keys[] = {"version", "revision", "changed", "global",
                                       "routes", NULL};
static const char *const scope_keys[] = {"authority", "shadow", "writes", NULL};
static const char *const writes_keys[] = {"paused", "retry_after_s", NULL};
static const char *const shadow_keys[] = {"paused", "sample_percent", NULL};

/* Where a key written at the wrong level belongs: under `prefix` (a dotted
 * name) when it is one of `keys`. A list ends with keys NULL. */
typedef struct hint {
    const char *prefix;
    const char *const *keys;
} hint;

/* The place a hint gives for a key written at the wrong level (after no
 * sibling within edit distance 2). */
static bool hint_place(const void *hints, const loc *at, const char *const *names,
                       const char *key, char *buf, size_t size)
{
    (void)at;
    (void)names;
    for (const hint *h = hints; h && h->keys; h++)
        if (jr_listed(h->keys, key)) {
            snprintf(buf, size, "%s.%s", h->prefix, key);
            return true;
        }
    return false;
}

static void check_keys(ctx *x, json_t *obj, const loc *at,
                       const char *const *names, const hint *hints)
{
    jr_unknown_keys(x, obj, at, names, 96, hint_place, hints);
}

/* --- from JSON: values ---------------------------------------------------- */

static bool is_object(ctx *x, const json_t *v, const loc *at)
{
    if (json_is_object(v))
        return true;
    report(x, at, false, "%s must be an object, got %s", at->name,
           type_name(v));
    return false;
}

/* A "shadow" or "writes" object: false when it is not an object (said);
 * its keys checked against `keys`; its "paused" into *paused (0 or 1). */
static bool open_section(ctx *x, json_t *v, const loc *at, const loc *scope,
                         const char *const *keys, int *paused)
{
    const hint hints[] = {{scope->name, scope_keys}, {NULL, NULL}};
    json_t *e;
    loc l;
    if (!is_object(x, v, at))
        return false;
    check_keys(x, v, at, keys, hints);
    if ((e = json_object_get(v, "paused"))) {
        child(&l, at, "paused");
        if (json_is_boolean(e))
            *paused = json_is_true(e) ? 1 : 0;
        else
            report(x, &l, false, "%s must be true or false, got %s", l.name,
                   type_name(e));
    }
    return true;
}

static void load_shadow(ctx *x, json_t *v, const loc *at, const loc *scope,
                        ops_decision *d)
{
    char got[128];
    json_t *e;
    loc l;
    if (!open_section(x, v, at, scope, shadow_keys, &d->paused))
        return;
    if ((e = json_object_get(v, "sample_percent"))) {
        child(&l, at, "sample_percent");
        double p = json_number_value(e);
        if (!json_is_number(e)) {
            report(x, &l, false, "%s must be a number, got %s", l.name,
                   type_name(e));
        } else if (!isfinite(p) || p < 0 || p > 100) {
            show(e, got, sizeof got);
            report(x, &l, false, "%s must be between 0 and 100, got %s",
                   l.name, got);
        } else {
            d->sample_percent = percent(p);
        }
    }
}

/* "writes": {"paused": true, "retry_after_s": 30} (the seconds only with a
 * pause). */
static void load_writes(ctx *x, json_t *v, const loc *at, const loc *scope, ops_decision *d)
{
    char got[128];
    json_t *e;
    loc l;
    if (!open_section(x, v, at, scope, writes_keys, &d->writes_paused))
        return;
    if ((e = json_object_get(v, "retry_after_s"))) {
        child(&l, at, "retry_after_s");
        if (!json_is_integer(e) || json_integer_value(e) < 1 ||
            json_integer_value(e) > OPS_RETRY_AFTER_MAX) {
            show(e, got, sizeof got);
            report(x, &l, false, "%s must be a whole number of seconds from 1 to %d, got %s",
                   l.name, OPS_RETRY_AFTER_MAX, got);
        } else if (d->writes_paused != 1) {
            report(x, &l, false, "%s goes with \"paused\": true only", l.name);
        } else {
            d->retry_after_s = (int)json_integer_value(e);
        }
    }
}

/* "global" or one route: {"authority": ..., "shadow": {...}, "writes": {...}}. */
static void load_scope(ctx *x, json_t *v, const loc *at, ops_decision *d)
{
    char shadow[sizeof at->name + 8], got[128];
    json_t *e;
    loc l;
    snprintf(shadow, sizeof shadow, "%s.shadow", at->name);
    const hint hints[] = {{shadow, shadow_keys}, {NULL, NULL}};
    if (!is_object(x, v, at))
        return;
    check_keys(x, v, at, scope_keys, hints);
    if ((e = json_object_get(v, "authority"))) {
        sp_side side;
        child(&l, at, "authority");
        if (json_is_string(e) &&
            config_parse_side(json_string_value(e), &side) == 0) {
            d->authority = (int)side;
        } else {
            show(e, got, sizeof got);
            report(x, &l, false, "%s must be \"legacy\" or \"new\", got %s",
                   l.name, got);
        }
    }
    if ((e = json_object_get(v, "shadow"))) {
        child(&l, at, "shadow");
        load_shadow(x, e, &l, at, d);
    }
    if ((e = json_object_get(v, "writes"))) {
        child(&l, at, "writes");
        load_writes(x, e, &l, at, d);
    }
}

static int route_cmp(const void *a, const void *b)
{
    return strcmp(((const ops_route *)a)->name, ((const ops_route *)b)->name);
}

static void load_routes(ctx *x, json_t *v, const loc *at, ops_state *o)
{
    const char *key;
    char got[256];
    json_t *e;
    if (!json_is_object(v)) {
        report(x, at, false,
               "%s must be an object of route names to decisions, got %s",
               at->name, type_name(v));
        return;
    }
    if (!(o->routes = calloc(json_object_size(v) + 1, sizeof *o->routes))) {
        x->rc = -ENOMEM;
        return;
    }
    json_object_foreach(v, key, e) {
        ops_decision d = no_decision;
        loc l;
        child(&l, at, key);
        if (!ops_route_name_ok(key)) {
            quote(key, got, sizeof got);
            report(x, &l, true,
                   "route names must be 1 to 64 letters, digits, '.', '-' or "
                   "'_', got %s",
                   got);
            continue;
        }
        load_scope(x, e, &l, &d);
        if (!decision_empty(&d) && !push(o, key, &d))
            x->rc = -ENOMEM;
    }
    qsort(o->routes, o->nroutes, sizeof *o->routes, route_cmp);
}

/* --- RFC 3339 ------------------------------------------------------------- */

/* n decimal digits at s (stops at the first non-digit: never reads past a
 * NUL); -1 when they are not all digits. */
static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* "2026-11-24T13:41:22.123Z", "2026-11-24T14:41:22+01:00": Unix ms. */
static bool parse_time(const char *s, int64_t *out)
{
    int y = digits(s, 4), mo, d, h, mi, se, ms = 0, off = 0;
    if (y < 0 || s[4] != '-' || (mo = digits(s + 5, 2)) < 1 || mo > 12 ||
        s[7] != '-' || (d = digits(s + 8, 2)) < 1 ||
        d > clock_days_in_month(y, mo) || (s[10] != 'T' && s[10] != 't') ||
        (h = digits(s + 11, 2)) < 0 || h > 23 || s[13] != ':' ||
        (mi = digits(s + 14, 2)) < 0 || mi > 59 || s[16] != ':' ||
        (se = digits(s + 17, 2)) < 0 || se > 60)
        return false;
    const char *p = s + 19;
    if (*p == '.') {
        int n = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, n++)
            if (n < 3)
                ms = ms * 10 + (*p - '0');
        if (n == 0)
            return false;
        for (; n < 3; n++)
            ms *= 10;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh = digits(p + 1, 2), om;
        if (oh < 0 || oh > 23 || p[3] != ':' || (om = digits(p + 4, 2)) < 0 ||
            om > 59)
            return false;
        off = (*p == '-' ? -1 : 1) * (oh * 60 + om);
        p += 6;
    } else {
        return false;
    }
    if (*p)
        return false;
    if (se == 60)
        se = 59; /* a leap second: the instant just before */
    int64_t secs = clock_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 +
                   se - (int64_t)off * 60;
    *out = secs * 1000 + ms;
    return true;
}

/* --- from JSON: the whole text -------------------------------------------- */

static void load_top(ctx *x, json_t *root, ops_state *o)
{
    static const hint hints[] = {{"global", scope_keys},
                                 {"global.shadow", shadow_keys},
                                 {"global.writes", writes_keys},
                                 {NULL, NULL}};
    loc top = {"", "", false}, l;
    char got[128];
    json_t *e;
    if (!json_is_object(root)) {
        report(x, &top, false, "the top level must be an object, got %s",
               type_name(root));
        return;
    }
    check_keys(x, root, &top, top_keys, hints);
    child(&l, &top, "version");
    if (!(e = json_object_get(root, "version"))) {
        report(x, &top, false,
               "version is required: add \"version\": 1 (the format of this "
               "file)");
    } else if (!json_is_integer(e) || json_integer_value(e) != 1) {
        show(e, got, sizeof got);
        report(x, &l, false, "version must be 1, got %s", got);
    }
    if ((e = json_object_get(root, "revision"))) {
        child(&l, &top, "revision");
        if (json_is_integer(e) && json_integer_value(e) >= 0) {
            o->revision = (int64_t)json_integer_value(e);
        } else {
            show(e, got, sizeof got);
            report(x, &l, false, "revision must be a whole number >= 0, got %s", got);
        }
    }
    if ((e = json_object_get(root, "changed"))) {
        child(&l, &top, "changed");
        const char *ts = json_string_value(e);
        if (!ts || !parse_time(ts, &o->changed_ms)) {
            show(e, got, sizeof got);
            report(x, &l, false,
                   "changed must be an RFC 3339 time like "
                   "\"2026-11-24T13:41:22.123Z\", got %s",
                   got);
        }
    }
    if ((e = json_object_get(root, "global"))) {
        child(&l, &top, "global");
        load_scope(x, e, &l, &o->global);
    }
    if ((e = json_object_get(root, "routes"))) {
        child(&l, &top, "routes");
        load_routes(x, e, &l, o);
    }
}


ops_state *ops_from_json_text(const char *text, size_t len, config_errors *errs)
{
    size_t before = errs->n;
    ctx x;
    json_t *root = jr_open(&x, errs, text, len, OPS_MAX_FILE_BYTES, "1 MiB");
    if (!root && !x.rc)
        return NULL; /* empty, too large or not JSON: said why */
    ops_state *o = ops_new();
    if (!o)
        x.rc = -ENOMEM;
    else if (root)
        load_top(&x, root, o);
    json_decref(root);
    if (x.rc == -ENOMEM)
        config_errors_add(errs, 0, 0, "out of memory");
    config_errors_sort(errs, before);
    if (x.rc || errs->n > before) {
        ops_unref(o);
        return NULL;
    }
    return o;
}
