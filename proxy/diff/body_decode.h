/* body_decode: undoing a captured body's Content-Encoding, for body.c's
 * body_prepare (body.c parses the header value into body_coding[]).
 * Internal to the body module; no other file includes it. Pure functions: no global state, safe from any thread on distinct views. */
#ifndef SP_BODY_DECODE_H
#define SP_BODY_DECODE_H

#include <stdbool.h>
#include <stddef.h>

#include "diff/body.h"

/* More stacked codings than this is not a real-world response. */
#define BODY_MAX_CODINGS 4

typedef enum body_coding { BODY_CODING_GZIP, BODY_CODING_DEFLATE } body_coding;

/* Undoes codings[0..n), last applied first, on b->data/len, decoding at
 * most `limit` bytes. On success b->data/len (and b->owned, which b owns)
 * hold the decoded bytes and *classify is set true. Bad data leaves the
 * raw bytes as BODY_BINARY with a static decode_error; output over the cap
 * makes the view BODY_OVERSIZE with no data. *classify is then left
 * unchanged. Returns 0, or -ENOMEM: the caller frees the view then. */
int body_decode(body_view *b, const body_coding *codings, int n, size_t limit,
                bool *classify);

#endif
