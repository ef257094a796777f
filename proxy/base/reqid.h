/* reqid: request ids. A generator makes random UUIDs (version 4 layout)
 * from xorshift128+: ids need to be unique, not secret. One generator per
 * thread (no locking); reqid_valid says whether a client's X-Request-Id may
 * be kept as the exchange's id. */
#ifndef SP_REQID_H
#define SP_REQID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct reqid_gen {
    uint64_t s[2];
} reqid_gen;

/* Seeds from getrandom(2); if that fails, from the clock and `salt` (the
 * worker's number), which is still unique enough between workers. */
void reqid_seed(reqid_gen *g, uint64_t salt);
/* Writes "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx" (36 characters and the
 * NUL; `size` should be at least 37, shorter output is truncated). */
void reqid_new(reqid_gen *g, char *out, size_t size);
/* 64 random bits from the same generator (span ids, for instance). */
uint64_t reqid_random(reqid_gen *g);
/* A client's id is kept when it has 1 to 60 characters, each a letter, a
 * digit or one of - _ . : + = / (a UUID, a hex or base64 trace id): it
 * goes into headers, logs, JSON, the dashboard and reports as is, so no
 * markup, quote, space or control character. */
bool reqid_valid(const char *s);

/* The ids of the last REQID_WINDOW exchanges, process-wide, to keep record
 * ids unique when clients reuse one. ~1.3 MiB, zero-initialised: no
 * set-up. Thread-safe (a mutex). */
#define REQID_WINDOW 65536
typedef struct reqid_window reqid_window;
extern reqid_window reqid_recent;

/* An exchange's ids. `client` (its X-Request-Id, or NULL) is used when
 * valid; else a new id is made. id gets the record's id, always unique in
 * the window; when the client's id was already there (another exchange's,
 * a retry or a forgery), id is a new one and client_id keeps the client's
 * (for the upstreams, the answer and the record's client_request_id);
 * otherwise client_id is "". Both buffers hold at least 61 bytes. */
void reqid_assign(reqid_window *w, reqid_gen *g, const char *client, char *id, size_t id_size,
                  char *client_id, size_t client_id_size);

#endif
