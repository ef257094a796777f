/* report_failif: see report_failif.h. */
#include "tools/report/report_failif.h"

#include <ctype.h>
#include <math.h> /* isfinite only: no libm */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum metric_id {
    M_EXCHANGES, M_COMPARED, M_MATCHES, M_MISMATCHES, M_KNOWN, M_SHADOW_ERRORS,
    M_SHADOW_TIMEOUTS, M_SHADOW_DROPPED, M_SKIPPED, M_AUTH_ERRORS, M_OTHER, M_ERRORS,
    M_MATCH_RATE, M_MISMATCH_RATE, M_KNOWN_RATE, M_ERROR_RATE,
    M_LEGACY_P50, M_LEGACY_P99, M_NEW_P50, M_NEW_P99, M_P50_DELTA, M_P99_DELTA,
    M_TORN, M_INVALID, M_UNREADABLE,
};

static const struct metric {
    const char *name, *alias;
    enum report_metric_kind kind;
    bool global; /* not per route */
} metrics[] = {
    [M_EXCHANGES] = {"exchanges", NULL, RM_COUNT, false},
    [M_COMPARED] = {"compared", NULL, RM_COUNT, false},
    [M_MATCHES] = {"matches", "match", RM_COUNT, false},
    [M_MISMATCHES] = {"mismatches", "mismatch", RM_COUNT, false},
    [M_KNOWN] = {"known", NULL, RM_COUNT, false},
    [M_SHADOW_ERRORS] = {"shadow_errors", "shadow_error", RM_COUNT, false},
    [M_SHADOW_TIMEOUTS] = {"shadow_timeouts", "shadow_timeout", RM_COUNT, false},
    [M_SHADOW_DROPPED] = {"shadow_dropped", NULL, RM_COUNT, false},
    [M_SKIPPED] = {"skipped", NULL, RM_COUNT, false},
    [M_AUTH_ERRORS] = {"authoritative_errors", "authoritative_error", RM_COUNT, false},
    [M_OTHER] = {"other_verdicts", NULL, RM_COUNT, false},
    [M_ERRORS] = {"errors", "error", RM_COUNT, false},
    [M_MATCH_RATE] = {"match_rate", NULL, RM_RATE, false},
    [M_MISMATCH_RATE] = {"mismatch_rate", NULL, RM_RATE, false},
    [M_KNOWN_RATE] = {"known_rate", NULL, RM_RATE, false},
    [M_ERROR_RATE] = {"error_rate", NULL, RM_RATE, false},
    [M_LEGACY_P50] = {"legacy_p50_ms", NULL, RM_MS, false},
    [M_LEGACY_P99] = {"legacy_p99_ms", NULL, RM_MS, false},
    [M_NEW_P50] = {"new_p50_ms", NULL, RM_MS, false},
    [M_NEW_P99] = {"new_p99_ms", NULL, RM_MS, false},
    [M_P50_DELTA] = {"p50_delta_ms", NULL, RM_MS, false},
    [M_P99_DELTA] = {"p99_delta_ms", NULL, RM_MS, false},
    [M_TORN] = {"torn_lines", "torn", RM_COUNT, true},
    [M_INVALID] = {"invalid_lines", "invalid", RM_COUNT, true},
    [M_UNREADABLE] = {"unreadable_inputs", NULL, RM_COUNT, true},
};
#define NMETRICS (sizeof metrics / sizeof metrics[0])

const char *report_failif_metric_list(void)
{
    return "exchanges, compared, matches, mismatches, known, shadow_errors, shadow_timeouts, "
           "shadow_dropped, skipped, authoritative_errors, other_verdicts, errors, match_rate, "
           "mismatch_rate, known_rate, error_rate, legacy_p50_ms, legacy_p99_ms, new_p50_ms, "
           "new_p99_ms, p50_delta_ms, p99_delta_ms, torn_lines, invalid_lines, unreadable_inputs";
}

const char *report_failif_metric(const report_failif *f) { return metrics[f->metric].name; }
enum report_metric_kind report_failif_kind(const report_failif *f) { return metrics[f->metric].kind; }

const char *report_failif_op_text(enum report_failif_op op)
{
    static const char *const t[] = {">", ">=", "<", "<=", "==", "!="};
    return t[op];
}

static const char *skip_blank(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

void report_failif_free(report_failif *f)
{
    free(f->text);
    free(f->route);
    memset(f, 0, sizeof *f);
}

int report_failif_parse(const char *s, report_failif *out, char *err, size_t errsize)
{
    memset(out, 0, sizeof *out);
    const char *p = skip_blank(s);
    char *route = NULL;
    if (strncmp(p, "route:", 6) == 0) {
        const char *name = skip_blank(p + 6), *colon = strchr(name, ':');
        size_t n = colon ? (size_t)(colon - name) : 0;
        while (n > 0 && (name[n - 1] == ' ' || name[n - 1] == '\t'))
            n--;
        if (n == 0) {
            snprintf(err, errsize, "--fail-if \"%s\": write route:NAME:METRIC..., e.g. "
                     "route:orders-get:mismatch_rate>1%%", s);
            return -1;
        }
        route = strndup(name, n);
        p = skip_blank(colon + 1);
    }
    const char *mstart = p;
    while (isalnum((unsigned char)*p) || *p == '_')
        p++;
    size_t mlen = (size_t)(p - mstart);
    int metric = -1;
    for (size_t i = 0; i < NMETRICS && metric < 0; i++)
        if ((strlen(metrics[i].name) == mlen && strncmp(metrics[i].name, mstart, mlen) == 0) ||
            (metrics[i].alias && strlen(metrics[i].alias) == mlen &&
             strncmp(metrics[i].alias, mstart, mlen) == 0))
            metric = (int)i;
    if (metric < 0) {
        snprintf(err, errsize, "--fail-if \"%s\": %s \"%.*s\"; one of: %s", s,
                 mlen ? "unknown metric" : "no metric before", mlen ? (int)mlen : (int)strlen(mstart),
                 mstart, report_failif_metric_list());
        free(route);
        return -1;
    }
    if (route && metrics[metric].global) {
        snprintf(err, errsize, "--fail-if \"%s\": %s is about the input files, not a route", s,
                 metrics[metric].name);
        free(route);
        return -1;
    }
    p = skip_blank(p);
    enum report_failif_op op;
    if (p[0] == '>' && p[1] == '=') op = RF_GE, p += 2;
    else if (p[0] == '<' && p[1] == '=') op = RF_LE, p += 2;
    else if (p[0] == '=' && p[1] == '=') op = RF_EQ, p += 2;
    else if (p[0] == '!' && p[1] == '=') op = RF_NE, p += 2;
    else if (p[0] == '>') op = RF_GT, p += 1;
    else if (p[0] == '<') op = RF_LT, p += 1;
    else if (p[0] == '=') op = RF_EQ, p += 1;
    else {
        snprintf(err, errsize, "--fail-if \"%s\": expected one of > >= < <= == != after %s", s,
                 metrics[metric].name);
        free(route);
        return -1;
    }
    p = skip_blank(p);
    char *end;
    double x = strtod(p, &end);
    if (end == p || !isfinite(x) ||
        !(isdigit((unsigned char)*p) || *p == '.' || *p == '-' || *p == '+')) {
        snprintf(err, errsize, "--fail-if \"%s\": expected a number after %s", s,
                 report_failif_op_text(op));
        free(route);
        return -1;
    }
    p = skip_blank(end);
    enum report_metric_kind kind = metrics[metric].kind;
    if (*p == '%') {
        if (kind != RM_RATE) {
            snprintf(err, errsize, "--fail-if \"%s\": %% only goes with a rate (%s is %s)", s,
                     metrics[metric].name, kind == RM_MS ? "in ms" : "a count");
            free(route);
            return -1;
        }
        x /= 100;
        p++;
    } else if (kind == RM_RATE && (x > 1 || x < -1)) {
        snprintf(err, errsize, "--fail-if \"%s\": a rate without %% is a fraction from 0 to 1: "
                 "write %g%% or %g", s, x, x / 100);
        free(route);
        return -1;
    } else if (p[0] == 'm' && p[1] == 's') {
        if (kind != RM_MS) {
            snprintf(err, errsize, "--fail-if \"%s\": ms only goes with a latency (%s is %s)", s,
                     metrics[metric].name, kind == RM_RATE ? "a rate" : "a count");
            free(route);
            return -1;
        }
        p += 2;
    }
    p = skip_blank(p);
    if (*p) {
        snprintf(err, errsize, "--fail-if \"%s\": unexpected \"%s\" at the end", s, p);
        free(route);
        return -1;
    }
    out->text = strdup(s);
    out->route = route;
    out->metric = metric;
    out->op = op;
    out->threshold = x;
    if (!out->text) {
        snprintf(err, errsize, "out of memory");
        report_failif_free(out);
        return -1;
    }
    return 0;
}

static bool latency_value(const report_route *r, int side, bool p99, double *v)
{
    if (!r->latency[side].samples)
        return false;
    *v = p99 ? r->latency[side].p99 : r->latency[side].p50;
    return true;
}

static bool route_value(const report_route *r, int metric, double *v)
{
    double a, b;
    switch ((enum metric_id)metric) {
    case M_EXCHANGES: *v = (double)r->exchanges; return true;
    case M_COMPARED: *v = (double)report_route_compared(r); return true;
    case M_MATCHES: *v = (double)r->verdicts[RV_MATCH]; return true;
    case M_MISMATCHES: *v = (double)r->verdicts[RV_MISMATCH]; return true;
    case M_KNOWN: *v = (double)r->verdicts[RV_KNOWN]; return true;
    case M_SHADOW_ERRORS: *v = (double)r->verdicts[RV_SHADOW_ERROR]; return true;
    case M_SHADOW_TIMEOUTS: *v = (double)r->verdicts[RV_SHADOW_TIMEOUT]; return true;
    case M_SHADOW_DROPPED: *v = (double)r->verdicts[RV_SHADOW_DROPPED]; return true;
    case M_SKIPPED: *v = (double)r->verdicts[RV_SKIPPED]; return true;
    case M_AUTH_ERRORS: *v = (double)r->verdicts[RV_AUTHORITATIVE_ERROR]; return true;
    case M_OTHER: *v = (double)r->verdicts[RV_OTHER]; return true;
    case M_ERRORS: *v = (double)report_route_errors(r); return true;
    case M_MATCH_RATE: return report_route_rate(r, RV_MATCH, v);
    case M_MISMATCH_RATE: return report_route_rate(r, RV_MISMATCH, v);
    case M_KNOWN_RATE: return report_route_rate(r, RV_KNOWN, v);
    case M_ERROR_RATE:
        if (!r->exchanges)
            return false;
        *v = (double)report_route_errors(r) / (double)r->exchanges;
        return true;
    case M_LEGACY_P50: return latency_value(r, RS_LEGACY, false, v);
    case M_LEGACY_P99: return latency_value(r, RS_LEGACY, true, v);
    case M_NEW_P50: return latency_value(r, RS_NEW, false, v);
    case M_NEW_P99: return latency_value(r, RS_NEW, true, v);
    case M_P50_DELTA:
    case M_P99_DELTA: {
        bool p99 = metric == M_P99_DELTA;
        if (!latency_value(r, RS_LEGACY, p99, &a) || !latency_value(r, RS_NEW, p99, &b))
            return false;
        *v = b - a;
        return true;
    }
    default: return false;
    }
}

report_failif_result report_failif_eval(const report_model *m, const report_failif *f)
{
    report_failif_result res = {.f = f};
    static const report_route empty; /* a route with no records */
    if (metrics[f->metric].global) {
        uint64_t n = 0;
        for (size_t i = 0; i < m->ninputs; i++) {
            const report_input *in = &m->inputs[i];
            if (f->metric == M_TORN)
                n += in->st.torn;
            else if (f->metric == M_INVALID)
                n += in->st.invalid + in->st.too_long;
            else
                n += in->failed;
        }
        res.value = (double)n;
        res.defined = true;
    } else {
        const report_route *r = f->route ? report_model_route(m, f->route) : m->total;
        res.defined = route_value(r ? r : &empty, f->metric, &res.value);
    }
    if (!res.defined)
        return res;
    double v = res.value, t = f->threshold;
    if (metrics[f->metric].kind == RM_MS) { /* compare what is shown: 0.001 ms */
        v = report_round(v * 1000) / 1000;
    } else if (metrics[f->metric].kind == RM_RATE) {
        v = report_round(v * 1e9) / 1e9;
        t = report_round(t * 1e9) / 1e9;
    }
    switch (f->op) {
    case RF_GT: res.holds = v > t; break;
    case RF_GE: res.holds = v >= t; break;
    case RF_LT: res.holds = v < t; break;
    case RF_LE: res.holds = v <= t; break;
    case RF_EQ: res.holds = v == t; break;
    case RF_NE: res.holds = v != t; break;
    }
    return res;
}

void report_failif_format(const report_failif *f, double value, char *buf, size_t size)
{
    switch (metrics[f->metric].kind) {
    case RM_RATE: snprintf(buf, size, "%.4g%%", value * 100); break;
    case RM_MS: snprintf(buf, size, "%.3f ms", value); break;
    default: snprintf(buf, size, "%.0f", value); break;
    }
}
