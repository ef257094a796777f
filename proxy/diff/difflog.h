/* difflog: the diff-log file. Appends whole lines (O_APPEND); a failed or
 * short write is rolled back so the file never holds a torn line. Each open
 * (and reopen) refuses a symbolic link unless follow_symlinks (-ELOOP) and
 * sets a regular file's mode to 0600, an existing file's too.
 * Used by the comparer thread only. */
#ifndef SP_DIFFLOG_H
#define SP_DIFFLOG_H

#include <stdbool.h>
#include <stddef.h>

typedef struct difflog {
    char *path;
    int fd;
    bool follow_symlinks;
} difflog;

/* 0, or -errno (-ELOOP: the path is a symbolic link, not followed). */
int difflog_open(difflog *d, const char *path, bool follow_symlinks);
/* Writes buf (whole lines). 0, or -errno after rolling back. */
int difflog_write(difflog *d, const char *buf, size_t len);
/* logrotate: open the path again (same checks), then close the old fd;
 * on an error the old fd stays. 0 or -errno. */
int difflog_reopen(difflog *d);
void difflog_close(difflog *d);
/* What an error from open/reopen means, for the log: strerror, but -ELOOP
 * says the path is a symbolic link and names the key that allows one. */
const char *difflog_strerror(int rc);

#endif
