/* worker: one thread, one libuv loop, one MHD daemon (external epoll mode)
 * and one upstream pool per side (upstream.h: curl multi handles). Workers
 * share nothing but the listen port (SO_REUSEPORT), the immutable config
 * and the analyzer queue. */
#ifndef SP_WORKER_H
#define SP_WORKER_H

#include <microhttpd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "data/analyzer.h"
#include "conf/config.h"
#include "conf/ops.h"
#include "conf/rules.h"
#include "data/upstream.h"

struct exchange;

typedef struct worker {
    int index;
    const sp_config *cfg;
    analyzer *an;
    uv_thread_t thread;
    uv_loop_t loop;
    int listen_fd;
    struct MHD_Daemon *mhd;
    uv_poll_t mhd_poll;
    uv_timer_t mhd_timer;
    uv_prepare_t prepare;
    uv_async_t wake;          /* commands from the main thread */
    uv_timer_t drain_timer;
    bool mhd_run_pending;     /* a connection was resumed: run MHD */
    bool tls;                 /* serves HTTPS: holds a tls_listen reference */
    metrics_shard *shard;     /* this worker's labelled metrics */
    upstream_pool up[2];      /* per side: a slow side cannot take the other's connections */

    int active;               /* requests MHD has not completed */
    int shadow_in_flight, shadow_cap;
    int breaker_failures;     /* consecutive shadow transport failures */
    uint64_t breaker_open_until_ns; /* 0: closed */
    bool breaker_probing;     /* half-open: one probe in flight */
    struct exchange *live;    /* every exchange not yet freed */
    struct exchange **shadows; /* exchanges with a shadow leg running */
    size_t nshadows, shadows_cap;
    size_t shadow_turn_bytes; /* shadow body bytes taken this loop turn */
    int shadow_throttled;     /* shadow transfers paused until the next turn */
    bool shadow_unpausing;    /* resuming them: take the data curl kept */

    rules *rules;             /* current snapshot; exchanges hold their own ref */
    ops_state *ops;           /* operator decisions, read per request */
    pthread_mutex_t rules_mu; /* guards the pending snapshots, set by others */
    rules *rules_pending;
    ops_state *ops_pending;
    atomic_int command;       /* WORKER_CMD_* set by the main thread */
    bool draining, stopping;
    uint64_t drain_deadline_ns, grace_deadline_ns;
    uv_async_t *notify_exit;  /* main thread's: "a worker has exited" */
    atomic_bool exited;
    uint64_t rng[2];
    uint64_t limit_logged_ns; /* last connection_limit_reached log line */
    size_t mhd_pool_bytes;    /* MHD's memory per connection (request and answer heads) */
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

/* For exchanges (worker thread only). */
void worker_resume(worker *w, struct exchange *ex);
bool worker_shadow_admit(worker *w, const char **why);
void worker_shadow_track(worker *w, struct exchange *ex);
void worker_shadow_release(worker *w, struct exchange *ex, bool transport_ok);
/* A shadow leg is about to take `len` body bytes: true means pause it (its
 * transfer is resumed at the next loop turn). */
bool worker_shadow_throttle(worker *w, struct exchange *ex, size_t len);
void worker_new_id(worker *w, char *out, size_t size);

#endif
