/* drainsig: see drainsig.h. The handler does only what is
 * async-signal-safe: a store to a lock-free atomic, a call of the saved
 * handler, and errno kept as it was. */
#include "base/drainsig.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>

/* A lock-free atomic may be written by a signal handler (C11 7.14.1.1);
 * one that takes a lock may not. */
_Static_assert(ATOMIC_BOOL_LOCK_FREE == 2, "the drain flag must be lock-free");

static atomic_bool received;

/* The handlers we chain to, by signal. Written before our handler is
 * installed (sigaction orders it), read only by the handler. */
enum { SLOT_TERM, SLOT_INT, SLOTS };
static struct sigaction chained[SLOTS];

static int slot_of(int signum)
{
    return signum == SIGTERM ? SLOT_TERM : signum == SIGINT ? SLOT_INT : -1;
}

static void on_drain_signal(int signum, siginfo_t *info, void *uctx)
{
    int saved_errno = errno; /* the interrupted code may be about to read it */
    atomic_store(&received, true);
    int slot = slot_of(signum);
    if (slot >= 0) {
        const struct sigaction *next = &chained[slot];
        if (next->sa_flags & SA_SIGINFO)
            next->sa_sigaction(signum, info, uctx);
        else if (next->sa_handler != SIG_DFL && next->sa_handler != SIG_IGN)
            next->sa_handler(signum);
    }
    errno = saved_errno;
}

int drainsig_chain(int signum)
{
    int slot = slot_of(signum);
    if (slot < 0)
        return -EINVAL;
    struct sigaction cur;
    if (sigaction(signum, NULL, &cur) != 0)
        return -errno;
    atomic_store(&received, false);
    if ((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == on_drain_signal)
        return 0; /* chained already */
    if (!(cur.sa_flags & SA_SIGINFO) && (cur.sa_handler == SIG_DFL || cur.sa_handler == SIG_IGN))
        return -EINVAL; /* nothing to chain to: the signal would be swallowed */
    chained[slot] = cur;
    struct sigaction ours = cur; /* libuv's mask and flags (SA_RESTART) */
    ours.sa_flags |= SA_SIGINFO;
    ours.sa_sigaction = on_drain_signal;
    if (sigaction(signum, &ours, NULL) != 0)
        return -errno;
    return 0;
}

bool drainsig_received(void)
{
    return atomic_load(&received);
}
