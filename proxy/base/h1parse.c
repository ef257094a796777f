#include "base/h1parse.h"

#include <string.h>
#include <strings.h>

#include "base/hex.h"
#include "base/invariant.h"

enum {
    ST_STATUS,     /* the first line of a head */
    ST_HEADER,     /* header lines until the blank one */
    ST_BODY_LEN,   /* `length` bytes of body */
    ST_BODY_CLOSE, /* body until the connection closes */
    ST_CHUNK_SIZE, /* a chunk-size line */
    ST_CHUNK_DATA, /* `length` bytes of chunk */
    ST_CHUNK_END,  /* the line ending after a chunk's data */
    ST_TRAILER,    /* trailer lines until the blank one */
    ST_DONE,
    ST_ERROR,
};

void h1parse_init(h1parse *p, bool no_body, int (*on_head)(void *, const char *, size_t),
                  int (*on_body)(void *, const char *, size_t), void *ctx)
{
    *p = (h1parse){.on_head = on_head, .on_body = on_body, .ctx = ctx, .no_body = no_body,
                   .state = ST_STATUS};
}

static ssize_t fail(h1parse *p, h1_error e, const char *why)
{
    p->state = ST_ERROR;
    p->error = e;
    p->why = why;
    return -1;
}

bool h1parse_done(const h1parse *p) { return p->state == ST_DONE; }

bool h1parse_in_body(const h1parse *p)
{
    return p->state >= ST_BODY_LEN && p->state <= ST_TRAILER;
}

bool h1parse_keep_alive(const h1parse *p)
{
    if (p->state != ST_DONE || p->conn_close || p->until_close)
        return false;
    return p->http10 ? p->conn_keep : true;
}

/* ---- the head ------------------------------------------------------------ */

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* "HTTP/1.x NNN[ reason]" (curl accepts a status line without a reason). */
static ssize_t status_line(h1parse *p, const char *l, size_t n)
{
    /* n includes the line ending */
    while (n && (l[n - 1] == '\n' || l[n - 1] == '\r'))
        n--;
    if (n < 8 || memcmp(l, "HTTP/", 5) != 0 || l[5] < '0' || l[5] > '9')
        return fail(p, H1E_STATUS, "invalid status line");
    if (l[5] != '1' || l[6] != '.' || (l[7] != '0' && l[7] != '1'))
        return fail(p, H1E_VERSION, "unsupported HTTP version in response (HTTP/1.0 and 1.1 only)");
    if (n < 12 || l[8] != ' ' || !is_digit(l[9]) || !is_digit(l[10]) || !is_digit(l[11]) ||
        (n > 12 && l[12] != ' ') || l[9] == '0')
        return fail(p, H1E_STATUS, "invalid status line");
    p->http10 = l[7] == '0';
    p->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
    return 0;
}

/* Is `tok` one of the comma-separated tokens of v[0..n)? */
static bool has_token(const char *v, size_t n, const char *tok)
{
    size_t tl = strlen(tok);
    const char *end = v + n;
    while (v < end) {
        while (v < end && (*v == ' ' || *v == '\t' || *v == ','))
            v++;
        const char *s = v;
        while (v < end && *v != ',')
            v++;
        const char *e = v;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if ((size_t)(e - s) == tl && strncasecmp(s, tok, tl) == 0)
            return true;
    }
    return false;
}

/* The last coding of Transfer-Encoding is chunked? (RFC 9112 6.3) */
static bool last_is_chunked(const char *v, size_t n)
{
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    size_t s = n;
    while (s && v[s - 1] != ',')
        s--;
    while (s < n && (v[s] == ' ' || v[s] == '\t'))
        s++;
    return n - s == 7 && strncasecmp(v + s, "chunked", 7) == 0;
}

/* Notes what framing a header line says (the line itself is the callback's). */
static void header_line(h1parse *p, const char *l, size_t n)
{
    const char *colon = memchr(l, ':', n);
    if (!colon)
        return;
    size_t nl = (size_t)(colon - l);
    const char *v = colon + 1, *end = l + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    size_t vl = (size_t)(end - v);
    h1framing_field_kind kind = h1framing_field(&p->framing, l, nl, v, vl);
    if (kind == H1F_TRANSFER_ENCODING) {
        p->chunked = last_is_chunked(v, vl); /* the last field decides */
    } else if (kind == H1F_OTHER && nl == 10 && strncasecmp(l, "Connection", 10) == 0) {
        p->conn_close |= has_token(v, vl, "close");
        p->conn_keep |= has_token(v, vl, "keep-alive");
    }
}

/* The blank line ended a head: what comes next. */
static ssize_t head_done(h1parse *p)
{
    int s = p->status;
    if (s >= 100 && s < 200) {
        if (s == 101)
            return fail(p, H1E_HEAD, "unexpected 101 Switching Protocols (no upgrade was asked)");
        /* interim: the final head follows */
        p->state = ST_STATUS;
        p->chunked = p->conn_close = p->conn_keep = false;
        h1framing_init(&p->framing);
        return 0;
    }
    if (p->no_body || s == 204 || s == 304) {
        p->state = ST_DONE;
        return 0;
    }
    const char *why = h1framing_why(&p->framing);
    if (why)
        return fail(p, H1E_LENGTH, why);
    if (p->chunked) {
        p->state = ST_CHUNK_SIZE;
        p->length = 0;
    } else if (p->framing.has_te || !p->framing.has_length) {
        p->state = ST_BODY_CLOSE;
        p->until_close = true;
    } else {
        p->length = p->framing.length;
        p->state = p->length ? ST_BODY_LEN : ST_DONE;
    }
    return 0;
}

/* ---- chunked framing ------------------------------------------------------- */

/* "HEX[ext]\r\n": extensions are skipped, as curl does. */
static ssize_t chunk_size_line(h1parse *p, const char *l, size_t n)
{
    uint64_t x = 0;
    size_t i = 0;
    for (; i < n && hex_digit_value((unsigned char)l[i]) >= 0; i++) {
        if (x >> 60)
            return fail(p, H1E_CHUNK, "chunk size too large in chunked encoding");
        x = x << 4 | (uint64_t)hex_digit_value((unsigned char)l[i]);
    }
    if (i == 0 || (l[i] != ';' && l[i] != ' ' && l[i] != '\t' && l[i] != '\r' && l[i] != '\n'))
        return fail(p, H1E_CHUNK, "illegal or missing hexadecimal sequence in chunked encoding");
    p->length = x;
    if (x == 0) {
        p->state = ST_TRAILER;
        p->head_bytes = 0;
    } else {
        p->state = ST_CHUNK_DATA;
    }
    return 0;
}

/* ---- lines ----------------------------------------------------------------- */

static bool blank(const char *l, size_t n)
{
    return n == 1 || (n == 2 && l[0] == '\r');
}

/* One whole line (ending in LF) in the current state. */
static ssize_t line(h1parse *p, const char *l, size_t n)
{
    bool in_head = p->state == ST_STATUS || p->state == ST_HEADER || p->state == ST_TRAILER;
    if (in_head) {
        if (memchr(l, '\0', n))
            return fail(p, H1E_HEAD, "NUL byte in the answer's header");
        p->head_bytes += (uint32_t)n;
        if (p->head_bytes > H1_HEAD_MAX)
            return fail(p, H1E_TOO_LARGE, "too large response headers (over 300 KiB)");
    }
    switch (p->state) {
    case ST_STATUS:
        if (status_line(p, l, n) < 0)
            return -1;
        p->state = ST_HEADER;
        break;
    case ST_HEADER:
        if (!blank(l, n))
            header_line(p, l, n);
        break;
    case ST_CHUNK_SIZE:
        return chunk_size_line(p, l, n);
    case ST_CHUNK_END:
        if (!blank(l, n))
            return fail(p, H1E_CHUNK, "chunk data not followed by CRLF in chunked encoding");
        p->state = ST_CHUNK_SIZE;
        return 0;
    case ST_TRAILER:
        break;
    default:
        assert(!"a line outside the head and the chunk framing");
    }
    if (p->on_head(p->ctx, l, n) != H1_GO)
        return fail(p, H1E_CALLBACK, "the answer's header was refused");
    if (p->state == ST_HEADER && blank(l, n))
        return head_done(p);
    if (p->state == ST_TRAILER && blank(l, n))
        p->state = ST_DONE;
    return 0;
}

/* The body bytes the state takes from d[0..n): how many, or -1 (error) or
 * -2 (paused: none taken). */
static ssize_t body(h1parse *p, const char *d, size_t n)
{
    size_t take = n;
    if (p->state != ST_BODY_CLOSE && p->length < take)
        take = (size_t)p->length;
    int rc = p->on_body(p->ctx, d, take);
    if (rc == H1_PAUSE)
        return -2;
    if (rc != H1_GO)
        return fail(p, H1E_CALLBACK, "the answer's body was refused");
    if (p->state != ST_BODY_CLOSE) {
        p->length -= take;
        if (p->length == 0)
            p->state = p->state == ST_BODY_LEN ? ST_DONE : ST_CHUNK_END;
    }
    return (ssize_t)take;
}

ssize_t h1parse_feed(h1parse *p, const char *data, size_t len)
{
    if (p->state == ST_ERROR)
        return -1;
    size_t pos = 0;
    while (pos < len && p->state != ST_DONE) {
        const char *d = data + pos;
        size_t n = len - pos;
        if (p->state == ST_BODY_LEN || p->state == ST_BODY_CLOSE || p->state == ST_CHUNK_DATA) {
            ssize_t took = body(p, d, n);
            if (took == -2)
                break;
            if (took < 0)
                return -1;
            pos += (size_t)took;
            p->seen += (uint64_t)took;
            continue;
        }
        if (p->state == ST_STATUS && p->seen == 0 && p->head_bytes == 0) {
            size_t k = n < 5 ? n : 5; /* not HTTP: said at once, not after a line */
            if (memcmp(d, "HTTP/", k) != 0)
                return fail(p, H1E_NOT_HTTP, "received HTTP/0.9 or not HTTP");
        }
        size_t from = p->scanned < n ? p->scanned : n;
        const char *lf = memchr(d + from, '\n', n - from);
        if (!lf) {
            if (n > H1_LINE_MAX)
                return fail(p, H1E_TOO_LARGE, "response header line too long (over 100 KiB)");
            p->scanned = (uint32_t)n;
            break;
        }
        size_t ll = (size_t)(lf - d) + 1;
        if (ll > H1_LINE_MAX)
            return fail(p, H1E_TOO_LARGE, "response header line too long (over 100 KiB)");
        p->scanned = 0;
        if (line(p, d, ll) < 0)
            return -1;
        pos += ll;
        p->seen += ll;
    }
    return (ssize_t)pos;
}

int h1parse_eof(h1parse *p)
{
    switch (p->state) {
    case ST_DONE:
        return 0;
    case ST_ERROR:
        return -1;
    case ST_BODY_CLOSE:
        p->state = ST_DONE;
        return 0;
    case ST_STATUS:
        if (p->seen == 0 && p->scanned == 0)
            return (int)fail(p, H1E_NOTHING, "empty reply from server");
        /* fall through */
    case ST_HEADER:
        return (int)fail(p, H1E_HEAD_CUT, "connection closed inside the answer's header");
    default:
        return (int)fail(p, H1E_BODY_CUT, "transfer closed with outstanding read data remaining");
    }
}
