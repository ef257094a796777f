/* unit: a tiny test harness. Each test file defines tests with TEST(name),
 * lists them in main via RUN(name), and ends with UNIT_DONE(). The closing
 * line is "N passed, N failed" so CI can read it. */
#ifndef SP_UNIT_H
#define SP_UNIT_H

#include <stdio.h>
#include <string.h>

static int unit_failed_checks;
static int unit_passed, unit_failed;

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "  %s:%d: check failed: %s\n", __FILE__,         \
                    __LINE__, #cond);                                        \
            unit_failed_checks++;                                            \
        }                                                                    \
    } while (0)

#define CHECK_STR(a, b)                                                      \
    do {                                                                     \
        const char *a_ = (a), *b_ = (b);                                     \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) {                             \
            fprintf(stderr, "  %s:%d: \"%s\" != \"%s\"\n", __FILE__,         \
                    __LINE__, a_ ? a_ : "(null)", b_ ? b_ : "(null)");       \
            unit_failed_checks++;                                            \
        }                                                                    \
    } while (0)

#define TEST(name) static void test_##name(void)

#define RUN(name)                                                            \
    do {                                                                     \
        int before_ = unit_failed_checks;                                    \
        test_##name();                                                       \
        if (unit_failed_checks == before_) {                                 \
            unit_passed++;                                                   \
        } else {                                                             \
            unit_failed++;                                                   \
            fprintf(stderr, "FAIL %s\n", #name);                             \
        }                                                                    \
    } while (0)

#define UNIT_DONE()                                                          \
    do {                                                                     \
        printf("%d passed, %d failed\n", unit_passed, unit_failed);          \
        return unit_failed ? 1 : 0;                                          \
    } while (0)

#endif
