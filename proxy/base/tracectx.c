/* tracectx: see tracectx.h. */
#include "base/tracectx.h"

#include <stdio.h>
#include <string.h>

/* n lowercase hex digits, not all '0' when nonzero is asked. */
static bool hex_field(const char *s, size_t n, bool nonzero)
{
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
        any |= c != '0';
    }
    return any || !nonzero;
}

static unsigned hex_byte(const char *s)
{
    unsigned v = 0;
    for (int i = 0; i < 2; i++)
        v = v * 16 + (unsigned)(s[i] <= '9' ? s[i] - '0' : s[i] - 'a' + 10);
    return v;
}

bool tracectx_parse(const char *v, tracectx *out)
{
    size_t n = v ? strlen(v) : 0;
    /* version "-" trace-id "-" parent-id "-" flags: 2+1+32+1+16+1+2 */
    if (n < 55 || !hex_field(v, 2, false) || v[2] != '-' || v[35] != '-' || v[52] != '-')
        return false;
    if (strncmp(v, "ff", 2) == 0)
        return false; /* forbidden version */
    bool v00 = strncmp(v, "00", 2) == 0;
    if ((v00 && n != 55) || (!v00 && n > 55 && v[55] != '-'))
        return false;
    if (!hex_field(v + 3, 32, true) || !hex_field(v + 36, 16, true) || !hex_field(v + 53, 2, false))
        return false;
    memcpy(out->trace_id, v + 3, 32);
    out->trace_id[32] = '\0';
    memcpy(out->parent_id, v + 36, 16);
    out->parent_id[16] = '\0';
    out->flags = (uint8_t)hex_byte(v + 53);
    return true;
}

void tracectx_span_hex(uint64_t span, char *out, size_t size)
{
    snprintf(out, size, "%016llx", (unsigned long long)span);
}

void tracectx_child_line(const tracectx *t, uint64_t span, char *out, size_t size)
{
    char hex[17];
    tracectx_span_hex(span, hex, sizeof hex);
    snprintf(out, size, "traceparent: 00-%s-%s-%02x", t->trace_id, hex,
             (unsigned)(t->flags & TRACECTX_SAMPLED));
}
