/* body: turns a captured HTTP body into something comparable: decoded
 * (gzip/deflate), classified, and parsed when it is JSON. Pure: no I/O. */
#ifndef SP_BODY_H
#define SP_BODY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum body_kind {
    BODY_NONE,   /* no body (empty, HEAD, failed leg) */
    BODY_JSON,   /* parsed: see .json */
    BODY_TEXT,   /* valid UTF-8, not JSON */
    BODY_BINARY, /* anything else */
    BODY_OVERSIZE /* larger than the comparison cap: only length + sha256 */
} body_kind;

typedef struct body_view {
    body_kind kind;
    const unsigned char *data; /* decoded bytes; aliases the raw body or .owned */
    size_t len;
    unsigned char *owned;      /* set when decoding allocated */
    json_t *json;              /* BODY_JSON only; owned */
    uint64_t wire_len;         /* bytes as received (before decoding) */
    char sha256[65];           /* hex of the bytes as received */
    const char *decode_error;  /* static string, e.g. "gzip: invalid data"; NULL if fine */
} body_view;

/* raw/raw_len: the captured bytes. `whole` is false when the body was larger
 * than the capture cap; then only wire_len and sha256_hex describe it and the
 * view is BODY_OVERSIZE. content_type/content_encoding may be NULL. Decoded
 * output is capped at max_decoded bytes (a zip bomb becomes BODY_OVERSIZE with
 * decode_error set). sha256_hex: 64 hex chars computed by the caller while
 * streaming. Returns 0, or -ENOMEM. Never fails on bad input. */
int body_prepare(body_view *out, const unsigned char *raw, size_t raw_len,
                 bool whole, uint64_t wire_len, const char *sha256_hex,
                 const char *content_type, const char *content_encoding,
                 size_t max_decoded);
void body_view_free(body_view *b);

#endif
