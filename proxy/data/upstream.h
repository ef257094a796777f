/* upstream: libcurl's multi-socket API driven by a worker's libuv loop (the
 * pattern of curl's docs/examples/multi-uv.c), with a free list of easy
 * handles so keep-alive connections and handles are reused. One pool per
 * upstream: a handle is configured once, when it is made, with what does
 * not change between requests (the upstream's TLS settings, timeouts,
 * protocols); each transfer then sets only its own options. */
#ifndef SP_UPSTREAM_H
#define SP_UPSTREAM_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "conf/config.h"

typedef void (*upstream_done_fn)(CURL *easy, CURLcode result, void *ctx);

/* curl looks for a reusable connection by walking every connection its
 * multi handle holds to the host, busy ones included: with a slow upstream
 * and 1,000 transfers in flight, hundreds of cold connection structs per new
 * transfer (callgrind: ~195 steps per transfer, most of what a slow
 * shadow cost curl over a fast one). So a pool has shards, each a multi handle with
 * its own connections, and a transfer goes to the first shard with fewer
 * than UPSTREAM_SHARD_CONNS running: at low load everything stays in shard
 * 0 and reuses its connections, as with one multi handle. */
#define UPSTREAM_SHARD_CONNS 64
#define UPSTREAM_MAX_SHARDS 32

struct upstream_pool;
typedef struct upstream_shard {
    struct upstream_pool *pool;
    CURLM *multi;
    uv_timer_t timer;
    int active;             /* transfers in this shard */
} upstream_shard;

typedef struct upstream_pool {
    const config_upstream *cfg;
    char *base_url;         /* cfg->url, its host replaced by tls.server_name */
    struct curl_slist *connect_to; /* with server_name: to the URL's host */
    uv_loop_t *loop;
    upstream_shard shards[UPSTREAM_MAX_SHARDS];
    int nshards;
    upstream_done_fn on_done;
    void *ctx;
    CURL **free_easy;       /* reusable handles, the longest idle first */
    size_t nfree, free_cap;
    size_t min_free;        /* fewest free handles since the last trim */
    uint64_t trimmed_ms;    /* when upstream_trim last looked */
    struct upstream_handle **handles; /* every handle made, freed at close */
    size_t nhandles;
    struct upstream_handle **retired; /* trimmed: no easy handle, reused first */
    size_t nretired;
    struct sock_ctx **socks; /* poll contexts indexed by fd */
    size_t nsocks;
} upstream_pool;

/* max_idle: connections kept open in the pool (CURLMOPT_MAXCONNECTS, split
 * over the shards; it also sets their number). `u` must outlive the pool. */
int upstream_init(upstream_pool *p, uv_loop_t *loop, upstream_done_fn on_done, void *ctx,
                  long max_idle, const config_upstream *u);
/* The base URL requests are made against (server_name applied). */
const char *upstream_base_url(const upstream_pool *p);
/* An easy handle with the pool's settings, from the free list when
 * possible. Its per-transfer options (URL, method, headers, callbacks,
 * timeout) are the caller's to set; the previous transfer's remain. Do not
 * set CURLOPT_PRIVATE: use upstream_set_owner. */
CURL *upstream_easy_get(upstream_pool *p);
/* The transfer's owner, given to on_done's caller through upstream_owner. */
void upstream_set_owner(CURL *easy, void *owner);
void *upstream_owner(CURL *easy);
/* curl's words for the last transfer's failure ("" if none), when it was
 * prepared without an errbuf of its own: valid until the handle's next
 * transfer starts (copy it before upstream_easy_put). */
const char *upstream_error(CURL *easy);
/* Did the server ask this transfer's new connection for a client
 * certificate? (TLS failures: tls_failure.cert_requested.) */
bool upstream_cert_requested(CURL *easy);
/* What every transfer sets anew (a handle keeps the last transfer's
 * options): the URL (the pool's base URL, then target), the error buffer,
 * the header list, the header and body callbacks (both given `data`), the
 * timeout, and the method back to a plain GET without a body; the caller
 * then sets HEAD or another method. 0, or -ENOMEM (nothing set). */
typedef struct upstream_transfer {
    const char *target;      /* request-target: path and query */
    char *errbuf;            /* CURL_ERROR_SIZE bytes; NULL: the handle's own (upstream_error) */
    struct curl_slist *headers;
    curl_write_callback on_header, on_body;
    void *data;
    long timeout_ms;
} upstream_transfer;
int upstream_prepare(upstream_pool *p, CURL *easy, const upstream_transfer *t);
/* Starts a transfer; on_done fires later (never from inside this call). */
int upstream_start(upstream_pool *p, CURL *easy);
/* Stops a transfer without calling on_done, and recycles the handle. */
void upstream_cancel(upstream_pool *p, CURL *easy);
/* Gives back a handle whose transfer has finished (after on_done). */
void upstream_easy_put(upstream_pool *p, CURL *easy);
/* After a burst (10,000 slow shadows make 10,000 handles, each with curl's
 * per-transfer state and receive buffer), the handles no transfer needed
 * for a whole UPSTREAM_TRIM_MS are freed, down to UPSTREAM_IDLE_KEEP idle
 * ones; the caller then gives the memory back (malloc_trim). Call it
 * often (it looks every UPSTREAM_TRIM_MS); returns the handles freed. */
#define UPSTREAM_TRIM_MS 10000
#define UPSTREAM_IDLE_KEEP 64
size_t upstream_trim(upstream_pool *p, uint64_t now_ms);
/* Frees everything; handles are closed through the loop, so run it after. */
void upstream_close(upstream_pool *p);

#endif
