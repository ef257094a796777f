/* config_keys: the key table and what config.c, config_load.c and
 * config_print.c (config_put_value, config_put_string) share.
 * Internal to the config module; no other file includes it. */
#ifndef SP_CONFIG_KEYS_H
#define SP_CONFIG_KEYS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "conf/config.h"

typedef enum config_ktype {
    K_LISTEN, K_SIDE, K_INT, K_LONG, K_COUNT, K_SIZE, K_BOOL, K_STRING,
    K_URL, K_MODE, K_LEVEL, K_FORMAT, K_STRLIST, K_HDRLIST,
    K_TLSVER,            /* "1.2" | "1.3", stored as tls_version */
    K_CLIENT,            /* "auto" | "curl", stored as shadow_client */
    K_CERTS, K_KEY,      /* strings: paths of PEM certificates / a PEM key */
    K_PIN,               /* string: sha256// pins or a public key file */
    K_HOST,              /* string: a host name */
    K_CIPHERS,           /* string: "modern", "legacy" or a GnuTLS priority string */
    K_CIDRLIST,          /* strings: addresses or ranges (base/cidr.h) */
    K_TOKENS             /* config_admin_token list (config_tokens.c) */
} config_ktype;

typedef struct config_key {
    const char *ptr;     /* JSON Pointer */
    config_ktype type;
    size_t off, off2;    /* field; second field (list count, listen port) */
    long long min, max;  /* numbers: range; strings: length; lists: entries */
    const char *dflt;    /* JSON text; NULL: no default (required) */
    bool reload;         /* may a reload change it? */
    const char *doc;
} config_key;

extern const config_key config_keys[];
extern const size_t config_nkeys;

const config_key *config_key_find(const char *ptr); /* exact pointer */
bool config_is_section(const char *ptr); /* a proper prefix of some key? */
void *config_field(const sp_config *c, size_t off);
void config_fmt_size(unsigned long long v, char *buf, size_t size);
const char *const *config_enum_names(config_ktype t);
int config_enum_index(const char *const *names, const char *s);
void config_alternatives(const char *const *names, char *buf, size_t size);
bool config_is_enum(config_ktype t);
/* Stored as a malloc'd char * (NULL when unset)? */
bool config_is_string(config_ktype t);
long long config_number_of(const sp_config *c, const config_key *k);
int config_enum_of(const sp_config *c, const config_key *k); /* -1: bad */
const char *config_url_problem(const char *s, size_t *keep);
bool config_token_char(char c); /* [A-Za-z0-9._-] */
void config_free_list(char **v, size_t n);
/* The key's value in c as JSON text (as config_print_json writes it). */
void config_put_value(FILE *out, const sp_config *c, const config_key *k);
void config_put_string(FILE *out, const char *s); /* JSON string, or null */

/* config_tokens.c: the admin.tokens list. `report` adds one error at the
 * value at `ptr` (or, with key, its member name). */
typedef void config_report_fn(void *ctx, const char *ptr, bool key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Replaces *slot and *count with the list in v when every entry is good; else
 * reports each problem and leaves them. 0, -EINVAL, -ENOMEM. */
int config_tokens_apply(const json_t *v, const char *ptr, const char *name, size_t max,
                        config_admin_token **slot, size_t *count, config_report_fn *report,
                        void *ctx);
void config_tokens_free(config_admin_token *v, size_t n);
void config_tokens_print(FILE *out, const config_admin_token *v, size_t n);

#endif
