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
/* A client's id is kept when it has 1 to 60 printable ASCII characters and
 * no quote or backslash (it goes into headers, logs and JSON as is). */
bool reqid_valid(const char *s);

#endif
