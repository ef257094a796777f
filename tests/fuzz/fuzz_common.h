/* fuzz_common: what the libFuzzer drivers share (tests/fuzz/fuzz.mk,
 * docs/testing.md). Each driver includes it once.
 *
 * - open() is wrapped (-Wl,--wrap=open): the code under test opens files
 *   that its input names (a rules file's secret "file", a config's
 *   certificates). Only regular files and directories outside /proc, /sys
 *   and /dev may be opened, so a FIFO, /dev/stdin or /proc/kmsg in a
 *   mutated input cannot block or touch the machine; fz_allow_path lets one
 *   exact path through (the driver's own memfd).
 * - fz_split: the drivers that need several inputs cut theirs into
 *   sections at FZ_SEP, a line "%%" (so seeds stay readable text).
 * - fz_sink: a FILE that discards what is written (renderers, printers). */
#ifndef SP_FUZZ_COMMON_H
#define SP_FUZZ_COMMON_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int __real_open(const char *path, int flags, ...);
int __wrap_open(const char *path, int flags, ...);

static char fz_allowed[64];

static inline void fz_allow_path(const char *path)
{
    snprintf(fz_allowed, sizeof fz_allowed, "%s", path ? path : "");
}

int __wrap_open(const char *path, int flags, ...)
{
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    if (path && fz_allowed[0] && strcmp(path, fz_allowed) == 0)
        return __real_open(path, flags, mode);
    char real[PATH_MAX];
    struct stat st;
    if (!path || !realpath(path, real) || stat(real, &st) != 0) {
        errno = ENOENT;
        return -1;
    }
    if (strncmp(real, "/proc/", 6) == 0 || strncmp(real, "/sys/", 5) == 0 ||
        strncmp(real, "/dev/", 5) == 0 || strcmp(real, "/proc") == 0 ||
        strcmp(real, "/sys") == 0 || strcmp(real, "/dev") == 0 ||
        !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) ||
        (flags & O_ACCMODE) != O_RDONLY) {
        errno = EACCES;
        return -1;
    }
    return __real_open(real, flags, mode);
}

#define FZ_SEP "\n%%\n"

typedef struct fz_part {
    const char *p;
    size_t n;
    bool present; /* false: the input had fewer sections */
} fz_part;

/* Cuts data into up to `max` sections at FZ_SEP; the last one takes the
 * rest. A leading "%%\n" makes the first section empty. */
static inline size_t fz_split(const uint8_t *data, size_t size, fz_part *parts, size_t max)
{
    const char *p = (const char *)data, *end = p + size;
    size_t k = 0, seplen = strlen(FZ_SEP);
    for (size_t i = 0; i < max; i++)
        parts[i] = (fz_part){"", 0, false};
    if (size >= 3 && memcmp(p, "%%\n", 3) == 0) {
        parts[k++] = (fz_part){p, 0, true};
        p += 3;
    }
    while (k < max) {
        const char *s = k + 1 < max ? memmem(p, (size_t)(end - p), FZ_SEP, seplen) : NULL;
        if (!s) {
            parts[k++] = (fz_part){p, (size_t)(end - p), true};
            break;
        }
        parts[k++] = (fz_part){p, (size_t)(s - p), true};
        p = s + seplen;
    }
    return k;
}

/* A NUL-terminated copy (the input may hold NULs: the copy then ends at
 * the first one, as a C string API would see it). */
static inline char *fz_str(const char *p, size_t n)
{
    char *s = malloc(n + 1);
    if (!s)
        abort();
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

static FILE *fz_sink_file;

static inline FILE *fz_sink(void)
{
    if (!fz_sink_file)
        fz_sink_file = fopen("/dev/null", "w");
    if (!fz_sink_file)
        abort();
    return fz_sink_file;
}

/* An invariant the code under test must keep: a failure is a crash that
 * libFuzzer records like any other. */
#define FZ_ASSERT(cond)                                                        \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__,         \
                    __LINE__, #cond);                                          \
            abort();                                                           \
        }                                                                      \
    } while (0)

#endif
