/* Unit tests: shadow.recv_buffer "auto" (data/recv_size.c): 16 KiB until a
 * route has seen enough answers, then the power of two that holds its
 * largest recent answer, per route, forgetting a large answer two windows
 * later, and starting over with a new rules snapshot. */
#include "data/recv_size.h"
#include "unit.h"
#include "unit_rules.h"

static const char *RULES = "{'version': 1, 'routes': ["
                           " {'name': 'small', 'match': {'path_prefix': '/small'}},"
                           " {'name': 'large', 'match': {'path_prefix': '/large'}}]}";

static void saw(recv_sizer *s, rules *r, const route *rt, uint64_t bytes, int times)
{
    for (int i = 0; i < times; i++)
        recv_size_saw(s, r, rt, bytes);
}

TEST(cold_then_sized_per_route)
{
    rules *r = ok(RULES);
    CHECK(r && r->nroutes == 2);
    recv_sizer s = {0};
    const route *small = &r->routes[0], *large = &r->routes[1];
    CHECK(recv_size_for(&s, r, small) == RECV_SIZE_MAX); /* nothing seen yet */
    saw(&s, r, small, 700, RECV_SIZE_WARM - 1);
    CHECK(recv_size_for(&s, r, small) == RECV_SIZE_MAX); /* not warm yet */
    saw(&s, r, small, 700, 1);
    CHECK(recv_size_for(&s, r, small) == 1024); /* 700 + 87 + 64 fits 1 KiB */
    CHECK(recv_size_for(&s, r, large) == RECV_SIZE_MAX);
    saw(&s, r, large, 5000, RECV_SIZE_WARM);
    CHECK(recv_size_for(&s, r, large) == 8192); /* 5000 + 625 + 64 */
    saw(&s, r, large, 100000, 1);
    CHECK(recv_size_for(&s, r, large) == RECV_SIZE_MAX); /* clamped */
    CHECK(recv_size_for(&s, r, &r->fallback) == RECV_SIZE_MAX);
    saw(&s, r, &r->fallback, 900, RECV_SIZE_WARM);
    CHECK(recv_size_for(&s, r, &r->fallback) == 2048); /* 900 + 112 + 64 > 1024 */
    CHECK(recv_size_for(&s, r, small) == 1024);
    recv_size_free(&s);
    rules_unref(r);
}

TEST(a_large_answer_is_forgotten_two_windows_later)
{
    rules *r = ok(RULES);
    recv_sizer s = {0};
    const route *rt = &r->routes[0];
    CHECK(recv_size_for(&s, r, rt) == RECV_SIZE_MAX);
    saw(&s, r, rt, 500, RECV_SIZE_WINDOW - 1);
    saw(&s, r, rt, 3000, 1); /* the last of the first window */
    CHECK(recv_size_for(&s, r, rt) == 4096);
    saw(&s, r, rt, 500, RECV_SIZE_WINDOW - 1);
    CHECK(recv_size_for(&s, r, rt) == 4096); /* still in the previous window */
    saw(&s, r, rt, 500, 1);
    CHECK(recv_size_for(&s, r, rt) == 1024);
    recv_size_free(&s);
    rules_unref(r);
}

TEST(a_new_snapshot_starts_over_and_old_answers_do_not_count)
{
    rules *r1 = ok(RULES), *r2 = ok(RULES);
    recv_sizer s = {0};
    CHECK(recv_size_for(&s, r1, &r1->routes[0]) == RECV_SIZE_MAX);
    saw(&s, r1, &r1->routes[0], 500, RECV_SIZE_WARM);
    CHECK(recv_size_for(&s, r1, &r1->routes[0]) == 1024);
    CHECK(recv_size_for(&s, r2, &r2->routes[0]) == RECV_SIZE_MAX); /* a reload */
    saw(&s, r1, &r1->routes[0], 500, RECV_SIZE_WARM);               /* from before it */
    CHECK(recv_size_for(&s, r2, &r2->routes[0]) == RECV_SIZE_MAX);
    rules_unref(r1); /* the sizer held no reference to r1 any more */
    saw(&s, r2, &r2->routes[1], 500, RECV_SIZE_WARM);
    CHECK(recv_size_for(&s, r2, &r2->routes[1]) == 1024);
    recv_size_free(&s);
    rules_unref(r2);
}

int main(void)
{
    RUN(cold_then_sized_per_route);
    RUN(a_large_answer_is_forgotten_two_windows_later);
    RUN(a_new_snapshot_starts_over_and_old_answers_do_not_count);
    UNIT_DONE();
}
