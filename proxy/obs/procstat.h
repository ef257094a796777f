/* procstat: the process's own resource figures, read from /proc, for the
 * process_* metrics that every Prometheus client library exports (same
 * names and meanings as client_golang's process collector). Linux only. */
#ifndef SP_PROCSTAT_H
#define SP_PROCSTAT_H

#include <stdbool.h>

typedef struct procstat {
    double cpu_seconds;       /* user + system CPU time */
    double start_time;        /* Unix time the process started */
    double resident_bytes;    /* resident set size */
    double virtual_bytes;     /* virtual memory size */
    double open_fds;          /* file descriptors open now */
    double max_fds;           /* RLIMIT_NOFILE soft limit; -1 when unlimited */
    bool have_stat;           /* /proc/self/stat read: the first four are valid */
    bool have_fds;            /* /proc/self/fd read: open_fds is valid */
} procstat;

/* Fills *out from /proc/self/stat, /proc/stat (boot time), /proc/self/fd
 * and getrlimit. A part that cannot be read leaves its have_* false (its
 * metrics are then left out, not reported as 0). Any thread; a few system
 * calls and one directory walk, so for a scrape, not a hot path. */
void procstat_read(procstat *out);

#endif
