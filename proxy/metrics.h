/* metrics: process-wide counters and gauges, declared once in an X-macro
 * list. Relaxed atomics: they are statistics, not synchronisation. */
#ifndef SP_METRICS_H
#define SP_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

/* Every exchange ends with exactly one verdict. */
#define VERDICT_LIST(X)                                                      \
    X(MATCH, "match")                                                        \
    X(MISMATCH, "mismatch")                                                  \
    X(KNOWN, "known")                                                        \
    X(SHADOW_ERROR, "shadow_error")                                          \
    X(SHADOW_TIMEOUT, "shadow_timeout")                                      \
    X(SHADOW_DROPPED, "shadow_dropped")                                      \
    X(SKIPPED, "skipped")                                                    \
    X(AUTHORITATIVE_ERROR, "authoritative_error")

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
    X(proxy_errors, "502/504 answers for an authoritative failure")         \
    X(shadow_in_flight, "shadow requests in flight (gauge)")                \
    X(shadow_sent, "shadow requests sent")                                   \
    X(shadow_dropped, "shadow requests not sent: over cap or breaker open") \
    X(breaker_opened, "times a shadow circuit breaker opened")              \
    X(compare_queue_depth, "exchanges waiting for comparison (gauge)")      \
    X(compare_queue_overflow, "exchanges compared without bodies: queue full") \
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

#endif
