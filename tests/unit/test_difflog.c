/* difflog: a batch is written whole or not at all. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diff/difflog.h"
#include "unit.h"

static off_t size_of(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

/* A file size limit makes the kernel accept only part of a batch: the
 * part that went in is cut back, so no torn line is left. */
TEST(short_write_is_cut_back)
{
    char path[] = "/tmp/sp-difflog-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    difflog d = {0};
    CHECK(difflog_open(&d, path, false) == 0);
    const char first[] = "{\"a\":1}\n";
    CHECK(difflog_write(&d, first, sizeof first - 1) == 0);
    CHECK(size_of(path) == (off_t)(sizeof first - 1));

    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = sizeof first - 1 + 10; /* room for 10 more bytes */
    signal(SIGXFSZ, SIG_IGN);
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    char batch[100];
    memset(batch, 'x', sizeof batch);
    batch[sizeof batch - 1] = '\n';
    int rc = difflog_write(&d, batch, sizeof batch);
    setrlimit(RLIMIT_FSIZE, &old);
    CHECK(rc == -EFBIG);
    CHECK(size_of(path) == (off_t)(sizeof first - 1)); /* the 10 bytes are gone */

    CHECK(difflog_write(&d, first, sizeof first - 1) == 0); /* and appending goes on */
    CHECK(size_of(path) == (off_t)(2 * (sizeof first - 1)));
    difflog_close(&d);
    unlink(path);
}

static mode_t mode_of(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 ? st.st_mode & 07777 : (mode_t)-1;
}

/* A symbolic link is refused (-ELOOP) unless allowed; a regular file is
 * made 0600 on open and on reopen, whatever mode it had. */
TEST(symlink_refused_and_mode_narrowed)
{
    char dir[] = "/tmp/sp-difflog-XXXXXX", target[64], link[64];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(target, sizeof target, "%s/target", dir);
    snprintf(link, sizeof link, "%s/link", dir);
    int fd = open(target, O_WRONLY | O_CREAT, 0644);
    CHECK(fd >= 0);
    close(fd);
    CHECK(chmod(target, 0644) == 0);
    CHECK(symlink(target, link) == 0);

    difflog d = {0};
    CHECK(difflog_open(&d, link, false) == -ELOOP);
    CHECK(d.path == NULL && mode_of(target) == 0644);
    CHECK(strstr(difflog_strerror(-ELOOP), "follow_symlinks") != NULL);
    CHECK(difflog_open(&d, link, true) == 0);
    CHECK(mode_of(target) == 0600);
    difflog_close(&d);

    CHECK(difflog_open(&d, target, false) == 0);
    CHECK(chmod(target, 0666) == 0);
    CHECK(difflog_reopen(&d) == 0);
    CHECK(mode_of(target) == 0600);
    /* Rotation moved the file away and a link took its place: the reopen
     * fails and the old fd (the moved file) stays. */
    CHECK(unlink(link) == 0 && rename(target, link) == 0);
    CHECK(symlink(link, target) == 0);
    int old_fd = d.fd;
    CHECK(difflog_reopen(&d) == -ELOOP);
    CHECK(d.fd == old_fd);
    CHECK(difflog_write(&d, "{}\n", 3) == 0);
    struct stat st;
    CHECK(stat(link, &st) == 0 && st.st_size == 3);
    difflog_close(&d);
    unlink(target);
    unlink(link);
    rmdir(dir);
}

int main(void)
{
    RUN(short_write_is_cut_back);
    RUN(symlink_refused_and_mode_narrowed);
    UNIT_DONE();
}
