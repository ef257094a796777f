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
    CHECK(difflog_open(&d, path) == 0);
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

int main(void)
{
    RUN(short_write_is_cut_back);
    UNIT_DONE();
}
