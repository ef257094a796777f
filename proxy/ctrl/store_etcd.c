/* store_etcd: the decision store on an etcd v3 cluster
 * (etcd://HOST:PORT[,HOST:PORT...]/PREFIX), through its JSON gateway.
 *
 *   PREFIX/decisions         the decisions; revision = the key's mod_revision
 *   PREFIX/audit/MS-ID       one per change, written in the change's txn
 *   PREFIX/replicas/ID       this replica's registration, under a lease
 *
 *   admin thread:  range ─► edit ─► txn(compare mod_revision) ─► retry on conflict
 *   watch thread:  range (resync) ─► /v3/watch from revision+1 ─► on_update
 *   lease thread:  grant ─► put registration ─► keepalive, every second or
 *                  at once when this replica applied a new revision
 *
 * The decisions applied are also written to the local state file (a cache):
 * a replica that starts while etcd is unreachable starts from it. */
#include "ctrl/store_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/log.h"
#include "ctrl/etcd_http.h"

#define CALL_TIMEOUT_MS 3000L
#define CAS_TRIES 50
#define LEASE_TTL_S 5
/* After the watch broke: wait this long before the next endpoint / resync. */
#define RETRY_MS 200

typedef struct etcd_store {
    store base;              /* first */
    etcd_client *ec;
    char *prefix;
    char *cache_path;        /* the state file; NULL: no cache */
    store_update_fn on_update;
    void *arg;
    pthread_t watch_thread, lease_thread;
    bool started;
    atomic_int stop; /* set by the closing thread, read by the watch and writer threads */
    pthread_mutex_t wake_mu; /* the lease thread sleeps on wake */
    pthread_cond_t wake;
    bool dirty;              /* the registration should be written now */
    int64_t lease;           /* lease thread only; 0: none */
    int64_t watch_from;      /* watch thread only: the next revision to watch */
} etcd_store;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- reading the decisions ---------------------------------------------------------- */

/* The decisions in a range answer's kv (revision = its mod_revision), or
 * an empty set when there is none. NULL on invalid content (logged). */
static ops_state *decisions_of(etcd_store *e, const json_t *kv)
{
    if (!kv)
        return ops_new();
    size_t n;
    char *text = etcd_unb64(json_object_get(kv, "value"), &n);
    config_errors errs = {0};
    ops_state *o = text ? ops_from_json_text(text, n, &errs) : NULL;
    if (!o) {
        log_event(LOG_ERROR, "decisions_invalid", "store", e->base.st.name, "error",
                  errs.n ? errs.v[0].message : "value is not base64", NULL);
        store_warned(&e->base);
    } else {
        o->revision = etcd_int(json_object_get(kv, "mod_revision"));
    }
    config_errors_free(&errs);
    free(text);
    return o;
}

/* POST /v3/kv/range with req (taken): the answer, or NULL with msg naming
 * the store. */
static json_t *range(etcd_store *e, json_t *req, char *msg, size_t size)
{
    json_t *resp = NULL;
    char err[512] = "";
    int rc = req ? etcd_call(e->ec, "/v3/kv/range", req, &resp, CALL_TIMEOUT_MS, err, sizeof err)
                 : -ENOMEM;
    json_decref(req);
    if (rc)
        snprintf(msg, size, "decision store %s unreachable: %s", e->base.st.name,
                 *err ? err : "out of memory");
    return resp;
}

/* range PREFIX/decisions: 0 with *out (new ref, an empty set when there is
 * no key) and *header_rev, or -EAGAIN / -EINVAL with msg. */
static int read_current(etcd_store *e, ops_state **out, int64_t *header_rev, char *msg,
                        size_t size)
{
    json_t *resp = range(e, json_pack("{s:o}", "key", etcd_key(e->prefix, "decisions")), msg,
                         size);
    *out = NULL;
    if (!resp) {
        store_mark(&e->base, false, 0, msg);
        return -EAGAIN;
    }
    *header_rev = etcd_int(json_object_get(json_object_get(resp, "header"), "revision"));
    *out = decisions_of(e, json_array_get(json_object_get(resp, "kvs"), 0));
    json_decref(resp);
    if (!*out) {
        snprintf(msg, size, "decision store %s holds invalid decisions", e->base.st.name);
        return -EINVAL;
    }
    store_mark(&e->base, true, (*out)->revision, NULL);
    return 0;
}

static void cache(etcd_store *e, const ops_state *o)
{
    if (e->cache_path && ops_save(e->cache_path, o) != 0)
        log_event(LOG_DEBUG, "decisions_cache_write_failed", "path", e->cache_path, NULL);
}

/* ---- commit: compare-and-swap -------------------------------------------------------- */

/* The txn: if PREFIX/decisions is still at `rev` (absent: created 0), put
 * the new decisions and the audit record. */
static json_t *txn_request(etcd_store *e, int64_t rev, const ops_state *next, const json_t *rec)
{
    char audit_key[400], revs[24];
    snprintf(audit_key, sizeof audit_key, "audit/%020lld-%s", (long long)clock_wall_ms(),
             e->base.id);
    snprintf(revs, sizeof revs, "%lld", (long long)rev);
    json_t *doc = ops_to_json(next);
    json_object_del(doc, "revision"); /* the key's mod_revision is the revision */
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL, *rtext = json_dumps(rec, JSON_COMPACT);
    json_decref(doc);
    json_t *req = NULL;
    if (text && rtext)
        req = json_pack(
            "{s:[{s:s, s:s, s:o, s:s}], s:[{s:{s:o, s:o}}, {s:{s:o, s:o}}]}", "compare", "result",
            "EQUAL", "target", rev ? "MOD" : "CREATE", "key", etcd_key(e->prefix, "decisions"),
            rev ? "mod_revision" : "create_revision", revs, "success", "request_put", "key",
            etcd_key(e->prefix, "decisions"), "value", etcd_b64(text, strlen(text)),
            "request_put", "key", etcd_key(e->prefix, audit_key), "value",
            etcd_b64(rtext, strlen(rtext)));
    free(text);
    free(rtext);
    return req;
}

/* One try: 1 committed (*out set), 0 conflict, < 0 error (msg). */
/* The decisions a change applies to: etcd's; but when the key is gone
 * (deleted by hand) while this replica applies decisions, those: a
 * deletion reverts nothing (the txn then creates the key again). */
static ops_state *base_of(etcd_store *e, ops_state *cur, const ops_state *local)
{
    if (cur->revision > 0 || local->revision == 0)
        return cur;
    log_event(LOG_WARN, "decisions_missing", "store", e->base.st.name, "action",
              "rewritten from the decisions in force", NULL);
    store_warned(&e->base);
    ops_state *b = ops_with(local, NULL, OPS_UNSET, OPS_UNSET, -1); /* a copy */
    if (!b)
        return cur;
    b->revision = 0; /* compared as "absent" (create_revision 0) */
    ops_unref(cur);
    return b;
}

static int try_commit(etcd_store *e, const ops_state *local, store_edit_fn edit, void *arg,
                      const json_t *audit, ops_state **out, char *msg, size_t size)
{
    ops_state *cur = NULL;
    int64_t hrev = 0;
    int rc = read_current(e, &cur, &hrev, msg, size);
    if (rc)
        return rc;
    cur = base_of(e, cur, local);
    ops_state *next = edit(cur, arg);
    if (!next) {
        rc = errno ? -errno : -ENOMEM;
        ops_unref(cur);
        return rc;
    }
    json_t *rec = store_audit_record(audit, cur, next);
    json_t *req = rec ? txn_request(e, cur->revision, next, rec) : NULL, *resp = NULL;
    char err[512] = "";
    rc = req ? etcd_call(e->ec, "/v3/kv/txn", req, &resp, CALL_TIMEOUT_MS, err, sizeof err)
             : -ENOMEM;
    json_decref(req);
    json_decref(rec);
    ops_unref(cur);
    if (rc) {
        /* a txn whose answer was lost may have been applied: the caller
         * sees 503 and the watch brings the change if it was */
        snprintf(msg, size, "decision store %s unreachable: %s", e->base.st.name, err);
        store_mark(&e->base, false, 0, err);
        ops_unref(next);
        return -EAGAIN;
    }
    bool ok = json_is_true(json_object_get(resp, "succeeded"));
    next->revision = etcd_int(json_object_get(json_object_get(resp, "header"), "revision"));
    json_decref(resp);
    if (!ok) {
        ops_unref(next);
        return 0;
    }
    store_mark(&e->base, true, next->revision, NULL);
    *out = next;
    return 1;
}

static int etcd_commit(store *s, const ops_state *local, store_edit_fn edit, void *arg,
                       const json_t *audit, ops_state **out, char *msg, size_t size)
{
    etcd_store *e = (etcd_store *)s;
    for (int i = 0; i < CAS_TRIES; i++) {
        int rc = try_commit(e, local, edit, arg, audit, out, msg, size);
        if (rc == 1) {
            cache(e, *out);
            return 0;
        }
        if (rc < 0)
            return rc;
        sleep_ms(1 + rand() % 10); /* conflict: another replica changed it; again */
    }
    snprintf(msg, size, "decision store %s: %d conflicting changes in a row, giving up",
             s->st.name, CAS_TRIES);
    return -EAGAIN;
}

/* ---- the watch ------------------------------------------------------------------------ */

static void deliver(etcd_store *e, ops_state *o)
{
    cache(e, o);
    if (e->on_update)
        e->on_update(o, e->arg);
    else
        ops_unref(o);
}

/* One object of the watch stream. false: stop this watch (resync). */
static bool on_watch_object(json_t *obj, void *arg)
{
    etcd_store *e = arg;
    json_t *res = json_object_get(obj, "result");
    if (!res || json_object_get(obj, "error"))
        return false;
    if (etcd_int(json_object_get(res, "compact_revision")) > 0 ||
        json_is_true(json_object_get(res, "canceled")))
        return false; /* history compacted past us: resync with a range */
    size_t i;
    json_t *ev;
    json_array_foreach(json_object_get(res, "events"), i, ev) {
        json_t *kv = json_object_get(ev, "kv");
        const char *type = json_string_value(json_object_get(ev, "type"));
        int64_t rev = etcd_int(json_object_get(kv, "mod_revision"));
        if (rev >= e->watch_from)
            e->watch_from = rev + 1;
        if (type && strcmp(type, "DELETE") == 0) {
            log_event(LOG_WARN, "decisions_deleted", "store", e->base.st.name, "action",
                      "the decisions in force stay; the next change rewrites them", NULL);
            store_warned(&e->base);
            continue;
        }
        ops_state *o = decisions_of(e, kv);
        if (o)
            deliver(e, o);
    }
    store_mark(&e->base, true, e->watch_from - 1, NULL);
    return true;
}

static void *watch_main(void *arg)
{
    etcd_store *e = arg;
    char msg[600];
    while (!e->stop) {
        ops_state *o = NULL;
        int64_t hrev = 0;
        if (read_current(e, &o, &hrev, msg, sizeof msg) != 0) {
            sleep_ms(RETRY_MS);
            continue;
        }
        e->watch_from = hrev + 1;
        deliver(e, o); /* resync: applied when newer */
        json_t *req = json_pack("{s:{s:o, s:I}}", "create_request", "key",
                                etcd_key(e->prefix, "decisions"), "start_revision",
                                (json_int_t)e->watch_from);
        int rc = req ? etcd_stream(e->ec, "/v3/watch", req, on_watch_object, e, &e->stop, msg,
                                   sizeof msg)
                     : -ENOMEM;
        json_decref(req);
        if (rc && !e->stop) {
            log_event(LOG_WARN, "decisions_watch_broken", "store", e->base.st.name, "error", msg,
                      NULL);
            sleep_ms(RETRY_MS);
        }
    }
    return NULL;
}

/* ---- the lease and the registration ----------------------------------------------------- */

/* 0 or -EAGAIN. */
static int lease_call(etcd_store *e, const char *path, json_t *req, json_t **resp)
{
    char err[512];
    int rc = req ? etcd_call(e->ec, path, req, resp, CALL_TIMEOUT_MS, err, sizeof err) : -ENOMEM;
    json_decref(req);
    if (rc)
        log_event(LOG_DEBUG, "fleet_registration_failed", "store", e->base.st.name, "error", err,
                  NULL);
    return rc;
}

/* Grant (when there is none), keep alive, put the registration. */
static void register_self(etcd_store *e)
{
    json_t *resp = NULL;
    if (e->lease) {
        char id[24];
        snprintf(id, sizeof id, "%lld", (long long)e->lease);
        if (lease_call(e, "/v3/lease/keepalive", json_pack("{s:s}", "ID", id), &resp) != 0)
            return;
        json_t *r = json_object_get(resp, "result");
        if (etcd_int(json_object_get(r ? r : resp, "TTL")) <= 0)
            e->lease = 0; /* expired (etcd was away too long): a new one */
        json_decref(resp);
    }
    if (!e->lease) {
        if (lease_call(e, "/v3/lease/grant", json_pack("{s:i}", "TTL", LEASE_TTL_S), &resp) != 0)
            return;
        e->lease = etcd_int(json_object_get(resp, "ID"));
        json_decref(resp);
        if (!e->lease)
            return;
    }
    json_t *me = store_self_json(&e->base);
    char *text = me ? json_dumps(me, JSON_COMPACT) : NULL, id[24], key[400];
    json_decref(me);
    snprintf(id, sizeof id, "%lld", (long long)e->lease);
    snprintf(key, sizeof key, "replicas/%s", e->base.id);
    if (text && lease_call(e, "/v3/kv/put",
                           json_pack("{s:o, s:o, s:s}", "key", etcd_key(e->prefix, key), "value",
                                     etcd_b64(text, strlen(text)), "lease", id),
                           &resp) == 0) {
        json_decref(resp);
        store_touch(&e->base); /* etcd answered: the last sync is now */
    }
    free(text);
}

static void *lease_main(void *arg)
{
    etcd_store *e = arg;
    while (!e->stop) {
        register_self(e);
        pthread_mutex_lock(&e->wake_mu);
        if (!e->dirty && !e->stop) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += STORE_HEARTBEAT_MS / 1000;
            pthread_cond_timedwait(&e->wake, &e->wake_mu, &until);
        }
        e->dirty = false;
        pthread_mutex_unlock(&e->wake_mu);
    }
    if (e->lease) { /* gone from the fleet at once */
        char id[24];
        json_t *resp = NULL;
        snprintf(id, sizeof id, "%lld", (long long)e->lease);
        if (lease_call(e, "/v3/lease/revoke", json_pack("{s:s}", "ID", id), &resp) == 0)
            json_decref(resp);
    }
    return NULL;
}

/* Never blocks: the lease thread writes it (the main loop and the control
 * lock must not wait for etcd). */
static void etcd_publish_self(store *s)
{
    etcd_store *e = (etcd_store *)s;
    pthread_mutex_lock(&e->wake_mu);
    e->dirty = true;
    pthread_cond_signal(&e->wake);
    pthread_mutex_unlock(&e->wake_mu);
}

/* ---- the fleet and the history --------------------------------------------------------- */

/* Every kv under PREFIX/what/ (newest key first when `descending`), at
 * most `limit` (0: all). NULL with msg when unreachable. */
static json_t *range_prefix(etcd_store *e, const char *what, bool descending, int limit,
                            char *msg, size_t size)
{
    json_t *req = json_pack("{s:o, s:o}", "key", etcd_key(e->prefix, what), "range_end",
                            etcd_range_end(e->prefix, what));
    if (req && descending) {
        json_object_set_new(req, "sort_order", json_string("DESCEND"));
        json_object_set_new(req, "sort_target", json_string("KEY"));
    }
    if (req && limit > 0)
        json_object_set_new(req, "limit", json_integer(limit));
    json_t *resp = range(e, req, msg, size);
    if (!resp)
        return NULL;
    json_t *out = json_array();
    size_t i;
    json_t *kv;
    json_array_foreach(json_object_get(resp, "kvs"), i, kv) {
        size_t n;
        char *text = etcd_unb64(json_object_get(kv, "value"), &n);
        json_t *v = text ? json_loadb(text, n, 0, NULL) : NULL;
        free(text);
        if (json_is_object(v)) {
            json_object_set_new(v, "mod_revision",
                                json_integer(etcd_int(json_object_get(kv, "mod_revision"))));
            json_array_append(out, v);
        }
        json_decref(v);
    }
    json_decref(resp);
    return out;
}

static json_t *etcd_fleet(store *s)
{
    char msg[600];
    json_t *f = range_prefix((etcd_store *)s, "replicas/", false, 0, msg, sizeof msg);
    for (size_t i = 0; i < json_array_size(f); i++)
        json_object_del(json_array_get(f, i), "mod_revision");
    return f; /* the lease decides who is live */
}

static json_t *etcd_history(store *s, int limit, char *msg, size_t size)
{
    json_t *h = range_prefix((etcd_store *)s, "audit/", true, limit, msg, size);
    size_t i;
    json_t *r;
    json_array_foreach(h, i, r) { /* written in the change's txn: its revision */
        json_object_set(r, "revision", json_object_get(r, "mod_revision"));
        json_object_del(r, "mod_revision");
    }
    return h;
}

/* ---- open / start / close --------------------------------------------------------------- */

static void etcd_start(store *s, store_update_fn on_update, void *arg)
{
    etcd_store *e = (etcd_store *)s;
    e->on_update = on_update;
    e->arg = arg;
    bool w = pthread_create(&e->watch_thread, NULL, watch_main, e) == 0;
    bool l = pthread_create(&e->lease_thread, NULL, lease_main, e) == 0;
    if (!w || !l)
        log_event(LOG_ERROR, "decisions_thread_failed", "store", s->st.name, NULL);
    e->started = w && l;
    if (w != l) { /* one ran: stop it */
        e->stop = 1;
        etcd_publish_self(s);
        pthread_join(w ? e->watch_thread : e->lease_thread, NULL);
        e->stop = 0;
    }
}

static void etcd_close(store *s)
{
    etcd_store *e = (etcd_store *)s;
    if (e->started) {
        e->stop = 1;
        etcd_publish_self(s);
        pthread_join(e->watch_thread, NULL);
        pthread_join(e->lease_thread, NULL);
    }
    etcd_free(e->ec);
    free(e->prefix);
    free(e->cache_path);
    pthread_cond_destroy(&e->wake);
    pthread_mutex_destroy(&e->wake_mu);
    store_base_destroy(s);
    free(e);
}

static const store_vt etcd_vt = {
    .commit = etcd_commit,
    .publish_self = etcd_publish_self,
    .fleet = etcd_fleet,
    .history = etcd_history,
    .start = etcd_start,
    .close = etcd_close,
    .monotonic = true,
};

/* Startup: the cluster's decisions, else (unreachable) the local cache. */
static int load_initial(etcd_store *e, ops_state **initial)
{
    char msg[600];
    int64_t hrev;
    int rc = read_current(e, initial, &hrev, msg, sizeof msg);
    if (rc == 0) {
        cache(e, *initial);
        return 0;
    }
    config_errors errs = {0};
    *initial = e->cache_path ? ops_load(e->cache_path, &errs) : ops_new();
    config_errors_free(&errs);
    if (!*initial)
        *initial = ops_new();
    if (!*initial)
        return -ENOMEM;
    log_event(LOG_WARN, "decisions_store_down", "store", e->base.st.name, "error", msg, "start",
              e->cache_path ? "from the local cache" : "with no decisions", "cache",
              e->cache_path, NULL);
    return 0;
}

int store_etcd_open(store **out, const sp_config *cfg, const decisions_url *u,
                    ops_state **initial)
{
    char err[512];
    etcd_store *e = calloc(1, sizeof *e);
    if (!e)
        return -ENOMEM;
    store_base_init(&e->base, &etcd_vt, cfg->decisions_store);
    pthread_mutex_init(&e->wake_mu, NULL);
    pthread_cond_init(&e->wake, NULL);
    e->prefix = strdup(u->prefix);
    e->cache_path = cfg->state_file ? strdup(cfg->state_file) : NULL;
    if (!(e->ec = etcd_new(u, cfg, err, sizeof err)) || !e->prefix) {
        fprintf(stderr, "serve: decisions.store %s: %s\n", cfg->decisions_store,
                e->ec ? "out of memory" : err);
        etcd_close(&e->base);
        return -EINVAL;
    }
    int rc = load_initial(e, initial);
    if (rc)
        etcd_close(&e->base);
    else
        *out = store_opened(&e->base, *initial);
    return rc;
}
