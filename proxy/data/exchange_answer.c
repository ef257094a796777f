/* exchange_answer: an upstream answer as it arrives, for either client
 * (curl's HEADERFUNCTION/WRITEFUNCTION, data/h1client.h's): the head into
 * the leg's header list (framing a proxy must refuse refused), the body
 * captured up to the comparison cap, hashed past it, streamed to the
 * client for the authoritative leg, throttled for the others. Part of the
 * exchange module (exchange.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/h1framing.h"
#include "data/exchange.h"

static shadow_gate *gate_of(ex_leg *leg)
{
    return leg->secondary ? &leg->ex->env->secondary_gate : &leg->ex->env->gate;
}

static shadow_ticket *ticket_of(ex_leg *leg)
{
    return leg->secondary ? &leg->ex->secondary : &leg->ex->shadow;
}

/* Framing curl would accept but a proxy must not (RFC 9112 6.3; curl
 * takes one of two Content-Lengths that disagree, reads "12abc" as 12):
 * base/h1framing.h's rules, the lean client's parser's too. Returns why,
 * or NULL. */
static const char *bad_framing(const hdr_list *h)
{
    h1framing f;
    h1framing_init(&f);
    for (size_t i = 0; i < h->n; i++)
        h1framing_field(&f, hdr_name(h, i), h->f[i].name_len, hdr_value(h, i), h->f[i].value_len);
    return h1framing_why(&f);
}

/* Aborts the transfer: the proxy refuses this answer (a 502 "bad response"
 * if it is the client's). */
static size_t refuse_answer(ex_leg *leg, const char *why)
{
    leg->refused = true;
    free(leg->error);
    leg->error = strdup(why); /* NULL (no memory): curl's words instead */
    return 0;
}

size_t exchange_on_header(char *data, size_t size, size_t n, void *p)
{
    ex_leg *leg = p;
    exchange *ex = leg->ex;
    size_t len = size * n;
    if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        /* A new status line: 1xx interim answers start over. The code
         * from the line itself ("HTTP/1.1 200 OK"), whichever client. */
        const char *sp = memchr(data, ' ', len);
        leg->line_status = sp && data + len - sp > 3 ? atoi(sp + 1) : 0;
        hdr_list_clear(&leg->headers);
        leg->headers_done = false;
        leg->head_bytes = len;
        return len;
    }
    if (leg->headers_done)
        return len; /* trailers: not forwarded */
    if (len <= 2 && (data[0] == '\r' || data[0] == '\n')) {
        int code = leg->line_status;
        if (code >= 200) {
            const char *why = bad_framing(&leg->headers);
            if (why)
                return refuse_answer(leg, why);
            leg->headers_done = true;
            leg->status = code;
        }
        return len;
    }
    /* The client's answer is built in MHD's per-connection memory, which
     * also holds the request: headers that do not fit would make MHD drop
     * the connection without a word. Refused early with a clear 502. */
    leg->head_bytes += len;
    size_t pool = ex->env->mhd_pool_bytes, reserve = ex->req_head_bytes + 8192;
    if (ex_leg_is_client(leg) && ex->conn && leg->head_bytes + reserve > pool) {
        char why[128];
        snprintf(why, sizeof why, "response headers too large for the client (more than %zu bytes)",
                 pool > reserve ? pool - reserve : 0);
        return refuse_answer(leg, why);
    }
    bool folded = data[0] == ' ' || data[0] == '\t';
    const char *colon = folded ? NULL : memchr(data, ':', len);
    if (!colon && !(folded && leg->headers.n > 0))
        return len; /* junk: the client already validated framing */
    const char *v = colon ? colon + 1 : data, *end = data + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    /* obs-fold (RFC 9112 5.2): a proxy passes it on as one space */
    int rc = colon ? hdr_list_add(&leg->headers, data, (size_t)(colon - data), v, (size_t)(end - v))
                   : hdr_list_extend_last(&leg->headers, v, (size_t)(end - v));
    if (rc != 0)
        return 0; /* out of memory: fail the transfer */
    return len;
}

/* Past the comparison cap the body is compared by length and SHA-256 only.
 * Hashing starts here, not per request: bodies under the cap are hashed by
 * the comparer only if a record needs it. */
static int start_hash(ex_leg *leg, bool keep_capture)
{
    leg->oversize = true;
    leg->sha = EVP_MD_CTX_new();
    if (!leg->sha || EVP_DigestInit_ex(leg->sha, EVP_sha256(), NULL) != 1)
        return -ENOMEM;
    if (leg->capture)
        EVP_DigestUpdate(leg->sha, leg->capture->data, leg->capture->len);
    if (!keep_capture) { /* only the client stream still needs those bytes */
        blob_unref(leg->capture);
        leg->capture = NULL;
        ex_leg_unbuffer(leg);
    }
    return 0;
}

size_t exchange_on_body(char *data, size_t size, size_t n, void *p)
{
    ex_leg *leg = p;
    exchange *ex = leg->ex;
    size_t len = size * n;
    bool auth = ex_leg_is_client(leg);
    bool to_client = auth && ex->conn != NULL;
    if (!auth && shadow_gate_throttle(gate_of(leg), ticket_of(leg), len))
        return CURL_WRITEFUNC_PAUSE;
    if (to_client && ex->streaming && leg->received - ex->sent >= STREAM_WINDOW) {
        ex->stream_paused = true;
        return CURL_WRITEFUNC_PAUSE; /* curl keeps the data for later */
    }
    size_t cap = ex->cfg->compare_max_body;
    if (!leg->oversize && leg->received + len <= cap) {
        /* A shadow's answer is held until its exchange is handed over:
         * many large ones at once are bounded in total, not only each. */
        if (!auth && !shadow_buffer_take(ex->cfg, len)) {
            leg->over_budget = true;
            metric_add(METRIC_shadow_over_budget, 1);
            return refuse_answer(leg, "over the shadow memory budget: the shadow answers held "
                                      "at once reached shadow.max_buffered_bytes");
        }
        leg->buffered += auth ? 0 : len;
        if (blob_append(&leg->capture, data, len) != 0)
            return 0;
    } else {
        if (!leg->oversize && start_hash(leg, auth) != 0)
            return 0;
        EVP_DigestUpdate(leg->sha, data, len);
        if (to_client) {
            if (!ex->streaming)
                exchange_start_streaming(ex);
            if (!ex->overflow)
                ex->overflow_base = leg->received;
            if (blob_append(&ex->overflow, data, len) != 0)
                return 0;
        }
    }
    leg->received += len;
    if (to_client) {
        if (!ex->streaming && leg->received >= STREAM_THRESHOLD && leg->headers_done)
            exchange_start_streaming(ex);
        else if (ex->streaming && ex->suspended)
            exchange_resume(ex);
    }
    return len;
}
