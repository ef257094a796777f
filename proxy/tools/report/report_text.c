/* report_text: the text report, for a terminal: 80 columns (narrow tables,
 * sample ids on their own lines, prose wrapped), or 100 with --wide or a
 * terminal that wide (report_render.width).
 * Everything that comes from a log is cleaned for the terminal: control
 * characters, C1 controls and bidirectional overrides become '?', so a
 * hostile log cannot move the cursor or reorder what is shown. */
#include "tools/report/report_out.h"
#include "tools/report/report_text_cells.h"

#include <stdlib.h>
#include <string.h>

#define NAME_W 18

/* ---- header, inputs, notes -------------------------------------------------------- */

static void header(strbuf *b, const report_render *r)
{
    const report_model *m = r->m;
    char t1[40], t2[40], span[24];
    report_format_time(r->now_ms, false, t1, sizeof t1);
    report_buf_printf(b, "shadowproxy report: %zu route(s), %llu exchange(s) from %zu input(s), made %s\n",
                      m->nroutes, (unsigned long long)m->used, m->ninputs, t1);
    if (m->has_ts) {
        report_format_time(m->ts_min, false, t1, sizeof t1);
        report_format_time(m->ts_max, false, t2, sizeof t2);
        report_format_duration((m->ts_max - m->ts_min) / 1000 * 1000, span, sizeof span);
        report_buf_printf(b, "records from %s to %s (%s)\n", t1, t2, span);
    }
    if (r->opt->has_since || r->opt->has_until || r->opt->nroutes) {
        LIT(b, "filters:");
        if (r->opt->has_since) {
            report_format_time(r->opt->since_ms, false, t1, sizeof t1);
            report_buf_printf(b, " since %s", t1);
        }
        if (r->opt->has_until) {
            report_format_time(r->opt->until_ms, false, t1, sizeof t1);
            report_buf_printf(b, " until %s", t1);
        }
        for (size_t i = 0; i < r->opt->nroutes; i++) {
            strbuf_add(b, i ? ", " : " route ", i ? 2 : 7);
            text_put(b, r->opt->routes[i], 40, false);
        }
        report_buf_printf(b, " (%llu record(s) left out by time, %llu by route)\n",
                          (unsigned long long)m->filtered_time, (unsigned long long)m->filtered_route);
    }
}

static void inputs(strbuf *b, const report_model *m, bool narrow)
{
    size_t pw = narrow ? 26 : 39; /* the file name's columns */
    LIT(b, "\ninputs");
    text_pad(b, pw + 2 - 6);
    text_cell_right(b, "lines", 9);
    text_cell_right(b, "records", 9);
    text_cell_right(b, "used", 9);
    text_cell_right(b, "torn", 7);
    text_cell_right(b, "invalid", 9);
    text_cell_right(b, "too long", 9);
    LIT(b, "\n");
    for (size_t i = 0; i < m->ninputs; i++) {
        const report_input *in = &m->inputs[i];
        LIT(b, "  ");
        size_t w = text_put(b, strcmp(in->path, "-") == 0 ? "(stdin)" : in->path, pw, true);
        text_pad(b, pw - w);
        if (in->duplicate) {
            LIT(b, "  the same file as an earlier argument: read once\n");
            continue;
        }
        text_num_cell(b, in->st.lines, 9);
        text_num_cell(b, in->st.records, 9);
        text_num_cell(b, in->used, 9);
        text_num_cell(b, in->st.torn, 7);
        text_num_cell(b, in->st.invalid, 9);
        text_num_cell(b, in->st.too_long, 9);
        LIT(b, "\n");
        if (in->error) {
            LIT(b, "    error: ");
            text_put(b, in->error, 85, false);
            LIT(b, "\n");
        }
    }
}

static void notes(strbuf *b, const report_render *r)
{
    const report_model *m = r->m;
    strbuf n = {0};
    if (m->used && !report_model_has_matches(m))
        LIT(&n, "  - no `match` record in the input: the log was written in diff-log mode\n"
                       "    `mismatches`, so match rates and shares are over logged records only\n");
    uint64_t torn = 0, bad = 0, failed = 0;
    for (size_t i = 0; i < m->ninputs; i++) {
        torn += m->inputs[i].st.torn;
        bad += m->inputs[i].st.invalid + m->inputs[i].st.too_long;
        failed += m->inputs[i].failed;
    }
    if (torn)
        report_buf_printf(&n, "  - %llu torn last line(s): a log cut mid-write; the cut record is not counted\n",
                          (unsigned long long)torn);
    if (bad)
        report_buf_printf(&n, "  - %llu line(s) that are not records (invalid JSON, not an object, too long) "
                          "were skipped\n", (unsigned long long)bad);
    if (failed)
        report_buf_printf(&n, "  - %llu input(s) could not be read to the end: the report covers what was "
                          "read\n", (unsigned long long)failed);
    bool odd_version = false;
    for (size_t i = 0; i < m->nversions; i++)
        odd_version = odd_version || strcmp(m->versions[i].label, "1") != 0;
    if (odd_version) {
        LIT(&n, "  - schema versions:");
        for (size_t i = 0; i < m->nversions; i++)
            report_buf_printf(&n, "%s v=%s: %llu", i ? "," : "", m->versions[i].label,
                              (unsigned long long)m->versions[i].count);
        LIT(&n, "\n    (read with the fields this report knows; others are ignored)\n");
    }
    if (m->overload_records)
        report_buf_printf(&n, "  - %llu exchange(s) have no record of their own: the comparers or the "
                          "writer were behind,\n    and %llu `overload` record(s) count them; the "
                          "tables leave them out\n", (unsigned long long)m->overload_unlogged,
                          (unsigned long long)m->overload_records);
    if (m->not_mirrored_records)
        report_buf_printf(&n, "  - %llu exchange(s) were not mirrored by choice (shadow off, paused, not "
                          "sampled, ...):\n    %llu `not_mirrored` record(s) count them; the tables "
                          "count them as skipped\n", (unsigned long long)m->not_mirrored_exchanges,
                          (unsigned long long)m->not_mirrored_records);
    if (m->no_ts)
        report_buf_printf(&n, "  - %llu record(s) without a readable ts: counted, but not in the drift\n",
                          (unsigned long long)m->no_ts);
    const report_route *t = m->total;
    if (t && t->verdicts[RV_WRITE_PAUSED])
        report_buf_printf(&n, "  - %llu write(s) answered 503 while writes were paused "
                          "(write_paused: in exchanges only; per route in --format json and the HTML)\n",
                          (unsigned long long)t->verdicts[RV_WRITE_PAUSED]);
    if (t && t->verdicts[RV_ID_UNKNOWN])
        report_buf_printf(&n, "  - %llu request(s) not mirrored: the id ledger did not know their id "
                          "(id_unknown: in exchanges only)\n",
                          (unsigned long long)t->verdicts[RV_ID_UNKNOWN]);
    if (t && t->verdicts[RV_OTHER])
        report_buf_printf(&n, "  - %llu record(s) with a missing or unknown verdict (in exchanges only)\n",
                          (unsigned long long)t->verdicts[RV_OTHER]);
    if (t && t->fields_dropped)
        report_buf_printf(&n, "  - %llu difference(s) not grouped: too many distinct fields\n",
                          (unsigned long long)t->fields_dropped);
    if (t && t->diffs_truncated)
        report_buf_printf(&n, "  - %llu record(s) list fewer differences than were found "
                          "(compare.max_differences)\n", (unsigned long long)t->diffs_truncated);
    if (n.len) {
        LIT(b, "\nnotes\n");
        strbuf_add(b, n.p, n.len);
    }
    free(n.p);
}

/* ---- the route tables ------------------------------------------------------------ */

/* Column widths: [0] the wide layout (100 columns), [1] the narrow (80). */
static const size_t verdict_w[2][8] = {{8, 9, 7, 9, 11, 11, 8, 9}, {7, 7, 7, 7, 7, 7, 7, 7}};
static const size_t rate_w[2][9] = {{8, 10, 8, 11, 8, 9, 8, 8, 8}, {7, 7, 7, 7, 7, 7, 7, 7, 7}};
static const size_t name_w[2] = {NAME_W, 16};
static const size_t exch_w[2] = {10, 8};

static void verdict_row(strbuf *b, const report_route *rt, bool narrow)
{
    LIT(b, "  ");
    text_cell(b, rt->name, name_w[narrow] - 2, false);
    text_num_cell(b, rt->exchanges, exch_w[narrow]);
    for (int v = 0; v < RV_WRITE_PAUSED; v++) /* write_paused: a note (80 columns) */
        text_num_cell(b, rt->verdicts[v], verdict_w[narrow][v]);
    LIT(b, "\n");
}

static void rate_row(strbuf *b, const report_route *rt, bool narrow)
{
    char t[32];
    double x = 0;
    const size_t *rw = rate_w[narrow];
    LIT(b, "  ");
    text_cell(b, rt->name, name_w[narrow] - 2, false);
    bool ok = report_route_rate(rt, RV_MATCH, &x);
    text_pct(t, sizeof t, ok, x);
    text_cell_right(b, t, rw[0]);
    ok = report_route_rate(rt, RV_MISMATCH, &x);
    text_pct(t, sizeof t, ok, x);
    text_cell_right(b, t, rw[1]);
    ok = report_route_rate(rt, RV_KNOWN, &x);
    text_pct(t, sizeof t, ok, x);
    text_cell_right(b, t, rw[2]);
    const report_latency *l = rt->latency;
    for (int i = 0; i < 4; i++) {
        const report_latency *s = &l[i / 2];
        if (s->samples)
            snprintf(t, sizeof t, "%.1f", i % 2 ? s->p99 : s->p50);
        else
            snprintf(t, sizeof t, "-");
        text_cell_right(b, t, rw[3 + i]);
    }
    for (int i = 0; i < 2; i++) {
        if (l[RS_LEGACY].samples && l[RS_NEW].samples)
            snprintf(t, sizeof t, "%+.1f", i ? l[RS_NEW].p99 - l[RS_LEGACY].p99
                                             : l[RS_NEW].p50 - l[RS_LEGACY].p50);
        else
            snprintf(t, sizeof t, "-");
        text_cell_right(b, t, rw[7 + i]);
    }
    LIT(b, "\n");
}

static void route_tables(strbuf *b, const report_model *m, bool narrow)
{
    static const char *const vh[2][8] = {
        {"match", "mismatch", "known", "sh.error", "sh.timeout", "sh.dropped", "skipped", "auth.err"},
        {"match", "mism.", "known", "sh.err", "sh.tmo", "sh.drp", "skip", "au.err"}};
    LIT(b, "\nverdicts");
    text_pad(b, name_w[narrow] - 8);
    text_cell_right(b, narrow ? "exch." : "exchanges", exch_w[narrow]);
    for (int v = 0; v < RV_WRITE_PAUSED; v++)
        text_cell_right(b, vh[narrow][v], verdict_w[narrow][v]);
    LIT(b, "\n");
    for (size_t i = 0; i < m->nroutes; i++)
        verdict_row(b, m->routes[i], narrow);
    if (m->total && m->nroutes != 1)
        verdict_row(b, m->total, narrow);
    static const char *const rh[2][9] = {
        {"match%", "mismatch%", "known%", "legacy p50", "p99", "new p50", "p99", "\xce\x94p50", "\xce\x94p99"},
        {"match%", "mism.%", "known%", "l.p50", "l.p99", "n.p50", "n.p99", "\xce\x94p50", "\xce\x94p99"}};
    LIT(b, "\nrates, ms");
    text_pad(b, name_w[narrow] - 9);
    for (int i = 0; i < 9; i++)
        text_cell_right(b, rh[narrow][i], rate_w[narrow][i]);
    LIT(b, "\n");
    for (size_t i = 0; i < m->nroutes; i++)
        rate_row(b, m->routes[i], narrow);
    if (m->total && m->nroutes != 1)
        rate_row(b, m->total, narrow);
    LIT(b, "  (rates over compared exchanges: match + mismatch + known; latency: legs with "
                  "an HTTP answer)\n");
}

/* ---- drift ---------------------------------------------------------------------- */

#define SPARK_MAX 60
#define SPARK_NARROWER 12 /* fewer characters in 80 columns */

/* What a sparkline shows: the mismatch rate, mismatches (mode
 * `mismatches`: no compared total), or the error rate (errors / exchanges). */
enum spark_kind { SPARK_MISMATCH_RATE, SPARK_MISMATCHES, SPARK_ERROR_RATE };

static bool bucket_value(const report_bucket *k, enum spark_kind kind, double *v)
{
    if (kind == SPARK_ERROR_RATE) {
        if (!k->exchanges)
            return false;
        *v = (double)k->errors / (double)k->exchanges;
        return true;
    }
    bool rates = kind == SPARK_MISMATCH_RATE;
    if (rates) {
        if (!k->compared)
            return false;
        *v = (double)k->mismatches / (double)k->compared;
    } else {
        if (!k->exchanges)
            return false;
        *v = (double)k->mismatches;
    }
    return true;
}

/* The buckets that character c of a sparkline stands for, added up. */
static report_bucket char_bucket(const report_route *rt, const report_model *m, size_t c,
                                 size_t per)
{
    report_bucket k = {0};
    for (size_t i = c * per; i < (c + 1) * per && i < m->nbuckets; i++) {
        k.exchanges += rt->buckets[i].exchanges;
        k.compared += rt->buckets[i].compared;
        k.mismatches += rt->buckets[i].mismatches;
        k.errors += rt->buckets[i].errors;
    }
    return k;
}

static void sparkline(strbuf *b, const char *label, const report_route *rt, const report_model *m,
                      enum spark_kind kind, bool narrow)
{
    static const char *const level[] = {"\xe2\x96\x81", "\xe2\x96\x82", "\xe2\x96\x83", "\xe2\x96\x84",
                                        "\xe2\x96\x85", "\xe2\x96\x86", "\xe2\x96\x87", "\xe2\x96\x88"};
    size_t chars_max = SPARK_MAX - (narrow ? SPARK_NARROWER : 0);
    size_t per = (m->nbuckets + chars_max - 1) / chars_max; /* buckets per character */
    double max = 0;
    size_t chars = 0;
    for (size_t c = 0; c * per < m->nbuckets; c++) {
        report_bucket k = char_bucket(rt, m, c, per);
        double v;
        if (bucket_value(&k, kind, &v) && v > max)
            max = v;
    }
    LIT(b, "  ");
    text_cell(b, label, name_w[narrow] - 2, false);
    LIT(b, " ");
    for (size_t c = 0; c * per < m->nbuckets; c++, chars++) {
        report_bucket k = char_bucket(rt, m, c, per);
        double v;
        if (!bucket_value(&k, kind, &v))
            LIT(b, " ");
        else if (v <= 0 || max <= 0)
            LIT(b, "_");
        else {
            int l = (int)(v / max * 8 + 0.999999) - 1;
            l = l < 0 ? 0 : l > 7 ? 7 : l;
            strbuf_add(b, level[l], 3);
        }
    }
    text_pad(b, chars < chars_max ? chars_max - chars : 0);
    char t[32];
    if (kind != SPARK_MISMATCHES)
        text_pct(t, sizeof t, true, max);
    else
        snprintf(t, sizeof t, "%.0f", max);
    report_buf_printf(b, " max %s\n", t);
}

static void drift(strbuf *b, const report_model *m, bool narrow)
{
    if (!m->nbuckets || !m->total || !m->total->buckets)
        return;
    bool rates = report_model_has_matches(m);
    char w[24], t1[40], t2[40];
    report_format_duration(m->bucket_ms, w, sizeof w);
    report_format_time(m->bucket_start, false, t1, sizeof t1);
    report_format_time(m->bucket_start + (int64_t)m->nbuckets * m->bucket_ms, false, t2, sizeof t2);
    size_t chars_max = SPARK_MAX - (narrow ? SPARK_NARROWER : 0);
    size_t per = (m->nbuckets + chars_max - 1) / chars_max;
    report_buf_printf(b, "\ndrift: %s, and the error rate (\"errors\" rows), per %s bucket%s,\n"
                      "  %s to %s\n", rates ? "mismatch rate" : "mismatches", w,
                      per > 1 ? " (several per character)" : "", t1, t2);
    report_buf_printf(b, "  (_ none; blank: %s in that bucket)\n",
                      rates ? "no compared exchange" : "no record");
    enum spark_kind kind = rates ? SPARK_MISMATCH_RATE : SPARK_MISMATCHES;
    for (size_t i = 0; i <= m->nroutes; i++) {
        const report_route *rt = i == 0 ? m->total : m->routes[i - 1];
        if ((i > 0 && m->nroutes < 2) || !rt->buckets)
            continue;
        sparkline(b, rt->name, rt, m, kind, narrow);
        if (report_route_errors(rt))
            sparkline(b, "  errors", rt, m, SPARK_ERROR_RATE, narrow);
    }
}

/* ---- one route in detail ------------------------------------------------------- */

/* Diffy's noise rate beside the difference rate: exchanges where the two
 * legacy answers (secondary) differed at this field too. */
static void noise_line(strbuf *b, const report_field *f, uint64_t compared)
{
    if (!f->noise_exchanges)
        return;
    char t[32];
    text_pct(t, sizeof t, compared > 0, compared ? (double)f->noise_exchanges / (double)compared : 0);
    report_buf_printf(b, "           noise %s (%llu exch.: legacy asked again differed too)\n",
                      t, (unsigned long long)f->noise_exchanges);
}

static void example_line(strbuf *b, const report_field *f, size_t width)
{
    if (!f->has_example)
        return;
    LIT(b, "           ");
    size_t w = 11;
    if (f->known) {
        LIT(b, "rule ");
        w += 5 + text_put(b, f->known, 30, false);
        LIT(b, ": ");
        w += 2;
    }
    size_t room = (width - w - 12) / 2;
    for (int s = 0; s < RS_COUNT; s++) {
        strbuf_add(b, s ? "  new " : "legacy ", s ? 6 : 7);
        const report_example *ex = &f->example[s];
        text_put(b, ex->present ? ex->text : "(absent)", room, false);
    }
    LIT(b, "\n");
}

/* The sample ids, whole (an id is what one greps the diff log for), on
 * lines of their own, as many per line as fit. */
static void id_lines(strbuf *b, const report_field *f, size_t width)
{
    size_t w = 0;
    for (size_t k = 0; k < f->nsample_ids; k++) {
        size_t c = text_cols(f->sample_ids[k]);
        if (!w || w + 2 + c > width) {
            if (k)
                LIT(b, ",\n               ");
            else
                LIT(b, "           ids ");
            w = 15;
        } else {
            LIT(b, ", ");
            w += 2;
        }
        w += text_put(b, f->sample_ids[k], c ? c : 1, false);
    }
    if (f->nsample_ids)
        LIT(b, "\n");
}

static void field_rows(strbuf *b, const report_route *rt, bool known, size_t top, size_t width)
{
    bool narrow = width < 100;
    uint64_t compared = report_route_compared(rt);
    size_t shown = 0, total = 0;
    for (size_t i = 0; i < rt->nfields; i++)
        total += (rt->fields[i]->known != NULL) == known;
    if (!total)
        return;
    if (known)
        report_buf_printf(b, "  known differences (accepted by a rule of the route, not mismatches)\n");
    else
        report_buf_printf(b, "  differing fields (share: of %llu compared exchange(s))\n",
                          (unsigned long long)compared);
    if (narrow)
        LIT(b, "    where  path                                  kind     exch.  share\n");
    else
        LIT(b, "    where  path                                  kind     exch.  share  sample ids\n");
    for (size_t i = 0; i < rt->nfields; i++) {
        const report_field *f = rt->fields[i];
        if ((f->known != NULL) != known)
            continue;
        if (top && shown == top)
            break;
        shown++;
        LIT(b, "    ");
        text_cell(b, f->where, 6, false);
        LIT(b, " ");
        text_cell(b, f->path[0] ? f->path : (strcmp(f->where, "body") == 0 ? "(whole body)" : "-"), 37, false);
        LIT(b, " ");
        text_cell(b, f->kind, 7, false);
        text_num_cell(b, f->exchanges, 7);
        char t[32];
        text_pct(t, sizeof t, compared > 0, compared ? (double)f->exchanges / (double)compared : 0);
        text_cell_right(b, t, 7);
        if (narrow) {
            LIT(b, "\n");
            id_lines(b, f, width);
        } else {
            LIT(b, "  ");
            size_t w = 72, k = 0;
            for (; k < f->nsample_ids; k++) { /* whole ids, while they fit */
                size_t c = text_cols(f->sample_ids[k]);
                if (k && w + 2 + c > width - 4)
                    break;
                if (k) {
                    LIT(b, ", ");
                    w += 2;
                }
                w += text_put(b, f->sample_ids[k], c ? c : 1, false);
            }
            if (k < f->nsample_ids)
                report_buf_printf(b, " +%zu", f->nsample_ids - k);
            LIT(b, "\n");
        }
        example_line(b, f, width);
        noise_line(b, f, compared);
    }
    if (shown < total)
        report_buf_printf(b, "    ... and %zu more (--top 0 shows all; --format json lists all)\n",
                          total - shown);
}

/* Money on one side only: shown apart, so a failing side is not read as
 * missing money. */
static void onesided_line(strbuf *b, const report_sum_acc *a, int dec)
{
    strbuf t = {0};
    if (report_onesided_text(&t, a, dec)) {
        LIT(b, "    only one side answered 2xx (not in the gap): ");
        text_put(b, t.p, 400, false);
        LIT(b, "\n");
    }
    free(t.p);
}

static void recon(strbuf *b, const report_route *rt, const report_options *opt)
{
    report_buf_printf(b, "  2xx answers: legacy %llu, new %llu (both %llu)\n",
                      (unsigned long long)rt->ok2xx[RS_LEGACY], (unsigned long long)rt->ok2xx[RS_NEW],
                      (unsigned long long)rt->both2xx);
    for (size_t i = 0; i < opt->nsums; i++) {
        const report_sum_acc *a = &rt->sums[i];
        int dec = a->decimals < 2 ? 2 : a->decimals;
        LIT(b, "  sum of ");
        text_put(b, opt->sums[i].path, 40, false);
        if (opt->sums[i].group) {
            LIT(b, " by ");
            text_put(b, opt->sums[i].group, 30, false);
        }
        if (!a->ngroups) {
            report_buf_printf(b, ": no exchange both sides answered 2xx with a number there\n"
                              "    (without one: legacy %llu, new %llu; not usable: legacy %llu, new %llu)\n",
                              (unsigned long long)a->missing[RS_LEGACY], (unsigned long long)a->missing[RS_NEW],
                              (unsigned long long)a->unusable[RS_LEGACY], (unsigned long long)a->unusable[RS_NEW]);
            onesided_line(b, a, dec);
            continue;
        }
        LIT(b, " (exchanges both sides answered 2xx)\n"
           "    group                         legacy       n             new       n             gap\n");
        for (size_t g = 0; g < a->ngroups; g++) {
            const report_group *gr = &a->groups[g];
            char t[96];
            LIT(b, "    ");
            text_cell(b, gr->name ? gr->name : (opt->sums[i].group ? "(none)" : "all"), 20, false);
            for (int s = 0; s < RS_COUNT; s++) {
                report_format_decimal(report_sum_value(&gr->sum[s]), dec, t, sizeof t);
                text_cell_right(b, t, 16);
                text_num_cell(b, gr->sum[s].count, 8);
            }
            report_format_decimal(report_sum_value(&gr->sum[RS_NEW]) - report_sum_value(&gr->sum[RS_LEGACY]),
                                  dec, t, sizeof t);
            text_cell_right(b, t, 16);
            LIT(b, "\n");
        }
        report_buf_printf(b, "    without a number there: legacy %llu, new %llu; not usable "
                          "(not JSON, or cut): legacy %llu, new %llu\n",
                          (unsigned long long)a->missing[RS_LEGACY], (unsigned long long)a->missing[RS_NEW],
                          (unsigned long long)a->unusable[RS_LEGACY], (unsigned long long)a->unusable[RS_NEW]);
        onesided_line(b, a, dec);
        if (a->groups_dropped)
            report_buf_printf(b, "    %llu value(s) in groups beyond the first %d: not summed\n",
                              (unsigned long long)a->groups_dropped, REPORT_MAX_GROUPS);
    }
}

/* JSON text with C1 controls and bidi overrides escaped (still valid JSON:
 * they can only be inside strings). */
static void put_json_safe(strbuf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t len = strlen(s);
    while (len) {
        uint32_t cp;
        size_t l = report_utf8_char(p, len, &cp);
        l = l ? l : 1;
        if (text_unsafe_cp(cp) && cp >= 0x7f)
            report_buf_printf(b, "\\u%04x", (unsigned)cp);
        else
            strbuf_add(b, p, l);
        p += l;
        len -= l;
    }
}

static void suggestions(strbuf *b, const report_route *rt)
{
    if (!rt->nsuggestions)
        return;
    uint64_t compared = report_route_compared(rt);
    LIT(b, "  noise suggestions (a suggestion only: review before use): normalize where the\n"
                  "  values are equal once normalised in most exchanges, ignore where they differ in\n"
                  "  at least 90% of compared exchanges and look generated (docs/report.md)\n");
    for (size_t i = 0; i < rt->nsuggestions; i++) {
        const report_suggestion *s = &rt->suggestions[i];
        char t[32];
        LIT(b, "    ");
        text_cell(b, s->field->path, 44, false);
        text_pct(t, sizeof t, true, (double)s->field->exchanges / (double)compared);
        text_cell_right(b, t, 8);
        report_buf_printf(b, "  %s: %s\n", s->normalize < 0 ? "ignore" : noise_flag_name(s->normalize),
                          s->reason);
    }
    json_t *snippet = report_route_suggested_rules(rt);
    strbuf j = {0};
    report_json_append(&j, snippet, REPORT_JSON_SPACED, 0);
    if (j.len > 92) { /* one pattern per line */
        free(j.p);
        j = (strbuf){0};
        report_json_append(&j, snippet, 2, 0);
    }
    json_decref(snippet);
    if (strcmp(rt->name, "default") == 0)
        LIT(b, "    rules: add to the rules file's \"default\" (merge into its \"compare\" if it has one):\n");
    else {
        LIT(b, "    rules: add to route \"");
        text_put(b, rt->name, 40, false);
        LIT(b, "\" (merge into its \"compare\" if it has one):\n");
    }
    /* the members of the outer object, each line indented */
    size_t start = 1, end = j.len > 1 ? j.len - 1 : 1;
    while (start < end && (j.p[start] == '\n' || j.p[start] == ' '))
        start++;
    while (end > start && (j.p[end - 1] == '\n' || j.p[end - 1] == ' '))
        end--;
    char *body = j.p ? strndup(j.p + start, end - start) : NULL;
    for (char *ln = body, *next; ln; ln = next) {
        next = strchr(ln, '\n');
        if (next)
            *next++ = '\0';
        LIT(b, "      ");
        put_json_safe(b, ln[0] == ' ' && ln[1] == ' ' ? ln + 2 : ln);
        LIT(b, "\n");
    }
    free(body);
    free(j.p);
}

static void route_detail(strbuf *b, const report_route *rt, const report_render *r)
{
    char m1[24], m2[24], m3[24];
    double x = 0;
    bool ok = report_route_rate(rt, RV_MATCH, &x);
    text_pct(m1, sizeof m1, ok, x);
    ok = report_route_rate(rt, RV_MISMATCH, &x);
    text_pct(m2, sizeof m2, ok, x);
    ok = report_route_rate(rt, RV_KNOWN, &x);
    text_pct(m3, sizeof m3, ok, x);
    LIT(b, "\n== ");
    text_put(b, rt->name, 60, false);
    report_buf_printf(b, " ==\n  %llu exchange(s), %llu compared: match %s, mismatch %s, known %s\n",
                      (unsigned long long)rt->exchanges, (unsigned long long)report_route_compared(rt),
                      m1, m2, m3);
    const uint64_t *c = rt->confirm;
    if (c[RC_TRANSIENT] + c[RC_CONFIRMED] + c[RC_FAILED] + c[RC_SKIPPED])
        report_buf_printf(b, "  mismatches read again: %llu transient, %llu confirmed, %llu failed, "
                          "%llu skipped\n", (unsigned long long)c[RC_TRANSIENT],
                          (unsigned long long)c[RC_CONFIRMED], (unsigned long long)c[RC_FAILED],
                          (unsigned long long)c[RC_SKIPPED]);
    size_t width = r->width && r->width < 100 ? 80 : 100;
    field_rows(b, rt, false, r->top, width);
    field_rows(b, rt, true, r->top, width);
    if (rt->fields_dropped)
        report_buf_printf(b, "  %llu difference(s) not grouped (too many distinct fields)\n",
                          (unsigned long long)rt->fields_dropped);
    recon(b, rt, r->opt);
    suggestions(b, rt);
}

static void gates(strbuf *b, const report_render *r)
{
    if (!r->nfailifs)
        return;
    LIT(b, "\nfail-if\n");
    for (size_t i = 0; i < r->nfailifs; i++) {
        const report_failif_result *res = &r->failifs[i];
        char v[64];
        strbuf_add(b, res->holds ? "  HOLDS  " : res->defined ? "  ok     " : "  n/a    ", 9);
        text_cell(b, res->f->text, 36, false);
        LIT(b, "  ");
        if (res->defined) {
            report_failif_format(res->f, res->value, v, sizeof v);
            report_buf_printf(b, "%s = %s", report_failif_metric(res->f), v);
        } else {
            report_buf_printf(b, "no data for %s", report_failif_metric(res->f));
        }
        LIT(b, " (");
        text_put(b, res->f->route ? res->f->route : "all routes", 30, false);
        LIT(b, ")\n");
    }
}

static void rate_text(char *t, size_t n, const json_t *v)
{
    text_pct(t, n, json_is_number(v), json_number_value(v));
}

static void baseline(strbuf *b, const json_t *bl)
{
    if (!bl)
        return;
    const json_t *routes = json_object_get(bl, "routes"), *fields = json_object_get(bl, "fields");
    report_buf_printf(b, "\nbaseline: since the earlier run (%lld records; this run %lld)\n",
                      (long long)json_integer_value(json_object_get(bl, "old_records")),
                      (long long)json_integer_value(json_object_get(bl, "new_records")));
    if (!json_array_size(routes) && !json_array_size(fields))
        LIT(b, "  nothing appeared, disappeared, rose or fell (by 1 point or more)\n");
    size_t i;
    const json_t *e;
    char t1[32], t2[32];
    json_array_foreach(routes, i, e) {
        rate_text(t1, sizeof t1, json_object_get(e, "old_mismatch_rate"));
        rate_text(t2, sizeof t2, json_object_get(e, "new_mismatch_rate"));
        LIT(b, "  route ");
        text_put(b, json_string_value(json_object_get(e, "name")), 40, false);
        report_buf_printf(b, " %s: mismatch rate %s -> %s\n",
                          json_string_value(json_object_get(e, "change")), t1, t2);
    }
    json_array_foreach(fields, i, e) {
        rate_text(t1, sizeof t1, json_object_get(e, "old_share"));
        rate_text(t2, sizeof t2, json_object_get(e, "new_share"));
        LIT(b, "  ");
        text_put(b, json_string_value(json_object_get(e, "route")), 24, false);
        LIT(b, " ");
        text_put(b, json_string_value(json_object_get(e, "where")), 6, false);
        LIT(b, " ");
        const char *path = json_string_value(json_object_get(e, "path"));
        text_put(b, path && *path ? path : "-", 40, false);
        report_buf_printf(b, " %s %s: %s -> %s\n", json_string_value(json_object_get(e, "kind")),
                          json_string_value(json_object_get(e, "change")), t1, t2);
    }
}

int report_text_write(FILE *out, const report_render *r)
{
    strbuf b = {0};
    bool narrow = r->width && r->width < 100;
    header(&b, r);
    inputs(&b, r->m, narrow);
    notes(&b, r);
    if (r->m->nroutes) {
        route_tables(&b, r->m, narrow);
        drift(&b, r->m, narrow);
        for (size_t i = 0; i < r->m->nroutes; i++)
            route_detail(&b, r->m->routes[i], r);
    } else {
        LIT(&b, "\nno records\n");
    }
    baseline(&b, r->baseline);
    gates(&b, r);
    if (narrow && b.p) {
        strbuf w = {0};
        report_text_wrap(&w, b.p, b.len, 80);
        free(b.p);
        b = w;
    }
    int rc = b.oom ? -1 : 0;
    if (rc == 0 && fwrite(b.p, 1, b.len, out) != b.len)
        rc = -1;
    free(b.p);
    return rc;
}
