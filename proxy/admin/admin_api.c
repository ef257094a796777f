/* admin_api: the admin API's JSON endpoints (docs/operations.md,
 * "Endpoints"): health, readiness, state, the operator's changes, reload,
 * metrics, the log level, and the dashboard's /api/live and /api/recent.
 * Every change goes through control_*, with rq->who ("token:NAME from
 * IP:PORT") as who; the decisions (admin_decide.c) with a control_who.
 * Authorization happened before a handler runs (admin.c). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin_int.h"
#include "obs/live.h"
#include "conf/rules.h"
#include "base/log.h"
#include "obs/metrics.h"
#include "data/probe.h"
#include "base/clock.h"

admin_reply admin_json_reply(unsigned status, json_t *j)
{
    return (admin_reply){.status = status, .json = j};
}

/* {"error": message} */
admin_reply admin_error_reply(unsigned status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return admin_json_reply(status, json_pack("{s:s}", "error", msg));
}

/* ---- JSON request bodies ---------------------------------------------------- */

/* Parses the body as a JSON object whose keys are all in `allowed`
 * (NULL-terminated). NULL with *r set to a 400 otherwise. */
json_t *admin_body_object(const admin_req *rq, const char *const *allowed, admin_reply *r)
{
    json_error_t e;
    if (rq->len == 0) {
        *r = admin_error_reply(400, "the request body must be a JSON object");
        return NULL;
    }
    json_t *o = json_loadb(rq->body, rq->len, JSON_REJECT_DUPLICATES, &e);
    if (!o) {
        *r = admin_error_reply(400, "invalid JSON at line %d, column %d: %s", e.line, e.column, e.text);
        return NULL;
    }
    if (!json_is_object(o)) {
        json_decref(o);
        *r = admin_error_reply(400, "the request body must be a JSON object");
        return NULL;
    }
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        bool known = false;
        for (const char *const *p = allowed; *p && !known; p++)
            known = strcmp(*p, k) == 0;
        if (!known) {
            char list[256] = "";
            for (const char *const *p = allowed; *p; p++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s\"%s\"",
                         p == allowed ? "" : ", ", *p);
            *r = admin_error_reply(400, "unknown key \"%s\" (expected %s)", k, list);
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

/* The optional "route": a non-empty string, or absent/null (global). */
bool admin_body_route(json_t *o, const char **name, admin_reply *r)
{
    json_t *v = json_object_get(o, "route");
    *name = NULL;
    if (!v || json_is_null(v))
        return true;
    if (!json_is_string(v) || json_string_length(v) == 0) {
        *r = admin_error_reply(400, "\"route\" must be a route name (a non-empty string), or absent for all routes");
        return false;
    }
    *name = json_string_value(v);
    return true;
}

/* ---- endpoints -------------------------------------------------------------- */

admin_reply admin_h_healthz(admin *a, admin_req *rq)
{
    (void)a, (void)rq;
    return admin_json_reply(200, json_pack("{s:s}", "status", "ok"));
}

admin_reply admin_h_state(admin *a, admin_req *rq)
{
    (void)rq;
    json_t *s = control_state(a->c);
    return s ? admin_json_reply(200, s) : admin_error_reply(500, "out of memory");
}

admin_reply admin_h_metrics(admin *a, admin_req *rq)
{
    (void)rq;
    size_t len = 0;
    char *text = control_metrics(a->c, &len);
    if (!text)
        return admin_error_reply(500, "out of memory");
    return (admin_reply){.status = 200, .text = text, .len = len,
                   .ctype = "text/plain; version=0.0.4; charset=utf-8"};
}

static json_t *rules_version(json_t *state)
{
    json_t *v = json_object_get(json_object_get(state, "rules"), "version");
    return v ? json_deep_copy(v) : json_null();
}

admin_reply admin_h_reload(admin *a, admin_req *rq)
{
    if (rq->len > 0) {
        static const char *const none[] = {NULL};
        admin_reply r;
        json_t *o = admin_body_object(rq, none, &r); /* accept {} only */
        if (!o)
            return r;
        json_decref(o);
    }
    json_t *before = control_state(a->c), *errors = NULL;
    int rc = control_reload(a->c, rq->who, &errors);
    admin_reply r;
    if (rc == 0) {
        json_t *after = control_state(a->c);
        r = admin_json_reply(200, json_pack("{s:b, s:s, s:{s:o}, s:{s:o}, s:o}", "ok", 1,
                                            "message", "rules reloaded", "old", "version",
                                            rules_version(before), "new", "version",
                                            rules_version(after), "config",
                                            control_config_report(a->c)));
        json_decref(after);
    } else if (rc == -EINVAL) {
        r = admin_json_reply(422, json_pack("{s:s, s:o}", "error",
                                      "the rules file is invalid; the old rules stay in use",
                                      "errors", errors ? errors : json_array()));
        errors = NULL;
    } else {
        r = admin_error_reply(500, "reload failed: %s", strerror(-rc));
    }
    json_decref(errors);
    json_decref(before);
    return r;
}

admin_reply admin_h_log_level(admin *a, admin_req *rq)
{
    static const char *const keys[] = {"level", NULL};
    admin_reply r;
    json_t *o = admin_body_object(rq, keys, &r);
    if (!o)
        return r;
    const char *level = json_string_value(json_object_get(o, "level"));
    log_level l;
    if (!level || log_parse_level(level, &l) != 0) {
        r = admin_error_reply(400, "\"level\" must be \"error\", \"warn\", \"info\" or \"debug\"");
    } else if (control_set_log_level(a->c, level, rq->who) != 0) {
        r = admin_error_reply(400, "log level \"%s\" refused", level);
    } else {
        char msg[64];
        snprintf(msg, sizeof msg, "log level set to %s", level);
        r = admin_json_reply(200, json_pack("{s:b, s:s, s:s}", "ok", 1, "level", level, "message", msg));
    }
    json_decref(o);
    return r;
}

/* ---- /readyz ------------------------------------------------------------------ */

/* Adds `name` to failing and `why` to the message. */
static void not_ready(json_t *failing, char *msg, size_t size, const char *name, const char *why)
{
    json_array_append_new(failing, json_string(name));
    size_t at = strlen(msg);
    snprintf(msg + at, size - at, "%s%s", at ? "; " : "", why);
}

/* Probes both upstreams (at once, ADMIN_PROBE_TIMEOUT_MS at most). A side
 * that answers clients must be reachable; a side that only takes the
 * shadow copy must be only when readiness.require_shadow says so. Adds
 * "upstreams" and "shadow" to body. */
static void ready_upstreams(admin *a, json_t *body, json_t *failing, char *msg, size_t size)
{
    static const char *const sides[2] = {"legacy", "new"};
    bool authoritative[2];
    control_authoritative_sides(a->c, authoritative);
    bool require_shadow = control_require_shadow(a->c);
    const char *urls[2] = {a->cfg->upstream[SIDE_LEGACY].url, a->cfg->upstream[SIDE_NEW].url};
    probe_result p[2];
    probe_urls(urls, 2, ADMIN_PROBE_TIMEOUT_MS, p);
    json_t *ups = json_object();
    bool shadow_ok = true;
    for (int i = 0; i < 2; i++) {
        bool shadow = authoritative[1 - i]; /* it gets the copy of the other side's routes */
        bool required = authoritative[i] || (shadow && require_shadow);
        json_t *u = json_pack("{s:s, s:b, s:b, s:b, s:b}", "address", p[i].address, "ok", p[i].ok,
                              "authoritative", authoritative[i], "shadow", shadow, "required",
                              required);
        if (!p[i].ok) {
            json_object_set_new(u, "error", json_string(p[i].error));
            shadow_ok = shadow_ok && !shadow;
            char name[32], why[512];
            snprintf(name, sizeof name, "upstream.%s", sides[i]);
            snprintf(why, sizeof why, "%s upstream %s unreachable: %s", sides[i], p[i].address,
                     p[i].error);
            if (required)
                not_ready(failing, msg, size, name, why);
        }
        json_object_set_new(ups, sides[i], u);
    }
    json_object_set_new(body, "upstreams", ups);
    json_object_set_new(body, "shadow", json_pack("{s:b, s:b}", "ok", shadow_ok, "required",
                                                  require_shadow));
}

/* Ready = can serve clients: a traffic worker listens, the drain has not
 * begun, and every side that answers clients accepts TCP connections. The
 * shadow's health and the diff log are in the body, not the status (unless
 * readiness.require_shadow). During the drain it answers 503 at once,
 * without probing. Public, for kubelet's probes: without the token the
 * body is only "ready" and "failing" (no addresses, no errors). */
admin_reply admin_h_readyz(admin *a, admin_req *rq)
{
    bool ready = false;
    json_t *body = control_ready(a->c, &ready);
    json_t *failing = json_array();
    if (!body || !failing) {
        json_decref(body);
        json_decref(failing);
        return admin_error_reply(500, "out of memory");
    }
    char msg[1024] = "";
    if (json_is_true(json_object_get(body, "draining")))
        not_ready(failing, msg, sizeof msg, "draining",
                  "draining: shutting down, new clients are refused");
    else if (!json_is_true(json_object_get(body, "listening")))
        not_ready(failing, msg, sizeof msg, "listening", "no traffic worker is listening");
    else
        ready_upstreams(a, body, failing, msg, sizeof msg);
    ready = json_array_size(failing) == 0;
    if (rq->auth == ADMIN_AUTH_REFUSED) {
        json_decref(body);
        return admin_json_reply(ready ? 200 : 503,
                                json_pack("{s:b, s:o}", "ready", ready, "failing", failing));
    }
    json_object_set_new(body, "ready", json_boolean(ready));
    json_object_set_new(body, "failing", failing);
    json_object_set_new(body, "message", json_string(ready ? "ready" : msg));
    return admin_json_reply(ready ? 200 : 503, body);
}

/* ---- the dashboard's data ------------------------------------------------------ */

/* GET /api/live: the live view's minute counts, plus shadow health and how
 * this request was authorized (the page shows a logout button for a
 * session). */
admin_reply admin_h_live(admin *a, admin_req *rq)
{
    json_t *j = live_stats(control_live(a->c), clock_wall_ms());
    json_t *st = control_state(a->c);
    bool ready = false;
    json_t *rd = control_ready(a->c, &ready);
    if (!j || !st || !rd) {
        json_decref(j);
        json_decref(st);
        json_decref(rd);
        return admin_error_reply(500, "out of memory");
    }
    json_t *counts = json_object_get(st, "counts");
    json_t *health = json_pack(
        "{s:O, s:O, s:I, s:I, s:I, s:I, s:I, s:O}", "breakers", json_object_get(st, "breakers"),
        "shadow_in_flight", json_object_get(counts, "shadow_in_flight"), "shadow_sent",
        (json_int_t)metric_get(METRIC_shadow_sent), "shadow_dropped",
        (json_int_t)metric_get(METRIC_shadow_dropped), "breaker_opened",
        (json_int_t)metric_get(METRIC_breaker_opened), "compare_queue_depth",
        (json_int_t)metric_get(METRIC_compare_queue_depth), "records_lost",
        (json_int_t)metric_get(METRIC_records_lost), "diff_log", json_object_get(rd, "diff_log"));
    static const char *const via[] = {"none", "none", "bearer", "cookie"};
    json_object_set_new(j, "health", health);
    /* role: the page shows its buttons to an operator only */
    json_object_set_new(j, "auth", json_pack("{s:s, s:s, s:s, s:s?}", "mode",
                                             a->has_token ? "token" : "loopback", "via",
                                             via[rq->auth], "role",
                                             config_role_name(rq->principal ? rq->principal->role
                                                                            : ROLE_OPERATOR),
                                             "name", rq->principal ? rq->principal->name : NULL));
    json_decref(st);
    json_decref(rd);
    return admin_json_reply(200, j);
}

/* GET /api/recent: the summaries; GET /api/recent/SEQ: one whole record. */
admin_reply admin_h_recent(admin *a, admin_req *rq)
{
    live *l = control_live(a->c);
    size_t len = 0;
    const char *tail = rq->url + strlen("/api/recent");
    if (*tail == '\0') {
        char *t = live_recent(l, &len);
        if (!t)
            return admin_error_reply(500, "out of memory");
        return (admin_reply){.status = 200, .text = t, .len = len, .ctype = "application/json"};
    }
    tail++; /* the '/' */
    char *end = NULL;
    errno = 0;
    unsigned long long seq = strtoull(tail, &end, 10);
    if (*tail < '0' || *tail > '9' || *end != '\0' || errno != 0)
        return admin_error_reply(404, "no endpoint %s (GET /api/recent/SEQ, SEQ from GET /api/recent)",
                                 rq->url);
    char *t = live_record(l, (uint64_t)seq, &len);
    if (!t)
        return admin_error_reply(404, "record %llu is not held: the dashboard keeps the last %d "
                                 "records (the diff log has them all)",
                                 seq, LIVE_MAX_RECORDS);
    return (admin_reply){.status = 200, .text = t, .len = len, .ctype = "application/json"};
}

/* GET /api/readiness: this replica's live cutover readiness verdict, judged
 * against the current rules' criteria (obs/live_ready.h). */
admin_reply admin_h_readiness(admin *a, admin_req *rq)
{
    (void)rq;
    rules *rs = control_rules(a->c);
    json_t *j = rs ? live_ready_evaluate(live_readiness(control_live(a->c)), rs, clock_wall_ms())
                   : NULL;
    rules_unref(rs);
    if (!j)
        return admin_error_reply(500, "out of memory");
    return admin_json_reply(200, j);
}
