/* confirm: the confirm thread (see confirm.h).
 *
 *   comparer ──confirmer_submit (budget, under mu)──▶ incoming ──wake──▶ loop:
 *      timer(after_ms) ──▶ both sides asked again ──▶ both done ──▶ done(job)
 *                                                              (back to a comparer)
 */
#include "data/confirm.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <uv.h>

#include "base/clock.h"
#include "base/hex.h"
#include "base/invariant.h"
#include "base/log.h"
#include "data/upstream.h"

/* Idle connections kept per side: re-reads come in small numbers. */
#define CONFIRM_KEEP_CONNS 8

struct pending;

/* One side's second read. */
typedef struct reread {
    struct pending *p;
    sp_side side;
    CURL *easy;           /* non-NULL while the transfer runs */
    bool done;
    CURLcode result;
    int status;
    bool headers_done;    /* the final (non-1xx) header block is complete */
    hdr_list headers;
    blob *capture;        /* at most compare_max_body bytes */
    bool oversize;        /* more arrived: hashed, not kept */
    uint64_t received;
    EVP_MD_CTX *sha;
    char sha256[65];
    uint64_t t_start_ns, t_end_ns;
    char errbuf[CURL_ERROR_SIZE];
} reread;

/* A job between its hand-over and its return; loop thread only. */
typedef struct pending {
    struct pending *prev, *next;
    struct confirmer *c;
    analysis_job *job;
    uv_timer_t timer;
    reread legs[2];
} pending;

/* A route's budget, by name (a reload keeps it). Under mu. */
typedef struct route_budget {
    char *name;
    double tokens;
    uint64_t last_ns;
    int in_flight;
} route_budget;

struct confirmer {
    const sp_config *cfg;
    confirm_done_fn done;
    void *ctx;
    uv_loop_t loop;
    uv_async_t wake;
    uv_thread_t thread;
    upstream_pool up[2];
    pthread_mutex_t mu;
    analysis_job *incoming;   /* under mu: taken, not yet on the loop */
    bool stopping;            /* under mu */
    int waiting;              /* under mu: taken and not yet given back */
    route_budget *budgets;    /* under mu */
    size_t nbudgets;
    pending *live;            /* loop thread */
};

/* ---- budget (any thread, under mu) -------------------------------------- */

static route_budget *budget_of(confirmer *c, const char *name)
{
    for (size_t i = 0; i < c->nbudgets; i++)
        if (strcmp(c->budgets[i].name, name) == 0)
            return &c->budgets[i];
    if (c->nbudgets >= RULES_MAX_ROUTES + 1)
        return NULL;
    route_budget *nb = realloc(c->budgets, (c->nbudgets + 1) * sizeof *nb);
    if (!nb)
        return NULL;
    c->budgets = nb;
    route_budget *b = &nb[c->nbudgets];
    *b = (route_budget){.name = strdup(name), .tokens = -1};
    if (!b->name)
        return NULL;
    c->nbudgets++;
    return b;
}

/* A token bucket holding at most one second of the rate (at least one). */
static bool take_token(route_budget *b, const route_confirm *rc, uint64_t now)
{
    double burst = rc->max_per_second < 1 ? 1 : rc->max_per_second;
    if (b->tokens < 0)
        b->tokens = burst; /* first sight: a full bucket */
    else
        b->tokens += (double)(now - b->last_ns) / 1e9 * rc->max_per_second;
    if (b->tokens > burst)
        b->tokens = burst;
    b->last_ns = now;
    if (b->tokens < 1)
        return false;
    b->tokens -= 1;
    return true;
}

bool confirmer_submit(confirmer *c, analysis_job *job, const char **why)
{
    assert(job->confirm.phase == CONFIRM_ELIGIBLE && job->route && job->route->confirm.enabled);
    const route_confirm *rc = &job->route->confirm;
    bool ok = false;
    pthread_mutex_lock(&c->mu);
    route_budget *b = budget_of(c, job->route->name);
    if (c->stopping)
        *why = "shutting down";
    else if (!b)
        *why = "out of memory";
    else if (c->waiting >= CONFIRM_MAX_WAITING)
        *why = "too many confirmations waiting in the process";
    else if (b->in_flight >= rc->max_in_flight)
        *why = "over confirm.max_in_flight";
    else if (!take_token(b, rc, clock_now_ns()))
        *why = "over confirm.max_per_second";
    else
        ok = true;
    if (ok) {
        b->in_flight++;
        c->waiting++;
        job->confirm.after_ms = rc->after_ms;
        job->next = c->incoming; /* order does not matter: each has its timer */
        c->incoming = job;
        metric_add(METRIC_confirm_in_flight, 1);
        /* Under mu: the loop closes `wake` under mu once stopping is set,
         * so a send never reaches a closed handle. */
        uv_async_send(&c->wake);
    }
    pthread_mutex_unlock(&c->mu);
    return ok;
}

static void give_back_budget(confirmer *c, const char *route_name)
{
    pthread_mutex_lock(&c->mu);
    route_budget *b = NULL;
    for (size_t i = 0; i < c->nbudgets && !b; i++)
        if (strcmp(c->budgets[i].name, route_name) == 0)
            b = &c->budgets[i];
    assert(b && b->in_flight > 0 && c->waiting > 0); /* taken in confirmer_submit */
    b->in_flight--;
    c->waiting--;
    pthread_mutex_unlock(&c->mu);
    metric_add(METRIC_confirm_in_flight, -1);
}

/* ---- the loop ------------------------------------------------------------ */

static void free_pending(uv_handle_t *h) { free(h->data); }

static void move_reread(analysis_leg *dst, reread *r)
{
    dst->attempted = true;
    dst->status = r->result == CURLE_OK ? r->status : 0;
    dst->headers = r->headers;
    memset(&r->headers, 0, sizeof r->headers);
    dst->body_whole = !r->oversize;
    dst->body = r->oversize ? NULL : r->capture;
    if (!r->oversize)
        r->capture = NULL;
    dst->wire_len = r->received;
    memcpy(dst->sha256, r->sha256, sizeof dst->sha256);
    dst->duration_ms = (double)(r->t_end_ns - r->t_start_ns) / 1e6;
    if (r->result != CURLE_OK) {
        char msg[CURL_ERROR_SIZE + 64];
        snprintf(msg, sizeof msg, "re-read failed: %s",
                 r->errbuf[0] ? r->errbuf : curl_easy_strerror(r->result));
        dst->error = strdup(msg);
    }
}

static void reread_free(reread *r)
{
    hdr_list_free(&r->headers);
    blob_unref(r->capture);
    r->capture = NULL;
    EVP_MD_CTX_free(r->sha);
    r->sha = NULL;
}

/* The job goes back: with the re-read answers, or skipped (why). */
static void finish(pending *p, const char *skipped)
{
    confirmer *c = p->c;
    analysis_job *job = p->job;
    job->confirm.phase = CONFIRM_DONE;
    job->confirm.skipped = skipped;
    for (int s = 0; s < 2; s++) {
        if (!skipped)
            move_reread(&job->confirm.reread[s], &p->legs[s]);
        reread_free(&p->legs[s]);
    }
    if (p->prev)
        p->prev->next = p->next;
    else
        c->live = p->next;
    if (p->next)
        p->next->prev = p->prev;
    give_back_budget(c, job->route->name);
    p->timer.data = p;
    uv_close((uv_handle_t *)&p->timer, free_pending);
    c->done(c->ctx, job);
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
    reread *r = arg;
    size_t len = size * n;
    if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) { /* 1xx answers start over */
        hdr_list_clear(&r->headers);
        r->headers_done = false;
        return len;
    }
    if (r->headers_done)
        return len; /* trailers */
    if (len <= 2 && (data[0] == '\r' || data[0] == '\n')) {
        long code = 0;
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
        if (code >= 200) {
            r->headers_done = true;
            r->status = (int)code;
        }
        return len;
    }
    const char *colon = memchr(data, ':', len);
    if (!colon)
        return len;
    const char *v = colon + 1, *end = data + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    if (hdr_list_add(&r->headers, data, (size_t)(colon - data), v, (size_t)(end - v)) != 0)
        return 0; /* out of memory: the transfer fails */
    return len;
}

/* Like the first read: past compare_max_body, length and SHA-256 only. */
static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    reread *r = arg;
    size_t len = size * n;
    size_t cap = r->p->c->cfg->compare_max_body;
    if (!r->oversize && r->received + len <= cap) {
        if (blob_append(&r->capture, data, len) != 0)
            return 0;
    } else {
        if (!r->oversize) {
            r->oversize = true;
            r->sha = EVP_MD_CTX_new();
            if (!r->sha || EVP_DigestInit_ex(r->sha, EVP_sha256(), NULL) != 1)
                return 0;
            if (r->capture)
                EVP_DigestUpdate(r->sha, r->capture->data, r->capture->len);
            blob_unref(r->capture);
            r->capture = NULL;
        }
        EVP_DigestUpdate(r->sha, data, len);
    }
    r->received += len;
    return len;
}

static void leg_end(reread *r, CURLcode rc)
{
    assert(!r->done); /* each side ends once */
    r->done = true;
    r->result = rc == CURLE_OK && !r->headers_done ? CURLE_WEIRD_SERVER_REPLY : rc;
    r->t_end_ns = clock_now_ns();
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (r->sha && EVP_DigestFinal_ex(r->sha, md, &mdlen) == 1 && mdlen == 32)
        hex_encode(md, 32, r->sha256);
}

static void maybe_finish(pending *p)
{
    if (p->legs[0].done && p->legs[1].done)
        finish(p, NULL);
}

static void on_transfer_done(CURL *easy, CURLcode rc, void *ctx)
{
    confirmer *c = ctx;
    reread *r = upstream_owner(easy);
    leg_end(r, rc);
    upstream_easy_put(&c->up[r->side], easy);
    r->easy = NULL;
    maybe_finish(r->p);
}

static int leg_start(pending *p, sp_side side)
{
    confirmer *c = p->c;
    analysis_job *j = p->job;
    reread *r = &p->legs[side];
    upstream_pool *pool = &c->up[side];
    CURL *e = upstream_easy_get(pool);
    if (!e)
        return -ENOMEM;
    long t = j->route->shadow_timeout_ms > 0 ? j->route->shadow_timeout_ms
                                             : c->cfg->shadow_timeout_ms;
    if (c->cfg->upstream[side].timeout_ms < t)
        t = c->cfg->upstream[side].timeout_ms;
    upstream_transfer tr = {j->confirm.target[side], r->errbuf, j->confirm.headers[side],
                            on_header, on_body, r, t};
    if (upstream_prepare(pool, e, &tr) != 0) {
        upstream_easy_put(pool, e);
        return -ENOMEM;
    }
    r->easy = e;
    upstream_set_owner(e, r);
    if (strcmp(j->method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (j->req_body && j->req_body->len) { /* a GET with a body: the same body */
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)j->req_body->len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, (char *)j->req_body->data);
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "GET");
    } else {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, NULL);
    }
    r->t_start_ns = clock_now_ns();
    if (upstream_start(pool, e) != 0) {
        r->easy = NULL;
        upstream_easy_put(pool, e);
        return -EIO;
    }
    return 0;
}

static void on_due(uv_timer_t *t)
{
    pending *p = t->data;
    metric_add(METRIC_confirm_rereads, 1);
    for (int s = 0; s < 2; s++) {
        p->legs[s] = (reread){.p = p, .side = (sp_side)s};
        if (leg_start(p, (sp_side)s) != 0) {
            snprintf(p->legs[s].errbuf, sizeof p->legs[s].errbuf, "cannot start transfer");
            p->legs[s].t_start_ns = clock_now_ns();
            leg_end(&p->legs[s], CURLE_FAILED_INIT);
        }
    }
    maybe_finish(p); /* both failed at once */
}

static void take_incoming(confirmer *c, analysis_job *list)
{
    while (list) {
        analysis_job *j = list;
        list = j->next;
        j->next = NULL;
        pending *p = calloc(1, sizeof *p);
        if (!p) {
            j->confirm.phase = CONFIRM_DONE;
            j->confirm.skipped = "out of memory";
            give_back_budget(c, j->route->name);
            c->done(c->ctx, j);
            continue;
        }
        p->c = c;
        p->job = j;
        for (int s = 0; s < 2; s++)
            p->legs[s] = (reread){.p = p, .side = (sp_side)s, .done = true};
        uv_timer_init(&c->loop, &p->timer);
        p->timer.data = p;
        p->next = c->live;
        if (c->live)
            c->live->prev = p;
        c->live = p;
        uv_timer_start(&p->timer, on_due, (uint64_t)j->confirm.after_ms, 0);
    }
}

static void shut_down(confirmer *c)
{
    while (c->live) {
        pending *p = c->live;
        uv_timer_stop(&p->timer);
        for (int s = 0; s < 2; s++)
            if (p->legs[s].easy) {
                upstream_cancel(&c->up[s], p->legs[s].easy);
                p->legs[s].easy = NULL;
            }
        finish(p, "shutting down");
    }
    pthread_mutex_lock(&c->mu); /* no submission is sending (confirmer_submit) */
    uv_close((uv_handle_t *)&c->wake, NULL);
    pthread_mutex_unlock(&c->mu);
    upstream_close(&c->up[SIDE_LEGACY]);
    upstream_close(&c->up[SIDE_NEW]);
}

static void on_wake(uv_async_t *h)
{
    confirmer *c = h->data;
    pthread_mutex_lock(&c->mu);
    analysis_job *list = c->incoming;
    c->incoming = NULL;
    bool stop = c->stopping;
    pthread_mutex_unlock(&c->mu);
    take_incoming(c, list);
    if (stop)
        shut_down(c);
}

static void confirm_main(void *arg)
{
    confirmer *c = arg;
    uv_run(&c->loop, UV_RUN_DEFAULT);
}

int confirmer_start(confirmer **out, const sp_config *cfg, confirm_done_fn done, void *ctx)
{
    confirmer *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->cfg = cfg;
    c->done = done;
    c->ctx = ctx;
    pthread_mutex_init(&c->mu, NULL);
    int rc = uv_loop_init(&c->loop);
    if (rc != 0)
        goto fail_loop;
    if ((rc = uv_async_init(&c->loop, &c->wake, on_wake)) != 0)
        goto fail_async;
    c->wake.data = c;
    int s = 0;
    for (; s < 2; s++)
        if (upstream_init(&c->up[s], &c->loop, on_transfer_done, c, CONFIRM_KEEP_CONNS,
                          &cfg->upstream[s]) != 0)
            break;
    if (s == 2 && (rc = uv_thread_create(&c->thread, confirm_main, c)) == 0) {
        /* Set here, not in the thread, so they hold once the proxy serves. */
        (void)pthread_setname_np(c->thread, "sp-confirm"); /* cosmetic: top -H */
        struct sched_param none = {0};
        /* Shadow work, like the diff-log writer: its wake-ups (timers, the
         * re-reads' sockets) do not preempt a worker. */
        (void)pthread_setschedparam(c->thread, SCHED_BATCH, &none);
        *out = c;
        return 0;
    }
    rc = rc ? rc : -EIO;
    while (s-- > 0)
        upstream_close(&c->up[s]);
    uv_close((uv_handle_t *)&c->wake, NULL);
fail_async:
    uv_run(&c->loop, UV_RUN_DEFAULT); /* the closed handles finish closing */
    uv_loop_close(&c->loop);
fail_loop:
    pthread_mutex_destroy(&c->mu);
    free(c);
    return rc;
}

void confirmer_stop(confirmer *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->stopping = true;
    uv_async_send(&c->wake); /* under mu, as in confirmer_submit */
    pthread_mutex_unlock(&c->mu);
    uv_thread_join(&c->thread);
    assert(!c->live && !c->incoming && c->waiting == 0);
    if (uv_loop_close(&c->loop) != 0)
        log_event(LOG_WARN, "confirm_loop_busy_at_exit", NULL);
}

void confirmer_free(confirmer *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nbudgets; i++)
        free(c->budgets[i].name);
    free(c->budgets);
    pthread_mutex_destroy(&c->mu);
    free(c);
}
