/* body: turns a captured HTTP body into something comparable: decoded
 * (gzip/deflate), classified, and parsed into a JSON tree when it is JSON,
 * XML/SOAP (proxy/diff/xmltree.h) or an HTML form, so that one diff engine and
 * one set of rules serve all three. Pure: no I/O. */
#ifndef SP_BODY_H
#define SP_BODY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum body_kind {
    BODY_NONE,   /* no body (empty, HEAD, failed leg) */
    BODY_JSON,   /* parsed: see .json */
    BODY_TEXT,   /* valid UTF-8, not JSON, XML or a form */
    BODY_BINARY, /* anything else */
    BODY_OVERSIZE, /* larger than the comparison cap: only length + sha256 */
    BODY_XML,    /* well-formed XML: .json is its tree (xmltree.h) */
    BODY_FORM,   /* application/x-www-form-urlencoded: .json is an object */
    BODY_OMITTED /* not kept for the record (never compared): only its length */
} body_kind;

typedef struct body_view {
    body_kind kind;
    const unsigned char *data; /* decoded bytes; aliases the raw body or .owned */
    size_t len;
    unsigned char *owned;      /* set when decoding allocated */
    json_t *json;              /* BODY_JSON, BODY_XML, BODY_FORM; owned */
    uint64_t wire_len;         /* bytes as received (before decoding) */
    char sha256[65];           /* hex of the bytes as received */
    /* Why the body could not be fully decoded or parsed, e.g.
     * "gzip: invalid data", "unsupported content-encoding: br",
     * "invalid JSON: <reason> at line L column C"; NULL if fine. Points to a
     * static string or to .error_owned, never into the struct itself, so a
     * view may be moved (memcpy'd) to its final home after body_prepare. */
    const char *decode_error;
    char *error_owned;         /* formatted decode_error, if any; owned */
    /* BODY_JSON or BODY_XML when the body claimed to be that (by its
     * Content-Type, or by sniffing) but did not parse: kind is then TEXT or
     * BINARY, and the diff log withholds it if it may hold a secret that
     * could not be redacted field by field. BODY_NONE otherwise. */
    body_kind unparsed;
    /* Declared or detected as UTF-16/32 text (diff/textenc.h) but not
     * valid in that encoding: kind is BINARY, and the diff log withholds
     * it (its bytes cannot be searched for secrets). A body that is valid
     * UTF-16/32 is converted to UTF-8 before it is classified (.data is
     * then the UTF-8 copy, JSON parses as any other). */
    bool withhold;
    /* Declared a JSON-lines type (application/x-ndjson, application/jsonl,
     * application/json-seq, application/stream+json) and not parsed as one
     * JSON document: kind is TEXT or BINARY, and the diff log redacts it
     * line by line as JSON (redact_json_lines_text). */
    bool json_lines;
} body_view;

/* Used when body_prepare's max_decoded is 0 (the config default). */
#define BODY_DEFAULT_MAX_DECODED ((size_t)8 << 20)

/* raw/raw_len: the captured bytes; they must outlive the view when nothing
 * was decoded (.data then aliases them). `whole` is false when the body was
 * larger than the capture cap; then only wire_len and sha256_hex describe it
 * and the view is BODY_OVERSIZE. content_type/content_encoding may be NULL;
 * Content-Encoding may list several codings ("gzip, deflate"): they are
 * undone in reverse order. Decoded output is capped at max_decoded bytes (a
 * zip bomb becomes BODY_OVERSIZE with decode_error set); 0 means
 * BODY_DEFAULT_MAX_DECODED. A whole body whose raw bytes already
 * exceed max_decoded is BODY_OVERSIZE without decode_error. A body that is
 * empty after decoding is BODY_NONE. sha256_hex: 64 hex chars computed by the
 * caller while streaming (NULL: left empty). Bodies are parsed as JSON when
 * the content type says JSON (application/json, application/<x>+json,
 * text/json) or when it is absent or text/plain and the first non-space byte
 * is '{' or '['. They are parsed as XML (BODY_XML) when the type is
 * application/xml, text/xml, application/soap+xml or application/<x>+xml,
 * or when it is absent or text/plain and the body starts (after a BOM and
 * whitespace) with "<?xml" or a SOAP envelope ("<soap:Envelope", any
 * prefix); not on a bare '<', so HTML stays text. XML that does not parse
 * gets decode_error "invalid XML: <libxml2's message> at line L" and is
 * TEXT or BINARY. application/x-www-form-urlencoded is BODY_FORM (a form
 * always parses). `out` needs no initialisation; it is overwritten.
 * Returns 0, or -ENOMEM (the view then holds nothing and needs no free).
 * Never fails on bad input. */
int body_prepare(body_view *out, const unsigned char *raw, size_t raw_len,
                 bool whole, uint64_t wire_len, const char *sha256_hex,
                 const char *content_type, const char *content_encoding,
                 size_t max_decoded);
/* Decoded bytes parsed as body_prepare parses a JSON body (any value at the
 * root, NUL allowed in strings). A new reference, or NULL with *err set
 * (err may be NULL). */
json_t *body_json_parse(const unsigned char *data, size_t len, json_error_t *err);
/* Frees what the view owns and zeroes it: safe on a zeroed view and twice. */
void body_view_free(body_view *b);

/* "none", "json", "text", "binary", "oversize", "xml" or "form" (used in
 * diff records). */
const char *body_kind_name(body_kind k);

/* Before comparing two bodies: when both are BODY_XML, xmltree_align (one
 * <Item> against several becomes an array of one, so the diff says "added
 * /Items/Item/1" instead of a type change at /Items/Item); when both are
 * BODY_FORM, a key sent once against a key sent several times becomes an
 * array of one. Anything else is left alone. Edits the two trees in place:
 * call it before the trees are shared (compare, record_build). Returns 0 or
 * -ENOMEM (trees still valid, maybe half aligned). */
int body_align(body_view *legacy, body_view *new_);

/* A BODY_TEXT body as an array of its lines, for a diff that says "/3"
 * (line 4) instead of "the whole body": split on '\n', one trailing '\r'
 * stripped from each line; a body ending in '\n' ends with "" (so a missing
 * final newline is a difference). NULL when the body is not TEXT, holds no
 * '\n' (one line: nothing to gain), has more than BODY_LINES_MAX lines, or
 * on ENOMEM: compare bytes then. A new reference each call; decref it. */
#define BODY_LINES_MAX 262144
json_t *body_lines(const body_view *b);

/* application/x-www-form-urlencoded, as BODY_FORM parses it (record.c
 * uses the same functions to redact form text, so both agree on every
 * pair). Pairs are separated by '&'; empty ones are skipped; a pair without
 * '=' has an empty value. */
typedef struct body_form_pair {
    const unsigned char *key, *value; /* raw, still encoded */
    size_t key_len, value_len;
    bool has_eq;                      /* an '=' was present */
} body_form_pair;
/* The next pair from *pos (start at 0); false at the end. */
bool body_form_next(const unsigned char *data, size_t len, size_t *pos,
                    body_form_pair *p);
/* Percent-decodes ('+' is a space; an invalid escape stays as written) into
 * a malloc'd NUL-terminated UTF-8 string (bytes that are not UTF-8 are read
 * as ISO-8859-1). With is_key, "%00" stays as written, so the result is
 * usable as a JSON object key. NULL on ENOMEM. */
char *body_form_decode(const unsigned char *s, size_t n, bool is_key,
                       size_t *out_len);

#endif
