/* decisions_url: see decisions_url.h. */
#include "conf/decisions_url.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void decisions_url_free(decisions_url *u)
{
    if (!u)
        return;
    free(u->path);
    for (size_t i = 0; i < u->nendpoints; i++)
        free(u->endpoints[i]);
    free(u->endpoints);
    free(u->prefix);
    memset(u, 0, sizeof *u);
}

/* HOST:PORT with a port 1..65535 and a host of [A-Za-z0-9.-] (or [v6]). */
static bool host_port_ok(const char *s, size_t n)
{
    const char *colon = NULL;
    for (size_t i = 0; i < n; i++)
        if (s[i] == ':')
            colon = s + i;
    if (!colon || colon == s || (size_t)(colon - s) + 1 >= n)
        return false;
    for (const char *p = s; p < colon; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '-' || (*s == '[' && (*p == ':' || *p == '[' || *p == ']'))))
            return false;
    long port = 0;
    for (const char *p = colon + 1; p < s + n; p++) {
        if (*p < '0' || *p > '9' || port > 65535)
            return false;
        port = port * 10 + (*p - '0');
    }
    return port >= 1 && port <= 65535;
}

static bool prefix_ok(const char *p)
{
    if (*p != '/' || !p[1])
        return false;
    for (; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '-' || *p == '_' || *p == '/'))
            return false;
    return true;
}

static int parse_etcd(const char *rest, bool tls, decisions_url *out, char *why, size_t size)
{
    const char *slash = strchr(rest, '/');
    if (!slash || !prefix_ok(slash)) {
        snprintf(why, size, "etcd needs a key prefix after the endpoints: /NAME of letters, "
                            "digits, '.', '-', '_' or '/' (etcd://HOST:PORT/shadowproxy)");
        return -EINVAL;
    }
    out->kind = DECISIONS_ETCD;
    out->tls = tls;
    size_t plen = strlen(slash);
    while (plen > 1 && slash[plen - 1] == '/')
        plen--;
    if (!(out->prefix = strndup(slash, plen)) ||
        !(out->endpoints = calloc(DECISIONS_MAX_ENDPOINTS, sizeof *out->endpoints)))
        return -ENOMEM;
    for (const char *p = rest; p;) {
        const char *end = memchr(p, ',', (size_t)(slash - p));
        size_t n = (size_t)((end ? end : slash) - p);
        if (!host_port_ok(p, n)) {
            snprintf(why, size, "etcd endpoints must be HOST:PORT, comma-separated, got \"%.*s\"",
                     (int)(n > 80 ? 80 : n), p);
            return -EINVAL;
        }
        if (out->nendpoints == DECISIONS_MAX_ENDPOINTS) {
            snprintf(why, size, "at most %d etcd endpoints", DECISIONS_MAX_ENDPOINTS);
            return -EINVAL;
        }
        char *e = malloc(n + 16);
        if (!e)
            return -ENOMEM;
        snprintf(e, n + 16, "%s://%.*s", tls ? "https" : "http", (int)n, p);
        out->endpoints[out->nendpoints++] = e;
        p = end ? end + 1 : NULL; /* "h:1,/p" ends with an empty endpoint: refused */
    }
    return 0;
}

int decisions_url_parse(const char *s, decisions_url *out, char *why, size_t size)
{
    memset(out, 0, sizeof *out);
    int rc;
    if (!s || !*s) {
        snprintf(why, size, "the decision store is empty (file:PATH or etcd://HOST:PORT/PREFIX)");
        rc = -EINVAL;
    } else if (strncmp(s, "file:", 5) == 0) {
        out->kind = DECISIONS_FILE;
        rc = s[5] ? ((out->path = strdup(s + 5)) ? 0 : -ENOMEM) : -EINVAL;
        if (rc == -EINVAL)
            snprintf(why, size, "file: needs a path (file:/var/lib/shadowproxy/state.json)");
    } else if (strncmp(s, "etcd://", 7) == 0 || strncmp(s, "etcds://", 8) == 0) {
        bool tls = s[4] == 's';
        rc = parse_etcd(s + (tls ? 8 : 7), tls, out, why, size);
    } else {
        snprintf(why, size, "expected file:PATH, etcd://HOST:PORT[,HOST:PORT...]/PREFIX or "
                            "etcds://... (TLS)");
        rc = -EINVAL;
    }
    if (rc)
        decisions_url_free(out);
    return rc;
}
