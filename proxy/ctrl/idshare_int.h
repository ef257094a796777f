/* idshare_int: what idshare.c shares with its backends (idshare_etcd.c,
 * idshare_file.c). Not for other modules: use idshare.h. */
#ifndef SP_IDSHARE_INT_H
#define SP_IDSHARE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "ctrl/idshare.h"

/* One pair to publish: one allocation, the strings inside it. */
typedef struct idpair {
    const char *scope, *legacy, *neu;
    int64_t learned_ms;
} idpair;

typedef struct idshare_backend {
    const char *kind; /* "etcd", "file" (logs) */
    /* Writes n pairs (n >= 1) to the store. 0, or -EAGAIN: kept and tried
     * again (the failure is counted by the caller). idshare thread. */
    int (*publish)(idshare *s, idpair *const *v, size_t n);
    /* Every poll_ms and after each publish (file: reads the journal's new
     * lines); NULL: none. idshare thread. */
    void (*poll)(idshare *s);
    /* Stops the backend's own threads and frees be. */
    void (*close)(idshare *s);
    long poll_ms;
} idshare_backend;

struct idshare {
    idledger *ledger;
    int64_t max_age_ms;
    size_t max_pairs;
    char replica[320];      /* this replica's id (store_replica_id) */
    const idshare_backend *be;
    void *be_state;
    pthread_mutex_t mu;     /* guards the queue */
    pthread_cond_t wake;    /* a pair was queued, or stop */
    idpair **q;             /* ring: qhead, qlen of qcap */
    size_t qhead, qlen, qcap;
    bool full_logged;
    atomic_int stop;
    pthread_t thread;
    bool started;
};

/* A pair from the fleet: merged into the ledger, counted when new. 1 added,
 * 0 known or stale, < 0 invalid (counted as a failure). Any backend
 * thread. */
int idshare_receive(idshare *s, const char *scope, const char *legacy, const char *neu,
                    int64_t learned_ms);
/* Sleeps up to ms, or less when stopping. */
void idshare_nap(idshare *s, long ms);
/* n pairs from the start of v sorted by learned_ms, oldest first. */
void idshare_sort_pairs(idpair **v, size_t n);
idpair *idpair_new(const char *scope, const char *legacy, const char *neu, int64_t ms);

int idshare_etcd_open(idshare *s, const sp_config *cfg, char *err, size_t size);
int idshare_file_open(idshare *s, const char *store_file, char *err, size_t size);

#endif
