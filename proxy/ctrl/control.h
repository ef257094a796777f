/* control: the running proxy's control surface, shared by the admin API
 * (its own thread), signals and the state-file watcher (main loop). It owns
 * the current rules and operator decisions and hands new snapshots to every
 * worker. Every function is thread-safe; every change is logged with who
 * asked and the old and new values. */
#ifndef SP_CONTROL_H
#define SP_CONTROL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/config.h"

typedef struct control control;

/* GET /state: {"uptime_s", "authority": {"global": "legacy", "routes":
 * {name: side}}, "shadow": {"global": {"paused", "sample_percent"},
 * "routes": {name: {...}}}, "writes": {"global": {"paused", "retry_after_s"},
 * "routes": {name: {...}}} (effective), "operator": <ops_to_json>, "rules": {"path",
 * "version", "loaded"}, "breakers": [{"worker", "state"}], "counts": {...},
 * "faults": {"enabled", "scope": "process", "rules": {route: [fault]}, "live":
 * faults_live_json()}}. A new reference. */
json_t *control_state(control *c);
/* Does the current rule set have a route (or "default") by this name? */
bool control_has_route(control *c, const char *name);

/* ---- the operator's decisions (control_decide.c) ----
 * Every change goes to the decision store first (store.h): applied here
 * only once the store took it, so no replica diverges silently. Returns 0
 * with *revision set (the store's revision of the change); -ENOENT an
 * unknown route; -EINVAL a bad value; -EAGAIN the store cannot be reached
 * or written (nothing changed; HTTP 503; msg names the store); -ENOMEM.
 * msg (>= 256 bytes) gets a human sentence either way. `who` is the
 * client ("ip:port", "SIGHUP"); `token` the admin token's name or NULL.
 * `cleared` (may be NULL) gets the names of the routes whose authority
 * decision the change removed. */
typedef struct control_who {
    const char *client;
    const char *token;
} control_who;

/* POST /authority. route NULL = global: also removes every route's
 * authority decision unless keep_routes. */
int control_set_authority(control *c, const char *route_name, sp_side side, bool keep_routes,
                          const control_who *who, json_t *cleared, int64_t *revision, char *msg,
                          size_t size);

/* POST /shadow. paused: -1 unchanged, 0 resume, 1 pause; sample_percent
 * < 0 unchanged, else 0..100. */
int control_set_shadow(control *c, const char *route_name, int paused, double sample_percent,
                       const control_who *who, int64_t *revision, char *msg, size_t size);

/* POST /writes: pause (answer write methods 503 with Retry-After, send
 * them to neither upstream) or resume. retry_after_s: OPS_UNSET (-1) for
 * the default (30), else 1..86400; ignored by a resume. */
int control_set_writes(control *c, const char *route_name, bool paused, int retry_after_s,
                       const control_who *who, int64_t *revision, char *msg, size_t size);

/* POST /rollback: legacy authoritative globally and for every route (route
 * authority decisions removed), one change. */
int control_rollback(control *c, const control_who *who, json_t *cleared, int64_t *revision,
                     char *msg, size_t size);

/* POST /clear: removes every decision of one route (it follows the global
 * ones again). -ENOENT for an unknown route. */
int control_clear_route(control *c, const char *route_name, const control_who *who,
                        int64_t *revision, char *msg, size_t size);

/* Waits (up to timeout_ms) until every live replica applied `revision`.
 * {"revision", "replicas", "applied", "complete": bool, "waited_ms",
 * "behind": [{"id", "host", "revision"}]}. Any thread but a worker. New
 * reference. */
json_t *control_wait_fleet(control *c, int64_t revision, long timeout_ms);

/* GET /history: the last `limit` changes, newest first. NULL with msg
 * when the store cannot be read. */
json_t *control_history(control *c, int limit, char *msg, size_t size);

/* GET /state's "decisions" ({"store", "up", "revision", "last_sync",
 * "replica"}) and "fleet" (store_fleet; [] when unknown). New references. */
json_t *control_decisions_json(control *c);
json_t *control_fleet_json(control *c);

/* POST /reload and SIGHUP: re-reads the config file (its reloadable keys
 * change, the others changed since the start are logged as
 * restart_required: control_config_report), the listener's certificate,
 * the state file, then the rules file. 0 when the new rules are in use; -EINVAL with *errors (a JSON array of
 * "file:line:column: message" strings, new reference) when the file is
 * invalid and the old rules stay. */
int control_reload(control *c, const char *who, json_t **errors);

/* What the last reload made of the config file: {"path", "ok": false when
 * it was invalid (nothing in it changed), "errors": [...] (only then),
 * "restart_required": ["shadow.timeout_ms", ...] (keys changed in the file
 * since the start that only a restart applies)}. A new reference. */
json_t *control_config_report(control *c);

/* The restart_required keys (JSON Pointers, static strings): at most max
 * in out; returns how many there are. For the metric. */
size_t control_restart_keys(control *c, const char **out, size_t max);

/* PUT /log-level: "error", "warn", "info" or "debug". 0 or -EINVAL. */
int control_set_log_level(control *c, const char *level, const char *who);

/* GET /readyz, the parts the proxy itself knows: {"listening": true (a
 * traffic worker runs), "draining": false, "rules": true, "diff_log":
 * {"ok": false, "error": "..."}}. *ready is listening and not draining (the
 * diff log is reported, not required: clients do not depend on it).
 * Draining is control_set_draining's flag or a drain signal seen by the
 * signal handler (base/drainsig.h), before the main loop's turn. The
 * admin API adds the upstream probes. A new reference. */
json_t *control_ready(control *c, bool *ready);

/* The SIGTERM drain began: from now on control_ready says not ready, for
 * good. Any thread. */
void control_set_draining(control *c);

/* readiness.require_shadow as the last (re)load left it. */
bool control_require_shadow(control *c);

/* authoritative[side] is true when that side answers clients on at least
 * one route, or by default (effective decisions: operator, rules, config). */
void control_authoritative_sides(control *c, bool authoritative[2]);

/* GET /metrics: Prometheus text exposition. malloc'd; *len set. */
char *control_metrics(control *c, size_t *len);

/* The config (immutable for the process's life). */
const sp_config *control_config(control *c);

/* The dashboard's live view (live.h: minute counts, recent records), fed
 * by the comparer; thread-safe. NULL when there is none. */
struct live *control_live(control *c);

/* ---- for the server (main thread) ---- */
struct analyzer;
struct worker;
struct rules;
struct ops_state;
struct store;
/* Takes the references to r and o, and the store (may be NULL: decisions
 * in memory only). NULL on no memory. */
control *control_new(const sp_config *cfg, struct analyzer *an, struct rules *r,
                     struct ops_state *o, struct store *st);
/* The workers to hand new snapshots to (after they started). */
void control_attach_workers(control *c, struct worker *w, int n);
/* New references to the current snapshots (for starting workers). */
struct rules *control_rules(control *c);
struct ops_state *control_ops(control *c);
/* Re-reads a file store (another replica or an operator changed it);
 * no-op when its decisions equal the current ones, or for etcd. 0. */
int control_reload_state(control *c, const char *who);
/* Starts the store's background work (etcd's watch); the main thread,
 * once the workers run. */
void control_start_store(control *c);
/* Every STORE_HEARTBEAT_MS on the main loop: this replica is alive. */
void control_heartbeat(control *c);
void control_free(control *c);

#endif
