/* metrics_faults: shadowproxy_faults_injected_total{route, side, kind}, the
 * faults the data path injected (conf/faults.h). A small table under a
 * mutex rather than the sharded registry: faults run in staging only, at
 * most once per leg, and the table stays empty in production. */
#ifndef SP_METRICS_FAULTS_H
#define SP_METRICS_FAULTS_H

#include <stddef.h>

#define METRICS_FAULTS_MAX 256 /* route/side/kind triples; more count as route "other" */

/* One injected fault. Any thread; the strings are copied. */
void metrics_fault_injected(const char *route, const char *side, const char *kind);
/* The counter in the Prometheus text format (HELP and TYPE lines, then one
 * line per triple seen), appended to *text (malloc'd, length *len), which
 * is reallocated. 0, or -ENOMEM (then *text is untouched). */
int metrics_faults_append(char **text, size_t *len);

#endif
