/* readiness_out: the three renderings of a readiness document
 * (readiness_evaluate): text for a terminal, JSON for programs, one
 * self-contained HTML page for the sign-off. Everything from the logs is
 * escaped in HTML. */
#ifndef SP_READINESS_OUT_H
#define SP_READINESS_OUT_H

#include <jansson.h>
#include <stdio.h>

enum readiness_format { RF_TEXT, RF_JSON, RF_HTML };

/* "text", "json", "html": 0 and *out, or -1. */
int readiness_format_parse(const char *s, enum readiness_format *out);

/* 0, or -1 when out of memory or the write failed. */
int readiness_write(FILE *out, enum readiness_format fmt, const json_t *doc);

#endif
