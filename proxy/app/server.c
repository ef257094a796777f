#include "app/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "admin/admin.h"
#include "app/server_ids.h"
#include "base/drainsig.h"
#include "data/analyzer.h"
#include "diff/difflog.h"
#include "ctrl/control.h"
#include "ctrl/store.h"
#include "base/log.h"
#include "obs/metrics.h"
#include "data/worker.h"

struct server {
    const sp_config *cfg;
    const server_hooks *hooks; /* may be NULL */
    uv_loop_t loop;
    uv_signal_t sigterm, sigint, sigusr1, sighup;
    bool has_signals;
    uv_async_t worker_exit, stop;
    worker *workers;
    int nworkers, running;
    analyzer *an;
    control *ctl;         /* current rules and operator decisions */
    admin *adm;
    uv_fs_event_t state_event;
    uv_fs_poll_t state_poll;
    uv_timer_t state_debounce;
    uv_timer_t heartbeat;    /* this replica's registration in the fleet */
    const char *state_path;  /* the file store's file, watched; NULL: none */
    char state_base[256]; /* the state file's name in its directory */
    bool watching;
    int signals_seen;
    int port; /* bound traffic port */
    ids_keeper *ids; /* the id ledger (rules "ids"), or NULL */
};

/* One SO_REUSEPORT socket per worker on the same address, so the kernel
 * spreads connections over the workers' loops. The first bind is a probe
 * without SO_REUSEPORT: it fails if anything already listens there, so a
 * second instance cannot silently take half of the traffic. */
static int open_socket(const char *host, int *port, bool reuseport)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", *port);
    int rc = getaddrinfo(*host ? host : NULL, portstr, &hints, &res);
    if (rc != 0)
        return -EADDRNOTAVAIL;
    int fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) ||
        bind(fd, res->ai_addr, res->ai_addrlen) < 0 ||
        (reuseport && listen(fd, 1024) < 0)) {
        int err = -errno;
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return err;
    }
    freeaddrinfo(res);
    if (*port == 0) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        getsockname(fd, (struct sockaddr *)&ss, &len);
        *port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                               : ((struct sockaddr_in *)&ss)->sin_port);
    }
    return fd;
}

static int open_listener(const char *host, int *port, bool first)
{
    if (first) {
        int probe = open_socket(host, port, false);
        if (probe < 0)
            return probe;
        close(probe);
    }
    return open_socket(host, port, true);
}

static void drain_all(server *s)
{
    control_set_draining(s->ctl); /* /readyz: 503 from this moment */
    for (int i = 0; i < s->running; i++)
        if (!atomic_load(&s->workers[i].exited))
            worker_command(&s->workers[i], WORKER_CMD_DRAIN);
}

/* The state file is watched through its directory: a write by another
 * replica replaces it with rename(2) (new inode), and a Kubernetes
 * ConfigMap update swaps a symlinked directory; a file watch would miss
 * both. Events are debounced; a slow poll covers file systems without
 * inotify (NFS). */
static void on_state_settled(uv_timer_t *t)
{
    server *s = t->data;
    control_reload_state(s->ctl, "state file");
}

/* Reloads 50 ms after the first event of a burst. The timer is not
 * restarted by later events: a directory that never goes quiet (the diff
 * log next to the state file, written every few ms under load) must not
 * put the reload off for ever. */
static void state_changed(server *s)
{
    if (!uv_is_active((uv_handle_t *)&s->state_debounce))
        uv_timer_start(&s->state_debounce, on_state_settled, 50, 0);
}

/* Only the state file's own name counts, and the names a Kubernetes
 * ConfigMap volume swaps ("..data", "..2026_11_24..."): writes to other
 * files in the directory (the diff log, by default) are not a change. */
static bool state_event_relevant(const char *filename, const char *base)
{
    return !filename || strcmp(filename, base) == 0 || strncmp(filename, "..", 2) == 0;
}

static void on_state_dir(uv_fs_event_t *h, const char *filename, int events, int status)
{
    (void)events;
    server *s = h->data;
    if (status == 0 && state_event_relevant(filename, s->state_base))
        state_changed(s);
}

static void on_state_poll(uv_fs_poll_t *h, int status, const uv_stat_t *prev, const uv_stat_t *curr)
{
    (void)status;
    (void)prev;
    (void)curr;
    state_changed(h->data);
}

static void watch_state_file(server *s)
{
    uv_timer_init(&s->loop, &s->state_debounce);
    s->state_debounce.data = s;
    s->watching = true;
    const char *path = s->state_path;
    if (!path)
        return;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    const char *base = strrchr(path, '/');
    snprintf(s->state_base, sizeof s->state_base, "%s", base ? base + 1 : path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        dir[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        strcpy(dir, ".");
    uv_fs_event_init(&s->loop, &s->state_event);
    s->state_event.data = s;
    if (uv_fs_event_start(&s->state_event, on_state_dir, dir, 0) != 0)
        log_event(LOG_WARN, "state_file_watch_failed", "dir", dir, "fallback", "poll every 2 s",
                  NULL);
    uv_fs_poll_init(&s->loop, &s->state_poll);
    s->state_poll.data = s;
    uv_fs_poll_start(&s->state_poll, on_state_poll, path, 2000);
}

static void on_heartbeat(uv_timer_t *t)
{
    server *s = t->data;
    control_heartbeat(s->ctl);
}

static void start_heartbeat(server *s)
{
    uv_timer_init(&s->loop, &s->heartbeat);
    s->heartbeat.data = s;
    uv_timer_start(&s->heartbeat, on_heartbeat, STORE_HEARTBEAT_MS, STORE_HEARTBEAT_MS);
}

static void on_signal(uv_signal_t *h, int signum)
{
    server *s = h->data;
    if (signum == SIGUSR1) { /* logrotate moved the files: reopen both */
        analyzer_request_reopen(s->an);
        if (s->cfg->log_file) {
            int rc = log_open(s->cfg->log_file);
            log_event(rc ? LOG_ERROR : LOG_INFO, "log_reopened", "path", s->cfg->log_file,
                      "error", rc ? strerror(-rc) : NULL, NULL);
        }
        return;
    }
    if (signum == SIGHUP) {
        control_reload(s->ctl, "SIGHUP", NULL);
        return;
    }
    if (++s->signals_seen > 1) {
        log_event(LOG_WARN, "exit_now", "signal", strsignal(signum), NULL);
        _exit(1);
    }
    log_event(LOG_INFO, "draining", "signal", strsignal(signum), NULL);
    drain_all(s);
}

static void on_worker_exit(uv_async_t *a)
{
    server *s = a->data;
    int alive = 0;
    for (int i = 0; i < s->running; i++)
        alive += !atomic_load(&s->workers[i].exited);
    if (alive > 0)
        return;
    if (s->has_signals) {
        uv_close((uv_handle_t *)&s->sigterm, NULL);
        uv_close((uv_handle_t *)&s->sigint, NULL);
        uv_close((uv_handle_t *)&s->sigusr1, NULL);
        uv_close((uv_handle_t *)&s->sighup, NULL);
    }
    uv_close((uv_handle_t *)&s->worker_exit, NULL);
    uv_close((uv_handle_t *)&s->stop, NULL);
    ids_keeper_close_timer(s->ids);
    if (s->watching) {
        uv_close((uv_handle_t *)&s->state_debounce, NULL);
        uv_close((uv_handle_t *)&s->heartbeat, NULL);
        if (s->state_path) {
            uv_close((uv_handle_t *)&s->state_event, NULL);
            uv_close((uv_handle_t *)&s->state_poll, NULL);
        }
    }
}

static void log_totals(void)
{
    char buf[VERDICT_COUNT][24];
    for (int v = 0; v < VERDICT_COUNT; v++)
        snprintf(buf[v], sizeof buf[v], "%llu", (unsigned long long)metric_verdict_get((verdict)v));
    char req[24], lost[24], written[24];
    snprintf(req, sizeof req, "%llu", (unsigned long long)metric_get(METRIC_requests));
    snprintf(written, sizeof written, "%llu", (unsigned long long)metric_get(METRIC_records_written));
    snprintf(lost, sizeof lost, "%llu", (unsigned long long)metric_get(METRIC_records_lost));
    log_event(LOG_INFO, "totals", "requests", req, "match", buf[VERDICT_MATCH], "mismatch",
              buf[VERDICT_MISMATCH], "known", buf[VERDICT_KNOWN], "shadow_error", buf[VERDICT_SHADOW_ERROR], "shadow_timeout",
              buf[VERDICT_SHADOW_TIMEOUT], "shadow_dropped", buf[VERDICT_SHADOW_DROPPED],
              "skipped", buf[VERDICT_SKIPPED], "authoritative_error",
              buf[VERDICT_AUTHORITATIVE_ERROR], "write_paused", buf[VERDICT_WRITE_PAUSED],
              "id_unknown", buf[VERDICT_ID_UNKNOWN],
              "records_written", written, "records_lost", lost,
              NULL);
}

static int start_workers(server *s)
{
    int port = s->cfg->listen_port;
    for (int i = 0; i < s->nworkers; i++) {
        int fd = open_listener(s->cfg->listen_host, &port, i == 0);
        if (fd < 0) {
            char addr[300];
            snprintf(addr, sizeof addr, "%s:%d", s->cfg->listen_host, port);
            log_event(LOG_ERROR, "listen_failed", "address", addr, "error", strerror(-fd), NULL);
            return -1;
        }
        int rc = worker_start(&s->workers[i], i, s->cfg, s->an, fd, control_rules(s->ctl),
                              control_ops(s->ctl), &s->worker_exit);
        if (rc != 0) {
            close(fd);
            log_event(LOG_ERROR, "worker_start_failed", "error", strerror(-rc), NULL);
            return -1;
        }
        s->running++;
    }
    s->port = port;
    char addr[300], nw[16];
    snprintf(addr, sizeof addr, "%s:%d", s->cfg->listen_host, port);
    snprintf(nw, sizeof nw, "%d", s->nworkers);
    rules *r = control_rules(s->ctl);
    char admin_addr[300] = "off";
    if (s->adm) { /* the configured host, with the port actually bound */
        const char *colon = strrchr(s->cfg->admin_listen, ':');
        int hostlen = colon ? (int)(colon - s->cfg->admin_listen) : 0;
        snprintf(admin_addr, sizeof admin_addr, "%.*s:%d", hostlen, s->cfg->admin_listen,
                 admin_port(s->adm));
    }
    log_event(LOG_INFO, "listening", "address", addr, "workers", nw, "admin", admin_addr,
              "rules", s->cfg->rules_path ? s->cfg->rules_path : "(none)", "rules_version",
              r->version, "legacy",
              s->cfg->upstream[SIDE_LEGACY].url, "new", s->cfg->upstream[SIDE_NEW].url,
              "authority", config_side_name(s->cfg->authority), "diff_log",
              s->cfg->diff_log_path, NULL);
    rules_unref(r);
    return 0;
}

static void on_stop(uv_async_t *a)
{
    server *s = a->data;
    if (s->signals_seen++ == 0)
        drain_all(s);
}

void server_stop(server *s)
{
    uv_async_send(&s->stop);
}

int server_run(const sp_config *cfg, rules *r, ops_state *o, store *st)
{
    return server_run_with(cfg, r, o, st, NULL);
}

int server_run_with(const sp_config *cfg, rules *r, ops_state *o, store *st,
                    const server_hooks *hooks)
{
    server s = {.cfg = cfg, .hooks = hooks, .state_path = st ? store_file_path(st) : NULL};
    s.nworkers = cfg->workers > 0 ? cfg->workers : 1;
    signal(SIGPIPE, SIG_IGN);
    int rc = analyzer_start(&s.an, cfg);
    if (rc != 0) {
        log_event(LOG_ERROR, "difflog_open_failed", "path", cfg->diff_log_path, "error",
                  difflog_strerror(rc), NULL);
        rules_unref(r);
        ops_unref(o);
        store_close(st);
        return 1;
    }
    s.ctl = control_new(cfg, s.an, r, o, st);
    s.workers = calloc((size_t)s.nworkers, sizeof *s.workers);
    if (!s.ctl || !s.workers || uv_loop_init(&s.loop) != 0) {
        analyzer_stop(s.an);
        free(s.workers);
        if (s.ctl)
            control_free(s.ctl);
        else {
            rules_unref(r);
            ops_unref(o);
            store_close(st);
        }
        return 1;
    }
    uv_async_init(&s.loop, &s.worker_exit, on_worker_exit);
    s.worker_exit.data = &s;
    uv_async_init(&s.loop, &s.stop, on_stop);
    s.stop.data = &s;
    s.has_signals = !(hooks && hooks->no_signals);
    uv_signal_t *sigs[] = {&s.sigterm, &s.sigint, &s.sigusr1, &s.sighup};
    int nums[] = {SIGTERM, SIGINT, SIGUSR1, SIGHUP};
    for (int i = 0; s.has_signals && i < 4; i++) {
        uv_signal_init(&s.loop, sigs[i]);
        sigs[i]->data = &s;
        uv_signal_start(sigs[i], on_signal, nums[i]);
        /* /readyz says 503 from the signal itself, not from the loop's
         * turn (base/drainsig.h). Without it the drain still works, only
         * a moment later. */
        int chained = nums[i] == SIGTERM || nums[i] == SIGINT ? drainsig_chain(nums[i]) : 0;
        if (chained != 0)
            log_event(LOG_WARN, "drain_signal_not_chained", "signal", strsignal(nums[i]),
                      "error", strerror(-chained), NULL);
    }
    int exit_code = 0;
    char err[512] = "";
    s.ids = ids_keeper_start(&s.loop, cfg, st); /* before any worker learns or looks up */
    if (cfg->admin_listen && *cfg->admin_listen &&
        admin_start(&s.adm, s.ctl, cfg, err, sizeof err) != 0) {
        log_event(LOG_ERROR, "admin_start_failed", "listen", cfg->admin_listen, "error", err,
                  NULL);
        exit_code = 1;
        s.signals_seen = 1;
        on_worker_exit(&s.worker_exit);
    } else if (start_workers(&s) != 0) {
        exit_code = 1;
        s.signals_seen = 1;
        drain_all(&s);
        if (s.running == 0)
            on_worker_exit(&s.worker_exit);
    }
    if (exit_code == 0) {
        control_attach_workers(s.ctl, s.workers, s.running);
        watch_state_file(&s);
        start_heartbeat(&s);
        control_start_store(s.ctl);
        if (hooks && hooks->on_ready)
            hooks->on_ready(&s, s.port, hooks->arg);
    }
    uv_run(&s.loop, UV_RUN_DEFAULT);
    if (s.adm)
        admin_stop(s.adm);
    control_attach_workers(s.ctl, NULL, 0);
    for (int i = 0; i < s.running; i++)
        worker_join(&s.workers[i]);
    ids_keeper_stop(s.ids); /* no worker learns any more: the last save */
    uv_loop_close(&s.loop);
    analyzer_stop(s.an); /* compares and writes what is queued */
    log_totals();
    if (hooks && hooks->on_done)
        hooks->on_done(hooks->arg);
    free(s.workers);
    control_free(s.ctl);
    metrics_shutdown(); /* no thread writes or scrapes any more */
    return exit_code;
}
