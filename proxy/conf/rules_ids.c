/* rules_ids: the "ids" section of a route or "defaults" (issue 17, part 1):
 * where a generated id is learned (a JSON Pointer in each side's answer, or
 * the Location header read through a path template) and where later
 * requests use it (a path segment by template, a query parameter, a
 * request-body field, a header). The loader validates the section and keeps
 * a copy in the route; the learn and use lists concatenate, defaults first.
 * Also the pure template helpers the request rewrite needs. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conf/rules_load.h"

const char *const rl_ids_keys[] = {"learn", "use", NULL};
static const char *const learn_keys[] = {"name", "legacy", "new", "location", NULL};
static const char *const use_keys[] = {"name", "path_template", "query", "body", "header", NULL};
static const char *const use_places[] = {"path_template", "query", "body", "header", NULL};

/* "{id}" exactly once, as a whole segment, in a request path. */
static bool id_template(const char *s)
{
    const char *p = strstr(s, "{id}");
    return s[0] == '/' && p && p[-1] == '/' && (p[4] == '/' || p[4] == '\0') &&
           !strstr(p + 4, "{id}") && !strchr(s, '?');
}

static bool pointer_ok(const char *s)
{
    if (s[0] != '/')
        return false;
    for (const char *p = s; *p; p++)
        if (*p == '~' && p[1] != '0' && p[1] != '1')
            return false;
    return true;
}

static void want_pointer(rl_ctx *x, json_t *v, const rl_loc *at, const char *example)
{
    const char *s;
    if (rl_string(x, v, at, 1024, &s) && !pointer_ok(s))
        rl_report(x, at, false, "%s must be a JSON Pointer such as %s, got \"%s\"", at->name,
                  example, s);
}

static void want_template(rl_ctx *x, json_t *v, const rl_loc *at)
{
    const char *s;
    if (rl_string(x, v, at, 4096, &s) && !id_template(s))
        rl_report(x, at, false, "%s must be a path with one whole segment {id}, such as "
                  "/api/orders/{id}/status, got \"%s\"", at->name, s);
}

static void want_name(rl_ctx *x, json_t *e, const rl_loc *el)
{
    rl_loc l;
    const char *s;
    json_t *n = json_object_get(e, "name");
    rl_child(&l, el, "name");
    if (!n) {
        rl_report(x, el, false, "%s is required (the kind of id: \"order\")", l.name);
        return;
    }
    if (!rl_string(x, n, &l, 64, &s))
        return;
    for (const char *p = s; *p; p++)
        if (!rl_name_char(*p)) {
            rl_report(x, &l, false, "%s must be letters, digits, '.', '_' or '-', got \"%s\"",
                      l.name, s);
            return;
        }
}

static void load_learn(rl_ctx *x, json_t *e, const rl_loc *el)
{
    rl_loc l;
    json_t *v;
    if (!rl_object(x, e, el))
        return;
    rl_keys(x, e, el, learn_keys);
    want_name(x, e, el);
    bool loc = json_object_get(e, "location") != NULL;
    bool ptr = json_object_get(e, "legacy") || json_object_get(e, "new");
    if (loc && ptr)
        rl_report(x, el, false, "%s has both \"location\" and \"legacy\"/\"new\"; use one",
                  el->name);
    else if (!loc && !(json_object_get(e, "legacy") && json_object_get(e, "new")))
        rl_report(x, el, false, "%s needs \"legacy\" and \"new\" (a JSON Pointer in each "
                  "side's answer) or \"location\" (a path template for the Location header)",
                  el->name);
    if ((v = json_object_get(e, "location"))) {
        rl_child(&l, el, "location");
        want_template(x, v, &l);
    }
    for (int s = 0; s < 2; s++) {
        const char *side = s ? "new" : "legacy";
        if ((v = json_object_get(e, side))) {
            rl_child(&l, el, side);
            want_pointer(x, v, &l, "/erp_order_id");
        }
    }
}

static void load_use(rl_ctx *x, json_t *e, const rl_loc *el)
{
    rl_loc l;
    bool dup = false;
    if (!rl_object(x, e, el))
        return;
    rl_keys(x, e, el, use_keys);
    want_name(x, e, el);
    const char *which = rl_one_of(x, e, el, use_places, &dup);
    if (!which) {
        rl_report(x, el, false, "%s needs one of \"path_template\", \"query\", \"body\" or "
                  "\"header\"", el->name);
        return;
    }
    json_t *v = json_object_get(e, which);
    const char *s;
    rl_child(&l, el, which);
    if (strcmp(which, "path_template") == 0)
        want_template(x, v, &l);
    else if (strcmp(which, "body") == 0)
        want_pointer(x, v, &l, "/order_id");
    else if (rl_string(x, v, &l, 256, &s) && strcmp(which, "header") == 0 && !rl_header_name_ok(s))
        rl_report(x, &l, false, "%s must be a header name, got \"%s\"", l.name, s);
}

void rl_load_ids(rl_ctx *x, json_t *v, const rl_loc *at, rl_opts *o)
{
    if (!rl_object(x, v, at))
        return;
    rl_keys(x, v, at, rl_ids_keys);
    static const char *const lists[] = {"learn", "use"};
    for (int k = 0; k < 2; k++) {
        json_t *list = json_object_get(v, lists[k]);
        rl_loc l;
        size_t n;
        if (!list)
            continue;
        rl_child(&l, at, lists[k]);
        if (!rl_array(x, list, &l, "objects", &n))
            continue;
        for (size_t i = 0; i < n; i++) {
            rl_loc el;
            rl_elem(&el, &l, i);
            if (k == 0)
                load_learn(x, json_array_get(list, i), &el);
            else
                load_use(x, json_array_get(list, i), &el);
        }
    }
    json_decref(o->r.ids);
    if (!(o->r.ids = json_deep_copy(v)))
        rl_nomem(x);
}

int rl_ids_merge(json_t **out, const json_t *base, const json_t *over)
{
    *out = NULL;
    if (!base && !over)
        return 0;
    json_t *m = json_object();
    static const char *const lists[] = {"learn", "use"};
    for (int k = 0; m && k < 2; k++) {
        json_t *l = json_array();
        if (!l || json_object_set_new(m, lists[k], l) != 0) {
            json_decref(m);
            return -ENOMEM;
        }
        json_t *bl = json_object_get(base, lists[k]), *ol = json_object_get(over, lists[k]);
        if ((bl && json_array_extend(l, bl) != 0) || (ol && json_array_extend(l, ol) != 0)) {
            json_decref(m);
            return -ENOMEM;
        }
    }
    if (!m)
        return -ENOMEM;
    *out = m;
    return 0;
}

/* ---- templates --------------------------------------------------------------- */

bool rules_ids_template_match(const char *tmpl, const char *path, size_t *start, size_t *len)
{
    const char *brace = strstr(tmpl, "{id}");
    if (!brace)
        return false;
    size_t pre = (size_t)(brace - tmpl), post = strlen(brace + 4);
    size_t plen = strcspn(path, "?#");
    if (plen < pre + post + 1 || strncmp(path, tmpl, pre) != 0 ||
        strncmp(path + plen - post, brace + 4, post) != 0)
        return false;
    size_t n = plen - pre - post;
    if (memchr(path + pre, '/', n))
        return false; /* {id} is one segment */
    *start = pre;
    *len = n;
    return true;
}

char *rules_ids_splice(const char *s, size_t start, size_t len, const char *with)
{
    size_t n = strlen(s), w = strlen(with);
    if (start + len > n)
        return NULL;
    char *out = malloc(n - len + w + 1);
    if (!out)
        return NULL;
    memcpy(out, s, start);
    memcpy(out + start, with, w);
    memcpy(out + start + w, s + start + len, n - start - len + 1);
    return out;
}
