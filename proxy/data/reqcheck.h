/* reqcheck: what a client's request must look like before anything of it
 * goes upstream. libmicrohttpd 0.9.75 is lenient: it hands on header names
 * with spaces or control characters, values with a bare CR, targets with
 * spaces, and it frames a body by Transfer-Encoding when Content-Length is
 * there too, or by the first of two different Content-Lengths. Forwarded
 * as is, those reach an upstream that may read them another way (request
 * smuggling, header injection), or make curl fail with a misleading 502.
 * The proxy refuses them with a 400 (501 for a transfer coding it does not
 * know) instead. Pure functions over the parsed request. */
#ifndef SP_REQCHECK_H
#define SP_REQCHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "base/headers.h"

/* RFC 9110 token (method, header name): 1*tchar. */
bool reqcheck_token(const char *s, size_t n);

/* The request-target of an origin-form request: visible ASCII only
 * (0x21..0x7e), no '#'. Anything else curl would reject (a 502 that is the
 * client's fault) or silently rewrite (percent-encode non-ASCII bytes, drop
 * a fragment), so the upstreams would not get the target the client sent.
 * NULL when fine, else why not. */
const char *reqcheck_target(const char *uri);

/* One header field: the name a token, the value without control characters
 * other than HTAB (no NUL, CR, LF, DEL: RFC 9110 5.5). NULL or why not. */
const char *reqcheck_field(const char *name, size_t name_len, const char *value,
                           size_t value_len);

/* Message framing (RFC 9112 6): Content-Length fields must agree and be
 * digits only; Transfer-Encoding must be one field, exactly "chunked" (as
 * MHD reads it: no list, no trailing space), never with a
 * Content-Length, never in an HTTP/1.0 request. Returns 0 when fine, else
 * the status to answer (400, or 501 for an unknown coding) with *why set. */
int reqcheck_framing(const hdr_list *h, bool http10, const char **why);

#endif
