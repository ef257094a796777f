/* unit: a tiny test harness. Each test file defines tests with TEST(name),
 * lists them in main via RUN(name), and ends with UNIT_DONE(). The closing
 * line is "N passed, N failed" so CI can read it. */
#ifndef SP_UNIT_H
#define SP_UNIT_H

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/config.h"

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

/* --- helpers shared by the tests ---------------------------------------- */

/* `s` with ' turned into " (JSON written in C strings without escapes); a
 * rotating static buffer: four results may be alive at once. */
static inline const char *unit_q(const char *s)
{
    static char buf[4][16384];
    static int next;
    char *b = buf[next++ % 4];
    snprintf(b, sizeof buf[0], "%s", s);
    for (char *p = b; *p; p++)
        if (*p == '\'')
            *p = '"';
    return b;
}

/* Error i as "line:col: message" ("(none)" past the end); rotating buffer. */
static inline const char *unit_err(const config_errors *e, size_t i)
{
    static char buf[4][800];
    static int next;
    char *b = buf[next++ % 4];
    if (i >= e->n)
        return "(none)";
    snprintf(b, sizeof buf[0], "%d:%d: %s", e->v[i].line, e->v[i].column, e->v[i].message);
    return b;
}

/* A whole file (up to 1 MiB - 1 bytes), NUL-terminated, malloc'd; NULL
 * when it cannot be read. *len (may be NULL) gets its length. */
static inline char *unit_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0;
    if (f) {
        buf = malloc(1 << 20);
        n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
        if (buf)
            buf[n] = '\0';
        fclose(f);
    }
    if (len)
        *len = n;
    return buf;
}

/* An object's keys, in order, joined by ',' into buf. */
static inline void unit_keys_of(json_t *obj, char *buf, size_t size)
{
    buf[0] = '\0';
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        if (buf[0])
            strncat(buf, ",", size - strlen(buf) - 1);
        strncat(buf, k, size - strlen(buf) - 1);
    }
}

#endif
