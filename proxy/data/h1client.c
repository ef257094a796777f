#include "data/h1client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/h1parse.h"
#include "base/invariant.h"
#include "data/h1client_int.h"
#include "obs/metrics.h"

/* curl's defaults: a resolved name is kept 60 s (CURLOPT_DNS_CACHE_TIMEOUT),
 * an idle connection 118 s (CURLOPT_MAXAGE_CONN). */
#define DNS_CACHE_MS 60000
#define MAX_AGE_MS 118000

static uint64_t now_ms(const h1_pool *p) { return uv_now(p->loop); }

/* ---- the end of a transfer ---------------------------------------------- */

static void xfer_free(uv_handle_t *h)
{
    h1_xfer *x = h->data;
    free(x->error);
    free(x);
}

/* ---- the pool's two queues (pool->q[k], linked through x->next_in[k]) ------- */

static void q_push(h1_pool *p, int k, h1_xfer *x)
{
    x->next_in[k] = NULL;
    if (p->q[k].tail)
        p->q[k].tail->next_in[k] = x;
    else
        p->q[k].head = x;
    p->q[k].tail = x;
}

static h1_xfer *q_pop(h1_pool *p, int k)
{
    h1_xfer *x = p->q[k].head;
    if (x) {
        p->q[k].head = x->next_in[k];
        if (!p->q[k].head)
            p->q[k].tail = NULL;
        x->next_in[k] = NULL;
    }
    return x;
}

/* x out of queue k, wherever it is (a walk: the queues hold one turn's) */
static void q_remove(h1_pool *p, int k, h1_xfer *x)
{
    h1_xfer *prev = NULL;
    for (h1_xfer *q = p->q[k].head; q; prev = q, q = q->next_in[k])
        if (q == x) {
            if (prev)
                prev->next_in[k] = x->next_in[k];
            else
                p->q[k].head = x->next_in[k];
            if (p->q[k].tail == x)
                p->q[k].tail = prev;
            x->next_in[k] = NULL;
            return;
        }
}

static void on_kick(uv_timer_t *t)
{
    h1_pool *p = t->data;
    if (p->q[H1_Q_START].head)
        uv_update_time(p->loop);
    for (h1_xfer *x; (x = q_pop(p, H1_Q_START));) {
        x->queued = false;
        /* Its timeouts count from now, when it is sent, as curl's count
         * from its first turn: the authoritative leg's work this turn (a
         * first connection, long under valgrind) is not the shadow's. */
        x->start_ms = x->connect_ms = now_ms(p);
        h1x_arm_timer(x, true);
        h1x_get_conn(x); /* may finish it: reported below */
    }
    /* One at a time off the queue: a callback may end (h1_cancel) or
     * finish other transfers, which then leave or join it. */
    for (h1_xfer *x; (x = q_pop(p, H1_Q_DONE));) {
        x->reported = true;
        /* no words (a success, or no memory for them): the receiver falls
         * back to curl_easy_strerror(rc) */
        p->on_done(x->owner, x->rc, x->error ? x->error : "", x->os_errno);
        uv_close((uv_handle_t *)&x->timer, xfer_free);
    }
}

/* Out of the start queue (a transfer ended before it was sent). */
static void unqueue(h1_xfer *x)
{
    if (!x->queued)
        return;
    q_remove(x->pool, H1_Q_START, x);
    x->queued = false;
}

void h1x_finish(h1_xfer *x, CURLcode rc, int os_errno, const char *fmt, ...)
{
    if (x->finished)
        return;
    unqueue(x);
    x->finished = true;
    x->rc = rc;
    x->os_errno = os_errno;
    assert(!x->error);
    if (fmt) { /* failures only: a success allocates nothing here */
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(&x->error, fmt, ap) < 0)
            x->error = NULL;
        va_end(ap);
    }
    uv_timer_stop(&x->timer);
    h1_conn *c = x->conn;
    x->conn = NULL;
    if (c) {
        c->x = NULL;
        /* bytes beyond the whole answer (carried): nobody asked for them, and
         * they must not be read as the next request's answer */
        bool keep = rc == CURLE_OK && h1parse_keep_alive(&x->parser) && !x->paused &&
                    !x->send_errno;
        if (keep && c->carry_len) {
            metric_add(METRIC_h1_stray_closed, 1);
            keep = false;
        }
        /* Still writing: a server that answered before it read the whole
         * request (bytes still queued) leaves the connection unusable. With
         * nothing queued the request is out and only libuv's report of it
         * is due (the next turn: a request sent before the loop's poll is
         * often answered within it); the connection goes idle then, not
         * closed, which cost a connect for one shadow in 25 at 128
         * connections. */
        if (keep && c->writing && c->tcp.write_queue_size == 0)
            c->idle_after_write = true;
        else if (keep && !c->writing)
            h1c_idle(c);
        else
            h1c_close(c);
    }
    if (x->resolving)
        h1x_forget_resolve(x);
    q_push(x->pool, H1_Q_DONE, x);
    uv_timer_start(&x->pool->kick, on_kick, 0, 0);
}

void h1_cancel(h1_xfer *x)
{
    h1_pool *p = x->pool;
    unqueue(x);
    if (x->finished) { /* ended, not reported yet: never will be */
        q_remove(p, H1_Q_DONE, x);
        assert(!x->reported);
        uv_close((uv_handle_t *)&x->timer, xfer_free);
        return;
    }
    x->finished = true;
    uv_timer_stop(&x->timer);
    if (x->conn) {
        x->conn->x = NULL;
        h1c_close(x->conn); /* a half-sent request or half-read answer: unusable */
        x->conn = NULL;
    }
    if (x->resolving)
        h1x_forget_resolve(x);
    uv_close((uv_handle_t *)&x->timer, xfer_free);
}

/* ---- timeouts -------------------------------------------------------------- */

/* When the connect deadline comes before the total one. */
static bool connect_first(const h1_xfer *x)
{
    return x->connect_ms + (uint64_t)x->pool->cfg->connect_timeout_ms <
           x->start_ms + (uint64_t)x->req.timeout_ms;
}

static void on_timer(uv_timer_t *t)
{
    h1_xfer *x = t->data;
    uint64_t now = now_ms(x->pool);
    uint64_t spent = now - x->start_ms, connecting_for = now - x->connect_ms;
    bool connecting = !x->conn || !x->conn->connected;
    if (connecting && connect_first(x) &&
        (long)connecting_for >= x->pool->cfg->connect_timeout_ms)
        h1x_finish(x, CURLE_OPERATION_TIMEDOUT, ETIMEDOUT,
                   "Connection timed out after %llu milliseconds",
                   (unsigned long long)connecting_for);
    else
        h1x_finish(x, CURLE_OPERATION_TIMEDOUT, ETIMEDOUT,
                   "Operation timed out after %llu milliseconds with %llu bytes received",
                   (unsigned long long)spent, (unsigned long long)x->parser.seen);
}

/* The timer fires at the earlier of the connect deadline (while
 * connecting: connect_timeout_ms after this attempt began) and the total
 * one (the request's timeout after the transfer began). */
void h1x_arm_timer(h1_xfer *x, bool connecting)
{
    uint64_t deadline = x->start_ms + (uint64_t)x->req.timeout_ms;
    if (connecting && connect_first(x))
        deadline = x->connect_ms + (uint64_t)x->pool->cfg->connect_timeout_ms;
    uint64_t now = now_ms(x->pool);
    uv_timer_start(&x->timer, on_timer, deadline > now ? deadline - now : 0, 0);
}

/* ---- starting ----------------------------------------------------------------- */

h1_xfer *h1_start(h1_pool *p, const h1_request *r, void *owner)
{
    assert(!p->closing);
    h1_xfer *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    if (uv_timer_init(p->loop, &x->timer) != 0) {
        free(x);
        return NULL;
    }
    x->timer.data = x;
    x->pool = p;
    x->owner = owner;
    x->req = *r;
    /* The loop's cached time can be a whole turn old (long under load or
     * valgrind): the timeouts count from now, as curl's do. */
    uv_update_time(p->loop);
    x->start_ms = x->connect_ms = now_ms(p);
    h1parse_init(&x->parser, strcmp(r->method, "HEAD") == 0, h1x_on_head, h1x_on_body, x);
    h1x_arm_timer(x, true);
    /* Sent from the pool's timer, not now: the authoritative leg, started
     * just before and sent from curl's timer (armed first, so due first),
     * goes out first instead of waiting behind this write and its
     * loopback delivery. */
    x->queued = true;
    q_push(p, H1_Q_START, x);
    uv_timer_start(&p->kick, on_kick, 0, 0);
    return x;
}

/* ---- the pool ---------------------------------------------------------------- */

bool h1_supports(const config_upstream *u)
{
    return u && u->url && strncasecmp(u->url, "http://", 7) == 0;
}

/* Host, port and path out of "http://host[:port][/path]" ("[v6]" too). */
static int parse_url(h1_pool *p, const char *url)
{
    const char *h = url + 7, *end = h + strcspn(h, "/?#");
    const char *hend, *port = NULL;
    if (*h == '[') {
        const char *rb = memchr(h, ']', (size_t)(end - h));
        if (!rb)
            return -EINVAL;
        hend = rb + 1;
        port = hend < end && *hend == ':' ? hend + 1 : NULL;
    } else {
        port = memchr(h, ':', (size_t)(end - h));
        hend = port ? port : end;
        port = port ? port + 1 : NULL;
    }
    p->port = 80;
    if (port && port < end) {
        char *e = NULL;
        long v = strtol(port, &e, 10);
        if (e != end || v <= 0 || v > 65535)
            return -EINVAL;
        p->port = (int)v;
    }
    bool v6 = *h == '[';
    int hl = (int)(hend - h);
    /* curl's Host: the URL's host, the port only when not the default */
    if (p->port != 80 ? asprintf(&p->host_line, "Host: %.*s:%d\r\n", hl, h, p->port) < 0
                      : asprintf(&p->host_line, "Host: %.*s\r\n", hl, h) < 0) {
        p->host_line = NULL;
        return -ENOMEM;
    }
    p->host = v6 ? strndup(h + 1, (size_t)hl - 2) : strndup(h, (size_t)hl);
    p->path_prefix = strndup(end, strcspn(end, "?#"));
    if (!p->host || !p->path_prefix)
        return -ENOMEM;
    if (strcmp(p->path_prefix, "/") == 0) /* curl sends the target after the host's "/" */
        p->path_prefix[0] = '\0';
    return 0;
}

int h1_pool_init(h1_pool *p, uv_loop_t *loop, const config_upstream *u, h1_done_fn on_done,
                 size_t max_idle)
{
    *p = (h1_pool){.loop = loop, .cfg = u, .on_done = on_done, .max_idle = max_idle};
    if (!h1_supports(u))
        return -EINVAL;
    int rc = parse_url(p, u->url);
    if (rc == 0 && !(p->rbuf = malloc(H1_RECV_BUFFER)))
        rc = -ENOMEM;
    if (rc == 0 && uv_timer_init(loop, &p->kick) != 0)
        rc = -ENOMEM;
    if (rc != 0) {
        free(p->host_line);
        free(p->host);
        free(p->path_prefix);
        free(p->rbuf);
        *p = (h1_pool){0};
        return rc;
    }
    p->kick.data = p;
    h1x_literal(p);
    return 0;
}

size_t h1_trim(h1_pool *p, uint64_t now)
{
    if (now - p->trimmed_ms < H1_TRIM_MS)
        return 0;
    p->trimmed_ms = now;
    /* min_idle connections were idle the whole period: the longest idle of
     * them go, beyond the few kept for the next requests (as upstream_trim
     * does with curl's handles); and any idle past curl's maximum age. */
    size_t spare = p->min_idle > H1_IDLE_KEEP ? p->min_idle - H1_IDLE_KEEP : 0, n = 0;
    h1_conn *c = p->idle;
    while (c && c->next)
        c = c->next; /* the oldest */
    for (h1_conn *prev; c; c = prev) {
        prev = c->prev;
        if (n < spare || now - c->idle_since_ms >= MAX_AGE_MS) {
            h1c_close(c); /* unlinks it */
            n++;
        }
    }
    p->min_idle = p->nidle;
    return n;
}

static void noop_close(uv_handle_t *h) { (void)h; }

void h1_pool_close(h1_pool *p)
{
    if (!p->loop)
        return;
    p->closing = true;
    assert(!p->q[H1_Q_START].head && !p->resolve_waiters); /* transfers are over */
    h1x_drop_lookup(p);
    while (p->idle)
        h1c_close(p->idle); /* unlinks it */
    on_kick(&p->kick); /* none should wait, but none is lost */
    uv_close((uv_handle_t *)&p->kick, noop_close);
    free(p->host_line);
    free(p->host);
    free(p->path_prefix);
    free(p->rbuf);
    p->host_line = p->host = p->path_prefix = p->rbuf = NULL;
}

uint64_t h1x_now_ms(const h1_pool *p) { return now_ms(p); }
uint64_t h1x_dns_cache_ms(void) { return DNS_CACHE_MS; }
