/* ops_file: the state file on disk (ops.h): read it, and replace it
 * atomically. Part of the ops module. */
#include "conf/ops.h"
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "base/fdio.h"
#include "base/jsonpos.h"

/* --- the state file ------------------------------------------------------- */

ops_state *ops_load(const char *path, config_errors *errs)
{
    char eb[128], *buf;
    size_t n;
    int err = config_read_file(path, OPS_MAX_FILE_BYTES, &buf, &n);
    if (err == ENOENT)
        return ops_new(); /* no decisions yet */
    ops_state *o = NULL;
    if (err)
        config_errors_add(errs, 0, 0, "cannot read: %s",
                          strerror_r(err, eb, sizeof eb));
    else
        o = ops_from_json_text(buf, n, errs);
    free(buf);
    return o;
}

/* The JSON text of `o`, pretty-printed, with a trailing newline. */
static char *state_text(const ops_state *o, size_t *len)
{
    /* 15 digits print any percentage kept to 6 places exactly (99.9, not
     * jansson's default 99.900000000000006) */
    size_t flags = JSON_INDENT(2) | JSON_REAL_PRECISION(15);
    json_t *j = ops_to_json(o);
    size_t n = j ? json_dumpb(j, NULL, 0, flags) : 0;
    char *buf = n ? malloc(n + 1) : NULL;
    if (buf && json_dumpb(j, buf, n, flags) == n) {
        buf[n] = '\n';
        *len = n + 1;
    } else {
        free(buf);
        buf = NULL;
    }
    json_decref(j);
    return buf;
}

/* fsync of the directory holding `path`, so the rename itself is durable.
 * A file system that cannot sync a directory (EINVAL) is not an error. */
static int sync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path))
                      : strdup(".");
    if (!dir)
        return -ENOMEM;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;
    free(dir);
    if (fd < 0)
        return -errno;
    if (fsync(fd) != 0 && errno != EINVAL)
        rc = -errno;
    close(fd);
    return rc;
}

/* The temp name is PATH.tmp.PID.XXXXXX: the random part keeps two replicas
 * that share the directory and the PID (1, in containers) from writing into
 * one temp file. */
int ops_save(const char *path, const ops_state *o)
{
    size_t len = 0;
    int rc = 0, fd;
    if (!path || !*path)
        return -EINVAL;
    char *text = state_text(o, &len);
    char *tmp = malloc(strlen(path) + 48);
    if (!text || !tmp) {
        free(text);
        free(tmp);
        return -ENOMEM;
    }
    sprintf(tmp, "%s.tmp.%ld.XXXXXX", path, (long)getpid());
    if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0) {
        rc = -errno;
        goto out;
    }
    if (fchmod(fd, 0644) != 0 || (rc = fdio_write_all(fd, text, len)) != 0 ||
        fsync(fd) != 0)
        rc = rc ? rc : -errno;
    if (close(fd) != 0 && !rc)
        rc = -errno;
    if (!rc && rename(tmp, path) != 0)
        rc = -errno;
    if (rc)
        unlink(tmp);
    else
        rc = sync_dir(path);
out:
    free(text);
    free(tmp);
    return rc;
}
