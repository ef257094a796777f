/* admin_dash: the dashboard on the admin listener (docs/operations.md, "The
 * dashboard"): the page itself (proxy/admin/dashboard.html, embedded by
 * dashboard_asset.c), the login form and the ?token= exchange, the session
 * cookie, and the checks that keep a browser from being used against the
 * admin API (CSRF, DNS rebinding).
 *
 *   GET /            authorized → the page; else the login form
 *   GET /?token=T    right → 303 to / with the cookie (the token leaves the
 *                    address bar); wrong → 401 and the form
 *   POST /login      token=T (a form): the same, 303 or 401
 *   POST /logout     clears the cookie, 303 to /
 *
 * The session cookie is not the token: it is "ISSUED.P.NONCE.MAC", MAC =
 * HMAC-SHA256(key, "v2.GEN.ISSUED.P.NONCE") with key 32 random bytes drawn
 * at start, P the index of the token's principal (its name and role),
 * NONCE 16 random bytes per sign-in and GEN the session generation. It expires
 * after ADMIN_SESSION_TTL_S; logging out revokes it here (a list of the
 * logged-out MACs until they expire; when full, GEN moves on and every
 * session ends); every session ends with the process. HttpOnly,
 * SameSite=Strict, named per admin port (cookies do not tell ports
 * apart). */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "admin/admin_int.h"
#include "base/log.h"

#define TOKEN_MAX 4096

/* The login form's only style; its hash is in the login page's CSP. */
static const char LOGIN_STYLE[] =
    "body{font:15px/1.45 system-ui,sans-serif;background:#f4f5f7;color:#1d2430;margin:0}"
    "main{max-width:360px;margin:12vh auto;background:#fff;padding:28px 32px;border-radius:8px;"
    "box-shadow:0 1px 4px #0002}"
    "h1{font-size:20px;margin:0 0 18px}label{display:block;margin-bottom:6px;font-weight:600}"
    "input{width:100%;box-sizing:border-box;padding:8px;font:inherit;border:1px solid #b8bfcc;"
    "border-radius:4px}"
    "button{margin-top:14px;padding:8px 18px;font:inherit;border:0;border-radius:4px;"
    "background:#2456c7;color:#fff;cursor:pointer}"
    ".err{background:#fde8e8;color:#9b1c1c;padding:8px 10px;border-radius:4px}"
    ".hint{color:#5b6475;font-size:13px;margin-top:18px}";

/* ---- hashes for the Content-Security-Policy ------------------------------------ */

/* 'sha256-BASE64' of data, into out (>= 60 bytes). */
static void csp_hash(const char *data, size_t len, char *out, size_t size)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    unsigned char b64[48]; /* 32 bytes: 44 characters and a NUL */
    if (EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) != 1 || n != 32) {
        snprintf(out, size, "'none'");
        return;
    }
    EVP_EncodeBlock(b64, md, 32);
    snprintf(out, size, "'sha256-%s'", b64);
}

/* The hash of what lies between the first `open` and the next `close` in
 * html; 'none' when there is no such element. */
static void element_hash(const char *html, const char *open, const char *close, char *out,
                         size_t size)
{
    const char *s = strstr(html, open);
    const char *e = s ? strstr(s + strlen(open), close) : NULL;
    if (!e) {
        snprintf(out, size, "'none'");
        return;
    }
    s += strlen(open);
    csp_hash(s, (size_t)(e - s), out, size);
}

int admin_dash_init(admin *a, char *err, size_t errsize)
{
    if (RAND_bytes(a->session_key, sizeof a->session_key) != 1) {
        snprintf(err, errsize, "admin: cannot draw a random session key");
        return -EIO;
    }
    int rc = pthread_mutex_init(&a->sessions_lock, NULL);
    if (rc != 0) {
        snprintf(err, errsize, "admin: cannot create a lock: %s", strerror(rc));
        return -rc;
    }
    snprintf(a->cookie_name, sizeof a->cookie_name, "sp_session_%d", a->port);
    char script[72], style[72], login[72];
    element_hash(sp_dashboard_html, "<script>", "</script>", script, sizeof script);
    element_hash(sp_dashboard_html, "<style>", "</style>", style, sizeof style);
    csp_hash(LOGIN_STYLE, strlen(LOGIN_STYLE), login, sizeof login);
    snprintf(a->dash_csp, sizeof a->dash_csp,
             "default-src 'none'; script-src %s; style-src %s; connect-src 'self'; "
             "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
             script, style);
    snprintf(a->login_csp, sizeof a->login_csp,
             "default-src 'none'; style-src %s; img-src data:; form-action 'self'; "
             "frame-ancestors 'none'; base-uri 'none'",
             login);
    return 0;
}

void admin_dash_free(admin *a)
{
    pthread_mutex_destroy(&a->sessions_lock);
}

/* ---- the session cookie ---------------------------------------------------------- */

#define NONCE_HEX 32 /* 16 random bytes: every sign-in is its own session */

typedef struct session {
    long long issued;
    size_t principal; /* index in a->principals */
    char nonce[NONCE_HEX + 1];
    char mac[65]; /* hex */
} session;

static void to_hex(const unsigned char *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

/* s->mac = MAC of "v2.GEN.ISSUED.PRINCIPAL.NONCE". Caller holds
 * sessions_lock (the generation). */
static void session_sign(const admin *a, session *s)
{
    char msg[96];
    int len = snprintf(msg, sizeof msg, "v2.%u.%lld.%zu.%s", a->session_generation, s->issued,
                       s->principal, s->nonce);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (!HMAC(EVP_sha256(), a->session_key, ADMIN_DIGEST_LEN, (const unsigned char *)msg,
              (size_t)len, mac, &n) ||
        n != 32)
        memset(mac, 0, sizeof mac); /* cannot happen; then matches nothing we issued */
    to_hex(mac, 32, s->mac);
}

/* A new session of principal p in r's Set-Cookie; false when no random
 * nonce could be drawn. */
static bool set_session_cookie(admin *a, const admin_principal *p, admin_reply *r)
{
    session s = {.issued = (long long)time(NULL), .principal = (size_t)(p - a->principals)};
    assert(s.principal < a->nprincipals);
    unsigned char nonce[NONCE_HEX / 2];
    if (RAND_bytes(nonce, sizeof nonce) != 1)
        return false;
    to_hex(nonce, sizeof nonce, s.nonce);
    pthread_mutex_lock(&a->sessions_lock);
    session_sign(a, &s);
    pthread_mutex_unlock(&a->sessions_lock);
    snprintf(r->cookie, sizeof r->cookie,
             "%s=%lld.%zu.%s.%s; Path=/; Max-Age=%d; HttpOnly; SameSite=Strict",
             a->cookie_name, s.issued, s.principal, s.nonce, s.mac, ADMIN_SESSION_TTL_S);
    return true;
}

static bool revoked_locked(const admin *a, const char *mac)
{
    for (size_t i = 0; i < a->nrevoked; i++)
        if (strcmp(a->revoked[i].mac, mac) == 0)
            return true;
    return false;
}

static bool is_hex(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)p[i]))
            return false;
    return true;
}

/* "ISSUED.PRINCIPAL.NONCE.MAC" into *s: the shape only. */
static bool session_parse(const char *v, session *s)
{
    if (!v || !isdigit((unsigned char)*v))
        return false;
    char *end = NULL;
    errno = 0;
    s->issued = strtoll(v, &end, 10);
    if (errno != 0 || *end != '.' || !isdigit((unsigned char)end[1]))
        return false;
    unsigned long p = strtoul(end + 1, &end, 10);
    if (errno != 0 || p >= ADMIN_MAX_PRINCIPALS)
        return false;
    s->principal = p;
    if (*end != '.' || strlen(end + 1) != NONCE_HEX + 1 + 64 ||
        end[1 + NONCE_HEX] != '.' || !is_hex(end + 1, NONCE_HEX))
        return false;
    memcpy(s->nonce, end + 1, NONCE_HEX);
    s->nonce[NONCE_HEX] = '\0';
    memcpy(s->mac, end + 2 + NONCE_HEX, 65);
    return true;
}

/* The request's cookie when it is a live session: signed by us in this
 * generation, unexpired, not logged out. */
static bool session_of(admin *a, struct MHD_Connection *conn, session *s)
{
    if (!a->has_token ||
        !session_parse(MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, a->cookie_name), s) ||
        s->principal >= a->nprincipals)
        return false;
    long long now = (long long)time(NULL);
    if (s->issued > now + 60 || now - s->issued > ADMIN_SESSION_TTL_S)
        return false;
    session good = *s;
    pthread_mutex_lock(&a->sessions_lock);
    session_sign(a, &good);
    bool ok = CRYPTO_memcmp(good.mac, s->mac, 64) == 0 && !revoked_locked(a, good.mac);
    pthread_mutex_unlock(&a->sessions_lock);
    return ok;
}

const admin_principal *admin_session_principal(admin *a, struct MHD_Connection *conn)
{
    session s;
    return session_of(a, conn, &s) ? &a->principals[s.principal] : NULL;
}

/* Logout: the session stops working here, not only in the browser that
 * drops its cookie (a copy of the cookie would work on for 12 hours). */
static void session_revoke(admin *a, const session *s)
{
    long long now = (long long)time(NULL);
    pthread_mutex_lock(&a->sessions_lock);
    size_t kept = 0;
    for (size_t i = 0; i < a->nrevoked; i++) /* forget the expired */
        if (now - a->revoked[i].issued <= ADMIN_SESSION_TTL_S)
            a->revoked[kept++] = a->revoked[i];
    a->nrevoked = kept;
    if (a->nrevoked == ADMIN_REVOKED_MAX) {
        a->session_generation++; /* every session ends: the list is moot */
        a->nrevoked = 0;
        log_event(LOG_WARN, "admin_sessions_ended", "why",
                  "too many logged-out sessions to remember: every session must sign in again",
                  NULL);
    } else {
        admin_revoked *r = &a->revoked[a->nrevoked++];
        r->issued = s->issued;
        memcpy(r->mac, s->mac, sizeof r->mac);
    }
    pthread_mutex_unlock(&a->sessions_lock);
}

/* ---- browser checks -------------------------------------------------------------- */

static const char *header(const admin_req *rq, const char *name)
{
    return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, name);
}

/* Host: 127.x.x.x, [::1] or localhost, with any port. */
static bool host_is_loopback(const char *host)
{
    if (!host)
        return false;
    char h[256];
    size_t n;
    if (*host == '[') {
        n = strcspn(host + 1, "]");
        snprintf(h, sizeof h, "%.*s", (int)n, host + 1);
        return strcmp(h, "::1") == 0;
    }
    n = strcspn(host, ":");
    snprintf(h, sizeof h, "%.*s", (int)n, host);
    if (strcasecmp(h, "localhost") == 0 || strcasecmp(h, "localhost.") == 0)
        return true;
    struct in_addr in;
    return inet_pton(AF_INET, h, &in) == 1 && (ntohl(in.s_addr) >> 24) == 127;
}

/* Origin "scheme://authority" names the same host:port as the Host header. */
static bool same_origin(const char *origin, const char *host)
{
    const char *auth = origin ? strstr(origin, "://") : NULL;
    return auth && host && strcasecmp(auth + 3, host) == 0;
}

static bool refuse(const admin_req *rq, const char *why, const char *msg, admin_reply *r)
{
    log_event(LOG_WARN, "admin_browser_refused", "who", rq->who, "method", rq->method, "path",
              rq->url, "why", why, NULL);
    *r = admin_error_reply(403, "%s", msg);
    return true;
}

bool admin_browser_refused(const admin *a, const admin_req *rq, bool form, admin_reply *r)
{
    if (rq->auth == ADMIN_AUTH_BEARER)
        return false; /* whoever holds the token is not a confused browser */
    const char *host = header(rq, MHD_HTTP_HEADER_HOST);
    /* Every request, not only those with browser headers: a same-origin GET
     * from a rebound page carries neither Origin nor Sec-Fetch-Site. */
    if (!a->has_token && !host_is_loopback(host))
        return refuse(rq, "host not loopback",
                      "without an admin token, the admin API answers only requests for a "
                      "loopback name (Host: 127.0.0.1, [::1], localhost): DNS rebinding "
                      "protection",
                      r);
    const char *origin = header(rq, "Origin"), *site = header(rq, "Sec-Fetch-Site");
    if (!origin && !site && rq->auth != ADMIN_AUTH_COOKIE)
        return false; /* curl, ctl, scripts */
    if (strcmp(rq->method, "GET") == 0 || strcmp(rq->method, "HEAD") == 0)
        return false;
    if ((origin && !same_origin(origin, host)) ||
        (site && strcmp(site, "same-origin") != 0 && strcmp(site, "none") != 0))
        return refuse(rq, "cross-origin", "cross-origin request refused", r);
    const char *dash = header(rq, ADMIN_DASH_HEADER);
    if (!form && !(dash && strcmp(dash, "1") == 0))
        return refuse(rq, "no dashboard header",
                      "a browser request that changes something must carry the header "
                      ADMIN_DASH_HEADER ": 1 (CSRF protection)",
                      r);
    return false;
}

/* ---- pages --------------------------------------------------------------------------- */

static admin_reply html(unsigned status, char *text, size_t len, bool persistent, const char *csp)
{
    return (admin_reply){.status = status, .text = text, .len = len, .persistent = persistent,
                         .ctype = "text/html; charset=utf-8", .csp = csp};
}

/* The login form, with one of our own fixed messages (never request data). */
static admin_reply login_page(const admin *a, unsigned status, const char *error)
{
    char *page = NULL;
    int n = asprintf(
        &page,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
        "<link rel=\"icon\" href=\"data:,\"><title>shadowproxy: sign in</title>"
        "<style>%s</style></head>\n<body><main><h1>shadowproxy</h1>%s%s%s"
        "<form method=\"post\" action=\"/login\"><label for=\"token\">Admin token</label>"
        "<input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"current-password\" "
        "required autofocus><button type=\"submit\">Sign in</button></form>"
        "<p class=\"hint\">An admin API token (admin.token_file, admin.token_env or admin.tokens). The "
        "browser then holds a session cookie for %d hours, not the token.</p>"
        "</main></body></html>\n",
        LOGIN_STYLE, error ? "<p class=\"err\" role=\"alert\">" : "", error ? error : "",
        error ? "</p>" : "", ADMIN_SESSION_TTL_S / 3600);
    if (n < 0)
        return admin_error_reply(500, "out of memory");
    return html(status, page, (size_t)n, false, a->login_csp);
}

static admin_reply see_other(void)
{
    return (admin_reply){.status = 303, .text = strdup("see /\n"), .len = 6,
                         .ctype = "text/plain; charset=utf-8", .location = "/"};
}

/* The right token: a session and back to the page. Never logs the token. */
static admin_reply exchange(admin *a, const admin_req *rq, const char *token,
                            const char *via)
{
    if (!a->has_token)
        return see_other(); /* nothing to sign in to */
    const admin_principal *p = admin_token_principal(a, token);
    if (!p) {
        log_event(LOG_WARN, "admin_login_refused", "who", rq->who, "via", via, NULL);
        return login_page(a, 401, "That is not the admin token.");
    }
    admin_reply r = see_other();
    if (!set_session_cookie(a, p, &r)) {
        free(r.text);
        return admin_error_reply(500, "cannot draw a random session id");
    }
    log_event(LOG_INFO, "admin_login", "who", rq->who, "principal", p->name, "role",
              config_role_name(p->role), "via", via, NULL);
    return r;
}

admin_reply admin_h_page(admin *a, admin_req *rq)
{
    const char *token = MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, "token");
    if (token)
        return exchange(a, rq, token, "query");
    if (rq->auth == ADMIN_AUTH_REFUSED)
        return login_page(a, 200, NULL);
    return html(200, (char *)(uintptr_t)sp_dashboard_html,
                (size_t)((uintptr_t)sp_dashboard_html_end - (uintptr_t)sp_dashboard_html), true,
                a->dash_csp);
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* The value of `key` in an application/x-www-form-urlencoded body,
 * decoded into out. False when absent or too long. */
static bool form_value(const char *body, size_t len, const char *key, char *out, size_t size)
{
    size_t klen = strlen(key);
    for (size_t i = 0; i < len;) {
        size_t end = i;
        while (end < len && body[end] != '&')
            end++;
        if (end - i > klen && memcmp(body + i, key, klen) == 0 && body[i + klen] == '=') {
            size_t o = 0;
            for (size_t j = i + klen + 1; j < end; j++) {
                char c = body[j];
                if (c == '+')
                    c = ' ';
                else if (c == '%' && j + 2 < end && hexval(body[j + 1]) >= 0 &&
                         hexval(body[j + 2]) >= 0) {
                    c = (char)(hexval(body[j + 1]) * 16 + hexval(body[j + 2]));
                    j += 2;
                }
                if (o + 1 >= size)
                    return false;
                out[o++] = c;
            }
            out[o] = '\0';
            return true;
        }
        i = end + 1;
    }
    return false;
}

admin_reply admin_h_login(admin *a, admin_req *rq)
{
    char *token = malloc(TOKEN_MAX);
    if (!token)
        return admin_error_reply(500, "out of memory");
    admin_reply r;
    if (rq->body && form_value(rq->body, rq->len, "token", token, TOKEN_MAX))
        r = exchange(a, rq, token, "form");
    else
        r = a->has_token ? login_page(a, 400, "Type the admin token.") : see_other();
    OPENSSL_cleanse(token, TOKEN_MAX);
    free(token);
    return r;
}

admin_reply admin_h_logout(admin *a, admin_req *rq)
{
    session s;
    if (session_of(a, rq->conn, &s)) {
        session_revoke(a, &s);
        log_event(LOG_INFO, "admin_logout", "who", rq->who, NULL);
    }
    admin_reply r = see_other();
    snprintf(r.cookie, sizeof r.cookie, "%s=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict",
             a->cookie_name);
    return r;
}

/* Browsers ask for it whatever the page says: an empty answer, rather than
 * a 401 and a warning in the log for each visit. */
admin_reply admin_h_favicon(admin *a, admin_req *rq)
{
    (void)a, (void)rq;
    return (admin_reply){.status = 204, .text = strdup(""), .len = 0, .ctype = "image/x-icon"};
}
