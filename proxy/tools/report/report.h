/* report: the `shadowproxy report` subcommand (docs/report.md). */
#ifndef SP_REPORT_H
#define SP_REPORT_H

#include <stdio.h>

/* argv[0] is "report". Returns the process exit code. */
int report_main(int argc, char **argv);

/* Calls write(f, arg) on stdout (path NULL or "-"), or on a temporary file
 * next to path (mode 0600) that is fsynced and renamed into place, so a
 * reader never sees half a file. write returns 0 or -1. Messages start with
 * `who`. Returns 0, or -1 (said on stderr; the temporary file removed). */
int report_write_file(const char *path, const char *who, int (*write)(FILE *, const void *),
                      const void *arg);

#endif
