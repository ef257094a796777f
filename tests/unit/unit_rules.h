/* unit_rules: helpers of the rules tests (test_rules.c, test_rules_errors.c):
 * loading a rules text written with single quotes (unit_q), a file with one
 * route, and which route a request matches. Include after unit.h. */
#ifndef SP_UNIT_RULES_H
#define SP_UNIT_RULES_H

#include <string.h>

#include "conf/rules.h"
#include "unit.h"

/* --- helpers -------------------------------------------------------------- */

static inline rules *load(const char *json, config_errors *e)
{
    return rules_load_buffer(json, strlen(json), e);
}

/* Loads `json` (single quotes) expecting success; prints errors if not. */
static inline rules *ok(const char *json)
{
    config_errors e = {0};
    rules *r = load(unit_q(json), &e);
    for (size_t i = 0; i < e.n; i++)
        fprintf(stderr, "  unexpected: %s\n", unit_err(&e, i));
    CHECK(r != NULL && e.n == 0);
    config_errors_free(&e);
    return r;
}

/* A file with one route whose body is `route` (after the name and match). */
static inline const char *with_route(const char *opts)
{
    static char buf[8192];
    snprintf(buf, sizeof buf,
             "{'version': 1, 'routes': [{'name': 'r', 'match': {}, %s}]}",
             opts);
    return buf;
}

static inline const route *route_of(const rules *r, const char *method,
                             const char *target)
{
    return rules_match(r, method, target, NULL);
}

static inline const char *name_of(const rules *r, const char *method,
                           const char *target)
{
    return route_of(r, method, target)->name;
}

#endif
