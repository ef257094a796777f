/* rules_shadow: reading a route's "shadow_rewrite": the path rewrite
 * (prefix swap or template), headers set or removed on the shadow leg only,
 * and the shadow's Host. Header values that are credentials come from an
 * environment variable or a file, resolved here at load time; a literal
 * credential in the rules file is an error, and no message ever shows a
 * resolved value. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "conf/rules_load.h"

#define SECRET_FILE_MAX 16384

const char *const rl_shadow_keys[] = {"path_prefix", "path_template",
                                      "set_headers", "remove_headers",
                                      "host",        NULL};
static const char *const fromto_keys[] = {"from", "to", NULL};
static const char *const source_keys[] = {"env", "file", "value", NULL};

/* --- path rewrites -------------------------------------------------------- */

/* A path for "from" (must start with '/') or "to" (may also be "" with
 * `empty_ok`): no query, fragment, space or control character. */
static bool rewrite_path(rl_ctx *x, const json_t *v, const rl_loc *at,
                         bool empty_ok, const char **out)
{
    const char *s = json_string_value(v);
    char got[80];
    if (empty_ok && s && !*s) {
        *out = s;
        return true;
    }
    if (!rl_string(x, v, at, 4096, &s))
        return false;
    rl_show(v, got, sizeof got);
    bool ok = *s == '/';
    for (const char *p = s; ok && *p; p++)
        ok = (unsigned char)*p > 0x20 && *p != 0x7f && *p != '?' && *p != '#';
    if (!ok) {
        rl_report(x, at, false,
                  "%s must be a path starting with '/'%s, without '?', '#', "
                  "spaces or control characters, got %s",
                  at->name, empty_ok ? " (or \"\")" : "", got);
        return false;
    }
    *out = s;
    return true;
}

/* {"from": ..., "to": ...}, both required; "to" may be "" with `empty_to`. */
static bool from_to(rl_ctx *x, json_t *v, const rl_loc *at, bool empty_to,
                    rl_loc *fl, rl_loc *tl, const char **from, const char **to)
{
    bool ok = rl_object(x, v, at);
    if (!ok)
        return false;
    rl_keys(x, v, at, fromto_keys);
    rl_child(fl, at, "from");
    rl_child(tl, at, "to");
    json_t *f = json_object_get(v, "from"), *t = json_object_get(v, "to");
    if (!f)
        rl_report(x, at, false, "%s is required", fl->name);
    if (!t)
        rl_report(x, at, false, "%s is required", tl->name);
    ok = f && t;
    ok &= f && rewrite_path(x, f, fl, false, from);
    ok &= t && rewrite_path(x, t, tl, empty_to, to);
    return ok;
}

/* The placeholder name of a "{name}" segment [s, s+n), or 0 when the
 * segment is a literal; -1 when braces are misused. */
static int placeholder(const char *s, size_t n)
{
    if (!memchr(s, '{', n) && !memchr(s, '}', n))
        return 0;
    if (n < 3 || s[0] != '{' || s[n - 1] != '}')
        return -1;
    for (size_t i = 1; i + 1 < n; i++)
        if (!rl_ident_char(s[i]))
            return -1;
    return 1;
}

/* Does the template `t` define "{name}" (name = [s, s+n))? */
static bool defines(const char *t, const char *s, size_t n)
{
    for (const char *p = t; (p = strchr(p, '{')); p++)
        if (strncmp(p + 1, s, n) == 0 && p[1 + n] == '}')
            return true;
    return false;
}

static bool template_ok(rl_ctx *x, const char *t, const rl_loc *at,
                        const char *from, const rl_loc *from_at)
{
    char got[80];
    rl_quote(t, got, sizeof got);
    for (const char *seg = t + 1;; seg++) {
        size_t n = strcspn(seg, "/");
        int ph = placeholder(seg, n);
        if (ph < 0) {
            rl_report(x, at, false,
                      "%s: a placeholder must be a whole segment like "
                      "\"{id}\" (letters, digits, '_'), got %s",
                      at->name, got);
            return false;
        }
        if (ph && !from) {
            for (const char *p = seg + n; *p && (p = strstr(p, "/{")); p++)
                if (strncmp(p + 1, seg, n) == 0 &&
                    (p[n + 1] == '/' || !p[n + 1])) {
                    rl_report(x, at, false, "%s uses {%.*s} twice", at->name,
                              (int)(n - 2), seg + 1);
                    return false;
                }
        } else if (ph && !defines(from, seg + 1, n - 2)) {
            rl_report(x, at, false, "%s uses {%.*s}, which %s does not have",
                      at->name, (int)(n - 2), seg + 1, from_at->name);
            return false;
        }
        seg += n;
        if (!*seg)
            return true;
    }
}

static void load_path_rewrite(rl_ctx *x, json_t *v, const rl_loc *at, route *r,
                              bool is_template)
{
    rl_loc fl, tl;
    const char *from, *to;
    if (!from_to(x, v, at, !is_template, &fl, &tl, &from, &to))
        return;
    if (is_template && (!template_ok(x, from, &fl, NULL, NULL) ||
                        !template_ok(x, to, &tl, from, &fl)))
        return;
    char **f = is_template ? &r->template_from : &r->prefix_from;
    char **t = is_template ? &r->template_to : &r->prefix_to;
    if (!(*f = strdup(from)) || !(*t = strdup(to)))
        rl_nomem(x);
}

/* --- headers -------------------------------------------------------------- */

/* Credentials: never literal in the rules file. */
static bool secret_header(const char *name)
{
    static const char *const exact[] = {"Authorization", "Proxy-Authorization",
                                        "Cookie"};
    static const char *const part[] = {"token",   "secret", "password",
                                       "api-key", "apikey", "api_key"};
    for (size_t i = 0; i < sizeof exact / sizeof *exact; i++)
        if (strcasecmp(name, exact[i]) == 0)
            return true;
    for (size_t i = 0; i < sizeof part / sizeof *part; i++)
        if (strcasestr(name, part[i]))
            return true;
    return false;
}

/* Headers the proxy owns on every leg. */
static bool managed_header(const char *name)
{
    static const char *const names[] = {
        "Connection",        "Keep-Alive", "Proxy-Connection", "TE",  "Trailer",
        "Transfer-Encoding", "Upgrade",    "Content-Length",   "Host"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strcasecmp(name, names[i]) == 0)
            return true;
    return false;
}

/* A field value: no CR, LF, NUL or other control character but tab. */
static bool field_value_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f)
            return false;
    return true;
}

/* The secret file's contents without trailing line breaks; NULL after a
 * report. */
static char *read_secret(rl_ctx *x, const rl_loc *at, const char *path)
{
    char q[80], eb[128];
    char *buf = NULL;
    size_t n = 0;
    /* config_read_file never blocks on a FIFO, and reads one byte past the
     * limit so that "too large" can be told. */
    int err = config_read_file(path, SECRET_FILE_MAX, &buf, &n);
    rl_quote(path, q, sizeof q);
    if (err == ENOMEM) {
        rl_nomem(x);
        return NULL;
    }
    if (!err && n <= SECRET_FILE_MAX) {
        char *t = realloc(buf, n + 1);
        if (!t) {
            explicit_bzero(buf, n);
            free(buf);
            rl_nomem(x);
            return NULL;
        }
        buf = t;
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
            n--;
        buf[n] = '\0';
    }
    const char *why = err                   ? strerror_r(err, eb, sizeof eb)
                      : n > SECRET_FILE_MAX ? "it is larger than 16 KiB"
                      : n == 0              ? "it is empty"
                      : !field_value_ok(buf, n)
                          ? "its value has a line break or control character"
                          : NULL;
    if (!why)
        return buf;
    if (buf)
        explicit_bzero(buf, n);
    free(buf);
    rl_report(x, at, false, "%s names file %s, which cannot be used: %s",
              at->name, q, why);
    return NULL;
}

static char *read_env(rl_ctx *x, const json_t *v, const rl_loc *at)
{
    const char *name, *val;
    char q[80];
    if (!rl_string(x, v, at, 256, &name))
        return NULL;
    rl_quote(name, q, sizeof q);
    bool ok = !(*name >= '0' && *name <= '9');
    for (const char *p = name; ok && *p; p++)
        ok = rl_ident_char(*p);
    if (!ok) {
        rl_report(x, at, false,
                  "%s must be an environment variable name "
                  "([A-Za-z_][A-Za-z0-9_]*), got %s",
                  at->name, q);
        return NULL;
    }
    const char *why = !(val = getenv(name)) ? "is not set"
                      : !*val               ? "is empty"
                      : !field_value_ok(val, strlen(val))
                          ? "has a line break or control character"
                          : NULL;
    if (why) {
        rl_report(x, at, false, "%s names environment variable %s, which %s",
                  at->name, q, why);
        return NULL;
    }
    char *dup = strdup(val);
    if (!dup)
        rl_nomem(x);
    return dup;
}

/* {"env": NAME} | {"file": PATH} | {"value": TEXT}: exactly one. */
static char *header_value(rl_ctx *x, json_t *v, const rl_loc *at,
                          const char *header)
{
    const char *first = NULL, *s;
    rl_loc l;
    if (!json_is_object(v)) {
        rl_report(x, at, false,
                  "%s must be an object: {\"env\": NAME}, {\"file\": PATH} or "
                  "{\"value\": TEXT}, got %s",
                  at->name, rl_type_name(v));
        return NULL;
    }
    rl_keys(x, v, at, source_keys);
    bool two;
    if (!(first = rl_one_of(x, v, at, source_keys, &two))) {
        rl_report(x, at, false,
                  "%s needs one of \"env\", \"file\" or \"value\"", at->name);
        return NULL;
    }
    if (two)
        return NULL;
    json_t *e = json_object_get(v, first);
    rl_child(&l, at, first);
    if (strcmp(first, "env") == 0)
        return read_env(x, e, &l);
    if (!rl_string(x, e, &l, 4096, &s))
        return NULL;
    if (strcmp(first, "file") == 0)
        return read_secret(x, &l, s);
    if (secret_header(header)) {
        rl_report(x, &l, true,
                  "%s is a credential and must not be written in the rules "
                  "file: use {\"env\": NAME} or {\"file\": PATH}",
                  at->name);
        return NULL;
    }
    if (!field_value_ok(s, strlen(s))) {
        rl_report(x, &l, false,
                  "%s must not contain line breaks or control characters",
                  l.name);
        return NULL;
    }
    char *dup = strdup(s);
    if (!dup)
        rl_nomem(x);
    return dup;
}

static void load_set_headers(rl_ctx *x, json_t *v, const rl_loc *at, route *r)
{
    const char *name;
    json_t *e;
    char q[80];
    if (!rl_object(x, v, at))
        return;
    size_t n = json_object_size(v);
    if (n > RULES_MAX_LIST) {
        rl_report(x, at, false, "%s must have at most %d entries, got %zu",
                  at->name, RULES_MAX_LIST, n);
        return;
    }
    if (!(r->set_headers = calloc(n + 1, sizeof *r->set_headers))) {
        rl_nomem(x);
        return;
    }
    json_object_foreach(v, name, e)
    {
        rl_loc l;
        rl_child(&l, at, name);
        rl_quote(name, q, sizeof q);
        if (!rl_header_name_ok(name))
            rl_report(x, &l, true, "%s has %s, which is not a header name",
                      at->name, q);
        else if (managed_header(name))
            rl_report(x, &l, true, "%s cannot set %s: %s", at->name, q,
                      strcasecmp(name, "Host") == 0 ? "use shadow_rewrite.host"
                                                    : "the proxy manages it");
        else {
            route_header_set *h = &r->set_headers[r->nset_headers];
            if (!(h->value = header_value(x, e, &l, name)))
                continue;
            r->nset_headers++;
            if (!(h->name = strdup(name)))
                rl_nomem(x);
        }
    }
}

/* host[:port]: a name, IPv4 or [IPv6], as the Host header carries it. */
static void load_host(rl_ctx *x, const json_t *v, const rl_loc *at, rl_opts *o)
{
    const char *s;
    char got[80];
    if (!rl_string(x, v, at, 255, &s))
        return;
    bool ok = true;
    for (const char *p = s; ok && *p; p++)
        ok = rl_name_char(*p) || strchr(":[]", *p);
    if (!ok) {
        rl_show(v, got, sizeof got);
        rl_report(x, at, false,
                  "%s must be a host name with an optional port, like "
                  "\"erp-next.internal:8443\", got %s",
                  at->name, got);
        return;
    }
    if (!(o->r.shadow_host = strdup(s)))
        rl_nomem(x);
    o->set |= OPT_HOST;
}

void rl_load_shadow(rl_ctx *x, json_t *v, const rl_loc *at, rl_opts *o)
{
    json_t *e;
    rl_loc l;
    if (!rl_object(x, v, at))
        return;
    rl_keys(x, v, at, rl_shadow_keys);
    static const char *const paths[] = {"path_prefix", "path_template", NULL};
    bool dup;
    const char *which = rl_one_of(x, v, at, paths, &dup);
    if (which) {
        rl_child(&l, at, which);
        load_path_rewrite(x, json_object_get(v, which), &l, &o->r,
                          strcmp(which, "path_template") == 0);
        o->set |= OPT_REWRITE_PATH;
    }
    if ((e = json_object_get(v, "set_headers"))) {
        rl_child(&l, at, "set_headers");
        load_set_headers(x, e, &l, &o->r);
    }
    if ((e = json_object_get(v, "remove_headers"))) {
        rl_child(&l, at, "remove_headers");
        rl_strlist(x, e, &l, RL_HEADERS, &o->r.remove_headers,
                   &o->r.nremove_headers);
    }
    if ((e = json_object_get(v, "host"))) {
        rl_child(&l, at, "host");
        load_host(x, e, &l, o);
    }
}
