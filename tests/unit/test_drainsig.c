/* drainsig: the drain flag set in the signal handler itself, in front of
 * libuv's handler, which still gets the signal. */
#include <errno.h>
#include <signal.h>
#include <uv.h>

#include "base/drainsig.h"
#include "unit.h"

static int loop_saw; /* signals libuv's callback got on its loop's turn */

static void on_loop_signal(uv_signal_t *h, int signum)
{
    (void)h;
    loop_saw = signum;
}

/* The flag is set when raise() returns, before the loop has turned; the
 * loop's callback still runs on its turn; errno is as it was. */
TEST(flag_first_then_libuv)
{
    uv_loop_t loop;
    uv_signal_t sig;
    CHECK(uv_loop_init(&loop) == 0);
    CHECK(uv_signal_init(&loop, &sig) == 0);
    CHECK(uv_signal_start(&sig, on_loop_signal, SIGTERM) == 0);
    CHECK(drainsig_chain(SIGTERM) == 0);
    CHECK(drainsig_chain(SIGTERM) == 0); /* again: no chain to itself */
    CHECK(!drainsig_received());
    errno = EAGAIN;
    CHECK(raise(SIGTERM) == 0);
    CHECK(errno == EAGAIN);
    CHECK(drainsig_received());
    CHECK(loop_saw == 0);
    CHECK(uv_run(&loop, UV_RUN_NOWAIT) >= 0);
    CHECK(loop_saw == SIGTERM); /* once: a self-chain would recurse or count twice */
    uv_close((uv_handle_t *)&sig, NULL);
    CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);
    CHECK(uv_loop_close(&loop) == 0);
    struct sigaction now;
    CHECK(sigaction(SIGTERM, NULL, &now) == 0 && now.sa_handler == SIG_DFL); /* libuv's close */
}

/* Nothing to chain to, or a signal that is not a drain: refused, the
 * disposition untouched. */
TEST(refused)
{
    CHECK(drainsig_chain(SIGINT) == -EINVAL); /* SIG_DFL: it would be swallowed */
    struct sigaction now;
    CHECK(sigaction(SIGINT, NULL, &now) == 0 && now.sa_handler == SIG_DFL);
    CHECK(drainsig_chain(SIGUSR1) == -EINVAL);
}

int main(void)
{
    RUN(flag_first_then_libuv);
    RUN(refused);
    UNIT_DONE();
}
