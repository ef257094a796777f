/* replay_req: turns a diff-log record back into the request the client
 * sent, or says why it cannot be sent unaltered. Pure: no I/O. */
#ifndef SP_REPLAY_REQ_H
#define SP_REPLAY_REQ_H

#include <jansson.h>
#include <stddef.h>

/* Why a record is not replayed: a counter per reason in the summary. */
#define REPLAY_SKIP_LIST(X)                                                   \
    X(NOT_REQUEST, "not a request record")                                    \
    X(INCOMPLETE, "capture incomplete (comparison queue full)")               \
    X(WRITE_PAUSED, "write refused while writes were paused")                 \
    X(BODY_CUT, "request body cut (diff_log.max_body_bytes)")                 \
    X(BODY_REDACTED, "request body redacted or withheld")                     \
    X(BODY_OVERSIZE, "request body too large to embed")                       \
    X(FIELD_REDACTED, "redacted value in the request body")                   \
    X(URI_REDACTED, "redacted query parameter in the uri")                    \
    X(HEADER_REDACTED, "redacted header without --set-header")                \
    X(ENCODED, "compressed request body (Content-Encoding)")                  \
    X(BAD_BODY, "request body not decodable")

typedef enum replay_skip {
#define X(id, text) REPLAY_SKIP_##id,
    REPLAY_SKIP_LIST(X)
#undef X
    REPLAY_SKIP_COUNT
} replay_skip;

const char *replay_skip_text(replay_skip s);

/* A header the operator supplies for every request ("Name: value"),
 * replacing any recorded one of that name: how redacted credentials are
 * given back. */
typedef struct replay_header {
    char *name, *value;
} replay_header;

typedef struct replay_req {
    char id[64];
    char *method, *uri;
    char **headers; /* "Name: value" lines, NULL-terminated */
    size_t nheaders;
    unsigned char *body;
    size_t body_len;
    int has_body;
} replay_req;

/* 0: *out is the request (free with replay_req_free); 1: skipped, *why set;
 * -1: out of memory. */
int replay_req_build(const json_t *rec, const replay_header *set, size_t nset,
                     replay_req *out, replay_skip *why);
void replay_req_free(replay_req *r);

/* Parses "Name: value" (name a token, value without CR/LF). 0 or -1. */
int replay_header_parse(const char *s, replay_header *out);

#endif
