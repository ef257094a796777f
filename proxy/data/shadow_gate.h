/* shadow_gate: one worker's shadow policy at run time. It decides whether a
 * shadow request may go out (draining, the in-flight cap, the circuit
 * breaker), keeps the list of shadow legs running (so a drain can cut them
 * short), throttles their body bytes per loop turn, and takes each back
 * (release), counting transport failures for the breaker. The static
 * policy (enabled, route mirroring, sampling, operator pause) is decided
 * before, by the exchange from rules and ops.
 *
 * Worker thread only, but for shadow_gate_breaker_state (a racy read for
 * /state). The worker owns the gate; each exchange embeds the ticket of its
 * shadow leg. */
#ifndef SP_SHADOW_GATE_H
#define SP_SHADOW_GATE_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/config.h"
#include "data/h1client.h"
#include "obs/metrics.h"

struct exchange;

/* A running shadow leg as the gate sees it; embedded in its exchange. */
typedef struct shadow_ticket {
    struct exchange *owner; /* for the drain, which aborts the leg */
    const char *id;         /* the request id, for logs; the owner's */
    CURL *easy;             /* the transfer, paused and resumed by the gate: curl's, */
    struct h1_xfer *h1;     /* or the lean client's (data/h1client.h) */
    int slot;               /* index in the gate's list; -1: not tracked */
    bool paused;            /* throttled until the next loop turn */
    bool admitted;          /* holds an in-flight slot: released exactly once */
} shadow_ticket;

typedef struct shadow_gate {
    int index;                  /* the worker's number, for logs */
    metric m_in_flight, m_opened; /* its in-flight gauge, its breaker openings */
    const sp_config *cfg;
    int in_flight, cap;         /* admitted and not yet released; the worker's share of the cap */
    int breaker_failures;       /* consecutive shadow transport failures */
    uint64_t breaker_open_until_ns; /* 0: closed */
    bool breaker_probing;       /* half-open: one probe in flight */
    bool closed;                /* draining: admits nothing more */
    double busy_share;          /* share of requests mirrored (1: all); shrinks while the worker is saturated */
    int calm_windows;           /* windows in a row that ended with at most one request in progress */
    shadow_ticket **tracked;    /* running shadow legs */
    size_t ntracked, tracked_cap;
    size_t turn_bytes;          /* shadow body bytes taken this loop turn */
    int npaused;                /* tickets paused until the next turn */
    bool unpausing;             /* resuming them: take the data curl kept */
    void (*on_release_closed)(void *ctx); /* a release while closed (drain progress) */
    void *ctx;
} shadow_gate;

/* `cfg` outlives the gate; the cap is cfg's shadow_max_in_flight split
 * over cfg's workers. on_release_closed (may be NULL) is called after each
 * release once the gate is closed. Cannot fail. */
void shadow_gate_init(shadow_gate *g, int index, const sp_config *cfg,
                      void (*on_release_closed)(void *ctx), void *ctx);
/* The same machinery for the secondary (noise detection): its cap is
 * cfg's secondary_max_in_flight split over the workers, its breaker uses
 * the shadow's thresholds, its metrics and log events are its own. */
void shadow_gate_init_secondary(shadow_gate *g, int index, const sp_config *cfg,
                                void (*on_release_closed)(void *ctx), void *ctx);
/* The worker's loop was `busy` (0..1) over the last window and `waiting`
 * client requests were in progress at its end: mirroring yields to a
 * saturated worker. Saturated is busy >= 0.9 with requests that wait for
 * one another (waiting > 1): one client sending back to back keeps a loop
 * busy without anyone queueing behind a mirror. The share halves while
 * saturated, down to cfg's shadow_busy_min_percent, and grows back 0.1 a
 * window once busy is under 0.8, or once two windows in a row ended with
 * at most one request in progress (one reading could be a saturated
 * worker's chance instant); otherwise it is held. */
void shadow_gate_note_busy(shadow_gate *g, double busy, int waiting);
/* Does the saturated worker still mirror this request? Chosen by request
 * id (like mirror.sample_percent), so a share keeps the same requests. */
bool shadow_gate_busy_admits(const shadow_gate *g, const char *request_id);
/* Frees the list (the tickets belong to their exchanges). */
void shadow_gate_free(shadow_gate *g);
/* Draining: every later admission is refused ("draining"). */
void shadow_gate_close(shadow_gate *g);

/* May a shadow request go out now? true takes an in-flight slot for `t`
 * (give it back with shadow_gate_release); false sets *why (a static
 * string). In half-open state the one admitted request is the breaker's
 * probe. */
bool shadow_gate_admit(shadow_gate *g, shadow_ticket *t, const char **why);
/* The *why of a refusal at the in-flight cap (compare the pointer). */
extern const char shadow_gate_cap_reason[];
/* Lists an admitted leg whose transfer is running (t->easy or t->h1 set) so it can
 * be throttled and cut short. Never fails: shadow_gate_admit made room. */
void shadow_gate_track(shadow_gate *g, shadow_ticket *t);
/* The shadow answers' memory budget (shadow.max_buffered_bytes), every
 * worker together: bytes a running shadow or secondary transfer holds.
 * take: false when n more would pass it (nothing taken); any thread. */
bool shadow_buffer_take(const sp_config *cfg, size_t n);
void shadow_buffer_give(size_t n);
/* Gives back the slot that shadow_gate_admit took for `t`, unlisting it
 * if listed. transport_ok false counts a failure for the breaker (and
 * fails a probe). Exactly once per admission (asserted). */
void shadow_gate_release(shadow_gate *g, shadow_ticket *t, bool transport_ok);

/* A shadow leg is about to take `len` body bytes: true means pause it
 * (the ticket is marked; shadow_gate_new_turn resumes it). */
bool shadow_gate_throttle(shadow_gate *g, shadow_ticket *t, size_t len);
/* Start of a loop turn (uv_prepare): a fresh byte budget, and the paused
 * transfers resumed. */
void shadow_gate_new_turn(shadow_gate *g);

/* The most recently listed leg, or NULL: the drain aborts them one by one
 * (each abort releases, which unlists it). */
shadow_ticket *shadow_gate_last(const shadow_gate *g);
/* 0 closed, 1 open, 2 half-open (probing). */
int shadow_gate_breaker_state(const shadow_gate *g);

#endif
