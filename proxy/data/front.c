/*
 * front: MHD's access handler. Reads a client's request into its exchange
 * (headers, then the body), refuses what must not go upstream with an
 * answer of the proxy's own (400, 413, 431, 501, 503; the connection is then
 * closed), tells the connection's guard (conn_guard.h) when a head and a
 * body are in, keeps bodies within the process's body budget, starts the exchange once the request is complete and suspends
 * the connection until the exchange has a response; then queues it.
 */
#include "data/front.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "data/conn_guard.h"
#include "data/exchange.h"
#include "data/reqcheck.h"

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      size_t key_size, const char *value, size_t value_size)
{
    (void)kind;
    exchange *ex = cls;
    const char *bad = reqcheck_field(key, key_size, value ? value : "", value ? value_size : 0);
    if (bad && !ex->reject_msg)
        ex->reject_msg = bad; /* answered once every field is in */
    if (hdr_list_add(&ex->req_headers, key, key_size, value ? value : "",
                     value ? value_size : 0) != 0)
        return MHD_NO;
    return MHD_YES;
}

static void client_address(exchange *ex)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(ex->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    strcpy(ex->client_ip, "unknown");
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ex->client_ip,
                  sizeof ex->client_ip);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, ex->client_ip,
                  sizeof ex->client_ip);
}

/* An answer of the proxy's own: {"error": code, "message": ...}. */
static enum MHD_Result answer_self(exchange *ex, unsigned int status, const char *code,
                                   const char *message)
{
    guard_conn *g = conn_guard_of(ex->conn);
    if (g) /* whatever the client still sends is not read as a body */
        conn_guard_body_done(g);
    char body[512];
    int n = snprintf(body, sizeof body, "{\"error\":\"%s\",\"message\":\"%s\"}\n", code, message);
    struct MHD_Response *r =
        MHD_create_response_from_buffer((size_t)n, body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json");
    MHD_add_response_header(r, "Connection", "close");
    if (status == MHD_HTTP_SERVICE_UNAVAILABLE)
        MHD_add_response_header(r, "Retry-After", "1");
    enum MHD_Result rc = MHD_queue_response(ex->conn, status, r);
    MHD_destroy_response(r);
    ex->state = EX_RESPONDING;
    metric_add(METRIC_rejected, 1);
    return rc;
}

/* A NUL byte inside the method or the request-target: libmicrohttpd
 * splits the request line into C strings in place, so "G\0T /x" reaches us
 * as method "G", and "/a\0b" as target "/a". In its buffer the method is
 * followed by the target, and the target's raw text (ex->uri, copied
 * before MHD percent-decoded it in place) by the version: anything but the
 * separators between one string's end and the next string's start was cut
 * off by a NUL. Checked only when the strings are laid out that way. (A NUL
 * right before the space looks like the separator: it is just dropped.) */
static bool gap_is_separator(const char *end, const char *next, size_t bound)
{
    if (next <= end || (size_t)(next - end) > bound)
        return true; /* not one buffer as expected: nothing to tell */
    for (const char *p = end; p < next; p++)
        if (*p != '\0' && *p != ' ' && *p != '\t')
            return false;
    return true;
}

static const char *request_line_problem(exchange *ex, const char *method, const char *url,
                                        const char *version)
{
    size_t bound = ex->cfg->max_header_bytes;
    if (!reqcheck_token(method, strlen(method)))
        return "the method is not a token";
    if (url && !gap_is_separator(method + strlen(method), url, bound))
        return "the method has a NUL byte";
    if (url && version && !gap_is_separator(url + strlen(ex->uri), version, bound))
        return "the request target has a NUL byte";
    return reqcheck_target(ex->uri);
}

/* Makes sure ex holds `total` bytes of the body budget (taking what it
 * lacks). false when the budget has no room: nothing more is taken. */
static bool budget_reserve(exchange *ex, size_t total)
{
    if (total <= ex->body_budget)
        return true;
    if (!body_budget_take(ex->cfg, total - ex->body_budget))
        return false;
    ex->body_budget = total;
    return true;
}

static enum MHD_Result answer_budget_full(exchange *ex)
{
    metric_add(METRIC_body_budget_rejected, 1);
    return answer_self(ex, MHD_HTTP_SERVICE_UNAVAILABLE, "overloaded",
                       "the request bodies the proxy holds would exceed "
                       "limits.max_buffered_bodies; retry later");
}

/* First call: headers are in, the body (if any) is not. */
static enum MHD_Result begin_request(exchange *ex, const char *method, const char *url,
                                     const char *version)
{
    ex->method = strdup(method);
    if (!ex->method)
        return MHD_NO;
    guard_conn *g = conn_guard_of(ex->conn);
    if (g) /* the head is in; a body's clock starts once it is accepted */
        conn_guard_head_done(g, false, clock_now_ns());
    if (MHD_get_connection_values_n(ex->conn, MHD_HEADER_KIND, collect_header, ex) < 0)
        return MHD_NO;
    client_address(ex);
    /* MHD's connection pool must also hold the answer's headers, so it is
     * sized larger than the limit on what the client may send: check here. */
    size_t head = strlen(method) + strlen(ex->uri) + 12;
    for (size_t i = 0; i < ex->req_headers.n; i++)
        head += ex->req_headers.f[i].name_len + ex->req_headers.f[i].value_len + 4;
    ex->req_head_bytes = head;
    if (head > ex->cfg->max_header_bytes)
        return answer_self(ex, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE,
                           "request_header_fields_too_large",
                           "request line and headers exceed limits.max_header_bytes");
    if (ex->uri[0] != '/') {
        /* absolute-form, authority-form (CONNECT) and '*': never an open proxy */
        ex->reject_status = MHD_HTTP_BAD_REQUEST;
        ex->reject_msg = "only origin-form request targets are proxied";
        return answer_self(ex, ex->reject_status, "bad_request", ex->reject_msg);
    }
    /* Malformed request line or header field (set by collect_header), or
     * ambiguous framing: refused before anything goes upstream, and the
     * connection is closed (the rest of its bytes cannot be trusted). */
    const char *why = request_line_problem(ex, method, url, version);
    if (why || ex->reject_msg) {
        ex->reject_status = MHD_HTTP_BAD_REQUEST;
        ex->reject_msg = why ? why : ex->reject_msg;
        return answer_self(ex, ex->reject_status, "bad_request", ex->reject_msg);
    }
    bool http10 = version && strcmp(version, MHD_HTTP_VERSION_1_0) == 0;
    int framing = reqcheck_framing(&ex->req_headers, http10, &why);
    if (framing) {
        ex->reject_status = framing;
        ex->reject_msg = why;
        return answer_self(ex, ex->reject_status,
                           framing == 501 ? "not_implemented" : "bad_request", why);
    }
    const char *cl = hdr_list_get(&ex->req_headers, "Content-Length");
    ex->has_body = cl || hdr_list_get(&ex->req_headers, "Transfer-Encoding");
    unsigned long long length = cl ? strtoull(cl, NULL, 10) : 0;
    if (length > ex->cfg->max_request_body) {
        ex->reject_status = MHD_HTTP_CONTENT_TOO_LARGE;
        return answer_self(ex, ex->reject_status, "request_too_large",
                           "request body exceeds limits.max_request_body");
    }
    /* A declared length is reserved whole before a byte is read: refused
     * now, the client has sent nothing more (with Expect: 100-continue). */
    if (length && !budget_reserve(ex, (size_t)length)) {
        ex->reject_status = MHD_HTTP_SERVICE_UNAVAILABLE;
        return answer_budget_full(ex);
    }
    if (g)
        conn_guard_head_done(g, ex->has_body, clock_now_ns());
    return MHD_YES;
}

enum MHD_Result front_on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version,
                                 const char *upload_data, size_t *upload_size, void **con_cls)
{
    (void)cls;
    (void)conn;
    exchange *ex = *con_cls;
    if (!ex)
        return MHD_NO;
    if (!ex->method)
        return begin_request(ex, method, url, version);
    guard_conn *g = conn_guard_of(conn);
    if (*upload_size) {
        size_t have = ex->req_body ? ex->req_body->len : 0;
        if (g)
            conn_guard_body_bytes(g, *upload_size);
        if (ex->reject_status) {
            /* discard: MHD refuses a response in the middle of an upload */
        } else if (have + *upload_size > ex->cfg->max_request_body ||
                   !budget_reserve(ex, have + *upload_size)) {
            bool too_large = have + *upload_size > ex->cfg->max_request_body;
            ex->reject_status = too_large ? MHD_HTTP_CONTENT_TOO_LARGE
                                          : MHD_HTTP_SERVICE_UNAVAILABLE;
            blob_unref(ex->req_body);
            ex->req_body = NULL;
            body_budget_give(ex->body_budget); /* nothing of it is held any more */
            ex->body_budget = 0;
        } else if (blob_append(&ex->req_body, upload_data, *upload_size) != 0) {
            return MHD_NO;
        }
        *upload_size = 0;
        ex->last_rx_ns = clock_now_ns();
        return MHD_YES;
    }
    switch (ex->state) {
    case EX_RECEIVING:
        if (g)
            conn_guard_body_done(g);
        if (ex->reject_status == MHD_HTTP_SERVICE_UNAVAILABLE)
            return answer_budget_full(ex);
        if (ex->reject_status)
            return answer_self(ex, ex->reject_status, "request_too_large",
                               "request body exceeds limits.max_request_body");
        metric_add(METRIC_requests, 1);
        ex->state = EX_WAITING;
        if (exchange_start(ex) != 0)
            return answer_self(ex, MHD_HTTP_SERVICE_UNAVAILABLE, "out_of_memory",
                               "the proxy could not allocate the exchange");
        if (ex->state == EX_READY)
            return exchange_queue_response(ex);
        MHD_suspend_connection(conn);
        ex->suspended = true;
        return MHD_YES;
    case EX_READY:
        return exchange_queue_response(ex);
    default:
        return MHD_YES;
    }
}
