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

#include "config.h"

#define OPS_UNSET (-1)

/* One scope's decisions: OPS_UNSET (-1) means "no decision here". */
typedef struct ops_decision {
    int authority;         /* -1, or sp_side */
    int paused;            /* -1, 0 (resumed) or 1 (paused) */
    double sample_percent; /* < 0: unset; else 0..100 */
} ops_decision;

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

/* A copy of `o` with one change applied. route NULL = global. Each of
 * authority / paused / sample may be "unchanged" (OPS_UNSET / OPS_UNSET /
 * < 0). Returns NULL on no memory. */
ops_state *ops_with(const ops_state *o, const char *route, int authority, int paused,
                    double sample_percent);

/* JSON form (the state file and GET /state's "operator" member):
 * {"version": 1, "changed": "RFC3339", "global": {"authority": "new",
 *  "shadow": {"paused": false, "sample_percent": 50}},
 *  "routes": {"orders-get": {"authority": "legacy", "shadow": {...}}}}
 * Unset decisions are omitted. */
json_t *ops_to_json(const ops_state *o);
/* Parses that form; every problem goes to errs (line:column when the text
 * is given). NULL on error. */
ops_state *ops_from_json_text(const char *text, size_t len, config_errors *errs);

/* Reads the state file; a missing file is an empty decision set (not an
 * error). NULL with errs filled on an unreadable or invalid file. */
ops_state *ops_load(const char *path, config_errors *errs);
/* Writes atomically: PATH.tmp.PID, fsync, rename, fsync of the directory.
 * 0 or -errno. */
int ops_save(const char *path, const ops_state *o);

#endif
