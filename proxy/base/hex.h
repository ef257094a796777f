/* hex: bytes as lower-case hexadecimal (digests in records and logs), and
 * hex digits read back.
 * Pure; any thread. */
#ifndef SP_HEX_H
#define SP_HEX_H

#include <stddef.h>

/* Writes 2 * n hex digits and a NUL to out (2 * n + 1 bytes). */
static inline void hex_encode(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

/* The value of one hex digit (either case), or -1. */
static inline int hex_digit_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

#endif
