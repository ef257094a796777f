/* conn: one thread per client connection. A buffered reader, a strict
 * HTTP/1.1 request parser, body decoding (Content-Length or chunked) with
 * incremental hashing, the request log, and the misbehaviours that are not
 * answers at all (close, reset, garbage, hang). */
#include "stub.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RBUF_SIZE STUB_HEAD_MAX /* a head must fit in the read buffer */
#define CHUNK_LINE_MAX 4096

/* Reader results; positive values are byte counts. */
enum { RD_EOF = 0, RD_ERR = -1, RD_BAD = -2, RD_BIG = -3 };

struct conn {
    struct stub_io io;
    const struct stub_cfg *cfg;
    char *rbuf;
    size_t rs, re; /* unread bytes are rbuf[rs..re) */
    char *head;    /* copy of the current head, lines NUL-terminated */
    struct stub_req req;
    struct sha256 sha;
    struct stub_ctl ctl;
    struct stub_reply rep;
    struct sbuf line; /* request log line */
};

const char *req_header(const struct stub_req *r, const char *name)
{
    for (size_t i = 0; i < r->nh; i++)
        if (ascii_ieq(r->h[i].name, r->h[i].name_len, name))
            return r->h[i].value;
    return NULL;
}

/* ---- buffered reader ----------------------------------------------------- */

/* Reads more bytes; makes room by compacting only when the end is reached,
 * so positions relative to rs stay valid for callers. */
static long rd_fill(struct conn *c)
{
    if (c->rs == c->re) {
        c->rs = c->re = 0;
    } else if (c->re == RBUF_SIZE) {
        memmove(c->rbuf, c->rbuf + c->rs, c->re - c->rs);
        c->re -= c->rs;
        c->rs = 0;
    }
    if (c->re == RBUF_SIZE)
        return RD_BIG;
    for (;;) {
        ssize_t n = io_recv(&c->io, c->rbuf + c->re, RBUF_SIZE - c->re);
        if (n > 0) {
            c->re += (size_t)n;
            return n;
        }
        if (n == 0)
            return RD_EOF;
        if (errno != EINTR)
            return RD_ERR;
    }
}

/* One line of at most max bytes (LF included); CR before LF is dropped.
 * *line points into the read buffer, valid until the next read. */
static long rd_line(struct conn *c, size_t max, char **line)
{
    size_t scan = 0;
    for (;;) {
        char *p = c->rbuf + c->rs;
        size_t len = c->re - c->rs, lim = len < max ? len : max;
        char *nl = scan < lim ? memchr(p + scan, '\n', lim - scan) : NULL;
        if (nl) {
            size_t l = (size_t)(nl - p);
            c->rs += l + 1;
            if (l && p[l - 1] == '\r')
                l--;
            *line = p;
            return (long)l;
        }
        if (len >= max)
            return RD_BIG;
        scan = len;
        long n = rd_fill(c);
        if (n <= 0)
            return n == RD_EOF ? RD_ERR : n;
    }
}

/* End of the head: an empty line (LF LF or LF CR LF). 0 if not yet. */
static size_t find_head_end(const char *p, size_t len, size_t *scan)
{
    size_t i = *scan;
    while (i < len) {
        const char *nl = memchr(p + i, '\n', len - i);
        if (!nl) {
            *scan = len;
            return 0;
        }
        i = (size_t)(nl - p);
        if (i + 1 < len && p[i + 1] == '\n')
            return i + 2;
        if (i + 2 < len && p[i + 1] == '\r' && p[i + 2] == '\n')
            return i + 3;
        if (i + 2 >= len)
            break; /* the terminator may still be arriving */
        i++;
    }
    *scan = i;
    return 0;
}

/* Length of the next head, RD_EOF if the client left between requests. */
static long read_head(struct conn *c)
{
    size_t scan = 0;
    for (;;) {
        /* RFC 9112 2.2: ignore empty lines before the request line */
        while (scan == 0 && c->rs < c->re &&
               (c->rbuf[c->rs] == '\r' || c->rbuf[c->rs] == '\n'))
            c->rs++;
        size_t len = c->re - c->rs;
        size_t end = find_head_end(c->rbuf + c->rs, len, &scan);
        if (end)
            return (long)end;
        if (len >= STUB_HEAD_MAX)
            return RD_BIG;
        long n = rd_fill(c);
        if (n == RD_EOF)
            return len ? RD_ERR : RD_EOF;
        if (n < 0)
            return RD_ERR;
    }
}

/* ---- head parser ----------------------------------------------------------- */

static char *next_line(char **cur, char *end, size_t *len)
{
    char *s = *cur;
    char *nl = s < end ? memchr(s, '\n', (size_t)(end - s)) : NULL;
    if (!nl)
        return NULL;
    *cur = nl + 1;
    char *e = nl;
    if (e > s && e[-1] == '\r')
        e--;
    *e = 0;
    *len = (size_t)(e - s);
    return s;
}

/* 0, 400 or 505. */
static int parse_request_line(struct stub_req *r, char *s, size_t n)
{
    char *sp1 = memchr(s, ' ', n);
    if (!sp1 || sp1 == s)
        return 400;
    char *t = sp1 + 1;
    char *sp2 = memchr(t, ' ', (size_t)(s + n - t));
    if (!sp2 || sp2 == t)
        return 400;
    for (char *p = s; p < sp1; p++)
        if (!is_tchar((unsigned char)*p))
            return 400;
    /* Any visible byte, obs-text included: tests send odd targets to check
     * that the proxy passes them through verbatim. */
    for (char *p = t; p < sp2; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7F)
            return 400;
    const char *v = sp2 + 1;
    size_t vn = (size_t)(s + n - v);
    if (vn != 8 || memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' || v[5] > '9' ||
        v[6] != '.' || v[7] < '0' || v[7] > '9')
        return 400;
    if (v[5] != '1' || (v[7] != '0' && v[7] != '1'))
        return 505;
    *sp1 = *sp2 = 0;
    r->method = s;
    r->method_len = (size_t)(sp1 - s);
    r->target = t;
    r->target_len = (size_t)(sp2 - t);
    r->version = v;
    r->http10 = v[7] == '0';
    return 0;
}

static int parse_header_line(struct stub_req *r, char *s, size_t n)
{
    if (s[0] == ' ' || s[0] == '\t')
        return 400; /* obs-fold: RFC 9112 5.2 allows rejecting it */
    char *colon = memchr(s, ':', n);
    if (!colon || colon == s)
        return 400;
    for (char *p = s; p < colon; p++)
        if (!is_tchar((unsigned char)*p))
            return 400; /* includes whitespace before the colon */
    char *v = colon + 1, *ve = s + n;
    while (v < ve && (*v == ' ' || *v == '\t'))
        v++;
    while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
        ve--;
    for (char *p = v; p < ve; p++) {
        unsigned char ch = (unsigned char)*p;
        if ((ch < 0x20 && ch != '\t') || ch == 0x7F)
            return 400;
    }
    *colon = 0;
    *ve = 0;
    if (r->nh == r->hcap) {
        r->hcap = r->hcap ? r->hcap * 2 : 32;
        struct stub_hdr *h = realloc(r->h, r->hcap * sizeof *h);
        if (!h)
            abort();
        r->h = h;
    }
    r->h[r->nh++] = (struct stub_hdr){s, v, (size_t)(colon - s),
                                      (size_t)(ve - v)};
    return 0;
}

/* Framing and connection semantics from the parsed fields. */
static int parse_semantics(struct stub_req *r)
{
    bool has_te = false, last_chunked = false, close = false, keep = false;
    for (size_t i = 0; i < r->nh; i++) {
        const struct stub_hdr *h = &r->h[i];
        const char *p = h->value, *end = h->value + h->value_len, *tok;
        size_t tl;
        if (ascii_ieq(h->name, h->name_len, "content-length")) {
            uint64_t v;
            if (!parse_u64(h->value, h->value_len, INT64_MAX, &v) ||
                (r->has_len && v != r->content_length))
                return 400;
            r->has_len = true;
            r->content_length = v;
        } else if (ascii_ieq(h->name, h->name_len, "transfer-encoding")) {
            has_te = true;
            while (list_next(&p, end, &tok, &tl)) {
                if (last_chunked)
                    return 400; /* chunked must be the final coding */
                last_chunked = ascii_ieq(tok, tl, "chunked");
            }
        } else if (ascii_ieq(h->name, h->name_len, "connection")) {
            while (list_next(&p, end, &tok, &tl)) {
                close |= ascii_ieq(tok, tl, "close");
                keep |= ascii_ieq(tok, tl, "keep-alive");
            }
        } else if (ascii_ieq(h->name, h->name_len, "expect")) {
            r->expect100 |= ascii_ieq(h->value, h->value_len, "100-continue");
        }
    }
    if (has_te && !last_chunked)
        return 400; /* RFC 9112 6.3: length cannot be determined */
    r->chunked = has_te;
    /* TE and CL together smell of smuggling: TE wins, then close. */
    r->te_and_cl = has_te && r->has_len;
    r->keep_alive = r->http10 ? keep && !close : !close;
    if (r->te_and_cl)
        r->keep_alive = false;
    r->is_head = r->method_len == 4 && memcmp(r->method, "HEAD", 4) == 0;
    return 0;
}

static int parse_head(struct conn *c, size_t n)
{
    struct stub_req *r = &c->req;
    memcpy(c->head, c->rbuf + c->rs, n);
    c->rs += n;
    char *cur = c->head, *end = c->head + n, *s;
    size_t len;
    s = next_line(&cur, end, &len);
    int st = s ? parse_request_line(r, s, len) : 400;
    if (st)
        return st;
    while ((s = next_line(&cur, end, &len)) != NULL && len > 0)
        if ((st = parse_header_line(r, s, len)) != 0)
            return st;
    return parse_semantics(r);
}

/* ---- body -------------------------------------------------------------------- */

static void body_take(struct conn *c, const char *d, size_t n)
{
    struct stub_req *r = &c->req;
    sha256_update(&c->sha, d, n);
    r->body_len += n;
    if (r->body_kept >= STUB_BODY_KEEP)
        return;
    size_t k = STUB_BODY_KEEP - r->body_kept < n ? STUB_BODY_KEEP - r->body_kept
                                                  : n;
    if (r->body_kept + k > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 4096;
        while (cap < r->body_kept + k)
            cap *= 2;
        unsigned char *b = realloc(r->body, cap);
        if (!b)
            abort();
        r->body = b;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_kept, d, k);
    r->body_kept += k;
}

static int read_fixed(struct conn *c, uint64_t left)
{
    while (left) {
        if (c->rs == c->re) {
            long n = rd_fill(c);
            if (n <= 0)
                return RD_ERR;
        }
        size_t avail = c->re - c->rs;
        size_t take = avail < left ? avail : (size_t)left;
        body_take(c, c->rbuf + c->rs, take);
        c->rs += take;
        left -= take;
    }
    return 0;
}

/* chunk-size [ BWS ";" chunk-ext ] */
static bool parse_chunk_size(const char *s, size_t n, uint64_t *size)
{
    uint64_t v = 0;
    size_t i = 0;
    for (; i < n; i++) {
        char ch = s[i];
        int d = ch >= '0' && ch <= '9'   ? ch - '0'
                : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                         : -1;
        if (d < 0)
            break;
        if (i >= 15)
            return false; /* keep sizes below 2^60 */
        v = v << 4 | (uint64_t)d;
    }
    if (i == 0)
        return false;
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    if (i < n && s[i] != ';')
        return false;
    *size = v;
    return true;
}

static int read_chunked(struct conn *c)
{
    char *line;
    long n;
    for (;;) {
        uint64_t size;
        if ((n = rd_line(c, CHUNK_LINE_MAX, &line)) < 0)
            return n == RD_BIG ? RD_BAD : RD_ERR;
        if (!parse_chunk_size(line, (size_t)n, &size))
            return RD_BAD;
        if (size == 0)
            break;
        if (read_fixed(c, size) < 0)
            return RD_ERR;
        if ((n = rd_line(c, 2, &line)) != 0) /* the CRLF after the data */
            return n == RD_ERR ? RD_ERR : RD_BAD;
    }
    /* Trailer fields are accepted and ignored, up to the head limit. */
    size_t total = 0;
    for (;;) {
        if (total >= STUB_HEAD_MAX)
            return RD_BAD;
        if ((n = rd_line(c, STUB_HEAD_MAX - total, &line)) < 0)
            return n == RD_BIG ? RD_BAD : RD_ERR;
        if (n == 0)
            return 0;
        total += (size_t)n + 2;
    }
}

static int read_body(struct conn *c)
{
    struct stub_req *r = &c->req;
    bool has_body = r->chunked || (r->has_len && r->content_length > 0);
    /* Without this, curl and libcurl-based proxies stall a second. */
    if (r->expect100 && !r->http10 && has_body) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        if (io_send(&c->io, cont, sizeof cont - 1) < 0)
            return RD_ERR;
    }
    int rc = 0;
    if (r->chunked)
        rc = read_chunked(c);
    else if (r->has_len)
        rc = read_fixed(c, r->content_length);
    unsigned char d[32];
    sha256_final(&c->sha, d);
    sha256_hex(d, r->body_hex);
    return rc;
}

/* ---- request log ----------------------------------------------------------------- */

static void log_request(struct conn *c)
{
    const struct stub_req *r = &c->req;
    if (c->cfg->log_fd < 0)
        return;
    struct jw j;
    c->line.len = 0;
    jw_init(&j, &c->line);
    jw_open(&j, '{');
    jw_key(&j, "stub");
    jw_str(&j, c->cfg->name);
    jw_key(&j, "method");
    jw_strn(&j, r->method, r->method_len);
    jw_key(&j, "target");
    jw_strn(&j, r->target, r->target_len);
    jw_key(&j, "version");
    jw_str(&j, r->version);
    jw_key(&j, "headers");
    jw_open(&j, '[');
    for (size_t i = 0; i < r->nh; i++) {
        jw_open(&j, '[');
        jw_strn(&j, r->h[i].name, r->h[i].name_len);
        jw_strn(&j, r->h[i].value, r->h[i].value_len);
        jw_close(&j, ']');
    }
    jw_close(&j, ']');
    jw_key(&j, "body_len");
    jw_int(&j, (long long)r->body_len);
    jw_key(&j, "body_sha256");
    jw_str(&j, r->body_hex);
    jw_key(&j, "chunked");
    jw_raw(&j, r->chunked ? "true" : "false");
    jw_close(&j, '}');
    sb_put(&c->line, "\n", 1);
    /* One write per line on an O_APPEND fd: lines from concurrent
     * connections never interleave. */
    const char *p = c->line.p;
    size_t n = c->line.len;
    while (n) {
        ssize_t w = write(c->cfg->log_fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        p += w;
        n -= (size_t)w;
    }
}

/* ---- closing and misbehaving ----------------------------------------------------- */

static long ms_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Reads and discards until EOF, an error or max_ms. Over TLS too, the
 * socket is read directly: the bytes are thrown away anyway. */
static void drain(struct conn *c, long max_ms)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        long left = max_ms - ms_since(&t0);
        if (left <= 0)
            return;
        struct pollfd p = {.fd = c->io.fd, .events = POLLIN};
        int rc = poll(&p, 1, (int)left);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            return;
        ssize_t n = recv(c->io.fd, c->rbuf, RBUF_SIZE, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
            return;
    }
}

/* Send FIN, then read what the client still sends before closing: closing
 * with unread data would turn into an RST that can destroy the answer
 * before the client has read it. */
static void linger_close(struct conn *c)
{
    io_shutdown(&c->io);
    drain(c, 2000);
}

static void misbehave(struct conn *c, enum stub_action act)
{
    static const char garbage[] = "\x00\x01garbage\r\n\r\n";
    switch (act) {
    case ACT_RESET: {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(c->io.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        break; /* the close in conn_serve sends the RST */
    }
    case ACT_GARBAGE:
        if (io_send(&c->io, garbage, sizeof garbage - 1) == 0)
            linger_close(c);
        break;
    case ACT_HANG:
        drain(c, STUB_IO_TIMEOUT_S * 1000);
        break;
    default: /* ACT_CLOSE: just close */
        break;
    }
}

/* ---- request loop ------------------------------------------------------------------ */

/* Answers a request that cannot be served (bad head or body), then closes. */
static int fail_request(struct conn *c, int status, const char *msg)
{
    reply_reset(&c->rep);
    reply_error(&c->rep, status, msg);
    c->rep.close = true;
    if (reply_send(&c->io, c->cfg, &c->req, NULL, &c->rep) == 0)
        linger_close(c);
    return -1;
}

static int respond(struct conn *c)
{
    const struct stub_cfg *cfg = c->cfg;
    const struct stub_ctl *ctl = &c->ctl;
    enum stub_action act = cfg->fail;
    long delay = cfg->delay_ms;
    if (act != ACT_NONE) {
        ctl = NULL; /* --fail wins over every directive */
    } else {
        ctl_parse(&c->ctl, &c->req, cfg->name);
        act = c->ctl.act;
        if (c->ctl.delay_ms >= 0)
            delay = c->ctl.delay_ms;
    }
    if (act != ACT_HANG)
        sleep_ms(delay);
    if (act != ACT_NONE && act != ACT_STATUS500) {
        misbehave(c, act);
        return -1;
    }
    struct stub_reply *rp = &c->rep;
    reply_reset(rp);
    if (act == ACT_STATUS500) {
        reply_error(rp, 500, "stub failure (--fail status500)");
    } else if (ctl->err[0]) {
        reply_error(rp, 400, ctl->err);
        ctl = NULL;
    } else if (!ctl->has_bytes && !ctl->has_body) {
        routes_dispatch(cfg, &c->req, rp);
    }
    if (!c->req.keep_alive)
        rp->close = true;
    if (reply_send(&c->io, cfg, &c->req, ctl, rp) < 0)
        return -1;
    if (rp->close) {
        linger_close(c);
        return -1;
    }
    return 0;
}

static void req_reset(struct conn *c)
{
    struct stub_req *r = &c->req;
    struct stub_hdr *h = r->h;
    unsigned char *body = r->body;
    size_t hcap = r->hcap, body_cap = r->body_cap;
    memset(r, 0, sizeof *r);
    r->h = h, r->hcap = hcap, r->body = body, r->body_cap = body_cap;
    r->method = r->target = r->version = "";
    sha256_init(&c->sha);
}

/* 0: ready for the next request; -1: the connection is done. */
static int serve_one(struct conn *c)
{
    req_reset(c);
    long n = read_head(c);
    if (n == RD_BIG)
        return fail_request(c, 431, "request header fields too large");
    if (n <= 0)
        return -1;
    int st = parse_head(c, (size_t)n);
    if (st) {
        c->req.is_head = false;
        return fail_request(c, st, st == 505 ? "HTTP version not supported"
                                             : "malformed request");
    }
    int rc = read_body(c);
    if (rc == RD_BAD)
        return fail_request(c, 400, "malformed chunked body");
    if (rc < 0)
        return -1;
    log_request(c);
    return respond(c);
}

void conn_serve(int fd, const struct stub_cfg *cfg)
{
    struct conn *c = xmalloc(sizeof *c);
    memset(c, 0, sizeof *c);
    c->io.fd = fd;
    c->cfg = cfg;
    c->rbuf = xmalloc(RBUF_SIZE);
    c->head = xmalloc(STUB_HEAD_MAX + 1);
    /* Idle keep-alive, slow uploads and stuck readers all end after this. */
    struct timeval tv = {.tv_sec = STUB_IO_TIMEOUT_S};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (io_handshake(&c->io, cfg->tls_ctx) == 0) {
        while (serve_one(c) == 0)
            ;
    } else {
        /* Let the client read our alert: closing with its data unread
         * would turn into an RST that can destroy the alert. */
        shutdown(fd, SHUT_WR);
        drain(c, 2000);
    }
    io_free(&c->io);
    close(fd);
    free(c->req.h);
    free(c->req.body);
    ctl_free(&c->ctl);
    reply_free(&c->rep);
    sb_free(&c->line);
    free(c->rbuf);
    free(c->head);
    free(c);
}
