/* admin_int: what the admin API's files share (admin.c: the listener,
 * auth and routing; admin_api.c: the JSON endpoints; admin_dash.c: the
 * dashboard page, login and session cookie). Not for other modules. */
#ifndef SP_ADMIN_INT_H
#define SP_ADMIN_INT_H

#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "admin/admin.h"

#define ADMIN_DIGEST_LEN 32
#define ADMIN_SESSION_TTL_S (12 * 3600) /* a dashboard login lasts this long */
#define ADMIN_DASH_HEADER "X-Shadowproxy-Dashboard" /* CSRF: a cross-site form cannot set it */
/* Sessions logged out before they expire, remembered until they do. Each
 * needs a valid session to add, so only signed-in users fill it; when it
 * is full of unexpired ones, the session generation moves on instead (every
 * session ends: fail closed). */
#define ADMIN_REVOKED_MAX 512

typedef struct admin_revoked {
    long long issued; /* forgotten once issued + ADMIN_SESSION_TTL_S has passed */
    char mac[65];     /* the cookie's MAC, hex */
} admin_revoked;

/* One configured token: who presents it, and what it may do. */
typedef struct admin_principal {
    char name[CONFIG_TOKEN_NAME_MAX + 1];
    config_role role;
    unsigned char digest[ADMIN_DIGEST_LEN]; /* SHA-256 of the token; the token itself is not kept */
} admin_principal;
#define ADMIN_MAX_PRINCIPALS (CONFIG_MAX_TOKENS + 1) /* admin.tokens and the single token */

typedef struct admin_door admin_door;

struct admin {
    control *c;
    const sp_config *cfg;
    struct MHD_Daemon *mhd;
    admin_door *door;
    int port;
    bool has_token;                               /* nprincipals > 0 */
    admin_principal principals[ADMIN_MAX_PRINCIPALS];
    size_t nprincipals;                           /* fixed after admin_auth_init */
    unsigned char session_key[ADMIN_DIGEST_LEN];  /* random, drawn at start: signs cookies */
    char cookie_name[32];                         /* per admin port: two proxies on one host */
    pthread_mutex_t sessions_lock;                /* guards the three below (connection threads) */
    unsigned session_generation;                  /* in every MAC: moving it ends every session */
    admin_revoked revoked[ADMIN_REVOKED_MAX];     /* logged-out sessions, unordered */
    size_t nrevoked;
    char dash_csp[400];                           /* Content-Security-Policy of the pages */
    char login_csp[240];
};

/* How a request is authorized. */
typedef enum admin_auth {
    ADMIN_AUTH_REFUSED = 0, /* a token is configured and none was presented */
    ADMIN_AUTH_OPEN,        /* no token configured (loopback only) */
    ADMIN_AUTH_BEARER,      /* Authorization: Bearer TOKEN */
    ADMIN_AUTH_COOKIE,      /* the dashboard's session cookie */
} admin_auth;

/* One request: its client address and its body, bounded. */
typedef struct admin_req {
    char addr[INET6_ADDRSTRLEN + 16];           /* the client's "ip:port" */
    char who[CONFIG_TOKEN_NAME_MAX + sizeof "token: from " + INET6_ADDRSTRLEN + 16];
                                                /* for logs and control_*: "token:NAME from
                                                 * ADDR", or ADDR without a token */
    const admin_principal *principal;           /* NULL: no token configured, or refused */
    uint64_t head_ns;                           /* clock_now_ns() when the head was in */
    char *body;
    size_t len;
    bool too_large;
    bool answered; /* a response was queued on the first call */
    admin_auth auth;
    struct MHD_Connection *conn; /* set for the handler's call */
    const char *url;             /* decoded path, no query */
    const char *method;
} admin_req;

/* What a handler produces. */
typedef struct admin_reply {
    unsigned status;
    json_t *json;         /* owned; or */
    char *text;           /* malloc'd (or static with `persistent`), with len */
    size_t len;
    bool persistent;      /* text is static: neither copied nor freed */
    const char *ctype;    /* for text */
    const char *allow;    /* for 405 */
    const char *csp;      /* HTML: Content-Security-Policy, with framing and referrer headers */
    const char *location; /* 303 */
    char cookie[200];     /* Set-Cookie, "" for none */
} admin_reply;

typedef admin_reply (*admin_handler)(admin *a, admin_req *rq);

/* admin_api.c */
admin_reply admin_json_reply(unsigned status, json_t *j);
admin_reply admin_error_reply(unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The request body as a JSON object whose keys are all in `allowed`
 * (NULL-terminated); NULL with *r set to a 400 otherwise. */
json_t *admin_body_object(const admin_req *rq, const char *const *allowed, admin_reply *r);
/* The body's optional "route": a non-empty string, or absent/null
 * (global). false with *r set to a 400. */
bool admin_body_route(json_t *o, const char **route, admin_reply *r);

admin_reply admin_h_healthz(admin *a, admin_req *rq);
admin_reply admin_h_readyz(admin *a, admin_req *rq);
admin_reply admin_h_state(admin *a, admin_req *rq);
admin_reply admin_h_metrics(admin *a, admin_req *rq);
admin_reply admin_h_authority(admin *a, admin_req *rq);
admin_reply admin_h_shadow(admin *a, admin_req *rq);
admin_reply admin_h_writes(admin *a, admin_req *rq);
admin_reply admin_h_faults(admin *a, admin_req *rq); /* POST /faults (admin_faults.c) */
admin_reply admin_h_reload(admin *a, admin_req *rq);
admin_reply admin_h_rollback(admin *a, admin_req *rq); /* POST /rollback */
admin_reply admin_h_clear(admin *a, admin_req *rq);    /* POST /clear */
admin_reply admin_h_history(admin *a, admin_req *rq);  /* GET /history?limit=N */
admin_reply admin_h_log_level(admin *a, admin_req *rq);
admin_reply admin_h_live(admin *a, admin_req *rq);   /* GET /api/live */
admin_reply admin_h_readiness(admin *a, admin_req *rq); /* GET /api/readiness */
admin_reply admin_h_recent(admin *a, admin_req *rq); /* GET /api/recent[/SEQ] */

/* admin_records.c: GET /api/history?before=&limit=&route=&endpoint=&field=
 * &verdict=&since=&until=&id=&log= (summaries, newest first, read back
 * from the diff log on disk), GET /api/history/OFFSET (one whole record). */
admin_reply admin_h_records(admin *a, admin_req *rq);

/* admin_dash.c */
/* Session key, cookie name, the sessions' lock and the pages' CSP. 0 or
 * -errno, err set; on success admin_dash_free must be called. */
int admin_dash_init(admin *a, char *err, size_t errsize);
void admin_dash_free(admin *a);
/* The principal of the request's session cookie when it is one we issued,
 * unexpired and not logged out; else NULL. Any thread. */
const admin_principal *admin_session_principal(admin *a, struct MHD_Connection *conn);

/* admin_door.c: the thread that accepts on lfd (taken over on success)
 * and hands each connection to a->mhd once its head is whole; answers
 * /healthz itself. 0 or -errno with err set. */
int admin_door_start(admin *a, int lfd, admin_door **out, char *err, size_t errsize);
/* Joins the thread, closes the listener and the connections still pending.
 * NULL-safe. Before MHD_stop_daemon. */
void admin_door_stop(admin_door *d);

/* admin_auth.c */
void admin_set_err(char *err, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Reads every configured token (the single one, then admin.tokens) into
 * a->principals; sets has_token. 0, or -errno with a one-line message in
 * err (naming the key, never the token). admin_auth_free wipes them. */
int admin_auth_init(admin *a, char *err, size_t errsize);
void admin_auth_free(admin *a);
/* The principal whose token `cand` is, or NULL. Constant time. */
const admin_principal *admin_token_principal(const admin *a, const char *cand);
/* How the request is authorized, and by whom (*who NULL when open or
 * refused). Any thread. */
admin_auth admin_auth_of(admin *a, struct MHD_Connection *conn, const admin_principal **who);
/* rq->who from rq->addr and rq->principal. */
void admin_set_who(admin_req *rq);
/* Browser safety for requests not carrying the token itself: without a
 * token, every request's Host must be a loopback name (DNS rebinding:
 * a rebound page's same-origin GET has no browser headers); a browser's
 * state-changing request must come from the page's own origin and, unless
 * `form` (the login form), carry ADMIN_DASH_HEADER: 1 (CSRF). True with
 * *r set to a 403 when refused. */
bool admin_browser_refused(const admin *a, const admin_req *rq, bool form, admin_reply *r);
admin_reply admin_h_page(admin *a, admin_req *rq);   /* GET / (and ?token=) */
admin_reply admin_h_login(admin *a, admin_req *rq);  /* POST /login */
admin_reply admin_h_logout(admin *a, admin_req *rq); /* POST /logout */
admin_reply admin_h_favicon(admin *a, admin_req *rq); /* GET /favicon.ico: 204 */

/* dashboard_asset.c: proxy/admin/dashboard.html, embedded by the assembler
 * (.incbin), NUL-terminated; its length is end - start. */
extern const char sp_dashboard_html[];
extern const char sp_dashboard_html_end[];

#endif
