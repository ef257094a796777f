/* report_failif: `--fail-if EXPR` conditions for CI gating (docs/report.md,
 * "Fail-if"): [route:NAME:]METRIC OP NUMBER[%|ms], e.g. `mismatch_rate>0.1%`,
 * `errors>0`, `route:orders:p99_delta_ms>50`. Parsing is pure; evaluation
 * reads a finalized model. */
#ifndef SP_REPORT_FAILIF_H
#define SP_REPORT_FAILIF_H

#include "tools/report/report_model.h"

#include <stdbool.h>
#include <stddef.h>

enum report_failif_op { RF_GT, RF_GE, RF_LT, RF_LE, RF_EQ, RF_NE };
enum report_metric_kind { RM_COUNT, RM_RATE, RM_MS };

typedef struct report_failif {
    char *text;  /* as given */
    char *route; /* NULL: every route together */
    int metric;  /* index into the metric table */
    enum report_failif_op op;
    double threshold; /* rates as fractions (0.1% is 0.001) */
} report_failif;

typedef struct report_failif_result {
    const report_failif *f;
    bool defined; /* false: no data for it (a rate without compared exchanges) */
    double value;
    bool holds;
} report_failif_result;

/* 0, or -1 with a message for people in err. */
int report_failif_parse(const char *s, report_failif *out, char *err, size_t errsize);
void report_failif_free(report_failif *f);

const char *report_failif_metric(const report_failif *f);
enum report_metric_kind report_failif_kind(const report_failif *f);
const char *report_failif_op_text(enum report_failif_op op);

/* Evaluates f on a finalized model. An undefined value never holds. */
report_failif_result report_failif_eval(const report_model *m, const report_failif *f);

/* The value in the metric's unit: "2.5%", "12.3 ms", "7". */
void report_failif_format(const report_failif *f, double value, char *buf, size_t size);

/* Every metric name, comma-separated, for --help and error messages. */
const char *report_failif_metric_list(void);

#endif
