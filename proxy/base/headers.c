#include "base/headers.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 8;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q)
        return -ENOMEM;
    *p = q;
    *cap = n;
    return 0;
}

int hdr_list_add(hdr_list *l, const char *name, size_t name_len,
                 const char *value, size_t value_len)
{
    size_t need = l->len + name_len + value_len + 2;
    if (need > UINT32_MAX)
        return -E2BIG;
    if (grow((void **)&l->f, &l->cap, l->n + 1, sizeof *l->f) ||
        grow((void **)&l->buf, &l->buf_cap, need < 256 ? 256 : need, 1))
        return -ENOMEM;
    hdr_field *f = &l->f[l->n++];
    f->name_off = (uint32_t)l->len;
    f->name_len = (uint32_t)name_len;
    memcpy(l->buf + l->len, name, name_len);
    l->len += name_len;
    l->buf[l->len++] = '\0';
    f->value_off = (uint32_t)l->len;
    f->value_len = (uint32_t)value_len;
    memcpy(l->buf + l->len, value, value_len);
    l->len += value_len;
    l->buf[l->len++] = '\0';
    return 0;
}

int hdr_list_extend_last(hdr_list *l, const char *more, size_t more_len)
{
    assert(l->n > 0);
    hdr_field *f = &l->f[l->n - 1];
    /* The last value ends the buffer: it grows in place, over its NUL. */
    assert(f->value_off + f->value_len + 1 == l->len);
    size_t need = l->len + 1 + more_len;
    if (need > UINT32_MAX)
        return -E2BIG;
    if (grow((void **)&l->buf, &l->buf_cap, need, 1))
        return -ENOMEM;
    l->buf[l->len - 1] = ' ';
    memcpy(l->buf + l->len, more, more_len);
    l->len += more_len;
    l->buf[l->len++] = '\0';
    f->value_len += (uint32_t)(1 + more_len);
    return 0;
}

void hdr_list_clear(hdr_list *l)
{
    l->n = 0;
    l->len = 0;
}

void hdr_list_free(hdr_list *l)
{
    free(l->f);
    free(l->buf);
    memset(l, 0, sizeof *l);
}

const char *hdr_list_get(const hdr_list *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcasecmp(hdr_name(l, i), name) == 0)
            return hdr_value(l, i);
    return NULL;
}

bool hdr_name_eq(const char *a, size_t a_len, const char *b)
{
    return strlen(b) == a_len && strncasecmp(a, b, a_len) == 0;
}

/* Does the comma-separated token list `list` name `name`? */
static bool token_listed(const char *list, const char *name)
{
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *s = p;
        while (*p && *p != ',' && *p != ' ' && *p != '\t')
            p++;
        if (p > s && hdr_name_eq(s, (size_t)(p - s), name))
            return true;
    }
    return false;
}

bool hdr_is_hop_by_hop(const hdr_list *msg, const char *name)
{
    static const char *const fixed[] = {
        "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
        "Proxy-Authorization", "TE", "Trailer", "Transfer-Encoding",
        "Upgrade",
    };
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
        if (strcasecmp(name, fixed[i]) == 0)
            return true;
    if (!msg)
        return false;
    for (size_t i = 0; i < msg->n; i++)
        if (strcasecmp(hdr_name(msg, i), "Connection") == 0 &&
            token_listed(hdr_value(msg, i), name))
            return true;
    return false;
}
