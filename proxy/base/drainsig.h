/* drainsig: "a drain signal has arrived", known in the signal handler
 * itself. libuv delivers SIGTERM/SIGINT to the main loop through a pipe,
 * so the loop's callback (which starts the drain) runs only on its next
 * turn, later still when the loop is busy (a SIGHUP reload of a large
 * rules file). /readyz, answered on the admin thread, must say 503 from
 * the signal on (docs/operations.md): it reads this flag as well.
 *
 * One flag for the process: signals are process-wide. */
#ifndef SP_DRAINSIG_H
#define SP_DRAINSIG_H

#include <stdbool.h>

/* Puts a handler that sets the flag in front of signum's current handler
 * (libuv's, installed by uv_signal_start: call this after it), which it
 * then calls with the same arguments. Clears the flag. Main thread, before
 * the signal can matter; signum is SIGTERM or SIGINT. Returns 0, -EINVAL
 * when signum has no handler to chain to (SIG_DFL, SIG_IGN) or is not one
 * of the two, or -errno of sigaction. Calling it again for the same signal
 * keeps the first chain (never chains to itself). libuv puts SIG_DFL back
 * when the last uv_signal_t of signum closes, which removes ours too. */
int drainsig_chain(int signum);

/* Whether a chained signal has arrived since drainsig_chain. Any thread. */
bool drainsig_received(void);

#endif
