/* ctl: `shadowproxy ctl`, the admin API's command-line client. Parses the
 * command line, sends one request with libcurl (blocking, 10 s, never
 * through an http_proxy from the environment), and prints a short human
 * answer (or the raw JSON with --json). Exit codes in ctl.h. */
#include "tools/ctl.h"
#include "tools/ctl_int.h"
#include "conf/config.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CTL_MAX_ANSWER ((size_t)16 << 20)


typedef struct answer {
    long status;
    char *body;
    size_t len;
    bool too_big;
} answer;

int ctl_usage_error(const char *fmt, const char *arg)
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
    static const char *const names[] = {"--admin", "--token-file", "--route", "--timeout",
                                        "--limit", "--retry-after", "--side", "--delay",
                                        "--abort", "--percent", "--for"};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        bool missing = false;
        int which = -1;
        for (int k = 0; k < 11 && !v && !missing; k++)
            if ((v = opt_value(argc, argv, &i, names[k], &missing)) || missing)
                which = k;
        if (missing)
            return ctl_usage_error("%s needs a value", names[which]);
        if (v) {
            const char **slot[] = {&o->admin, &o->token_file, &o->route, &o->timeout,
                                   &o->limit, &o->retry_after, &o->side, &o->delay,
                                   &o->abort_status, &o->percent, &o->for_};
            *slot[which] = v;
        } else if (strcmp(a, "--json") == 0) {
            o->json = true;
        } else if (strcmp(a, "--keep-routes") == 0) {
            o->keep_routes = true;
        } else if (strcmp(a, "--no-wait") == 0) {
            o->no_wait = true;
        } else if (strcmp(a, "--reset") == 0 || strcmp(a, "--all") == 0) {
            *(a[2] == 'r' ? &o->reset : &o->all) = true;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            return -1;
        } else if (a[0] == '-' && a[1] != '\0' && !(o->nargs == 2 && a[1] >= '0' && a[1] <= '9')) {
            return ctl_usage_error("unknown option '%s'", a);
        } else if (o->nargs >= 4) {
            return ctl_usage_error("unexpected argument '%s'", a);
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

static long timeout_ms(const ctl_opts *o);

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
    long wait_ms = timeout_ms(o);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L + (wait_ms > 0 ? wait_ms : 0));
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
    char shown[2048]; /* a password in --admin's user info never reaches stderr */
    if (cc == CURLE_URL_MALFORMAT || cc == CURLE_UNSUPPORTED_PROTOCOL) {
        fprintf(stderr, "ctl: --admin %s: %s\n", config_url_shown(o->admin, shown, sizeof shown),
                *err ? err : curl_easy_strerror(cc));
        return CTL_USAGE;
    }
    if (cc != CURLE_OK) {
        fprintf(stderr, "ctl: cannot reach the admin API at %s (%s): %s\n",
                config_url_shown(o->admin, shown, sizeof shown), path,
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

/* {"paused": true, "retry_after_s": 30} → "paused (503, Retry-After 30 s)";
 * {"paused": false} → "flowing". */
static const char *writes_text(json_t *w, char *buf, size_t size)
{
    if (!json_is_object(w))
        return scalar(w, buf, size);
    if (json_is_true(json_object_get(w, "paused")))
        snprintf(buf, size, "paused (503, Retry-After %lld s)",
                 (long long)json_integer_value(json_object_get(w, "retry_after_s")));
    else
        snprintf(buf, size, "flowing");
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
    } else if (strcmp(what, "writes") == 0) {
        writes_text(old, a, sizeof a);
        writes_text(new_, b, sizeof b);
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
    json_t *writes = json_object_get(json_object_get(st, "writes"), "routes");
    json_t *names = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(auth, k, v) json_object_set_new(names, k, json_true());
    json_object_foreach(shadow, k, v) json_object_set_new(names, k, json_true());
    if (json_object_size(names) == 0) {
        json_decref(names);
        return;
    }
    printf("routes     %-24s %-10s %-22s %s\n", "NAME", "AUTHORITY", "SHADOW", "WRITES");
    json_object_foreach(names, k, v) {
        char a[64], s[96], a2[80], s2[112], w[96];
        snprintf(a2, sizeof a2, "%s%s", scalar(json_object_get(auth, k), a, sizeof a),
                 by_operator(st, k, "authority") ? " *" : "");
        snprintf(s2, sizeof s2, "%s%s", shadow_text(json_object_get(shadow, k), s, sizeof s),
                 by_operator(st, k, "shadow") ? " *" : "");
        printf("           %-24s %-10s %-22s %s%s\n", k, a2, s2,
               writes_text(json_object_get(writes, k), w, sizeof w),
               by_operator(st, k, "writes") ? " *" : "");
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
    printf("writes     %s (global%s)\n",
           writes_text(json_object_get(json_object_get(st, "writes"), "global"), a, sizeof a),
           by_operator(st, NULL, "writes") ? ", set by an operator" : "");
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

/* "cleared route authority: a, b" after a global flip or a rollback. */
static void print_cleared(json_t *ans)
{
    json_t *cl = json_object_get(ans, "cleared");
    if (!json_is_array(cl))
        return;
    if (json_array_size(cl) == 0) {
        printf("cleared: no route had its own authority\n");
        return;
    }
    printf("cleared route authority:");
    size_t i;
    json_t *v;
    json_array_foreach(cl, i, v) printf("%s %s", i ? "," : "", json_string_value(v));
    printf("\n");
}

/* "fleet: 3/3 replicas applied revision 12 (40 ms)", or who is behind.
 * CTL_FLEET_BEHIND when some live replica did not apply it in time. */
static int print_fleet_wait(json_t *ans)
{
    json_t *f = json_object_get(ans, "fleet");
    if (!json_is_object(f)) {
        printf("revision %lld (not waiting for the fleet)\n",
               (long long)json_integer_value(json_object_get(ans, "revision")));
        return CTL_OK;
    }
    long long rev = (long long)json_integer_value(json_object_get(f, "revision"));
    long long n = (long long)json_integer_value(json_object_get(f, "replicas"));
    long long ok = (long long)json_integer_value(json_object_get(f, "applied"));
    printf("fleet: %lld/%lld replicas applied revision %lld (%lld ms)\n", ok, n, rev,
           (long long)json_integer_value(json_object_get(f, "waited_ms")));
    if (json_is_true(json_object_get(f, "complete")))
        return CTL_OK;
    size_t i;
    json_t *b;
    json_array_foreach(json_object_get(f, "behind"), i, b)
        fprintf(stderr, "ctl: replica %s (%s) still on revision %lld\n",
                json_string_value(json_object_get(b, "id")),
                json_string_value(json_object_get(b, "host")),
                (long long)json_integer_value(json_object_get(b, "revision")));
    if (json_array_size(json_object_get(f, "behind")) == 0)
        fprintf(stderr, "ctl: the fleet could not be read from the decision store\n");
    return CTL_FLEET_BEHIND;
}

/* ctl state: the store and every live replica, "behind" when it has not
 * applied the newest revision seen. */
static void print_fleet(json_t *st)
{
    char a[160], b[160], c[160];
    json_t *d = json_object_get(st, "decisions"), *fleet = json_object_get(st, "fleet");
    if (!json_is_object(d))
        return;
    printf("decisions  %s, revision %s, %s, last sync %s\n",
           scalar(json_object_get(d, "store"), a, sizeof a),
           scalar(json_object_get(d, "revision"), b, sizeof b),
           json_is_false(json_object_get(d, "up")) ? "STORE UNREACHABLE" : "store up",
           scalar(json_object_get(d, "last_sync"), c, sizeof c));
    json_int_t newest = json_integer_value(json_object_get(d, "store_revision"));
    size_t i;
    json_t *r;
    json_array_foreach(fleet, i, r) {
        json_int_t rev = json_integer_value(json_object_get(r, "revision"));
        if (rev > newest)
            newest = rev;
    }
    if (json_array_size(fleet) == 0)
        return;
    printf("fleet      %-32s %-8s %-9s %s\n", "REPLICA", "PID", "REVISION", "LAST SEEN");
    json_array_foreach(fleet, i, r) {
        json_int_t rev = json_integer_value(json_object_get(r, "revision"));
        printf("           %-32s %-8s %-9lld %s%s\n",
               scalar(json_object_get(r, "id"), a, sizeof a),
               scalar(json_object_get(r, "pid"), b, sizeof b), (long long)rev,
               json_string_value(json_object_get(r, "last_seen")) ?: "-",
               rev < newest ? "  BEHIND" : "");
    }
}

static void print_history(json_t *ans)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(ans, "changes"), i, c) {
        char *old = json_dumps(json_object_get(c, "old"), JSON_COMPACT);
        char *now = json_dumps(json_object_get(c, "new"), JSON_COMPACT);
        const char *route = json_string_value(json_object_get(c, "route"));
        printf("%s  rev %lld  %s%s%s  by %s (%s)\n    old %s\n    new %s\n",
               json_string_value(json_object_get(c, "time")) ?: "-",
               (long long)json_integer_value(json_object_get(c, "revision")),
               json_string_value(json_object_get(c, "what")) ?: "-", route ? " route " : "",
               route ? route : "", json_string_value(json_object_get(c, "who")) ?: "-",
               json_string_value(json_object_get(c, "client")) ?: "-", old ? old : "-",
               now ? now : "-");
        free(old);
        free(now);
    }
    if (i == 0)
        printf("no changes recorded\n");
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

static bool is_cmd(const char *cmd, const char *const *names)
{
    for (; *names; names++)
        if (strcmp(cmd, *names) == 0)
            return true;
    return false;
}

/* The options that go with some commands only. CTL_USAGE or 0. */
static int check_options(const ctl_opts *o, const char *cmd)
{
    static const char *const routed[] = {"flip", "shadow", "writes", "clear", "fault", NULL};
    static const char *const changes[] = {"flip", "shadow", "writes", "rollback", "clear", NULL};
    if (o->route && !is_cmd(cmd, routed))
        return ctl_usage_error("--route goes with flip, shadow, writes, clear and fault add only, "
                               "not with %s",
                           cmd);
    if (o->retry_after && (strcmp(cmd, "writes") != 0 || o->nargs < 2 ||
                           strcmp(o->args[1], "pause") != 0))
        return ctl_usage_error("--retry-after goes with writes pause only (%s)", cmd);
    if (o->keep_routes && (strcmp(cmd, "flip") != 0 || o->route))
        return ctl_usage_error("--keep-routes goes with a global flip only (%s)", cmd);
    if ((o->timeout || o->no_wait) && !is_cmd(cmd, changes))
        return ctl_usage_error("--timeout and --no-wait go with flip, shadow, writes, rollback and "
                           "clear, not with %s", cmd);
    if (o->limit && strcmp(cmd, "history") != 0)
        return ctl_usage_error("--limit goes with history only, not with %s", cmd);
    return ctl_fault_options_check(o, cmd);
}

/* --timeout SECONDS as ms (default 5 s). -1 when invalid. */
static long timeout_ms(const ctl_opts *o)
{
    if (!o->timeout)
        return 5000;
    char *end = NULL;
    double t = strtod(o->timeout, &end);
    if (end == o->timeout || *end || !(t >= 0 && t <= 60))
        return -1;
    return (long)(t * 1000 + 0.5);
}

/* writes pause|resume [--retry-after S]: the body. */
static int build_writes(const ctl_opts *o, json_t **body)
{
    const char *act = o->nargs > 1 ? o->args[1] : "";
    if (strcmp(act, "pause") != 0 && strcmp(act, "resume") != 0)
        return ctl_usage_error("writes: expected pause or resume, got '%s'", act);
    *body = json_pack("{s:s}", "action", act);
    if (o->retry_after) {
        char *end = NULL;
        long s = strtol(o->retry_after, &end, 10);
        if (!*o->retry_after || *end || s < 1 || s > 86400) {
            json_decref(*body);
            return ctl_usage_error("--retry-after: expected whole seconds from 1 to 86400, got '%s'",
                               o->retry_after);
        }
        json_object_set_new(*body, "retry_after_s", json_integer(s));
    }
    return 0;
}

/* flip legacy|new, shadow ACTION [PCT]: the body; *want the operands. */
static int build_change(const ctl_opts *o, const char *cmd, json_t **body, int *want)
{
    if (strcmp(cmd, "flip") == 0) {
        *want = 2;
        if (o->nargs < 2 || (strcmp(o->args[1], "legacy") && strcmp(o->args[1], "new")))
            return ctl_usage_error("flip: expected legacy or new, got '%s'", o->nargs < 2 ? "" : o->args[1]);
        *body = json_pack("{s:s}", "side", o->args[1]);
        if (o->keep_routes)
            json_object_set_new(*body, "keep_routes", json_true());
        return 0;
    }
    const char *act = o->nargs > 1 ? o->args[1] : "";
    if (strcmp(act, "pause") == 0 || strcmp(act, "resume") == 0) {
        *want = 2;
        *body = json_pack("{s:s}", "action", act);
    } else if (strcmp(act, "sample") == 0) {
        *want = 3;
        char *end = NULL;
        double pct = o->nargs > 2 ? strtod(o->args[2], &end) : NAN;
        if (end && *end == '%')
            end++;
        if (o->nargs < 3 || !end || *end || end == o->args[2] || !(pct >= 0 && pct <= 100))
            return ctl_usage_error("shadow sample: expected a percentage from 0 to 100, got '%s'",
                               o->nargs < 3 ? "" : o->args[2]);
        *body = json_pack("{s:s, s:f}", "action", "sample", "percent", pct);
    } else {
        return ctl_usage_error("shadow: expected pause, resume or sample PCT, got '%s'", act);
    }
    return 0;
}

/* Builds the request for o->args; CTL_USAGE on a bad command. `path` has
 * room for 64 bytes. */
static int build(const ctl_opts *o, const char **method, char *path, json_t **body)
{
    const char *cmd = o->args[0];
    int want = 1, rc = check_options(o, cmd);
    long wait_ms = timeout_ms(o);
    *body = NULL;
    if (rc)
        return rc;
    if (wait_ms < 0)
        return ctl_usage_error("--timeout: expected seconds from 0 to 60, got '%s'", o->timeout);
    if (strcmp(cmd, "fault") == 0)
        return ctl_fault_build(o, method, path, body); /* no fleet wait: per process */
    if (strcmp(cmd, "state") == 0 || strcmp(cmd, "ready") == 0) {
        *method = "GET";
        strcpy(path, cmd[0] == 's' ? "/state" : "/readyz");
    } else if (strcmp(cmd, "reload") == 0 || strcmp(cmd, "rollback") == 0) {
        *method = "POST";
        strcpy(path, strcmp(cmd, "reload") == 0 ? "/reload" : "/rollback");
    } else if (strcmp(cmd, "history") == 0) {
        char *end = NULL;
        long n = o->limit ? strtol(o->limit, &end, 10) : 20;
        if (o->limit && (!*o->limit || *end || n < 1 || n > 1000))
            return ctl_usage_error("--limit: expected a whole number from 1 to 1000, got '%s'",
                               o->limit);
        *method = "GET";
        snprintf(path, 64, "/history?limit=%ld", n);
    } else if (strcmp(cmd, "clear") == 0) {
        if (!o->route)
            return ctl_usage_error("clear needs --route NAME%s", "");
        *method = "POST";
        strcpy(path, "/clear");
        *body = json_object();
    } else if (strcmp(cmd, "flip") == 0 || strcmp(cmd, "shadow") == 0) {
        *method = "POST";
        strcpy(path, cmd[0] == 'f' ? "/authority" : "/shadow");
        if ((rc = build_change(o, cmd, body, &want)) != 0)
            return rc;
    } else if (strcmp(cmd, "writes") == 0) {
        want = 2;
        *method = "POST";
        strcpy(path, "/writes");
        if ((rc = build_writes(o, body)) != 0)
            return rc;
    } else if (strcmp(cmd, "log-level") == 0) {
        want = 2;
        const char *l = o->nargs > 1 ? o->args[1] : "";
        if (strcmp(l, "error") && strcmp(l, "warn") && strcmp(l, "info") && strcmp(l, "debug"))
            return ctl_usage_error("log-level: expected error, warn, info or debug, got '%s'", l);
        *method = "PUT";
        strcpy(path, "/log-level");
        *body = json_pack("{s:s}", "level", l);
    } else {
        return ctl_usage_error("unknown command '%s'", cmd);
    }
    if (o->nargs > want) {
        json_decref(*body);
        return ctl_usage_error("unexpected argument '%s'", o->args[want]);
    }
    if (strcmp(cmd, "rollback") == 0)
        *body = json_object();
    if (o->route)
        json_object_set_new(*body, "route", json_string(o->route));
    if (*body && strcmp(path, "/log-level") != 0) {
        json_object_set_new(*body, "wait", json_boolean(!o->no_wait));
        json_object_set_new(*body, "timeout_ms", json_integer(wait_ms));
    }
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
        json_t *f = json_object_get(j, "fleet");
        if (json_is_object(f) && json_is_false(json_object_get(f, "complete")))
            rc = CTL_FLEET_BEHIND;
    } else if (strcmp(cmd, "state") == 0) {
        print_state(o, j);
        print_fleet(j);
    } else if (strcmp(cmd, "flip") == 0) {
        print_change("authority", j, false);
        print_cleared(j);
        rc = print_fleet_wait(j);
    } else if (strcmp(cmd, "shadow") == 0) {
        print_change("shadow", j, true);
        rc = print_fleet_wait(j);
    } else if (strcmp(cmd, "writes") == 0) {
        print_change("writes", j, false);
        rc = print_fleet_wait(j);
    } else if (strcmp(cmd, "rollback") == 0 || strcmp(cmd, "clear") == 0) {
        printf("%s\n", json_string_value(json_object_get(j, "message")) ?: "done");
        print_cleared(j);
        rc = print_fleet_wait(j);
    } else if (strcmp(cmd, "history") == 0) {
        print_history(j);
    } else if (strcmp(cmd, "fault") == 0 && strcmp(o->args[1], "list") == 0) {
        ctl_fault_print_list(j);
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
    const char *method = NULL;
    char path[64] = "";
    json_t *body = NULL;
    if ((rc = build(&o, &method, path, &body)) != 0)
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
