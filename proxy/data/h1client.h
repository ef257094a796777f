/* h1client: a lean HTTP/1.1 client for the shadow leg of a plain-http
 * upstream, on a worker's libuv loop (issue 14: libcurl needs ~12 KB per
 * running transfer; this one needs well under 1 KB while a shadow waits).
 *
 * What it does: keep-alive connections per pool (one pool per worker and
 * upstream side), the request written with uv_write straight from the
 * caller's buffers (no copy), reads into ONE receive buffer per pool (a
 * transfer waiting for its answer holds none), base/h1parse for the
 * answer, a connect (per attempt: a retry has its own) and a total
 * timeout, DNS through uv_getaddrinfo with a
 * 60 s cache (IP literals never resolve), idle connections watched for EOF
 * and closed, a reused connection that dies before the first answer byte
 * retried once on a fresh one (whatever the method: a POST is sent twice
 * then, as curl does), and pause/resume of the body for the shadow gate's
 * throttle. An answer that arrives while the request is still being
 * written (a server answering early, then closing or not reading) is read
 * and reported as it is (curl fails such a transfer on its write); the
 * connection is not kept. What it does not: TLS, proxies, HTTP/2, redirects,
 * content decoding, Expect: 100-continue. https:// upstreams and every
 * other leg stay on curl (data/upstream.h).
 *
 * The bytes on the wire are curl's for the same options (the exchange's
 * header list with curl's semantics, docs/operations.md): request line,
 * Host (curl's own unless the list has one), Accept: * / * unless the list
 * has Accept, the list, then for a request with a body Content-Length and
 * curl's Content-Type unless the list has them.
 *
 * Callbacks have curl's signatures and contracts (HEADERFUNCTION: the
 * status line, each header line with its line ending, the blank line,
 * trailers; WRITEFUNCTION: body bytes, CURL_WRITEFUNC_PAUSE keeps them for
 * h1_resume, any other short count fails the transfer with
 * CURLE_WRITE_ERROR). Completion is reported once, through the pool's
 * done callback, never from inside h1_start, h1_resume or h1_cancel, with
 * the CURLcode curl would give and curl-like words.
 *
 * Worker thread only. */
#ifndef SP_H1CLIENT_H
#define SP_H1CLIENT_H

#include <curl/curl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "conf/config.h"

struct h1_xfer;
struct h1_conn;

/* A transfer ended: rc as curl would say it, `error` its words (valid
 * during the call; "" when rc is CURLE_OK, or when there was no memory for
 * them: then curl_easy_strerror(rc)'s), os_errno the system error behind
 * it (0: none). */
typedef void (*h1_done_fn)(void *owner, CURLcode rc, const char *error, int os_errno);

#define H1_RECV_BUFFER (64u * 1024) /* the pool's one receive buffer */
#define H1_MAX_ADDRS 4

enum { H1_Q_START, H1_Q_DONE };

typedef struct h1_pool {
    uv_loop_t *loop;
    const config_upstream *cfg;
    h1_done_fn on_done;
    char *host_line;        /* "Host: host[:port]\r\n" */
    char *path_prefix;      /* the URL's path ("" for none) */
    char *host;             /* for getaddrinfo: the host without brackets */
    int port;
    struct sockaddr_storage addrs[H1_MAX_ADDRS];
    int naddrs;
    uint64_t resolved_ms;   /* when addrs were resolved (0: never; literals: forever) */
    bool literal;
    uv_getaddrinfo_t *gai;  /* the one lookup in flight (its data: this pool) */
    struct h1_xfer *resolve_waiters; /* the transfers waiting for it */
    uint64_t lookups;       /* lookups started (one for any number of waiters) */
    struct h1_conn *idle;   /* idle keep-alive connections, most recent first */
    size_t nidle, max_idle;
    size_t min_idle;        /* fewest idle since the last trim */
    uint64_t trimmed_ms;    /* when h1_trim last looked */
    size_t nopen;           /* connections open (busy and idle) */
    /* Transfers in order: [H1_Q_START] started, sent from `kick`;
     * [H1_Q_DONE] finished, reported on the next turn (also from `kick`). */
    struct { struct h1_xfer *head, *tail; } q[2];
    uv_timer_t kick;        /* sends the start queue, reports the done queue */
    bool closing;
    char *rbuf;             /* the receive buffer, H1_RECV_BUFFER bytes */
    bool rbuf_busy;         /* handed to a read that has not returned */
} h1_pool;

/* One request. Every pointer must stay valid until the transfer ends
 * (done or cancelled): the request is written from them. */
typedef struct h1_request {
    const char *method;     /* sent as is ("HEAD": no body read) */
    const char *target;     /* request-target, after the pool URL's path */
    const struct curl_slist *headers;
    const char *body;       /* with has_body: body_len bytes (may be NULL when 0) */
    size_t body_len;
    bool has_body;          /* Content-Length (and curl's Content-Type) sent */
    long timeout_ms;        /* total; the connect timeout is the upstream's */
    curl_write_callback on_header, on_body;
    void *data;             /* for both callbacks */
} h1_request;

/* Is `u` an upstream the lean client can serve (plain http://)? */
bool h1_supports(const config_upstream *u);
/* max_idle: keep-alive connections kept. 0 or -ENOMEM / -EINVAL (not
 * plain http). `u` outlives the pool. */
int h1_pool_init(h1_pool *p, uv_loop_t *loop, const config_upstream *u, h1_done_fn on_done,
                 size_t max_idle);
/* Starts a transfer for `owner` (given back to on_done). NULL when out of
 * memory (nothing started, no callback). */
struct h1_xfer *h1_start(h1_pool *p, const h1_request *r, void *owner);
/* Stops a transfer; on_done is not called. Its connection closes. */
void h1_cancel(struct h1_xfer *x);
/* Resumes a transfer whose body callback paused it: the kept bytes are
 * delivered now (as curl_easy_pause(CURLPAUSE_CONT) does), then reading
 * goes on. */
void h1_resume(struct h1_xfer *x);
/* After a burst (10,000 slow shadows leave as many idle connections): the
 * connections no request needed for a whole H1_TRIM_MS are closed, down to
 * H1_IDLE_KEEP idle ones, and any idle longer than curl's maximum
 * connection age (118 s). Call it often (it looks every H1_TRIM_MS);
 * returns the connections closed. */
#define H1_TRIM_MS 10000
#define H1_IDLE_KEEP 64
size_t h1_trim(h1_pool *p, uint64_t now_ms);
/* Closes every connection (transfers must be over); handles close
 * through the loop: run it after. */
void h1_pool_close(h1_pool *p);

#endif
