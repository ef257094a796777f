/* exchange_job: a finished exchange handed to the analyzer as one job,
 * with its verdict preset when there is nothing to compare. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "data/exchange.h"

static void move_leg(analysis_leg *dst, ex_leg *leg)
{
    dst->attempted = leg->attempted;
    if (!leg->attempted)
        return;
    dst->status = leg->result == CURLE_OK ? leg->status : 0;
    dst->headers = leg->headers;
    memset(&leg->headers, 0, sizeof leg->headers);
    dst->body_whole = !leg->oversize;
    dst->body = leg->oversize ? NULL : blob_ref(leg->capture);
    dst->wire_len = leg->received;
    memcpy(dst->sha256, leg->sha256, sizeof dst->sha256);
    dst->duration_ms = (double)(leg->t_end_ns - leg->t_start_ns) / 1e6;
    if (leg->result != CURLE_OK) {
        char msg[CURL_ERROR_SIZE + 64];
        snprintf(msg, sizeof msg, "%s: %s", leg->cause,
                 leg->errbuf[0] ? leg->errbuf : curl_easy_strerror(leg->result));
        dst->error = strdup(msg);
    }
}

void exchange_submit(exchange *ex)
{
    ex_leg *auth = &ex->legs[ex->authority], *sh = &ex->legs[!ex->authority];
    ex_leg *sec = &ex->legs[LEG_SECONDARY];
    bool refused = ex->write_paused_s > 0; /* no leg ever started */
    if (ex->submitted || (!refused && (!auth->done || (sh->attempted && !sh->done) ||
                                       (sec->attempted && !sec->done))))
        return;
    ex->submitted = true;
    if (log_enabled(LOG_DEBUG)) {
        char st[16];
        snprintf(st, sizeof st, "%d", auth->status);
        log_event(LOG_DEBUG, "exchange", "id", ex->id, "route", ex->route->name, "method",
                  ex->method, "uri", ex->uri, "authority", config_side_name(ex->authority),
                  "status", st, "shadow",
                  sh->attempted ? (sh->result == CURLE_OK ? "answered" : sh->cause)
                                : ex->shadow_reason, NULL);
    }
    analysis_job *job = analysis_job_new();
    if (!job) {
        metric_add(METRIC_records_lost, 1);
        return;
    }
    snprintf(job->id, sizeof job->id, "%s", ex->id);
    snprintf(job->client_id, sizeof job->client_id, "%s", ex->client_id);
    if (ex->traced)
        snprintf(job->trace_id, sizeof job->trace_id, "%s", ex->trace.trace_id);
    job->ts_ms = ex->ts_ms;
    job->rules = rules_ref(ex->rules);
    job->route = ex->route;
    job->method = strdup(ex->method);
    job->uri = strdup(ex->uri);
    job->authority = ex->authority;
    job->req_headers = ex->req_headers;
    memset(&ex->req_headers, 0, sizeof ex->req_headers);
    job->req_body = blob_ref(ex->req_body);
    for (int s = 0; s < 2; s++)
        move_leg(&job->legs[s], &ex->legs[s]);
    move_leg(&job->secondary, sec);
    job->secondary_asked = ex->route && ex->route->noise_secondary;
    job->secondary_reason = ex->secondary_reason;
    if (refused) {
        job->preset = VERDICT_WRITE_PAUSED;
        job->reason = "writes paused by the operator: answered 503";
    } else if (auth->result != CURLE_OK) {
        job->preset = VERDICT_AUTHORITATIVE_ERROR;
        job->reason = auth->cause;
    } else if (!sh->attempted) {
        job->preset = ex->shadow_preset;
        job->reason = ex->shadow_reason;
        /* Nothing to compare it with: the record keeps the request (a
         * replay can send it later) and the answer's status, headers and
         * length, not its body, which would cost a parse and a kilobyte of
         * log per exchange while the shadow is off, paused or down. */
        blob_unref(job->legs[ex->authority].body);
        job->legs[ex->authority].body = NULL;
        job->legs[ex->authority].body_omitted = true;
    } else if (sh->result == CURLE_OPERATION_TIMEDOUT) {
        job->preset = VERDICT_SHADOW_TIMEOUT;
        job->reason = sh->cause;
    } else if (sh->result != CURLE_OK) {
        job->preset = VERDICT_SHADOW_ERROR;
        job->reason = sh->cause;
    } else {
        job->preset = VERDICT_COUNT; /* compare */
    }
    analyzer_submit(ex->env->an, job);
}
