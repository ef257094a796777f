/* worker: one thread, one libuv loop, one MHD daemon (external epoll mode)
 * and one upstream pool per side (upstream.h: curl multi handles): the loop
 * glue, the process-wide connection limit and the drain. What a request
 * needs besides (the pools, the shadow gate, ids, the snapshots, the
 * analyzer) is in the exchange_env the worker owns and its exchanges see.
 * Workers share nothing but the listen port (SO_REUSEPORT), the immutable
 * config, the connection count and the analyzer queue. */
#ifndef SP_WORKER_H
#define SP_WORKER_H

#include <microhttpd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "conf/config.h"
#include "conf/ops.h"
#include "conf/rules.h"
#include "data/analyzer.h"
#include "data/conn_guard.h"
#include "data/exchange.h"

typedef struct worker {
    int index;
    const sp_config *cfg;
    uv_thread_t thread;
    uv_thread_t loop_thread;  /* the same, as the worker's own thread sees it */
    uv_loop_t loop;
    int listen_fd;
    struct MHD_Daemon *mhd;
    uv_poll_t mhd_poll;
    uv_timer_t mhd_timer;
    uv_prepare_t prepare;
    uv_async_t wake;          /* commands from the main thread */
    uv_timer_t drain_timer;
    bool tls;                 /* serves HTTPS: holds a tls_listen reference */
    bool loop_open;           /* worker_start's progress, for its one cleanup path */
    bool up_open[3];          /* env.up[i] initialised */
    config_upstream secondary_up; /* legacy's settings with secondary.url (owned url) */
    int nhandles;             /* loop handles initialised, in start order */
    exchange_env env;         /* what its exchanges see: pools, gate, snapshots, ... */
    conn_guard guard;         /* slow clients, per-address cap (conn_guard.h) */
    uv_timer_t guard_timer;   /* sweeps the guard every second */
    uv_timer_t load_timer;    /* reports the loop's busy share (analyzer_worker_busy) */
    uint64_t load_at_ns, load_idle_ns; /* the last report's hrtime and idle time */

    pthread_mutex_t rules_mu; /* guards the pending snapshots, set by others */
    rules *rules_pending;
    ops_state *ops_pending;
    atomic_int command;       /* WORKER_CMD_* set by the main thread */
    bool stopping;
    uint64_t drain_deadline_ns, grace_deadline_ns;
    uv_async_t *notify_exit;  /* main thread's: "a worker has exited" */
    atomic_bool exited;
    uint64_t limit_logged_ns; /* last connection_limit_reached log line */
} worker;

enum { WORKER_CMD_NONE = 0, WORKER_CMD_DRAIN = 1, WORKER_CMD_STOP = 2 };

/* Starts the thread. listen_fd becomes the worker's, and so do the
 * references to `r` and `o`. 0 or -errno. */
int worker_start(worker *w, int index, const sp_config *cfg, analyzer *an,
                 int listen_fd, rules *r, ops_state *o, uv_async_t *notify_exit);
void worker_command(worker *w, int cmd); /* thread-safe */
/* Hands the worker a new rule set (takes the reference); requests that
 * arrive after the worker picks it up use it. Thread-safe. */
void worker_set_rules(worker *w, rules *r);
/* The same for the operator's decisions. */
void worker_set_ops(worker *w, ops_state *o);
/* 0 closed, 1 open, 2 half-open (probing). Racy read, for /state. */
int worker_breaker_state(const worker *w);
void worker_join(worker *w);

#endif
