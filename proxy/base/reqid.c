#include "base/reqid.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "base/clock.h"

void reqid_seed(reqid_gen *g, uint64_t salt)
{
    if (getrandom(g->s, sizeof g->s, 0) != (ssize_t)sizeof g->s)
        g->s[0] = clock_now_ns() ^ salt, g->s[1] = 0x9e3779b97f4a7c15ull;
}

static uint64_t next_random(reqid_gen *g)
{
    /* xorshift128+ */
    uint64_t s1 = g->s[0];
    const uint64_t s0 = g->s[1];
    g->s[0] = s0;
    s1 ^= s1 << 23;
    g->s[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
    return g->s[1] + s0;
}

uint64_t reqid_random(reqid_gen *g)
{
    return next_random(g);
}

void reqid_new(reqid_gen *g, char *out, size_t size)
{
    uint64_t a = next_random(g), b = next_random(g);
    /* UUID version 4 layout */
    a = (a & 0xffffffffffff0fffull) | 0x4000ull;
    b = (b & 0x3fffffffffffffffull) | 0x8000000000000000ull;
    snprintf(out, size, "%08x-%04x-%04x-%04x-%012llx", (unsigned)(a >> 32),
             (unsigned)(a >> 16) & 0xffff, (unsigned)a & 0xffff, (unsigned)(b >> 48),
             (unsigned long long)(b & 0xffffffffffffull));
}

bool reqid_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 60)
        return false;
    for (; *s; s++)
        if (*s <= ' ' || *s > '~' || *s == '"' || *s == '\\')
            return false;
    return true;
}
