/* exchange_pause: a write refused by the operator's write pause (ops.h,
 * docs/operations.md "Pausing writes"). The client gets 503 with
 * Retry-After and a JSON body saying why; neither upstream sees the
 * request; the exchange is recorded with the verdict write_paused. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/invariant.h"
#include "data/exchange.h"

int exchange_refuse_write(exchange *ex, int retry_after_s)
{
    assert(retry_after_s > 0 && ex->route);
    char msg[160], retry[16];
    snprintf(msg, sizeof msg,
             "writes are paused by the operator (read-only mode); retry after %d s",
             retry_after_s);
    snprintf(retry, sizeof retry, "%d", retry_after_s);
    json_t *body = json_pack("{s:s, s:s, s:s, s:i, s:s}", "error", "writes_paused", "message",
                             msg, "route", ex->route->name, "retry_after_s", retry_after_s,
                             "request_id", ex->id);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text)
        return -ENOMEM;
    size_t n = strlen(text);
    text[n] = '\n'; /* overwrite the NUL: the body is sized, not a C string */
    struct MHD_Response *r = MHD_create_response_from_buffer(n + 1, text, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(text);
        return -ENOMEM;
    }
    MHD_add_response_header(r, "Content-Type", "application/json");
    MHD_add_response_header(r, "Retry-After", retry);
    MHD_add_response_header(r, "X-Request-Id", ex->id);
    if (ex->env->draining)
        MHD_add_response_header(r, "Connection", "close");
    ex->write_paused_s = retry_after_s;
    ex->response = r;
    ex->response_status = MHD_HTTP_SERVICE_UNAVAILABLE;
    ex->state = EX_READY; /* front queues it at once: never suspended */
    metrics_request(ex->env->shard, ex->route->name, ex->method, ex->authority,
                    MHD_HTTP_SERVICE_UNAVAILABLE);
    exchange_submit(ex);
    return 0;
}
