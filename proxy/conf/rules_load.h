/* rules_load: what rules.c, rules_load.c and rules_compare.c share: the
 * loading context, error reporting with file positions, typed value
 * readers and route merging. Internal to the rules module; no other file
 * includes it. */
#ifndef SP_RULES_LOAD_H
#define SP_RULES_LOAD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "conf/jsonread.h"
#include "conf/rules.h"

/* Where a value sits (conf/jsonread.h). */
typedef jr_loc rl_loc;

typedef struct rl_ctx {
    jr_doc doc;          /* the file, its errors, -ENOMEM */
    const rl_loc *route; /* the route options object being read, for hints */
} rl_ctx;

/* Options as read from one "defaults", route or "default" object: the route
 * with built-in defaults in the fields the file does not set, and which
 * scalars the file did set (lists always concatenate). */
enum {
    OPT_AUTHORITY = 1u << 0,
    OPT_MIRROR = 1u << 1,
    OPT_SAMPLE = 1u << 2,
    OPT_MIRROR_METHODS = 1u << 3,
    OPT_TIMEOUT = 1u << 4,
    OPT_REWRITE_PATH = 1u << 5, /* path_prefix or path_template */
    OPT_HOST = 1u << 6,
    OPT_STATUS_ONLY = 1u << 7,
    OPT_HEADERS = 1u << 8,
    OPT_NOISE_SECONDARY = 1u << 9,
    OPT_CONFIRM = 1u << 10,
};

typedef struct rl_opts {
    route r;
    unsigned set;
} rl_opts;

/* --- rules_load.c: reporting and typed readers ---------------------------- */

/* jr_report on the rules file; out of memory noted. */
#define rl_report(x, ...) jr_report(&(x)->doc, __VA_ARGS__)
void rl_nomem(rl_ctx *x);
#define rl_child jr_child
#define rl_elem jr_elem
const char *rl_type_name(const json_t *v);
void rl_show(const json_t *v, char *buf, size_t size);
void rl_quote(const char *s, char *buf, size_t size);

/* Reports every member of `obj` not in `names` (NULL-terminated), with a
 * did-you-mean. */
void rl_keys(rl_ctx *x, json_t *obj, const rl_loc *at,
             const char *const *names);
/* The first member of `obj` (in file order) that is one of `names`, or
 * NULL; a second one is reported at its key as "<at> has both "a" and
 * "b"; use one", with *dup set. */
const char *rl_one_of(rl_ctx *x, json_t *obj, const rl_loc *at,
                      const char *const *names, bool *dup);
/* Is `obj` an object? If not, reports "<name> must be an object, got T". */
bool rl_object(rl_ctx *x, const json_t *obj, const rl_loc *at);
bool rl_bool(rl_ctx *x, const json_t *v, const rl_loc *at, bool *out);
/* A non-empty string of at most `max` bytes. */
bool rl_string(rl_ctx *x, const json_t *v, const rl_loc *at, size_t max,
               const char **out);
bool rl_number(rl_ctx *x, const json_t *v, const rl_loc *at, double lo,
               double hi, double *out);
bool rl_integer(rl_ctx *x, const json_t *v, const rl_loc *at, long long lo,
                long long hi, long long *out);
/* An array of at most RULES_MAX_LIST entries; *n its size. */
bool rl_array(rl_ctx *x, const json_t *v, const rl_loc *at, const char *what,
              size_t *n);

typedef enum rl_list_kind { RL_NAMES, RL_HEADERS, RL_METHODS, RL_EXEMPT } rl_list_kind;
/* A list of names, header names, HTTP methods (stored upper-case) or
 * redaction exemptions ("FAMILY:NAME", base/secret.h). The
 * list is allocated even when empty. false when any entry was bad. */
bool rl_strlist(rl_ctx *x, const json_t *v, const rl_loc *at, rl_list_kind kind,
                char ***out, size_t *n);
/* A JSON Pointer pattern (pathpat.h). */
bool rl_pattern(rl_ctx *x, const json_t *v, const rl_loc *at,
                path_pattern *out);
bool rl_patlist(rl_ctx *x, const json_t *v, const rl_loc *at,
                path_pattern **out, size_t *n);
bool rl_header_name_ok(const char *s);
bool rl_name_char(char c);  /* [A-Za-z0-9._-]: route names, hosts */
bool rl_ident_char(char c); /* [A-Za-z0-9_]: placeholders, env names */

/* --- rules_load.c --------------------------------------------------------- */

/* The key lists of a route's sections, for did-you-mean across sections;
 * ends with {NULL, NULL}. name "" is the route object itself. */
typedef struct rl_section {
    const char *name;
    const char *const *keys;
} rl_section;
extern const rl_section rl_sections[];

/* --- rules_shadow.c ------------------------------------------------------- */

void rl_load_shadow(rl_ctx *x, json_t *v, const rl_loc *at, rl_opts *o);
extern const char *const rl_shadow_keys[];

/* --- rules_compare.c ------------------------------------------------------ */

void rl_load_compare(rl_ctx *x, json_t *v, const rl_loc *at, rl_opts *o);
void rl_load_redact(rl_ctx *x, json_t *v, const rl_loc *at, rl_opts *o);
extern const char *const rl_compare_keys[];
extern const char *const rl_redact_keys[];

/* --- rules_readiness.c ---------------------------------------------------- */

/* Validates a "readiness" object and keeps a copy in o->r.readiness. */
void rl_load_readiness(rl_ctx *x, json_t *v, const rl_loc *at, rl_opts *o);
extern const char *const rl_readiness_keys[];
/* *out = base's keys with over's laid on top (coverage lists concatenate);
 * NULL when both are NULL. 0 or -ENOMEM. */
int rl_readiness_merge(json_t **out, const json_t *base, const json_t *over);

/* --- rules_ids.c ----------------------------------------------------------- */

/* Validates an "ids" object and keeps a copy in o->r.ids. */
void rl_load_ids(rl_ctx *x, json_t *v, const rl_loc *at, rl_opts *o);
extern const char *const rl_ids_keys[];
/* *out = {"learn": base's then over's, "use": the same}; NULL when both are
 * NULL. 0 or -ENOMEM. */
int rl_ids_merge(json_t **out, const json_t *base, const json_t *over);

/* --- rules.c: freeing and merging ----------------------------------------- */

void rl_route_init(route *rt); /* built-in defaults, nothing owned */
void rl_route_free(route *rt);
void rl_pattern_list_free(path_pattern *v, size_t n);
void rl_strlist_free(char **v, size_t n);
/* *out = base with `over` applied (scalars in over->set replace, lists
 * concatenate base first); deep copies, both inputs untouched. name and
 * match come from `over`. 0 or -ENOMEM (then *out is freed and zeroed). */
int rl_route_merge(route *out, const rl_opts *base, const rl_opts *over);

#endif
