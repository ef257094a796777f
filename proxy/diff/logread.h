/* logread: reads diff logs back, one record at a time, for `report` and
 * `replay`. Plain or gzip files (zlib reads both), "-" for stdin; lines of
 * any length up to LOGREAD_MAX_LINE; a last line without its newline (a
 * log cut by kill -9 or a full disk) and lines that are not JSON objects are
 * counted, never fatal. */
#ifndef SP_LOGREAD_H
#define SP_LOGREAD_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define LOGREAD_MAX_LINE (256u << 20) /* longer lines are skipped as too long */

typedef struct logread_stats {
    uint64_t lines;    /* lines seen, torn last line included */
    uint64_t records;  /* JSON objects returned */
    uint64_t torn;     /* last line without newline that is not valid JSON, or a
                        * gzip stream that ends early (records after the cut lost) */
    uint64_t invalid;  /* not JSON, or JSON but not an object */
    uint64_t too_long; /* longer than LOGREAD_MAX_LINE */
} logread_stats;

typedef struct logread logread;

/* 0, or -1 with a message in err. */
int logread_open(logread **out, const char *path, char *err, size_t errsize);

/* 1: *rec is the next record (caller owns it); 0: end of input;
 * -1: read error (err says which; what was read before stays valid). */
int logread_next(logread *r, json_t **rec, char *err, size_t errsize);

/* 1-based line number of the record last returned. */
uint64_t logread_line(const logread *r);
const logread_stats *logread_stats_of(const logread *r);
const char *logread_path(const logread *r);
void logread_close(logread *r);

/* Parses one line (no newline) as a record: a JSON object, or NULL. */
json_t *logread_parse_line(const char *line, size_t len);

#endif
