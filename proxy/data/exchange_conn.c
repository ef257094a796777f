/* exchange_conn: the exchange's side of its MHD client connection:
 * resuming it, queuing the READY response and feeding a streamed answer
 * (data/exchange.h). Split from exchange.c. Loop thread. */
#include "data/exchange.h"

#include <string.h>

#include "base/invariant.h"

void exchange_resume(exchange *ex)
{
    if (!ex->suspended || !ex->conn)
        return;
    ex->suspended = false;
    MHD_resume_connection(ex->conn);
    ex->env->mhd_run_pending = true;
}

enum MHD_Result exchange_queue_response(exchange *ex)
{
    assert(ex->state == EX_READY && ex->conn);
    struct MHD_Response *r = ex->response;
    ex->response = NULL;
    ex->state = EX_RESPONDING;
    if (!r)
        return MHD_NO; /* out of memory building it: close the connection */
    enum MHD_Result rc = MHD_queue_response(ex->conn, ex->response_status, r);
    MHD_destroy_response(r);
    return rc;
}

ssize_t exchange_read_stream(exchange *ex, uint64_t pos, char *buf, size_t max)
{
    ex_leg *leg = &ex->legs[ex->authority];
    size_t n = 0;
    size_t cap_len = leg->capture ? leg->capture->len : 0;
    if (pos < cap_len) {
        n = cap_len - (size_t)pos < max ? cap_len - (size_t)pos : max;
        memcpy(buf, leg->capture->data + pos, n);
    } else if (ex->overflow && pos >= ex->overflow_base &&
               pos < ex->overflow_base + ex->overflow->len) {
        size_t off = (size_t)(pos - ex->overflow_base);
        n = ex->overflow->len - off < max ? ex->overflow->len - off : max;
        memcpy(buf, ex->overflow->data + off, n);
        off += n;
        if (off >= 256 * 1024 && off * 2 >= ex->overflow->len) {
            /* Slide the window so it never grows past STREAM_WINDOW-ish. */
            memmove(ex->overflow->data, ex->overflow->data + off, ex->overflow->len - off);
            ex->overflow->len -= off;
            ex->overflow_base += off;
        }
    } else if (leg->done) {
        return leg->result == CURLE_OK ? MHD_CONTENT_READER_END_OF_STREAM
                                       : MHD_CONTENT_READER_END_WITH_ERROR;
    } else {
        /* Nothing buffered yet: sleep until on_body resumes us. */
        if (ex->conn && !ex->suspended) {
            MHD_suspend_connection(ex->conn);
            ex->suspended = true;
        }
        return 0;
    }
    ex->sent = pos + n;
    if (ex->stream_paused && leg->easy && leg->received - ex->sent < STREAM_WINDOW / 2) {
        ex->stream_paused = false;
        curl_easy_pause(leg->easy, CURLPAUSE_CONT); /* may call on_body now */
    }
    return (ssize_t)n;
}
