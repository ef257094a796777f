/* stub: command line, the listening socket, the accept loop and signals.
 * The main thread only waits for SIGINT/SIGTERM (sigwait, no work in a
 * signal handler); an accept thread hands each connection to its own
 * detached thread (conn.c). */
#include "stub.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CONN_STACK (512 * 1024)

struct opts {
    const char *listen, *port_file, *log;
    const char *tls_cert, *tls_key, *tls_client_ca, *tls_max;
    struct stub_cfg cfg;
};

struct acceptor {
    int fd;
    const struct stub_cfg *cfg;
    atomic_int active;
};

struct job {
    int fd;
    struct acceptor *a;
};

static void usage(FILE *f)
{
    fputs("usage: sp-stub --listen HOST:PORT [--name NAME]\n"
          "               [--profile legacy|new|plain] [--noise] [--volatile]\n"
          "               [--sync-lag-ms N|always]\n"
          "               [--generated-ids PREFIX]\n"
          "               [--port-file FILE]\n"
          "               [--log FILE] [--delay-ms N]\n"
          "               [--fail close|reset|garbage|status500|hang]\n"
          "               [--max-conns N]\n"
          "               [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]\n"
          "                [--tls-max-version 1.2|1.3]]\n"
          "See tests/stub/README.md for routes and X-Stub-Ctl directives.\n",
          f);
}

static bool parse_long(const char *s, long max, long *out)
{
    uint64_t v;
    if (!parse_u64(s, strlen(s), (uint64_t)max, &v))
        return false;
    *out = (long)v;
    return true;
}

static bool parse_fail(const char *s, enum stub_action *a)
{
    static const struct {
        const char *name;
        enum stub_action act;
    } t[] = {{"close", ACT_CLOSE},         {"reset", ACT_RESET},
             {"garbage", ACT_GARBAGE},     {"status500", ACT_STATUS500},
             {"hang", ACT_HANG}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (strcmp(s, t[i].name) == 0) {
            *a = t[i].act;
            return true;
        }
    return false;
}

static bool name_ok(const char *s)
{
    for (const char *p = s; *p; p++)
        if (!is_tchar((unsigned char)*p))
            return false;
    return *s != 0; /* it becomes part of a header name */
}

static bool parse_opt(int c, const char *arg, struct opts *o)
{
    long v;
    switch (c) {
    case 'l': o->listen = arg; return true;
    case 'n': o->cfg.name = arg; return name_ok(arg);
    case 'P': o->port_file = arg; return true;
    case 'L': o->log = arg; return true;
    case 'f': return parse_fail(arg, &o->cfg.fail);
    case 'N': o->cfg.noise = true; return true;
    case 'v': o->cfg.volatile_ = true; return true;
    case 'S':
        if (strcmp(arg, "always") == 0) {
            o->cfg.sync_lag_ms = -1;
            return true;
        }
        if (!parse_long(arg, 3600000, &v))
            return false;
        o->cfg.sync_lag_ms = v;
        return true;
    case 'g': o->cfg.generated_ids = arg; return name_ok(arg);
    case 'C': o->tls_cert = arg; return true;
    case 'K': o->tls_key = arg; return true;
    case 'A': o->tls_client_ca = arg; return true;
    case 'V':
        o->tls_max = arg;
        return strcmp(arg, "1.2") == 0 || strcmp(arg, "1.3") == 0;
    case 'd':
        if (!parse_long(arg, 3600000, &v))
            return false;
        o->cfg.delay_ms = v;
        return true;
    case 'm':
        if (!parse_long(arg, 1000000, &v))
            return false;
        o->cfg.max_conns = (int)v;
        return true;
    case 'p':
        if (strcmp(arg, "legacy") == 0)
            o->cfg.profile = PROFILE_LEGACY;
        else if (strcmp(arg, "new") == 0)
            o->cfg.profile = PROFILE_NEW;
        else if (strcmp(arg, "plain") == 0)
            o->cfg.profile = PROFILE_PLAIN;
        else
            return false;
        return true;
    }
    return false;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    static const struct option lo[] = {
        {"listen", required_argument, NULL, 'l'},
        {"name", required_argument, NULL, 'n'},
        {"profile", required_argument, NULL, 'p'},
        {"port-file", required_argument, NULL, 'P'},
        {"log", required_argument, NULL, 'L'},
        {"delay-ms", required_argument, NULL, 'd'},
        {"fail", required_argument, NULL, 'f'},
        {"max-conns", required_argument, NULL, 'm'},
        {"noise", no_argument, NULL, 'N'},
        {"volatile", no_argument, NULL, 'v'},
        {"sync-lag-ms", required_argument, NULL, 'S'},
        {"generated-ids", required_argument, NULL, 'g'},
        {"tls-cert", required_argument, NULL, 'C'},
        {"tls-key", required_argument, NULL, 'K'},
        {"tls-client-ca", required_argument, NULL, 'A'},
        {"tls-max-version", required_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof *o);
    o->cfg.name = "stub";
    o->cfg.profile = PROFILE_LEGACY;
    o->cfg.log_fd = -1;
    int c, idx = 0;
    while ((c = getopt_long(argc, argv, "", lo, &idx)) != -1) {
        if (c == 'h') {
            usage(stdout);
            exit(0);
        }
        if (c == '?' || !parse_opt(c, optarg, o)) {
            if (c != '?')
                fprintf(stderr, "sp-stub: bad value for --%s: %s\n",
                        lo[idx].name, optarg);
            usage(stderr);
            return -1;
        }
    }
    if (optind != argc || !o->listen) {
        usage(stderr);
        return -1;
    }
    if (!o->tls_cert != !o->tls_key ||
        ((o->tls_client_ca || o->tls_max) && !o->tls_cert)) {
        fputs("sp-stub: --tls-cert and --tls-key go together; "
              "--tls-client-ca and --tls-max-version need them\n", stderr);
        usage(stderr);
        return -1;
    }
    if (o->cfg.noise && o->cfg.profile != PROFILE_NEW) {
        fputs("sp-stub: --noise needs --profile new\n", stderr);
        usage(stderr);
        return -1;
    }
    return 0;
}

/* "HOST:PORT", "[V6]:PORT" or ":PORT" (all interfaces). */
static int listen_on(const char *spec)
{
    char host[256];
    const char *colon = strrchr(spec, ':');
    if (!colon || (size_t)(colon - spec) >= sizeof host)
        return -1;
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = 0;
    char *h = host;
    if (h[0] == '[' && h[strlen(h) - 1] == ']') {
        h[strlen(h) - 1] = 0;
        h++;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res, *ai;
    int rc = getaddrinfo(*h ? h : NULL, colon + 1, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "sp-stub: %s: %s\n", spec, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 4096) < 0) {
            fprintf(stderr, "sp-stub: %s: %s\n", spec, strerror(errno));
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    return fd;
}

/* Written atomically (temp + rename) so a reader never sees half a file. */
static int write_port_file(const char *path, int port)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    fprintf(f, "%d\n", port);
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

static int report_address(int fd, const char *port_file)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char addr[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
        return -1;
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, addr, sizeof addr);
        port = ntohs(s6->sin6_port);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &s4->sin_addr, addr, sizeof addr);
        port = ntohs(s4->sin_port);
    }
    if (port_file && write_port_file(port_file, port) < 0) {
        fprintf(stderr, "sp-stub: %s: %s\n", port_file, strerror(errno));
        return -1;
    }
    fprintf(stderr, ss.ss_family == AF_INET6 ? "listening on [%s]:%d\n"
                                             : "listening on %s:%d\n",
            addr, port);
    return 0;
}

static void *conn_thread(void *arg)
{
    struct job *j = arg;
    conn_serve(j->fd, j->a->cfg);
    atomic_fetch_sub(&j->a->active, 1);
    free(j);
    return NULL;
}

static void *accept_loop(void *arg)
{
    struct acceptor *a = arg;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, CONN_STACK);
    for (;;) {
        int fd = accept4(a->fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EINTR && errno != ECONNABORTED)
                sleep_ms(10); /* EMFILE and friends: let others finish */
            continue;
        }
        /* Over the limit: close at once, so the client sees a clean EOF
         * instead of waiting in the backlog. */
        if (a->cfg->max_conns && atomic_load(&a->active) >= a->cfg->max_conns) {
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct job *j = xmalloc(sizeof *j);
        j->fd = fd;
        j->a = a;
        pthread_t t;
        atomic_fetch_add(&a->active, 1);
        if (pthread_create(&t, &attr, conn_thread, j) != 0) {
            atomic_fetch_sub(&a->active, 1);
            close(fd);
            free(j);
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    struct opts o;
    if (parse_args(argc, argv, &o) < 0)
        return 2;
    signal(SIGPIPE, SIG_IGN);
    /* Blocked before any thread starts, so only sigwait below sees them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (o.log) {
        o.cfg.log_fd = open(o.log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
                            0644);
        if (o.cfg.log_fd < 0) {
            fprintf(stderr, "sp-stub: %s: %s\n", o.log, strerror(errno));
            return 1;
        }
    }
    if (o.tls_cert && tls_setup(&o.cfg, o.tls_cert, o.tls_key, o.tls_client_ca,
                                o.tls_max) < 0)
        return 1;
    pattern_init();
    static struct acceptor a;
    a.cfg = &o.cfg;
    a.fd = listen_on(o.listen);
    if (a.fd < 0 || report_address(a.fd, o.port_file) < 0)
        return 1;
    pthread_t t;
    if (pthread_create(&t, NULL, accept_loop, &a) != 0) {
        fputs("sp-stub: cannot start the accept thread\n", stderr);
        return 1;
    }
    int sig = 0;
    sigwait(&set, &sig);
    /* Connection threads are detached and own nothing that must be
     * flushed: log lines are written whole, so exiting now is safe. */
    _exit(0);
}
