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
    /* Why the body could not be fully decoded or parsed, e.g.
     * "gzip: invalid data", "unsupported content-encoding: br",
     * "invalid JSON: <reason> at line L column C"; NULL if fine. Points to a
     * static string or to .error_owned, never into the struct itself, so a
     * view may be moved (memcpy'd) to its final home after body_prepare. */
    const char *decode_error;
    char *error_owned;         /* formatted decode_error, if any; owned */
} body_view;

/* Used when body_prepare's max_decoded is 0 (the config default). */
#define BODY_DEFAULT_MAX_DECODED ((size_t)8 << 20)

/* raw/raw_len: the captured bytes; they must outlive the view when nothing
 * was decoded (.data then aliases them). `whole` is false when the body was
 * larger than the capture cap; then only wire_len and sha256_hex describe it
 * and the view is BODY_OVERSIZE. content_type/content_encoding may be NULL;
 * Content-Encoding may list several codings ("gzip, deflate"): they are
 * undone in reverse order. Decoded output is capped at max_decoded bytes (a
 * zip bomb becomes BODY_OVERSIZE with decode_error set); 0 means
 * BODY_DEFAULT_MAX_DECODED. A whole body whose raw bytes already
 * exceed max_decoded is BODY_OVERSIZE without decode_error. A body that is
 * empty after decoding is BODY_NONE. sha256_hex: 64 hex chars computed by the
 * caller while streaming (NULL: left empty). Bodies are parsed as JSON when
 * the content type says JSON (application/json, application/<x>+json,
 * text/json) or when it is absent or text/plain and the first non-space byte
 * is '{' or '['. `out` needs no initialisation; it is overwritten.
 * Returns 0, or -ENOMEM (the view then holds nothing and needs no free).
 * Never fails on bad input. */
int body_prepare(body_view *out, const unsigned char *raw, size_t raw_len,
                 bool whole, uint64_t wire_len, const char *sha256_hex,
                 const char *content_type, const char *content_encoding,
                 size_t max_decoded);
/* Frees what the view owns and zeroes it: safe on a zeroed view and twice. */
void body_view_free(body_view *b);

/* "none", "json", "text", "binary" or "oversize" (used in diff records). */
const char *body_kind_name(body_kind k);

#endif
