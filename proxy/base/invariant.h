/* invariant: the project's two kinds of assertion (docs/architecture.md,
 * "Invariants").
 *
 * assert() (<assert.h>) is on in every build the Makefile makes: it never
 * defines NDEBUG. It is for checks that cost a compare on data already in
 * hand (a refcount, a state flag), where going on would corrupt memory or
 * lose a record silently: better a core dump that names the line.
 *
 * debug_assert() is on only where SP_DEBUG is defined (the ASan/UBSan
 * builds: build/shadowproxy-asan, unit-asan, and so e2e-asan): for checks
 * that walk a list or otherwise cost per request what the hot path should
 * not pay. */
#ifndef SP_INVARIANT_H
#define SP_INVARIANT_H

#include <assert.h>

#ifdef SP_DEBUG
#define debug_assert(cond) assert(cond)
#else
/* Not evaluated (sizeof), but still compiled: checks cannot rot, and the
 * helpers they call are not "unused". */
#define debug_assert(cond) ((void)sizeof(cond))
#endif

#endif
