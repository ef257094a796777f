/* fuzz_rules: the rules file loader (rules_load_buffer: JSON, validation,
 * every section, errors with file positions) and, when a file loads, the
 * hot-path functions over it: rules_match, rules_rewrite_target, sampling
 * and mirroring decisions, rules_find.
 *
 * Input: a rules file; optionally followed by "\n%%\n" and request lines
 * "METHOD TARGET [HEADER: VALUE]" routed through the loaded rules (without
 * them, requests are made up from each route's own match).
 * Invariants: a load either returns rules and no error, or NULL and at
 * least one error with a message; rules_match never returns NULL and
 * returns a route that matches again; a rewritten target keeps the query. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "conf/config.h"
#include "base/headers.h"
#include "conf/rules.h"

#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* Secrets the seeds name ("env": "FUZZ_TOKEN", "file": ...). */
    setenv("FUZZ_TOKEN", "Bearer fuzz-token", 1);
    setenv("NEW_ERP_AUTH", "Bearer demo-new-erp-token", 1);
    setenv("FUZZ_EMPTY", "", 1);
    setenv("FUZZ_NEWLINE", "a\nb", 1);
    return 0;
}

/* A target that the route's path match accepts: "*" -> "x1", "**" -> "a/b". */
static void target_for(const route *rt, char *buf, size_t size)
{
    const char *p = rt->match.path ? rt->match.path : "/";
    size_t o = 0;
    while (*p && o + 8 < size) {
        if (p[0] == '*' && p[1] == '*') {
            memcpy(buf + o, "a/b", 3), o += 3, p += 2;
        } else if (p[0] == '*') {
            memcpy(buf + o, "x1", 2), o += 2, p++;
        } else {
            buf[o++] = *p++;
        }
    }
    buf[o] = '\0';
    if (rt->match.query_name && o + 2 < size) {
        snprintf(buf + o, size - o, "?%s=%s&z=1", rt->match.query_name,
                 rt->match.query_value ? rt->match.query_value : "v");
    }
}

static void route_one(const rules *r, const char *method, const char *target,
                      const hdr_list *h)
{
    const route *rt = rules_match(r, method, target, h);
    FZ_ASSERT(rt != NULL);
    FZ_ASSERT(rules_match(r, method, target, h) == rt);
    (void)rules_should_mirror(rt, method, "0b6f2a2e-aaaa-4bbb-8ccc-0123456789ab");
    (void)rules_sampled_at(rt->sample_percent, target);
    (void)rules_mirror_method(rt, method);
    char *out = rules_rewrite_target(rt, target);
    FZ_ASSERT(out != NULL);
    const char *q = strchr(target, '?');
    if (q) { /* the query is passed through untouched */
        size_t ql = strlen(q), ol = strlen(out);
        FZ_ASSERT(ol >= ql && strcmp(out + ol - ql, q) == 0);
    }
    free(out);
    if (rt->name)
        FZ_ASSERT(rules_find(r, rt->name) != NULL);
}

/* "METHOD TARGET [NAME: VALUE]" per line. */
static void route_lines(const rules *r, const char *p, size_t n)
{
    char *text = fz_str(p, n), *save = NULL;
    hdr_list h = {0};
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *sp = strchr(line, ' ');
        if (!sp)
            continue;
        *sp = '\0';
        char *target = sp + 1, *hdr = strchr(target, ' ');
        hdr_list_clear(&h);
        if (hdr) {
            *hdr++ = '\0';
            char *colon = strchr(hdr, ':');
            if (colon) {
                const char *v = colon + 1;
                while (*v == ' ')
                    v++;
                (void)hdr_list_add(&h, hdr, (size_t)(colon - hdr), v, strlen(v));
            }
        }
        route_one(r, line, target, &h);
    }
    hdr_list_free(&h);
    free(text);
}

static void route_made_up(const rules *r)
{
    static const char *const methods[] = {"GET", "POST", "HEAD", "DELETE"};
    char target[512];
    hdr_list h = {0};
    for (size_t i = 0; i <= r->nroutes && i < 64; i++) {
        const route *rt = i < r->nroutes ? &r->routes[i] : &r->fallback;
        target_for(rt, target, sizeof target);
        hdr_list_clear(&h);
        if (rt->match.header_name)
            (void)hdr_list_add(&h, rt->match.header_name, strlen(rt->match.header_name),
                               rt->match.header_value ? rt->match.header_value : "x",
                               rt->match.header_value ? strlen(rt->match.header_value) : 1);
        const char *m = rt->match.nmethods ? rt->match.methods[0] : methods[i % 4];
        route_one(r, m, target, &h);
        route_one(r, methods[(i + 1) % 4], target, NULL);
    }
    route_one(r, "GET", "http://example.com/api/orders/1?x=1#f", NULL);
    route_one(r, "GET", "", NULL);
    hdr_list_free(&h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_part part[2];
    fz_split(data, size, part, 2);
    /* An exact-size copy: no NUL after it, so a read past the end shows. */
    char *text = malloc(part[0].n ? part[0].n : 1);
    if (!text)
        return 0;
    memcpy(text, part[0].p, part[0].n);
    config_errors errs = {0};
    rules *r = rules_load_buffer(text, part[0].n, &errs);
    if (r) {
        FZ_ASSERT(errs.n == 0);
        if (part[1].present)
            route_lines(r, part[1].p, part[1].n);
        else
            route_made_up(r);
        rules *again = rules_ref(r);
        rules_unref(again);
        rules_unref(r);
    } else {
        FZ_ASSERT(errs.n > 0);
    }
    for (size_t i = 0; i < errs.n; i++) {
        FZ_ASSERT(errs.v[i].message && errs.v[i].message[0]);
        FZ_ASSERT(errs.v[i].line >= 0 && errs.v[i].column >= 0);
    }
    config_errors_print(fz_sink(), "fuzz.json", &errs);
    config_errors_free(&errs);
    free(text);
    return 0;
}
