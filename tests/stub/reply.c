/* reply: the X-Stub-Ctl directives, and writing an answer with whatever
 * framing the test asked for (Content-Length, chunked, close-delimited,
 * truncated, lying, slow, compressed). Bodies are either bytes in memory
 * or the generated pattern, which is never materialised so /bytes/N can
 * be any size. */
#include "stub.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

#define ZLIB_CONST
#include <zlib.h>

#define MAX_DELAY_MS 3600000
#define MAX_BYTES (1ull << 40)
#define MAX_BIGHEADERS (16u << 20)
#define BIG_HEADER_VALUE 8192
#define BADLEN_EXTRA 100
#define MAX_INFO 1000000000ull /* info=N: a storm that outlasts any timeout */
#define MAX_NEST (16u << 20)

/* pattern[i] = 'a' + i % 26, long enough for any slice starting at 0..25 */
static unsigned char g_pattern[STUB_BIG_PIECE + 26];

void pattern_init(void)
{
    for (size_t i = 0; i < sizeof g_pattern; i++)
        g_pattern[i] = (unsigned char)('a' + i % 26);
}

const char *status_reason(int status)
{
    static const struct {
        int code;
        const char *text;
    } t[] = {
        {200, "OK"}, {201, "Created"}, {202, "Accepted"},
        {204, "No Content"}, {206, "Partial Content"},
        {301, "Moved Permanently"}, {302, "Found"}, {304, "Not Modified"},
        {307, "Temporary Redirect"}, {308, "Permanent Redirect"},
        {400, "Bad Request"}, {401, "Unauthorized"}, {403, "Forbidden"},
        {404, "Not Found"}, {405, "Method Not Allowed"}, {408, "Request Timeout"},
        {409, "Conflict"}, {410, "Gone"}, {413, "Content Too Large"},
        {415, "Unsupported Media Type"}, {422, "Unprocessable Content"},
        {429, "Too Many Requests"},
        {431, "Request Header Fields Too Large"},
        {500, "Internal Server Error"}, {501, "Not Implemented"},
        {502, "Bad Gateway"}, {503, "Service Unavailable"},
        {504, "Gateway Timeout"}, {505, "HTTP Version Not Supported"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (t[i].code == status)
            return t[i].text;
    return "Unknown";
}

/* ---- directives ---------------------------------------------------------- */

static void ctl_reset(struct stub_ctl *c)
{
    c->delay_ms = -1;
    c->status = 0;
    c->act = ACT_NONE;
    c->has_bytes = c->has_body = c->has_ctype = false;
    c->bytes = 0;
    c->body.len = c->ctype.len = c->hdrs.len = 0;
    c->chunked = c->nocl = c->badlen = c->badchunk = false;
    c->enc = ENC_NONE;
    c->level = 6;
    c->cut = -1;
    c->slow_ms = 0;
    c->bigheaders = 0;
    c->info = 0;
    c->len = -1;
    c->endless = false;
    c->nest = 0;
    c->nest_kind = 0;
    c->err[0] = 0;
}

void ctl_free(struct stub_ctl *c)
{
    sb_free(&c->body);
    sb_free(&c->ctype);
    sb_free(&c->hdrs);
}

/* hdr=Name:Value */
static bool ctl_hdr(struct stub_ctl *c, const char *v, size_t n)
{
    const char *colon = memchr(v, ':', n);
    if (!colon || colon == v)
        return false;
    for (const char *p = v; p < colon; p++)
        if (!is_tchar((unsigned char)*p))
            return false;
    const char *val = colon + 1, *end = v + n;
    while (val < end && (*val == ' ' || *val == '\t'))
        val++;
    sb_put(&c->hdrs, v, (size_t)(colon - v));
    sb_put(&c->hdrs, ": ", 2);
    sb_put(&c->hdrs, val, (size_t)(end - val));
    sb_put(&c->hdrs, "\r\n", 2);
    return true;
}

static bool ctl_set_body(struct stub_ctl *c, const char *v, size_t n, bool b64)
{
    c->body.len = 0;
    c->has_body = true;
    c->has_bytes = false; /* the last body directive wins */
    c->nest = 0;
    if (!b64) {
        sb_put(&c->body, v, n);
        return true;
    }
    return base64_decode(v, n, &c->body);
}

static bool ctl_flag(struct stub_ctl *c, const char *k, size_t kn)
{
    static const struct {
        const char *key;
        enum stub_action act;
    } acts[] = {{"close", ACT_CLOSE},
                {"reset", ACT_RESET},
                {"garbage", ACT_GARBAGE},
                {"hang", ACT_HANG}};
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++)
        if (ascii_ieq(k, kn, acts[i].key)) {
            c->act = acts[i].act;
            return true;
        }
    if (ascii_ieq(k, kn, "chunked"))
        c->chunked = true;
    else if (ascii_ieq(k, kn, "nocl"))
        c->nocl = true;
    else if (ascii_ieq(k, kn, "badlen"))
        c->badlen = true;
    else if (ascii_ieq(k, kn, "badchunk"))
        c->badchunk = c->chunked = true;
    else if (ascii_ieq(k, kn, "endless"))
        c->endless = true;
    else if (ascii_ieq(k, kn, "gzip"))
        c->enc = ENC_GZIP, c->level = 6;
    else if (ascii_ieq(k, kn, "deflate"))
        c->enc = ENC_DEFLATE, c->level = 6;
    else
        return false;
    return true;
}

/* One key=value directive. False if the key or value is not valid. */
static bool ctl_kv(struct stub_ctl *c, const char *k, size_t kn, const char *v,
                   size_t vn)
{
#define KEY(s) ascii_ieq(k, kn, s)
    uint64_t u;
    if (KEY("body") || KEY("body64"))
        return ctl_set_body(c, v, vn, kn == 6);
    if (KEY("ctype")) {
        c->ctype.len = 0;
        sb_put(&c->ctype, v, vn);
        sb_put(&c->ctype, "", 1); /* NUL: used as a C string */
        c->has_ctype = true;
        return true;
    }
    if (KEY("hdr"))
        return ctl_hdr(c, v, vn);
    if (KEY("gzip") || KEY("deflate")) {
        if (!parse_u64(v, vn, 9, &u))
            return false;
        c->enc = KEY("gzip") ? ENC_GZIP : ENC_DEFLATE;
        c->level = (int)u;
        return true;
    }
    if (KEY("status")) {
        /* 1xx would not be a final answer; below 200 is refused */
        if (!parse_u64(v, vn, 599, &u) || u < 200)
            return false;
        c->status = (int)u;
    } else if (KEY("delay") && parse_u64(v, vn, MAX_DELAY_MS, &u)) {
        c->delay_ms = (long)u;
    } else if (KEY("slow") && parse_u64(v, vn, MAX_DELAY_MS, &u)) {
        c->slow_ms = (long)u;
    } else if (KEY("bytes") && parse_u64(v, vn, MAX_BYTES, &u)) {
        c->bytes = u;
        c->has_bytes = true;
        c->has_body = false;
        c->nest = 0;
    } else if (KEY("cut") && parse_u64(v, vn, INT64_MAX, &u)) {
        c->cut = (int64_t)u;
    } else if (KEY("bigheaders") && parse_u64(v, vn, MAX_BIGHEADERS, &u)) {
        c->bigheaders = (size_t)u;
    } else if (KEY("len") && parse_u64(v, vn, MAX_BYTES, &u)) {
        c->len = (int64_t)u;
    } else if (KEY("info") && parse_u64(v, vn, MAX_INFO, &u)) {
        c->info = u;
    } else if ((KEY("nest") || KEY("nestobj") || KEY("nestxml")) &&
               parse_u64(v, vn, MAX_NEST, &u) && u > 0) {
        c->nest = (size_t)u;
        c->nest_kind = KEY("nest") ? '[' : KEY("nestobj") ? '{' : '<';
        c->has_body = true; /* the last body directive wins */
        c->has_bytes = false;
    } else {
        return false;
    }
    return true;
#undef KEY
}

static void ctl_apply_value(struct stub_ctl *c, const char *v, size_t n)
{
    const char *p = v, *end = v + n, *tok;
    size_t tl;
    while (list_next(&p, end, &tok, &tl)) {
        const char *eq = memchr(tok, '=', tl);
        bool ok = eq ? ctl_kv(c, tok, (size_t)(eq - tok), eq + 1,
                              (size_t)(tok + tl - eq - 1))
                     : ctl_flag(c, tok, tl);
        if (!ok && !c->err[0]) {
            struct sbuf msg = {0};
            sb_puts(&msg, "bad directive: ");
            sb_put(&msg, tok, tl < 120 ? tl : 120);
            sb_put(&msg, "", 1);
            snprintf(c->err, sizeof c->err, "%s", msg.p);
            sb_free(&msg);
        }
    }
}

void ctl_parse(struct stub_ctl *c, const struct stub_req *r, const char *name)
{
    ctl_reset(c);
    /* Generic directives first, then this stub's own, so for every key
     * the stub-specific value wins; hdr= lines accumulate. */
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < r->nh; i++) {
            const char *hn = r->h[i].name;
            bool hit = pass == 0 ? strcasecmp(hn, "x-stub-ctl") == 0
                                 : strncasecmp(hn, "x-stub-ctl-", 11) == 0 &&
                                       strcasecmp(hn + 11, name) == 0;
            if (hit)
                ctl_apply_value(c, r->h[i].value, r->h[i].value_len);
        }
}

/* ---- the reply ------------------------------------------------------------- */

void reply_reset(struct stub_reply *rp)
{
    rp->status = 200;
    rp->ctype = "text/plain";
    rp->hdrs.len = rp->body.len = 0;
    rp->pattern = false;
    rp->pattern_len = 0;
    rp->enc = ENC_NONE;
    rp->level = 6;
    rp->close = false;
}

void reply_free(struct stub_reply *rp)
{
    sb_free(&rp->hdrs);
    sb_free(&rp->body);
    sb_free(&rp->enc_body);
    sb_free(&rp->head);
}

void reply_error(struct stub_reply *rp, int status, const char *msg)
{
    struct jw j;
    rp->status = status;
    rp->ctype = "application/json";
    rp->pattern = false;
    rp->enc = ENC_NONE;
    rp->body.len = 0;
    jw_init(&j, &rp->body);
    jw_open(&j, '{');
    jw_key(&j, "error");
    jw_str(&j, msg);
    jw_close(&j, '}');
}

static uint64_t body_len(const struct stub_reply *rp)
{
    return rp->pattern ? rp->pattern_len : rp->body.len;
}

/* n bytes at off are contiguous: pattern slices are at most STUB_BIG_PIECE */
static const unsigned char *body_at(const struct stub_reply *rp, uint64_t off)
{
    if (rp->pattern)
        return g_pattern + off % 26;
    return (const unsigned char *)rp->body.p + off;
}

/* nest=N: [[[...]]]; nestobj=N: {"a":{"a":...0...}}; nestxml=N:
 * <a><a>...</a></a>. Built in memory (N at most 16 Mi levels). */
static void nest_body(const struct stub_ctl *c, struct sbuf *b)
{
    static const char *const open[] = {"[", "{\"a\":", "<a>"};
    static const char *const close[] = {"]", "}", "</a>"};
    int k = c->nest_kind == '[' ? 0 : c->nest_kind == '{' ? 1 : 2;
    size_t ol = strlen(open[k]), cl = strlen(close[k]);
    sb_reserve(b, c->nest * (ol + cl) + 1);
    for (size_t i = 0; i < c->nest; i++)
        sb_put(b, open[k], ol);
    if (k == 1)
        sb_put(b, "0", 1);
    for (size_t i = 0; i < c->nest; i++)
        sb_put(b, close[k], cl);
}

static void apply_ctl(const struct stub_ctl *c, struct stub_reply *rp)
{
    if (c->endless) { /* a pattern that never ends: see reply_send */
        rp->status = 200;
        rp->ctype = "application/octet-stream";
        rp->body.len = 0;
        rp->pattern = true;
        rp->pattern_len = UINT64_MAX;
    } else if (c->nest) {
        rp->status = 200;
        rp->ctype = c->nest_kind == '<' ? "application/xml" : "application/json";
        rp->body.len = 0;
        rp->pattern = false;
        nest_body(c, &rp->body);
    } else if (c->has_bytes || c->has_body) {
        rp->status = 200;
        rp->ctype = "application/octet-stream";
        rp->body.len = 0;
        rp->pattern = c->has_bytes;
        rp->pattern_len = c->bytes;
        if (c->has_body)
            sb_put(&rp->body, c->body.p, c->body.len);
    }
    if (c->status)
        rp->status = c->status;
    if (c->has_ctype)
        rp->ctype = c->ctype.p;
    sb_put(&rp->hdrs, c->hdrs.p, c->hdrs.len);
}

/* Compresses the whole body up front: Content-Length must be known. */
static int encode(struct stub_reply *rp, enum stub_enc enc, int level)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, level, Z_DEFLATED, enc == ENC_GZIP ? 31 : 15, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    struct sbuf *out = &rp->enc_body;
    out->len = 0;
    uint64_t total = body_len(rp), off = 0;
    int zr, flush;
    do {
        uint64_t left = total - off;
        size_t n = left < STUB_BIG_PIECE ? (size_t)left : STUB_BIG_PIECE;
        zs.next_in = body_at(rp, off);
        zs.avail_in = (uInt)n;
        off += n;
        flush = off == total ? Z_FINISH : Z_NO_FLUSH;
        do {
            sb_reserve(out, 64 * 1024);
            size_t room = out->cap - out->len;
            zs.next_out = (Bytef *)out->p + out->len;
            zs.avail_out = (uInt)(room > (1u << 30) ? (1u << 30) : room);
            uInt before = zs.avail_out;
            zr = deflate(&zs, flush);
            out->len += before - zs.avail_out;
        } while (zs.avail_out == 0);
    } while (flush != Z_FINISH);
    deflateEnd(&zs);
    if (zr != Z_STREAM_END)
        return -1;
    struct sbuf tmp = rp->body;
    rp->body = rp->enc_body;
    rp->enc_body = tmp;
    rp->pattern = false;
    return 0;
}

/* ---- output queue: gathers pieces so small answers take one sendmsg ------ */
#define OQ_N 64

struct outq {
    struct stub_io *io;
    int n, nlines;
    struct iovec iov[OQ_N];
    char lines[OQ_N][24]; /* chunk-size lines, alive until the flush */
};

static int oq_flush(struct outq *q)
{
    int n = q->n;
    q->n = q->nlines = 0;
    return io_sendv(q->io, q->iov, n);
}

static int oq_add(struct outq *q, const void *p, size_t n)
{
    if (!n)
        return 0;
    if (q->n == OQ_N && oq_flush(q) < 0)
        return -1;
    q->iov[q->n++] = (struct iovec){(void *)p, n};
    return 0;
}

static int oq_chunk_line(struct outq *q, uint64_t size, bool bad)
{
    if (q->n == OQ_N && oq_flush(q) < 0)
        return -1;
    char *s = q->lines[q->nlines++];
    int len = bad ? snprintf(s, 24, "zz\r\n")
                  : snprintf(s, 24, "%llx\r\n", (unsigned long long)size);
    return oq_add(q, s, (size_t)len);
}

static void http_date(char out[40])
{
    static _Thread_local time_t last;
    static _Thread_local char buf[40];
    time_t now = time(NULL);
    if (now != last) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        last = now;
    }
    memcpy(out, buf, 40);
}

struct framing {
    bool chunked, nocl, cl;
    uint64_t declared; /* Content-Length value */
};

static void build_head(struct sbuf *h, const struct stub_cfg *cfg,
                       const struct stub_req *r, const struct stub_ctl *ctl,
                       const struct stub_reply *rp, const struct framing *f,
                       enum stub_enc enc)
{
    char date[40];
    http_date(date);
    h->len = 0;
    sb_printf(h,
              "HTTP/1.1 %d %s\r\nDate: %s\r\nX-Stub-Name: %s\r\n"
              "Content-Type: %s\r\n",
              rp->status, status_reason(rp->status), date, cfg->name,
              rp->ctype);
    if (enc != ENC_NONE)
        sb_puts(h, enc == ENC_GZIP ? "Content-Encoding: gzip\r\n"
                                   : "Content-Encoding: deflate\r\n");
    if (f->chunked)
        sb_puts(h, "Transfer-Encoding: chunked\r\n");
    else if (f->cl)
        sb_printf(h, "Content-Length: %llu\r\n",
                  (unsigned long long)f->declared);
    if (rp->close)
        sb_puts(h, "Connection: close\r\n");
    else if (r->http10)
        sb_puts(h, "Connection: keep-alive\r\n");
    sb_put(h, rp->hdrs.p, rp->hdrs.len);
    for (size_t i = 0, left = ctl->bigheaders; left > 0; i++) {
        size_t k = left < BIG_HEADER_VALUE ? left : BIG_HEADER_VALUE;
        sb_printf(h, "X-Big-%zu: ", i);
        sb_reserve(h, k);
        memset(h->p + h->len, 'x', k);
        h->len += k;
        sb_puts(h, "\r\n");
        left -= k;
    }
    sb_puts(h, "\r\n");
}

static int send_body(struct outq *q, const struct stub_reply *rp,
                     const struct stub_ctl *ctl, bool chunked)
{
    uint64_t total = body_len(rp);
    uint64_t limit = ctl->cut >= 0 && (uint64_t)ctl->cut < total
                         ? (uint64_t)ctl->cut
                         : total;
    size_t piece = chunked || ctl->slow_ms ? STUB_PIECE : STUB_BIG_PIECE;
    if (chunked && ctl->badchunk && total == 0 && oq_chunk_line(q, 0, true))
        return -1;
    for (uint64_t off = 0; off < limit;) {
        size_t n = total - off < piece ? (size_t)(total - off) : piece;
        size_t m = limit - off < n ? (size_t)(limit - off) : n;
        if (ctl->slow_ms) {
            if (oq_flush(q) < 0)
                return -1;
            sleep_ms(ctl->slow_ms);
        }
        if (chunked && oq_chunk_line(q, n, off == 0 && ctl->badchunk) < 0)
            return -1;
        if (oq_add(q, body_at(rp, off), m) < 0)
            return -1;
        if (chunked && m == n && oq_add(q, "\r\n", 2) < 0)
            return -1;
        off += m;
    }
    if (chunked && limit == total && !ctl->badchunk &&
        oq_add(q, "0\r\n\r\n", 5) < 0)
        return -1;
    return 0;
}

/* info=N: N interim answers (103 Early Hints, each with a Link header and
 * its number) before the final one; a huge N is a storm that only ends
 * when the client goes away. */
static int send_interim(struct outq *q, uint64_t n)
{
    char buf[OQ_N][96];
    for (uint64_t i = 0; i < n;) {
        int k = 0;
        for (; k < OQ_N && i < n; k++, i++) {
            int len = snprintf(buf[k], sizeof buf[k],
                               "HTTP/1.1 103 Early Hints\r\nLink: </hint/%llu>; "
                               "rel=preload\r\nX-Interim: %llu\r\n\r\n",
                               (unsigned long long)i, (unsigned long long)i);
            if (oq_add(q, buf[k], (size_t)len) < 0)
                return -1;
        }
        if (oq_flush(q) < 0) /* buf is reused: send what points into it */
            return -1;
    }
    return 0;
}

int reply_send(struct stub_io *io, const struct stub_cfg *cfg, const struct stub_req *r,
               const struct stub_ctl *ctl, struct stub_reply *rp)
{
    static const struct stub_ctl none = {.delay_ms = -1, .cut = -1, .len = -1};
    if (!ctl)
        ctl = &none;
    apply_ctl(ctl, rp);
    /* A gzip/deflate directive wins over the route's own choice. */
    enum stub_enc enc = ctl->enc != ENC_NONE ? ctl->enc : rp->enc;
    int level = ctl->enc != ENC_NONE ? ctl->level : rp->level;
    if (enc != ENC_NONE && encode(rp, enc, level) < 0) {
        reply_error(rp, 500, "compression failed");
        ctl = &none;
        enc = ENC_NONE;
    }
    /* 204 and 304 never have a body (RFC 9110 15.3.5, 15.4.5); 204 also
     * has no framing headers. HEAD gets the headers GET would get. */
    bool bodiless = rp->status == 204 || rp->status == 304;
    struct framing f = {0};
    f.chunked = ctl->chunked && !bodiless;
    f.nocl = !f.chunked && ctl->nocl;
    f.cl = !f.chunked && !f.nocl && rp->status != 204;
    f.declared = body_len(rp) + (ctl->badlen ? BADLEN_EXTRA : 0);
    if (ctl->len >= 0) /* a lie that keeps the connection: len=N */
        f.declared = (uint64_t)ctl->len;
    if (ctl->endless && !f.chunked) { /* no length to declare */
        f.nocl = true;
        f.cl = false;
    }
    if (f.nocl || ctl->cut >= 0 || ctl->badlen || ctl->badchunk || ctl->endless)
        rp->close = true; /* the framing is broken or needs EOF */
    build_head(&rp->head, cfg, r, ctl, rp, &f, enc);
    struct outq q = {.io = io};
    if (send_interim(&q, ctl->info) < 0)
        return -1;
    if (oq_add(&q, rp->head.p, rp->head.len) < 0)
        return -1;
    if (!r->is_head && !bodiless && send_body(&q, rp, ctl, f.chunked) < 0)
        return -1;
    return oq_flush(&q);
}
