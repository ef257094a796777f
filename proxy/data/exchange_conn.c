/* exchange_conn: the exchange's side of its MHD client connection:
 * resuming it and queuing the READY response (data/exchange.h). Split from
 * exchange.c. Loop thread. */
#include "data/exchange.h"

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
