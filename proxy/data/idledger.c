/* idledger: see idledger.h. Pairs are entries on a list in the order they
 * were learned (oldest at the head: the first to expire or be evicted),
 * found through two chained hash tables keyed by scope and id, one per
 * side. */
#include "data/idledger.h"

#include "base/fdio.h"

#include <assert.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct entry {
    char *scope, *id[2]; /* [0] legacy, [1] new */
    int64_t learned_ms;
    struct entry *older, *newer; /* the age list */
    struct entry *chain[2];      /* the hash chains, per side */
} entry;

struct idledger {
    pthread_mutex_t mu;
    size_t max_pairs, nbuckets;
    int64_t max_age_ms;
    entry **buckets[2];
    entry *oldest, *newest;
    idledger_stats st;
};

static uint64_t key_hash(const char *scope, const char *id)
{
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = scope; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    h = (h ^ 0xff) * 1099511628211ULL; /* a separator no UTF-8 text holds */
    for (const char *p = id; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return h;
}

idledger *idledger_new(size_t max_pairs, int64_t max_age_ms)
{
    assert(max_pairs >= 1 && max_age_ms > 0);
    idledger *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->max_pairs = max_pairs;
    l->max_age_ms = max_age_ms;
    l->nbuckets = 16;
    while (l->nbuckets < max_pairs && l->nbuckets < ((size_t)1 << 24))
        l->nbuckets <<= 1;
    l->buckets[0] = calloc(l->nbuckets, sizeof(entry *));
    l->buckets[1] = calloc(l->nbuckets, sizeof(entry *));
    if (!l->buckets[0] || !l->buckets[1] || pthread_mutex_init(&l->mu, NULL) != 0) {
        free(l->buckets[0]);
        free(l->buckets[1]);
        free(l);
        return NULL;
    }
    return l;
}

static void entry_free(entry *e)
{
    free(e->scope);
    free(e->id[0]);
    free(e->id[1]);
    free(e);
}

void idledger_free(idledger *l)
{
    if (!l)
        return;
    for (entry *e = l->oldest, *n; e; e = n) {
        n = e->newer;
        entry_free(e);
    }
    free(l->buckets[0]);
    free(l->buckets[1]);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

static entry **slot(idledger *l, int side, const char *scope, const char *id)
{
    entry **p = &l->buckets[side][key_hash(scope, id) & (l->nbuckets - 1)];
    while (*p && (strcmp((*p)->id[side], id) != 0 || strcmp((*p)->scope, scope) != 0))
        p = &(*p)->chain[side];
    return p;
}

/* Unlinks e from both chains and the age list, and frees it. */
static void drop(idledger *l, entry *e)
{
    for (int s = 0; s < 2; s++) {
        entry **p = slot(l, s, e->scope, e->id[s]);
        assert(*p == e);
        *p = e->chain[s];
    }
    if (e->older)
        e->older->newer = e->newer;
    else
        l->oldest = e->newer;
    if (e->newer)
        e->newer->older = e->older;
    else
        l->newest = e->older;
    l->st.size--;
    entry_free(e);
}

static void expire(idledger *l, int64_t now_ms)
{
    while (l->oldest && now_ms - l->oldest->learned_ms > l->max_age_ms) {
        drop(l, l->oldest);
        l->st.expired++;
    }
}

static bool id_ok(const char *s, size_t max) { return s && *s && strlen(s) <= max; }

/* Links e into the chains and the age list at its place by learned_ms
 * (nearly always the newest end: a walk back only for a pair from another
 * replica learned before some held here), then evicts the oldest when past
 * the bound: e itself when it is the oldest (false, e freed). Under the
 * lock; e's ids are in neither chain. */
static bool link_in(idledger *l, entry *e)
{
    for (int s = 0; s < 2; s++) {
        entry **p = slot(l, s, e->scope, e->id[s]);
        assert(!*p);
        *p = e;
    }
    entry *after = l->newest;
    while (after && after->learned_ms > e->learned_ms)
        after = after->older;
    e->older = after;
    e->newer = after ? after->newer : l->oldest;
    if (e->newer)
        e->newer->older = e;
    else
        l->newest = e;
    if (after)
        after->newer = e;
    else
        l->oldest = e;
    l->st.size++;
    if (l->st.size <= l->max_pairs)
        return true;
    bool kept = l->oldest != e;
    drop(l, l->oldest);
    l->st.evicted++;
    return kept;
}

static entry *entry_new(const char *scope, const char *legacy, const char *neu, int64_t ms)
{
    entry *e = calloc(1, sizeof *e);
    if (!e || !(e->scope = strdup(scope)) || !(e->id[0] = strdup(legacy)) ||
        !(e->id[1] = strdup(neu))) {
        if (e)
            entry_free(e);
        return NULL;
    }
    e->learned_ms = ms;
    return e;
}

static bool pair_ok(const char *scope, const char *legacy, const char *neu)
{
    return id_ok(scope, IDLEDGER_SCOPE_MAX) && id_ok(legacy, IDLEDGER_ID_MAX) &&
           id_ok(neu, IDLEDGER_ID_MAX);
}

int idledger_put(idledger *l, const char *scope, const char *legacy, const char *neu,
                 int64_t now_ms)
{
    if (!pair_ok(scope, legacy, neu))
        return -EINVAL;
    entry *e = entry_new(scope, legacy, neu, now_ms);
    if (!e)
        return -ENOMEM;
    pthread_mutex_lock(&l->mu);
    expire(l, now_ms);
    for (int s = 0; s < 2; s++) { /* an id names one entity per side */
        entry *old = *slot(l, s, scope, e->id[s]);
        if (old)
            drop(l, old);
    }
    link_in(l, e);
    l->st.learned++;
    pthread_mutex_unlock(&l->mu);
    return 0;
}

int idledger_merge(idledger *l, const char *scope, const char *legacy, const char *neu,
                   int64_t learned_ms, int64_t now_ms)
{
    if (!pair_ok(scope, legacy, neu))
        return -EINVAL;
    if (now_ms - learned_ms > l->max_age_ms)
        return 0;
    entry *e = entry_new(scope, legacy, neu, learned_ms);
    if (!e)
        return -ENOMEM;
    pthread_mutex_lock(&l->mu);
    expire(l, now_ms);
    entry *old[2];
    bool known = false; /* the ledger holds this pair, or a newer one sharing an id */
    for (int s = 0; s < 2; s++) {
        old[s] = *slot(l, s, scope, e->id[s]);
        known = known || (old[s] && (old[s]->learned_ms > learned_ms ||
                                     strcmp(old[s]->id[1 - s], e->id[1 - s]) == 0));
    }
    bool added = false;
    if (!known) {
        for (int s = 0; s < 2; s++)
            if (old[s] && (s == 0 || old[1] != old[0]))
                drop(l, old[s]);
        added = link_in(l, e); /* false: older than all of a full ledger, freed */
        if (added)
            l->st.received++;
    }
    pthread_mutex_unlock(&l->mu);
    if (known)
        entry_free(e);
    return added ? 1 : 0;
}

int idledger_foreach(idledger *l, idledger_each_fn fn, void *arg)
{
    int rc = 0;
    pthread_mutex_lock(&l->mu);
    for (entry *e = l->oldest; rc == 0 && e; e = e->newer)
        rc = fn(e->scope, e->id[0], e->id[1], e->learned_ms, arg);
    pthread_mutex_unlock(&l->mu);
    return rc;
}

static char *lookup(idledger *l, int from, const char *scope, const char *id, int64_t now_ms)
{
    if (!id_ok(scope, IDLEDGER_SCOPE_MAX) || !id_ok(id, IDLEDGER_ID_MAX)) {
        pthread_mutex_lock(&l->mu);
        l->st.misses++;
        pthread_mutex_unlock(&l->mu);
        return NULL;
    }
    pthread_mutex_lock(&l->mu);
    expire(l, now_ms);
    entry *e = *slot(l, from, scope, id);
    char *out = e ? strdup(e->id[1 - from]) : NULL;
    if (out)
        l->st.hits++;
    else
        l->st.misses++;
    pthread_mutex_unlock(&l->mu);
    return out;
}

char *idledger_new_side_of(idledger *l, const char *scope, const char *legacy, int64_t now_ms)
{
    return lookup(l, 0, scope, legacy, now_ms);
}

char *idledger_legacy_side_of(idledger *l, const char *scope, const char *neu, int64_t now_ms)
{
    return lookup(l, 1, scope, neu, now_ms);
}

idledger_stats idledger_stats_of(idledger *l)
{
    pthread_mutex_lock(&l->mu);
    idledger_stats st = l->st;
    pthread_mutex_unlock(&l->mu);
    return st;
}

int idledger_save(idledger *l, const char *path, char *err, size_t errsize)
{
    json_t *pairs = json_array(), *doc = json_pack("{s:i, s:o}", "v", 1, "pairs", pairs);
    bool ok = doc != NULL;
    pthread_mutex_lock(&l->mu);
    for (entry *e = l->oldest; ok && e; e = e->newer)
        ok = json_array_append_new(pairs, json_pack("[s, s, s, I]", e->scope, e->id[0], e->id[1],
                                                    (json_int_t)e->learned_ms)) == 0;
    pthread_mutex_unlock(&l->mu);
    char *text = ok ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!text) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    size_t n = strlen(path) + 16;
    char *tmp = malloc(n);
    int fd = -1;
    if (tmp) {
        snprintf(tmp, n, "%s.tmp-XXXXXX", path);
        fd = mkstemp(tmp);
    }
    size_t len = strlen(text);
    int rc = -1;
    int wrc = fd >= 0 ? fdio_write_all(fd, text, len) : 0;
    if (wrc == 0 && fd >= 0)
        wrc = fdio_write_all(fd, "\n", 1);
    if (wrc < 0)
        errno = -wrc;
    bool written = fd >= 0 && wrc == 0 && fsync(fd) == 0;
    if (fd >= 0) {
        written = close(fd) == 0 && written; /* closed once, whatever happened */
        fd = -1;
    }
    if (written)
        rc = rename(tmp, path);
    if (rc != 0) {
        snprintf(err, errsize, "%s: %s", path, tmp ? strerror(errno) : "out of memory");
        if (tmp)
            unlink(tmp);
    }
    free(tmp);
    free(text);
    return rc;
}

int idledger_load(idledger *l, const char *path, int64_t now_ms, char *err, size_t errsize)
{
    json_error_t je;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!doc) {
        if (access(path, F_OK) != 0 && errno == ENOENT)
            return 0;
        snprintf(err, errsize, "%s:%d:%d: %s", path, je.line, je.column, je.text);
        return -1;
    }
    const json_t *pairs = json_object_get(doc, "pairs");
    int rc = json_integer_value(json_object_get(doc, "v")) == 1 && json_is_array(pairs) ? 0 : -1;
    if (rc)
        snprintf(err, errsize, "%s: not an id ledger (want {\"v\":1,\"pairs\":[...]})", path);
    size_t i;
    const json_t *p;
    json_array_foreach(pairs, i, p) {
        const char *scope = json_string_value(json_array_get(p, 0));
        const char *a = json_string_value(json_array_get(p, 1)), *b = json_string_value(json_array_get(p, 2));
        const json_t *ts = json_array_get(p, 3);
        if (rc || !scope || !a || !b || !json_is_integer(ts)) {
            if (!rc)
                snprintf(err, errsize, "%s: pair %zu is not [scope, legacy, new, ms]", path, i);
            rc = -1;
            break;
        }
        int64_t t = json_integer_value(ts);
        if (now_ms - t > l->max_age_ms)
            continue; /* expired while the proxy was down */
        int prc = idledger_put(l, scope, a, b, t);
        if (prc != 0) {
            snprintf(err, errsize, prc == -ENOMEM ? "out of memory"
                                                  : "%s: pair %zu has an empty or too long id",
                     path, i);
            rc = -1;
            break;
        }
    }
    json_decref(doc);
    return rc;
}
