/* idshare_etcd: the fleet's id pairs on the decision store's etcd cluster.
 *
 *   PREFIX/ids/KIND/LEGACY-ID   {"new": ID, "learned_ms": MS, "by": REPLICA}
 *
 * LEGACY-ID is percent-escaped (every byte but letters, digits and "._~-"),
 * so an id holding "/" stays one key. Each pair is put under the lease of
 * its time bucket (max_age_s / 8, 1 s to 1 h wide; TTL max_age_s + the
 * bucket): etcd drops pairs max_age_s to max_age_s + one bucket after
 * they were learned, one lease per bucket, nobody deletes them.
 *
 *   idshare thread: grant (new bucket) ─► txn of up to 100 puts
 *   watch thread:   range PREFIX/ids/ (pages of 1000, newest max_pairs kept)
 *                   ─► merge ─► /v3/watch from that revision ─► merge each put;
 *                   a broken watch: again from the range (a reconnect re-reads) */
#include "ctrl/idshare_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "conf/decisions_url.h"
#include "ctrl/etcd_http.h"
#include "obs/metrics.h"

#define CALL_TIMEOUT_MS 3000L
#define PAGE 1000
#define RETRY_MS 500

typedef struct ids_etcd {
    etcd_client *ec;
    char *prefix;
    int64_t bucket_s;     /* a lease's time bucket, seconds */
    int64_t lease;        /* idshare thread only; 0: none */
    int64_t lease_bucket; /* the bucket `lease` serves */
    pthread_t watch;
    bool watching;
    atomic_int stop;      /* the watch thread's (etcd_stream checks it) */
} ids_etcd;

/* "ids/KIND/ESCAPED" into out; false when it does not fit. */
static bool key_of(const char *scope, const char *legacy, char *out, size_t size)
{
    int n = snprintf(out, size, "ids/%s/", scope);
    if (n < 0 || (size_t)n >= size)
        return false;
    size_t at = (size_t)n;
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)legacy; *p; p++) {
        bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                     (*p >= '0' && *p <= '9') || strchr("._~-", *p);
        if (at + (plain ? 1 : 3) >= size)
            return false;
        if (plain) {
            out[at++] = (char)*p;
        } else {
            out[at++] = '%';
            out[at++] = hex[*p >> 4];
            out[at++] = hex[*p & 15];
        }
    }
    out[at] = '\0';
    return true;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Unescapes in place; false on a bad escape or an escaped NUL. */
static bool unescape(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (*r != '%') {
            *w++ = *r;
            continue;
        }
        int hi = hexval(r[1]), lo = hi < 0 ? -1 : hexval(r[2]);
        if (lo < 0 || (hi | lo) == 0)
            return false;
        *w++ = (char)(hi * 16 + lo);
        r += 2;
    }
    *w = '\0';
    return true;
}

/* The pair in a kv of PREFIX/ids/ (NULL: not a pair; counted). */
static idpair *pair_of(const char *prefix, const json_t *kv)
{
    size_t kn = 0, vn = 0;
    char *key = etcd_unb64(json_object_get(kv, "key"), &kn);
    char *val = etcd_unb64(json_object_get(kv, "value"), &vn);
    json_t *v = val ? json_loadb(val, vn, 0, NULL) : NULL;
    size_t pn = strlen(prefix);
    idpair *p = NULL;
    char *scope = key && kn == strlen(key) && kn > pn + 5 && memcmp(key, prefix, pn) == 0 &&
                          memcmp(key + pn, "/ids/", 5) == 0
                      ? key + pn + 5
                      : NULL;
    char *slash = scope ? strchr(scope, '/') : NULL;
    const char *neu = json_string_value(json_object_get(v, "new"));
    json_t *ms = json_object_get(v, "learned_ms");
    if (slash && neu && json_is_integer(ms)) {
        *slash = '\0';
        if (unescape(slash + 1))
            p = idpair_new(scope, slash + 1, neu, json_integer_value(ms));
    }
    if (!p)
        metric_add(METRIC_ids_fleet_failures, 1);
    json_decref(v);
    free(key);
    free(val);
    return p;
}

/* ---- publishing ---------------------------------------------------------------------- */

static int call(ids_etcd *e, const char *path, json_t *req, json_t **resp)
{
    char err[512] = "";
    int rc = req ? etcd_call(e->ec, path, req, resp, CALL_TIMEOUT_MS, err, sizeof err) : -ENOMEM;
    json_decref(req);
    if (rc)
        log_event(LOG_DEBUG, "ids_fleet_call_failed", "path", path, "error", err, NULL);
    return rc;
}

/* The lease of the current time bucket (granted when the bucket changed). */
static int lease_for_now(idshare *s, ids_etcd *e)
{
    int64_t bucket = clock_wall_ms() / 1000 / e->bucket_s;
    if (e->lease && bucket == e->lease_bucket)
        return 0;
    json_t *resp = NULL;
    long long ttl = s->max_age_ms / 1000 + e->bucket_s;
    if (call(e, "/v3/lease/grant", json_pack("{s:I}", "TTL", (json_int_t)ttl), &resp) != 0)
        return -EAGAIN;
    e->lease = etcd_int(json_object_get(resp, "ID"));
    e->lease_bucket = bucket;
    json_decref(resp);
    return e->lease ? 0 : -EAGAIN;
}

static json_t *put_of(idshare *s, ids_etcd *e, const idpair *p)
{
    char key[1024], lease[24];
    if (!key_of(p->scope, p->legacy, key, sizeof key))
        return NULL;
    json_t *v = json_pack("{s:s, s:I, s:s}", "new", p->neu, "learned_ms",
                          (json_int_t)p->learned_ms, "by", s->replica);
    char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    snprintf(lease, sizeof lease, "%lld", (long long)e->lease);
    json_t *put = text ? json_pack("{s:{s:o, s:o, s:s}}", "request_put", "key",
                                   etcd_key(e->prefix, key), "value",
                                   etcd_b64(text, strlen(text)), "lease", lease)
                       : NULL;
    free(text);
    return put;
}

static int etcd_publish(idshare *s, idpair *const *v, size_t n)
{
    ids_etcd *e = s->be_state;
    if (lease_for_now(s, e) != 0)
        return -EAGAIN;
    json_t *puts = json_array(), *resp = NULL;
    for (size_t i = 0; puts && i < n; i++) {
        json_t *put = put_of(s, e, v[i]);
        if (put)
            json_array_append_new(puts, put);
        else /* a key longer than etcd_key takes: this pair stays local */
            metric_add(METRIC_ids_fleet_dropped, 1);
    }
    if (!json_array_size(puts)) {
        json_decref(puts);
        return puts ? 0 : -EAGAIN;
    }
    if (call(e, "/v3/kv/txn", json_pack("{s:o}", "success", puts), &resp) != 0) {
        e->lease = 0; /* expired or lost with the cluster: a new one next time */
        return -EAGAIN;
    }
    json_decref(resp);
    return 0;
}

/* ---- loading and watching ------------------------------------------------------------- */

/* Keeps the newest max_pairs of the n in v (sorted oldest first after). */
static size_t keep_newest(idshare *s, idpair **v, size_t n)
{
    idshare_sort_pairs(v, n);
    if (n <= s->max_pairs)
        return n;
    size_t drop = n - s->max_pairs;
    for (size_t i = 0; i < drop; i++)
        free(v[i]);
    memmove(v, v + drop, s->max_pairs * sizeof *v);
    return s->max_pairs;
}

/* Every pair under PREFIX/ids/, page by page, merged oldest first. The
 * revision it read at, or 0 when etcd could not be read. */
static int64_t load_all(idshare *s, ids_etcd *e)
{
    size_t cap = s->max_pairs * 2 < PAGE * 2 ? PAGE * 2 : s->max_pairs * 2, n = 0;
    idpair **v = malloc((cap + PAGE) * sizeof *v);
    int64_t rev = 0;
    json_t *from = etcd_key(e->prefix, "ids/");
    bool more = v && from, ok = more;
    while (more && !e->stop) {
        json_t *req = json_pack("{s:O, s:o, s:i}", "key", from, "range_end",
                                etcd_range_end(e->prefix, "ids/"), "limit", PAGE);
        if (req && rev)
            json_object_set_new(req, "revision", json_integer(rev));
        json_t *resp = NULL;
        if (call(e, "/v3/kv/range", req, &resp) != 0) {
            ok = false;
            break;
        }
        if (!rev)
            rev = etcd_int(json_object_get(json_object_get(resp, "header"), "revision"));
        json_t *kvs = json_object_get(resp, "kvs");
        size_t i;
        json_t *kv;
        json_array_foreach(kvs, i, kv) {
            idpair *p = pair_of(e->prefix, kv);
            if (p)
                v[n++] = p;
        }
        more = json_is_true(json_object_get(resp, "more")) && json_array_size(kvs) > 0;
        if (more) { /* the next page starts just past the last key */
            size_t kn;
            char *last = etcd_unb64(json_object_get(json_array_get(kvs, json_array_size(kvs) - 1),
                                                    "key"), &kn);
            json_decref(from);
            from = last ? etcd_b64(last, kn + 1) : NULL; /* its NUL: the next key */
            free(last);
            ok = more = from != NULL;
        }
        json_decref(resp);
        if (n > cap)
            n = keep_newest(s, v, n);
    }
    json_decref(from);
    n = v ? keep_newest(s, v, n) : 0;
    for (size_t i = 0; i < n; i++) {
        if (ok)
            idshare_receive(s, v[i]->scope, v[i]->legacy, v[i]->neu, v[i]->learned_ms);
        free(v[i]);
    }
    free(v);
    return ok ? rev : 0;
}

typedef struct watch_ctx {
    idshare *s;
    ids_etcd *e;
} watch_ctx;

static bool on_watch_object(json_t *obj, void *arg)
{
    watch_ctx *w = arg;
    json_t *res = json_object_get(obj, "result");
    if (!res || json_object_get(obj, "error") ||
        etcd_int(json_object_get(res, "compact_revision")) > 0 ||
        json_is_true(json_object_get(res, "canceled")))
        return false; /* resync with a range */
    size_t i;
    json_t *ev;
    json_array_foreach(json_object_get(res, "events"), i, ev) {
        const char *type = json_string_value(json_object_get(ev, "type"));
        if (type && strcmp(type, "PUT") != 0)
            continue; /* a lease expired: the ledger drops the pair by age itself */
        idpair *p = pair_of(w->e->prefix, json_object_get(ev, "kv"));
        if (p)
            idshare_receive(w->s, p->scope, p->legacy, p->neu, p->learned_ms);
        free(p);
    }
    return true;
}

static void *watch_main(void *arg)
{
    idshare *s = arg;
    ids_etcd *e = s->be_state;
    watch_ctx w = {s, e};
    char msg[600];
    (void)pthread_setname_np(pthread_self(), "sp-idwatch"); /* cosmetic: top -H */
    while (!e->stop && !atomic_load(&s->stop)) {
        int64_t rev = load_all(s, e);
        if (!rev) {
            if (!e->stop)
                metric_add(METRIC_ids_fleet_failures, 1);
            idshare_nap(s, RETRY_MS);
            continue;
        }
        json_t *req = json_pack("{s:{s:o, s:o, s:I}}", "create_request", "key",
                                etcd_key(e->prefix, "ids/"), "range_end",
                                etcd_range_end(e->prefix, "ids/"), "start_revision",
                                (json_int_t)rev + 1);
        int rc = req ? etcd_stream(e->ec, "/v3/watch", req, on_watch_object, &w, &e->stop, msg,
                                   sizeof msg)
                     : -ENOMEM;
        json_decref(req);
        if (rc && !e->stop) {
            metric_add(METRIC_ids_fleet_failures, 1);
            log_event(LOG_DEBUG, "ids_fleet_watch_broken", "error", msg, NULL);
            idshare_nap(s, RETRY_MS);
        }
    }
    return NULL;
}

static void etcd_close(idshare *s)
{
    ids_etcd *e = s->be_state;
    if (!e)
        return;
    e->stop = 1;
    if (e->watching)
        pthread_join(e->watch, NULL);
    etcd_free(e->ec);
    free(e->prefix);
    free(e);
    s->be_state = NULL;
}

static const idshare_backend etcd_backend = {
    .kind = "etcd",
    .publish = etcd_publish,
    .close = etcd_close,
    .poll_ms = 1000,
};

int idshare_etcd_open(idshare *s, const sp_config *cfg, char *err, size_t size)
{
    decisions_url u;
    if (!cfg->decisions_store || decisions_url_parse(cfg->decisions_store, &u, err, size) != 0)
        return -EINVAL;
    ids_etcd *e = calloc(1, sizeof *e);
    s->be = &etcd_backend;
    s->be_state = e;
    int rc = -ENOMEM;
    if (e && u.kind == DECISIONS_ETCD && (e->prefix = strdup(u.prefix)) &&
        (e->ec = etcd_new(&u, cfg, err, size))) {
        int64_t b = s->max_age_ms / 1000 / 8;
        e->bucket_s = b < 1 ? 1 : b > 3600 ? 3600 : b;
        e->watching = pthread_create(&e->watch, NULL, watch_main, s) == 0;
        rc = e->watching ? 0 : -EAGAIN;
    } else if (e && u.kind != DECISIONS_ETCD) {
        snprintf(err, size, "decisions.store is not etcd");
        rc = -EINVAL;
    }
    decisions_url_free(&u);
    return rc;
}
