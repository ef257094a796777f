#include "data/shadow_gate.h"

#include <stdio.h>
#include <stdlib.h>

#include "base/budget.h"
#include "base/clock.h"
#include "base/invariant.h"
#include "base/log.h"
#include "conf/rules.h"
#include "obs/metrics.h"

/* Shadow body bytes one loop turn may take. A shadow pouring bytes as fast
 * as loopback allows would otherwise keep curl reading for long stretches
 * (curl reads on while the socket has data, and a transfer it cuts short is
 * due again at once), and every authoritative answer on this loop waited:
 * seen as a 1 s delay, the shadow's whole timeout. Past the budget shadow
 * transfers pause and resume next turn, after MHD and the authoritative
 * legs had theirs. */
#define SHADOW_TURN_BYTES (256u * 1024)

void shadow_gate_init(shadow_gate *g, int index, const sp_config *cfg,
                      void (*on_release_closed)(void *ctx), void *ctx)
{
    *g = (shadow_gate){.index = index, .m_in_flight = METRIC_shadow_in_flight,
                       .m_opened = METRIC_breaker_opened, .cfg = cfg,
                       .on_release_closed = on_release_closed, .ctx = ctx,
                       .busy_share = 1.0};
    int nworkers = cfg->workers > 0 ? cfg->workers : 1;
    g->cap = (cfg->shadow_max_in_flight + nworkers - 1) / nworkers;
}

void shadow_gate_init_secondary(shadow_gate *g, int index, const sp_config *cfg,
                                void (*on_release_closed)(void *ctx), void *ctx)
{
    shadow_gate_init(g, index, cfg, on_release_closed, ctx);
    g->m_in_flight = METRIC_secondary_in_flight;
    g->m_opened = METRIC_secondary_breaker_opened;
    int nworkers = cfg->workers > 0 ? cfg->workers : 1;
    g->cap = (cfg->secondary_max_in_flight + nworkers - 1) / nworkers;
}

/* Mirroring yields to a saturated worker: at saturation every mirror is
 * CPU the clients lose (a healthy mirror costs about half a request,
 * bench/README.md), so the share shrinks fast (halved each window) and
 * comes back slowly (0.1 each window), the comparers' thresholds. */
#define BUSY_ENTER 0.9
#define BUSY_LEAVE 0.8
/* "One request at a time" is read from a count at one instant, and a
 * saturated worker with 32 clients shows 0 or 1 at about one end of window
 * in 15 (it answered them all just then): each such reading gave the share
 * 10 points back, mirrors the clients then paid for (the slow shadow's 10%
 * in bench/README.md). Two windows in a row are needed: a single client
 * shows it at every end of window. */
#define ONE_AT_A_TIME_WINDOWS 2

void shadow_gate_note_busy(shadow_gate *g, double busy, int waiting)
{
    double floor = g->cfg->shadow_busy_min_percent / 100.0;
    if (waiting > 1)
        g->calm_windows = 0;
    else if (g->calm_windows < ONE_AT_A_TIME_WINDOWS)
        g->calm_windows++; /* counted up to what is needed: no overflow on a long idle */
    if (busy >= BUSY_ENTER && waiting > 1)
        g->busy_share = g->busy_share * 0.5 > floor ? g->busy_share * 0.5 : floor;
    else if (busy < BUSY_LEAVE || g->calm_windows >= ONE_AT_A_TIME_WINDOWS)
        g->busy_share = g->busy_share + 0.1 < 1.0 ? g->busy_share + 0.1 : 1.0;
    assert(g->busy_share >= floor && g->busy_share <= 1.0);
}

bool shadow_gate_busy_admits(const shadow_gate *g, const char *request_id)
{
    return g->busy_share >= 1.0 || rules_sampled_at(g->busy_share * 100.0, request_id);
}

const char shadow_gate_cap_reason[] = "shadow in-flight cap reached";

static byte_budget buffered; /* shadow answer bytes held, every worker */

bool shadow_buffer_take(const sp_config *cfg, size_t n)
{
    return budget_take(&buffered, n, cfg->shadow_max_buffered);
}

void shadow_buffer_give(size_t n) { budget_give(&buffered, n); }

void shadow_gate_free(shadow_gate *g)
{
    free(g->tracked);
    g->tracked = NULL;
    g->ntracked = g->tracked_cap = 0;
}

void shadow_gate_close(shadow_gate *g) { g->closed = true; }

/* Every listed ticket knows its slot (a walk: debug builds only). */
static bool list_consistent(const shadow_gate *g)
{
    for (size_t i = 0; i < g->ntracked; i++)
        if (g->tracked[i]->slot != (int)i || !g->tracked[i]->admitted)
            return false;
    return true;
}

bool shadow_gate_admit(shadow_gate *g, shadow_ticket *t, const char **why)
{
    assert(!t->admitted); /* one slot per shadow leg */
    if (g->closed) {
        *why = "draining";
        return false;
    }
    if (g->in_flight >= g->cap) {
        *why = shadow_gate_cap_reason;
        return false;
    }
    /* Room to list it, made now: a running leg the gate could not list
     * could be neither throttled nor cut short at shutdown. */
    if ((size_t)g->in_flight >= g->tracked_cap) {
        size_t cap = g->tracked_cap ? g->tracked_cap * 2 : 64;
        shadow_ticket **v = realloc(g->tracked, cap * sizeof *v);
        if (!v) {
            *why = "out of memory";
            return false;
        }
        g->tracked = v;
        g->tracked_cap = cap;
    }
    if (g->breaker_open_until_ns) {
        if (clock_now_ns() < g->breaker_open_until_ns || g->breaker_probing) {
            *why = "circuit breaker open";
            return false;
        }
        g->breaker_probing = true; /* half-open: this request is the probe */
    }
    g->in_flight++;
    t->admitted = true;
    metric_add(g->m_in_flight, 1);
    return true;
}

void shadow_gate_track(shadow_gate *g, shadow_ticket *t)
{
    assert(t->admitted && t->slot < 0 && (t->easy || t->h1));
    /* shadow_gate_admit made room: every listed ticket is admitted */
    assert(g->ntracked < g->tracked_cap && g->ntracked < (size_t)g->in_flight);
    t->slot = (int)g->ntracked;
    g->tracked[g->ntracked++] = t;
    debug_assert(list_consistent(g));
}

static void breaker_trip(shadow_gate *g, const char *why)
{
    char idx[16];
    snprintf(idx, sizeof idx, "%d", g->index);
    g->breaker_open_until_ns = clock_now_ns() + (uint64_t)g->cfg->breaker_open_ms * 1000000u;
    metric_add(g->m_opened, 1);
    log_event(LOG_WARN, g->m_opened == METRIC_breaker_opened ? "shadow_breaker_open"
                                                             : "secondary_breaker_open",
              "worker", idx, "why", why, NULL);
}

void shadow_gate_release(shadow_gate *g, shadow_ticket *t, bool transport_ok)
{
    /* Released once: a second release would open a slot that was never
     * taken, and the cap would drift upwards for good. */
    assert(t->admitted && g->in_flight > 0);
    assert(t->slot < 0 || ((size_t)t->slot < g->ntracked && g->tracked[t->slot] == t));
    t->admitted = false;
    g->in_flight--;
    metric_add(g->m_in_flight, -1);
    if (t->slot >= 0) {
        shadow_ticket *last = g->tracked[--g->ntracked];
        g->tracked[t->slot] = last;
        last->slot = t->slot;
        t->slot = -1;
    }
    t->easy = NULL;
    t->h1 = NULL;
    debug_assert(list_consistent(g));
    if (transport_ok) {
        if (g->breaker_open_until_ns) {
            char idx[16];
            snprintf(idx, sizeof idx, "%d", g->index);
            log_event(LOG_INFO, g->m_opened == METRIC_breaker_opened ? "shadow_breaker_closed"
                                                                     : "secondary_breaker_closed",
                      "worker", idx, NULL);
        }
        g->breaker_failures = 0;
        g->breaker_open_until_ns = 0;
        g->breaker_probing = false;
    } else if (g->breaker_probing) {
        g->breaker_probing = false;
        breaker_trip(g, "probe failed");
    } else if (++g->breaker_failures >= g->cfg->breaker_failures && !g->breaker_open_until_ns) {
        breaker_trip(g, "consecutive failures");
    }
    if (g->closed && g->on_release_closed)
        g->on_release_closed(g->ctx);
}

bool shadow_gate_throttle(shadow_gate *g, shadow_ticket *t, size_t len)
{
    /* Untracked shadows could not be found to resume: never paused. The data
     * curl kept for a resumed transfer is taken, so each one moves. */
    assert(t->slot < 0 || g->tracked[t->slot] == t);
    if (g->turn_bytes >= SHADOW_TURN_BYTES && !g->unpausing && t->slot >= 0) {
        g->npaused++;
        t->paused = true;
        return true;
    }
    g->turn_bytes += len;
    return false;
}

void shadow_gate_new_turn(shadow_gate *g)
{
    g->turn_bytes = 0;
    if (!g->npaused)
        return;
    g->npaused = 0;
    g->unpausing = true;
    for (size_t i = 0; i < g->ntracked; i++) {
        shadow_ticket *t = g->tracked[i];
        if (!t->paused || !(t->easy || t->h1))
            continue;
        t->paused = false;
        if (t->h1) { /* delivers what it kept, as curl_easy_pause does */
            h1_resume(t->h1);
            continue;
        }
        /* On failure the transfer stays paused and ends at its timeout,
         * recorded as a shadow timeout: nothing is lost silently. */
        if (curl_easy_pause(t->easy, CURLPAUSE_CONT) != CURLE_OK)
            log_event(LOG_WARN, "shadow_resume_failed", "id", t->id, NULL);
    }
    g->unpausing = false;
}

shadow_ticket *shadow_gate_last(const shadow_gate *g)
{
    return g->ntracked ? g->tracked[g->ntracked - 1] : NULL;
}

int shadow_gate_breaker_state(const shadow_gate *g)
{
    if (!g->breaker_open_until_ns)
        return 0;
    return g->breaker_probing ? 2 : 1;
}
