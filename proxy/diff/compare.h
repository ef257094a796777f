/* compare: the pure diff engine. Appends differences to a jansson array as
 * objects {where, path, kind, legacy, new, known?}; kinds are "changed",
 * "added", "removed", "type". Paths are RFC 6901 JSON Pointers for bodies
 * and the header name for headers. With compare_opts.rules, a route's
 * comparison rules apply (rulecmp.h). No I/O, no globals. */
#ifndef SP_COMPARE_H
#define SP_COMPARE_H

#include <jansson.h>
#include <stddef.h>

#include "diff/body.h"
#include "base/headers.h"

struct route_compare; /* rules.h */

#define COMPARE_MAX_DIFFERENCES 100 /* max_differences 0 */

typedef struct compare_opts {
    const char *const *headers; /* header names to compare (case-insensitive) */
    size_t nheaders;
    size_t max_differences;     /* stop appending after this many; 0 = 100 */
    /* The route's comparison rules (rules.h; what each does: rulecmp.h and
     * compare.c); NULL compares without rules. */
    const struct route_compare *rules;
    /* Optional: incremented once for every difference found (listed or
     * past max_differences) that a known rule accepts; listed ones also
     * get "known": "<rule name>". Verdict: 0 found -> match; found ==
     * *known -> known; else mismatch. */
    size_t *known;
    /* compare_bodies_consume only: the arena its views' trees were parsed
     * in (base/json_arena.h), inside its open scope; they are then dropped
     * there instead of freed value by value. NULL: freed. */
    struct json_arena *arena;
} compare_opts;

/* Each returns the number of differences found (appended up to the cap of
 * compare_opts.max_differences in total, counting what `diffs` holds). */
size_t compare_status(int legacy, int new_, json_t *diffs, const compare_opts *o);
size_t compare_headers(const hdr_list *legacy, const hdr_list *new_,
                       json_t *diffs, const compare_opts *o);
/* JSON bodies structurally (numbers by value, key order ignored, arrays by
 * position); otherwise bytes, reported once at path "" with
 * {"format": body_kind_name, "bytes": n, "sha256": hex} for each side (kind
 * "type" when only one side is JSON). Decoded bytes are compared, so gzip on
 * one side only is no difference; an oversize side is compared by wire
 * length and wire sha256. NULL views are empty bodies. See compare.c. */
size_t compare_bodies(const body_view *legacy, const body_view *new_,
                      json_t *diffs, const compare_opts *o);
/* compare_bodies for a caller done with the views (it prepares the bodies
 * again if a record needs them): the same differences and return value, but
 * the rules may rewrite the views' JSON trees in place instead of copying
 * what they change (no record can read the trees afterwards). Both views
 * are freed (body_view_free) on return, whatever was compared; NULL views
 * are empty bodies. Thread: the views' owner's. */
size_t compare_bodies_consume(body_view *legacy, body_view *new_, json_t *diffs,
                              const compare_opts *o);
/* The structural JSON diff on its own, `path` is the prefix ("" at root).
 * With rules, the rules acting during the walk apply (tolerance, arrays,
 * known), matched on prefix + path; the documents are NOT prepared here
 * (compare_bodies does that; or call rulecmp_prepare first). */
size_t compare_json(const json_t *legacy, const json_t *new_, const char *path,
                    json_t *diffs, const compare_opts *o);

#endif
