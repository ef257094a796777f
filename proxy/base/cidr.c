#include "base/cidr.h"

#include <arpa/inet.h>
#include <string.h>

/* Text to family and bytes; IPv4-mapped IPv6 folded to IPv4 when `fold`. */
static bool parse_addr(const char *s, bool fold, int *family, unsigned char out[16])
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (inet_pton(AF_INET, s, out) == 1) {
        *family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, s, out) != 1)
        return false;
    *family = AF_INET6;
    if (fold && memcmp(out, mapped, sizeof mapped) == 0) {
        memmove(out, out + 12, 4);
        *family = AF_INET;
    }
    return true;
}

/* Do a and b agree on their first `bits` bits? */
static bool prefix_equal(const unsigned char *a, const unsigned char *b, int bits)
{
    int whole = bits / 8, rest = bits % 8;
    if (memcmp(a, b, (size_t)whole) != 0)
        return false;
    if (rest == 0)
        return true;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

const char *cidr_parse(const char *s, cidr *out)
{
    char addr[64];
    const char *slash = strchr(s, '/');
    size_t alen = slash ? (size_t)(slash - s) : strlen(s);
    if (alen == 0 || alen >= sizeof addr)
        return "not an IPv4 or IPv6 address";
    memcpy(addr, s, alen);
    addr[alen] = '\0';
    cidr c = {0};
    if (!parse_addr(addr, false, &c.family, c.addr))
        return "not an IPv4 or IPv6 address";
    int max = c.family == AF_INET ? 32 : 128;
    c.bits = max;
    if (slash) {
        const char *p = slash + 1;
        int bits = 0;
        if (!*p || strlen(p) > 3)
            return "the prefix length must be a number";
        for (; *p; p++) {
            if (*p < '0' || *p > '9')
                return "the prefix length must be a number";
            bits = bits * 10 + (*p - '0');
        }
        if (bits > max)
            return c.family == AF_INET ? "the prefix length must be 0..32"
                                       : "the prefix length must be 0..128";
        c.bits = bits;
    }
    unsigned char masked[16];
    memcpy(masked, c.addr, sizeof masked);
    /* bits past the prefix: a typo such as 10.0.0.1/8 (meant /32?) */
    for (int i = c.bits; i < max; i++)
        masked[i / 8] &= (unsigned char)~(0x80 >> (i % 8));
    if (memcmp(masked, c.addr, (size_t)max / 8) != 0)
        return "bits are set past the prefix length";
    *out = c;
    return NULL;
}

bool cidr_contains(const cidr *c, const char *ip)
{
    int family;
    unsigned char a[16];
    if (!ip || !parse_addr(ip, c->family == AF_INET, &family, a) || family != c->family)
        return false;
    return prefix_equal(a, c->addr, c->bits);
}

bool cidr_list_contains(char *const *ranges, size_t n, const char *ip)
{
    for (size_t i = 0; i < n; i++) {
        cidr c;
        if (!cidr_parse(ranges[i], &c) && cidr_contains(&c, ip))
            return true;
    }
    return false;
}
