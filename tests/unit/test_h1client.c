/* Unit tests: the lean shadow client's name lookups (data/h1client.c):
 * transfers that start while the pool's lookup is in flight (the first
 * ones, or many at once when the cached addresses expire) wait for that
 * one lookup instead of starting their own. A real loop, a real loopback
 * server on the same loop answering every request, a real getaddrinfo of
 * "localhost". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "data/h1client.h"
#include "data/h1client_int.h"
#include "unit.h"

/* ---- a server on the loop: one fixed answer per read ------------------------------- */

static const char ANSWER[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

static void free_handle(uv_handle_t *h) { free(h); }
static void free_write(uv_write_t *w, int status) { (void)status, free(w); }

static void srv_alloc(uv_handle_t *h, size_t n, uv_buf_t *b)
{
    (void)h;
    static char buf[4096];
    (void)n;
    *b = uv_buf_init(buf, sizeof buf);
}

static void srv_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    (void)b;
    if (n < 0) {
        uv_close((uv_handle_t *)s, free_handle);
        return;
    }
    if (n == 0)
        return;
    uv_write_t *w = malloc(sizeof *w);
    CHECK(w != NULL);
    uv_buf_t out = uv_buf_init((char *)ANSWER, sizeof ANSWER - 1);
    CHECK(uv_write(w, s, &out, 1, free_write) == 0);
}

static void srv_accept(uv_stream_t *server, int status)
{
    CHECK(status == 0);
    uv_tcp_t *c = malloc(sizeof *c);
    CHECK(c != NULL && uv_tcp_init(server->loop, c) == 0);
    CHECK(uv_accept(server, (uv_stream_t *)c) == 0);
    CHECK(uv_read_start((uv_stream_t *)c, srv_alloc, srv_read) == 0);
}

/* ---- the transfers -------------------------------------------------------------------- */

static int done_ok, done_failed;

static void on_done(void *owner, CURLcode rc, const char *error, int os_errno)
{
    (void)owner, (void)os_errno;
    if (rc == CURLE_OK)
        done_ok++;
    else {
        fprintf(stderr, "transfer failed: %d %s\n", rc, error);
        done_failed++;
    }
}

static size_t take(char *d, size_t size, size_t n, void *data)
{
    (void)d, (void)data;
    return size * n;
}

static void run_until(uv_loop_t *loop, int n)
{
    uint64_t until = uv_now(loop) + 10000;
    while (done_ok + done_failed < n && uv_now(loop) < until)
        uv_run(loop, UV_RUN_ONCE);
    CHECK(done_ok + done_failed == n);
}

TEST(concurrent_transfers_share_one_lookup_and_again_once_it_expires)
{
    uv_loop_t loop;
    CHECK(uv_loop_init(&loop) == 0);
    uv_tcp_t server;
    struct sockaddr_in sa;
    CHECK(uv_ip4_addr("127.0.0.1", 0, &sa) == 0);
    CHECK(uv_tcp_init(&loop, &server) == 0);
    CHECK(uv_tcp_bind(&server, (const struct sockaddr *)&sa, 0) == 0);
    CHECK(uv_listen((uv_stream_t *)&server, 128, srv_accept) == 0);
    int len = sizeof sa;
    CHECK(uv_tcp_getsockname(&server, (struct sockaddr *)&sa, &len) == 0);
    char url[64];
    snprintf(url, sizeof url, "http://localhost:%d", ntohs(sa.sin_port));
    config_upstream u = {.url = url, .connect_timeout_ms = 2000, .timeout_ms = 2000};
    h1_pool p;
    /* no idle connection kept: every transfer needs the addresses */
    CHECK(h1_pool_init(&p, &loop, &u, on_done, 0) == 0);
    CHECK(!p.literal && p.lookups == 0);
    h1_request r = {.method = "GET", .target = "/", .timeout_ms = 2000, .on_header = take,
                    .on_body = take};
    enum { N = 20 };
    h1_xfer *x[N];

    /* The first N start in one turn: one lookup, every one answered.
     * Transfers go out from the pool's timer (after the authoritative
     * leg's): one turn sends them. */
    for (int i = 0; i < N; i++)
        CHECK((x[i] = h1_start(&p, &r, NULL)) != NULL);
    CHECK(p.lookups == 0);
    uv_run(&loop, UV_RUN_NOWAIT);
    CHECK(p.lookups == 1);
    run_until(&loop, N);
    CHECK(done_ok == N && done_failed == 0);
    CHECK(p.lookups == 1 && p.gai == NULL && p.naddrs > 0);

    /* Within the cache's time: no lookup at all. */
    CHECK(h1_start(&p, &r, NULL) != NULL);
    run_until(&loop, N + 1);
    CHECK(p.lookups == 1);

    /* The addresses expire: the next N share one lookup again; one of them
     * ends while it waits, the others still go on. */
    uv_update_time(&loop);
    p.resolved_ms = h1x_now_ms(&p) - h1x_dns_cache_ms() - 1;
    for (int i = 0; i < N; i++)
        CHECK((x[i] = h1_start(&p, &r, NULL)) != NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    CHECK(p.lookups == 2);
    h1_cancel(x[N / 2]);
    run_until(&loop, 2 * N);
    CHECK(done_ok == 2 * N && done_failed == 0);
    CHECK(p.lookups == 2 && p.resolve_waiters == NULL);

    /* All of them end while they wait: the lookup still refreshes the
     * addresses, nobody hears of it. */
    uv_update_time(&loop);
    uint64_t expired = h1x_now_ms(&p) - h1x_dns_cache_ms() - 1;
    p.resolved_ms = expired;
    for (int i = 0; i < 3; i++)
        CHECK((x[i] = h1_start(&p, &r, NULL)) != NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    for (int i = 0; i < 3; i++)
        h1_cancel(x[i]);
    CHECK(p.lookups == 3 && p.resolve_waiters == NULL);
    uint64_t until = uv_now(&loop) + 10000;
    while (p.gai && uv_now(&loop) < until)
        uv_run(&loop, UV_RUN_ONCE);
    CHECK(p.gai == NULL && p.resolved_ms > expired);
    CHECK(done_ok == 2 * N && done_failed == 0);

    h1_pool_close(&p);
    uv_close((uv_handle_t *)&server, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);
}

int main(void)
{
    RUN(concurrent_transfers_share_one_lookup_and_again_once_it_expires);
    UNIT_DONE();
}
