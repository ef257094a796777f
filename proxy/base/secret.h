/* secret: what is a secret, by name and by value, for everything that
 * writes request data out (diff-log records, the admin live view, log
 * lines). Pure: no I/O, no globals but a constant index of the stems
 * built once (pthread_once); every function is thread-safe.
 *
 * Names are matched by families of stems (docs/diff-log.md, Redaction):
 * a name is split into words (at every byte that is not a letter or a
 * digit, and at camelCase humps: "currentPassword", "X-Api-Key",
 * "card.number", "login[password]"), lower-cased, and each stem is looked
 * for in the words joined ("apikey", "cardnumber"), anchored as the stem
 * says, so that "cc_cid" is a CVV but "cidr" is not, and "access_token" is
 * a token but "tokenized" is not.
 *
 * Values: a string (or integer) of 12 to 19 digits, optionally grouped by
 * single spaces or dashes, whose first digit is 2-6 (the card networks'
 * ranges) and which passes the Luhn check, is a payment card number
 * whatever its name ("luhn" family), unless its name's last word says it
 * is an identifier (id, sku, ean, gtin, upc, isbn, barcode). */
#ifndef SP_SECRET_H
#define SP_SECRET_H

#include <stdbool.h>
#include <stddef.h>

/* The families, in the order of their names in docs/diff-log.md. */
#define SECRET_FAMILY_LIST(X)                                                \
    X(PASSWORD, "password")                                                  \
    X(SECRET, "secret")                                                      \
    X(TOKEN, "token")                                                        \
    X(API_KEY, "api_key")                                                    \
    X(AUTH, "auth")                                                          \
    X(CVV, "cvv")                                                            \
    X(CARD_NUMBER, "card_number")                                            \
    X(PERSONAL, "personal")                                                  \
    X(LUHN, "luhn")

typedef enum secret_family {
#define SECRET_ENUM(e, s) SECRET_##e,
    SECRET_FAMILY_LIST(SECRET_ENUM)
#undef SECRET_ENUM
    SECRET_NFAMILIES,
    SECRET_NONE = -1
} secret_family;

/* Exemptions: entries "FAMILY:NAME" (diff_log.redact_exempt). NAME is
 * compared with a field's words joined ("token_type", "tokenType" and
 * "token-type" are one name); "FAMILY:*" turns the family off. Borrowed;
 * a zeroed policy has every family on and nothing exempt. */
typedef struct secret_policy {
    const char *const *exempt;
    size_t nexempt;
} secret_policy;

/* "password" ... "luhn"; NULL for a value out of range. */
const char *secret_family_name(secret_family f);
/* NULL when `entry` is a valid exemption, else why not (static text). */
const char *secret_exempt_problem(const char *entry);

/* The family of the name name[0..n) (SECRET_NONE: not a secret name),
 * after exemptions (p may be NULL). Never SECRET_LUHN: that is for
 * values. A name too long to examine (over 4 KiB) is a secret. */
secret_family secret_name_family(const char *name, size_t n,
                                 const secret_policy *p);
bool secret_name(const char *name, size_t n, const secret_policy *p);
/* The same answer by the first way it was written, one strstr per stem
 * per family: the reference the one-pass classifier above is tested
 * against (tests/unit/test_secret.c). About 10x slower: not for records. */
secret_family secret_name_family_by_strstr(const char *name, size_t n,
                                           const secret_policy *p);

/* Is s[0..n) a payment card number (see above), by value alone? */
bool secret_card_number(const char *s, size_t n);
/* Is the value s[0..n), a member named `name` (NULL: no name), masked by
 * the luhn family under policy p? Also for integers: pass their digits. */
bool secret_card_value(const char *name, const char *s, size_t n,
                       const secret_policy *p);

/* Headers whose value is a secret: Authorization, Proxy-Authorization,
 * Cookie and Set-Cookie always, and any header whose name is a secret
 * name ("X-Api-Key", "X-Auth-Token", "X-Amz-Security-Token"). */
bool secret_header_name(const char *name, const secret_policy *p);

/* Free text (a body that did not parse, an XML comment or CDATA section):
 * does it hold a word that is a secret name, or a card number? A word
 * here is a run of letters, digits, '_', '-', '.', '[' and ']'. */
bool secret_text_may_hold(const char *s, size_t n, const secret_policy *p);

/* Is the path segment seg[0..n), which follows the segment prev[0..pn)
 * (NULL, 0 for the first), a secret? When it is a card number, or when
 * prev is a secret name and seg is not a plain word of letters, '-' and
 * '_' ("resetLinkToken" then "f3Kx9q": yes; "token" then "request": no). */
bool secret_path_segment(const char *prev, size_t pn, const char *seg, size_t n,
                         const secret_policy *p);

/* A request-target (or any URI) with the value of every query parameter
 * whose decoded name is a secret name, or whose decoded value is a card
 * number, replaced by `replacement`; the fragment too; in the path, a
 * segment that is a card number, and one that follows a segment with a
 * secret name unless it is a plain word of letters, '-' and '_'
 * ("/password/resetLinkToken/TOKEN": TOKEN replaced). Everything else is
 * kept byte for byte. Returns a malloc'd NUL-terminated string (its length
 * in *out_len when not NULL), or NULL on ENOMEM. uri may be NULL (then
 * NULL is returned with *out_len 0, not an error: check uri). */
char *secret_redact_uri(const char *uri, size_t n, const secret_policy *p,
                        const char *replacement, size_t *out_len);

#endif
