#include "app/server_ids.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "ctrl/idshare.h"
#include "data/idledger.h"
#include "data/ids.h"

struct ids_keeper {
    idledger *ledger;
    idshare *share; /* NULL: not shared */
    char *path;
    uv_timer_t timer;
    bool timer_open;
    uint64_t saved; /* the ledger's change count at the last save */
};

/* Pairs put or dropped: any change the file does not have yet. */
static uint64_t changes(idledger *l)
{
    idledger_stats st = idledger_stats_of(l);
    return st.learned + st.evicted + st.expired + st.received;
}

static void save(ids_keeper *k)
{
    uint64_t now = changes(k->ledger);
    if (!k->path || now == k->saved)
        return;
    char err[512];
    if (idledger_save(k->ledger, k->path, err, sizeof err) != 0) {
        log_event(LOG_WARN, "ids_ledger_save_failed", "error", err, NULL);
        return;
    }
    k->saved = now;
}

static void on_timer(uv_timer_t *t)
{
    ids_keeper *k = t->data;
    ids_publish_stats(); /* expiry shows in the gauge without traffic */
    save(k);
}

ids_keeper *ids_keeper_start(uv_loop_t *loop, const sp_config *cfg, store *st)
{
    ids_keeper *k = calloc(1, sizeof *k);
    bool file = cfg->ids_ledger_file || cfg->state_file; /* neither: the replay, memory only */
    if (!k || (file && !(k->path = ids_ledger_path(cfg))) ||
        !(k->ledger = idledger_new(cfg->ids_max_pairs, (int64_t)cfg->ids_max_age_s * 1000))) {
        if (k)
            free(k->path);
        free(k);
        log_event(LOG_ERROR, "ids_ledger_failed", "error", "out of memory", NULL);
        return NULL;
    }
    char err[512];
    if (k->path && idledger_load(k->ledger, k->path, clock_wall_ms(), err, sizeof err) != 0)
        log_event(LOG_WARN, "ids_ledger_load_failed", "error", err, "ledger", "starts empty",
                  NULL);
    k->saved = changes(k->ledger); /* what was loaded is on disk */
    ids_set_ledger(k->ledger);
    k->share = idshare_start(cfg, st, k->ledger); /* after the load: merged onto the file's */
    ids_publish_stats();
    uv_timer_init(loop, &k->timer);
    k->timer.data = k;
    k->timer_open = true;
    uint64_t every = (uint64_t)cfg->ids_save_interval_s * 1000;
    uv_timer_start(&k->timer, on_timer, every, every);
    return k;
}

void ids_keeper_close_timer(ids_keeper *k)
{
    if (k && k->timer_open) {
        uv_close((uv_handle_t *)&k->timer, NULL);
        k->timer_open = false;
    }
}

void ids_keeper_stop(ids_keeper *k)
{
    if (!k)
        return;
    idshare_stop(k->share); /* its threads merge into the ledger: first */
    ids_set_ledger(NULL);
    save(k);
    idledger_free(k->ledger);
    free(k->path);
    free(k);
}
