/* exchange_job: a finished exchange handed to the analyzer as one job,
 * with its verdict preset when there is nothing to compare. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "conf/endpoint.h"
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
    ex_leg_unbuffer(leg); /* the analyzer's queue has its own budget */
    dst->wire_len = leg->received;
    memcpy(dst->sha256, leg->sha256, sizeof dst->sha256);
    dst->duration_ms = (double)(leg->t_end_ns - leg->t_start_ns) / 1e6;
    if (leg->result != CURLE_OK) {
        char msg[CURL_ERROR_SIZE + 64];
        snprintf(msg, sizeof msg, "%s: %s", leg->cause, ex_leg_detail(leg));
        dst->error = strdup(msg);
    }
}

/* A list of its own for a re-read: the leg's lines as the shadow sent them
 * (X-Shadow-Request: 1 first: the re-read is nobody's call but ours). */
static struct curl_slist *copy_headers(const struct curl_slist *from)
{
    struct curl_slist *out = NULL;
    for (const struct curl_slist *n = from; n; n = n->next) {
        struct curl_slist *t = curl_slist_append(out, n->data);
        if (!t) {
            curl_slist_free_all(out);
            return NULL;
        }
        out = t;
    }
    return out;
}

/* Rules "confirm" (data/confirm.h): what a second read of both sides will
 * need, kept with the job in case the comparison finds a mismatch. Reads
 * only: a write is never sent twice. */
static void keep_for_confirm(exchange *ex, analysis_job *job)
{
    if (!ex->route->confirm.enabled || job->preset != VERDICT_COUNT ||
        (strcmp(ex->method, "GET") != 0 && strcmp(ex->method, "HEAD") != 0))
        return;
    for (int s = 0; s < 2; s++) {
        struct curl_slist *block = ex->headers_block[s] ? ex->headers_block[s]
                                                        : ex->headers_block[SIDE_LEGACY];
        const char *t = s == SIDE_NEW && ex->new_target ? ex->new_target : ex->uri;
        const ex_ids *ids = s != (int)ex->authority ? ex->ids : NULL;
        if (ids && ids->shadow_target) /* correlated ids, as sent */
            t = ids->shadow_target;
        if (ids && ids->headers)
            block = ids->headers;
        job->confirm.headers[s] = copy_headers(block);
        job->confirm.target[s] = strdup(t);
        if (!job->confirm.headers[s] || !job->confirm.target[s]) {
            job->confirm.phase = CONFIRM_DONE; /* a mismatch says: skipped, out of memory */
            job->confirm.skipped = "out of memory";
            job->confirm.after_ms = ex->route->confirm.after_ms;
            return;
        }
    }
    job->confirm.phase = CONFIRM_ELIGIBLE;
}

/* Not mirrored by choice, nothing else to say (no fault injected in the
 * answer): in `mismatches` mode a count, not a job and a record. The route
 * `default`'s by endpoint, as its records are. True when counted. */
static bool count_not_mirrored(exchange *ex)
{
    char endpoint[ENDPOINT_MAX];
    bool by_endpoint = strcmp(ex->route->name, "default") == 0;
    if (by_endpoint)
        endpoint_template(ex->method, ex->uri, endpoint, sizeof endpoint);
    return analyzer_not_mirrored(ex->env->an, ex->route->name, by_endpoint ? endpoint : NULL,
                                 (not_mirrored_reason)ex->not_mirrored);
}

void exchange_submit(exchange *ex)
{
    ex_leg *auth = &ex->legs[ex->authority], *sh = &ex->legs[!ex->authority];
    const ex_leg *sec = ex->secondary_leg;
    bool refused = ex->write_paused_s > 0; /* no leg ever started */
    if (ex->submitted || (!refused && (!auth->done || (sh->attempted && !sh->done) ||
                                       (sec && sec->attempted && !sec->done))))
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
    if (!refused && auth->result == CURLE_OK && !sh->attempted && !auth->faulted &&
        ((ex->not_mirrored >= 0 && count_not_mirrored(ex)) ||
         (ex->shadow_overloaded && analyzer_shadow_overloaded(ex->env->an, ex->route->name))))
        return;
    analysis_job *job = analysis_job_new();
    if (!job) {
        metric_add(METRIC_records_lost, 1);
        return;
    }
    snprintf(job->id, sizeof job->id, "%s", ex->id);
    snprintf(job->client_id, sizeof job->client_id, "%s", ex->client_id);
    if (ex->trace)
        snprintf(job->trace_id, sizeof job->trace_id, "%s", ex->trace->ctx.trace_id);
    job->ts_ms = ex->ts_ms;
    job->rules = rules_ref(ex->rules);
    job->route = ex->route;
    job->method = strdup(ex->method);
    job->uri = strdup(ex->uri);
    job->authority = ex->authority;
    job->req_headers = ex->req_headers;
    memset(&ex->req_headers, 0, sizeof ex->req_headers);
    job->req_body = blob_ref(ex->req_body);
    bool compared = !refused && auth->result == CURLE_OK && sh->attempted &&
                    sh->result == CURLE_OK;
    if (ex->route && ex->route->ids && compared && exchange_ids_learn(ex, job) != 0)
        log_event(LOG_WARN, "ids_learn_failed", "id", ex->id, "error", "out of memory", NULL);
    for (int s = 0; s < 2; s++)
        move_leg(&job->legs[s], &ex->legs[s]);
    if (ex->secondary_leg)
        move_leg(&job->secondary, ex->secondary_leg);
    job->secondary_asked = ex->route && ex->route->noise_secondary;
    job->secondary_reason = ex->secondary_reason;
    job->fault = exchange_fault_json(ex);
    if (refused) {
        job->preset = VERDICT_WRITE_PAUSED;
        job->reason = "writes paused by the operator: answered 503";
    } else if (auth->result != CURLE_OK) {
        job->preset = VERDICT_AUTHORITATIVE_ERROR;
        job->reason = auth->cause;
    } else if (!sh->attempted) {
        job->preset = ex->shadow_preset;
        job->reason = ex->shadow_reason;
        if (ex->ids && ex->ids->why) { /* the record outlives the exchange */
            job->reason_owned = ex->ids->why;
            job->reason = ex->ids->why;
            ex->ids->why = NULL;
        }
        /* Nothing to compare it with: the record keeps the request (a
         * replay can send it later) and the answer's status, headers and
         * length, not its body, which would cost a parse and a kilobyte of
         * log per exchange while the shadow is off, paused or down. */
        blob_unref(job->legs[ex->authority].body);
        job->legs[ex->authority].body = NULL;
        job->legs[ex->authority].body_omitted = true;
    } else if (sh->over_budget) { /* dropped and counted: memory, not the shadow */
        job->preset = VERDICT_SHADOW_DROPPED;
        job->reason = sh->cause;
        metric_add(METRIC_shadow_dropped, 1);
    } else if (sh->result == CURLE_OPERATION_TIMEDOUT) {
        job->preset = VERDICT_SHADOW_TIMEOUT;
        job->reason = sh->cause;
    } else if (sh->result != CURLE_OK) {
        job->preset = VERDICT_SHADOW_ERROR;
        job->reason = sh->cause;
    } else {
        job->preset = VERDICT_COUNT; /* compare */
    }
    keep_for_confirm(ex, job);
    analyzer_submit(ex->env->an, job);
}
