/* routes: the generic endpoints (/echo, /bytes/N, /status/CODE, /health)
 * and the hand-off to the ERP API. Used when no directive decides the body. */
#include "stub.h"

#include <string.h>

#define EXACT(p, n, lit) ((n) == sizeof(lit) - 1 && memcmp(p, lit, n) == 0)
#define PREFIX(p, n, lit)                                                    \
    ((n) >= sizeof(lit) - 1 && memcmp(p, lit, sizeof(lit) - 1) == 0)

/* /echo: everything the stub saw, as JSON. */
static void route_echo(const struct stub_cfg *cfg, const struct stub_req *r,
                       struct stub_reply *rp)
{
    struct jw j;
    rp->ctype = "application/json";
    jw_init(&j, &rp->body);
    jw_open(&j, '{');
    jw_key(&j, "stub");
    jw_str(&j, cfg->name);
    jw_key(&j, "method");
    jw_strn(&j, r->method, r->method_len);
    jw_key(&j, "target");
    jw_strn(&j, r->target, r->target_len);
    jw_key(&j, "version");
    jw_str(&j, r->version);
    jw_key(&j, "headers");
    jw_open(&j, '[');
    for (size_t i = 0; i < r->nh; i++) {
        jw_open(&j, '[');
        jw_strn(&j, r->h[i].name, r->h[i].name_len);
        jw_strn(&j, r->h[i].value, r->h[i].value_len);
        jw_close(&j, ']');
    }
    jw_close(&j, ']');
    jw_key(&j, "body_len");
    jw_int(&j, (long long)r->body_len);
    jw_key(&j, "body_sha256");
    jw_str(&j, r->body_hex);
    jw_key(&j, "chunked");
    jw_raw(&j, r->chunked ? "true" : "false");
    jw_key(&j, "body");
    size_t n = r->body_kept < STUB_ECHO_BODY ? r->body_kept : STUB_ECHO_BODY;
    /* A body longer than what is shown may be cut inside a character. */
    bool cut = r->body_len > n;
    if (utf8_valid(r->body, n, cut)) {
        while (!utf8_valid(r->body, n, false))
            n--; /* drop a partial character at the end (1-3 bytes) */
        jw_strn(&j, r->body, n);
    } else {
        jw_raw(&j, "null");
    }
    jw_close(&j, '}');
    sb_printf(&rp->hdrs, "X-Echo-Method: %.*s\r\n", (int)r->method_len,
              r->method);
}

static void route_status(const char *s, size_t n, struct stub_reply *rp)
{
    uint64_t code;
    if (!parse_u64(s, n, 599, &code) || code < 200) {
        reply_error(rp, 400, "status must be 200-599");
        return;
    }
    rp->status = (int)code;
    rp->ctype = "application/json";
    sb_printf(&rp->body, "{\"status\":%d}", rp->status);
}

static void route_bytes(const char *s, size_t n, struct stub_reply *rp)
{
    uint64_t len;
    if (!parse_u64(s, n, 1ull << 40, &len)) {
        reply_error(rp, 400, "size must be a number up to 2^40");
        return;
    }
    rp->ctype = "application/octet-stream";
    rp->pattern = true;
    rp->pattern_len = len;
}

/* Strips scheme://authority from an absolute-form target. */
static void split_target(const struct stub_req *r, const char **path,
                         size_t *path_len, const char **query,
                         size_t *query_len)
{
    const char *t = r->target, *end = t + r->target_len;
    const char *scheme = memmem(t, r->target_len, "://", 3);
    if (t[0] != '/' && scheme) {
        const char *slash = memchr(scheme + 3, '/', (size_t)(end - scheme - 3));
        t = slash ? slash : "/";
        if (!slash)
            end = t + 1;
    }
    const char *q = memchr(t, '?', (size_t)(end - t));
    const char *hash = memchr(t, '#', (size_t)(end - t));
    const char *pend = q ? q : hash ? hash : end;
    *path = t;
    *path_len = (size_t)(pend - t);
    *query = q ? q + 1 : end;
    *query_len = q ? (size_t)((hash && hash > q ? hash : end) - q - 1) : 0;
}

void routes_dispatch(const struct stub_cfg *cfg, const struct stub_req *r,
                     struct stub_reply *rp)
{
    const char *p, *q;
    size_t pn, qn;
    split_target(r, &p, &pn, &q, &qn);
    if (PREFIX(p, pn, "/echo")) {
        route_echo(cfg, r, rp);
    } else if (PREFIX(p, pn, "/bytes/")) {
        route_bytes(p + 7, pn - 7, rp);
    } else if (PREFIX(p, pn, "/status/")) {
        route_status(p + 8, pn - 8, rp);
    } else if (EXACT(p, pn, "/health")) {
        sb_puts(&rp->body, "ok");
    } else if (genids_route(cfg, r, p, pn, rp)) {
        /* answered by the generated-ids ERP */
    } else if (cfg->profile != PROFILE_PLAIN &&
               (PREFIX(p, pn, "/api/") || PREFIX(p, pn, "/v2/")) &&
               erp_route(cfg, r, p, pn, q, qn, rp)) {
        /* answered by the ERP */
    } else {
        reply_error(rp, 404, "not found");
    }
}
