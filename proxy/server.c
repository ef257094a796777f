#include "server.h"

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

#include "analyzer.h"
#include "log.h"
#include "metrics.h"
#include "worker.h"

typedef struct server {
    const sp_config *cfg;
    uv_loop_t loop;
    uv_signal_t sigterm, sigint, sigusr1, sighup;
    uv_async_t worker_exit;
    worker *workers;
    int nworkers, running;
    analyzer *an;
    rules *rules;         /* the current set, handed to workers */
    int signals_seen;
} server;

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
    for (int i = 0; i < s->running; i++)
        if (!atomic_load(&s->workers[i].exited))
            worker_command(&s->workers[i], WORKER_CMD_DRAIN);
}

/* A new rule set is validated in full and swapped in for every worker at
 * once; requests in flight keep the set they started with. An invalid file
 * changes nothing: every error is logged and the old set stays. */
static void reload_rules(server *s)
{
    const char *path = s->cfg->rules_path;
    if (!path) {
        log_event(LOG_INFO, "rules_reload_skipped", "why", "no rules file configured", NULL);
        return;
    }
    config_errors errs = {0};
    rules *r = rules_load_file(path, &errs);
    if (!r) {
        metric_add(METRIC_rules_reload_failed, 1);
        for (size_t i = 0; i < errs.n; i++) {
            char where[600];
            if (errs.v[i].line > 0)
                snprintf(where, sizeof where, "%s:%d:%d", path, errs.v[i].line, errs.v[i].column);
            else
                snprintf(where, sizeof where, "%s", path);
            log_event(LOG_ERROR, "rules_invalid", "where", where, "error", errs.v[i].message, NULL);
        }
        log_event(LOG_ERROR, "rules_reload_failed", "path", path, "kept", s->rules->version, NULL);
        config_errors_free(&errs);
        return;
    }
    config_errors_free(&errs);
    for (int i = 0; i < s->running; i++)
        if (!atomic_load(&s->workers[i].exited))
            worker_set_rules(&s->workers[i], rules_ref(r));
    log_event(LOG_INFO, "rules_reloaded", "path", path, "old", s->rules->version, "new",
              r->version, NULL);
    rules_unref(s->rules);
    s->rules = r;
    metric_add(METRIC_rules_reloaded, 1);
}

static void on_signal(uv_signal_t *h, int signum)
{
    server *s = h->data;
    if (signum == SIGUSR1) {
        analyzer_request_reopen(s->an);
        return;
    }
    if (signum == SIGHUP) {
        reload_rules(s);
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
    uv_close((uv_handle_t *)&s->sigterm, NULL);
    uv_close((uv_handle_t *)&s->sigint, NULL);
    uv_close((uv_handle_t *)&s->sigusr1, NULL);
    uv_close((uv_handle_t *)&s->sighup, NULL);
    uv_close((uv_handle_t *)&s->worker_exit, NULL);
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
              buf[VERDICT_AUTHORITATIVE_ERROR], "records_written", written, "records_lost", lost,
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
        int rc = worker_start(&s->workers[i], i, s->cfg, s->an, fd, rules_ref(s->rules),
                              &s->worker_exit);
        if (rc != 0) {
            close(fd);
            log_event(LOG_ERROR, "worker_start_failed", "error", strerror(-rc), NULL);
            return -1;
        }
        s->running++;
    }
    char addr[300], nw[16];
    snprintf(addr, sizeof addr, "%s:%d", s->cfg->listen_host, port);
    snprintf(nw, sizeof nw, "%d", s->nworkers);
    log_event(LOG_INFO, "listening", "address", addr, "workers", nw, "rules",
              s->cfg->rules_path ? s->cfg->rules_path : "(none)", "rules_version",
              s->rules->version, "legacy",
              s->cfg->upstream[SIDE_LEGACY].url, "new", s->cfg->upstream[SIDE_NEW].url,
              "authority", config_side_name(s->cfg->authority), "diff_log",
              s->cfg->diff_log_path, NULL);
    return 0;
}

int server_run(const sp_config *cfg, rules *r)
{
    server s = {.cfg = cfg, .rules = r};
    s.nworkers = cfg->workers > 0 ? cfg->workers : 1;
    signal(SIGPIPE, SIG_IGN);
    int rc = analyzer_start(&s.an, cfg);
    if (rc != 0) {
        log_event(LOG_ERROR, "difflog_open_failed", "path", cfg->diff_log_path, "error",
                  strerror(-rc), NULL);
        rules_unref(r);
        return 1;
    }
    s.workers = calloc((size_t)s.nworkers, sizeof *s.workers);
    if (!s.workers || uv_loop_init(&s.loop) != 0) {
        analyzer_stop(s.an);
        free(s.workers);
        rules_unref(r);
        return 1;
    }
    uv_async_init(&s.loop, &s.worker_exit, on_worker_exit);
    s.worker_exit.data = &s;
    uv_signal_t *sigs[] = {&s.sigterm, &s.sigint, &s.sigusr1, &s.sighup};
    int nums[] = {SIGTERM, SIGINT, SIGUSR1, SIGHUP};
    for (int i = 0; i < 4; i++) {
        uv_signal_init(&s.loop, sigs[i]);
        sigs[i]->data = &s;
        uv_signal_start(sigs[i], on_signal, nums[i]);
    }
    int exit_code = 0;
    if (start_workers(&s) != 0) {
        exit_code = 1;
        s.signals_seen = 1;
        drain_all(&s);
        if (s.running == 0)
            on_worker_exit(&s.worker_exit);
    }
    uv_run(&s.loop, UV_RUN_DEFAULT);
    for (int i = 0; i < s.running; i++)
        worker_join(&s.workers[i]);
    uv_loop_close(&s.loop);
    analyzer_stop(s.an); /* compares and writes what is queued */
    log_totals();
    free(s.workers);
    rules_unref(s.rules);
    return exit_code;
}
