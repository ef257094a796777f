/* recv_size: shadow.recv_buffer "auto" (0). The receive buffer curl holds
 * for a shadow transfer from its start to its end is sized per route from
 * the answers the route had lately, so a slow shadow on a route of small
 * answers holds 1 KiB instead of 16 KiB, while a route of large answers
 * keeps the buffer that reads each answer in as few system calls as 16 KiB
 * would. Both sides' answers count (the authoritative ones arrive even
 * while the shadow is slow, and the two sides answer the same API): the
 * buffer fits the larger of them.
 *
 * The size is the next power of two at or above the largest answer (head
 * and body bytes, plus an eighth and 64 bytes for chunk framing) among the
 * route's last RECV_SIZE_WINDOW..2*RECV_SIZE_WINDOW answers, clamped to
 * RECV_SIZE_MIN..RECV_SIZE_MAX; RECV_SIZE_MAX until RECV_SIZE_WARM answers
 * were seen. A wrong guess costs reads, never bytes: curl reads what does
 * not fit in more calls.
 *
 * One per worker, loop thread only (no locks). Counts are per rules
 * snapshot: a reload starts the routes cold. */
#ifndef SP_RECV_SIZE_H
#define SP_RECV_SIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/rules.h"

#define RECV_SIZE_MIN 1024L   /* libcurl's smallest receive buffer */
#define RECV_SIZE_MAX 16384L  /* its default (CURL_MAX_WRITE_SIZE) */
#define RECV_SIZE_WARM 16     /* answers seen before the size leaves RECV_SIZE_MAX */
#define RECV_SIZE_WINDOW 64   /* answers per window of the running maximum */

typedef struct recv_route {
    uint32_t cur_max, prev_max; /* largest answer in this window and the last */
    uint32_t seen;              /* answers in this window */
    bool warm;                  /* RECV_SIZE_WARM answers seen */
} recv_route;

typedef struct recv_sizer {
    rules *rules;       /* the snapshot the counts are for (a reference), or NULL */
    recv_route *routes; /* [nroutes] the fallback's, after the rules' routes */
    size_t nroutes;
} recv_sizer;

/* The receive buffer for a shadow transfer on `rt` of snapshot `r` (the
 * exchange's). A snapshot other than the counted one starts it over: on
 * no memory, RECV_SIZE_MAX. */
long recv_size_for(recv_sizer *s, rules *r, const route *rt);
/* An answer of `bytes` (head and body) came on `rt` of `r`; ignored when
 * `r` is not the counted snapshot (an exchange from before a reload). */
void recv_size_saw(recv_sizer *s, const rules *r, const route *rt, uint64_t bytes);
/* Frees the counts and drops the snapshot's reference. */
void recv_size_free(recv_sizer *s);

#endif
