/* ctl: `shadowproxy ctl`, the admin API's command-line client. Parses the
 * command line, sends one request with libcurl (blocking, 10 s, never
 * through an http_proxy from the environment), and prints a short human
 * answer (or the raw JSON with --json). Exit codes in ctl.h. */
#include "tools/ctl.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CTL_DEFAULT_ADMIN "http://127.0.0.1:9901"
#define CTL_TOKEN_ENV "SHADOWPROXY_ADMIN_TOKEN"
#define CTL_MAX_ANSWER ((size_t)16 << 20)

static const char ctl_usage[] =
    "usage: shadowproxy ctl [--admin URL] [--token-file FILE] [--json] COMMAND\n"
    "\n"
    "Talks to a running shadowproxy through its admin API (docs/operations.md).\n"
    "\n"
    "Commands:\n"
    "  state                          authority, shadow and breakers, per route;\n"
    "                                 rules version, uptime, counts\n"
    "  flip legacy|new [--route NAME] make that side authoritative, for every route\n"
    "                                 or for one; requests in flight finish where\n"
    "                                 they started\n"
    "  shadow pause [--route NAME]    stop mirroring (records say skipped)\n"
    "  shadow resume [--route NAME]   mirror again\n"
    "  shadow sample PCT [--route NAME]\n"
    "                                 mirror PCT percent (0..100) of the requests\n"
    "  ready                          readiness (GET /readyz): exit 0 when this replica can\n"
    "                                 serve, 1 with what is not (authoritative upstream\n"
    "                                 down, draining)\n"
    "  reload                         re-read the config, state and rules files; an\n"
    "                                 invalid rules file is refused, the old rules stay;\n"
    "                                 config keys that need a restart are named\n"
    "  log-level LEVEL                error|warn|info|debug, at once\n"
    "\n"
    "Options:\n"
    "  --admin URL          admin API address (default " CTL_DEFAULT_ADMIN ",\n"
    "                       or $SHADOWPROXY_ADMIN_URL); HOST:PORT means http://HOST:PORT\n"
    "  --token-file FILE    bearer token from this file (trailing newline ignored);\n"
    "                       default: the environment variable " CTL_TOKEN_ENV "\n"
    "  --route NAME         with flip and shadow: one route of the rules file\n"
    "  --json               print the API's JSON answer as it is\n"
    "  -h, --help           this text\n"
    "\n"
    "flip, shadow and reload print one line with the old and the new value.\n"
    "\n"
    "Exit codes: 0 done; 1 the API refused (4xx/5xx; its message is printed);\n"
    "2 usage error; 3 the admin API cannot be reached.\n"
    "\n"
    "Examples:\n"
    "  shadowproxy ctl state\n"
    "  shadowproxy ctl flip new --route orders-get\n"
    "  shadowproxy ctl shadow sample 10\n"
    "  shadowproxy ctl --admin http://10.0.0.7:9901 --token-file /run/secrets/admin flip legacy\n";

typedef struct ctl_opts {
    const char *admin;
    const char *token_file;
    const char *route;
    bool json;
    const char *args[4]; /* the command and its operands */
    int nargs;
} ctl_opts;

typedef struct answer {
    long status;
    char *body;
    size_t len;
    bool too_big;
} answer;

static int usage_error(const char *fmt, const char *arg)
{
    fputs("ctl: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\n(try: shadowproxy ctl --help)\n", stderr);
    return CTL_USAGE;
}

/* ---- command line ----------------------------------------------------------- */

/* "--name VALUE" or "--name=VALUE" at argv[*i]. NULL if not this option. */
static const char *opt_value(int argc, char **argv, int *i, const char *name, bool *missing)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        *missing = true;
        return NULL;
    }
    return argv[++*i];
}

/* 0, CTL_USAGE, or -1 for --help. */
static int parse_args(int argc, char **argv, ctl_opts *o)
{
    static const char *const names[] = {"--admin", "--token-file", "--route"};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        bool missing = false;
        int which = -1;
        for (int k = 0; k < 3 && !v && !missing; k++)
            if ((v = opt_value(argc, argv, &i, names[k], &missing)) || missing)
                which = k;
        if (missing)
            return usage_error("%s needs a value", names[which]);
        if (v) {
            const char **slot[] = {&o->admin, &o->token_file, &o->route};
            *slot[which] = v;
        } else if (strcmp(a, "--json") == 0) {
            o->json = true;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            return -1;
        } else if (a[0] == '-' && a[1] != '\0' && !(o->nargs == 2 && a[1] >= '0' && a[1] <= '9')) {
            return usage_error("unknown option '%s'", a);
        } else if (o->nargs >= 4) {
            return usage_error("unexpected argument '%s'", a);
        } else {
            o->args[o->nargs++] = a;
        }
    }
    return 0;
}

/* The token from --token-file or the environment; "" for none. */
static int read_token(const ctl_opts *o, char *tok, size_t size)
{
    tok[0] = '\0';
    if (!o->token_file) {
        const char *env = getenv(CTL_TOKEN_ENV);
        snprintf(tok, size, "%s", env ? env : "");
        return 0;
    }
    FILE *f = fopen(o->token_file, "re");
    if (!f) {
        fprintf(stderr, "ctl: --token-file %s: %s\n", o->token_file, strerror(errno));
        return CTL_USAGE;
    }
    size_t n = fread(tok, 1, size - 1, f);
    fclose(f);
    tok[n] = '\0';
    while (n > 0 && (tok[n - 1] == '\n' || tok[n - 1] == '\r'))
        tok[--n] = '\0';
    return 0;
}

/* ---- HTTP ---------------------------------------------------------------------- */

static size_t on_data(char *p, size_t size, size_t nmemb, void *ud)
{
    answer *a = ud;
    size_t n = size * nmemb;
    if (a->len + n > CTL_MAX_ANSWER) {
        a->too_big = true;
        return 0;
    }
    char *b = realloc(a->body, a->len + n + 1);
    if (!b)
        return 0;
    memcpy(b + a->len, p, n);
    a->body = b;
    a->len += n;
    b[a->len] = '\0';
    return n;
}

/* One request. 0 with a->status set, CTL_USAGE for a bad URL, or
 * CTL_UNREACHABLE. */
static int call(const ctl_opts *o, const char *method, const char *path, const char *body,
                answer *a)
{
    char url[2048], tok[4096], auth[4200], err[CURL_ERROR_SIZE] = "";
    const char *base = o->admin;
    bool scheme = strncmp(base, "http://", 7) == 0 || strncmp(base, "https://", 8) == 0;
    size_t blen = strlen(base);
    while (blen > 0 && base[blen - 1] == '/')
        blen--;
    snprintf(url, sizeof url, "%s%.*s%s", scheme ? "" : "http://", (int)blen, base, path);
    int rc = read_token(o, tok, sizeof tok);
    if (rc)
        return rc;
    CURL *c = curl_easy_init();
    if (!c) {
        fprintf(stderr, "ctl: cannot initialise libcurl\n");
        return CTL_UNREACHABLE;
    }
    struct curl_slist *h = NULL;
    if (*tok) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", tok);
        h = curl_slist_append(h, auth);
    }
    if (body)
        h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)(body ? strlen(body) : 0));
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_PROXY, ""); /* never through $http_proxy */
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
    CURLcode cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    memset(tok, 0, sizeof tok);
    memset(auth, 0, sizeof auth);
    if (cc == CURLE_URL_MALFORMAT || cc == CURLE_UNSUPPORTED_PROTOCOL) {
        fprintf(stderr, "ctl: --admin %s: %s\n", o->admin, *err ? err : curl_easy_strerror(cc));
        return CTL_USAGE;
    }
    if (cc != CURLE_OK) {
        fprintf(stderr, "ctl: cannot reach the admin API at %s: %s\n", url,
                a->too_big ? "answer too large" : *err ? err : curl_easy_strerror(cc));
        return CTL_UNREACHABLE;
    }
    return 0;
}

/* ---- printing ------------------------------------------------------------------ */

/* A value as text in buf ("legacy", "12.5", "true"); "-" for null or
 * missing; compact JSON for the rest. Returns buf. */
static const char *scalar(json_t *v, char *buf, size_t size)
{
    if (json_is_string(v))
        snprintf(buf, size, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(buf, size, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(buf, size, "%g", json_real_value(v));
    else if (json_is_boolean(v))
        snprintf(buf, size, "%s", json_is_true(v) ? "true" : "false");
    else if (!v || json_is_null(v))
        snprintf(buf, size, "-");
    else {
        char *s = json_dumps(v, JSON_COMPACT);
        snprintf(buf, size, "%s", s ? s : "?");
        free(s);
    }
    return buf;
}

/* {"enabled": true, "paused": false, "sample_percent": 10} → "on, sample
 * 10%"; "paused" when an operator paused it, "off" when the rules or the
 * config turn mirroring off. */
static const char *shadow_text(json_t *s, char *buf, size_t size)
{
    if (!json_is_object(s))
        return scalar(s, buf, size);
    json_t *p = json_object_get(s, "paused"), *pct = json_object_get(s, "sample_percent");
    const char *what = json_is_true(p) ? "paused"
                       : json_is_false(json_object_get(s, "enabled")) ? "off" : "on";
    if (json_is_number(pct))
        snprintf(buf, size, "%s, sample %g%%", what, json_number_value(pct));
    else
        snprintf(buf, size, "%s", what);
    return buf;
}

static void print_change(const char *what, json_t *ans, bool shadow)
{
    json_t *old = json_object_get(ans, "old"), *new_ = json_object_get(ans, "new");
    const char *route = json_string_value(json_object_get(ans, "route"));
    char scope[200], a[160], b[160];
    if (route)
        snprintf(scope, sizeof scope, "route %s", route);
    else
        snprintf(scope, sizeof scope, "global");
    if (shadow) {
        shadow_text(old, a, sizeof a);
        shadow_text(new_, b, sizeof b);
    } else {
        scalar(json_object_get(old, what), a, sizeof a);
        scalar(json_object_get(new_, what), b, sizeof b);
    }
    if (strcmp(a, b) == 0)
        printf("%s (%s): %s (unchanged)\n", shadow ? "shadow" : what, scope, b);
    else
        printf("%s (%s): %s \u2192 %s\n", shadow ? "shadow" : what, scope, a, b);
    const char *warn = json_string_value(json_object_get(ans, "warning"));
    if (warn)
        fprintf(stderr, "warning: %s\n", warn);
}

static void print_reload(json_t *ans)
{
    char a[160], b[160];
    scalar(json_object_get(json_object_get(ans, "old"), "version"), a, sizeof a);
    scalar(json_object_get(json_object_get(ans, "new"), "version"), b, sizeof b);
    if (strcmp(a, b) == 0)
        printf("rules reloaded: version %s (unchanged)\n", b);
    else
        printf("rules reloaded: version %s \u2192 %s\n", a, b);
    json_t *cfg = json_object_get(ans, "config");
    size_t i;
    json_t *v;
    if (json_is_false(json_object_get(cfg, "ok"))) {
        fprintf(stderr, "warning: the config file is invalid; none of its keys changed:\n");
        json_array_foreach(json_object_get(cfg, "errors"), i, v)
            fprintf(stderr, "  %s\n", json_string_value(v));
    }
    json_t *keys = json_object_get(cfg, "restart_required");
    if (json_array_size(keys) > 0) {
        fprintf(stderr, "warning: changed in the config file, applied only by a restart:");
        json_array_foreach(keys, i, v)
            fprintf(stderr, "%s %s", i ? "," : "", json_string_value(v));
        fputc('\n', stderr);
    }
}

static void print_uptime(json_t *st)
{
    long long s = (long long)json_number_value(json_object_get(st, "uptime_s"));
    printf("uptime     ");
    if (s >= 86400)
        printf("%lldd ", s / 86400);
    printf("%02lldh %02lldm %02llds\n", s % 86400 / 3600, s % 3600 / 60, s % 60);
}

/* Was this decided by an operator (the state's "operator" member)? */
static bool by_operator(json_t *st, const char *route, const char *key)
{
    json_t *op = json_object_get(st, "operator");
    json_t *scope = route ? json_object_get(json_object_get(op, "routes"), route)
                          : json_object_get(op, "global");
    return json_object_get(scope, key) != NULL;
}

static void print_routes(json_t *st)
{
    json_t *auth = json_object_get(json_object_get(st, "authority"), "routes");
    json_t *shadow = json_object_get(json_object_get(st, "shadow"), "routes");
    json_t *names = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(auth, k, v) json_object_set_new(names, k, json_true());
    json_object_foreach(shadow, k, v) json_object_set_new(names, k, json_true());
    if (json_object_size(names) == 0) {
        json_decref(names);
        return;
    }
    printf("routes     %-24s %-10s %s\n", "NAME", "AUTHORITY", "SHADOW");
    json_object_foreach(names, k, v) {
        char a[64], s[96], a2[80], s2[112];
        snprintf(a2, sizeof a2, "%s%s", scalar(json_object_get(auth, k), a, sizeof a),
                 by_operator(st, k, "authority") ? " *" : "");
        snprintf(s2, sizeof s2, "%s%s", shadow_text(json_object_get(shadow, k), s, sizeof s),
                 by_operator(st, k, "shadow") ? " *" : "");
        printf("           %-24s %-10s %s\n", k, a2, s2);
    }
    printf("           (* set by an operator; the rest follows the rules file and the config)\n");
    json_decref(names);
}

/* "label      k=v k=v", then one such line per nested object. */
static void print_list(const char *label, json_t *v)
{
    char buf[160];
    const char *k;
    json_t *x;
    int i = 0;
    printf("%-10s", label);
    json_object_foreach(v, k, x) if (!json_is_object(x))
        printf(" %s=%s", k, scalar(x, buf, sizeof buf));
    printf("\n");
    json_object_foreach(v, k, x) if (json_is_object(x) && i++ < 8)
        print_list(k, x);
}

static void print_state(const ctl_opts *o, json_t *st)
{
    char a[160], b[160], c[160];
    json_t *rules = json_object_get(st, "rules");
    printf("admin      %s\n", o->admin);
    print_uptime(st);
    printf("rules      %s, version %s, loaded %s\n",
           scalar(json_object_get(rules, "path"), a, sizeof a),
           scalar(json_object_get(rules, "version"), b, sizeof b),
           scalar(json_object_get(rules, "loaded"), c, sizeof c));
    printf("authority  %s (global%s)\n",
           scalar(json_object_get(json_object_get(st, "authority"), "global"), a, sizeof a),
           by_operator(st, NULL, "authority") ? ", set by an operator" : "");
    printf("shadow     %s (global%s)\n",
           shadow_text(json_object_get(json_object_get(st, "shadow"), "global"), a, sizeof a),
           by_operator(st, NULL, "shadow") ? ", set by an operator" : "");
    print_routes(st);
    json_t *br = json_object_get(st, "breakers");
    if (json_array_size(br) > 0) {
        printf("breakers  ");
        size_t i;
        json_t *x;
        json_array_foreach(br, i, x) printf("%s worker %s %s", i ? "," : "",
                                            scalar(json_object_get(x, "worker"), a, sizeof a),
                                            scalar(json_object_get(x, "state"), b, sizeof b));
        printf("\n");
    }
    if (json_is_object(json_object_get(st, "counts")))
        print_list("counts", json_object_get(st, "counts"));
}

/* The API refused: print its message (and a reload's errors). */
static int refused(const answer *a, json_t *j)
{
    const char *msg = json_string_value(json_object_get(j, "error"));
    if (!msg)
        msg = json_string_value(json_object_get(j, "message"));
    if (a->status == 401)
        fprintf(stderr, "ctl: unauthorized: give the admin token with --token-file FILE or "
                        "$" CTL_TOKEN_ENV "\n");
    else if (msg)
        fprintf(stderr, "ctl: %s (HTTP %ld)\n", msg, a->status);
    else
        fprintf(stderr, "ctl: the admin API answered HTTP %ld: %.300s\n", a->status,
                a->body ? a->body : "");
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(j, "errors"), i, e)
        fprintf(stderr, "  %s\n", json_string_value(e) ? json_string_value(e) : "?");
    return CTL_REFUSED;
}

/* ---- commands ------------------------------------------------------------------- */

/* Builds the request for o->args; CTL_USAGE on a bad command. */
static int build(const ctl_opts *o, const char **method, const char **path, json_t **body)
{
    const char *cmd = o->args[0];
    int want = 1;
    *body = NULL;
    if (o->route && strcmp(cmd, "flip") != 0 && strcmp(cmd, "shadow") != 0)
        return usage_error("--route goes with flip and shadow only, not with %s", cmd);
    if (strcmp(cmd, "state") == 0) {
        *method = "GET", *path = "/state";
    } else if (strcmp(cmd, "ready") == 0) {
        *method = "GET", *path = "/readyz";
    } else if (strcmp(cmd, "reload") == 0) {
        *method = "POST", *path = "/reload";
    } else if (strcmp(cmd, "flip") == 0) {
        want = 2;
        if (o->nargs < 2 || (strcmp(o->args[1], "legacy") && strcmp(o->args[1], "new")))
            return usage_error("flip: expected legacy or new, got '%s'", o->nargs < 2 ? "" : o->args[1]);
        *method = "POST", *path = "/authority";
        *body = json_pack("{s:s}", "side", o->args[1]);
    } else if (strcmp(cmd, "shadow") == 0) {
        const char *act = o->nargs > 1 ? o->args[1] : "";
        *method = "POST", *path = "/shadow";
        if (strcmp(act, "pause") == 0 || strcmp(act, "resume") == 0) {
            want = 2;
            *body = json_pack("{s:s}", "action", act);
        } else if (strcmp(act, "sample") == 0) {
            want = 3;
            char *end = NULL;
            double pct = o->nargs > 2 ? strtod(o->args[2], &end) : NAN;
            if (end && *end == '%')
                end++;
            if (o->nargs < 3 || !end || *end || end == o->args[2] || !(pct >= 0 && pct <= 100))
                return usage_error("shadow sample: expected a percentage from 0 to 100, got '%s'",
                                   o->nargs < 3 ? "" : o->args[2]);
            *body = json_pack("{s:s, s:f}", "action", "sample", "percent", pct);
        } else {
            return usage_error("shadow: expected pause, resume or sample PCT, got '%s'", act);
        }
    } else if (strcmp(cmd, "log-level") == 0) {
        want = 2;
        const char *l = o->nargs > 1 ? o->args[1] : "";
        if (strcmp(l, "error") && strcmp(l, "warn") && strcmp(l, "info") && strcmp(l, "debug"))
            return usage_error("log-level: expected error, warn, info or debug, got '%s'", l);
        *method = "PUT", *path = "/log-level";
        *body = json_pack("{s:s}", "level", l);
    } else {
        return usage_error("unknown command '%s'", cmd);
    }
    if (o->nargs > want) {
        json_decref(*body);
        return usage_error("unexpected argument '%s'", o->args[want]);
    }
    if (o->route)
        json_object_set_new(*body, "route", json_string(o->route));
    return 0;
}

static int show(const ctl_opts *o, const answer *a)
{
    json_t *j = a->body ? json_loadb(a->body, a->len, 0, NULL) : NULL;
    int rc = CTL_OK;
    const char *cmd = o->args[0];
    if (a->status < 200 || a->status >= 300) {
        if (o->json && a->body)
            fwrite(a->body, 1, a->len, stdout);
        rc = refused(a, j);
    } else if (!j) {
        fprintf(stderr, "ctl: the admin API answered HTTP %ld without JSON: %.300s\n", a->status,
                a->body ? a->body : "");
        rc = CTL_REFUSED;
    } else if (o->json) {
        fwrite(a->body, 1, a->len, stdout);
        if (a->len && a->body[a->len - 1] != '\n')
            putchar('\n');
    } else if (strcmp(cmd, "state") == 0) {
        print_state(o, j);
    } else if (strcmp(cmd, "flip") == 0) {
        print_change("authority", j, false);
    } else if (strcmp(cmd, "shadow") == 0) {
        print_change("shadow", j, true);
    } else if (strcmp(cmd, "reload") == 0) {
        print_reload(j);
    } else if (strcmp(cmd, "ready") == 0) {
        printf("ready\n");
    } else {
        const char *m = json_string_value(json_object_get(j, "message"));
        printf("%s\n", m ? m : "done");
    }
    json_decref(j);
    return rc;
}

int ctl_main(int argc, char **argv)
{
    ctl_opts o = {.admin = getenv("SHADOWPROXY_ADMIN_URL")};
    if (!o.admin || !*o.admin)
        o.admin = CTL_DEFAULT_ADMIN;
    int rc = parse_args(argc, argv, &o);
    if (rc < 0) {
        fputs(ctl_usage, stdout);
        return CTL_OK;
    }
    if (rc)
        return rc;
    if (o.nargs == 0) {
        fputs(ctl_usage, stderr);
        return CTL_USAGE;
    }
    const char *method = NULL, *path = NULL;
    json_t *body = NULL;
    if ((rc = build(&o, &method, &path, &body)) != 0)
        return rc;
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        free(text);
        fprintf(stderr, "ctl: cannot initialise libcurl\n");
        return CTL_UNREACHABLE;
    }
    answer a = {0};
    rc = call(&o, method, path, text, &a);
    if (rc == 0)
        rc = show(&o, &a);
    free(text);
    free(a.body);
    curl_global_cleanup();
    return rc;
}
