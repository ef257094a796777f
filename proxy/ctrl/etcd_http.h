/* etcd_http: a small client of etcd v3's JSON gateway (etcd 3.4:
 * /v3/kv/range, /v3/kv/txn, /v3/watch, /v3/lease/..., /v3/auth/authenticate)
 * over libcurl easy handles, with fail-over between the cluster's
 * endpoints. Keys and values are base64 in the JSON; 64-bit numbers are
 * strings. Blocking calls: the control side only (the store's threads and
 * the admin threads), never a worker loop. Thread-safe. */
#ifndef SP_ETCD_HTTP_H
#define SP_ETCD_HTTP_H

#include <stdatomic.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/config.h"
#include "conf/decisions_url.h"

typedef struct etcd_client etcd_client;

/* Copies what it needs from u and cfg->decisions_etcd; reads the password
 * file. NULL with err (a sentence) on a password file that cannot be read
 * or no memory. */
etcd_client *etcd_new(const decisions_url *u, const sp_config *cfg, char *err, size_t size);
void etcd_free(etcd_client *c); /* NULL-safe */

/* POST `path` with `req` on the current endpoint, then on each other one
 * while they cannot be reached (the next call starts at the one that
 * answered). 0 with *resp (new reference); -EAGAIN with err when no
 * endpoint answered or etcd refused the request (its message in err). */
int etcd_call(etcd_client *c, const char *path, const json_t *req, json_t **resp,
              long timeout_ms, char *err, size_t size);

/* A streaming POST (/v3/watch): each top-level JSON object of the answer is
 * passed to on_object (its reference stays with the caller) as it arrives,
 * until the connection ends, on_object returns false or *stop is set
 * (checked at least once a second). One endpoint per call (the current
 * one; on a failure the next call tries the next). Returns 0 when stopped,
 * -EAGAIN with err otherwise. */
int etcd_stream(etcd_client *c, const char *path, const json_t *req,
                bool (*on_object)(json_t *obj, void *arg), void *arg, const atomic_int *stop,
                char *err, size_t size);

/* Base64 of n bytes (new reference to a JSON string; NULL on no memory). */
json_t *etcd_b64(const char *data, size_t n);
/* Decodes a base64 JSON string: malloc'd, NUL-terminated, *n its length.
 * NULL when v is not valid base64. */
char *etcd_unb64(const json_t *v, size_t *n);
/* A gateway number (a string, or a number): 0 when absent. */
int64_t etcd_int(const json_t *v);
/* "PREFIX/suffix" as a base64 key, and the key just past every key that
 * starts with it (for range_end). */
json_t *etcd_key(const char *prefix, const char *suffix);
json_t *etcd_range_end(const char *prefix, const char *suffix);

#endif
