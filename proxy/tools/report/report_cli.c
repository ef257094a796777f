/* report_cli: see report_cli.h. */
#include "tools/report/report_cli.h"
#include "tools/report/report_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t report_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int report_cli_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "shadowproxy %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n(shadowproxy %s --help for usage)\n", cmd);
    va_end(ap);
    return REPORT_EXIT_USAGE;
}

int report_cli_time(const char *cmd, const char *opt, const char *v, int64_t now, bool *has,
                    int64_t *out)
{
    if (report_parse_time(v, now, true, out) != 0)
        return report_cli_error(cmd, "%s \"%s\": expected RFC 3339 (2026-11-24T13:00:00Z), a date "
                                "(2026-11-24) or a time ago (30m, 2h, 7d)", opt, v);
    *has = true;
    return 0;
}

int report_cli_option(const char *cmd, int argc, char **argv, int *i, const char *const *known,
                      size_t nknown, char name[32], const char **v)
{
    const char *a = argv[*i];
    const char *eq = strncmp(a, "--", 2) == 0 ? strchr(a, '=') : NULL;
    if (eq) {
        snprintf(name, 32, "%.*s", (int)(eq - a < 31 ? eq - a : 31), a);
        *v = eq + 1;
    } else {
        snprintf(name, 32, "%s", a);
        *v = *i + 1 < argc ? argv[*i + 1] : NULL;
    }
    bool ok = false;
    for (size_t k = 0; k < nknown && !ok; k++)
        ok = strcmp(name, known[k]) == 0;
    if (!ok)
        return report_cli_error(cmd, "unknown option %s", name);
    if (!*v)
        return report_cli_error(cmd, "%s needs a value", name);
    if (!eq)
        (*i)++;
    return 0;
}
