/* upstream: libcurl's multi-socket API driven by a worker's libuv loop (the
 * pattern of curl's docs/examples/multi-uv.c), with a free list of easy
 * handles so keep-alive connections and handles are reused. */
#ifndef SP_UPSTREAM_H
#define SP_UPSTREAM_H

#include <curl/curl.h>
#include <uv.h>

typedef void (*upstream_done_fn)(CURL *easy, CURLcode result, void *ctx);

typedef struct upstream_pool {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    upstream_done_fn on_done;
    void *ctx;
    CURL **free_easy;       /* reusable handles */
    size_t nfree, free_cap;
    int active;             /* transfers in the multi */
    struct sock_ctx **socks; /* poll contexts indexed by fd */
    size_t nsocks;
} upstream_pool;

/* max_idle: connections kept open in the pool (CURLMOPT_MAXCONNECTS). */
int upstream_init(upstream_pool *p, uv_loop_t *loop, upstream_done_fn on_done, void *ctx,
                  long max_idle);
/* A clean easy handle (reset), from the free list when possible. */
CURL *upstream_easy_get(upstream_pool *p);
/* Starts a transfer; on_done fires later (never from inside this call). */
int upstream_start(upstream_pool *p, CURL *easy);
/* Stops a transfer without calling on_done, and recycles the handle. */
void upstream_cancel(upstream_pool *p, CURL *easy);
/* Gives back a handle whose transfer has finished (after on_done). */
void upstream_easy_put(upstream_pool *p, CURL *easy);
/* Frees everything; handles are closed through the loop, so run it after. */
void upstream_close(upstream_pool *p);

#endif
