/* idshare: the id ledger shared by the fleet through the decision store
 * (issue 17 part 1; docs/operations.md "The id ledger"). A pair one replica
 * learns reaches every other replica's ledger, so a read that lands on a
 * replica that did not see the create is still mirrored with the new id.
 *
 *   worker ── ids_learn ── on_learned ──► bounded queue (full: dropped, counted)
 *   idshare thread ── batch ──► etcd: one txn of puts under a time-bucket lease
 *                           └─► file: appended to STORE_FILE.ids.jsonl under flock
 *   etcd: watch thread ── range (paged) + watch PREFIX/ids/ ──► idledger_merge
 *   file: idshare thread ── reads the journal's new lines ──► idledger_merge
 *
 * A worker loop only queues (one malloc, one short lock). etcd or the file being
 * unreachable costs counted failures (the ledger keeps working locally);
 * what was queued is retried, and a broken watch re-reads every pair. */
#ifndef SP_IDSHARE_H
#define SP_IDSHARE_H

#include "conf/config.h"
#include "ctrl/store.h"
#include "data/idledger.h"

typedef struct idshare idshare;

/* Starts sharing `l` (which outlives the idshare) through st's backend:
 * etcd (cfg->decisions_store is etcd:// or etcds://) or the file store's
 * journal (store_file_path(st) + ".ids.jsonl"). Loads what the fleet holds
 * in the background, and sets ids_set_on_learned. NULL when st is NULL
 * (the replay: nothing to share) or on failure (logged; the ledger stays
 * local). Main thread, before the workers start. */
idshare *idshare_start(const sp_config *cfg, store *st, idledger *l);

/* Clears the hook, writes what is queued once (no retry), stops the
 * threads, frees. After the workers stopped. NULL-safe. */
void idshare_stop(idshare *s);

#endif
