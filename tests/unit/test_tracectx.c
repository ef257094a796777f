/* Unit tests: W3C traceparent parsing and the child span line. */
#include <string.h>

#include "base/tracectx.h"
#include "unit.h"

#define TRACE "4bf92f3577b34da6a3ce929d0e0e4736"
#define SPAN "00f067aa0ba902b7"

TEST(valid_version_00)
{
    tracectx t;
    CHECK(tracectx_parse("00-" TRACE "-" SPAN "-01", &t));
    CHECK_STR(t.trace_id, TRACE);
    CHECK_STR(t.parent_id, SPAN);
    CHECK(t.flags == 1);
    CHECK(tracectx_parse("00-" TRACE "-" SPAN "-00", &t) && t.flags == 0);
}

TEST(later_versions_read_as_00)
{
    tracectx t;
    CHECK(tracectx_parse("01-" TRACE "-" SPAN "-09", &t) && t.flags == 9);
    CHECK(tracectx_parse("cc-" TRACE "-" SPAN "-01-more-fields", &t));
    CHECK(!tracectx_parse("cc-" TRACE "-" SPAN "-01x", &t)); /* no '-' after 55 */
}

TEST(invalid)
{
    tracectx t;
    memset(&t, 0x55, sizeof t);
    static const char *const bad[] = {
        "",
        "00-" TRACE "-" SPAN,                                   /* short */
        "00-" TRACE "-" SPAN "-01-",                            /* 00 must be 55 exactly */
        "ff-" TRACE "-" SPAN "-01",                             /* forbidden version */
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-" SPAN "-01",      /* upper case */
        "00-00000000000000000000000000000000-" SPAN "-01",      /* zero trace id */
        "00-" TRACE "-0000000000000000-01",                     /* zero parent */
        "00-" TRACE "-" SPAN "-0g",                             /* not hex */
        "00_" TRACE "-" SPAN "-01",                             /* separator */
        "0x-" TRACE "-" SPAN "-01",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bool ok = tracectx_parse(bad[i], &t);
        if (ok)
            fprintf(stderr, "  accepted: %s\n", bad[i]);
        CHECK(!ok);
    }
    CHECK(!tracectx_parse(NULL, &t));
    CHECK(t.flags == 0x55); /* untouched */
}

TEST(child_line)
{
    tracectx t;
    CHECK(tracectx_parse("00-" TRACE "-" SPAN "-ff", &t));
    char line[TRACECTX_LINE_MAX];
    tracectx_child_line(&t, 0x1234abcdULL, line, sizeof line);
    CHECK_STR(line, "traceparent: 00-" TRACE "-000000001234abcd-01"); /* sampled kept, the rest 0 */
    CHECK(tracectx_parse("00-" TRACE "-" SPAN "-00", &t));
    tracectx_child_line(&t, 0xffffffffffffffffULL, line, sizeof line);
    CHECK_STR(line, "traceparent: 00-" TRACE "-ffffffffffffffff-00");
    tracectx parsed;
    CHECK(tracectx_parse(line + strlen("traceparent: "), &parsed)); /* valid in turn */
}

int main(void)
{
    RUN(valid_version_00);
    RUN(later_versions_read_as_00);
    RUN(invalid);
    RUN(child_line);
    UNIT_DONE();
}
