#include "data/reqcheck.h"

#include <string.h>
#include <strings.h>

static bool tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

bool reqcheck_token(const char *s, size_t n)
{
    if (!s || n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!tchar((unsigned char)s[i]))
            return false;
    return true;
}

const char *reqcheck_target(const char *uri)
{
    for (const unsigned char *p = (const unsigned char *)uri; *p; p++) {
        if (*p <= 0x20 || *p >= 0x7f)
            return "the request target has a space, a control character or a non-ASCII byte "
                   "(percent-encode it)";
        if (*p == '#')
            return "the request target has a fragment ('#')";
    }
    return NULL;
}

const char *reqcheck_field(const char *name, size_t name_len, const char *value,
                           size_t value_len)
{
    if (!reqcheck_token(name, name_len))
        return "a header name is not a token (empty, or with a space, a control character "
               "or a separator)";
    for (size_t i = 0; i < value_len; i++) {
        unsigned char c = (unsigned char)value[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return "a header value has a control character (NUL, CR, LF, ...)";
    }
    return NULL;
}

static bool all_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

static const char *skip_zeros(const char *s)
{
    while (s[0] == '0' && s[1])
        s++;
    return s;
}

/* Exactly one Transfer-Encoding field, exactly "chunked" (any case): what
 * libmicrohttpd itself recognizes. Anything else, even "chunked " with a
 * trailing space or "chunked" listed twice, MHD would not read as chunked
 * while an upstream might. */
static bool only_chunked(const hdr_list *h)
{
    int fields = 0;
    bool chunked = false;
    for (size_t i = 0; i < h->n; i++)
        if (strcasecmp(hdr_name(h, i), "Transfer-Encoding") == 0) {
            fields++;
            chunked = strcasecmp(hdr_value(h, i), "chunked") == 0;
        }
    return fields == 1 && chunked;
}

int reqcheck_framing(const hdr_list *h, bool http10, const char **why)
{
    const char *cl = NULL;
    bool te = false;
    for (size_t i = 0; i < h->n; i++) {
        const char *name = hdr_name(h, i), *v = hdr_value(h, i);
        if (strcasecmp(name, "Transfer-Encoding") == 0) {
            te = true;
        } else if (strcasecmp(name, "Content-Length") == 0) {
            if (!all_digits(v)) {
                *why = "Content-Length is not a number";
                return 400;
            }
            if (cl && strcmp(skip_zeros(cl), skip_zeros(v)) != 0) {
                *why = "Content-Length fields disagree";
                return 400;
            }
            cl = v;
        }
    }
    if (!te)
        return 0;
    if (cl) {
        *why = "both Content-Length and Transfer-Encoding";
        return 400;
    }
    if (http10) {
        *why = "Transfer-Encoding in an HTTP/1.0 request";
        return 400;
    }
    if (!only_chunked(h)) {
        *why = "a Transfer-Encoding other than one 'chunked' is not supported";
        return 501;
    }
    return 0;
}
