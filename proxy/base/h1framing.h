/* h1framing: the framing rules an HTTP/1.x answer's head must keep
 * (RFC 9112 6.3), in one place for both shadow clients: the lean client's
 * parser (base/h1parse.h) and the exchange's check of curl's answers
 * (data/exchange_answer.c), so the rule and its words are the same
 * whichever client read the answer. Pure: no I/O, no allocation, no
 * globals; any thread, one h1framing per head.
 *
 * Refused (h1framing_why):
 *   - a Content-Length that is not a plain decimal number: empty, a sign,
 *     spaces inside, "12abc" (curl reads 12), a list "5, 5";
 *   - one over 2^63 - 1 (curl would read the body until the close);
 *   - two Content-Length fields with different values ("5" and "05"
 *     agree: the same number);
 *   - Content-Length beside Transfer-Encoding (the answer, and what
 *     follows it on the connection, could be read two ways).
 * The first Content-Length fault found wins; Content-Length beside
 * Transfer-Encoding is said when the lengths themselves are fine. */
#ifndef SP_H1FRAMING_H
#define SP_H1FRAMING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct h1framing {
    uint64_t length;  /* the Content-Length, when has_length */
    bool has_length;  /* a valid Content-Length was seen */
    bool has_te;      /* a Transfer-Encoding field was seen */
    const char *bad;  /* the first Content-Length fault (static words), or NULL */
} h1framing;

/* Which field h1framing_field was given. */
typedef enum h1framing_field_kind {
    H1F_OTHER = 0,
    H1F_CONTENT_LENGTH,
    H1F_TRANSFER_ENCODING,
} h1framing_field_kind;

/* A fresh check, for one head (an interim 1xx head's fields do not count
 * for the final one: start again). */
static inline void h1framing_init(h1framing *f) { *f = (h1framing){0}; }

/* Notes one header field: name[0..name_len) (any case), its value
 * value[0..value_len) without the surrounding whitespace. Returns which
 * field it was; only Content-Length and Transfer-Encoding count. */
h1framing_field_kind h1framing_field(h1framing *f, const char *name, size_t name_len,
                                     const char *value, size_t value_len);

/* Why the head's framing must be refused (static words, starting "the
 * answer has"), or NULL when it is fine. */
const char *h1framing_why(const h1framing *f);

#endif
