#include "data/difflog_writer.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/log.h"
#include "diff/difflog.h"

typedef struct batch {
    struct batch *next;
    char *buf;
    size_t len, nrecords;
} batch;

struct dlwriter_local {
    dlwriter_local *next;
    pthread_mutex_t mu;
    overload_tally tally; /* verdicts not yet counted in the metrics */
};

struct dlwriter {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    batch *head, *tail;          /* under mu */
    overload_tally tally;        /* under mu: verdicts already counted */
    dlwriter_local *locals;      /* under mu; freed by dlwriter_stop */
    bool stopping;               /* under mu */
    atomic_bool reopen;
    atomic_size_t backlog;       /* bytes handed over, not yet written */
    atomic_int write_error;
    uint64_t gen;                /* tells a thread's cached local apart from a dead writer's */
    difflog log;
    live *live;
    metrics_shard *shard;        /* the collected verdicts, by route */
    metrics_shard *endpoints;    /* the route `default`'s not-mirrored ones, by endpoint */
    overload_tally window;       /* writer thread only: this window's counts */
    int64_t window_start_ms;
    uint64_t failed_since_ok, failed_since_log;
    time_t last_error_log;
};

static atomic_uint_fast64_t next_gen = 1;
static _Thread_local struct {
    dlwriter_local *local;
    uint64_t gen;
} tls_local;

void dlwriter_submit(dlwriter *w, char *buf, size_t len, size_t nrecords)
{
    batch *b = malloc(sizeof *b);
    if (!b) {
        metric_add(METRIC_records_lost, (int64_t)nrecords);
        free(buf);
        return;
    }
    *b = (batch){.buf = buf, .len = len, .nrecords = nrecords};
    atomic_fetch_add(&w->backlog, len);
    pthread_mutex_lock(&w->mu);
    if (w->tail)
        w->tail->next = b;
    else
        w->head = b;
    w->tail = b;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

bool dlwriter_keeps_up(dlwriter *w)
{
    return atomic_load_explicit(&w->backlog, memory_order_relaxed) < DLWRITER_BACKLOG_BYTES;
}

void dlwriter_tally(dlwriter *w, overload_tally *t)
{
    if (overload_tally_empty(t))
        return;
    pthread_mutex_lock(&w->mu);
    overload_tally_merge(&w->tally, t);
    pthread_mutex_unlock(&w->mu);
}

dlwriter_local *dlwriter_local_of(dlwriter *w)
{
    if (tls_local.local && tls_local.gen == w->gen)
        return tls_local.local;
    dlwriter_local *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    pthread_mutex_init(&l->mu, NULL);
    pthread_mutex_lock(&w->mu);
    l->next = w->locals;
    w->locals = l;
    pthread_mutex_unlock(&w->mu);
    tls_local.local = l;
    tls_local.gen = w->gen;
    return l;
}

overload_tally *dlwriter_local_lock(dlwriter_local *l)
{
    pthread_mutex_lock(&l->mu);
    return &l->tally;
}

void dlwriter_local_unlock(dlwriter_local *l)
{
    pthread_mutex_unlock(&l->mu);
}

void dlwriter_request_reopen(dlwriter *w)
{
    atomic_store(&w->reopen, true);
    pthread_mutex_lock(&w->mu);
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

int dlwriter_write_error(dlwriter *w)
{
    return atomic_load(&w->write_error);
}

static void write_lines(dlwriter *w, const char *buf, size_t len, size_t nrecords)
{
    int rc = difflog_write(&w->log, buf, len);
    if (rc == 0) {
        metric_add(METRIC_records_written, (int64_t)nrecords);
        metric_add(METRIC_difflog_bytes, (int64_t)len);
        if (atomic_load(&w->write_error)) {
            char n[24];
            snprintf(n, sizeof n, "%llu", (unsigned long long)w->failed_since_ok);
            log_event(LOG_INFO, "difflog_write_resumed", "path", w->log.path, "failed_batches", n,
                      NULL);
            atomic_store(&w->write_error, 0);
            w->failed_since_ok = 0;
        }
        return;
    }
    /* Proxying goes on; the error is logged once a minute with a count, and
     * the next batch simply tries again (disk full, permissions). */
    metric_add(METRIC_difflog_write_errors, 1);
    metric_add(METRIC_records_lost, (int64_t)nrecords);
    atomic_store(&w->write_error, -rc);
    w->failed_since_ok++;
    w->failed_since_log++;
    time_t now = time(NULL);
    if (now - w->last_error_log >= 60) {
        char n[24];
        snprintf(n, sizeof n, "%llu", (unsigned long long)w->failed_since_log);
        log_event(LOG_ERROR, "difflog_write_failed", "path", w->log.path, "error",
                  strerror(-rc), "failed_batches", n, NULL);
        w->last_error_log = now;
        w->failed_since_log = 0;
    }
}

/* Sampled-out and not-mirrored exchanges counted by the submitters: their
 * verdicts go into the per-route metrics and the live view now (the global
 * verdict count was taken at once), the not-mirrored ones into the live
 * scorecard's exchanges too. Called with w->mu held. */
static void collect_locals(dlwriter *w, int64_t now_ms)
{
    for (dlwriter_local *l = w->locals; l; l = l->next) {
        overload_tally t;
        pthread_mutex_lock(&l->mu);
        bool empty = overload_tally_empty(&l->tally);
        if (!empty) {
            t = (overload_tally){0};
            overload_tally_merge(&t, &l->tally);
        }
        pthread_mutex_unlock(&l->mu);
        if (empty)
            continue;
        for (size_t i = 0; i < overload_tally_size(&t); i++) {
            const overload_count *c = overload_tally_at(&t, i);
            const char *route = c->endpoint ? "default" : c->route;
            uint64_t not_mirrored = overload_count_not_mirrored(c);
            for (int v = 0; v < VERDICT_COUNT; v++) {
                uint64_t n = c->unlogged[v] + (v == VERDICT_SKIPPED ? not_mirrored : 0);
                metrics_verdict_route_n(w->shard, route, (verdict)v, n);
                live_count_n(w->live, route, (verdict)v, n, now_ms);
            }
            if (c->endpoint) { /* as a compared exchange of the route default would be */
                metrics_verdict_route_n(w->endpoints, c->route, VERDICT_SKIPPED, not_mirrored);
                live_count_endpoint_n(w->live, c->route, VERDICT_SKIPPED, not_mirrored, now_ms);
            }
            /* the live scorecard's exchanges (not compared, no answer times),
             * under the endpoint for the route default */
            live_ready_count_n(live_readiness(w->live), c->route, VERDICT_SKIPPED, not_mirrored);
        }
        overload_tally_merge(&w->window, &t);
    }
}

/* The window's overload records, when it is over (or at the end). */
static void write_window(dlwriter *w, bool final)
{
    int64_t now = clock_wall_ms();
    if (!final && now - w->window_start_ms < OVERLOAD_WINDOW_MS)
        return;
    pthread_mutex_lock(&w->mu);
    overload_tally_merge(&w->window, &w->tally);
    collect_locals(w, now);
    pthread_mutex_unlock(&w->mu);
    size_t len = 0, n = 0;
    char *lines = overload_tally_lines(&w->window, w->window_start_ms, now, &len, &n);
    if (lines)
        write_lines(w, lines, len, n);
    else if (!overload_tally_empty(&w->window)) { /* no memory for the records */
        metric_add(METRIC_records_lost, (int64_t)overload_tally_size(&w->window));
        w->window = (overload_tally){0};
    }
    free(lines);
    w->window_start_ms = now;
}

static void *writer_main(void *arg)
{
    dlwriter *w = arg;
    (void)pthread_setname_np(pthread_self(), "sp-difflog"); /* cosmetic: top -H */
    struct sched_param none = {0};
    (void)pthread_setschedparam(pthread_self(), SCHED_BATCH, &none); /* shadow work */
    w->shard = metrics_shard_new("difflog-writer");
    w->endpoints = metrics_endpoint_shard_new("difflog-writer");
    w->window_start_ms = clock_wall_ms();
    for (;;) {
        pthread_mutex_lock(&w->mu);
        if (!w->head && !w->stopping && !atomic_load(&w->reopen)) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += OVERLOAD_WINDOW_MS / 1000;
            pthread_cond_timedwait(&w->cv, &w->mu, &until);
        }
        batch *list = w->head;
        w->head = w->tail = NULL;
        bool stop = w->stopping && !list;
        pthread_mutex_unlock(&w->mu);
        if (atomic_exchange(&w->reopen, false)) {
            int rc = difflog_reopen(&w->log);
            log_event(rc ? LOG_ERROR : LOG_INFO, "difflog_reopened", "path", w->log.path,
                      "error", rc ? difflog_strerror(rc) : NULL, NULL);
        }
        while (list) {
            batch *next = list->next;
            write_lines(w, list->buf, list->len, list->nrecords);
            atomic_fetch_sub(&w->backlog, list->len);
            free(list->buf);
            free(list);
            list = next;
        }
        write_window(w, stop);
        if (stop)
            break;
    }
    metrics_shard_release(w->shard);
    metrics_shard_release(w->endpoints);
    return NULL;
}

int dlwriter_start(dlwriter **out, const char *path, bool follow_symlinks, live *lv)
{
    dlwriter *w = calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    w->live = lv;
    w->gen = atomic_fetch_add(&next_gen, 1);
    int rc = difflog_open(&w->log, path, follow_symlinks);
    if (rc != 0) {
        free(w);
        return rc;
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    rc = pthread_create(&w->thread, NULL, writer_main, w);
    if (rc != 0) {
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        difflog_close(&w->log);
        free(w);
        return -rc;
    }
    *out = w;
    return 0;
}

void dlwriter_stop(dlwriter *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    assert(!w->head && atomic_load(&w->backlog) == 0);
    while (w->locals) {
        dlwriter_local *l = w->locals;
        w->locals = l->next;
        pthread_mutex_destroy(&l->mu);
        free(l);
    }
    difflog_close(&w->log);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
}
