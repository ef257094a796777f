/* rules_suggest: `shadowproxy rules suggest` (rules_suggest.h).
 *
 *   LOG... --pass 1--> arrays --pass 2--> fields, statuses, headers
 *          --> one route per endpoint (+ --base's routes) with compare rules,
 *              the evidence of each in the route's description
 *          --> checked as `check` would (rules_load_buffer) --> FILE or stdout */
#include "tools/rules_suggest.h"
#include "tools/rules_suggest_int.h"
#include "tools/report/report.h"

#include "conf/config.h"
#include "conf/endpoint.h"
#include "conf/rules.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WHO "shadowproxy rules suggest"
#define DESCRIPTION_MAX 4000 /* the rules file allows 4096 bytes */

static const char usage[] =
    "usage: shadowproxy rules suggest LOG... [-o FILE] [--base RULES]\n"
    "\n"
    "Proposes a rules file from diff logs recorded with --diff-log-mode all:\n"
    "one route per endpoint of the route default (method and path template),\n"
    "with the compare rules that remove the differences seen in most of its\n"
    "exchanges (arrays by key or unordered, normalize, ignore, status_equivalent,\n"
    "ignore_headers), each with its evidence in the route's description. A\n"
    "difference seen in half of the exchanges or fewer gets no rule: that is\n"
    "what the run is for. Review the file before use (docs/rules.md).\n"
    "\n"
    "  -o, --output FILE   write the rules to FILE (whole, mode 0600), not stdout\n"
    "  --base RULES        start from this rules file: its routes keep their\n"
    "                      rules and get the suggested ones added; the new\n"
    "                      endpoint routes come after them\n"
    "  -h, --help          this text\n"
    "\n"
    "Exit: 0 written; 1 a log unreadable or the file not written; 2 usage, or\n"
    "RULES has errors.\n";

typedef struct cli {
    const char **logs;
    size_t nlogs;
    const char *out, *base;
} cli;

/* -1: go on; else the exit code. */
static int parse_args(int argc, char **argv, cli *c)
{
    c->logs = calloc((size_t)argc, sizeof *c->logs);
    if (!c->logs)
        return 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            return 0;
        } else if ((!strcmp(a, "-o") || !strcmp(a, "--output") || !strcmp(a, "--base")) && i + 1 < argc) {
            *(a[2] == 'b' ? &c->base : &c->out) = argv[++i];
        } else if (!strncmp(a, "--output=", 9)) {
            c->out = a + 9;
        } else if (!strncmp(a, "--base=", 7)) {
            c->base = a + 7;
        } else if (!strcmp(a, "-")) {
            fprintf(stderr, WHO ": logs are read twice: give files, not standard input\n");
            return 2;
        } else if (a[0] == '-') {
            fprintf(stderr, WHO ": unknown option or missing value: %s\n%s", a, usage);
            return 2;
        } else {
            c->logs[c->nlogs++] = a;
        }
    }
    if (!c->nlogs) {
        fprintf(stderr, WHO ": no LOG given\n%s", usage);
        return 2;
    }
    return -1;
}

/* ---- the rules document --------------------------------------------------------- */

static double share(uint64_t part, uint64_t whole)
{
    return whole ? 100.0 * (double)part / (double)whole : 0;
}

static void add_examples(char *buf, size_t size, const sg_example *ex, size_t nex)
{
    for (size_t i = 0; i < nex; i++) {
        size_t len = strlen(buf);
        snprintf(buf + len, size - len, "%s%s vs %s", i ? "; " : " e.g. ",
                 ex[i].v[0] ? ex[i].v[0] : "(absent)", ex[i].v[1] ? ex[i].v[1] : "(absent)");
    }
}

/* Appends one sentence of evidence to the description, if it fits. */
static void evidence(char *desc, const char *sentence)
{
    size_t len = strlen(desc), n = strlen(sentence);
    if (len + n + 2 < DESCRIPTION_MAX)
        snprintf(desc + len, DESCRIPTION_MAX - len, " %s", sentence);
    else if (!strstr(desc, "(more evidence cut)") && len + 22 < DESCRIPTION_MAX)
        strcat(desc, " (more evidence cut)");
}

static json_t *list_of(json_t *cmp, const char *key)
{
    json_t *l = json_object_get(cmp, key);
    if (!json_is_array(l)) {
        l = json_array();
        json_object_set_new(cmp, key, l);
    }
    return l;
}

/* Is this entry (a string, or an object with "path") already in the list? */
static bool listed(const json_t *list, const char *path)
{
    size_t i;
    const json_t *e;
    json_array_foreach(list, i, e) {
        const char *p = json_is_string(e) ? json_string_value(e) : json_string_value(json_object_get(e, "path"));
        if (p && !strcmp(p, path))
            return true;
    }
    return false;
}

/* The group's rules into cmp, their evidence into desc. Returns how many. */
static size_t group_rules(const sg_group *g, json_t *cmp, char *desc)
{
    char s[1024];
    size_t n = 0;
    for (size_t i = 0; i < g->narrays; i++) {
        const sg_array *a = &g->arrays[i];
        if ((!a->key && !a->use_unordered) || listed(list_of(cmp, "arrays"), a->path))
            continue;
        json_array_append_new(list_of(cmp, "arrays"),
                              a->key ? json_pack("{s:s, s:s}", "path", a->path, "key", a->key)
                                     : json_pack("{s:s, s:b}", "path", a->path, "unordered", 1));
        snprintf(s, sizeof s, "arrays %s %s%s: elements in another order in %llu of %llu "
                 "exchanges with 2+ elements (%.0f%%).", a->path, a->key ? "key " : "unordered",
                 a->key ? a->key : "", (unsigned long long)a->evidence,
                 (unsigned long long)a->multi, share(a->evidence, a->multi));
        evidence(desc, s);
        n++;
    }
    for (size_t i = 0; i < g->nfields; i++) {
        const sg_field *f = &g->fields[i];
        const noise_verdict *v = &f->verdict;
        if (v->rule == NOISE_NONE)
            continue;
        bool norm = v->rule == NOISE_NORMALIZE;
        json_t *list = list_of(cmp, norm ? "normalize" : "ignore");
        if (listed(list, f->path))
            continue;
        json_array_append_new(list, norm ? json_pack("{s:s, s:b}", "path", f->path,
                                                     noise_flag_name(v->flag), 1)
                                         : json_string(f->path));
        snprintf(s, sizeof s, "%s %s%s%s: %s in %llu of %llu exchanges with it (%.0f%%);", 
                 norm ? "normalize" : "ignore", f->path, norm ? " " : "",
                 norm ? noise_flag_name(v->flag) : "", v->reason,
                 (unsigned long long)v->exchanges, (unsigned long long)f->present,
                 share(v->exchanges, f->present));
        add_examples(s, sizeof s, f->ex, f->nex);
        strncat(s, ".", sizeof s - strlen(s) - 1);
        evidence(desc, s);
        n++;
    }
    for (size_t i = 0; i < g->nstatuses; i++) {
        const sg_status *st = &g->statuses[i];
        if (!st->chosen)
            continue;
        json_array_append_new(list_of(cmp, "status_equivalent"), json_pack("[i, i]", st->legacy, st->neu));
        snprintf(s, sizeof s, "status_equivalent [%d, %d]: in %llu of %llu exchanges (%.0f%%), "
                 "bodies otherwise equal in %llu; e.g. request ids %s, %s.", st->legacy, st->neu,
                 (unsigned long long)st->count, (unsigned long long)g->compared,
                 share(st->count, g->compared), (unsigned long long)st->agree,
                 st->ids[0] ? st->ids[0] : "-", st->ids[1] ? st->ids[1] : "-");
        evidence(desc, s);
        n++;
    }
    for (size_t i = 0; i < g->nheaders; i++) {
        const sg_header *h = &g->headers[i];
        if (!h->chosen || listed(list_of(cmp, "ignore_headers"), h->name))
            continue;
        json_array_append_new(list_of(cmp, "ignore_headers"), json_string(h->name));
        snprintf(s, sizeof s, "ignore_headers %s: differs in %llu of %llu exchanges (%.0f%%);",
                 h->name, (unsigned long long)h->count, (unsigned long long)g->compared,
                 share(h->count, g->compared));
        add_examples(s, sizeof s, h->ex, h->nex);
        strncat(s, ".", sizeof s - strlen(s) - 1);
        evidence(desc, s);
        n++;
    }
    static const char *const lists[] = {"arrays", "normalize", "ignore", "status_equivalent",
                                        "ignore_headers"};
    for (size_t i = 0; i < sizeof lists / sizeof *lists; i++)
        if (json_array_size(json_object_get(cmp, lists[i])) == 0)
            json_object_del(cmp, lists[i]);
    return n;
}

static bool name_taken(const json_t *routes, const char *name)
{
    size_t i;
    const json_t *r;
    json_array_foreach(routes, i, r) {
        const char *n = json_string_value(json_object_get(r, "name"));
        if (n && !strcmp(n, name))
            return true;
    }
    return !strcmp(name, "default");
}

/* "get-api-orders-id" from "GET /api/orders/{id}", unique among routes. */
static void route_name(const char *endpoint, const json_t *routes, char out[65])
{
    size_t n = 0;
    for (const char *p = endpoint; *p && n < 56; p++) {
        char c = (char)tolower((unsigned char)*p);
        bool ok = isalnum((unsigned char)c) || c == '.' || c == '_';
        if (ok)
            out[n++] = c;
        else if (n && out[n - 1] != '-')
            out[n++] = '-';
    }
    while (n && out[n - 1] == '-')
        n--;
    if (!n)
        out[n++] = 'r';
    out[n] = '\0';
    char base[57];
    memcpy(base, out, n + 1); /* n <= 56 */
    for (int k = 2; name_taken(routes, out) && k < 100000; k++) {
        char next[80]; /* 56 + '-' + 5 digits: fits in a name's 64 */
        snprintf(next, sizeof next, "%s-%d", base, k);
        snprintf(out, 65, "%.64s", next);
    }
}

/* The match of an endpoint: its method, and its path, {id} as "*". NULL
 * when the template cannot be one (cut, no method, a literal '*'). */
static json_t *endpoint_match(const char *endpoint)
{
    const char *sp = strchr(endpoint, ' ');
    if (!sp || sp == endpoint || *endpoint == '?' || sp[1] != '/' || strchr(sp, '*') ||
        strstr(sp, "\xe2\x80\xa6"))
        return NULL;
    char *glob = strdup(sp + 1), *method = strndup(endpoint, (size_t)(sp - endpoint));
    if (!glob || !method) {
        free(glob);
        free(method);
        return NULL;
    }
    bool ids = false;
    for (char *p; (p = strstr(glob, "/" ENDPOINT_ID)) &&
                  (p[1 + strlen(ENDPOINT_ID)] == '/' || p[1 + strlen(ENDPOINT_ID)] == '\0');) {
        p[1] = '*';
        memmove(p + 2, p + 1 + strlen(ENDPOINT_ID), strlen(p + 1 + strlen(ENDPOINT_ID)) + 1);
        ids = true;
    }
    json_t *m = json_pack("{s:[s], s:s}", "methods", method, ids ? "path_glob" : "path", glob);
    free(glob);
    free(method);
    return m;
}

static json_t *route_find(json_t *routes, const char *name)
{
    size_t i;
    json_t *r;
    json_array_foreach(routes, i, r) {
        const char *n = json_string_value(json_object_get(r, "name"));
        if (n && !strcmp(n, name))
            return r;
    }
    return NULL;
}

static void describe(json_t *rt, const char *text)
{
    const char *old = json_string_value(json_object_get(rt, "description"));
    char *d = malloc(DESCRIPTION_MAX + 1);
    if (!d)
        return;
    snprintf(d, DESCRIPTION_MAX + 1, "%s%s%s", old ? old : "", old ? " " : "", text);
    json_object_set_new(rt, "description", json_string(d));
    free(d);
}

/* Does a rules file holding this route alone load? */
static bool route_loads(const json_t *rt)
{
    json_t *doc = json_pack("{s:i, s:[O]}", "version", 1, "routes", rt);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    config_errors errs = {0};
    rules *r = text ? rules_load_buffer(text, strlen(text), &errs) : NULL;
    bool ok = r != NULL;
    rules_unref(r);
    config_errors_free(&errs);
    free(text);
    json_decref(doc);
    return ok;
}

/* Builds the rules document. *nrules: rules proposed. */
static json_t *build(const sg_model *m, json_t *base, size_t *nrules, size_t *nroutes)
{
    json_t *doc = base ? base : json_pack("{s:i}", "version", 1);
    if (!doc)
        return NULL;
    char head[512];
    snprintf(head, sizeof head, "Suggested by shadowproxy rules suggest from %llu records "
             "(%llu compared exchanges): review before use.", (unsigned long long)m->records,
             (unsigned long long)m->compared);
    if (!base)
        json_object_set_new(doc, "description", json_string(head));
    json_t *routes = json_object_get(doc, "routes");
    if (!json_is_array(routes)) {
        routes = json_array();
        json_object_set_new(doc, "routes", routes);
    }
    char *desc = malloc(DESCRIPTION_MAX + 1);
    if (!desc)
        return doc;
    for (size_t i = 0; i < m->ngroups; i++) {
        const sg_group *g = &m->groups[i];
        json_t *rt = g->endpoint ? NULL : route_find(routes, g->name);
        snprintf(desc, DESCRIPTION_MAX + 1, "%s: %llu compared exchanges.", g->name,
                 (unsigned long long)g->compared);
        if (g->endpoint) {
            json_t *match = endpoint_match(g->name);
            if (!match) {
                fprintf(stderr, WHO ": endpoint %s: cannot be written as a route match, left out\n", g->name);
                continue;
            }
            char name[65];
            route_name(g->name, routes, name);
            json_t *cmp = json_object();
            size_t n = group_rules(g, cmp, desc);
            if (!n)
                evidence(desc, "No rule: no difference in more than half of its exchanges.");
            rt = json_pack("{s:s, s:s, s:o}", "name", name, "description", desc, "match", match);
            if (json_object_size(cmp))
                json_object_set(rt, "compare", cmp);
            json_decref(cmp);
            if (!route_loads(rt)) { /* one odd endpoint does not cost the others */
                fprintf(stderr, WHO ": endpoint %s: its route does not load, left out\n", g->name);
                json_decref(rt);
                continue;
            }
            json_array_append_new(routes, rt);
            *nrules += n;
            (*nroutes)++;
        } else if (rt) {
            json_t *cmp = json_object_get(rt, "compare");
            bool fresh = !json_is_object(cmp);
            if (fresh)
                cmp = json_object();
            size_t n = group_rules(g, cmp, desc);
            if (fresh && json_object_size(cmp))
                json_object_set(rt, "compare", cmp);
            if (fresh)
                json_decref(cmp);
            if (n)
                describe(rt, desc);
            *nrules += n;
        } else if (strcmp(g->name, "default") != 0) {
            fprintf(stderr, WHO ": route %s is not in the --base rules (give the rules the log "
                    "was recorded with): left out\n", g->name);
        }
    }
    free(desc);
    return doc;
}

static int write_text(FILE *f, const void *arg)
{
    return fputs(arg, f) < 0 ? -1 : 0;
}

/* Loads --base: checked as `check` does, then read as JSON. */
static json_t *load_base(const char *path)
{
    config_errors errs = {0};
    rules *r = rules_load_file(path, &errs);
    if (!r) {
        config_errors_print(stderr, path, &errs);
        config_errors_free(&errs);
        return NULL;
    }
    rules_unref(r);
    config_errors_free(&errs);
    json_error_t e;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &e);
    if (!json_is_object(doc)) {
        fprintf(stderr, WHO ": %s: %s\n", path, e.text);
        json_decref(doc);
        return NULL;
    }
    return doc;
}

static int suggest(const cli *c)
{
    json_t *base = NULL;
    if (c->base && !(base = load_base(c->base)))
        return 2;
    sg_model m = {0};
    int rc = 0;
    char err[512];
    for (m.pass = 1; m.pass <= 2 && rc == 0; m.pass++) {
        for (size_t i = 0; i < c->nlogs; i++) {
            if (sg_scan_file(&m, c->logs[i], err, sizeof err) != 0) {
                fprintf(stderr, WHO ": %s\n", err);
                rc = 1;
            }
        }
        if (m.pass == 1)
            sg_decide_arrays(&m);
    }
    if (rc != 0) {
        json_decref(base);
        sg_model_free(&m);
        return rc;
    }
    sg_decide_rest(&m);
    size_t nrules = 0, nroutes = 0;
    json_t *doc = build(&m, base, &nrules, &nroutes);
    char *text = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(doc);
    size_t len = text ? strlen(text) : 0;
    config_errors errs = {0};
    rules *check = text ? rules_load_buffer(text, len, &errs) : NULL;
    if (!check) { /* a bug here, not in the logs: say so rather than write it */
        fprintf(stderr, WHO ": the suggested rules do not load (please report):\n");
        config_errors_print(stderr, "(suggested)", &errs);
        rc = 1;
    } else {
        char *full = malloc(len + 2);
        if (full) {
            memcpy(full, text, len);
            memcpy(full + len, "\n", 2);
        }
        rc = full && report_write_file(c->out, WHO, write_text, full) == 0 ? 0 : 1;
        free(full);
        fprintf(stderr, WHO ": %llu records, %llu compared exchanges; %zu endpoint routes, "
                "%zu rules%s\n", (unsigned long long)m.records, (unsigned long long)m.compared,
                nroutes, nrules, m.compared ? "" : " (no compared exchange: was the log "
                "recorded with --diff-log-mode all?)");
        if (m.groups_dropped)
            fprintf(stderr, WHO ": %llu records of routes or endpoints past %d left out\n",
                    (unsigned long long)m.groups_dropped, SG_MAX_GROUPS);
        rules_unref(check);
    }
    config_errors_free(&errs);
    free(text);
    sg_model_free(&m);
    return rc;
}

int rules_main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "suggest") != 0) {
        fprintf(stderr, "shadowproxy rules: unknown command '%s'\n%s", argv[1], usage);
        return 2;
    }
    cli c = {0};
    int rc = parse_args(argc - 1, argv + 1, &c);
    if (rc < 0)
        rc = suggest(&c);
    free(c.logs);
    return rc;
}
