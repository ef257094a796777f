/* config: the deployment file (JSON), its defaults and its validation.
 * One table row per key (see config.c and docs/config.md). A loaded config
 * is immutable; a reload builds a new one. */
#ifndef SP_CONFIG_H
#define SP_CONFIG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum sp_side { SIDE_LEGACY = 0, SIDE_NEW = 1 } sp_side;

typedef enum tls_version { TLS_V1_2 = 0, TLS_V1_3 = 1 } tls_version;

/* Outbound TLS to one upstream (https URLs only). */
typedef struct config_tls {
    char *ca_file;           /* trusted CAs (PEM); NULL: the system store */
    char *client_cert;       /* mTLS certificate (PEM); NULL: none */
    char *client_key;        /* its key (PEM); NULL: in client_cert's file */
    char *pinned_public_key; /* "sha256//B64[;sha256//B64...]" or a key file */
    char *server_name;       /* name checked, sent as SNI and Host; NULL: URL's */
    tls_version min_version; /* default 1.2 */
    bool insecure_skip_verify; /* default false: never on unless asked */
} config_tls;

typedef struct config_upstream {
    char *url;               /* base URL: scheme://host[:port][/prefix] */
    long connect_timeout_ms; /* default 2000 */
    long timeout_ms;         /* whole exchange; default 30000 */
    config_tls tls;
} config_upstream;

/* Inbound HTTPS on the traffic listener (cert_file NULL: plain HTTP). */
typedef struct config_listen_tls {
    char *cert_file;         /* PEM, leaf first, then intermediates */
    char *key_file;          /* PEM; NULL: in cert_file */
    tls_version min_version; /* default 1.2 */
    char *ciphers;           /* "modern" (default), "legacy" or a GnuTLS priority string */
} config_listen_tls;

typedef enum diff_log_mode { DIFFLOG_MISMATCHES = 0, DIFFLOG_ALL = 1 } diff_log_mode;
/* shadow.client: which HTTP client sends the shadow leg (data/h1client.h). */
typedef enum shadow_client { SHADOW_CLIENT_AUTO = 0, SHADOW_CLIENT_CURL = 1 } shadow_client;

typedef enum log_format { LOGFMT_LOGFMT = 0, LOGFMT_JSON = 1 } log_format;

/* decisions.etcd: how to talk to an etcd decision store. */
typedef struct config_decisions_etcd {
    char *ca_file, *client_cert, *client_key; /* etcds:// TLS */
    char *username, *password_file;           /* etcd's own authentication */
} config_decisions_etcd;

/* admin.tokens: what a token may do on the admin API. */
typedef enum config_role { ROLE_OPERATOR = 0, ROLE_VIEWER = 1 } config_role;
#define CONFIG_TOKEN_NAME_MAX 64 /* [A-Za-z0-9._-] */
#define CONFIG_MAX_TOKENS 32

/* One named admin token (admin.tokens[i]); the token itself is read by the
 * admin API at start, from exactly one of token_file and token_env. */
typedef struct config_admin_token {
    char *name;
    config_role role;
    char *token_file;
    char *token_env;
} config_admin_token;

typedef struct sp_config {
    char *listen_host;          /* default "127.0.0.1" */
    int listen_port;            /* default 8080; 0 = any free port */
    config_listen_tls listen_tls; /* HTTPS for clients; off by default */
    config_upstream upstream[2]; /* indexed by sp_side */
    sp_side authority;          /* default legacy */
    int workers;                /* 0 = one per core */
    bool preserve_host;         /* default false */
    char **trusted_proxies;     /* CIDRs whose X-Forwarded-* etc. are kept; default none */
    size_t ntrusted_proxies;
    size_t max_request_body;    /* default 64 MiB; over it: 413 */
    size_t max_header_bytes;    /* default 32 KiB; request line + headers */
    int max_connections;        /* default 4096, whole process */
    int idle_timeout_s;         /* keep-alive idle timeout, default 60 */
    int head_timeout_s;         /* a whole request head, default 10 */
    size_t min_body_rate;       /* request body bytes/s floor, default 1024; 0 = off */
    int max_connections_per_address; /* default 256; 0 = no cap */
    size_t max_buffered_bodies; /* request bodies held at once, default 128 MiB */
    long drain_timeout_ms;      /* SIGTERM: max wait for in-flight, default 15000 */

    bool shadow_enabled;        /* default true */
    long shadow_timeout_ms;     /* default 5000 */
    int shadow_max_in_flight;   /* default 1000, whole process */
    int shadow_busy_min_percent; /* mirroring yields to a saturated worker down to this; 100: never */
    size_t shadow_max_buffered;  /* shadow answer bytes held at once, every worker; 0: no budget */
    shadow_client shadow_client; /* default auto: the lean client for http:// shadows */
    size_t shadow_recv_buffer;  /* curl's receive buffer per shadow transfer; 0 (default): auto, data/recv_size.h */
    int breaker_failures;       /* consecutive failures to open; default 5 */
    long breaker_open_ms;       /* how long it stays open; default 5000 */
    long shadow_grace_ms;       /* shutdown grace for shadows; default 2000 */
    /* The secondary (noise detection, rules "noise": {"secondary": true}):
     * a second legacy instance, or legacy asked again when url is NULL. */
    char *secondary_url;        /* default NULL: the legacy upstream */
    long secondary_timeout_ms;  /* default 5000 */
    int secondary_max_in_flight; /* default 200, whole process */
    bool faults_enabled;        /* default false: rules and API faults refused (conf/faults.h) */

    size_t compare_max_body;    /* default 8 MiB */
    char **compare_headers;     /* default {"Content-Type"} */
    size_t ncompare_headers;
    size_t max_differences;     /* per record, default 100 */
    int compare_threads;        /* comparer threads; -1 (default): as many as workers, 0: one per core */

    char *rules_path;           /* rules file; NULL: none */
    char *diff_log_path;        /* default "shadowproxy-diffs.jsonl" */
    diff_log_mode diff_log_mode; /* default mismatches */
    size_t diff_log_max_body;   /* bytes embedded per body, default 64 KiB */
    size_t diff_log_queue;      /* pending exchanges awaiting comparison, default 10000 */
    bool diff_log_follow_symlinks; /* default false: a symlink path is refused */
    char **redact_fields;       /* exact names on top of the families; default none */
    size_t nredact_fields;
    char **redact_exempt;       /* "FAMILY:NAME" (base/secret.h); default none */
    size_t nredact_exempt;

    char *admin_listen;         /* admin API, default "127.0.0.1:9901"; "" = off */
    char *admin_token_file;     /* bearer token from this file, or */
    char *admin_token_env;      /* from this environment variable (an operator "admin") */
    config_admin_token *admin_tokens; /* admin.tokens, in order */
    size_t nadmin_tokens;
    char *state_file;           /* operator decisions, default "shadowproxy-state.json" */
    bool readiness_require_shadow; /* /readyz fails on an unreachable shadow; default false */

    /* The id ledger (rules "ids", docs/rules.md "Correlated ids"). */
    char *ids_ledger_file;      /* ids.ledger_file; NULL: shadowproxy-ids.json beside state_file */
    size_t ids_max_pairs;       /* default 100000 */
    long ids_max_age_s;         /* default 604800 (7 days) */
    int ids_save_interval_s;    /* default 10 */
    char *decisions_store;      /* decisions.store; NULL: "file:" + state_file */
    config_decisions_etcd decisions_etcd;

    char *log_level;            /* error|warn|info|debug, default info */
    log_format log_format;      /* default logfmt */
    char *log_file;             /* NULL: stderr */

    /* Not keys: where the config came from, for SIGHUP and POST /reload,
     * which re-read the reloadable keys unless a flag set them. */
    const char *source_path;    /* not owned; NULL: flags only */
    const char *flag_keys[16];  /* JSON Pointers a command-line flag set (static strings) */
    size_t nflag_keys;
} sp_config;

/* One problem found in a config file. */
typedef struct config_error {
    int line, column;           /* 1-based; 0 when unknown */
    char *message;
} config_error;

typedef struct config_errors {
    config_error *v;
    size_t n, cap;
} config_errors;

/* Fills *c with the defaults. Returns 0 or -ENOMEM. */
int config_defaults(sp_config *c);
/* Loads `path` over the defaults already in *c, collecting every problem
 * (not just the first) in *errs; a bad value leaves the field as it was.
 * Returns 0, -EINVAL when it added errors, or -ENOMEM. */
int config_load_file(sp_config *c, const char *path, config_errors *errs);
/* Same, from a buffer (for tests and reloads). */
int config_load_buffer(sp_config *c, const char *text, size_t len,
                       config_errors *errs);
/* Checks after flags are applied (URLs present and valid, every value in
 * range, TLS settings that go together: an https URL, a certificate with
 * its key); its errors have line 0. 0, -EINVAL when it added errors,
 * -ENOMEM. */
int config_validate(const sp_config *c, config_errors *errs);
void config_free(sp_config *c);
void config_errors_free(config_errors *e);
/* The loaders' common step (config, rules, state file): one error at the
 * value at JSON Pointer `ptr` in `text` (or, with `key`, at the member
 * name; no position when ptr is NULL or not found). Counts in *reported and
 * stops with "too many errors" past CONFIG_MAX_ERRORS. 0 or -ENOMEM. */
/* Loads put their errors in file order (stable): those from index `from`
 * on; errors without a position go last. */
void config_errors_sort(config_errors *e, size_t from);
/* One error as "PATH:LINE:COLUMN: message" ("PATH: message" without a
 * position), in buf. Returns buf. */
const char *config_error_text(const char *path, const config_error *e, char *buf, size_t size);
/* Reads up to max + 1 bytes of `path` (one more than allowed, so the
 * loader can say "too large"). 0 with *buf (malloc'd) and *len, or a
 * positive errno. */
int config_read_file(const char *path, size_t max, char **buf, size_t *len);
int config_errors_vreport(config_errors *e, const char *text, size_t len, const char *ptr,
                          bool key, size_t *reported, const char *fmt, va_list ap)
    __attribute__((format(printf, 7, 0)));

/* Helpers shared with the CLI. */
/* "HOST:PORT", "[v6]:PORT" or ":PORT" (= 0.0.0.0), port 0..65535. On success
 * *host gets a new malloc'd string; the previous *host is NOT freed (see
 * config_set_listen). 0, -EINVAL (nothing touched) or -ENOMEM. */
int config_parse_listen(const char *s, char **host, int *port);
int config_parse_side(const char *s, sp_side *out);             /* "legacy"/"new" */
const char *config_side_name(sp_side s);
const char *config_tls_version_name(tls_version v);             /* "1.2" */
const char *config_role_name(config_role r);                    /* "operator"/"viewer" */
int config_set_string(char **slot, const char *value);          /* 0 or -ENOMEM */

/* Additions (all table-driven; see docs/config.md). */
#define CONFIG_MAX_FILE_BYTES ((size_t)1 << 20) /* larger files are refused */
#define CONFIG_MAX_ERRORS 100                   /* per load; then one "too many" */

/* Replaces c->listen_host/listen_port from a --listen value. 0, -EINVAL, -ENOMEM. */
int config_set_listen(sp_config *c, const char *s);
/* Checks an upstream base URL (http/https, host, optional port and path, no
 * query, fragment or user info) and stores it with one trailing '/' dropped,
 * replacing *slot. 0; -EINVAL with *why set to a short reason such as "scheme
 * must be http or https" (*slot untouched); or -ENOMEM. For --legacy/--new. */
int config_set_url(char **slot, const char *url, const char **why);
/* `url` as it may be shown in an error or a log: any user info (what comes
 * before the last '@' of the authority, scheme or not) replaced by "***",
 * so a password never reaches stderr. Written to buf (always terminated,
 * cut to size). Returns buf. */
char *config_url_shown(const char *url, char *buf, size_t size);

/* Appends an error (printf-style message). 0 or -ENOMEM. */
int config_errors_add(config_errors *e, int line, int column, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* One line per error: "path:line:column: message", or "path: message" when
 * line is 0. */
void config_errors_print(FILE *out, const char *path, const config_errors *e);

/* May a reload change the key at this JSON Pointer ("/log/level")? false for
 * unknown keys. */
bool config_key_reloadable(const char *pointer);
/* The keys (JSON Pointers of the key table, static strings, in table
 * order) whose values differ between a and b; at most `max` of them in
 * out. Returns how many differ. For reloads: what changed in the file. */
size_t config_changed_keys(const sp_config *a, const sp_config *b, const char **out, size_t max);
/* Did a command-line flag set the key at this pointer (c->flag_keys)? */
bool config_key_from_flag(const sp_config *c, const char *pointer);
/* "/shadow/timeout_ms" as "shadow.timeout_ms" (the form messages use). */
void config_dotted(const char *ptr, char *buf, size_t size);
/* How many keys the table has (a bound for config_changed_keys). */
size_t config_key_count(void);
/* The markdown table of every key (type, default, reload, meaning) that
 * docs/config.md embeds; a unit test keeps the two equal. */
void config_print_reference(FILE *out);
/* `c` written as a config file: every key, in table order, pretty-printed;
 * a missing URL is written as null. docs/config.example.json is this for the
 * defaults plus example URLs. */
void config_print_json(FILE *out, const sp_config *c);

#endif
