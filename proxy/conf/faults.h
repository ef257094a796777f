/* faults: fault injection for staging (docs/rules.md "faults",
 * docs/operations.md "Injecting faults"). One fault says which leg of an
 * exchange it hits (legacy, new, the authoritative or the shadow one),
 * what it does (a delay before the leg is sent, an answer with a status
 * the upstream never gave, a connection failure) and for what share of
 * requests (chosen by request id like mirror.sample_percent). Only a config
 * with faults.enabled: true lets any fault run. Pure: parsing, naming,
 * choosing; the data path (data/exchange_fault.c) injects. */
#ifndef SP_FAULTS_H
#define SP_FAULTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "conf/config.h"

typedef enum fault_target {
    FAULT_LEGACY,
    FAULT_NEW,
    FAULT_AUTHORITATIVE,
    FAULT_SHADOW,
} fault_target;

typedef enum fault_kind { FAULT_DELAY, FAULT_ABORT, FAULT_RESET } fault_kind;

#define FAULT_DELAY_MAX_MS 600000L /* ten minutes: longer is no longer a delay */

typedef struct fault_spec {
    fault_target side;
    fault_kind kind;
    long delay_ms, jitter_ms; /* delay: ms plus 0..jitter_ms (by request id) */
    int status;               /* abort: 200..599 */
    double percent;           /* share of requests, 0..100 (default 100) */
} fault_spec;

const char *fault_target_name(fault_target t);
const char *fault_kind_name(fault_kind k);

/* Reads {"side": S, "delay": {"ms", "jitter_ms"} | "abort": {"status"} |
 * "reset": true, "percent": P} (exactly one of delay, abort, reset).
 * 0 with *out filled, or -EINVAL with a message in why (naming the key)
 * and the member path of the bad value in bad ("" for the object itself,
 * "delay", "delay/ms": JSON Pointer segments below the object). `extra`
 * (NULL-terminated, may be NULL) names members the caller reads itself. */
int fault_spec_from_json(const json_t *v, const char *const *extra, fault_spec *out,
                         char *why, size_t whysize, char *bad, size_t badsize);
/* The same object (what /state and the rules show). New reference. */
json_t *fault_spec_to_json(const fault_spec *f);
/* "delay 300 ms (+0..50) on shadow, 10%" for logs and messages. */
void fault_spec_describe(const fault_spec *f, char *buf, size_t size);

/* Does the fault hit this leg (side, and whether it is the shadow one)? */
bool fault_targets(const fault_spec *f, sp_side side, bool shadow);
/* Is this request in the fault's share? Deterministic by request id, the
 * same hash as mirror.sample_percent (rules_sampled_at): at P% a fault hits
 * the same ids a P% mirror sample keeps. */
bool fault_hits(const fault_spec *f, const char *request_id);
/* The delay for this request: ms plus a jitter in 0..jitter_ms derived
 * from the request id (repeatable). */
long fault_delay_for(const fault_spec *f, const char *request_id);

/* "300ms", "2s", "10m", "1h" or a bare number of ms (unit_default 'm' for
 * ms, 's' for seconds: "--for 600" is seconds). 0 with *ms, or -EINVAL. */
int fault_parse_duration(const char *s, char unit_default, long long *ms);

#endif
