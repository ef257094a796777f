/* record: builds one diff-log record (see docs/diff-log.md) and redacts
 * secrets before anything is serialized. Pure: no I/O, no globals. */
#ifndef SP_RECORD_H
#define SP_RECORD_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "diff/body.h"
#include "base/headers.h"
#include "base/pathpat.h"
#include "base/secret.h"

#define RECORD_SCHEMA_VERSION 1

/* The deepest JSON a record embeds as JSON: a body, or a difference's
 * value, nested deeper is embedded as its compact text (a string), so that
 * every record stays readable by tools with a nesting limit (jq 1.6, in
 * Debian 12, stops at 256 levels; a record adds 3 around a body). */
#define RECORD_MAX_JSON_DEPTH 200

/* What a secret is replaced with, wherever it appears. */
#define RECORD_REDACTED "[redacted]"

typedef struct record_opts {
    size_t max_body_bytes;          /* bodies embedded up to this many bytes */
    /* Secret names by family and card numbers by value (base/secret.h)
     * are always redacted; this says which families are off for which
     * names. Zeroed: every family on, nothing exempt. */
    secret_policy secrets;
    /* Exact names on top of the families (diff_log.redact_fields and the
     * route's), ASCII case-insensitive; borrowed. */
    const char *const *redact_fields;
    size_t nredact_fields;
    /* Per route, on top of redact_fields: JSON Pointer patterns (pathpat.h,
     * "*" and "**") whose values are redacted in JSON, XML and form bodies
     * and in differences; borrowed. NULL/0: none. */
    const path_pattern *redact_paths;
    size_t nredact_paths;
} record_opts;

typedef struct record_leg {
    bool attempted;          /* false: the leg was never sent (dropped/skipped) */
    int status;              /* 0 when no answer */
    const hdr_list *headers; /* may be NULL */
    const body_view *body;   /* may be NULL */
    double duration_ms;
    const char *error;       /* NULL when fine */
} record_leg;

typedef struct record_input {
    const char *id;
    const char *trace_id;    /* W3C trace id (32 hex digits); NULL to omit */
    const char *client_request_id; /* the client's X-Request-Id when id had to differ; NULL to omit */
    int64_t ts_ms;           /* Unix epoch, milliseconds (request arrival) */
    const char *route;
    const char *endpoint;    /* method and path template (conf/endpoint.h); NULL to omit */
    const char *method;
    const char *uri;         /* raw request-target */
    const char *authority;   /* "legacy" or "new" */
    const char *verdict;
    const char *reason;      /* optional: why skipped/dropped; NULL to omit */
    const hdr_list *req_headers;
    const body_view *req_body;
    record_leg legacy, new_;
    json_t *differences;     /* borrowed; may be NULL (written as []) */
} record_input;

/* A new record object, redacted. NULL only on allocation failure. */
json_t *record_build(const record_input *in, const record_opts *o);
/* Notes on record_build:
 * - Nothing in *in is modified. JSON values that need no redaction (body
 *   json, difference values) are shared with the record by reference
 *   (json_incref), not copied: don't modify them afterwards; decref and
 *   body_view_free as usual. Values that hold a secret are deep-copied.
 * - A leg with attempted == false is written as attempted false and every
 *   other field null (body_format "none", body_bytes 0), whatever the rest
 *   of the struct holds; say why in in->reason.
 * - status <= 0 is written as null; duration_ms is rounded to 0.001 and
 *   written as null when negative or not finite.
 * - A string that is not valid UTF-8 (obs-text in a header, raw bytes in
 *   the uri) is read as ISO-8859-1, like compare.c's header values.
 *   NULL strings become null.
 * - o == NULL means: 64 KiB bodies, the secret families, no other
 *   redacted field. */

/* record_build with the route's redaction added to base's: rt's
 * redact_fields and redact_exempt appended to base's lists, rt's
 * redact_paths used (proxy/diff/record_route.c). rt NULL, or a route with
 * no redaction of its own: record_build(in, base). Nothing in base or rt is
 * modified or kept. A new record, or NULL on allocation failure (never a
 * record without its redaction). Any thread. */
struct route;
json_t *record_build_for_route(const record_opts *base, const record_input *in,
                               const struct route *rt);

/* Serializes a record as one line ending in '\n' (compact, no raw newlines).
 * Returns a malloc'd string and its length, or NULL.
 * Reals are written with the fewest of 15/16/17 significant digits that
 * read back exactly for every real in the record (19.99 -> 19.99). U+0085,
 * U+2028 and U+2029 are written as \u escapes. Free with free(). */
char *record_to_line(const json_t *record, size_t *len);

/* Redaction helpers, in proxy/diff/redact.c (also usable by the comparison, to
 * redact diff values). */
/* Authorization, Cookie, ..., X-Api-Key: secret_header_name under o's
 * policy (o may be NULL). */
bool redact_header_name(const char *name, const record_opts *o);
/* Is a member with this name a secret? A secret family's name
 * (secret_name, under o's exemptions), or one of redact_fields, exact and
 * ASCII case-insensitive; a leading '@' is ignored ("@password": an XML
 * attribute; "@{uri}password" too), and a PHP-style form key "a[b][c]" is
 * a secret if any of a, b, c is listed ("login[password]"). */
bool redact_field_name(const char *name, const record_opts *o);
/* In place, recursive: redacted field names and redact_paths (strict, from
 * the root; the root itself cannot be replaced in place). */
void redact_json(json_t *v, const record_opts *o);
/* Does a JSON Pointer path end in (or pass through) a redacted field name
 * or a redact_paths pattern? */
bool redact_path(const char *pointer, const record_opts *o);

/* Lower level, for record.c. `lenient` is for XML and form trees, whose
 * indices come and go with the number of repeated elements: a path index
 * may be skipped, and a pattern's "*", index or "#text" may match nothing,
 * so a pattern written for either shape redacts both (never less). */
/* Is the node named `name` (NULL: an array item) at segs a secret? */
bool redact_at(const record_opts *o, const char *name,
               const char *const *segs, size_t nsegs, bool lenient);
bool redact_path_in(const char *pointer, const record_opts *o, bool lenient);
/* Would redacting the tree v (a whole body) change anything? */
bool redact_tree_has_secret(const json_t *v, const record_opts *o,
                            bool lenient);
/* v itself (one more reference) when nothing under it is a secret, else a
 * redacted deep copy; `pointer` is v's path ("" for a body). NULL: ENOMEM. */
json_t *redact_copy(json_t *v, const char *pointer, const record_opts *o,
                    bool lenient);
/* A form body's text with the value of each secret pair replaced by
 * "[redacted]" (tree: the body's BODY_FORM tree). 0 or -ENOMEM. */
int redact_form_text(const unsigned char *data, size_t len,
                     const json_t *tree, const record_opts *o, char **out,
                     size_t *out_len);
/* An XML body re-serialized with secret elements and attributes replaced
 * (xmltree_redact). 0, -EINVAL or -ENOMEM. */
int redact_xml_text(const unsigned char *data, size_t len,
                    const record_opts *o, char **out, size_t *out_len);
/* Does the body look like multipart/form-data ("--B" CRLF, a part with
 * Content-Disposition)? The record has no Content-Type: by content. */
/* A JSON-lines body (NDJSON, JSON Lines, json-seq: one JSON text a line,
 * RS and blanks around it allowed) with each line redacted as a JSON body
 * (redact_copy): a line without secrets byte for byte, one with secrets
 * re-serialized compactly. 0 (*out malloc'd, NUL-terminated), -EINVAL (a
 * non-blank line is not JSON: the caller decides, as for any text that
 * claimed JSON) or -ENOMEM. */
int redact_json_lines_text(const unsigned char *data, size_t len,
                           const record_opts *o, char **out, size_t *out_len);
bool redact_is_multipart(const unsigned char *data, size_t len);
/* A multipart/form-data body with the value of each part whose name is a
 * secret (redact_field_name), or whose value is a card number, replaced by
 * "[redacted]"; everything else byte for byte. 0, -EINVAL (not
 * multipart, or not well formed: no closing delimiter) or -ENOMEM. */
int redact_multipart_text(const unsigned char *data, size_t len,
                          const record_opts *o, char **out, size_t *out_len);
/* Is the scalar v (a string, or an integer's digits), a member named
 * `name` (NULL: none known), a payment card number that o's policy masks
 * (secret_card_value)? */
bool redact_card_value(const json_t *v, const char *name,
                       const record_opts *o);
/* Does an XML body's text hold a comment or CDATA section (they are not
 * in its tree) that may hold a secret (redact_may_hold_secret)? Then the
 * body is re-written (redact_xml_text), never embedded as received. */
bool redact_xml_aside_has_secret(const unsigned char *data, size_t len,
                                 const record_opts *o);
/* For a body that claimed to be JSON or XML but did not parse: does its
 * text mention a secret name (a family's, or a redacted field name), a card
 * number, or the last name of a redact path (always true for a pattern
 * without one, like "/ **")? */
bool redact_may_hold_secret(const unsigned char *data, size_t len,
                            const record_opts *o);


#endif
