/* rules_json: reading a rules file's jansson values with positions. Every
 * reader checks one value's type and range and reports a problem as
 * "name must be ..., got ..." at the value's line:column (found by jsonpos
 * in the text jansson accepted), the way config_load.c does. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/jsonpos.h"
#include "base/secret.h"
#include "conf/rules_load.h"

/* --- text for messages ---------------------------------------------------- */

void rl_quote(const char *s, char *buf, size_t size) { jsonpos_quote(s, 64, buf, size); }
const char *rl_type_name(const json_t *v) { return jsonpos_type_name(v); }
void rl_show(const json_t *v, char *buf, size_t size) { jsonpos_show(v, 64, buf, size); }




void rl_nomem(rl_ctx *x) { x->doc.rc = -ENOMEM; }

/* --- unknown keys --------------------------------------------------------- */


/* Inside route options, the one section of a route that has exactly this
 * key ("sample_percent" written at the route's top level belongs in
 * "mirror"). */
static bool section_hint(const void *ctx, const rl_loc *at, const char *const *names,
                         const char *key, char *buf, size_t size)
{
    (void)at;
    const rl_ctx *x = ctx;
    const char *sect = NULL;
    if (!x->route)
        return false;
    for (const rl_section *s = rl_sections; s->keys; s++) {
        if (s->keys == names || !jr_listed(s->keys, key))
            continue;
        if (sect)
            return false; /* in two sections: no single answer */
        sect = s->name;
    }
    if (!sect)
        return false;
    snprintf(buf, size, "%s%s%s%s%s", x->route->name,
             *x->route->name && *sect ? "." : "", sect,
             *x->route->name || *sect ? "." : "", key);
    return true;
}

void rl_keys(rl_ctx *x, json_t *obj, const rl_loc *at, const char *const *names)
{
    jr_unknown_keys(&x->doc, obj, at, names, 64, section_hint, x);
}

const char *rl_one_of(rl_ctx *x, json_t *obj, const rl_loc *at,
                      const char *const *names, bool *dup)
{
    const char *key, *first = NULL;
    json_t *v;
    *dup = false;
    json_object_foreach(obj, key, v)
    {
        if (!jr_listed(names, key))
            continue;
        if (!first) {
            first = key;
        } else if (!*dup) {
            rl_loc k;
            rl_child(&k, at, key);
            rl_report(x, &k, true, "%s has both \"%s\" and \"%s\"; use one",
                      at->name, first, key);
            *dup = true;
        }
    }
    return first;
}

/* --- typed readers -------------------------------------------------------- */

bool rl_object(rl_ctx *x, const json_t *obj, const rl_loc *at)
{
    if (json_is_object(obj))
        return true;
    rl_report(x, at, false, "%s must be an object, got %s", at->name,
              rl_type_name(obj));
    return false;
}

bool rl_bool(rl_ctx *x, const json_t *v, const rl_loc *at, bool *out)
{
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return true;
    }
    rl_report(x, at, false, "%s must be true or false, got %s", at->name,
              rl_type_name(v));
    return false;
}

bool rl_string(rl_ctx *x, const json_t *v, const rl_loc *at, size_t max,
               const char **out)
{
    const char *s = json_string_value(v);
    if (!s)
        rl_report(x, at, false, "%s must be a string, got %s", at->name,
                  rl_type_name(v));
    else if (!*s)
        rl_report(x, at, false, "%s must not be empty", at->name);
    else if (json_string_length(v) != strlen(s))
        rl_report(x, at, false, "%s must not contain NUL characters", at->name);
    else if (strlen(s) > max)
        rl_report(x, at, false, "%s must be at most %zu bytes long", at->name,
                  max);
    else {
        *out = s;
        return true;
    }
    return false;
}

bool rl_number(rl_ctx *x, const json_t *v, const rl_loc *at, double lo,
               double hi, double *out)
{
    char got[80];
    if (!json_is_number(v)) {
        rl_report(x, at, false, "%s must be a number, got %s", at->name,
                  rl_type_name(v));
        return false;
    }
    double d = json_number_value(v);
    if (!isfinite(d) || d < lo || d > hi) {
        rl_show(v, got, sizeof got);
        rl_report(x, at, false, "%s must be between %g and %g, got %s",
                  at->name, lo, hi, got);
        return false;
    }
    *out = d;
    return true;
}

bool rl_integer(rl_ctx *x, const json_t *v, const rl_loc *at, long long lo,
                long long hi, long long *out)
{
    char got[80];
    if (!json_is_integer(v)) {
        rl_report(x, at, false, "%s must be an integer, got %s", at->name,
                  rl_type_name(v));
        return false;
    }
    long long n = json_integer_value(v);
    if (n < lo || n > hi) {
        rl_show(v, got, sizeof got);
        rl_report(x, at, false, "%s must be between %lld and %lld, got %s",
                  at->name, lo, hi, got);
        return false;
    }
    *out = n;
    return true;
}

bool rl_array(rl_ctx *x, const json_t *v, const rl_loc *at, const char *what,
              size_t *n)
{
    if (!json_is_array(v)) {
        rl_report(x, at, false, "%s must be an array of %s, got %s", at->name,
                  what, rl_type_name(v));
        return false;
    }
    *n = json_array_size(v);
    if (*n > RULES_MAX_LIST) {
        rl_report(x, at, false, "%s must have at most %d entries, got %zu",
                  at->name, RULES_MAX_LIST, *n);
        return false;
    }
    return true;
}

/* RFC 9110 token characters. */
static bool tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

bool rl_ident_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_';
}

bool rl_name_char(char c)
{
    return rl_ident_char(c) || c == '-' || c == '.';
}

bool rl_header_name_ok(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!tchar(s[n]))
            return false;
    return n > 0 && n <= 256;
}

/* One list entry checked and copied; NULL after a report or on ENOMEM. */
static char *list_entry(rl_ctx *x, const json_t *e, const rl_loc *at,
                        rl_list_kind kind)
{
    const char *s;
    char got[80];
    const char *why;
    if (!rl_string(x, e, at, kind == RL_NAMES || kind == RL_EXEMPT ? 256 : 64 * 4, &s))
        return NULL;
    rl_show(e, got, sizeof got);
    if (kind == RL_EXEMPT && (why = secret_exempt_problem(s))) {
        rl_report(x, at, false, "%s %s, got %s", at->name, why, got);
        return NULL;
    }
    if (kind == RL_HEADERS && !rl_header_name_ok(s)) {
        rl_report(x, at, false, "%s must be a header name, got %s", at->name,
                  got);
        return NULL;
    }
    if (kind == RL_METHODS && (!rl_header_name_ok(s) || strlen(s) > 32)) {
        rl_report(x, at, false,
                  "%s must be an HTTP method such as \"GET\", got %s", at->name,
                  got);
        return NULL;
    }
    char *dup = strdup(s);
    if (!dup)
        rl_nomem(x);
    for (char *p = dup; p && kind == RL_METHODS && *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    return dup;
}

bool rl_strlist(rl_ctx *x, const json_t *v, const rl_loc *at, rl_list_kind kind,
                char ***out, size_t *n)
{
    static const char *const what[] = {"strings", "header names",
                                       "HTTP methods", "strings"};
    size_t cnt;
    if (!rl_array(x, v, at, what[kind], &cnt))
        return false;
    char **list = calloc(cnt + 1, sizeof *list);
    bool ok = list != NULL;
    if (!list)
        rl_nomem(x);
    for (size_t i = 0; list && i < cnt; i++) {
        rl_loc e;
        rl_elem(&e, at, i);
        ok &= (list[i] = list_entry(x, json_array_get(v, i), &e, kind)) != NULL;
    }
    if (!ok) {
        rl_strlist_free(list, cnt);
        return false;
    }
    *out = list;
    *n = cnt;
    return true;
}

bool rl_pattern(rl_ctx *x, const json_t *v, const rl_loc *at, path_pattern *out)
{
    const char *s = json_string_value(v), *why;
    char got[80];
    memset(out, 0, sizeof *out);
    if (!s) {
        rl_report(x, at, false,
                  "%s must be a JSON Pointer pattern (a string), got %s",
                  at->name, rl_type_name(v));
        return false;
    }
    if (json_string_length(v) != strlen(s) || strlen(s) > 4096) {
        rl_report(x, at, false,
                  "%s must be a JSON Pointer pattern of at most "
                  "4096 bytes without NUL characters",
                  at->name);
        return false;
    }
    int rc = path_pattern_compile(out, s, &why);
    if (rc == -ENOMEM)
        rl_nomem(x);
    if (rc == -EINVAL) {
        rl_show(v, got, sizeof got);
        rl_report(x, at, false,
                  "%s must be a JSON Pointer pattern such as "
                  "\"/items/*/price\", got %s (%s)",
                  at->name, got, why);
    }
    return rc == 0;
}

bool rl_patlist(rl_ctx *x, const json_t *v, const rl_loc *at,
                path_pattern **out, size_t *n)
{
    size_t cnt;
    if (!rl_array(x, v, at, "JSON Pointer patterns", &cnt))
        return false;
    path_pattern *list = calloc(cnt + 1, sizeof *list);
    bool ok = list != NULL;
    if (!list)
        rl_nomem(x);
    for (size_t i = 0; list && i < cnt; i++) {
        rl_loc e;
        rl_elem(&e, at, i);
        ok &= rl_pattern(x, json_array_get(v, i), &e, &list[i]);
    }
    if (!ok) {
        rl_pattern_list_free(list, cnt);
        return false;
    }
    *out = list;
    *n = cnt;
    return true;
}
