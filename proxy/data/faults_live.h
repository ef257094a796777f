/* faults_live: the time-boxed faults an operator added through the admin
 * API (POST /faults, `shadowproxy ctl fault add ... --for 10m`). One table
 * per process, not shared with other replicas (docs/operations.md,
 * "Injecting faults": a staging aid; each replica is asked on its own).
 * Each entry ends by itself at its expiry: the data path stops using it at
 * once and the next look at the table drops it (logged fault_expired).
 * Thread-safe (one mutex; the data path takes it only while some fault is
 * live, and only with faults.enabled). */
#ifndef SP_FAULTS_LIVE_H
#define SP_FAULTS_LIVE_H

#include <jansson.h>
#include <stdbool.h>

#include "conf/faults.h"

#define FAULTS_LIVE_MAX 64               /* entries at once */
#define FAULTS_LIVE_MAX_FOR_MS 86400000LL /* a day: longer is not time-boxed */

/* Adds a fault for `route` (NULL or "": every route) for for_ms
 * (1..FAULTS_LIVE_MAX_FOR_MS) milliseconds. `who` is for the log and the
 * listing. 0 with *id (1, 2, ...), -ENOSPC when the table is full. */
int faults_live_add(const char *route, const fault_spec *f, long long for_ms, const char *who,
                    int *id);
/* Removes fault `id`, or every fault with id 0. How many were removed. */
int faults_live_clear(int id, const char *who);
/* The live faults, oldest first: [{"id", "route" (null: every route), the
 * spec (fault_spec_to_json's members), "expires" (RFC 3339), "remaining_s",
 * "added_by"}]. New reference; NULL on no memory. */
json_t *faults_live_json(void);
/* The first live fault for this leg of a request on `route` that hits the
 * request id; *out and *id filled. false: none. Any thread. */
bool faults_live_pick(const char *route, sp_side side, bool shadow, const char *request_id,
                      fault_spec *out, int *id);

#endif
