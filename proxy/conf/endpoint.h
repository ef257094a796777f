/* endpoint: the endpoint of a request, Diffy style: its method and a path
 * template inferred from the path, where each segment that looks like an
 * instance (a number, a UUID, a hash, a SKU, a date, an e-mail) becomes
 * `{id}`: "GET /api/orders/42?x=1" is "GET /api/orders/{id}". It names the
 * exchanges no route matched (docs/rules.md, "Endpoints"): in diff-log
 * records (`endpoint`), the report, the metrics and the dashboard, and the
 * routes `rules suggest` proposes. Pure: no I/O, no globals, any thread. */
#ifndef SP_ENDPOINT_H
#define SP_ENDPOINT_H

#include <stdbool.h>
#include <stddef.h>

/* Bytes of a template, NUL included, at most: a longer path is cut at a
 * segment boundary and ends in "/…". */
#define ENDPOINT_MAX 256
#define ENDPOINT_ID "{id}"

/* Does one raw path segment (n bytes, not NUL-terminated) name an instance
 * rather than a kind of thing? True for: all digits; a UUID; 8 or more hex
 * digits with at least one digit; a token of letters, digits and
 * `-._~%:@+=` holding a digit that is not a version (`v2`, `v1.1`) nor a
 * word with one trailing digit (`oauth2`, `ipv6`, `s3`): "24-MB01",
 * "FOO-9", "MB01", "2024-01-01", "INV-000042"; anything with `@` (an
 * e-mail). False for "", "orders", "v2", "oauth2". */
bool endpoint_segment_is_id(const char *seg, size_t n);

/* Writes "METHOD TEMPLATE" into out (NUL-terminated, cut to size - 1 bytes
 * on a character boundary; size >= 8). The template is the raw path of uri
 * (up to '?' or '#'; an absolute-form target "http://host/p" by its path;
 * "*" and a target not starting with '/' as "/") with id-like segments
 * replaced by {id}, and cut after ENDPOINT_MAX - 32 bytes with "/…".
 * method NULL or "" is written "?". Bytes that are control characters or
 * not printable ASCII in the method or path are kept as they are in the
 * path (templates are labels: callers escape them where they print them).
 * Returns the length written. */
size_t endpoint_template(const char *method, const char *uri, char *out, size_t size);

/* The name a record's exchange is grouped under (report, rules suggest,
 * replay): its route, or for the route "default" its endpoint (the
 * record's `endpoint`, or, for a record written before endpoints, the
 * template of method and uri, written into buf). route NULL or "" gives
 * NULL. Returns one of the strings given, or buf. */
const char *endpoint_group(const char *route, const char *endpoint, const char *method,
                           const char *uri, char *buf, size_t size);

#endif
