/* faults: the fault spec's one reader (the rules file and the admin API
 * both use it), its names, and the per-request choices. */
#include "conf/faults.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/invariant.h"
#include "conf/rules.h"

static const char *const target_names[] = {"legacy", "new", "authoritative", "shadow", NULL};
static const char *const kind_names[] = {"delay", "abort", "reset", NULL};
static const char *const spec_keys[] = {"side", "delay", "abort", "reset", "percent", NULL};

const char *fault_target_name(fault_target t)
{
    assert((unsigned)t < 4);
    return target_names[t];
}

const char *fault_kind_name(fault_kind k)
{
    assert((unsigned)k < 3);
    return kind_names[k];
}

static bool listed(const char *const *names, const char *key)
{
    for (; names && *names; names++)
        if (strcmp(*names, key) == 0)
            return true;
    return false;
}

/* A whole number lo..hi at member `key` of obj (required). */
static bool whole(const json_t *obj, const char *key, long long lo, long long hi,
                  long long *out)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return false;
    *out = json_integer_value(v);
    return true;
}

#define FAIL(path, ...)                                                                        \
    do {                                                                                       \
        snprintf(bad, badsize, "%s", path);                                                    \
        snprintf(why, whysize, __VA_ARGS__);                                                   \
        return -EINVAL;                                                                        \
    } while (0)

static int read_delay(const json_t *d, fault_spec *out, char *why, size_t whysize, char *bad,
                      size_t badsize)
{
    long long ms = 0, jitter = 0;
    const char *key;
    const json_t *e;
    if (!json_is_object(d))
        FAIL("delay", "delay must be an object {\"ms\": N, \"jitter_ms\": N}");
    json_object_foreach((json_t *)d, key, e)
        if (strcmp(key, "ms") && strcmp(key, "jitter_ms"))
            FAIL("delay", "delay has an unknown key \"%.40s\" (it takes \"ms\" and \"jitter_ms\")",
                 key);
    if (!whole(d, "ms", 0, FAULT_DELAY_MAX_MS, &ms))
        FAIL(json_object_get(d, "ms") ? "delay/ms" : "delay",
             "delay.ms is required: a whole number of milliseconds from 0 to %ld",
             FAULT_DELAY_MAX_MS);
    if (json_object_get(d, "jitter_ms") && !whole(d, "jitter_ms", 0, FAULT_DELAY_MAX_MS, &jitter))
        FAIL("delay/jitter_ms", "delay.jitter_ms must be a whole number of milliseconds from 0 "
                                "to %ld", FAULT_DELAY_MAX_MS);
    out->delay_ms = (long)ms;
    out->jitter_ms = (long)jitter;
    return 0;
}

int fault_spec_from_json(const json_t *v, const char *const *extra, fault_spec *out,
                         char *why, size_t whysize, char *bad, size_t badsize)
{
    const char *key;
    const json_t *e;
    memset(out, 0, sizeof *out);
    out->percent = 100;
    if (!json_is_object(v))
        FAIL("", "a fault must be an object like {\"side\": \"new\", \"delay\": {\"ms\": 300}}");
    json_object_foreach((json_t *)v, key, e)
        if (!listed(spec_keys, key) && !listed(extra, key))
            FAIL("", "unknown key \"%.40s\" in a fault (it takes \"side\", one of \"delay\", "
                     "\"abort\", \"reset\", and \"percent\")", key);
    const char *side = json_string_value(json_object_get(v, "side"));
    int t = -1;
    for (int i = 0; side && target_names[i]; i++)
        if (strcmp(side, target_names[i]) == 0)
            t = i;
    if (t < 0)
        FAIL(json_object_get(v, "side") ? "side" : "", "side is required: \"legacy\", \"new\", "
                                                       "\"authoritative\" or \"shadow\"");
    out->side = (fault_target)t;
    int kinds = 0;
    for (int k = 0; kind_names[k]; k++)
        if (json_object_get(v, kind_names[k])) {
            out->kind = (fault_kind)k;
            kinds++;
        }
    if (kinds != 1)
        FAIL("", "a fault needs exactly one of \"delay\", \"abort\" and \"reset\", got %d",
             kinds);
    const json_t *body = json_object_get(v, kind_names[out->kind]);
    long long status = 0;
    if (out->kind == FAULT_DELAY && read_delay(body, out, why, whysize, bad, badsize) != 0)
        return -EINVAL;
    if (out->kind == FAULT_ABORT) {
        if (!json_is_object(body) || json_object_size(body) != 1 ||
            !whole(body, "status", 200, 599, &status))
            FAIL(json_object_get(body, "status") ? "abort/status" : "abort",
                 "abort must be {\"status\": N}, N a status from 200 to 599");
        out->status = (int)status;
    }
    if (out->kind == FAULT_RESET && !json_is_true(body))
        FAIL("reset", "reset must be true");
    const json_t *p = json_object_get(v, "percent");
    if (p && (!json_is_number(p) || !(json_number_value(p) >= 0) || json_number_value(p) > 100))
        FAIL("percent", "percent must be a number from 0 to 100");
    if (p)
        out->percent = json_number_value(p);
    return 0;
}

json_t *fault_spec_to_json(const fault_spec *f)
{
    json_t *kind = f->kind == FAULT_DELAY
                       ? json_pack("{s:i, s:i}", "ms", (int)f->delay_ms, "jitter_ms",
                                   (int)f->jitter_ms)
                   : f->kind == FAULT_ABORT ? json_pack("{s:i}", "status", f->status)
                                            : json_true();
    return json_pack("{s:s, s:o, s:f}", "side", fault_target_name(f->side),
                     fault_kind_name(f->kind), kind, "percent", f->percent);
}

void fault_spec_describe(const fault_spec *f, char *buf, size_t size)
{
    char what[64];
    if (f->kind == FAULT_DELAY && f->jitter_ms)
        snprintf(what, sizeof what, "delay %ld ms (+0..%ld)", f->delay_ms, f->jitter_ms);
    else if (f->kind == FAULT_DELAY)
        snprintf(what, sizeof what, "delay %ld ms", f->delay_ms);
    else if (f->kind == FAULT_ABORT)
        snprintf(what, sizeof what, "abort %d", f->status);
    else
        snprintf(what, sizeof what, "reset");
    snprintf(buf, size, "%s on %s, %g%%", what, fault_target_name(f->side), f->percent);
}

bool fault_targets(const fault_spec *f, sp_side side, bool shadow)
{
    switch (f->side) {
    case FAULT_LEGACY: return side == SIDE_LEGACY;
    case FAULT_NEW: return side == SIDE_NEW;
    case FAULT_AUTHORITATIVE: return !shadow;
    case FAULT_SHADOW: return shadow;
    }
    return false;
}

bool fault_hits(const fault_spec *f, const char *request_id)
{
    return rules_sampled_at(f->percent, request_id);
}

long fault_delay_for(const fault_spec *f, const char *request_id)
{
    if (f->jitter_ms <= 0)
        return f->delay_ms;
    /* FNV-1a of the id: a repeatable jitter, independent of the share's hash */
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = request_id ? request_id : ""; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return f->delay_ms + (long)(h % (uint64_t)(f->jitter_ms + 1));
}

int fault_parse_duration(const char *s, char unit_default, long long *ms)
{
    char *end = NULL;
    if (!s || !*s || *s == '-' || *s == '+')
        return -EINVAL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || !isfinite(v) || v < 0)
        return -EINVAL;
    double mul = unit_default == 's' ? 1000 : 1;
    if (strcmp(end, "ms") == 0)
        mul = 1;
    else if (strcmp(end, "s") == 0)
        mul = 1000;
    else if (strcmp(end, "m") == 0)
        mul = 60000;
    else if (strcmp(end, "h") == 0)
        mul = 3600000;
    else if (*end)
        return -EINVAL;
    if (v * mul > 1e15)
        return -EINVAL;
    *ms = (long long)llround(v * mul);
    return 0;
}
