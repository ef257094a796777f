/* cidr: address ranges ("10.0.0.0/8", "2001:db8::/32", "127.0.0.1") and
 * whether a peer address falls in one. Pure functions, any thread. */
#ifndef SP_CIDR_H
#define SP_CIDR_H

#include <stdbool.h>
#include <stddef.h>

typedef struct cidr {
    int family;               /* AF_INET or AF_INET6 */
    unsigned char addr[16];   /* 4 bytes used for AF_INET */
    int bits;                 /* prefix length */
} cidr;

/* Parses "ADDR" (a single address: full length) or "ADDR/BITS". NULL on
 * success; otherwise a short reason ("not an IPv4 or IPv6 address", "bits
 * set past the prefix length", ...) and *out is untouched. */
const char *cidr_parse(const char *s, cidr *out);
/* Is the textual address `ip` (as inet_ntop wrote it) in the range? An
 * IPv4-mapped IPv6 address (::ffff:a.b.c.d, a dual-stack listener's IPv4
 * peer) is compared as the IPv4 address. false for text that is no
 * address. */
bool cidr_contains(const cidr *c, const char *ip);
/* Is `ip` in any of the n ranges, given as text (each parsed here; one
 * that does not parse matches nothing)? */
bool cidr_list_contains(char *const *ranges, size_t n, const char *ip);

#endif
