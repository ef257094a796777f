/* front: MHD's access handler for the proxy's clients (front.c). */
#ifndef SP_FRONT_H
#define SP_FRONT_H

#include <microhttpd.h>
#include <stddef.h>

/* MHD_AccessHandlerCallback. *con_cls is the exchange made by the worker's
 * URI callback (NULL: out of memory, the connection is closed). Worker
 * thread, inside MHD_run. */
enum MHD_Result front_on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version,
                                 const char *upload_data, size_t *upload_size, void **con_cls);

#endif
