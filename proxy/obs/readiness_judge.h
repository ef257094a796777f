/* readiness_judge: the judging of a route's counts against its cutover
 * readiness criteria (docs/readiness.md), shared by `shadowproxy readiness`
 * (tools/readiness, over diff logs) and the live verdict of the dashboard
 * (obs/live_ready, over every exchange since the process started), so the
 * two say the same thing with the same words by construction.
 * Pure: no I/O, no globals; any thread. */
#ifndef SP_READINESS_JUDGE_H
#define SP_READINESS_JUDGE_H

#include "conf/rules.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { READINESS_LEGACY, READINESS_NEW, READINESS_SIDES };

/* One route's numbers: what the count, rate and p99 criteria judge. */
typedef struct readiness_numbers {
    uint64_t exchanges;  /* every exchange (any verdict) */
    uint64_t compared;   /* match + known + mismatch */
    uint64_t mismatches; /* mismatch */
    uint64_t transient;  /* of the mismatches, equal when read again (rules "confirm"):
                          * a sync lag, not counted in the mismatch rate */
    uint64_t errors;     /* shadow_error + shadow_timeout + authoritative_error */
    bool has_p99[READINESS_SIDES]; /* an answer time of that side was seen */
    double p99_ms[READINESS_SIDES];
} readiness_numbers;

/* 0.025 as "2.5%", 0.001 as "0.1%". */
void readiness_pct(double x, char *buf, size_t size);
/* Rates to 1e-6 and milliseconds to 1e-3, half away from zero (the JSON
 * "value"s). */
double readiness_round_rate(double x);
double readiness_round_ms(double x);

/* Appends {"criterion": name, "ok": ok, "reason": formatted} to list and
 * returns it (borrowed) for more members; NULL when out of memory. */
json_t *readiness_criterion(json_t *list, const char *name, bool ok, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Appends to list the verdicts of min_exchanges, max_mismatch_rate,
 * max_error_rate and (when c->has_p99) max_p99_delta_ms on n. */
void readiness_judge_numbers(json_t *list, const route_readiness *c, const readiness_numbers *n);

/* {"route", "ready", "required", "exchanges", "compared", "criteria"}:
 * ready when every criterion's "ok" is true (a criterion whose "ok" is not
 * true, null included, makes it not ready). Takes criteria (also on
 * failure). A new reference; NULL when out of memory. */
json_t *readiness_route_verdict(const char *name, bool required, const readiness_numbers *n,
                                json_t *criteria);

#endif
