/* endpoint: see endpoint.h. */
#include "conf/endpoint.h"
#include "base/secret.h"

#include <assert.h>
#include <stdbool.h>
#include <string.h>

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

static bool all_of(const char *s, size_t n, bool (*pred)(char))
{
    for (size_t i = 0; i < n; i++)
        if (!pred(s[i]))
            return false;
    return n > 0;
}

/* 8-4-4-4-12 hex digits. */
static bool is_uuid(const char *s, size_t n)
{
    if (n != 36)
        return false;
    for (size_t i = 0; i < n; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !is_hex(s[i]))
            return false;
    }
    return true;
}

/* `v2`, `V10`, `v1.1`, `v1_2`: an API version, part of the endpoint. */
static bool is_version(const char *s, size_t n)
{
    if (n < 2 || (s[0] != 'v' && s[0] != 'V') || !is_digit(s[1]))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!is_digit(s[i]) && s[i] != '.' && s[i] != '_')
            return false;
    return true;
}

static bool is_token_char(char c)
{
    return is_digit(c) || is_alpha(c) || (c && strchr("-._~%:@+=", c));
}

bool endpoint_segment_is_id(const char *seg, size_t n)
{
    if (!seg || n == 0)
        return false;
    if (all_of(seg, n, is_digit) || is_uuid(seg, n) || memchr(seg, '@', n))
        return true;
    size_t digits = 0, letters = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_token_char(seg[i]))
            return false; /* not a token: leave it as written */
        digits += is_digit(seg[i]);
        letters += is_alpha(seg[i]);
    }
    if (n >= 8 && all_of(seg, n, is_hex) && digits > 0)
        return true; /* a hash or a hex id */
    if (digits == 0 || is_version(seg, n))
        return false;
    /* One digit at the end of a plain word is part of a name: oauth2, ipv6. */
    if (digits == 1 && letters == n - 1 && is_digit(seg[n - 1]))
        return false;
    return true;
}

/* Appends n bytes if they fit within limit; false when they do not. */
static bool put(char *out, size_t *len, size_t limit, const char *s, size_t n)
{
    if (*len + n > limit)
        return false;
    memcpy(out + *len, s, n);
    *len += n;
    return true;
}

/* The path of a request-target: from its first '/' after any
 * "scheme://authority", up to '?' or '#'. */
static const char *target_path(const char *uri, size_t *n)
{
    const char *p = uri ? uri : "";
    const char *scheme = strstr(p, "://");
    if (p[0] != '/' && scheme) {
        const char *slash = strchr(scheme + 3, '/');
        p = slash ? slash : "";
    }
    if (p[0] != '/') {
        *n = 0;
        return "/";
    }
    *n = strcspn(p, "?#");
    return p;
}

const char *endpoint_group(const char *route, const char *endpoint, const char *method,
                           const char *uri, char *buf, size_t size)
{
    if (!route || !*route)
        return NULL;
    if (strcmp(route, "default") != 0)
        return route;
    if (endpoint && *endpoint)
        return endpoint;
    endpoint_template(method, uri, buf, size);
    return buf;
}

/* Where the segment ending at path[end] ('/') starts: after the '/'
 * before it. */
static size_t endpoint_prev_start(const char *path, size_t end)
{
    size_t s = end;
    while (s > 0 && path[s - 1] != '/')
        s--;
    return s;
}

size_t endpoint_template(const char *method, const char *uri, char *out, size_t size)
{
    assert(out && size >= 8);
    const char *m = method && *method ? method : "?";
    size_t len = 0, limit = size - 1;
    size_t mlen = strnlen(m, 32);
    if (!put(out, &len, limit, m, mlen) || !put(out, &len, limit, " ", 1)) {
        len = 0;
        mlen = 1;
        (void)put(out, &len, limit, "? ", 2);
    }
    size_t n;
    const char *path = target_path(uri, &n);
    size_t path_limit = limit < ENDPOINT_MAX - 32 + len ? limit : ENDPOINT_MAX - 32 + len;
    if (n == 0)
        (void)put(out, &len, limit, "/", 1);
    for (size_t i = 0; i < n;) {
        size_t j = i + 1, k;
        for (k = j; k < n && path[k] != '/'; k++)
            ;
        /* a secret segment (.../resetLinkToken/TOKEN) is an id too: the
         * template is a metrics label and a record field, never redacted */
        size_t pj = i > 0 ? endpoint_prev_start(path, i) : 0;
        bool id = endpoint_segment_is_id(path + j, k - j) ||
                  secret_path_segment(i > 0 ? path + pj : NULL, i > 0 ? i - pj : 0, path + j,
                                      k - j, NULL);
        size_t before = len;
        bool ok = put(out, &len, path_limit, "/", 1) &&
                  (id ? put(out, &len, path_limit, ENDPOINT_ID, strlen(ENDPOINT_ID))
                      : put(out, &len, path_limit, path + j, k - j));
        if (!ok) {
            len = before;
            /* Drop whole segments until the mark fits: a cut template must
             * not read as a shorter endpoint. */
            while (len + 4 > limit && len > mlen + 1) {
                do
                    len--;
                while (len > mlen + 1 && out[len] != '/');
            }
            (void)put(out, &len, limit, "/\xe2\x80\xa6", 4); /* "/…" */
            break;
        }
        i = k;
    }
    out[len] = '\0';
    return len;
}
