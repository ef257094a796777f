#include "diff/difflog.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Opens the path for appending. Without follow_symlinks, O_NOFOLLOW: a
 * symbolic link planted at the path (by whoever may write its folder) must
 * not send records, with their bodies, to a file of their choosing; the
 * open fails with ELOOP. A regular file is set to 0600 whatever its mode
 * was (O_CREAT's mode applies only to a new file); a device or FIFO (such
 * as /dev/null) is left as it is. An fd, or -errno. */
static int open_path(const char *path, bool follow_symlinks)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
                            (follow_symlinks ? 0 : O_NOFOLLOW), 0600);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) != 0 ||
        (S_ISREG(st.st_mode) && (st.st_mode & 07777) != 0600 && fchmod(fd, 0600) != 0)) {
        int err = -errno;
        close(fd);
        return err;
    }
    return fd;
}

int difflog_open(difflog *d, const char *path, bool follow_symlinks)
{
    /* Past a file size limit (ulimit -f, systemd's LimitFSIZE) a write
     * raises SIGXFSZ, whose default action kills the process, halfway
     * through a line. Ignored, the write fails with EFBIG instead, and
     * difflog_write cuts the partial batch back like any failed write. */
    signal(SIGXFSZ, SIG_IGN);
    d->path = strdup(path);
    if (!d->path)
        return -ENOMEM;
    d->follow_symlinks = follow_symlinks;
    d->fd = open_path(path, follow_symlinks);
    if (d->fd < 0) {
        int err = d->fd;
        free(d->path);
        d->path = NULL;
        return err;
    }
    return 0;
}

int difflog_write(difflog *d, const char *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(d->fd, buf + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int err = n < 0 ? -errno : -EIO;
            /* Only this process appends, and O_APPEND left the offset at
             * the end of what this batch wrote: cut that back. (No fstat
             * before every batch: the failure path finds the start.) */
            off_t end = done > 0 ? lseek(d->fd, 0, SEEK_CUR) : 0;
            if (done > 0 && (end < (off_t)done || ftruncate(d->fd, end - (off_t)done) < 0))
                return -errno;
            return err;
        }
        done += (size_t)n;
    }
    return 0;
}

int difflog_reopen(difflog *d)
{
    int fd = open_path(d->path, d->follow_symlinks);
    if (fd < 0)
        return fd;
    close(d->fd);
    d->fd = fd;
    return 0;
}

const char *difflog_strerror(int rc)
{
    if (rc == -ELOOP)
        return "the path is a symbolic link (diff_log.follow_symlinks: true allows one)";
    return strerror(-rc);
}

void difflog_close(difflog *d)
{
    if (d->fd >= 0)
        close(d->fd);
    d->fd = -1;
    free(d->path);
    d->path = NULL;
}
