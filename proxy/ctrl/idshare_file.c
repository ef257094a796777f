/* idshare_file: the fleet's id pairs beside a file store, for replicas on
 * one host (or one shared file system): STORE_FILE.ids.jsonl, one pair a
 * line, [KIND, LEGACY-ID, NEW-ID, LEARNED_MS], mode 0600.
 *
 *   append:  open, flock(LOCK_EX), same file as the path? (else a
 *            compaction replaced it: again), the lines in one write
 *   read:    every replica, every 200 ms: the complete lines past its
 *            offset (no lock: a line is whole once its newline is there);
 *            another inode at the path (compacted): from the start again
 *   compact: by the writer holding the lock, when the journal passed
 *            2 * /ids/max_pairs + 16 lines: its ledger (which has read the
 *            whole journal) written to a temporary file, fsync, rename
 *
 * A writer that died mid-line leaves a partial line: the next writer ends
 * it with a newline first, readers skip it (counted as a failure). */
#include "ctrl/idshare_int.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fdio.h"
#include "base/log.h"
#include "base/strbuf.h"
#include "obs/metrics.h"

#define CHUNK ((size_t)1 << 20) /* read buffer; a longer line is skipped */

typedef struct ids_file {
    char *path;
    int rfd;           /* the journal being read, or -1 */
    dev_t dev;
    ino_t ino;
    off_t off;         /* read through here (just past a newline) */
    size_t lines;      /* lines read from this file since it was opened */
    size_t compact_at; /* lines past which a writer compacts */
    char *buf;         /* CHUNK bytes */
    bool warned;       /* the journal cannot be read: logged once */
} ids_file;

static void merge_line(idshare *s, const char *line, size_t len)
{
    json_t *a = json_loadb(line, len, 0, NULL);
    const char *scope = json_string_value(json_array_get(a, 0));
    const char *legacy = json_string_value(json_array_get(a, 1));
    const char *neu = json_string_value(json_array_get(a, 2));
    json_t *ms = json_array_get(a, 3);
    if (scope && legacy && neu && json_is_integer(ms))
        idshare_receive(s, scope, legacy, neu, json_integer_value(ms));
    else
        metric_add(METRIC_ids_fleet_failures, 1); /* a partial or foreign line */
    json_decref(a);
}

/* Opens the file at the path when it is not the one being read. */
static bool reopen_if_replaced(ids_file *f)
{
    struct stat st;
    if (stat(f->path, &st) != 0)
        return false; /* none yet */
    if (f->rfd >= 0 && st.st_ino == f->ino && st.st_dev == f->dev)
        return true;
    int fd = open(f->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0)
            close(fd);
        if (!f->warned)
            log_event(LOG_WARN, "ids_fleet_journal_unreadable", "path", f->path, "error",
                      strerror(errno), NULL);
        f->warned = true;
        metric_add(METRIC_ids_fleet_failures, 1);
        return false;
    }
    if (f->rfd >= 0)
        close(f->rfd);
    f->rfd = fd;
    f->ino = st.st_ino;
    f->dev = st.st_dev;
    f->off = 0;
    f->lines = 0;
    f->warned = false;
    return true;
}

/* Reads the complete lines past the offset and merges them. */
static void file_poll(idshare *s)
{
    ids_file *f = s->be_state;
    if (!reopen_if_replaced(f))
        return;
    size_t have = 0;
    for (;;) {
        ssize_t n = pread(f->rfd, f->buf + have, CHUNK - have, f->off + (off_t)have);
        if (n <= 0)
            break;
        have += (size_t)n;
        size_t start = 0;
        for (char *nl; (nl = memchr(f->buf + start, '\n', have - start));) {
            size_t len = (size_t)(nl - (f->buf + start));
            if (len)
                merge_line(s, f->buf + start, len);
            f->lines++;
            start += len + 1;
        }
        if (start == 0 && have == CHUNK) { /* one line longer than a chunk: not ours */
            metric_add(METRIC_ids_fleet_failures, 1);
            start = have;
        }
        f->off += (off_t)start;
        memmove(f->buf, f->buf + start, have - start);
        have -= start;
    }
}

/* The journal at the path opened for appending and locked, or -1. */
static int open_locked(ids_file *f)
{
    for (int tries = 0; tries < 10; tries++) {
        int fd = open(f->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
            return -1;
        struct stat a, b;
        if (flock(fd, LOCK_EX) == 0 && fstat(fd, &a) == 0 && stat(f->path, &b) == 0 &&
            a.st_ino == b.st_ino && a.st_dev == b.st_dev)
            return fd;
        close(fd); /* replaced by a compaction while we waited: the new one */
    }
    errno = EAGAIN;
    return -1;
}

static void add_line(strbuf *b, const char *scope, const char *legacy, const char *neu,
                     int64_t ms)
{
    json_t *a = json_pack("[s, s, s, I]", scope, legacy, neu, (json_int_t)ms);
    char *text = a ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(a);
    if (!text) {
        b->oom = true;
        return;
    }
    strbuf_add(b, text, strlen(text));
    strbuf_add(b, "\n", 1);
    free(text);
}

static int dump_pair(const char *scope, const char *legacy, const char *neu, int64_t ms,
                     void *arg)
{
    add_line(arg, scope, legacy, neu, ms);
    return 0;
}

/* Under the journal's lock, after reading all of it: the ledger replaces
 * it (temp + fsync + rename). */
static void compact(idshare *s, ids_file *f)
{
    strbuf b = {0};
    idledger_foreach(s->ledger, dump_pair, &b);
    size_t n = strlen(f->path) + 16;
    char *tmp = b.oom ? NULL : malloc(n);
    int fd = -1;
    if (tmp) {
        snprintf(tmp, n, "%s.tmp-XXXXXX", f->path);
        fd = mkstemp(tmp);
    }
    bool ok = fd >= 0 && fdio_write_all(fd, b.p ? b.p : "", b.len) == 0 && fsync(fd) == 0;
    if (fd >= 0)
        ok = close(fd) == 0 && ok;
    ok = ok && rename(tmp, f->path) == 0;
    if (!ok) {
        log_event(LOG_WARN, "ids_fleet_compact_failed", "path", f->path, "error",
                  tmp ? strerror(errno) : "out of memory", NULL);
        metric_add(METRIC_ids_fleet_failures, 1);
        if (fd >= 0)
            unlink(tmp);
    }
    free(tmp);
    free(b.p);
}

static int file_publish(idshare *s, idpair *const *v, size_t n)
{
    ids_file *f = s->be_state;
    strbuf b = {0};
    int fd = open_locked(f);
    int err = errno;
    struct stat st;
    char last = '\n';
    if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size > 0 &&
        pread(fd, &last, 1, st.st_size - 1) == 1 && last != '\n')
        strbuf_add(&b, "\n", 1); /* a writer died mid-line: end it */
    for (size_t i = 0; fd >= 0 && i < n; i++)
        add_line(&b, v[i]->scope, v[i]->legacy, v[i]->neu, v[i]->learned_ms);
    int rc = fd < 0 || b.oom ? -1 : fdio_write_all(fd, b.p, b.len);
    if (rc != 0 && fd >= 0)
        err = b.oom ? ENOMEM : -rc;
    free(b.p);
    if (fd >= 0) {
        file_poll(s); /* the whole journal, ours included: we hold the lock */
        if (rc == 0 && f->lines > f->compact_at)
            compact(s, f);
        close(fd); /* unlocks */
    }
    if (rc != 0) {
        log_event(LOG_DEBUG, "ids_fleet_journal_write_failed", "path", f->path, "error",
                  strerror(err), NULL);
        return -EAGAIN;
    }
    return 0;
}

static void file_close(idshare *s)
{
    ids_file *f = s->be_state;
    if (!f)
        return;
    if (f->rfd >= 0)
        close(f->rfd);
    free(f->buf);
    free(f->path);
    free(f);
    s->be_state = NULL;
}

static const idshare_backend file_backend = {
    .kind = "file",
    .publish = file_publish,
    .poll = file_poll,
    .close = file_close,
    .poll_ms = 200,
};

int idshare_file_open(idshare *s, const char *store_file, char *err, size_t size)
{
    ids_file *f = calloc(1, sizeof *f);
    s->be = &file_backend;
    s->be_state = f;
    size_t n = strlen(store_file) + sizeof ".ids.jsonl";
    if (!f || !(f->buf = malloc(CHUNK)) || !(f->path = malloc(n))) {
        snprintf(err, size, "out of memory");
        return -ENOMEM;
    }
    snprintf(f->path, n, "%s.ids.jsonl", store_file);
    f->rfd = -1;
    f->compact_at = s->max_pairs * 2 + 16;
    file_poll(s); /* what the fleet learned so far, before the first request */
    return 0;
}
