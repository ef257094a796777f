/* jsonfast: a faster loader of the JSON documents the comparers parse.
 * jansson's json_loadb reads its input one character at a time through a
 * callback, validating UTF-8 and copying each byte into a token buffer;
 * for the bench's 1.4 + 2.1 KB pair that was 84% of a comparison's
 * instructions (callgrind, 2026-12-07). This scanner walks the buffer in
 * place and builds the same jansson values with jansson's own
 * constructors; whenever the input is not plainly valid (any syntax error,
 * a number out of range, a NUL in a key, deep nesting, a locale whose
 * decimal point is not '.') it hands the whole document to json_loadb, so
 * errors, their text and positions are jansson's. */
#ifndef SP_JSONFAST_H
#define SP_JSONFAST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* The same value as json_loadb(data, len, JSON_DECODE_ANY | JSON_ALLOW_NUL,
 * err): same types, same bytes in strings, same member order, the last of
 * duplicate members kept. A new reference, or NULL with err filled by
 * json_loadb (err may be NULL). On success err is left as it was. Any
 * thread; data need not be NUL-terminated. */
json_t *jsonfast_load(const char *data, size_t len, json_error_t *err);

/* The double of a valid JSON number's text (len > 0 bytes, no NUL
 * needed), without strtod, when it is the common kind: at most about 17
 * digits and a small exponent (glibc's strtod took a tenth of a
 * comparison's instructions, diffbench at 2 KB). The same double as
 * strtod's, bit for bit. false: not that kind, ask strtod. Any locale. */
bool jsonfast_real(const char *text, size_t len, double *out);

#endif
