/* report_noise: the one decision behind every noise suggestion, shared by
 * `shadowproxy report` (its "noise suggestions") and `shadowproxy rules
 * suggest` (docs/rules.md, "Suggested rules"): given how often a body
 * field differs, how its differing values look and which normalisation
 * would make them equal, should a rule silence it, and which one?
 *
 *   - normalize (datetime, number_strings, case_insensitive, trim) when
 *     that one normalisation makes the two values equal in more than half
 *     of the exchanges that have the field (and in at least
 *     NOISE_MIN_EXCHANGES): the values mean the same, only the writing
 *     differs, and a normalisation keeps showing a real change (another
 *     instant, another amount) where an ignore would hide it;
 *   - ignore when the field's value changes (both sides have it, same JSON
 *     type) in at least NOISE_IGNORE_SHARE of the exchanges that have it
 *     and its values look generated (report_vol: date-times, UUIDs, hex
 *     ids, epoch or monotonic numbers, values that always change); a value
 *     missing on one side or of another type in most exchanges is
 *     structural, a bug, never noise;
 *   - nothing otherwise: a difference seen in a minority of exchanges is
 *     what a parallel run exists to find.
 *
 * Pure: no I/O, no globals. Unit-tested in tests/unit/test_report.c. */
#ifndef SP_REPORT_NOISE_H
#define SP_REPORT_NOISE_H

#include "tools/report/report_util.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define NOISE_MIN_EXCHANGES 5   /* no rule from fewer differing exchanges */
#define NOISE_MAJORITY 0.5      /* normalize, arrays, status: more than this share */
#define NOISE_IGNORE_SHARE 0.9  /* ignore: at least this share */

/* The normalisations tried, in this order (the first that fits wins). */
enum { NOISE_DATETIME, NOISE_NUMBER, NOISE_CASE, NOISE_TRIM, NOISE_FLAGS };

/* The rules-file flag of a normalisation: "datetime", "number_strings",
 * "case_insensitive", "trim"; and the NORM_* bit (diff/normalize.h). */
const char *noise_flag_name(int flag);
unsigned noise_flag_bits(int flag);

/* Which normalisations make legacy and neu equal: bit i for flag i. 0 when
 * a side is missing (NULL), or none does. Numbers compare by value. */
unsigned noise_fixes(const json_t *legacy, const json_t *neu);

/* Do two JSON values mean the same: numbers by value (45 == 45.0), objects
 * by members in any order, arrays by position? */
bool noise_equal(const json_t *a, const json_t *b);

typedef struct noise_field {
    uint64_t differs;              /* exchanges with at least one difference */
    uint64_t fixed[NOISE_FLAGS];   /* ... all of whose differences flag i removes */
    uint64_t changed;              /* ... with a value changed (both sides, same type) */
    report_vol vol;
    uint64_t seq;                  /* the exchange being observed (0: none) */
    unsigned mask;                 /* flags removing all its differences so far */
    bool cur_changed;              /* a value changed in it */
} noise_field;

/* One difference of the field in exchange seq (seq > 0, increasing; the
 * same seq again for more differences in one exchange). */
void noise_observe(noise_field *f, uint64_t seq, const json_t *legacy, const json_t *neu);

/* Closes the exchange being observed; call once before noise_decide. */
void noise_finish(noise_field *f);

enum noise_rule { NOISE_NONE, NOISE_NORMALIZE, NOISE_IGNORE };

typedef struct noise_verdict {
    enum noise_rule rule;
    int flag;           /* NOISE_NORMALIZE: which */
    uint64_t exchanges; /* the exchanges the rule is about */
    const char *reason; /* for people: "the same instant written differently", ... */
} noise_verdict;

/* The rule for a field present in `present` exchanges (report: the
 * route's compared exchanges). */
noise_verdict noise_decide(const noise_field *f, uint64_t present);

#endif
