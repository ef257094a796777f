/* readiness_eval: the verdicts of `shadowproxy readiness` (docs/readiness.md).
 * A tally collects, per route, the coverage fields its criteria name (value
 * -> exchanges seen, compared, agreeing); readiness_evaluate judges every
 * route of a finalized report model against its criteria and returns the
 * result as one JSON document, which the text, JSON and HTML outputs render.
 * No I/O; single-threaded; unit-tested in tests/unit/test_readiness.c. */
#ifndef SP_READINESS_EVAL_H
#define SP_READINESS_EVAL_H

#include "conf/rules.h"
#include "tools/report/report_model.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define READINESS_MAX_VALUES 1000  /* distinct values kept per coverage field */
#define READINESS_VALUE_MAX 200    /* bytes of a value's text kept */

typedef struct readiness_value {
    char *text;        /* the value: a string as is, other scalars as JSON */
    uint64_t seen;     /* exchanges carrying it */
    uint64_t compared; /* of those, compared (match, known or mismatch) */
    uint64_t agreed;   /* of those, match or known */
} readiness_value;

typedef struct readiness_field { /* one coverage criterion of one route */
    readiness_value *values;
    size_t nvalues, cap;
    uint64_t absent;  /* exchanges without a scalar there (or no JSON body) */
    uint64_t dropped; /* exchanges whose value did not fit READINESS_MAX_VALUES */
} readiness_field;

typedef struct readiness_route {
    char *name;               /* as the report model names it */
    route_readiness crit;     /* from the rules (or built-in defaults) */
    readiness_field *fields;  /* crit.ncoverage */
    long sum_index;           /* into the model's options.sums; -1: no money check */
} readiness_route;

typedef struct readiness_tally {
    const rules *rules;       /* borrowed; never NULL (rules_default without --rules) */
    const report_options *opt;
    readiness_route *routes;
    size_t nroutes, cap;
    size_t last;              /* the route last looked up (records come in runs) */
    bool oom;
} readiness_tally;

/* The --sum specs every route's money criterion needs (distinct path and
 * group), appended to opt->sums (malloc'd strings, owned by opt). 0 or -1. */
int readiness_collect_sums(const rules *rs, report_options *opt);

void readiness_tally_init(readiness_tally *t, const rules *rs, const report_options *opt);
void readiness_tally_free(readiness_tally *t);

/* The route record of `name`, created with its criteria on first use (a
 * route of the rules by that name, else the rules' "default"). NULL when
 * out of memory. */
readiness_route *readiness_route_get(readiness_tally *t, const char *name);

/* report_options.on_record: counts rec's coverage values (arg: the tally). */
void readiness_tally_record(void *arg, const json_t *rec, const char *route);

/* Judges every route the model saw and every route of the rules with a
 * readiness section (merged), against m (finalized). now_ms: the time the
 * document says it was made. A new reference, NULL when out of memory.
 * {"readiness_version": 1, "generated", "ready", "records", "from", "to",
 *  "routes": [{"route", "ready", "required", "exchanges", "compared",
 *              "criteria": [{"criterion", "ok", "reason", ...}]}]} */
json_t *readiness_evaluate(readiness_tally *t, const report_model *m, int64_t now_ms);

/* The value of a coverage field in one record (NULL: absent): the request
 * body, or for in_response the legacy answer's JSON body, else the new's. */
const json_t *readiness_field_value(const json_t *rec, const char *pointer, bool in_response);

#endif
