/* rules: the routes file (rules/NAME.json, schema rules/rules.schema.json,
 * reference docs/rules.md). A loaded rule set is an immutable, refcounted
 * snapshot: a reload builds a new one and swaps a pointer; exchanges keep
 * the snapshot they started with. Loading, validation and matching are pure
 * (no I/O but reading the file and the secrets it names). */
#ifndef SP_RULES_H
#define SP_RULES_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/config.h"
#include "conf/faults.h"
#include "base/headers.h"

#include "base/pathpat.h"

typedef struct rule_tolerance {
    path_pattern path;
    double absolute; /* |a-b| <= absolute, or */
    double relative; /* |a-b| <= relative * max(|a|,|b|); 0 = unused */
} rule_tolerance;

typedef struct rule_array {
    path_pattern path;
    char *key;       /* match elements by this member ("sku"); NULL: */
    bool unordered;  /* compare as a multiset */
} rule_array;

typedef struct rule_map {
    sp_side side;    /* the side whose document is rewritten */
    char *from, *to; /* concrete JSON Pointers; "to" is where the other side has it */
} rule_map;

/* A map's pointers split into unescaped segments, checked (conf/
 * rules_compare.c): the loader checks each map with it, the comparison
 * applies the plan. */
typedef struct rule_map_plan {
    char **fs, **ts; /* unescaped segments of from and to */
    int nf, nt;
    size_t pre; /* segments up to the last "*", the same in both; 0: concrete */
} rule_map_plan;
/* `from` and `to` must be valid RFC 6901 pointers without "**"; with "*"
 * segments, both must have the same segments up to and including their
 * last "*". 0 with *mp filled (free it with rule_map_plan_free), or -EINVAL
 * with *why set to a static message and nothing to free. */
int rule_map_plan_make(const rule_map *m, rule_map_plan *mp, const char **why);
void rule_map_plan_free(rule_map_plan *mp);
/* Is a map usable (for the loader)? rule_map_plan_make without the plan. */
int rule_map_check(const rule_map *m, const char **why);

typedef struct rule_normalize {
    path_pattern path;
    bool number_strings;   /* "10.00" == 10 */
    bool case_insensitive;
    bool trim;
    bool datetime;         /* RFC 3339 / "YYYY-MM-DD hh:mm:ss" compared as instants */
} rule_normalize;

typedef enum diff_where { WHERE_ANY = 0, WHERE_STATUS, WHERE_HEADER, WHERE_BODY } diff_where;

/* A known, accepted difference: reported with verdict "known" and the rule's
 * name instead of counting as a mismatch. */
typedef struct rule_known {
    char *name;
    diff_where where;
    path_pattern path;     /* body: pointer pattern; header: the name in text; any: ignored if empty */
                           /* (as loaded: path.text is NULL when no "path" was
                            * given, which matches every path; for a header it
                            * holds the name with no segments; "status" and
                            * "any" never have one) */
    char *kind;            /* "changed", "added", "removed", "type", or NULL for any */
} rule_known;

typedef struct route_compare {
    bool status_only;            /* bodies and headers are not compared */
    int (*status_equiv)[2];      /* pairs of statuses that count as equal */
    size_t nstatus_equiv;
    char **headers;              /* compared; NULL = config compare.headers */
    size_t nheaders;
    bool headers_set;            /* headers given in the rules */
    char **ignore_headers;
    size_t nignore_headers;
    path_pattern *ignore;
    size_t nignore;
    rule_tolerance *tolerance;
    size_t ntolerance;
    rule_array *arrays;
    size_t narrays;
    rule_map *maps;
    size_t nmaps;
    rule_normalize *normalize;
    size_t nnormalize;
    rule_known *known;
    size_t nknown;
} route_compare;

typedef struct route_match {
    char **methods;        /* NULL = any */
    size_t nmethods;
    enum { PATH_ANY, PATH_EXACT, PATH_PREFIX, PATH_GLOB } path_kind;
    char *path;            /* exact/prefix text, or a glob of "*" and "**" segments */
    char *query_name, *query_value;   /* optional; value NULL = present */
    char *header_name, *header_value; /* optional; value NULL = present */
} route_match;

typedef struct route_header_set {
    char *name;
    char *value;           /* resolved at load time from "value", "env" or "file" */
} route_header_set;

/* Defaults and bounds of a route's "confirm" section (docs/rules.md). */
#define CONFIRM_DEFAULT_AFTER_MS 500
#define CONFIRM_DEFAULT_PER_SECOND 20.0
#define CONFIRM_DEFAULT_IN_FLIGHT 8
#define CONFIRM_MAX_AFTER_MS 60000
#define CONFIRM_MAX_IN_FLIGHT 1000

typedef struct route_confirm {
    bool enabled;
    long after_ms;          /* wait after the comparison, 0..CONFIRM_MAX_AFTER_MS */
    double max_per_second;  /* confirmations started per second on this route */
    int max_in_flight;      /* waiting or re-reading at once on this route */
} route_confirm;

typedef struct route {
    char *name;
    route_match match;
    int authority;         /* -1: global setting; else sp_side */
    bool mirror;           /* default true */
    double sample_percent; /* 0..100, default 100 */
    char **mirror_methods; /* NULL = all */
    size_t nmirror_methods;
    long shadow_timeout_ms; /* 0 = config shadow.timeout_ms */
    /* "noise": {"secondary": true}: GET and HEAD are also sent to the
     * secondary (a second legacy, or legacy again); what the two legacy
     * answers disagree on is noise for that exchange. Default false. */
    bool noise_secondary;
    /* "confirm": a GET or HEAD found a mismatch: both sides are read again
     * after after_ms and compared with the same rules (data/confirm.h).
     * Never for other methods. enabled false: no "confirm" section. */
    route_confirm confirm;
    /* shadow rewrite */
    char *prefix_from, *prefix_to;     /* path prefix swap */
    char *template_from, *template_to; /* "/api/orders/{id}" -> "/v2/sales/orders/{id}" */
    route_header_set *set_headers;
    size_t nset_headers;
    char **remove_headers;
    size_t nremove_headers;
    char *shadow_host;
    route_compare cmp;
    char **redact_fields;  /* added to diff_log.redact_fields */
    size_t nredact_fields;
    path_pattern *redact_paths;
    size_t nredact_paths;
    char **redact_exempt;  /* added to diff_log.redact_exempt */
    size_t nredact_exempt;
    json_t *readiness;     /* the merged "readiness" section (validated), or NULL;
                            * read through rules_readiness_of */
    /* "faults" (staging, conf/faults.h): "defaults"' then the route's, in
     * file order; they run only with faults.enabled (rules_faults_refused). */
    fault_spec *faults;
    size_t nfaults;
    int faults_line, faults_col; /* where the route's (else defaults') "faults" key is */
    json_t *ids;           /* the merged "ids" section {"learn": [...], "use": [...]}
                            * (validated), or NULL */
} route;

typedef struct rules {
    atomic_int refs;
    route *routes;         /* in file order; first match wins */
    size_t nroutes;
    route fallback;        /* "default": catches the rest */
    char *path;            /* file it came from, NULL for built-in */
    char version[17];      /* first 16 hex of the file's SHA-256 */
    int64_t loaded_ms;
} rules;

/* Errors use config_error/config_errors (file:line:column: message). */

#define RULES_MAX_FILE_BYTES ((size_t)4 << 20) /* larger files are refused */
#define RULES_MAX_ROUTES 1000                  /* entries in "routes" */
#define RULES_MAX_LIST 256                     /* entries in any one list */

/* Loads and validates `path`; every problem goes to errs. NULL on error. */
rules *rules_load_file(const char *path, config_errors *errs);
rules *rules_load_buffer(const char *text, size_t len, config_errors *errs);
/* The rule set used without a rules file: one default route, no rules. */
rules *rules_default(void);
rules *rules_ref(rules *r);
void rules_unref(rules *r);

/* The route for a request (never NULL: the fallback). `target` is the raw
 * request-target (path and query). */
const route *rules_match(const rules *r, const char *method, const char *target,
                         const hdr_list *headers);

/* Deterministic sampling by request id: the same id always gets the same
 * answer for the same percentage. */
bool rules_sampled(const route *rt, const char *request_id);
/* The same decision at an explicit percentage (an operator's override). */
bool rules_sampled_at(double percent, const char *request_id);
/* May this method be mirrored on this route? */
bool rules_mirror_method(const route *rt, const char *method);

/* The shadow leg's request-target after prefix/template rewrite; malloc'd. */
char *rules_rewrite_target(const route *rt, const char *target);

/* Additions. */
/* rt->mirror && rules_mirror_method() && rules_sampled(): should this
 * request get a shadow leg (the global shadow.enabled aside)? */
bool rules_should_mirror(const route *rt, const char *method,
                         const char *request_id);
/* The route named `name` (a route or "default"), or NULL. */
const route *rules_find(const rules *r, const char *name);

/* With faults.enabled false, every route with faults is an error in errs
 * ("routes[i].faults" or "default.faults" at its line:column: why it is
 * refused and how to allow it). Returns how many were reported. */
size_t rules_faults_refused(const rules *r, bool faults_enabled, config_errors *errs);

/* ---- cutover readiness criteria (docs/readiness.md) ------------------------ */

#define READINESS_DEFAULT_MIN_EXCHANGES 100
#define READINESS_DEFAULT_MAX_MISMATCH_RATE 0.001
#define READINESS_DEFAULT_MAX_ERROR_RATE 0.01
#define READINESS_DEFAULT_MIN_COUNT 10
#define READINESS_DEFAULT_MIN_MATCH_RATE 0.99

typedef struct readiness_coverage {
    const char *field;     /* JSON Pointer (borrowed from the route) */
    bool in_response;      /* false: the request body; true: the answer */
    uint64_t min_count;    /* every value seen at least this often */
    double min_match_rate; /* and agreeing at least this often */
} readiness_coverage;

typedef struct route_readiness {
    bool required;          /* false: shown, never makes the run NOT READY */
    uint64_t min_exchanges; /* compared exchanges */
    double max_mismatch_rate, max_error_rate; /* fractions */
    bool has_p99;
    double max_p99_delta_ms;
    const char *money_path, *money_group; /* borrowed; path NULL: no money check */
    double money_max_gap;
    readiness_coverage *coverage; /* owned array */
    size_t ncoverage;
} route_readiness;

/* The route's criteria, built-in defaults where the rules set none. Strings
 * are borrowed from rt (valid while its rules are). 0, or -ENOMEM. Free
 * with rules_readiness_free. */
int rules_readiness_of(const route *rt, route_readiness *out);
void rules_readiness_free(route_readiness *r);

/* ---- correlated ids (the "ids" section) -------------------------------------- */

/* Whether path (a request-target; its query ignored) matches tmpl, a path
 * with one whole segment "{id}"; then the id's bytes are path[*start ..
 * *start + *len) (never empty, no '/'). */
bool rules_ids_template_match(const char *tmpl, const char *path, size_t *start, size_t *len);
/* s with bytes [start, start + len) replaced by `with`; malloc'd, NULL when
 * out of memory or out of range. */
char *rules_ids_splice(const char *s, size_t start, size_t len, const char *with);

#endif
