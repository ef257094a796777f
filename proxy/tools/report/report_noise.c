/* report_noise: see report_noise.h. */
#include "tools/report/report_noise.h"

#include "diff/normalize.h"

#include <string.h>

static const char *const flag_names[NOISE_FLAGS] = {"datetime", "number_strings",
                                                    "case_insensitive", "trim"};
static const unsigned flag_bits[NOISE_FLAGS] = {NORM_DATETIME, NORM_NUMBER, NORM_CASE, NORM_TRIM};
static const char *const flag_reasons[NOISE_FLAGS] = {
    "the same instant written differently", "the same number, once as a string",
    "the same text in another case", "the same text with other blanks around it"};

const char *noise_flag_name(int flag)
{
    return flag >= 0 && flag < NOISE_FLAGS ? flag_names[flag] : "?";
}

unsigned noise_flag_bits(int flag)
{
    return flag >= 0 && flag < NOISE_FLAGS ? flag_bits[flag] : 0;
}

bool noise_equal(const json_t *a, const json_t *b)
{
    if (!a || !b)
        return a == b;
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b) &&
               (!json_is_integer(a) || !json_is_integer(b) ||
                json_integer_value(a) == json_integer_value(b));
    if (json_typeof(a) != json_typeof(b))
        return false;
    if (json_is_object(a)) {
        if (json_object_size(a) != json_object_size(b))
            return false;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)a, k, v) {
            if (!noise_equal(v, json_object_get(b, k)))
                return false;
        }
        return true;
    }
    if (json_is_array(a)) {
        if (json_array_size(a) != json_array_size(b))
            return false;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!noise_equal(json_array_get(a, i), json_array_get(b, i)))
                return false;
        return true;
    }
    return json_equal((json_t *)a, (json_t *)b);
}

/* v normalised by bits: a new reference (v itself when nothing changes);
 * NULL only when out of memory. */
static json_t *normalized(const json_t *v, unsigned bits)
{
    int err = 0;
    json_t *n = json_is_string(v) ? normalize_string(v, bits, &err) : NULL;
    return n ? n : err ? NULL : json_incref((json_t *)v);
}

unsigned noise_fixes(const json_t *legacy, const json_t *neu)
{
    unsigned mask = 0;
    if (!legacy || !neu || (!json_is_string(legacy) && !json_is_string(neu)))
        return 0; /* normalisations change strings only */
    for (int i = 0; i < NOISE_FLAGS; i++) {
        json_t *a = normalized(legacy, flag_bits[i]), *b = normalized(neu, flag_bits[i]);
        if (a && b && noise_equal(a, b))
            mask |= 1u << i;
        json_decref(a);
        json_decref(b);
    }
    return mask;
}

void noise_finish(noise_field *f)
{
    if (!f->seq)
        return;
    for (int i = 0; i < NOISE_FLAGS; i++)
        f->fixed[i] += (f->mask >> i) & 1u;
    f->changed += f->cur_changed;
    f->seq = 0;
}

void noise_observe(noise_field *f, uint64_t seq, const json_t *legacy, const json_t *neu)
{
    if (seq != f->seq) {
        noise_finish(f);
        f->seq = seq;
        f->mask = (1u << NOISE_FLAGS) - 1;
        f->cur_changed = false;
        f->differs++;
    }
    f->mask &= noise_fixes(legacy, neu);
    if ((legacy && neu && json_typeof(legacy) == json_typeof(neu)) ||
        (json_is_number(legacy) && json_is_number(neu)))
        f->cur_changed = true;
    report_vol_observe(&f->vol, legacy, neu);
}

noise_verdict noise_decide(const noise_field *f, uint64_t present)
{
    noise_verdict v = {NOISE_NONE, -1, 0, NULL};
    if (f->differs < NOISE_MIN_EXCHANGES || present == 0)
        return v;
    for (int i = 0; i < NOISE_FLAGS; i++) {
        if (f->fixed[i] >= NOISE_MIN_EXCHANGES && (double)f->fixed[i] > NOISE_MAJORITY * (double)present)
            return (noise_verdict){NOISE_NORMALIZE, i, f->fixed[i], flag_reasons[i]};
    }
    if ((double)f->changed >= NOISE_IGNORE_SHARE * (double)present) {
        const char *why = report_vol_reason(&f->vol, NOISE_MIN_EXCHANGES);
        if (why)
            return (noise_verdict){NOISE_IGNORE, -1, f->changed, why};
    }
    return v;
}
