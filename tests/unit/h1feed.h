/* h1feed: drives base/h1parse the way a client does (the unconsumed tail
 * kept and given again with the next bytes), cutting the input into pieces
 * of sizes chosen by a seed, and pausing the body now and then. Shared by
 * tests/unit/test_h1parse.c and tests/fuzz/fuzz_h1parse.c: whatever the
 * cuts and pauses, a response must parse the same. */
#ifndef SP_H1FEED_H
#define SP_H1FEED_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/h1parse.h"

typedef struct h1feed_out {
    char *head, *body;      /* what the callbacks got, concatenated (owned) */
    size_t head_len, body_len, head_lines;
    h1_error error;
    bool done, keep_alive;
    int status;
    size_t left;            /* bytes after the response's end */
    /* driver state */
    uint64_t rng;
    unsigned pause_every;   /* 0: never pause */
    unsigned body_calls;
    bool paused;
} h1feed_out;

static inline uint64_t h1feed_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static inline int h1feed_append(char **buf, size_t *len, const char *d, size_t n)
{
    char *b = realloc(*buf, *len + n + 1);
    if (!b)
        abort();
    memcpy(b + *len, d, n);
    *len += n;
    b[*len] = '\0';
    *buf = b;
    return 0;
}

static inline int h1feed_on_head(void *ctx, const char *line, size_t len)
{
    h1feed_out *o = ctx;
    o->head_lines++;
    return h1feed_append(&o->head, &o->head_len, line, len);
}

static inline int h1feed_on_body(void *ctx, const char *d, size_t len)
{
    h1feed_out *o = ctx;
    if (o->pause_every && ++o->body_calls % o->pause_every == 0) {
        o->paused = true;
        return H1_PAUSE;
    }
    return h1feed_append(&o->body, &o->body_len, d, len);
}

/* Parses in[0..len) in pieces: seed 0 = one piece, 1 = byte by byte, else
 * random sizes. eof: the connection closes after the last byte. */
static inline void h1feed_run(h1feed_out *o, const char *in, size_t len, bool head_request,
                              uint64_t seed, unsigned pause_every, bool eof)
{
    memset(o, 0, sizeof *o);
    o->rng = seed * 2654435761u + 1;
    o->pause_every = pause_every;
    h1parse p;
    h1parse_init(&p, head_request, h1feed_on_head, h1feed_on_body, o);
    char *carry = malloc(len + 1);
    if (!carry)
        abort();
    size_t clen = 0, pos = 0;
    bool failed = false;
    while (pos < len && !failed && !h1parse_done(&p)) {
        size_t k = seed == 0 ? len : seed == 1 ? 1 : 1 + h1feed_next(&o->rng) % 64;
        if (k > len - pos)
            k = len - pos;
        memcpy(carry + clen, in + pos, k);
        clen += k;
        pos += k;
        for (;;) {
            o->paused = false;
            ssize_t r = h1parse_feed(&p, carry, clen);
            if (r < 0) {
                failed = true;
                break;
            }
            memmove(carry, carry + r, clen - (size_t)r);
            clen -= (size_t)r;
            if (!o->paused)
                break; /* resumed at once: the paused bytes are given again */
        }
    }
    if (!failed && !h1parse_done(&p) && eof)
        failed = h1parse_eof(&p) != 0;
    o->error = p.error;
    o->done = h1parse_done(&p);
    o->keep_alive = h1parse_keep_alive(&p);
    o->status = p.status;
    o->left = clen + (len - pos);
    free(carry);
}

static inline void h1feed_free(h1feed_out *o)
{
    free(o->head);
    free(o->body);
    o->head = o->body = NULL;
}

#endif
