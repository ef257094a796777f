/* metrics: what the proxy counts, and its Prometheus exposition.
 *
 * Two layers:
 *   - process-wide counters and gauges, declared once in an X-macro list
 *     (METRIC_LIST), plus the global verdict counts: relaxed atomics, any
 *     thread (metric_add, metric_verdict);
 *   - labelled metrics (per route, method, side...) in a sharded registry:
 *     each worker thread and the analyzer own one shard and write it with
 *     no lock, no allocation after warm-up and no system call; the scraper
 *     (GET /metrics) reads every shard and sums. docs/metrics.md lists every
 *     metric name. */
#ifndef SP_METRICS_H
#define SP_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/config.h"

/* Every exchange ends with exactly one verdict. */
#define VERDICT_LIST(X)                                                      \
    X(MATCH, "match")                                                        \
    X(MISMATCH, "mismatch")                                                  \
    X(KNOWN, "known")                                                        \
    X(SHADOW_ERROR, "shadow_error")                                          \
    X(SHADOW_TIMEOUT, "shadow_timeout")                                      \
    X(SHADOW_DROPPED, "shadow_dropped")                                      \
    X(SKIPPED, "skipped")                                                    \
    X(AUTHORITATIVE_ERROR, "authoritative_error")                            \
    X(WRITE_PAUSED, "write_paused")                                          \
    X(ID_UNKNOWN, "id_unknown")

typedef enum verdict {
#define X(id, name) VERDICT_##id,
    VERDICT_LIST(X)
#undef X
    VERDICT_COUNT
} verdict;

const char *verdict_name(verdict v);

#define METRIC_LIST(X)                                                       \
    X(requests, "requests received (complete requests)")                    \
    X(client_aborted, "requests whose client went away before the answer")  \
    X(rejected, "requests refused by the proxy (413, 400, 503)")            \
    X(body_budget_rejected, "requests refused 503: limits.max_buffered_bodies") \
    X(slow_clients_closed, "connections closed: head or body too slow")     \
    X(address_limit_refused, "connections refused: max_connections_per_address") \
    X(proxy_errors, "502/504 answers for an authoritative failure")         \
    X(shadow_in_flight, "shadow requests in flight (gauge)")                \
    X(shadow_sent, "shadow requests sent")                                   \
    X(upstream_handles_trimmed, "idle curl handles (and lean-client connections) freed after a burst") \
    X(shadow_recv_buffer_bytes, "curl receive buffers of shadow and secondary requests in flight (gauge)") \
    X(h1_connections_open, "lean shadow client: connections open (gauge)") \
    X(h1_connections_idle, "lean shadow client: idle keep-alive connections (gauge)") \
    X(h1_reused, "lean shadow client: requests sent on a kept connection") \
    X(h1_retries, "lean shadow client: requests sent again on a fresh connection") \
    X(h1_stray_closed, "lean shadow client: kept connections closed for bytes after an answer") \
    X(shadow_dropped, "shadow requests not sent (over cap, breaker open, worker saturated) or over the memory budget") \
    X(shadow_yielded, "shadow requests not sent: the worker was saturated") \
    X(shadow_over_budget, "shadow answers not read whole: over shadow.max_buffered_bytes") \
    X(breaker_opened, "times a shadow circuit breaker opened")              \
    X(secondary_in_flight, "secondary (noise) requests in flight (gauge)")  \
    X(secondary_sent, "secondary (noise) requests sent")                     \
    X(secondary_dropped, "secondary requests not sent: over cap or breaker open") \
    X(secondary_breaker_opened, "times a secondary circuit breaker opened") \
    X(noise_differences, "differences marked noise: the two legacy answers differ there too") \
    X(confirm_started, "mismatches taken for a confirmation (re-read of both sides)") \
    X(confirm_in_flight, "confirmations waiting or re-reading (gauge)")     \
    X(confirm_rereads, "confirmation re-reads sent (both sides each)")      \
    X(confirm_transient, "confirmations: equal on the re-read")             \
    X(confirm_confirmed, "confirmations: still different on the re-read")   \
    X(confirm_failed, "confirmations whose re-read failed")                 \
    X(confirm_skipped, "mismatches not confirmed: over budget or shutting down") \
    X(ids_ledger_size, "id ledger pairs held (gauge)")                       \
    X(ids_learned, "id pairs learned")                                       \
    X(ids_hits, "id ledger lookups that found the pair")                     \
    X(ids_misses, "id ledger lookups that did not")                          \
    X(ids_evicted, "id pairs dropped for the count or age bound")            \
    X(ids_fleet_published, "id pairs written to the fleet's store")          \
    X(ids_fleet_received, "id pairs other replicas learned, added here")     \
    X(ids_fleet_dropped, "id pairs not shared: the publish queue was full")  \
    X(ids_fleet_failures, "writes or reads of the fleet's id pairs that failed") \
    X(compare_queue_depth, "exchanges waiting for comparison (gauge)")      \
    X(compare_offered, "exchanges with two answers to compare")            \
    X(compare_sampled_out, "exchanges not compared: overload sampling")   \
    X(records_unlogged, "exchanges counted in overload records, no own record") \
    X(records_written, "diff-log records written")                          \
    X(records_lost, "diff-log records lost (queue full or write error)")    \
    X(difflog_write_errors, "diff-log write errors")                        \
    X(difflog_bytes, "diff-log bytes written")                               \
    X(rules_reloaded, "successful rules reloads")                            \
    X(rules_reload_failed, "rules reloads refused: invalid file")

typedef enum metric {
#define X(id, help) METRIC_##id,
    METRIC_LIST(X)
#undef X
    METRIC_COUNT
} metric;

typedef struct metrics {
    atomic_uint_fast64_t v[METRIC_COUNT];
    atomic_uint_fast64_t verdicts[VERDICT_COUNT];
} metrics;

/* The process's one instance, owned by this module. */
extern metrics g_metrics;

static inline void metric_add(metric m, int64_t d)
{
    atomic_fetch_add_explicit(&g_metrics.v[m], (uint_fast64_t)d, memory_order_relaxed);
}
static inline uint64_t metric_get(metric m)
{
    return atomic_load_explicit(&g_metrics.v[m], memory_order_relaxed);
}
static inline void metric_verdict(verdict v)
{
    atomic_fetch_add_explicit(&g_metrics.verdicts[v], 1, memory_order_relaxed);
}
static inline uint64_t metric_verdict_get(verdict v)
{
    return atomic_load_explicit(&g_metrics.verdicts[v], memory_order_relaxed);
}
const char *metric_name(metric m);

/* ---- Labelled metrics: the sharded registry ----------------------------- */

#define METRICS_MAX_ROUTES 1000 /* route names per shard; more count as "other" */
#define METRICS_TOP_PATHS 20    /* field paths exported per route; the rest "other" */
#define METRICS_MAX_LABEL 200   /* bytes kept of a route name or field path */
/* Endpoint templates (conf/endpoint.h) counted per endpoint shard; more
 * count as "other". An endpoint is a label value inferred from traffic, so
 * its cap is far below the routes' (which an operator wrote). */
#define METRICS_MAX_ENDPOINTS 100

typedef struct metrics_shard metrics_shard;
typedef struct metrics_route metrics_route;

/* A shard for the calling thread ("worker-3", "analyzer"), registered in
 * the process registry. Only the thread that owns it may write it (another
 * thread may take it over after metrics_shard_release). Its counts stay in
 * the sums until metrics_shutdown. A released shard with the same owner
 * name is handed out again instead of a new one (a restarted worker keeps
 * its memory). NULL on no memory; every function below accepts NULL and
 * then counts nothing. */
metrics_shard *metrics_shard_new(const char *owner);
/* A shard whose entries are endpoints (docs/metrics.md,
 * shadowproxy_endpoint_verdicts_total), not routes: count into it with
 * metrics_verdict_route only, naming the endpoint; past
 * METRICS_MAX_ENDPOINTS distinct endpoints it counts "other". Same
 * ownership rules as metrics_shard_new. */
metrics_shard *metrics_endpoint_shard_new(const char *owner);
/* The owner is done with it (thread exiting); its counts stay. */
void metrics_shard_release(metrics_shard *s);
/* Frees every shard. Call at process end, once no thread uses a shard and
 * no scrape runs. The registry is empty and usable again afterwards. */
void metrics_shutdown(void);

/* Hot path, owner thread only. `route` is copied on first sight (the
 * caller's string may die with its rules snapshot); NULL counts as
 * "default"; past METRICS_MAX_ROUTES distinct names a shard counts further
 * names as "other". One lookup costs a hash of the name and a compare. */

/* A request answered: method GET HEAD POST PUT PATCH DELETE OPTIONS, else
 * OTHER; status 100..599 counts in its class "1xx".."5xx", anything else
 * (0: no answer) as "error". */
void metrics_request(metrics_shard *s, const char *route, const char *method,
                     sp_side authority, int status);
/* One upstream exchange's duration (histogram per route, side and role). */
void metrics_upstream_seconds(metrics_shard *s, const char *route, sp_side side,
                              bool shadow, double seconds);
/* The client-facing duration of a request, request received to answer
 * sent (optional: with it, docs/metrics.md can show the proxy's own added
 * latency). */
void metrics_request_seconds(metrics_shard *s, const char *route, double seconds);

/* The same with the route looked up once: a handle stays valid for the
 * shard's life (until metrics_shutdown) and belongs to the shard's owner. */
metrics_route *metrics_route_of(metrics_shard *s, const char *route);
void metrics_route_request(metrics_route *r, const char *method, sp_side authority, int status);
void metrics_route_upstream(metrics_route *r, sp_side side, bool shadow, double seconds);
void metrics_route_seconds(metrics_route *r, double seconds);

/* Analyzer. Per-route verdicts (the global count stays metric_verdict's:
 * call both). */
void metrics_verdict_route(metrics_shard *s, const char *route, verdict v);
/* n of them at once (0: nothing, not even the route). */
void metrics_verdict_route_n(metrics_shard *s, const char *route, verdict v, uint64_t n);
/* A confirmation's outcome on `route` (rules "confirm", data/confirm.h):
 * "transient", "confirmed", "failed" or "skipped"; anything else is not
 * counted. Allocates only for a route new to the shard. */
#define METRICS_CONFIRM_OUTCOMES 4
extern const char *const metrics_confirm_outcomes[METRICS_CONFIRM_OUTCOMES];
void metrics_confirm_route(metrics_shard *s, const char *route, const char *outcome);
/* One difference found: where "status" | "header" | "body" (anything else
 * is not counted), path its field path (copied). Each route exports its
 * METRICS_TOP_PATHS most frequent paths, and every other difference as
 * path="other" (see docs/metrics.md for the approximation). Allocates when
 * a path is new to the route. */
void metrics_mismatch_path(metrics_shard *s, const char *route, const char *where,
                           const char *path);

/* ---- Exposition ---------------------------------------------------------- */

typedef enum metrics_breaker {
    METRICS_BREAKER_CLOSED = 0,
    METRICS_BREAKER_OPEN = 1,
    METRICS_BREAKER_HALF_OPEN = 2,
} metrics_breaker;

/* A route's effective operator state (route decision, else global, else
 * rules, else config). */
typedef struct metrics_route_state {
    const char *route;
    sp_side authority;
    bool shadow_paused;
    double sample_percent; /* 0..100; 100 when not sampled */
    bool writes_paused;    /* write methods answered 503 (ops.h) */
} metrics_route_state;

/* One comparer thread of the pool (data/analyzer.h). */
typedef struct metrics_comparer {
    uint64_t queue_depth;
    double busy_seconds;
    double share;   /* 0..1 */
    bool yielding;  /* on a CPU budget: a worker is saturated */
} metrics_comparer;

/* What the registry does not know; every member may be zero / NULL. */
typedef struct metrics_render_input {
    const char *version;          /* build version (SP_VERSION) */
    double uptime_seconds;
    sp_side authority;            /* global */
    bool shadow_paused;           /* global */
    double sample_percent;        /* global, 0..100 */
    bool writes_paused;           /* global */
    const metrics_route_state *routes;
    size_t nroutes;
    const metrics_breaker *breakers; /* one per worker, index = worker number */
    size_t nbreakers;
    const metrics_comparer *comparers; /* one per comparer thread */
    size_t ncomparers;
    const double *worker_busy;    /* per worker: busy share of its loop, 0..1 */
    size_t nworker_busy;
    const char *rules_version;    /* NULL: no shadowproxy_rules_info */
    double rules_loaded_unix;     /* seconds since the epoch; 0: unknown */
    const char *const *restart_keys; /* config keys (JSON Pointers) waiting for a restart */
    size_t nrestart_keys;
    const char *decisions_store;  /* NULL: no shadowproxy_decisions_* */
    bool decisions_up;
    int64_t decisions_revision;   /* applied here */
    double decisions_last_sync_unix; /* 0: never */
    uint64_t decisions_warnings;
} metrics_render_input;

/* The Prometheus text exposition format 0.0.4 (Content-Type
 * "text/plain; version=0.0.4; charset=utf-8") of everything: METRIC_LIST,
 * global verdicts, every shard summed, and `in` (may be NULL). malloc'd,
 * NUL-terminated, length in *len; NULL on no memory. Any thread; safe while
 * the owners write. */
char *metrics_render(const metrics_render_input *in, size_t *len);

#endif
