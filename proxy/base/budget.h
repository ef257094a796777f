/* budget: a byte budget shared by threads: take n bytes if what is taken
 * stays within a limit, give them back later (the shadow answers' memory,
 * data/shadow_gate.h; the buffered request bodies, data/conn_guard.h).
 * Lock-free, allocation-free, any thread. Giving back more than was taken
 * is asserted in every build (base/invariant.h). */
#ifndef SP_BUDGET_H
#define SP_BUDGET_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/invariant.h"

typedef struct byte_budget {
    atomic_size_t used; /* bytes taken and not given back */
} byte_budget;

/* Takes n bytes: true, or false (nothing taken) when used + n would pass
 * `limit` or overflow size_t. limit 0: no limit, every take that does not
 * overflow succeeds and is counted. */
static inline bool budget_take(byte_budget *b, size_t n, size_t limit)
{
    size_t cur = atomic_load(&b->used);
    do {
        if (cur + n < cur || (limit && cur + n > limit))
            return false;
    } while (!atomic_compare_exchange_weak(&b->used, &cur, cur + n));
    return true;
}

/* Gives back n bytes a budget_take took. */
static inline void budget_give(byte_budget *b, size_t n)
{
    size_t before = atomic_fetch_sub(&b->used, n);
    assert(before >= n); /* given back more than taken */
    (void)before;
}

static inline size_t budget_used(byte_budget *b) { return atomic_load(&b->used); }

#endif
