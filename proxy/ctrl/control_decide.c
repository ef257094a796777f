/* control_decide: the operator's decisions through the decision store
 * (control.h, "the operator's decisions"): flips, shadow changes, rollback
 * and clear as edits the store applies to its current decisions (read-
 * modify-write or compare-and-swap, so nothing is lost between replicas),
 * the store's changes applied here, waiting for the fleet, the history.
 *
 *   admin thread: edit ─► store_commit ─► control_publish_ops ─► workers
 *   main loop (file watcher) / etcd thread: store ─► control_publish_ops
 */
#include "ctrl/control_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/log.h"

/* ---- edits ----------------------------------------------------------------------- */

typedef enum edit_kind { EDIT_SET, EDIT_ROLLBACK, EDIT_CLEAR_ROUTE } edit_kind;

typedef struct edit {
    edit_kind kind;
    const char *route;  /* NULL: global */
    int authority, paused;
    double sample;
    bool clear_routes;  /* a global flip without --keep-routes */
    json_t *cleared;    /* route names whose authority went; refilled per try */
    bool writes;        /* a write pause change: the two below */
    int writes_paused, retry_after;
} edit;

/* ops_with_writes over `o` (taken) when the edit changes writes. */
static ops_state *with_writes(ops_state *o, const edit *e, int paused)
{
    if (!o || !(e->writes || e->kind == EDIT_CLEAR_ROUTE))
        return o;
    ops_state *n = ops_with_writes(o, e->route, paused, e->retry_after);
    int err = errno;
    ops_unref(o);
    errno = err;
    return n;
}

/* store_edit_fn: pure, may run more than once (a conflict retries it). */
static ops_state *apply_edit(const ops_state *cur, void *arg)
{
    edit *e = arg;
    json_array_clear(e->cleared);
    ops_state *base = NULL, *next = NULL;
    switch (e->kind) {
    case EDIT_SET:
        base = e->clear_routes ? ops_without_route_authority(cur, e->cleared)
                               : ops_ref((ops_state *)cur);
        break;
    case EDIT_ROLLBACK:
        base = ops_without_route_authority(cur, e->cleared);
        break;
    case EDIT_CLEAR_ROUTE:
        return with_writes(ops_with(cur, e->route, OPS_CLEAR, OPS_CLEAR, OPS_CLEAR), e,
                           OPS_CLEAR);
    }
    if (base)
        next = with_writes(ops_with(base, e->route, e->authority, e->paused, e->sample), e,
                           e->writes_paused);
    int err = errno;
    ops_unref(base);
    errno = err;
    return next;
}

/* ---- applying ------------------------------------------------------------------- */

void control_publish_ops(control *c, ops_state *next)
{
    ops_unref(c->ops);
    c->ops = next;
    for (int i = 0; i < c->nworkers; i++)
        if (!atomic_load(&c->workers[i].exited))
            worker_set_ops(&c->workers[i], ops_ref(next));
    if (c->st)
        store_applied(c->st, next->revision);
}

static char *compact(const ops_state *o)
{
    json_t *j = ops_to_json(o);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return s;
}

/* Another replica's change (or a hand edit) arrived: applied when newer.
 * Called with mu held; takes the reference. */
static void apply_from_store(control *c, ops_state *o, const char *via)
{
    if (!store_is_newer(c->st, c->ops, o)) {
        ops_unref(o);
        return;
    }
    char *old = compact(c->ops), *now = compact(o), rev[24];
    snprintf(rev, sizeof rev, "%lld", (long long)o->revision);
    control_publish_ops(c, o);
    log_event(LOG_INFO, "operator_change", "what", via, "who", "decision store", "revision", rev,
              "old", old, "new", now, NULL);
    free(old);
    free(now);
}

int control_reload_state(control *c, const char *who)
{
    (void)who;
    if (!c->st)
        return 0;
    /* Under the lock: our own writes happen under it, so a file read before
     * a newer change of ours can never be published over it. */
    pthread_mutex_lock(&c->mu);
    ops_state *o = NULL;
    if (store_refresh(c->st, c->ops, &o) == 1)
        apply_from_store(c, o, "state file");
    pthread_mutex_unlock(&c->mu);
    return 0;
}

static void on_store_update(ops_state *o, void *arg)
{
    control *c = arg;
    pthread_mutex_lock(&c->mu);
    apply_from_store(c, o, "decision store");
    pthread_mutex_unlock(&c->mu);
}

void control_start_store(control *c)
{
    if (c->st) {
        store_heartbeat(c->st);
        store_start(c->st, on_store_update, c);
    }
}

void control_heartbeat(control *c)
{
    if (c->st)
        store_heartbeat(c->st);
}

/* ---- changes ---------------------------------------------------------------------- */

static json_t *audit_of(const control_who *who, const char *what, const char *route_name)
{
    return json_pack("{s:s?, s:s?, s:s, s:s?}", "who", who ? who->token : NULL, "client",
                     who ? who->client : NULL, "what", what, "route", route_name);
}

/* The edit through the store (or in memory without one), applied here. */
static int commit(control *c, edit *e, const char *what, const control_who *who,
                  int64_t *revision, char *msg, size_t size)
{
    *msg = '\0';
    pthread_mutex_lock(&c->mu);
    if (e->route && !rules_find(c->rules, e->route)) {
        pthread_mutex_unlock(&c->mu);
        snprintf(msg, size, "unknown route \"%s\" (GET /state lists them)", e->route);
        return -ENOENT;
    }
    char *old = compact(c->ops);
    ops_state *next = NULL;
    json_t *audit = audit_of(who, what, e->route);
    int rc;
    if (c->st) {
        rc = store_commit(c->st, c->ops, apply_edit, e, audit, &next, msg, size);
    } else {
        next = apply_edit(c->ops, e);
        rc = next ? 0 : errno == EINVAL ? -EINVAL : -ENOMEM;
        if (next)
            next->revision = c->ops->revision + 1;
    }
    json_decref(audit);
    if (rc == 0) {
        *revision = next->revision;
        if (!c->st || store_is_newer(c->st, c->ops, next))
            control_publish_ops(c, ops_ref(next)); /* else a newer one is in force already */
    }
    pthread_mutex_unlock(&c->mu);
    if (rc == 0) {
        char *now = compact(next), rev[24], *cl = json_dumps(e->cleared, JSON_COMPACT);
        snprintf(rev, sizeof rev, "%lld", (long long)next->revision);
        static const char *const kinds[] = {"authority", "rollback", "clear"};
        const char *kind = e->kind != EDIT_SET || e->authority != OPS_UNSET ? kinds[e->kind]
                           : e->writes ? "writes" : "shadow";
        log_event(LOG_INFO, "operator_change", "what", kind, "route",
                  e->route ? e->route : "(global)", "who", who ? who->client : "-", "token",
                  who ? who->token : NULL, "change", what, "revision", rev, "cleared_routes",
                  json_array_size(e->cleared) ? cl : NULL, "old", old, "new", now, NULL);
        snprintf(msg, size, "%s applied (revision %s)", what, rev);
        free(now);
        free(cl);
    } else if (rc == -EAGAIN) {
        log_event(LOG_ERROR, "operator_change_refused", "what", what, "client",
                  who ? who->client : "-", "error", msg, NULL);
    } else if (!*msg) {
        snprintf(msg, size, rc == -EINVAL ? "invalid value" : "out of memory");
    }
    free(old);
    ops_unref(next);
    return rc;
}

/* Runs `e`, with a fresh `cleared` list copied out to the caller's. */
static int run(control *c, edit *e, const char *what, const control_who *who, json_t *cleared,
               int64_t *revision, char *msg, size_t size)
{
    int64_t rev = 0;
    e->cleared = json_array();
    if (!e->cleared)
        return -ENOMEM;
    int rc = commit(c, e, what, who, &rev, msg, size);
    if (rc == 0 && cleared)
        json_array_extend(cleared, e->cleared);
    json_decref(e->cleared);
    if (revision)
        *revision = rev;
    return rc;
}

int control_set_authority(control *c, const char *route_name, sp_side side, bool keep_routes,
                          const control_who *who, json_t *cleared, int64_t *revision, char *msg,
                          size_t size)
{
    edit e = {EDIT_SET, route_name, (int)side, OPS_UNSET, -1, !route_name && !keep_routes,
              NULL, false, OPS_UNSET, OPS_UNSET};
    char what[64];
    snprintf(what, sizeof what, "authority %s", config_side_name(side));
    return run(c, &e, what, who, cleared, revision, msg, size);
}

int control_set_shadow(control *c, const char *route_name, int paused, double sample_percent,
                       const control_who *who, int64_t *revision, char *msg, size_t size)
{
    if (sample_percent > 100) {
        snprintf(msg, size, "sample percent must be between 0 and 100");
        return -EINVAL;
    }
    edit e = {EDIT_SET, route_name, OPS_UNSET, paused, sample_percent, false,
              NULL, false, OPS_UNSET, OPS_UNSET};
    char what[64];
    if (sample_percent >= 0)
        snprintf(what, sizeof what, "shadow sample %g%%", sample_percent);
    else
        snprintf(what, sizeof what, "shadow %s", paused == 1 ? "pause" : "resume");
    return run(c, &e, what, who, NULL, revision, msg, size);
}

int control_set_writes(control *c, const char *route_name, bool paused, int retry_after_s,
                       const control_who *who, int64_t *revision, char *msg, size_t size)
{
    if (paused && retry_after_s != OPS_UNSET &&
        (retry_after_s < 1 || retry_after_s > OPS_RETRY_AFTER_MAX)) {
        snprintf(msg, size, "retry after must be a whole number of seconds from 1 to %d",
                 OPS_RETRY_AFTER_MAX);
        return -EINVAL;
    }
    edit e = {EDIT_SET, route_name, OPS_UNSET, OPS_UNSET, -1, false, NULL, true, paused ? 1 : 0,
              paused ? retry_after_s : OPS_UNSET};
    char what[64];
    if (paused)
        snprintf(what, sizeof what, "writes pause (retry after %d s)",
                 retry_after_s > 0 ? retry_after_s : OPS_RETRY_AFTER_DEFAULT);
    else
        snprintf(what, sizeof what, "writes resume");
    return run(c, &e, what, who, NULL, revision, msg, size);
}

int control_rollback(control *c, const control_who *who, json_t *cleared, int64_t *revision,
                     char *msg, size_t size)
{
    edit e = {EDIT_ROLLBACK, NULL, SIDE_LEGACY, OPS_UNSET, -1, true,
              NULL, false, OPS_UNSET, OPS_UNSET};
    return run(c, &e, "rollback", who, cleared, revision, msg, size);
}

int control_clear_route(control *c, const char *route_name, const control_who *who,
                        int64_t *revision, char *msg, size_t size)
{
    edit e = {EDIT_CLEAR_ROUTE, route_name, OPS_UNSET, OPS_UNSET, -1, false,
              NULL, false, OPS_UNSET, OPS_UNSET};
    return run(c, &e, "clear", who, NULL, revision, msg, size);
}

/* ---- the fleet -------------------------------------------------------------------- */

/* Live replicas behind `revision` appended to `behind`; the number of live
 * ones in *total. */
static size_t count_behind(json_t *fleet, int64_t revision, json_t *behind, size_t *total)
{
    size_t i, n = 0;
    json_t *r;
    json_array_clear(behind);
    *total = json_array_size(fleet);
    json_array_foreach(fleet, i, r) {
        json_int_t rev = json_integer_value(json_object_get(r, "revision"));
        if (rev < revision) {
            n++;
            json_array_append_new(behind, json_pack("{s:O, s:O, s:I}", "id",
                                                    json_object_get(r, "id"), "host",
                                                    json_object_get(r, "host"), "revision", rev));
        }
    }
    return n;
}

json_t *control_wait_fleet(control *c, int64_t revision, long timeout_ms)
{
    uint64_t t0 = clock_now_ns();
    json_t *behind = json_array();
    size_t total = 1, late = 0;
    bool known = c->st != NULL;
    while (c->st) {
        json_t *fleet = store_fleet(c->st);
        known = fleet != NULL;
        late = fleet ? count_behind(fleet, revision, behind, &total) : 0;
        json_decref(fleet);
        long waited = (long)((clock_now_ns() - t0) / 1000000);
        if ((known && late == 0) || waited >= timeout_ms)
            break;
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    long waited = (long)((clock_now_ns() - t0) / 1000000);
    return json_pack("{s:I, s:I, s:I, s:b, s:i, s:o}", "revision", (json_int_t)revision,
                     "replicas", (json_int_t)total, "applied", (json_int_t)(total - late),
                     "complete", known && late == 0, "waited_ms", (int)waited, "behind", behind);
}

json_t *control_history(control *c, int limit, char *msg, size_t size)
{
    if (!c->st)
        return json_array();
    return store_history(c->st, limit, msg, size);
}

json_t *control_decisions_json(control *c)
{
    if (!c->st)
        return json_pack("{s:s, s:b, s:I, s:n}", "store", "memory", "up", 1, "revision",
                         (json_int_t)c->ops->revision, "last_sync");
    store_status st;
    store_get_status(c->st, &st);
    char ts[40] = "";
    if (st.last_sync_ms)
        clock_format_ts(st.last_sync_ms, ts, sizeof ts);
    pthread_mutex_lock(&c->mu);
    int64_t applied = c->ops->revision;
    pthread_mutex_unlock(&c->mu);
    return json_pack("{s:s, s:b, s:I, s:I, s:s?, s:s, s:I}", "store", st.name, "up", st.up,
                     "revision", (json_int_t)applied, "store_revision", (json_int_t)st.revision,
                     "last_sync", *ts ? ts : NULL, "replica", store_replica_id(c->st),
                     "warnings", (json_int_t)st.warnings);
}

json_t *control_fleet_json(control *c)
{
    json_t *f = c->st ? store_fleet(c->st) : NULL;
    if (f)
        for (size_t i = 0; i < json_array_size(f); i++)
            json_object_del(json_array_get(f, i), "last_seen_ms");
    return f ? f : json_array();
}
