/* conn_guard: head deadlines, the body rate floor, the per-address cap and
 * the body budget, on socketpairs (a shut-down connection's peer reads EOF). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conf/config.h"
#include "data/conn_guard.h"
#include "unit.h"

#define S 1000000000ull

static struct sockaddr_in v4(const char *ip)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

static bool peer_sees_eof(int fd)
{
    char b;
    return recv(fd, &b, 1, MSG_DONTWAIT) == 0;
}

static void shut_count(const guard_conn *c, guard_reason why, void *ctx)
{
    (void)c;
    ((int *)ctx)[why]++;
}

TEST(head_deadline_and_body_floor)
{
    sp_config cfg;
    CHECK(config_defaults(&cfg) == 0); /* head_timeout_s 10, idle 60, min_body_rate 1024 */
    conn_guard g;
    conn_guard_init(&g, &cfg);
    int a[2], b[2], c[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, a) == 0 && socketpair(AF_UNIX, SOCK_STREAM, 0, b) == 0 &&
          socketpair(AF_UNIX, SOCK_STREAM, 0, c) == 0);
    struct sockaddr_in ip = v4("192.0.2.1");
    uint64_t t0 = 1000 * S;
    guard_conn *slow_head = conn_guard_open(&g, a[0], (struct sockaddr *)&ip, t0);
    guard_conn *slow_body = conn_guard_open(&g, b[0], (struct sockaddr *)&ip, t0);
    guard_conn *good = conn_guard_open(&g, c[0], (struct sockaddr *)&ip, t0);
    CHECK(slow_head && slow_body && good);
    conn_guard_request_line(&g, slow_head, t0 + 9 * S); /* cannot push the deadline back */
    conn_guard_head_done(slow_body, true, t0 + 1 * S);
    conn_guard_head_done(good, true, t0 + 1 * S);
    conn_guard_body_bytes(slow_body, 5000);   /* 11 s window: needs 11264 */
    conn_guard_body_bytes(good, 20000);
    int why[2] = {0, 0};
    CHECK(conn_guard_sweep(&g, t0 + 10 * S, shut_count, why) == 0); /* on the dot: not yet */
    CHECK(conn_guard_sweep(&g, t0 + 12 * S, shut_count, why) == 2);
    CHECK(why[GUARD_SLOW_HEAD] == 1 && why[GUARD_SLOW_BODY] == 1);
    CHECK(peer_sees_eof(a[1]) && peer_sees_eof(b[1]) && !peer_sees_eof(c[1]));
    CHECK(conn_guard_sweep(&g, t0 + 13 * S, shut_count, why) == 0); /* shut once */
    /* The good body's next window brings nothing: too slow in its turn. */
    CHECK(conn_guard_sweep(&g, t0 + 23 * S, shut_count, why) == 1 && peer_sees_eof(c[1]));
    /* An answered request: the next head has idle + head seconds. */
    conn_guard_body_done(good);
    good->shut = false;
    conn_guard_request_done(&g, good, t0 + 30 * S);
    CHECK(conn_guard_sweep(&g, t0 + 99 * S, shut_count, why) == 0);
    CHECK(conn_guard_sweep(&g, t0 + 101 * S, shut_count, why) == 1);
    conn_guard_close(&g, slow_head);
    conn_guard_close(&g, slow_body);
    conn_guard_close(&g, good);
    CHECK(g.list == NULL);
    for (int i = 0; i < 2; i++)
        close(a[i]), close(b[i]), close(c[i]);
    config_free(&cfg);
}

TEST(connections_per_address)
{
    sp_config cfg;
    CHECK(config_defaults(&cfg) == 0);
    cfg.max_connections_per_address = 2;
    conn_guard g;
    conn_guard_init(&g, &cfg);
    struct sockaddr_in one = v4("198.51.100.1"), two = v4("198.51.100.2");
    struct sockaddr_in6 mapped = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, "::ffff:198.51.100.1", &mapped.sin6_addr);
    guard_conn *c1 = conn_guard_open(&g, -1, (struct sockaddr *)&one, 0);
    CHECK(conn_guard_admit(&cfg, (struct sockaddr *)&one));
    guard_conn *c2 = conn_guard_open(&g, -1, (struct sockaddr *)&mapped, 0); /* the same address */
    CHECK(!conn_guard_admit(&cfg, (struct sockaddr *)&one));
    CHECK(conn_guard_admit(&cfg, (struct sockaddr *)&two));
    char *trusted[] = {"198.51.100.0/24"}, **own = cfg.trusted_proxies;
    cfg.trusted_proxies = trusted, cfg.ntrusted_proxies = 1;
    CHECK(conn_guard_admit(&cfg, (struct sockaddr *)&one));
    cfg.trusted_proxies = own, cfg.ntrusted_proxies = 0; /* config_free frees its own */
    conn_guard_close(&g, c2);
    CHECK(conn_guard_admit(&cfg, (struct sockaddr *)&one));
    cfg.max_connections_per_address = 0; /* no cap */
    guard_conn *c3 = conn_guard_open(&g, -1, (struct sockaddr *)&one, 0);
    CHECK(conn_guard_admit(&cfg, (struct sockaddr *)&one));
    conn_guard_close(&g, c1);
    conn_guard_close(&g, c3);
    config_free(&cfg);
}

TEST(body_budget)
{
    sp_config cfg;
    CHECK(config_defaults(&cfg) == 0);
    cfg.max_buffered_bodies = 100;
    CHECK(body_budget_take(&cfg, 60) && body_budget_used() == 60);
    CHECK(!body_budget_take(&cfg, 41) && body_budget_used() == 60);
    CHECK(body_budget_take(&cfg, 40) && body_budget_used() == 100);
    body_budget_give(100);
    CHECK(body_budget_used() == 0);
    cfg.max_buffered_bodies = 0; /* no budget: counted, never refused */
    CHECK(body_budget_take(&cfg, (size_t)1 << 40) && body_budget_used() == (size_t)1 << 40);
    body_budget_give((size_t)1 << 40);
    config_free(&cfg);
}

int main(void)
{
    RUN(head_deadline_and_body_floor);
    RUN(connections_per_address);
    RUN(body_budget);
    UNIT_DONE();
}
