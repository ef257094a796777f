/* report_html_parts: see report_html.h. */
#include "tools/report/report_html.h"
#include "tools/report/report_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIT(b, s) strbuf_add((b), "" s, sizeof(s) - 1) /* literals only */
#define STR(b, s) strbuf_add((b), (s), strlen(s))

void report_html_escn(strbuf *b, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t run = 0; /* bytes copied as they are, flushed before each escape */
    while (n > 0) {
        uint32_t cp;
        size_t l = report_utf8_char(p + run, n, &cp);
        const char *rep = NULL;
        if (l == 0) {
            rep = "\xef\xbf\xbd";
            l = 1;
        } else if (cp == '&') {
            rep = "&amp;";
        } else if (cp == '<') {
            rep = "&lt;";
        } else if (cp == '>') {
            rep = "&gt;";
        } else if (cp == '"') {
            rep = "&quot;";
        } else if (cp == '\'') {
            rep = "&#39;";
        } else if ((cp < 0x20 && cp != '\n' && cp != '\t') || (cp >= 0x7f && cp <= 0x9f)) {
            rep = "\xef\xbf\xbd";
        }
        if (rep) {
            strbuf_add(b, p, run);
            strbuf_add(b, rep, strlen(rep));
            p += run + l;
            run = 0;
        } else {
            run += l;
        }
        n -= l;
    }
    strbuf_add(b, p, run);
}

void report_html_esc(strbuf *b, const char *s) { report_html_escn(b, s ? s : "", s ? strlen(s) : 0); }

/* ---- JSON with marks ------------------------------------------------------------- */

typedef struct pj {
    strbuf *b;
    const report_html_mark *marks;
    size_t nmarks;
    size_t max;
    strbuf ptr; /* the current concrete pointer */
} pj;

static const report_html_mark *mark_at(const pj *c)
{
    const char *p = c->ptr.p ? c->ptr.p : "";
    for (size_t i = 0; i < c->nmarks; i++)
        if (c->marks[i].concrete && strcmp(c->marks[i].concrete, p) == 0)
            return &c->marks[i];
    return NULL;
}

static void indent(pj *c, int depth)
{
    LIT(c->b, "\n");
    for (int i = 0; i < depth; i++)
        LIT(c->b, "  ");
}

static void scalar(pj *c, const json_t *v)
{
    strbuf t = {0};
    report_json_append(&t, v, -1, 4096);
    const char *cls = json_is_string(v) ? "js" : json_is_number(v) ? "jn" : "jk";
    report_buf_printf(c->b, "<span class=\"%s\">", cls);
    if (t.p)
        report_html_escn(c->b, t.p, t.len);
    if (t.len >= 4096)
        LIT(c->b, "\xe2\x80\xa6");
    LIT(c->b, "</span>");
    free(t.p);
}

static void open_mark(pj *c, const report_html_mark *m)
{
    LIT(c->b, "<mark class=\"d\" title=\"");
    report_html_esc(c->b, m->label);
    LIT(c->b, "\">");
}

static void value(pj *c, const json_t *v, int depth, bool marked);

/* One member or element: its pointer is ptr + "/" + seg (escaped). */
static void child(pj *c, const char *key, size_t idx, const json_t *v, int depth, bool marked)
{
    size_t saved = c->ptr.len;
    LIT(&c->ptr, "/");
    if (key) {
        for (const char *k = key; *k; k++) {
            if (*k == '~')
                LIT(&c->ptr, "~0");
            else if (*k == '/')
                LIT(&c->ptr, "~1");
            else
                strbuf_add(&c->ptr, k, 1);
        }
    } else {
        report_buf_printf(&c->ptr, "%zu", idx);
    }
    const report_html_mark *m = marked ? NULL : mark_at(c);
    indent(c, depth);
    if (m)
        open_mark(c, m);
    if (key) {
        json_t *k = json_string(key);
        LIT(c->b, "<span class=\"jkey\">");
        strbuf t = {0};
        report_json_append(&t, k, -1, 0);
        if (t.p)
            report_html_escn(c->b, t.p, t.len);
        free(t.p);
        json_decref(k);
        LIT(c->b, "</span>: ");
    }
    value(c, v, depth, marked || m);
    if (m)
        LIT(c->b, "</mark>");
    c->ptr.len = saved;
    if (c->ptr.p)
        c->ptr.p[saved] = '\0';
}

static void value(pj *c, const json_t *v, int depth, bool marked)
{
    if (c->b->len > c->max)
        return;
    if (json_is_object(v) && json_object_size(v)) {
        LIT(c->b, "{");
        const char *k;
        json_t *x;
        size_t i = 0, n = json_object_size(v);
        json_object_foreach((json_t *)v, k, x) {
            child(c, k, 0, x, depth + 1, marked);
            if (++i < n)
                LIT(c->b, ",");
            if (c->b->len > c->max)
                return;
        }
        indent(c, depth);
        LIT(c->b, "}");
    } else if (json_is_array(v) && json_array_size(v)) {
        LIT(c->b, "[");
        for (size_t i = 0; i < json_array_size(v); i++) {
            child(c, NULL, i, json_array_get(v, i), depth + 1, marked);
            if (i + 1 < json_array_size(v))
                LIT(c->b, ",");
            if (c->b->len > c->max)
                return;
        }
        indent(c, depth);
        LIT(c->b, "]");
    } else if (json_is_object(v)) {
        LIT(c->b, "{}");
    } else if (json_is_array(v)) {
        LIT(c->b, "[]");
    } else {
        scalar(c, v);
    }
}

void report_html_json(strbuf *b, const json_t *body, const report_html_mark *marks, size_t nmarks,
                      size_t max)
{
    pj c = {b, marks, nmarks, b->len + max, {0}};
    const report_html_mark *m = mark_at(&c); /* "" marks the whole body */
    if (m)
        open_mark(&c, m);
    value(&c, body, 0, m != NULL);
    if (m)
        LIT(b, "</mark>");
    if (b->len > c.max)
        LIT(b, "\n\xe2\x80\xa6 (cut: the body is too long to show)");
    free(c.ptr.p);
}

/* ---- the drift chart -------------------------------------------------------------- */

#define SVG_W 720
#define SVG_H 150
#define PLOT_TOP 12
#define PLOT_H 100

static double mismatch_value(const report_bucket *k, bool rates)
{
    return rates ? (k->compared ? (double)k->mismatches / (double)k->compared : 0) : (double)k->mismatches;
}

/* The error rate (errors / exchanges), or the error count in mode
 * `mismatches` (then bars are counts too: one scale for both). */
static double error_value(const report_bucket *k, bool rates)
{
    return rates ? (k->exchanges ? (double)k->errors / (double)k->exchanges : 0) : (double)k->errors;
}

void report_html_svg(strbuf *b, const report_bucket *buckets, size_t n, bool rates, int64_t start_ms,
                     int64_t width_ms, const char *aria)
{
    double max = 0;
    bool errors = false;
    for (size_t i = 0; i < n; i++) {
        double v = mismatch_value(&buckets[i], rates), e = error_value(&buckets[i], rates);
        max = v > max ? v : max;
        max = e > max ? e : max;
        errors = errors || buckets[i].errors;
    }
    LIT(b, "<svg class=\"drift\" role=\"img\" viewBox=\"0 0 720 150\" width=\"720\" height=\"150\" aria-label=\"");
    report_html_esc(b, aria);
    LIT(b, "\">");
    report_buf_printf(b, "<rect x=\"0\" y=\"%d\" width=\"%d\" height=\"%d\" class=\"plot\"/>", PLOT_TOP,
                      SVG_W, PLOT_H);
    double bw = n ? (double)SVG_W / (double)n : SVG_W;
    strbuf line = {0};
    for (size_t i = 0; i < n; i++) {
        const report_bucket *k = &buckets[i];
        bool data = rates ? k->compared > 0 : k->exchanges > 0;
        double v = mismatch_value(k, rates);
        double h = max > 0 ? v / max * PLOT_H : 0;
        if (data && v > 0 && h < 1.5)
            h = 1.5;
        char t[40];
        report_format_time(start_ms + (int64_t)i * width_ms, false, t, sizeof t);
        double x = (double)i * bw;
        report_buf_printf(b, "<g><title>%s: ", t);
        if (!data)
            STR(b, rates ? "no compared exchange" : "no record");
        else if (rates)
            report_buf_printf(b, "%llu of %llu compared exchanges mismatched (%.1f%%)",
                              (unsigned long long)k->mismatches, (unsigned long long)k->compared, v * 100);
        else
            report_buf_printf(b, "%llu mismatches among %llu logged records", (unsigned long long)k->mismatches,
                              (unsigned long long)k->exchanges);
        if (k->exchanges)
            report_buf_printf(b, "; %llu errors of %llu exchanges (%.1f%%)", (unsigned long long)k->errors,
                              (unsigned long long)k->exchanges, 100.0 * (double)k->errors / (double)k->exchanges);
        LIT(b, "</title>");
        report_buf_printf(b, "<rect class=\"%s\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\"/>",
                          data ? "bar" : "nodata", x + 0.5, data ? PLOT_TOP + PLOT_H - h : PLOT_TOP + PLOT_H - 3.0,
                          bw > 2 ? bw - 1 : bw, data ? h : 3.0);
        LIT(b, "</g>");
        if (k->exchanges) { /* the error rate: a line over the bars, same scale */
            double e = error_value(k, rates);
            report_buf_printf(&line, "%.2f,%.2f ", x + bw / 2, PLOT_TOP + PLOT_H - (max > 0 ? e / max * PLOT_H : 0));
        }
    }
    if (errors && line.p)
        report_buf_printf(b, "<polyline class=\"err\" points=\"%s\"/>", line.p);
    free(line.p);
    char t1[40], t2[40], m[32];
    report_format_time(start_ms, false, t1, sizeof t1);
    report_format_time(start_ms + (int64_t)n * width_ms, false, t2, sizeof t2);
    if (rates)
        snprintf(m, sizeof m, "%.1f%%", max * 100);
    else
        snprintf(m, sizeof m, "%.0f", max);
    /* axes: the y scale (top, 0), the time span (UTC), and a legend */
    report_buf_printf(b, "<text x=\"2\" y=\"10\" class=\"axis\">%s %s</text>", rates ? "rate, max" : "count, max", m);
    report_buf_printf(b, "<text x=\"2\" y=\"%d\" class=\"axis\">0</text>", PLOT_TOP + PLOT_H - 2);
    report_buf_printf(b, "<text x=\"2\" y=\"%d\" class=\"axis\">%s</text>", SVG_H - 24, t1);
    report_buf_printf(b, "<text x=\"%d\" y=\"%d\" class=\"axis\" text-anchor=\"middle\">time (UTC)</text>",
                      SVG_W / 2, SVG_H - 24);
    report_buf_printf(b, "<text x=\"%d\" y=\"%d\" class=\"axis\" text-anchor=\"end\">%s</text>", SVG_W - 2,
                      SVG_H - 24, t2);
    report_buf_printf(b, "<rect x=\"2\" y=\"%d\" width=\"10\" height=\"8\" class=\"bar\"/>"
                      "<text x=\"16\" y=\"%d\" class=\"axis\">%s</text>"
                      "<line x1=\"170\" y1=\"%d\" x2=\"186\" y2=\"%d\" class=\"err\"/>"
                      "<text x=\"190\" y=\"%d\" class=\"axis\">%s</text>",
                      SVG_H - 10, SVG_H - 2, rates ? "mismatch rate (of compared)" : "mismatches",
                      SVG_H - 6, SVG_H - 6, SVG_H - 2, rates ? "error rate (of exchanges)" : "errors");
    LIT(b, "</svg>");
}
