#include "data/faults_live.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"

typedef struct live_fault {
    int id;
    char route[72];      /* "": every route */
    fault_spec spec;
    uint64_t until_ns;   /* monotonic */
    int64_t expires_ms;  /* wall clock, for the listing */
    char who[96];
} live_fault;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static live_fault table[FAULTS_LIVE_MAX];
static int ntable, next_id = 1;
static atomic_int nlive; /* ntable, read without the lock by the data path */

static void log_removed(const live_fault *f, const char *event, const char *who)
{
    char id[16], what[160];
    snprintf(id, sizeof id, "%d", f->id);
    fault_spec_describe(&f->spec, what, sizeof what);
    log_event(LOG_INFO, event, "id", id, "route", f->route[0] ? f->route : "(every route)",
              "fault", what, "who", who, NULL);
}

static void remove_at(int i)
{
    memmove(&table[i], &table[i + 1], (size_t)(ntable - i - 1) * sizeof table[0]);
    ntable--;
    atomic_store(&nlive, ntable);
}

/* Under the lock: drops the entries whose time is up. */
static void prune(uint64_t now)
{
    for (int i = 0; i < ntable;)
        if (table[i].until_ns <= now) {
            log_removed(&table[i], "fault_expired", "-");
            remove_at(i);
        } else {
            i++;
        }
}

int faults_live_add(const char *route, const fault_spec *f, long long for_ms, const char *who,
                    int *id)
{
    if (for_ms < 1 || for_ms > FAULTS_LIVE_MAX_FOR_MS || (route && strlen(route) >= 72))
        return -EINVAL;
    pthread_mutex_lock(&mu);
    uint64_t now = clock_now_ns();
    prune(now);
    if (ntable == FAULTS_LIVE_MAX) {
        pthread_mutex_unlock(&mu);
        return -ENOSPC;
    }
    live_fault *e = &table[ntable];
    memset(e, 0, sizeof *e);
    e->id = *id = next_id++;
    snprintf(e->route, sizeof e->route, "%s", route ? route : "");
    e->spec = *f;
    e->until_ns = now + (uint64_t)for_ms * 1000000u;
    e->expires_ms = clock_wall_ms() + for_ms;
    snprintf(e->who, sizeof e->who, "%s", who ? who : "-");
    ntable++;
    atomic_store(&nlive, ntable);
    char idt[16], what[160], secs[32];
    snprintf(idt, sizeof idt, "%d", e->id);
    snprintf(secs, sizeof secs, "%.3f", (double)for_ms / 1000.0);
    fault_spec_describe(f, what, sizeof what);
    log_event(LOG_WARN, "fault_added", "id", idt, "route", e->route[0] ? e->route : "(every route)",
              "fault", what, "for_s", secs, "who", e->who, NULL);
    pthread_mutex_unlock(&mu);
    return 0;
}

int faults_live_clear(int id, const char *who)
{
    int n = 0;
    pthread_mutex_lock(&mu);
    for (int i = 0; i < ntable;)
        if (id == 0 || table[i].id == id) {
            log_removed(&table[i], "fault_cleared", who ? who : "-");
            remove_at(i);
            n++;
        } else {
            i++;
        }
    pthread_mutex_unlock(&mu);
    return n;
}

json_t *faults_live_json(void)
{
    json_t *a = json_array();
    if (!a)
        return NULL;
    pthread_mutex_lock(&mu);
    uint64_t now = clock_now_ns();
    prune(now);
    for (int i = 0; i < ntable; i++) {
        const live_fault *e = &table[i];
        char expires[40];
        clock_format_ts(e->expires_ms, expires, sizeof expires);
        json_t *o = fault_spec_to_json(&e->spec);
        json_t *more = json_pack("{s:i, s:o, s:s, s:f, s:s}", "id", e->id, "route",
                                 e->route[0] ? json_string(e->route) : json_null(), "expires",
                                 expires, "remaining_s", (double)(e->until_ns - now) / 1e9,
                                 "added_by", e->who);
        int rc = o && more ? json_object_update(o, more) : -1;
        json_decref(more);
        if (rc != 0 || json_array_append_new(a, o) != 0) {
            if (rc != 0)
                json_decref(o);
            json_decref(a);
            a = NULL;
            break;
        }
    }
    pthread_mutex_unlock(&mu);
    return a;
}

bool faults_live_pick(const char *route, sp_side side, bool shadow, const char *request_id,
                      fault_spec *out, int *id)
{
    if (atomic_load_explicit(&nlive, memory_order_relaxed) == 0)
        return false;
    bool found = false;
    pthread_mutex_lock(&mu);
    uint64_t now = clock_now_ns();
    for (int i = 0; i < ntable && !found; i++) {
        const live_fault *e = &table[i];
        if (e->until_ns > now && (!e->route[0] || strcmp(e->route, route) == 0) &&
            fault_targets(&e->spec, side, shadow) && fault_hits(&e->spec, request_id)) {
            *out = e->spec;
            *id = e->id;
            found = true;
        }
    }
    pthread_mutex_unlock(&mu);
    return found;
}
