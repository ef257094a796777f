#include "data/upstream.h"

#include <errno.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/invariant.h"
#include "base/log.h"

/* What the pool keeps per easy handle; CURLOPT_PRIVATE points here. It
 * lives as long as the pool: a connection the handle opened may outlive
 * the handle's transfer, and its TLS callbacks point here. */
typedef struct upstream_handle {
    CURL *easy;
    upstream_shard *shard; /* the running transfer's */
    void *owner;         /* the current transfer's (an exchange leg) */
    bool cert_requested; /* its new connection was asked for a client certificate */
    char errbuf[CURL_ERROR_SIZE]; /* CURLOPT_ERRORBUFFER unless the transfer brings its own */
} upstream_handle;

/* One per socket curl opens; sockets outlive transfers thanks to keep-alive,
 * so this is allocated per connection, not per request. */
typedef struct sock_ctx {
    uv_poll_t poll;
    curl_socket_t fd;
    upstream_shard *shard; /* whose connection it is now (fds are reused) */
} sock_ctx;

static void check_done(upstream_shard *sh)
{
    upstream_pool *p = sh->pool;
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(sh->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *easy = msg->easy_handle;
        CURLcode rc = msg->data.result; /* read before remove_handle */
        curl_multi_remove_handle(sh->multi, easy);
        assert(sh->active > 0);
        sh->active--;
        p->on_done(easy, rc, p->ctx);
    }
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    sock_ctx *s = h->data;
    int flags = 0;
    if (status < 0) /* let curl read the socket and see the real error */
        flags = CURL_CSELECT_IN | CURL_CSELECT_OUT;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    int running;
    upstream_shard *sh = s->shard;
    curl_multi_socket_action(sh->multi, s->fd, flags, &running);
    check_done(sh);
}

static void on_timer(uv_timer_t *t)
{
    upstream_shard *sh = t->data;
    int running;
    curl_multi_socket_action(sh->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(sh);
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    upstream_shard *sh = userp;
    if (timeout_ms < 0)
        uv_timer_stop(&sh->timer);
    else
        uv_timer_start(&sh->timer, on_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

/* Contexts live in a table indexed by fd and are reused: curl REMOVEs a
 * socket each time its connection goes idle in the pool, and re-adds it on
 * the next request; re-initialising a uv_poll_t then would cost a malloc
 * and an epoll registration per request. */
static sock_ctx *sock_for(upstream_pool *p, curl_socket_t fd)
{
    if ((size_t)fd >= p->nsocks) {
        size_t n = p->nsocks ? p->nsocks : 64;
        while (n <= (size_t)fd)
            n *= 2;
        sock_ctx **v = realloc(p->socks, n * sizeof *v);
        if (!v)
            return NULL;
        for (size_t i = p->nsocks; i < n; i++)
            v[i] = NULL;
        p->socks = v;
        p->nsocks = n;
    }
    sock_ctx *s = p->socks[fd];
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s)
            return NULL;
        s->fd = -1;
        p->socks[fd] = s;
    }
    if (s->fd != fd) {
        if (uv_poll_init_socket(p->loop, &s->poll, fd) != 0)
            return NULL;
        s->poll.data = s;
        s->fd = fd;
    }
    return s;
}

static int on_curl_socket(CURL *easy, curl_socket_t fd, int action, void *userp,
                          void *socketp)
{
    (void)easy;
    (void)socketp;
    upstream_shard *sh = userp;
    upstream_pool *p = sh->pool;
    if (action == CURL_POLL_REMOVE) {
        if ((size_t)fd < p->nsocks && p->socks[fd] && p->socks[fd]->fd == fd)
            uv_poll_stop(&p->socks[fd]->poll);
        return 0;
    }
    sock_ctx *s = sock_for(p, fd);
    if (!s)
        return -1;
    s->shard = sh;
    int events = 0;
    if (action != CURL_POLL_OUT)
        events |= UV_READABLE;
    if (action != CURL_POLL_IN)
        events |= UV_WRITABLE;
    uv_poll_start(&s->poll, events, on_poll);
    return 0;
}

/* ---- per-upstream settings -------------------------------------------------- */

/* tls.server_name: requests name the server_name (SNI, the certificate
 * check and Host all follow the URL's host) while CONNECT_TO sends the
 * connection to the configured host and port. */
static int apply_server_name(upstream_pool *p)
{
    const char *url = p->cfg->url, *name = p->cfg->tls.server_name;
    if (!name)
        return (p->base_url = strdup(url)) ? 0 : -ENOMEM;
    bool https = strncasecmp(url, "https://", 8) == 0;
    const char *host = url + (https ? 8 : 7);
    const char *end = host + strcspn(host, "/");
    const char *port = NULL;
    if (*host == '[') {
        const char *rb = memchr(host, ']', (size_t)(end - host));
        port = rb && rb + 1 < end && rb[1] == ':' ? rb + 2 : NULL;
    } else {
        port = memchr(host, ':', (size_t)(end - host));
        port = port ? port + 1 : NULL;
    }
    const char *hend = port ? port - 1 : end;
    int portlen = port ? (int)(end - port) : 0;
    const char *dflt = https ? "443" : "80";
    char *route = NULL;
    if (asprintf(&p->base_url, "%.*s%s%s%.*s%s", (int)(host - url), url, name, port ? ":" : "",
                 portlen, port ? port : "", end) < 0) {
        p->base_url = NULL;
        return -ENOMEM;
    }
    if (asprintf(&route, "%s:%.*s:%.*s:%.*s", name, port ? portlen : 3, port ? port : dflt,
                 (int)(hend - host), host, port ? portlen : 3, port ? port : dflt) < 0)
        return -ENOMEM;
    p->connect_to = curl_slist_append(NULL, route);
    free(route);
    return p->connect_to ? 0 : -ENOMEM;
}

/* OpenSSL calls this when the server sends a CertificateRequest. */
static int on_cert_request(SSL *ssl, void *arg)
{
    (void)ssl;
    ((upstream_handle *)arg)->cert_requested = true;
    return 1; /* go on, with the configured certificate if there is one */
}

/* Each new TLS connection's context, before its handshake. */
static CURLcode on_ssl_ctx(CURL *easy, void *ssl_ctx, void *arg)
{
    (void)easy;
    SSL_CTX_set_cert_cb(ssl_ctx, on_cert_request, arg);
    return CURLE_OK;
}

static void apply_tls(const upstream_pool *p, upstream_handle *h)
{
    const config_tls *t = &p->cfg->tls;
    CURL *e = h->easy;
    if (t->ca_file) {
        curl_easy_setopt(e, CURLOPT_CAINFO, t->ca_file);
        curl_easy_setopt(e, CURLOPT_CAPATH, NULL); /* these CAs only, not the system's too */
    }
    if (t->client_cert) {
        curl_easy_setopt(e, CURLOPT_SSLCERT, t->client_cert);
        curl_easy_setopt(e, CURLOPT_SSLKEY, t->client_key ? t->client_key : t->client_cert);
    }
    if (t->pinned_public_key)
        curl_easy_setopt(e, CURLOPT_PINNEDPUBLICKEY, t->pinned_public_key);
    curl_easy_setopt(e, CURLOPT_SSLVERSION,
                     t->min_version == TLS_V1_3 ? CURL_SSLVERSION_TLSv1_3
                                                : CURL_SSLVERSION_TLSv1_2);
    if (t->insecure_skip_verify) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (p->connect_to)
        curl_easy_setopt(e, CURLOPT_CONNECT_TO, p->connect_to);
    /* A replaced CA file is read again within a minute (curl caches the
     * parsed store; client certificates are read per connection). */
    curl_easy_setopt(e, CURLOPT_CA_CACHE_TIMEOUT, 60L);
    curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
    curl_easy_setopt(e, CURLOPT_SSL_CTX_DATA, h);
}

/* What every transfer to this upstream shares, set once per handle. */
static void configure(const upstream_pool *p, upstream_handle *h)
{
    CURL *e = h->easy;
    curl_easy_setopt(e, CURLOPT_PRIVATE, h);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(e, CURLOPT_HTTP_CONTENT_DECODING, 0L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    /* Only the configured upstreams, directly: an http_proxy in the
     * environment must not reroute them (and curl skips the lookups). */
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, p->cfg->connect_timeout_ms);
    apply_tls(p, h);
}

/* ---- the pool ---------------------------------------------------------------------- */

static void close_timer(uv_handle_t *h) { (void)h; }

static upstream_handle *handle_of(CURL *easy);

static int shard_init(upstream_pool *p, upstream_shard *sh, long max_idle)
{
    sh->pool = p;
    sh->multi = curl_multi_init();
    if (!sh->multi)
        return -1;
    if (uv_timer_init(p->loop, &sh->timer) != 0) {
        curl_multi_cleanup(sh->multi);
        sh->multi = NULL;
        return -1;
    }
    sh->timer.data = sh;
    curl_multi_setopt(sh->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(sh->multi, CURLMOPT_SOCKETDATA, sh);
    curl_multi_setopt(sh->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(sh->multi, CURLMOPT_TIMERDATA, sh);
    curl_multi_setopt(sh->multi, CURLMOPT_MAXCONNECTS, max_idle);
    return 0;
}

static void shard_close(upstream_shard *sh)
{
    curl_multi_cleanup(sh->multi); /* closes the connections: no TLS callback after this */
    sh->multi = NULL;
    uv_close((uv_handle_t *)&sh->timer, close_timer);
}

int upstream_init(upstream_pool *p, uv_loop_t *loop, upstream_done_fn on_done, void *ctx,
                  long max_idle, const config_upstream *u)
{
    *p = (upstream_pool){.cfg = u, .loop = loop, .on_done = on_done, .ctx = ctx};
    if (apply_server_name(p) != 0) {
        free(p->base_url);
        curl_slist_free_all(p->connect_to);
        return -1;
    }
    long n = (max_idle + UPSTREAM_SHARD_CONNS - 1) / UPSTREAM_SHARD_CONNS;
    n = n < 1 ? 1 : n > UPSTREAM_MAX_SHARDS ? UPSTREAM_MAX_SHARDS : n;
    for (p->nshards = 0; p->nshards < n; p->nshards++) {
        /* A shard may hold UPSTREAM_SHARD_CONNS transfers before the next
         * takes over, and more once all are that busy: keep room for both,
         * or curl closes connections it is about to need again. */
        if (shard_init(p, &p->shards[p->nshards], max_idle / n + UPSTREAM_SHARD_CONNS) != 0) {
            while (p->nshards > 0)
                shard_close(&p->shards[--p->nshards]);
            free(p->base_url);
            curl_slist_free_all(p->connect_to);
            return -1;
        }
    }
    return 0;
}

const char *upstream_base_url(const upstream_pool *p)
{
    return p->base_url;
}

/* Room for one more handle in both lists, so that putting one back never
 * needs memory. */
static int reserve(upstream_pool *p)
{
    if (p->nhandles < p->free_cap)
        return 0;
    size_t cap = p->free_cap ? p->free_cap * 2 : 64;
    CURL **v = realloc(p->free_easy, cap * sizeof *v);
    if (!v)
        return -1;
    p->free_easy = v;
    upstream_handle **hv = realloc(p->handles, cap * sizeof *hv);
    if (!hv)
        return -1;
    p->handles = hv;
    p->free_cap = cap;
    return 0;
}

CURL *upstream_easy_get(upstream_pool *p)
{
    if (p->nfree) {
        CURL *e = p->free_easy[--p->nfree];
        if (p->nfree < p->min_free)
            p->min_free = p->nfree;
        return e;
    }
    p->min_free = 0;
    if (p->nretired) { /* a trimmed handle's place: it is in p->handles already */
        upstream_handle *h = p->retired[p->nretired - 1];
        if (!(h->easy = curl_easy_init()))
            return NULL;
        p->nretired--;
        configure(p, h);
        return h->easy;
    }
    if (reserve(p) != 0)
        return NULL;
    upstream_handle *h = calloc(1, sizeof *h);
    if (!h || !(h->easy = curl_easy_init())) {
        free(h);
        return NULL;
    }
    configure(p, h);
    p->handles[p->nhandles++] = h;
    return h->easy;
}

size_t upstream_trim(upstream_pool *p, uint64_t now_ms)
{
    if (now_ms - p->trimmed_ms < UPSTREAM_TRIM_MS)
        return 0;
    p->trimmed_ms = now_ms;
    /* min_free handles were idle the whole period: the longest idle of
     * them go, beyond the few kept for the next requests. */
    size_t n = p->min_free > UPSTREAM_IDLE_KEEP ? p->min_free - UPSTREAM_IDLE_KEEP : 0;
    assert(n <= p->nfree);
    if (n && !p->retired) {
        /* As many places as handles: retiring never needs memory later. */
        p->retired = malloc(p->free_cap * sizeof *p->retired);
        if (!p->retired)
            n = 0;
    } else if (n) {
        upstream_handle **v = realloc(p->retired, p->free_cap * sizeof *v);
        if (v)
            p->retired = v;
        else
            n = 0;
    }
    for (size_t i = 0; i < n; i++) {
        upstream_handle *h = handle_of(p->free_easy[i]);
        /* The struct stays (a connection the handle opened may still call
         * its TLS callback); the easy handle and its buffers go. */
        curl_easy_cleanup(h->easy);
        h->easy = NULL;
        h->owner = NULL;
        p->retired[p->nretired++] = h;
    }
    if (n) {
        memmove(p->free_easy, p->free_easy + n, (p->nfree - n) * sizeof *p->free_easy);
        p->nfree -= n;
    }
    p->min_free = p->nfree;
    return n;
}

static upstream_handle *handle_of(CURL *easy)
{
    upstream_handle *h = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&h);
    return h;
}

void upstream_set_owner(CURL *easy, void *owner)
{
    upstream_handle *h = handle_of(easy);
    h->owner = owner;
    h->cert_requested = false;
    h->errbuf[0] = '\0';
}

const char *upstream_error(CURL *easy)
{
    upstream_handle *h = handle_of(easy);
    return h ? h->errbuf : "";
}

void *upstream_owner(CURL *easy)
{
    upstream_handle *h = handle_of(easy);
    return h ? h->owner : NULL;
}

bool upstream_cert_requested(CURL *easy)
{
    upstream_handle *h = handle_of(easy);
    return h && h->cert_requested;
}

void upstream_easy_put(upstream_pool *p, CURL *easy)
{
    upstream_handle *h = handle_of(easy);
    if (h)
        h->owner = NULL;
    /* Always room: reserve() made it when the handle was made. Every
     * handle already free means this one came back twice. */
    assert(p->nfree + p->nretired < p->nhandles);
    if (p->nfree < p->free_cap)
        p->free_easy[p->nfree++] = easy;
}

/* The first shard with room, else the least busy. */
static upstream_shard *pick_shard(upstream_pool *p)
{
    upstream_shard *best = &p->shards[0];
    for (int i = 0; i < p->nshards; i++) {
        if (p->shards[i].active < UPSTREAM_SHARD_CONNS)
            return &p->shards[i];
        if (p->shards[i].active < best->active)
            best = &p->shards[i];
    }
    return best;
}

int upstream_start(upstream_pool *p, CURL *easy)
{
    upstream_shard *sh = pick_shard(p);
    if (curl_multi_add_handle(sh->multi, easy) != CURLM_OK)
        return -1;
    handle_of(easy)->shard = sh;
    sh->active++;
    return 0;
}

int upstream_prepare(upstream_pool *p, CURL *e, const upstream_transfer *t)
{
    const char *base = upstream_base_url(p);
    size_t blen = strlen(base), tlen = strlen(t->target);
    char *url = malloc(blen + tlen + 1);
    if (!url)
        return -ENOMEM;
    memcpy(url, base, blen);
    memcpy(url + blen, t->target, tlen + 1);
    curl_easy_setopt(e, CURLOPT_URL, url); /* copied by curl */
    free(url);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf ? t->errbuf : handle_of(e)->errbuf);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, t->on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t->data);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, t->on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t->data);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, t->timeout_ms);
    /* The method from scratch: forget the last body, back to a plain GET. */
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, NULL);
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    return 0;
}

void upstream_cancel(upstream_pool *p, CURL *easy)
{
    upstream_shard *sh = handle_of(easy)->shard;
    curl_multi_remove_handle(sh->multi, easy);
    assert(sh->active > 0);
    sh->active--;
    upstream_easy_put(p, easy);
}

static void free_sock(uv_handle_t *h) { free(h->data); }

void upstream_close(upstream_pool *p)
{
    for (size_t i = 0; i < p->nhandles; i++)
        if (p->handles[i]->easy) /* NULL: trimmed */
            curl_easy_cleanup(p->handles[i]->easy); /* removed from the multi if still in it */
    free(p->retired);
    p->retired = NULL;
    p->nretired = 0;
    free(p->free_easy);
    p->free_easy = NULL;
    p->nfree = p->free_cap = 0;
    for (int i = 0; i < p->nshards; i++)
        shard_close(&p->shards[i]);
    for (size_t i = 0; i < p->nhandles; i++)
        free(p->handles[i]);
    free(p->handles);
    p->handles = NULL;
    p->nhandles = 0;
    free(p->base_url);
    p->base_url = NULL;
    curl_slist_free_all(p->connect_to);
    p->connect_to = NULL;
    for (size_t i = 0; i < p->nsocks; i++) {
        sock_ctx *s = p->socks[i];
        if (!s)
            continue;
        if (s->fd >= 0)
            uv_close((uv_handle_t *)&s->poll, free_sock);
        else
            free(s);
    }
    free(p->socks);
    p->socks = NULL;
    p->nsocks = 0;
}
