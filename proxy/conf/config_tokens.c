/* config_tokens: the admin.tokens key, a list of named admin tokens with a
 * role: [{"name": "ops", "role": "operator", "token_file": "/run/ops"},
 *        {"name": "prometheus", "role": "viewer", "token_env": "SCRAPE"}].
 * Loading (each problem reported at its place), freeing and printing; the
 * tokens themselves are read by the admin API at start (admin_auth.c). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conf/config_keys.h"

static const char *const role_names[] = {"operator", "viewer", NULL};

const char *config_role_name(config_role r)
{
    return (unsigned)r < 2 ? role_names[r] : "?";
}

static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > CONFIG_TOKEN_NAME_MAX)
        return false;
    for (; *s; s++)
        if (!config_token_char(*s))
            return false;
    return true;
}

void config_tokens_free(config_admin_token *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].name);
        free(v[i].token_file);
        free(v[i].token_env);
    }
    free(v);
}

/* A non-empty string member of e at most max bytes, or NULL (absent).
 * *bad set when present but not such a string. */
static const char *member(const json_t *e, const char *key, size_t max, bool *bad)
{
    const json_t *m = json_object_get(e, key);
    const char *s = json_string_value(m);
    *bad = m && (!s || !*s || strlen(s) > max);
    return *bad ? NULL : s;
}

/* One entry into *t; false (reported) when it is not usable. */
static bool one_token(const json_t *e, const char *eptr, const char *name, size_t i,
                      config_admin_token *t, config_report_fn *report, void *ctx)
{
    if (!json_is_object(e)) {
        report(ctx, eptr, false, "%s[%zu] must be an object {name, role, token_file | token_env}",
               name, i);
        return false;
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)e, key, v) {
        if (strcmp(key, "name") && strcmp(key, "role") && strcmp(key, "token_file") &&
            strcmp(key, "token_env")) {
            report(ctx, eptr, false,
                   "%s[%zu]: unknown key \"%.40s\" (expected name, role, token_file, token_env)",
                   name, i, key);
            return false;
        }
    }
    bool bad_name, bad_role, bad_file, bad_env;
    const char *n = member(e, "name", CONFIG_TOKEN_NAME_MAX, &bad_name);
    const char *r = member(e, "role", 16, &bad_role);
    const char *file = member(e, "token_file", 4096, &bad_file);
    const char *env = member(e, "token_env", 256, &bad_env);
    int role = r ? config_enum_index(role_names, r) : -1;
    const char *why = !n || !name_ok(n) ? "needs a \"name\": 1 to 64 of A-Z a-z 0-9 . _ -"
                      : role < 0        ? "needs a \"role\": \"operator\" or \"viewer\""
                      : bad_file || bad_env ? "token_file and token_env must be non-empty strings"
                      : !file == !env   ? "needs one of token_file and token_env (not both)"
                                        : NULL;
    if (why) {
        report(ctx, eptr, false, "%s[%zu] %s", name, i, why);
        return false;
    }
    t->role = (config_role)role;
    t->name = strdup(n);
    t->token_file = file ? strdup(file) : NULL;
    t->token_env = env ? strdup(env) : NULL;
    return true;
}

int config_tokens_apply(const json_t *v, const char *ptr, const char *name, size_t max,
                        config_admin_token **slot, size_t *count, config_report_fn *report,
                        void *ctx)
{
    if (!json_is_array(v)) {
        report(ctx, ptr, false, "%s must be an array of {name, role, token_file | token_env}",
               name);
        return -EINVAL;
    }
    size_t n = json_array_size(v);
    if (n > max) {
        report(ctx, ptr, false, "%s must have at most %zu entries, got %zu", name, max, n);
        return -EINVAL;
    }
    config_admin_token *list = calloc(n ? n : 1, sizeof *list);
    if (!list)
        return -ENOMEM;
    int rc = 0;
    char eptr[160];
    for (size_t i = 0; i < n; i++) {
        snprintf(eptr, sizeof eptr, "%s/%zu", ptr, i);
        config_admin_token *t = &list[i];
        if (!one_token(json_array_get(v, i), eptr, name, i, t, report, ctx)) {
            rc = -EINVAL;
            continue;
        }
        if (!t->name || (!t->token_file && !t->token_env)) {
            rc = -ENOMEM;
            break;
        }
        for (size_t j = 0; j < i; j++)
            if (list[j].name && strcmp(list[j].name, t->name) == 0) {
                report(ctx, eptr, false, "%s[%zu]: the name \"%s\" is already used by %s[%zu]",
                       name, i, t->name, name, j);
                rc = -EINVAL;
            }
    }
    if (rc) {
        config_tokens_free(list, n);
        return rc;
    }
    config_tokens_free(*slot, *count);
    *slot = list;
    *count = n;
    return 0;
}

void config_tokens_print(FILE *out, const config_admin_token *v, size_t n)
{
    fputc('[', out);
    for (size_t i = 0; i < n; i++) {
        fputs(i ? ", {\"name\": " : "{\"name\": ", out);
        config_put_string(out, v[i].name);
        fprintf(out, ", \"role\": \"%s\", ", config_role_name(v[i].role));
        fputs(v[i].token_file ? "\"token_file\": " : "\"token_env\": ", out);
        config_put_string(out, v[i].token_file ? v[i].token_file : v[i].token_env);
        fputc('}', out);
    }
    fputc(']', out);
}
