/* admin_faults: POST /faults (docs/operations.md, "Injecting faults"):
 * time-boxed faults in this process (data/faults_live.h), operators only.
 *   {"action": "add", "route": R (optional: every route), "side": S,
 *    "delay": {"ms", "jitter_ms"} | "abort": {"status"} | "reset": true,
 *    "percent": P, "for_s": N}
 *   {"action": "clear", "id": N} | {"action": "clear", "all": true}
 * Refused with 409 while faults.enabled is false. GET /state lists them
 * ("faults"). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "admin/admin_int.h"
#include "conf/faults.h"
#include "data/faults_live.h"

static admin_reply add(admin *a, admin_req *rq, json_t *o)
{
    static const char *const extra[] = {"action", "route", "for_s", NULL};
    const char *route;
    admin_reply r;
    fault_spec f;
    char why[200], bad[32];
    json_t *fv = json_object_get(o, "for_s");
    if (!admin_body_route(o, &route, &r))
        return r;
    if (json_object_get(o, "id") || json_object_get(o, "all"))
        return admin_error_reply(400, "\"id\" and \"all\" go with \"action\": \"clear\" only");
    if (fault_spec_from_json(o, extra, &f, why, sizeof why, bad, sizeof bad) != 0)
        return admin_error_reply(400, "%s", why);
    double secs = json_is_number(fv) ? json_number_value(fv) : 0;
    if (!(secs >= 0.001 && secs <= FAULTS_LIVE_MAX_FOR_MS / 1000))
        return admin_error_reply(400, "\"for_s\" is required: how long the fault runs, in "
                                      "seconds (0.001 to %lld); it is removed then",
                                 FAULTS_LIVE_MAX_FOR_MS / 1000);
    if (route && !control_has_route(a->c, route))
        return admin_error_reply(404, "unknown route \"%s\" (GET /state lists them)", route);
    int id = 0, rc = faults_live_add(route, &f, (long long)(secs * 1000 + 0.5), rq->who, &id);
    if (rc == -ENOSPC)
        return admin_error_reply(409, "%d faults are live already: clear one first",
                                 FAULTS_LIVE_MAX);
    if (rc != 0)
        return admin_error_reply(400, "invalid fault");
    char what[160], msg[320];
    fault_spec_describe(&f, what, sizeof what);
    snprintf(msg, sizeof msg, "fault %d added: %s on %s%s for %g s (this process only)", id, what,
             route ? "route " : "every route", route ? route : "", secs);
    return admin_json_reply(200, json_pack("{s:b, s:s, s:i, s:s, s:o}", "ok", 1, "message", msg,
                                           "id", id, "scope", "process", "fault",
                                           fault_spec_to_json(&f)));
}

static admin_reply clear(admin_req *rq, json_t *o)
{
    json_t *iv = json_object_get(o, "id"), *av = json_object_get(o, "all");
    for (const char *const *k = (const char *const[]){"route", "side", "delay", "abort", "reset",
                                                      "percent", "for_s", NULL};
         *k; k++)
        if (json_object_get(o, *k))
            return admin_error_reply(400, "\"%s\" goes with \"action\": \"add\" only", *k);
    if (!!iv == json_is_true(av) || (av && !json_is_boolean(av)) ||
        (iv && (!json_is_integer(iv) || json_integer_value(iv) < 1)))
        return admin_error_reply(400, "clear takes \"id\": N (a fault's id, GET /state) or "
                                      "\"all\": true");
    int n = faults_live_clear(iv ? (int)json_integer_value(iv) : 0, rq->who);
    if (iv && n == 0)
        return admin_error_reply(404, "no live fault %lld (it may have expired; GET /state "
                                      "lists them)", (long long)json_integer_value(iv));
    char msg[96];
    snprintf(msg, sizeof msg, "%d fault%s cleared", n, n == 1 ? "" : "s");
    return admin_json_reply(200, json_pack("{s:b, s:s, s:i}", "ok", 1, "message", msg,
                                           "cleared", n));
}

admin_reply admin_h_faults(admin *a, admin_req *rq)
{
    static const char *const keys[] = {"action", "route", "side", "delay", "abort", "reset",
                                       "percent", "for_s", "id", "all", NULL};
    if (!a->cfg->faults_enabled) /* before anything else: say why, whatever the body */
        return admin_json_reply(
            409, json_pack("{s:s, s:s}", "reason", "faults_disabled", "error",
                           "fault injection is off: faults.enabled is false in this proxy's "
                           "config (it is for staging; set \"faults\": {\"enabled\": true} in a "
                           "staging config and restart)"));
    admin_reply r;
    json_t *o = admin_body_object(rq, keys, &r);
    if (!o)
        return r;
    const char *action = json_string_value(json_object_get(o, "action"));
    if (action && strcmp(action, "add") == 0)
        r = add(a, rq, o);
    else if (action && strcmp(action, "clear") == 0)
        r = clear(rq, o);
    else
        r = admin_error_reply(400, "\"action\" must be \"add\" or \"clear\"");
    json_decref(o);
    return r;
}
