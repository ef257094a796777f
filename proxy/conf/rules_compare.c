/* rules_compare: reading a route's "compare" (status equivalence, headers,
 * ignore, tolerance, arrays, map, normalize, known) and "redact" sections
 * into route_compare and the route's redaction lists. Lists of entries are
 * allocated whole and filled in place: a bad entry leaves a zeroed slot,
 * and a file with any error is freed whole, never used. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conf/rules_load.h"
#include "base/pathpat.h"

const char *const rl_compare_keys[] = {"status_only", "status_equivalent",
                                       "headers",     "ignore_headers",
                                       "ignore",      "tolerance",
                                       "arrays",      "map",
                                       "normalize",   "known",
                                       NULL};
const char *const rl_redact_keys[] = {"fields", "paths", "exempt", NULL};

static const char *const tolerance_keys[] = {"path", "absolute", "relative",
                                             NULL};
static const char *const array_keys[] = {"path", "key", "unordered", NULL};
static const char *const map_keys[] = {"side", "from", "to", NULL};
static const char *const normalize_keys[] = {
    "path", "number_strings", "case_insensitive", "trim", "datetime", NULL};
static const char *const known_keys[] = {"name", "where", "path", "kind", NULL};

typedef bool (*entry_fn)(rl_ctx *x, json_t *v, const rl_loc *at, void *slot);

/* An array of objects, each read by `one` into its zeroed slot; the list
 * (NULL when not an array), with *count its length. */
static void *entries(rl_ctx *x, json_t *v, const rl_loc *at, const char *what,
                     size_t size, size_t *count, entry_fn one)
{
    size_t n;
    if (!rl_array(x, v, at, what, &n))
        return NULL;
    char *list = calloc(n + 1, size);
    if (!list) {
        rl_nomem(x);
        return NULL;
    }
    *count = n;
    for (size_t i = 0; i < n && !x->doc.rc; i++) {
        rl_loc l;
        json_t *e = json_array_get(v, i);
        rl_elem(&l, at, i);
        if (rl_object(x, e, &l))
            one(x, e, &l, list + i * size);
    }
    return list;
}

/* The member `key` of entry `v`: *e and *l set; reports when required. */
static bool member(rl_ctx *x, json_t *v, const rl_loc *at, const char *key,
                   bool required, json_t **e, rl_loc *l)
{
    rl_child(l, at, key);
    *e = json_object_get(v, key);
    if (!*e && required)
        rl_report(x, at, false, "%s is required", l->name);
    return *e != NULL;
}

/* --- entries -------------------------------------------------------------- */

static bool one_tolerance(rl_ctx *x, json_t *v, const rl_loc *at, void *slot)
{
    rule_tolerance *t = slot;
    json_t *p, *a, *r;
    rl_loc pl, al, rel;
    rl_keys(x, v, at, tolerance_keys);
    if (member(x, v, at, "path", true, &p, &pl))
        rl_pattern(x, p, &pl, &t->path);
    static const char *const which[] = {"absolute", "relative", NULL};
    bool dup;
    rl_one_of(x, v, at, which, &dup);
    bool has_a = member(x, v, at, "absolute", false, &a, &al);
    bool has_r = member(x, v, at, "relative", false, &r, &rel);
    if (dup)
        return false;
    if (!has_a && !has_r) {
        rl_report(x, at, false,
                  "%s needs \"absolute\" (|a-b| <= n) or \"relative\" "
                  "(|a-b| <= n * max(|a|,|b|))",
                  at->name);
        return false;
    }
    if (has_a)
        return rl_number(x, a, &al, 0, 1e15, &t->absolute);
    if (!rl_number(x, r, &rel, 0, 1, &t->relative))
        return false;
    if (t->relative == 0) {
        rl_report(x, &rel, false,
                  "%s must be greater than 0 (use \"absolute\": 0 for exact)",
                  rel.name);
        return false;
    }
    return true;
}

static bool one_array(rl_ctx *x, json_t *v, const rl_loc *at, void *slot)
{
    rule_array *a = slot;
    json_t *p, *k, *u;
    rl_loc pl, kl, ul;
    const char *s;
    rl_keys(x, v, at, array_keys);
    if (member(x, v, at, "path", true, &p, &pl))
        rl_pattern(x, p, &pl, &a->path);
    static const char *const which[] = {"key", "unordered", NULL};
    bool dup;
    rl_one_of(x, v, at, which, &dup);
    bool has_k = member(x, v, at, "key", false, &k, &kl);
    bool has_u = member(x, v, at, "unordered", false, &u, &ul);
    if (dup)
        return false;
    if (has_u && rl_bool(x, u, &ul, &a->unordered) && !a->unordered)
        has_u = false;
    if (!has_k && !has_u) {
        rl_report(x, at, false,
                  "%s needs \"key\" (match elements by that member, like "
                  "\"sku\") or \"unordered\": true",
                  at->name);
        return false;
    }
    if (has_k && rl_string(x, k, &kl, 256, &s) && !(a->key = strdup(s)))
        rl_nomem(x);
    return true;
}

/* A concrete pointer that is not the root. */
/* A map pointer: a JSON Pointer, "*" allowed (checked as a pair by
 * rule_map_plan_make once both ends are read). */
static bool map_pointer(rl_ctx *x, json_t *v, const rl_loc *at, char **out)
{
    path_pattern p;
    if (!rl_pattern(x, v, at, &p))
        return false;
    if (!(*out = strdup(p.text)))
        rl_nomem(x);
    path_pattern_free(&p);
    return *out != NULL;
}

static bool one_map(rl_ctx *x, json_t *v, const rl_loc *at, void *slot)
{
    rule_map *m = slot;
    json_t *s, *f, *t;
    rl_loc sl, fl, tl;
    sp_side side;
    char got[80];
    rl_keys(x, v, at, map_keys);
    if (member(x, v, at, "side", true, &s, &sl)) {
        if (json_is_string(s) &&
            config_parse_side(json_string_value(s), &side) == 0)
            m->side = side;
        else {
            rl_show(s, got, sizeof got);
            rl_report(x, &sl, false,
                      "%s must be \"legacy\" or \"new\" (the side whose body "
                      "is rewritten), got %s",
                      sl.name, got);
        }
    }
    if (member(x, v, at, "from", true, &f, &fl))
        map_pointer(x, f, &fl, &m->from);
    if (member(x, v, at, "to", true, &t, &tl))
        map_pointer(x, t, &tl, &m->to);
    const char *why = NULL;
    if (m->from && m->to && strcmp(m->from, m->to) == 0)
        rl_report(x, &tl, false, "%s must differ from %s", tl.name, fl.name);
    else if (m->from && m->to && rule_map_check(m, &why) != 0)
        rl_report(x, &tl, false, "%s and %s: %s", fl.name, tl.name, why);
    return true;
}

static bool one_normalize(rl_ctx *x, json_t *v, const rl_loc *at, void *slot)
{
    rule_normalize *n = slot;
    static const char *const flags[] = {"number_strings", "case_insensitive",
                                        "trim", "datetime"};
    bool *fields[] = {&n->number_strings, &n->case_insensitive, &n->trim,
                      &n->datetime};
    bool any = false, ok = true;
    json_t *e;
    rl_loc l;
    rl_keys(x, v, at, normalize_keys);
    if (member(x, v, at, "path", true, &e, &l))
        ok &= rl_pattern(x, e, &l, &n->path);
    for (int i = 0; i < 4; i++)
        if (member(x, v, at, flags[i], false, &e, &l)) {
            ok &= rl_bool(x, e, &l, fields[i]);
            any |= *fields[i];
        }
    if (ok && !any)
        rl_report(x, at, false,
                  "%s turns nothing on: set one of \"number_strings\", "
                  "\"case_insensitive\", \"trim\" or \"datetime\" to true",
                  at->name);
    return ok && any;
}

static int enum_of(const json_t *v, const char *const *names)
{
    const char *s = json_string_value(v);
    for (int i = 0; s && names[i]; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

static bool one_known(rl_ctx *x, json_t *v, const rl_loc *at, void *slot)
{
    static const char *const wheres[] = {"any", "status", "header", "body",
                                         NULL};
    static const char *const kinds[] = {"changed", "added", "removed", "type",
                                        NULL};
    rule_known *k = slot;
    json_t *e, *p;
    rl_loc l, pl;
    const char *s;
    char got[80];
    rl_keys(x, v, at, known_keys);
    if (member(x, v, at, "name", false, &e, &l)) {
        if (rl_string(x, e, &l, 128, &s) && !(k->name = strdup(s)))
            rl_nomem(x);
    } else
        rl_report(x, at, false,
                  "%s is required (records show it for the accepted "
                  "difference)",
                  l.name);
    bool has_p = member(x, v, at, "path", false, &p, &pl);
    k->where = has_p ? WHERE_BODY : WHERE_ANY;
    if (member(x, v, at, "where", false, &e, &l)) {
        int w = enum_of(e, wheres);
        rl_show(e, got, sizeof got);
        if (w < 0) {
            rl_report(x, &l, false,
                      "%s must be \"any\", \"status\", \"header\" or "
                      "\"body\", got %s",
                      l.name, got);
            return false;
        }
        k->where = (diff_where)w; /* WHERE_* follow `wheres` */
    }
    if (member(x, v, at, "kind", false, &e, &l)) {
        rl_show(e, got, sizeof got);
        if (enum_of(e, kinds) < 0)
            rl_report(x, &l, false,
                      "%s must be \"changed\", \"added\", \"removed\" or "
                      "\"type\", got %s",
                      l.name, got);
        else if (!(k->kind = strdup(json_string_value(e))))
            rl_nomem(x);
    }
    if (has_p && (k->where == WHERE_ANY || k->where == WHERE_STATUS)) {
        rl_report(x, &pl, true,
                  "%s: a \"path\" needs \"where\": \"body\" or \"header\"",
                  at->name);
    } else if (has_p && k->where == WHERE_HEADER) {
        rl_show(p, got, sizeof got);
        if (!json_is_string(p) || !rl_header_name_ok(json_string_value(p)))
            rl_report(x, &pl, false,
                      "%s must be a header name (where is \"header\"), got %s",
                      pl.name, got);
        else if (!(k->path.text = strdup(json_string_value(p))))
            rl_nomem(x);
    } else if (has_p) {
        rl_pattern(x, p, &pl, &k->path);
    }
    return true;
}

/* --- status pairs --------------------------------------------------------- */

static bool status_code(rl_ctx *x, const json_t *v, const rl_loc *at, int *out)
{
    char got[80];
    if (json_is_integer(v) && json_integer_value(v) >= 100 &&
        json_integer_value(v) <= 599) {
        *out = (int)json_integer_value(v);
        return true;
    }
    rl_show(v, got, sizeof got);
    rl_report(x, at, false,
              "%s must be a status code between 100 and 599, got %s", at->name,
              got);
    return false;
}

static void load_status_pairs(rl_ctx *x, json_t *v, const rl_loc *at,
                              route_compare *c)
{
    size_t n;
    if (!rl_array(x, v, at, "status pairs", &n))
        return;
    if (!(c->status_equiv = calloc(n + 1, sizeof *c->status_equiv))) {
        rl_nomem(x);
        return;
    }
    c->nstatus_equiv = n;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(v, i);
        rl_loc l, el;
        rl_elem(&l, at, i);
        if (!json_is_array(e) || json_array_size(e) != 2) {
            rl_report(x, &l, false,
                      "%s must be a pair of status codes like [201, 200], "
                      "got %s",
                      l.name,
                      json_is_array(e) ? "another number of entries"
                                       : rl_type_name(e));
            continue;
        }
        for (size_t j = 0; j < 2; j++) {
            rl_elem(&el, &l, j);
            status_code(x, json_array_get(e, j), &el, &c->status_equiv[i][j]);
        }
    }
}

/* --- sections ------------------------------------------------------------- */

void rl_load_compare(rl_ctx *x, json_t *v, const rl_loc *at, rl_opts *o)
{
    route_compare *c = &o->r.cmp;
    json_t *e;
    rl_loc l;
    if (!rl_object(x, v, at))
        return;
    rl_keys(x, v, at, rl_compare_keys);
#define GET(key) (rl_child(&l, at, key), (e = json_object_get(v, key)) != NULL)
    if (GET("status_only") && rl_bool(x, e, &l, &c->status_only))
        o->set |= OPT_STATUS_ONLY;
    if (GET("status_equivalent"))
        load_status_pairs(x, e, &l, c);
    if (GET("headers") &&
        rl_strlist(x, e, &l, RL_HEADERS, &c->headers, &c->nheaders)) {
        c->headers_set = true;
        o->set |= OPT_HEADERS;
    }
    if (GET("ignore_headers"))
        rl_strlist(x, e, &l, RL_HEADERS, &c->ignore_headers,
                   &c->nignore_headers);
    if (GET("ignore"))
        rl_patlist(x, e, &l, &c->ignore, &c->nignore);
    if (GET("tolerance"))
        c->tolerance =
            entries(x, e, &l, "tolerance objects", sizeof *c->tolerance,
                    &c->ntolerance, one_tolerance);
    if (GET("arrays"))
        c->arrays = entries(x, e, &l, "array rule objects", sizeof *c->arrays,
                            &c->narrays, one_array);
    if (GET("map"))
        c->maps = entries(x, e, &l, "mapping objects", sizeof *c->maps,
                          &c->nmaps, one_map);
    if (GET("normalize"))
        c->normalize =
            entries(x, e, &l, "normalization objects", sizeof *c->normalize,
                    &c->nnormalize, one_normalize);
    if (GET("known"))
        c->known = entries(x, e, &l, "known-difference objects",
                           sizeof *c->known, &c->nknown, one_known);
#undef GET
}

void rl_load_redact(rl_ctx *x, json_t *v, const rl_loc *at, rl_opts *o)
{
    json_t *e;
    rl_loc l;
    if (!rl_object(x, v, at))
        return;
    rl_keys(x, v, at, rl_redact_keys);
    rl_child(&l, at, "fields");
    if ((e = json_object_get(v, "fields")))
        rl_strlist(x, e, &l, RL_NAMES, &o->r.redact_fields,
                   &o->r.nredact_fields);
    rl_child(&l, at, "paths");
    if ((e = json_object_get(v, "paths")))
        rl_patlist(x, e, &l, &o->r.redact_paths, &o->r.nredact_paths);
    rl_child(&l, at, "exempt");
    if ((e = json_object_get(v, "exempt")))
        rl_strlist(x, e, &l, RL_EXEMPT, &o->r.redact_exempt,
                   &o->r.nredact_exempt);
}

/* ---- map plans (conf/rules.h) ------------------------------------------- */

void rule_map_plan_free(rule_map_plan *mp)
{
    pointer_segs_free(mp->fs, mp->nf > 0 ? mp->nf : 0);
    pointer_segs_free(mp->ts, mp->nt > 0 ? mp->nt : 0);
}

int rule_map_plan_make(const rule_map *m, rule_map_plan *mp, const char **why)
{
    memset(mp, 0, sizeof *mp);
    *why = NULL;
    if (!m->from || !m->to) {
        *why = "a map needs \"from\" and \"to\"";
        return -EINVAL;
    }
    mp->nf = pointer_split(m->from, &mp->fs);
    mp->nt = pointer_split(m->to, &mp->ts);
    if (mp->nf < 0 || mp->nt < 0) {
        rule_map_plan_free(mp);
        *why = "\"from\" and \"to\" must be JSON Pointers (\"\" or starting with '/')";
        return -EINVAL;
    }
    size_t lf = 0, lt = 0;
    for (int i = 0; i < mp->nf; i++) {
        if (strcmp(mp->fs[i], "**") == 0)
            *why = "\"**\" is not allowed in a map";
        else if (strcmp(mp->fs[i], "*") == 0)
            lf = (size_t)i + 1;
    }
    for (int i = 0; i < mp->nt; i++) {
        if (strcmp(mp->ts[i], "**") == 0)
            *why = "\"**\" is not allowed in a map";
        else if (strcmp(mp->ts[i], "*") == 0)
            lt = (size_t)i + 1;
    }
    bool same = lf == lt;
    for (size_t i = 0; same && i < lf; i++)
        same = strcmp(mp->fs[i], mp->ts[i]) == 0;
    if (!*why && !same)
        *why = "with \"*\", \"from\" and \"to\" must be the same up to their last \"*\"";
    if (*why) {
        rule_map_plan_free(mp);
        return -EINVAL;
    }
    mp->pre = lf;
    return 0;
}

int rule_map_check(const rule_map *m, const char **why)
{
    rule_map_plan mp;
    int rc = rule_map_plan_make(m, &mp, why);
    if (rc == 0)
        rule_map_plan_free(&mp);
    return rc;
}
