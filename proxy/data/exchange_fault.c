/* exchange_fault: fault injection in the data path (staging only:
 * faults.enabled; conf/faults.h, docs/operations.md "Injecting faults").
 * A leg a fault hits is not started at once: a libuv timer on the
 * worker's loop (never a sleeping thread) waits the delay and then sends
 * it, or (after 0 ms, so the exchange is set up like any other first)
 * answers for the upstream with the fault's status, or fails it as a reset
 * connection. The authoritative leg's answer or 502 reaches the client
 * like an upstream's; a shadow leg's only changes the comparison. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/invariant.h"
#include "data/exchange.h"
#include "data/faults_live.h"
#include "obs/metrics_faults.h"

#define RESET_CAUSE "connection reset (injected fault)"

typedef struct fault_timer {
    uv_timer_t timer;
    ex_leg *leg;
} fault_timer;

static void free_timer(uv_handle_t *h)
{
    free(h->data);
}

/* Stops and closes leg's timer; the leg waits no more. */
static void drop_timer(ex_leg *leg)
{
    fault_timer *t = leg->fault_timer;
    leg->fault_timer = NULL;
    uv_timer_stop(&t->timer);
    t->timer.data = t;
    uv_close((uv_handle_t *)&t->timer, free_timer);
}

/* The injected answer: the fault's status and a JSON body saying so. */
static int fill_answer(ex_leg *leg)
{
    exchange *ex = leg->ex;
    char body[512];
    int n = snprintf(body, sizeof body,
                     "{\"error\":\"injected_fault\",\"message\":\"answered by shadowproxy's "
                     "fault injection (staging), not by the %s upstream\",\"status\":%d,"
                     "\"side\":\"%s\",\"route\":\"%s\",\"fault_id\":%d}\n",
                     config_side_name(leg->side), leg->fault.status,
                     fault_target_name(leg->fault.side), ex->route->name, leg->fault_id);
    assert(n > 0 && (size_t)n < sizeof body); /* route names are at most 64 plain bytes */
    char what[32], len[16];
    snprintf(what, sizeof what, "abort %d", leg->fault.status);
    snprintf(len, sizeof len, "%d", n); /* a HEAD answer shows it, as an upstream's would */
    if (hdr_list_add(&leg->headers, "Content-Type", 12, "application/json", 16) != 0 ||
        hdr_list_add(&leg->headers, "Content-Length", 14, len, strlen(len)) != 0 ||
        hdr_list_add(&leg->headers, "X-Shadowproxy-Fault", 19, what, strlen(what)) != 0 ||
        blob_append(&leg->capture, body, (size_t)n) != 0)
        return -ENOMEM;
    leg->status = leg->fault.status;
    leg->headers_done = true;
    leg->received = (uint64_t)n;
    return 0;
}

static void on_fault_timer(uv_timer_t *h)
{
    fault_timer *t = (fault_timer *)h;
    ex_leg *leg = t->leg;
    exchange *ex = leg->ex;
    drop_timer(leg);
    switch (leg->fault.kind) {
    case FAULT_DELAY:
        exchange_leg_send(leg);
        break;
    case FAULT_ABORT:
        if (fill_answer(leg) == 0)
            exchange_leg_end(leg, CURLE_OK, NULL);
        else
            exchange_leg_end(leg, CURLE_OUT_OF_MEMORY, "proxy out of memory");
        break;
    case FAULT_RESET:
        free(leg->error);
        /* NULL (no memory): curl_easy_strerror's words instead */
        leg->error = strdup("injected fault: the connection was reset (faults, staging)");
        exchange_leg_end(leg, CURLE_RECV_ERROR, RESET_CAUSE);
        break;
    }
    exchange_unref(ex); /* the timer's */
}

/* The leg's fault: the route's (rules file) first, then a live one. */
static bool pick(ex_leg *leg)
{
    exchange *ex = leg->ex;
    bool shadow = leg->side != ex->authority;
    const char *id = exchange_upstream_id(ex);
    const route *rt = ex->route;
    for (size_t i = 0; i < rt->nfaults; i++)
        if (fault_targets(&rt->faults[i], leg->side, shadow) &&
            fault_hits(&rt->faults[i], id)) {
            leg->fault = rt->faults[i];
            leg->fault_id = 0;
            return true;
        }
    return faults_live_pick(rt->name, leg->side, shadow, id, &leg->fault, &leg->fault_id);
}

bool exchange_fault_begin(ex_leg *leg)
{
    exchange *ex = leg->ex;
    if (!ex->cfg->faults_enabled || leg->secondary || !pick(leg))
        return false;
    fault_timer *t = calloc(1, sizeof *t);
    if (!t || uv_timer_init(ex->env->loop, &t->timer) != 0) {
        free(t); /* not injected: the leg goes out as usual */
        return false;
    }
    leg->faulted = true;
    leg->fault_delay_ms =
        leg->fault.kind == FAULT_DELAY ? fault_delay_for(&leg->fault, exchange_upstream_id(ex)) : 0;
    t->leg = leg;
    leg->fault_timer = t;
    leg->attempted = true; /* the exchange waits for this leg */
    leg->t_start_ns = clock_now_ns();
    exchange_ref(ex); /* the timer's */
    /* The loop's clock is in whole milliseconds and may be behind: from
     * a fresh reading, one more millisecond makes the delay at least what
     * was asked (600 ms once measured 599.9 from t_start_ns). */
    uv_update_time(ex->env->loop);
    uint64_t wait_ms = (uint64_t)leg->fault_delay_ms + (leg->fault_delay_ms > 0);
    uv_timer_start(&t->timer, on_fault_timer, wait_ms, 0);
    metrics_fault_injected(ex->route->name, fault_target_name(leg->fault.side),
                           fault_kind_name(leg->fault.kind));
    return true;
}

void exchange_fault_cancel_all(exchange_env *env, const char *cause)
{
    for (exchange *ex = env->live, *next; ex; ex = next) {
        exchange_ref(ex);
        for (int s = 0; s < 2; s++) {
            ex_leg *leg = &ex->legs[s];
            if (!leg->fault_timer)
                continue;
            drop_timer(leg);
            exchange_leg_end(leg, CURLE_ABORTED_BY_CALLBACK, cause);
            exchange_unref(ex); /* the timer's */
        }
        next = ex->next;
        exchange_unref(ex);
    }
}

json_t *exchange_fault_json(const exchange *ex)
{
    json_t *a = NULL;
    for (int s = 0; s < 2; s++) {
        const ex_leg *leg = &ex->legs[s];
        if (!leg->faulted)
            continue;
        json_t *f = json_pack("{s:s, s:s, s:s, s:s}", "side", config_side_name(leg->side),
                              "role", leg->side == ex->authority ? "authoritative" : "shadow",
                              "kind", fault_kind_name(leg->fault.kind), "source",
                              leg->fault_id ? "api" : "rules");
        if (f && leg->fault.kind == FAULT_DELAY)
            json_object_set_new(f, "delay_ms", json_integer(leg->fault_delay_ms));
        if (f && leg->fault.kind == FAULT_ABORT)
            json_object_set_new(f, "status", json_integer(leg->fault.status));
        if (f && leg->fault_id)
            json_object_set_new(f, "id", json_integer(leg->fault_id));
        if (!a)
            a = json_array();
        if (json_array_append_new(a, f) != 0) { /* takes f, even on failure */
            json_decref(a);
            return NULL;
        }
    }
    return a;
}
