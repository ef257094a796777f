/* analyzer: the comparer thread. Workers hand it finished exchanges as jobs
 * (never blocking: the queue is bounded and over-budget jobs lose their
 * bodies, not their verdict); it decodes, compares, builds the record and
 * appends it to the diff log in batches. */
#ifndef SP_ANALYZER_H
#define SP_ANALYZER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/blob.h"
#include "conf/config.h"
#include "diff/difflog.h"
#include "base/headers.h"
#include "obs/metrics.h"
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

typedef struct analysis_job {
    struct analysis_job *next;
    char id[64];
    char trace_id[33];    /* W3C trace id of the client's traceparent; "" when none */
    int64_t ts_ms;
    rules *rules;         /* a reference: keeps `route` alive */
    const route *route;
    char *method;         /* owned */
    char *uri;            /* owned */
    sp_side authority;
    verdict preset;       /* VERDICT_COUNT: compare the legs; else final */
    const char *reason;   /* static; why preset (dropped, skipped, ...) */
    hdr_list req_headers; /* owned */
    blob *req_body;       /* a reference, may be NULL */
    analysis_leg legs[2]; /* indexed by sp_side */
} analysis_job;

typedef struct analyzer analyzer;

/* Starts the thread; the config must outlive the analyzer. 0 or -errno. */
int analyzer_start(analyzer **out, const sp_config *cfg);
/* Takes ownership of job. Never blocks on the comparison; thread-safe. */
void analyzer_submit(analyzer *a, analysis_job *job);
void analyzer_request_reopen(analyzer *a);
/* errno of the diff log's last failed write, 0 when writing works. */
int analyzer_write_error(analyzer *a);
/* Which records are written from now on (a reload of diff_log.mode). */
void analyzer_set_mode(analyzer *a, diff_log_mode mode);
/* The dashboard's live view (live.h), fed by this thread; lives as long as
 * the analyzer. NULL for a NULL analyzer. */
struct live *analyzer_live(analyzer *a);
/* Compares and writes everything queued, then joins the thread. */
void analyzer_stop(analyzer *a);

analysis_job *analysis_job_new(void);
void analysis_job_free(analysis_job *job);

#endif
