/* ids: correlated ids acted on (issue 17 part 1; docs/rules.md "Correlated
 * ids"). A route's rules "ids" section says where a generated id is learned
 * (a JSON Pointer in each side's answer, or each side's Location header
 * through a template) and where later requests use it (a path segment by
 * template, a query parameter, a request-body field, a header). This
 * module learns pairs into the process's ledger, rewrites the shadow's copy
 * of a request with the other side's id, and maps the new side's ids back
 * to legacy's before the comparison.
 *
 * Direction: the ledger holds legacy <-> new pairs whichever side is
 * authoritative. The client speaks the authoritative side's ids, so the
 * shadow's copy gets the other side's: legacy -> new while legacy is
 * authoritative, new -> legacy after a flip. The comparison always maps
 * the new side's ids to legacy's.
 *
 * Thread-safe: the ledger has its own lock; nothing else is shared. A
 * route without an "ids" section costs one NULL test per call. */
#ifndef SP_IDS_H
#define SP_IDS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/blob.h"
#include "base/headers.h"
#include "conf/config.h"
#include "conf/rules.h"
#include "data/idledger.h"

/* The process's ledger: set by the server before the workers start and
 * cleared (NULL) after they stop; NULL means no ledger (ids are neither
 * learned nor used; requests naming one are id_unknown). */
void ids_set_ledger(idledger *l);
idledger *ids_ledger(void);

/* Told of every pair this process learns from answers (not of pairs
 * merged from the fleet), on the learning thread (a worker loop): must not
 * block (ctrl/idshare.c queues it for the store's thread). Strings are
 * the caller's. */
typedef void (*ids_learned_fn)(const char *kind, const char *legacy, const char *neu,
                               int64_t learned_ms, void *arg);
/* Set (fn non-NULL) before the workers start, cleared (NULL) after they
 * stopped, like the ledger. */
void ids_set_on_learned(ids_learned_fn fn, void *arg);

/* What the shadow's copy of a request becomes. Every field NULL: unchanged.
 * Owned; ids_rewrite_free frees it. */
typedef struct ids_rewrite {
    char *target;       /* the request-target with ids replaced (before the route's
                         * own shadow_rewrite of the path), or NULL */
    blob *body;         /* the request body with ids replaced, or NULL */
    char *header_name;  /* one header whose value is replaced, or NULL */
    char *header_value;
    json_t *pairs;      /* [[name, legacy, new], ...] ids used, or NULL */
} ids_rewrite;

void ids_rewrite_free(ids_rewrite *w);

/* Looks up every id the route's "use" list finds in the request (uri, its
 * headers and body; either may be NULL: none) and fills *out for a
 * shadow on side `shadow`.
 * 0: nothing to do or rewritten; 1: an id the ledger does not know (why
 * says which and where; the shadow must not be sent); -ENOMEM. */
int ids_rewrite_request(const route *rt, sp_side shadow, const char *uri, const hdr_list *h,
                        const blob *body, ids_rewrite *out, char *why, size_t whysize);

/* Learns the pairs the route's "learn" list finds in both answers (status,
 * headers and captured body per side, indexed by sp_side; a NULL body is
 * none) and appends [name, legacy, new] to *pairs (created when NULL).
 * Parses the bodies only when the route has a JSON Pointer rule.
 * 0 or -ENOMEM. */
int ids_learn(const route *rt, const hdr_list *headers[2], const blob *bodies[2],
              json_t **pairs);

/* Replaces, in tree (the new side's parsed answer), every string equal to
 * a pair's new id by its legacy id. Returns how many it replaced. */
size_t ids_map_back(json_t *tree, const json_t *pairs);

/* The ledger's file for cfg: ids.ledger_file, else shadowproxy-ids.json in
 * the state file's directory. malloc'd; NULL when neither key is set (the
 * replay: a ledger in memory only) or out of memory. */
char *ids_ledger_path(const sp_config *cfg);

/* Publishes the ledger's size and evictions to the metrics. */
void ids_publish_stats(void);

#endif
