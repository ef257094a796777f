/* body_decode: undoing a body's Content-Encoding (gzip and deflate,
 * stacked), capped, for body.c (diff/body_decode.h). Split from body.c. */
#include "diff/body_decode.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

typedef enum infl_result {
    INFL_OK,
    INFL_BAD,       /* not valid compressed data */
    INFL_TRUNCATED, /* valid so far, but the stream never ended */
    INFL_TOO_BIG,   /* output would exceed the cap */
    INFL_NOMEM
} infl_result;

/* Makes room in the output buffer, never beyond limit + 1 bytes: one byte
 * past the cap is enough to know the output is too big. */
static infl_result grow_out(unsigned char **buf, size_t *cap, size_t len,
                            size_t in_len, size_t limit)
{
    if (len < *cap)
        return INFL_OK;
    if (*cap > limit)
        return INFL_TOO_BIG;
    /* First guess: 4x the input (typical for JSON and HTML), then double.
     * limit <= SIZE_MAX / 2, so clamping before multiplying cannot wrap. */
    size_t want;
    if (*cap)
        want = *cap > limit / 2 ? limit + 1 : *cap * 2;
    else
        want = in_len > limit / 4 ? limit + 1
               : in_len < 4096    ? 16384
                                  : in_len * 4;
    if (want > limit + 1)
        want = limit + 1;
    unsigned char *q = realloc(*buf, want);
    if (!q)
        return INFL_NOMEM;
    *buf = q;
    *cap = want;
    return INFL_OK;
}

/* Feeds the next input chunk: z_stream counts in uInt, bodies in size_t. */
static void feed(z_stream *zs, const unsigned char *in, size_t in_len,
                 size_t *in_off)
{
    if (zs->avail_in > 0 || *in_off >= in_len)
        return;
    size_t chunk = in_len - *in_off;
    if (chunk > UINT_MAX)
        chunk = UINT_MAX;
    zs->next_in = (unsigned char *)(in + *in_off);
    zs->avail_in = (uInt)chunk;
    *in_off += chunk;
}

/* After a gzip member ends, another may follow (RFC 1952 allows
 * concatenated members; some servers stream that way). */
static bool next_gzip_member(z_stream *zs, const unsigned char *in,
                             size_t in_len, size_t *in_off)
{
    feed(zs, in, in_len, in_off);
    return zs->avail_in >= 2 && zs->next_in[0] == 0x1f &&
           zs->next_in[1] == 0x8b && inflateReset(zs) == Z_OK;
}

static infl_result inflate_loop(z_stream *zs, const unsigned char *in,
                                size_t in_len, bool gzip, size_t limit,
                                unsigned char **buf, size_t *len)
{
    size_t cap = 0, in_off = 0;
    for (;;) {
        infl_result g = grow_out(buf, &cap, *len, in_len, limit);
        if (g != INFL_OK)
            return g;
        feed(zs, in, in_len, &in_off);
        size_t room = cap - *len < UINT_MAX ? cap - *len : UINT_MAX;
        zs->next_out = *buf + *len;
        zs->avail_out = (uInt)room;
        int rc = inflate(zs, Z_NO_FLUSH);
        *len += room - zs->avail_out;
        if (*len > limit)
            return INFL_TOO_BIG;
        if (rc == Z_STREAM_END) {
            /* Trailing bytes that are not a gzip member are ignored, as
             * browsers and curl do. */
            if (gzip && next_gzip_member(zs, in, in_len, &in_off))
                continue;
            return INFL_OK;
        }
        if (rc == Z_BUF_ERROR && zs->avail_out > 0)
            return INFL_TRUNCATED; /* no input left, stream not finished */
        if (rc == Z_MEM_ERROR)
            return INFL_NOMEM;
        if (rc != Z_OK && rc != Z_BUF_ERROR)
            return INFL_BAD; /* Z_DATA_ERROR, Z_NEED_DICT, ... */
    }
}

/* window_bits: 15+32 auto-detects gzip or zlib; 15 is zlib; -15 is raw. */
static infl_result inflate_all(const unsigned char *in, size_t in_len,
                               int window_bits, size_t limit,
                               unsigned char **out, size_t *out_len)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, window_bits) != Z_OK)
        return INFL_NOMEM;
    unsigned char *buf = NULL;
    size_t len = 0;
    infl_result r = inflate_loop(&zs, in, in_len, window_bits > 15, limit,
                                 &buf, &len);
    inflateEnd(&zs);
    if (r != INFL_OK) {
        free(buf);
        return r;
    }
    *out = buf;
    *out_len = len;
    return INFL_OK;
}

/* "deflate" is meant to be zlib-wrapped (RFC 9110 8.4.1.2) but servers have
 * long sent raw deflate too: try zlib, then raw. */
static infl_result decode_one(body_coding c, const unsigned char *in, size_t in_len,
                              size_t limit, unsigned char **out,
                              size_t *out_len)
{
    if (c == BODY_CODING_GZIP)
        return inflate_all(in, in_len, 15 + 32, limit, out, out_len);
    infl_result r = inflate_all(in, in_len, 15, limit, out, out_len);
    if (r == INFL_BAD || r == INFL_TRUNCATED) {
        infl_result raw = inflate_all(in, in_len, -15, limit, out, out_len);
        if (raw != INFL_BAD && raw != INFL_TRUNCATED)
            return raw;
    }
    return r;
}

static const char *coding_error(body_coding c, infl_result r)
{
    if (c == BODY_CODING_GZIP)
        return r == INFL_TRUNCATED ? "gzip: truncated data"
                                   : "gzip: invalid data";
    return r == INFL_TRUNCATED ? "deflate: truncated data"
                               : "deflate: invalid data";
}

/* Undoes the codings, last applied first. On success b->data/len hold the
 * decoded bytes and *classify is set. Bad data leaves the raw bytes as
 * BODY_BINARY; output over the cap makes the view BODY_OVERSIZE. */
int body_decode(body_view *b, const body_coding *codings, int n,
                size_t limit, bool *classify)
{
    const unsigned char *raw = b->data;
    size_t raw_len = b->len;
    for (int i = n - 1; i >= 0; i--) {
        unsigned char *out = NULL;
        size_t out_len = 0;
        infl_result r = decode_one(codings[i], b->data, b->len, limit, &out,
                                   &out_len);
        if (r == INFL_NOMEM)
            return -ENOMEM;
        if (r == INFL_OK) {
            free(b->owned);
            b->owned = out;
            b->data = out;
            b->len = out_len;
            continue;
        }
        free(b->owned); /* an inner coding's output, if any */
        b->owned = NULL;
        b->data = raw;
        b->len = raw_len;
        if (r == INFL_TOO_BIG) {
            b->kind = BODY_OVERSIZE;
            b->data = NULL;
            b->len = 0;
            b->decode_error = "decoded body exceeds the comparison cap";
        } else {
            b->kind = BODY_BINARY;
            b->decode_error = coding_error(codings[i], r);
        }
        return 0;
    }
    *classify = true;
    return 0;
}
