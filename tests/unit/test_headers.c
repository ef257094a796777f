/* Unit tests: the header list and hop-by-hop filtering. */
#include "base/headers.h"
#include "unit.h"

static void add(hdr_list *l, const char *n, const char *v)
{
    CHECK(hdr_list_add(l, n, strlen(n), v, strlen(v)) == 0);
}

TEST(order_and_duplicates_kept)
{
    hdr_list l = {0};
    add(&l, "Set-Cookie", "a=1");
    add(&l, "X-One", "1");
    add(&l, "Set-Cookie", "b=2");
    CHECK(l.n == 3);
    CHECK_STR(hdr_name(&l, 0), "Set-Cookie");
    CHECK_STR(hdr_value(&l, 0), "a=1");
    CHECK_STR(hdr_name(&l, 2), "Set-Cookie");
    CHECK_STR(hdr_value(&l, 2), "b=2");
    CHECK_STR(hdr_list_get(&l, "set-cookie"), "a=1"); /* first, case-insensitive */
    CHECK(hdr_list_get(&l, "X-Two") == NULL);
    hdr_list_free(&l);
}

TEST(values_are_binary_safe_and_survive_growth)
{
    hdr_list l = {0};
    char name[32], value[300];
    memset(value, 'v', sizeof value - 1);
    value[sizeof value - 1] = '\0';
    for (int i = 0; i < 200; i++) {
        snprintf(name, sizeof name, "X-H%d", i);
        add(&l, name, value);
    }
    CHECK(l.n == 200);
    CHECK_STR(hdr_name(&l, 199), "X-H199");
    CHECK(strlen(hdr_value(&l, 150)) == sizeof value - 1);
    add(&l, "X-Empty", "");
    CHECK_STR(hdr_value(&l, 200), "");
    hdr_list_clear(&l);
    CHECK(l.n == 0);
    add(&l, "A", "b");
    CHECK_STR(hdr_value(&l, 0), "b");
    hdr_list_free(&l);
}

TEST(an_obs_fold_extends_the_last_value_across_growth)
{
    hdr_list l = {0};
    add(&l, "X-A", "1");
    add(&l, "X-Folded", "first");
    char more[600];
    memset(more, 'm', sizeof more); /* past the first 256-byte buffer */
    CHECK(hdr_list_extend_last(&l, "second", 6) == 0);
    CHECK(hdr_list_extend_last(&l, more, sizeof more) == 0);
    CHECK(l.n == 2);
    CHECK_STR(hdr_value(&l, 0), "1");
    CHECK(strncmp(hdr_value(&l, 1), "first second m", 14) == 0);
    CHECK(strlen(hdr_value(&l, 1)) == 12 + 1 + sizeof more);
    CHECK(l.f[1].value_len == 12 + 1 + sizeof more);
    add(&l, "X-After", "2"); /* the list goes on as before */
    CHECK_STR(hdr_list_get(&l, "x-after"), "2");
    hdr_list_free(&l);
}

TEST(fixed_hop_by_hop_set)
{
    const char *hop[] = {"Connection", "keep-alive", "Proxy-Connection", "TE",
                         "Trailer", "transfer-encoding", "Upgrade", "Proxy-Authorization",
                         "Proxy-Authenticate"};
    for (size_t i = 0; i < sizeof hop / sizeof *hop; i++)
        CHECK(hdr_is_hop_by_hop(NULL, hop[i]));
    const char *e2e[] = {"Content-Type", "Authorization", "Cookie", "X-Request-Id", "Host",
                         "Trailers", "TEx"};
    for (size_t i = 0; i < sizeof e2e / sizeof *e2e; i++)
        CHECK(!hdr_is_hop_by_hop(NULL, e2e[i]));
}

TEST(connection_named_headers_are_hop_by_hop)
{
    hdr_list l = {0};
    add(&l, "Connection", "close, X-Hop ,x-other");
    add(&l, "connection", "\tX-Third");
    CHECK(hdr_is_hop_by_hop(&l, "X-Hop"));
    CHECK(hdr_is_hop_by_hop(&l, "x-hop"));
    CHECK(hdr_is_hop_by_hop(&l, "X-Other"));
    CHECK(hdr_is_hop_by_hop(&l, "X-Third"));
    CHECK(!hdr_is_hop_by_hop(&l, "X-Ho"));   /* no prefix matches */
    CHECK(!hdr_is_hop_by_hop(&l, "X-Hop2"));
    CHECK(!hdr_is_hop_by_hop(&l, "Content-Type"));
    hdr_list_free(&l);
}

TEST(name_eq)
{
    CHECK(hdr_name_eq("content-type", 12, "Content-Type"));
    CHECK(!hdr_name_eq("content-typ", 11, "Content-Type"));
    CHECK(!hdr_name_eq("content-types", 13, "Content-Type"));
}

int main(void)
{
    RUN(order_and_duplicates_kept);
    RUN(values_are_binary_safe_and_survive_growth);
    RUN(an_obs_fold_extends_the_last_value_across_growth);
    RUN(fixed_hop_by_hop_set);
    RUN(connection_named_headers_are_hop_by_hop);
    RUN(name_eq);
    UNIT_DONE();
}
