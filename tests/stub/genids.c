/* genids: --generated-ids PREFIX, an ERP that makes up its own order ids
 * (issue 17 part 1, correlated ids). POST /api/orders answers 201 with
 * "erp_order_id": "PREFIX-nnnnnn" (a counter from 1) and a Location
 * /api/orders/PREFIX-nnnnnn; GET /api/orders/ID/status answers that
 * order's status and the digest of the body that created it, and 404 for
 * an id this process did not generate. So legacy (SO) and new (NX) name
 * one order differently, and a wrong pairing reads another order. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "stub.h"

#define GENIDS_MAX 100000

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned long count;
static char digests[GENIDS_MAX][17]; /* [n - 1]: order n's body digest */

static void created(const struct stub_cfg *cfg, const struct stub_req *r, struct jw *j,
                    struct stub_reply *rp)
{
    pthread_mutex_lock(&mu);
    unsigned long n = count < GENIDS_MAX ? ++count : 0;
    if (n)
        snprintf(digests[n - 1], sizeof digests[n - 1], "%.16s", r->body_hex);
    pthread_mutex_unlock(&mu);
    if (!n) {
        reply_error(rp, 507, "generated-ids: too many orders");
        return;
    }
    char id[64];
    snprintf(id, sizeof id, "%s-%06lu", cfg->generated_ids, n);
    rp->status = 201;
    sb_printf(&rp->hdrs, "Location: /api/orders/%s\r\n", id);
    jw_open(j, '{');
    jw_key(j, "erp_order_id");
    jw_str(j, id);
    jw_key(j, "status");
    jw_str(j, "pending");
    jw_close(j, '}');
}

/* The order number of id when this process generated it, else 0. */
static unsigned long ours(const struct stub_cfg *cfg, const char *id, size_t n)
{
    size_t pl = strlen(cfg->generated_ids);
    if (n != pl + 7 || memcmp(id, cfg->generated_ids, pl) != 0 || id[pl] != '-')
        return 0;
    unsigned long v = 0;
    for (size_t i = pl + 1; i < n; i++) {
        if (id[i] < '0' || id[i] > '9')
            return 0;
        v = v * 10 + (unsigned long)(id[i] - '0');
    }
    pthread_mutex_lock(&mu);
    bool known = v >= 1 && v <= count;
    pthread_mutex_unlock(&mu);
    return known ? v : 0;
}

bool genids_route(const struct stub_cfg *cfg, const struct stub_req *r, const char *path,
                  size_t path_len, struct stub_reply *rp)
{
    static const char coll[] = "/api/orders", tail[] = "/status";
    const size_t cl = sizeof coll - 1, tl = sizeof tail - 1;
    struct jw j;
    if (!cfg->generated_ids || path_len < cl || memcmp(path, coll, cl) != 0)
        return false;
    bool post = r->method_len == 4 && memcmp(r->method, "POST", 4) == 0;
    if (path_len == cl && post) {
        jw_init(&j, &rp->body);
        rp->ctype = "application/json";
        created(cfg, r, &j, rp);
        return true;
    }
    if (path_len <= cl + 1 + tl || path[cl] != '/' ||
        memcmp(path + path_len - tl, tail, tl) != 0 || post)
        return false;
    const char *id = path + cl + 1;
    size_t idn = path_len - cl - 1 - tl;
    if (memchr(id, '/', idn))
        return false;
    unsigned long v = ours(cfg, id, idn);
    if (!v) {
        reply_error(rp, 404, "no such order");
        return true;
    }
    char digest[17];
    pthread_mutex_lock(&mu);
    memcpy(digest, digests[v - 1], sizeof digest);
    pthread_mutex_unlock(&mu);
    jw_init(&j, &rp->body);
    rp->ctype = "application/json";
    jw_open(&j, '{');
    jw_key(&j, "erp_order_id");
    jw_strn(&j, id, idn);
    jw_key(&j, "status");
    jw_str(&j, "pending");
    jw_key(&j, "request_digest");
    jw_str(&j, digest);
    jw_close(&j, '}');
    return true;
}
