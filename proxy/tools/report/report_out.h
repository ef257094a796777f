/* report_out: the three renderings of a finalized report model
 * (docs/report.md): text for a terminal, JSON for programs, one
 * self-contained HTML file for people. */
#ifndef SP_REPORT_OUT_H
#define SP_REPORT_OUT_H

#include "tools/report/report_failif.h"
#include "tools/report/report_model.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

typedef struct report_render {
    const report_model *m;
    const report_options *opt;
    const report_failif_result *failifs;
    size_t nfailifs;
    int64_t now_ms; /* when the report was made */
    size_t top;     /* text and HTML: fields shown per route (0: all) */
    size_t width;   /* text: 0 the 100-column layout, else 80 columns */
    const json_t *baseline; /* --baseline: report_baseline_build, or NULL */
} report_render;

/* Each returns 0, or -1 when out of memory or the write failed. */
int report_text_write(FILE *out, const report_render *r);
int report_json_write(FILE *out, const report_render *r);
int report_html_write(FILE *out, const report_render *r);
/* The per-field table only (docs/report.md, "CSV"): one row per differing
 * field of each route, RFC 4180. */
int report_csv_write(FILE *out, const report_render *r);

/* The JSON document (report_version 1), or NULL when out of memory. */
json_t *report_json_build(const report_render *r);

/* What changed from the run `old` to `neu` (both finalized): {"old_records",
 * "new_records", "routes": [{name, change, old_mismatch_rate,
 * new_mismatch_rate, old_exchanges, new_exchanges}], "fields": [{route,
 * where, path, kind, known, change, old_share, new_share, old_exchanges,
 * new_exchanges}]}, change one of appeared, disappeared, rose, fell (by 1
 * point of share or more). A new reference, NULL when out of memory. */
json_t *report_baseline_build(const report_model *old, const report_model *neu);

/* A ratio rounded for output (6 decimals), and ms rounded to 0.001. */
double report_round_rate(double x);
double report_round_ms(double x);

#endif
