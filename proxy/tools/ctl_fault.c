/* ctl_fault: `shadowproxy ctl fault add|list|clear` (docs/operations.md,
 * "Injecting faults"), over POST /faults and GET /state. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/faults.h"
#include "tools/ctl.h"
#include "tools/ctl_int.h"

/* --delay MS[:JITTER] ("300ms", "300ms:50ms", "1.5s", "300:50"). */
static int delay_json(const char *s, json_t **out)
{
    char head[64];
    const char *colon = strchr(s, ':');
    long long ms = 0, jitter = 0;
    snprintf(head, sizeof head, "%.*s", colon ? (int)(colon - s) : (int)strlen(s), s);
    if (fault_parse_duration(head, 'm', &ms) != 0 || ms > FAULT_DELAY_MAX_MS ||
        (colon && (fault_parse_duration(colon + 1, 'm', &jitter) != 0 ||
                   jitter > FAULT_DELAY_MAX_MS)))
        return ctl_usage_error("--delay: expected MS[:JITTER] like 300ms or 300ms:50ms (at most "
                               "10 minutes each), got '%s'", s);
    *out = json_pack("{s:I, s:I}", "ms", (json_int_t)ms, "jitter_ms", (json_int_t)jitter);
    return 0;
}

static int build_add(const ctl_opts *o, json_t **body)
{
    int kinds = !!o->delay + !!o->abort_status + o->reset;
    if (kinds != 1)
        return ctl_usage_error("fault add needs exactly one of --delay, --abort and --reset%s",
                               "");
    if (!o->side)
        return ctl_usage_error("fault add needs --side legacy|new|authoritative|shadow%s", "");
    if (!o->for_)
        return ctl_usage_error("fault add needs --for DURATION (like 10m): faults added here "
                               "are time-boxed%s", "");
    long long for_ms = 0;
    if (fault_parse_duration(o->for_, 's', &for_ms) != 0 || for_ms < 1 ||
        for_ms > 86400000LL)
        return ctl_usage_error("--for: expected a duration like 90s, 10m or 1h (at most 24h), "
                               "got '%s'", o->for_);
    json_t *kind = NULL;
    if (o->delay && delay_json(o->delay, &kind) != 0)
        return CTL_USAGE;
    if (o->abort_status) {
        char *end = NULL;
        long st = strtol(o->abort_status, &end, 10);
        if (!*o->abort_status || *end || st < 200 || st > 599)
            return ctl_usage_error("--abort: expected an HTTP status from 200 to 599, got '%s'",
                                   o->abort_status);
        kind = json_pack("{s:i}", "status", (int)st);
    }
    *body = json_pack("{s:s, s:s, s:o, s:f}", "action", "add", "side", o->side,
                      o->delay ? "delay" : o->abort_status ? "abort" : "reset",
                      kind ? kind : json_true(), "for_s", (double)for_ms / 1000.0);
    if (o->percent) {
        char *end = NULL;
        double p = strtod(o->percent, &end);
        if (end && *end == '%')
            end++;
        if (end == o->percent || *end || !(p >= 0 && p <= 100)) {
            json_decref(*body);
            return ctl_usage_error("--percent: expected a number from 0 to 100, got '%s'",
                                   o->percent);
        }
        json_object_set_new(*body, "percent", json_real(p));
    }
    if (o->route)
        json_object_set_new(*body, "route", json_string(o->route));
    return 0;
}

int ctl_fault_options_check(const ctl_opts *o, const char *cmd)
{
    bool any = o->side || o->delay || o->abort_status || o->percent || o->for_ || o->reset;
    if (strcmp(cmd, "fault") != 0 && (any || o->all))
        return ctl_usage_error("--side, --delay, --abort, --reset, --percent, --for and --all go "
                               "with fault only, not with %s", cmd);
    const char *act = o->nargs > 1 ? o->args[1] : "";
    if (strcmp(cmd, "fault") == 0 && strcmp(act, "add") != 0 && (any || o->route))
        return ctl_usage_error("--route, --side, --delay, --abort, --reset, --percent and --for "
                               "go with fault add only (%s)", act);
    if (strcmp(cmd, "fault") == 0 && o->all && strcmp(act, "clear") != 0)
        return ctl_usage_error("--all goes with fault clear only (%s)", act);
    return 0;
}

int ctl_fault_build(const ctl_opts *o, const char **method, char *path, json_t **body)
{
    const char *act = o->nargs > 1 ? o->args[1] : "";
    int want = 2, rc = ctl_fault_options_check(o, "fault");
    *body = NULL;
    if (rc)
        return rc;
    if (strcmp(act, "list") == 0) {
        *method = "GET";
        strcpy(path, "/state");
    } else if (strcmp(act, "add") == 0) {
        *method = "POST";
        strcpy(path, "/faults");
        if ((rc = build_add(o, body)) != 0)
            return rc;
    } else if (strcmp(act, "clear") == 0) {
        *method = "POST";
        strcpy(path, "/faults");
        want = o->all ? 2 : 3;
        char *end = NULL;
        long id = o->nargs > 2 ? strtol(o->args[2], &end, 10) : 0;
        if (!o->all && (o->nargs < 3 || !*o->args[2] || *end || id < 1))
            return ctl_usage_error("fault clear: expected a fault id (ctl fault list) or --all, "
                                   "got '%s'", o->nargs > 2 ? o->args[2] : "");
        *body = o->all ? json_pack("{s:s, s:b}", "action", "clear", "all", 1)
                       : json_pack("{s:s, s:i}", "action", "clear", "id", (int)id);
    } else {
        return ctl_usage_error("fault: expected add, list or clear, got '%s'", act);
    }
    if (o->nargs > want) {
        json_decref(*body);
        return ctl_usage_error("unexpected argument '%s'", o->args[want]);
    }
    return 0;
}

/* One fault as "abort 503 on new, 100%" (spec members of `f`). */
static void describe(json_t *f, char *buf, size_t size)
{
    fault_spec s;
    char why[160], bad[32];
    static const char *const extra[] = {"id", "route", "expires", "remaining_s", "added_by",
                                        NULL};
    if (fault_spec_from_json(f, extra, &s, why, sizeof why, bad, sizeof bad) == 0)
        fault_spec_describe(&s, buf, size);
    else
        snprintf(buf, size, "?");
}

void ctl_fault_print_list(json_t *state)
{
    json_t *faults = json_object_get(state, "faults"), *f, *list;
    char what[200];
    size_t i;
    const char *route;
    printf("faults     %s (this process)\n",
           json_is_true(json_object_get(faults, "enabled")) ? "enabled"
                                                            : "disabled (faults.enabled false)");
    json_array_foreach(json_object_get(faults, "live"), i, f) {
        describe(f, what, sizeof what);
        json_t *rt = json_object_get(f, "route");
        printf("  %-4lld %-20s %s, %.0f s left (by %s)\n",
               (long long)json_integer_value(json_object_get(f, "id")),
               json_is_string(rt) ? json_string_value(rt) : "(every route)", what,
               json_number_value(json_object_get(f, "remaining_s")),
               json_string_value(json_object_get(f, "added_by")) ?: "-");
    }
    if (!json_array_size(json_object_get(faults, "live")))
        printf("  no live faults\n");
    json_object_foreach(json_object_get(faults, "rules"), route, list) {
        json_array_foreach(list, i, f) {
            describe(f, what, sizeof what);
            printf("  rules %-19s %s\n", route, what);
        }
    }
}
