/* confirm: confirmed mismatches (rules "confirm", docs/rules.md). A read
 * that a comparer found to mismatch is handed here; after the route's
 * confirm.after_ms both sides are asked the same request again, and the job
 * goes back to the comparers with the two re-read answers, where the same
 * rules tell "transient" (equal now) from "confirmed" (still different).
 * The exchange's one record is written then, with its verdict unchanged.
 *
 * Shadow work, bounded like the rest: a route's confirm.max_per_second and
 * confirm.max_in_flight, and CONFIRM_MAX_WAITING jobs in the whole process
 * (each holds its exchange's bodies). Over budget the comparer is told no at
 * once and writes the record with the confirmation skipped and why. The
 * client was answered long before: nothing here is on its path.
 *
 * One thread (`sp-confirm`) with its own libuv loop, timers and curl pools
 * to both upstreams, so that a wait never holds a worker or a comparer. */
#ifndef SP_CONFIRM_H
#define SP_CONFIRM_H

#include <stdbool.h>

#include "conf/config.h"
#include "data/analyzer.h"

/* Jobs waiting or re-reading in the whole process, at most. */
#define CONFIRM_MAX_WAITING 1024

typedef struct confirmer confirmer;

/* Called on the confirm thread (or in confirmer_stop's caller) for each job
 * taken, once, with confirm.phase CONFIRM_DONE; the callee owns it. */
typedef void (*confirm_done_fn)(void *ctx, analysis_job *job);

/* Starts the thread. cfg (its upstreams, shadow timeout and body cap) must
 * outlive the confirmer. 0 or -errno. */
int confirmer_start(confirmer **out, const sp_config *cfg, confirm_done_fn done, void *ctx);

/* Any thread (a comparer). Takes job (a mismatch with confirm.phase
 * ELIGIBLE on a route with confirm enabled) when its route's rate and
 * in-flight budget and the process's allow: true, and done() gets it back
 * later. false: the job stays the caller's and *why says why (static). */
bool confirmer_submit(confirmer *c, analysis_job *job, const char **why);

/* Every job still waiting or re-reading goes back through done() with the
 * confirmation skipped ("shutting down"); later submissions are refused
 * ("shutting down"); the thread is joined. NULL does nothing. */
void confirmer_stop(confirmer *c);
/* Frees a stopped confirmer, once no thread may call confirmer_submit.
 * NULL does nothing. */
void confirmer_free(confirmer *c);

#endif
