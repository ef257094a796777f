/* analyzer: the comparer pool (compare.threads threads) and the diff-log
 * writer behind it. Workers hand it finished exchanges as jobs, never
 * blocking: each job goes to one comparer's queue, chosen by its request id.
 * A comparer decodes, compares, builds the record and hands its lines to
 * the one writer thread in batches (data/difflog_writer.h). When a comparer
 * falls behind (its queue past half of its part of diff_log.queue, or of
 * the body budget), it is handed a shrinking share of the exchanges, chosen
 * by request id like mirror.sample_percent; the rest get the verdict
 * `skipped` (or keep their preset one) and are counted per route in
 * `overload` records instead of one record each (docs/diff-log.md). */
#ifndef SP_ANALYZER_H
#define SP_ANALYZER_H

#include <curl/curl.h>
#include <pthread.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "base/blob.h"
#include "conf/config.h"
#include "diff/difflog.h"
#include "base/headers.h"
#include "obs/metrics.h"
#include "obs/overload.h"
#include "conf/rules.h"

typedef struct analysis_leg {
    bool attempted;
    int status;           /* 0: no answer */
    hdr_list headers;     /* owned */
    blob *body;           /* captured bytes (a reference), may be NULL */
    bool body_whole;      /* false: larger than the capture cap */
    uint64_t wire_len;
    char sha256[65];
    double duration_ms;
    char *error;          /* owned, NULL when fine */
    bool body_omitted;    /* the body was not kept (body is NULL): record its length only */
} analysis_leg;

/* Confirmed mismatches (rules "confirm", data/confirm.h). ELIGIBLE: a read
 * on a confirming route; a mismatch hands the job to the confirmer, which
 * reads both sides again and hands it back DONE with the re-read answers
 * (or skipped set: why there was none). */
typedef enum confirm_phase { CONFIRM_NONE, CONFIRM_ELIGIBLE, CONFIRM_DONE } confirm_phase;

typedef struct analysis_confirm {
    confirm_phase phase;
    struct curl_slist *headers[2]; /* owned: each side's request headers, as sent */
    char *target[2];      /* owned: each side's request-target */
    analysis_leg reread[2]; /* DONE: the re-read answers, indexed by sp_side */
    const char *skipped;  /* DONE: static, why not re-read (NULL: re-read) */
    long after_ms;        /* the wait it had */
} analysis_confirm;

typedef struct analysis_job {
    struct analysis_job *next;
    char id[64];
    char client_id[64];   /* the client's X-Request-Id when the record needed another id; "" */
    char trace_id[33];    /* W3C trace id of the client's traceparent; "" when none */
    int64_t ts_ms;
    rules *rules;         /* a reference: keeps `route` alive */
    const route *route;
    char *method;         /* owned */
    char *uri;            /* owned */
    sp_side authority;
    verdict preset;       /* VERDICT_COUNT: compare the legs; else final */
    const char *reason;   /* static or reason_owned; why preset (dropped, skipped, ...) */
    char *reason_owned;   /* owned, or NULL (id_unknown's reason names the id) */
    /* Correlated ids (rules "ids"): [[name, legacy, new], ...] the request
     * used and the answers taught; the new side's answer has them mapped
     * back to legacy's before the comparison. Owned, or NULL. */
    json_t *id_pairs;
    hdr_list req_headers; /* owned */
    blob *req_body;       /* a reference, may be NULL */
    analysis_leg legs[2]; /* indexed by sp_side */
    /* Noise detection (rules "noise": {"secondary": true}): legacy asked
     * again; secondary.attempted false when it was not sent (reason why). */
    bool secondary_asked;
    analysis_leg secondary;
    const char *secondary_reason; /* static, or NULL */
    analysis_confirm confirm;
    json_t *fault;        /* owned: the record's "fault" (injected faults), or NULL */
} analysis_job;

typedef struct analyzer analyzer;

/* Starts the comparers and the writer; the config must outlive the
 * analyzer. 0 or -errno. */
int analyzer_start(analyzer **out, const sp_config *cfg);
/* Comparer threads for cfg: compare.threads, -1 as many as the workers,
 * 0 one per core. */
int analyzer_threads(const sp_config *cfg);
/* Takes ownership of job. Never blocks on the comparison; any thread (a
 * worker's lock-free path but for the chosen comparer's queue lock). */
void analyzer_submit(analyzer *a, analysis_job *job);
/* An exchange whose shadow was not sent by choice (config, operator,
 * rules: `why`), with nothing else to log: in `mismatches` mode it gets no
 * job and no record of its own. endpoint: its endpoint when route_name is
 * "default" (counted by endpoint, like that route's records), else NULL. Counts its verdict (`skipped`) in the
 * metrics now, and the calling thread's tally for the per-route metrics,
 * the live view and the route's `not_mirrored` record (obs/overload.h),
 * and returns true. False (nothing counted: submit a job) in `all` mode or
 * with no memory for the tally. Any thread; no shared lock. */
bool analyzer_not_mirrored(analyzer *a, const char *route_name, const char *endpoint,
                           not_mirrored_reason why);
/* An exchange whose shadow was dropped for overload (the saturated
 * worker's yield, the in-flight cap), with nothing else to log: in
 * `mismatches` mode it gets no job and no record of its own, so saturation
 * does not also flood the comparers and the log. Counts its verdict
 * (`shadow_dropped`) in the metrics now and in the calling thread's tally
 * (the route's `overload` record), and returns true; false as
 * analyzer_not_mirrored. Any thread; no shared lock. */
bool analyzer_shadow_overloaded(analyzer *a, const char *route_name);
/* The share of exchanges a comparer is handed, in basis points (10000: all),
 * for `pending` jobs waiting against a limit: all up to half the limit,
 * then falling linearly to none at the limit. Pure. */
unsigned analyzer_share_bp(size_t pending, size_t limit);

typedef struct analyzer_comparer_stats {
    size_t queue_depth;   /* jobs handed to it, not yet analyzed */
    double busy_seconds;  /* time spent analyzing, since start */
    double share;         /* 0..1: the share it was last offered */
    uint64_t compared;    /* jobs analyzed */
    bool yielding;        /* comparing on a budget because a worker is saturated */
} analyzer_comparer_stats;

/* Workers whose load the comparers follow (config `workers` is at most
 * this). */
#define ANALYZER_MAX_WORKERS 64
/* A worker's share of the last window spent busy in its loop (0..1; its
 * libuv loop's idle time is the rest). Any thread; each worker reports its
 * own every WORKER_LOAD_MS (worker < config `workers`: the comparers read
 * only those slots). While one is saturated the comparers yield:
 * they compare on a small budget of CPU time and sleep the rest. */
void analyzer_worker_busy(analyzer *a, int worker, double ratio);
/* The last reported ratios of workers 0..nworkers-1 into out; how many. */
size_t analyzer_worker_busy_ratios(analyzer *a, double *out, size_t nworkers);
/* Should the comparers yield, given whether they do now and the busiest
 * worker's ratio in basis points? Enter at 90%, leave below 80% (no
 * flapping at the edge). Pure. */
bool analyzer_should_yield(bool yielding, unsigned busiest_bp);
/* How long a yielding comparer sleeps, given the wall time since its
 * budget's window began and its own CPU time in it: 0 under the budget
 * (0.3 ms of CPU); else until that CPU is 3% of the wall time, at most
 * 100 ms. CPU time, not the jobs' wall time: a comparer preempted by the
 * worker passes the window's wall time before its budget. Pure. */
uint64_t analyzer_yield_sleep_ns(uint64_t wall_ns, uint64_t cpu_ns);
/* Fills up to max entries, one per comparer; returns how many. Any thread. */
size_t analyzer_comparers(analyzer *a, analyzer_comparer_stats *out, size_t max);
void analyzer_request_reopen(analyzer *a);
/* errno of the diff log's last failed write, 0 when writing works. */
int analyzer_write_error(analyzer *a);
/* Which records are written from now on (a reload of diff_log.mode). */
void analyzer_set_mode(analyzer *a, diff_log_mode mode);
/* The dashboard's live view (live.h), fed by this thread; lives as long as
 * the analyzer. NULL for a NULL analyzer. */
struct live *analyzer_live(analyzer *a);
/* Compares and writes everything queued, then joins the threads. Call once
 * no thread submits. */
void analyzer_stop(analyzer *a);

analysis_job *analysis_job_new(void);
void analysis_job_free(analysis_job *job);
/* Frees a leg's headers, body and error (the leg is left zeroed). */
void analysis_leg_clear(analysis_leg *l);

#endif
