/* logread: see logread.h. gzread() decompresses gzip (several members, as
 * `cat a.gz b.gz` makes) and passes plain files through unchanged. */
#include "diff/logread.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define CHUNK (64u << 10)

struct logread {
    gzFile gz;
    char *path;
    char *buf; /* unread bytes are buf[pos, len) */
    size_t cap, len, pos;
    int eof;
    int cut;      /* a gzip stream that ends early (a file cut short) */
    int skipping; /* inside a line longer than the limit */
    uint64_t line, record_line;
    logread_stats st;
};

int logread_open(logread **out, const char *path, char *err, size_t errsize)
{
    *out = NULL;
    int fd = strcmp(path, "-") == 0 ? dup(STDIN_FILENO) : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errsize, "%s: %s", path, strerror(errno));
        return -1;
    }
    logread *r = calloc(1, sizeof *r);
    if (r)
        r->path = strdup(path);
    if (r && r->path)
        r->gz = gzdopen(fd, "rb");
    if (!r || !r->path || !r->gz) {
        snprintf(err, errsize, "%s: out of memory", path);
        close(fd);
        if (r)
            free(r->path);
        free(r);
        return -1;
    }
    gzbuffer(r->gz, CHUNK);
    *out = r;
    return 0;
}

json_t *logread_parse_line(const char *line, size_t len)
{
    json_t *j = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
    if (j && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

/* Reads more input after buf[len]. 1: got bytes, 0: end, -1: error. */
static int fill(logread *r, char *err, size_t errsize)
{
    if (r->eof)
        return 0;
    if (r->pos > 0) { /* keep only the unread part */
        memmove(r->buf, r->buf + r->pos, r->len - r->pos);
        r->len -= r->pos;
        r->pos = 0;
    }
    if (r->cap - r->len < CHUNK) {
        /* Never more than the longest line we keep plus two chunks: past
         * the limit the line is dropped, so doubling further is waste. */
        size_t ncap = r->cap ? r->cap * 2 : 4 * CHUNK;
        if (ncap > (size_t)LOGREAD_MAX_LINE + 2 * CHUNK)
            ncap = (size_t)LOGREAD_MAX_LINE + 2 * CHUNK;
        if (ncap <= r->cap) { /* full of one line: drop it (too long) */
            r->skipping = 1;
            r->pos = r->len = 0;
            ncap = r->cap;
        }
        char *nb = realloc(r->buf, ncap + 1);
        if (!nb) {
            snprintf(err, errsize, "%s: out of memory", r->path);
            return -1;
        }
        r->buf = nb;
        r->cap = ncap;
    }
    int n = gzread(r->gz, r->buf + r->len, (unsigned)(r->cap - r->len));
    if (n > 0) {
        r->len += (size_t)n;
        return 1;
    }
    r->eof = 1;
    int zerr = 0;
    const char *msg = gzerror(r->gz, &zerr);
    if (n < 0 || (zerr != Z_OK && zerr != Z_BUF_ERROR)) {
        snprintf(err, errsize, "%s: %s", r->path, zerr == Z_ERRNO ? strerror(errno) : msg);
        return -1;
    }
    /* Z_BUF_ERROR at the end: a gzip file cut short; what came out is kept,
     * and the cut counts as a torn last line (logread_next). */
    r->cut = zerr == Z_BUF_ERROR;
    return 0;
}

/* One whole line in buf[pos, pos+*n) without its newline: 1, or 0 at the
 * end (a torn last line is returned with *torn set), -1 on error. */
static int next_line(logread *r, size_t *n, int *torn, char *err, size_t errsize)
{
    size_t scanned = 0;
    *torn = 0;
    for (;;) {
        char *start = r->buf ? r->buf + r->pos : NULL; /* NULL before the first fill */
        char *nl = r->len > r->pos + scanned
                       ? memchr(start + scanned, '\n', r->len - r->pos - scanned)
                       : NULL;
        if (nl) {
            *n = (size_t)(nl - start);
            return 1;
        }
        scanned = r->len - r->pos;
        if (scanned > LOGREAD_MAX_LINE) { /* drop what we have, find the line's end */
            r->skipping = 1;
            r->pos = r->len;
            scanned = 0;
        }
        int rc = fill(r, err, errsize);
        if (rc < 0)
            return -1;
        if (rc == 0) {
            *n = r->len - r->pos;
            *torn = 1;
            return *n > 0 || r->skipping ? 1 : 0;
        }
    }
}

int logread_next(logread *r, json_t **rec, char *err, size_t errsize)
{
    *rec = NULL;
    for (;;) {
        size_t n = 0;
        int torn = 0;
        int rc = next_line(r, &n, &torn, err, errsize);
        if (rc == 0 && r->cut) { /* cut where no partial line was left */
            r->cut = 0;
            r->st.torn++;
        }
        if (rc <= 0)
            return rc;
        const char *line = r->buf + r->pos;
        r->pos += n + (torn ? 0 : 1);
        r->line++;
        r->st.lines++;
        if (r->skipping || n > LOGREAD_MAX_LINE) { /* found whole, but still too long */
            r->skipping = 0;
            r->st.too_long++;
            continue;
        }
        if (n == 0 || (n == 1 && line[0] == '\r'))
            continue; /* blank line: not a record, not an error */
        json_t *j = logread_parse_line(line, n);
        if (torn)
            r->cut = 0; /* the cut shows as this line: counted once */
        if (!j) {
            if (torn)
                r->st.torn++;
            else
                r->st.invalid++;
            continue;
        }
        r->st.records++;
        r->record_line = r->line;
        *rec = j;
        return 1;
    }
}

uint64_t logread_line(const logread *r) { return r->record_line; }
const logread_stats *logread_stats_of(const logread *r) { return &r->st; }
const char *logread_path(const logread *r) { return r->path; }

void logread_close(logread *r)
{
    if (!r)
        return;
    gzclose(r->gz);
    free(r->buf);
    free(r->path);
    free(r);
}
