/* store_file: the decision store in a file on one host (file:PATH), shared
 * by the processes that name it.
 *
 *   PATH           the decisions, {"version": 1, "revision": N, ...}
 *   PATH.lock      flock(2)ed around every read-modify-write
 *   PATH.last-good the last valid decisions (startup falls back to it)
 *   PATH.log       the audit trail, one JSON line per change
 *   PATH.fleet/    one registration file per live replica (ID.json)
 *
 * A change reads PATH under the lock, applies the edit to what it read
 * (per key: two processes changing different routes both win), writes
 * revision + 1 and appends to the log. A deleted or invalid PATH never
 * reverts anything: the decisions in force stay, a warning is logged and
 * counted, and the next change rewrites the file from them. */
#include "ctrl/store_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"

/* How long a change waits for another process's lock before it is refused
 * (a change holds it for a few ms: read, fsync'd write, append). */
#define LOCK_WAIT_MS 5000
/* History reads at most this much of the end of PATH.log. */
#define HISTORY_TAIL_BYTES ((size_t)4 << 20)

typedef struct file_store {
    store base;        /* first: the store is the file_store */
    char *path, *lock_path, *good_path, *log_path, *fleet_dir, *self_path;
    bool missing_warned; /* the deletion was reported; reset once the file is back */
} file_store;

static char *join(const char *a, const char *b)
{
    char *p;
    return asprintf(&p, "%s%s", a, b) < 0 ? NULL : p;
}

/* 0 with *out, -ENOENT, -EINVAL with errs filled, or another -errno. */
static int read_decisions(const char *path, ops_state **out, config_errors *errs)
{
    char *buf;
    size_t n;
    *out = NULL;
    int err = config_read_file(path, OPS_MAX_FILE_BYTES, &buf, &n);
    if (err == ENOENT)
        return -ENOENT;
    if (err) {
        char eb[128];
        config_errors_add(errs, 0, 0, "cannot read: %s", strerror_r(err, eb, sizeof eb));
        return -err;
    }
    *out = ops_from_json_text(buf, n, errs);
    free(buf);
    return *out ? 0 : -EINVAL;
}

/* "PATH:LINE:COL: message" per error, as one log event each. */
static void log_errors(const char *event, const char *path, const config_errors *e)
{
    char line[1200];
    for (size_t i = 0; i < e->n; i++)
        log_event(LOG_ERROR, event, "error", config_error_text(path, &e->v[i], line, sizeof line),
                  NULL);
}

/* ---- the lock ------------------------------------------------------------------- */

/* The lock lives in its own file: PATH itself is replaced by rename(2), so
 * a lock on it would be on an inode nobody else opens any more. */
static int lock_store(const file_store *f, char *msg, size_t size)
{
    int fd = open(f->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        int err = errno;
        snprintf(msg, size, "decision store %s: cannot open its lock %s: %s", f->base.st.name,
                 f->lock_path, strerror(err));
        return -err;
    }
    int64_t deadline = (int64_t)(clock_now_ns() / 1000000) + LOCK_WAIT_MS;
    while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if ((errno != EWOULDBLOCK && errno != EINTR) ||
            (int64_t)(clock_now_ns() / 1000000) > deadline) {
            int err = errno == EWOULDBLOCK ? ETIMEDOUT : errno;
            snprintf(msg, size, "decision store %s: lock %s not obtained: %s", f->base.st.name,
                     f->lock_path, err == ETIMEDOUT ? "held by another process for 5 s"
                                                    : strerror(err));
            close(fd);
            return -err;
        }
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return fd;
}

static void unlock_store(int fd)
{
    flock(fd, LOCK_UN);
    close(fd);
}

/* ---- commit ------------------------------------------------------------------- */

/* Appends one line to PATH.log: O_APPEND, one write(2) (whole lines even
 * with several writers; they hold the lock anyway). 0 or -errno. */
static int append_line(const char *path, const json_t *rec)
{
    char *line = json_dumps(rec, JSON_COMPACT);
    if (!line)
        return -ENOMEM;
    size_t n = strlen(line);
    line[n] = '\n'; /* replaces the NUL: written with its length */
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644), rc = 0;
    if (fd < 0)
        rc = -errno;
    else if (write(fd, line, n + 1) != (ssize_t)(n + 1))
        rc = errno ? -errno : -EIO;
    if (fd >= 0 && close(fd) != 0 && !rc)
        rc = -errno;
    free(line);
    return rc;
}

/* The decisions to change: PATH's, or (deleted or invalid) the ones in
 * force here. Called under the lock. NULL with msg when PATH cannot be
 * read at all. New reference. */
static ops_state *base_for_change(file_store *f, const ops_state *local, char *msg, size_t size)
{
    config_errors errs = {0};
    ops_state *cur = NULL;
    int rc = read_decisions(f->path, &cur, &errs);
    if (rc == 0 || rc == -ENOENT || rc == -EINVAL) {
        if (rc == -ENOENT && local->revision > 0) {
            log_event(LOG_WARN, "state_file_missing", "path", f->path, "action",
                      "rewritten from the decisions in force", NULL);
            store_warned(&f->base);
        } else if (rc == -EINVAL) {
            log_errors("state_file_invalid", f->path, &errs);
            log_event(LOG_WARN, "state_file_replaced", "path", f->path, "why",
                      "invalid; rewritten from the decisions in force", NULL);
            store_warned(&f->base);
        }
        config_errors_free(&errs);
        return cur ? cur : ops_ref((ops_state *)local);
    }
    snprintf(msg, size, "decision store %s cannot be read: %s", f->base.st.name,
             errs.n ? errs.v[0].message : strerror(-rc));
    config_errors_free(&errs);
    return NULL;
}

static int file_commit(store *s, const ops_state *local, store_edit_fn edit, void *arg,
                       const json_t *audit, ops_state **out, char *msg, size_t size)
{
    file_store *f = (file_store *)s;
    int lock = lock_store(f, msg, size);
    if (lock < 0) {
        store_mark(s, false, 0, msg);
        return -EAGAIN;
    }
    ops_state *base = base_for_change(f, local, msg, size), *next = NULL;
    int rc = base ? 0 : -EAGAIN;
    if (base && !(next = edit(base, arg)))
        rc = errno ? -errno : -ENOMEM;
    if (next) {
        int64_t rev = base->revision > local->revision ? base->revision : local->revision;
        next->revision = rev + 1;
        int err = ops_save(f->path, next);
        if (err) {
            snprintf(msg, size, "decision store %s cannot be written: %s", s->st.name,
                     strerror(-err));
            rc = -EAGAIN;
        }
    }
    if (rc == 0) {
        int err = ops_save(f->good_path, next);
        json_t *rec = store_audit_record(audit, base, next);
        int lerr = rec ? append_line(f->log_path, rec) : -ENOMEM;
        json_decref(rec);
        if (err || lerr) {
            log_event(LOG_WARN, "decisions_side_file_failed", "path",
                      err ? f->good_path : f->log_path, "error", strerror(-(err ? err : lerr)),
                      NULL);
            store_warned(s);
        }
    }
    unlock_store(lock);
    ops_unref(base);
    if (rc == -EAGAIN) {
        store_mark(s, false, 0, msg);
        ops_unref(next);
        return rc;
    }
    if (rc) {
        ops_unref(next);
        return rc;
    }
    f->missing_warned = false;
    store_mark(s, true, next->revision, NULL);
    *out = next;
    return 0;
}

/* ---- refresh ---------------------------------------------------------------- */

static int file_refresh(store *s, const ops_state *local, ops_state **out)
{
    file_store *f = (file_store *)s;
    config_errors errs = {0};
    ops_state *o = NULL;
    int rc = read_decisions(f->path, &o, &errs);
    if (rc == -ENOENT) {
        if (!f->missing_warned) {
            char rev[24];
            snprintf(rev, sizeof rev, "%lld", (long long)local->revision);
            log_event(LOG_WARN, "state_file_missing", "path", f->path, "kept_revision", rev,
                      "action", "the decisions in force stay; the next change rewrites it", NULL);
            store_warned(s);
            f->missing_warned = true;
        }
    } else if (rc) {
        log_errors("state_file_invalid", f->path, &errs);
        store_warned(s);
    }
    config_errors_free(&errs);
    if (rc)
        return 0;
    f->missing_warned = false;
    store_mark(s, true, o->revision, NULL);
    if (!store_is_newer(s, local, o)) {
        ops_unref(o);
        return 0;
    }
    if (ops_save(f->good_path, o) != 0) /* a hand edit: keep a copy of it too */
        store_warned(s);
    *out = o;
    return 1;
}

/* ---- the fleet ---------------------------------------------------------------- */

/* PATH.fleet/ID.json, replaced atomically (readers never see half). */
static void file_publish_self(store *s)
{
    file_store *f = (file_store *)s;
    json_t *me = store_self_json(s);
    char *text = me ? json_dumps(me, JSON_COMPACT) : NULL;
    json_decref(me);
    char tmp[4400];
    snprintf(tmp, sizeof tmp, "%s.tmp", f->self_path);
    int fd = -1;
    if (text && (mkdir(f->fleet_dir, 0755) == 0 || errno == EEXIST))
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    bool ok = fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text);
    if (fd >= 0 && close(fd) != 0)
        ok = false;
    if (!ok || rename(tmp, f->self_path) != 0) {
        if (fd >= 0)
            unlink(tmp);
        log_event(LOG_DEBUG, "fleet_registration_failed", "path", f->self_path, NULL);
    } else {
        store_touch(s); /* the store's directory is there and writable */
    }
    free(text);
}

static json_t *file_fleet(store *s)
{
    file_store *f = (file_store *)s;
    json_t *all = json_array();
    DIR *d = opendir(f->fleet_dir);
    if (!d || !all) {
        if (d)
            closedir(d);
        return all; /* nobody registered yet */
    }
    int64_t now = clock_wall_ms();
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 6 || strcmp(e->d_name + n - 5, ".json") != 0)
            continue;
        char p[4400];
        snprintf(p, sizeof p, "%s/%s", f->fleet_dir, e->d_name);
        json_t *r = json_load_file(p, 0, NULL);
        if (r && store_entry_live(r, now))
            json_array_append(all, r);
        json_decref(r);
    }
    closedir(d);
    return all;
}

/* ---- history ------------------------------------------------------------------ */

static json_t *file_history(store *s, int limit, char *msg, size_t size)
{
    file_store *f = (file_store *)s;
    json_t *out = json_array();
    FILE *fp = fopen(f->log_path, "re");
    if (!fp) {
        if (errno == ENOENT)
            return out; /* no change yet */
        snprintf(msg, size, "decision store %s: cannot read %s: %s", s->st.name, f->log_path,
                 strerror(errno));
        json_decref(out);
        return NULL;
    }
    struct stat sb;
    if (fstat(fileno(fp), &sb) == 0 && (size_t)sb.st_size > HISTORY_TAIL_BYTES) {
        fseeko(fp, sb.st_size - (off_t)HISTORY_TAIL_BYTES, SEEK_SET);
        int c;
        while ((c = fgetc(fp)) != EOF && c != '\n') /* skip the cut line */
            ;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, fp)) > 0) {
        json_t *r = json_loadb(line, (size_t)n, 0, NULL);
        if (json_is_object(r))
            json_array_insert_new(out, 0, r); /* newest first */
        else
            json_decref(r);
        while (limit > 0 && json_array_size(out) > (size_t)limit)
            json_array_remove(out, json_array_size(out) - 1);
    }
    free(line);
    fclose(fp);
    return out;
}

/* ---- open / close --------------------------------------------------------------- */

static void file_close(store *s)
{
    file_store *f = (file_store *)s;
    if (f->self_path) /* gone from the fleet at once, not after STORE_LIVE_MS */
        unlink(f->self_path);
    free(f->path);
    free(f->lock_path);
    free(f->good_path);
    free(f->log_path);
    free(f->fleet_dir);
    free(f->self_path);
    store_base_destroy(s);
    free(f);
}

static const char *file_path(const store *s) { return ((const file_store *)s)->path; }

static const store_vt file_vt = {
    .file_path = file_path,
    .commit = file_commit,
    .refresh = file_refresh,
    .publish_self = file_publish_self,
    .fleet = file_fleet,
    .history = file_history,
    .close = file_close,
    .monotonic = false,
};

static void print_errors(const char *path, const config_errors *e)
{
    char line[1200];
    for (size_t i = 0; i < e->n; i++)
        fprintf(stderr, "%s\n", config_error_text(path, &e->v[i], line, sizeof line));
}

/* The decisions to start with: PATH, else PATH.last-good (invalid or
 * deleted PATH), else none (no file yet). 0 or -EINVAL. */
static int load_initial(file_store *f, ops_state **initial)
{
    config_errors errs = {0}, gerrs = {0};
    int rc = read_decisions(f->path, initial, &errs);
    if (rc != 0 && rc != -ENOENT)
        print_errors(f->path, &errs);
    config_errors_free(&errs);
    if (rc == 0)
        return 0;
    ops_state *good = NULL;
    int grc = read_decisions(f->good_path, &good, &gerrs);
    config_errors_free(&gerrs);
    if (grc == 0) {
        log_event(LOG_WARN, "state_file_last_good_used", "path", f->path, "why",
                  rc == -ENOENT ? "missing" : "invalid", "using", f->good_path, NULL);
        store_warned(&f->base);
        *initial = good;
        return 0;
    }
    if (rc == -ENOENT)
        return (*initial = ops_new()) ? 0 : -ENOMEM;
    fprintf(stderr, "serve: the state file %s is not usable (and there is no valid %s to start "
                    "from)\n", f->path, f->good_path);
    return -EINVAL;
}

int store_file_open(store **out, const sp_config *cfg, const char *path, ops_state **initial)
{
    (void)cfg;
    file_store *f = calloc(1, sizeof *f);
    if (!f)
        return -ENOMEM;
    char name[4200];
    snprintf(name, sizeof name, "file:%s", path);
    store_base_init(&f->base, &file_vt, name);
    f->path = strdup(path);
    f->lock_path = join(path, ".lock");
    f->good_path = join(path, ".last-good");
    f->log_path = join(path, ".log");
    f->fleet_dir = join(path, ".fleet");
    char self[400];
    snprintf(self, sizeof self, "/%s.json", f->base.id);
    f->self_path = f->fleet_dir ? join(f->fleet_dir, self) : NULL;
    if (!f->path || !f->lock_path || !f->good_path || !f->log_path || !f->self_path) {
        file_close(&f->base);
        return -ENOMEM;
    }
    int rc = load_initial(f, initial);
    if (rc)
        file_close(&f->base);
    else
        *out = store_opened(&f->base, *initial);
    return rc;
}
