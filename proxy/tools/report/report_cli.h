/* report_cli: the command-line pieces `report` and `readiness` share: the
 * clock, usage errors, time options and `--opt V` / `--opt=V` splitting. */
#ifndef SP_REPORT_CLI_H
#define SP_REPORT_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REPORT_EXIT_USAGE 2

/* Wall-clock ms since the epoch. */
int64_t report_now_ms(void);

/* "shadowproxy CMD: <message>" and the --help hint on stderr; returns
 * REPORT_EXIT_USAGE. */
int report_cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* --since/--until V: *has and *out, 0; or a usage error (its exit code). */
int report_cli_time(const char *cmd, const char *opt, const char *v, int64_t now, bool *has,
                    int64_t *out);

/* argv[*i] is an option that takes a value (`--opt V` or `--opt=V`): its
 * name into name and its value into *v, *i moved past a separate value.
 * 0, or a usage error (its exit code) when the name is not one of known[]
 * or the value is missing. */
int report_cli_option(const char *cmd, int argc, char **argv, int *i, const char *const *known,
                      size_t nknown, char name[32], const char **v);

#endif
