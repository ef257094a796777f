/* replay: `shadowproxy replay LOG... --legacy URL --new URL`.
 *
 * Re-sends the requests captured in diff logs through the proxy itself, run
 * in this process on a loopback port, so they meet exactly the rules,
 * rewrites, sampling and comparison a live request meets, and the records
 * land in a new diff log:
 *
 *   main thread: logs ─► replay_req ─► curl multi (rate, concurrency) ─┐
 *   proxy thread: server_run_with(127.0.0.1:0) ◄──────────────────────┘
 *                 └► legacy + new upstreams ─► comparer ─► --diff-log
 *
 * Each request keeps its recorded id as X-Request-Id, so sampling by id
 * makes the same decisions on every replay. Afterwards the new verdicts are
 * read back and set against the original ones. */
#include "tools/replay.h"
#include "tools/replay_opts.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conf/config.h"
#include "base/log.h"
#include "diff/logread.h"
#include "obs/metrics.h"
#include "conf/ops.h"
#include "tools/replay_matrix.h"
#include "tools/replay_req.h"
#include "tools/report/report_util.h"
#include "conf/endpoint.h"
#include "conf/rules.h"
#include "app/server.h"

/* The proxy thread and what it tells the main thread. */
typedef struct proxy_run {
    sp_config cfg;
    rules *rules;
    ops_state *ops;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    server *srv;
    int port; /* 0 until ready */
    bool finished;
    int exit_code;
    uint64_t verdicts[VERDICT_COUNT];
} proxy_run;

typedef struct client {
    CURLM *multi;
    int in_flight;
    uint64_t sent, answered, failed, skipped[REPLAY_SKIP_COUNT], skipped_total, filtered;
    uint64_t expected; /* replayable records, for the ETA; 0 unknown */
    json_t *original;  /* id -> {"v": original verdict, "r": its route or endpoint} */
    char base[64];
} client;

static volatile sig_atomic_t interrupted;
static void on_sigint(int sig) { (void)sig; interrupted = 1; }

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- the proxy thread -------------------------------------------------- */

static void on_ready(server *s, int port, void *arg)
{
    proxy_run *p = arg;
    pthread_mutex_lock(&p->mu);
    p->srv = s;
    p->port = port;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void on_done(void *arg)
{
    proxy_run *p = arg;
    for (int v = 0; v < VERDICT_COUNT; v++)
        p->verdicts[v] = metric_verdict_get((verdict)v);
}

static void *proxy_main(void *arg)
{
    proxy_run *p = arg;
    server_hooks h = {.on_ready = on_ready, .on_done = on_done, .arg = p, .no_signals = true};
    int rc = server_run_with(&p->cfg, p->rules, p->ops, NULL, &h); /* takes rules and ops */
    pthread_mutex_lock(&p->mu);
    p->exit_code = rc;
    p->finished = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* ---- options and config ------------------------------------------------ */

/* The proxy's config: the file's (if any), then what replay needs: a
 * loopback port of its own, no admin API, no operator decisions. */
static int build_config(const replay_opts *o, sp_config *c)
{
    config_errors errs = {0};
    if (config_defaults(c) != 0)
        return 1;
    int rc = 0;
    if (o->config && config_load_file(c, o->config, &errs) != 0) {
        config_errors_print(stderr, o->config, &errs);
        rc = 2;
    }
    const char *why = NULL;
    if (rc == 0 && (config_set_url(&c->upstream[SIDE_LEGACY].url, o->legacy, &why) != 0 ||
                    config_set_url(&c->upstream[SIDE_NEW].url, o->new_, &why) != 0)) {
        fprintf(stderr, "replay: upstream URL: %s\n", why ? why : "out of memory");
        rc = 2;
    }
    if (rc == 0 && o->authority && config_parse_side(o->authority, &c->authority) != 0) {
        fprintf(stderr, "replay: --authority: '%s' is not legacy or new\n", o->authority);
        rc = 2;
    }
    if (rc == 0 && (config_set_listen(c, "127.0.0.1:0") != 0 ||
                    config_set_string(&c->admin_listen, "") != 0 ||
                    config_set_string(&c->diff_log_path, o->diff_log) != 0 ||
                    (o->rules && config_set_string(&c->rules_path, o->rules) != 0)))
        rc = 1;
    if (rc == 0) {
        c->diff_log_mode = strcmp(o->mode, "all") == 0 ? DIFFLOG_ALL : DIFFLOG_MISMATCHES;
        c->workers = 1;
        /* The replay talks to its own proxy over plain HTTP on loopback. */
        free(c->listen_tls.cert_file);
        free(c->listen_tls.key_file);
        c->listen_tls.cert_file = c->listen_tls.key_file = NULL;
        c->source_path = NULL;
        /* The replay paces itself: let every request through to the shadow. */
        if (c->shadow_max_in_flight < o->concurrency)
            c->shadow_max_in_flight = o->concurrency;
    }
    if (rc == 0 && config_validate(c, &errs) != 0) {
        config_errors_print(stderr, o->config ? o->config : "replay", &errs);
        rc = 2;
    }
    if (rc == 0) { /* no operator decisions: the rules alone decide */
        free(c->state_file);
        c->state_file = NULL;
        free(c->ids_ledger_file); /* the id ledger in memory only: a live one is not touched */
        c->ids_ledger_file = NULL;
    }
    config_errors_free(&errs);
    return rc;
}

/* A fresh output: old records mixed in would be read back as replayed. */
static int prepare_output(const replay_opts *o)
{
    struct stat st;
    if (stat(o->diff_log, &st) != 0 || st.st_size == 0)
        return 0;
    if (!o->overwrite) {
        fprintf(stderr, "replay: %s exists and is not empty: choose another --diff-log or add --overwrite\n", o->diff_log);
        return 2;
    }
    if (unlink(o->diff_log) != 0) {
        fprintf(stderr, "replay: cannot remove %s: %s\n", o->diff_log, strerror(errno));
        return 1;
    }
    return 0;
}

/* ---- reading the captured requests -------------------------------------- */

typedef struct feeder {
    const replay_opts *o;
    int next_log;
    long loop;      /* passes over the logs started, from 1 */
    logread *cur;
    int failed; /* a log could not be opened or read */
} feeder;

static bool route_wanted(const replay_opts *o, const json_t *rec)
{
    if (o->nroutes == 0)
        return true;
    const char *name = json_string_value(json_object_get(rec, "route"));
    for (size_t i = 0; name && i < o->nroutes; i++)
        if (strcmp(name, o->routes[i]) == 0)
            return true;
    return false;
}

/* The next record of the next log: 1, or 0 when all are read. */
static int next_record(feeder *f, json_t **rec)
{
    char err[512];
    for (;;) {
        if (!f->cur) {
            if (f->next_log >= f->o->nlogs && f->loop < f->o->loops && !f->failed) {
                f->next_log = 0; /* --loop: the logs again */
                f->loop++;
            }
            if (f->next_log >= f->o->nlogs)
                return 0;
            const char *path = f->o->logs[f->next_log++];
            if (logread_open(&f->cur, path, err, sizeof err) != 0) {
                fprintf(stderr, "replay: %s\n", err);
                f->failed = 1;
                continue;
            }
        }
        int rc = logread_next(f->cur, rec, err, sizeof err);
        if (rc == 1)
            return 1;
        if (rc < 0) {
            fprintf(stderr, "replay: %s\n", err);
            f->failed = 1;
        }
        const logread_stats *st = logread_stats_of(f->cur);
        if (st->torn || st->invalid || st->too_long)
            fprintf(stderr, "replay: %s: skipped %llu torn, %llu invalid, %llu too long line(s)\n",
                    logread_path(f->cur), (unsigned long long)st->torn,
                    (unsigned long long)st->invalid, (unsigned long long)st->too_long);
        logread_close(f->cur);
        f->cur = NULL;
    }
}

/* Records of the wanted routes, for the progress line's ETA. */
static uint64_t count_records(const replay_opts *o)
{
    feeder f = {.o = o};
    json_t *rec;
    uint64_t n = 0;
    while (next_record(&f, &rec) == 1) {
        n += route_wanted(o, rec);
        json_decref(rec);
    }
    return n;
}

/* The next request to send: 1 (*out filled), 0 at the end, -1 no memory. */
/* The record's ts in seconds, or -1 without a readable one. */
static double record_ts(const json_t *rec)
{
    int64_t ms;
    const char *ts = json_string_value(json_object_get(rec, "ts"));
    return ts && report_parse_time(ts, 0, false, &ms) == 0 ? (double)ms / 1000.0 : -1;
}

static int next_request(feeder *f, client *c, replay_req *out, double *ts)
{
    json_t *rec;
    while (next_record(f, &rec) == 1) {
        const char *type = json_string_value(json_object_get(rec, "type"));
        if (type && (strcmp(type, "overload") == 0 || strcmp(type, "not_mirrored") == 0)) {
            /* a count: nothing to send */
            json_decref(rec);
            continue;
        }
        if (!route_wanted(f->o, rec)) {
            c->filtered++;
            json_decref(rec);
            continue;
        }
        replay_skip why = REPLAY_SKIP_COUNT;
        *ts = record_ts(rec);
        int rc = replay_req_build(rec, f->o->set, f->o->nset, out, &why);
        if (rc == 0) {
            const char *v = json_string_value(json_object_get(rec, "verdict"));
            char key[ENDPOINT_MAX];
            json_object_set_new(c->original, out->id,
                                json_pack("{s:s, s:s}", "v", v ? v : "?", "r", replay_route_key(rec, key)));
        }
        json_decref(rec);
        if (rc < 0)
            return -1;
        if (rc == 0)
            return 1;
        c->skipped[why]++;
        c->skipped_total++;
    }
    return 0;
}

/* ---- sending ------------------------------------------------------------ */

typedef struct xfer {
    replay_req req;
    struct curl_slist *hdrs;
    CURL *easy;
} xfer;

static size_t discard(char *p, size_t size, size_t n, void *u)
{
    (void)p;
    (void)u;
    return size * n;
}

static bool has_header(const replay_req *r, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < r->nheaders; i++)
        if (strncasecmp(r->headers[i], name, n) == 0 && r->headers[i][n] == ':')
            return true;
    return false;
}

static int start_xfer(client *c, replay_req *req)
{
    xfer *x = calloc(1, sizeof *x);
    if (!x)
        return -1;
    x->req = *req;
    memset(req, 0, sizeof *req);
    replay_req *r = &x->req;
    bool ok = (x->easy = curl_easy_init()) != NULL;
    for (size_t i = 0; ok && i < r->nheaders; i++)
        ok = (x->hdrs = curl_slist_append(x->hdrs, r->headers[i])) != NULL;
    /* No header of curl's own that the client did not send. */
    if (ok)
        ok = (x->hdrs = curl_slist_append(x->hdrs, "Expect:")) != NULL;
    if (ok && !has_header(r, "Accept"))
        ok = (x->hdrs = curl_slist_append(x->hdrs, "Accept:")) != NULL;
    if (ok && !has_header(r, "Content-Type"))
        ok = (x->hdrs = curl_slist_append(x->hdrs, "Content-Type:")) != NULL;
    if (!ok) {
        curl_slist_free_all(x->hdrs);
        if (x->easy)
            curl_easy_cleanup(x->easy);
        replay_req_free(&x->req);
        free(x);
        return -1;
    }
    CURL *e = x->easy;
    curl_easy_setopt(e, CURLOPT_URL, c->base);
    curl_easy_setopt(e, CURLOPT_REQUEST_TARGET, r->uri);
    curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 120000L);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->hdrs);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    if (strcmp(r->method, "HEAD") == 0)
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    else if (r->has_body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
    }
    if (strcmp(r->method, "HEAD") != 0 && (r->has_body || strcmp(r->method, "GET") != 0))
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
    curl_multi_add_handle(c->multi, e);
    c->in_flight++;
    c->sent++;
    return 0;
}

static void finish_xfer(client *c, CURL *e, CURLcode result)
{
    xfer *x = NULL;
    curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&x);
    if (result == CURLE_OK)
        c->answered++;
    else {
        c->failed++;
        if (c->failed <= 5)
            fprintf(stderr, "replay: %s %s (id %s): %s\n", x->req.method, x->req.uri,
                    x->req.id, curl_easy_strerror(result));
    }
    curl_multi_remove_handle(c->multi, e);
    curl_easy_cleanup(e);
    curl_slist_free_all(x->hdrs);
    replay_req_free(&x->req);
    free(x);
    c->in_flight--;
}

static void show_progress(const client *c, double started, bool last)
{
    double el = now_s() - started;
    double rate = el > 0 ? (double)c->sent / el : 0;
    uint64_t done = c->sent + c->skipped_total;
    char eta[32] = "?";
    if (c->expected && rate > 0 && c->expected >= done) {
        long s = (long)((double)(c->expected - done) / rate);
        snprintf(eta, sizeof eta, "%ld:%02ld", s / 60, s % 60);
    }
    char total[32] = "";
    if (c->expected)
        snprintf(total, sizeof total, "/%llu", (unsigned long long)c->expected);
    fprintf(stderr, "\r\033[Kreplay: %llu%s records  sent %llu  %.0f req/s  ETA %s  mismatches %llu  skipped %llu%s",
            (unsigned long long)done, total, (unsigned long long)c->sent, rate, eta,
            (unsigned long long)metric_verdict_get(VERDICT_MISMATCH),
            (unsigned long long)c->skipped_total, last ? "\n" : "");
}

/* Sends every replayable request, at most `concurrency` at once and
 * `rate` a second. Returns 0, or -1 when out of memory. */
/* When a request may go: --rate spaces them evenly; --speed keeps the
 * recorded gaps (each pass over the logs starts again from its first ts),
 * scaled. The later of the two. */
typedef struct pacer {
    double started, first_ts, pass_start;
    long pass;
} pacer;

static double due_at(const replay_opts *o, const client *c, pacer *p, const feeder *f, double ts)
{
    double due = o->rate > 0 ? p->started + (double)c->sent / o->rate : 0;
    if (o->speed > 0 && ts >= 0) {
        if (p->first_ts < 0 || f->loop != p->pass) { /* a new pass: its own origin */
            p->first_ts = ts;
            p->pass = f->loop;
            p->pass_start = now_s();
        }
        double at = p->pass_start + (ts - p->first_ts) / o->speed;
        due = at > due ? at : due;
    }
    return due;
}

static int send_all(const replay_opts *o, client *c, bool progress)
{
    feeder f = {.o = o, .loop = 1};
    double started = now_s(), shown = 0;
    pacer pc = {.started = started, .first_ts = -1, .pass = 1};
    bool more = true, pending = false;
    replay_req req;
    double due = 0;
    int rc = 0;
    for (;;) {
        while (more && !interrupted && c->in_flight < o->concurrency) {
            if (!pending) {
                double ts = -1;
                int n = next_request(&f, c, &req, &ts);
                if (n <= 0) {
                    more = false;
                    rc = n < 0 ? -1 : 0;
                    break;
                }
                pending = true;
                due = due_at(o, c, &pc, &f, ts);
            }
            if (now_s() < due)
                break;
            pending = false;
            if (start_xfer(c, &req) != 0) {
                replay_req_free(&req);
                more = false;
                rc = -1;
                break;
            }
        }
        if ((!more || interrupted) && c->in_flight == 0)
            break;
        int running = 0;
        curl_multi_perform(c->multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(c->multi, &left)))
            if (m->msg == CURLMSG_DONE)
                finish_xfer(c, m->easy_handle, m->data.result);
        if (progress && now_s() - shown >= 0.25) {
            shown = now_s();
            show_progress(c, started, false);
        }
        int wait_ms = 100;
        if (pending && c->in_flight < o->concurrency) {
            double d = due - now_s();
            wait_ms = d <= 0 ? 0 : d < 0.1 ? (int)(d * 1000) + 1 : 100;
        }
        if (c->in_flight > 0 || wait_ms > 0)
            curl_multi_poll(c->multi, NULL, 0, wait_ms, NULL);
    }
    if (pending)
        replay_req_free(&req); /* interrupted before it went */
    if (progress)
        show_progress(c, started, true);
    if (f.cur)
        logread_close(f.cur);
    return rc != 0 ? -1 : f.failed ? 1 : 0;
}

/* ---- the outcome ---------------------------------------------------------- */

static void print_summary(const replay_opts *o, const client *c, const proxy_run *p,
                          double seconds)
{
    printf("replayed %llu request(s) in %.1f s (%.0f/s): %llu answered, %llu failed\n",
           (unsigned long long)c->sent, seconds, seconds > 0 ? (double)c->sent / seconds : 0.0,
           (unsigned long long)c->answered, (unsigned long long)c->failed);
    printf("skipped %llu record(s)", (unsigned long long)c->skipped_total);
    if (c->filtered)
        printf(" (and %llu of other routes)", (unsigned long long)c->filtered);
    printf("\n");
    for (int s = 0; s < REPLAY_SKIP_COUNT; s++)
        if (c->skipped[s])
            printf("  %8llu  %s\n", (unsigned long long)c->skipped[s],
                   replay_skip_text((replay_skip)s));
    printf("verdicts:");
    for (int v = 0; v < VERDICT_COUNT; v++)
        if (p->verdicts[v])
            printf(" %s %llu", verdict_name((verdict)v), (unsigned long long)p->verdicts[v]);
    printf("\ndiff log: %s\n", o->diff_log);
}

/* --json FILE: what print_summary says, and the transitions. */
static int write_json(const replay_opts *o, const client *c, const proxy_run *p,
                      const replay_matrix *mx)
{
    json_t *verdicts = json_object();
    for (int v = 0; verdicts && v < VERDICT_COUNT; v++)
        json_object_set_new(verdicts, verdict_name((verdict)v), json_integer((json_int_t)p->verdicts[v]));
    json_t *j = json_pack("{s:I, s:I, s:I, s:I, s:I, s:o*, s:s}", "replayed", (json_int_t)c->sent,
                          "answered", (json_int_t)c->answered, "failed", (json_int_t)c->failed,
                          "skipped", (json_int_t)c->skipped_total, "other_routes",
                          (json_int_t)c->filtered, "verdicts", verdicts, "diff_log", o->diff_log);
    int rc = j ? replay_write_json(o->json, j, mx) : -1;
    json_decref(j);
    return rc;
}

static int start_proxy(proxy_run *p, const replay_opts *o)
{
    config_errors errs = {0};
    p->rules = o->rules ? rules_load_file(o->rules, &errs) : rules_default();
    if (!p->rules) {
        config_errors_print(stderr, o->rules, &errs);
        config_errors_free(&errs);
        return 2;
    }
    p->ops = ops_new();
    if (!p->ops) {
        rules_unref(p->rules);
        return 1;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    if (pthread_create(&p->thread, NULL, proxy_main, p) != 0) {
        rules_unref(p->rules);
        ops_unref(p->ops);
        return 1;
    }
    pthread_mutex_lock(&p->mu);
    while (!p->port && !p->finished)
        pthread_cond_wait(&p->cv, &p->mu);
    bool up = p->port != 0;
    pthread_mutex_unlock(&p->mu);
    if (!up) {
        pthread_join(p->thread, NULL);
        fprintf(stderr, "replay: the proxy did not start (see above)\n");
        return 1;
    }
    return 0;
}

int replay_main(int argc, char **argv)
{
    replay_opts o = {0};
    int rc = replay_opts_parse(argc, argv, &o);
    if (rc == 0)
        rc = prepare_output(&o);
    proxy_run p = {0};
    if (rc == 0)
        rc = build_config(&o, &p.cfg);
    if (rc != 0) {
        replay_opts_free(&o);
        config_free(&p.cfg);
        return rc < 0 ? 0 : rc;
    }
    log_set_level(LOG_WARN); /* the proxy's own info lines are noise here */
    client c = {.original = json_object()};
    bool progress = o.progress < 0 ? isatty(STDERR_FILENO) : o.progress;
    if (progress)
        c.expected = count_records(&o) * (uint64_t)o.loops;
    rc = c.original ? start_proxy(&p, &o) : 1;
    if (rc == 0 && !(c.multi = curl_multi_init()))
        rc = 1;
    double started = now_s();
    int sent = -1;
    if (rc == 0) {
        snprintf(c.base, sizeof c.base, "http://127.0.0.1:%d/", p.port);
        struct sigaction sa = {.sa_handler = on_sigint}, old_int, old_term;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, &old_int);
        sigaction(SIGTERM, &sa, &old_term);
        sent = send_all(&o, &c, progress);
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
    }
    if (p.srv) { /* the comparer writes what is queued before the thread ends */
        server_stop(p.srv);
        pthread_join(p.thread, NULL);
    }
    if (rc == 0) {
        print_summary(&o, &c, &p, now_s() - started);
        replay_matrix *mx = replay_compare_log(o.diff_log, c.original, p.cfg.diff_log_mode == DIFFLOG_ALL);
        rc = interrupted ? 130 : sent != 0 || p.exit_code != 0 ? 1 : 0;
        if (o.json && write_json(&o, &c, &p, mx) != 0 && rc == 0)
            rc = 1;
        int g = replay_gates_check(o.gates, o.ngates, mx);
        if (rc == 0 || g == 2)
            rc = g ? g : rc;
        replay_matrix_free(mx);
    }
    if (c.multi)
        curl_multi_cleanup(c.multi);
    json_decref(c.original);
    replay_opts_free(&o);
    config_free(&p.cfg);
    return rc;
}
