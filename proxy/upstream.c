#include "upstream.h"

#include <stdlib.h>

#include "log.h"

/* One per socket curl opens; sockets outlive transfers thanks to keep-alive,
 * so this is allocated per connection, not per request. */
typedef struct sock_ctx {
    uv_poll_t poll;
    curl_socket_t fd;
    upstream_pool *pool;
} sock_ctx;

static void check_done(upstream_pool *p)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(p->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *easy = msg->easy_handle;
        CURLcode rc = msg->data.result; /* read before remove_handle */
        curl_multi_remove_handle(p->multi, easy);
        p->active--;
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
    curl_multi_socket_action(s->pool->multi, s->fd, flags, &running);
    check_done(s->pool);
}

static void on_timer(uv_timer_t *t)
{
    upstream_pool *p = t->data;
    int running;
    curl_multi_socket_action(p->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(p);
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    upstream_pool *p = userp;
    if (timeout_ms < 0)
        uv_timer_stop(&p->timer);
    else
        uv_timer_start(&p->timer, on_timer, (uint64_t)timeout_ms, 0);
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
        s->pool = p;
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
    upstream_pool *p = userp;
    if (action == CURL_POLL_REMOVE) {
        if ((size_t)fd < p->nsocks && p->socks[fd] && p->socks[fd]->fd == fd)
            uv_poll_stop(&p->socks[fd]->poll);
        return 0;
    }
    sock_ctx *s = sock_for(p, fd);
    if (!s)
        return -1;
    int events = 0;
    if (action != CURL_POLL_OUT)
        events |= UV_READABLE;
    if (action != CURL_POLL_IN)
        events |= UV_WRITABLE;
    uv_poll_start(&s->poll, events, on_poll);
    return 0;
}

int upstream_init(upstream_pool *p, uv_loop_t *loop, upstream_done_fn on_done, void *ctx,
                  long max_idle)
{
    *p = (upstream_pool){.loop = loop, .on_done = on_done, .ctx = ctx};
    p->multi = curl_multi_init();
    if (!p->multi)
        return -1;
    if (uv_timer_init(loop, &p->timer) != 0) {
        curl_multi_cleanup(p->multi);
        return -1;
    }
    p->timer.data = p;
    curl_multi_setopt(p->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(p->multi, CURLMOPT_SOCKETDATA, p);
    curl_multi_setopt(p->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(p->multi, CURLMOPT_TIMERDATA, p);
    curl_multi_setopt(p->multi, CURLMOPT_MAXCONNECTS, max_idle);
    return 0;
}

CURL *upstream_easy_get(upstream_pool *p)
{
    if (p->nfree) {
        CURL *e = p->free_easy[--p->nfree];
        curl_easy_reset(e);
        return e;
    }
    return curl_easy_init();
}

void upstream_easy_put(upstream_pool *p, CURL *easy)
{
    if (p->nfree == p->free_cap) {
        size_t cap = p->free_cap ? p->free_cap * 2 : 64;
        CURL **v = realloc(p->free_easy, cap * sizeof *v);
        if (!v) {
            curl_easy_cleanup(easy);
            return;
        }
        p->free_easy = v;
        p->free_cap = cap;
    }
    p->free_easy[p->nfree++] = easy;
}

int upstream_start(upstream_pool *p, CURL *easy)
{
    if (curl_multi_add_handle(p->multi, easy) != CURLM_OK)
        return -1;
    p->active++;
    return 0;
}

void upstream_cancel(upstream_pool *p, CURL *easy)
{
    curl_multi_remove_handle(p->multi, easy);
    p->active--;
    upstream_easy_put(p, easy);
}

static void close_timer(uv_handle_t *h) { (void)h; }
static void free_sock(uv_handle_t *h) { free(h->data); }

void upstream_close(upstream_pool *p)
{
    for (size_t i = 0; i < p->nfree; i++)
        curl_easy_cleanup(p->free_easy[i]);
    free(p->free_easy);
    p->free_easy = NULL;
    p->nfree = p->free_cap = 0;
    curl_multi_cleanup(p->multi);
    p->multi = NULL;
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
    uv_close((uv_handle_t *)&p->timer, close_timer);
}
