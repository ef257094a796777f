/* report_html: `--format html`, one self-contained file that works from an
 * e-mail attachment (file://): inline CSS and SVG, no script at all, no
 * external reference of any kind (links are in-page anchors only), and a
 * Content-Security-Policy that forbids loading anything even if a value
 * slipped through. Every value from a log is escaped (report_html_esc);
 * route sections get ids from their position (#r1), never from log data. */
#include "tools/report/report_html.h"
#include "tools/report/report_out.h"

#include <stdlib.h>
#include <string.h>

#define LIT(b, s) strbuf_add((b), "" s, sizeof(s) - 1) /* literals only */
#define STR(b, s) strbuf_add((b), (s), strlen(s))
#define BODY_HTML_MAX (2u << 20)

static const char css[] =
    "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;color:#1d2330;"
    "background:#f6f7f9}"
    "header,main,footer{max-width:1200px;margin:0 auto;padding:0 16px}"
    "header{padding-top:12px}h1{font-size:22px;margin:8px 0}h2{font-size:18px;margin:0 0 8px}"
    "h3{font-size:15px;margin:16px 0 6px}h4{margin:4px 0;font-size:13px}"
    ".meta{color:#555;margin:2px 0}"
    "nav{position:sticky;top:0;background:#1d2330;padding:6px 16px;z-index:1}"
    "nav a{color:#fff;margin-right:14px;text-decoration:none;font-size:13px}nav a:hover{text-decoration:underline}"
    "section{background:#fff;border:1px solid #dde1e7;border-radius:6px;margin:14px 0;padding:12px 16px}"
    "section:target{border-color:#3b6fd8;box-shadow:0 0 0 2px #3b6fd833}section{scroll-margin-top:40px}"
    "table.routes td:first-child{white-space:nowrap}"
    "table{border-collapse:collapse;margin:4px 0 8px;font-size:13px}"
    "th,td{border-bottom:1px solid #e6e8ec;padding:3px 8px;text-align:left;vertical-align:top}"
    "th{background:#f0f2f5;font-weight:600}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}"
    "tr.total td{font-weight:600;border-top:2px solid #ccd}"
    "code,pre,.path{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}"
    ".path{word-break:break-all}"
    ".bad{color:#b3261e;font-weight:600}.ok{color:#1e7b34}.muted{color:#777}"
    ".known{background:#eef3ff}.tag{display:inline-block;border-radius:3px;padding:0 5px;font-size:11px;"
    "background:#e4e7ec;margin-left:4px}.tag.k{background:#d8e4ff}.tag.h{background:#ffd9d6}"
    ".notes li{margin:2px 0}"
    "pre.snippet{background:#f4f6f8;border:1px solid #dde1e7;padding:8px;overflow:auto}"
    ".sbs{display:grid;grid-template-columns:1fr 1fr;gap:10px}"
    ".side{min-width:0}.side pre{background:#fbfbfc;border:1px solid #dde1e7;padding:8px;overflow:auto;"
    "max-height:520px;margin:0;white-space:pre}"
    "mark.d{background:#ffe08a;border-radius:2px;outline:1px solid #e0b400}"
    ".js{color:#0b6e4f}.jn{color:#1f4fb5}.jk{color:#8a3ffc}.jkey{color:#6b2f00}"
    "svg.drift{max-width:100%;height:auto;background:#fff}svg .plot{fill:#f7f8fa}"
    "svg .bar{fill:#d9534f}svg .nodata{fill:#d0d4da}svg .axis{font-size:11px;fill:#555}svg .err{fill:none;stroke:#1f5fa8;stroke-width:1.5}"
    "footer{color:#777;font-size:12px;padding-bottom:24px}";

static void esc(strbuf *b, const char *s) { report_html_esc(b, s); }

static void num_td(strbuf *b, uint64_t n) { report_buf_printf(b, "<td class=\"n\">%llu</td>", (unsigned long long)n); }

static void pct_td(strbuf *b, bool ok, double x, bool bad_if_positive)
{
    if (!ok) {
        LIT(b, "<td class=\"n muted\">-</td>");
        return;
    }
    report_buf_printf(b, "<td class=\"n%s\">%.*f%%</td>", bad_if_positive && x > 0 ? " bad" : "",
                      x == 0 || x >= 0.01 ? 1 : 2, x * 100);
}

static void ms_td(strbuf *b, bool ok, double x, bool sign)
{
    if (!ok)
        LIT(b, "<td class=\"n muted\">-</td>");
    else
        report_buf_printf(b, sign ? "<td class=\"n\">%+.1f</td>" : "<td class=\"n\">%.1f</td>", x);
}

static void time_text(strbuf *b, int64_t ms)
{
    char t[40];
    report_format_time(ms, false, t, sizeof t);
    strbuf_add(b, t, strlen(t));
}

/* ---- summary -------------------------------------------------------------------- */

static void route_row(strbuf *b, const report_route *rt, size_t idx, bool total)
{
    double x = 0;
    STR(b, total ? "<tr class=\"total\"><td>" : "<tr><td>");
    if (!total)
        report_buf_printf(b, "<a href=\"#r%zu\">", idx + 1);
    esc(b, rt->name);
    STR(b, total ? "</td>" : "</a></td>");
    num_td(b, rt->exchanges);
    bool ok = report_route_rate(rt, RV_MATCH, &x);
    pct_td(b, ok, x, false);
    ok = report_route_rate(rt, RV_MISMATCH, &x);
    pct_td(b, ok, x, true);
    for (int v = 0; v < RV_OTHER; v++)
        num_td(b, rt->verdicts[v]);
    const report_latency *l = rt->latency;
    for (int s = 0; s < RS_COUNT; s++) {
        if (l[s].samples)
            report_buf_printf(b, "<td class=\"n\">%.1f / %.1f</td>", l[s].p50, l[s].p99);
        else
            LIT(b, "<td class=\"n muted\">-</td>");
    }
    bool both = l[RS_LEGACY].samples && l[RS_NEW].samples;
    ms_td(b, both, l[RS_NEW].p99 - l[RS_LEGACY].p99, true);
    LIT(b, "</tr>\n");
}

static void routes_table(strbuf *b, const report_model *m)
{
    static const char *const abbr[] = {"match", "mismatch", "known", "shadow err.", "timeout",
                                        "dropped", "skipped", "auth. err.", "w. paused", "id unkn."};
    _Static_assert(sizeof abbr / sizeof abbr[0] == RV_OTHER, "one heading per verdict");
    LIT(b, "<div style=\"overflow-x:auto\"><table class=\"routes\"><thead><tr><th>route</th>"
           "<th class=\"n\">exchanges</th><th class=\"n\">match %</th><th class=\"n\">mismatch %</th>");
    for (int v = 0; v < RV_OTHER; v++)
        report_buf_printf(b, "<th class=\"n\"><abbr title=\"%s\">%s</abbr></th>", report_verdict_names[v],
                          abbr[v]);
    LIT(b, "<th class=\"n\">legacy p50 / p99 ms</th><th class=\"n\">new p50 / p99 ms</th>"
           "<th class=\"n\">&Delta;p99 ms</th></tr></thead><tbody>\n");
    for (size_t i = 0; i < m->nroutes; i++)
        route_row(b, m->routes[i], i, false);
    if (m->total && m->nroutes > 1)
        route_row(b, m->total, 0, true);
    LIT(b, "</tbody></table></div>\n<p class=\"muted\">Rates are over compared exchanges (match + mismatch + "
           "known). Latency: legs that got an HTTP answer; &Delta; is new minus legacy.</p>\n");
}

static void notes(strbuf *b, const report_render *r)
{
    const report_model *m = r->m;
    strbuf n = {0};
    if (m->used && !report_model_has_matches(m))
        LIT(&n, "<li class=\"bad\">No <code>match</code> record in the input: the log was written in "
                "diff-log mode <code>mismatches</code>, so match rates and shares are over logged "
                "records only.</li>");
    for (size_t i = 0; i < m->ninputs; i++) {
        const report_input *in = &m->inputs[i];
        if (in->st.torn) {
            LIT(&n, "<li><span class=\"path\">");
            esc(&n, in->path);
            LIT(&n, "</span>: its last line is torn (the log was cut mid-write); that record is not "
                    "counted.</li>");
        }
        if (in->st.invalid || in->st.too_long) {
            LIT(&n, "<li><span class=\"path\">");
            esc(&n, in->path);
            report_buf_printf(&n, "</span>: %llu line(s) that are not records were skipped.</li>",
                              (unsigned long long)(in->st.invalid + in->st.too_long));
        }
        if (in->error) {
            LIT(&n, "<li class=\"bad\">");
            esc(&n, in->error);
            LIT(&n, " (the report covers what was read)</li>");
        }
    }
    bool odd = false;
    for (size_t i = 0; i < m->nversions; i++)
        odd = odd || strcmp(m->versions[i].label, "1") != 0;
    if (odd) {
        LIT(&n, "<li>Schema versions:");
        for (size_t i = 0; i < m->nversions; i++) {
            LIT(&n, " v=");
            esc(&n, m->versions[i].label);
            report_buf_printf(&n, ": %llu%s", (unsigned long long)m->versions[i].count,
                              i + 1 < m->nversions ? "," : "");
        }
        LIT(&n, " (read with the fields this report knows).</li>");
    }
    if (m->no_ts)
        report_buf_printf(&n, "<li>%llu record(s) without a readable <code>ts</code>: counted, not in the "
                          "drift.</li>", (unsigned long long)m->no_ts);
    if (n.len) {
        LIT(b, "<h3>Notes</h3><ul class=\"notes\">");
        strbuf_add(b, n.p, n.len);
        LIT(b, "</ul>\n");
    }
    free(n.p);
}

static void inputs_table(strbuf *b, const report_model *m)
{
    LIT(b, "<h3>Inputs</h3><table><thead><tr><th>file</th><th class=\"n\">lines</th><th class=\"n\">records"
           "</th><th class=\"n\">used</th><th class=\"n\">torn</th><th class=\"n\">invalid</th>"
           "<th class=\"n\">too long</th><th>status</th></tr></thead><tbody>\n");
    for (size_t i = 0; i < m->ninputs; i++) {
        const report_input *in = &m->inputs[i];
        LIT(b, "<tr><td class=\"path\">");
        esc(b, strcmp(in->path, "-") == 0 ? "(stdin)" : in->path);
        LIT(b, "</td>");
        num_td(b, in->st.lines);
        num_td(b, in->st.records);
        num_td(b, in->used);
        num_td(b, in->st.torn);
        num_td(b, in->st.invalid);
        num_td(b, in->st.too_long);
        LIT(b, "<td>");
        if (in->duplicate)
            LIT(b, "same file as an earlier one: read once");
        else if (in->error) {
            LIT(b, "<span class=\"bad\">");
            esc(b, in->error);
            LIT(b, "</span>");
        } else
            LIT(b, "<span class=\"ok\">read</span>");
        LIT(b, "</td></tr>\n");
    }
    LIT(b, "</tbody></table>\n");
}

static void gates(strbuf *b, const report_render *r)
{
    if (!r->nfailifs)
        return;
    LIT(b, "<h3>Fail-if</h3><table><thead><tr><th>condition</th><th>result</th><th>value</th></tr>"
           "</thead><tbody>\n");
    for (size_t i = 0; i < r->nfailifs; i++) {
        const report_failif_result *res = &r->failifs[i];
        LIT(b, "<tr><td><code>");
        esc(b, res->f->text);
        LIT(b, "</code></td>");
        if (res->holds)
            LIT(b, "<td class=\"bad\">holds</td>");
        else
            STR(b, res->defined ? "<td class=\"ok\">does not hold</td>" : "<td class=\"muted\">no data</td>");
        char v[64] = "-";
        if (res->defined)
            report_failif_format(res->f, res->value, v, sizeof v);
        LIT(b, "<td>");
        esc(b, v);
        LIT(b, "</td></tr>\n");
    }
    LIT(b, "</tbody></table>\n");
}

static void drift_block(strbuf *b, const report_route *rt, const report_model *m, const char *what)
{
    if (!m->nbuckets || !rt->buckets)
        return;
    bool rates = report_model_has_matches(m);
    char w[24];
    report_format_duration(m->bucket_ms, w, sizeof w);
    report_buf_printf(b, "<h3>Drift</h3><p class=\"muted\">%s per %s bucket (grey: no %s)</p>\n",
                      rates ? "Mismatch rate" : "Mismatches", w, rates ? "compared exchange" : "record");
    report_html_svg(b, rt->buckets, m->nbuckets, rates, m->bucket_start, m->bucket_ms, what);
    LIT(b, "\n");
}

/* ---- one route ------------------------------------------------------------------- */

static void example_cell(strbuf *b, const report_example *ex)
{
    LIT(b, "<td><code>");
    if (ex->present)
        esc(b, ex->text);
    else
        LIT(b, "<span class=\"muted\">(absent)</span>");
    LIT(b, "</code></td>");
}

static void fields_table(strbuf *b, const report_route *rt, size_t top)
{
    uint64_t compared = report_route_compared(rt);
    if (!rt->nfields) {
        LIT(b, "<p class=\"muted\">No differing field.</p>\n");
        return;
    }
    report_buf_printf(b, "<h3>Differing fields</h3><p class=\"muted\">Paths generalized (indexes and keyed "
                      "elements as <code>*</code>); share of the %llu compared exchange(s). Known "
                      "differences (accepted by a rule) are marked.</p>\n", (unsigned long long)compared);
    LIT(b, "<table class=\"fields\"><thead><tr><th>where</th><th>path</th><th>kind</th>"
           "<th class=\"n\">exchanges</th><th class=\"n\">share</th><th>legacy</th><th>new</th>"
           "<th>sample request ids</th></tr></thead><tbody>\n");
    size_t shown = 0;
    for (size_t i = 0; i < rt->nfields && (!top || shown < top); i++, shown++) {
        const report_field *f = rt->fields[i];
        STR(b, f->known ? "<tr class=\"known\"><td>" : "<tr><td>");
        esc(b, f->where);
        LIT(b, "</td><td class=\"path\">");
        esc(b, f->path[0] ? f->path : "(whole)");
        if (f->known) {
            LIT(b, "<span class=\"tag k\" title=\"known difference\">known: ");
            esc(b, f->known);
            LIT(b, "</span>");
        }
        LIT(b, "</td><td>");
        esc(b, f->kind);
        LIT(b, "</td>");
        num_td(b, f->exchanges);
        pct_td(b, compared > 0, compared ? (double)f->exchanges / (double)compared : 0, false);
        for (int s = 0; s < RS_COUNT; s++)
            example_cell(b, &f->example[s]);
        LIT(b, "<td><code>");
        for (size_t k = 0; k < f->nsample_ids; k++) {
            if (k)
                LIT(b, "<br>");
            esc(b, f->sample_ids[k]);
        }
        LIT(b, "</code></td></tr>\n");
    }
    LIT(b, "</tbody></table>\n");
    if (shown < rt->nfields)
        report_buf_printf(b, "<p class=\"muted\">&hellip; and %zu more field(s) (<code>--top 0</code> "
                          "shows all).</p>\n", rt->nfields - shown);
}

/* One --sum's table over the exchanges both sides answered 2xx. */
static void sum_table(strbuf *b, const report_sum_acc *a, const report_sum_spec *spec, int dec)
{
    LIT(b, "<table><caption>sum of <code>");
    esc(b, spec->path);
    LIT(b, "</code>");
    if (spec->group) {
        LIT(b, " by <code>");
        esc(b, spec->group);
        LIT(b, "</code>");
    }
    LIT(b, ", exchanges both sides answered 2xx</caption><thead><tr><th>group</th><th class=\"n\">legacy</th>"
           "<th class=\"n\">n</th><th class=\"n\">new</th><th class=\"n\">n</th>"
           "<th class=\"n\">gap (new &minus; legacy)</th></tr></thead><tbody>\n");
    for (size_t g = 0; g < a->ngroups; g++) {
        const report_group *gr = &a->groups[g];
        char t[96];
        LIT(b, "<tr><td>");
        esc(b, gr->name ? gr->name : spec->group ? "(none)" : "all");
        LIT(b, "</td>");
        for (int s = 0; s < RS_COUNT; s++) {
            report_format_decimal(report_sum_value(&gr->sum[s]), dec, t, sizeof t);
            report_buf_printf(b, "<td class=\"n\">%s</td>", t);
            num_td(b, gr->sum[s].count);
        }
        long double gap = report_sum_value(&gr->sum[RS_NEW]) - report_sum_value(&gr->sum[RS_LEGACY]);
        report_format_decimal(gap, dec, t, sizeof t);
        bool zero = strspn(t[0] == '-' ? t + 1 : t, "0.") == strlen(t[0] == '-' ? t + 1 : t);
        report_buf_printf(b, "<td class=\"n%s\">%s</td></tr>\n", zero ? "" : " bad", t);
    }
    LIT(b, "</tbody></table>\n");
}

static void recon_block(strbuf *b, const report_route *rt, const report_options *opt)
{
    report_buf_printf(b, "<h3>Reconciliation</h3><p>2xx answers: legacy %llu, new %llu (both %llu).</p>\n",
                      (unsigned long long)rt->ok2xx[RS_LEGACY], (unsigned long long)rt->ok2xx[RS_NEW],
                      (unsigned long long)rt->both2xx);
    for (size_t i = 0; i < opt->nsums; i++) {
        const report_sum_acc *a = &rt->sums[i];
        int dec = a->decimals < 2 ? 2 : a->decimals;
        if (a->ngroups) {
            sum_table(b, a, &opt->sums[i], dec);
        } else { /* no empty table */
            LIT(b, "<p>sum of <code>");
            esc(b, opt->sums[i].path);
            LIT(b, "</code>: no exchange both sides answered 2xx with a number there.</p>\n");
        }
        strbuf one = {0};
        if (report_onesided_text(&one, a, dec)) {
            LIT(b, "<p>Only one side answered 2xx (not in the gap): ");
            esc(b, one.p);
            LIT(b, ".</p>\n");
        }
        free(one.p);
        report_buf_printf(b, "<p class=\"muted\">2xx bodies without a number there: legacy %llu, new %llu; "
                          "not usable (not JSON, or cut): legacy %llu, new %llu.</p>\n",
                          (unsigned long long)a->missing[RS_LEGACY], (unsigned long long)a->missing[RS_NEW],
                          (unsigned long long)a->unusable[RS_LEGACY], (unsigned long long)a->unusable[RS_NEW]);
    }
}

static void suggestions_block(strbuf *b, const report_route *rt)
{
    if (!rt->nsuggestions)
        return;
    uint64_t compared = report_route_compared(rt);
    LIT(b, "<h3>Noise suggestions</h3><p><strong>A suggestion, to review before use:</strong> normalize "
           "where the values are equal once normalised in most exchanges; ignore where a field differs "
           "in at least 90% of the compared exchanges and its values look generated.</p>"
           "<table><thead><tr><th>path</th><th class=\"n\">share</th><th>rule</th><th>why</th></tr></thead><tbody>\n");
    for (size_t i = 0; i < rt->nsuggestions; i++) {
        const report_suggestion *s = &rt->suggestions[i];
        LIT(b, "<tr><td class=\"path\">");
        esc(b, s->field->path);
        LIT(b, "</td>");
        pct_td(b, true, (double)s->field->exchanges / (double)compared, false);
        LIT(b, "<td>");
        esc(b, s->normalize < 0 ? "ignore" : noise_flag_name(s->normalize));
        LIT(b, "</td><td>");
        esc(b, s->reason);
        LIT(b, "</td></tr>\n");
    }
    LIT(b, "</tbody></table>\n<p>Rules snippet for ");
    if (strcmp(rt->name, "default") == 0) {
        LIT(b, "the rules file&#39;s <code>default</code>");
    } else {
        LIT(b, "route <code>");
        esc(b, rt->name);
        LIT(b, "</code>");
    }
    LIT(b, " (merge into its <code>compare</code> if it has one):</p><pre class=\"snippet\">");
    json_t *snippet = report_route_suggested_rules(rt);
    strbuf j = {0};
    report_json_append(&j, snippet, 2, 0);
    json_decref(snippet);
    if (j.p && j.len > 4) /* the inner members: `"compare": {...}` */
        report_html_escn(b, j.p + 4, j.len - 6);
    free(j.p);
    LIT(b, "</pre>\n");
}

static void sample_side(strbuf *b, const report_sample *s, int side)
{
    LIT(b, "<div class=\"side\"><h4>");
    STR(b, side == RS_LEGACY ? "legacy" : "new");
    if (json_is_integer(s->status[side]))
        report_buf_printf(b, " &middot; status %lld", (long long)json_integer_value(s->status[side]));
    if (s->format[side]) {
        LIT(b, " &middot; ");
        esc(b, s->format[side]);
    }
    LIT(b, "</h4><pre>");
    const json_t *body = s->body[side];
    if (s->body_cut[side]) {
        LIT(b, "<span class=\"muted\">(body too large to show here)</span>");
    } else if (!body) {
        LIT(b, "<span class=\"muted\">(no body)</span>");
    } else if (json_is_string(body) && (!s->format[side] || strcmp(s->format[side], "json") != 0)) {
        report_html_escn(b, json_string_value(body), json_string_length(body));
    } else {
        report_html_mark *marks = calloc(s->ndiffs ? s->ndiffs : 1, sizeof *marks);
        char **labels = calloc(s->ndiffs ? s->ndiffs : 1, sizeof *labels);
        size_t n = 0;
        for (size_t i = 0; marks && labels && i < s->ndiffs; i++) {
            if (strcmp(s->diffs[i].where, "body") != 0)
                continue;
            strbuf l = {0};
            report_buf_printf(&l, "%s %s%s", s->diffs[i].path[0] ? s->diffs[i].path : "(whole body)",
                              s->diffs[i].kind, s->diffs[i].known ? " (known)" : "");
            labels[n] = l.p;
            marks[n].label = l.p ? l.p : "";
            marks[n].concrete = report_path_resolve(body, s->diffs[i].path);
            n++;
        }
        report_html_json(b, body, marks, n, BODY_HTML_MAX);
        for (size_t i = 0; i < n; i++) {
            free(marks[i].concrete);
            free(labels[i]);
        }
        free(marks);
        free(labels);
    }
    LIT(b, "</pre></div>");
}

static void sample_block(strbuf *b, const report_sample *s)
{
    if (!s->score)
        return;
    LIT(b, "<h3>Sample exchange</h3><p>Request <code>");
    esc(b, s->id);
    LIT(b, "</code>: <code>");
    esc(b, s->method);
    LIT(b, " ");
    esc(b, s->uri);
    LIT(b, "</code>, verdict <strong>");
    esc(b, s->verdict);
    LIT(b, "</strong>. Differing paths are highlighted.</p>\n");
    if (s->ndiffs) {
        LIT(b, "<table class=\"sdiffs\"><thead><tr><th>where</th><th>path</th><th>kind</th></tr></thead><tbody>");
        for (size_t i = 0; i < s->ndiffs; i++) {
            LIT(b, "<tr><td>");
            esc(b, s->diffs[i].where);
            LIT(b, "</td><td class=\"path\">");
            esc(b, s->diffs[i].path[0] ? s->diffs[i].path : "-");
            if (s->diffs[i].known)
                LIT(b, "<span class=\"tag k\">known</span>");
            LIT(b, "</td><td>");
            esc(b, s->diffs[i].kind);
            LIT(b, "</td></tr>");
        }
        LIT(b, "</tbody></table>\n");
    }
    LIT(b, "<div class=\"sbs\">");
    sample_side(b, s, RS_LEGACY);
    sample_side(b, s, RS_NEW);
    LIT(b, "</div>\n");
}

static void route_section(strbuf *b, const report_route *rt, size_t idx, const report_render *r)
{
    double x = 0;
    report_buf_printf(b, "<section id=\"r%zu\" class=\"route\"><h2>Route <code>", idx + 1);
    esc(b, rt->name);
    LIT(b, "</code></h2>\n<p>");
    report_buf_printf(b, "%llu exchange(s), %llu compared", (unsigned long long)rt->exchanges,
                      (unsigned long long)report_route_compared(rt));
    if (report_route_rate(rt, RV_MATCH, &x))
        report_buf_printf(b, "; match rate <strong>%.1f%%</strong>", x * 100);
    if (report_route_rate(rt, RV_MISMATCH, &x))
        report_buf_printf(b, ", mismatch rate <strong%s>%.1f%%</strong>", x > 0 ? " class=\"bad\"" : "",
                          x * 100);
    LIT(b, ".</p>\n<table><thead><tr>");
    for (int v = 0; v < RV_COUNT; v++)
        report_buf_printf(b, "<th class=\"n\">%s</th>", report_verdict_names[v]);
    LIT(b, "</tr></thead><tbody><tr>");
    for (int v = 0; v < RV_COUNT; v++)
        num_td(b, rt->verdicts[v]);
    LIT(b, "</tr></tbody></table>\n");
    const uint64_t *c = rt->confirm; /* rules "confirm": mismatches read again */
    if (c[RC_TRANSIENT] + c[RC_CONFIRMED] + c[RC_FAILED] + c[RC_SKIPPED])
        report_buf_printf(b, "<p class=\"confirm\">Mismatches read again: <strong>%llu transient</strong> "
                          "(equal on the re-read), <strong>%llu confirmed</strong>, %llu failed, "
                          "%llu skipped.</p>\n", (unsigned long long)c[RC_TRANSIENT],
                          (unsigned long long)c[RC_CONFIRMED], (unsigned long long)c[RC_FAILED],
                          (unsigned long long)c[RC_SKIPPED]);
    fields_table(b, rt, r->top);
    drift_block(b, rt, r->m, rt->name);
    recon_block(b, rt, r->opt);
    suggestions_block(b, rt);
    sample_block(b, &rt->sample);
    LIT(b, "</section>\n");
}

/* One row of e's values: each column "KIND:key", KIND s (text), p (a
 * rate, as a percentage) or n (a count). */
static void json_row(strbuf *b, const json_t *e, const char *const *cols)
{
    LIT(b, "<tr>");
    for (const char *const *c = cols; *c; c++) {
        const json_t *v = json_object_get(e, *c + 2);
        if (**c == 'p') {
            pct_td(b, json_is_number(v), json_number_value(v), false);
        } else if (**c == 'n') {
            num_td(b, (uint64_t)json_integer_value(v));
        } else {
            const char *s = json_string_value(v);
            LIT(b, "<td>");
            esc(b, s && *s ? s : "-");
            LIT(b, "</td>");
        }
    }
    LIT(b, "</tr>\n");
}

/* --baseline: what changed since the earlier run (report_baseline_build's
 * JSON), as two tables. */
static void baseline_section(strbuf *b, const json_t *bl)
{
    if (!bl)
        return;
    static const char *const route_cols[] = {"s:name", "s:change", "p:old_mismatch_rate",
                                             "p:new_mismatch_rate", "n:old_exchanges",
                                             "n:new_exchanges", NULL};
    static const char *const field_cols[] = {"s:route", "s:where", "s:path", "s:kind", "s:known",
                                             "s:change", "p:old_share", "p:new_share",
                                             "n:old_exchanges", "n:new_exchanges", NULL};
    const json_t *routes = json_object_get(bl, "routes"), *fields = json_object_get(bl, "fields"), *e;
    size_t i;
    report_buf_printf(b, "<section id=\"baseline\"><h2>Baseline</h2>\n<p>Since the earlier run "
                      "(%lld records; this run %lld): what appeared, disappeared, rose or fell "
                      "(by 1 point or more).</p>\n",
                      (long long)json_integer_value(json_object_get(bl, "old_records")),
                      (long long)json_integer_value(json_object_get(bl, "new_records")));
    if (!json_array_size(routes) && !json_array_size(fields))
        LIT(b, "<p>Nothing appeared, disappeared, rose or fell.</p>\n");
    if (json_array_size(routes)) {
        LIT(b, "<h3>Routes</h3><table class=\"baseline-routes\"><thead><tr><th>route</th>"
               "<th>change</th><th>mismatch rate before</th><th>after</th><th>exchanges before</th>"
               "<th>after</th></tr></thead><tbody>\n");
        json_array_foreach(routes, i, e)
            json_row(b, e, route_cols);
        LIT(b, "</tbody></table>\n");
    }
    if (json_array_size(fields)) {
        LIT(b, "<h3>Fields</h3><p>Share: exchanges with the difference / compared exchanges of the "
               "route.</p><table class=\"baseline-fields\"><thead><tr><th>route</th><th>where</th>"
               "<th>path</th><th>kind</th><th>known</th><th>change</th><th>share before</th>"
               "<th>after</th><th>exchanges before</th><th>after</th></tr></thead><tbody>\n");
        json_array_foreach(fields, i, e)
            json_row(b, e, field_cols);
        LIT(b, "</tbody></table>\n");
    }
    LIT(b, "</section>\n");
}

int report_html_write(FILE *out, const report_render *r)
{
    const report_model *m = r->m;
    strbuf b = {0};
    LIT(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            "style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'\">\n"
            "<meta name=\"referrer\" content=\"no-referrer\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            "<title>shadowproxy report</title>\n<style>");
    strbuf_add(&b, css, sizeof css - 1);
    LIT(&b, "</style></head><body>\n<header><h1>shadowproxy report</h1><p class=\"meta\">");
    report_buf_printf(&b, "%zu route(s), %llu exchange(s) from %zu input(s); made ", m->nroutes,
                      (unsigned long long)m->used, m->ninputs);
    time_text(&b, r->now_ms);
    if (m->has_ts) {
        LIT(&b, "; records from ");
        time_text(&b, m->ts_min);
        LIT(&b, " to ");
        time_text(&b, m->ts_max);
    }
    LIT(&b, ".</p></header>\n<nav><a href=\"#summary\">Summary</a>");
    for (size_t i = 0; i < m->nroutes; i++) {
        report_buf_printf(&b, "<a href=\"#r%zu\">", i + 1);
        esc(&b, m->routes[i]->name);
        LIT(&b, "</a>");
    }
    if (r->baseline)
        LIT(&b, "<a href=\"#baseline\">Baseline</a>");
    LIT(&b, "</nav>\n<main>\n<section id=\"summary\"><h2>Summary</h2>\n");
    notes(&b, r);
    if (m->nroutes)
        routes_table(&b, m);
    else
        LIT(&b, "<p>No records.</p>\n");
    if (m->total)
        drift_block(&b, m->total, m, "all routes");
    inputs_table(&b, m);
    gates(&b, r);
    LIT(&b, "</section>\n");
    for (size_t i = 0; i < m->nroutes; i++)
        route_section(&b, m->routes[i], i, r);
    baseline_section(&b, r->baseline);
    LIT(&b, "</main>\n<footer>Made by <code>shadowproxy report</code>; the values come from the diff log "
            "and may hold production data: share with care.</footer>\n</body></html>\n");
    int rc = b.oom ? -1 : 0;
    if (rc == 0 && fwrite(b.p, 1, b.len, out) != b.len)
        rc = -1;
    free(b.p);
    return rc;
}
