#include "data/recv_size.h"

#include <stdlib.h>

#include "base/invariant.h"

/* The slot of `rt`: its index in the snapshot's routes, else the fallback's
 * (the last slot; also the built-in route of a NULL snapshot). */
static recv_route *slot_of(recv_sizer *s, const route *rt)
{
    assert(s->nroutes > 0);
    const rules *r = s->rules;
    if (r && rt >= r->routes && rt < r->routes + r->nroutes)
        return &s->routes[rt - r->routes];
    return &s->routes[s->nroutes - 1];
}

static int restart(recv_sizer *s, rules *r)
{
    size_t n = (r ? r->nroutes : 0) + 1;
    recv_route *v = calloc(n, sizeof *v);
    if (!v)
        return -1;
    recv_size_free(s);
    s->rules = r ? rules_ref(r) : NULL;
    s->routes = v;
    s->nroutes = n;
    return 0;
}

long recv_size_for(recv_sizer *s, rules *r, const route *rt)
{
    if ((!s->routes || s->rules != r) && restart(s, r) != 0)
        return RECV_SIZE_MAX;
    const recv_route *c = slot_of(s, rt);
    if (!c->warm)
        return RECV_SIZE_MAX;
    uint64_t most = c->cur_max > c->prev_max ? c->cur_max : c->prev_max;
    uint64_t need = most + most / 8 + 64;
    long size = RECV_SIZE_MIN;
    while (size < RECV_SIZE_MAX && (uint64_t)size < need)
        size *= 2;
    return size;
}

void recv_size_saw(recv_sizer *s, const rules *r, const route *rt, uint64_t bytes)
{
    if (!s->routes || s->rules != r)
        return;
    recv_route *c = slot_of(s, rt);
    uint32_t b = bytes > UINT32_MAX ? UINT32_MAX : (uint32_t)bytes;
    if (b > c->cur_max)
        c->cur_max = b;
    if (++c->seen >= RECV_SIZE_WARM)
        c->warm = true;
    if (c->seen >= RECV_SIZE_WINDOW) { /* the oldest window ages out */
        c->prev_max = c->cur_max;
        c->cur_max = 0;
        c->seen = 0;
    }
}

void recv_size_free(recv_sizer *s)
{
    rules_unref(s->rules);
    free(s->routes);
    *s = (recv_sizer){0};
}
