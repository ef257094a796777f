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

#include "conf/config.h"

typedef struct control control;

/* GET /state: {"uptime_s", "authority": {"global": "legacy", "routes":
 * {name: side}}, "shadow": {"global": {"paused", "sample_percent"},
 * "routes": {name: {...}}}, "operator": <ops_to_json>, "rules": {"path",
 * "version", "loaded"}, "breakers": [{"worker", "state"}], "counts": {...}}.
 * A new reference. */
json_t *control_state(control *c);

/* POST /authority. route NULL = global; an unknown route is -ENOENT.
 * -EIO when the state file could not be written (the change still applies
 * in memory; msg says so). msg (>= 256 bytes) gets a human sentence. */
int control_set_authority(control *c, const char *route_name, sp_side side, const char *who,
                          char *msg, size_t size);

/* POST /shadow. paused: -1 unchanged, 0 resume, 1 pause; sample_percent
 * < 0 unchanged, else 0..100. Same returns as control_set_authority. */
int control_set_shadow(control *c, const char *route_name, int paused, double sample_percent,
                       const char *who, char *msg, size_t size);

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
 * diff log is reported, not required: clients do not depend on it). The
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
/* Takes the references to r and o. NULL on no memory. */
control *control_new(const sp_config *cfg, struct analyzer *an, struct rules *r,
                     struct ops_state *o);
/* The workers to hand new snapshots to (after they started). */
void control_attach_workers(control *c, struct worker *w, int n);
/* New references to the current snapshots (for starting workers). */
struct rules *control_rules(control *c);
struct ops_state *control_ops(control *c);
/* Re-reads the state file (another replica or an operator changed it);
 * no-op when its decisions equal the current ones. 0 or -EINVAL. */
int control_reload_state(control *c, const char *who);
void control_free(control *c);

#endif
