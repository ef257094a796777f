/* h1parse: an incremental HTTP/1.x RESPONSE parser (RFC 9112), for the
 * lean shadow client (data/h1client.h). Pure: no I/O, no allocation, no
 * globals; the caller owns every byte.
 *
 * The head is delivered line by line, as libcurl's HEADERFUNCTION does:
 * the status line, each header line with its line ending, the blank line;
 * an interim 1xx head is delivered whole, then the final one; trailers
 * after the body of a chunked answer, then their blank line. The body is
 * delivered in pieces, de-chunked.
 *
 * Framing: no body for a HEAD request, 1xx, 204 and 304; else chunked
 * (Transfer-Encoding ending in "chunked"), else Content-Length, else the
 * body runs until the connection closes (h1parse_eof). Refused with an
 * error (h1parse.error and h1parse_why):
 *   - not an HTTP/1.x status line, a status code that is not 3 digits;
 *   - a header line over H1_LINE_MAX or a head over H1_HEAD_MAX (curl's
 *     limits: CURL_MAX_HTTP_HEADER, MAX_HTTP_RESP_HEADER_SIZE), a NUL byte
 *     in the head;
 *   - a Content-Length that is not a plain decimal number (negative,
 *     garbage, over 2^63 - 1), or two that disagree, or beside
 *     Transfer-Encoding: base/h1framing.h's rules and words, checked once
 *     the whole head is delivered (the head's callback sees the fields
 *     first);
 *   - a chunk size that is not hex or overflows 64 bits, data not followed
 *     by its line ending.
 *
 * Contract of h1parse_feed: it consumes whole lines of the head (and of
 * the chunked framing) only; the bytes it did not consume must be given
 * again, at the start of the next call's data, followed by the new ones
 * (the parser remembers how far it looked, so a long line fed byte by byte
 * costs linear time). A body callback that returns H1_PAUSE did not take
 * its bytes: feed returns at once, before them. */
#ifndef SP_H1PARSE_H
#define SP_H1PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/h1framing.h"

#define H1_LINE_MAX (100u * 1024) /* one header line, like curl's */
#define H1_HEAD_MAX (300u * 1024) /* one head (or the trailers), like curl's */

/* What a callback returns. */
enum { H1_GO = 0, H1_PAUSE = 1, H1_STOP = -1 };

typedef enum h1_error {
    H1E_NONE = 0,
    H1E_NOT_HTTP,    /* the answer does not start with "HTTP/" */
    H1E_VERSION,     /* HTTP/ but not 1.0 or 1.1 */
    H1E_STATUS,      /* a malformed status line */
    H1E_HEAD,        /* a malformed head: NUL byte, a 101 nobody asked for */
    H1E_TOO_LARGE,   /* a line or the head over the limits */
    H1E_LENGTH,      /* a bad Content-Length, or one beside Transfer-Encoding */
    H1E_CHUNK,       /* bad chunked framing */
    H1E_CALLBACK,    /* a callback returned H1_STOP */
    H1E_NOTHING,     /* closed before any byte */
    H1E_HEAD_CUT,    /* closed inside the head */
    H1E_BODY_CUT,    /* closed before the body's end */
} h1_error;

typedef struct h1parse {
    /* Set by h1parse_init. */
    int (*on_head)(void *ctx, const char *line, size_t len);
    int (*on_body)(void *ctx, const char *data, size_t len);
    void *ctx;
    bool no_body;       /* the request was HEAD */
    /* State (read-only for the caller: status, keep_alive, error). */
    uint8_t state;
    bool chunked, conn_close, conn_keep, http10;
    h1framing framing;  /* the current head's Content-Length and Transfer-Encoding */
    bool until_close;   /* the body ends when the connection does */
    int status;         /* the current head's status code */
    uint64_t length;    /* what remains of the body (Content-Length) or the chunk */
    uint64_t seen;      /* bytes consumed so far */
    uint32_t head_bytes; /* of the current head (or the trailers) */
    uint32_t scanned;   /* bytes of the pending line already searched for LF */
    h1_error error;
    const char *why;    /* static words for the error */
} h1parse;

/* A fresh parser for one response. */
void h1parse_init(h1parse *p, bool no_body, int (*on_head)(void *, const char *, size_t),
                  int (*on_body)(void *, const char *, size_t), void *ctx);
/* Feeds bytes (see the contract above). Returns how many were consumed
 * (possibly 0), or -1 on error (p->error, p->why; later calls return -1).
 * Once the response is complete (h1parse_done) it consumes nothing more:
 * what follows belongs to no response. */
ssize_t h1parse_feed(h1parse *p, const char *data, size_t len);
/* The connection closed (after every byte was fed): 0 when that completes
 * the response (a body that runs until close), else -1 with the error
 * (H1E_NOTHING, H1E_HEAD_CUT, H1E_BODY_CUT). */
int h1parse_eof(h1parse *p);
/* The response is complete. */
bool h1parse_done(const h1parse *p);
/* May the connection carry another request after this complete response?
 * (HTTP/1.1 without Connection: close, or 1.0 with keep-alive, and a body
 * that did not run until close.) */
bool h1parse_keep_alive(const h1parse *p);
/* Is the parser inside a paused or partial body (not in the head)? For the
 * client: a response whose head was delivered. */
bool h1parse_in_body(const h1parse *p);

#endif
