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

#include "base/blob.h"
#include "conf/config.h"
#include "base/headers.h"
#include "obs/metrics.h"
#include "conf/rules.h"

struct worker;

typedef enum ex_state {
    EX_RECEIVING, /* reading the request */
    EX_WAITING,   /* suspended until the authoritative answer starts */
    EX_READY,     /* response built (or error), resume pending */
    EX_RESPONDING /* queued to MHD */
} ex_state;

typedef struct ex_leg {
    struct exchange *ex;
    sp_side side;
    CURL *easy;           /* non-NULL while the transfer runs */
    bool attempted, done;
    bool headers_done;    /* final (non-1xx) header block complete */
    bool throttled;       /* a shadow leg paused until the next loop turn */
    CURLcode result;
    int status;
    hdr_list headers;
    blob *capture;        /* body bytes, at most compare_max_body */
    bool oversize;        /* more than the cap arrived: hash and length only */
    uint64_t received;
    EVP_MD_CTX *sha;
    char sha256[65];
    uint64_t t_start_ns, t_end_ns;
    char errbuf[CURL_ERROR_SIZE];
    const char *cause;    /* short cause when failed: "timeout", "refused", ... */
    size_t head_bytes;    /* the final answer's header lines so far */
    char refused[128];    /* non-empty: the proxy refused the answer (why) */
} ex_leg;

typedef struct exchange {
    int refs;
    struct exchange *prev, *next; /* the worker's list of live exchanges */
    int shadow_slot;      /* index in the worker's shadow list, or -1 */
    struct worker *w;
    struct MHD_Connection *conn; /* NULL once MHD completed the request */
    ex_state state;
    bool suspended;
    int reject_status;    /* answered by the proxy itself (413, 400) */
    const char *reject_msg;
    char *uri;            /* raw request-target */
    char *method;
    char id[64];
    char client_ip[64];
    int64_t ts_ms;
    uint64_t t0_ns;
    uint64_t last_rx_ns;  /* last request bytes seen (drain) */
    const sp_config *cfg;
    sp_side authority;
    hdr_list req_headers;
    blob *req_body;
    bool has_body;        /* the request carried Content-Length or chunked */
    size_t req_head_bytes; /* request line and headers, as counted for the limit */
    rules *rules;         /* the snapshot this exchange started with */
    const route *route;   /* in `rules` */
    /* Upstream request headers per side, one allocation each: [0] is the
     * shadow leg's X-Shadow-Request line, [1..] the list. The new side's is
     * NULL unless the route rewrites headers (then legacy's is shared). */
    struct curl_slist *headers_block[2];
    char *new_target;     /* the new side's request-target when rewritten */
    ex_leg legs[2];       /* indexed by sp_side */
    verdict shadow_preset; /* VERDICT_COUNT, or dropped/skipped */
    const char *shadow_reason;
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

exchange *exchange_new(struct worker *w, const char *uri);
void exchange_ref(exchange *ex);
void exchange_unref(exchange *ex);

/* exchange_request.c: builds each side's request headers and target.
 * 0 or -ENOMEM. */
int exchange_build_requests(exchange *ex);
/* The header list for a leg: the shadow's starts with X-Shadow-Request. */
struct curl_slist *exchange_headers_for(exchange *ex, sp_side side, bool shadow);

/* Builds both legs and starts them (the shadow only when allowed). */
int exchange_start(exchange *ex);
/* A curl transfer of this exchange finished. */
void exchange_leg_finished(ex_leg *leg, CURLcode rc);
/* MHD is done with the request (answered, or the client left). */
void exchange_client_done(exchange *ex, enum MHD_RequestTerminationCode toe);
/* Stops a running leg as failed with `cause` (shutdown). */
void exchange_abort_leg(exchange *ex, sp_side side, const char *cause);

/* Called by the MHD content reader while streaming. */
ssize_t exchange_read_stream(exchange *ex, uint64_t pos, char *buf, size_t max);

#endif
