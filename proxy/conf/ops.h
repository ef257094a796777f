/* ops: the operator's decisions, made at run time through the admin API or
 * the state file: authority (global or per route) and the shadow (paused,
 * resumed, sampled; global or per route). A decision set is an immutable,
 * refcounted snapshot like the rules: a change builds a new one and every
 * worker swaps a pointer. Persisted in a small JSON state file written
 * atomically (temp, fsync, rename). Pure except ops_load/ops_save. */
#ifndef SP_OPS_H
#define SP_OPS_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "conf/config.h"

#define OPS_UNSET (-1)
/* ops_with: remove this scope's decision for the field (back to inherited). */
#define OPS_CLEAR (-2)
/* State files larger than this are refused. */
#define OPS_MAX_FILE_BYTES ((size_t)1 << 20)

/* One scope's decisions: OPS_UNSET (-1) means "no decision here". */
typedef struct ops_decision {
    int authority;         /* -1, or sp_side */
    int paused;            /* -1, 0 (resumed) or 1 (paused) */
    double sample_percent; /* < 0: unset; else 0..100 */
    int writes_paused;     /* -1, 0 (writes flow) or 1 (writes answered 503) */
    int retry_after_s;     /* -1, or the Retry-After of a write pause (1..86400) */
} ops_decision;

/* The Retry-After a write pause answers with when none was given. */
#define OPS_RETRY_AFTER_DEFAULT 30
#define OPS_RETRY_AFTER_MAX 86400

typedef struct ops_route {
    char *name;
    ops_decision d;
} ops_route;

typedef struct ops_state {
    atomic_int refs;
    ops_decision global;
    ops_route *routes;     /* sorted by name */
    size_t nroutes;
    int64_t changed_ms;    /* wall clock of the last change; 0 never */
    int64_t revision;      /* the store's revision of this set; 0: none yet */
} ops_state;

/* An empty decision set (nothing decided). NULL on no memory. */
ops_state *ops_new(void);
ops_state *ops_ref(ops_state *o);
void ops_unref(ops_state *o); /* NULL-safe */

/* The decision for a route: the route's own, else the global one. The
 * effective authority is ops_authority(...) if >= 0, else the rules' route
 * authority, else the config's. */
int ops_authority(const ops_state *o, const char *route);
/* Is the shadow paused for this route (route decision, else global)? */
bool ops_paused(const ops_state *o, const char *route);
/* The operator's sample percentage for this route, or < 0 for none. */
double ops_sample(const ops_state *o, const char *route);
/* Are writes paused for this route (route decision, else global)? When
 * they are and retry_after is not NULL, *retry_after gets the seconds the
 * deciding scope gave (else OPS_RETRY_AFTER_DEFAULT). */
bool ops_writes_paused(const ops_state *o, const char *route, int *retry_after);
/* The write methods a write pause refuses: POST, PUT, PATCH, DELETE. */
bool ops_is_write_method(const char *method);

/* A copy of `o` with one change applied. route NULL = global. Each of
 * authority / paused / sample may be "unchanged" (OPS_UNSET / OPS_UNSET /
 * < 0). Returns NULL on no memory. */
ops_state *ops_with(const ops_state *o, const char *route, int authority, int paused,
                    double sample_percent);
/* Notes on ops_with:
 * - OPS_CLEAR (-2) in any of the three removes that decision from the scope
 *   (sample_percent: exactly -2.0; other negatives leave it unchanged). A
 *   route left with no decision at all is removed from `routes`.
 * - o may be NULL (an empty set). changed_ms is set to now (CLOCK_REALTIME);
 *   revision is copied (the store sets the new one).
 * - sample_percent is kept to 6 decimal places (so is a loaded one): the
 *   state file stays short and reads back exactly.
 * - NULL with errno EINVAL when the route name fails ops_route_name_ok or a
 *   value is out of range (authority not a side, paused not 0/1, sample
 *   above 100 or NaN); NULL with errno ENOMEM on no memory. */

/* A copy of `o` with the write pause of one scope changed (route NULL =
 * global): paused 1 pauses with retry_after_s (1..OPS_RETRY_AFTER_MAX, or
 * OPS_UNSET for the default), 0 resumes (retry_after_s cleared), OPS_CLEAR
 * removes the scope's write decision. As ops_with otherwise (EINVAL,
 * ENOMEM, changed_ms, revision). */
ops_state *ops_with_writes(const ops_state *o, const char *route, int paused, int retry_after_s);

/* A copy of `o` without any route's authority decision (shadow decisions
 * stay; a route left with none is dropped): a global flip or a rollback.
 * The names of the routes whose authority was removed are appended to
 * `cleared` (a JSON array; may be NULL). revision is copied, changed_ms is
 * now. NULL with errno ENOMEM. */
ops_state *ops_without_route_authority(const ops_state *o, json_t *cleared);

/* One scope's own decisions (route NULL = global), not the effective ones:
 * every field unset when the route has none. For "old -> new" logs. */
ops_decision ops_get(const ops_state *o, const char *route);

/* Do a and b hold the same decisions (changed_ms not compared)? NULL is
 * an empty set. For the state-file watcher: "nothing changed". */
bool ops_equal(const ops_state *a, const ops_state *b);

/* A route name as the rules file allows it: [A-Za-z0-9._-]{1,64}. */
bool ops_route_name_ok(const char *name);

/* JSON form (the state file and GET /state's "operator" member):
 * {"version": 1, "revision": N, "changed": "RFC3339", "global": {"authority": "new",
 *  "shadow": {"paused": false, "sample_percent": 50},
 *  "writes": {"paused": true, "retry_after_s": 30}},
 *  "routes": {"orders-get": {"authority": "legacy", "shadow": {...}}}}
 * Unset decisions are omitted. "changed" is omitted when changed_ms is 0,
 * "revision" when it is 0;
 * "global" and "routes" are always there (maybe {}); a whole
 * sample_percent is written as an integer. NULL on no memory. */
json_t *ops_to_json(const ops_state *o);
/* Parses that form; every problem goes to errs (line:column when the text
 * is given). NULL on error. "version": 1 is required, "changed" optional
 * (any RFC 3339 time), unknown keys are errors; a route with no decision
 * ({}) is dropped. Messages read like the config's: "routes.orders-get.
 * authority must be \"legacy\" or \"new\", got \"x\"". */
ops_state *ops_from_json_text(const char *text, size_t len, config_errors *errs);

/* Reads the state file; a missing file is an empty decision set (not an
 * error). NULL with errs filled on an unreadable or invalid file. */
ops_state *ops_load(const char *path, config_errors *errs);
/* Writes atomically: PATH.tmp.PID, fsync, rename, fsync of the directory.
 * 0 or -errno. The temp file is PATH.tmp.PID.XXXXXX (random suffix: two
 * replicas sharing a directory may both be PID 1), mode 0644 whatever the
 * umask; on failure it is removed and PATH is untouched. */
int ops_save(const char *path, const ops_state *o);

#endif
