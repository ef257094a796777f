/* decisions_url: where the operator's decisions live (`--decisions URL`,
 * config key decisions.store), parsed. Pure; any thread.
 *
 *   file:PATH                                  one host: a JSON file
 *   etcd://HOST:PORT[,HOST:PORT...]/PREFIX     an etcd v3 cluster (plain HTTP)
 *   etcds://HOST:PORT[,HOST:PORT...]/PREFIX    the same over TLS
 */
#ifndef SP_DECISIONS_URL_H
#define SP_DECISIONS_URL_H

#include <stdbool.h>
#include <stddef.h>

#define DECISIONS_MAX_ENDPOINTS 16

typedef enum decisions_kind { DECISIONS_FILE, DECISIONS_ETCD } decisions_kind;

typedef struct decisions_url {
    decisions_kind kind;
    char *path;                 /* file: the path (owned) */
    char **endpoints;           /* etcd: "http://HOST:PORT" or "https://..." (owned) */
    size_t nendpoints;
    char *prefix;               /* etcd: "/PREFIX", no trailing '/' (owned) */
    bool tls;                   /* etcds:// */
} decisions_url;

/* 0 with *out filled (free with decisions_url_free), or -EINVAL with a
 * sentence in why (e.g. "etcd:// needs HOST:PORT, got \"h1\"") and *out
 * zeroed, or -ENOMEM. */
int decisions_url_parse(const char *s, decisions_url *out, char *why, size_t size);
void decisions_url_free(decisions_url *u); /* NULL-safe; zeroes *u */

#endif
