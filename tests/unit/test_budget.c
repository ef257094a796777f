/* Unit tests: base/budget, the byte budget threads share (the shadow
 * answers' memory, the buffered request bodies). */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/budget.h"
#include "unit.h"

TEST(take_within_the_limit)
{
    byte_budget b = {0};
    CHECK(budget_take(&b, 60, 100));
    CHECK(budget_take(&b, 40, 100)); /* exactly the limit */
    CHECK(!budget_take(&b, 1, 100));
    CHECK(budget_used(&b) == 100); /* a refused take took nothing */
    budget_give(&b, 40);
    CHECK(budget_used(&b) == 60);
    CHECK(!budget_take(&b, 41, 100));
    CHECK(budget_take(&b, 0, 100));
    CHECK(budget_take(&b, 40, 100));
    budget_give(&b, 100);
    CHECK(budget_used(&b) == 0);
    CHECK(!budget_take(&b, 101, 100)); /* more than the whole budget */
}

TEST(limit_zero_is_no_limit)
{
    byte_budget b = {0};
    CHECK(budget_take(&b, SIZE_MAX / 2, 0));
    CHECK(budget_take(&b, SIZE_MAX / 2, 0));
    CHECK(budget_used(&b) == SIZE_MAX / 2 * 2); /* counted all the same */
    budget_give(&b, SIZE_MAX / 2 * 2);
    CHECK(budget_used(&b) == 0);
}

TEST(overflow_of_used_plus_n_is_refused)
{
    byte_budget b = {0};
    CHECK(budget_take(&b, SIZE_MAX - 10, 0));
    CHECK(!budget_take(&b, 11, 0));          /* would wrap to 0: no limit or not */
    CHECK(!budget_take(&b, SIZE_MAX, 0));
    CHECK(!budget_take(&b, 11, SIZE_MAX));
    CHECK(budget_take(&b, 10, SIZE_MAX));    /* exactly SIZE_MAX */
    CHECK(budget_used(&b) == SIZE_MAX);
}

/* Threads taking and giving at once: never more than the limit taken, and
 * everything given back ends at 0. */
#define THREADS 4
#define ROUNDS 100000
#define LIMIT 1000

static byte_budget shared;
static atomic_int over_limit;

static void *taker(void *arg)
{
    size_t n = (size_t)(uintptr_t)arg;
    for (int i = 0; i < ROUNDS; i++) {
        if (!budget_take(&shared, n, LIMIT))
            continue;
        if (budget_used(&shared) > LIMIT)
            atomic_fetch_add(&over_limit, 1);
        budget_give(&shared, n);
    }
    return NULL;
}

TEST(threads_never_pass_the_limit)
{
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_create(&t[i], NULL, taker, (void *)(uintptr_t)(300 + 7 * i)) == 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    CHECK(atomic_load(&over_limit) == 0);
    CHECK(budget_used(&shared) == 0);
}

/* Giving back more than was taken is a bug the process must not survive
 * (the count would wrap and the budget stop working silently). */
TEST(giving_back_more_than_taken_aborts)
{
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(2); /* the assertion's message is expected: not in the output */
        byte_budget b = {0};
        CHECK(budget_take(&b, 5, 0));
        budget_give(&b, 6);
        _exit(0);
    }
    int st = 0;
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
}

int main(void)
{
    RUN(take_within_the_limit);
    RUN(limit_zero_is_no_limit);
    RUN(overflow_of_used_plus_n_is_refused);
    RUN(threads_never_pass_the_limit);
    RUN(giving_back_more_than_taken_aborts);
    UNIT_DONE();
}
