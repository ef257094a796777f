/* readiness_out: see readiness_out.h. */
#include "tools/readiness/readiness_out.h"
#include "tools/report/report_html.h"
#include "tools/report/report_util.h"

#include <stdlib.h>
#include <string.h>

#define VALUES_SHOWN 20 /* coverage values listed per field in text and HTML */

int readiness_format_parse(const char *s, enum readiness_format *out)
{
    static const char *const names[] = {"text", "json", "html"};
    for (int i = 0; i < 3; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (enum readiness_format)i;
            return 0;
        }
    return -1;
}

static const char *str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static long long num(const json_t *o, const char *k)
{
    return (long long)json_integer_value(json_object_get(o, k));
}

static bool yes(const json_t *o, const char *k) { return json_is_true(json_object_get(o, k)); }

static const char *route_word(const json_t *r)
{
    if (!yes(r, "required"))
        return yes(r, "ready") ? "READY (not required)" : "NOT READY (not required)";
    return yes(r, "ready") ? "READY" : "NOT READY";
}

static void headline(strbuf *b, const json_t *doc)
{
    report_buf_printf(b, "%s: %lld of %lld required routes ready", yes(doc, "ready") ? "READY" : "NOT READY",
                      num(doc, "routes_ready"), num(doc, "routes_required"));
}

static void value_line(strbuf *b, const json_t *v, const char *indent)
{
    const json_t *rate = json_object_get(v, "match_rate");
    report_buf_printf(b, "%s%s: %lld seen, %lld compared", indent, str(v, "value"), num(v, "seen"),
                      num(v, "compared"));
    if (json_is_number(rate))
        report_buf_printf(b, ", %.1f%% agreeing", json_number_value(rate) * 100);
    report_buf_printf(b, "%s\n", yes(v, "ok") ? "" : "  <-");
}

static void text_of(strbuf *b, const json_t *doc)
{
    report_buf_printf(b, "shadowproxy readiness: ");
    headline(b, doc);
    report_buf_printf(b, "\nrules: %s; %lld records", json_is_string(json_object_get(doc, "rules"))
                                                         ? str(doc, "rules") : "(built-in criteria)",
                      num(doc, "records"));
    if (json_is_string(json_object_get(doc, "from")))
        report_buf_printf(b, " from %s to %s", str(doc, "from"), str(doc, "to"));
    report_buf_printf(b, "\n");
    size_t i, k, n;
    const json_t *r, *c, *v;
    json_array_foreach(json_object_get(doc, "routes"), i, r) {
        report_buf_printf(b, "\n%s: %s (%lld exchanges, %lld compared)\n", str(r, "route"),
                          route_word(r), num(r, "exchanges"), num(r, "compared"));
        json_array_foreach(json_object_get(r, "criteria"), k, c) {
            report_buf_printf(b, "  %-4s  %s: %s\n", yes(c, "ok") ? "ok" : "FAIL", str(c, "criterion"),
                              str(c, "reason"));
            json_array_foreach(json_object_get(c, "values"), n, v) {
                if (n == VALUES_SHOWN) {
                    report_buf_printf(b, "          ... %zu more\n",
                                      json_array_size(json_object_get(c, "values")) - n);
                    break;
                }
                value_line(b, v, "          ");
            }
        }
    }
}

static void html_of(strbuf *b, const json_t *doc)
{
    report_buf_printf(b, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                         "<title>Cutover readiness</title><style>"
                         "body{font:14px system-ui,sans-serif;margin:2em;max-width:70em}"
                         "table{border-collapse:collapse;margin:.5em 0 1.5em}"
                         "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}"
                         ".ok{color:#176b2c;font-weight:bold}.fail{color:#b00020;font-weight:bold}"
                         "ul{margin:.3em 0;padding-left:1.2em}</style></head><body>\n<h1>Cutover readiness: "
                         "<span class=\"%s\">", yes(doc, "ready") ? "ok" : "fail");
    strbuf h = {0};
    headline(&h, doc);
    report_html_esc(b, h.p ? h.p : "");
    free(h.p);
    report_buf_printf(b, "</span></h1>\n<p>Rules: ");
    report_html_esc(b, json_is_string(json_object_get(doc, "rules")) ? str(doc, "rules") : "(built-in criteria)");
    report_buf_printf(b, "; %lld records", num(doc, "records"));
    if (json_is_string(json_object_get(doc, "from"))) {
        report_buf_printf(b, " from ");
        report_html_esc(b, str(doc, "from"));
        report_buf_printf(b, " to ");
        report_html_esc(b, str(doc, "to"));
    }
    report_buf_printf(b, "; made ");
    report_html_esc(b, str(doc, "generated"));
    report_buf_printf(b, ".</p>\n");
    size_t i, k, n;
    const json_t *r, *c, *v;
    json_array_foreach(json_object_get(doc, "routes"), i, r) {
        report_buf_printf(b, "<h2>");
        report_html_esc(b, str(r, "route"));
        report_buf_printf(b, ": <span class=\"%s\">%s</span></h2>\n<p>%lld exchanges, %lld compared</p>\n"
                             "<table><tr><th>Criterion</th><th>Verdict</th><th>Reason</th></tr>\n",
                          yes(r, "ready") ? "ok" : "fail", route_word(r), num(r, "exchanges"),
                          num(r, "compared"));
        json_array_foreach(json_object_get(r, "criteria"), k, c) {
            report_buf_printf(b, "<tr><td>");
            report_html_esc(b, str(c, "criterion"));
            report_buf_printf(b, "</td><td class=\"%s\">%s</td><td>", yes(c, "ok") ? "ok" : "fail",
                              yes(c, "ok") ? "ok" : "FAIL");
            report_html_esc(b, str(c, "reason"));
            const json_t *values = json_object_get(c, "values");
            if (json_array_size(values))
                report_buf_printf(b, "<ul>");
            json_array_foreach(values, n, v) {
                if (n == VALUES_SHOWN)
                    break;
                strbuf line = {0};
                value_line(&line, v, "");
                report_buf_printf(b, "<li%s>", yes(v, "ok") ? "" : " class=\"fail\"");
                report_html_esc(b, line.p ? line.p : "");
                report_buf_printf(b, "</li>");
                free(line.p);
            }
            if (json_array_size(values))
                report_buf_printf(b, "</ul>");
            report_buf_printf(b, "</td></tr>\n");
        }
        report_buf_printf(b, "</table>\n");
    }
    report_buf_printf(b, "</body></html>\n");
}

int readiness_write(FILE *out, enum readiness_format fmt, const json_t *doc)
{
    strbuf b = {0};
    if (fmt == RF_JSON) {
        report_json_append(&b, doc, 2, 0);
        report_buf_printf(&b, "\n");
    } else if (fmt == RF_HTML) {
        html_of(&b, doc);
    } else {
        text_of(&b, doc);
    }
    int rc = b.oom || !b.p || fwrite(b.p, 1, b.len, out) != b.len ? -1 : 0;
    free(b.p);
    return rc;
}
