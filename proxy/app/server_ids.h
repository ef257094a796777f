/* server_ids: the id ledger's life in the server (data/ids.h): created
 * from the config, loaded from its file at start, saved on a timer when it
 * changed and once more at shutdown, so a restart keeps the pairs learned;
 * shared with the fleet through the decision store (ctrl/idshare.h).
 * Loop thread (the server's), but ids_keeper_stop's final save, which runs
 * after the workers are joined. */
#ifndef SP_SERVER_IDS_H
#define SP_SERVER_IDS_H

#include <uv.h>

#include "conf/config.h"
#include "ctrl/store.h"

typedef struct ids_keeper ids_keeper;

/* Creates the ledger, loads its file (a file that cannot be read is logged
 * and the ledger starts empty: the proxy never refuses to start for it),
 * publishes it (ids_set_ledger), starts sharing it through st (NULL: the
 * replay, not shared) and starts the save timer on loop. NULL when out of
 * memory (the proxy then runs without a ledger: ids are id_unknown). */
ids_keeper *ids_keeper_start(uv_loop_t *loop, const sp_config *cfg, store *st);
/* Closes the timer handle (before the loop's last run). */
void ids_keeper_close_timer(ids_keeper *k);
/* Stops the sharing (what is queued is written once), unpublishes the
 * ledger, saves it when it changed, frees it. NULL-safe. */
void ids_keeper_stop(ids_keeper *k);

#endif
