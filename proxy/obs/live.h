/* live: the live view behind the dashboard (docs/operations.md,
 * "The dashboard"). Fed by the comparer thread, read by the admin API:
 *
 *   - per route, per wall-clock minute, how many exchanges got each verdict,
 *     over the last LIVE_MINUTES minutes (a ring of minute buckets);
 *   - the most recent non-match records (mismatch, known, shadow_error,
 *     shadow_timeout, authoritative_error), as the diff log has them (so
 *     already redacted), in a ring bounded in count and in bytes; a record
 *     over max_record_bytes is kept trimmed (bodies cut first, the
 *     differences last) and says what was cut in "live_trimmed".
 *
 * One mutex. The comparer's cost per exchange is a route lookup (a hash
 * and a compare) and an increment; it allocates only the first time it
 * sees a route. A kept record costs no copy of its line: live_add takes
 * the line the diff log was written from.
 *
 * Times are passed in (now_ms, Unix epoch milliseconds), so tests drive
 * the clock. Every function accepts a NULL live and then does nothing. */
#ifndef SP_LIVE_H
#define SP_LIVE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "obs/metrics.h"
#include "obs/live_ready.h"

#define LIVE_MINUTES 15                             /* minute buckets per route */
#define LIVE_MAX_RECORDS 50                         /* records in the ring */
#define LIVE_MAX_BYTES ((size_t)4 * 1024 * 1024)    /* all records' text together */
#define LIVE_MAX_RECORD_BYTES ((size_t)256 * 1024)  /* one record; bigger ones are trimmed */
#define LIVE_MAX_ROUTES 256                         /* route names; more count as LIVE_OTHER_ROUTE */
#define LIVE_MAX_NAME 128                           /* bytes kept of a route name */
#define LIVE_OTHER_ROUTE "(other)"             /* the routes past the cap */
#define LIVE_MAX_ENDPOINTS 100 /* endpoints of the route `default`; more count as LIVE_OTHER_ROUTE */

typedef struct live live;

typedef struct live_limits {
    size_t max_records;      /* >= 1 */
    size_t max_bytes;        /* >= max_record_bytes */
    size_t max_record_bytes; /* >= 1024 */
    size_t max_routes;       /* >= 1; the "other" row comes on top */
} live_limits;

/* lim NULL: the LIVE_* defaults. NULL on no memory or bad limits. */
live *live_new(const live_limits *lim);
void live_free(live *l);

/* The live readiness tally (obs/live_ready.h), owned by l; NULL for a
 * NULL l. */
live_ready *live_readiness(live *l);

/* Does a record with this verdict go into the ring? */
bool live_keeps(verdict v);

/* One exchange of `route` (NULL: "default") ended with v at now_ms. */
void live_count(live *l, const char *route, verdict v, int64_t now_ms);
/* n exchanges at once (0: nothing). */
void live_count_n(live *l, const char *route, verdict v, uint64_t n, int64_t now_ms);

/* A confirmation's outcome on `route` (rules "confirm"): state
 * "transient", "confirmed", "failed" or "skipped" (others are not
 * counted). Shown in live_stats' spans as "confirmation". */
void live_count_confirm(live *l, const char *route, const char *state, int64_t now_ms);

/* One exchange of the route `default` (no route matched) ended with v at
 * now_ms; endpoint is its method and path template (conf/endpoint.h).
 * Counted apart from the routes: the route `default` counts it too. */
void live_count_endpoint(live *l, const char *endpoint, verdict v, int64_t now_ms);
/* n of them at once. */
void live_count_endpoint_n(live *l, const char *endpoint, verdict v, uint64_t n, int64_t now_ms);

/* A compared exchange at once, under one lock: live_count of route (NULL:
 * "default"), live_count_endpoint when endpoint is not NULL (the route
 * `default`'s exchanges), and live_ready_count of live_readiness(l) under
 * the endpoint, else the route, with each side's answer time (negative:
 * no HTTP answer). Any thread. */
void live_count_exchange(live *l, const char *route, const char *endpoint, verdict v,
                         int64_t now_ms, double legacy_ms, double new_ms);

/* Keeps one record. `line` is its serialized text (record_to_line: one
 * line, may end in '\n'), malloc'd: live_add takes it and frees it when
 * the record leaves the ring (or at once when it cannot keep it). `rec`
 * is the same record as JSON, borrowed and not modified: the summary is
 * read from it, and a trimmed copy is made from it when len is over
 * max_record_bytes. */
void live_add(live *l, json_t *rec, char *line, size_t len);

/* GET /api/live: {"now", "minutes", "window_start", "routes": {name:
 * {"per_minute": {verdict: [n oldest..newest]}, "last": {"1m"|"5m"|"15m":
 * {verdict: n, "compared", "match_rate", "confirmation": {"transient",
 * "confirmed", "failed", "skipped": n}}}}}, "totals": {the same, every
 * route summed}, "routes_capped", "endpoints": {endpoint: the same as a
 * route}, "endpoints_capped", "recent": {"records", "bytes",
 * "latest_seq", "evicted", "max_records", "max_bytes", "max_record_bytes"}}.
 * Verdicts with no count are left out of per_minute. A new reference. */
json_t *live_stats(live *l, int64_t now_ms);

/* GET /api/recent: {"records": [summary, newest first], "held": {...},
 * "limits": {...}} as JSON text, malloc'd, *len set. A summary is {"seq",
 * "id", "ts", "route", "endpoint" (null in records without
 * one), "method", "uri" (cut at 512 bytes), "authority",
 * "verdict", "reason", "differences" (the count found), "status":
 * {"legacy", "new"}, "bytes", "trimmed"}. NULL on no memory. */
char *live_recent(live *l, size_t *len);

/* A record's summary, as in GET /api/recent without "seq" (also the
 * entries of GET /api/history): a new reference, NULL on no memory.
 * text_len is the record's size as text; a count record (overload,
 * not_mirrored) adds "type" and "count" (its exchanges). Pure, any thread. */
json_t *live_summary(json_t *rec, size_t text_len, bool trimmed);

/* GET /api/recent/SEQ: that record's text, malloc'd (NUL-terminated),
 * *len set. NULL when it has left the ring (or never was). */
char *live_record(live *l, uint64_t seq, size_t *len);

/* The record trimmed to at most cap bytes of text (what live_add keeps for
 * a big record), malloc'd, *len set; NULL on no memory. Pure. */
char *live_trim(json_t *rec, size_t cap, size_t *len);

#endif
