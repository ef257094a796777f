/* overload: the exchanges that got no record of their own, counted per
 * route instead (docs/diff-log.md, "Overload records" and "Not-mirrored
 * records"):
 *
 *   not_compared     exchanges sampled out of comparison by request id
 *                    (their verdict is `skipped`);
 *   unlogged[v]      exchanges with verdict v and no record: the sampled-out
 *                    ones, and those whose record the writer had no room
 *                    for (the comparer pool or the writer could not keep up);
 *   not_mirrored[r]  exchanges whose shadow was not sent by choice (reason
 *                    r: config, operator, rules), in `mismatches` mode.
 *
 * A tally is summed over a window and turned into one `overload` record
 * and one `not_mirrored` record per route that had any. Pure: no I/O, no
 * locks, no allocation but the record lines (a tally is a fixed table);
 * the caller serializes access. */
#ifndef SP_OVERLOAD_H
#define SP_OVERLOAD_H

/* How long a tally is summed before its records are written. */
#define OVERLOAD_WINDOW_MS 1000

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "obs/metrics.h"

#define OVERLOAD_MAX_ROUTES 64            /* more count as OVERLOAD_OTHER_ROUTE */
#define OVERLOAD_MAX_NAME 200             /* bytes kept of a route name */
#define OVERLOAD_OTHER_ROUTE "(other)"

/* Why the shadow was not sent by choice: the verdict is `skipped`, the
 * record's reason the text (not_mirrored_text). */
typedef enum not_mirrored_reason {
    NM_SHADOW_DISABLED,   /* shadow.enabled false */
    NM_PAUSED,            /* the operator's pause (route or global) */
    NM_ROUTE_OFF,         /* the route's "mirror": false */
    NM_METHOD,            /* the route's mirror_methods leave it out */
    NM_NOT_SAMPLED,       /* mirror.sample_percent (or the operator's) by request id */
    NM_COUNT
} not_mirrored_reason;

/* "shadow disabled", ...: the record's reason; static. */
const char *not_mirrored_text(not_mirrored_reason r);

typedef struct overload_count {
    char route[OVERLOAD_MAX_NAME + 1]; /* or, with endpoint, the endpoint */
    bool endpoint;        /* counts of an endpoint of the route `default` (not_mirrored only) */
    uint64_t not_compared;
    uint64_t unlogged[VERDICT_COUNT];
    uint64_t not_mirrored[NM_COUNT];
} overload_count;

typedef struct overload_tally {
    overload_count v[OVERLOAD_MAX_ROUTES + 1]; /* the last one is "(other)" */
    size_t n;                                  /* routes in use, "(other)" excluded */
    bool other_used;
} overload_tally;

/* Zero-initialised (= {0}) is an empty tally. One exchange of `route`
 * (NULL: "default") with verdict v and no record; not_compared: its
 * comparison was sampled out. */
void overload_tally_add(overload_tally *t, const char *route, verdict v, bool not_compared);
/* One exchange of `route` (NULL: "default") not mirrored, for reason r;
 * endpoint: for the route `default`, its endpoint (conf/endpoint.h), counted
 * apart like the records of that route, else NULL. */
void overload_tally_not_mirrored(overload_tally *t, const char *route, const char *endpoint,
                                 not_mirrored_reason r);
/* The exchanges c counts as not mirrored, all reasons. */
uint64_t overload_count_not_mirrored(const overload_count *c);
/* Adds src to dst and empties src. */
void overload_tally_merge(overload_tally *dst, overload_tally *src);
bool overload_tally_empty(const overload_tally *t);
/* Routes counted ("(other)" included), and the i-th of them. */
size_t overload_tally_size(const overload_tally *t);
const overload_count *overload_tally_at(const overload_tally *t, size_t i);

/* An `overload` and a `not_mirrored` record line per route that has such
 * counts (compact JSON ending in '\n', concatenated,
 * malloc'd, length in *len, count in *nrecords) for the window
 * [start_ms, end_ms) (Unix epoch milliseconds), and t emptied. NULL with
 * *len 0 when t is empty or on no memory (then t is left as it was). */
char *overload_tally_lines(overload_tally *t, int64_t start_ms, int64_t end_ms, size_t *len,
                           size_t *nrecords);

#endif
