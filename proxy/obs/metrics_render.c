/* metrics_render: the Prometheus text exposition (format 0.0.4) of the
 * process counters, the global verdicts, every shard of the labelled
 * registry summed, and the operator state the caller passes in. Names,
 * types and meanings are listed in docs/metrics.md; keep the two in step.
 *
 * A scrape: lock the registry (blocks only shard creation), snapshot every
 * published route entry of every shard, group the entries by route name
 * (sorted, so the output order is stable), unlock, then print. */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obs/metrics.h"
#include "obs/metrics_int.h"
#include "obs/procstat.h"

/* ---- Output buffer -------------------------------------------------------- */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
} sbuf;

static bool sb_reserve(sbuf *b, size_t n)
{
    if (b->oom)
        return false;
    if (b->len + n + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 16384;
    while (cap < b->len + n + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (!sb_reserve(b, n))
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_puts(sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        sb_put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    size_t want = s[0] < 0x80 ? 1 : (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3
                                  : (s[0] & 0xF8) == 0xF0 ? 4 : 0;
    if (!want || want > n || (want == 2 && s[0] < 0xC2) || (want == 4 && s[0] > 0xF4))
        return 0;
    for (size_t i = 1; i < want; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    if ((want == 3 && s[0] == 0xE0 && s[1] < 0xA0) || (want == 3 && s[0] == 0xED && s[1] >= 0xA0) ||
        (want == 4 && s[0] == 0xF0 && s[1] < 0x90) || (want == 4 && s[0] == 0xF4 && s[1] >= 0x90))
        return 0; /* overlong, surrogate, beyond U+10FFFF */
    return want;
}

/* Is s[0..k) (one UTF-8 sequence) a control character: C0, DEL or C1
 * (U+0080..U+009F)? Valid in a label value by the exposition format, but
 * an upstream's JSON key with ESC in it would drive the terminal of
 * whoever runs `curl /metrics`, and a CR splits the line in some readers. */
static bool is_control(const unsigned char *s, size_t k)
{
    return (k == 1 && (s[0] < 0x20 || s[0] == 0x7F)) ||
           (k == 2 && s[0] == 0xC2 && s[1] < 0xA0);
}

/* A label value: \ " and newline escaped as the format requires; a byte
 * that is not UTF-8 (label values must be) and every other control
 * character as the text \xHH (each byte), so a value shows what it was
 * and can never act on a terminal or a line-based reader. */
static void sb_label_value(sbuf *b, const char *v, size_t n)
{
    const unsigned char *s = (const unsigned char *)v;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq(s + i, n - i);
        if (s[i] == '\n') {
            sb_put(b, "\\n", 2), i++;
        } else if (k == 0 || is_control(s + i, k)) {
            for (size_t j = 0; j < (k ? k : 1); j++)
                sb_printf(b, "\\\\x%02X", s[i + j]);
            i += k ? k : 1;
        } else if (s[i] == '\\') {
            sb_put(b, "\\\\", 2), i++;
        } else if (s[i] == '"') {
            sb_put(b, "\\\"", 2), i++;
        } else {
            sb_put(b, v + i, k), i += k;
        }
    }
}

/* ---- Samples -------------------------------------------------------------- */

typedef struct label {
    const char *k, *v;
    size_t n; /* bytes of v */
} label;

#define L(key, val) ((label){(key), (val), strlen(val)})

static void family(sbuf *b, const char *name, const char *type, const char *help)
{
    sb_printf(b, "# HELP %s ", name);
    sb_puts(b, help); /* our own text: no \ or newline to escape */
    sb_printf(b, "\n# TYPE %s %s\n", name, type);
}

static void series(sbuf *b, const char *name, const label *ls, size_t nl)
{
    sb_puts(b, name);
    for (size_t i = 0; i < nl; i++) {
        sb_puts(b, i ? ",": "{");
        sb_puts(b, ls[i].k);
        sb_put(b, "=\"", 2);
        sb_label_value(b, ls[i].v, ls[i].n);
        sb_put(b, "\"", 1);
    }
    sb_puts(b, nl ? "} " : " ");
}

static void sample_u(sbuf *b, const char *name, const label *ls, size_t nl, uint64_t v)
{
    series(b, name, ls, nl);
    sb_printf(b, "%" PRIu64 "\n", v);
}

static void sample_i(sbuf *b, const char *name, const label *ls, size_t nl, int64_t v)
{
    series(b, name, ls, nl);
    sb_printf(b, "%" PRId64 "\n", v);
}

static void sample_f(sbuf *b, const char *name, const label *ls, size_t nl, double v)
{
    series(b, name, ls, nl);
    if (isnan(v))
        sb_puts(b, "NaN\n");
    else if (isinf(v))
        sb_puts(b, v > 0 ? "+Inf\n" : "-Inf\n");
    else
        sb_printf(b, "%.15g\n", v); /* a Unix time keeps its milliseconds */
}

/* One histogram's series: cumulative buckets, _sum in seconds, _count. */
static void histogram(sbuf *b, const char *name, label *ls, size_t nl, const uint64_t *bucket,
                      uint64_t sum_ns)
{
    char n[96];
    uint64_t cum = 0;
    snprintf(n, sizeof n, "%s_bucket", name);
    for (size_t i = 0; i < MX_BUCKETS; i++) {
        cum += bucket[i];
        ls[nl] = L("le", mx_bound_labels[i]);
        sample_u(b, n, ls, nl + 1, cum);
    }
    snprintf(n, sizeof n, "%s_sum", name);
    series(b, n, ls, nl);
    sb_printf(b, "%" PRIu64 ".%09" PRIu64 "\n", sum_ns / 1000000000u, sum_ns % 1000000000u);
    snprintf(n, sizeof n, "%s_count", name);
    sample_u(b, n, ls, nl, cum);
}

/* ---- Snapshot of the registry ---------------------------------------------- */

typedef struct agg_path {
    char *path;
    size_t len;
    int where;
    uint64_t hits;
} agg_path;

typedef struct agg_route {
    const char *name; /* the shard's interned copy: lives until metrics_shutdown */
    size_t len;
    uint64_t requests[MX_METHODS][2][MX_CLASSES];
    uint64_t up[2][2][MX_BUCKETS], up_sum[2][2];
    uint64_t dur[MX_BUCKETS], dur_sum;
    uint64_t verdicts[VERDICT_COUNT];
    uint64_t confirms[METRICS_CONFIRM_OUTCOMES];
    bool has_paths;
    uint64_t other[MX_WHERE];
    agg_path *paths;
    size_t npaths, cap;
} agg_route;

typedef struct snapshot {
    agg_route *v;
    size_t n;
} snapshot;

static int cmp_bytes(const char *a, size_t an, const char *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    return c ? c : (an > bn) - (an < bn);
}

static int cmp_ref(const void *x, const void *y)
{
    const metrics_route *a = *(metrics_route *const *)x, *b = *(metrics_route *const *)y;
    return cmp_bytes(a->name, a->len, b->name, b->len);
}

static int cmp_path(const void *x, const void *y)
{
    const agg_path *a = x, *b = y;
    return a->where != b->where ? a->where - b->where : cmp_bytes(a->path, a->len, b->path, b->len);
}

static void add_hist(uint64_t *to, uint64_t *sum, mx_hist *h)
{
    for (size_t i = 0; i < MX_BUCKETS; i++)
        to[i] += mx_load(&h->bucket[i]);
    *sum += mx_load(&h->sum_ns);
}

/* Copies a route's exported paths (under its lock). false on no memory. */
static bool add_paths(agg_route *a, mx_paths *p)
{
    bool ok = true;
    a->has_paths = true;
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < MX_WHERE; i++)
        a->other[i] += mx_load(&p->other[i]);
    if (a->npaths + p->ntop > a->cap) {
        size_t cap = a->npaths + p->ntop + METRICS_TOP_PATHS;
        agg_path *v = realloc(a->paths, cap * sizeof *v);
        ok = v != NULL;
        if (v) {
            a->paths = v;
            a->cap = cap;
        }
    }
    for (size_t i = 0; ok && i < p->ntop; i++) {
        const mx_top *t = &p->top[i];
        char *copy = malloc(t->len + 1);
        if (!(ok = copy != NULL))
            break;
        memcpy(copy, t->path, t->len);
        copy[t->len] = '\0';
        a->paths[a->npaths++] =
            (agg_path){copy, t->len, t->where, mx_load((mx_counter *)&t->hits)};
    }
    pthread_mutex_unlock(&p->mu);
    return ok;
}

/* Sorts and merges a route's paths (two shards may export the same one); a
 * real path spelled "other" joins the overflow count. */
static void merge_paths(agg_route *a)
{
    if (a->npaths)
        qsort(a->paths, a->npaths, sizeof *a->paths, cmp_path);
    size_t out = 0;
    for (size_t i = 0; i < a->npaths; i++) {
        agg_path *p = &a->paths[i];
        if (p->len == 5 && memcmp(p->path, "other", 5) == 0) {
            a->other[p->where] += p->hits;
            free(p->path);
        } else if (out && cmp_path(&a->paths[out - 1], p) == 0) {
            a->paths[out - 1].hits += p->hits;
            free(p->path);
        } else {
            a->paths[out++] = *p;
        }
    }
    a->npaths = out;
}

static void snapshot_free(snapshot *s)
{
    for (size_t i = 0; i < s->n; i++) {
        for (size_t j = 0; j < s->v[i].npaths; j++)
            free(s->v[i].paths[j].path);
        free(s->v[i].paths);
    }
    free(s->v);
}

/* The route entries of every route shard, or (endpoints) the endpoint
 * entries of every endpoint shard, merged by name. */
static bool snapshot_take(snapshot *snap, bool endpoints)
{
    bool ok = true;
    metrics_route **refs = NULL;
    size_t nrefs = 0;
    *snap = (snapshot){0};
    metrics_shard *head = mx_registry_lock();
    for (metrics_shard *s = head; s; s = s->next)
        if (s->endpoints == endpoints)
            nrefs += atomic_load_explicit(&s->nroutes, memory_order_acquire);
    if (nrefs && !(refs = malloc(nrefs * sizeof *refs)))
        ok = false;
    size_t n = 0;
    for (metrics_shard *s = head; ok && s; s = s->next) {
        if (s->endpoints != endpoints)
            continue;
        /* Load again: never more than the space counted above. */
        size_t k = atomic_load_explicit(&s->nroutes, memory_order_acquire);
        for (size_t i = 0; i < k && n < nrefs; i++)
            refs[n++] = mx_entry(s, i);
    }
    if (ok && n)
        qsort(refs, n, sizeof *refs, cmp_ref);
    if (ok && n && !(snap->v = calloc(n, sizeof *snap->v)))
        ok = false;
    for (size_t i = 0; ok && i < n; i++) {
        metrics_route *r = refs[i];
        if (!snap->n || cmp_bytes(snap->v[snap->n - 1].name, snap->v[snap->n - 1].len, r->name,
                                  r->len) != 0)
            snap->v[snap->n++] = (agg_route){.name = r->name, .len = r->len};
        agg_route *a = &snap->v[snap->n - 1];
        for (size_t m = 0; m < MX_METHODS; m++)
            for (size_t s = 0; s < 2; s++)
                for (size_t c = 0; c < MX_CLASSES; c++)
                    a->requests[m][s][c] += mx_load(&r->requests[m][s][c]);
        for (size_t s = 0; s < 2; s++)
            for (size_t sh = 0; sh < 2; sh++)
                add_hist(a->up[s][sh], &a->up_sum[s][sh], &r->upstream[s][sh]);
        add_hist(a->dur, &a->dur_sum, &r->duration);
        for (size_t v = 0; v < VERDICT_COUNT; v++)
            a->verdicts[v] += mx_load(&r->verdicts[v]);
        for (size_t c = 0; c < METRICS_CONFIRM_OUTCOMES; c++)
            a->confirms[c] += mx_load(&r->confirms[c]);
        mx_paths *p = atomic_load_explicit(&r->paths, memory_order_acquire);
        if (p)
            ok = add_paths(a, p);
    }
    mx_registry_unlock();
    free(refs);
    for (size_t i = 0; ok && i < snap->n; i++)
        merge_paths(&snap->v[i]);
    if (!ok)
        snapshot_free(snap);
    return ok;
}

/* ---- Families ------------------------------------------------------------- */

/* METRIC_LIST as Prometheus families. A metric missing here still renders
 * (untyped, named after its id) and test_metrics fails. */
static const struct metric_row {
    const char *name, *type, *help;
    bool skip; /* rendered elsewhere */
} metric_rows[METRIC_COUNT] = {
    [METRIC_requests] = {"shadowproxy_requests_total", "counter",
                         "Requests received (complete requests), any route.", false},
    [METRIC_client_aborted] = {"shadowproxy_client_aborted_total", "counter",
                               "Requests whose client went away before the answer.", false},
    [METRIC_rejected] = {"shadowproxy_requests_rejected_total", "counter",
                         "Requests refused by the proxy itself (400, 413, 431, 501, 503).", false},
    [METRIC_body_budget_rejected] = {"shadowproxy_body_budget_rejected_total", "counter",
                                     "Requests answered 503: their body would pass "
                                     "limits.max_buffered_bodies.", false},
    [METRIC_slow_clients_closed] = {"shadowproxy_slow_clients_closed_total", "counter",
                                    "Client connections closed for a request head past "
                                    "limits.head_timeout_s or a body under limits.min_body_rate.",
                                    false},
    [METRIC_address_limit_refused] = {"shadowproxy_connections_refused_per_address_total",
                                      "counter",
                                      "New connections closed at once: their address had "
                                      "limits.max_connections_per_address open.", false},
    [METRIC_proxy_errors] = {"shadowproxy_proxy_errors_total", "counter",
                             "502/504 answers sent for an authoritative upstream failure.", false},
    [METRIC_shadow_in_flight] = {"shadowproxy_shadow_in_flight", "gauge",
                                 "Shadow requests in flight now.", false},
    [METRIC_upstream_handles_trimmed] = {"shadowproxy_upstream_handles_trimmed_total", "counter",
                                         "Idle curl handles freed (and idle lean-client "
                                         "connections closed): more were kept than any "
                                         "moment of the last 10 s needed (after a burst).",
                                         false},
    [METRIC_shadow_recv_buffer_bytes] = {"shadowproxy_shadow_recv_buffer_bytes", "gauge",
                                         "Bytes of curl receive buffer held by the shadow and "
                                         "secondary requests in flight now (shadow.recv_buffer).",
                                         false},
    [METRIC_h1_connections_open] = {"shadowproxy_shadow_h1_connections", "gauge",
                                    "Connections the lean shadow client (shadow.client) has "
                                    "open now, busy and idle.", false},
    [METRIC_h1_connections_idle] = {"shadowproxy_shadow_h1_idle_connections", "gauge",
                                    "Idle keep-alive connections the lean shadow client keeps "
                                    "now.", false},
    [METRIC_h1_reused] = {"shadowproxy_shadow_h1_reused_total", "counter",
                          "Shadow requests the lean client sent on a kept connection.", false},
    [METRIC_h1_retries] = {"shadowproxy_shadow_h1_retries_total", "counter",
                           "Shadow requests the lean client sent again on a fresh connection: "
                           "a kept one was closed by the upstream before any answer byte.",
                           false},
    [METRIC_h1_stray_closed] = {"shadowproxy_shadow_h1_stray_closed_total", "counter",
                                "Kept connections the lean shadow client closed because the "
                                "upstream sent bytes beyond a whole answer.", false},
    [METRIC_shadow_sent] = {"shadowproxy_shadow_sent_total", "counter",
                            "Shadow requests sent.", false},
    [METRIC_shadow_dropped] = {"shadowproxy_shadow_dropped_total", "counter",
                               "Shadow requests not sent (in-flight cap reached, breaker open "
                               "or worker saturated) or answers over the memory budget.", false},
    [METRIC_shadow_yielded] = {"shadowproxy_shadow_yielded_total", "counter",
                               "Shadow requests not sent because the worker was saturated "
                               "(shadow.busy_min_percent).", false},
    [METRIC_shadow_over_budget] = {"shadowproxy_shadow_over_budget_total", "counter",
                                   "Shadow and secondary answers not read whole: the answers "
                                   "held at once were at shadow.max_buffered_bytes.", false},
    [METRIC_breaker_opened] = {"shadowproxy_breaker_opened_total", "counter",
                               "Times a shadow circuit breaker opened.", false},
    [METRIC_secondary_in_flight] = {"shadowproxy_secondary_in_flight", "gauge",
                                    "Secondary (noise detection) requests in flight now.", false},
    [METRIC_secondary_sent] = {"shadowproxy_secondary_sent_total", "counter",
                               "Secondary (noise detection) requests sent.", false},
    [METRIC_secondary_dropped] = {"shadowproxy_secondary_dropped_total", "counter",
                                  "Secondary requests not sent: in-flight cap reached or "
                                  "breaker open.", false},
    [METRIC_secondary_breaker_opened] = {"shadowproxy_secondary_breaker_opened_total", "counter",
                                         "Times a secondary circuit breaker opened.", false},
    [METRIC_noise_differences] = {"shadowproxy_noise_differences_total", "counter",
                                  "Differences marked noise: the two legacy answers differed "
                                  "there too.", false},
    [METRIC_confirm_started] = {"shadowproxy_confirm_started_total", "counter",
                                "Mismatches on a confirming route taken for a re-read.", false},
    [METRIC_confirm_in_flight] = {"shadowproxy_confirm_in_flight", "gauge",
                                  "Confirmations waiting for after_ms or re-reading now.", false},
    [METRIC_confirm_rereads] = {"shadowproxy_confirm_rereads_total", "counter",
                                "Confirmation re-reads sent (one per side each).", false},
    [METRIC_confirm_transient] = {"shadowproxy_confirm_transient_total", "counter",
                                  "Confirmations equal on the re-read (a timing mismatch).", false},
    [METRIC_confirm_confirmed] = {"shadowproxy_confirm_confirmed_total", "counter",
                                  "Confirmations still different on the re-read.", false},
    [METRIC_confirm_failed] = {"shadowproxy_confirm_failed_total", "counter",
                               "Confirmations whose re-read failed on a side.", false},
    [METRIC_confirm_skipped] = {"shadowproxy_confirm_skipped_total", "counter",
                                "Mismatches not confirmed: over the route's rate or in-flight "
                                "budget, or shutting down.", false},
    [METRIC_ids_ledger_size] = {"shadowproxy_ids_ledger_size", "gauge",
                                "Pairs of correlated ids the ledger holds now.", false},
    [METRIC_ids_learned] = {"shadowproxy_ids_learned_total", "counter",
                            "Pairs of correlated ids learned from answers.", false},
    [METRIC_ids_hits] = {"shadowproxy_ids_hits_total", "counter",
                         "Ids of shadow requests the ledger knew (rewritten).", false},
    [METRIC_ids_misses] = {"shadowproxy_ids_misses_total", "counter",
                           "Ids of shadow requests the ledger did not know (verdict id_unknown).",
                           false},
    [METRIC_ids_evicted] = {"shadowproxy_ids_evicted_total", "counter",
                            "Pairs dropped for the count bound or the age bound.", false},
    [METRIC_ids_fleet_published] = {"shadowproxy_ids_fleet_published_total", "counter",
                                    "Pairs of correlated ids written to the fleet's store.",
                                    false},
    [METRIC_ids_fleet_received] = {"shadowproxy_ids_fleet_received_total", "counter",
                                   "Pairs other replicas learned, added to this ledger.", false},
    [METRIC_ids_fleet_dropped] = {"shadowproxy_ids_fleet_dropped_total", "counter",
                                  "Pairs not shared with the fleet: the publish queue was full.",
                                  false},
    [METRIC_ids_fleet_failures] = {"shadowproxy_ids_fleet_failures_total", "counter",
                                   "Writes or reads of the fleet's id pairs that failed "
                                   "(retried).", false},
    [METRIC_compare_queue_depth] = {"shadowproxy_difflog_queue_depth", "gauge",
                                    "Exchanges waiting for comparison and the diff log.", false},
    [METRIC_compare_offered] = {"shadowproxy_compare_offered_total", "counter",
                                "Exchanges with two answers to compare.", false},
    [METRIC_compare_sampled_out] = {"shadowproxy_compare_sampled_out_total", "counter",
                                    "Exchanges not compared: the comparers were behind "
                                    "(overload sampling by request id; verdict skipped).",
                                    false},
    [METRIC_records_unlogged] = {"shadowproxy_difflog_records_unlogged_total", "counter",
                                 "Exchanges without a record of their own, counted in overload "
                                 "records instead.", false},
    [METRIC_records_written] = {"shadowproxy_difflog_records_written_total", "counter",
                                "Diff-log records written.", false},
    [METRIC_records_lost] = {"shadowproxy_difflog_records_lost_total", "counter",
                             "Diff-log records lost (queue full or write error).", false},
    [METRIC_difflog_write_errors] = {"shadowproxy_difflog_write_errors_total", "counter",
                                     "Diff-log write errors.", false},
    [METRIC_difflog_bytes] = {"shadowproxy_difflog_bytes_total", "counter",
                              "Bytes written to the diff log.", false},
    [METRIC_rules_reloaded] = {NULL, NULL, NULL, true},
    [METRIC_rules_reload_failed] = {NULL, NULL, NULL, true},
};

static const char *const metric_help[] = {
#define X(id, help) help,
    METRIC_LIST(X)
#undef X
};

static void render_process(sbuf *b)
{
    for (size_t m = 0; m < METRIC_COUNT; m++) {
        const struct metric_row *row = &metric_rows[m];
        if (row->skip)
            continue;
        char name[96];
        if (row->name)
            snprintf(name, sizeof name, "%s", row->name);
        else
            snprintf(name, sizeof name, "shadowproxy_%s", metric_name((metric)m));
        family(b, name, row->type ? row->type : "untyped", row->help ? row->help : metric_help[m]);
        uint64_t v = metric_get((metric)m);
        if (row->type && strcmp(row->type, "gauge") == 0)
            sample_i(b, name, NULL, 0, (int64_t)v); /* a gauge may dip below 0 for a moment */
        else
            sample_u(b, name, NULL, 0, v);
    }
    family(b, "shadowproxy_verdicts_total", "counter",
           "Exchanges compared, by verdict (every exchange gets exactly one).");
    for (size_t v = 0; v < VERDICT_COUNT; v++) {
        label l = L("verdict", verdict_name((verdict)v));
        sample_u(b, "shadowproxy_verdicts_total", &l, 1, metric_verdict_get((verdict)v));
    }
}

/* The decision store (docs/metrics.md): kept stable for the cluster's
 * alerts. */
static void render_decisions(sbuf *b, const metrics_render_input *in)
{
    if (!in->decisions_store)
        return;
    label l = L("store", in->decisions_store);
    family(b, "shadowproxy_decisions_store_up", "gauge",
           "1 when the last read or write of the decision store worked.");
    sample_u(b, "shadowproxy_decisions_store_up", &l, 1, in->decisions_up ? 1 : 0);
    family(b, "shadowproxy_decisions_revision", "gauge",
           "Revision of the decisions this replica applies.");
    sample_i(b, "shadowproxy_decisions_revision", NULL, 0, in->decisions_revision);
    family(b, "shadowproxy_decisions_last_sync_timestamp_seconds", "gauge",
           "When this replica last reached the decision store while it was up (Unix time).");
    if (in->decisions_last_sync_unix > 0)
        sample_f(b, "shadowproxy_decisions_last_sync_timestamp_seconds", NULL, 0,
                 in->decisions_last_sync_unix);
    family(b, "shadowproxy_decisions_store_warnings_total", "counter",
           "File store: its file found deleted or invalid (the decisions in force stay).");
    sample_u(b, "shadowproxy_decisions_store_warnings_total", NULL, 0, in->decisions_warnings);
}

static void render_comparers(sbuf *b, const metrics_render_input *in)
{
    static const char *const names[4] = {
        "shadowproxy_comparer_queue_depth", "shadowproxy_comparer_busy_seconds_total",
        "shadowproxy_comparer_share_ratio", "shadowproxy_comparer_yielding"};
    static const char *const types[4] = {"gauge", "counter", "gauge", "gauge"};
    static const char *const helps[4] = {
        "Exchanges handed to a comparer thread, not yet compared.",
        "Time a comparer thread spent comparing and building records.",
        "Share of the exchanges a comparer thread was last offered (0..1; below 1: "
        "overload sampling).",
        "1 while a comparer thread yields because a worker is saturated (0.3 ms of CPU in 10 ms)."};
    for (int f = 0; f < 4; f++) {
        family(b, names[f], types[f], helps[f]);
        for (size_t i = 0; i < in->ncomparers; i++) {
            char t[24];
            snprintf(t, sizeof t, "%zu", i);
            label l = L("thread", t);
            const metrics_comparer *c = &in->comparers[i];
            if (f == 0 || f == 3)
                sample_u(b, names[f], &l, 1, f == 0 ? c->queue_depth : c->yielding);
            else
                sample_f(b, names[f], &l, 1, f == 1 ? c->busy_seconds : c->share);
        }
    }
    family(b, "shadowproxy_worker_busy_ratio", "gauge",
           "Share of the last quarter second a worker spent busy in its event loop (0..1).");
    for (size_t i = 0; i < in->nworker_busy; i++) {
        char t[24];
        snprintf(t, sizeof t, "%zu", i);
        label l = L("worker", t);
        sample_f(b, "shadowproxy_worker_busy_ratio", &l, 1, in->worker_busy[i]);
    }
}

static void render_state(sbuf *b, const metrics_render_input *in)
{
    static const char *const sides[2] = {"legacy", "new"};
    family(b, "shadowproxy_build_info", "gauge", "Build information; always 1.");
    label l = L("version", in->version ? in->version : "");
    sample_u(b, "shadowproxy_build_info", &l, 1, 1);
    family(b, "shadowproxy_uptime_seconds", "gauge", "Seconds since the process started.");
    sample_f(b, "shadowproxy_uptime_seconds", NULL, 0, in->uptime_seconds);

    family(b, "shadowproxy_rules_info", "gauge", "The rules in use; always 1.");
    if (in->rules_version) {
        l = L("version", in->rules_version);
        sample_u(b, "shadowproxy_rules_info", &l, 1, 1);
    }
    family(b, "shadowproxy_rules_loaded_timestamp_seconds", "gauge",
           "When the rules in use were loaded (Unix time).");
    if (in->rules_loaded_unix > 0)
        sample_f(b, "shadowproxy_rules_loaded_timestamp_seconds", NULL, 0, in->rules_loaded_unix);
    family(b, "shadowproxy_rules_reloads_total", "counter", "Rules reloads, by result.");
    l = L("result", "ok");
    sample_u(b, "shadowproxy_rules_reloads_total", &l, 1, metric_get(METRIC_rules_reloaded));
    l = L("result", "failed");
    sample_u(b, "shadowproxy_rules_reloads_total", &l, 1, metric_get(METRIC_rules_reload_failed));

    family(b, "shadowproxy_config_restart_required", "gauge",
           "1 per config key changed in the file that only a restart applies (reload: "
           "restart_required).");
    for (size_t i = 0; i < in->nrestart_keys; i++) {
        char dotted[128];
        config_dotted(in->restart_keys[i], dotted, sizeof dotted);
        l = L("key", dotted);
        sample_u(b, "shadowproxy_config_restart_required", &l, 1, 1);
    }
    render_decisions(b, in);

    family(b, "shadowproxy_authority", "gauge",
           "Global authoritative side: 1 for the side that answers clients, 0 for the other.");
    for (int s = 0; s < 2; s++) {
        l = L("side", sides[s]);
        sample_u(b, "shadowproxy_authority", &l, 1, (int)in->authority == s);
    }
    family(b, "shadowproxy_route_authority", "gauge",
           "Effective authoritative side per route: 1 for the side that answers, 0 for the other.");
    for (size_t i = 0; i < in->nroutes; i++)
        for (int s = 0; s < 2; s++) {
            label ls[2] = {L("route", in->routes[i].route ? in->routes[i].route : ""),
                           L("side", sides[s])};
            sample_u(b, "shadowproxy_route_authority", ls, 2, (int)in->routes[i].authority == s);
        }
    family(b, "shadowproxy_shadow_paused", "gauge", "1 when the shadow is paused globally.");
    sample_u(b, "shadowproxy_shadow_paused", NULL, 0, in->shadow_paused);
    family(b, "shadowproxy_shadow_sample_ratio", "gauge",
           "Global share of requests mirrored (0..1).");
    sample_f(b, "shadowproxy_shadow_sample_ratio", NULL, 0, in->sample_percent / 100.0);
    family(b, "shadowproxy_route_shadow_paused", "gauge",
           "1 when the shadow is paused for the route (effective).");
    for (size_t i = 0; i < in->nroutes; i++) {
        l = L("route", in->routes[i].route ? in->routes[i].route : "");
        sample_u(b, "shadowproxy_route_shadow_paused", &l, 1, in->routes[i].shadow_paused);
    }
    family(b, "shadowproxy_writes_paused", "gauge",
           "1 when writes are paused globally (write methods answered 503).");
    sample_u(b, "shadowproxy_writes_paused", NULL, 0, in->writes_paused);
    family(b, "shadowproxy_route_writes_paused", "gauge",
           "1 when writes are paused for the route (effective).");
    for (size_t i = 0; i < in->nroutes; i++) {
        l = L("route", in->routes[i].route ? in->routes[i].route : "");
        sample_u(b, "shadowproxy_route_writes_paused", &l, 1, in->routes[i].writes_paused);
    }
    family(b, "shadowproxy_route_shadow_sample_ratio", "gauge",
           "Share of the route's requests mirrored (effective, 0..1).");
    for (size_t i = 0; i < in->nroutes; i++) {
        l = L("route", in->routes[i].route ? in->routes[i].route : "");
        sample_f(b, "shadowproxy_route_shadow_sample_ratio", &l, 1,
                 in->routes[i].sample_percent / 100.0);
    }
    family(b, "shadowproxy_breaker_state", "gauge",
           "Shadow circuit breaker per worker: 0 closed, 1 open, 2 half-open.");
    for (size_t i = 0; i < in->nbreakers; i++) {
        char w[24];
        snprintf(w, sizeof w, "%zu", i);
        l = L("worker", w);
        sample_u(b, "shadowproxy_breaker_state", &l, 1, (uint64_t)in->breakers[i]);
    }
    render_comparers(b, in);
}

/* The process_* families every Prometheus client exports, with
 * client_golang's names and help texts; a part /proc could not give is
 * left out rather than reported as 0. */
static void render_process_resources(sbuf *b)
{
    procstat ps;
    procstat_read(&ps);
    if (ps.have_stat) {
        family(b, "process_cpu_seconds_total", "counter",
               "Total user and system CPU time spent in seconds.");
        sample_f(b, "process_cpu_seconds_total", NULL, 0, ps.cpu_seconds);
        family(b, "process_start_time_seconds", "gauge",
               "Start time of the process since unix epoch in seconds.");
        sample_f(b, "process_start_time_seconds", NULL, 0, ps.start_time);
        family(b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
        sample_f(b, "process_resident_memory_bytes", NULL, 0, ps.resident_bytes);
        family(b, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
        sample_f(b, "process_virtual_memory_bytes", NULL, 0, ps.virtual_bytes);
    }
    if (ps.have_fds) {
        family(b, "process_open_fds", "gauge", "Number of open file descriptors.");
        sample_f(b, "process_open_fds", NULL, 0, ps.open_fds);
    }
    family(b, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
    sample_f(b, "process_max_fds", NULL, 0, ps.max_fds < 0 ? INFINITY : ps.max_fds);
}

static label route_label(const agg_route *a)
{
    return (label){"route", a->name, a->len};
}

/* One counter per route and verdict (confirms false) or confirmation
 * outcome (true); a route shows all of them once it has one. */
static void route_counts(sbuf *b, const snapshot *snap, const char *f, const char *help,
                         const char *key, bool confirms)
{
    size_t n = confirms ? METRICS_CONFIRM_OUTCOMES : VERDICT_COUNT;
    label ls[2];
    family(b, f, "counter", help);
    for (size_t i = 0; i < snap->n; i++) {
        const agg_route *a = &snap->v[i];
        const uint64_t *v = confirms ? a->confirms : a->verdicts;
        uint64_t any = 0;
        for (size_t k = 0; k < n; k++)
            any += v[k];
        for (size_t k = 0; any && k < n; k++) {
            ls[0] = route_label(a);
            ls[1] = L(key, confirms ? metrics_confirm_outcomes[k] : verdict_name((verdict)k));
            sample_u(b, f, ls, 2, v[k]);
        }
    }
}

static void render_routes(sbuf *b, const snapshot *snap)
{
    static const char *const sides[2] = {"legacy", "new"};
    static const char *const roles[2] = {"authoritative", "shadow"};
    label ls[5];
    const char *f = "shadowproxy_route_requests_total";
    family(b, f, "counter",
           "Requests answered, by route, method, authoritative side and status class.");
    for (size_t i = 0; i < snap->n; i++)
        for (size_t m = 0; m < MX_METHODS; m++)
            for (size_t s = 0; s < 2; s++)
                for (size_t c = 0; c < MX_CLASSES; c++) {
                    uint64_t v = snap->v[i].requests[m][s][c];
                    if (!v)
                        continue;
                    ls[0] = route_label(&snap->v[i]);
                    ls[1] = L("method", mx_method_names[m]);
                    ls[2] = L("authority", sides[s]);
                    ls[3] = L("status_class", mx_class_names[c]);
                    sample_u(b, f, ls, 4, v);
                }
    f = "shadowproxy_request_duration_seconds";
    family(b, f, "histogram", "Client-facing request duration, request received to answer sent.");
    for (size_t i = 0; i < snap->n; i++) {
        const agg_route *a = &snap->v[i];
        uint64_t any = 0;
        for (size_t k = 0; k < MX_BUCKETS; k++)
            any += a->dur[k];
        ls[0] = route_label(a);
        if (any)
            histogram(b, f, ls, 1, a->dur, a->dur_sum);
    }
    f = "shadowproxy_upstream_duration_seconds";
    family(b, f, "histogram", "Upstream exchange duration, by route, side and role.");
    for (size_t i = 0; i < snap->n; i++)
        for (size_t s = 0; s < 2; s++)
            for (size_t sh = 0; sh < 2; sh++) {
                const agg_route *a = &snap->v[i];
                uint64_t any = 0;
                for (size_t k = 0; k < MX_BUCKETS; k++)
                    any += a->up[s][sh][k];
                if (!any)
                    continue;
                ls[0] = route_label(a);
                ls[1] = L("side", sides[s]);
                ls[2] = L("role", roles[sh]);
                histogram(b, f, ls, 3, a->up[s][sh], a->up_sum[s][sh]);
            }
    route_counts(b, snap, "shadowproxy_route_verdicts_total",
                 "Exchanges compared, by route and verdict.", "verdict", false);
    route_counts(b, snap, "shadowproxy_route_confirmations_total",
                 "Mismatches read again (rules confirm), by route and outcome.", "outcome", true);
    f = "shadowproxy_route_differences_total";
    family(b, f, "counter",
           "Differences found, by route, place and field path: the route's most frequent paths, "
           "the rest as path=\"other\".");
    for (size_t i = 0; i < snap->n; i++) {
        const agg_route *a = &snap->v[i];
        for (size_t j = 0; j < a->npaths; j++) {
            ls[0] = route_label(a);
            ls[1] = L("where", mx_where_names[a->paths[j].where]);
            ls[2] = (label){"path", a->paths[j].path, a->paths[j].len};
            sample_u(b, f, ls, 3, a->paths[j].hits);
        }
        for (size_t w = 0; a->has_paths && w < MX_WHERE; w++) {
            ls[0] = route_label(a);
            ls[1] = L("where", mx_where_names[w]);
            ls[2] = L("path", "other");
            sample_u(b, f, ls, 3, a->other[w]);
        }
    }
}

/* Verdicts of the exchanges no route matched, by endpoint template. */
static void render_endpoints(sbuf *b, const snapshot *snap)
{
    const char *f = "shadowproxy_endpoint_verdicts_total";
    family(b, f, "counter",
           "Exchanges no route matched, by endpoint (method and inferred path template) and "
           "verdict; endpoints past the cap as endpoint=\"other\".");
    for (size_t i = 0; i < snap->n; i++) {
        const agg_route *a = &snap->v[i];
        for (size_t v = 0; v < VERDICT_COUNT; v++) {
            if (!a->verdicts[v])
                continue;
            label ls[2] = {{"endpoint", a->name, a->len}, L("verdict", verdict_name((verdict)v))};
            sample_u(b, f, ls, 2, a->verdicts[v]);
        }
    }
}

char *metrics_render(const metrics_render_input *in, size_t *len)
{
    static const metrics_render_input none = {.sample_percent = 100};
    snapshot snap, eps;
    if (!snapshot_take(&snap, false))
        return NULL;
    if (!snapshot_take(&eps, true)) {
        snapshot_free(&snap);
        return NULL;
    }
    sbuf b = {0};
    render_state(&b, in ? in : &none);
    render_process(&b);
    render_routes(&b, &snap);
    render_endpoints(&b, &eps);
    render_process_resources(&b);
    snapshot_free(&snap);
    snapshot_free(&eps);
    if (!sb_reserve(&b, 0)) {
        free(b.p);
        return NULL;
    }
    if (len)
        *len = b.len;
    return b.p;
}
