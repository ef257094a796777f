/* normalize: value normalizations for comparison rules (rule_normalize in
 * rules.h, applied by rulecmp_prepare). Pure functions over strings and
 * jansson values; no I/O, no globals. */
#ifndef SP_NORMALIZE_H
#define SP_NORMALIZE_H

#include <jansson.h>
#include <stddef.h>

enum {
    NORM_TRIM = 1,     /* strip ASCII whitespace " \t\n\r\f\v" at both ends */
    NORM_NUMBER = 2,   /* a string that is exactly a JSON number -> number */
    NORM_CASE = 4,     /* ASCII letters lower-cased */
    NORM_DATETIME = 8  /* date-time -> canonical UTC (normalize_datetime) */
};

/* A string normalized by `flags`, in this order: trim; then number (if the
 * trimmed text is a number, that number is the result); then date-time (if
 * it parses, the canonical text is the result); then lower case. Case
 * folding is ASCII only: other bytes are left alone, so UTF-8 stays valid
 * ("É" is not folded). Returns a new reference, or NULL when nothing
 * changes (or out of memory: then *err = -ENOMEM). */
json_t *normalize_string(const json_t *v, unsigned flags, int *err);

/* The number [s, s+n) spells, when it is exactly a JSON number (RFC 8259
 * grammar: "10.00" -> 10.0 real, "1e2" -> 100.0 real, "-3" -> -3 integer;
 * integers beyond json_int_t become reals); NULL otherwise ("+3", "007",
 * ".5", " 7", "1e999") or when out of memory. */
json_t *normalize_number(const char *s, size_t n);

/* Canonical form of a date-time: "YYYY-MM-DDThh:mm:ss.mmmZ" in UTC, with
 * further fractional digits only when they are not zero (".123456" keeps
 * its microseconds, ".120" and ".12" are both ".120"; digits past the
 * ninth are dropped). Accepts RFC 3339 / ISO 8601 extended format:
 * YYYY-MM-DD, then 'T', 't' or ' ', then hh:mm or hh:mm:ss, an optional
 * fraction ('.' or ','), then 'Z', 'z', +hh:mm, +hhmm, +hh (or '-'), or
 * nothing, which is taken as UTC. Second 60 (leap) rolls over into the next
 * minute. A date alone is not a date-time; neither is a result outside years
 * 0000-9999. Returns the length written to out (NUL-terminated; out_size
 * must be >= 64), or 0 when [s, s+len) is not a date-time. */
size_t normalize_datetime(const char *s, size_t len, char *out, size_t out_size);

#endif
