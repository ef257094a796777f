/* live: see live.h.
 *
 *   comparer ──► live_count(route, verdict)   route table ──► minute buckets
 *            └─► live_add(record line)        ring of records (count, bytes)
 *   admin    ──► live_stats / live_recent / live_record   (copies, then JSON)
 *
 * The route table is open addressing over a fixed slot array (twice the
 * route cap), so a lookup never allocates; a route's stats are allocated
 * on first sight. Bucket i of a route holds minute m when m % LIVE_MINUTES
 * == i and minute[i] == m; a bucket of an older minute is cleared when its
 * slot comes round again, and ignored by readers meanwhile. */
#include "obs/live.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "diff/record.h"
#include "base/strbuf.h"
#include "base/clock.h"

#define SUMMARY_URI_MAX 512         /* bytes of the uri in a summary */
#define TRIM_VALUE_MAX 1024         /* a difference's value, when trimming */
#define TRIM_DIFFERENCES 20         /* differences kept, when trimming */
#define MINUTE_MS 60000

/* A minute's columns: the verdicts, then the confirmation outcomes of
 * rules "confirm" (a mismatch's second read, counted beside its verdict). */
static const char *const confirm_states[] = {"transient", "confirmed", "failed", "skipped"};
#define CONFIRM_COLS (sizeof confirm_states / sizeof confirm_states[0])
#define COLS (VERDICT_COUNT + CONFIRM_COLS)

typedef struct route_stats {
    char name[LIVE_MAX_NAME];
    int64_t minute[LIVE_MINUTES]; /* the minute bucket i counts; -1: none yet */
    uint32_t n[LIVE_MINUTES][COLS];
} route_stats;

typedef struct entry {
    uint64_t seq;
    char *summary; /* "{...}" without "seq" */
    size_t slen;
    char *text;    /* the record, one line of JSON */
    size_t tlen;
} entry;

typedef struct table { /* names (routes, or endpoints) to their stats */
    route_stats **rows; /* first-seen order, max of them at most */
    size_t n, max;
    route_stats *other; /* every name past the cap */
    uint32_t *slots;    /* index + 1 into rows; 0: empty */
    size_t nslots;      /* a power of two >= 2 * max */
} table;

struct live {
    pthread_mutex_t mu;
    live_limits lim;
    table routes;
    table endpoints; /* exchanges of the route `default`, by endpoint */
    entry *ring;          /* lim.max_records; the oldest at head */
    size_t head, count, bytes;
    uint64_t next_seq;    /* the next record's; the first is 1 */
    uint64_t evicted;
    live_ready *ready;    /* the live readiness verdict's tally (owned) */
};

bool live_keeps(verdict v)
{
    return v == VERDICT_MISMATCH || v == VERDICT_KNOWN || v == VERDICT_SHADOW_ERROR ||
           v == VERDICT_SHADOW_TIMEOUT || v == VERDICT_AUTHORITATIVE_ERROR;
}

static bool table_init(table *t, size_t max)
{
    t->max = max;
    t->nslots = 4;
    while (t->nslots < 2 * max)
        t->nslots *= 2;
    t->rows = calloc(max, sizeof *t->rows);
    t->slots = calloc(t->nslots, sizeof *t->slots);
    return t->rows && t->slots;
}

static void table_free(table *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->rows[i]);
    free(t->other);
    free(t->rows);
    free(t->slots);
    *t = (table){0};
}

live *live_new(const live_limits *lim)
{
    live_limits d = {LIVE_MAX_RECORDS, LIVE_MAX_BYTES, LIVE_MAX_RECORD_BYTES, LIVE_MAX_ROUTES};
    if (lim)
        d = *lim;
    if (d.max_records < 1 || d.max_record_bytes < 1024 || d.max_bytes < d.max_record_bytes ||
        d.max_routes < 1 || d.max_routes > 1u << 20)
        return NULL;
    live *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->lim = d;
    pthread_mutex_init(&l->mu, NULL);
    l->ring = calloc(d.max_records, sizeof *l->ring);
    if (!l->ring || !table_init(&l->routes, d.max_routes) ||
        !table_init(&l->endpoints, LIVE_MAX_ENDPOINTS) ||
        !(l->ready = live_ready_new_sharing(d.max_routes + LIVE_MAX_ENDPOINTS, clock_wall_ms(),
                                            &l->mu))) {
        table_free(&l->routes);
        table_free(&l->endpoints);
        free(l->ring);
        pthread_mutex_destroy(&l->mu);
        free(l);
        return NULL;
    }
    l->next_seq = 1;
    return l;
}

static void entry_clear(entry *e)
{
    free(e->summary);
    free(e->text);
    *e = (entry){0};
}

void live_free(live *l)
{
    if (!l)
        return;
    table_free(&l->routes);
    table_free(&l->endpoints);
    live_ready_free(l->ready);
    for (size_t i = 0; i < l->count; i++)
        entry_clear(&l->ring[(l->head + i) % l->lim.max_records]);
    free(l->ring);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

live_ready *live_readiness(live *l)
{
    return l ? l->ready : NULL;
}

/* ---- minute buckets -------------------------------------------------------- */

/* At most LIVE_MAX_NAME - 1 bytes of name, cut on a UTF-8 boundary. */
static size_t name_key(const char *name, char key[LIVE_MAX_NAME])
{
    size_t n = strlen(name);
    if (n >= LIVE_MAX_NAME) {
        n = LIVE_MAX_NAME - 1;
        while (n > 0 && ((unsigned char)name[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(key, name, n);
    key[n] = '\0';
    return n;
}

static route_stats *stats_new(const char *key)
{
    route_stats *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    snprintf(r->name, sizeof r->name, "%s", key);
    for (int i = 0; i < LIVE_MINUTES; i++)
        r->minute[i] = -1;
    return r;
}

/* The name's stats, created on first sight; past the cap, "other". Called
 * with mu held. NULL only on no memory. */
static route_stats *table_get(table *t, const char *name)
{
    char key[LIVE_MAX_NAME];
    size_t n = name_key(name, key);
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)key[i]) * 0x100000001b3u;
    size_t mask = t->nslots - 1, i = (size_t)h & mask;
    for (; t->slots[i]; i = (i + 1) & mask) {
        route_stats *r = t->rows[t->slots[i] - 1];
        if (strcmp(r->name, key) == 0)
            return r;
    }
    if (t->n >= t->max) {
        if (!t->other)
            t->other = stats_new(LIVE_OTHER_ROUTE);
        return t->other;
    }
    route_stats *r = stats_new(key);
    if (!r)
        return NULL;
    t->rows[t->n++] = r;
    t->slots[i] = (uint32_t)t->n;
    return r;
}

/* With l->mu held. */
static void table_count_held(table *t, const char *name, size_t col, uint64_t n, int64_t now_ms)
{
    int64_t m = now_ms > 0 ? now_ms / MINUTE_MS : 0;
    size_t b = (size_t)(m % LIVE_MINUTES);
    route_stats *r = table_get(t, name);
    if (r) {
        if (r->minute[b] != m) {
            r->minute[b] = m;
            memset(r->n[b], 0, sizeof r->n[b]);
        }
        r->n[b][col] += (uint32_t)n;
    }
}

static void table_count(live *l, table *t, const char *name, size_t col, uint64_t n,
                        int64_t now_ms)
{
    if (!l || col >= COLS || !n)
        return;
    pthread_mutex_lock(&l->mu);
    table_count_held(t, name, col, n, now_ms);
    pthread_mutex_unlock(&l->mu);
}

void live_count_exchange(live *l, const char *route, const char *endpoint, verdict v,
                         int64_t now_ms, double legacy_ms, double new_ms)
{
    if (!l || (unsigned)v >= VERDICT_COUNT)
        return;
    const char *name = route ? route : "default";
    pthread_mutex_lock(&l->mu); /* l->ready shares it */
    table_count_held(&l->routes, name, (size_t)v, 1, now_ms);
    if (endpoint)
        table_count_held(&l->endpoints, endpoint, (size_t)v, 1, now_ms);
    live_ready_count_held(l->ready, endpoint ? endpoint : name, v, legacy_ms, new_ms);
    pthread_mutex_unlock(&l->mu);
}

void live_count(live *l, const char *route, verdict v, int64_t now_ms)
{
    live_count_n(l, route, v, 1, now_ms);
}

void live_count_n(live *l, const char *route, verdict v, uint64_t n, int64_t now_ms)
{
    if (l && (unsigned)v < VERDICT_COUNT)
        table_count(l, &l->routes, route ? route : "default", (size_t)v, n, now_ms);
}

void live_count_confirm(live *l, const char *route, const char *state, int64_t now_ms)
{
    for (size_t i = 0; l && state && i < CONFIRM_COLS; i++)
        if (strcmp(state, confirm_states[i]) == 0)
            table_count(l, &l->routes, route ? route : "default", VERDICT_COUNT + i, 1, now_ms);
}

void live_count_endpoint(live *l, const char *endpoint, verdict v, int64_t now_ms)
{
    live_count_endpoint_n(l, endpoint, v, 1, now_ms);
}

void live_count_endpoint_n(live *l, const char *endpoint, verdict v, uint64_t n, int64_t now_ms)
{
    if (l && endpoint && (unsigned)v < VERDICT_COUNT && n)
        table_count(l, &l->endpoints, endpoint, (size_t)v, n, now_ms);
}

/* ---- the ring ------------------------------------------------------------------ */

static json_t *cut_string(const char *s, size_t n, size_t max)
{
    if (n <= max)
        return json_stringn(s, n);
    size_t k = max;
    while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
        k--;
    return json_stringn(s, k);
}

static json_t *copy_or_null(json_t *v)
{
    return v ? json_incref(v) : json_null();
}

json_t *live_summary(json_t *rec, size_t text_len, bool trimmed)
{
    json_t *uri = json_object_get(rec, "uri");
    json_t *diffs = json_object_get(rec, "differences");
    json_t *total = json_object_get(rec, "differences_total");
    json_int_t ndiff = json_is_integer(total) ? json_integer_value(total)
                                              : (json_int_t)json_array_size(diffs);
    json_t *s = json_object();
    if (!s)
        return NULL;
    static const char *const keys[] = {"id", "ts", "route", "endpoint", "method"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        json_object_set_new(s, keys[i], copy_or_null(json_object_get(rec, keys[i])));
    json_object_set_new(s, "uri", json_is_string(uri) ? cut_string(json_string_value(uri),
                                                                   json_string_length(uri),
                                                                   SUMMARY_URI_MAX)
                                                      : json_null());
    json_object_set_new(s, "authority", copy_or_null(json_object_get(rec, "authority")));
    json_object_set_new(s, "verdict", copy_or_null(json_object_get(rec, "verdict")));
    json_object_set_new(s, "reason", copy_or_null(json_object_get(rec, "reason")));
    json_t *cstate = json_object_get(json_object_get(rec, "confirmation"), "state");
    if (cstate) /* rules "confirm": transient, confirmed, failed, skipped */
        json_object_set_new(s, "confirmation", json_incref(cstate));
    json_object_set_new(s, "differences", json_integer(ndiff));
    json_object_set_new(
        s, "status",
        json_pack("{s:O?, s:O?}", "legacy",
                  json_object_get(json_object_get(rec, "legacy"), "status"), "new",
                  json_object_get(json_object_get(rec, "new"), "status")));
    json_object_set_new(s, "bytes", json_integer((json_int_t)text_len));
    json_object_set_new(s, "trimmed", json_boolean(trimmed));
    const char *type = json_string_value(json_object_get(rec, "type"));
    if (type) { /* a count (overload, not_mirrored): how many exchanges, no verdict */
        json_object_set_new(s, "type", json_string(type));
        json_object_set_new(s, "count", copy_or_null(json_object_get(
                                            rec, strcmp(type, "overload") == 0 ? "unlogged" : "count")));
    }
    return s;
}

/* The list entry for a record as text. */
static char *summary_of(json_t *rec, size_t text_len, bool trimmed, size_t *len)
{
    json_t *s = live_summary(rec, text_len, trimmed);
    if (!s)
        return NULL;
    char *out = json_dumps(s, JSON_COMPACT);
    json_decref(s);
    if (out)
        *len = strlen(out);
    return out;
}

/* Called with mu held. */
static void evict_oldest(live *l)
{
    entry *e = &l->ring[l->head];
    l->bytes -= e->slen + e->tlen;
    entry_clear(e);
    l->head = (l->head + 1) % l->lim.max_records;
    l->count--;
    l->evicted++;
}

void live_add(live *l, json_t *rec, char *line, size_t len)
{
    if (!l || !line || !rec) {
        free(line);
        return;
    }
    if (len > 0 && line[len - 1] == '\n')
        line[--len] = '\0';
    bool trimmed = false;
    if (len > l->lim.max_record_bytes) {
        free(line);
        line = live_trim(rec, l->lim.max_record_bytes, &len);
        if (!line)
            return;
        trimmed = true;
    }
    size_t slen = 0;
    char *summary = summary_of(rec, len, trimmed, &slen);
    if (!summary || len + slen > l->lim.max_bytes) {
        free(summary);
        free(line);
        return;
    }
    pthread_mutex_lock(&l->mu);
    while (l->count > 0 &&
           (l->count >= l->lim.max_records || l->bytes + len + slen > l->lim.max_bytes))
        evict_oldest(l);
    entry *e = &l->ring[(l->head + l->count) % l->lim.max_records];
    *e = (entry){.seq = l->next_seq++, .summary = summary, .slen = slen, .text = line,
                 .tlen = len};
    l->count++;
    l->bytes += len + slen;
    pthread_mutex_unlock(&l->mu);
}

static void add_str(strbuf *b, const char *s)
{
    strbuf_add(b, s, strlen(s));
}

/* `fmt` with one or two unsigned numbers. */
static void add_num(strbuf *b, const char *fmt, size_t x, size_t y)
{
    char tmp[160];
    snprintf(tmp, sizeof tmp, fmt, x, y);
    add_str(b, tmp);
}

char *live_recent(live *l, size_t *len)
{
    strbuf b = {0};
    add_str(&b, "{\"records\":[");
    if (l) {
        pthread_mutex_lock(&l->mu);
        for (size_t i = l->count; i-- > 0;) {
            const entry *e = &l->ring[(l->head + i) % l->lim.max_records];
            char seq[48];
            snprintf(seq, sizeof seq, "%s{\"seq\":%llu,", i + 1 < l->count ? "," : "",
                     (unsigned long long)e->seq);
            add_str(&b, seq);
            strbuf_add(&b, e->summary + 1, e->slen - 1);
        }
        add_num(&b, "],\"held\":{\"records\":%zu,\"bytes\":%zu}", l->count, l->bytes);
        char more[96];
        snprintf(more, sizeof more, ",\"evicted\":%llu,\"latest_seq\":%llu",
                 (unsigned long long)l->evicted, (unsigned long long)(l->next_seq - 1));
        add_str(&b, more);
        add_num(&b, ",\"limits\":{\"max_records\":%zu,\"max_bytes\":%zu", l->lim.max_records,
                l->lim.max_bytes);
        add_num(&b, ",\"max_record_bytes\":%zu,\"max_routes\":%zu}}", l->lim.max_record_bytes,
                l->lim.max_routes);
        pthread_mutex_unlock(&l->mu);
    } else {
        add_str(&b, "]}");
    }
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}

char *live_record(live *l, uint64_t seq, size_t *len)
{
    if (!l)
        return NULL;
    char *out = NULL;
    pthread_mutex_lock(&l->mu);
    uint64_t oldest = l->next_seq - l->count;
    if (l->count > 0 && seq >= oldest && seq < l->next_seq) {
        const entry *e = &l->ring[(l->head + (size_t)(seq - oldest)) % l->lim.max_records];
        out = malloc(e->tlen + 1);
        if (out) {
            memcpy(out, e->text, e->tlen);
            out[e->tlen] = '\0';
            *len = e->tlen;
        }
    }
    pthread_mutex_unlock(&l->mu);
    return out;
}

/* ---- /api/live ------------------------------------------------------------------- */

/* One route's counts, oldest minute first; the last is the current minute. */
typedef uint32_t window[LIVE_MINUTES][COLS];

static void window_of(const route_stats *r, int64_t cur, window out)
{
    for (int k = 0; k < LIVE_MINUTES; k++) {
        int64_t m = cur - (LIVE_MINUTES - 1) + k;
        size_t b = m >= 0 ? (size_t)(m % LIVE_MINUTES) : 0;
        if (m >= 0 && r->minute[b] == m)
            memcpy(out[k], r->n[b], sizeof out[k]);
        else
            memset(out[k], 0, sizeof out[k]);
    }
}

static json_t *span_json(const window w, int span)
{
    uint64_t n[COLS] = {0}, total = 0;
    for (int k = LIVE_MINUTES - span; k < LIVE_MINUTES; k++)
        for (size_t v = 0; v < COLS; v++)
            n[v] += w[k][v];
    json_t *o = json_object();
    for (int v = 0; v < VERDICT_COUNT; v++) {
        json_object_set_new(o, verdict_name((verdict)v), json_integer((json_int_t)n[v]));
        total += n[v];
    }
    uint64_t agree = n[VERDICT_MATCH] + n[VERDICT_KNOWN], compared = agree + n[VERDICT_MISMATCH];
    json_object_set_new(o, "total", json_integer((json_int_t)total));
    json_object_set_new(o, "compared", json_integer((json_int_t)compared));
    /* match_rate as `shadowproxy report` defines it (match / compared), so
     * the dashboard and the report show the same number; agree_rate
     * counts the accepted (known) differences in. */
    json_object_set_new(o, "match_rate",
                        compared ? json_real((double)n[VERDICT_MATCH] / (double)compared) : json_null());
    json_object_set_new(o, "agree_rate",
                        compared ? json_real((double)agree / (double)compared) : json_null());
    json_t *c = json_object();
    for (size_t i = 0; i < CONFIRM_COLS; i++)
        json_object_set_new(c, confirm_states[i], json_integer((json_int_t)n[VERDICT_COUNT + i]));
    json_object_set_new(o, "confirmation", c);
    return o;
}

static json_t *window_json(const window w)
{
    json_t *per = json_object(), *last = json_object();
    for (int v = 0; v < VERDICT_COUNT; v++) {
        bool any = false;
        for (int k = 0; k < LIVE_MINUTES && !any; k++)
            any = w[k][v] != 0;
        if (!any)
            continue;
        json_t *a = json_array();
        for (int k = 0; k < LIVE_MINUTES; k++)
            json_array_append_new(a, json_integer(w[k][v]));
        json_object_set_new(per, verdict_name((verdict)v), a);
    }
    static const int spans[] = {1, 5, 15};
    static const char *const names[] = {"1m", "5m", "15m"};
    for (size_t i = 0; i < sizeof spans / sizeof spans[0]; i++)
        json_object_set_new(last, names[i], span_json(w, spans[i]));
    return json_pack("{s:o, s:o}", "per_minute", per, "last", last);
}

/* Copies a table's windows and names (mu held); returns how many. */
static size_t table_windows(const table *t, int64_t cur, window *w, char (*names)[LIVE_MAX_NAME])
{
    size_t n = 0;
    for (size_t i = 0; i <= t->n; i++) {
        const route_stats *r = i < t->n ? t->rows[i] : t->other;
        if (!r)
            continue;
        window_of(r, cur, w[n]);
        memcpy(names[n++], r->name, LIVE_MAX_NAME);
    }
    return n;
}

static json_t *windows_json(const window *w, char (*names)[LIVE_MAX_NAME], size_t n, window *sum)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < n; i++) {
        json_object_set_new(o, names[i], window_json(w[i]));
        for (int k = 0; sum && k < LIVE_MINUTES; k++)
            for (size_t v = 0; v < COLS; v++)
                (*sum)[k][v] += w[i][k][v];
    }
    return o;
}

json_t *live_stats(live *l, int64_t now_ms)
{
    int64_t cur = now_ms > 0 ? now_ms / MINUTE_MS : 0;
    size_t cap = (l ? l->lim.max_routes + 1 : 1) + LIVE_MAX_ENDPOINTS + 1;
    window *w = calloc(cap, sizeof *w);
    char(*names)[LIVE_MAX_NAME] = calloc(cap, sizeof *names);
    window *sum = calloc(1, sizeof *sum);
    if (!w || !names || !sum) {
        free(w);
        free(names);
        free(sum);
        return NULL;
    }
    size_t n = 0, ne = 0, count = 0, bytes = 0;
    uint64_t latest = 0, evicted = 0;
    bool capped = false, ecapped = false;
    live_limits lim = {0};
    if (l) {
        pthread_mutex_lock(&l->mu);
        n = table_windows(&l->routes, cur, w, names);
        ne = table_windows(&l->endpoints, cur, w + n, names + n);
        capped = l->routes.other != NULL;
        ecapped = l->endpoints.other != NULL;
        count = l->count;
        bytes = l->bytes;
        latest = l->next_seq - 1;
        evicted = l->evicted;
        lim = l->lim;
        pthread_mutex_unlock(&l->mu);
    }
    json_t *routes = windows_json(w, names, n, sum);
    json_t *endpoints = windows_json(w + n, names + n, ne, NULL); /* already in "default" */
    char now[40], start[40];
    clock_format_ts(now_ms, now, sizeof now);
    clock_format_ts((cur - (LIVE_MINUTES - 1)) * MINUTE_MS, start, sizeof start);
    json_t *j = json_pack(
        "{s:s, s:I, s:i, s:s, s:o, s:o, s:b, s:o, s:b, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I}}",
        "now", now, "now_ms", (json_int_t)now_ms, "minutes", LIVE_MINUTES, "window_start", start,
        "routes", routes, "totals", window_json(*sum), "routes_capped", capped, "endpoints",
        endpoints, "endpoints_capped", ecapped, "recent", "records", (json_int_t)count, "bytes",
        (json_int_t)bytes, "latest_seq", (json_int_t)latest, "evicted", (json_int_t)evicted,
        "max_records", (json_int_t)lim.max_records, "max_bytes", (json_int_t)lim.max_bytes,
        "max_record_bytes", (json_int_t)lim.max_record_bytes);
    free(w);
    free(names);
    free(sum);
    return j;
}

/* ---- trimming a big record ------------------------------------------------------- */

/* parent[key] replaced by a shallow copy of itself, which is returned (an
 * object we may change without touching the caller's record); NULL when
 * it is not an object. */
static json_t *own_object(json_t *parent, const char *key)
{
    json_t *v = json_object_get(parent, key);
    if (!json_is_object(v))
        return NULL;
    json_t *c = json_copy(v);
    if (c)
        json_object_set_new(parent, key, c);
    return c;
}

/* A value as text no longer than max bytes (strings as they are, anything
 * else as compact JSON). */
static json_t *value_cut(json_t *v, size_t max)
{
    if (json_is_string(v))
        return cut_string(json_string_value(v), json_string_length(v), max);
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    json_t *r = s ? cut_string(s, strlen(s), max) : json_null();
    free(s);
    return r;
}

static size_t value_len(json_t *v)
{
    if (json_is_string(v))
        return json_string_length(v);
    if (!json_is_object(v) && !json_is_array(v))
        return 32;
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    size_t n = s ? strlen(s) : 0;
    free(s);
    return n;
}

static const char *const legs[] = {"request", "legacy", "new"};

/* Stage k of trimming; false when there is no stage k. */
static bool trim_stage(json_t *c, int k, size_t cap, json_t *notes)
{
    switch (k) {
    case 0: { /* the request body: the least useful to look at */
        json_t *r = own_object(c, "request");
        if (r && !json_is_null(json_object_get(r, "body"))) {
            json_object_set_new(r, "body", json_null());
            json_array_append_new(notes, json_string("request.body"));
        }
        return true;
    }
    case 1: /* big response bodies cut to a quarter each, as text */
        for (int i = 1; i < 3; i++) {
            json_t *leg = own_object(c, legs[i]);
            json_t *b = leg ? json_object_get(leg, "body") : NULL;
            if (!b || json_is_null(b) || value_len(b) <= cap / 4)
                continue;
            json_object_set_new(leg, "body", value_cut(b, cap / 4));
            json_object_set_new(leg, "body_format", json_string("text"));
            json_object_set_new(leg, "body_truncated", json_true());
            char note[32];
            snprintf(note, sizeof note, "%s.body", legs[i]);
            json_array_append_new(notes, json_string(note));
        }
        return true;
    case 2:   /* big values in differences */
    case 3: { /* then only the first differences */
        json_t *d = json_object_get(c, "differences");
        if (!json_is_array(d) || json_array_size(d) == 0)
            return true;
        size_t n = json_array_size(d), keep = k == 3 && n > TRIM_DIFFERENCES ? TRIM_DIFFERENCES : n;
        json_t *nd = json_array();
        for (size_t i = 0; i < keep; i++) {
            json_t *e = json_array_get(d, i);
            if (k == 2 && json_is_object(e)) {
                e = json_copy(e);
                for (int s = 1; s < 3; s++) {
                    json_t *v = json_object_get(e, legs[s]);
                    if (v && value_len(v) > TRIM_VALUE_MAX)
                        json_object_set_new(e, legs[s], value_cut(v, TRIM_VALUE_MAX));
                }
                json_array_append_new(nd, e);
            } else {
                json_array_append(nd, e);
            }
        }
        if (keep < n && !json_object_get(c, "differences_total"))
            json_object_set_new(c, "differences_total", json_integer((json_int_t)n));
        json_object_set_new(c, "differences", nd);
        json_array_append_new(notes, json_string(k == 2 ? "differences.values" : "differences"));
        return true;
    }
    case 4: /* headers (a flood of them) */
    case 5: /* bodies altogether */
        for (int i = 0; i < 3; i++) {
            json_t *leg = own_object(c, legs[i]);
            const char *key = k == 4 ? "headers" : "body";
            if (leg && json_is_array(json_object_get(leg, key)))
                json_object_set_new(leg, key, json_array());
            else if (leg && k == 5)
                json_object_set_new(leg, key, json_null());
        }
        json_array_append_new(notes, json_string(k == 4 ? "headers" : "bodies"));
        return true;
    case 6: { /* what the list shows, and nothing else */
        json_t *keep = json_object();
        static const char *const small[] = {"v", "id", "ts", "route", "method", "uri",
                                            "authority", "verdict", "reason"};
        for (size_t i = 0; i < sizeof small / sizeof small[0]; i++) {
            json_t *v = json_object_get(c, small[i]);
            if (v)
                json_object_set_new(keep, small[i], value_cut(v, 256));
        }
        json_object_set_new(keep, "differences", json_array());
        json_object_set(keep, "live_trimmed", notes);
        json_array_append_new(notes, json_string("record"));
        json_object_clear(c);
        json_object_update(c, keep);
        json_decref(keep);
        return true;
    }
    default:
        return false;
    }
}

char *live_trim(json_t *rec, size_t cap, size_t *len)
{
    json_t *c = json_copy(rec), *notes = json_array();
    if (!c || !notes || json_object_set(c, "live_trimmed", notes) != 0) {
        json_decref(c);
        json_decref(notes);
        return NULL;
    }
    char *out = NULL;
    for (int k = 0;; k++) {
        size_t n = 0;
        out = record_to_line(c, &n);
        if (out && n > 0 && out[n - 1] == '\n')
            out[--n] = '\0';
        if (out && n <= cap) {
            *len = n;
            break;
        }
        free(out);
        out = NULL;
        if (!trim_stage(c, k, cap, notes))
            break;
    }
    json_decref(notes);
    json_decref(c);
    return out;
}
