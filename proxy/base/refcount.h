/* refcount: the atomic reference counts of objects shared between threads
 * (blob, rules, ops_state). A count never goes below zero, and nothing
 * takes a reference to an object whose count already reached zero: both
 * asserted in every build (base/invariant.h). Thread-safe. */
#ifndef SP_REFCOUNT_H
#define SP_REFCOUNT_H

#include <stdatomic.h>
#include <stdbool.h>

#include "base/invariant.h"

static inline void refcount_inc(atomic_int *refs)
{
    int old = atomic_fetch_add_explicit(refs, 1, memory_order_relaxed);
    assert(old > 0); /* a reference to a freed object */
    (void)old;
}

/* true: that was the last reference, the caller frees the object. */
static inline bool refcount_dec(atomic_int *refs)
{
    int old = atomic_fetch_sub_explicit(refs, 1, memory_order_acq_rel);
    assert(old > 0); /* released more often than referenced */
    return old == 1;
}

#endif
