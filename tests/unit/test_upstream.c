/* Unit tests: the upstream pool's handles after a burst (data/upstream.c):
 * those idle for a whole UPSTREAM_TRIM_MS are freed down to
 * UPSTREAM_IDLE_KEEP, their places reused by the next burst, and a handle
 * in use is never freed. No transfer runs: no network. */
#include <curl/curl.h>
#include <uv.h>

#include "data/upstream.h"
#include "unit.h"

static void never_done(CURL *easy, CURLcode rc, void *ctx)
{
    (void)easy, (void)rc, (void)ctx;
    CHECK(!"no transfer runs in these tests");
}

TEST(idle_handles_after_a_burst_are_trimmed_and_reused)
{
    uv_loop_t loop;
    CHECK(uv_loop_init(&loop) == 0);
    config_upstream u = {.url = "http://127.0.0.1:9", .connect_timeout_ms = 100, .timeout_ms = 100};
    upstream_pool p;
    CHECK(upstream_init(&p, &loop, never_done, NULL, 64, &u) == 0);
    CHECK(upstream_trim(&p, UPSTREAM_TRIM_MS) == 0); /* no handle yet (UBSan: no memmove of NULL) */
    enum { BURST = 200 };
    CURL *e[BURST];
    for (int i = 0; i < BURST; i++)
        CHECK((e[i] = upstream_easy_get(&p)) != NULL);
    CHECK(upstream_trim(&p, 2 * UPSTREAM_TRIM_MS) == 0); /* all were busy in this period */
    for (int i = 0; i < BURST; i++)
        upstream_easy_put(&p, e[i]);
    CHECK(upstream_trim(&p, 2 * UPSTREAM_TRIM_MS + 1) == 0); /* looks once a period */
    CHECK(upstream_trim(&p, 3 * UPSTREAM_TRIM_MS) == 0); /* in use at the period's start */
    CURL *busy = upstream_easy_get(&p);                   /* one busy all the next period */
    CHECK(upstream_trim(&p, 4 * UPSTREAM_TRIM_MS) == BURST - 1 - UPSTREAM_IDLE_KEEP);
    CHECK(p.nfree == UPSTREAM_IDLE_KEEP && p.nhandles == BURST);
    CHECK(upstream_trim(&p, 5 * UPSTREAM_TRIM_MS) == 0); /* down to the kept ones */
    /* The next burst: the kept idle ones, then the trimmed places anew. */
    for (int i = 0; i < BURST - 1; i++) {
        CHECK((e[i] = upstream_easy_get(&p)) != NULL);
        CHECK(upstream_owner(e[i]) == NULL);
        CHECK(e[i] != busy);
    }
    CHECK(p.nhandles == BURST && p.nfree == 0 && p.nretired == 0);
    CHECK(upstream_easy_get(&p) != NULL && p.nhandles == BURST + 1);
    upstream_close(&p);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    RUN(idle_handles_after_a_burst_are_trimmed_and_reused);
    curl_global_cleanup();
    UNIT_DONE();
}
