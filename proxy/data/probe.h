/* probe: TCP connect probes for readiness checks (GET /readyz). Blocking
 * for at most the timeout; every target is probed at the same time, each
 * of its resolved addresses in turn. No other I/O, no globals. */
#ifndef SP_PROBE_H
#define SP_PROBE_H

#include <stdbool.h>
#include <stddef.h>

#define PROBE_MAX 8 /* targets per call */

typedef struct probe_result {
    bool ok;            /* a TCP connection was established (and closed) */
    char address[300];  /* "host:port" or "[v6]:port" probed; "" if the URL did not parse */
    char error[160];    /* why not, when !ok: "Connection refused", "no connection within 1000 ms" */
} probe_result;

/* Connects to the host and port (the scheme's default when none) of each
 * URL (http or https base URLs, parsed with libcurl's URL API), all within
 * timeout_ms in total (name resolution comes first and is not bounded by
 * it). n <= PROBE_MAX; out has n entries. */
void probe_urls(const char *const *urls, size_t n, int timeout_ms, probe_result *out);

#endif
