#include "data/exchange.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/clock.h"
#include "base/hex.h"
#include "base/invariant.h"
#include "base/log.h"
#include "data/conn_guard.h"
#include "data/tls.h"


exchange *exchange_new(exchange_env *env, const char *uri)
{
    exchange *ex = calloc(1, sizeof *ex);
    if (!ex)
        return NULL;
    ex->uri = strdup(uri ? uri : "");
    if (!ex->uri) {
        free(ex);
        return NULL;
    }
    ex->refs = 1; /* the MHD connection's */
    ex->env = env;
    ex->shadow = (shadow_ticket){.owner = ex, .id = ex->id, .slot = -1};
    ex->secondary = (shadow_ticket){.owner = ex, .id = ex->id, .slot = -1};
    ex->next = env->live;
    if (env->live)
        env->live->prev = ex;
    env->live = ex;
    ex->cfg = env->cfg;
    ex->state = EX_RECEIVING;
    ex->t0_ns = ex->last_rx_ns = clock_now_ns();
    ex->ts_ms = clock_wall_ms();
    ex->shadow_preset = VERDICT_COUNT;
    ex->not_mirrored = -1;
    for (int s = 0; s < 2; s++) {
        ex->legs[s].ex = ex;
        ex->legs[s].side = (sp_side)s;
        ex->legs[s].pool = s;
    }
    return ex;
}

void exchange_ref(exchange *ex)
{
    assert(ex->refs > 0); /* a reference to a freed exchange */
    ex->refs++;
}

/* Is `ex` on its worker's list? (a walk: debug builds only) */
static bool is_live(const exchange *ex)
{
    for (const exchange *e = ex->env->live; e; e = e->next)
        if (e == ex)
            return true;
    return false;
}

static void leg_free(ex_leg *leg)
{
    hdr_list_free(&leg->headers);
    blob_unref(leg->capture);
    leg->capture = NULL;
    ex_leg_unbuffer(leg);
    free(leg->error);
    leg->error = NULL;
    if (leg->sha)
        EVP_MD_CTX_free(leg->sha);
    leg->sha = NULL;
}

void exchange_unref(exchange *ex)
{
    assert(ex->refs > 0); /* released more often than referenced */
    if (--ex->refs > 0)
        return;
    /* The last reference: no transfer holds one, and the gate must not
     * keep a pointer to the shadow ticket inside this exchange. */
    assert(!ex_leg_running(&ex->legs[0]) && !ex_leg_running(&ex->legs[1]) &&
           !(ex->secondary_leg && ex_leg_running(ex->secondary_leg)));
    assert(!ex->shadow.admitted && !ex->secondary.admitted);
    debug_assert(is_live(ex));
    if (ex->prev)
        ex->prev->next = ex->next;
    else
        ex->env->live = ex->next;
    if (ex->next)
        ex->next->prev = ex->prev;
    for (int s = 0; s < 2; s++)
        leg_free(&ex->legs[s]);
    if (ex->secondary_leg)
        leg_free(ex->secondary_leg);
    free(ex->secondary_leg);
    free(ex->trace);
    if (ex->response) /* built, never queued: the client went away first */
        MHD_destroy_response(ex->response);
    free(ex->headers_block[0]);
    free(ex->headers_block[1]);
    free(ex->new_target);
    exchange_ids_free(ex);
    rules_unref(ex->rules);
    hdr_list_free(&ex->req_headers);
    blob_unref(ex->req_body);
    if (ex->body_budget)
        body_budget_give(ex->body_budget);
    blob_unref(ex->overflow);
    free(ex->uri);
    free(ex->method);
    free(ex);
}

/* ---- legs ---------------------------------------------------------------- */

/* A shadow leg on the lean client (shadow.client "auto", http:// upstream):
 * the same request curl would send, from the same buffers. */
static int leg_start_h1(ex_leg *leg, struct curl_slist *headers, long timeout_ms,
                        const char *target, const blob *body)
{
    exchange *ex = leg->ex;
    h1_request r = {.method = ex->method, .target = target, .headers = headers,
                    .body = body ? (const char *)body->data : "",
                    .body_len = body ? body->len : 0, .has_body = ex->has_body,
                    .timeout_ms = timeout_ms, .on_header = exchange_on_header, .on_body = exchange_on_body,
                    .data = leg};
    leg->attempted = true;
    leg->t_start_ns = clock_now_ns();
    exchange_ref(ex); /* the transfer's */
    leg->h1 = h1_start(&ex->env->h1[leg->side], &r, leg);
    if (!leg->h1) {
        exchange_unref(ex);
        leg->attempted = false;
        return -ENOMEM;
    }
    return 0;
}

static int leg_start(ex_leg *leg, struct curl_slist *headers, long timeout_ms)
{
    exchange *ex = leg->ex;
    const char *target = leg->side == SIDE_NEW && ex->new_target ? ex->new_target : ex->uri;
    bool shadow_leg = !leg->secondary && leg->side != ex->authority;
    const ex_ids *ids = shadow_leg ? ex->ids : NULL; /* correlated ids: the shadow's copy only */
    const blob *body = ids && ids->w.body ? ids->w.body : ex->req_body;
    if (ids && ids->shadow_target)
        target = ids->shadow_target;
    if (shadow_leg && ex->env->h1_open[leg->side])
        return leg_start_h1(leg, headers, timeout_ms, target, body);
    upstream_pool *pool = &ex->env->up[leg->pool];
    CURL *e = upstream_easy_get(pool); /* the upstream's own settings are on it */
    if (!e)
        return -ENOMEM;
    upstream_transfer t = {target, NULL, headers, exchange_on_header, exchange_on_body, leg,
                          timeout_ms};
    if (upstream_prepare(pool, e, &t) != 0) {
        upstream_easy_put(pool, e);
        return -ENOMEM;
    }
    leg->easy = e;
    upstream_set_owner(e, leg);
    /* The client's leg: curl's default receive buffer. The others:
     * shadow.recv_buffer, or with "auto" (0) sized from the route's recent
     * answers (data/recv_size.h). Set before the transfer starts: curl
     * refuses a new size while one runs. */
    long bufsize = ex_leg_is_client(leg)              ? (long)CURL_MAX_WRITE_SIZE
                   : ex->cfg->shadow_recv_buffer ? (long)ex->cfg->shadow_recv_buffer
                   : recv_size_for(&ex->env->recv_sizes, ex->rules, ex->route);
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, bufsize);
    if (strcmp(ex->method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, NULL);
    } else {
        if (ex->has_body) {
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                             (curl_off_t)(body ? body->len : 0));
            curl_easy_setopt(e, CURLOPT_POSTFIELDS, body ? (const char *)body->data : "");
        }
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, ex->method);
    }
    leg->attempted = true;
    leg->t_start_ns = clock_now_ns();
    exchange_ref(ex); /* the transfer's */
    if (upstream_start(pool, e) != 0) {
        leg->easy = NULL;
        upstream_easy_put(pool, e);
        exchange_unref(ex);
        leg->attempted = false;
        return -EIO;
    }
    if (!ex_leg_is_client(leg)) {
        leg->recv_buffer = (uint32_t)bufsize;
        metric_add(METRIC_shadow_recv_buffer_bytes, bufsize);
    }
    return 0;
}

/* The leg's transfer is over (finished or stopped): its buffer is curl's
 * no more (the handle keeps it idle; the gauge counts running ones). */
static void leg_transfer_over(ex_leg *leg)
{
    metric_add(METRIC_shadow_recv_buffer_bytes, -(int64_t)leg->recv_buffer);
    leg->recv_buffer = 0;
    leg->easy = NULL;
    leg->h1 = NULL;
}

static void leg_fail_now(ex_leg *leg, const char *cause);

/* The secondary (rules "noise": {"secondary": true}): the same request
 * asked of legacy again, for reads only, bounded by its own gate. Its
 * answer only tells the comparer which fields are noise; nothing waits
 * for it but the comparison. */
static void start_secondary(exchange *ex)
{
    const char *why = NULL;
    if (strcmp(ex->method, "GET") != 0 && strcmp(ex->method, "HEAD") != 0) {
        ex->secondary_reason = "not a read"; /* never a write, asked twice */
    } else if (!shadow_gate_admit(&ex->env->secondary_gate, &ex->secondary, &why)) {
        ex->secondary_reason = why;
        metric_add(METRIC_secondary_dropped, 1);
    } else if (!(ex->secondary_leg = calloc(1, sizeof *ex->secondary_leg))) {
        shadow_gate_release(&ex->env->secondary_gate, &ex->secondary, true);
        ex->secondary_reason = "out of memory";
    } else {
        ex_leg *leg = ex->secondary_leg;
        *leg = (ex_leg){.ex = ex, .side = SIDE_LEGACY, .secondary = true,
                        .pool = ex->cfg->secondary_url ? UP_SECONDARY : SIDE_LEGACY};
        long t = ex->cfg->secondary_timeout_ms;
        if (ex->cfg->upstream[SIDE_LEGACY].timeout_ms < t)
            t = ex->cfg->upstream[SIDE_LEGACY].timeout_ms;
        if (leg_start(leg, exchange_headers_secondary(ex), t) == 0) {
            ex->secondary.easy = leg->easy;
            shadow_gate_track(&ex->env->secondary_gate, &ex->secondary);
            metric_add(METRIC_secondary_sent, 1);
        } else {
            shadow_gate_release(&ex->env->secondary_gate, &ex->secondary, true);
            ex->secondary_reason = "cannot start secondary transfer";
        }
    }
}

/* Starts the shadow leg's transfer and lists it with the gate; if it
 * cannot start, gives the slot back and presets shadow_error. */
static void shadow_send(exchange *ex, ex_leg *leg)
{
    if (leg->send_headers && leg_start(leg, leg->send_headers, leg->send_timeout_ms) == 0) {
        ex->shadow.easy = leg->easy;
        ex->shadow.h1 = leg->h1;
        shadow_gate_track(&ex->env->gate, &ex->shadow);
        metric_add(METRIC_shadow_sent, 1);
    } else {
        shadow_gate_release(&ex->env->gate, &ex->shadow, true);
        ex->shadow_preset = VERDICT_SHADOW_ERROR;
        ex->shadow_reason = "cannot start shadow transfer";
    }
}

/* The shadow is not sent, by choice: verdict skipped, and in `mismatches`
 * mode a count in the route's not_mirrored record (exchange_submit). */
static void not_mirrored(exchange *ex, not_mirrored_reason why)
{
    ex->shadow_preset = VERDICT_SKIPPED;
    ex->shadow_reason = not_mirrored_text(why);
    ex->not_mirrored = (int)why;
}

int exchange_start(exchange *ex)
{
    reqid_assign(&reqid_recent, &ex->env->ids, hdr_list_get(&ex->req_headers, "X-Request-Id"),
                 ex->id, sizeof ex->id, ex->client_id, sizeof ex->client_id);
    ex->rules = rules_ref(ex->env->rules);
    const route *rt = ex->route = rules_match(ex->rules, ex->method, ex->uri, &ex->req_headers);
    /* The operator's decision (route, else global) wins over the rules
     * file's route setting, which wins over the config. */
    const ops_state *ops = ex->env->ops;
    int op_auth = ops_authority(ops, rt->name);
    ex->authority = op_auth >= 0 ? (sp_side)op_auth
                    : rt->authority >= 0 ? (sp_side)rt->authority
                                         : ex->cfg->authority;
    double op_sample = ops_sample(ops, rt->name);
    int retry_after = 0;
    if (ops_is_write_method(ex->method) && ops_writes_paused(ops, rt->name, &retry_after))
        return exchange_refuse_write(ex, retry_after); /* reaches neither upstream */
    if (exchange_build_requests(ex) != 0)
        return -ENOMEM;
    sp_side auth = ex->authority, shadow = (sp_side)!auth;
    ex_leg *al = &ex->legs[auth];
    al->send_headers = exchange_headers_for(ex, auth, false);
    al->send_timeout_ms = ex->cfg->upstream[auth].timeout_ms;
    if (!exchange_fault_begin(al) && leg_start(al, al->send_headers, al->send_timeout_ms) != 0)
        leg_fail_now(al, "cannot start transfer");

    const char *why = NULL;
    int ids_rc = 0;
    if (!ex->cfg->shadow_enabled) {
        not_mirrored(ex, NM_SHADOW_DISABLED);
    } else if (ops_paused(ops, rt->name)) {
        not_mirrored(ex, NM_PAUSED);
    } else if (!rt->mirror) {
        not_mirrored(ex, NM_ROUTE_OFF);
    } else if (!rules_mirror_method(rt, ex->method)) {
        not_mirrored(ex, NM_METHOD);
    } else if (op_sample >= 0 ? !rules_sampled_at(op_sample, exchange_upstream_id(ex))
                              : !rules_sampled(rt, exchange_upstream_id(ex))) {
        not_mirrored(ex, NM_NOT_SAMPLED);
    } else if (!shadow_gate_busy_admits(&ex->env->gate, exchange_upstream_id(ex))) {
        /* Before the ids rewrite: its ledger lookups (a lock) are CPU the
         * saturated worker's clients need, for a mirror not sent anyway. */
        ex->shadow_preset = VERDICT_SHADOW_DROPPED;
        ex->shadow_reason = "worker saturated: mirroring yields to the clients";
        ex->shadow_overloaded = true;
        metric_add(METRIC_shadow_dropped, 1);
        metric_add(METRIC_shadow_yielded, 1);
    } else if (rt->ids && (ids_rc = exchange_ids_prepare(ex, shadow)) != 0) {
        if (ids_rc < 0) { /* out of memory: the shadow only */
            ex->shadow_preset = VERDICT_SHADOW_ERROR;
            ex->shadow_reason = "out of memory rewriting correlated ids";
        } /* else id_unknown: preset and reason set */
    } else if (!shadow_gate_admit(&ex->env->gate, &ex->shadow, &why)) {
        ex->shadow_preset = VERDICT_SHADOW_DROPPED;
        ex->shadow_reason = why;
        ex->shadow_overloaded = why == shadow_gate_cap_reason;
        metric_add(METRIC_shadow_dropped, 1);
    } else {
        long t = rt->shadow_timeout_ms > 0 ? rt->shadow_timeout_ms : ex->cfg->shadow_timeout_ms;
        if (ex->cfg->upstream[shadow].timeout_ms < t)
            t = ex->cfg->upstream[shadow].timeout_ms;
        ex_leg *sl = &ex->legs[shadow];
        sl->send_headers = exchange_headers_for(ex, shadow, true);
        if (ex->ids && ex->ids->w.header_name) /* NULL when out of memory: shadow_send says so */
            sl->send_headers = exchange_ids_headers(ex, sl->send_headers);
        sl->send_timeout_ms = t;
        if (!exchange_fault_begin(sl))
            shadow_send(ex, sl);
    }
    if (rt->noise_secondary && ex->legs[shadow].attempted) /* nothing to compare: no use */
        start_secondary(ex);
    return 0;
}

/* ---- the answer to the client ------------------------------------------- */

static const char *cause_of(CURLcode rc, long os_errno)
{
    if (os_errno == ECONNRESET || os_errno == EPIPE)
        return "connection reset";
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT: return "timeout";
    case CURLE_COULDNT_CONNECT: return "connection refused";
    case CURLE_COULDNT_RESOLVE_HOST: return "cannot resolve host";
    case CURLE_RECV_ERROR: return "bad response"; /* e.g. malformed chunking */
    case CURLE_SEND_ERROR: return "send failed";
    case CURLE_GOT_NOTHING: return "empty reply";
    case CURLE_PARTIAL_FILE: return "truncated response";
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_UNSUPPORTED_PROTOCOL: return "bad response";
    case CURLE_WRITE_ERROR:
    case CURLE_OUT_OF_MEMORY: return "proxy out of memory";
    case CURLE_ABORTED_BY_CALLBACK: return "aborted";
    default: return "upstream error";
    }
}

static void add_upstream_headers(exchange *ex, struct MHD_Response *r, bool keep_length)
{
    const hdr_list *h = &ex->legs[ex->authority].headers;
    for (size_t i = 0; i < h->n; i++) {
        const char *name = hdr_name(h, i);
        if (hdr_is_hop_by_hop(h, name))
            continue;
        if (!keep_length && strcasecmp(name, "Content-Length") == 0)
            continue;
        MHD_add_response_header(r, name, hdr_value(h, i));
    }
    if (ex->env->draining)
        MHD_add_response_header(r, "Connection", "close");
}

static void free_capture(void *cls) { blob_unref(cls); }

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    return exchange_read_stream(cls, pos, buf, max);
}

static void stream_reader_free(void *cls) { exchange_unref(cls); }

/* A HEAD answer keeps the upstream's Content-Length: a callback response of
 * that size whose reader MHD never calls. */
static struct MHD_Response *head_response(exchange *ex)
{
    const char *cl = hdr_list_get(&ex->legs[ex->authority].headers, "Content-Length");
    char *end = NULL;
    unsigned long long size = cl ? strtoull(cl, &end, 10) : 0;
    if (!cl || !end || *end)
        return MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    exchange_ref(ex);
    struct MHD_Response *r = MHD_create_response_from_callback(size, 4096, stream_reader,
                                                               ex, stream_reader_free);
    if (!r)
        exchange_unref(ex);
    return r;
}

static void make_ready(exchange *ex, struct MHD_Response *r, unsigned int status)
{
    ex->response = r;
    ex->response_status = status;
    ex->state = EX_READY;
    exchange_resume(ex);
}

static void respond_whole(exchange *ex)
{
    ex_leg *leg = &ex->legs[ex->authority];
    struct MHD_Response *r;
    if (strcmp(ex->method, "HEAD") == 0) {
        r = head_response(ex);
    } else if (leg->capture && leg->capture->len) {
        blob *b = blob_ref(leg->capture);
        r = MHD_create_response_from_buffer_with_free_callback_cls(b->len, b->data,
                                                                   free_capture, b);
        if (!r)
            blob_unref(b);
    } else {
        r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    }
    if (r)
        add_upstream_headers(ex, r, false);
    make_ready(ex, r, (unsigned int)leg->status);
}

void exchange_start_streaming(exchange *ex)
{
    ex_leg *leg = &ex->legs[ex->authority];
    const char *cl = hdr_list_get(&leg->headers, "Content-Length");
    char *end = NULL;
    uint64_t size = MHD_SIZE_UNKNOWN;
    if (cl) {
        unsigned long long v = strtoull(cl, &end, 10);
        if (end && !*end)
            size = v;
    }
    ex->streaming = true;
    exchange_ref(ex); /* the response's */
    struct MHD_Response *r = MHD_create_response_from_callback(size, 64 * 1024, stream_reader,
                                                               ex, stream_reader_free);
    if (!r) {
        exchange_unref(ex);
        make_ready(ex, NULL, 0);
        return;
    }
    add_upstream_headers(ex, r, false);
    make_ready(ex, r, (unsigned int)leg->status);
}

static void respond_error(exchange *ex)
{
    ex_leg *leg = &ex->legs[ex->authority];
    bool timeout = leg->result == CURLE_OPERATION_TIMEDOUT;
    json_t *body = json_pack("{s:s, s:s, s:s, s:s, s:s}",
                             "error", timeout ? "upstream_timeout" : "bad_gateway",
                             "upstream", config_side_name(ex->authority),
                             "cause", leg->cause ? leg->cause : "upstream error",
                             "detail", ex_leg_detail(leg),
                             "request_id", ex->id);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    struct MHD_Response *r = NULL;
    if (text) {
        size_t n = strlen(text);
        text[n] = '\n'; /* overwrite the NUL: the body is sized, not a C string */
        r = MHD_create_response_from_buffer(n + 1, text, MHD_RESPMEM_MUST_FREE);
        if (!r)
            free(text);
    }
    if (r) {
        MHD_add_response_header(r, "Content-Type", "application/json");
        MHD_add_response_header(r, "X-Request-Id", exchange_upstream_id(ex));
        if (ex->env->draining)
            MHD_add_response_header(r, "Connection", "close");
    }
    metric_add(METRIC_proxy_errors, 1);
    log_event(LOG_WARN, "authoritative_error", "id", ex->id, "route",
              ex->route ? ex->route->name : "default", "upstream",
              config_side_name(ex->authority), "cause", leg->cause, "uri", ex->uri, NULL);
    make_ready(ex, r, timeout ? MHD_HTTP_GATEWAY_TIMEOUT : MHD_HTTP_BAD_GATEWAY);
}

/* ---- completion ---------------------------------------------------------- */

/* Why a leg failed, in a word: TLS failures precisely (tls.h), the rest
 * from curl's code and the system error. */
static const char *leg_cause(ex_leg *leg, int h1_errno)
{
    tls_failure f = {.result = leg->result, .message = leg->error, .os_errno = h1_errno};
    if (leg->easy) {
        curl_easy_getinfo(leg->easy, CURLINFO_OS_ERRNO, &f.os_errno);
        /* curl keeps a pooled handle's last system error across transfers
         * (a reset once would name every later failure on it): it is this
         * transfer's only if this transfer's error text names it. */
        const char *said = f.os_errno > 0 ? strerrordesc_np((int)f.os_errno) : NULL;
        if (!said || !leg->error || !strstr(leg->error, said))
            f.os_errno = 0;
        curl_easy_getinfo(leg->easy, CURLINFO_SSL_VERIFYRESULT, &f.verify_result);
        f.cert_requested = upstream_cert_requested(leg->easy);
    }
    f.have_client_cert = leg->ex->cfg->upstream[leg->side].tls.client_cert != NULL;
    const char *tls = tls_failure_cause(&f);
    return tls ? tls : cause_of(leg->result, f.os_errno);
}

static void finish_leg(ex_leg *leg, CURLcode rc, int h1_errno)
{
    assert(!leg->done); /* a leg ends once: one verdict, one release */
    leg->done = true;
    leg->result = rc;
    leg->t_end_ns = clock_now_ns();
    if (rc != CURLE_OK && leg->refused) { /* refuse_answer: say why, not curl's words */
        leg->cause = leg->over_budget ? "over the shadow memory budget" : "bad response";
    } else if (rc != CURLE_OK) {
        const char *msg = leg->easy ? upstream_error(leg->easy) : "";
        if (msg[0] && !leg->error)
            leg->error = strdup(msg); /* NULL (no memory): curl_easy_strerror */
        leg->cause = leg_cause(leg, h1_errno);
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (leg->sha && EVP_DigestFinal_ex(leg->sha, md, &mdlen) == 1 && mdlen == 32)
        hex_encode(md, 32, leg->sha256);
}

static void leg_fail_now(ex_leg *leg, const char *cause)
{
    exchange *ex = leg->ex;
    leg->attempted = true;
    finish_leg(leg, CURLE_FAILED_INIT, 0);
    leg->cause = cause;
    if (ex_leg_is_client(leg) && ex->conn)
        respond_error(ex);
}

/* What follows the end of a leg, however it ended. */
static void leg_ended(ex_leg *leg, bool transport_ok)
{
    exchange *ex = leg->ex;
    if (leg->secondary) { /* not a side: no side's metrics, nobody's answer */
        shadow_gate_release(&ex->env->secondary_gate, &ex->secondary, transport_ok);
        exchange_submit(ex);
        exchange_unref(ex); /* the transfer's */
        return;
    }
    bool shadow = leg->side != ex->authority;
    const char *route_name = ex->route ? ex->route->name : NULL;
    metrics_upstream_seconds(ex->env->shard, route_name, leg->side, shadow,
                             (double)(leg->t_end_ns - leg->t_start_ns) / 1e9);
    if (!shadow) /* what the client gets: the upstream's status, or ours */
        metrics_request(ex->env->shard, route_name, ex->method, ex->authority,
                        leg->result == CURLE_OK ? leg->status
                        : leg->result == CURLE_OPERATION_TIMEDOUT ? 504 : 502);
    if (shadow) {
        shadow_gate_release(&ex->env->gate, &ex->shadow, transport_ok);
    } else if (ex->conn) {
        if (ex->streaming) {
            if (ex->suspended)
                exchange_resume(ex); /* the reader ends the stream */
        } else if (ex->state == EX_WAITING) {
            if (leg->result == CURLE_OK)
                respond_whole(ex);
            else
                respond_error(ex);
        }
    }
    exchange_submit(ex);
    exchange_unref(ex); /* the transfer's */
}

static void leg_finished(ex_leg *leg, CURLcode rc, int h1_errno)
{
    exchange *ex = leg->ex;
    finish_leg(leg, rc, h1_errno);
    if (rc == CURLE_OK && !leg->headers_done) {
        leg->result = CURLE_WEIRD_SERVER_REPLY;
        leg->cause = leg_cause(leg, 0);
    }
    if (leg->result == CURLE_OK) /* a whole answer: its size for recv_size */
        recv_size_saw(&ex->env->recv_sizes, ex->rules, ex->route, leg->head_bytes + leg->received);
    if (leg->easy)
        upstream_easy_put(&ex->env->up[leg->pool], leg->easy);
    leg_transfer_over(leg);
    leg_ended(leg, rc == CURLE_OK || leg->over_budget); /* the budget: not the shadow's fault */
}

static void abort_leg(ex_leg *leg, const char *cause)
{
    exchange *ex = leg->ex;
    if (!ex_leg_running(leg))
        return;
    if (leg->h1)
        h1_cancel(leg->h1);
    else
        upstream_cancel(&ex->env->up[leg->pool], leg->easy);
    leg_transfer_over(leg);
    finish_leg(leg, CURLE_ABORTED_BY_CALLBACK, 0);
    leg->cause = cause;
    leg_ended(leg, true); /* not the upstream's fault: no breaker count */
}

void exchange_leg_send(ex_leg *leg)
{
    exchange *ex = leg->ex;
    uint64_t t0 = leg->t_start_ns; /* the delay counts in the leg's time */
    leg->attempted = false;
    if (ex_leg_is_client(leg)) {
        if (leg_start(leg, leg->send_headers, leg->send_timeout_ms) != 0)
            leg_fail_now(leg, "cannot start transfer");
    } else {
        shadow_send(ex, leg);
    }
    if (ex_leg_running(leg))
        leg->t_start_ns = t0;
    exchange_submit(ex); /* a leg that could not start may have been the last */
}

void exchange_leg_end(ex_leg *leg, CURLcode rc, const char *cause)
{
    exchange *ex = leg->ex;
    assert(!ex_leg_running(leg) && !leg->done);
    exchange_ref(ex); /* what a transfer holds: leg_ended gives it back */
    leg->attempted = true;
    finish_leg(leg, rc, 0);
    if (cause)
        leg->cause = cause;
    leg_ended(leg, true); /* not the upstream's fault: no breaker count */
}

void exchange_client_done(exchange *ex, enum MHD_RequestTerminationCode toe)
{
    ex->conn = NULL;
    if (ex->route) /* a request that reached the upstream: its full duration */
        metrics_request_seconds(ex->env->shard, ex->route->name,
                                (double)(clock_now_ns() - ex->t0_ns) / 1e9);
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
        metric_add(METRIC_client_aborted, 1);
    ex_leg *auth = &ex->legs[ex->authority];
    if (ex->stream_paused && auth->easy) {
        /* Nobody reads any more: let the transfer run to the end so the
         * comparison still sees the whole answer (capture is capped). */
        ex->stream_paused = false;
        curl_easy_pause(auth->easy, CURLPAUSE_CONT);
    }
    exchange_unref(ex);
}

void exchange_transfer_done(CURL *easy, CURLcode rc, void *ctx)
{
    (void)ctx;
    ex_leg *leg = upstream_owner(easy);
    if (leg)
        leg_finished(leg, rc, 0);
}

void exchange_h1_done(void *owner, CURLcode rc, const char *error, int os_errno)
{
    ex_leg *leg = owner;
    assert(leg->h1);
    if (rc != CURLE_OK && error[0] && !leg->error && !leg->refused)
        leg->error = strdup(error); /* NULL (no memory): curl_easy_strerror */
    leg_finished(leg, rc, os_errno);
}

void exchange_abort_all(exchange_env *env, const char *cause)
{
    exchange_fault_cancel_all(env, cause);
    for (exchange *ex = env->live, *next; ex; ex = next) {
        exchange_ref(ex);
        abort_leg(&ex->legs[ex->authority], cause);
        abort_leg(&ex->legs[!ex->authority], cause);
        if (ex->secondary_leg)
            abort_leg(ex->secondary_leg, cause);
        next = ex->next;
        exchange_unref(ex);
    }
}

void exchange_abort_shadows(exchange_env *env, const char *cause)
{
    exchange_fault_cancel_all(env, cause);
    for (shadow_ticket *t; (t = shadow_gate_last(&env->gate));) {
        /* A listed leg still runs: aborting it unlists it (else: no end). */
        assert(ex_leg_running(&t->owner->legs[!t->owner->authority]));
        abort_leg(&t->owner->legs[!t->owner->authority], cause);
    }
    for (shadow_ticket *t; (t = shadow_gate_last(&env->secondary_gate));) {
        assert(t->owner->secondary_leg && ex_leg_running(t->owner->secondary_leg));
        abort_leg(t->owner->secondary_leg, cause);
    }
}
