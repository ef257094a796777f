/* conn_guard: the traffic listener's defences against slow and greedy
 * clients (issue 15, item 2):
 *   - a deadline for each request head (limits.head_timeout_s), which a
 *     byte now and then does not push back, unlike MHD's idle timeout;
 *   - a floor on the rate of request bodies (limits.min_body_rate, over
 *     every window of head_timeout_s: a body that starts fast and then
 *     trickles is caught too);
 *   - a cap on connections per client address
 *     (limits.max_connections_per_address; trusted_proxies are exempt);
 *   - a process-wide budget for buffered request bodies
 *     (limits.max_buffered_bodies): over it, 503 with Retry-After.
 * A connection that misses a deadline is shut down (shutdown(2) on its
 * socket: MHD sees the end of the stream at its next run and closes it,
 * with the usual notifications); nothing is answered on it.
 *
 * Threads: a conn_guard and its guard_conns belong to one worker thread;
 * conn_guard_admit, the address counts and the body budget are shared by
 * every worker (a mutex, atomics). */
#ifndef SP_CONN_GUARD_H
#define SP_CONN_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "conf/config.h"

#define GUARD_MAGIC 0x67756172u

typedef struct guard_conn {
    uint32_t magic;              /* GUARD_MAGIC: tells it from the worker's marker */
    struct guard_conn *prev, *next; /* the worker's list */
    int fd;
    bool counted;                /* holds a count in the address table */
    bool shut;                   /* shut down: its next MHD run closes it */
    unsigned char addr[16];      /* IPv4 in the first 4 bytes */
    int family;
    uint64_t head_deadline_ns;   /* 0: not reading a head */
    uint64_t body_window_ns;     /* start of the body's current window; 0: no body */
    uint64_t body_window_bytes;  /* bytes received in it */
} guard_conn;

typedef struct conn_guard {
    const sp_config *cfg;
    guard_conn *list;
} conn_guard;

/* Why a connection was shut down (for logs and metrics). */
typedef enum guard_reason { GUARD_SLOW_HEAD, GUARD_SLOW_BODY } guard_reason;

void conn_guard_init(conn_guard *g, const sp_config *cfg);
/* The guard_conn MHD keeps as the connection's socket context (the
 * worker's NOTIFY_CONNECTION callback puts it there), or NULL when it is
 * not guarded. Worker thread. */
guard_conn *conn_guard_of(struct MHD_Connection *conn);
/* MHD's accept policy: may a new connection from `addr` be served? false
 * when its address already has limits.max_connections_per_address open
 * (and it is no trusted proxy). Any thread. */
bool conn_guard_admit(const sp_config *cfg, const struct sockaddr *addr);
/* A connection MHD started: counted for its address, its first head's
 * deadline set. NULL when out of memory (the connection is then not
 * guarded, and not counted). */
guard_conn *conn_guard_open(conn_guard *g, int fd, const struct sockaddr *addr, uint64_t now);
/* MHD closed it: uncounted, unlinked, freed. NULL is ignored. */
void conn_guard_close(conn_guard *g, guard_conn *c);
/* The request line arrived: the head must be complete within
 * head_timeout_s from now (or the earlier deadline already set). */
void conn_guard_request_line(const conn_guard *g, guard_conn *c, uint64_t now);
/* The head is complete; with a body, the body clock starts. */
void conn_guard_head_done(guard_conn *c, bool has_body, uint64_t now);
void conn_guard_body_bytes(guard_conn *c, size_t n);
/* The body is complete (or refused): no more deadline until the answer is sent. */
void conn_guard_body_done(guard_conn *c);
/* The answer was sent: the next request's head must be complete within
 * idle_timeout_s + head_timeout_s (idle first, then the head). */
void conn_guard_request_done(const conn_guard *g, guard_conn *c, uint64_t now);
/* Shuts down every connection past its deadline; calls `on_shut` for each
 * (log, count). Returns how many. */
size_t conn_guard_sweep(conn_guard *g, uint64_t now,
                        void (*on_shut)(const guard_conn *c, guard_reason why, void *ctx),
                        void *ctx);

/* The body budget, process-wide: takes n bytes; false (nothing taken)
 * when that would pass limits.max_buffered_bodies (0: no budget, every
 * take succeeds and is counted). */
bool body_budget_take(const sp_config *cfg, size_t n);
void body_budget_give(size_t n);
size_t body_budget_used(void);

#endif
