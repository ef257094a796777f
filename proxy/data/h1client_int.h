/* h1client_int: what h1client.c (transfers, the pool) and h1client_conn.c
 * (connections: resolve, connect, write, read) share. Not for other
 * modules: use data/h1client.h. */
#ifndef SP_H1CLIENT_INT_H
#define SP_H1CLIENT_INT_H

#include <stdarg.h>

#include "base/h1parse.h"
#include "data/h1client.h"

typedef struct h1_conn {
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_write_t wreq;
    h1_pool *pool;
    struct h1_xfer *x;      /* busy: its transfer; NULL: idle or closing */
    struct h1_conn *next, *prev; /* pool->idle */
    uint64_t idle_since_ms;
    char *carry;            /* bytes read and not yet parsed (a partial line, a paused body) */
    size_t carry_len, carry_cap;
    bool connected, writing, closing, in_idle, reading;
    bool idle_after_write;  /* answered while libuv had yet to report the write: idle then */
} h1_conn;

typedef struct h1_xfer {
    h1_pool *pool;
    h1_conn *conn;
    void *owner;
    h1_request req;
    uv_timer_t timer;       /* connect, then total timeout; data: this */
    struct h1_xfer *wait_next; /* pool->resolve_waiters, while resolving */
    h1parse parser;
    uint64_t start_ms;
    uint64_t connect_ms;    /* when this connection attempt began (its resolve
                             * too): a retry's connect has its own time, as
                             * curl's has; the total counts from start_ms */
    int addr_i;             /* the address being tried */
    char cl_line[48];       /* "Content-Length: N\r\n" */
    bool reused, retried, paused, finished, reported, got_byte, resolving;
    CURLcode rc;
    int os_errno;
    int send_errno;         /* the request's write failed (errno): the read side ends it */
    char *error;            /* a failure's words (owned; NULL: none, or no memory for them) */
    struct h1_xfer *next_in[2]; /* its link in pool->q[H1_Q_START], pool->q[H1_Q_DONE] */
    bool queued;            /* in the start queue: not sent yet */
} h1_xfer;

/* h1client.c */
void h1x_finish(h1_xfer *x, CURLcode rc, int os_errno, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void h1x_arm_timer(h1_xfer *x, bool connecting);
uint64_t h1x_now_ms(const h1_pool *p);
uint64_t h1x_dns_cache_ms(void);

/* h1client_conn.c */
void h1x_literal(h1_pool *p);         /* an IP literal host: addresses set for good */
void h1x_get_conn(h1_xfer *x);        /* an idle connection, else resolve and connect */
void h1x_forget_resolve(h1_xfer *x);  /* a finished transfer stops waiting for the lookup */
void h1x_drop_lookup(h1_pool *p);     /* the pool closes: its lookup's result is dropped */
void h1c_idle(h1_conn *c);            /* back to the pool (or closed when full) */
void h1c_close(h1_conn *c);           /* closed, freed once libuv is done with it */
int h1x_on_head(void *ctx, const char *line, size_t len);
int h1x_on_body(void *ctx, const char *data, size_t len);

#endif
