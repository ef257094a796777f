/* control_int: what control.c and control_decide.c share. Not for other
 * modules: use control.h. */
#ifndef SP_CONTROL_INT_H
#define SP_CONTROL_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include "ctrl/control.h"
#include "ctrl/store.h"
#include "data/analyzer.h"
#include "data/worker.h"
#include "conf/ops.h"
#include "conf/rules.h"

struct control {
    pthread_mutex_t mu;
    const sp_config *cfg;
    analyzer *an;
    worker *workers;
    int nworkers;
    rules *rules;        /* current; guarded by mu */
    ops_state *ops;      /* current; guarded by mu */
    store *st;           /* the decision store; NULL: decisions in memory only */
    sp_config baseline;  /* the config file as at the start (reloads compare with it) */
    bool has_baseline;
    const char **restart_keys; /* changed keys that wait for a restart; guarded by mu */
    size_t nrestart_keys;
    json_t *config_errors;     /* the last reload's config errors, or NULL; guarded by mu */
    struct timespec started;
    atomic_bool draining;       /* the SIGTERM drain began: never ready again */
    atomic_bool require_shadow; /* readiness.require_shadow, reloadable */
};

/* Makes `next` the decisions in force (takes the reference): every worker,
 * and the store's registry learns the revision. Called with mu held. */
void control_publish_ops(control *c, ops_state *next);

#endif
