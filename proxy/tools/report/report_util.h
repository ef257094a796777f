/* report_util: the pure pieces of `shadowproxy report` (docs/report.md):
 * times, generalized paths, JSON Pointers, quantiles, drift bucket widths,
 * exact-ish sums, and the volatility heuristics behind noise suggestions.
 * No I/O, no globals: unit-tested in tests/unit/test_report.c. */
#ifndef SP_REPORT_UTIL_H
#define SP_REPORT_UTIL_H

#include "base/strbuf.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* round() without libm (the build links no -lm): half away from zero. */
double report_round(double x);

/* ---- times ---------------------------------------------------------------- */

/* RFC 3339 (`2026-11-24T13:00:00Z`, `...13:00:00.5+01:00`, a space for the
 * `T`, no zone = UTC), date-only (`2026-11-24` = its midnight UTC), and,
 * with allow_relative, a time before now_ms: `90s`, `30m`, `2h`, `7d`, `2w`,
 * or `now`. 0 and *out_ms (ms since the epoch), or -1. */
int report_parse_time(const char *s, int64_t now_ms, bool allow_relative, int64_t *out_ms);

/* `2026-11-24T13:41:22.123Z` (with_ms) or `2026-11-24T13:41:22Z`. */
void report_format_time(int64_t ms, bool with_ms, char *buf, size_t size);

/* `45s`, `15m`, `6h`, `1d`, `3d`: a bucket width or a span, compact. */
void report_format_duration(int64_t ms, char *buf, size_t size);

/* ---- paths ---------------------------------------------------------------- */

/* A difference path with its instance-specific parts folded, Diffy style:
 * array indexes (all-digit segments) and `#3` become `*`, keyed selectors
 * `sku=MB01` and `sku=MB01#2` become `sku=*`. Header and status paths are
 * not pointers: give where != "body" to keep them as they are. Malloc'd. */
char *report_path_generalize(const char *where, const char *path);

/* The generalized body path as a rules path pattern (docs/rules.md): a
 * keyed selector `sku=*` becomes `*`, which matches the index too. */
char *report_path_pattern(const char *generalized);

/* Whether s is "" or a syntactically valid RFC 6901 pointer. */
bool report_pointer_valid(const char *s);

/* The value at an RFC 6901 pointer, or NULL. */
json_t *report_pointer_get(const json_t *root, const char *ptr);

/* The concrete pointer (array indexes only) that a difference path names in
 * one body: `/items/sku=MB01/price` resolves through the element of /items
 * whose sku is "MB01" (`sku=MB01#2` the second such, `#3` index 3). Malloc'd,
 * or NULL when the path is not in this body. */
char *report_path_resolve(const json_t *body, const char *path);

/* ---- latency samples and quantiles ---------------------------------------- */

typedef struct report_floats {
    float *v;
    size_t n, cap;
} report_floats;

bool report_floats_push(report_floats *f, float x);
void report_floats_free(report_floats *f);
void report_floats_sort(report_floats *f);

/* Nearest-rank quantile of sorted samples: the smallest sample such that at
 * least q*n samples are <= it. n > 0, 0 < q <= 1. */
double report_quantile(const float *sorted, size_t n, double q);

/* ---- drift buckets ---------------------------------------------------------- */

/* Bucket width in ms for records from first_ms to last_ms: from the ladder
 * 1m, 5m, 15m, 1h, 6h, 1d, the width whose bucket count (buckets aligned to
 * multiples of the width) is closest to 20..60, the finer one on a tie;
 * beyond 60 days, whole days giving at most 60 buckets. */
int64_t report_bucket_width(int64_t first_ms, int64_t last_ms);

/* Floor division for bucket alignment (negative times included). */
int64_t report_floor_div(int64_t a, int64_t b);

/* ---- sums --------------------------------------------------------------------- */

#define REPORT_MAX_DECIMALS 6

typedef struct report_sum { /* Neumaier-compensated long double sum */
    long double s, c;
    uint64_t count;
} report_sum;

void report_sum_add(report_sum *sum, long double x);
long double report_sum_value(const report_sum *sum);

/* A JSON number, or a string holding exactly a decimal number (surrounding
 * blanks allowed), as a long double taken from its shortest decimal text
 * (so 19.99 is 19.99L, not the double's 19.98999...). *decimals: digits
 * after the point in that text (capped). false: not numeric. */
bool report_number_of(const json_t *v, long double *out, int *decimals);

/* x rounded to `decimals` (0..6) places, as text; "-0.00" is "0.00". */
void report_format_decimal(long double x, int decimals, char *buf, size_t size);

/* ---- examples --------------------------------------------------------------- */

typedef struct report_example { /* one side's value of a difference */
    bool present;   /* false: the side lacks the value (added/removed) */
    bool truncated; /* text is the first REPORT_EXAMPLE_MAX bytes + "..." */
    char *text;     /* compact JSON */
} report_example;

/* Sets ex from v (NULL: absent). 0 or -1 (out of memory). */
int report_example_set(report_example *ex, const json_t *v, size_t max);
void report_example_free(report_example *ex);

/* ---- text and JSON writing ------------------------------------------------- */

/* printf into a strbuf (out of memory is sticky in the strbuf). */
void report_buf_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The shortest text that reads back as d (15, 16 or 17 digits); a real
 * keeps a decimal point ("5000.0"), as in the diff log. */
void report_real_text(double d, char out[40]);

/* v as JSON: compact (indent -1), spaced on one line (REPORT_JSON_SPACED) or
 * pretty with `indent` spaces, reals in
 * their shortest form, object members in their order, non-ASCII as UTF-8
 * (U+2028/U+2029 escaped). max > 0: stops once max bytes are written and
 * returns true (cut). */
bool report_json_append(strbuf *b, const json_t *v, int indent, size_t max);
#define REPORT_JSON_SPACED (-2) /* indent: one line, a space after ':' and ',' */

/* text (len bytes of lines) into out with every line longer than width
 * columns wrapped at blanks, each continuation indented 2 more than its
 * line; a word longer than the room (an id, a URL) stays whole. */
void report_text_wrap(strbuf *out, const char *text, size_t len, size_t width);

/* A copy of s cut to at most max bytes on a character boundary, with "…"
 * appended when cut (hostile logs: a 10 MB route name is kept short).
 * Malloc'd, or NULL when out of memory. */
char *report_strdup_max(const char *s, size_t max);

/* s with every byte that is not part of valid UTF-8 replaced by U+FFFD
 * (file names from the command line). Malloc'd. */
char *report_utf8_lossy(const char *s);

/* Length in bytes of the valid UTF-8 character at s (1..4), and its code
 * point in *cp; 0 if s does not start with one. n: bytes available. */
size_t report_utf8_char(const unsigned char *s, size_t n, uint32_t *cp);

/* ---- volatility ---------------------------------------------------------------- */

bool report_looks_datetime(const char *s); /* RFC 3339 / ISO 8601 date-time */
bool report_looks_uuid(const char *s);
bool report_looks_hexid(const char *s);     /* >= 8 hex digits, a digit and a letter a-f */
bool report_looks_epoch(long double x);     /* seconds or ms since 1970 in 2001..2100 */

typedef struct report_vol {
    uint64_t observations; /* differences seen */
    uint64_t values;       /* scalar values seen, either side */
    uint64_t datetime, uuid, hexid, epoch;
    uint64_t num_pairs, incr, decr; /* consecutive numbers (new side, else legacy) */
    long double prev_num;
    bool has_prev_num;
    uint64_t str_pairs, str_changed; /* consecutive strings (new side, else legacy): changed? */
    uint64_t prev_hash;
    bool has_prev_str;
    uint64_t related; /* sides equal ignoring case and blanks, one inside the
                       * other, or of other JSON types: a real change, not noise */
} report_vol;

/* One difference's values (NULL where a side lacks it). */
void report_vol_observe(report_vol *v, const json_t *legacy, const json_t *neu);

/* Why the values look volatile ("date-time values", "UUIDs", "hex ids",
 * "epoch-like numbers", "monotonic numbers", "always different values"),
 * or NULL. Needs at least `min` observations. */
const char *report_vol_reason(const report_vol *v, uint64_t min);

#endif
