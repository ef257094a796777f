#include "data/conn_guard.h"

#include <arpa/inet.h>
#include <assert.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/budget.h"
#include "base/cidr.h"

#define NS 1000000000ull

/* ---- connections per address (every worker) ------------------------------ */

typedef struct addr_count {
    struct addr_count *next;
    int family;
    unsigned char addr[16];
    long n;
} addr_count;

#define ADDR_BUCKETS 1024
static struct {
    pthread_mutex_t mu;
    addr_count *bucket[ADDR_BUCKETS];
} A = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* Family and bytes of a peer; an IPv4-mapped IPv6 address is its IPv4. */
static bool addr_of(const struct sockaddr *sa, int *family, unsigned char out[16])
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    memset(out, 0, 16);
    if (sa && sa->sa_family == AF_INET) {
        memcpy(out, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        *family = AF_INET;
        return true;
    }
    if (sa && sa->sa_family == AF_INET6) {
        const unsigned char *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
        bool v4 = memcmp(a, mapped, sizeof mapped) == 0;
        memcpy(out, v4 ? a + 12 : a, v4 ? 4 : 16);
        *family = v4 ? AF_INET : AF_INET6;
        return true;
    }
    return false;
}

static size_t addr_hash(int family, const unsigned char a[16])
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)family;
    for (int i = 0; i < 16; i++)
        h = (h ^ a[i]) * 1099511628211ull;
    return (size_t)(h % ADDR_BUCKETS);
}

/* The count's slot (A.mu held); with `create`, made when missing. */
static addr_count *addr_find(int family, const unsigned char a[16], bool create)
{
    addr_count **b = &A.bucket[addr_hash(family, a)];
    for (addr_count *e = *b; e; e = e->next)
        if (e->family == family && memcmp(e->addr, a, 16) == 0)
            return e;
    addr_count *e = create ? calloc(1, sizeof *e) : NULL;
    if (e) {
        e->family = family;
        memcpy(e->addr, a, 16);
        e->next = *b;
        *b = e;
    }
    return e;
}

static void addr_release(int family, const unsigned char a[16])
{
    pthread_mutex_lock(&A.mu);
    addr_count **p = &A.bucket[addr_hash(family, a)];
    for (; *p; p = &(*p)->next) {
        addr_count *e = *p;
        if (e->family == family && memcmp(e->addr, a, 16) == 0) {
            assert(e->n > 0);
            if (--e->n == 0) {
                *p = e->next;
                free(e);
            }
            break;
        }
    }
    pthread_mutex_unlock(&A.mu);
}

static bool is_trusted(const sp_config *cfg, int family, const unsigned char a[16])
{
    char text[INET6_ADDRSTRLEN];
    if (cfg->ntrusted_proxies == 0 || !inet_ntop(family, a, text, sizeof text))
        return false;
    return cidr_list_contains(cfg->trusted_proxies, cfg->ntrusted_proxies, text);
}

bool conn_guard_admit(const sp_config *cfg, const struct sockaddr *addr)
{
    int family;
    unsigned char a[16];
    if (cfg->max_connections_per_address <= 0 || !addr_of(addr, &family, a))
        return true;
    pthread_mutex_lock(&A.mu);
    addr_count *e = addr_find(family, a, false);
    bool room = !e || e->n < cfg->max_connections_per_address;
    pthread_mutex_unlock(&A.mu);
    return room || is_trusted(cfg, family, a);
}

/* ---- one worker's connections ---------------------------------------------- */

void conn_guard_init(conn_guard *g, const sp_config *cfg)
{
    g->cfg = cfg;
    g->list = NULL;
}

guard_conn *conn_guard_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        conn ? MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT) : NULL;
    guard_conn *c = ci ? ci->socket_context : NULL;
    return c && c->magic == GUARD_MAGIC ? c : NULL;
}

guard_conn *conn_guard_open(conn_guard *g, int fd, const struct sockaddr *addr, uint64_t now)
{
    guard_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->magic = GUARD_MAGIC;
    c->fd = fd;
    c->head_deadline_ns = now + (uint64_t)g->cfg->head_timeout_s * NS;
    if (addr_of(addr, &c->family, c->addr)) {
        pthread_mutex_lock(&A.mu);
        addr_count *e = addr_find(c->family, c->addr, true);
        if (e) {
            e->n++;
            c->counted = true;
        }
        pthread_mutex_unlock(&A.mu);
    }
    c->next = g->list;
    if (g->list)
        g->list->prev = c;
    g->list = c;
    return c;
}

void conn_guard_close(conn_guard *g, guard_conn *c)
{
    if (!c)
        return;
    if (c->counted)
        addr_release(c->family, c->addr);
    if (c->prev)
        c->prev->next = c->next;
    else
        g->list = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->magic = 0;
    free(c);
}

void conn_guard_request_line(const conn_guard *g, guard_conn *c, uint64_t now)
{
    uint64_t d = now + (uint64_t)g->cfg->head_timeout_s * NS;
    if (!c->head_deadline_ns || d < c->head_deadline_ns)
        c->head_deadline_ns = d;
}

void conn_guard_head_done(guard_conn *c, bool has_body, uint64_t now)
{
    c->head_deadline_ns = 0;
    c->body_window_ns = has_body ? now : 0;
    c->body_window_bytes = 0;
}

void conn_guard_body_bytes(guard_conn *c, size_t n) { c->body_window_bytes += n; }

void conn_guard_body_done(guard_conn *c) { c->body_window_ns = 0; }

void conn_guard_request_done(const conn_guard *g, guard_conn *c, uint64_t now)
{
    c->body_window_ns = 0;
    c->head_deadline_ns =
        now + ((uint64_t)g->cfg->idle_timeout_s + (uint64_t)g->cfg->head_timeout_s) * NS;
}

/* A body is too slow when a window of head_timeout_s brought fewer bytes
 * than min_body_rate a second; a window that did well starts the next. */
static bool body_too_slow(const sp_config *cfg, guard_conn *c, uint64_t now)
{
    uint64_t window = (uint64_t)cfg->head_timeout_s * NS;
    if (!c->body_window_ns || cfg->min_body_rate == 0 || now < c->body_window_ns + window)
        return false;
    double seconds = (double)(now - c->body_window_ns) / 1e9;
    if ((double)c->body_window_bytes < (double)cfg->min_body_rate * seconds)
        return true;
    c->body_window_ns = now;
    c->body_window_bytes = 0;
    return false;
}

size_t conn_guard_sweep(conn_guard *g, uint64_t now,
                        void (*on_shut)(const guard_conn *c, guard_reason why, void *ctx),
                        void *ctx)
{
    size_t n = 0;
    for (guard_conn *c = g->list; c; c = c->next) {
        if (c->shut)
            continue;
        bool head = c->head_deadline_ns && now > c->head_deadline_ns;
        if (!head && !body_too_slow(g->cfg, c, now))
            continue;
        /* MHD owns the fd: only shut it down, MHD closes it. */
        shutdown(c->fd, SHUT_RDWR);
        c->shut = true;
        n++;
        if (on_shut)
            on_shut(c, head ? GUARD_SLOW_HEAD : GUARD_SLOW_BODY, ctx);
    }
    return n;
}

/* ---- buffered request bodies (every worker) --------------------------------- */

static byte_budget bodies; /* buffered request body bytes, every worker */

bool body_budget_take(const sp_config *cfg, size_t n)
{
    return budget_take(&bodies, n, cfg->max_buffered_bodies);
}

void body_budget_give(size_t n) { budget_give(&bodies, n); }

size_t body_budget_used(void) { return budget_used(&bodies); }
