/* headers: an ordered list of HTTP header fields (duplicates kept), stored
 * in one growing buffer so a request costs two allocations, not 2n. */
#ifndef SP_HEADERS_H
#define SP_HEADERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hdr_field {
    uint32_t name_off, name_len;
    uint32_t value_off, value_len;
} hdr_field;

typedef struct hdr_list {
    hdr_field *f;
    size_t n, cap;
    char *buf; /* names and values, each NUL-terminated */
    size_t len, buf_cap;
} hdr_list;

/* Appends one field; name and value are copied. Returns 0 or -ENOMEM. */
int hdr_list_add(hdr_list *l, const char *name, size_t name_len,
                 const char *value, size_t value_len);
/* Appends " " and `more` to the last field's value (an obs-fold line,
 * RFC 9112 5.2, read as one space). The list must not be empty. Returns 0
 * or -ENOMEM / -E2BIG (unchanged). */
int hdr_list_extend_last(hdr_list *l, const char *more, size_t more_len);
void hdr_list_clear(hdr_list *l); /* keeps the memory for reuse */
void hdr_list_free(hdr_list *l);

static inline const char *hdr_name(const hdr_list *l, size_t i)
{
    return l->buf + l->f[i].name_off;
}
static inline const char *hdr_value(const hdr_list *l, size_t i)
{
    return l->buf + l->f[i].value_off;
}

/* First value of a field (case-insensitive name), or NULL. */
const char *hdr_list_get(const hdr_list *l, const char *name);

/* Hop-by-hop per RFC 9110 7.6.1: the fixed set plus the field names listed
 * in the message's own Connection header(s). `msg` may be NULL. */
bool hdr_is_hop_by_hop(const hdr_list *msg, const char *name);

/* Case-insensitive ASCII equality of a token against a NUL-terminated name. */
bool hdr_name_eq(const char *a, size_t a_len, const char *b);

#endif
