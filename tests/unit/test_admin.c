/* Unit tests of the admin API's pure parts: which addresses count as
 * loopback, and the readiness probes (against sockets of this process). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "admin/admin.h"
#include "data/probe.h"
#include "unit.h"

static bool loopback(const char *ip)
{
    struct sockaddr_storage ss = {0};
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_family = AF_INET6;
        if (inet_pton(AF_INET6, ip, &in6->sin6_addr) != 1)
            return false;
    } else {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        in->sin_family = AF_INET;
        if (inet_pton(AF_INET, ip, &in->sin_addr) != 1)
            return false;
    }
    return admin_addr_is_loopback((struct sockaddr *)&ss);
}

TEST(loopback_addresses)
{
    CHECK(loopback("127.0.0.1"));
    CHECK(loopback("127.1.2.3"));
    CHECK(loopback("127.255.255.255"));
    CHECK(loopback("::1"));
    CHECK(loopback("::ffff:127.0.0.1"));
    CHECK(!loopback("0.0.0.0"));
    CHECK(!loopback("128.0.0.1"));
    CHECK(!loopback("10.0.0.1"));
    CHECK(!loopback("126.255.255.255"));
    CHECK(!loopback("::"));
    CHECK(!loopback("::2"));
    CHECK(!loopback("::ffff:10.0.0.1"));
    CHECK(!loopback("fe80::1"));
}

/* A listening socket on 127.0.0.1 and its port. */
static int listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 8) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        return -1;
    *port = ntohs(a.sin_port);
    return fd;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

TEST(probes)
{
    int up_port = 0, down_port = 0;
    int up = listener(&up_port), down = listener(&down_port);
    CHECK(up >= 0 && down >= 0);
    close(down); /* nothing listens there any more: refused */
    char u1[64], u2[64], want[64];
    snprintf(u1, sizeof u1, "http://127.0.0.1:%d/erp/api", up_port);
    snprintf(u2, sizeof u2, "http://127.0.0.1:%d", down_port);
    const char *urls[] = {u1, u2, "not a url", "https://[::1]:1/x", NULL};
    probe_result r[5];
    double t0 = now_s();
    probe_urls(urls, 5, 1000, r);
    CHECK(now_s() - t0 < 1.0);
    CHECK(r[0].ok);
    snprintf(want, sizeof want, "127.0.0.1:%d", up_port);
    CHECK_STR(r[0].address, want);
    CHECK(!r[1].ok);
    CHECK(strstr(r[1].error, "refused") != NULL);
    CHECK(!r[2].ok && strstr(r[2].error, "cannot parse") != NULL);
    CHECK(!r[3].ok);
    CHECK_STR(r[3].address, "[::1]:1");
    CHECK(!r[4].ok && r[4].address[0] == '\0');
    close(up);
}

TEST(probe_default_ports)
{
    const char *urls[] = {"http://127.0.0.1", "https://127.0.0.1/x"};
    probe_result r[2];
    probe_urls(urls, 2, 200, r);
    CHECK_STR(r[0].address, "127.0.0.1:80");
    CHECK_STR(r[1].address, "127.0.0.1:443");
}

int main(void)
{
    RUN(loopback_addresses);
    RUN(probes);
    RUN(probe_default_ports);
    UNIT_DONE();
}
