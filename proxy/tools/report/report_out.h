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
} report_render;

/* Each returns 0, or -1 when out of memory or the write failed. */
int report_text_write(FILE *out, const report_render *r);
int report_json_write(FILE *out, const report_render *r);
int report_html_write(FILE *out, const report_render *r);

/* The JSON document (report_version 1), or NULL when out of memory. */
json_t *report_json_build(const report_render *r);

/* A ratio rounded for output (6 decimals), and ms rounded to 0.001. */
double report_round_rate(double x);
double report_round_ms(double x);

#endif
