/*
 * worker: the MHD side of the proxy, glued to a libuv loop.
 *
 *   client ──► MHD (epoll fd watched by uv_poll) ──► on_request
 *                 │ request complete: exchange_start, suspend
 *                 ▼
 *   curl multi (upstream.c) ──► exchange.c callbacks ──► worker_resume
 *                 │ resumed connections are run from uv_prepare, because
 *                 ▼ MHD without its own thread has no wake-up channel
 *   MHD_queue_response ──► client
 */
#include "data/worker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "data/exchange.h"
#include "base/log.h"
#include "data/reqcheck.h"
#include "data/tls.h"
#include "base/clock.h"

/* ---- MHD on the loop ---------------------------------------------------- */

static void on_mhd_timer(uv_timer_t *t);

static void run_mhd(worker *w)
{
    w->mhd_run_pending = false;
    MHD_run(w->mhd);
    MHD_UNSIGNED_LONG_LONG ms;
    if (MHD_get_timeout(w->mhd, &ms) == MHD_YES)
        uv_timer_start(&w->mhd_timer, on_mhd_timer, (uint64_t)ms, 0);
    else
        uv_timer_stop(&w->mhd_timer);
}

static void on_mhd_timer(uv_timer_t *t) { run_mhd(t->data); }

static void on_mhd_poll(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    run_mhd(p->data);
}

/* Shadow body bytes one loop turn may take. A shadow pouring bytes as fast
 * as loopback allows would otherwise keep curl reading for long stretches
 * (curl reads on while the socket has data, and a transfer it cuts short is
 * due again at once), and every authoritative answer on this loop waited:
 * seen as a 1 s delay, the shadow's whole timeout. Past the budget shadow
 * transfers pause and resume next turn, after MHD and the authoritative
 * legs had theirs. */
#define SHADOW_TURN_BYTES (256u * 1024)

bool worker_shadow_throttle(worker *w, exchange *ex, size_t len)
{
    /* Untracked shadows could not be found to resume: never paused. The data
     * curl kept for a resumed transfer is taken, so each one moves. */
    if (w->shadow_turn_bytes >= SHADOW_TURN_BYTES && !w->shadow_unpausing &&
        ex->shadow_slot >= 0) {
        w->shadow_throttled++;
        return true;
    }
    w->shadow_turn_bytes += len;
    return false;
}

static void resume_throttled_shadows(worker *w)
{
    w->shadow_throttled = 0;
    w->shadow_unpausing = true;
    for (size_t i = 0; i < w->nshadows; i++) {
        ex_leg *leg = &w->shadows[i]->legs[!w->shadows[i]->authority];
        if (!leg->throttled || !leg->easy)
            continue;
        leg->throttled = false;
        /* On failure the transfer stays paused and ends at its timeout,
         * recorded as a shadow timeout: nothing is lost silently. */
        if (curl_easy_pause(leg->easy, CURLPAUSE_CONT) != CURLE_OK)
            log_event(LOG_WARN, "shadow_resume_failed", "id", w->shadows[i]->id, NULL);
    }
    w->shadow_unpausing = false;
}

static void on_prepare(uv_prepare_t *p)
{
    worker *w = p->data;
    w->shadow_turn_bytes = 0;
    if (w->shadow_throttled)
        resume_throttled_shadows(w);
    if (w->mhd_run_pending && w->mhd)
        run_mhd(w);
}

void worker_resume(worker *w, exchange *ex)
{
    if (!ex->suspended || !ex->conn)
        return;
    ex->suspended = false;
    MHD_resume_connection(ex->conn);
    w->mhd_run_pending = true;
}

/* ---- connections ---------------------------------------------------------- */

/* limits.max_connections is for the whole process, and the kernel spreads
 * connections over the workers' SO_REUSEPORT sockets as it likes, so the
 * count is shared (the only thing workers share besides the config and the
 * comparer queue). Counted from MHD's "started" to its "closed"
 * notification, so a connection MHD fails to set up is never counted. Two
 * workers accepting at the same instant may both see the last free slot:
 * the limit can be passed by at most workers - 1, for a moment. */
static atomic_long open_connections;

/* Over the limit, MHD closes the new connection at once (the client reads
 * EOF). Without this, MHD at its own per-daemon limit stops accepting and
 * new clients hang in the kernel's backlog with no answer. */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t len)
{
    (void)addr;
    (void)len;
    worker *w = cls;
    if (atomic_load(&open_connections) < (long)w->cfg->max_connections)
        return MHD_YES;
    uint64_t now = clock_now_ns();
    if (!w->limit_logged_ns || now - w->limit_logged_ns > 10000000000u) {
        char lim[24];
        snprintf(lim, sizeof lim, "%ld", (long)w->cfg->max_connections);
        log_event(LOG_WARN, "connection_limit_reached", "max_connections", lim,
                  "action", "new connections closed at once", NULL);
        w->limit_logged_ns = now;
    }
    return MHD_NO;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    (void)cls;
    (void)conn;
    static char counted;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        atomic_fetch_add(&open_connections, 1);
        *socket_context = &counted;
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context == &counted) {
        atomic_fetch_sub(&open_connections, 1);
        *socket_context = NULL;
    }
}

/* ---- requests ------------------------------------------------------------ */

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    worker *w = cls;
    exchange *ex = exchange_new(w, uri);
    if (ex) {
        ex->conn = conn;
        w->active++;
    }
    return ex;
}

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      size_t key_size, const char *value, size_t value_size)
{
    (void)kind;
    exchange *ex = cls;
    const char *bad = reqcheck_field(key, key_size, value ? value : "", value ? value_size : 0);
    if (bad && !ex->reject_msg)
        ex->reject_msg = bad; /* answered once every field is in */
    if (hdr_list_add(&ex->req_headers, key, key_size, value ? value : "",
                     value ? value_size : 0) != 0)
        return MHD_NO;
    return MHD_YES;
}

static void client_address(exchange *ex)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(ex->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    strcpy(ex->client_ip, "unknown");
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ex->client_ip,
                  sizeof ex->client_ip);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, ex->client_ip,
                  sizeof ex->client_ip);
}

/* An answer of the proxy's own: {"error": code, "message": ..., "request_id"}. */
static enum MHD_Result answer_self(exchange *ex, unsigned int status, const char *code,
                                   const char *message)
{
    char body[512];
    int n = snprintf(body, sizeof body, "{\"error\":\"%s\",\"message\":\"%s\"}\n", code, message);
    struct MHD_Response *r =
        MHD_create_response_from_buffer((size_t)n, body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json");
    MHD_add_response_header(r, "Connection", "close");
    enum MHD_Result rc = MHD_queue_response(ex->conn, status, r);
    MHD_destroy_response(r);
    ex->state = EX_RESPONDING;
    metric_add(METRIC_rejected, 1);
    return rc;
}

static enum MHD_Result queue_ready(exchange *ex)
{
    struct MHD_Response *r = ex->response;
    ex->response = NULL;
    ex->state = EX_RESPONDING;
    if (!r)
        return MHD_NO; /* out of memory building it: close the connection */
    enum MHD_Result rc = MHD_queue_response(ex->conn, ex->response_status, r);
    MHD_destroy_response(r);
    return rc;
}

/* A NUL byte inside the method or the request-target: libmicrohttpd
 * splits the request line into C strings in place, so "G\0T /x" reaches us
 * as method "G", and "/a\0b" as target "/a". In its buffer the method is
 * followed by the target, and the target's raw text (ex->uri, copied
 * before MHD percent-decoded it in place) by the version: anything but the
 * separators between one string's end and the next string's start was cut
 * off by a NUL. Checked only when the strings are laid out that way. (A NUL
 * right before the space looks like the separator: it is just dropped.) */
static bool gap_is_separator(const char *end, const char *next, size_t bound)
{
    if (next <= end || (size_t)(next - end) > bound)
        return true; /* not one buffer as expected: nothing to tell */
    for (const char *p = end; p < next; p++)
        if (*p != '\0' && *p != ' ' && *p != '\t')
            return false;
    return true;
}

static const char *request_line_problem(exchange *ex, const char *method, const char *url,
                                        const char *version)
{
    size_t bound = ex->cfg->max_header_bytes;
    if (!reqcheck_token(method, strlen(method)))
        return "the method is not a token";
    if (url && !gap_is_separator(method + strlen(method), url, bound))
        return "the method has a NUL byte";
    if (url && version && !gap_is_separator(url + strlen(ex->uri), version, bound))
        return "the request target has a NUL byte";
    return reqcheck_target(ex->uri);
}

/* First call: headers are in, the body (if any) is not. */
static enum MHD_Result begin_request(exchange *ex, const char *method, const char *url,
                                     const char *version)
{
    ex->method = strdup(method);
    if (!ex->method)
        return MHD_NO;
    if (MHD_get_connection_values_n(ex->conn, MHD_HEADER_KIND, collect_header, ex) < 0)
        return MHD_NO;
    client_address(ex);
    /* MHD's connection pool must also hold the answer's headers, so it is
     * sized larger than the limit on what the client may send: check here. */
    size_t head = strlen(method) + strlen(ex->uri) + 12;
    for (size_t i = 0; i < ex->req_headers.n; i++)
        head += ex->req_headers.f[i].name_len + ex->req_headers.f[i].value_len + 4;
    ex->req_head_bytes = head;
    if (head > ex->cfg->max_header_bytes)
        return answer_self(ex, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE,
                           "request_header_fields_too_large",
                           "request line and headers exceed limits.max_header_bytes");
    if (ex->uri[0] != '/') {
        /* absolute-form, authority-form (CONNECT) and '*': never an open proxy */
        ex->reject_status = MHD_HTTP_BAD_REQUEST;
        ex->reject_msg = "only origin-form request targets are proxied";
        return answer_self(ex, ex->reject_status, "bad_request", ex->reject_msg);
    }
    /* Malformed request line or header field (set by collect_header), or
     * ambiguous framing: refused before anything goes upstream, and the
     * connection is closed (the rest of its bytes cannot be trusted). */
    const char *why = request_line_problem(ex, method, url, version);
    if (why || ex->reject_msg) {
        ex->reject_status = MHD_HTTP_BAD_REQUEST;
        ex->reject_msg = why ? why : ex->reject_msg;
        return answer_self(ex, ex->reject_status, "bad_request", ex->reject_msg);
    }
    bool http10 = version && strcmp(version, MHD_HTTP_VERSION_1_0) == 0;
    int framing = reqcheck_framing(&ex->req_headers, http10, &why);
    if (framing) {
        ex->reject_status = framing;
        ex->reject_msg = why;
        return answer_self(ex, ex->reject_status,
                           framing == 501 ? "not_implemented" : "bad_request", why);
    }
    const char *cl = hdr_list_get(&ex->req_headers, "Content-Length");
    ex->has_body = cl || hdr_list_get(&ex->req_headers, "Transfer-Encoding");
    if (cl && strtoull(cl, NULL, 10) > ex->cfg->max_request_body) {
        ex->reject_status = MHD_HTTP_CONTENT_TOO_LARGE;
        return answer_self(ex, ex->reject_status, "request_too_large",
                           "request body exceeds limits.max_request_body");
    }
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls)
{
    (void)cls;
    (void)conn;
    exchange *ex = *con_cls;
    if (!ex)
        return MHD_NO;
    if (!ex->method)
        return begin_request(ex, method, url, version);
    if (*upload_size) {
        size_t have = ex->req_body ? ex->req_body->len : 0;
        if (ex->reject_status) {
            /* discard: MHD refuses a response in the middle of an upload */
        } else if (have + *upload_size > ex->cfg->max_request_body) {
            ex->reject_status = MHD_HTTP_CONTENT_TOO_LARGE;
            blob_unref(ex->req_body);
            ex->req_body = NULL;
        } else if (blob_append(&ex->req_body, upload_data, *upload_size) != 0) {
            return MHD_NO;
        }
        *upload_size = 0;
        ex->last_rx_ns = clock_now_ns();
        return MHD_YES;
    }
    switch (ex->state) {
    case EX_RECEIVING:
        if (ex->reject_status)
            return answer_self(ex, ex->reject_status, "request_too_large",
                               "request body exceeds limits.max_request_body");
        metric_add(METRIC_requests, 1);
        ex->state = EX_WAITING;
        if (exchange_start(ex) != 0)
            return answer_self(ex, MHD_HTTP_SERVICE_UNAVAILABLE, "out_of_memory",
                               "the proxy could not allocate the exchange");
        if (ex->state == EX_READY)
            return queue_ready(ex);
        MHD_suspend_connection(conn);
        ex->suspended = true;
        return MHD_YES;
    case EX_READY:
        return queue_ready(ex);
    default:
        return MHD_YES;
    }
}

static void on_drain_timer(uv_timer_t *t);

/* Drain progress is checked from the drain timer only, never inline: the
 * callers run inside MHD_run or curl callbacks, where stopping the daemon
 * or the multi handle would pull the floor from under them. */
static void schedule_drain_check(worker *w)
{
    if (!w->stopping)
        uv_timer_start(&w->drain_timer, on_drain_timer, 0, 20);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    worker *w = cls;
    exchange *ex = *con_cls;
    *con_cls = NULL;
    if (!ex)
        return;
    w->active--;
    exchange_client_done(ex, toe);
    if (w->draining)
        schedule_drain_check(w);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n')
        msg[--n] = '\0';
    log_event(LOG_DEBUG, "mhd", "message", msg, NULL);
}

/* ---- shadow admission and circuit breaker -------------------------------- */

bool worker_shadow_admit(worker *w, const char **why)
{
    if (w->draining) {
        *why = "draining";
        return false;
    }
    if (w->shadow_in_flight >= w->shadow_cap) {
        *why = "shadow in-flight cap reached";
        return false;
    }
    if (w->breaker_open_until_ns) {
        if (clock_now_ns() < w->breaker_open_until_ns || w->breaker_probing) {
            *why = "circuit breaker open";
            return false;
        }
        w->breaker_probing = true; /* half-open: this request is the probe */
    }
    w->shadow_in_flight++;
    metric_add(METRIC_shadow_in_flight, 1);
    return true;
}

void worker_shadow_track(worker *w, exchange *ex)
{
    if (w->nshadows == w->shadows_cap) {
        size_t cap = w->shadows_cap ? w->shadows_cap * 2 : 64;
        exchange **v = realloc(w->shadows, cap * sizeof *v);
        if (!v)
            return; /* untracked: it cannot be cut short at shutdown, only waited for */
        w->shadows = v;
        w->shadows_cap = cap;
    }
    ex->shadow_slot = (int)w->nshadows;
    w->shadows[w->nshadows++] = ex;
}

static void breaker_trip(worker *w, const char *why)
{
    char idx[16];
    snprintf(idx, sizeof idx, "%d", w->index);
    w->breaker_open_until_ns = clock_now_ns() + (uint64_t)w->cfg->breaker_open_ms * 1000000u;
    metric_add(METRIC_breaker_opened, 1);
    log_event(LOG_WARN, "shadow_breaker_open", "worker", idx, "why", why, NULL);
}

void worker_shadow_release(worker *w, exchange *ex, bool transport_ok)
{
    w->shadow_in_flight--;
    metric_add(METRIC_shadow_in_flight, -1);
    if (ex && ex->shadow_slot >= 0) {
        exchange *last = w->shadows[--w->nshadows];
        w->shadows[ex->shadow_slot] = last;
        last->shadow_slot = ex->shadow_slot;
        ex->shadow_slot = -1;
    }
    if (transport_ok) {
        if (w->breaker_open_until_ns) {
            char idx[16];
            snprintf(idx, sizeof idx, "%d", w->index);
            log_event(LOG_INFO, "shadow_breaker_closed", "worker", idx, NULL);
        }
        w->breaker_failures = 0;
        w->breaker_open_until_ns = 0;
        w->breaker_probing = false;
    } else if (w->breaker_probing) {
        w->breaker_probing = false;
        breaker_trip(w, "probe failed");
    } else if (++w->breaker_failures >= w->cfg->breaker_failures && !w->breaker_open_until_ns) {
        breaker_trip(w, "consecutive failures");
    }
    if (w->draining)
        schedule_drain_check(w);
}

/* ---- request ids ---------------------------------------------------------- */

static uint64_t next_random(worker *w)
{
    /* xorshift128+: ids need to be unique, not secret */
    uint64_t s1 = w->rng[0];
    const uint64_t s0 = w->rng[1];
    w->rng[0] = s0;
    s1 ^= s1 << 23;
    w->rng[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
    return w->rng[1] + s0;
}

void worker_new_id(worker *w, char *out, size_t size)
{
    uint64_t a = next_random(w), b = next_random(w);
    /* UUID version 4 layout */
    a = (a & 0xffffffffffff0fffull) | 0x4000ull;
    b = (b & 0x3fffffffffffffffull) | 0x8000000000000000ull;
    snprintf(out, size, "%08x-%04x-%04x-%04x-%012llx", (unsigned)(a >> 32),
             (unsigned)(a >> 16) & 0xffff, (unsigned)a & 0xffff, (unsigned)(b >> 48),
             (unsigned long long)(b & 0xffffffffffffull));
}

/* ---- lifecycle ------------------------------------------------------------ */

static void on_curl_done(CURL *easy, CURLcode rc, void *ctx)
{
    (void)ctx;
    ex_leg *leg = upstream_owner(easy);
    if (leg)
        exchange_leg_finished(leg, rc);
}

static void noop_close(uv_handle_t *h) { (void)h; }

static void stop_now(worker *w)
{
    if (w->stopping)
        return;
    w->stopping = true;
    /* Suspended connections must be resumed before MHD_stop_daemon. */
    for (exchange *ex = w->live; ex; ex = ex->next)
        worker_resume(w, ex);
    uv_poll_stop(&w->mhd_poll);
    uv_close((uv_handle_t *)&w->mhd_poll, noop_close);
    MHD_stop_daemon(w->mhd); /* completes every connection: exchanges unref */
    w->mhd = NULL;
    if (w->listen_fd >= 0)
        close(w->listen_fd);
    w->listen_fd = -1;
    uv_close((uv_handle_t *)&w->mhd_timer, noop_close);
    uv_close((uv_handle_t *)&w->prepare, noop_close);
    uv_close((uv_handle_t *)&w->wake, noop_close);
    uv_close((uv_handle_t *)&w->drain_timer, noop_close);
    upstream_close(&w->up[SIDE_LEGACY]);
    upstream_close(&w->up[SIDE_NEW]);
}

/* Requests the drain waits for: every request that was fully received (it
 * went upstream and its client waits for the answer), and requests still
 * arriving that made progress in the last second. A request whose client
 * sent part of it and went quiet is not waited for: MHD (epoll, edge
 * triggered) may not even notice its client has closed. */
static int requests_in_flight(worker *w, uint64_t now)
{
    int n = 0;
    for (exchange *ex = w->live; ex; ex = ex->next) {
        if (!ex->conn)
            continue;
        if (ex->state != EX_RECEIVING || now - ex->last_rx_ns < 1000000000u)
            n++;
    }
    return n;
}

/* Drain: wait for requests in progress; then give shadows a grace period;
 * then stop. Past the drain deadline, cut everything short. */
static void check_drain(worker *w)
{
    if (w->stopping)
        return;
    uint64_t now = clock_now_ns();
    int busy = requests_in_flight(w, now);
    if (busy > 0 && now < w->drain_deadline_ns)
        return;
    if (busy > 0) {
        log_event(LOG_WARN, "drain_timeout", NULL);
        for (exchange *ex = w->live, *next; ex; ex = next) {
            next = ex->next;
            exchange_ref(ex);
            exchange_abort_leg(ex, ex->authority, "proxy shutting down");
            exchange_abort_leg(ex, (sp_side)!ex->authority, "proxy shutting down");
            next = ex->next;
            exchange_unref(ex);
        }
    }
    if (w->nshadows > 0) {
        if (!w->grace_deadline_ns)
            w->grace_deadline_ns = now + (uint64_t)w->cfg->shadow_grace_ms * 1000000u;
        if (now < w->grace_deadline_ns)
            return;
        while (w->nshadows > 0) {
            exchange *ex = w->shadows[w->nshadows - 1];
            exchange_abort_leg(ex, (sp_side)!ex->authority, "proxy shutting down");
        }
    }
    if (busy > 0 && w->mhd_run_pending) {
        run_mhd(w); /* let resumed connections send their 502 first */
        return;
    }
    stop_now(w);
}

static void on_drain_timer(uv_timer_t *t) { check_drain(t->data); }

void worker_set_rules(worker *w, rules *r)
{
    pthread_mutex_lock(&w->rules_mu);
    rules *old = w->rules_pending;
    w->rules_pending = r;
    pthread_mutex_unlock(&w->rules_mu);
    rules_unref(old);
    uv_async_send(&w->wake);
}

void worker_set_ops(worker *w, ops_state *o)
{
    pthread_mutex_lock(&w->rules_mu);
    ops_state *old = w->ops_pending;
    w->ops_pending = o;
    pthread_mutex_unlock(&w->rules_mu);
    ops_unref(old);
    uv_async_send(&w->wake);
}

int worker_breaker_state(const worker *w)
{
    if (!w->breaker_open_until_ns)
        return 0;
    return w->breaker_probing ? 2 : 1;
}

static void on_wake(uv_async_t *a)
{
    worker *w = a->data;
    pthread_mutex_lock(&w->rules_mu);
    rules *r = w->rules_pending;
    ops_state *o = w->ops_pending;
    w->rules_pending = NULL;
    w->ops_pending = NULL;
    pthread_mutex_unlock(&w->rules_mu);
    if (r) {
        rules_unref(w->rules);
        w->rules = r;
    }
    if (o) {
        ops_unref(w->ops);
        w->ops = o;
    }
    int cmd = atomic_exchange(&w->command, WORKER_CMD_NONE);
    if (cmd == WORKER_CMD_DRAIN && !w->draining) {
        w->draining = true;
        int fd = MHD_quiesce_daemon(w->mhd); /* stop accepting */
        if (fd >= 0 && fd == w->listen_fd) {
            close(fd);
            w->listen_fd = -1;
        }
        w->drain_deadline_ns = clock_now_ns() + (uint64_t)w->cfg->drain_timeout_ms * 1000000u;
        uv_timer_start(&w->drain_timer, on_drain_timer, 20, 20);
        check_drain(w);
    } else if (cmd == WORKER_CMD_STOP) {
        w->drain_deadline_ns = 0;
        w->grace_deadline_ns = 1;
        w->draining = true;
        check_drain(w);
    }
}

static void worker_main(void *arg)
{
    worker *w = arg;
    char name[16]; /* the kernel's limit, with the NUL */
    snprintf(name, sizeof name, "sp-worker-%d", w->index);
    (void)pthread_setname_np(pthread_self(), name); /* for top -H and perf; cosmetic */
    uv_run(&w->loop, UV_RUN_DEFAULT);
    metrics_shard_release(w->shard);
    if (uv_loop_close(&w->loop) != 0)
        log_event(LOG_WARN, "worker_loop_busy_at_exit", NULL);
    atomic_store(&w->exited, true);
    uv_async_send(w->notify_exit);
}

static int start_failed(worker *w, int err)
{
    if (w->tls)
        tls_listen_release();
    w->tls = false;
    rules_unref(w->rules);
    w->rules = NULL;
    ops_unref(w->ops);
    w->ops = NULL;
    pthread_mutex_destroy(&w->rules_mu);
    return err;
}

int worker_start(worker *w, int index, const sp_config *cfg, analyzer *an, int listen_fd,
                 rules *r, ops_state *o, uv_async_t *notify_exit)
{
    memset(w, 0, sizeof *w);
    w->rules = r;
    w->ops = o;
    char owner[32];
    snprintf(owner, sizeof owner, "worker-%d", index);
    w->shard = metrics_shard_new(owner); /* NULL: counts nothing, still proxies */
    pthread_mutex_init(&w->rules_mu, NULL);
    w->index = index;
    w->cfg = cfg;
    w->an = an;
    w->listen_fd = listen_fd;
    w->notify_exit = notify_exit;
    int nworkers = cfg->workers > 0 ? cfg->workers : 1;
    w->shadow_cap = (cfg->shadow_max_in_flight + nworkers - 1) / nworkers;
    if (getrandom(w->rng, sizeof w->rng, 0) != (ssize_t)sizeof w->rng)
        w->rng[0] = (uint64_t)clock_now_ns() ^ (uint64_t)index, w->rng[1] = 0x9e3779b97f4a7c15ull;
    if (index == 0)
        tls_warn_insecure(cfg, "startup");
    /* HTTPS: the certificate comes from tls_listen at each handshake, so a
     * reload can replace it under running daemons. */
    unsigned int flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    struct MHD_OptionItem tls_opts[3] = {{MHD_OPTION_END, 0, NULL}};
    if (cfg->listen_tls.cert_file) {
        char err[512];
        int rc = tls_listen_acquire(cfg, err, sizeof err);
        if (rc != 0) {
            log_event(LOG_ERROR, "tls_listen_failed", "error", err, NULL);
            return start_failed(w, rc);
        }
        w->tls = true;
        tls_listen_options(cfg, tls_opts);
        flags |= MHD_USE_TLS;
    }
    if (uv_loop_init(&w->loop) != 0)
        return start_failed(w, -ENOMEM);
    /* MHD's own limit only as a backstop above the shared one (on_accept):
     * at its limit MHD stops accepting instead of refusing. */
    unsigned int conn_limit = (unsigned)cfg->max_connections + (unsigned)nworkers;
    size_t mem_limit = cfg->max_header_bytes * 2 < 64 * 1024 ? 64 * 1024 : cfg->max_header_bytes * 2;
    w->mhd_pool_bytes = mem_limit;
    w->mhd = MHD_start_daemon(
        flags, 0, on_accept, w, on_request, w, MHD_OPTION_LISTEN_SOCKET, listen_fd,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, w,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, w, MHD_OPTION_NOTIFY_COMPLETED, on_completed, w,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)cfg->idle_timeout_s,
        MHD_OPTION_CONNECTION_LIMIT, conn_limit,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, mem_limit, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, w,
        MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END);
    if (!w->mhd) {
        uv_loop_close(&w->loop);
        return start_failed(w, -EIO);
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(w->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    /* Idle connections kept per side: enough for every shadow request the
     * worker may have in flight, so a slow side reuses its connections
     * instead of opening one per request. */
    long keep = w->shadow_cap + 64;
    bool legacy_ok = di && upstream_init(&w->up[SIDE_LEGACY], &w->loop, on_curl_done, w, keep,
                                         &cfg->upstream[SIDE_LEGACY]) == 0;
    if (!legacy_ok || upstream_init(&w->up[SIDE_NEW], &w->loop, on_curl_done, w, keep,
                                    &cfg->upstream[SIDE_NEW]) != 0) {
        if (legacy_ok)
            upstream_close(&w->up[SIDE_LEGACY]);
        uv_run(&w->loop, UV_RUN_DEFAULT); /* a failed init closed its shards' timers too */
        MHD_stop_daemon(w->mhd);
        uv_loop_close(&w->loop);
        return start_failed(w, -EIO);
    }
    uv_poll_init(&w->loop, &w->mhd_poll, di->epoll_fd);
    uv_timer_init(&w->loop, &w->mhd_timer);
    uv_timer_init(&w->loop, &w->drain_timer);
    uv_prepare_init(&w->loop, &w->prepare);
    uv_async_init(&w->loop, &w->wake, on_wake);
    w->mhd_poll.data = w->mhd_timer.data = w->drain_timer.data = w;
    w->prepare.data = w->wake.data = w;
    uv_poll_start(&w->mhd_poll, UV_READABLE, on_mhd_poll);
    uv_prepare_start(&w->prepare, on_prepare);
    uv_timer_start(&w->mhd_timer, on_mhd_timer, 0, 0);
    if (uv_thread_create(&w->thread, worker_main, w) != 0) {
        stop_now(w);
        uv_run(&w->loop, UV_RUN_DEFAULT);
        uv_loop_close(&w->loop);
        return start_failed(w, -EAGAIN);
    }
    return 0;
}

void worker_command(worker *w, int cmd)
{
    atomic_store(&w->command, cmd);
    uv_async_send(&w->wake);
}

void worker_join(worker *w)
{
    uv_thread_join(&w->thread);
    if (w->tls) /* the daemon has stopped: no handshake can need it any more */
        tls_listen_release();
    w->tls = false;
    free(w->shadows);
    w->shadows = NULL;
    rules_unref(w->rules);
    rules_unref(w->rules_pending);
    w->rules = w->rules_pending = NULL;
    ops_unref(w->ops);
    ops_unref(w->ops_pending);
    w->ops = w->ops_pending = NULL;
    pthread_mutex_destroy(&w->rules_mu);
}
