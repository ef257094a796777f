#include "data/analyze_job.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "base/clock.h"
#include "conf/endpoint.h"
#include "data/ids.h"
#include "diff/body.h"

/* Workers hash only bodies past the comparison cap; a record that cuts a
 * smaller body still names it by its SHA-256. */
static void hash_if_cut(const blob *b, size_t max_embedded, char out[65])
{
    if (out[0] || !b || b->len <= max_embedded)
        return;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    static const char hex[] = "0123456789abcdef";
    if (!EVP_Digest(b->data, b->len, md, &n, EVP_sha256(), NULL) || n != 32)
        return;
    for (unsigned int i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
}

static void prepare_leg(body_view *v, analysis_leg *l, size_t cap, size_t max_embedded)
{
    if (!l->attempted || l->status == 0)
        return;
    if (l->body_omitted) {
        v->kind = BODY_OMITTED;
        v->wire_len = l->wire_len;
        return;
    }
    hash_if_cut(l->body, max_embedded, l->sha256);
    body_prepare(v, l->body ? l->body->data : NULL, l->body ? l->body->len : 0,
                 l->body_whole, l->wire_len, l->sha256,
                 hdr_list_get(&l->headers, "Content-Type"),
                 hdr_list_get(&l->headers, "Content-Encoding"), cap);
}

static void prepare_legs(const sp_config *cfg, analysis_job *j, body_view *lb, body_view *nb)
{
    prepare_leg(lb, &j->legs[SIDE_LEGACY], cfg->compare_max_body, cfg->diff_log_max_body);
    prepare_leg(nb, &j->legs[SIDE_NEW], cfg->compare_max_body, cfg->diff_log_max_body);
    body_align(lb, nb); /* XML/form: one <Item> vs several, text vs attributes */
}

static bool same_header(const analysis_leg *l, const analysis_leg *n, const char *name)
{
    const char *a = hdr_list_get(&l->headers, name), *b = hdr_list_get(&n->headers, name);
    return a == b || (a && b && strcmp(a, b) == 0);
}

/* Byte-identical answers of the same type and encoding decode to the same
 * view, and no rule makes equal documents differ except a map (it moves a
 * field on one side only). Then the comparison of the bodies is known
 * without decoding them, which is most of its cost; they are decoded only
 * if a record is written. */
static bool bodies_identical(const analysis_job *j)
{
    const analysis_leg *l = &j->legs[SIDE_LEGACY], *n = &j->legs[SIDE_NEW];
    if (j->route && j->route->cmp.nmaps)
        return false;
    if (!l->body_whole || !n->body_whole || l->wire_len != n->wire_len)
        return false;
    size_t ll = l->body ? l->body->len : 0, nl = n->body ? n->body->len : 0;
    if (ll != nl || (ll && memcmp(l->body->data, n->body->data, ll) != 0))
        return false;
    return same_header(l, n, "Content-Type") && same_header(l, n, "Content-Encoding");
}

/* Both bodies decoded and compared inside the comparer's arena
 * (base/json_arena.h), the rules rewriting the trees in place: none of their
 * values outlives this function. The differences listed leave as a copy,
 * appended to `diffs` up to co's cap; if that copy fails (out of memory)
 * they are still counted. */
static size_t compare_bodies_scoped(const analyze_ctx *cx, analysis_job *j, json_t *diffs,
                                    const compare_opts *co)
{
    size_t cap = co->max_differences ? co->max_differences : COMPARE_MAX_DIFFERENCES;
    size_t listed = json_array_size(diffs);
    compare_opts o = *co;
    o.max_differences = listed < cap ? cap - listed : 0;
    o.arena = cx->arena;
    body_view lb = {0}, nb = {0};
    json_arena_begin(cx->arena);
    prepare_legs(cx->cfg, j, &lb, &nb);
    json_t *here = o.max_differences ? json_array() : NULL; /* NULL: count only */
    size_t found = compare_bodies_consume(&lb, &nb, here, &o); /* releases the views */
    json_t *out = json_array_size(here) ? json_arena_export(cx->arena, here) : NULL;
    json_arena_drop(cx->arena, here);
    json_arena_end(cx->arena);
    json_array_extend(diffs, out);
    json_decref(out);
    return found;
}

static record_leg record_leg_of(const analysis_leg *l, const body_view *b)
{
    return (record_leg){
        .attempted = l->attempted,
        .status = l->status,
        .headers = l->attempted ? &l->headers : NULL,
        .body = l->attempted ? b : NULL,
        .duration_ms = l->duration_ms,
        .error = l->error,
    };
}

/* Are a and b differences at the same place (where and path)? */
static bool same_place(const json_t *a, const json_t *b)
{
    const char *aw = json_string_value(json_object_get(a, "where"));
    const char *ap = json_string_value(json_object_get(a, "path"));
    const char *bw = json_string_value(json_object_get(b, "where"));
    const char *bp = json_string_value(json_object_get(b, "path"));
    return aw && ap && bw && bp && strcmp(aw, bw) == 0 && strcmp(ap, bp) == 0;
}

/* Is there a difference at d's place (where and path) in `twin`? With
 * noise_only, only one marked noise counts. */
static bool found_as(const json_t *twin, const json_t *d, bool noise_only)
{
    size_t i;
    const json_t *t;
    json_array_foreach(twin, i, t) {
        if ((!noise_only || json_object_get(t, "noise")) && same_place(t, d))
            return true;
    }
    return false;
}

static bool found_in(const json_t *twin, const json_t *d)
{
    return found_as(twin, d, false);
}

/* Diffy's noise: legacy's answer against the secondary's (legacy asked
 * again), with the route's rules but its maps (they move fields of the new
 * side only, so on two legacy answers they would invent differences and
 * hide real ones). Each listed difference of `diffs` that is not known and
 * is found there too is marked "noise": true. Returns how many; *state
 * says "compared" or why the secondary could not tell. */
static size_t mark_noise(const sp_config *cfg, analysis_job *j, const body_view *lb,
                         json_t *diffs, const compare_opts *co, const char **state)
{
    analysis_leg *l = &j->legs[SIDE_LEGACY], *sec = &j->secondary;
    if (!sec->attempted) {
        *state = j->secondary_reason ? j->secondary_reason : "not sent";
        return 0;
    }
    if (sec->error || sec->status == 0) {
        *state = "failed";
        return 0;
    }
    route_compare rc;
    compare_opts o = *co;
    size_t known = 0;
    o.known = &known;
    o.max_differences = 10000; /* one missed noise field would be a mismatch */
    if (co->rules) {
        rc = *co->rules;
        rc.nmaps = 0;
        o.rules = &rc;
    }
    body_view sb = {0};
    prepare_leg(&sb, sec, cfg->compare_max_body, cfg->diff_log_max_body);
    json_t *twin = json_array();
    size_t noise = 0, i;
    json_t *d;
    if (twin) {
        compare_status(l->status, sec->status, twin, &o);
        compare_headers(&l->headers, &sec->headers, twin, &o);
        compare_bodies(lb, &sb, twin, &o);
        json_array_foreach(diffs, i, d) {
            if (!json_object_get(d, "known") && found_in(twin, d) &&
                json_object_set_new(d, "noise", json_true()) == 0)
                noise++;
        }
    }
    *state = twin ? "compared" : "out of memory";
    json_decref(twin);
    body_view_free(&sb);
    return noise;
}

/* The record's "secondary": what the noise detection saw. */
static json_t *secondary_json(const analysis_job *j, const char *state, size_t noise)
{
    const analysis_leg *sec = &j->secondary;
    json_t *o = json_pack("{s:s, s:I}", "state", state, "noise", (json_int_t)noise);
    if (o && sec->attempted) {
        json_object_set_new(o, "status", json_integer(sec->status));
        json_object_set_new(o, "duration_ms", json_real(sec->duration_ms));
        if (sec->error)
            json_object_set_new(o, "error", json_string(sec->error));
    }
    return o;
}

static bool counts(const json_t *d) /* a real difference: not known, not noise */
{
    return !json_object_get(d, "known") && !json_object_get(d, "noise");
}

/* The re-read of a confirmation (rules "confirm"), compared with the same
 * rules as the first read. Returns the record's "confirmation" and counts
 * the outcome. What the first read's noise detection called noise stays
 * noise (the re-read has no secondary). */
static json_t *confirm_outcome(const analyze_ctx *cx, analysis_job *j, const json_t *first)
{
    analysis_confirm *c = &j->confirm;
    analysis_leg *l = &c->reread[SIDE_LEGACY], *n = &c->reread[SIDE_NEW];
    json_t *o = json_pack("{s:s, s:I}", "state", "skipped", "after_ms", (json_int_t)c->after_ms);
    if (!o)
        return NULL;
    if (c->skipped) {
        metric_add(METRIC_confirm_skipped, 1);
        json_object_set_new(o, "reason", json_string(c->skipped));
        return o;
    }
    if (l->error || n->error || !l->status || !n->status) {
        metric_add(METRIC_confirm_failed, 1);
        json_object_set_new(o, "state", json_string("failed"));
        const analysis_leg *bad = l->error || !l->status ? l : n;
        json_object_set_new(o, "side", json_string(bad == l ? "legacy" : "new"));
        json_object_set_new(o, "error", json_string(bad->error ? bad->error : "no answer"));
        return o;
    }
    body_view lb = {0}, nb = {0};
    prepare_leg(&lb, l, cx->cfg->compare_max_body, cx->cfg->diff_log_max_body);
    prepare_leg(&nb, n, cx->cfg->compare_max_body, cx->cfg->diff_log_max_body);
    body_align(&lb, &nb);
    if (j->id_pairs && nb.json) /* correlated ids: as in the first comparison */
        ids_map_back(nb.json, j->id_pairs);
    size_t known = 0, total = 0, real = 0, first_real = 0, shared = 0, i;
    compare_opts co = *cx->copts;
    co.rules = j->route ? &j->route->cmp : NULL;
    co.known = &known;
    json_t *again = json_array(), *paths = json_array(), *d;
    if (again && paths) {
        total += compare_status(l->status, n->status, again, &co);
        total += compare_headers(&l->headers, &n->headers, again, &co);
        total += compare_bodies(&lb, &nb, again, &co);
        real = total - known;
        json_array_foreach(again, i, d) {
            if (json_object_get(d, "known"))
                continue;
            if (found_as(first, d, true)) {
                real--;
                continue;
            }
            if (found_in(first, d))
                shared++;
            if (json_array_size(paths) < 20)
                json_array_append_new(paths, json_pack("{s:O?, s:O?}", "where",
                                                       json_object_get(d, "where"), "path",
                                                       json_object_get(d, "path")));
        }
        json_array_foreach(first, i, d)
            first_real += counts(d);
    }
    bool confirmed = real > 0 || !again || !paths;
    metric_add(confirmed ? METRIC_confirm_confirmed : METRIC_confirm_transient, 1);
    json_object_set_new(o, "state", json_string(confirmed ? "confirmed" : "transient"));
    if (confirmed && again && paths) {
        json_object_set_new(o, "differences_total", json_integer((json_int_t)real));
        /* The same fields differ, no more, no fewer (as far as both lists go). */
        json_object_set_new(o, "same", json_boolean(shared == real && real == first_real));
        json_object_set_new(o, "differences", json_incref(paths));
    }
    json_decref(again);
    json_decref(paths);
    body_view_free(&lb);
    body_view_free(&nb);
    return o;
}

/* The record's "ids": the pairs the request used or the answers taught,
 * and how many of the new side's values were mapped back to legacy's. */
static json_t *ids_record(const json_t *pairs, size_t mapped)
{
    json_t *list = json_array();
    size_t i;
    const json_t *p;
    json_array_foreach(pairs, i, p) {
        json_array_append_new(list, json_pack("{s:O, s:O, s:O}", "name", json_array_get(p, 0),
                                              "legacy", json_array_get(p, 1), "new",
                                              json_array_get(p, 2)));
    }
    return json_pack("{s:o, s:I}", "pairs", list, "mapped", (json_int_t)mapped);
}

static int batch_append(record_batch *b, const char *line, size_t len)
{
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 64 * 1024;
        while (cap < b->len + len)
            cap *= 2;
        char *nb = realloc(b->buf, cap);
        if (!nb)
            return -ENOMEM;
        b->buf = nb;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, line, len);
    b->len += len;
    b->nrecords++;
    return 0;
}

verdict analyze_job(const analyze_ctx *cx, analysis_job *j, record_batch *b)
{
    const sp_config *cfg = cx->cfg;
    body_view lb = {0}, nb = {0}, rb = {0};
    json_t *diffs = json_array();
    size_t found = 0, noise = 0;
    const char *noise_state = "not compared"; /* a preset verdict */
    verdict v = j->preset;
    bool decoded = !(v == VERDICT_COUNT && bodies_identical(j));
    /* In mismatches mode with no secondary, the views are needed again only
     * for a record that the verdict makes due (a mismatch): they are then
     * decoded and compared in the comparer's arena and freed, and such a
     * record decodes the bodies again. Not with correlated ids: the record
     * shows the new side's tree with its ids mapped. */
    bool scoped = v == VERDICT_COUNT && diffs && decoded && cx->mode != DIFFLOG_ALL &&
                  !j->secondary_asked && !j->id_pairs;
    size_t ids_mapped = 0;
    if (decoded && !scoped)
        prepare_legs(cfg, j, &lb, &nb);
    if (decoded && j->id_pairs && nb.json) /* the pair counts as equal */
        ids_mapped = ids_map_back(nb.json, j->id_pairs);
    if (v == VERDICT_COUNT && diffs) {
        const analysis_leg *l = &j->legs[SIDE_LEGACY], *n = &j->legs[SIDE_NEW];
        size_t known = 0;
        compare_opts co = *cx->copts;
        co.rules = j->route ? &j->route->cmp : NULL;
        co.known = &known;
        found += compare_status(l->status, n->status, diffs, &co);
        found += compare_headers(&l->headers, &n->headers, diffs, &co);
        if (scoped) {
            found += compare_bodies_scoped(cx, j, diffs, &co);
            decoded = false; /* the views were never kept */
        } else if (decoded) {
            found += compare_bodies(&lb, &nb, diffs, &co);
        }
        if (j->secondary_asked && found > known) {
            if (!decoded) /* a status or header difference on identical bodies */
                prepare_legs(cfg, j, &lb, &nb);
            decoded = true;
            noise = mark_noise(cfg, j, &lb, diffs, &co, &noise_state);
            metric_add(METRIC_noise_differences, (int64_t)noise);
        } else if (j->secondary_asked && j->secondary.attempted) {
            noise_state = "no differences";
        } else if (j->secondary_asked) {
            noise_state = j->secondary_reason ? j->secondary_reason : "not sent";
        }
        /* Noise is no difference for the verdict: all noise is a match. */
        size_t real = found - noise;
        v = !real ? VERDICT_MATCH : real == known ? VERDICT_KNOWN : VERDICT_MISMATCH;
        if (v == VERDICT_MISMATCH && j->confirm.phase == CONFIRM_ELIGIBLE) {
            const char *why = "no confirmer";
            if (cx->confirm && confirmer_submit(cx->confirm, j, &why)) {
                metric_add(METRIC_confirm_started, 1); /* back later: count and write then */
                json_decref(diffs);
                body_view_free(&lb);
                body_view_free(&nb);
                return VERDICT_COUNT;
            }
            j->confirm.phase = CONFIRM_DONE;
            j->confirm.skipped = why;
            j->confirm.after_ms = j->route->confirm.after_ms;
        }
    } else if (v == VERDICT_COUNT) {
        v = VERDICT_SKIPPED; /* out of memory: cannot compare */
        j->reason = "out of memory";
    }
    metric_verdict(v);
    const char *route_name = j->route ? j->route->name : "default";
    json_t *confirmation = NULL;
    if (v == VERDICT_MISMATCH && j->confirm.phase == CONFIRM_DONE && diffs) {
        confirmation = confirm_outcome(cx, j, diffs);
        const char *state = json_string_value(json_object_get(confirmation, "state"));
        live_count_confirm(cx->live, route_name, state, clock_wall_ms());
        metrics_confirm_route(cx->shard, route_name, state);
    }
    char endpoint[ENDPOINT_MAX];
    endpoint_template(j->method, j->uri, endpoint, sizeof endpoint);
    int64_t now = clock_wall_ms();
    metrics_verdict_route(cx->shard, route_name, v);
    bool by_endpoint = strcmp(route_name, "default") == 0; /* no route matched: Diffy's endpoints */
    if (by_endpoint)
        metrics_verdict_route(cx->endpoints, endpoint, v);
    /* every exchange, whatever the diff log keeps: the live view and the
     * live readiness verdict (a side's time counts when it answered, as in
     * the record), under one lock */
    const analysis_leg *ll = &j->legs[SIDE_LEGACY], *nl = &j->legs[SIDE_NEW];
    live_count_exchange(cx->live, route_name, by_endpoint ? endpoint : NULL, v, now,
                        ll->attempted && ll->status > 0 ? ll->duration_ms : -1,
                        nl->attempted && nl->status > 0 ? nl->duration_ms : -1);
    const char *ready_name = by_endpoint ? endpoint : route_name;
    const char *state = json_string_value(json_object_get(confirmation, "state"));
    if (state && strcmp(state, "transient") == 0)
        live_ready_transient(live_readiness(cx->live), ready_name);
    if (v == VERDICT_MISMATCH) {
        size_t i;
        json_t *d;
        json_array_foreach(diffs, i, d) {
            const char *where = json_string_value(json_object_get(d, "where"));
            const char *path = json_string_value(json_object_get(d, "path"));
            if (where && path && !json_object_get(d, "known") && !json_object_get(d, "noise"))
                metrics_mismatch_path(cx->shard, route_name, where, path);
        }
    }
    bool due = cx->mode == DIFFLOG_ALL || v != VERDICT_MATCH;
    if (due && !cx->writer_keeps_up) {
        overload_tally_add(cx->tally, route_name, v, false); /* counted, not lost */
        metric_add(METRIC_records_unlogged, 1);
        due = false;
    }
    if (due) {
        if (!decoded)
            prepare_legs(cfg, j, &lb, &nb);
        char req_sha[65] = "";
        hash_if_cut(j->req_body, cfg->diff_log_max_body, req_sha);
        if (j->req_body)
            body_prepare(&rb, j->req_body->data, j->req_body->len, true,
                         j->req_body->len, req_sha, hdr_list_get(&j->req_headers, "Content-Type"),
                         hdr_list_get(&j->req_headers, "Content-Encoding"),
                         cfg->compare_max_body);
        record_input in = {
            .id = j->id,
            .trace_id = j->trace_id[0] ? j->trace_id : NULL,
            .client_request_id = j->client_id[0] ? j->client_id : NULL,
            .ts_ms = j->ts_ms,
            .route = j->route ? j->route->name : "default",
            .endpoint = endpoint,
            .method = j->method ? j->method : "",
            .uri = j->uri ? j->uri : "",
            .authority = config_side_name(j->authority),
            .verdict = verdict_name(v),
            .reason = j->reason,
            .req_headers = &j->req_headers,
            .req_body = &rb,
            .legacy = record_leg_of(&j->legs[SIDE_LEGACY], &lb),
            .new_ = record_leg_of(&j->legs[SIDE_NEW], &nb),
            .differences = diffs,
        };
        json_t *rec = record_build_for_route(cx->ropts, &in, j->route);
        if (rec && found > json_array_size(diffs))
            json_object_set_new(rec, "differences_total", json_integer((json_int_t)found));
        if (rec && j->id_pairs)
            json_object_set_new(rec, "ids", ids_record(j->id_pairs, ids_mapped));
        if (rec && j->secondary_asked)
            json_object_set_new(rec, "secondary", secondary_json(j, noise_state, noise));
        if (rec && confirmation)
            json_object_set(rec, "confirmation", confirmation);
        if (rec && j->fault) /* the faults injected into this exchange (staging) */
            json_object_set(rec, "fault", j->fault);
        size_t len = 0;
        char *line = rec ? record_to_line(rec, &len) : NULL;
        if (!line || batch_append(b, line, len) != 0)
            metric_add(METRIC_records_lost, 1);
        if (line && live_keeps(v)) {
            live_add(cx->live, rec, line, len); /* takes the line: no copy */
            line = NULL;
        }
        free(line);
        json_decref(rec);
    }
    json_decref(confirmation);
    json_decref(diffs);
    body_view_free(&lb);
    body_view_free(&nb);
    body_view_free(&rb);
    return v;
}

