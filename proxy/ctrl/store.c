/* store: see store.h. The backend-independent parts: opening by URL, the
 * status the metrics and /state show, this replica's identity and
 * registration record, the audit record. */
#include "ctrl/store_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"

void store_base_init(store *s, const store_vt *vt, const char *name)
{
    s->vt = vt;
    pthread_mutex_init(&s->mu, NULL);
    snprintf(s->st.name, sizeof s->st.name, "%s", name);
    s->st.up = true; /* until a read or write fails: only a failure is news at startup */
    if (gethostname(s->host, sizeof s->host) != 0 || !*s->host)
        snprintf(s->host, sizeof s->host, "localhost");
    s->host[sizeof s->host - 1] = '\0';
    s->pid = (long)getpid();
    /* HOST-PID: unique on one host, and in a pod (PID 1) by its host name */
    snprintf(s->id, sizeof s->id, "%s-%ld", s->host, s->pid);
    s->started_ms = clock_wall_ms();
}

store *store_opened(store *s, const ops_state *initial)
{
    s->applied = initial->revision;
    if (initial->revision > s->st.revision)
        s->st.revision = initial->revision;
    if (s->st.up && !s->st.last_sync_ms)
        s->st.last_sync_ms = clock_wall_ms();
    return s;
}

void store_base_destroy(store *s)
{
    pthread_mutex_destroy(&s->mu);
}

int store_open(store **out, const sp_config *cfg, ops_state **initial)
{
    *out = NULL;
    *initial = NULL;
    if (!cfg->decisions_store)
        return store_file_open(out, cfg, cfg->state_file, initial);
    char why[256];
    decisions_url u;
    int rc = decisions_url_parse(cfg->decisions_store, &u, why, sizeof why);
    if (rc == -EINVAL)
        fprintf(stderr, "serve: decisions.store: %s\n", why);
    if (rc)
        return rc;
    rc = u.kind == DECISIONS_FILE ? store_file_open(out, cfg, u.path, initial)
                                  : store_etcd_open(out, cfg, &u, initial);
    decisions_url_free(&u);
    return rc;
}

void store_start(store *s, store_update_fn on_update, void *arg)
{
    if (s->vt->start)
        s->vt->start(s, on_update, arg);
}

int store_commit(store *s, const ops_state *local, store_edit_fn edit, void *arg,
                 const json_t *audit, ops_state **out, char *msg, size_t size)
{
    *out = NULL;
    if (size)
        *msg = '\0';
    return s->vt->commit(s, local, edit, arg, audit, out, msg, size);
}

int store_refresh(store *s, const ops_state *local, ops_state **out)
{
    *out = NULL;
    return s->vt->refresh ? s->vt->refresh(s, local, out) : 0;
}

bool store_is_newer(const store *s, const ops_state *cur, const ops_state *next)
{
    if (s->vt->monotonic)
        return next->revision > cur->revision;
    return next->revision != cur->revision || !ops_equal(cur, next);
}

void store_applied(store *s, int64_t revision)
{
    pthread_mutex_lock(&s->mu);
    bool changed = s->applied != revision;
    s->applied = revision;
    pthread_mutex_unlock(&s->mu);
    if (changed)
        s->vt->publish_self(s);
}

void store_heartbeat(store *s)
{
    s->vt->publish_self(s);
}

json_t *store_fleet(store *s)
{
    json_t *f = s->vt->fleet(s);
    if (f)
        store_sort_fleet(f);
    return f;
}

const char *store_replica_id(const store *s) { return s->id; }

const char *store_file_path(const store *s)
{
    return s->vt->file_path ? s->vt->file_path(s) : NULL;
}

json_t *store_history(store *s, int limit, char *msg, size_t size)
{
    if (size)
        *msg = '\0';
    return s->vt->history(s, limit, msg, size);
}

void store_get_status(store *s, store_status *st)
{
    pthread_mutex_lock(&s->mu);
    *st = s->st;
    pthread_mutex_unlock(&s->mu);
}

void store_close(store *s)
{
    if (s)
        s->vt->close(s);
}

void store_mark(store *s, bool up, int64_t revision, const char *why)
{
    pthread_mutex_lock(&s->mu);
    bool was = s->st.up;
    s->st.up = up;
    if (up) {
        s->st.last_sync_ms = clock_wall_ms();
        if (revision > s->st.revision)
            s->st.revision = revision;
    }
    pthread_mutex_unlock(&s->mu);
    if (was && !up)
        log_event(LOG_ERROR, "decisions_store_down", "store", s->st.name, "error", why,
                  "effect", "serving with the decisions in force; changes are refused", NULL);
    else if (!was && up)
        log_event(LOG_INFO, "decisions_store_up", "store", s->st.name, NULL);
}

void store_touch(store *s)
{
    pthread_mutex_lock(&s->mu);
    if (s->st.up)
        s->st.last_sync_ms = clock_wall_ms();
    pthread_mutex_unlock(&s->mu);
}

void store_warned(store *s)
{
    pthread_mutex_lock(&s->mu);
    s->st.warnings++;
    pthread_mutex_unlock(&s->mu);
}

static json_t *ts_json(int64_t ms)
{
    char ts[40];
    clock_format_ts(ms, ts, sizeof ts);
    return json_string(ts);
}

json_t *store_self_json(store *s)
{
    pthread_mutex_lock(&s->mu);
    int64_t applied = s->applied;
    pthread_mutex_unlock(&s->mu);
    return json_pack("{s:s, s:s, s:I, s:o, s:I, s:o, s:I}", "id", s->id, "host", s->host, "pid",
                     (json_int_t)s->pid, "started", ts_json(s->started_ms), "revision",
                     (json_int_t)applied, "last_seen", ts_json(clock_wall_ms()), "last_seen_ms",
                     (json_int_t)clock_wall_ms());
}

bool store_entry_live(const json_t *entry, int64_t now_ms)
{
    json_t *seen = json_object_get(entry, "last_seen_ms");
    return json_is_integer(seen) && json_is_string(json_object_get(entry, "id")) &&
           now_ms - (int64_t)json_integer_value(seen) < STORE_LIVE_MS;
}

/* The decisions alone: {"global", "routes"}. */
static json_t *decisions_doc(const ops_state *o)
{
    json_t *j = ops_to_json(o);
    json_object_del(j, "version");
    json_object_del(j, "revision");
    json_object_del(j, "changed");
    return j;
}

json_t *store_audit_record(const json_t *audit, const ops_state *old, const ops_state *next)
{
    json_t *r = json_deep_copy(audit);
    if (!r || json_object_set_new(r, "revision", json_integer((json_int_t)next->revision)) ||
        json_object_set_new(r, "time", ts_json(clock_wall_ms())) ||
        json_object_set_new(r, "old", decisions_doc(old)) ||
        json_object_set_new(r, "new", decisions_doc(next))) {
        json_decref(r);
        return NULL;
    }
    return r;
}

static int by_id(const void *a, const void *b)
{
    const char *x = json_string_value(json_object_get(*(json_t *const *)a, "id"));
    const char *y = json_string_value(json_object_get(*(json_t *const *)b, "id"));
    return strcmp(x ? x : "", y ? y : "");
}

void store_sort_fleet(json_t *fleet)
{
    size_t n = json_array_size(fleet);
    json_t **v = n ? malloc(n * sizeof *v) : NULL;
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        v[i] = json_incref(json_array_get(fleet, i));
    qsort(v, n, sizeof *v, by_id);
    json_array_clear(fleet);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(fleet, v[i]);
    free(v);
}
