/* store_int: what the store's backends (store_file.c, store_etcd.c) share
 * with store.c. Not for other modules: use store.h. */
#ifndef SP_STORE_INT_H
#define SP_STORE_INT_H

#include <pthread.h>

#include "conf/decisions_url.h"
#include "ctrl/store.h"

typedef struct store_vt {
    int (*commit)(store *s, const ops_state *local, store_edit_fn edit, void *arg,
                  const json_t *audit, ops_state **out, char *msg, size_t size);
    int (*refresh)(store *s, const ops_state *local, ops_state **out);
    void (*publish_self)(store *s); /* write this replica's registration */
    json_t *(*fleet)(store *s);
    json_t *(*history)(store *s, int limit, char *msg, size_t size);
    void (*start)(store *s, store_update_fn on_update, void *arg);
    void (*close)(store *s); /* stop threads, unregister, free the backend */
    bool monotonic;          /* revisions only grow (etcd) */
    const char *(*file_path)(const store *s); /* NULL: no file to watch */
} store_vt;

/* Embedded first in each backend's struct. */
struct store {
    const store_vt *vt;
    pthread_mutex_t mu;  /* guards st and applied */
    store_status st;
    char id[320], host[256];
    long pid;
    int64_t started_ms;
    int64_t applied;     /* the revision this replica applies */
};

void store_base_init(store *s, const store_vt *vt, const char *name);
void store_base_destroy(store *s);
/* The backend opened with `initial`: applied and status set. Returns s. */
store *store_opened(store *s, const ops_state *initial);
/* A read or write of the store worked (up) or failed: logs the transition
 * (decisions_store_down / decisions_store_up, naming the store and why). */
void store_mark(store *s, bool up, int64_t revision, const char *why);
void store_warned(store *s); /* counts a warning */
/* The store was reached just now (a heartbeat): last_sync moves on, the
 * up/down state stays (only reads and writes of the decisions change it). */
void store_touch(store *s);
/* This replica's registration: {"id", "host", "pid", "started",
 * "revision", "last_seen"} (now). New reference. */
json_t *store_self_json(store *s);
/* A registration that was seen within STORE_LIVE_MS of now? */
bool store_entry_live(const json_t *entry, int64_t now_ms);
/* The audit record to keep: audit's members, "revision", "time", and
 * "old" and "new" ({"global", "routes"} of the decisions changed and of
 * the result). New reference; NULL on no memory. */
json_t *store_audit_record(const json_t *audit, const ops_state *old, const ops_state *next);
/* Sorts an array of registrations by "id", in place. */
void store_sort_fleet(json_t *fleet);

int store_file_open(store **out, const sp_config *cfg, const char *path, ops_state **initial);
int store_etcd_open(store **out, const sp_config *cfg, const decisions_url *u,
                    ops_state **initial);

#endif
