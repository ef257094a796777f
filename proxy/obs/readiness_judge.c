/* readiness_judge: see readiness_judge.h. */
#include "obs/readiness_judge.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void readiness_pct(double x, char *buf, size_t size)
{
    snprintf(buf, size, "%.3f", x * 100);
    char *dot = strchr(buf, '.');
    if (dot) {
        char *end = buf + strlen(buf) - 1;
        while (end > dot && *end == '0')
            *end-- = '\0';
        if (end == dot)
            *end = '\0';
    }
    size_t n = strlen(buf);
    snprintf(buf + n, size - n, "%%");
}

static double round_half_away(double x)
{
    if (!(x > -4e18 && x < 4e18))
        return x;
    return (double)(long long)(x < 0 ? x - 0.5 : x + 0.5);
}

double readiness_round_rate(double x) { return round_half_away(x * 1e6) / 1e6; }
double readiness_round_ms(double x) { return round_half_away(x * 1000) / 1000; }

json_t *readiness_criterion(json_t *list, const char *name, bool ok, const char *fmt, ...)
{
    char reason[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    json_t *c = json_pack("{s:s, s:b, s:s}", "criterion", name, "ok", ok, "reason", reason);
    if (c && json_array_append_new(list, c) != 0)
        return NULL;
    return c;
}

static void set_limit(json_t *j, json_t *limit)
{
    if (j)
        json_object_set_new(j, "limit", limit);
    else
        json_decref(limit);
}

/* A rate criterion: part / whole at most limit; "what" names the rate,
 * "of" the whole after its count, "none" the reason when whole is 0. */
static void judge_rate(json_t *cl, const char *name, uint64_t part, uint64_t whole, double limit,
                       const char *what, const char *of, const char *none, uint64_t left_out)
{
    char a[32], b[32];
    json_t *j;
    readiness_pct(limit, b, sizeof b);
    if (whole) {
        double rate = (double)part / (double)whole;
        readiness_pct(rate, a, sizeof a);
        char why[64] = "";
        if (left_out)
            snprintf(why, sizeof why, "; %llu transient not counted", (unsigned long long)left_out);
        j = readiness_criterion(cl, name, rate <= limit, "%s %s (%llu of %llu%s%s; limit %s)",
                                what, a, (unsigned long long)part, (unsigned long long)whole, of,
                                why, b);
        if (j)
            json_object_set_new(j, "value", json_real(readiness_round_rate(rate)));
    } else {
        j = readiness_criterion(cl, name, false, "%s (limit %s)", none, b);
    }
    set_limit(j, json_real(limit));
}

static void judge_rates(json_t *cl, const route_readiness *c, const readiness_numbers *n)
{
    json_t *j = readiness_criterion(cl, "min_exchanges", n->compared >= c->min_exchanges,
                                    "%llu compared exchanges (need %llu)",
                                    (unsigned long long)n->compared,
                                    (unsigned long long)c->min_exchanges);
    if (j)
        json_object_set_new(j, "value", json_integer((json_int_t)n->compared));
    set_limit(j, json_integer((json_int_t)c->min_exchanges));
    /* A mismatch found equal when read again was timing (a sync lag), not
     * a difference between the systems. */
    uint64_t transient = n->transient < n->mismatches ? n->transient : n->mismatches;
    judge_rate(cl, "max_mismatch_rate", n->mismatches - transient, n->compared,
               c->max_mismatch_rate, "mismatch rate", "", "no compared exchange", transient);
    judge_rate(cl, "max_error_rate", n->errors, n->exchanges, c->max_error_rate, "error rate",
               " exchanges", "no exchange", 0);
}

static void judge_p99(json_t *cl, const route_readiness *c, const readiness_numbers *n)
{
    json_t *j;
    if (n->has_p99[READINESS_LEGACY] && n->has_p99[READINESS_NEW]) {
        double l = n->p99_ms[READINESS_LEGACY], nw = n->p99_ms[READINESS_NEW], d = nw - l;
        j = readiness_criterion(cl, "max_p99_delta_ms", d <= c->max_p99_delta_ms,
                                "p99 new %.1f ms - legacy %.1f ms = %+.1f ms (limit %g ms)", nw, l,
                                d, c->max_p99_delta_ms);
        if (j)
            json_object_set_new(j, "value", json_real(readiness_round_ms(d)));
    } else {
        j = readiness_criterion(cl, "max_p99_delta_ms", false, "no answer time of %s (limit %g ms)",
                                n->has_p99[READINESS_LEGACY] ? "the new side" : "both sides",
                                c->max_p99_delta_ms);
    }
    set_limit(j, json_real(c->max_p99_delta_ms));
}

void readiness_judge_numbers(json_t *list, const route_readiness *c, const readiness_numbers *n)
{
    judge_rates(list, c, n);
    if (c->has_p99)
        judge_p99(list, c, n);
}

json_t *readiness_route_verdict(const char *name, bool required, const readiness_numbers *n,
                                json_t *criteria)
{
    if (!criteria)
        return NULL;
    bool ready = true;
    size_t i;
    json_t *e;
    json_array_foreach(criteria, i, e)
        ready = ready && json_is_true(json_object_get(e, "ok"));
    return json_pack("{s:s, s:b, s:b, s:I, s:I, s:o}", "route", name, "ready", ready, "required",
                     required, "exchanges", (json_int_t)n->exchanges, "compared",
                     (json_int_t)n->compared, "criteria", criteria);
}
