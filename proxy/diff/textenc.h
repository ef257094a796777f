/* textenc: UTF-16 and UTF-32 text to UTF-8, so that a JSON body sent in
 * them is parsed, compared and redacted like any other instead of being
 * logged as base64 of its raw bytes (a secret inside unseen by the
 * redaction). Pure: no I/O, no globals. */
#ifndef SP_TEXTENC_H
#define SP_TEXTENC_H

#include <stdbool.h>
#include <stddef.h>

typedef enum textenc {
    TEXTENC_UTF8, /* or unknown: nothing to convert */
    TEXTENC_UTF16LE,
    TEXTENC_UTF16BE,
    TEXTENC_UTF32LE,
    TEXTENC_UTF32BE,
} textenc;

/* The encoding of p[0..n): by its byte order mark (UTF-32 before UTF-16:
 * FF FE 00 00 is UTF-32LE), else by the charset parameter of content_type
 * ("utf-16" without a BOM is big-endian, RFC 2781), else, when `json`, by
 * the pattern of NUL bytes in the first four (RFC 4627: JSON starts with
 * two ASCII characters). *bom: bytes of BOM to skip (a UTF-8 BOM too, 3,
 * with TEXTENC_UTF8). content_type may be NULL. */
textenc textenc_detect(const unsigned char *p, size_t n,
                       const char *content_type, bool json, size_t *bom);

/* "utf-16le" ... for messages. */
const char *textenc_name(textenc e);

/* p[0..n) (BOM already skipped) as UTF-8 in a malloc'd buffer (*out,
 * *out_len; NUL-terminated for convenience). 0; -EINVAL when the text is
 * not valid in that encoding (a length that is not a whole number of code
 * units, a lone surrogate, a code point above U+10FFFF); -ENOMEM. */
int textenc_to_utf8(textenc e, const unsigned char *p, size_t n,
                    unsigned char **out, size_t *out_len);

/* The whole step for a body: detects (textenc_detect) and converts. On 0,
 * *data and *len are the text to use: the same bytes, past a UTF-8 BOM,
 * or a new UTF-8 buffer, then also in *owned (the caller frees it; NULL
 * when nothing was allocated). -EINVAL: not valid in the encoding *found;
 * -ENOMEM. */
int textenc_normalize(const unsigned char **data, size_t *len,
                      const char *content_type, bool json,
                      unsigned char **owned, textenc *found);

#endif
