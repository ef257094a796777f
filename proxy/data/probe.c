/* probe: parallel TCP connect probes (see probe.h). Non-blocking connect
 * plus poll(), one socket per target at a time. */
#include "data/probe.h"

#include <curl/curl.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct probe {
    probe_result *r;
    char host[256], port[8];
    struct addrinfo *res, *next;
    int fd;
    bool done;
} probe;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* host and port of a base URL, with libcurl's URL parser. */
static int probe_target(probe *p, const char *url)
{
    CURLU *u = curl_url();
    char *host = NULL, *port = NULL;
    int rc = -EINVAL;
    if (u && url && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
        size_t n = strlen(host);
        if (n >= 2 && host[0] == '[' && host[n - 1] == ']') /* IPv6 literal */
            snprintf(p->host, sizeof p->host, "%.*s", (int)(n - 2), host + 1);
        else
            snprintf(p->host, sizeof p->host, "%s", host);
        snprintf(p->port, sizeof p->port, "%s", port);
        snprintf(p->r->address, sizeof p->r->address,
                 strchr(p->host, ':') ? "[%s]:%s" : "%s:%s", p->host, p->port);
        rc = 0;
    }
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return rc;
}

static void probe_error(probe *p, const char *fmt, const char *detail)
{
    snprintf(p->r->error, sizeof p->r->error, fmt, detail);
}

/* Starts a connect to the next address; when none is left the probe is
 * done (failed, with the last address's error). */
static void probe_next(probe *p)
{
    while (p->next) {
        struct addrinfo *ai = p->next;
        p->next = ai->ai_next;
        int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            probe_error(p, "%s", strerror(errno));
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS) {
            p->fd = fd; /* poll() reports the outcome, even of an immediate success */
            return;
        }
        probe_error(p, "%s", strerror(errno));
        close(fd);
    }
    p->done = true;
}

static void probe_start(probe *p, probe_result *r, const char *url)
{
    memset(r, 0, sizeof *r);
    *p = (probe){.r = r, .fd = -1};
    if (probe_target(p, url) != 0) {
        probe_error(p, "cannot parse the URL %s", url ? url : "(none)");
        p->done = true;
        return;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV};
    int rc = getaddrinfo(p->host, p->port, &hints, &p->res);
    if (rc != 0) {
        probe_error(p, "cannot resolve host: %s", gai_strerror(rc));
        p->done = true;
        return;
    }
    p->next = p->res;
    probe_next(p);
}

/* poll() said something about p->fd: connected, or try the next address. */
static void probe_event(probe *p)
{
    int soerr = 0;
    socklen_t len = sizeof soerr;
    if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
        soerr = errno;
    close(p->fd);
    p->fd = -1;
    if (soerr == 0) {
        p->r->ok = p->done = true;
        p->r->error[0] = '\0';
        return;
    }
    probe_error(p, "%s", strerror(soerr));
    probe_next(p);
}

/* Ends every probe still running with `why`. */
static void probe_give_up(probe *p, size_t n, const char *why)
{
    for (size_t i = 0; i < n; i++)
        if (!p[i].done) {
            if (p[i].fd >= 0)
                close(p[i].fd);
            p[i].fd = -1;
            probe_error(&p[i], "%s", why);
            p[i].done = true;
        }
}

void probe_urls(const char *const *urls, size_t n, int timeout_ms, probe_result *out)
{
    probe p[PROBE_MAX];
    if (n > PROBE_MAX)
        n = PROBE_MAX;
    for (size_t i = 0; i < n; i++)
        probe_start(&p[i], &out[i], urls[i]);
    double deadline = now_ms() + timeout_ms;
    for (;;) {
        struct pollfd fds[PROBE_MAX];
        size_t idx[PROBE_MAX], k = 0;
        for (size_t i = 0; i < n; i++)
            if (!p[i].done) {
                fds[k] = (struct pollfd){.fd = p[i].fd, .events = POLLOUT};
                idx[k++] = i;
            }
        double left = deadline - now_ms();
        if (k == 0)
            break;
        if (left <= 0) {
            char why[64];
            snprintf(why, sizeof why, "no connection within %d ms", timeout_ms);
            probe_give_up(p, n, why);
            break;
        }
        int rc = poll(fds, k, (int)left + 1);
        if (rc < 0 && errno != EINTR) {
            probe_give_up(p, n, strerror(errno));
            break;
        }
        for (size_t j = 0; rc > 0 && j < k; j++)
            if (fds[j].revents)
                probe_event(&p[idx[j]]);
    }
    for (size_t i = 0; i < n; i++)
        if (p[i].res)
            freeaddrinfo(p[i].res);
}
