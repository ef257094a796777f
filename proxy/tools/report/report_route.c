/* report_route: see report_route.h. */
#include "tools/report/report_route.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CELL_EMPTY INT64_MIN
#define SAMPLE_MAX_DIFFS 100
#define SAMPLE_ID_MAX 128

static const char *str_member(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static char *dup_max(const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

report_route *report_route_new(const char *name, size_t nsums)
{
    report_route *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->name = strdup(name);
    r->sums = calloc(nsums ? nsums : 1, sizeof *r->sums);
    if (!r->name || !r->sums) {
        report_route_free(r, 0);
        return NULL;
    }
    return r;
}

static void field_free(report_field *f)
{
    if (!f)
        return;
    free(f->where);
    free(f->path);
    free(f->kind);
    free(f->known);
    for (size_t i = 0; i < f->nsample_ids; i++)
        free(f->sample_ids[i]);
    for (int s = 0; s < RS_COUNT; s++)
        report_example_free(&f->example[s]);
    free(f);
}

static void sample_clear(report_sample *s)
{
    free(s->id);
    free(s->method);
    free(s->uri);
    free(s->verdict);
    for (int i = 0; i < RS_COUNT; i++) {
        json_decref(s->status[i]);
        json_decref(s->body[i]);
        free(s->format[i]);
    }
    for (size_t i = 0; i < s->ndiffs; i++) {
        free(s->diffs[i].where);
        free(s->diffs[i].path);
        free(s->diffs[i].kind);
    }
    free(s->diffs);
    memset(s, 0, sizeof *s);
}

void report_route_free(report_route *r, size_t nsums)
{
    if (!r)
        return;
    free(r->name);
    for (int s = 0; s < RS_COUNT; s++)
        report_floats_free(&r->lat[s]);
    for (size_t i = 0; i < r->nfields; i++)
        field_free(r->fields[i]);
    free(r->fields);
    free(r->field_index);
    free(r->cells);
    if (r->sums) {
        for (size_t i = 0; i < nsums; i++) {
            for (size_t g = 0; g < r->sums[i].ngroups; g++)
                free(r->sums[i].groups[g].name);
            free(r->sums[i].groups);
        }
        free(r->sums);
    }
    sample_clear(&r->sample);
    free(r->buckets);
    for (size_t i = 0; i < r->nsuggestions; i++)
        free(r->suggestions[i].pattern);
    free(r->suggestions);
    free(r);
}

/* ---- fields ------------------------------------------------------------------- */

static uint64_t hash_str(uint64_t h, const char *s)
{
    for (; s && *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    h ^= 0x1f;
    return h * 1099511628211ULL;
}

static uint64_t field_hash(const char *where, const char *kind, const char *known,
                           const char *path)
{
    uint64_t h = 1469598103934665603ULL;
    h = hash_str(h, where);
    h = hash_str(h, kind);
    h = hash_str(h, known ? known : "\x01");
    return hash_str(h, path);
}

static bool field_is(const report_field *f, const char *where, const char *kind,
                     const char *known, const char *path)
{
    if ((f->known == NULL) != (known == NULL) || (known && strcmp(f->known, known) != 0))
        return false;
    return strcmp(f->where, where) == 0 && strcmp(f->kind, kind) == 0 &&
           strcmp(f->path, path) == 0;
}

static int index_grow(report_route *r)
{
    size_t nc = r->field_index_cap ? r->field_index_cap * 2 : 64;
    size_t *ni = calloc(nc, sizeof *ni);
    if (!ni)
        return -1;
    for (size_t i = 0; i < r->nfields; i++) {
        const report_field *f = r->fields[i];
        size_t h = (size_t)field_hash(f->where, f->kind, f->known, f->path) & (nc - 1);
        while (ni[h])
            h = (h + 1) & (nc - 1);
        ni[h] = i + 1;
    }
    free(r->field_index);
    r->field_index = ni;
    r->field_index_cap = nc;
    return 0;
}

static report_field *field_get(report_route *r, const char *where, const char *kind,
                               const char *known, const char *path, size_t *budget)
{
    if (r->field_index_cap == 0 && index_grow(r) != 0)
        return NULL;
    size_t mask = r->field_index_cap - 1;
    size_t h = (size_t)field_hash(where, kind, known, path) & mask;
    while (r->field_index[h]) {
        report_field *f = r->fields[r->field_index[h] - 1];
        if (field_is(f, where, kind, known, path))
            return f;
        h = (h + 1) & mask;
    }
    if (r->nfields >= REPORT_MAX_FIELDS_PER_ROUTE || *budget == 0)
        return NULL;
    if (r->nfields == r->fields_cap) {
        size_t nc = r->fields_cap ? r->fields_cap * 2 : 16;
        report_field **nf = realloc(r->fields, nc * sizeof *nf);
        if (!nf)
            return NULL;
        r->fields = nf;
        r->fields_cap = nc;
    }
    report_field *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->where = strdup(where);
    f->kind = strdup(kind);
    f->path = strdup(path);
    f->known = known ? strdup(known) : NULL;
    if (!f->where || !f->kind || !f->path || (known && !f->known)) {
        field_free(f);
        return NULL;
    }
    r->fields[r->nfields++] = f;
    r->field_index[h] = r->nfields;
    (*budget)--;
    if (r->nfields * 2 >= r->field_index_cap)
        index_grow(r); /* on failure the table stays valid, only fuller */
    return f;
}

void report_route_add_diffs(report_route *r, const json_t *diffs, const char *id, uint64_t seq,
                            int confirm, size_t *budget)
{
    size_t i;
    const json_t *d;
    json_array_foreach(diffs, i, d) {
        if (!json_is_object(d))
            continue;
        const char *where = str_member(d, "where");
        const char *kind = str_member(d, "kind");
        const char *path = str_member(d, "path");
        const char *known = str_member(d, "known");
        if (!where)
            where = "?";
        if (!kind)
            kind = "?";
        char *g = report_path_generalize(where, path ? path : "");
        char *gs = g && strlen(g) > REPORT_PATH_MAX ? report_strdup_max(g, REPORT_PATH_MAX) : NULL;
        char *ks = known && strlen(known) > REPORT_NAME_MAX ? report_strdup_max(known, REPORT_NAME_MAX) : NULL;
        char *ws = strlen(where) > 32 ? report_strdup_max(where, 32) : NULL;
        char *kd = strlen(kind) > 32 ? report_strdup_max(kind, 32) : NULL;
        report_field *f = g ? field_get(r, ws ? ws : where, kd ? kd : kind, ks ? ks : known,
                                        gs ? gs : g, budget) : NULL;
        free(g);
        free(gs);
        free(ks);
        free(ws);
        free(kd);
        if (!f) {
            r->fields_dropped++;
            continue;
        }
        f->occurrences++;
        if (f->last_seq != seq) {
            f->last_seq = seq;
            f->exchanges++;
            if (confirm >= 0 && confirm < RC_COUNT)
                f->confirm[confirm]++;
            if (id && f->nsample_ids < REPORT_SAMPLE_IDS) {
                char *c = dup_max(id, SAMPLE_ID_MAX);
                if (c)
                    f->sample_ids[f->nsample_ids++] = c;
            }
        }
        if (json_is_true(json_object_get(d, "noise")) && f->noise_last_seq != seq) {
            f->noise_last_seq = seq;
            f->noise_exchanges++;
        }
        const json_t *lv = json_object_get(d, "legacy"), *nv = json_object_get(d, "new");
        if (!f->has_example) {
            f->has_example = true;
            if (report_example_set(&f->example[RS_LEGACY], lv, REPORT_EXAMPLE_MAX) != 0 ||
                report_example_set(&f->example[RS_NEW], nv, REPORT_EXAMPLE_MAX) != 0)
                f->has_example = false;
        }
        if (strcmp(f->where, "body") == 0)
            noise_observe(&f->noise, seq, lv, nv);
    }
}

/* ---- drift cells -------------------------------------------------------------- */

static size_t cell_slot(const report_cell *cells, size_t cap, int64_t minute)
{
    uint64_t h = (uint64_t)minute * 0x9e3779b97f4a7c15ULL;
    size_t i = (size_t)(h >> 20) & (cap - 1);
    while (cells[i].minute != CELL_EMPTY && cells[i].minute != minute)
        i = (i + 1) & (cap - 1);
    return i;
}

static int cells_grow(report_route *r)
{
    size_t nc = r->cells_cap ? r->cells_cap * 2 : 64;
    report_cell *n = malloc(nc * sizeof *n);
    if (!n)
        return -1;
    for (size_t i = 0; i < nc; i++)
        n[i] = (report_cell){.minute = CELL_EMPTY};
    for (size_t i = 0; i < r->cells_cap; i++)
        if (r->cells[i].minute != CELL_EMPTY)
            n[cell_slot(n, nc, r->cells[i].minute)] = r->cells[i];
    free(r->cells);
    r->cells = n;
    r->cells_cap = nc;
    return 0;
}

static bool is_error(enum report_verdict v)
{
    return v == RV_SHADOW_ERROR || v == RV_SHADOW_TIMEOUT || v == RV_AUTHORITATIVE_ERROR;
}

void report_route_add_cell(report_route *r, int64_t ts_ms, enum report_verdict v)
{
    report_route_add_cell_n(r, ts_ms, v, 1);
}

void report_route_add_cell_n(report_route *r, int64_t ts_ms, enum report_verdict v, uint64_t n)
{
    if ((r->ncells + 1) * 2 > r->cells_cap && cells_grow(r) != 0)
        return;
    int64_t minute = report_floor_div(ts_ms, 60000);
    report_cell *c = &r->cells[cell_slot(r->cells, r->cells_cap, minute)];
    if (c->minute == CELL_EMPTY) {
        c->minute = minute;
        r->ncells++;
    }
    c->exchanges += n;
    c->compared += (v == RV_MATCH || v == RV_MISMATCH || v == RV_KNOWN) * n;
    c->mismatches += (v == RV_MISMATCH) * n;
    c->errors += is_error(v) * n;
}

/* ---- reconciliation ------------------------------------------------------------ */

static report_group *group_get(report_sum_acc *a, const char *name)
{
    for (size_t i = 0; i < a->ngroups; i++) {
        const char *g = a->groups[i].name;
        if ((g == NULL && name == NULL) || (g && name && strcmp(g, name) == 0))
            return &a->groups[i];
    }
    if (a->ngroups >= REPORT_MAX_GROUPS)
        return NULL;
    if (a->ngroups == a->cap) {
        size_t nc = a->cap ? a->cap * 2 : 4;
        report_group *ng = realloc(a->groups, nc * sizeof *ng);
        if (!ng)
            return NULL;
        a->groups = ng;
        a->cap = nc;
    }
    report_group *g = &a->groups[a->ngroups];
    memset(g, 0, sizeof *g);
    if (name && !(g->name = dup_max(name, 256)))
        return NULL;
    a->ngroups++;
    return g;
}

/* The grouping value as text, or NULL (absent, null, object or array). */
static char *group_text(const json_t *v)
{
    if (json_is_string(v))
        return dup_max(json_string_value(v), 256);
    if (json_is_number(v) || json_is_boolean(v)) {
        strbuf b = {0};
        report_json_append(&b, v, -1, 0);
        return b.oom ? (free(b.p), NULL) : b.p;
    }
    return NULL;
}

const char *const report_onesided_names[RO_COUNT] = {"error", "timeout", "non-2xx", "not sent"};

/* Why a leg did not answer 2xx. */
static enum report_onesided onesided_reason(const json_t *leg)
{
    const json_t *st = json_object_get(leg, "status");
    const char *err = str_member(leg, "error");
    if (!leg || json_is_false(json_object_get(leg, "attempted")))
        return RO_NOT_SENT;
    if (json_is_integer(st))
        return RO_NON2XX;
    return err && strncmp(err, "timeout", 7) == 0 ? RO_TIMEOUT : RO_ERROR;
}

void report_route_add_sums(report_route *r, const report_options *opt,
                           const json_t *const legs[RS_COUNT], const bool ok[RS_COUNT])
{
    bool both = ok[RS_LEGACY] && ok[RS_NEW];
    for (size_t i = 0; i < opt->nsums; i++) {
        report_sum_acc *a = &r->sums[i];
        for (int s = 0; s < RS_COUNT; s++) {
            if (!ok[s])
                continue;
            const char *fmt = str_member(legs[s], "body_format");
            const json_t *body = json_object_get(legs[s], "body");
            if (!fmt || strcmp(fmt, "json") != 0 || !body ||
                json_is_true(json_object_get(legs[s], "body_truncated"))) {
                a->unusable[s]++;
                continue;
            }
            long double x;
            int dec;
            if (!report_number_of(report_pointer_get(body, opt->sums[i].path), &x, &dec)) {
                a->missing[s]++;
                continue;
            }
            if (dec > a->decimals)
                a->decimals = dec > REPORT_MAX_DECIMALS ? REPORT_MAX_DECIMALS : dec;
            if (!both) { /* the other side failed: money apart, not a gap */
                report_sum_add(&a->one_sided[s][onesided_reason(legs[1 - s])], x);
                continue;
            }
            char *gname = NULL;
            if (opt->sums[i].group)
                gname = group_text(report_pointer_get(body, opt->sums[i].group));
            report_group *g = group_get(a, gname);
            free(gname);
            if (!g) {
                a->groups_dropped++;
                continue;
            }
            report_sum_add(&g->sum[s], x);
        }
    }
}

/* ---- the sample exchange --------------------------------------------------------- */

static bool leg_is_json(const json_t *leg)
{
    const char *f = str_member(leg, "body_format");
    return f && strcmp(f, "json") == 0 && json_object_get(leg, "body");
}

static void sample_leg(report_sample *s, int side, const json_t *leg)
{
    s->status[side] = json_incref(json_object_get(leg, "status"));
    const char *fmt = str_member(leg, "body_format");
    s->format[side] = fmt ? dup_max(fmt, 32) : NULL;
    json_t *body = json_object_get(leg, "body");
    if (!body || json_is_null(body))
        return;
    size_t size = json_is_string(body) ? json_string_length(body)
                                       : json_dumpb(body, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
    if (size > REPORT_SAMPLE_BODY_MAX)
        s->body_cut[side] = true;
    else
        s->body[side] = json_incref(body);
}

void report_route_add_sample(report_route *r, const json_t *rec, enum report_verdict v)
{
    if (v != RV_MISMATCH && v != RV_KNOWN)
        return;
    const json_t *legs[RS_COUNT];
    for (int i = 0; i < RS_COUNT; i++)
        legs[i] = json_object_get(rec, report_side_names[i]);
    /* a mismatch over a known difference, JSON bodies on both sides (they
     * can be shown with highlights), then the most differences (the most to see) */
    size_t nd = json_array_size(json_object_get(rec, "differences"));
    int score = ((v == RV_MISMATCH ? 2 : 1) + (leg_is_json(legs[0]) && leg_is_json(legs[1]) ? 2 : 0)) * 1000 +
                (int)(nd < SAMPLE_MAX_DIFFS ? nd : SAMPLE_MAX_DIFFS);
    if (score <= r->sample.score)
        return;
    report_sample *s = &r->sample;
    sample_clear(s);
    s->score = score;
    const char *id = str_member(rec, "id"), *method = str_member(rec, "method");
    const char *uri = str_member(rec, "uri");
    s->id = dup_max(id ? id : "", SAMPLE_ID_MAX);
    s->method = dup_max(method ? method : "", 32);
    s->uri = dup_max(uri ? uri : "", 2048);
    s->verdict = strdup(report_verdict_names[v]);
    for (int i = 0; i < RS_COUNT; i++)
        if (json_is_object(legs[i]))
            sample_leg(s, i, legs[i]);
    const json_t *diffs = json_object_get(rec, "differences");
    size_t n = json_array_size(diffs);
    if (n > SAMPLE_MAX_DIFFS)
        n = SAMPLE_MAX_DIFFS;
    s->diffs = calloc(n ? n : 1, sizeof *s->diffs);
    if (!s->diffs)
        return;
    for (size_t i = 0; i < n; i++) {
        const json_t *d = json_array_get(diffs, i);
        const char *w = str_member(d, "where"), *p = str_member(d, "path");
        const char *k = str_member(d, "kind");
        report_sample_diff *sd = &s->diffs[s->ndiffs];
        sd->where = strdup(w ? w : "?");
        sd->path = strdup(p ? p : "");
        sd->kind = strdup(k ? k : "?");
        sd->known = str_member(d, "known") != NULL;
        s->ndiffs++;
        if (!sd->where || !sd->path || !sd->kind)
            break;
    }
}

/* ---- finalize ------------------------------------------------------------------- */

static int field_cmp(const void *a, const void *b)
{
    const report_field *x = *(report_field *const *)a, *y = *(report_field *const *)b;
    if (x->exchanges != y->exchanges)
        return x->exchanges > y->exchanges ? -1 : 1;
    if (x->occurrences != y->occurrences)
        return x->occurrences > y->occurrences ? -1 : 1;
    int c = strcmp(x->where, y->where);
    if (!c)
        c = strcmp(x->path, y->path);
    if (!c)
        c = strcmp(x->kind, y->kind);
    return c;
}

static void latency_of(report_route *r)
{
    for (int s = 0; s < RS_COUNT; s++) {
        report_floats_sort(&r->lat[s]);
        r->latency[s].samples = r->lat[s].n;
        if (r->lat[s].n) {
            r->latency[s].p50 = report_quantile(r->lat[s].v, r->lat[s].n, 0.50);
            r->latency[s].p99 = report_quantile(r->lat[s].v, r->lat[s].n, 0.99);
        }
    }
}

static void buckets_of(report_route *r, const report_model *m)
{
    if (m->nbuckets == 0 || !(r->buckets = calloc(m->nbuckets, sizeof *r->buckets)))
        return;
    for (size_t i = 0; i < r->cells_cap; i++) {
        const report_cell *c = &r->cells[i];
        if (c->minute == CELL_EMPTY)
            continue;
        int64_t b = report_floor_div(c->minute * 60000 - m->bucket_start, m->bucket_ms);
        if (b < 0 || (uint64_t)b >= m->nbuckets)
            continue;
        r->buckets[b].exchanges += c->exchanges;
        r->buckets[b].compared += c->compared;
        r->buckets[b].mismatches += c->mismatches;
        r->buckets[b].errors += c->errors;
    }
}

static void suggestions_of(report_route *r)
{
    uint64_t compared = report_route_compared(r);
    if (compared < NOISE_MIN_EXCHANGES || r->nfields == 0)
        return;
    r->suggestions = calloc(r->nfields, sizeof *r->suggestions);
    if (!r->suggestions)
        return;
    for (size_t i = 0; i < r->nfields; i++) {
        report_field *f = r->fields[i];
        if (strcmp(f->where, "body") != 0 || f->known || f->path[0] == '\0')
            continue;
        noise_finish(&f->noise);
        noise_verdict v = noise_decide(&f->noise, compared); /* as `rules suggest` decides */
        char *pat = v.rule != NOISE_NONE ? report_path_pattern(f->path) : NULL;
        if (!pat)
            continue;
        int flag = v.rule == NOISE_NORMALIZE ? v.flag : -1;
        bool dup = false;
        for (size_t j = 0; j < r->nsuggestions && !dup; j++)
            dup = r->suggestions[j].normalize == flag && strcmp(r->suggestions[j].pattern, pat) == 0;
        if (dup) {
            free(pat);
            continue;
        }
        r->suggestions[r->nsuggestions++] = (report_suggestion){f, pat, v.reason, flag};
    }
}

json_t *report_route_suggested_rules(const report_route *r)
{
    if (!r->nsuggestions)
        return NULL;
    json_t *ignore = json_array(), *normalize = json_array(), *cmp = json_object();
    for (size_t i = 0; i < r->nsuggestions; i++) {
        const report_suggestion *s = &r->suggestions[i];
        if (s->normalize < 0)
            json_array_append_new(ignore, json_string(s->pattern));
        else
            json_array_append_new(normalize, json_pack("{s:s, s:b}", "path", s->pattern,
                                                       noise_flag_name(s->normalize), 1));
    }
    if (json_array_size(ignore))
        json_object_set(cmp, "ignore", ignore);
    if (json_array_size(normalize))
        json_object_set(cmp, "normalize", normalize);
    json_decref(ignore);
    json_decref(normalize);
    return json_pack("{s:o}", "compare", cmp);
}

static int group_cmp(const void *a, const void *b)
{
    const report_group *x = a, *y = b;
    if (!x->name || !y->name)
        return (x->name != NULL) - (y->name != NULL);
    return strcmp(x->name, y->name);
}

void report_route_sort_groups(report_route *r, size_t nsums)
{
    for (size_t i = 0; i < nsums; i++)
        if (r->sums[i].ngroups > 1)
            qsort(r->sums[i].groups, r->sums[i].ngroups, sizeof *r->sums[i].groups, group_cmp);
}

void report_route_finalize(report_route *r, const report_model *m)
{
    report_route_sort_groups(r, m->opt->nsums);
    if (r->nfields > 1)
        qsort(r->fields, r->nfields, sizeof *r->fields, field_cmp);
    free(r->field_index); /* positions changed; no more lookups */
    r->field_index = NULL;
    r->field_index_cap = 0;
    latency_of(r);
    buckets_of(r, m);
    suggestions_of(r);
}

bool report_onesided_text(strbuf *b, const report_sum_acc *a, int decimals)
{
    bool any = false;
    for (int s = 0; s < RS_COUNT; s++)
        for (int k = 0; k < RO_COUNT; k++) {
            const report_sum *x = &a->one_sided[s][k];
            if (!x->count)
                continue;
            char t[96];
            report_format_decimal(report_sum_value(x), decimals, t, sizeof t);
            report_buf_printf(b, "%s%s %s in %llu exchange%s (%s: %s)", any ? "; " : "",
                              report_side_names[s], t, (unsigned long long)x->count,
                              x->count == 1 ? "" : "s", report_side_names[1 - s],
                              report_onesided_names[k]);
            any = true;
        }
    return any;
}

static void sum_merge(report_sum *to, const report_sum *from)
{
    uint64_t count = to->count + from->count;
    report_sum_add(to, from->s); /* compensated, both parts */
    report_sum_add(to, from->c);
    to->count = count;
}

int report_route_merge(report_route *total, const report_route *src, const report_model *m)
{
    for (int v = 0; v < RV_COUNT; v++)
        total->verdicts[v] += src->verdicts[v];
    for (int c = 0; c < RC_COUNT; c++)
        total->confirm[c] += src->confirm[c];
    total->exchanges += src->exchanges;
    total->fields_dropped += src->fields_dropped;
    total->diffs_truncated += src->diffs_truncated;
    for (int s = 0; s < RS_COUNT; s++) {
        total->ok2xx[s] += src->ok2xx[s];
        for (size_t i = 0; i < src->lat[s].n; i++)
            if (!report_floats_push(&total->lat[s], src->lat[s].v[i]))
                return -1;
    }
    total->both2xx += src->both2xx;
    if (m->nbuckets && !total->buckets &&
        !(total->buckets = calloc(m->nbuckets, sizeof *total->buckets)))
        return -1;
    for (size_t b = 0; src->buckets && b < m->nbuckets; b++) {
        total->buckets[b].exchanges += src->buckets[b].exchanges;
        total->buckets[b].compared += src->buckets[b].compared;
        total->buckets[b].mismatches += src->buckets[b].mismatches;
        total->buckets[b].errors += src->buckets[b].errors;
    }
    for (size_t i = 0; i < m->opt->nsums; i++) {
        report_sum_acc *t = &total->sums[i];
        const report_sum_acc *a = &src->sums[i];
        for (int s = 0; s < RS_COUNT; s++) {
            t->missing[s] += a->missing[s];
            t->unusable[s] += a->unusable[s];
        }
        t->groups_dropped += a->groups_dropped;
        for (int s = 0; s < RS_COUNT; s++)
            for (int k = 0; k < RO_COUNT; k++)
                sum_merge(&t->one_sided[s][k], &a->one_sided[s][k]);
        if (a->decimals > t->decimals)
            t->decimals = a->decimals;
        for (size_t g = 0; g < a->ngroups; g++) {
            report_group *tg = group_get(t, a->groups[g].name);
            if (!tg) {
                t->groups_dropped++;
                continue;
            }
            for (int s = 0; s < RS_COUNT; s++)
                sum_merge(&tg->sum[s], &a->groups[g].sum[s]);
        }
    }
    return 0;
}
