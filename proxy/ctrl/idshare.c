/* idshare: see idshare.h. The backend-independent parts: the queue the
 * workers fill, the thread that drains it in batches, and merging what
 * the fleet learned into the ledger. */
#include "ctrl/idshare_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/log.h"
#include "data/ids.h"
#include "obs/metrics.h"

#define QUEUE_CAP 10000 /* pairs waiting to be published, at most */
#define BATCH 100       /* pairs per write (etcd allows 128 operations per txn) */
#define RETRY_MS 1000   /* after a failed write */

idpair *idpair_new(const char *scope, const char *legacy, const char *neu, int64_t ms)
{
    size_t a = strlen(scope) + 1, b = strlen(legacy) + 1, c = strlen(neu) + 1;
    idpair *p = malloc(sizeof *p + a + b + c);
    if (!p)
        return NULL;
    char *text = (char *)(p + 1);
    memcpy(text, scope, a);
    memcpy(text + a, legacy, b);
    memcpy(text + a + b, neu, c);
    *p = (idpair){text, text + a, text + a + b, ms};
    return p;
}

static int by_learned(const void *x, const void *y)
{
    int64_t a = (*(idpair *const *)x)->learned_ms, b = (*(idpair *const *)y)->learned_ms;
    return (a > b) - (a < b);
}

void idshare_sort_pairs(idpair **v, size_t n)
{
    if (n > 1)
        qsort(v, n, sizeof *v, by_learned);
}

int idshare_receive(idshare *s, const char *scope, const char *legacy, const char *neu,
                    int64_t learned_ms)
{
    int rc = idledger_merge(s->ledger, scope, legacy, neu, learned_ms, clock_wall_ms());
    if (rc == 1)
        metric_add(METRIC_ids_fleet_received, 1);
    else if (rc < 0)
        metric_add(METRIC_ids_fleet_failures, 1);
    return rc;
}

/* Now + ms on the clock pthread_cond_timedwait reads. */
static struct timespec deadline_in(long ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    return until;
}

void idshare_nap(idshare *s, long ms)
{
    struct timespec until = deadline_in(ms);
    pthread_mutex_lock(&s->mu);
    if (!atomic_load(&s->stop))
        pthread_cond_timedwait(&s->wake, &s->mu, &until);
    pthread_mutex_unlock(&s->mu);
}

/* The hook ids_learn calls on a worker loop: queue, never wait for the store. */
static void on_learned(const char *kind, const char *legacy, const char *neu, int64_t ms,
                       void *arg)
{
    idshare *s = arg;
    idpair *p = idpair_new(kind, legacy, neu, ms);
    bool queued = false, first_drop = false;
    pthread_mutex_lock(&s->mu);
    if (p && s->qlen < s->qcap) {
        s->q[(s->qhead + s->qlen++) % s->qcap] = p;
        pthread_cond_signal(&s->wake);
        queued = true;
    } else if (!s->full_logged) {
        s->full_logged = first_drop = true;
    }
    pthread_mutex_unlock(&s->mu);
    if (queued)
        return;
    free(p);
    metric_add(METRIC_ids_fleet_dropped, 1);
    if (first_drop)
        log_event(LOG_WARN, "ids_fleet_queue_full", "effect",
                  "pairs learned here are not shared until the store keeps up "
                  "(shadowproxy_ids_fleet_dropped_total)",
                  NULL);
}

/* Up to BATCH pairs from the head of the queue (they stay queued). */
static size_t peek(idshare *s, idpair **out)
{
    pthread_mutex_lock(&s->mu);
    size_t n = s->qlen < BATCH ? s->qlen : BATCH;
    for (size_t i = 0; i < n; i++)
        out[i] = s->q[(s->qhead + i) % s->qcap];
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* Removes the n pairs peek returned (only this thread removes). */
static void pop(idshare *s, size_t n)
{
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < n; i++) {
        free(s->q[s->qhead]);
        s->qhead = (s->qhead + 1) % s->qcap;
    }
    s->qlen -= n;
    if (s->qlen == 0)
        s->full_logged = false;
    pthread_mutex_unlock(&s->mu);
}

/* Publishes one batch: true when written (or nothing to write). */
static bool publish_batch(idshare *s, bool *any)
{
    idpair *batch[BATCH];
    size_t n = peek(s, batch);
    *any = n > 0;
    if (!n)
        return true;
    if (s->be->publish(s, batch, n) != 0) {
        metric_add(METRIC_ids_fleet_failures, 1);
        return false;
    }
    metric_add(METRIC_ids_fleet_published, (int64_t)n);
    pop(s, n);
    return true;
}

static void *share_main(void *arg)
{
    idshare *s = arg;
    bool failing = false;
    (void)pthread_setname_np(pthread_self(), "sp-idshare"); /* cosmetic: top -H */
    while (!atomic_load(&s->stop)) {
        bool any = false;
        bool ok = publish_batch(s, &any);
        if (ok != !failing) {
            failing = !ok;
            log_event(ok ? LOG_INFO : LOG_WARN, ok ? "ids_fleet_publish_up" : "ids_fleet_publish_failed",
                      "store", s->be->kind, "effect",
                      ok ? "queued pairs are being shared" : "pairs stay queued and are retried",
                      NULL);
        }
        if (s->be->poll)
            s->be->poll(s);
        ids_publish_stats();
        if (!ok) {
            idshare_nap(s, RETRY_MS);
            continue;
        }
        pthread_mutex_lock(&s->mu);
        if (!s->qlen && !atomic_load(&s->stop) && !any) {
            struct timespec until = deadline_in(s->be->poll_ms);
            pthread_cond_timedwait(&s->wake, &s->mu, &until);
        }
        pthread_mutex_unlock(&s->mu);
    }
    return NULL;
}

static void free_share(idshare *s)
{
    if (s->be && s->be->close)
        s->be->close(s);
    while (s->qlen) {
        free(s->q[s->qhead]);
        s->qhead = (s->qhead + 1) % s->qcap;
        s->qlen--;
    }
    free(s->q);
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

idshare *idshare_start(const sp_config *cfg, store *st, idledger *l)
{
    if (!st || !l)
        return NULL;
    idshare *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->ledger = l;
    s->max_age_ms = (int64_t)cfg->ids_max_age_s * 1000;
    s->max_pairs = cfg->ids_max_pairs;
    s->qcap = QUEUE_CAP;
    snprintf(s->replica, sizeof s->replica, "%s", store_replica_id(st));
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->wake, NULL);
    char err[512] = "out of memory";
    const char *file = store_file_path(st);
    int rc = -ENOMEM;
    if ((s->q = calloc(s->qcap, sizeof *s->q)))
        rc = file ? idshare_file_open(s, file, err, sizeof err)
                  : idshare_etcd_open(s, cfg, err, sizeof err);
    if (rc == 0 && pthread_create(&s->thread, NULL, share_main, s) != 0) {
        snprintf(err, sizeof err, "cannot start a thread");
        rc = -EAGAIN;
    }
    if (rc != 0) {
        log_event(LOG_ERROR, "ids_fleet_failed", "error", err, "effect",
                  "this replica's id ledger is not shared", NULL);
        free_share(s);
        return NULL;
    }
    s->started = true;
    ids_set_on_learned(on_learned, s);
    return s;
}

void idshare_stop(idshare *s)
{
    if (!s)
        return;
    ids_set_on_learned(NULL, NULL);
    pthread_mutex_lock(&s->mu);
    atomic_store(&s->stop, 1);
    pthread_cond_broadcast(&s->wake);
    pthread_mutex_unlock(&s->mu);
    if (s->started)
        pthread_join(s->thread, NULL);
    bool any = true;
    while (any && publish_batch(s, &any)) /* what was queued: one try */
        ;
    metric_add(METRIC_ids_fleet_dropped, (int64_t)s->qlen); /* not shared */
    free_share(s);
}
