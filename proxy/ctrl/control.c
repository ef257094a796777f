/* control: see control.h. One mutex serialises changes; readers of the
 * hot path never take it (workers get snapshots through worker_set_*). */
#include "ctrl/control_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "data/analyzer.h"
#include "base/log.h"
#include "data/tls.h"
#include "obs/metrics.h"
#include "obs/metrics_faults.h"
#include "data/faults_live.h"
#include "conf/ops.h"
#include "conf/rules.h"
#include "data/worker.h"
#include "base/clock.h"
#include "base/drainsig.h"

#ifndef SP_VERSION
#define SP_VERSION "dev"
#endif


static double uptime_s(const control *c)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - c->started.tv_sec) +
           (double)(now.tv_nsec - c->started.tv_nsec) / 1e9;
}

/* The file as the process starts with it: a reload names the keys that
 * changed since (flags are not in it: they stay as given). Without it
 * (no file, or it changed and broke in the instant since main read it),
 * reloads compare with the running config. */
static void load_baseline(control *c)
{
    config_errors errs = {0};
    if (c->cfg->source_path && config_defaults(&c->baseline) == 0) {
        c->has_baseline = config_load_file(&c->baseline, c->cfg->source_path, &errs) == 0;
        if (!c->has_baseline)
            config_free(&c->baseline);
    }
    config_errors_free(&errs);
}

control *control_new(const sp_config *cfg, analyzer *an, rules *r, ops_state *o, store *st)
{
    control *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    pthread_mutex_init(&c->mu, NULL);
    c->cfg = cfg;
    c->an = an;
    c->rules = r;
    c->ops = o;
    c->st = st;
    clock_gettime(CLOCK_MONOTONIC, &c->started);
    atomic_init(&c->draining, false);
    atomic_init(&c->require_shadow, cfg->readiness_require_shadow);
    load_baseline(c);
    return c;
}

void control_attach_workers(control *c, worker *w, int n)
{
    pthread_mutex_lock(&c->mu);
    c->workers = w;
    c->nworkers = n;
    /* A change made while the workers were starting reached none of them:
     * hand everyone the current snapshots once more. */
    for (int i = 0; i < n; i++)
        if (!atomic_load(&w[i].exited)) {
            worker_set_rules(&w[i], rules_ref(c->rules));
            worker_set_ops(&w[i], ops_ref(c->ops));
        }
    pthread_mutex_unlock(&c->mu);
}

rules *control_rules(control *c)
{
    pthread_mutex_lock(&c->mu);
    rules *r = rules_ref(c->rules);
    pthread_mutex_unlock(&c->mu);
    return r;
}

ops_state *control_ops(control *c)
{
    pthread_mutex_lock(&c->mu);
    ops_state *o = ops_ref(c->ops);
    pthread_mutex_unlock(&c->mu);
    return o;
}

void control_free(control *c)
{
    if (!c)
        return;
    store_close(c->st); /* first: its watch thread applies changes through c */
    rules_unref(c->rules);
    ops_unref(c->ops);
    if (c->has_baseline)
        config_free(&c->baseline);
    free(c->restart_keys);
    json_decref(c->config_errors);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

const sp_config *control_config(control *c) { return c->cfg; }

struct live *control_live(control *c) { return analyzer_live(c->an); }

/* ---- state --------------------------------------------------------------- */

static sp_side effective_authority(const control *c, const route *rt)
{
    int a = ops_authority(c->ops, rt->name);
    if (a >= 0)
        return (sp_side)a;
    return rt->authority >= 0 ? (sp_side)rt->authority : c->cfg->authority;
}

static json_t *shadow_of(const control *c, const route *rt)
{
    double op = ops_sample(c->ops, rt ? rt->name : NULL);
    double pct = op >= 0 ? op : rt ? rt->sample_percent : 100;
    bool paused = ops_paused(c->ops, rt ? rt->name : NULL);
    bool on = c->cfg->shadow_enabled && !paused && (!rt || rt->mirror);
    return json_pack("{s:b, s:b, s:f}", "enabled", on, "paused", paused, "sample_percent", pct);
}

/* {"paused": bool, "retry_after_s": N (with a pause)}: effective. */
static json_t *writes_of(const control *c, const route *rt)
{
    int retry = 0;
    bool paused = ops_writes_paused(c->ops, rt ? rt->name : NULL, &retry);
    json_t *w = json_pack("{s:b}", "paused", paused);
    if (w && paused)
        json_object_set_new(w, "retry_after_s", json_integer(retry));
    return w;
}

bool control_has_route(control *c, const char *name)
{
    pthread_mutex_lock(&c->mu);
    bool found = rules_find(c->rules, name) != NULL;
    pthread_mutex_unlock(&c->mu);
    return found;
}

/* /state's "faults": {"enabled", "scope": "process", "rules": {route: [spec]}
 * (the rules file's), "live": faults_live_json()}. */
static json_t *faults_json(control *c)
{
    json_t *by_route = json_object();
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; by_route && i <= c->rules->nroutes; i++) {
        const route *rt = i < c->rules->nroutes ? &c->rules->routes[i] : &c->rules->fallback;
        json_t *a = rt->nfaults ? json_array() : NULL;
        for (size_t j = 0; a && j < rt->nfaults; j++)
            json_array_append_new(a, fault_spec_to_json(&rt->faults[j]));
        if (a)
            json_object_set_new(by_route, rt->name, a);
    }
    pthread_mutex_unlock(&c->mu);
    return json_pack("{s:b, s:s, s:o*, s:o*}", "enabled", c->cfg->faults_enabled, "scope",
                     "process", "rules", by_route, "live", faults_live_json());
}

json_t *control_state(control *c)
{
    pthread_mutex_lock(&c->mu);
    json_t *auth_routes = json_object(), *shadow_routes = json_object();
    json_t *writes_routes = json_object();
    for (size_t i = 0; i <= c->rules->nroutes; i++) {
        const route *rt = i < c->rules->nroutes ? &c->rules->routes[i] : &c->rules->fallback;
        json_object_set_new(auth_routes, rt->name,
                            json_string(config_side_name(effective_authority(c, rt))));
        json_object_set_new(shadow_routes, rt->name, shadow_of(c, rt));
        json_object_set_new(writes_routes, rt->name, writes_of(c, rt));
    }
    int ga = ops_authority(c->ops, NULL);
    json_t *breakers = json_array();
    static const char *const bstate[] = {"closed", "open", "half-open"};
    for (int i = 0; i < c->nworkers; i++)
        json_array_append_new(breakers, json_pack("{s:i, s:s}", "worker", i, "state",
                                                  bstate[worker_breaker_state(&c->workers[i])]));
    char loaded[40];
    clock_format_ts(c->rules->loaded_ms, loaded, sizeof loaded);
    json_t *verdicts = json_object();
    for (int v = 0; v < VERDICT_COUNT; v++)
        json_object_set_new(verdicts, verdict_name((verdict)v),
                            json_integer((json_int_t)metric_verdict_get((verdict)v)));
    json_t *st = json_pack(
        "{s:f, s:{s:s, s:o}, s:{s:o, s:o}, s:o, s:{s:s?, s:s, s:s, s:i}, s:o, s:{s:I, s:I, s:I, s:o}}",
        "uptime_s", uptime_s(c), "authority", "global",
        config_side_name(ga >= 0 ? (sp_side)ga : c->cfg->authority), "routes", auth_routes,
        "shadow", "global", shadow_of(c, NULL), "routes", shadow_routes, "operator",
        ops_to_json(c->ops), "rules", "path", c->cfg->rules_path, "version", c->rules->version,
        "loaded", loaded, "routes", (int)c->rules->nroutes, "breakers", breakers, "counts",
        "requests", (json_int_t)metric_get(METRIC_requests), "shadow_in_flight",
        (json_int_t)metric_get(METRIC_shadow_in_flight), "records_written",
        (json_int_t)metric_get(METRIC_records_written), "verdicts", verdicts);
    if (st)
        json_object_set_new(st, "writes",
                            json_pack("{s:o, s:o}", "global", writes_of(c, NULL), "routes",
                                      writes_routes));
    else
        json_decref(writes_routes);
    pthread_mutex_unlock(&c->mu);
    /* outside the lock: reading the fleet may take a moment (files, etcd) */
    if (st) {
        json_object_set_new(st, "faults", faults_json(c));
        json_object_set_new(st, "decisions", control_decisions_json(c));
        json_object_set_new(st, "fleet", control_fleet_json(c));
    }
    return st;
}

static json_t *errors_json(const char *path, const config_errors *e)
{
    json_t *a = json_array();
    for (size_t i = 0; i < e->n; i++) {
        char line[1200];
        json_array_append_new(a, json_string(config_error_text(path, &e->v[i], line,
                                                               sizeof line)));
    }
    return a;
}

static void log_errors(const char *event, const json_t *errors)
{
    size_t i;
    json_t *e;
    json_array_foreach(errors, i, e) log_event(LOG_ERROR, event, "error", json_string_value(e), NULL);
}

/* A changed key that a reload cannot apply: named in the log, the metric
 * and the reload's answer until the file has its start value again. */
static void note_restart_required(control *c, const sp_config *fresh, const char *who)
{
    size_t max = config_key_count(), n = 0;
    const char **changed = calloc(max ? max : 1, sizeof *changed);
    const char **pending = calloc(max ? max : 1, sizeof *pending);
    if (!changed || !pending) {
        free(changed);
        free(pending);
        return;
    }
    size_t nchanged =
        config_changed_keys(c->has_baseline ? &c->baseline : c->cfg, fresh, changed, max);
    char list[2048] = "";
    for (size_t i = 0; i < nchanged && i < max; i++) {
        if (config_key_reloadable(changed[i]) || config_key_from_flag(c->cfg, changed[i]))
            continue; /* applied now, or a flag wins whatever the file says */
        pending[n++] = changed[i];
        char dotted[128];
        config_dotted(changed[i], dotted, sizeof dotted);
        size_t at = strlen(list);
        snprintf(list + at, sizeof list - at, "%s%s", at ? "," : "", dotted);
    }
    pthread_mutex_lock(&c->mu);
    free(c->restart_keys);
    c->restart_keys = pending;
    c->nrestart_keys = n;
    pthread_mutex_unlock(&c->mu);
    free(changed);
    if (n > 0)
        log_event(LOG_WARN, "restart_required", "keys", list, "path", c->cfg->source_path,
                  "why", "changed in the config file; they take effect at the next start",
                  "who", who, NULL);
}

/* Re-reads the config file: the reloadable keys (docs/config.md, "Reload"
 * column) change now, unless a command-line flag set them; every other
 * changed key is named as restart_required. false when the file is
 * invalid (nothing changes; its errors are logged and kept for
 * control_config_report). */
static bool reload_config(control *c, const char *who)
{
    const sp_config *cur = c->cfg;
    if (!cur->source_path)
        return true;
    sp_config fresh;
    config_errors errs = {0};
    if (config_defaults(&fresh) != 0)
        return false;
    bool ok = config_load_file(&fresh, cur->source_path, &errs) == 0;
    if (!ok) {
        json_t *ej = errors_json(cur->source_path, &errs);
        log_errors("config_invalid", ej);
        log_event(LOG_ERROR, "config_reload_failed", "path", cur->source_path, "who", who, NULL);
        pthread_mutex_lock(&c->mu);
        json_decref(c->config_errors);
        c->config_errors = ej;
        pthread_mutex_unlock(&c->mu);
    } else {
        pthread_mutex_lock(&c->mu);
        json_decref(c->config_errors);
        c->config_errors = NULL;
        pthread_mutex_unlock(&c->mu);
        bool level_flag = config_key_from_flag(cur, "/log/level");
        bool mode_flag = config_key_from_flag(cur, "/diff_log/mode");
        log_level l;
        if (!level_flag && log_parse_level(fresh.log_level, &l) == 0)
            log_set_level(l);
        if (!mode_flag)
            analyzer_set_mode(c->an, fresh.diff_log_mode);
        atomic_store(&c->require_shadow, fresh.readiness_require_shadow);
        log_event(LOG_INFO, "config_reloaded", "path", cur->source_path, "log_level",
                  level_flag ? "(flag)" : fresh.log_level, "diff_log_mode",
                  mode_flag ? "(flag)" : fresh.diff_log_mode == DIFFLOG_ALL ? "all" : "mismatches",
                  "readiness_require_shadow", fresh.readiness_require_shadow ? "true" : "false",
                  "who", who, NULL);
        note_restart_required(c, &fresh, who);
    }
    config_errors_free(&errs);
    config_free(&fresh);
    return ok;
}

json_t *control_config_report(control *c)
{
    json_t *keys = json_array();
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; keys && i < c->nrestart_keys; i++) {
        char dotted[128];
        config_dotted(c->restart_keys[i], dotted, sizeof dotted);
        json_array_append_new(keys, json_string(dotted));
    }
    json_t *r = json_pack("{s:s?, s:b, s:O?, s:o}", "path", c->cfg->source_path, "ok",
                          c->config_errors == NULL, "errors", c->config_errors,
                          "restart_required", keys);
    pthread_mutex_unlock(&c->mu);
    return r;
}

size_t control_restart_keys(control *c, const char **out, size_t max)
{
    pthread_mutex_lock(&c->mu);
    size_t n = c->nrestart_keys;
    for (size_t i = 0; i < n && i < max; i++)
        out[i] = c->restart_keys[i];
    pthread_mutex_unlock(&c->mu);
    return n;
}

int control_reload(control *c, const char *who, json_t **errors)
{
    if (errors)
        *errors = NULL;
    const char *path = c->cfg->rules_path;
    reload_config(c, who);
    tls_reload(c->cfg, who); /* listener certificate; insecure-TLS warnings */
    control_reload_state(c, who);
    if (!path) {
        log_event(LOG_INFO, "rules_reload_skipped", "why", "no rules file configured", "who",
                  who, NULL);
        return 0;
    }
    config_errors errs = {0};
    rules *r = rules_load_file(path, &errs);
    if (r && rules_faults_refused(r, c->cfg->faults_enabled, &errs)) {
        rules_unref(r);
        r = NULL;
    }
    if (!r) {
        metric_add(METRIC_rules_reload_failed, 1);
        json_t *ej = errors_json(path, &errs);
        log_errors("rules_invalid", ej);
        config_errors_free(&errs);
        pthread_mutex_lock(&c->mu);
        log_event(LOG_ERROR, "rules_reload_failed", "path", path, "kept", c->rules->version,
                  "who", who, NULL);
        pthread_mutex_unlock(&c->mu);
        if (errors)
            *errors = ej;
        else
            json_decref(ej);
        return -EINVAL;
    }
    config_errors_free(&errs);
    pthread_mutex_lock(&c->mu);
    for (int i = 0; i < c->nworkers; i++)
        if (!atomic_load(&c->workers[i].exited))
            worker_set_rules(&c->workers[i], rules_ref(r));
    log_event(LOG_INFO, "rules_reloaded", "path", path, "old", c->rules->version, "new",
              r->version, "who", who, NULL);
    rules_unref(c->rules);
    c->rules = r;
    pthread_mutex_unlock(&c->mu);
    metric_add(METRIC_rules_reloaded, 1);
    return 0;
}

int control_set_log_level(control *c, const char *level, const char *who)
{
    (void)c;
    log_level l;
    if (!level || log_parse_level(level, &l) != 0)
        return -EINVAL;
    log_set_level(l);
    log_event(LOG_WARN, "log_level_changed", "level", level, "who", who, NULL);
    return 0;
}

json_t *control_ready(control *c, bool *ready)
{
    int err = analyzer_write_error(c->an);
    /* The signal handler's flag too: the main loop may not have had its
     * turn yet (busy with a reload, say) when the probe comes. */
    bool draining = atomic_load(&c->draining) || drainsig_received();
    int alive = 0;
    pthread_mutex_lock(&c->mu);
    for (int i = 0; i < c->nworkers; i++)
        alive += !atomic_load(&c->workers[i].exited);
    pthread_mutex_unlock(&c->mu);
    *ready = alive > 0 && !draining;
    return json_pack("{s:b, s:b, s:b, s:{s:b, s:s?}}", "listening", alive > 0, "draining",
                     draining, "rules", 1, "diff_log", "ok", err == 0, "error",
                     err ? strerror(err) : NULL);
}

void control_set_draining(control *c)
{
    atomic_store(&c->draining, true);
}

bool control_require_shadow(control *c)
{
    return atomic_load(&c->require_shadow);
}

void control_authoritative_sides(control *c, bool authoritative[2])
{
    authoritative[0] = authoritative[1] = false;
    pthread_mutex_lock(&c->mu);
    int ga = ops_authority(c->ops, NULL);
    authoritative[ga >= 0 ? ga : (int)c->cfg->authority] = true;
    for (size_t i = 0; i <= c->rules->nroutes; i++) {
        const route *rt = i < c->rules->nroutes ? &c->rules->routes[i] : &c->rules->fallback;
        authoritative[effective_authority(c, rt)] = true;
    }
    pthread_mutex_unlock(&c->mu);
}

char *control_metrics(control *c, size_t *len)
{
    pthread_mutex_lock(&c->mu);
    rules *r = rules_ref(c->rules);
    ops_state *o = ops_ref(c->ops);
    int nw = c->nworkers;
    metrics_breaker *breakers = calloc((size_t)(nw > 0 ? nw : 1), sizeof *breakers);
    for (int i = 0; breakers && i < nw; i++)
        breakers[i] = (metrics_breaker)worker_breaker_state(&c->workers[i]);
    pthread_mutex_unlock(&c->mu);
    store_status ds = {.up = true};
    if (c->st)
        store_get_status(c->st, &ds);
    metrics_route_state *routes = calloc(r->nroutes + 1, sizeof *routes);
    size_t maxkeys = config_key_count();
    const char **restart = calloc(maxkeys ? maxkeys : 1, sizeof *restart);
    size_t nrestart = restart ? control_restart_keys(c, restart, maxkeys) : 0;
    analyzer_comparer_stats cs[64];
    size_t ncs = c->an ? analyzer_comparers(c->an, cs, sizeof cs / sizeof cs[0]) : 0;
    metrics_comparer comparers[64];
    for (size_t i = 0; i < ncs; i++)
        comparers[i] = (metrics_comparer){
            .queue_depth = cs[i].queue_depth,
            .busy_seconds = cs[i].busy_seconds,
            .share = cs[i].share,
            .yielding = cs[i].yielding,
        };
    double busy[ANALYZER_MAX_WORKERS];
    size_t nbusy = c->an ? analyzer_worker_busy_ratios(c->an, busy, (size_t)(nw > 0 ? nw : 0)) : 0;
    char *text = NULL;
    if (routes && breakers) {
        const control view = {.cfg = c->cfg, .ops = o};
        for (size_t i = 0; i <= r->nroutes; i++) {
            const route *rt = i < r->nroutes ? &r->routes[i] : &r->fallback;
            double op = ops_sample(o, rt->name);
            routes[i] = (metrics_route_state){
                .route = rt->name,
                .authority = effective_authority(&view, rt),
                .shadow_paused = ops_paused(o, rt->name),
                .sample_percent = op >= 0 ? op : rt->sample_percent,
                .writes_paused = ops_writes_paused(o, rt->name, NULL),
            };
        }
        int ga = ops_authority(o, NULL);
        double gs = ops_sample(o, NULL);
        metrics_render_input in = {
            .version = SP_VERSION,
            .uptime_seconds = uptime_s(c),
            .authority = ga >= 0 ? (sp_side)ga : c->cfg->authority,
            .shadow_paused = ops_paused(o, NULL),
            .sample_percent = gs >= 0 ? gs : 100,
            .writes_paused = ops_writes_paused(o, NULL, NULL),
            .routes = routes,
            .nroutes = r->nroutes + 1,
            .breakers = breakers,
            .nbreakers = (size_t)nw,
            .comparers = comparers,
            .ncomparers = ncs,
            .worker_busy = busy,
            .nworker_busy = nbusy,
            .rules_version = r->version,
            .rules_loaded_unix = (double)r->loaded_ms / 1000.0,
            .restart_keys = restart,
            .nrestart_keys = nrestart < maxkeys ? nrestart : maxkeys,
            .decisions_store = c->st ? ds.name : NULL,
            .decisions_up = ds.up,
            .decisions_revision = o->revision,
            .decisions_last_sync_unix = (double)ds.last_sync_ms / 1000.0,
            .decisions_warnings = ds.warnings,
        };
        size_t n = 0;
        text = metrics_render(&in, &n);
        if (text && metrics_faults_append(&text, &n) != 0) {
            free(text);
            text = NULL;
        }
        if (len)
            *len = n;
    }
    free(routes);
    free(restart);
    free(breakers);
    rules_unref(r);
    ops_unref(o);
    return text;
}
