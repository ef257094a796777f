/* exchange: one client request and its two upstream legs, from the moment
 * MHD sees the request line to the hand-off of the finished pair to the
 * analyzer. Lives on one worker thread. Reference counted: held by the MHD
 * connection and by each running curl transfer (a suspended connection
 * cannot notice its client leaving, so either side may finish last).
 *
 *   RECEIVING --body complete--> WAITING (suspended) --auth headers+body
 *   or overflow or error--> READY --queued--> RESPONDING --> done
 */
#ifndef SP_EXCHANGE_H
#define SP_EXCHANGE_H

#include <curl/curl.h>
#include <microhttpd.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "base/blob.h"
#include "base/headers.h"
#include "base/reqid.h"
#include "base/tracectx.h"
#include "conf/config.h"
#include "conf/faults.h"
#include "conf/ops.h"
#include "conf/rules.h"
#include "data/analyzer.h"
#include "data/h1client.h"
#include "data/ids.h"
#include "data/recv_size.h"
#include "data/shadow_gate.h"
#include "data/upstream.h"
#include "obs/metrics.h"

struct exchange;

#define UP_SECONDARY 2  /* exchange_env.up: the secondary's own pool */

/* What an exchange needs from the loop it lives on, and all it sees of it:
 * the worker embeds one and hands exchanges a pointer. The worker owns the
 * pools, the gate, the shard and the snapshots; exchanges use them. */
typedef struct exchange_env {
    const sp_config *cfg;
    uv_loop_t *loop;          /* the worker's: an injected fault's timer runs on it */
    analyzer *an;             /* finished exchanges go there */
    metrics_shard *shard;     /* the worker's labelled metrics (NULL: none) */
    /* per side: a slow side cannot take the other's connections; [UP_SECONDARY]
     * only with secondary.url (else the secondary uses legacy's pool) */
    upstream_pool up[3];
    /* per side, with shadow.client "auto" and an http:// upstream: the lean
     * client's pool for that side's shadow legs (h1_open says which) */
    h1_pool h1[2];
    bool h1_open[2];
    shadow_gate gate;         /* shadow admission, throttle, release */
    shadow_gate secondary_gate; /* the same for the secondary (noise detection) */
    recv_sizer recv_sizes;    /* shadow.recv_buffer auto: answer sizes per route */
    reqid_gen ids;            /* for requests without a usable X-Request-Id */
    rules *rules;             /* current snapshot; exchanges take their own ref */
    ops_state *ops;           /* operator decisions, read per request */
    size_t mhd_pool_bytes;    /* MHD's memory per connection (request and answer heads) */
    bool draining;            /* answers say Connection: close */
    bool mhd_run_pending;     /* a connection was resumed: the worker runs MHD */
    struct exchange *live;    /* every exchange not yet freed */
} exchange_env;

typedef enum ex_state {
    EX_RECEIVING, /* reading the request */
    EX_WAITING,   /* suspended until the authoritative answer starts */
    EX_READY,     /* response built (or error), resume pending */
    EX_RESPONDING /* queued to MHD */
} ex_state;

typedef struct ex_leg {
    struct exchange *ex;
    sp_side side;         /* the secondary's is SIDE_LEGACY */
    bool secondary;       /* exchange.secondary_leg: legacy asked again, never the client's */
    int pool;             /* index in env->up */
    CURL *easy;           /* non-NULL while a curl transfer runs */
    struct h1_xfer *h1;   /* non-NULL while a lean-client transfer runs (shadow legs only) */
    bool attempted, done;
    bool headers_done;    /* final (non-1xx) header block complete */
    uint32_t recv_buffer; /* a shadow or secondary transfer's curl buffer, while it runs */
    CURLcode result;
    int status;
    int line_status;      /* the last status line's code (1xx included) */
    hdr_list headers;
    blob *capture;        /* body bytes, at most compare_max_body */
    bool oversize;        /* more than the cap arrived: hash and length only */
    uint64_t received;
    EVP_MD_CTX *sha;
    char sha256[65];
    uint64_t t_start_ns, t_end_ns;
    const char *cause;    /* short cause when failed: "timeout", "refused", ... */
    /* Why it failed, in words: curl's error buffer (kept by the pool's
     * handle while the transfer runs, copied here when it fails) or the
     * proxy's refusal. Owned; NULL: curl_easy_strerror(result). Heap, not
     * inline: a slow shadow's exchange stays small (bench/README.md). */
    char *error;
    size_t head_bytes;    /* the final answer's header lines so far */
    bool refused;         /* the proxy refused the answer (error says why) */
    bool over_budget;     /* refused: shadow.max_buffered_bytes was reached */
    size_t buffered;      /* capture bytes taken from that budget (shadow legs) */
    /* What leg_start sends (kept: a delayed leg is sent later). */
    struct curl_slist *send_headers;
    long send_timeout_ms;
    /* An injected fault (conf/faults.h, exchange_fault.c): `faulted` once
     * chosen; fault_timer set while it waits for its time on the loop. */
    bool faulted;
    fault_spec fault;
    int fault_id;         /* the live fault's id; 0: the rules file's */
    long fault_delay_ms;  /* a delay's length for this request */
    struct fault_timer *fault_timer;
} ex_leg;

/* Correlated ids (data/ids.h) of one exchange, all owned (NULL: unused):
 * the shadow's copy rewritten, its target (after the route's own path
 * rewrite when the shadow is new), its header list when a header is
 * rewritten, and the reason when an id was unknown. */
typedef struct ex_ids {
    ids_rewrite w;
    char *shadow_target;
    struct curl_slist *headers;
    char *why;
} ex_ids;

/* A traced exchange's: the client's trace context, and each leg's child
 * span line (indexed by sp_side) sent through a list node put in front of
 * the shared header block. */
typedef struct ex_trace {
    tracectx ctx;
    char line[2][TRACECTX_LINE_MAX];
    struct curl_slist node[2];
} ex_trace;

typedef struct exchange {
    int refs;
    struct exchange *prev, *next; /* env->live */
    exchange_env *env;
    shadow_ticket shadow; /* the shadow leg, as the gate sees it */
    shadow_ticket secondary; /* the secondary leg, as env->secondary_gate sees it */
    struct MHD_Connection *conn; /* NULL once MHD completed the request */
    ex_state state;
    bool suspended;
    int reject_status;    /* answered by the proxy itself (413, 400) */
    const char *reject_msg;
    char *uri;            /* raw request-target */
    char *method;
    char id[64];          /* the record's id: unique in the recent window (base/reqid.h) */
    char client_id[64];   /* the client's X-Request-Id when another exchange had it; else "" */
    char client_ip[64];
    int64_t ts_ms;
    uint64_t t0_ns;
    uint64_t last_rx_ns;  /* last request bytes seen (drain) */
    const sp_config *cfg;
    sp_side authority;
    hdr_list req_headers;
    blob *req_body;
    size_t body_budget;   /* bytes taken from the body budget (conn_guard.h), given back at free */
    bool has_body;        /* the request carried Content-Length or chunked */
    size_t req_head_bytes; /* request line and headers, as counted for the limit */
    rules *rules;         /* the snapshot this exchange started with */
    const route *route;   /* in `rules` */
    /* Upstream request headers per side, one allocation each: [0] is the
     * shadow leg's X-Shadow-Request line, [1..] the list. The new side's is
     * NULL unless the route rewrites headers (then legacy's is shared). */
    struct curl_slist *headers_block[2];
    char *new_target;     /* the new side's request-target when rewritten */
    /* W3C trace context (NULL unless a valid client traceparent came):
     * each leg sends its own child span. An invalid one is dropped. */
    struct ex_trace *trace;
    bool trace_dropped;   /* a traceparent came and was invalid: tracestate goes too */
    ex_leg legs[2];       /* indexed by sp_side */
    /* The secondary leg (rules "noise": {"secondary": true}): allocated
     * when it is sent, NULL on every other exchange (a slow shadow's
     * exchange stays small: bench/README.md, "Memory"). */
    ex_leg *secondary_leg;
    const char *secondary_reason; /* why no secondary leg when the route asked for one */
    verdict shadow_preset; /* VERDICT_COUNT, or dropped/skipped */
    bool shadow_overloaded; /* dropped for overload: the saturated worker's yield
                               (shadow.busy_min_percent) or the in-flight cap */
    int not_mirrored;     /* not_mirrored_reason when not mirrored by choice (config,
                           * operator, rules: preset skipped), else -1 */
    int write_paused_s;   /* > 0: a write refused by the write pause (its Retry-After) */
    const char *shadow_reason;
    struct ex_ids *ids;   /* correlated ids (exchange_ids.c): NULL unless the route has
                           * an "ids" section and the shadow was about to go out */
    /* Response to the client. */
    struct MHD_Response *response;
    unsigned int response_status;
    bool streaming;       /* answer flows through the content reader */
    bool stream_paused;   /* curl paused: window full */
    uint64_t sent;        /* bytes handed to MHD */
    blob *overflow;       /* bytes past the capture while streaming */
    uint64_t overflow_base; /* stream offset of overflow->data[0] */
    bool submitted;       /* handed to the analyzer */
} exchange;

/* A request MHD has started reading (uri: the raw request-target). Holds
 * the MHD connection's reference. NULL when out of memory. */
exchange *exchange_new(exchange_env *env, const char *uri);
void exchange_ref(exchange *ex);
void exchange_unref(exchange *ex);

/* exchange_request.c: builds each side's request headers and target.
 * 0 or -ENOMEM. */
int exchange_build_requests(exchange *ex);
/* The header list for a leg: the shadow's starts with X-Shadow-Request;
 * a traced exchange's with the leg's traceparent. Call once per leg. */
struct curl_slist *exchange_headers_for(exchange *ex, sp_side side, bool shadow);
/* The secondary leg's: legacy's, with X-Shadow-Request, without a trace
 * span (it is not a call the client's trace made). */
struct curl_slist *exchange_headers_secondary(exchange *ex);

/* exchange_job.c: once the authoritative leg and the shadow leg (if
 * started) are done, hands the pair to the analyzer (once; later calls do
 * nothing). Moves the headers and bodies out of the exchange. */
void exchange_submit(exchange *ex);

/* Builds both legs and starts them (the shadow only when allowed). A
 * write while the operator paused writes (ops.h) starts neither: the
 * exchange is READY at once with a 503 (exchange_pause.c). 0 or -ENOMEM. */
int exchange_start(exchange *ex);

/* exchange_ids.c: the shadow's copy of the request with the route's
 * correlated ids replaced (data/ids.h), for a shadow on side `shadow`.
 * 0: send it (maybe rewritten); 1: an id the ledger does not know (the
 * shadow must not be sent; shadow_preset and shadow_reason say so);
 * -ENOMEM. Call only for a route with an "ids" section. */
int exchange_ids_prepare(exchange *ex, sp_side shadow);
/* The shadow leg's header list: `list` with the rewritten header's value
 * (NULL when out of memory). */
struct curl_slist *exchange_ids_headers(exchange *ex, struct curl_slist *list);
/* Frees ex->ids (NULL-safe). */
void exchange_ids_free(exchange *ex);
/* At submit: learns pairs from both answers into the ledger, and gives the
 * job every pair used or learned. 0 or -ENOMEM. */
int exchange_ids_learn(exchange *ex, analysis_job *job);

/* exchange_pause.c: answers a write refused by the write pause: 503,
 * Retry-After: retry_after_s, a JSON body; READY, submitted with the
 * verdict write_paused. Loop thread. 0 or -ENOMEM. */
int exchange_refuse_write(exchange *ex, int retry_after_s);
/* MHD is done with the request (answered, or the client left). */
void exchange_client_done(exchange *ex, enum MHD_RequestTerminationCode toe);

/* An answer that is complete within this many bytes is sent from one buffer
 * with its exact Content-Length; a longer one is streamed. */
#define STREAM_THRESHOLD (256u * 1024u)

/* Streaming: bytes received but not yet handed to MHD before curl pauses. */
#define STREAM_WINDOW (1024u * 1024u)

/* exchange_conn.c: called by the MHD content reader while streaming. */
ssize_t exchange_read_stream(exchange *ex, uint64_t pos, char *buf, size_t max);

/* exchange_conn.c: resumes the client connection if suspended (the worker
 * then runs MHD: env->mhd_run_pending). */
void exchange_resume(exchange *ex);
/* Queues the READY response to MHD (from MHD's access handler). MHD_NO when
 * it could not be built or queued: MHD closes the connection. */
enum MHD_Result exchange_queue_response(exchange *ex);

/* For exchange_fault.c. A delayed leg's send, when its time is up: the
 * transfer starts (the shadow's listed with the gate), or the leg fails as
 * it would have at once. Loop thread. */
void exchange_leg_send(ex_leg *leg);
/* Ends a leg that has no transfer (an injected answer or failure): rc
 * CURLE_OK with status, headers and capture filled, or a failure with
 * `cause`; then as if its transfer had finished (the client answered for
 * the authoritative leg, the pair submitted once both are done). */
void exchange_leg_end(ex_leg *leg, CURLcode rc, const char *cause);

/* exchange_fault.c: with faults.enabled, picks this leg's fault (the
 * route's rules first, then the live ones: faults_live.h) and, if one
 * hits, takes the leg over: true when the caller must not start it (it
 * waits on a timer, then is sent late, answered or failed). Counts the
 * fault in metrics. Loop thread. */
bool exchange_fault_begin(ex_leg *leg);
/* Drain: every leg still waiting for a fault's timer ends as failed with
 * `cause`. */
void exchange_fault_cancel_all(exchange_env *env, const char *cause);
/* The faults injected into ex's legs for its record: [{"side", "role",
 * "kind", ...}], or NULL when none. New reference. */
json_t *exchange_fault_json(const exchange *ex);

/* upstream_done_fn for both pools: a transfer of some exchange finished. */
void exchange_transfer_done(CURL *easy, CURLcode rc, void *ctx);
/* h1_done_fn for the lean client's pools: a shadow leg's transfer finished. */
void exchange_h1_done(void *leg, CURLcode rc, const char *error, int os_errno);

/* exchange_answer.c: the answer's callbacks for both clients (curl's
 * signatures; `p` is the ex_leg). Loop thread. */
size_t exchange_on_header(char *data, size_t size, size_t n, void *p);
size_t exchange_on_body(char *data, size_t size, size_t n, void *p);
/* exchange.c: the authoritative answer is too long for one buffer: it is
 * streamed to the client from now on. */
void exchange_start_streaming(exchange *ex);

/* Is this the leg whose answer the client gets? (The secondary never is.) */
static inline bool ex_leg_is_client(const ex_leg *leg)
{
    return !leg->secondary && leg->side == leg->ex->authority;
}

/* Is a transfer (curl's or the lean client's) running for this leg? */
static inline bool ex_leg_running(const ex_leg *leg)
{
    return leg->easy || leg->h1;
}
/* Drain: every live exchange's legs stopped as failed with `cause`. */
void exchange_abort_all(exchange_env *env, const char *cause);
/* Drain: every tracked shadow and secondary leg stopped as failed with
 * `cause`. */
void exchange_abort_shadows(exchange_env *env, const char *cause);

/* The leg's capture leaves it (handed to the analyzer, hashed instead, or
 * freed): its bytes go back to shadow.max_buffered_bytes. */
static inline void ex_leg_unbuffer(ex_leg *leg)
{
    shadow_buffer_give(leg->buffered);
    leg->buffered = 0;
}

/* A failed leg's detail for errors and records. */
static inline const char *ex_leg_detail(const ex_leg *leg)
{
    return leg->error ? leg->error : curl_easy_strerror(leg->result);
}

/* The id the upstreams and the client see: the client's own, even when
 * the record needed another (ex->client_id set). */
static inline const char *exchange_upstream_id(const exchange *ex)
{
    return ex->client_id[0] ? ex->client_id : ex->id;
}

#endif
