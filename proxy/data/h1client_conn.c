/* h1client_conn: the lean client's connections (data/h1client.h):
 * resolve, connect, write the request from the caller's buffers, read into
 * the pool's one buffer, keep what the parser did not take. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/invariant.h"
#include "data/h1client_int.h"
#include "obs/metrics.h"

static void send_request(h1_xfer *x);
static void start_reading(h1_conn *c);

/* ---- addresses ------------------------------------------------------------ */

static bool set_addr(struct sockaddr_storage *ss, const char *host, int port)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        return true;
    }
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        return true;
    }
    return false;
}

void h1x_literal(h1_pool *p)
{
    p->literal = set_addr(&p->addrs[0], p->host, p->port);
    p->naddrs = p->literal ? 1 : 0;
}

static void connect_next(h1_xfer *x);

/* The pool's lookup ended: every transfer waiting for it goes on (or
 * fails) with its result. */
static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    h1_pool *p = req->data;
    free(req);
    if (!p) { /* the pool closed meanwhile */
        uv_freeaddrinfo(res);
        return;
    }
    p->gai = NULL;
    int n = 0;
    for (struct addrinfo *a = status < 0 ? NULL : res; a && n < H1_MAX_ADDRS; a = a->ai_next) {
        if ((a->ai_family != AF_INET && a->ai_family != AF_INET6) ||
            a->ai_addrlen > sizeof p->addrs[0])
            continue;
        memcpy(&p->addrs[n], a->ai_addr, a->ai_addrlen);
        n++;
    }
    uv_freeaddrinfo(res);
    if (n) {
        p->naddrs = n;
        p->resolved_ms = h1x_now_ms(p);
    }
    /* The waiters are taken off first: each is finished or connecting when
     * this returns (their owners hear of it on a later turn). */
    h1_xfer *w = p->resolve_waiters;
    p->resolve_waiters = NULL;
    while (w) {
        h1_xfer *next = w->wait_next;
        w->wait_next = NULL;
        w->resolving = false;
        if (status < 0)
            h1x_finish(w, CURLE_COULDNT_RESOLVE_HOST, 0, "Could not resolve host: %s (%s)",
                       p->host, uv_strerror(status));
        else if (!n)
            h1x_finish(w, CURLE_COULDNT_RESOLVE_HOST, 0, "Could not resolve host: %s", p->host);
        else {
            w->addr_i = 0;
            connect_next(w);
        }
        w = next;
    }
}

/* One lookup per pool at a time: a transfer that needs the addresses while
 * one is in flight (many start at once when the cache expires) waits for
 * it instead of starting its own. */
static void resolve(h1_xfer *x)
{
    h1_pool *p = x->pool;
    if (!p->gai) {
        uv_getaddrinfo_t *req = malloc(sizeof *req);
        if (!req) {
            h1x_finish(x, CURLE_OUT_OF_MEMORY, 0, "out of memory resolving %s", p->host);
            return;
        }
        req->data = p;
        char port[8];
        snprintf(port, sizeof port, "%d", p->port);
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
        int rc = uv_getaddrinfo(p->loop, req, on_resolved, p->host, port, &hints);
        if (rc < 0) {
            free(req);
            h1x_finish(x, CURLE_COULDNT_RESOLVE_HOST, 0, "Could not resolve host: %s (%s)",
                       p->host, uv_strerror(rc));
            return;
        }
        p->gai = req;
        p->lookups++;
    }
    x->resolving = true;
    x->wait_next = p->resolve_waiters;
    p->resolve_waiters = x;
}

/* The lookup goes on for the others (and refreshes the addresses even when
 * nobody waits any more): a cancelled one would fail a transfer that joins
 * it before its callback comes. */
void h1x_forget_resolve(h1_xfer *x)
{
    assert(x->resolving);
    /* a walk: a transfer ends while it waits rarely (a cancel, its timeout) */
    h1_xfer **at = &x->pool->resolve_waiters;
    while (*at != x)
        at = &(*at)->wait_next;
    *at = x->wait_next;
    x->wait_next = NULL;
    x->resolving = false;
}

void h1x_drop_lookup(h1_pool *p)
{
    if (!p->gai)
        return;
    uv_cancel((uv_req_t *)p->gai); /* its callback still comes, and frees it */
    p->gai->data = NULL;
    p->gai = NULL;
}

/* ---- connections ------------------------------------------------------------- */

static void conn_free(uv_handle_t *h)
{
    h1_conn *c = h->data;
    c->pool->nopen--;
    metric_add(METRIC_h1_connections_open, -1);
    free(c);
}

static void idle_unlink(h1_conn *c)
{
    h1_pool *p = c->pool;
    if (c->prev)
        c->prev->next = c->next;
    else
        p->idle = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->next = c->prev = NULL;
    c->in_idle = false;
    p->nidle--;
    if (p->min_idle > p->nidle)
        p->min_idle = p->nidle;
    metric_add(METRIC_h1_connections_idle, -1);
}

void h1c_close(h1_conn *c)
{
    if (c->closing)
        return;
    if (c->in_idle)
        idle_unlink(c);
    c->closing = true;
    c->x = NULL;
    free(c->carry);
    c->carry = NULL;
    c->carry_len = c->carry_cap = 0;
    uv_close((uv_handle_t *)&c->tcp, conn_free);
}

void h1c_idle(h1_conn *c)
{
    h1_pool *p = c->pool;
    assert(!c->x && !c->in_idle && !c->writing && !c->carry_len);
    if (p->closing || p->nidle >= p->max_idle) {
        h1c_close(c);
        return;
    }
    free(c->carry); /* an idle connection holds no buffer */
    c->carry = NULL;
    c->carry_cap = 0;
    c->idle_since_ms = h1x_now_ms(p);
    c->prev = NULL;
    c->next = p->idle;
    if (p->idle)
        p->idle->prev = c;
    p->idle = c;
    c->in_idle = true;
    p->nidle++;
    metric_add(METRIC_h1_connections_idle, 1);
    start_reading(c); /* an EOF or stray bytes close it */
}

static void on_connect(uv_connect_t *req, int status)
{
    h1_conn *c = req->data;
    h1_xfer *x = c->x;
    if (c->closing || !x)
        return;
    if (status < 0) {
        x->conn = NULL;
        h1c_close(c);
        h1_pool *p = x->pool;
        if (++x->addr_i < p->naddrs) {
            connect_next(x);
            return;
        }
        h1x_finish(x, CURLE_COULDNT_CONNECT, -status,
                   "Failed to connect to %s port %d after %llu ms: %s", p->host, p->port,
                   (unsigned long long)(h1x_now_ms(p) - x->connect_ms), uv_strerror(status));
        return;
    }
    c->connected = true;
    h1x_arm_timer(x, false);
    send_request(x);
}

static void connect_next(h1_xfer *x)
{
    h1_pool *p = x->pool;
    h1_conn *c = calloc(1, sizeof *c);
    if (!c || uv_tcp_init(p->loop, &c->tcp) != 0) {
        free(c);
        h1x_finish(x, CURLE_OUT_OF_MEMORY, 0, "out of memory connecting to %s", p->host);
        return;
    }
    c->tcp.data = c;
    c->creq.data = c;
    c->wreq.data = c;
    c->pool = p;
    c->x = x;
    x->conn = c;
    p->nopen++;
    metric_add(METRIC_h1_connections_open, 1);
    uv_tcp_nodelay(&c->tcp, 1);
    int rc = uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&p->addrs[x->addr_i],
                            on_connect);
    if (rc < 0) {
        x->conn = NULL;
        c->x = NULL;
        h1c_close(c);
        h1x_finish(x, CURLE_COULDNT_CONNECT, -rc, "Failed to connect to %s port %d: %s",
                   p->host, p->port, uv_strerror(rc));
    }
}

void h1x_get_conn(h1_xfer *x)
{
    h1_pool *p = x->pool;
    if (p->idle && !x->retried) { /* a retry takes a fresh connection, as curl does */
        h1_conn *c = p->idle;
        idle_unlink(c);
        c->x = x;
        x->conn = c;
        x->reused = true;
        metric_add(METRIC_h1_reused, 1);
        h1x_arm_timer(x, false);
        send_request(x);
        return;
    }
    if (p->naddrs && (p->literal || h1x_now_ms(p) - p->resolved_ms < h1x_dns_cache_ms())) {
        x->addr_i = 0;
        connect_next(x);
        return;
    }
    resolve(x);
}

/* ---- the request ---------------------------------------------------------------- */

/* Is the list entry `d` a header named `name` ("Name:" or "Name;", as curl's
 * Curl_checkheaders)? */
static bool entry_is(const char *d, const char *name)
{
    size_t n = strlen(name);
    return strncasecmp(d, name, n) == 0 && (d[n] == ':' || d[n] == ';');
}

static const char *list_get(const struct curl_slist *l, const char *name)
{
    for (; l; l = l->next)
        if (entry_is(l->data, name))
            return l->data;
    return NULL;
}

static void add(uv_buf_t *b, unsigned *n, const char *s, size_t len)
{
    if (len)
        b[(*n)++] = uv_buf_init((char *)s, (unsigned)len);
}

#define ADD_LIT(b, n, lit) add(b, n, lit, sizeof(lit) - 1)

/* One list entry as curl's Curl_add_custom_headers sends it: "Name: value"
 * as is, "Name;" as "Name:", blank "Name:" and lines without a name not
 * at all; Host is sent in its own place. */
static void add_entry(uv_buf_t *b, unsigned *n, const char *d)
{
    const char *colon = strchr(d, ':');
    if (!colon) {
        const char *semi = strchr(d, ';');
        if (!semi || semi == d || semi[1 + strspn(semi + 1, " \t\r\n")] != '\0')
            return;
        add(b, n, d, (size_t)(semi - d));
        ADD_LIT(b, n, ":\r\n");
        return;
    }
    if (colon == d || colon[1 + strspn(colon + 1, " \t\r\n")] == '\0' || entry_is(d, "Host"))
        return;
    add(b, n, d, strlen(d));
    ADD_LIT(b, n, "\r\n");
}

static void on_written(uv_write_t *req, int status);
static void write_failed(h1_xfer *x, int status);

/* The request's pieces: 16 at most besides two per header entry. Up to
 * INLINE_BUFS of them live on the stack (libuv copies what it keeps). */
#define FIXED_BUFS 16
#define INLINE_BUFS 64

/* Drops the first `done` bytes (written already) of b[0..*n). */
static uv_buf_t *skip_written(uv_buf_t *b, unsigned *n, size_t done)
{
    while (*n && done >= b->len) {
        done -= b->len;
        b++;
        (*n)--;
    }
    if (done) {
        b->base += done;
        b->len -= done;
    }
    return b;
}

/* Writes b[0..n): at once when the socket takes it all (the usual small
 * request: no write request, no copy of the array), the rest queued. */
static void write_request(h1_xfer *x, uv_buf_t *b, unsigned n)
{
    h1_conn *c = x->conn;
    int rc = uv_try_write((uv_stream_t *)&c->tcp, b, n);
    if (rc < 0 && rc != UV_EAGAIN) {
        write_failed(x, rc);
        return;
    }
    b = skip_written(b, &n, rc > 0 ? (size_t)rc : 0);
    if (n) {
        rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, b, n, on_written); /* copies b */
        if (rc < 0) {
            h1x_finish(x, CURLE_SEND_ERROR, -rc, "Send failure: %s", uv_strerror(rc));
            return;
        }
        c->writing = true;
    }
    start_reading(c);
}

static void send_request(h1_xfer *x)
{
    h1_pool *p = x->pool;
    const h1_request *r = &x->req;
    unsigned nh = 0;
    for (const struct curl_slist *l = r->headers; l; l = l->next)
        nh++;
    uv_buf_t inline_bufs[INLINE_BUFS], *b = inline_bufs, *heap = NULL;
    if (FIXED_BUFS + 2 * (size_t)nh > INLINE_BUFS) {
        b = heap = malloc((FIXED_BUFS + 2 * (size_t)nh) * sizeof *b);
        if (!b) {
            h1x_finish(x, CURLE_OUT_OF_MEMORY, 0, "out of memory writing the request");
            return;
        }
    }
    unsigned n = 0;
    add(b, &n, r->method, strlen(r->method));
    ADD_LIT(b, &n, " ");
    add(b, &n, p->path_prefix, strlen(p->path_prefix));
    size_t tl = strcspn(r->target, "#"); /* curl never sends a fragment */
    if (tl)
        add(b, &n, r->target, tl);
    else
        ADD_LIT(b, &n, "/");
    ADD_LIT(b, &n, " HTTP/1.1\r\n");
    const char *host = list_get(r->headers, "Host");
    if (!host) {
        add(b, &n, p->host_line, strlen(p->host_line));
    } else if (strcmp(host, "Host:") != 0) { /* "Host:" alone: no Host at all */
        ADD_LIT(b, &n, "Host:");
        add(b, &n, host + 5, strlen(host + 5));
        ADD_LIT(b, &n, "\r\n");
    }
    if (!list_get(r->headers, "Accept"))
        ADD_LIT(b, &n, "Accept: */*\r\n");
    for (const struct curl_slist *l = r->headers; l; l = l->next)
        add_entry(b, &n, l->data);
    bool body = r->has_body && !x->parser.no_body;
    if (body) {
        if (!list_get(r->headers, "Content-Length")) {
            int k = snprintf(x->cl_line, sizeof x->cl_line, "Content-Length: %zu\r\n",
                             r->body_len);
            add(b, &n, x->cl_line, (size_t)k);
        }
        if (!list_get(r->headers, "Content-Type"))
            ADD_LIT(b, &n, "Content-Type: application/x-www-form-urlencoded\r\n");
    }
    ADD_LIT(b, &n, "\r\n");
    if (body && r->body_len)
        add(b, &n, r->body, r->body_len);
    assert(n <= FIXED_BUFS + 2 * nh);
    write_request(x, b, n);
    free(heap);
}

/* ---- retry: a reused connection that the server had closed ------------------------ */

static bool retry(h1_xfer *x)
{
    if (!x->reused || x->retried || x->got_byte)
        return false;
    h1_conn *c = x->conn;
    c->x = NULL;
    x->conn = NULL;
    h1c_close(c);
    x->retried = true;
    x->reused = false;
    metric_add(METRIC_h1_retries, 1);
    x->connect_ms = h1x_now_ms(x->pool); /* the retry's connect has its own time */
    h1x_arm_timer(x, true);
    h1x_get_conn(x);
    return true;
}

static void on_written(uv_write_t *req, int status)
{
    h1_conn *c = req->data;
    c->writing = false;
    h1_xfer *x = c->x;
    if (c->idle_after_write && !c->closing) {
        assert(!x); /* answered already: no transfer can have taken it */
        c->idle_after_write = false;
        if (status >= 0)
            h1c_idle(c);
        else
            h1c_close(c);
        return;
    }
    if (c->closing || !x || status >= 0)
        return;
    write_failed(x, status);
}

/* The request could not be written whole: the server closed or reset the
 * connection. A kept connection is retried; else the server may have
 * answered before it stopped reading (RFC 9112 9.5; its answer can be in
 * the socket, unread, behind the write's error): the read side ends the
 * transfer, with that answer, or at the close with the send failure. */
static void write_failed(h1_xfer *x, int status)
{
    if (retry(x))
        return;
    x->send_errno = -status;
    if (!x->paused)
        start_reading(x->conn);
}

/* ---- the answer ------------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    h1_conn *c = h->data;
    h1_pool *p = c->pool;
    assert(!p->rbuf_busy); /* reads come one at a time on the loop */
    p->rbuf_busy = true;
    *buf = uv_buf_init(p->rbuf, H1_RECV_BUFFER);
}

static int keep(h1_conn *c, const char *d, size_t n)
{
    if (c->carry_len + n > c->carry_cap) {
        size_t cap = c->carry_cap ? c->carry_cap : 256;
        while (cap < c->carry_len + n)
            cap *= 2;
        char *q = realloc(c->carry, cap);
        if (!q)
            return -ENOMEM;
        c->carry = q;
        c->carry_cap = cap;
    }
    memcpy(c->carry + c->carry_len, d, n);
    c->carry_len += n;
    return 0;
}

static CURLcode code_of(h1_error e)
{
    switch (e) {
    case H1E_NOT_HTTP:
    case H1E_VERSION: return CURLE_UNSUPPORTED_PROTOCOL;
    case H1E_CALLBACK: return CURLE_WRITE_ERROR;
    case H1E_NOTHING: return CURLE_GOT_NOTHING;
    case H1E_BODY_CUT: return CURLE_PARTIAL_FILE;
    case H1E_CHUNK:
    case H1E_TOO_LARGE: return CURLE_RECV_ERROR;
    default: return CURLE_WEIRD_SERVER_REPLY;
    }
}

static void parse_failed(h1_xfer *x)
{
    h1x_finish(x, code_of(x->parser.error), 0, "%s", x->parser.why ? x->parser.why : "bad answer");
}

/* Feeds the kept bytes then d[0..n) (either may be empty); keeps what the
 * parser did not take. */
static void process(h1_xfer *x, h1_conn *c, const char *d, size_t n)
{
    const char *in = d;
    size_t len = n;
    if (c->carry_len) {
        if (n && keep(c, d, n) != 0) {
            h1x_finish(x, CURLE_OUT_OF_MEMORY, 0, "out of memory reading the answer");
            return;
        }
        in = c->carry;
        len = c->carry_len;
    }
    if (!len)
        return;
    ssize_t used = h1parse_feed(&x->parser, in, len);
    if (used < 0) {
        parse_failed(x);
        return;
    }
    size_t rest = len - (size_t)used;
    if (in == c->carry) {
        memmove(c->carry, c->carry + used, rest);
        c->carry_len = rest;
    } else if (rest && keep(c, in + used, rest) != 0) {
        h1x_finish(x, CURLE_OUT_OF_MEMORY, 0, "out of memory reading the answer");
        return;
    }
    if (h1parse_done(&x->parser))
        h1x_finish(x, CURLE_OK, 0, NULL); /* bytes after it: the connection closes */
    else if (x->paused)
        uv_read_stop((uv_stream_t *)&c->tcp), c->reading = false;
}

static void on_eof_or_error(h1_xfer *x, ssize_t nread)
{
    if (retry(x))
        return;
    if (x->send_errno && !x->got_byte) { /* no answer before the close: the send failed */
        h1x_finish(x, CURLE_SEND_ERROR, x->send_errno, "Send failure: %s",
                   uv_strerror(-x->send_errno));
        return;
    }
    if (nread != UV_EOF) {
        h1x_finish(x, CURLE_RECV_ERROR, (int)-nread, "Recv failure: %s",
                   uv_strerror((int)nread));
        return;
    }
    if (h1parse_eof(&x->parser) == 0)
        h1x_finish(x, CURLE_OK, 0, NULL);
    else
        parse_failed(x);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    h1_conn *c = s->data;
    c->pool->rbuf_busy = false;
    if (nread == 0 || c->closing)
        return;
    h1_xfer *x = c->x;
    if (!x) { /* idle: the server closed it, or sent what nobody asked for */
        if (nread > 0)
            metric_add(METRIC_h1_stray_closed, 1);
        h1c_close(c);
        return;
    }
    if (nread < 0) {
        on_eof_or_error(x, nread);
        return;
    }
    x->got_byte = true;
    process(x, c, c->pool->rbuf, (size_t)nread);
}

static void start_reading(h1_conn *c)
{
    if (c->reading)
        return;
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
        c->reading = true;
}

/* ---- the callbacks' adapters and resume --------------------------------------------- */

int h1x_on_head(void *ctx, const char *line, size_t len)
{
    h1_xfer *x = ctx;
    size_t r = x->req.on_header((char *)line, 1, len, x->req.data);
    return r == len ? H1_GO : H1_STOP;
}

int h1x_on_body(void *ctx, const char *data, size_t len)
{
    h1_xfer *x = ctx;
    size_t r = x->req.on_body((char *)data, 1, len, x->req.data);
    if (r == CURL_WRITEFUNC_PAUSE) {
        x->paused = true;
        return H1_PAUSE;
    }
    return r == len ? H1_GO : H1_STOP;
}

void h1_resume(h1_xfer *x)
{
    if (!x->paused || x->finished || !x->conn)
        return;
    x->paused = false;
    h1_conn *c = x->conn;
    process(x, c, NULL, 0);
    if (!x->finished && !x->paused)
        start_reading(c);
}
