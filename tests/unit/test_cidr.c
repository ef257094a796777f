/* cidr: parsing ranges and matching peer addresses. */
#include <arpa/inet.h>
#include <string.h>

#include "base/cidr.h"
#include "unit.h"

TEST(parse)
{
    cidr c;
    CHECK(cidr_parse("10.0.0.0/8", &c) == NULL && c.family == AF_INET && c.bits == 8);
    CHECK(cidr_parse("192.0.2.7", &c) == NULL && c.bits == 32);
    CHECK(cidr_parse("2001:db8::/32", &c) == NULL && c.family == AF_INET6 && c.bits == 32);
    CHECK(cidr_parse("::1", &c) == NULL && c.bits == 128);
    CHECK(cidr_parse("0.0.0.0/0", &c) == NULL && c.bits == 0);
    CHECK_STR(cidr_parse("10.0.0.1/8", &c), "bits are set past the prefix length");
    CHECK_STR(cidr_parse("10.0.0.0/33", &c), "the prefix length must be 0..32");
    CHECK_STR(cidr_parse("::/129", &c), "the prefix length must be 0..128");
    CHECK_STR(cidr_parse("10.0.0.0/", &c), "the prefix length must be a number");
    CHECK_STR(cidr_parse("10.0.0.0/8x", &c), "the prefix length must be a number");
    CHECK_STR(cidr_parse("10.0.0.0/0008", &c), "the prefix length must be a number");
    CHECK_STR(cidr_parse("", &c), "not an IPv4 or IPv6 address");
    CHECK_STR(cidr_parse("/8", &c), "not an IPv4 or IPv6 address");
    CHECK_STR(cidr_parse("example.com", &c), "not an IPv4 or IPv6 address");
    CHECK_STR(cidr_parse("10.0.0", &c), "not an IPv4 or IPv6 address");
}

TEST(contains)
{
    cidr c;
    CHECK(cidr_parse("10.1.0.0/16", &c) == NULL);
    CHECK(cidr_contains(&c, "10.1.255.3"));
    CHECK(!cidr_contains(&c, "10.2.0.1"));
    CHECK(cidr_contains(&c, "::ffff:10.1.2.3")); /* a dual-stack listener's IPv4 peer */
    CHECK(!cidr_contains(&c, "::1"));
    CHECK(!cidr_contains(&c, "unknown"));
    CHECK(!cidr_contains(&c, NULL));
    CHECK(cidr_parse("10.1.2.0/23", &c) == NULL);
    CHECK(cidr_contains(&c, "10.1.3.200") && !cidr_contains(&c, "10.1.4.0"));
    CHECK(cidr_parse("2001:db8::/32", &c) == NULL);
    CHECK(cidr_contains(&c, "2001:db8:ffff::1") && !cidr_contains(&c, "2001:db9::1"));
    CHECK(!cidr_contains(&c, "10.1.2.3"));
    CHECK(cidr_parse("0.0.0.0/0", &c) == NULL);
    CHECK(cidr_contains(&c, "203.0.113.9"));
    char *list[] = {"bad", "192.0.2.0/24", "::1"};
    CHECK(cidr_list_contains(list, 3, "::1"));
    CHECK(cidr_list_contains(list, 3, "192.0.2.250"));
    CHECK(!cidr_list_contains(list, 3, "127.0.0.1"));
    CHECK(!cidr_list_contains(list, 0, "::1"));
}

int main(void)
{
    RUN(parse);
    RUN(contains);
    UNIT_DONE();
}
