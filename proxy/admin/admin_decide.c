/* admin_decide: the admin API's decision endpoints (docs/operations.md,
 * "The fleet"): POST /authority, /shadow, /writes, /rollback, /clear and GET
 * /history. A change goes through the decision store (control.h); its
 * answer says the revision, what a global flip or a rollback cleared, and,
 * unless "wait": false, how many live replicas applied it (waiting up to
 * "timeout_ms", default 5000). 503 when the store cannot take the change:
 * nothing changed anywhere. */
#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin_int.h"
#include "conf/ops.h"

#define WAIT_DEFAULT_MS 5000L
#define WAIT_MAX_MS 60000L
#define HISTORY_DEFAULT 20
#define HISTORY_MAX 1000

/* ---- state lookups for old -> new ------------------------------------------- */

/* state[section]["routes"][route], else state[section]["global"]. Borrowed. */
static json_t *effective(json_t *state, const char *section, const char *route)
{
    json_t *s = json_object_get(state, section);
    json_t *v = route ? json_object_get(json_object_get(s, "routes"), route) : NULL;
    return v ? v : json_object_get(s, "global");
}

/* A copy of effective(...), or null. */
static json_t *effective_copy(json_t *state, const char *section, const char *route)
{
    json_t *v = effective(state, section, route);
    return v ? json_deep_copy(v) : json_null();
}

/* ---- waiting for the fleet --------------------------------------------------- */

typedef struct wait_opts {
    bool wait;
    long timeout_ms;
} wait_opts;

/* "wait" (boolean, default true) and "timeout_ms" (1..60000). */
static bool wait_args(json_t *o, wait_opts *w, admin_reply *r)
{
    json_t *wv = json_object_get(o, "wait"), *tv = json_object_get(o, "timeout_ms");
    w->wait = !json_is_false(wv);
    w->timeout_ms = WAIT_DEFAULT_MS;
    if (wv && !json_is_boolean(wv)) {
        *r = admin_error_reply(400, "\"wait\" must be true or false");
        return false;
    }
    if (tv && (!json_is_integer(tv) || json_integer_value(tv) < 0 ||
               json_integer_value(tv) > WAIT_MAX_MS)) {
        *r = admin_error_reply(400, "\"timeout_ms\" must be a whole number from 0 to %ld",
                               WAIT_MAX_MS);
        return false;
    }
    if (tv)
        w->timeout_ms = (long)json_integer_value(tv);
    return true;
}

/* The common answer: {"ok", "message", "revision", ["cleared"], ["fleet"]}
 * plus the endpoint's own members in `j` (taken). */
static admin_reply change_done(admin *a, json_t *j, const char *msg, int64_t revision,
                               json_t *cleared, const wait_opts *w)
{
    json_object_set_new(j, "ok", json_true());
    json_object_set_new(j, "message", json_string(msg));
    json_object_set_new(j, "revision", json_integer((json_int_t)revision));
    json_object_set_new(j, "persisted", json_true());
    if (cleared)
        json_object_set(j, "cleared", cleared);
    if (w->wait)
        json_object_set_new(j, "fleet", control_wait_fleet(a->c, revision, w->timeout_ms));
    return admin_json_reply(200, j);
}

/* control's error codes as HTTP. */
static admin_reply change_failed(int rc, const char *msg)
{
    if (rc == -ENOENT)
        return admin_error_reply(404, "%s", *msg ? msg : "no such route");
    if (rc == -EINVAL)
        return admin_error_reply(400, "%s", *msg ? msg : "invalid value");
    if (rc == -EAGAIN)
        return admin_error_reply(503, "%s; nothing was changed", msg);
    return admin_error_reply(500, "%s", *msg ? msg : strerror(-rc));
}

/* The answer to a /shadow or /writes change: `section` of /state (taken
 * `before` the change, and now) as "old" and "new". Takes `before`. */
static admin_reply section_changed(admin *a, int rc, const char *msg, int64_t rev,
                                   const char *section, const char *route, json_t *before,
                                   const wait_opts *w)
{
    admin_reply r;
    if (rc == 0) {
        json_t *after = control_state(a->c);
        json_t *j = json_pack("{s:s, s:o, s:o, s:o}", "scope", route ? "route" : "global",
                              "route", route ? json_string(route) : json_null(), "old",
                              effective_copy(before, section, route), "new",
                              effective_copy(after, section, route));
        json_decref(after);
        r = change_done(a, j, msg, rev, NULL, w);
    } else {
        r = change_failed(rc, msg);
    }
    json_decref(before);
    return r;
}

/* The audit trail's who: the client's address and the token's name (NULL
 * without a token). */
static control_who who_of(const admin_req *rq)
{
    return (control_who){.client = rq->addr, .token = rq->principal ? rq->principal->name : NULL};
}

/* ---- endpoints ---------------------------------------------------------------- */

admin_reply admin_h_authority(admin *a, admin_req *rq)
{
    static const char *const keys[] = {"side", "route", "keep_routes", "wait", "timeout_ms",
                                       NULL};
    admin_reply r;
    json_t *o = admin_body_object(rq, keys, &r);
    if (!o)
        return r;
    const char *route;
    json_t *sv = json_object_get(o, "side"), *kv = json_object_get(o, "keep_routes");
    sp_side side;
    wait_opts w;
    if (!admin_body_route(o, &route, &r) || !wait_args(o, &w, &r)) {
        /* r says why */
    } else if (!json_is_string(sv) || config_parse_side(json_string_value(sv), &side) != 0) {
        r = admin_error_reply(400, "\"side\" must be \"legacy\" or \"new\"");
    } else if (kv && (!json_is_boolean(kv) || route)) {
        r = admin_error_reply(400, "\"keep_routes\" is true or false, for a global flip only");
    } else {
        char msg[512] = "";
        int64_t rev = 0;
        control_who who = who_of(rq);
        json_t *before = control_state(a->c), *cleared = json_array();
        int rc = control_set_authority(a->c, route, side, json_is_true(kv), &who, cleared, &rev,
                                       msg, sizeof msg);
        if (rc == 0) {
            json_t *j = json_pack(
                "{s:s, s:o, s:{s:o}, s:{s:o}}", "scope", route ? "route" : "global", "route",
                route ? json_string(route) : json_null(), "old", "authority",
                effective_copy(before, "authority", route), "new", "authority",
                json_string(config_side_name(side)));
            r = change_done(a, j, msg, rev, route || json_is_true(kv) ? NULL : cleared, &w);
        } else {
            r = change_failed(rc, msg);
        }
        json_decref(cleared);
        json_decref(before);
    }
    json_decref(o);
    return r;
}

/* "action" → control_set_shadow's paused/sample arguments. */
static bool shadow_args(json_t *o, int *paused, double *sample, admin_reply *r)
{
    const char *action = json_string_value(json_object_get(o, "action"));
    json_t *pv = json_object_get(o, "percent");
    *paused = -1;
    *sample = -1;
    if (!action || (strcmp(action, "pause") && strcmp(action, "resume") && strcmp(action, "sample"))) {
        *r = admin_error_reply(400, "\"action\" must be \"pause\", \"resume\" or \"sample\"");
        return false;
    }
    if (strcmp(action, "sample") != 0) {
        if (pv) {
            *r = admin_error_reply(400, "\"percent\" goes with \"action\": \"sample\" only");
            return false;
        }
        *paused = strcmp(action, "pause") == 0;
        return true;
    }
    if (!json_is_number(pv) || json_number_value(pv) < 0 || json_number_value(pv) > 100) {
        *r = admin_error_reply(400, "\"sample\" needs \"percent\": a number from 0 to 100");
        return false;
    }
    *sample = json_number_value(pv);
    return true;
}

admin_reply admin_h_shadow(admin *a, admin_req *rq)
{
    static const char *const keys[] = {"action", "percent", "route", "wait", "timeout_ms", NULL};
    admin_reply r;
    json_t *o = admin_body_object(rq, keys, &r);
    if (!o)
        return r;
    const char *route;
    int paused;
    double sample;
    wait_opts w;
    if (admin_body_route(o, &route, &r) && shadow_args(o, &paused, &sample, &r) &&
        wait_args(o, &w, &r)) {
        char msg[512] = "";
        int64_t rev = 0;
        control_who who = who_of(rq);
        json_t *before = control_state(a->c);
        int rc = control_set_shadow(a->c, route, paused, sample, &who, &rev, msg, sizeof msg);
        r = section_changed(a, rc, msg, rev, "shadow", route, before, &w);
    }
    json_decref(o);
    return r;
}

/* {"action": "pause"|"resume", "retry_after_s": N (pause only), "route"}. */
admin_reply admin_h_writes(admin *a, admin_req *rq)
{
    static const char *const keys[] = {"action", "retry_after_s", "route", "wait", "timeout_ms",
                                       NULL};
    admin_reply r;
    json_t *o = admin_body_object(rq, keys, &r);
    if (!o)
        return r;
    const char *route, *action = json_string_value(json_object_get(o, "action"));
    json_t *rv = json_object_get(o, "retry_after_s");
    wait_opts w;
    bool pause = action && strcmp(action, "pause") == 0;
    if (!admin_body_route(o, &route, &r) || !wait_args(o, &w, &r)) {
        /* r says why */
    } else if (!action || (!pause && strcmp(action, "resume") != 0)) {
        r = admin_error_reply(400, "\"action\" must be \"pause\" or \"resume\"");
    } else if (rv && !pause) {
        r = admin_error_reply(400, "\"retry_after_s\" goes with \"action\": \"pause\" only");
    } else if (rv && (!json_is_integer(rv) || json_integer_value(rv) < 1 ||
                      json_integer_value(rv) > OPS_RETRY_AFTER_MAX)) {
        r = admin_error_reply(400, "\"retry_after_s\" must be a whole number of seconds from 1 "
                                   "to %d", OPS_RETRY_AFTER_MAX);
    } else {
        char msg[512] = "";
        int64_t rev = 0;
        control_who who = who_of(rq);
        json_t *before = control_state(a->c);
        int rc = control_set_writes(a->c, route, pause,
                                    rv ? (int)json_integer_value(rv) : OPS_UNSET, &who, &rev, msg,
                                    sizeof msg);
        r = section_changed(a, rc, msg, rev, "writes", route, before, &w);
    }
    json_decref(o);
    return r;
}

/* An empty body is {}. */
static json_t *optional_body(admin_req *rq, const char *const *keys, admin_reply *r)
{
    if (rq->len == 0)
        return json_object();
    return admin_body_object(rq, keys, r);
}

admin_reply admin_h_rollback(admin *a, admin_req *rq)
{
    static const char *const keys[] = {"wait", "timeout_ms", NULL};
    admin_reply r;
    json_t *o = optional_body(rq, keys, &r);
    wait_opts w;
    if (!o)
        return r;
    if (wait_args(o, &w, &r)) {
        char msg[512] = "";
        int64_t rev = 0;
        control_who who = who_of(rq);
        json_t *cleared = json_array();
        int rc = control_rollback(a->c, &who, cleared, &rev, msg, sizeof msg);
        if (rc == 0)
            r = change_done(a, json_pack("{s:s}", "authority", "legacy"), msg, rev, cleared, &w);
        else
            r = change_failed(rc, msg);
        json_decref(cleared);
    }
    json_decref(o);
    return r;
}

admin_reply admin_h_clear(admin *a, admin_req *rq)
{
    static const char *const keys[] = {"route", "wait", "timeout_ms", NULL};
    admin_reply r;
    json_t *o = admin_body_object(rq, keys, &r);
    const char *route;
    wait_opts w;
    if (!o)
        return r;
    if (admin_body_route(o, &route, &r) && wait_args(o, &w, &r)) {
        if (!route) {
            r = admin_error_reply(400, "\"route\" is required: the route whose decisions to "
                                       "remove (POST /rollback resets everything)");
        } else {
            char msg[512] = "";
            int64_t rev = 0;
            control_who who = who_of(rq);
            int rc = control_clear_route(a->c, route, &who, &rev, msg, sizeof msg);
            r = rc == 0 ? change_done(a, json_pack("{s:s}", "route", route), msg, rev, NULL, &w)
                        : change_failed(rc, msg);
        }
    }
    json_decref(o);
    return r;
}

admin_reply admin_h_history(admin *a, admin_req *rq)
{
    const char *lv = MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, "limit");
    long limit = HISTORY_DEFAULT;
    if (lv) {
        char *end = NULL;
        limit = strtol(lv, &end, 10);
        if (!*lv || *end || limit < 1 || limit > HISTORY_MAX)
            return admin_error_reply(400, "limit must be a whole number from 1 to %d",
                                     HISTORY_MAX);
    }
    char msg[512] = "";
    json_t *h = control_history(a->c, (int)limit, msg, sizeof msg);
    if (!h)
        return admin_error_reply(503, "%s", msg);
    return admin_json_reply(200, json_pack("{s:o}", "changes", h));
}
