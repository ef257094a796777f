/* tracectx: W3C Trace Context, the traceparent header (Level 1,
 * https://www.w3.org/TR/trace-context/). Pure functions over strings; any
 * thread.
 *
 *   traceparent: 00-<trace-id: 32 hex>-<parent-id: 16 hex>-<flags: 2 hex>
 *
 * The proxy is one hop with two calls: each upstream leg is a child span of
 * the client's, with its own span id, so a tracing backend can tell the
 * authoritative call from the shadow copy. It never starts a trace: no
 * valid traceparent in, none out. */
#ifndef SP_TRACECTX_H
#define SP_TRACECTX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TRACECTX_SAMPLED 0x01
#define TRACECTX_LINE_MAX 80 /* "traceparent: " + 55 characters + NUL, with room */

typedef struct tracectx {
    char trace_id[33];  /* 32 lowercase hex digits, not all zero */
    char parent_id[17]; /* the caller's span: 16 lowercase hex digits, not all zero */
    uint8_t flags;
} tracectx;

/* Parses one traceparent value as the spec says a receiver must: version
 * 00 is exactly 55 characters; a later version (not ff) is at least 55,
 * with '-' after them when longer, and its first four fields are read as
 * 00's; hex digits lowercase; trace-id and parent-id not all zeros. true
 * with *out filled when valid; false (out untouched) otherwise. */
bool tracectx_parse(const char *value, tracectx *out);

/* The header line "traceparent: 00-TRACE-SPAN-FLAGS" of a child span of
 * *t with span id `span` (not 0): version 00, the trace id kept, only the
 * sampled flag kept (the others are undefined in version 00). `size` at
 * least TRACECTX_LINE_MAX. */
void tracectx_child_line(const tracectx *t, uint64_t span, char *out, size_t size);

/* `span` as the 16 hex digits a traceparent carries. `size` >= 17. */
void tracectx_span_hex(uint64_t span, char *out, size_t size);

#endif
