/* admin: the admin HTTP API's listener, authorization and routing. See
 * admin.h and docs/operations.md. The JSON endpoints are in admin_api.c,
 * the dashboard page, login and session cookie in admin_dash.c.
 *
 *   client ──► front door (admin_door.c: whole head in 5 s; /healthz there)
 *          ──► MHD (own thread per connection, poll) ──► on_request
 *                 first call: who, Content-Length > 64 KiB → 401/413 at once
 *                 body calls: bounded buffer, whole within 10 s of the head
 *                 last call:  auth (Bearer, session cookie, or open without a
 *                             token) → browser checks (admin_dash.c) → route
 *                             table → handler → reply
 *
 * Threads: MHD_USE_THREAD_PER_CONNECTION with poll() rather than one
 * select() thread: the proxy raises its descriptor limit and holds
 * thousands of sockets, so the admin sockets may be above FD_SETSIZE, and
 * /readyz blocks for up to a second on its probes, which must not delay a
 * liveness probe on /healthz. At most ADMIN_MAX_CONNECTIONS threads. */
#include "admin/admin.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "admin/admin_int.h"
#include "base/clock.h"
#include "base/log.h"

/* ---- small helpers -------------------------------------------------------- */

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

/* ---- routing ---------------------------------------------------------------- */

enum {
    EP_PUBLIC = 1, /* answers without auth (it decides what to show) */
    EP_PREFIX = 2, /* also PATH/anything */
    EP_FORM = 4,   /* a browser form may post it: no dashboard header needed */
    EP_PROBE = 8,  /* no browser checks (liveness probes) */
    EP_WRITE = 16, /* changes something: operators only (a viewer gets 403) */
};

typedef struct endpoint {
    const char *path;
    const char *method; /* GET endpoints also answer HEAD */
    admin_handler fn;
    unsigned flags;
} endpoint;

static const endpoint endpoints[] = {
    {"/healthz", "GET", admin_h_healthz, EP_PUBLIC | EP_PROBE},
    {"/readyz", "GET", admin_h_readyz, EP_PUBLIC},
    {"/state", "GET", admin_h_state, 0},
    {"/metrics", "GET", admin_h_metrics, 0},
    {"/authority", "POST", admin_h_authority, EP_WRITE},
    {"/shadow", "POST", admin_h_shadow, EP_WRITE},
    {"/writes", "POST", admin_h_writes, EP_WRITE},
    {"/faults", "POST", admin_h_faults, EP_WRITE},
    {"/reload", "POST", admin_h_reload, EP_WRITE},
    {"/rollback", "POST", admin_h_rollback, EP_WRITE},
    {"/clear", "POST", admin_h_clear, EP_WRITE},
    {"/history", "GET", admin_h_history, 0},
    {"/log-level", "PUT", admin_h_log_level, EP_WRITE},
    {"/api/live", "GET", admin_h_live, 0},
    {"/api/readiness", "GET", admin_h_readiness, 0},
    {"/api/recent", "GET", admin_h_recent, EP_PREFIX},
    {"/api/history", "GET", admin_h_records, EP_PREFIX},
    {"/", "GET", admin_h_page, EP_PUBLIC},
    {"/login", "POST", admin_h_login, EP_PUBLIC | EP_FORM},
    {"/logout", "POST", admin_h_logout, EP_PUBLIC | EP_FORM},
    {"/favicon.ico", "GET", admin_h_favicon, EP_PUBLIC | EP_PROBE},
};

static const endpoint *find_endpoint(const char *url)
{
    for (size_t i = 0; i < sizeof endpoints / sizeof endpoints[0]; i++) {
        const endpoint *e = &endpoints[i];
        size_t n = strlen(e->path);
        if (strcmp(url, e->path) == 0 ||
            ((e->flags & EP_PREFIX) && strncmp(url, e->path, n) == 0 && url[n] == '/'))
            return e;
    }
    return NULL;
}

static bool is_public(const endpoint *e)
{
    return e && (e->flags & EP_PUBLIC);
}

static admin_reply dispatch(admin *a, admin_req *rq, const endpoint *e)
{
    if (!e)
        return admin_error_reply(404, "no endpoint %s (see docs/operations.md)", rq->url);
    bool get = strcmp(e->method, "GET") == 0;
    if (strcmp(rq->method, e->method) != 0 && !(get && strcmp(rq->method, "HEAD") == 0)) {
        admin_reply r =
            admin_error_reply(405, "%s does not allow %s; use %s", e->path, rq->method, e->method);
        r.allow = get ? "GET, HEAD" : e->method;
        return r;
    }
    if ((e->flags & EP_WRITE) && rq->principal && rq->principal->role == ROLE_VIEWER) {
        log_event(LOG_WARN, "admin_forbidden", "who", rq->who, "method", rq->method, "path",
                  rq->url, "role", "viewer", NULL);
        return admin_error_reply(403, "the token \"%s\" is a viewer (read only): %s %s needs "
                                 "an operator token", rq->principal->name, e->method, e->path);
    }
    if (rq->too_large)
        return admin_error_reply(413, "request body over %zu bytes", ADMIN_MAX_BODY);
    return e->fn(a, rq);
}

/* JSON (indented, with a final newline, for people using curl), or text. */
static char *reply_body(admin_reply *r, size_t *len, const char **ctype)
{
    if (r->text) {
        *len = r->len;
        *ctype = r->ctype;
        return r->text;
    }
    char *js = r->json ? json_dumps(r->json, JSON_INDENT(2) | JSON_REAL_PRECISION(12)) : NULL;
    json_decref(r->json);
    r->json = NULL;
    if (!js) {
        r->status = 500;
        js = strdup("{\"error\": \"out of memory\"}");
    }
    size_t n = js ? strlen(js) : 0;
    char *buf = malloc(n + 2);
    if (buf) {
        if (n)
            memcpy(buf, js, n);
        buf[n++] = '\n';
    } else {
        n = 0;
    }
    free(js);
    *len = n;
    *ctype = "application/json";
    return buf;
}

static enum MHD_Result send_reply(struct MHD_Connection *conn, admin_reply *r)
{
    size_t len = 0;
    const char *ctype = NULL;
    char *buf = reply_body(r, &len, &ctype);
    struct MHD_Response *resp =
        r->persistent ? MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_PERSISTENT)
                      : MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_COPY);
    if (!r->persistent)
        free(buf);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Cross-Origin-Resource-Policy", "same-origin");
    /* one request per connection: every head passes the front door's deadline */
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    if (r->allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
    if (r->status == 401)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"shadowproxy-admin\"");
    if (r->csp) {
        MHD_add_response_header(resp, "Content-Security-Policy", r->csp);
        MHD_add_response_header(resp, "X-Frame-Options", "DENY");
        /* not no-referrer: then a form's POST says "Origin: null" */
        MHD_add_response_header(resp, "Referrer-Policy", "same-origin");
        MHD_add_response_header(resp, "Cross-Origin-Opener-Policy", "same-origin");
    }
    if (r->location)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, r->location);
    if (r->cookie[0])
        MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, r->cookie);
    enum MHD_Result ok = MHD_queue_response(conn, r->status, resp);
    MHD_destroy_response(resp);
    return ok;
}

/* 401: the same fixed answer whatever was wrong, and nothing about the state. */
static enum MHD_Result send_unauthorized(struct MHD_Connection *conn, const admin_req *rq,
                                         const char *url)
{
    log_event(LOG_WARN, "admin_unauthorized", "who", rq->who, "path", url, NULL);
    admin_reply r = admin_json_reply(401, json_pack("{s:s}", "error", "unauthorized"));
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
    format_addr(ci ? ci->client_addr : NULL, rq->addr, sizeof rq->addr);
    rq->head_ns = clock_now_ns();
    admin_set_who(rq);
    if (!declared_too_large(conn))
        return MHD_YES; /* read the body, answer at the end */
    /* Do not read a body we will refuse anyway. */
    rq->answered = true;
    const admin_principal *who;
    if (!is_public(find_endpoint(url)) && admin_auth_of(a, conn, &who) == ADMIN_AUTH_REFUSED)
        return send_unauthorized(conn, rq, url);
    admin_reply r = admin_error_reply(413, "request body over %zu bytes", ADMIN_MAX_BODY);
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
        /* a body trickled in byte by byte would hold this thread: a deadline */
        if (clock_now_ns() - rq->head_ns > (uint64_t)ADMIN_BODY_TIMEOUT_MS * 1000000u) {
            log_event(LOG_DEBUG, "admin_body_timeout", "who", rq->addr, "path", url, NULL);
            return MHD_NO; /* MHD closes the connection */
        }
        append_body(rq, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    if (rq->answered)
        return MHD_YES;
    rq->answered = true;
    rq->conn = conn;
    rq->url = url;
    rq->method = method;
    rq->auth = admin_auth_of(a, conn, &rq->principal);
    admin_set_who(rq);
    const endpoint *e = find_endpoint(url);
    if (!is_public(e) && rq->auth == ADMIN_AUTH_REFUSED)
        return send_unauthorized(conn, rq, url);
    admin_reply r;
    if ((e && (e->flags & EP_PROBE)) || !admin_browser_refused(a, rq, e && (e->flags & EP_FORM), &r))
        r = dispatch(a, rq, e);
    log_event(LOG_DEBUG, "admin_request", "who", rq->who, "method", method, "path", url, NULL);
    return send_reply(conn, &r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)conn, (void)toe;
    admin_req *rq = *con_cls;
    if (rq) {
        if (rq->body) /* POST /login: it holds a token */
            OPENSSL_cleanse(rq->body, rq->len);
        free(rq->body);
        free(rq);
        *con_cls = NULL;
    }
}

/* A query string may hold a token (GET /?token=): MHD's messages never
 * show one. */
static void scrub_query(char *msg)
{
    char *q;
    for (char *from = msg; (q = strchr(from, '?')) != NULL; from = q + 1) {
        size_t n = strcspn(q + 1, " \t'\"`");
        memmove(q + 1, q + 1 + n, strlen(q + 1 + n) + 1);
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
    scrub_query(msg);
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
        admin_set_err(err, errsize, "admin.listen %s: cannot resolve: %s", shown, gai_strerror(rc));
        return -EADDRNOTAVAIL;
    }
    if (!a->has_token && !admin_addr_is_loopback(res->ai_addr)) {
        admin_set_err(err, errsize,
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
        admin_set_err(err, errsize, "admin.listen %s: %s", shown, strerror(e));
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
        admin_set_err(err, errsize, "admin.listen: expected HOST:PORT, got \"%s\"", cfg->admin_listen);
        return -EINVAL;
    }
    admin *a = calloc(1, sizeof *a);
    int fd = -ENOMEM;
    if (!a)
        admin_set_err(err, errsize, "admin: out of memory");
    else {
        a->c = c;
        a->cfg = cfg;
        fd = admin_auth_init(a, err, errsize);
        if (fd == 0)
            fd = open_admin_socket(a, host, port, err, errsize);
    }
    free(host);
    if (fd >= 0) {
        int rc = admin_dash_init(a, err, errsize); /* needs the port: the cookie's name */
        if (rc < 0) {
            close(fd);
            fd = rc;
        }
    }
    if (fd < 0) {
        if (a)
            OPENSSL_cleanse(a, sizeof *a);
        free(a);
        return fd;
    }
    /* The front door (admin_door.c) accepts and hands whole heads over. */
    a->mhd = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG |
            MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC,
        0, NULL, NULL, on_request, a, MHD_OPTION_NOTIFY_COMPLETED, on_completed, a, MHD_OPTION_CONNECTION_LIMIT, ADMIN_MAX_CONNECTIONS,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, ADMIN_MAX_CONNECTIONS / 2,
        MHD_OPTION_CONNECTION_TIMEOUT, ADMIN_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)32 * 1024, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, a, MHD_OPTION_END);
    int rc = a->mhd ? admin_door_start(a, fd, &a->door, err, errsize) : -EIO;
    if (rc < 0) {
        if (!a->mhd)
            admin_set_err(err, errsize, "admin.listen %s: cannot start the admin HTTP server",
                          cfg->admin_listen);
        if (a->mhd)
            MHD_stop_daemon(a->mhd);
        close(fd);
        admin_dash_free(a);
        OPENSSL_cleanse(a, sizeof *a);
        free(a);
        return rc;
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
    admin_door_stop(a->door); /* no more connections handed over; closes the socket */
    MHD_stop_daemon(a->mhd);  /* joins every connection thread */
    admin_dash_free(a);
    admin_auth_free(a);
    OPENSSL_cleanse(a->session_key, sizeof a->session_key);
    free(a);
}

