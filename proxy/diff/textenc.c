/* textenc: UTF-16/32 to UTF-8 (see textenc.h). */
#include "diff/textenc.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *textenc_name(textenc e)
{
    static const char *const names[] = {"utf-8", "utf-16le", "utf-16be", "utf-32le",
                                        "utf-32be"};
    return e <= TEXTENC_UTF32BE ? names[e] : "?";
}

/* The value of the charset parameter of a Content-Type, as an encoding;
 * TEXTENC_UTF8 for anything else (absent, or a charset not handled). */
static textenc charset_of(const char *ct)
{
    static const struct {
        const char *name;
        textenc e;
    } known[] = {
        {"utf-16le", TEXTENC_UTF16LE}, {"utf-16be", TEXTENC_UTF16BE},
        {"utf-16", TEXTENC_UTF16BE},   {"utf-32le", TEXTENC_UTF32LE},
        {"utf-32be", TEXTENC_UTF32BE}, {"utf-32", TEXTENC_UTF32BE},
    };
    const char *p = ct ? strchr(ct, ';') : NULL;
    for (; p; p = strchr(p + 1, ';')) {
        const char *s = p + 1;
        while (*s == ' ' || *s == '\t')
            s++;
        if (strncasecmp(s, "charset=", 8) != 0)
            continue;
        s += 8;
        bool quoted = *s == '"';
        s += quoted;
        size_t k = strcspn(s, quoted ? "\"" : "; \t");
        for (size_t i = 0; i < sizeof known / sizeof *known; i++)
            if (strlen(known[i].name) == k && strncasecmp(s, known[i].name, k) == 0)
                return known[i].e;
        return TEXTENC_UTF8;
    }
    return TEXTENC_UTF8;
}

textenc textenc_detect(const unsigned char *p, size_t n,
                       const char *content_type, bool json, size_t *bom)
{
    *bom = 0;
    if (n >= 4 && p[0] == 0xFF && p[1] == 0xFE && p[2] == 0 && p[3] == 0)
        return *bom = 4, TEXTENC_UTF32LE;
    if (n >= 4 && p[0] == 0 && p[1] == 0 && p[2] == 0xFE && p[3] == 0xFF)
        return *bom = 4, TEXTENC_UTF32BE;
    if (n >= 2 && p[0] == 0xFF && p[1] == 0xFE)
        return *bom = 2, TEXTENC_UTF16LE;
    if (n >= 2 && p[0] == 0xFE && p[1] == 0xFF)
        return *bom = 2, TEXTENC_UTF16BE;
    if (n >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF)
        return *bom = 3, TEXTENC_UTF8;
    textenc e = charset_of(content_type);
    if (e != TEXTENC_UTF8 || !json || n < 4)
        return e;
    bool z0 = !p[0], z1 = !p[1], z2 = !p[2], z3 = !p[3];
    if (z0 && z1 && z2 && !z3)
        return TEXTENC_UTF32BE;
    if (!z0 && z1 && z2 && z3)
        return TEXTENC_UTF32LE;
    if (z0 && !z1 && z2 && !z3)
        return TEXTENC_UTF16BE;
    if (!z0 && z1 && !z2 && z3)
        return TEXTENC_UTF16LE;
    return TEXTENC_UTF8;
}

static uint32_t unit(const unsigned char *p, textenc e)
{
    switch (e) {
    case TEXTENC_UTF16LE: return (uint32_t)p[0] | (uint32_t)p[1] << 8;
    case TEXTENC_UTF16BE: return (uint32_t)p[1] | (uint32_t)p[0] << 8;
    case TEXTENC_UTF32LE:
        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
               (uint32_t)p[3] << 24;
    case TEXTENC_UTF32BE:
        return (uint32_t)p[3] | (uint32_t)p[2] << 8 | (uint32_t)p[1] << 16 |
               (uint32_t)p[0] << 24;
    case TEXTENC_UTF8: break;
    }
    return 0;
}

static size_t put_utf8(unsigned char *o, uint32_t c)
{
    if (c < 0x80)
        return o[0] = (unsigned char)c, 1;
    if (c < 0x800) {
        o[0] = (unsigned char)(0xC0 | c >> 6);
        o[1] = (unsigned char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        o[0] = (unsigned char)(0xE0 | c >> 12);
        o[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (c & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | c >> 18);
    o[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (c & 0x3F));
    return 4;
}

int textenc_to_utf8(textenc e, const unsigned char *p, size_t n,
                    unsigned char **out, size_t *out_len)
{
    size_t w = e == TEXTENC_UTF16LE || e == TEXTENC_UTF16BE ? 2
               : e == TEXTENC_UTF8                          ? 0
                                                            : 4;
    *out = NULL;
    *out_len = 0;
    if (w == 0 || n % w != 0)
        return -EINVAL;
    /* UTF-16: a unit becomes at most 3 bytes (a pair, 4 units' worth of
     * bytes, becomes 4); UTF-32: a unit at most 4 bytes. */
    size_t cap = n / w * (w == 2 ? 3 : 4) + 1;
    unsigned char *o = malloc(cap);
    if (!o)
        return -ENOMEM;
    size_t len = 0, i = 0;
    for (; i < n; i += w) {
        uint32_t c = unit(p + i, e);
        if (w == 2 && c >= 0xD800 && c < 0xDC00) { /* a high surrogate */
            uint32_t lo = i + 2 < n ? unit(p + i + 2, e) : 0;
            if (lo < 0xDC00 || lo >= 0xE000)
                break;
            c = 0x10000 + ((c - 0xD800) << 10) + (lo - 0xDC00);
            i += 2;
        } else if ((c >= 0xD800 && c < 0xE000) || c > 0x10FFFF) {
            break;
        }
        len += put_utf8(o + len, c);
    }
    if (i < n) {
        free(o);
        return -EINVAL;
    }
    o[len] = '\0';
    *out = o;
    *out_len = len;
    return 0;
}

int textenc_normalize(const unsigned char **data, size_t *len,
                      const char *content_type, bool json,
                      unsigned char **owned, textenc *found)
{
    size_t bom = 0, n = 0;
    *owned = NULL;
    *found = textenc_detect(*data, *len, content_type, json, &bom);
    if (*found == TEXTENC_UTF8) {
        *data += bom;
        *len -= bom;
        return 0;
    }
    int rc = textenc_to_utf8(*found, *data + bom, *len - bom, owned, &n);
    if (rc == 0) {
        *data = *owned;
        *len = n;
    }
    return rc;
}
