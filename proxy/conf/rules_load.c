/* rules_load: reading a rules file (docs/rules.md) into a snapshot.
 *
 *   bytes ─► size check ─► jansson (duplicate keys rejected) ─► top level
 *        ─► "defaults", each route, "default": options read with every
 *           problem reported at its line:column (rules_json.c readers,
 *           compare/redact in rules_compare.c, shadow_rewrite in
 *           rules_shadow.c)
 *        ─► no errors: each route merged over "defaults" (rules.c) ─► rules
 *
 * Nothing is published unless the whole file is clean. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/jsonpos.h"
#include "conf/rules_load.h"

static const char *const top_keys[] = {
    "$schema", "version", "description", "defaults", "routes", "default", NULL};
static const char *const route_keys[] = {
    "name",           "description", "match",  "authority", "mirror",
    "shadow_rewrite", "compare",     "redact", "readiness", "noise",
    "confirm",        "faults",      "ids",         NULL};
static const char *const match_keys[] = {
    "methods", "path", "path_prefix", "path_glob", "query", "header", NULL};
static const char *const mirror_keys[] = {"enabled", "sample_percent",
                                          "methods", "timeout_ms", NULL};
static const char *const noise_keys[] = {"secondary", NULL};
static const char *const confirm_keys[] = {"enabled", "after_ms", "max_per_second",
                                           "max_in_flight", NULL};

const rl_section rl_sections[] = {
    {"", route_keys},
    {"match", match_keys},
    {"mirror", mirror_keys},
    {"noise", noise_keys},
    {"confirm", confirm_keys},
    {"shadow_rewrite", rl_shadow_keys},
    {"compare", rl_compare_keys},
    {"redact", rl_redact_keys},
    {"readiness", rl_readiness_keys},
    {"ids", rl_ids_keys},
    {NULL, NULL},
};

/* --- match ---------------------------------------------------------------- */

/* A request path as the client sends it: '/', then no query, fragment,
 * space or control character (percent-encoding is kept as written). */
static bool request_path(rl_ctx *x, const json_t *v, const rl_loc *at,
                         const char **out)
{
    const char *s;
    char got[80];
    if (!rl_string(x, v, at, 4096, &s))
        return false;
    rl_show(v, got, sizeof got);
    if (*s != '/') {
        rl_report(x, at, false, "%s must start with '/', got %s", at->name,
                  got);
        return false;
    }
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '?' || c == '#') {
            rl_report(x, at, false, "%s must be a path without '%c', got %s%s",
                      at->name, c, got,
                      c == '?' ? " (match a query with match.query)" : "");
            return false;
        }
        if (c <= 0x20 || c == 0x7f) {
            rl_report(x, at, false,
                      "%s must not contain spaces or control characters "
                      "(write them percent-encoded), got %s",
                      at->name, got);
            return false;
        }
    }
    *out = s;
    return true;
}

/* "*" and "**" only as whole segments. */
static bool glob_ok(const char *s)
{
    for (const char *seg = s + 1;; seg++) {
        size_t n = strcspn(seg, "/");
        bool star = n == 1 || (n == 2 && seg[0] == '*' && seg[1] == '*');
        if (memchr(seg, '*', n) && !star)
            return false;
        seg += n;
        if (!*seg)
            return true;
    }
}

static void load_match_path(rl_ctx *x, const json_t *v, const rl_loc *at,
                            route_match *m, int kind)
{
    const char *s;
    char got[80];
    if (!request_path(x, v, at, &s))
        return;
    if (kind == PATH_GLOB && !glob_ok(s)) {
        rl_show(v, got, sizeof got);
        rl_report(x, at, false,
                  "%s must use \"*\" and \"**\" only as whole segments "
                  "(\"/api/orders/*\", \"/api/**\"), got %s",
                  at->name, got);
        return;
    }
    if (!(m->path = strdup(s)))
        rl_nomem(x);
    m->path_kind = kind;
}

/* {"name": "value"} or {"name": true}: exactly one parameter or header. */
static void load_pair(rl_ctx *x, json_t *v, const rl_loc *at, bool header,
                      char **name, char **value)
{
    char got[80];
    if (!json_is_object(v) || json_object_size(v) != 1) {
        if (json_is_object(v))
            snprintf(got, sizeof got, "%zu members", json_object_size(v));
        rl_report(x, at, false,
                  "%s must be an object with exactly one %s, like "
                  "%s, got %s",
                  at->name, header ? "header" : "parameter",
                  header ? "{\"X-Store\": \"de\"}"
                         : "{\"status\": \"pending\"}",
                  json_is_object(v) ? got : rl_type_name(v));
        return;
    }
    const char *key = json_object_iter_key(json_object_iter(v));
    json_t *val = json_object_iter_value(json_object_iter(v));
    rl_loc k;
    rl_child(&k, at, key);
    bool name_ok =
        header ? rl_header_name_ok(key) : *key && !key[strcspn(key, "&=# ")];
    for (const char *p = key; name_ok && *p; p++)
        name_ok = (unsigned char)*p > 0x20 && *p != 0x7f;
    if (!name_ok) {
        rl_quote(key, got, sizeof got);
        rl_report(x, &k, true, "%s must name a %s, got %s", at->name,
                  header ? "header" : "query parameter (no '&', '=' or spaces)",
                  got);
        return;
    }
    const char *s = json_string_value(val);
    if (!json_is_true(val) && (!s || json_string_length(val) != strlen(s))) {
        rl_report(x, &k, false,
                  "%s must be a string or true (present with any value), "
                  "got %s",
                  k.name, rl_type_name(val));
        return;
    }
    if (!(*name = strdup(key)) || (s && !(*value = strdup(s))))
        rl_nomem(x);
}

static void load_match(rl_ctx *x, json_t *v, const rl_loc *at, route_match *m)
{
    static const char *const kinds[] = {"path", "path_prefix", "path_glob",
                                        NULL};
    static const int kind_of[] = {PATH_EXACT, PATH_PREFIX, PATH_GLOB};
    const char *which;
    bool dup;
    json_t *e;
    rl_loc l;
    if (!rl_object(x, v, at))
        return;
    rl_keys(x, v, at, match_keys);
    if ((e = json_object_get(v, "methods"))) {
        rl_child(&l, at, "methods");
        if (rl_strlist(x, e, &l, RL_METHODS, &m->methods, &m->nmethods) &&
            m->nmethods == 0)
            rl_report(x, &l, false, "%s must list at least one method", l.name);
    }
    if ((which = rl_one_of(x, v, at, kinds, &dup))) {
        int k = 0;
        while (strcmp(kinds[k], which) != 0)
            k++;
        rl_child(&l, at, which);
        load_match_path(x, json_object_get(v, which), &l, m, kind_of[k]);
    }
    if ((e = json_object_get(v, "query"))) {
        rl_child(&l, at, "query");
        load_pair(x, e, &l, false, &m->query_name, &m->query_value);
    }
    if ((e = json_object_get(v, "header"))) {
        rl_child(&l, at, "header");
        load_pair(x, e, &l, true, &m->header_name, &m->header_value);
    }
}

/* --- mirror --------------------------------------------------------------- */

static void load_mirror(rl_ctx *x, json_t *v, const rl_loc *at, rl_opts *o)
{
    json_t *e;
    rl_loc l;
    double d;
    long long n;
    if (!rl_object(x, v, at))
        return;
    rl_keys(x, v, at, mirror_keys);
    if ((e = json_object_get(v, "enabled"))) {
        rl_child(&l, at, "enabled");
        if (rl_bool(x, e, &l, &o->r.mirror))
            o->set |= OPT_MIRROR;
    }
    if ((e = json_object_get(v, "sample_percent"))) {
        rl_child(&l, at, "sample_percent");
        if (rl_number(x, e, &l, 0, 100, &d)) {
            o->r.sample_percent = d;
            o->set |= OPT_SAMPLE;
        }
    }
    if ((e = json_object_get(v, "methods"))) {
        rl_child(&l, at, "methods");
        if (rl_strlist(x, e, &l, RL_METHODS, &o->r.mirror_methods,
                       &o->r.nmirror_methods))
            o->set |= OPT_MIRROR_METHODS;
    }
    if ((e = json_object_get(v, "timeout_ms"))) {
        rl_child(&l, at, "timeout_ms");
        if (rl_integer(x, e, &l, 1, 3600000, &n)) {
            o->r.shadow_timeout_ms = (long)n;
            o->set |= OPT_TIMEOUT;
        }
    }
}

/* "noise": {"secondary": true} (docs/rules.md, "noise"). */
static void load_noise(rl_ctx *x, json_t *v, const rl_loc *at, rl_opts *o)
{
    json_t *e;
    rl_loc l;
    if (!rl_object(x, v, at))
        return;
    rl_keys(x, v, at, noise_keys);
    if ((e = json_object_get(v, "secondary"))) {
        rl_child(&l, at, "secondary");
        if (rl_bool(x, e, &l, &o->r.noise_secondary))
            o->set |= OPT_NOISE_SECONDARY;
    }
}

/* "confirm": {"after_ms": 500, "max_per_second": 20, "max_in_flight": 8}
 * (docs/rules.md, "confirm"). The section replaces the one of "defaults"
 * as a whole; keys it leaves out take the built-in defaults. */
static void load_confirm(rl_ctx *x, json_t *v, const rl_loc *at, rl_opts *o)
{
    json_t *e;
    rl_loc l;
    long long n;
    double d;
    if (!rl_object(x, v, at))
        return;
    rl_keys(x, v, at, confirm_keys);
    route_confirm c = {true, CONFIRM_DEFAULT_AFTER_MS, CONFIRM_DEFAULT_PER_SECOND,
                       CONFIRM_DEFAULT_IN_FLIGHT};
    if ((e = json_object_get(v, "enabled"))) {
        rl_child(&l, at, "enabled");
        rl_bool(x, e, &l, &c.enabled);
    }
    if ((e = json_object_get(v, "after_ms"))) {
        rl_child(&l, at, "after_ms");
        if (rl_integer(x, e, &l, 0, CONFIRM_MAX_AFTER_MS, &n))
            c.after_ms = (long)n;
    }
    if ((e = json_object_get(v, "max_per_second"))) {
        rl_child(&l, at, "max_per_second");
        if (rl_number(x, e, &l, 0.001, 100000, &d))
            c.max_per_second = d;
    }
    if ((e = json_object_get(v, "max_in_flight"))) {
        rl_child(&l, at, "max_in_flight");
        if (rl_integer(x, e, &l, 1, CONFIRM_MAX_IN_FLIGHT, &n))
            c.max_in_flight = (int)n;
    }
    o->r.confirm = c;
    o->set |= OPT_CONFIRM;
}

/* Only reads are asked twice: a route that matches writes only cannot
 * confirm anything, which is a mistake worth an error, not a silent no-op.
 * (A route matching GET and POST confirms its GETs only.) */
static void confirm_reads_only(rl_ctx *x, const rl_loc *at, const rl_opts *o)
{
    const route_match *m = &o->r.match;
    if (!(o->set & OPT_CONFIRM) || !o->r.confirm.enabled || !m->methods)
        return;
    for (size_t i = 0; i < m->nmethods; i++)
        if (strcmp(m->methods[i], "GET") == 0 || strcmp(m->methods[i], "HEAD") == 0)
            return;
    rl_report(x, at, false,
              "%s re-reads only GET and HEAD (a write is never sent twice), and this "
              "route matches no GET or HEAD: remove \"confirm\" or match reads",
              at->name);
}

/* "faults": [{"side", "delay"|"abort"|"reset", "percent"}] (docs/rules.md,
 * "faults"; conf/faults.h reads each one). Whether they may run is the
 * config's (faults.enabled): rules_faults_refused, once both are loaded. */
static void load_faults(rl_ctx *x, json_t *v, const rl_loc *at, rl_opts *o)
{
    size_t n;
    if (!rl_array(x, v, at, "fault objects", &n))
        return;
    if (!(o->r.faults = calloc(n + 1, sizeof *o->r.faults))) {
        rl_nomem(x);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        rl_loc l, bl;
        char why[200], bad[32];
        rl_elem(&l, at, i);
        if (fault_spec_from_json(json_array_get(v, i), NULL, &o->r.faults[o->r.nfaults], why,
                                 sizeof why, bad, sizeof bad) == 0) {
            o->r.nfaults++;
            continue;
        }
        bl = l;
        for (char *seg = bad, *slash; *seg; seg = slash ? slash + 1 : seg + strlen(seg)) {
            if ((slash = strchr(seg, '/')))
                *slash = '\0';
            rl_loc next;
            rl_child(&next, &bl, seg);
            bl = next;
        }
        rl_report(x, &bl, false, "%s: %s", l.name, why);
    }
    int line = 0, col = 0;
    if (!at->cut && jsonpos_find_key(x->doc.text, x->doc.len, at->ptr, &line, &col) == 0) {
        o->r.faults_line = line;
        o->r.faults_col = col;
    }
}

/* --- route options -------------------------------------------------------- */

static void load_name(rl_ctx *x, const json_t *v, const rl_loc *at, route *r)
{
    const char *s;
    char got[80];
    if (!rl_string(x, v, at, 64, &s))
        return;
    rl_show(v, got, sizeof got);
    for (const char *p = s; *p; p++)
        if (!rl_name_char(*p)) {
            rl_report(x, at, false,
                      "%s must use only letters, digits, '.', '-' and '_' "
                      "(it names the route in records and metrics), got %s",
                      at->name, got);
            return;
        }
    if (strcmp(s, "default") == 0) {
        rl_report(x, at, false,
                  "%s \"default\" is reserved for the top-level \"default\" "
                  "route",
                  at->name);
        return;
    }
    if (!(r->name = strdup(s)))
        rl_nomem(x);
}

/* One "defaults", "default" or routes[i] object; `route` for routes[i]. */
static void load_options(rl_ctx *x, json_t *v, const rl_loc *at, rl_opts *o,
                         bool is_route)
{
    const char *s;
    json_t *e;
    rl_loc l;
    if (!rl_object(x, v, at))
        return;
    x->route = at;
    rl_keys(x, v, at, route_keys);
    for (int k = 0; !is_route && k < 2; k++) {
        const char *key = k ? "match" : "name";
        if (!json_object_get(v, key))
            continue;
        rl_child(&l, at, key);
        rl_report(x, &l, true, "%s takes no \"%s\": %s", at->name, key,
                  strcmp(at->name, "defaults") == 0
                      ? "its options apply under every route"
                      : "it catches what no route matches");
    }
    if (is_route) {
        rl_child(&l, at, "name");
        if ((e = json_object_get(v, "name")))
            load_name(x, e, &l, &o->r);
        else
            rl_report(x, at, false, "%s is required", l.name);
        rl_child(&l, at, "match");
        if ((e = json_object_get(v, "match")))
            load_match(x, e, &l, &o->r.match);
        else
            rl_report(x, at, false,
                      "%s is required (\"default\" catches the rest)", l.name);
    }
    if ((e = json_object_get(v, "description"))) {
        rl_child(&l, at, "description");
        rl_string(x, e, &l, 4096, &s);
    }
    if ((e = json_object_get(v, "authority"))) {
        sp_side side;
        char got[80];
        rl_child(&l, at, "authority");
        if (json_is_string(e) &&
            config_parse_side(json_string_value(e), &side) == 0) {
            o->r.authority = (int)side;
            o->set |= OPT_AUTHORITY;
        } else {
            rl_show(e, got, sizeof got);
            rl_report(x, &l, false, "%s must be \"legacy\" or \"new\", got %s",
                      l.name, got);
        }
    }
    if ((e = json_object_get(v, "mirror"))) {
        rl_child(&l, at, "mirror");
        load_mirror(x, e, &l, o);
    }
    if ((e = json_object_get(v, "noise"))) {
        rl_child(&l, at, "noise");
        load_noise(x, e, &l, o);
    }
    if ((e = json_object_get(v, "confirm"))) {
        rl_child(&l, at, "confirm");
        load_confirm(x, e, &l, o);
        if (is_route)
            confirm_reads_only(x, &l, o);
    }
    if ((e = json_object_get(v, "shadow_rewrite"))) {
        rl_child(&l, at, "shadow_rewrite");
        rl_load_shadow(x, e, &l, o);
    }
    if ((e = json_object_get(v, "compare"))) {
        rl_child(&l, at, "compare");
        rl_load_compare(x, e, &l, o);
    }
    if ((e = json_object_get(v, "redact"))) {
        rl_child(&l, at, "redact");
        rl_load_redact(x, e, &l, o);
    }
    if ((e = json_object_get(v, "readiness"))) {
        rl_child(&l, at, "readiness");
        rl_load_readiness(x, e, &l, o);
    }
    if ((e = json_object_get(v, "faults"))) {
        rl_child(&l, at, "faults");
        load_faults(x, e, &l, o);
    }
    if ((e = json_object_get(v, "ids"))) {
        rl_child(&l, at, "ids");
        rl_load_ids(x, e, &l, o);
    }
    x->route = NULL;
}

/* --- the whole file ------------------------------------------------------- */

typedef struct file_opts {
    rl_opts defaults, fallback;
    bool has_fallback;
    rl_opts *routes;
    size_t nroutes;
} file_opts;

static void load_routes(rl_ctx *x, json_t *v, const rl_loc *at, file_opts *f)
{
    size_t n = json_is_array(v) ? json_array_size(v) : 0;
    if (!json_is_array(v) || n > RULES_MAX_ROUTES) {
        if (json_is_array(v))
            rl_report(x, at, false,
                      "routes must have at most %d entries, got %zu",
                      RULES_MAX_ROUTES, n);
        else
            rl_report(x, at, false,
                      "routes must be an array of objects, got %s",
                      rl_type_name(v));
        return;
    }
    if (!(f->routes = calloc(n + 1, sizeof *f->routes))) {
        rl_nomem(x);
        return;
    }
    f->nroutes = n;
    for (size_t i = 0; i < n; i++)
        rl_route_init(&f->routes[i].r);
    for (size_t i = 0; i < n && !x->doc.rc; i++) {
        rl_loc l, nl;
        rl_elem(&l, at, i);
        load_options(x, json_array_get(v, i), &l, &f->routes[i], true);
        const char *name = f->routes[i].r.name;
        for (size_t j = 0; name && j < i; j++)
            if (f->routes[j].r.name && strcmp(f->routes[j].r.name, name) == 0) {
                rl_child(&nl, &l, "name");
                rl_report(x, &nl, false,
                          "%s \"%s\" is already used by routes[%zu]", nl.name,
                          name, j);
                break;
            }
    }
}

static void load_top(rl_ctx *x, json_t *root, file_opts *f)
{
    rl_loc top = {"", "", false}, l;
    json_t *e;
    const char *s;
    if (!json_is_object(root)) {
        rl_report(x, &top, false, "the top level must be an object, got %s",
                  rl_type_name(root));
        return;
    }
    rl_keys(x, root, &top, top_keys);
    rl_child(&l, &top, "version");
    if (!(e = json_object_get(root, "version"))) {
        rl_report(x, &top, false,
                  "version is required: add \"version\": 1 (the format of "
                  "this file)");
    } else if (!json_is_integer(e) || json_integer_value(e) != 1) {
        char got[80];
        rl_show(e, got, sizeof got);
        rl_report(x, &l, false, "version must be 1, got %s", got);
    }
    if ((e = json_object_get(root, "$schema"))) {
        rl_child(&l, &top, "$schema");
        rl_string(x, e, &l, 4096, &s);
    }
    if ((e = json_object_get(root, "description"))) {
        rl_child(&l, &top, "description");
        rl_string(x, e, &l, 4096, &s);
    }
    if ((e = json_object_get(root, "defaults"))) {
        rl_child(&l, &top, "defaults");
        load_options(x, e, &l, &f->defaults, false);
    }
    if ((e = json_object_get(root, "routes"))) {
        rl_child(&l, &top, "routes");
        load_routes(x, e, &l, f);
    }
    if ((e = json_object_get(root, "default"))) {
        rl_child(&l, &top, "default");
        load_options(x, e, &l, &f->fallback, false);
        f->has_fallback = true;
    }
}

/* Each route over "defaults"; the fallback ("default", or "defaults" alone)
 * named "default". */
static rules *build(rl_ctx *x, file_opts *f)
{
    rules *r = calloc(1, sizeof *r);
    if (!r || !(r->routes = calloc(f->nroutes + 1, sizeof *r->routes)))
        goto fail;
    atomic_init(&r->refs, 1);
    for (size_t i = 0; i < f->nroutes; i++, r->nroutes++)
        if (rl_route_merge(&r->routes[i], &f->defaults, &f->routes[i]))
            goto fail;
    rl_opts none = {.set = 0};
    rl_route_init(&none.r);
    if (rl_route_merge(&r->fallback, &f->defaults,
                       f->has_fallback ? &f->fallback : &none) ||
        !(r->fallback.name = strdup("default")))
        goto fail;
    return r;
fail:
    rl_nomem(x);
    if (r) {
        atomic_init(&r->refs, 1);
        rules_unref(r);
    }
    return NULL;
}

static void free_file_opts(file_opts *f)
{
    rl_route_free(&f->defaults.r);
    rl_route_free(&f->fallback.r);
    for (size_t i = 0; i < f->nroutes; i++)
        rl_route_free(&f->routes[i].r);
    free(f->routes);
}

static void version_of(const char *text, size_t len, char out[17])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    static const char hex[] = "0123456789abcdef";
    if (!EVP_Digest(text, len, md, &mdlen, EVP_sha256(), NULL) || mdlen < 8) {
        snprintf(out, 17, "unknown");
        return;
    }
    for (int i = 0; i < 8; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[16] = '\0';
}


rules *rules_load_buffer(const char *text, size_t len, config_errors *errs)
{
    size_t before = errs->n;
    rl_ctx x = {.route = NULL};
    json_t *root = jr_open(&x.doc, errs, text, len, RULES_MAX_FILE_BYTES, "4 MiB");
    if (!root && !x.doc.rc)
        return NULL; /* empty, too large or not JSON: said why */
    file_opts f = {0};
    rl_route_init(&f.defaults.r);
    rl_route_init(&f.fallback.r);
    rules *r = NULL;
    if (root)
        load_top(&x, root, &f);
    if (!x.doc.rc && errs->n == before)
        r = build(&x, &f);
    free_file_opts(&f);
    json_decref(root);
    if (x.doc.rc == -ENOMEM)
        config_errors_add(errs, 0, 0, "out of memory");
    config_errors_sort(errs, before);
    if (!r)
        return NULL;
    version_of(text, len, r->version);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    r->loaded_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    return r;
}

rules *rules_load_file(const char *path, config_errors *errs)
{
    char eb[128], *buf;
    size_t n;
    int err = config_read_file(path, RULES_MAX_FILE_BYTES, &buf, &n);
    rules *r = NULL;
    if (err)
        config_errors_add(errs, 0, 0, "cannot read: %s",
                          strerror_r(err, eb, sizeof eb));
    else if ((r = rules_load_buffer(buf, n, errs)) &&
             !(r->path = strdup(path))) {
        rules_unref(r);
        r = NULL;
        config_errors_add(errs, 0, 0, "out of memory");
    }
    free(buf);
    return r;
}
