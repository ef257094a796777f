/* report_route: what one route of a report accumulates (report_model.h):
 * differing fields, minute cells for drift, reconciliation sums and the
 * sample exchange. Used by report_model.c only. */
#ifndef SP_REPORT_ROUTE_H
#define SP_REPORT_ROUTE_H

#include "tools/report/report_model.h"

report_route *report_route_new(const char *name, size_t nsums);
void report_route_free(report_route *r, size_t nsums);

/* The record's `differences` (an array; other values are ignored). seq
 * numbers the record, so that a field counts once per exchange; confirm is
 * the record's confirmation state (enum report_confirm), -1 without one;
 * *budget is how many more fields the whole model may create. */
void report_route_add_diffs(report_route *r, const json_t *diffs, const char *id, uint64_t seq,
                            int confirm, size_t *budget);

/* One exchange at ts_ms with verdict v, into the route's minute cells. */
void report_route_add_cell(report_route *r, int64_t ts_ms, enum report_verdict v);
/* n exchanges with verdict v in ts_ms's minute (a not_mirrored record's count). */
void report_route_add_cell_n(report_route *r, int64_t ts_ms, enum report_verdict v, uint64_t n);

/* The --sum values of the legs that answered 2xx (ok[side]). */
void report_route_add_sums(report_route *r, const report_options *opt,
                           const json_t *const legs[RS_COUNT], const bool ok[RS_COUNT]);

/* Keeps rec as the route's sample exchange if it is a better one. */
void report_route_add_sample(report_route *r, const json_t *rec, enum report_verdict v);

/* Sorts fields (most exchanges first), computes quantiles, buckets and
 * suggestions. */
void report_route_finalize(report_route *r, const report_model *m);

/* Groups of every --sum in name order (no group first). */
void report_route_sort_groups(report_route *r, size_t nsums);

/* Adds src's counters, samples, buckets and sums into the total. */
int report_route_merge(report_route *total, const report_route *src, const report_model *m);

#endif
