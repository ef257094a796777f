/* exchange_request: what each leg sends upstream. The client's end-to-end
 * headers in order, minus hop-by-hop ones (and minus X-Forwarded-*,
 * Forwarded, X-Real-IP unless the peer is a trusted proxy), plus
 * X-Forwarded-For/-Proto, Via and one X-Request-Id; each leg's own W3C
 * traceparent; the route's new-side rewrite (path, headers, Host).
 * Part of the exchange module (exchange.h). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/cidr.h"
#include "data/exchange.h"


/* The upstream request's header lines are gathered NUL-separated in a
 * buffer, then laid out with their curl_slist nodes in one allocation:
 * curl only reads the list, and a request costs one malloc, not two a line. */
typedef struct line_buf {
    char *p;
    size_t len, cap, n;
    char stack[4096];
} line_buf;

static int line_put(line_buf *b, const char *s, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap * 2;
        while (cap < b->len + n)
            cap *= 2;
        char *q = b->p == b->stack ? malloc(cap) : realloc(b->p, cap);
        if (!q)
            return -ENOMEM;
        if (b->p == b->stack)
            memcpy(q, b->stack, b->len);
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    return 0;
}

/* "Name: value", or curl's "Name;" for an empty value ("Name:" would tell
 * curl to remove the header). */
static int add_line(line_buf *b, const char *name, const char *value)
{
    size_t vl = strlen(value);
    int rc = line_put(b, name, strlen(name));
    if (rc == 0 && vl)
        rc = line_put(b, ": ", 2);
    if (rc == 0)
        rc = line_put(b, vl ? value : ";", vl ? vl + 1 : 2);
    b->n++;
    return rc;
}

static bool header_is(const hdr_list *l, size_t i, const char *name)
{
    return strcasecmp(hdr_name(l, i), name) == 0;
}

static bool name_listed(const char *name, char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(name, names[i]) == 0)
            return true;
    return false;
}

/* Is this client header replaced or removed on the new side by the route? */
static bool rewritten(const route *rt, const char *name)
{
    if (!rt)
        return false;
    if (rt->shadow_host && strcasecmp(name, "Host") == 0)
        return true;
    for (size_t i = 0; i < rt->nset_headers; i++)
        if (strcasecmp(name, rt->set_headers[i].name) == 0)
            return true;
    return name_listed(name, rt->remove_headers, rt->nremove_headers);
}

/* Does name equal want (with `prefix`, start with it), ASCII case aside
 * and '_' read as '-'? PHP and CGI upstreams see X_Forwarded_For and
 * X-Forwarded-For as one variable (HTTP_X_FORWARDED_FOR). */
static bool forwarding_name_is(const char *name, const char *want, bool prefix)
{
    size_t i = 0;
    for (; want[i]; i++) {
        char c = name[i] == '_' ? '-' : name[i];
        if (c == '\0' || tolower((unsigned char)c) != tolower((unsigned char)want[i]))
            return false;
    }
    return prefix || name[i] == '\0';
}

/* Headers that say who the client is or how it reached the proxy. A
 * client could claim any address or scheme with them, so they pass only
 * from a peer in trusted_proxies (a load balancer that sets them). */
static bool is_forwarding(const char *name)
{
    int c = tolower((unsigned char)name[0]);
    if (c != 'x' && c != 'f') /* most names part here, before three compares */
        return false;
    return forwarding_name_is(name, "X-Forwarded-", true) ||
           forwarding_name_is(name, "Forwarded", false) ||
           forwarding_name_is(name, "X-Real-IP", false);
}

/* X-Forwarded-For: a trusted peer's values (every such field, in order),
 * then the peer's address. Built in place, whole: however long the
 * client's part (bounded by limits.max_header_bytes), the peer address is
 * never cut away. */
static int add_forwarded_for(line_buf *b, const hdr_list *h, const char *peer, bool trusted)
{
    int rc = line_put(b, "X-Forwarded-For: ", 17);
    for (size_t i = 0; trusted && i < h->n && rc == 0; i++) {
        const char *v = hdr_value(h, i);
        if (header_is(h, i, "X-Forwarded-For") && *v && !hdr_is_hop_by_hop(h, hdr_name(h, i))) {
            rc = line_put(b, v, strlen(v));
            if (rc == 0)
                rc = line_put(b, ", ", 2);
        }
    }
    if (rc == 0)
        rc = line_put(b, peer, strlen(peer) + 1);
    b->n++;
    return rc;
}

/* The end-to-end request headers in order, plus the proxy's own; with `rt`,
 * the route's new-side rewrites (set, remove, Host) applied. `trusted`: the
 * peer is a trusted proxy (its forwarding headers are kept). */
static int gather_lines(exchange *ex, line_buf *b, const route *rt, bool trusted)
{
    const hdr_list *h = &ex->req_headers;
    bool have_proto = false, have_accept = false, have_ctype = false, have_id = false;
    int rc = add_line(b, "X-Shadow-Request", "1"); /* the shadow leg's own head */
    if (rc == 0 && rt && rt->shadow_host)
        rc = add_line(b, "Host", rt->shadow_host);
    for (size_t i = 0; i < h->n && rc == 0; i++) {
        const char *name = hdr_name(h, i);
        if (hdr_is_hop_by_hop(h, name) || header_is(h, i, "Content-Length") ||
            header_is(h, i, "Expect") || rewritten(rt, name) ||
            (header_is(h, i, "Host") && !ex->cfg->preserve_host) ||
            header_is(h, i, "X-Forwarded-For") || (!trusted && is_forwarding(name)) ||
            header_is(h, i, "traceparent") || /* each leg sends its own */
            (ex->trace_dropped && header_is(h, i, "tracestate")))
            continue;
        have_proto |= header_is(h, i, "X-Forwarded-Proto");
        have_accept |= header_is(h, i, "Accept");
        have_ctype |= header_is(h, i, "Content-Type");
        if (header_is(h, i, "X-Request-Id")) {
            /* one id on both legs: the client's, or ours if it was unusable */
            have_id = true;
            rc = add_line(b, name, exchange_upstream_id(ex));
            continue;
        }
        rc = add_line(b, name, hdr_value(h, i));
    }
    if (rc == 0)
        rc = add_forwarded_for(b, h, ex->client_ip, trusted);
    if (rc == 0 && !have_proto) /* the scheme the client used to reach us */
        rc = add_line(b, "X-Forwarded-Proto", ex->cfg->listen_tls.cert_file ? "https" : "http");
    if (rc == 0)
        rc = add_line(b, "Via", "1.1 shadowproxy");
    if (rc == 0 && !have_id)
        rc = add_line(b, "X-Request-Id", exchange_upstream_id(ex));
    for (size_t i = 0; rt && rc == 0 && i < rt->nset_headers; i++)
        rc = add_line(b, rt->set_headers[i].name, rt->set_headers[i].value);
    /* Stop curl from adding headers the client did not send. */
    if (rc == 0)
        rc = line_put(b, "Expect:", 8), b->n++;
    if (rc == 0 && !have_accept)
        rc = line_put(b, "Accept:", 8), b->n++;
    if (rc == 0 && !have_ctype)
        rc = line_put(b, "Content-Type:", 14), b->n++;
    return rc;
}

static struct curl_slist *build_request_headers(exchange *ex, const route *rt, bool trusted)
{
    line_buf b = {.cap = sizeof b.stack};
    b.p = b.stack;
    int rc = gather_lines(ex, &b, rt, trusted);
    struct curl_slist *nodes = NULL;
    if (rc == 0)
        nodes = malloc(b.n * sizeof *nodes + b.len);
    if (nodes) {
        char *text = (char *)(nodes + b.n);
        memcpy(text, b.p, b.len);
        for (size_t i = 0; i < b.n; i++) {
            nodes[i].data = text;
            nodes[i].next = i + 1 < b.n ? &nodes[i + 1] : NULL;
            text += strlen(text) + 1;
        }
    }
    if (b.p != b.stack)
        free(b.p);
    return nodes;
}

static bool has_header_rewrite(const route *rt)
{
    return rt->nset_headers || rt->nremove_headers || rt->shadow_host;
}

/* Headers and target per side. The route's rewrite applies to the new
 * side whichever role it has, so flipping authority keeps it working. */
/* Does the peer's forwarding information count? Only looked up when the
 * request carries some (most do not) and a trusted range is configured. */
static bool peer_trusted(const exchange *ex)
{
    const hdr_list *h = &ex->req_headers;
    if (ex->cfg->ntrusted_proxies == 0)
        return false;
    for (size_t i = 0; i < h->n; i++)
        if (is_forwarding(hdr_name(h, i)))
            return cidr_list_contains(ex->cfg->trusted_proxies, ex->cfg->ntrusted_proxies,
                                      ex->client_ip);
    return false;
}

/* A span id for one leg: random, not 0, and distinct from the caller's
 * span and the other leg's (a backend keys spans by id). */
static uint64_t new_span(exchange *ex, const char *other_leg)
{
    for (;;) {
        uint64_t s = reqid_random(&ex->env->ids);
        char hex[17];
        tracectx_span_hex(s, hex, sizeof hex);
        if (s != 0 && strcmp(hex, ex->trace->ctx.parent_id) != 0 &&
            (!other_leg || strcmp(hex, other_leg) != 0))
            return s;
    }
}

/* The client's traceparent: exactly one valid header makes the exchange
 * traced; an invalid one, or several, is dropped with its tracestate (W3C
 * Trace Context says to restart the trace then, which would invent one:
 * the proxy never does). */
static int trace_setup(exchange *ex)
{
    const hdr_list *h = &ex->req_headers;
    const char *value = NULL;
    size_t count = 0;
    for (size_t i = 0; i < h->n; i++)
        if (header_is(h, i, "traceparent"))
            value = hdr_value(h, i), count++;
    if (count == 0)
        return 0;
    tracectx ctx;
    ex->trace_dropped = count != 1 || !tracectx_parse(value, &ctx);
    if (ex->trace_dropped)
        return 0;
    ex_trace *t = ex->trace = malloc(sizeof *t);
    if (!t)
        return -ENOMEM;
    t->ctx = ctx;
    uint64_t first = new_span(ex, NULL);
    char first_hex[17];
    tracectx_span_hex(first, first_hex, sizeof first_hex);
    tracectx_child_line(&t->ctx, first, t->line[SIDE_LEGACY], TRACECTX_LINE_MAX);
    tracectx_child_line(&t->ctx, new_span(ex, first_hex), t->line[SIDE_NEW], TRACECTX_LINE_MAX);
    return 0;
}

int exchange_build_requests(exchange *ex)
{
    const route *rt = ex->route;
    bool trusted = peer_trusted(ex);
    if (trace_setup(ex) != 0)
        return -ENOMEM;
    ex->headers_block[SIDE_LEGACY] = build_request_headers(ex, NULL, trusted);
    if (!ex->headers_block[SIDE_LEGACY])
        return -ENOMEM;
    if (has_header_rewrite(rt)) {
        ex->headers_block[SIDE_NEW] = build_request_headers(ex, rt, trusted);
        if (!ex->headers_block[SIDE_NEW])
            return -ENOMEM;
    }
    if (rt->prefix_from || rt->template_from) {
        ex->new_target = rules_rewrite_target(rt, ex->uri);
        if (!ex->new_target)
            return -ENOMEM;
    }
    return 0;
}

struct curl_slist *exchange_headers_for(exchange *ex, sp_side side, bool shadow)
{
    struct curl_slist *block = ex->headers_block[side] ? ex->headers_block[side]
                                                       : ex->headers_block[SIDE_LEGACY];
    struct curl_slist *list = shadow ? &block[0] : &block[1]; /* [0] is X-Shadow-Request: 1 */
    if (!ex->trace)
        return list;
    ex_trace *t = ex->trace;
    t->node[side] = (struct curl_slist){.data = t->line[side], .next = list};
    return &t->node[side];
}


struct curl_slist *exchange_headers_secondary(exchange *ex)
{
    return &ex->headers_block[SIDE_LEGACY][0]; /* [0] is X-Shadow-Request: 1 */
}
