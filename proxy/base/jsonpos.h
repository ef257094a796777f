/* jsonpos: where is the value at a JSON Pointer (RFC 6901) in a JSON text?
 * Pure and non-recursive: scans the bytes, never allocates, never reads past
 * `len`. Meant for text a parser has already accepted (to point error
 * messages at the right place); on anything else it fails cleanly. Lines and
 * columns are 1-based; columns count bytes. */
#ifndef SP_JSONPOS_H
#define SP_JSONPOS_H

#include <jansson.h>
#include <stddef.h>

/* Position of the value at `pointer` ("" is the whole document, "/a/0" the
 * first element of member "a"). Returns 0, -ENOENT when there is no such
 * value, or -EINVAL when the pointer or the text is malformed. */
int jsonpos_find(const char *text, size_t len, const char *pointer, int *line,
                 int *col);

/* Same, but for a pointer naming an object member, the position of the
 * member's name (its opening quote) rather than of its value. For an array
 * element (or "") it is the value itself. */
int jsonpos_find_key(const char *text, size_t len, const char *pointer,
                     int *line, int *col);

/* Line and column of byte offset `off` (clamped to `len`). */
void jsonpos_line_col(const char *text, size_t len, size_t off, int *line,
                      int *col);

/* A jansson parse error as a message ("invalid JSON: ..." or "duplicate
 * key \"k\"") and the position of the offending token's start, for
 * `file:line:column: message` reports. Shared by the config and rules
 * loaders. */
void jsonpos_syntax_error(const char *text, size_t len, const json_error_t *je,
                          char *msg, size_t size, int *line, int *col);

/* Optimal string alignment distance between two names (a transposition
 * counts as one), for "did you mean" hints; 99 for names over 64 bytes. */
size_t jsonpos_name_distance(const char *a, const char *b);

/* For "X must be ..., got Y" messages, shared by the loaders: user text
 * quoted and escaped, cut at `max` bytes on a UTF-8 boundary; a value's
 * JSON type name; a value as written (scalars) or its type. */
void jsonpos_quote(const char *s, size_t max, char *buf, size_t size);
const char *jsonpos_type_name(const json_t *v);
void jsonpos_show(const json_t *v, size_t max, char *buf, size_t size);

#endif
