/* admin: the admin HTTP API and the dashboard (docs/operations.md). Its
 * own libmicrohttpd daemon on its own address (never the traffic port), one
 * thread per connection (so a slow /readyz probe never delays /healthz), at
 * most ADMIN_MAX_CONNECTIONS at once, behind a front door that admits a
 * connection only with its whole head (ADMIN_HEAD_TIMEOUT_MS) and answers
 * /healthz itself. When a token is configured, every
 * endpoint but /healthz needs `Authorization: Bearer TOKEN` (compared in
 * constant time) or the dashboard's session cookie (GET / shows a login
 * form, which sets it); a browser's state-changing requests also need the
 * dashboard's CSRF header. Everything it changes goes through control_*,
 * naming the client's "IP:PORT" and the token's name (admin_decide.c's
 * control_who; "token:NAME from IP:PORT" where control takes a string). A viewer token (admin.tokens) may only read: changes get 403. */
#ifndef SP_ADMIN_H
#define SP_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "conf/config.h"
#include "ctrl/control.h"

#define ADMIN_MAX_BODY ((size_t)64 * 1024) /* larger request bodies: 413 */
#define ADMIN_MAX_CONNECTIONS 16u
#define ADMIN_TIMEOUT_S 10u                /* idle admin connections */
#define ADMIN_HEAD_TIMEOUT_MS 5000         /* a request head must arrive whole within it */
#define ADMIN_BODY_TIMEOUT_MS 10000        /* and its body (<= 64 KiB) within this after it */
#define ADMIN_PENDING_MAX 64               /* connections waiting for their head */
#define ADMIN_PROBE_TIMEOUT_MS 1000        /* /readyz: TCP connect to each upstream */

typedef struct admin admin;

/* Starts the admin API on cfg->admin_listen ("HOST:PORT", port 0 picks a
 * free one). The tokens are read now: cfg->admin_token_file or the
 * variable cfg->admin_token_env (not both; the operator "admin"), and each
 * of cfg->admin_tokens. Refuses to start when the
 * address is not loopback (127.0.0.0/8, ::1, localhost) and no token is
 * configured, when the token cannot be read or is empty, or when the
 * address cannot be bound: returns a negative errno with a one-line
 * message in err. An empty admin_listen means "off": returns 0 with
 * *out = NULL (admin_port(NULL) is 0, admin_stop(NULL) does nothing).
 * `c` and `cfg` must outlive the admin API. */
int admin_start(admin **out, control *c, const sp_config *cfg, char *err, size_t errsize);

/* The bound port (useful with port 0); 0 for NULL. */
int admin_port(const admin *a);

/* Stops accepting, waits for requests being answered, frees. NULL-safe. */
void admin_stop(admin *a);

/* Is this address loopback (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104)? */
bool admin_addr_is_loopback(const struct sockaddr *sa);

#endif
