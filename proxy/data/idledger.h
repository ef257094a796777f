/* idledger: the pairs of generated ids a parallel run learns (issue 17,
 * part 1): the legacy ERP answers a create with "SO-000123", the new one
 * with "NX-000987"; later requests that name SO-000123 are sent to the new
 * side with NX-000987, and the new side's answers are read with NX-000987
 * mapped back. Pairs live in a scope (the rule's name: order ids and
 * invoice ids never mix), both directions are one lookup each, and the
 * ledger is bounded: at most max_pairs (the oldest pair goes first) and no
 * pair older than max_age_ms. Pairs other replicas learned come in through
 * idledger_merge (ctrl/idshare.c), each at its place by learned time. Saved to and loaded from a file (temp +
 * fsync + rename), so a restart keeps it.
 *
 * Thread-safe: every call takes the ledger's mutex (lookups are short: two
 * hash probes and a copy). Returned strings are malloc'd copies. */
#ifndef SP_IDLEDGER_H
#define SP_IDLEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IDLEDGER_ID_MAX 256    /* bytes of an id (longer ones are refused) */
#define IDLEDGER_SCOPE_MAX 64  /* bytes of a scope */

typedef struct idledger idledger;

typedef struct idledger_stats {
    size_t size;      /* pairs held */
    uint64_t learned; /* pairs put */
    uint64_t hits;    /* lookups that found a pair */
    uint64_t misses;  /* lookups that did not */
    uint64_t evicted; /* pairs dropped for the count bound */
    uint64_t expired; /* pairs dropped for the age bound */
    uint64_t received; /* pairs idledger_merge added (learned by another replica) */
} idledger_stats;

/* max_pairs >= 1; max_age_ms > 0. NULL when out of memory. */
idledger *idledger_new(size_t max_pairs, int64_t max_age_ms);
void idledger_free(idledger *l);

/* Records legacy <-> neu in scope at now_ms. A pair that shared either id
 * in the scope is replaced (an id names one entity per side). 0, -EINVAL
 * (an empty or too long id or scope), -ENOMEM. */
int idledger_put(idledger *l, const char *scope, const char *legacy, const char *neu,
                 int64_t now_ms);

/* A pair another replica learned at learned_ms (the fleet's store): added
 * unless it expired by now_ms, the ledger holds this very pair, or holds a
 * pair sharing either id that was learned later (the newest learning
 * wins). Counted in `received` when added. 1 added, 0 not, -EINVAL,
 * -ENOMEM. */
int idledger_merge(idledger *l, const char *scope, const char *legacy, const char *neu,
                   int64_t learned_ms, int64_t now_ms);

/* Calls fn for every pair, oldest first, under the ledger's lock (fn must
 * not call the ledger); stops at fn's first non-zero return, returned. */
typedef int (*idledger_each_fn)(const char *scope, const char *legacy, const char *neu,
                                int64_t learned_ms, void *arg);
int idledger_foreach(idledger *l, idledger_each_fn fn, void *arg);

/* The new side's id of `legacy` (new_side_of) or the legacy side's id of
 * `neu` (legacy_side_of), or NULL when the ledger does not know it (or out
 * of memory). Counts a hit or a miss; drops expired pairs first. */
char *idledger_new_side_of(idledger *l, const char *scope, const char *legacy, int64_t now_ms);
char *idledger_legacy_side_of(idledger *l, const char *scope, const char *neu, int64_t now_ms);

idledger_stats idledger_stats_of(idledger *l);

/* Writes every pair to path: {"v":1,"pairs":[[scope,legacy,new,learned_ms],
 * ...]} oldest first, through path.tmp-XXXXXX, fsync and rename (mode 0600).
 * 0, or -1 with a message in err. */
int idledger_save(idledger *l, const char *path, char *err, size_t errsize);

/* Adds the pairs of a file idledger_save wrote, oldest first, dropping
 * those already expired at now_ms. A missing file is an empty ledger
 * (0). 0, or -1 with a message in err (the ledger keeps what it read). */
int idledger_load(idledger *l, const char *path, int64_t now_ms, char *err, size_t errsize);

#endif
