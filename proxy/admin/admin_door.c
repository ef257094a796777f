/* admin_door: the admin listener's front door (docs/operations.md,
 * "Limits"). One thread accepts every connection and holds it, reading
 * nothing (MSG_PEEK), until its whole request head has arrived:
 *
 *   accept ──► pending (at most ADMIN_PENDING_MAX, oldest dropped first)
 *                 head incomplete after ADMIN_HEAD_TIMEOUT_MS → closed
 *                 "GET|HEAD /healthz" with its head → answered here, closed
 *                 any other whole head → MHD_add_connection (MHD's own
 *                   limits: 16 connections, 8 per address, one thread each)
 *
 * Why: MHD's idle timeout restarts with every byte, so a client sending a
 * byte every few seconds held one of the 16 connection threads for good,
 * and 16 such sockets kept the liveness probe unanswered. Here a trickling
 * head costs one pollfd until its deadline, never a thread, and /healthz
 * needs no MHD slot at all. A pending socket whose head is partly there is
 * not polled for input (its unread bytes would wake poll at once): it is
 * looked at again every ADMIN_DOOR_TICK_MS, when FIONREAD says it grew. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "admin/admin_int.h"
#include "base/clock.h"
#include "base/log.h"

#define ADMIN_DOOR_TICK_MS 20
#define HEAD_PEEK 16384 /* a longer head goes to MHD, which answers 431 past its memory limit */

typedef struct pending {
    int fd;
    int64_t since_ms;
    size_t seen; /* bytes waiting at the last look; 0: poll for input */
    struct sockaddr_storage addr;
    socklen_t alen;
} pending;

struct admin_door {
    admin *a;
    int lfd;
    int wake[2]; /* admin_door_stop writes a byte */
    pthread_t thread;
    pending p[ADMIN_PENDING_MAX];
    size_t n;
    char buf[HEAD_PEEK];
};

static int64_t now_ms(void)
{
    return (int64_t)(clock_now_ns() / 1000000u);
}

static void drop(admin_door *d, size_t i, bool close_it)
{
    assert(i < d->n);
    if (close_it)
        close(d->p[i].fd);
    d->p[i] = d->p[--d->n];
}

static void accept_all(admin_door *d)
{
    for (;;) {
        pending c = {.since_ms = now_ms(), .alen = sizeof c.addr};
        c.fd = accept4(d->lfd, (struct sockaddr *)&c.addr, &c.alen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c.fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                log_event(LOG_WARN, "admin_accept_failed", "error", strerror(errno), NULL);
            return; /* EMFILE and the like: poll again at the next tick */
        }
        if (d->n == ADMIN_PENDING_MAX) { /* the oldest is the likeliest to trickle */
            size_t old = 0;
            for (size_t i = 1; i < d->n; i++)
                if (d->p[i].since_ms < d->p[old].since_ms)
                    old = i;
            log_event(LOG_DEBUG, "admin_pending_dropped", "why", "too many heads pending", NULL);
            drop(d, old, true);
        }
        d->p[d->n++] = c;
    }
}

/* Where the head ends (after its blank line; MHD accepts bare LF too), or 0. */
static size_t head_end(const char *b, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++) {
        if (b[i] != '\n')
            continue;
        if (b[i + 1] == '\n')
            return i + 2;
        if (i + 2 < n && b[i + 1] == '\r' && b[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

/* "GET /healthz" or "HEAD /healthz", then a space or a query. */
static bool is_liveness(const char *b, size_t n, bool *head)
{
    static const char *const lines[] = {"GET /healthz", "HEAD /healthz"};
    for (int k = 0; k < 2; k++) {
        size_t len = strlen(lines[k]);
        if (n > len && memcmp(b, lines[k], len) == 0 && (b[len] == ' ' || b[len] == '?')) {
            *head = k == 1;
            return true;
        }
    }
    return false;
}

/* /healthz, as admin_h_healthz answers it, and the connection closes. */
static void answer_liveness(int fd, size_t head_len, bool head_only)
{
    static const char body[] = "{\n  \"status\": \"ok\"\n}\n";
    char out[400];
    int n = snprintf(out, sizeof out,
                     "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
                     "Cross-Origin-Resource-Policy: same-origin\r\nConnection: close\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     sizeof body - 1, head_only ? "" : body);
    char sink[HEAD_PEEK];
    ssize_t got = recv(fd, sink, head_len, 0); /* the head, peeked whole before */
    if (got == (ssize_t)head_len && n > 0 && (size_t)n < sizeof out)
        (void)!send(fd, out, (size_t)n, MSG_NOSIGNAL); /* fresh socket: fits its buffer */
    shutdown(fd, SHUT_WR);
}

/* Looks at pending i; true when it left the list. */
static bool examine(admin_door *d, size_t i)
{
    pending *c = &d->p[i];
    ssize_t n = recv(c->fd, d->buf, sizeof d->buf, MSG_PEEK);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return false;
    if (n <= 0) { /* closed or broken before its head */
        drop(d, i, true);
        return true;
    }
    size_t end = head_end(d->buf, (size_t)n);
    if (!end && (size_t)n < sizeof d->buf) {
        c->seen = (size_t)n;
        return false;
    }
    bool head_only = false;
    if (end && is_liveness(d->buf, end, &head_only)) {
        answer_liveness(c->fd, end, head_only);
        drop(d, i, true);
        return true;
    }
    /* MHD closes the socket whether it takes it or not (its limits). */
    if (MHD_add_connection(d->a->mhd, c->fd, (const struct sockaddr *)&c->addr, c->alen) != MHD_YES)
        log_event(LOG_DEBUG, "admin_connection_refused", "error", strerror(errno), NULL);
    drop(d, i, false);
    return true;
}

/* Bytes waiting on fd, or 0. */
static size_t waiting(int fd)
{
    int n = 0;
    return ioctl(fd, FIONREAD, &n) == 0 && n > 0 ? (size_t)n : 0;
}

static void *door_main(void *arg)
{
    admin_door *d = arg;
    struct pollfd fds[2 + ADMIN_PENDING_MAX];
    for (;;) {
        fds[0] = (struct pollfd){.fd = d->wake[0], .events = POLLIN};
        fds[1] = (struct pollfd){.fd = d->lfd, .events = POLLIN};
        size_t polled = d->n; /* the entries of fds[2..] */
        bool partial = false;
        for (size_t i = 0; i < polled; i++) {
            fds[2 + i] = (struct pollfd){.fd = d->p[i].fd, .events = d->p[i].seen ? 0 : POLLIN};
            partial |= d->p[i].seen > 0;
        }
        int timeout = partial ? ADMIN_DOOR_TICK_MS : d->n ? ADMIN_HEAD_TIMEOUT_MS / 10 : -1;
        if (poll(fds, 2 + polled, timeout) < 0 && errno != EINTR) {
            log_event(LOG_ERROR, "admin_door_failed", "error", strerror(errno), NULL);
            usleep(100000); /* cannot happen (EFAULT, EINVAL); do not spin */
            continue;
        }
        if (fds[0].revents)
            return NULL;
        int64_t now = now_ms();
        /* backwards: drop() moves the last entry into the hole */
        for (size_t i = polled; i-- > 0;) {
            pending *c = &d->p[i];
            bool ready = fds[2 + i].revents || (c->seen && waiting(c->fd) > c->seen);
            if (ready && examine(d, i))
                continue;
            if (now - c->since_ms > ADMIN_HEAD_TIMEOUT_MS) {
                log_event(LOG_DEBUG, "admin_head_timeout", "why",
                          "the request head did not arrive in time", NULL);
                drop(d, i, true);
            }
        }
        if (fds[1].revents)
            accept_all(d);
    }
}

int admin_door_start(admin *a, int lfd, admin_door **out, char *err, size_t errsize)
{
    *out = NULL;
    admin_door *d = calloc(1, sizeof *d);
    int fl = fcntl(lfd, F_GETFL);
    if (!d || fl < 0 || fcntl(lfd, F_SETFL, fl | O_NONBLOCK) < 0 ||
        pipe2(d->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
        int e = d ? errno : ENOMEM;
        admin_set_err(err, errsize, "admin: cannot set up the listener: %s", strerror(e));
        free(d);
        return -e;
    }
    d->a = a;
    d->lfd = lfd;
    int rc = pthread_create(&d->thread, NULL, door_main, d);
    if (rc != 0) {
        admin_set_err(err, errsize, "admin: cannot start a thread: %s", strerror(rc));
        close(d->wake[0]);
        close(d->wake[1]);
        free(d);
        return -rc;
    }
    *out = d;
    return 0;
}

void admin_door_stop(admin_door *d)
{
    if (!d)
        return;
    (void)!write(d->wake[1], "x", 1);
    pthread_join(d->thread, NULL);
    while (d->n > 0)
        drop(d, d->n - 1, true);
    close(d->lfd);
    close(d->wake[0]);
    close(d->wake[1]);
    free(d);
}
