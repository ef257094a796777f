/* report_html: pieces of the HTML report (report_html.c) kept apart and
 * unit-tested: HTML escaping, a JSON body pretty-printed with differing
 * paths highlighted, and the drift chart as inline SVG. Everything that
 * comes from a log goes through report_html_esc. */
#ifndef SP_REPORT_HTML_H
#define SP_REPORT_HTML_H

#include "tools/report/report_model.h"
#include "base/strbuf.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* s as HTML text or attribute value: & < > " ' escaped, control characters
 * and bytes that are not UTF-8 shown as U+FFFD. */
void report_html_esc(strbuf *b, const char *s);
void report_html_escn(strbuf *b, const char *s, size_t n);

typedef struct report_html_mark {
    char *concrete; /* pointer into this body (report_path_resolve) */
    const char *label; /* the difference's path and kind, shown as a tooltip */
} report_html_mark;

/* body pretty-printed (2-space indent) as escaped HTML; each value whose
 * pointer is one of marks[] (with its member name) is wrapped in
 * <mark class="d">. At most max bytes of HTML (then "…"). */
void report_html_json(strbuf *b, const json_t *body, const report_html_mark *marks, size_t nmarks,
                      size_t max);

/* The drift chart: one bar per bucket (mismatch rate, or mismatches when
 * !rates), a tooltip per bar, axis labels. aria: the chart's label. */
void report_html_svg(strbuf *b, const report_bucket *buckets, size_t n, bool rates, int64_t start_ms,
                     int64_t width_ms, const char *aria);

#endif
