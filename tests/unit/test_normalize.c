/* Unit tests for proxy/diff/normalize.c: strings, numbers, date-times. */
#include "diff/normalize.h"
#include "unit.h"

#include <stdbool.h>
#include <stdlib.h>

/* The normalized value as compact JSON, or "(unchanged)". */
static char *norm(const char *s, unsigned flags)
{
    json_t *v = json_string(s);
    int err = 0;
    json_t *r = normalize_string(v, flags, &err);
    char *out = r ? json_dumps(r, JSON_ENCODE_ANY | JSON_COMPACT)
                  : strdup(err ? "(error)" : "(unchanged)");
    json_decref(r);
    json_decref(v);
    return out;
}

#define CHECK_NORM(s, flags, want)                                           \
    do {                                                                     \
        char *got_ = norm(s, flags);                                         \
        CHECK_STR(got_, want);                                               \
        free(got_);                                                          \
    } while (0)

static char dt_buf[64];

static const char *dt(const char *s)
{
    size_t n = normalize_datetime(s, strlen(s), dt_buf, sizeof dt_buf);
    if (!n)
        return "(none)";
    if (n != strlen(dt_buf))
        return "(bad length)";
    return dt_buf;
}

TEST(number_strings)
{
    CHECK_NORM("10.00", NORM_NUMBER, "10.0");
    CHECK_NORM("1e2", NORM_NUMBER, "100.0");
    CHECK_NORM("-3", NORM_NUMBER, "-3");
    CHECK_NORM("0", NORM_NUMBER, "0");
    CHECK_NORM("-2.5E-1", NORM_NUMBER, "-0.25");
    CHECK_NORM("99999999999999999999", NORM_NUMBER, "1e20");
    /* Not JSON numbers: left alone. */
    CHECK_NORM("abc", NORM_NUMBER, "(unchanged)");
    CHECK_NORM("+3", NORM_NUMBER, "(unchanged)");
    CHECK_NORM("007", NORM_NUMBER, "(unchanged)");
    CHECK_NORM(".5", NORM_NUMBER, "(unchanged)");
    CHECK_NORM("5.", NORM_NUMBER, "(unchanged)");
    CHECK_NORM("1e", NORM_NUMBER, "(unchanged)");
    CHECK_NORM("-", NORM_NUMBER, "(unchanged)");
    CHECK_NORM("", NORM_NUMBER, "(unchanged)");
    CHECK_NORM("1e999", NORM_NUMBER, "(unchanged)");
    CHECK_NORM("0x10", NORM_NUMBER, "(unchanged)");
    CHECK_NORM(" 7 ", NORM_NUMBER, "(unchanged)");
    CHECK_NORM(" 7 ", NORM_NUMBER | NORM_TRIM, "7");
    CHECK_NORM("NaN", NORM_NUMBER, "(unchanged)");
}

TEST(trim_and_case)
{
    CHECK_NORM("  x y\t\r\n", NORM_TRIM, "\"x y\"");
    CHECK_NORM("x", NORM_TRIM, "(unchanged)");
    CHECK_NORM(" \t ", NORM_TRIM, "\"\"");
    CHECK_NORM("AbC-\xc3\x89", NORM_CASE, "\"abc-\xc3\x89\"");
    CHECK_NORM("abc", NORM_CASE, "(unchanged)");
    CHECK_NORM(" ABC ", NORM_CASE | NORM_TRIM, "\"abc\"");
    /* Numbers win over case folding; no flags, no change. */
    CHECK_NORM("1E2", NORM_CASE | NORM_NUMBER, "100.0");
    CHECK_NORM("ABC", 0, "(unchanged)");
}

TEST(datetimes)
{
    CHECK_STR(dt("2024-01-01T10:00:00Z"), "2024-01-01T10:00:00.000Z");
    CHECK_STR(dt("2024-01-01T10:00:00+02:00"), "2024-01-01T08:00:00.000Z");
    CHECK_STR(dt("2024-01-01 08:00:00"), "2024-01-01T08:00:00.000Z");
    CHECK_STR(dt("2024-01-01t08:00:00z"), "2024-01-01T08:00:00.000Z");
    CHECK_STR(dt("2024-01-01T08:00"), "2024-01-01T08:00:00.000Z");
    CHECK_STR(dt("2024-01-01T10:30:00+0230"), "2024-01-01T08:00:00.000Z");
    CHECK_STR(dt("2024-01-01T10:00:00+02"), "2024-01-01T08:00:00.000Z");
    CHECK_STR(dt("2024-01-01T00:30:00+01:00"), "2023-12-31T23:30:00.000Z");
    CHECK_STR(dt("2023-12-31T23:30:00-01:00"), "2024-01-01T00:30:00.000Z");
    CHECK_STR(dt("2024-02-28T23:00:00-02:00"), "2024-02-29T01:00:00.000Z");
    CHECK_STR(dt("1969-12-31T23:59:59Z"), "1969-12-31T23:59:59.000Z");
    CHECK_STR(dt("2016-12-31T23:59:60Z"), "2017-01-01T00:00:00.000Z");
    /* Fractions: milliseconds always, more digits only when not zero. */
    CHECK_STR(dt("2024-01-01T10:00:00.5Z"), "2024-01-01T10:00:00.500Z");
    CHECK_STR(dt("2024-01-01T10:00:00.500000Z"), "2024-01-01T10:00:00.500Z");
    CHECK_STR(dt("2024-01-01T10:00:00,25Z"), "2024-01-01T10:00:00.250Z");
    CHECK_STR(dt("2024-01-01T10:00:00.123456Z"), "2024-01-01T10:00:00.123456Z");
    CHECK_STR(dt("2024-01-01T10:00:00.1234567891Z"),
              "2024-01-01T10:00:00.123456789Z");
    /* Not date-times. */
    CHECK_STR(dt("2024-01-01"), "(none)");
    CHECK_STR(dt("2024-13-01T00:00:00Z"), "(none)");
    CHECK_STR(dt("2023-02-29T00:00:00Z"), "(none)");
    CHECK_STR(dt("2024-01-01T24:00:00Z"), "(none)");
    CHECK_STR(dt("2024-01-01T10:00:00+02:"), "(none)");
    CHECK_STR(dt("2024-01-01T10:00:00+2"), "(none)");
    CHECK_STR(dt("2024-01-01T10:00:00.Z"), "(none)");
    CHECK_STR(dt("2024-01-01T10:00:00Zjunk"), "(none)");
    CHECK_STR(dt("2024-01-01X10:00:00Z"), "(none)");
    CHECK_STR(dt("0000-01-01T00:30:00+01:00"), "(none)");
    CHECK_STR(dt("not a date at all"), "(none)");
    /* Through normalize_string, trimmed first. */
    CHECK_NORM(" 2024-01-01 08:00:00 ", NORM_DATETIME | NORM_TRIM,
               "\"2024-01-01T08:00:00.000Z\"");
    CHECK_NORM("2024-01-01T08:00:00.000Z", NORM_DATETIME, "(unchanged)");
    CHECK_NORM("tomorrow", NORM_DATETIME, "(unchanged)");
}

int main(void)
{
    RUN(number_strings);
    RUN(trim_and_case);
    RUN(datetimes);
    UNIT_DONE();
}
