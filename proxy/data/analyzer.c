#include "data/analyzer.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "conf/endpoint.h"
#include "diff/body.h"
#include "diff/compare.h"
#include "obs/live.h"
#include "base/log.h"
#include "diff/record.h"
#include "base/clock.h"

/* Past this many bytes of captured bodies waiting, new jobs lose their
 * bodies (the verdict survives as "skipped"): the queue never holds more. */
#define QUEUE_BYTE_BUDGET (256u * 1024u * 1024u)
/* Lines are gathered and written with one write(2) per batch. */
#define BATCH_FLUSH_BYTES (256u * 1024u)
/* How long the thread waits for more work before it sleeps until signalled. */
#define BATCH_PAUSE_NS 2000000L

struct analyzer {
    const sp_config *cfg;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    analysis_job *head, *tail;
    size_t depth, bytes;
    bool stopping;
    bool idle;            /* the thread sleeps until signalled */
    atomic_bool reopen;
    difflog log;
    record_opts ropts;
    compare_opts copts;
    char *batch;
    size_t batch_len, batch_cap;
    atomic_int write_error;   /* errno of the last failed write; 0 when fine */
    atomic_int mode;          /* diff_log_mode; a reload may change it */
    uint64_t failed_since_ok, failed_since_log;
    time_t last_error_log;
    metrics_shard *shard;     /* labelled metrics: verdicts and paths by route */
    metrics_shard *endpoints; /* verdicts of the route `default` by endpoint */
    live *live;               /* the dashboard's view: minute counts, recent records */
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
    return atomic_load(&a->write_error);
}

analysis_job *analysis_job_new(void)
{
    analysis_job *j = calloc(1, sizeof *j);
    if (j)
        j->preset = VERDICT_COUNT;
    return j;
}

static void leg_strip(analysis_leg *l)
{
    hdr_list_free(&l->headers);
    blob_unref(l->body);
    l->body = NULL;
    l->body_omitted = true;
}

void analysis_job_free(analysis_job *j)
{
    if (!j)
        return;
    for (int s = 0; s < 2; s++) {
        leg_strip(&j->legs[s]);
        free(j->legs[s].error);
    }
    hdr_list_free(&j->req_headers);
    blob_unref(j->req_body);
    free(j->method);
    free(j->uri);
    rules_unref(j->rules);
    free(j);
}

static size_t job_bytes(const analysis_job *j)
{
    size_t n = j->req_body ? j->req_body->len : 0;
    for (int s = 0; s < 2; s++)
        n += j->legs[s].body ? j->legs[s].body->len : 0;
    return n;
}

void analyzer_submit(analyzer *a, analysis_job *job)
{
    pthread_mutex_lock(&a->mu);
    size_t limit = a->cfg->diff_log_queue;
    if (a->depth >= 2 * limit) {
        pthread_mutex_unlock(&a->mu);
        metric_add(METRIC_records_lost, 1);
        analysis_job_free(job);
        return;
    }
    if (a->depth >= limit || a->bytes + job_bytes(job) > QUEUE_BYTE_BUDGET) {
        /* Over budget: keep the verdict's facts, drop the bodies. */
        for (int s = 0; s < 2; s++)
            leg_strip(&job->legs[s]);
        blob_unref(job->req_body);
        job->req_body = NULL;
        hdr_list_free(&job->req_headers);
        if (job->preset == VERDICT_COUNT) {
            job->preset = VERDICT_SKIPPED;
            job->reason = "comparison queue full";
        }
        metric_add(METRIC_compare_queue_overflow, 1);
    }
    a->bytes += job_bytes(job);
    job->next = NULL;
    bool was_empty = a->head == NULL;
    if (a->tail)
        a->tail->next = job;
    else
        a->head = job;
    a->tail = job;
    a->depth++;
    metric_add(METRIC_compare_queue_depth, 1);
    if (was_empty && a->idle) {
        a->idle = false;
        pthread_cond_signal(&a->cv);
    }
    pthread_mutex_unlock(&a->mu);
}

static int batch_append(analyzer *a, const char *line, size_t len)
{
    if (a->batch_len + len > a->batch_cap) {
        size_t cap = a->batch_cap ? a->batch_cap : 64 * 1024;
        while (cap < a->batch_len + len)
            cap *= 2;
        char *b = realloc(a->batch, cap);
        if (!b)
            return -ENOMEM;
        a->batch = b;
        a->batch_cap = cap;
    }
    memcpy(a->batch + a->batch_len, line, len);
    a->batch_len += len;
    return 0;
}

static void flush_batch(analyzer *a, size_t nrecords)
{
    if (!a->batch_len)
        return;
    int rc = difflog_write(&a->log, a->batch, a->batch_len);
    if (rc == 0) {
        metric_add(METRIC_records_written, (int64_t)nrecords);
        metric_add(METRIC_difflog_bytes, (int64_t)a->batch_len);
        if (atomic_load(&a->write_error)) {
            char n[24];
            snprintf(n, sizeof n, "%llu", (unsigned long long)a->failed_since_ok);
            log_event(LOG_INFO, "difflog_write_resumed", "path", a->log.path, "failed_batches", n,
                      NULL);
            atomic_store(&a->write_error, 0);
            a->failed_since_ok = 0;
        }
    } else {
        /* Proxying goes on; the error is logged once a minute with a count,
         * and the next batch simply tries again (disk full, permissions). */
        metric_add(METRIC_difflog_write_errors, 1);
        metric_add(METRIC_records_lost, (int64_t)nrecords);
        atomic_store(&a->write_error, -rc);
        a->failed_since_ok++;
        a->failed_since_log++;
        time_t now = time(NULL);
        if (now - a->last_error_log >= 60) {
            char n[24];
            snprintf(n, sizeof n, "%llu", (unsigned long long)a->failed_since_log);
            log_event(LOG_ERROR, "difflog_write_failed", "path", a->log.path, "error",
                      strerror(-rc), "failed_batches", n, NULL);
            a->last_error_log = now;
            a->failed_since_log = 0;
        }
    }
    a->batch_len = 0;
}

/* Workers hash only bodies past the comparison cap; a record that cuts a
 * smaller body still names it by its SHA-256. */
static void hash_if_cut(const blob *b, size_t max_embedded, char out[65])
{
    if (out[0] || !b || b->len <= max_embedded)
        return;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    static const char hex[] = "0123456789abcdef";
    if (!EVP_Digest(b->data, b->len, md, &n, EVP_sha256(), NULL) || n != 32)
        return;
    for (unsigned int i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
}

static void prepare_leg(body_view *v, analysis_leg *l, size_t cap, size_t max_embedded)
{
    if (!l->attempted || l->status == 0)
        return;
    if (l->body_omitted) {
        v->kind = BODY_OMITTED;
        v->wire_len = l->wire_len;
        return;
    }
    hash_if_cut(l->body, max_embedded, l->sha256);
    body_prepare(v, l->body ? l->body->data : NULL, l->body ? l->body->len : 0,
                 l->body_whole, l->wire_len, l->sha256,
                 hdr_list_get(&l->headers, "Content-Type"),
                 hdr_list_get(&l->headers, "Content-Encoding"), cap);
}

static void prepare_legs(const sp_config *cfg, analysis_job *j, body_view *lb, body_view *nb)
{
    prepare_leg(lb, &j->legs[SIDE_LEGACY], cfg->compare_max_body, cfg->diff_log_max_body);
    prepare_leg(nb, &j->legs[SIDE_NEW], cfg->compare_max_body, cfg->diff_log_max_body);
    body_align(lb, nb); /* XML/form: one <Item> vs several, text vs attributes */
}

static bool same_header(const analysis_leg *l, const analysis_leg *n, const char *name)
{
    const char *a = hdr_list_get(&l->headers, name), *b = hdr_list_get(&n->headers, name);
    return a == b || (a && b && strcmp(a, b) == 0);
}

/* Byte-identical answers of the same type and encoding decode to the same
 * view, and no rule makes equal documents differ except a map (it moves a
 * field on one side only). Then the comparison of the bodies is known
 * without decoding them, which is most of its cost; they are decoded only
 * if a record is written. */
static bool bodies_identical(const analysis_job *j)
{
    const analysis_leg *l = &j->legs[SIDE_LEGACY], *n = &j->legs[SIDE_NEW];
    if (j->route && j->route->cmp.nmaps)
        return false;
    if (!l->body_whole || !n->body_whole || l->wire_len != n->wire_len)
        return false;
    size_t ll = l->body ? l->body->len : 0, nl = n->body ? n->body->len : 0;
    if (ll != nl || (ll && memcmp(l->body->data, n->body->data, ll) != 0))
        return false;
    return same_header(l, n, "Content-Type") && same_header(l, n, "Content-Encoding");
}

static record_leg record_leg_of(const analysis_leg *l, const body_view *b)
{
    return (record_leg){
        .attempted = l->attempted,
        .status = l->status,
        .headers = l->attempted ? &l->headers : NULL,
        .body = l->attempted ? b : NULL,
        .duration_ms = l->duration_ms,
        .error = l->error,
    };
}

/* The route's redaction on top of the config's: extra field names and
 * JSON Pointer patterns. */
static json_t *record_build_for_route(analyzer *a, const record_input *in, const route *rt)
{
    if (!rt || (!rt->nredact_fields && !rt->nredact_paths))
        return record_build(in, &a->ropts);
    record_opts o = a->ropts;
    size_t n = o.nredact_fields + rt->nredact_fields;
    const char **fields = malloc((n ? n : 1) * sizeof *fields);
    if (!fields)
        return NULL; /* never write a record without its redaction */
    for (size_t i = 0; i < o.nredact_fields; i++)
        fields[i] = o.redact_fields[i];
    for (size_t i = 0; i < rt->nredact_fields; i++)
        fields[o.nredact_fields + i] = rt->redact_fields[i];
    o.redact_fields = fields;
    o.nredact_fields = n;
    o.redact_paths = rt->redact_paths;
    o.nredact_paths = rt->nredact_paths;
    json_t *rec = record_build(in, &o);
    free(fields);
    return rec;
}

/* Returns the number of records added to the batch (0 or 1). */
static int analyze(analyzer *a, analysis_job *j)
{
    const sp_config *cfg = a->cfg;
    body_view lb = {0}, nb = {0}, rb = {0};
    json_t *diffs = json_array();
    size_t found = 0;
    verdict v = j->preset;
    bool decoded = !(v == VERDICT_COUNT && bodies_identical(j));
    if (decoded)
        prepare_legs(cfg, j, &lb, &nb);
    if (v == VERDICT_COUNT && diffs) {
        const analysis_leg *l = &j->legs[SIDE_LEGACY], *n = &j->legs[SIDE_NEW];
        size_t known = 0;
        compare_opts co = a->copts;
        co.rules = j->route ? &j->route->cmp : NULL;
        co.known = &known;
        found += compare_status(l->status, n->status, diffs, &co);
        found += compare_headers(&l->headers, &n->headers, diffs, &co);
        if (decoded)
            found += compare_bodies(&lb, &nb, diffs, &co);
        v = !found ? VERDICT_MATCH : found == known ? VERDICT_KNOWN : VERDICT_MISMATCH;
    } else if (v == VERDICT_COUNT) {
        v = VERDICT_SKIPPED; /* out of memory: cannot compare */
        j->reason = "out of memory";
    }
    metric_verdict(v);
    const char *route_name = j->route ? j->route->name : "default";
    char endpoint[ENDPOINT_MAX];
    endpoint_template(j->method, j->uri, endpoint, sizeof endpoint);
    int64_t now = clock_wall_ms();
    metrics_verdict_route(a->shard, route_name, v);
    live_count(a->live, route_name, v, now);
    if (strcmp(route_name, "default") == 0) { /* no route matched: Diffy's endpoints */
        metrics_verdict_route(a->endpoints, endpoint, v);
        live_count_endpoint(a->live, endpoint, v, now);
    }
    if (v == VERDICT_MISMATCH) {
        size_t i;
        json_t *d;
        json_array_foreach(diffs, i, d) {
            const char *where = json_string_value(json_object_get(d, "where"));
            const char *path = json_string_value(json_object_get(d, "path"));
            if (where && path && !json_object_get(d, "known"))
                metrics_mismatch_path(a->shard, route_name, where, path);
        }
    }
    int added = 0;
    if (atomic_load(&a->mode) == DIFFLOG_ALL || v != VERDICT_MATCH) {
        if (!decoded)
            prepare_legs(cfg, j, &lb, &nb);
        char req_sha[65] = "";
        hash_if_cut(j->req_body, cfg->diff_log_max_body, req_sha);
        if (j->req_body)
            body_prepare(&rb, j->req_body->data, j->req_body->len, true,
                         j->req_body->len, req_sha, hdr_list_get(&j->req_headers, "Content-Type"),
                         hdr_list_get(&j->req_headers, "Content-Encoding"),
                         cfg->compare_max_body);
        record_input in = {
            .id = j->id,
            .trace_id = j->trace_id[0] ? j->trace_id : NULL,
            .ts_ms = j->ts_ms,
            .route = j->route ? j->route->name : "default",
            .endpoint = endpoint,
            .method = j->method ? j->method : "",
            .uri = j->uri ? j->uri : "",
            .authority = config_side_name(j->authority),
            .verdict = verdict_name(v),
            .reason = j->reason,
            .req_headers = &j->req_headers,
            .req_body = &rb,
            .legacy = record_leg_of(&j->legs[SIDE_LEGACY], &lb),
            .new_ = record_leg_of(&j->legs[SIDE_NEW], &nb),
            .differences = diffs,
        };
        json_t *rec = record_build_for_route(a, &in, j->route);
        if (rec && found > json_array_size(diffs))
            json_object_set_new(rec, "differences_total", json_integer((json_int_t)found));
        size_t len = 0;
        char *line = rec ? record_to_line(rec, &len) : NULL;
        if (line && batch_append(a, line, len) == 0)
            added = 1;
        else
            metric_add(METRIC_records_lost, 1);
        if (line && live_keeps(v)) {
            live_add(a->live, rec, line, len); /* takes the line: no copy */
            line = NULL;
        }
        free(line);
        json_decref(rec);
    }
    json_decref(diffs);
    body_view_free(&lb);
    body_view_free(&nb);
    body_view_free(&rb);
    return added;
}

/* The comparer is shadow work: SCHED_BATCH (open to any user) keeps its
 * wake-ups from preempting a worker that is answering a client. Its share of
 * the CPU stays a fair one: at nice 10 a saturated core starved it, and its
 * queue overflowed (17% of records lost in the bench's shadow-off row). */
static void lower_priority(void)
{
    struct sched_param none = {0};
    int rc = pthread_setschedparam(pthread_self(), SCHED_BATCH, &none);
    if (rc != 0) {
        char eb[128];
        log_event(LOG_WARN, "comparer_priority_unchanged", "error",
                  strerror_r(rc, eb, sizeof eb), NULL);
    }
}

static void *analyzer_main(void *arg)
{
    analyzer *a = arg;
    (void)pthread_setname_np(pthread_self(), "sp-compare"); /* cosmetic: top -H, perf */
    lower_priority();
    a->shard = metrics_shard_new("analyzer");
    a->endpoints = metrics_endpoint_shard_new("analyzer");
    for (;;) {
        pthread_mutex_lock(&a->mu);
        if (!a->head && !a->stopping) {
            /* Let work pile up for a moment before sleeping for good: under
             * load the workers then signal about once per BATCH_PAUSE_NS, not
             * once per exchange, which on a shared core is a context switch
             * each time. */
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += BATCH_PAUSE_NS;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&a->cv, &a->mu, &until);
        }
        while (!a->head && !a->stopping && !atomic_load(&a->reopen)) {
            a->idle = true;
            pthread_cond_wait(&a->cv, &a->mu);
        }
        a->idle = false;
        analysis_job *list = a->head;
        size_t n = a->depth;
        a->head = a->tail = NULL;
        a->depth = 0;
        a->bytes = 0;
        bool stop = a->stopping && !list;
        pthread_mutex_unlock(&a->mu);
        if (stop)
            break;
        metric_add(METRIC_compare_queue_depth, -(int64_t)n);
        if (atomic_exchange(&a->reopen, false)) {
            int rc = difflog_reopen(&a->log);
            log_event(rc ? LOG_ERROR : LOG_INFO, "difflog_reopened", "path", a->log.path,
                      "error", rc ? difflog_strerror(rc) : NULL, NULL);
        }
        size_t records = 0;
        while (list) {
            analysis_job *next = list->next;
            records += (size_t)analyze(a, list);
            analysis_job_free(list);
            list = next;
            if (a->batch_len >= BATCH_FLUSH_BYTES) {
                flush_batch(a, records);
                records = 0;
            }
        }
        flush_batch(a, records);
    }
    metrics_shard_release(a->shard);
    metrics_shard_release(a->endpoints);
    return NULL;
}

int analyzer_start(analyzer **out, const sp_config *cfg)
{
    analyzer *a = calloc(1, sizeof *a);
    if (!a)
        return -ENOMEM;
    a->cfg = cfg;
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
    a->live = live_new(NULL);
    if (!a->live) {
        free(a);
        return -ENOMEM;
    }
    int rc = difflog_open(&a->log, cfg->diff_log_path, cfg->diff_log_follow_symlinks);
    if (rc != 0) {
        live_free(a->live);
        free(a);
        return rc;
    }
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    rc = pthread_create(&a->thread, NULL, analyzer_main, a);
    if (rc != 0) {
        difflog_close(&a->log);
        live_free(a->live);
        free(a);
        return -rc;
    }
    *out = a;
    return 0;
}

void analyzer_request_reopen(analyzer *a)
{
    atomic_store(&a->reopen, true);
    pthread_mutex_lock(&a->mu);
    a->idle = false;
    pthread_cond_signal(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

void analyzer_stop(analyzer *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    a->stopping = true;
    pthread_cond_signal(&a->cv);
    pthread_mutex_unlock(&a->mu);
    pthread_join(a->thread, NULL);
    difflog_close(&a->log);
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cv);
    free(a->batch);
    live_free(a->live);
    free(a);
}
