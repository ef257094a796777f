/* admin_records: GET /api/history, the diff log's records beyond the
 * dashboard's memory, read from the file on disk (docs/operations.md, "The
 * dashboard"). The file is read backwards from a byte offset, in bounded
 * chunks, newest first: never the whole file, at most RECS_SCAN_MAX bytes
 * per call, lines over RECS_LINE_MAX skipped (counted). The records were
 * redacted when they were written; nothing here adds to them. Connection
 * threads; each call opens the file itself (logrotate may have replaced
 * it), and at most RECS_CONCURRENT calls scan at once. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin/admin_int.h"
#include "diff/logread.h"
#include "obs/live.h"

#define RECS_CHUNK (64u << 10)      /* bytes read at a time looking for a line's start */
#define RECS_SCAN_MAX (32u << 20)   /* bytes read per call at most: then the page ends early */
#define RECS_LINE_MAX (8u << 20)    /* a longer line is skipped (diff_log.max_body keeps records far smaller) */
#define RECS_LIMIT_DEFAULT 50
#define RECS_LIMIT_MAX 200
#define RECS_CONCURRENT 2           /* scans at once; more get 503 */
#define RECS_ARG_MAX 512            /* bytes of a filter value */
#define RECS_FIELDS_MAX 20          /* distinct difference paths listed per summary */

static atomic_int scans_running;

/* What a call asks for. NULL: no filter on that. */
typedef struct recs_query {
    const char *route, *endpoint, *field, *verdict, *id;
    char since[32], until[32]; /* "" or canonical timestamps (clock_format_ts's form) */
    const char *log;           /* the log id the cursor came from */
    long long before;          /* -1: from the end */
    long limit;
} recs_query;

/* A scan's state over [0, pos) of the file. */
typedef struct recs_scan {
    int fd;
    long long pos;     /* the lines that end at or before pos are left to read */
    uint64_t scanned;  /* bytes read */
    char *chunk;       /* RECS_CHUNK bytes */
    uint64_t too_long, invalid, partial;
} recs_scan;

/* ---- the query ------------------------------------------------------------------ */

/* A timestamp the way records have them ("2026-12-07T09:14:35.123Z"), or
 * any prefix of one ("2026-12-07", "2026-12-07T09:14"), with or without
 * the Z; completed from `fill` (the earliest or latest instant it names).
 * false when it is not one. */
static bool canonical_ts(const char *in, const char *fill, char out[32])
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    size_t n = strlen(in);
    if (n > 0 && in[n - 1] == 'Z')
        n--;
    if (n < 4 || n > sizeof shape - 2) /* shape without its Z and NUL */
        return false;
    for (size_t i = 0; i < n; i++)
        if (shape[i] == 'd' ? (in[i] < '0' || in[i] > '9') : in[i] != shape[i])
            return false;
    if (n != 4 && n != 7 && n != 10 && n != 13 && n != 16 && n != 19 && n < 21)
        return false; /* cut inside a field */
    memcpy(out, in, n);
    memcpy(out + n, fill + n, sizeof shape - n); /* fill has the same shape, with its NUL */
    int mo = (out[5] - '0') * 10 + out[6] - '0', d = (out[8] - '0') * 10 + out[9] - '0';
    int h = (out[11] - '0') * 10 + out[12] - '0', mi = (out[14] - '0') * 10 + out[15] - '0';
    int sec = (out[17] - '0') * 10 + out[18] - '0';
    return mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h <= 23 && mi <= 59 && sec <= 59;
}

typedef struct args_check {
    char bad[64];
} args_check;

static enum MHD_Result check_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    (void)kind;
    static const char *const known[] = {"before", "limit", "route", "endpoint", "field",
                                        "verdict", "since", "until", "id", "log", NULL};
    args_check *c = cls;
    bool ok = false;
    for (const char *const *k = known; *k && !ok; k++)
        ok = strcmp(*k, key) == 0;
    if (ok && value && strlen(value) > RECS_ARG_MAX)
        ok = false;
    if (!ok) {
        snprintf(c->bad, sizeof c->bad, "%.48s", key);
        return MHD_NO;
    }
    return MHD_YES;
}

static const char *arg(const admin_req *rq, const char *name)
{
    const char *v = MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, name);
    return v && *v ? v : NULL;
}

static bool parse_query(const admin_req *rq, recs_query *q, admin_reply *r)
{
    args_check c = {.bad = ""};
    MHD_get_connection_values(rq->conn, MHD_GET_ARGUMENT_KIND, check_arg, &c);
    if (c.bad[0]) {
        *r = admin_error_reply(400, "unknown or too long parameter \"%s\" (expected before, "
                               "limit, route, endpoint, field, verdict, since, until, id, log; "
                               "values up to %d bytes)", c.bad, RECS_ARG_MAX);
        return false;
    }
    *q = (recs_query){.route = arg(rq, "route"), .endpoint = arg(rq, "endpoint"),
                      .field = arg(rq, "field"), .verdict = arg(rq, "verdict"),
                      .id = arg(rq, "id"), .log = arg(rq, "log"), .before = -1,
                      .limit = RECS_LIMIT_DEFAULT};
    const char *v = arg(rq, "limit");
    char *end = NULL;
    if (v) {
        errno = 0;
        q->limit = strtol(v, &end, 10);
        if (*end || errno || q->limit < 1 || q->limit > RECS_LIMIT_MAX) {
            *r = admin_error_reply(400, "limit must be a whole number from 1 to %d", RECS_LIMIT_MAX);
            return false;
        }
    }
    if ((v = arg(rq, "before"))) {
        errno = 0;
        q->before = strtoll(v, &end, 10);
        if (*v < '0' || *v > '9' || *end || errno) {
            *r = admin_error_reply(400, "before must be a byte offset (next_before of the "
                                   "previous page)");
            return false;
        }
    }
    static const char first[] = "0000-01-01T00:00:00.000Z", last[] = "9999-12-31T23:59:59.999Z";
    if ((v = arg(rq, "since")) && !canonical_ts(v, first, q->since)) {
        *r = admin_error_reply(400, "since must be a UTC time like 2026-12-07T09:14:35.123Z "
                               "(or a prefix: 2026-12-07, 2026-12-07T09:14)");
        return false;
    }
    if ((v = arg(rq, "until")) && !canonical_ts(v, last, q->until)) {
        *r = admin_error_reply(400, "until must be a UTC time like 2026-12-07T09:14:35.123Z "
                               "(or a prefix: 2026-12-07, 2026-12-07T09:14)");
        return false;
    }
    return true;
}

static bool str_is(json_t *v, const char *want)
{
    return json_is_string(v) && strcmp(json_string_value(v), want) == 0;
}

/* Does the record pass every filter given? */
static bool record_matches(json_t *rec, const recs_query *q)
{
    if (q->route && !str_is(json_object_get(rec, "route"), q->route))
        return false;
    if (q->endpoint && !str_is(json_object_get(rec, "endpoint"), q->endpoint))
        return false;
    if (q->verdict && !str_is(json_object_get(rec, "verdict"), q->verdict))
        return false;
    if (q->id && !str_is(json_object_get(rec, "id"), q->id) &&
        !str_is(json_object_get(rec, "client_request_id"), q->id))
        return false;
    if (q->since[0] || q->until[0]) {
        const char *ts = json_string_value(json_object_get(rec, "ts"));
        if (!ts || (q->since[0] && strcmp(ts, q->since) < 0) ||
            (q->until[0] && strcmp(ts, q->until) > 0))
            return false;
    }
    if (q->field) {
        json_t *diffs = json_object_get(rec, "differences"), *d;
        size_t i;
        bool found = false;
        json_array_foreach(diffs, i, d) {
            if (str_is(json_object_get(d, "path"), q->field)) {
                found = true;
                break;
            }
        }
        if (!found)
            return false;
    }
    return true;
}

/* The record's distinct difference paths, at most RECS_FIELDS_MAX: the
 * page's table of fields comes from them. only_noise: just the paths of
 * differences marked noise (3-way noise), for the table's noise rate. A new
 * reference or NULL. */
static json_t *fields_of(json_t *rec, bool only_noise)
{
    json_t *out = json_array(), *d;
    size_t i;
    json_array_foreach(json_object_get(rec, "differences"), i, d) {
        json_t *path = json_object_get(d, "path");
        if (!out || json_array_size(out) >= RECS_FIELDS_MAX)
            break;
        if (!json_is_string(path) || json_string_length(path) == 0)
            continue;
        if (only_noise && !json_is_true(json_object_get(d, "noise")))
            continue;
        bool seen = false;
        for (size_t k = 0; k < json_array_size(out) && !seen; k++)
            seen = json_equal(json_array_get(out, k), path);
        if (!seen && json_array_append(out, path) != 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

/* ---- reading the file ------------------------------------------------------------- */

/* Reads exactly n bytes at off, counted. 0 or -errno (-EIO: the file
 * shrank under us). */
static int read_at(recs_scan *s, void *buf, size_t n, long long off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = pread(s->fd, (char *)buf + got, n - got, (off_t)(off + (long long)got));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return k < 0 ? -errno : -EIO;
        got += (size_t)k;
    }
    s->scanned += n;
    return 0;
}

/* The start of the line that ends at `end` (the byte after its text):
 * the byte after the previous '\n', or 0. 1 with *start set; 0 when the
 * scan budget ran out first (*start = where the search got to); -errno. */
static int line_start(recs_scan *s, long long end, long long *start)
{
    long long p = end;
    while (p > 0) {
        if (s->scanned + RECS_CHUNK > RECS_SCAN_MAX) {
            *start = p;
            return 0;
        }
        size_t n = p >= (long long)RECS_CHUNK ? RECS_CHUNK : (size_t)p;
        int rc = read_at(s, s->chunk, n, p - (long long)n);
        if (rc < 0)
            return rc;
        const char *nl = memrchr(s->chunk, '\n', n);
        if (nl) {
            *start = p - (long long)n + (nl - s->chunk) + 1;
            return 1;
        }
        p -= (long long)n;
    }
    *start = 0;
    return 1;
}

/* The record whose line is [start, end) (no newline), or NULL (counted:
 * too long, or not a JSON object). *err = -errno on a read error. */
static json_t *read_record(recs_scan *s, long long start, long long end, size_t *len, int *err)
{
    *len = (size_t)(end - start);
    if (*len > RECS_LINE_MAX) {
        s->too_long++;
        return NULL;
    }
    char *line = malloc(*len + 1);
    if (!line) {
        *err = -ENOMEM;
        return NULL;
    }
    int rc = read_at(s, line, *len, start);
    json_t *rec = rc == 0 ? logread_parse_line(line, *len) : NULL;
    free(line);
    if (rc < 0)
        *err = rc;
    else if (!rec)
        s->invalid++;
    return rec;
}

/* Walks back from s->pos, adding the summaries of matching records to
 * out until q->limit of them, the start of the file or the scan budget.
 * Leaves s->pos where the next page begins. 0 or -errno. */
static int scan_back(recs_scan *s, const recs_query *q, json_t *out)
{
    /* A cursor inside a line (or a last line still being written, without
     * its newline): that piece is skipped, not parsed. */
    if (s->pos > 0) {
        char c;
        int rc = read_at(s, &c, 1, s->pos - 1);
        if (rc < 0)
            return rc;
        if (c != '\n') {
            long long start;
            rc = line_start(s, s->pos, &start);
            if (rc <= 0)
                return rc < 0 ? rc : (s->pos = start, 0);
            s->partial++;
            s->pos = start;
        }
    }
    while (s->pos > 0 && json_array_size(out) < (size_t)q->limit) {
        long long end = s->pos - 1, start; /* the text before the '\n' at pos - 1 */
        int rc = line_start(s, end, &start);
        if (rc < 0)
            return rc;
        if (rc == 0) {
            /* out of budget: a line that may be a record is read again by
             * the next page; one too long anyway is skipped from here */
            if (end - start > (long long)RECS_LINE_MAX) {
                s->too_long++;
                s->pos = start;
            }
            return 0;
        }
        if ((uint64_t)(end - start) > RECS_LINE_MAX ||
            s->scanned + (uint64_t)(end - start) <= RECS_SCAN_MAX) {
            size_t len = 0;
            int err = 0;
            json_t *rec = read_record(s, start, end, &len, &err);
            if (err)
                return err;
            if (rec && record_matches(rec, q)) {
                json_t *sum = live_summary(rec, len, false);
                if (!sum || json_object_set_new(sum, "offset", json_integer(start)) != 0 ||
                    json_object_set_new(sum, "fields", fields_of(rec, false)) != 0 ||
                    json_object_set_new(sum, "noise_fields", fields_of(rec, true)) != 0 ||
                    json_array_append_new(out, sum) != 0) {
                    json_decref(rec);
                    return -ENOMEM;
                }
            }
            json_decref(rec);
        } else {
            return 0; /* that record does not fit in this page's budget: the next one reads it */
        }
        s->pos = start;
    }
    return 0;
}

/* Opens the diff log for reading, as the writer would (no symbolic link
 * unless allowed, a regular file only: a FIFO would block). fd or -errno. */
static int open_log(const admin *a, struct stat *st)
{
    int flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | (a->cfg->diff_log_follow_symlinks ? 0 : O_NOFOLLOW);
    int fd = open(a->cfg->diff_log_path, flags);
    if (fd < 0)
        return -errno;
    int e = fstat(fd, st) != 0 ? errno : !S_ISREG(st->st_mode) ? EINVAL : 0;
    if (e) {
        close(fd);
        return -e;
    }
    return fd;
}

/* "dev:inode" of the file: a cursor from another file (logrotate) is refused. */
static void log_id(const struct stat *st, char *buf, size_t size)
{
    snprintf(buf, size, "%llx:%llx", (unsigned long long)st->st_dev, (unsigned long long)st->st_ino);
}

/* ---- the endpoints --------------------------------------------------------------- */

/* GET /api/history/OFFSET: the whole record whose line starts at OFFSET. */
static admin_reply one_record(admin *a, const char *tail)
{
    char *end = NULL;
    errno = 0;
    long long off = strtoll(tail, &end, 10);
    if (*tail < '0' || *tail > '9' || *end || errno)
        return admin_error_reply(404, "no endpoint /api/history/%.40s (GET /api/history/OFFSET, "
                                 "OFFSET from GET /api/history)", tail);
    struct stat st;
    int fd = open_log(a, &st);
    if (fd < 0)
        return admin_error_reply(503, "cannot read the diff log: %s", strerror(-fd));
    recs_scan s = {.fd = fd};
    char c = '\n';
    admin_reply r;
    if (off >= (long long)st.st_size || (off > 0 && read_at(&s, &c, 1, off - 1) != 0) || c != '\n') {
        r = admin_error_reply(404, "no record starts at byte %lld of the diff log", off);
        goto out;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        size_t want = RECS_CHUNK;
        if (len + want > RECS_LINE_MAX + 1)
            want = RECS_LINE_MAX + 1 - len;
        if (want == 0 || (long long)len >= (long long)st.st_size - off)
            break;
        if (len + want > cap) {
            char *nb = realloc(buf, len + want + 1);
            if (!nb) {
                free(buf);
                close(fd);
                return admin_error_reply(500, "out of memory");
            }
            buf = nb, cap = len + want;
        }
        ssize_t k = pread(fd, buf + len, want, (off_t)(off + (long long)len));
        if (k <= 0)
            break;
        char *nl = memchr(buf + len, '\n', (size_t)k);
        len += (size_t)k;
        if (nl) {
            len = (size_t)(nl - buf);
            break;
        }
    }
    json_t *rec = buf && len <= RECS_LINE_MAX ? logread_parse_line(buf, len) : NULL;
    if (rec) {
        json_decref(rec);
        buf[len] = '\0';
        r = (admin_reply){.status = 200, .text = buf, .len = len, .ctype = "application/json"};
        buf = NULL;
    } else {
        r = admin_error_reply(404, "the line at byte %lld of the diff log is not a record "
                              "(or is over %u bytes)", off, RECS_LINE_MAX);
    }
    free(buf);
out:
    close(fd);
    return r;
}

admin_reply admin_h_records(admin *a, admin_req *rq)
{
    const char *tail = rq->url + strlen("/api/history");
    if (*tail == '/')
        return one_record(a, tail + 1);
    recs_query q;
    admin_reply r;
    if (!parse_query(rq, &q, &r))
        return r;
    if (atomic_fetch_add(&scans_running, 1) >= RECS_CONCURRENT) {
        atomic_fetch_sub(&scans_running, 1);
        return admin_error_reply(503, "%d history reads are running; try again", RECS_CONCURRENT);
    }
    struct stat st;
    char id[64];
    recs_scan s = {.fd = -1};
    json_t *out = json_array();
    int fd = open_log(a, &st);
    if (fd < 0) {
        r = admin_error_reply(503, "cannot read the diff log: %s", strerror(-fd));
        goto out;
    }
    log_id(&st, id, sizeof id);
    if (q.log && strcmp(q.log, id) != 0) {
        r = admin_error_reply(409, "the diff log was rotated since that page: start again from "
                              "the newest records");
        goto out;
    }
    if (q.before > (long long)st.st_size) {
        r = admin_error_reply(400, "before (%lld) is past the end of the diff log (%lld bytes)",
                              q.before, (long long)st.st_size);
        goto out;
    }
    s = (recs_scan){.fd = fd, .pos = q.before < 0 ? (long long)st.st_size : q.before,
                    .chunk = malloc(RECS_CHUNK)};
    int rc = !s.chunk || !out ? -ENOMEM : scan_back(&s, &q, out);
    if (rc < 0) {
        r = admin_error_reply(rc == -ENOMEM ? 500 : 503, "reading the diff log: %s", strerror(-rc));
        goto out;
    }
    bool capped = s.pos > 0 && json_array_size(out) < (size_t)q.limit;
    r = admin_json_reply(200, json_pack("{s:O, s:o, s:I, s:s, s:I, s:b, s:{s:I, s:I, s:I}, s:{s:I, s:I, s:I}}",
        "records", out, "next_before", s.pos > 0 ? json_integer(s.pos) : json_null(),
        "file_bytes", (json_int_t)st.st_size, "log", id, "scanned_bytes", (json_int_t)s.scanned,
        "scan_capped", capped, "skipped", "too_long", (json_int_t)s.too_long, "invalid",
        (json_int_t)s.invalid, "partial", (json_int_t)s.partial, "limits", "limit",
        (json_int_t)q.limit, "scan_bytes", (json_int_t)RECS_SCAN_MAX, "line_bytes",
        (json_int_t)RECS_LINE_MAX));
out:
    json_decref(out);
    free(s.chunk);
    if (fd >= 0)
        close(fd);
    atomic_fetch_sub(&scans_running, 1);
    return r;
}
