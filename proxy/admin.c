/* admin: the admin HTTP API. See admin.h and docs/operations.md.
 *
 *   client ──► MHD (own thread per connection, poll) ──► on_request
 *                 first call: who, Content-Length > 64 KiB → 401/413 at once
 *                 body calls: bounded buffer
 *                 last call:  auth → route table → handler → JSON reply
 *
 * Threads: MHD_USE_THREAD_PER_CONNECTION with poll() rather than one
 * select() thread: the proxy raises its descriptor limit and holds
 * thousands of sockets, so the admin sockets may be above FD_SETSIZE, and
 * /readyz blocks for up to a second on its probes, which must not delay a
 * liveness probe on /healthz. At most ADMIN_MAX_CONNECTIONS threads. */
#include "admin.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "probe.h"

#define DIGEST_LEN 32

struct admin {
    control *c;
    const sp_config *cfg;
    struct MHD_Daemon *mhd;
    int port;
    bool has_token;
    unsigned char token_digest[DIGEST_LEN]; /* SHA-256 of the token; the token itself is not kept */
};

/* One request: its client address and its body, bounded. */
typedef struct admin_req {
    char who[INET6_ADDRSTRLEN + 16];
    char *body;
    size_t len;
    bool too_large;
    bool answered; /* a response was queued on the first call */
} admin_req;

/* What a handler produces. */
typedef struct reply {
    unsigned status;
    json_t *json;      /* owned; or */
    char *text;        /* malloc'd, with len */
    size_t len;
    const char *ctype; /* for text */
    const char *allow; /* for 405 */
} reply;

/* ---- small helpers -------------------------------------------------------- */

static void set_err(char *err, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, size, fmt, ap);
    va_end(ap);
}

static reply json_reply(unsigned status, json_t *j)
{
    return (reply){.status = status, .json = j};
}

/* {"error": message} */
static reply error_reply(unsigned status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static reply error_reply(unsigned status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return json_reply(status, json_pack("{s:s}", "error", msg));
}

static void sha256(const void *data, size_t len, unsigned char out[DIGEST_LEN])
{
    unsigned int n = 0;
    if (EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) != 1 || n != DIGEST_LEN)
        memset(out, 0, DIGEST_LEN); /* cannot happen; a zero digest matches no token */
}

bool admin_addr_is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(a))
            return true;
        return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
    }
    return false;
}

/* "ip:port" or "[v6]:port". */
static void format_addr(const struct sockaddr *sa, char *out, size_t size)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (sa && sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
        snprintf(out, size, "%s:%u", ip, ntohs(in->sin_port));
    } else if (sa && sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
        snprintf(out, size, "[%s]:%u", ip, ntohs(in6->sin6_port));
    } else {
        snprintf(out, size, "unknown");
    }
}

/* ---- the token ------------------------------------------------------------ */

/* A token is printable ASCII or UTF-8 without spaces or control bytes. */
static bool token_ok(const char *t)
{
    for (const unsigned char *p = (const unsigned char *)t; *p; p++)
        if (*p <= 0x20 || *p == 0x7f)
            return false;
    return *t != '\0';
}

static int read_token_file(const char *path, char *out, size_t size, char *err, size_t errsize)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        int e = errno;
        set_err(err, errsize, "admin.token_file %s: cannot read: %s", path, strerror(e));
        return -e;
    }
    size_t n = fread(out, 1, size - 1, f);
    bool more = fgetc(f) != EOF;
    fclose(f);
    if (more) {
        set_err(err, errsize, "admin.token_file %s: longer than %zu bytes", path, size - 1);
        return -EINVAL;
    }
    out[n] = '\0';
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
        out[--n] = '\0';
    return 0;
}

/* Fills a->has_token / a->token_digest from the config. */
static int resolve_token(admin *a, char *err, size_t errsize)
{
    const sp_config *cfg = a->cfg;
    char tok[4096] = "";
    const char *src;
    if (cfg->admin_token_file && cfg->admin_token_env) {
        set_err(err, errsize, "admin: set admin.token_file or admin.token_env, not both");
        return -EINVAL;
    }
    if (cfg->admin_token_file) {
        int rc = read_token_file(cfg->admin_token_file, tok, sizeof tok, err, errsize);
        if (rc < 0)
            return rc;
        src = "admin.token_file";
    } else if (cfg->admin_token_env) {
        const char *v = getenv(cfg->admin_token_env);
        if (!v || !*v) {
            set_err(err, errsize, "admin.token_env: the environment variable %s is %s",
                    cfg->admin_token_env, v ? "empty" : "not set");
            return -EINVAL;
        }
        if (strlen(v) >= sizeof tok) {
            set_err(err, errsize, "admin.token_env: %s is longer than %zu bytes",
                    cfg->admin_token_env, sizeof tok - 1);
            return -EINVAL;
        }
        snprintf(tok, sizeof tok, "%s", v);
        src = "admin.token_env";
    } else {
        return 0;
    }
    if (!token_ok(tok)) {
        set_err(err, errsize, "%s: the admin token is %s", src,
                *tok ? "not usable in a header (spaces or control characters)" : "empty");
        OPENSSL_cleanse(tok, sizeof tok);
        return -EINVAL;
    }
    if (strlen(tok) < 16)
        log_event(LOG_WARN, "admin_token_short", "source", src, "hint",
                  "use at least 16 random characters, e.g. openssl rand -hex 32", NULL);
    sha256(tok, strlen(tok), a->token_digest);
    OPENSSL_cleanse(tok, sizeof tok);
    a->has_token = true;
    return 0;
}

/* Constant time in the token's content and length: both sides are hashed
 * and the digests compared with CRYPTO_memcmp. A missing header, another
 * scheme and a wrong token take the same path. */
static bool authorized(const admin *a, struct MHD_Connection *conn)
{
    if (!a->has_token)
        return true;
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    const char *cand = "";
    if (h && strncasecmp(h, "Bearer ", 7) == 0) {
        cand = h + 7;
        while (*cand == ' ')
            cand++;
    }
    unsigned char d[DIGEST_LEN];
    sha256(cand, strlen(cand), d);
    return CRYPTO_memcmp(d, a->token_digest, DIGEST_LEN) == 0 && *cand != '\0';
}

/* ---- JSON request bodies ---------------------------------------------------- */

/* Parses the body as a JSON object whose keys are all in `allowed`
 * (NULL-terminated). NULL with *r set to a 400 otherwise. */
static json_t *body_object(const admin_req *rq, const char *const *allowed, reply *r)
{
    json_error_t e;
    if (rq->len == 0) {
        *r = error_reply(400, "the request body must be a JSON object");
        return NULL;
    }
    json_t *o = json_loadb(rq->body, rq->len, JSON_REJECT_DUPLICATES, &e);
    if (!o) {
        *r = error_reply(400, "invalid JSON at line %d, column %d: %s", e.line, e.column, e.text);
        return NULL;
    }
    if (!json_is_object(o)) {
        json_decref(o);
        *r = error_reply(400, "the request body must be a JSON object");
        return NULL;
    }
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        bool known = false;
        for (const char *const *p = allowed; *p && !known; p++)
            known = strcmp(*p, k) == 0;
        if (!known) {
            char list[256] = "";
            for (const char *const *p = allowed; *p; p++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s\"%s\"",
                         p == allowed ? "" : ", ", *p);
            *r = error_reply(400, "unknown key \"%s\" (expected %s)", k, list);
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

/* The optional "route": a non-empty string, or absent/null (global). */
static bool body_route(json_t *o, const char **route, reply *r)
{
    json_t *v = json_object_get(o, "route");
    *route = NULL;
    if (!v || json_is_null(v))
        return true;
    if (!json_is_string(v) || json_string_length(v) == 0) {
        *r = error_reply(400, "\"route\" must be a route name (a non-empty string), or absent for all routes");
        return false;
    }
    *route = json_string_value(v);
    return true;
}

/* ---- state lookups for old -> new ------------------------------------------ */

/* state[section]["routes"][route], else state[section]["global"]. Borrowed. */
static json_t *effective(json_t *state, const char *section, const char *route)
{
    json_t *s = json_object_get(state, section);
    json_t *v = route ? json_object_get(json_object_get(s, "routes"), route) : NULL;
    return v ? v : json_object_get(s, "global");
}

/* A copy of effective(...), or null. */
static json_t *effective_copy(json_t *state, const char *section, const char *route)
{
    json_t *v = effective(state, section, route);
    return v ? json_deep_copy(v) : json_null();
}

/* {"ok", "message", "scope", "route", "old", "new", "persisted"[, "warning"]}. */
static reply change_reply(int rc, const char *msg, const char *route, json_t *old, json_t *new_)
{
    json_t *j = json_pack("{s:b, s:s, s:s, s:o, s:o, s:o, s:b}", "ok", 1, "message", msg,
                          "scope", route ? "route" : "global", "route",
                          route ? json_string(route) : json_null(), "old", old, "new", new_,
                          "persisted", rc != -EIO);
    if (j && rc == -EIO)
        json_object_set_new(j, "warning", json_string(msg));
    return json_reply(200, j);
}

/* control's error codes as HTTP. */
static reply control_error(int rc, const char *msg)
{
    if (rc == -ENOENT)
        return error_reply(404, "%s", *msg ? msg : "no such route");
    if (rc == -EINVAL)
        return error_reply(400, "%s", *msg ? msg : "invalid value");
    return error_reply(500, "%s", *msg ? msg : strerror(-rc));
}

/* ---- endpoints -------------------------------------------------------------- */

typedef reply (*handler_fn)(admin *a, admin_req *rq);

static reply h_healthz(admin *a, admin_req *rq)
{
    (void)a, (void)rq;
    return json_reply(200, json_pack("{s:s}", "status", "ok"));
}

static reply h_state(admin *a, admin_req *rq)
{
    (void)rq;
    json_t *s = control_state(a->c);
    return s ? json_reply(200, s) : error_reply(500, "out of memory");
}

static reply h_metrics(admin *a, admin_req *rq)
{
    (void)rq;
    size_t len = 0;
    char *text = control_metrics(a->c, &len);
    if (!text)
        return error_reply(500, "out of memory");
    return (reply){.status = 200, .text = text, .len = len,
                   .ctype = "text/plain; version=0.0.4; charset=utf-8"};
}

static reply h_authority(admin *a, admin_req *rq)
{
    static const char *const keys[] = {"side", "route", NULL};
    reply r;
    json_t *o = body_object(rq, keys, &r);
    if (!o)
        return r;
    const char *route;
    json_t *sv = json_object_get(o, "side");
    sp_side side;
    if (!body_route(o, &route, &r)) {
        /* r says why */
    } else if (!json_is_string(sv) || config_parse_side(json_string_value(sv), &side) != 0) {
        r = error_reply(400, "\"side\" must be \"legacy\" or \"new\"");
    } else {
        char msg[512] = "";
        json_t *before = control_state(a->c);
        int rc = control_set_authority(a->c, route, side, rq->who, msg, sizeof msg);
        if (rc == 0 || rc == -EIO) {
            json_t *after = control_state(a->c);
            r = change_reply(rc, *msg ? msg : "authority set", route,
                             json_pack("{s:o}", "authority", effective_copy(before, "authority", route)),
                             json_pack("{s:o}", "authority", effective_copy(after, "authority", route)));
            json_decref(after);
        } else {
            r = control_error(rc, msg);
        }
        json_decref(before);
    }
    json_decref(o);
    return r;
}

/* "action" → control_set_shadow's paused/sample arguments. */
static bool shadow_args(json_t *o, int *paused, double *sample, reply *r)
{
    const char *action = json_string_value(json_object_get(o, "action"));
    json_t *pv = json_object_get(o, "percent");
    *paused = -1;
    *sample = -1;
    if (!action || (strcmp(action, "pause") && strcmp(action, "resume") && strcmp(action, "sample"))) {
        *r = error_reply(400, "\"action\" must be \"pause\", \"resume\" or \"sample\"");
        return false;
    }
    if (strcmp(action, "sample") != 0) {
        if (pv) {
            *r = error_reply(400, "\"percent\" goes with \"action\": \"sample\" only");
            return false;
        }
        *paused = strcmp(action, "pause") == 0;
        return true;
    }
    if (!json_is_number(pv) || json_number_value(pv) < 0 || json_number_value(pv) > 100) {
        *r = error_reply(400, "\"sample\" needs \"percent\": a number from 0 to 100");
        return false;
    }
    *sample = json_number_value(pv);
    return true;
}

static reply h_shadow(admin *a, admin_req *rq)
{
    static const char *const keys[] = {"action", "percent", "route", NULL};
    reply r;
    json_t *o = body_object(rq, keys, &r);
    if (!o)
        return r;
    const char *route;
    int paused;
    double sample;
    if (body_route(o, &route, &r) && shadow_args(o, &paused, &sample, &r)) {
        char msg[512] = "";
        json_t *before = control_state(a->c);
        int rc = control_set_shadow(a->c, route, paused, sample, rq->who, msg, sizeof msg);
        if (rc == 0 || rc == -EIO) {
            json_t *after = control_state(a->c);
            r = change_reply(rc, *msg ? msg : "shadow set", route,
                             effective_copy(before, "shadow", route),
                             effective_copy(after, "shadow", route));
            json_decref(after);
        } else {
            r = control_error(rc, msg);
        }
        json_decref(before);
    }
    json_decref(o);
    return r;
}

static json_t *rules_version(json_t *state)
{
    json_t *v = json_object_get(json_object_get(state, "rules"), "version");
    return v ? json_deep_copy(v) : json_null();
}

static reply h_reload(admin *a, admin_req *rq)
{
    if (rq->len > 0) {
        static const char *const none[] = {NULL};
        reply r;
        json_t *o = body_object(rq, none, &r); /* accept {} only */
        if (!o)
            return r;
        json_decref(o);
    }
    json_t *before = control_state(a->c), *errors = NULL;
    int rc = control_reload(a->c, rq->who, &errors);
    reply r;
    if (rc == 0) {
        json_t *after = control_state(a->c);
        r = json_reply(200, json_pack("{s:b, s:s, s:{s:o}, s:{s:o}}", "ok", 1, "message",
                                      "rules reloaded", "old", "version", rules_version(before),
                                      "new", "version", rules_version(after)));
        json_decref(after);
    } else if (rc == -EINVAL) {
        r = json_reply(422, json_pack("{s:s, s:o}", "error",
                                      "the rules file is invalid; the old rules stay in use",
                                      "errors", errors ? errors : json_array()));
        errors = NULL;
    } else {
        r = error_reply(500, "reload failed: %s", strerror(-rc));
    }
    json_decref(errors);
    json_decref(before);
    return r;
}

static reply h_log_level(admin *a, admin_req *rq)
{
    static const char *const keys[] = {"level", NULL};
    reply r;
    json_t *o = body_object(rq, keys, &r);
    if (!o)
        return r;
    const char *level = json_string_value(json_object_get(o, "level"));
    log_level l;
    if (!level || log_parse_level(level, &l) != 0) {
        r = error_reply(400, "\"level\" must be \"error\", \"warn\", \"info\" or \"debug\"");
    } else if (control_set_log_level(a->c, level, rq->who) != 0) {
        r = error_reply(400, "log level \"%s\" refused", level);
    } else {
        char msg[64];
        snprintf(msg, sizeof msg, "log level set to %s", level);
        r = json_reply(200, json_pack("{s:b, s:s, s:s}", "ok", 1, "level", level, "message", msg));
    }
    json_decref(o);
    return r;
}

/* ---- /readyz ------------------------------------------------------------------ */

/* Adds the names of control_ready's failing parts ("rules": false, or
 * {"ok": false, "error": ...}) to `failing`, and a sentence to msg. */
static void ready_failures(json_t *ready, json_t *failing, char *msg, size_t size)
{
    const char *k;
    json_t *v;
    json_object_foreach(ready, k, v) {
        json_t *ok = json_is_object(v) ? json_object_get(v, "ok") : v;
        if (!json_is_false(ok))
            continue;
        const char *why = json_string_value(json_object_get(v, "error"));
        json_array_append_new(failing, json_string(k));
        size_t at = strlen(msg);
        snprintf(msg + at, size - at, "%s%s not ready%s%s", at ? "; " : "", k, why ? ": " : "",
                 why ? why : "");
    }
}

static reply h_readyz(admin *a, admin_req *rq)
{
    (void)rq;
    bool ready = false;
    json_t *body = control_ready(a->c, &ready);
    if (!json_is_object(body)) {
        json_decref(body);
        body = json_object();
    }
    json_t *failing = json_array(), *ups = json_object();
    char msg[1024] = "";
    ready_failures(body, failing, msg, sizeof msg);
    static const char *const sides[2] = {"legacy", "new"};
    const char *urls[2] = {a->cfg->upstream[SIDE_LEGACY].url, a->cfg->upstream[SIDE_NEW].url};
    probe_result p[2];
    probe_urls(urls, 2, ADMIN_PROBE_TIMEOUT_MS, p);
    for (int i = 0; i < 2; i++) {
        json_t *u = json_pack("{s:s, s:b}", "address", p[i].address, "ok", p[i].ok);
        if (!p[i].ok) {
            json_object_set_new(u, "error", json_string(p[i].error));
            char name[32];
            snprintf(name, sizeof name, "upstream.%s", sides[i]);
            json_array_append_new(failing, json_string(name));
            snprintf(msg + strlen(msg), sizeof msg - strlen(msg), "%s%s upstream %s unreachable: %s",
                     *msg ? "; " : "", sides[i], p[i].address, p[i].error);
        }
        json_object_set_new(ups, sides[i], u);
    }
    if (json_array_size(failing) > 0)
        ready = false;
    if (!ready && !*msg)
        snprintf(msg, sizeof msg, "not ready");
    json_object_set_new(body, "upstreams", ups);
    json_object_set_new(body, "ready", json_boolean(ready));
    json_object_set_new(body, "failing", failing);
    json_object_set_new(body, "message", json_string(ready ? "ready" : msg));
    return json_reply(ready ? 200 : 503, body);
}

/* ---- routing ---------------------------------------------------------------- */

typedef struct endpoint {
    const char *path;
    const char *method; /* GET endpoints also answer HEAD */
    handler_fn fn;
} endpoint;

static const endpoint endpoints[] = {
    {"/healthz", "GET", h_healthz},    {"/readyz", "GET", h_readyz},
    {"/state", "GET", h_state},        {"/metrics", "GET", h_metrics},
    {"/authority", "POST", h_authority}, {"/shadow", "POST", h_shadow},
    {"/reload", "POST", h_reload},     {"/log-level", "PUT", h_log_level},
};

static reply dispatch(admin *a, admin_req *rq, const char *url, const char *method)
{
    for (size_t i = 0; i < sizeof endpoints / sizeof endpoints[0]; i++) {
        const endpoint *e = &endpoints[i];
        if (strcmp(url, e->path) != 0)
            continue;
        bool get = strcmp(e->method, "GET") == 0;
        if (strcmp(method, e->method) != 0 && !(get && strcmp(method, "HEAD") == 0)) {
            reply r = error_reply(405, "%s does not allow %s; use %s", e->path, method, e->method);
            r.allow = get ? "GET, HEAD" : e->method;
            return r;
        }
        if (rq->too_large)
            return error_reply(413, "request body over %zu bytes", ADMIN_MAX_BODY);
        return e->fn(a, rq);
    }
    return error_reply(404, "no endpoint %s (see docs/operations.md)", url);
}

static enum MHD_Result send_reply(struct MHD_Connection *conn, reply *r)
{
    char *buf = r->text;
    size_t len = r->len;
    const char *ctype = r->ctype;
    if (!buf) {
        char *js = r->json ? json_dumps(r->json, JSON_INDENT(2) | JSON_REAL_PRECISION(12)) : NULL;
        json_decref(r->json);
        if (!js) {
            r->status = 500;
            js = strdup("{\"error\": \"out of memory\"}");
        }
        len = js ? strlen(js) : 0;
        buf = malloc(len + 2);
        if (buf) { /* with a final newline, for people using curl */
            if (len)
                memcpy(buf, js, len);
            buf[len++] = '\n';
        } else {
            len = 0;
        }
        free(js);
        ctype = "application/json";
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_COPY);
    free(buf);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (r->allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
    if (r->status == 401)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"shadowproxy-admin\"");
    enum MHD_Result ok = MHD_queue_response(conn, r->status, resp);
    MHD_destroy_response(resp);
    return ok;
}

/* 401: the same fixed answer whatever was wrong, and nothing about the state. */
static enum MHD_Result send_unauthorized(struct MHD_Connection *conn, const admin_req *rq,
                                         const char *url)
{
    log_event(LOG_WARN, "admin_unauthorized", "who", rq->who, "path", url, NULL);
    reply r = json_reply(401, json_pack("{s:s}", "error", "unauthorized"));
    return send_reply(conn, &r);
}

static bool declared_too_large(struct MHD_Connection *conn)
{
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (!cl)
        return false;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(cl, &end, 10);
    return errno != 0 || n > ADMIN_MAX_BODY;
}

static enum MHD_Result first_call(admin *a, struct MHD_Connection *conn, const char *url,
                                  void **con_cls)
{
    admin_req *rq = calloc(1, sizeof *rq);
    if (!rq)
        return MHD_NO;
    *con_cls = rq;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    format_addr(ci ? ci->client_addr : NULL, rq->who, sizeof rq->who);
    if (!declared_too_large(conn))
        return MHD_YES; /* read the body, answer at the end */
    /* Do not read a body we will refuse anyway. */
    rq->answered = true;
    if (strcmp(url, "/healthz") != 0 && !authorized(a, conn))
        return send_unauthorized(conn, rq, url);
    reply r = error_reply(413, "request body over %zu bytes", ADMIN_MAX_BODY);
    return send_reply(conn, &r);
}

static void append_body(admin_req *rq, const char *data, size_t n)
{
    if (rq->too_large)
        return;
    if (rq->len + n > ADMIN_MAX_BODY) {
        rq->too_large = true;
        free(rq->body);
        rq->body = NULL;
        rq->len = 0;
        return;
    }
    if (!rq->body && !(rq->body = malloc(ADMIN_MAX_BODY))) {
        rq->too_large = true; /* cannot hold it: refuse it */
        return;
    }
    memcpy(rq->body + rq->len, data, n);
    rq->len += n;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    admin *a = cls;
    admin_req *rq = *con_cls;
    if (!rq)
        return first_call(a, conn, url, con_cls);
    if (*upload_size > 0) {
        append_body(rq, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    if (rq->answered)
        return MHD_YES;
    rq->answered = true;
    if (strcmp(url, "/healthz") != 0 && !authorized(a, conn))
        return send_unauthorized(conn, rq, url);
    reply r = dispatch(a, rq, url, method);
    log_event(LOG_DEBUG, "admin_request", "who", rq->who, "method", method, "path", url, NULL);
    return send_reply(conn, &r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)conn, (void)toe;
    admin_req *rq = *con_cls;
    if (rq) {
        free(rq->body);
        free(rq);
        *con_cls = NULL;
    }
}

/* MHD's own messages (client errors, mostly) go to the debug log. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    if (!log_enabled(LOG_DEBUG))
        return;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    log_event(LOG_DEBUG, "admin_mhd", "message", msg, NULL);
}

/* ---- start and stop --------------------------------------------------------- */

/* Resolves host:port, refuses a non-loopback address without a token,
 * binds and listens. The fd, or a negative errno with err set. */
static int open_admin_socket(admin *a, const char *host, int port, char *err, size_t errsize)
{
    const char *shown = a->cfg->admin_listen;
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(*host ? host : NULL, portstr, &hints, &res);
    if (rc != 0) {
        set_err(err, errsize, "admin.listen %s: cannot resolve: %s", shown, gai_strerror(rc));
        return -EADDRNOTAVAIL;
    }
    if (!a->has_token && !admin_addr_is_loopback(res->ai_addr)) {
        set_err(err, errsize,
                "admin.listen %s is not a loopback address and no admin token is configured: "
                "set admin.token_file or admin.token_env, or listen on 127.0.0.1",
                shown);
        freeaddrinfo(res);
        return -EPERM;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 64) < 0) {
        int e = errno;
        set_err(err, errsize, "admin.listen %s: %s", shown, strerror(e));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return -e;
    }
    freeaddrinfo(res);
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &len);
    a->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                             : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

int admin_start(admin **out, control *c, const sp_config *cfg, char *err, size_t errsize)
{
    *out = NULL;
    if (!cfg->admin_listen || !*cfg->admin_listen) {
        log_event(LOG_INFO, "admin_off", "why", "admin.listen is empty", NULL);
        return 0;
    }
    char *host = NULL;
    int port = 0;
    if (config_parse_listen(cfg->admin_listen, &host, &port) != 0) {
        set_err(err, errsize, "admin.listen: expected HOST:PORT, got \"%s\"", cfg->admin_listen);
        return -EINVAL;
    }
    admin *a = calloc(1, sizeof *a);
    int fd = -ENOMEM;
    if (!a)
        set_err(err, errsize, "admin: out of memory");
    else {
        a->c = c;
        a->cfg = cfg;
        fd = resolve_token(a, err, errsize);
        if (fd == 0)
            fd = open_admin_socket(a, host, port, err, errsize);
    }
    free(host);
    if (fd < 0) {
        free(a);
        return fd;
    }
    a->mhd = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0,
        NULL, NULL, on_request, a, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, a, MHD_OPTION_CONNECTION_LIMIT, ADMIN_MAX_CONNECTIONS,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, ADMIN_MAX_CONNECTIONS / 2,
        MHD_OPTION_CONNECTION_TIMEOUT, ADMIN_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)32 * 1024, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, a, MHD_OPTION_END);
    if (!a->mhd) {
        set_err(err, errsize, "admin.listen %s: cannot start the admin HTTP server",
                cfg->admin_listen);
        close(fd);
        free(a);
        return -EIO;
    }
    char where[320]; /* the configured host with the port actually bound */
    const char *colon = strrchr(cfg->admin_listen, ':');
    snprintf(where, sizeof where, "%.*s:%d", colon ? (int)(colon - cfg->admin_listen) : 0,
             cfg->admin_listen, a->port);
    log_event(LOG_INFO, "admin_listening", "address", where, "auth",
              a->has_token ? "bearer token" : "none (loopback only)", NULL);
    *out = a;
    return 0;
}

int admin_port(const admin *a)
{
    return a ? a->port : 0;
}

void admin_stop(admin *a)
{
    if (!a)
        return;
    MHD_stop_daemon(a->mhd); /* joins every connection thread; closes the socket */
    OPENSSL_cleanse(a->token_digest, sizeof a->token_digest);
    free(a);
}
