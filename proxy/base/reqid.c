#include "base/reqid.h"

#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "base/clock.h"

void reqid_seed(reqid_gen *g, uint64_t salt)
{
    if (getrandom(g->s, sizeof g->s, 0) != (ssize_t)sizeof g->s)
        g->s[0] = clock_now_ns() ^ salt, g->s[1] = 0x9e3779b97f4a7c15ull;
}

static uint64_t next_random(reqid_gen *g)
{
    /* xorshift128+ */
    uint64_t s1 = g->s[0];
    const uint64_t s0 = g->s[1];
    g->s[0] = s0;
    s1 ^= s1 << 23;
    g->s[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
    return g->s[1] + s0;
}

uint64_t reqid_random(reqid_gen *g)
{
    return next_random(g);
}

void reqid_new(reqid_gen *g, char *out, size_t size)
{
    uint64_t a = next_random(g), b = next_random(g);
    /* UUID version 4 layout */
    a = (a & 0xffffffffffff0fffull) | 0x4000ull;
    b = (b & 0x3fffffffffffffffull) | 0x8000000000000000ull;
    snprintf(out, size, "%08x-%04x-%04x-%04x-%012llx", (unsigned)(a >> 32),
             (unsigned)(a >> 16) & 0xffff, (unsigned)a & 0xffff, (unsigned)(b >> 48),
             (unsigned long long)(b & 0xffffffffffffull));
}

bool reqid_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 60)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr("-_.:+=/", *s)))
            return false;
    return true;
}

/* A ring of the last REQID_WINDOW ids' hashes, each chained in one of
 * 2 * REQID_WINDOW buckets. Links are ring index + 1 (0: none), so the
 * all-zero struct is an empty window. A 64-bit hash that two different
 * ids share (a client could aim for one) only renames a record. */
struct reqid_window {
    pthread_mutex_t mu;
    uint64_t hash[REQID_WINDOW];
    uint32_t next[REQID_WINDOW];
    uint32_t bucket[2 * REQID_WINDOW];
    uint32_t pos, filled;
};

reqid_window reqid_recent = {.mu = PTHREAD_MUTEX_INITIALIZER};

static uint64_t id_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h ^ (h >> 29);
}

static uint32_t *bucket_of(reqid_window *w, uint64_t h)
{
    return &w->bucket[h % (2 * REQID_WINDOW)];
}

static bool window_has(reqid_window *w, uint64_t h)
{
    for (uint32_t i = *bucket_of(w, h); i; i = w->next[i - 1])
        if (w->hash[i - 1] == h)
            return true;
    return false;
}

/* Adds h in the oldest slot, first unlinking the hash that held it. */
static void window_add(reqid_window *w, uint64_t h)
{
    uint32_t slot = w->pos;
    if (w->filled == REQID_WINDOW) {
        uint32_t *p = bucket_of(w, w->hash[slot]);
        while (*p != slot + 1) {
            assert(*p != 0);
            p = &w->next[*p - 1];
        }
        *p = w->next[slot];
    } else {
        w->filled++;
    }
    w->hash[slot] = h;
    uint32_t *b = bucket_of(w, h);
    w->next[slot] = *b;
    *b = slot + 1;
    w->pos = (slot + 1) % REQID_WINDOW;
}

void reqid_assign(reqid_window *w, reqid_gen *g, const char *client, char *id, size_t id_size,
                  char *client_id, size_t client_id_size)
{
    assert(id_size > 60 && client_id_size > 60);
    client_id[0] = '\0';
    bool usable = client && reqid_valid(client);
    if (usable)
        snprintf(id, id_size, "%s", client);
    else
        reqid_new(g, id, id_size);
    uint64_t h = id_hash(id);
    pthread_mutex_lock(&w->mu);
    if (usable && window_has(w, h)) {
        snprintf(client_id, client_id_size, "%s", client);
        reqid_new(g, id, id_size); /* 122 random bits: not in the window */
        h = id_hash(id);
    }
    window_add(w, h);
    pthread_mutex_unlock(&w->mu);
}
