/* live_ready: the cutover readiness verdict of this process's own traffic,
 * live (docs/readiness.md, "Live, on the dashboard"). The comparer counts
 * EVERY exchange it judges here, whatever the diff log's mode keeps: per
 * route (records of the route `default` by endpoint, as `shadowproxy
 * readiness` names them) the exchanges, the compared ones, mismatches,
 * errors, and each side's answer times in a log-bucketed histogram (p99
 * within 1/32 of the true value; exact when the route has under 100
 * answer times, the largest one). live_ready_evaluate judges them with
 * obs/readiness_judge, the code the CLI judges the logs with.
 *
 * Bounded: at most LIVE_MAX_ROUTES + LIVE_MAX_ENDPOINTS names (more count
 * as LIVE_OTHER_ROUTE), about 8 KB each, allocated when a name is first
 * seen; nothing is allocated per exchange after that. One mutex, held for
 * a lookup and a few increments: its own, or one it shares with the live
 * view that owns it (obs/live.c: one lock per compared exchange for both).
 * Every function accepts a NULL tally. */
#ifndef SP_LIVE_READY_H
#define SP_LIVE_READY_H

#include "obs/metrics.h"

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>

typedef struct live_ready live_ready;

/* max_names >= 1. since_ms: the start of the counting (the process's).
 * NULL on no memory. */
live_ready *live_ready_new(size_t max_names, int64_t since_ms);
/* The same, guarded by `lock` (not owned; initialised, and outliving the
 * tally) instead of a mutex of its own; NULL lock: its own. */
live_ready *live_ready_new_sharing(size_t max_names, int64_t since_ms, pthread_mutex_t *lock);
void live_ready_free(live_ready *t);

/* One judged exchange: name is its route, or for the route `default` its
 * endpoint (conf/endpoint.h); legacy_ms / new_ms the side's answer time,
 * negative when that side gave no HTTP answer. Any thread. */
void live_ready_count(live_ready *t, const char *name, verdict v, double legacy_ms,
                      double new_ms);
/* n exchanges with verdict v and no answer times (the not-mirrored ones,
 * counted in batches). Any thread. */
void live_ready_count_n(live_ready *t, const char *name, verdict v, uint64_t n);
/* The same with t's lock held by the caller (the shared one). */
void live_ready_count_held(live_ready *t, const char *name, verdict v, double legacy_ms,
                           double new_ms);
/* A mismatch of name (counted already) was equal when read again (rules
 * "confirm", transient): left out of the mismatch rate. Any thread. */
void live_ready_transient(live_ready *t, const char *name);

/* GET /api/readiness: the document of `shadowproxy readiness --format json`
 * (readiness_version, generated, ready, routes_required, routes_ready,
 * records, rules, routes) judged against rs's criteria, plus "live": true,
 * "since" and "scope": "this replica". Money and coverage criteria are not
 * judged live: they appear with "ok": null, "live": false and a reason
 * saying so, and make their route "NOT JUDGED LIVE" (never READY); every
 * route has "verdict": "READY" | "NOT READY" | "NOT JUDGED LIVE". Routes:
 * most exchanges first, then the rules' routes with criteria not seen.
 * A new reference; NULL on no memory. */
struct rules;
json_t *live_ready_evaluate(live_ready *t, const struct rules *rs, int64_t now_ms);

#endif
