/* jsonline: a jansson value as one line of compact JSON, written straight
 * into one buffer. The bytes are json_dump_callback's with JSON_COMPACT |
 * JSON_ENCODE_ANY and a real precision of jsonline_digits(v), except that
 * U+0085, U+2028 and U+2029 are written as \u escapes (a reader that splits
 * lines on them never splits a record). Why not jansson's dump: it calls
 * back for every token and decodes every code point, about 90,000
 * instructions for a 1 KB diff-log record (callgrind, 2026-12-07), the
 * largest part of a record's cost.
 *
 * Pure functions, any thread. Strings and keys are taken as jansson holds
 * them (valid UTF-8: json_string and json_object_set check it). */
#ifndef SP_JSONLINE_H
#define SP_JSONLINE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Digits %g needs for d to read back as the same double: 15, 16 or 17. */
int jsonline_real_digits(double d);
/* The same by printing d with 15 and 16 digits and reading it back: the
 * reference jsonline_real_digits' shortcut for short decimals is tested
 * against (tests/unit/test_jsonline.c). */
int jsonline_real_digits_by_printf(double d);
/* The most digits any real of v needs (15 when none needs more; 17 at
 * most): every real of a dump is written with that many, like jansson's
 * JSON_REAL_PRECISION, so 19.99 stays 19.99 and nothing is rounded. */
int jsonline_digits(const json_t *v);
/* v as compact JSON plus '\n' (malloc'd, NUL-terminated; *len, if not
 * NULL, gets its length without the NUL). NULL for a NULL v or out of
 * memory. */
char *jsonline_dump(const json_t *v, size_t *len);
/* Is v's compact JSON as jsonline_dump writes it (without the '\n') at
 * most limit bytes? It is jansson's dump at the same precision with the
 * line separators escaped, so never shorter. Stops soon after the limit;
 * false also for a NULL v or out of memory. */
bool jsonline_fits(const json_t *v, size_t limit);

#endif
