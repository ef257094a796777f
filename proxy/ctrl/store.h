/* store: where the operator's decisions live for the whole fleet
 * (docs/operations.md, "The fleet"). One decision document with a revision,
 * changed only by read-modify-write under a lock (file:) or compare-and-swap
 * (etcd://), so a change made through any replica is never lost; a registry
 * of the live replicas with the revision each applied; the audit trail.
 *
 *   admin thread ── store_commit(edit) ──► file (flock) / etcd (txn) ──► new snapshot
 *   main loop ───── store_refresh (file watcher), store_heartbeat (1 s)
 *   etcd thread ─── watch ──► on_update(new snapshot)   (etcd only)
 *
 * Runs on the control side only (admin threads, the main loop, the store's
 * own threads), never on a worker loop. Every function is thread-safe. */
#ifndef SP_STORE_H
#define SP_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "conf/config.h"
#include "conf/ops.h"

/* A replica is live while it was seen this recently (heartbeats every
 * STORE_HEARTBEAT_MS; three may be missed). */
#define STORE_HEARTBEAT_MS 1000
#define STORE_LIVE_MS 5000

typedef struct store store;

/* The change to make, applied to the store's current decisions: a new
 * snapshot (new reference), or NULL with errno (EINVAL, ENOENT, ENOMEM) to
 * refuse it. Called once or more (a conflict retries it on newer
 * decisions), on the committing thread: no side effects. */
typedef ops_state *(*store_edit_fn)(const ops_state *current, void *arg);

/* Another replica's change arrived (etcd's watch thread). Takes the
 * reference to o. */
typedef void (*store_update_fn)(ops_state *o, void *arg);

typedef struct store_status {
    char name[512];       /* "file:PATH" or "etcd://h1:p1,h2:p2/prefix" */
    bool up;              /* the last read or write of the store worked */
    int64_t revision;     /* the newest revision seen */
    int64_t last_sync_ms; /* wall clock of the last good read or write; 0 never */
    uint64_t warnings;    /* file store: deleted or invalid file seen */
} store_status;

/* Opens the store cfg names (decisions.store, else file:state_file) and
 * reads the decisions to start with into *initial (new reference). file:
 * an invalid file is reported on stderr naming it and why, and PATH.last-good
 * is used when it is valid (else -EINVAL); a missing file with a last-good
 * copy starts from that copy (a deletion does not revert). etcd: an
 * unreachable cluster starts from the local cache (the state file) with a
 * warning. 0, -EINVAL (message on stderr) or -ENOMEM. */
int store_open(store **out, const sp_config *cfg, ops_state **initial);

/* Starts the store's background work (etcd: watch, lease). on_update is
 * called from the store's thread. */
void store_start(store *s, store_update_fn on_update, void *arg);

/* One change. `local` is the decisions in force here (the base when a file
 * store lost its file). `audit` ({"who", "client", "what", ...}) is stored
 * with the change, "revision", "time", "old" and "new" added. 0 with *out (new reference,
 * revision set); the edit's -errno (msg empty); or -EAGAIN when the store
 * cannot be read or written: nothing changed, msg names the store and why. */
int store_commit(store *s, const ops_state *local, store_edit_fn edit, void *arg,
                 const json_t *audit, ops_state **out, char *msg, size_t size);

/* file: re-reads the file (the watcher saw a change). 1 with *out (new
 * reference) when it holds decisions other than `local`, 0 when not or
 * when it is missing or invalid (logged, counted; the decisions in force
 * stay). etcd: 0 (its watch delivers changes). */
int store_refresh(store *s, const ops_state *local, ops_state **out);

/* Should `next` replace `cur`? etcd: a newer revision; file: other
 * decisions (a hand edit may keep the revision). */
bool store_is_newer(const store *s, const ops_state *cur, const ops_state *next);

/* This replica now applies `revision`: the registry is updated at once
 * (a waiting rollback sees it). */
void store_applied(store *s, int64_t revision);
/* Every STORE_HEARTBEAT_MS from the main loop: this replica is alive. */
void store_heartbeat(store *s);

/* The live replicas: [{"id", "host", "pid", "started", "revision",
 * "last_seen"}], sorted by id; NULL when the store cannot be read. */
json_t *store_fleet(store *s);
/* file: the file to watch for other processes' changes; etcd: NULL. */
const char *store_file_path(const store *s);
/* This replica's id ("HOST-PID"). */
const char *store_replica_id(const store *s);

/* The last `limit` changes, newest first: [{"revision", "time", "who",
 * "client", "what", "old", "new", ...}]. NULL with msg when the store
 * cannot be read. */
json_t *store_history(store *s, int limit, char *msg, size_t size);

void store_get_status(store *s, store_status *st);

/* Stops the background work and removes this replica's registration.
 * NULL-safe. */
void store_close(store *s);

#endif
