/* difflog: the diff-log file. Appends whole lines (O_APPEND, mode 0600); a
 * failed or short write is rolled back so the file never holds a torn line.
 * Used by the comparer thread only. */
#ifndef SP_DIFFLOG_H
#define SP_DIFFLOG_H

#include <stddef.h>

typedef struct difflog {
    char *path;
    int fd;
} difflog;

int difflog_open(difflog *d, const char *path); /* 0 or -errno */
/* Writes buf (whole lines). 0, or -errno after rolling back. */
int difflog_write(difflog *d, const char *buf, size_t len);
int difflog_reopen(difflog *d); /* logrotate: close and open the path again */
void difflog_close(difflog *d);

#endif
