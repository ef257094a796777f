#include "obs/overload.h"

#include <assert.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "diff/record.h"

static overload_count *slot(overload_tally *t, const char *route, bool endpoint)
{
    if (!route)
        route = "default";
    size_t len = strnlen(route, OVERLOAD_MAX_NAME);
    if (route[len]) /* cut: not inside a UTF-8 sequence, the record must stay valid */
        while (len > 0 && ((unsigned char)route[len] & 0xC0) == 0x80)
            len--;
    for (size_t i = 0; i < t->n; i++)
        if (t->v[i].endpoint == endpoint && memcmp(t->v[i].route, route, len) == 0 &&
            !t->v[i].route[len])
            return &t->v[i];
    if (t->n < OVERLOAD_MAX_ROUTES && strcmp(route, OVERLOAD_OTHER_ROUTE) != 0) {
        overload_count *c = &t->v[t->n++];
        memcpy(c->route, route, len);
        c->route[len] = '\0';
        c->endpoint = endpoint;
        c->not_compared = 0;
        memset(c->unlogged, 0, sizeof c->unlogged);
        memset(c->not_mirrored, 0, sizeof c->not_mirrored);
        return c;
    }
    if (!t->other_used) {
        t->other_used = true;
        memset(&t->v[OVERLOAD_MAX_ROUTES], 0, sizeof t->v[OVERLOAD_MAX_ROUTES]);
        memcpy(t->v[OVERLOAD_MAX_ROUTES].route, OVERLOAD_OTHER_ROUTE, sizeof OVERLOAD_OTHER_ROUTE);
    }
    return &t->v[OVERLOAD_MAX_ROUTES];
}

static void count_add(overload_count *c, const overload_count *src)
{
    c->not_compared += src->not_compared;
    for (int v = 0; v < VERDICT_COUNT; v++)
        c->unlogged[v] += src->unlogged[v];
    for (int r = 0; r < NM_COUNT; r++)
        c->not_mirrored[r] += src->not_mirrored[r];
}

static const char *const nm_texts[NM_COUNT] = {
    [NM_SHADOW_DISABLED] = "shadow disabled",
    [NM_PAUSED] = "shadow paused by operator",
    [NM_ROUTE_OFF] = "mirroring off for this route",
    [NM_METHOD] = "method not mirrored on this route",
    [NM_NOT_SAMPLED] = "not sampled",
};

const char *not_mirrored_text(not_mirrored_reason r)
{
    assert((unsigned)r < NM_COUNT);
    return nm_texts[r];
}

void overload_tally_not_mirrored(overload_tally *t, const char *route, const char *endpoint,
                                 not_mirrored_reason r)
{
    assert((unsigned)r < NM_COUNT);
    slot(t, endpoint ? endpoint : route, endpoint != NULL)->not_mirrored[r]++;
}

uint64_t overload_count_not_mirrored(const overload_count *c)
{
    uint64_t n = 0;
    for (int r = 0; r < NM_COUNT; r++)
        n += c->not_mirrored[r];
    return n;
}

void overload_tally_add(overload_tally *t, const char *route, verdict v, bool not_compared)
{
    assert(v < VERDICT_COUNT);
    overload_count *c = slot(t, route, false);
    c->unlogged[v]++;
    c->not_compared += not_compared;
}

bool overload_tally_empty(const overload_tally *t)
{
    return t->n == 0 && !t->other_used;
}

static void tally_clear(overload_tally *t)
{
    t->n = 0;
    t->other_used = false;
}

void overload_tally_merge(overload_tally *dst, overload_tally *src)
{
    assert(dst != src);
    for (size_t i = 0; i < src->n; i++)
        count_add(slot(dst, src->v[i].route, src->v[i].endpoint), &src->v[i]);
    if (src->other_used)
        count_add(slot(dst, OVERLOAD_OTHER_ROUTE, false), &src->v[OVERLOAD_MAX_ROUTES]);
    tally_clear(src);
}

size_t overload_tally_size(const overload_tally *t)
{
    return t->n + (t->other_used ? 1 : 0);
}

const overload_count *overload_tally_at(const overload_tally *t, size_t i)
{
    assert(i < overload_tally_size(t));
    return i < t->n ? &t->v[i] : &t->v[OVERLOAD_MAX_ROUTES];
}

/* The fields both record types share, in this order. 0 or -1. */
static int window_fields(json_t *r, const char *type, const overload_count *c,
                         const char *start, const char *end, int64_t window_ms)
{
    int bad = 0;
    bad |= json_object_set_new(r, "v", json_integer(1));
    bad |= json_object_set_new(r, "type", json_string(type));
    bad |= json_object_set_new(r, "ts", json_string(end));
    bad |= json_object_set_new(r, "route", json_string(c->endpoint ? "default" : c->route));
    if (c->endpoint)
        bad |= json_object_set_new(r, "endpoint", json_string(c->route));
    bad |= json_object_set_new(r, "window_start", json_string(start));
    bad |= json_object_set_new(r, "window_end", json_string(end));
    bad |= json_object_set_new(r, "window_ms", json_integer(window_ms));
    return bad ? -1 : 0;
}

static json_t *not_mirrored_record(const overload_count *c, const char *start, const char *end,
                                   int64_t window_ms)
{
    json_t *r = json_object(), *reasons = json_object();
    int bad = !r || !reasons;
    for (int i = 0; !bad && i < NM_COUNT; i++)
        if (c->not_mirrored[i])
            bad |= json_object_set_new(reasons, nm_texts[i],
                                       json_integer((json_int_t)c->not_mirrored[i]));
    if (!bad) {
        bad |= window_fields(r, "not_mirrored", c, start, end, window_ms);
        bad |= json_object_set_new(r, "count",
                                   json_integer((json_int_t)overload_count_not_mirrored(c)));
        bad |= json_object_set_new(r, "reasons", reasons);
        reasons = NULL;
    }
    json_decref(reasons);
    if (bad) {
        json_decref(r);
        return NULL;
    }
    return r;
}

static json_t *count_record(const overload_count *c, const char *start, const char *end,
                            int64_t window_ms)
{
    json_t *r = json_object(), *verdicts = json_object();
    uint64_t unlogged = 0;
    int bad = !r || !verdicts;
    for (int v = 0; !bad && v < VERDICT_COUNT; v++) {
        unlogged += c->unlogged[v];
        if (c->unlogged[v])
            bad |= json_object_set_new(verdicts, verdict_name((verdict)v),
                                       json_integer((json_int_t)c->unlogged[v]));
    }
    if (bad) {
        json_decref(r);
        json_decref(verdicts);
        return NULL;
    }
    bad |= window_fields(r, "overload", c, start, end, window_ms);
    bad |= json_object_set_new(r, "not_compared", json_integer((json_int_t)c->not_compared));
    bad |= json_object_set_new(r, "unlogged", json_integer((json_int_t)unlogged));
    bad |= json_object_set_new(r, "verdicts", verdicts);
    if (bad) {
        json_decref(r);
        return NULL;
    }
    return r;
}

static int append(char **buf, size_t *len, const char *line, size_t n)
{
    char *b = realloc(*buf, *len + n + 1);
    if (!b)
        return -1;
    memcpy(b + *len, line, n);
    *len += n;
    b[*len] = '\0';
    *buf = b;
    return 0;
}

char *overload_tally_lines(overload_tally *t, int64_t start_ms, int64_t end_ms, size_t *len,
                           size_t *nrecords)
{
    *len = 0;
    *nrecords = 0;
    if (overload_tally_empty(t))
        return NULL;
    char start[32], end[32];
    clock_format_ts(start_ms, start, sizeof start);
    clock_format_ts(end_ms, end, sizeof end);
    char *out = NULL;
    size_t total = overload_tally_size(t), done = 0;
    for (size_t i = 0; i < total; i++) {
        const overload_count *c = overload_tally_at(t, i);
        bool overloaded = c->not_compared > 0;
        for (int v = 0; v < VERDICT_COUNT; v++)
            overloaded |= c->unlogged[v] > 0;
        for (int type = 0; type < 2; type++) {
            if (type == 0 ? !overloaded : !overload_count_not_mirrored(c))
                continue;
            json_t *rec = type == 0 ? count_record(c, start, end, end_ms - start_ms)
                                    : not_mirrored_record(c, start, end, end_ms - start_ms);
            size_t n = 0;
            char *line = rec ? record_to_line(rec, &n) : NULL;
            json_decref(rec);
            int rc = line ? append(&out, len, line, n) : -1;
            free(line);
            if (rc != 0) {
                free(out);
                *len = 0;
                return NULL;
            }
            done++;
        }
    }
    *nrecords = done;
    tally_clear(t);
    return out;
}
