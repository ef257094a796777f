/* analyzer: the comparer pool.
 *
 *   worker ──analyzer_submit──▶ comparer[hash(id) % n] queue ──▶ analyze_job
 *      │  (sampled out under overload:                               │ lines
 *      │   counted in the worker's own tally)                        ▼
 *      └───────────────────────────────────────────────▶ dlwriter (one thread)
 *
 * Each comparer has its own queue and lock, so workers never share one lock
 * for all exchanges. When a comparer falls behind, workers hand it only the
 * share of exchanges whose request id falls under the share
 * (rules_sampled_at, the hash of mirror.sample_percent), and count the rest
 * per route (obs/overload.h): nothing is lost, and the same id gets the
 * same choice at the same share on every replica and on replay. */
#include "data/analyzer.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/json_arena.h"
#include "base/log.h"
#include "data/analyze_job.h"
#include "data/confirm.h"
#include "data/difflog_writer.h"
#include "obs/live.h"

/* Captured bodies waiting in the whole pool, at most: past half of a
 * comparer's part, it is handed a shrinking share (like its queue). */
#define QUEUE_BYTE_BUDGET (256u * 1024u * 1024u)
/* A comparer hands its lines to the writer in batches of about this size. */
#define BATCH_FLUSH_BYTES (256u * 1024u)
/* How long a comparer waits for more work before it sleeps until signalled. */
#define BATCH_PAUSE_NS 2000000L
/* A comparer's arena keeps one chunk up to this size between comparisons
 * (a few orders' values); a larger document's chunks go back to malloc. */
#define ARENA_KEEP_BYTES (256u * 1024u)
/* Comparison is shadow work: the comparers run under SCHED_BATCH at nice
 * 10 (their wake-ups never preempt a worker, and next to the machine's
 * other processes they keep a fair share, so they keep up). While a worker
 * is saturated (busy in its loop for YIELD_ENTER_BP of the last window,
 * analyzer_worker_busy) each comparer yields: it spends at most
 * YIELD_BUDGET_NS of CPU time per YIELD_WINDOW_NS and sleeps the rest, so
 * the clients keep the CPU and the compared share falls instead (overload
 * sampling by request id: nothing is lost). The budget is the comparer's
 * own CPU time (CLOCK_THREAD_CPUTIME_ID), not the wall time of its jobs:
 * preempted by the worker, a job's wall time could pass the window, which
 * then started afresh without a sleep, and a yielding comparer kept its
 * nice-10 share (7.7% of the core in row 10 of the 14:30 quiet bench, not
 * 3%). Nice 10 alone took about a
 * tenth of a saturated core (CFS weights 110 vs 1024): noisy answers ran at
 * 0.82x of identical ones (quiet run, 2026-12-07 12:23 UTC). SCHED_IDLE
 * while yielding was tried: it fills the worker's idle microseconds, and
 * every wake-up of the worker preempted it, which cost the healthy row
 * about 12% more CPU per request; a sleep costs two wake-ups per window. */
#define COMPARER_NICE 10
#define YIELD_ENTER_BP 9000 /* a worker this busy: the comparers yield */
#define YIELD_LEAVE_BP 8000 /* every worker below: they stop yielding */
#define YIELD_WINDOW_NS 10000000ull /* 10 ms */
#define YIELD_BUDGET_NS 300000ull   /* 0.3 ms of it: 3% of a core per comparer */
/* One sleep at most (a stop waits for it; a huge document's debt past it
 * is forgiven). */
#define YIELD_MAX_SLEEP_NS 100000000ull

typedef struct comparer {
    analyzer *a;
    int index;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    analysis_job *head, *tail;   /* under mu */
    bool stopping, idle;         /* under mu */
    atomic_size_t pending;       /* submitted, not yet analyzed */
    atomic_size_t pending_bytes;
    atomic_uint share_bp;        /* the share last offered, basis points */
    atomic_bool yielding;        /* a worker is saturated: comparing on a budget */
    uint64_t window_start, window_cpu; /* comparer thread only: the budget's window (wall, own CPU) */
    atomic_uint_fast64_t busy_ns;
    atomic_uint_fast64_t compared;
    metrics_shard *shard;        /* comparer thread only */
    metrics_shard *endpoints;    /* comparer thread only: route `default` by endpoint */
    record_batch batch;          /* comparer thread only */
    overload_tally tally;        /* comparer thread only: records the writer had no room for */
    json_arena *arena;           /* comparer thread only: its comparisons' values */
} comparer;

struct analyzer {
    const sp_config *cfg;
    comparer *c;
    size_t n, started;
    size_t queue_limit, byte_limit; /* per comparer */
    atomic_int mode;                /* diff_log_mode; a reload may change it */
    record_opts ropts;
    compare_opts copts;
    dlwriter *writer;
    live *live;
    confirmer *confirm;             /* re-reads of confirming routes' mismatches */
    atomic_uint worker_busy_bp[ANALYZER_MAX_WORKERS]; /* each worker's, last window */
    size_t nworkers;                /* slots of worker_busy_bp in use (config `workers`) */
};

live *analyzer_live(analyzer *a)
{
    return a ? a->live : NULL;
}

void analyzer_set_mode(analyzer *a, diff_log_mode mode)
{
    atomic_store(&a->mode, (int)mode);
}

int analyzer_write_error(analyzer *a)
{
    return dlwriter_write_error(a->writer);
}

void analyzer_request_reopen(analyzer *a)
{
    dlwriter_request_reopen(a->writer);
}

analysis_job *analysis_job_new(void)
{
    analysis_job *j = calloc(1, sizeof *j);
    if (j)
        j->preset = VERDICT_COUNT;
    return j;
}

void analysis_leg_clear(analysis_leg *l)
{
    hdr_list_free(&l->headers);
    blob_unref(l->body);
    free(l->error);
    memset(l, 0, sizeof *l);
}

void analysis_job_free(analysis_job *j)
{
    if (!j)
        return;
    for (int s = 0; s < 2; s++) {
        analysis_leg_clear(&j->legs[s]);
        analysis_leg_clear(&j->confirm.reread[s]);
        curl_slist_free_all(j->confirm.headers[s]);
        free(j->confirm.target[s]);
    }
    analysis_leg_clear(&j->secondary);
    hdr_list_free(&j->req_headers);
    blob_unref(j->req_body);
    free(j->method);
    free(j->uri);
    free(j->reason_owned);
    json_decref(j->id_pairs);
    rules_unref(j->rules);
    json_decref(j->fault);
    free(j);
}

static size_t job_bytes(const analysis_job *j)
{
    size_t n = j->req_body ? j->req_body->len : 0;
    for (int s = 0; s < 2; s++)
        n += j->legs[s].body ? j->legs[s].body->len : 0;
    return n + (j->secondary.body ? j->secondary.body->len : 0);
}

unsigned analyzer_share_bp(size_t pending, size_t limit)
{
    size_t half = limit / 2;
    if (pending <= half)
        return 10000;
    if (pending >= limit)
        return 0;
    return (unsigned)(10000u * (limit - pending) / (limit - half));
}

/* Which comparer: FNV-1a of the id (any spread will do; not the sampling
 * hash, so that a comparer's share is not taken from one end of it). */
static size_t pick(const analyzer *a, const char *id)
{
    uint32_t h = 2166136261u;
    for (; *id; id++)
        h = (h ^ (unsigned char)*id) * 16777619u;
    return h % a->n;
}

/* Not compared, and no record of its own: counted in the calling worker's
 * tally, which the writer collects (per-route verdicts, overload records). */
static void sample_out(analyzer *a, analysis_job *job)
{
    bool compare = job->preset == VERDICT_COUNT;
    verdict v = compare ? VERDICT_SKIPPED : job->preset;
    metric_verdict(v);
    metric_add(METRIC_records_unlogged, 1);
    if (compare)
        metric_add(METRIC_compare_sampled_out, 1);
    dlwriter_local *l = dlwriter_local_of(a->writer);
    if (l) {
        overload_tally *t = dlwriter_local_lock(l);
        overload_tally_add(t, job->route ? job->route->name : "default", v, compare);
        dlwriter_local_unlock(l);
    } else {
        metric_add(METRIC_records_lost, 1); /* no memory for the worker's tally */
    }
    analysis_job_free(job);
}

bool analyzer_not_mirrored(analyzer *a, const char *route_name, const char *endpoint,
                           not_mirrored_reason why)
{
    if (atomic_load_explicit(&a->mode, memory_order_relaxed) == DIFFLOG_ALL)
        return false; /* every exchange has its record (replay captures) */
    dlwriter_local *l = dlwriter_local_of(a->writer);
    if (!l)
        return false; /* no memory for the worker's tally: a record of its own */
    metric_verdict(VERDICT_SKIPPED);
    overload_tally *t = dlwriter_local_lock(l);
    overload_tally_not_mirrored(t, route_name, endpoint, why);
    dlwriter_local_unlock(l);
    return true;
}

bool analyzer_shadow_overloaded(analyzer *a, const char *route_name)
{
    if (atomic_load_explicit(&a->mode, memory_order_relaxed) == DIFFLOG_ALL)
        return false;
    dlwriter_local *l = dlwriter_local_of(a->writer);
    if (!l)
        return false;
    metric_verdict(VERDICT_SHADOW_DROPPED);
    metric_add(METRIC_records_unlogged, 1);
    overload_tally *t = dlwriter_local_lock(l);
    overload_tally_add(t, route_name, VERDICT_SHADOW_DROPPED, false);
    dlwriter_local_unlock(l);
    return true;
}

static void enqueue(comparer *c, analysis_job *job, size_t bytes);

/* confirm_done_fn: a confirmation's job comes back with its re-read. It
 * was compared once already, so no sampling now: it goes to its comparer
 * whatever the queue (the confirm budget bounds how many do). */
static void confirmed_back(void *ctx, analysis_job *job)
{
    analyzer *a = ctx;
    const char *id = job->client_id[0] ? job->client_id : job->id;
    enqueue(&a->c[pick(a, id)], job, job_bytes(job));
}

void analyzer_submit(analyzer *a, analysis_job *job)
{
    /* The id mirror sampling hashed (exchange_upstream_id): the client's
     * when the record needed another, so a replayed or repeated id gets
     * the same choice. */
    const char *sample_id = job->client_id[0] ? job->client_id : job->id;
    comparer *c = &a->c[pick(a, sample_id)];
    size_t bytes = job_bytes(job);
    size_t pending = atomic_load_explicit(&c->pending, memory_order_relaxed);
    size_t pbytes = atomic_load_explicit(&c->pending_bytes, memory_order_relaxed) + bytes;
    unsigned share = analyzer_share_bp(pending, a->queue_limit);
    unsigned by_bytes = analyzer_share_bp(pbytes, a->byte_limit);
    share = by_bytes < share ? by_bytes : share;
    atomic_store_explicit(&c->share_bp, share, memory_order_relaxed);
    if (job->preset == VERDICT_COUNT)
        metric_add(METRIC_compare_offered, 1);
    if (!rules_sampled_at(share / 100.0, sample_id)) {
        sample_out(a, job);
        return;
    }
    enqueue(c, job, bytes);
}

static void enqueue(comparer *c, analysis_job *job, size_t bytes)
{
    atomic_fetch_add_explicit(&c->pending, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->pending_bytes, bytes, memory_order_relaxed);
    metric_add(METRIC_compare_queue_depth, 1);
    job->next = NULL;
    pthread_mutex_lock(&c->mu);
    bool was_empty = c->head == NULL;
    if (c->tail)
        c->tail->next = job;
    else
        c->head = job;
    c->tail = job;
    if (was_empty && c->idle) {
        c->idle = false;
        pthread_cond_signal(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
}

static void hand_over(comparer *c)
{
    dlwriter_tally(c->a->writer, &c->tally);
    if (!c->batch.len)
        return;
    dlwriter_submit(c->a->writer, c->batch.buf, c->batch.len, c->batch.nrecords);
    c->batch = (record_batch){0};
}

static void lower_priority(void)
{
    struct sched_param none = {0};
    int rc = pthread_setschedparam(pthread_self(), SCHED_BATCH, &none);
    if (rc == 0 && setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), COMPARER_NICE) != 0)
        rc = errno;
    if (rc != 0) {
        char eb[128];
        log_event(LOG_WARN, "comparer_priority_unchanged", "error",
                  strerror_r(rc, eb, sizeof eb), NULL);
    }
}

bool analyzer_should_yield(bool yielding, unsigned busiest_bp)
{
    return yielding ? busiest_bp >= YIELD_LEAVE_BP : busiest_bp >= YIELD_ENTER_BP;
}

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        return 0; /* cannot fail for the calling thread */
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t analyzer_yield_sleep_ns(uint64_t wall_ns, uint64_t cpu_ns)
{
    if (cpu_ns < YIELD_BUDGET_NS)
        return 0;
    /* overflows past 1.8e12 ns (30 min) of CPU in one window: never */
    uint64_t due = cpu_ns * YIELD_WINDOW_NS / YIELD_BUDGET_NS;
    if (due <= wall_ns)
        return 0;
    return due - wall_ns < YIELD_MAX_SLEEP_NS ? due - wall_ns : YIELD_MAX_SLEEP_NS;
}

/* Between two jobs: while a worker is saturated, at most YIELD_BUDGET_NS
 * of this thread's CPU time per YIELD_WINDOW_NS (analyzer_yield_sleep_ns),
 * then a new window; the first window starts when the yield does. */
static void follow_workers(comparer *c)
{
    analyzer *a = c->a;
    unsigned busiest = 0;
    for (size_t i = 0; i < a->nworkers; i++) {
        unsigned bp = atomic_load_explicit(&a->worker_busy_bp[i], memory_order_relaxed);
        busiest = bp > busiest ? bp : busiest;
    }
    bool was = atomic_load_explicit(&c->yielding, memory_order_relaxed);
    bool yielding = analyzer_should_yield(was, busiest);
    atomic_store_explicit(&c->yielding, yielding, memory_order_relaxed);
    if (!yielding)
        return; /* no clock read per job at rest (the thread's CPU clock is a system call) */
    uint64_t now = clock_now_ns(), cpu = thread_cpu_ns();
    uint64_t wall = now - c->window_start, spent = cpu - c->window_cpu;
    if (was && spent < YIELD_BUDGET_NS && wall < YIELD_WINDOW_NS)
        return; /* within the budget */
    if (was && spent >= YIELD_BUDGET_NS) {
        uint64_t rest = analyzer_yield_sleep_ns(wall, spent);
        struct timespec ts = {.tv_sec = (time_t)(rest / 1000000000ull),
                              .tv_nsec = (long)(rest % 1000000000ull)};
        if (rest)
            nanosleep(&ts, NULL);
        now = clock_now_ns();
        cpu = thread_cpu_ns();
    }
    c->window_start = now;
    c->window_cpu = cpu;
}

void analyzer_worker_busy(analyzer *a, int worker, double ratio)
{
    assert(worker >= 0 && worker < ANALYZER_MAX_WORKERS);
    if (!a || worker < 0 || worker >= ANALYZER_MAX_WORKERS)
        return;
    ratio = ratio < 0 ? 0 : ratio > 1 ? 1 : ratio;
    atomic_store_explicit(&a->worker_busy_bp[worker], (unsigned)(ratio * 10000 + 0.5),
                          memory_order_relaxed);
}

size_t analyzer_worker_busy_ratios(analyzer *a, double *out, size_t nworkers)
{
    size_t i;
    for (i = 0; a && i < nworkers && i < ANALYZER_MAX_WORKERS; i++)
        out[i] = atomic_load_explicit(&a->worker_busy_bp[i], memory_order_relaxed) / 10000.0;
    return i;
}

/* The next jobs, after a short pause for more to pile up (under load the
 * workers then signal about once per BATCH_PAUSE_NS, not once per exchange:
 * on a shared core that is a context switch each time). NULL: stop. */
static analysis_job *take_jobs(comparer *c)
{
    pthread_mutex_lock(&c->mu);
    if (!c->head && !c->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += BATCH_PAUSE_NS;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&c->cv, &c->mu, &until);
    }
    while (!c->head && !c->stopping) {
        c->idle = true;
        pthread_cond_wait(&c->cv, &c->mu);
    }
    c->idle = false;
    analysis_job *list = c->head;
    c->head = c->tail = NULL;
    pthread_mutex_unlock(&c->mu);
    return list;
}

static void *comparer_main(void *arg)
{
    comparer *c = arg;
    analyzer *a = c->a;
    char name[32];
    snprintf(name, sizeof name, "sp-compare-%d", c->index);
    (void)pthread_setname_np(pthread_self(), name); /* cosmetic: top -H, perf */
    lower_priority();
    snprintf(name, sizeof name, "comparer-%d", c->index);
    c->shard = metrics_shard_new(name);
    c->endpoints = metrics_endpoint_shard_new(name);
    c->arena = json_arena_new(ARENA_KEEP_BYTES); /* NULL: comparisons use malloc */
    analysis_job *list;
    while ((list = take_jobs(c)) != NULL) {
        analyze_ctx cx = {
            .cfg = a->cfg,
            .ropts = &a->ropts,
            .copts = &a->copts,
            .shard = c->shard,
            .endpoints = c->endpoints,
            .live = a->live,
            .tally = &c->tally,
            .confirm = a->confirm,
            .arena = c->arena,
        };
        while (list) {
            analysis_job *next = list->next;
            follow_workers(c);
            uint64_t t0 = clock_now_ns();
            cx.mode = (diff_log_mode)atomic_load(&a->mode);
            cx.writer_keeps_up = dlwriter_keeps_up(a->writer);
            size_t bytes = job_bytes(list);
            if (analyze_job(&cx, list, &c->batch) != VERDICT_COUNT)
                analysis_job_free(list); /* else the confirmer took it */
            atomic_fetch_sub_explicit(&c->pending, 1, memory_order_relaxed);
            atomic_fetch_sub_explicit(&c->pending_bytes, bytes, memory_order_relaxed);
            metric_add(METRIC_compare_queue_depth, -1);
            atomic_fetch_add_explicit(&c->compared, 1, memory_order_relaxed);
            uint64_t spent = clock_now_ns() - t0;
            atomic_fetch_add_explicit(&c->busy_ns, spent, memory_order_relaxed);
            list = next;
            if (c->batch.len >= BATCH_FLUSH_BYTES)
                hand_over(c);
        }
        hand_over(c);
    }
    hand_over(c);
    free(c->batch.buf);
    json_arena_free(c->arena);
    metrics_shard_release(c->shard);
    metrics_shard_release(c->endpoints);
    return NULL;
}

size_t analyzer_comparers(analyzer *a, analyzer_comparer_stats *out, size_t max)
{
    size_t i;
    for (i = 0; a && i < a->n && i < max; i++) {
        comparer *c = &a->c[i];
        out[i] = (analyzer_comparer_stats){
            .queue_depth = atomic_load_explicit(&c->pending, memory_order_relaxed),
            .busy_seconds =
                (double)atomic_load_explicit(&c->busy_ns, memory_order_relaxed) / 1e9,
            .share = atomic_load_explicit(&c->share_bp, memory_order_relaxed) / 10000.0,
            .compared = atomic_load_explicit(&c->compared, memory_order_relaxed),
            .yielding = atomic_load_explicit(&c->yielding, memory_order_relaxed),
        };
    }
    return i;
}

static void stop_comparers(analyzer *a)
{
    for (size_t i = 0; i < a->started; i++) {
        comparer *c = &a->c[i];
        pthread_mutex_lock(&c->mu);
        c->stopping = true;
        pthread_cond_signal(&c->cv);
        pthread_mutex_unlock(&c->mu);
    }
    for (size_t i = 0; i < a->started; i++)
        pthread_join(a->c[i].thread, NULL);
    for (size_t i = 0; i < a->n; i++) {
        assert(!a->c[i].head);
        pthread_mutex_destroy(&a->c[i].mu);
        pthread_cond_destroy(&a->c[i].cv);
    }
}

static void analyzer_free(analyzer *a)
{
    dlwriter_stop(a->writer); /* after the comparers: writes what they handed over */
    live_free(a->live);
    free(a->c);
    free(a);
}

int analyzer_threads(const sp_config *cfg)
{
    int n = cfg->compare_threads;
    if (n < 0)
        n = cfg->workers;
    if (n <= 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        n = cores > 0 ? (cores > 64 ? 64 : (int)cores) : 1;
    }
    return n;
}

int analyzer_start(analyzer **out, const sp_config *cfg)
{
    analyzer *a = calloc(1, sizeof *a);
    if (!a)
        return -ENOMEM;
    a->cfg = cfg;
    a->n = (size_t)analyzer_threads(cfg);
    /* as many as the server starts (server.c): the comparers read only those per job */
    a->nworkers = cfg->workers <= 0 ? 1
                  : cfg->workers > ANALYZER_MAX_WORKERS ? ANALYZER_MAX_WORKERS
                                                        : (size_t)cfg->workers;
    a->queue_limit = (cfg->diff_log_queue + a->n - 1) / a->n;
    a->queue_limit = a->queue_limit < 2 ? 2 : a->queue_limit;
    a->byte_limit = QUEUE_BYTE_BUDGET / a->n;
    atomic_init(&a->mode, (int)cfg->diff_log_mode);
    a->ropts = (record_opts){
        .max_body_bytes = cfg->diff_log_max_body,
        .secrets = {.exempt = (const char *const *)cfg->redact_exempt,
                    .nexempt = cfg->nredact_exempt},
        .redact_fields = (const char *const *)cfg->redact_fields,
        .nredact_fields = cfg->nredact_fields,
    };
    a->copts = (compare_opts){
        .headers = (const char *const *)cfg->compare_headers,
        .nheaders = cfg->ncompare_headers,
        .max_differences = cfg->max_differences,
    };
    a->c = calloc(a->n, sizeof *a->c);
    a->live = live_new(NULL);
    if (!a->c || !a->live) {
        live_free(a->live);
        free(a->c);
        free(a);
        return -ENOMEM;
    }
    int rc = dlwriter_start(&a->writer, cfg->diff_log_path, cfg->diff_log_follow_symlinks, a->live);
    if (rc != 0) {
        live_free(a->live);
        free(a->c);
        free(a);
        return rc;
    }
    for (size_t i = 0; i < a->n; i++) {
        a->c[i].a = a;
        a->c[i].index = (int)i;
        atomic_init(&a->c[i].share_bp, 10000);
        pthread_mutex_init(&a->c[i].mu, NULL);
        pthread_cond_init(&a->c[i].cv, NULL);
    }
    for (; a->started < a->n; a->started++) {
        rc = pthread_create(&a->c[a->started].thread, NULL, comparer_main, &a->c[a->started]);
        if (rc != 0) {
            stop_comparers(a);
            analyzer_free(a);
            return -rc;
        }
    }
    if ((rc = confirmer_start(&a->confirm, cfg, confirmed_back, a)) != 0) {
        stop_comparers(a);
        analyzer_free(a);
        return rc;
    }
    *out = a;
    return 0;
}

void analyzer_stop(analyzer *a)
{
    if (!a)
        return;
    /* The workers are gone: what is queued is compared at full speed. */
    for (size_t i = 0; i < ANALYZER_MAX_WORKERS; i++)
        atomic_store_explicit(&a->worker_busy_bp[i], 0, memory_order_relaxed);
    /* The confirmer first: what it holds goes back to the comparers
     * (confirmation skipped: shutting down), which then write it; a
     * comparer that asks it later is told no. Freed once they are gone. */
    confirmer_stop(a->confirm);
    stop_comparers(a);
    confirmer_free(a->confirm);
    analyzer_free(a);
}
