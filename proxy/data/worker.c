/*
 * worker: MHD and curl glued to a libuv loop, the connection limit, the
 * drain. Everything below it is called, never calls back up (but for the
 * gate's release hook while draining):
 *
 *   client ──► MHD (epoll fd watched by uv_poll) ──► front_on_request
 *                 │ request complete: exchange_start, suspend
 *                 ▼
 *   curl multi (upstream.c) ──► exchange.c callbacks ──► exchange_resume
 *                 │ (env.mhd_run_pending) resumed connections are run from
 *                 ▼ uv_prepare: MHD without its own thread has no wake-up
 *   front: exchange_queue_response ──► client
 */
#include "data/worker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/invariant.h"
#include "base/log.h"
#include "data/exchange.h"
#include "data/front.h"
#include "data/tls.h"

/* ---- MHD on the loop ---------------------------------------------------- */

static void on_mhd_timer(uv_timer_t *t);

static void run_mhd(worker *w)
{
    w->env.mhd_run_pending = false;
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

/* Each loop turn: shadows get a fresh byte budget, and connections that
 * exchanges resumed are run (MHD without its own thread has no wake-up
 * channel: MHD_resume_connection alone wakes nothing). */
static void on_prepare(uv_prepare_t *p)
{
    worker *w = p->data;
    shadow_gate_new_turn(&w->env.gate);
    shadow_gate_new_turn(&w->env.secondary_gate);
    if (w->env.mhd_run_pending && w->mhd)
        run_mhd(w);
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
    (void)len;
    worker *w = cls;
    bool total = atomic_load(&open_connections) >= (long)w->cfg->max_connections;
    if (!total && conn_guard_admit(w->cfg, addr))
        return MHD_YES;
    if (!total)
        metric_add(METRIC_address_limit_refused, 1);
    uint64_t now = clock_now_ns();
    if (!w->limit_logged_ns || now - w->limit_logged_ns > 10000000000u) {
        char lim[24];
        snprintf(lim, sizeof lim, "%ld",
                 total ? (long)w->cfg->max_connections : (long)w->cfg->max_connections_per_address);
        log_event(LOG_WARN, "connection_limit_reached",
                  total ? "max_connections" : "max_connections_per_address", lim,
                  "action", "new connections closed at once", NULL);
        w->limit_logged_ns = now;
    }
    return MHD_NO;
}

/* The socket context: the connection's guard_conn, or this marker when
 * it could not be allocated (counted, not guarded). */
static char counted_unguarded;

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    worker *w = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        atomic_fetch_add(&open_connections, 1);
        const union MHD_ConnectionInfo *fd =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        const union MHD_ConnectionInfo *ad =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        guard_conn *g = fd ? conn_guard_open(&w->guard, fd->connect_fd,
                                             ad ? ad->client_addr : NULL, clock_now_ns())
                           : NULL;
        *socket_context = g ? (void *)g : (void *)&counted_unguarded;
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context) {
        atomic_fetch_sub(&open_connections, 1);
        if (*socket_context != &counted_unguarded)
            conn_guard_close(&w->guard, *socket_context);
        *socket_context = NULL;
    }
}

/* A connection past its head deadline or under the body floor was shut
 * down: MHD closes it at its next run. */
static void on_guard_shut(const guard_conn *c, guard_reason why, void *ctx)
{
    (void)ctx;
    char addr[64] = "unknown";
    inet_ntop(c->family, c->addr, addr, sizeof addr);
    metric_add(METRIC_slow_clients_closed, 1);
    log_event(LOG_WARN, "slow_client_closed", "client", addr, "reason",
              why == GUARD_SLOW_HEAD ? "request head not complete within limits.head_timeout_s"
                                     : "request body under limits.min_body_rate",
              NULL);
}

static void on_guard_timer(uv_timer_t *t)
{
    worker *w = t->data;
    if (conn_guard_sweep(&w->guard, clock_now_ns(), on_guard_shut, w) && w->mhd)
        run_mhd(w);
}

/* How often a worker reports its loop's busy share to the comparers and
 * its shadow gate: short enough that they yield within a moment of
 * saturation. */
#define WORKER_LOAD_MS 250

static int requests_in_flight(worker *w, uint64_t now);

static void on_load_timer(uv_timer_t *t)
{
    worker *w = t->data;
    uint64_t now = uv_hrtime(), idle = uv_metrics_idle_time(&w->loop);
    if (w->load_at_ns && now > w->load_at_ns) {
        double idle_share = (double)(idle - w->load_idle_ns) / (double)(now - w->load_at_ns);
        analyzer_worker_busy(w->env.an, w->index, 1.0 - idle_share);
        shadow_gate_note_busy(&w->env.gate, 1.0 - idle_share,
                              requests_in_flight(w, clock_now_ns()));
    }
    w->load_at_ns = now;
    w->load_idle_ns = idle;
    /* After a burst: the handles it left idle go, and the memory they and
     * the burst's exchanges held goes back to the system (bench/README.md,
     * "Memory"). */
    size_t trimmed = 0;
    for (int s = 0; s < 3; s++)
        if (w->up_open[s])
            trimmed += upstream_trim(&w->env.up[s], now / 1000000u);
    for (int s = 0; s < 2; s++)
        if (w->env.h1_open[s])
            trimmed += h1_trim(&w->env.h1[s], uv_now(&w->loop));
    if (trimmed) {
        malloc_trim(0);
        metric_add(METRIC_upstream_handles_trimmed, (int64_t)trimmed);
    }
}

/* ---- requests ------------------------------------------------------------ */

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    worker *w = cls;
    guard_conn *g = conn_guard_of(conn);
    if (g)
        conn_guard_request_line(&w->guard, g, clock_now_ns());
    exchange *ex = exchange_new(&w->env, uri);
    if (ex)
        ex->conn = conn;
    return ex;
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
    worker *w = cls;
    guard_conn *g = conn_guard_of(conn);
    if (g)
        conn_guard_request_done(&w->guard, g, clock_now_ns());
    exchange *ex = *con_cls;
    *con_cls = NULL;
    if (!ex)
        return;
    exchange_client_done(ex, toe);
    if (w->env.draining)
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

/* The gate calls this after a release once the worker drains: a shadow
 * less to wait for. */
static void on_shadow_released(void *ctx) { schedule_drain_check(ctx); }

/* ---- lifecycle ------------------------------------------------------------ */

/* The secondary's upstream: legacy's settings (timeouts, TLS) with
 * secondary.url, one trailing '/' dropped as for the other URLs. */
static int secondary_upstream(worker *w)
{
    const char *url = w->cfg->secondary_url;
    size_t n = strlen(url);
    if (n > 0 && url[n - 1] == '/')
        n--;
    w->secondary_up = w->cfg->upstream[SIDE_LEGACY];
    w->secondary_up.url = strndup(url, n);
    return w->secondary_up.url ? 0 : -ENOMEM;
}

static void noop_close(uv_handle_t *h) { (void)h; }

/* The lean client's pools (shadow legs were aborted before: none runs). */
static void close_h1(worker *w)
{
    for (int s = 0; s < 2; s++)
        if (w->env.h1_open[s])
            h1_pool_close(&w->env.h1[s]);
    w->env.h1_open[0] = w->env.h1_open[1] = false;
}

static void stop_now(worker *w)
{
    if (w->stopping)
        return;
    w->stopping = true;
    /* Suspended connections must be resumed before MHD_stop_daemon. */
    for (exchange *ex = w->env.live; ex; ex = ex->next)
        exchange_resume(ex);
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
    uv_close((uv_handle_t *)&w->guard_timer, noop_close);
    uv_close((uv_handle_t *)&w->load_timer, noop_close);
    upstream_close(&w->env.up[SIDE_LEGACY]);
    upstream_close(&w->env.up[SIDE_NEW]);
    if (w->up_open[UP_SECONDARY])
        upstream_close(&w->env.up[UP_SECONDARY]);
    close_h1(w);
}

/* Requests the drain waits for: every request that was fully received (it
 * went upstream and its client waits for the answer), and requests still
 * arriving that made progress in the last second. A request whose client
 * sent part of it and went quiet is not waited for: MHD (epoll, edge
 * triggered) may not even notice its client has closed. */
static int requests_in_flight(worker *w, uint64_t now)
{
    int n = 0;
    for (exchange *ex = w->env.live; ex; ex = ex->next) {
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
        exchange_abort_all(&w->env, "proxy shutting down");
    }
    if (shadow_gate_last(&w->env.gate) || shadow_gate_last(&w->env.secondary_gate)) {
        if (!w->grace_deadline_ns)
            w->grace_deadline_ns = now + (uint64_t)w->cfg->shadow_grace_ms * 1000000u;
        if (now < w->grace_deadline_ns)
            return;
        exchange_abort_shadows(&w->env, "proxy shutting down");
    }
    exchange_fault_cancel_all(&w->env, "proxy shutting down"); /* a delayed shadow */
    if (busy > 0 && w->env.mhd_run_pending) {
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

int worker_breaker_state(const worker *w) { return shadow_gate_breaker_state(&w->env.gate); }

/* Stop accepting shadows and tell clients the connection closes. */
static void worker_set_draining(worker *w)
{
    w->env.draining = true;
    shadow_gate_close(&w->env.gate);
    shadow_gate_close(&w->env.secondary_gate);
}

static void on_wake(uv_async_t *a)
{
    worker *w = a->data;
    /* The snapshots exchanges read are swapped only here, on the loop's
     * own thread: an exchange never sees one change under it. */
    uv_thread_t self = uv_thread_self();
    assert(uv_thread_equal(&self, &w->loop_thread));
    (void)self;
    pthread_mutex_lock(&w->rules_mu);
    rules *r = w->rules_pending;
    ops_state *o = w->ops_pending;
    w->rules_pending = NULL;
    w->ops_pending = NULL;
    pthread_mutex_unlock(&w->rules_mu);
    if (r) {
        rules_unref(w->env.rules);
        w->env.rules = r;
    }
    if (o) {
        ops_unref(w->env.ops);
        w->env.ops = o;
    }
    int cmd = atomic_exchange(&w->command, WORKER_CMD_NONE);
    if (cmd == WORKER_CMD_DRAIN && !w->env.draining) {
        worker_set_draining(w);
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
        worker_set_draining(w);
        check_drain(w);
    }
}

static void worker_main(void *arg)
{
    worker *w = arg;
    char name[16]; /* the kernel's limit, with the NUL */
    snprintf(name, sizeof name, "sp-worker-%d", w->index);
    (void)pthread_setname_np(pthread_self(), name); /* for top -H and perf; cosmetic */
    w->loop_thread = uv_thread_self();
    uv_run(&w->loop, UV_RUN_DEFAULT);
    metrics_shard_release(w->env.shard);
    if (uv_loop_close(&w->loop) != 0)
        log_event(LOG_WARN, "worker_loop_busy_at_exit", NULL);
    atomic_store(&w->exited, true);
    uv_async_send(w->notify_exit);
}

/* Undoes what worker_start got to, whatever that was: each step leaves its
 * mark (w->tls, loop_open, w->mhd, up_open, nhandles). The listen socket
 * stays the caller's. */
static int start_failed(worker *w, int err)
{
    if (w->loop_open) {
        uv_handle_t *h[] = {(uv_handle_t *)&w->mhd_poll, (uv_handle_t *)&w->mhd_timer,
                            (uv_handle_t *)&w->drain_timer, (uv_handle_t *)&w->prepare,
                            (uv_handle_t *)&w->wake, (uv_handle_t *)&w->guard_timer,
                            (uv_handle_t *)&w->load_timer};
        for (int i = 0; i < w->nhandles; i++)
            uv_close(h[i], noop_close);
        for (int s = 0; s < 3; s++)
            if (w->up_open[s])
                upstream_close(&w->env.up[s]);
        close_h1(w);
        /* Every closed handle finishes closing (a pool's shards close
         * their timers, a failed upstream_init too) before the loop does. */
        uv_run(&w->loop, UV_RUN_DEFAULT);
        if (uv_loop_close(&w->loop) != 0)
            log_event(LOG_WARN, "worker_loop_busy_at_exit", NULL);
    }
    if (w->mhd)
        MHD_stop_daemon(w->mhd);
    w->mhd = NULL;
    if (w->tls)
        tls_listen_release();
    w->tls = false;
    rules_unref(w->env.rules);
    w->env.rules = NULL;
    ops_unref(w->env.ops);
    w->env.ops = NULL;
    shadow_gate_free(&w->env.gate);
    shadow_gate_free(&w->env.secondary_gate);
    recv_size_free(&w->env.recv_sizes);
    free(w->secondary_up.url);
    w->secondary_up.url = NULL;
    metrics_shard_release(w->env.shard);
    w->env.shard = NULL;
    pthread_mutex_destroy(&w->rules_mu);
    return err;
}

/* The daemon, on the caller's listen socket. HTTPS: the certificate comes
 * from tls_listen at each handshake, so a reload can replace it under
 * running daemons. 0 or -errno. */
static int start_mhd(worker *w, int listen_fd)
{
    const sp_config *cfg = w->cfg;
    unsigned int flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    struct MHD_OptionItem tls_opts[3] = {{MHD_OPTION_END, 0, NULL}};
    if (cfg->listen_tls.cert_file) {
        char err[512];
        int rc = tls_listen_acquire(cfg, err, sizeof err);
        if (rc != 0) {
            log_event(LOG_ERROR, "tls_listen_failed", "error", err, NULL);
            return rc;
        }
        w->tls = true;
        tls_listen_options(cfg, tls_opts);
        flags |= MHD_USE_TLS;
    }
    /* MHD's own limit only as a backstop above the shared one (on_accept):
     * at its limit MHD stops accepting instead of refusing. */
    int nworkers = cfg->workers > 0 ? cfg->workers : 1;
    unsigned int conn_limit = (unsigned)cfg->max_connections + (unsigned)nworkers;
    size_t mem_limit = cfg->max_header_bytes * 2 < 64 * 1024 ? 64 * 1024 : cfg->max_header_bytes * 2;
    w->env.mhd_pool_bytes = mem_limit;
    w->mhd = MHD_start_daemon(
        flags, 0, on_accept, w, front_on_request, w, MHD_OPTION_LISTEN_SOCKET, listen_fd,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, w,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, w, MHD_OPTION_NOTIFY_COMPLETED, on_completed, w,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)cfg->idle_timeout_s,
        MHD_OPTION_CONNECTION_LIMIT, conn_limit,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, mem_limit, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, w,
        MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END);
    return w->mhd ? 0 : -EIO;
}

/* The loop's handles, in the order start_failed closes them. 0 or a
 * libuv error. */
static int init_handles(worker *w, int epoll_fd)
{
    int rc;
#define INIT_HANDLE(call)                                                    \
    do {                                                                     \
        if ((rc = (call)) != 0)                                              \
            return rc;                                                       \
        w->nhandles++;                                                       \
    } while (0)
    INIT_HANDLE(uv_poll_init(&w->loop, &w->mhd_poll, epoll_fd));
    INIT_HANDLE(uv_timer_init(&w->loop, &w->mhd_timer));
    INIT_HANDLE(uv_timer_init(&w->loop, &w->drain_timer));
    INIT_HANDLE(uv_prepare_init(&w->loop, &w->prepare));
    INIT_HANDLE(uv_async_init(&w->loop, &w->wake, on_wake));
    INIT_HANDLE(uv_timer_init(&w->loop, &w->guard_timer));
    INIT_HANDLE(uv_timer_init(&w->loop, &w->load_timer));
#undef INIT_HANDLE
    w->mhd_poll.data = w->mhd_timer.data = w->drain_timer.data = w->guard_timer.data = w;
    w->load_timer.data = w;
    w->prepare.data = w->wake.data = w;
    if ((rc = uv_poll_start(&w->mhd_poll, UV_READABLE, on_mhd_poll)) != 0 ||
        (rc = uv_prepare_start(&w->prepare, on_prepare)) != 0 ||
        (rc = uv_timer_start(&w->guard_timer, on_guard_timer, 1000, 1000)) != 0 ||
        (rc = uv_timer_start(&w->load_timer, on_load_timer, WORKER_LOAD_MS, WORKER_LOAD_MS)) != 0)
        return rc;
    return uv_timer_start(&w->mhd_timer, on_mhd_timer, 0, 0);
}

int worker_start(worker *w, int index, const sp_config *cfg, analyzer *an, int listen_fd,
                 rules *r, ops_state *o, uv_async_t *notify_exit)
{
    memset(w, 0, sizeof *w);
    exchange_env *env = &w->env;
    env->loop = &w->loop;
    env->rules = r;
    env->ops = o;
    char owner[32];
    snprintf(owner, sizeof owner, "worker-%d", index);
    env->shard = metrics_shard_new(owner); /* NULL: counts nothing, still proxies */
    int rc = pthread_mutex_init(&w->rules_mu, NULL);
    if (rc != 0) { /* nothing to destroy yet: release the references only */
        rules_unref(r);
        ops_unref(o);
        metrics_shard_release(env->shard);
        return -rc;
    }
    w->index = index;
    w->cfg = env->cfg = cfg;
    env->an = an;
    w->listen_fd = listen_fd;
    w->notify_exit = notify_exit;
    shadow_gate_init(&env->gate, index, cfg, on_shadow_released, w);
    shadow_gate_init_secondary(&env->secondary_gate, index, cfg, on_shadow_released, w);
    reqid_seed(&env->ids, (uint64_t)index);
    conn_guard_init(&w->guard, cfg); /* before MHD: its stop notifies every close */
    if (index == 0)
        tls_warn_insecure(cfg, "startup");
    if ((rc = uv_loop_init(&w->loop)) != 0)
        return start_failed(w, rc);
    w->loop_open = true;
    /* The loop's time blocked in epoll: what is not idle is busy (on_load_timer). */
    if ((rc = uv_loop_configure(&w->loop, UV_METRICS_IDLE_TIME)) != 0)
        return start_failed(w, rc);
    if ((rc = start_mhd(w, listen_fd)) != 0)
        return start_failed(w, rc);
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(w->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    if (!di)
        return start_failed(w, -EIO);
    /* Idle connections kept per side: enough for every shadow request the
     * worker may have in flight, so a slow side reuses its connections
     * instead of opening one per request. */
    long keep = env->gate.cap + 64;
    for (int s = 0; s < 2; s++) {
        if (upstream_init(&env->up[s], &w->loop, exchange_transfer_done, env, keep,
                          &cfg->upstream[s]) != 0)
            return start_failed(w, -EIO);
        w->up_open[s] = true;
        /* shadow.client "auto": the lean client for this side's shadow legs */
        if (cfg->shadow_client == SHADOW_CLIENT_AUTO && h1_supports(&cfg->upstream[s])) {
            if (h1_pool_init(&env->h1[s], &w->loop, &cfg->upstream[s], exchange_h1_done,
                             (size_t)keep) != 0)
                return start_failed(w, -ENOMEM);
            env->h1_open[s] = true;
        }
    }
    if (cfg->secondary_url) { /* a second legacy instance: its own pool */
        if ((rc = secondary_upstream(w)) != 0)
            return start_failed(w, rc);
        if (upstream_init(&env->up[UP_SECONDARY], &w->loop, exchange_transfer_done, env,
                          env->secondary_gate.cap + 16, &w->secondary_up) != 0)
            return start_failed(w, -EIO);
        w->up_open[UP_SECONDARY] = true;
    }
    if ((rc = init_handles(w, di->epoll_fd)) != 0)
        return start_failed(w, rc);
    if ((rc = uv_thread_create(&w->thread, worker_main, w)) != 0)
        return start_failed(w, rc);
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
    shadow_gate_free(&w->env.gate);
    shadow_gate_free(&w->env.secondary_gate);
    recv_size_free(&w->env.recv_sizes);
    free(w->secondary_up.url);
    w->secondary_up.url = NULL;
    rules_unref(w->env.rules);
    rules_unref(w->rules_pending);
    w->env.rules = w->rules_pending = NULL;
    ops_unref(w->env.ops);
    ops_unref(w->ops_pending);
    w->env.ops = w->ops_pending = NULL;
    pthread_mutex_destroy(&w->rules_mu);
}
