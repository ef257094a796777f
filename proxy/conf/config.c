/* config: the key table (one row per key: type, range, default, reload,
 * doc) and what is not loading: setters, errors, freeing. Loading and
 * validation: config_load.c; printing the reference and the running
 * configuration: config_print.c. */
#include "conf/config.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <strings.h>

#include "conf/config_keys.h"
#include "base/jsonpos.h"

#define KiB 1024LL
#define MiB (1024 * KiB)
#define GiB (1024 * MiB)
#define MS_MAX 3600000LL
#define F(f) offsetof(sp_config, f)
#define UP(s, f)                                                             \
    (offsetof(sp_config, upstream) + (s) * sizeof(config_upstream) +         \
     offsetof(config_upstream, f))
#define UPSTREAM(side, s, flag)                                              \
    {"/" side "/url", K_URL, UP(s, url), 0, 0, 0, NULL, false,               \
     "Base URL of the " side " upstream: `http[s]://host[:port][/prefix]`, " \
     "no query, fragment or user info (refused, and the error shows `***` "   \
     "in its place); one trailing `/` is dropped. `\"" side                \
     "\": \"URL\"` is short for `{\"url\": \"URL\"}`. Required, here or "    \
     "with `" flag "`."},                                                    \
    {"/" side "/connect_timeout_ms", K_LONG, UP(s, connect_timeout_ms), 0, 1, \
     MS_MAX, "2000", false, "Time to connect (TCP and TLS), milliseconds."}, \
    {"/" side "/timeout_ms", K_LONG, UP(s, timeout_ms), 0, 1, MS_MAX,        \
     "30000", false, "Time for the whole exchange, milliseconds."},         \
    UPSTREAM_TLS(side, s)
/* Outbound TLS (https URLs only; docs/config.md, "TLS"). */
#define UPSTREAM_TLS(side, s)                                                \
    {"/" side "/tls/ca_file", K_CERTS, UP(s, tls.ca_file), 0, 1, 4096, NULL, \
     false,                                                                  \
     "CA certificates (PEM) that the upstream's certificate must chain to, " \
     "instead of the system's store."},                                      \
    {"/" side "/tls/client_cert", K_CERTS, UP(s, tls.client_cert), 0, 1,     \
     4096, NULL, false,                                                      \
     "Client certificate (PEM, intermediates after it) presented when the "  \
     "upstream asks for one (mTLS). Its key is `client_key`, or in the same " \
     "file."},                                                               \
    {"/" side "/tls/client_key", K_KEY, UP(s, tls.client_key), 0, 1, 4096,   \
     NULL, false, "Private key of `client_cert` (PEM, not encrypted)."},     \
    {"/" side "/tls/pinned_public_key", K_PIN, UP(s, tls.pinned_public_key), \
     0, 1, 4096, NULL, false,                                                \
     "The upstream's public key must be this one: `sha256//BASE64` (several " \
     "joined by `;`) or a file with the key (PEM or DER). Checked even with " \
     "`insecure_skip_verify`."},                                             \
    {"/" side "/tls/server_name", K_HOST, UP(s, tls.server_name), 0, 1, 253, \
     NULL, false,                                                            \
     "The name the certificate must carry, also sent as SNI and `Host`, "    \
     "instead of the URL's host; connections still go to the URL's host and " \
     "port."},                                                               \
    {"/" side "/tls/min_version", K_TLSVER, UP(s, tls.min_version), 0, 0, 0, \
     "\"1.2\"", false, "Oldest TLS version accepted."},                      \
    {"/" side "/tls/insecure_skip_verify", K_BOOL,                           \
     UP(s, tls.insecure_skip_verify), 0, 0, 0, "false", false,               \
     "Accept any certificate for any name: for tests only. Logged as a "     \
     "warning at startup and on every reload."}

const config_key config_keys[] = {
    {"/listen", K_LISTEN, F(listen_host), F(listen_port), 0, 0,
     "\"127.0.0.1:8080\"", false,
     "Where clients connect: `HOST:PORT`, `[IPv6]:PORT`, or `:PORT` for "
     "every interface. Port 0 picks a free port."},
    {"/listen_tls/cert_file", K_CERTS, F(listen_tls.cert_file), 0, 1, 4096,
     NULL, false,
     "Serve HTTPS instead of HTTP on `listen`, with this certificate (PEM, "
     "leaf first, then intermediates). A reload re-reads it and the key for "
     "new connections; open ones keep theirs."},
    {"/listen_tls/key_file", K_KEY, F(listen_tls.key_file), 0, 1, 4096, NULL,
     false,
     "Private key of `cert_file` (PEM, not encrypted); without it, the key "
     "is read from `cert_file`."},
    {"/listen_tls/min_version", K_TLSVER, F(listen_tls.min_version), 0, 0, 0,
     "\"1.2\"", false, "Oldest TLS version a client may use."},
    {"/listen_tls/ciphers", K_CIPHERS, F(listen_tls.ciphers), 0, 1, 512, "\"modern\"", false,
     "Cipher policy. `modern`: TLS 1.3 as GnuTLS offers it; TLS 1.2 only with ECDHE key "
     "exchange and AEAD ciphers (AES-GCM, ChaCha20-Poly1305, AES-CCM). `legacy`: GnuTLS's "
     "`NORMAL` set, CBC and SHA-1 suites and static RSA key exchange included, for clients that "
     "cannot do better. Anything else is a GnuTLS priority string, checked at load (stricter, "
     "say TLS 1.3 with 256-bit ciphers only: "
     "`NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-256-GCM:+CHACHA20-POLY1305`). "
     "`min_version` applies on top."},
    {"/authority", K_SIDE, F(authority), 0, 0, 0, "\"legacy\"", false,
     "The upstream whose answer the client gets; the other gets the shadow "
     "copy."},
    {"/workers", K_INT, F(workers), 0, 0, 64, "0", false,
     "Worker threads; 0 means one per CPU core."},
    {"/preserve_host", K_BOOL, F(preserve_host), 0, 0, 0, "false", false,
     "Send the client's `Host` header upstream instead of the URL's host."},
    {"/trusted_proxies", K_CIDRLIST, F(trusted_proxies), F(ntrusted_proxies), 0, 256, "[]",
     false,
     "Addresses or ranges (`10.0.0.0/8`, `2001:db8::/32`, `192.0.2.7`) of the load balancers "
     "in front of the proxy. Only a client connecting from one of them may send "
     "`X-Forwarded-For` (the peer address is appended), `X-Forwarded-Proto`, "
     "`X-Forwarded-Host` and the other `X-Forwarded-*`, `Forwarded` and `X-Real-IP`: from any "
     "other client they are removed (written with `_` for `-` too, `X_Forwarded_For`, which "
     "PHP reads as the same header), and `X-Forwarded-For` and `X-Forwarded-Proto` are the "
     "proxy's own (the peer address, the listener's scheme)."},
    UPSTREAM("legacy", 0, "--legacy"),
    UPSTREAM("new", 1, "--new"),
    {"/limits/max_request_body", K_SIZE, F(max_request_body), 0, 0, 4 * GiB,
     "67108864", false, "Largest request body accepted; larger gets 413."},
    {"/limits/max_header_bytes", K_SIZE, F(max_header_bytes), 0, KiB, MiB,
     "32768", false,
     "Largest request line plus headers accepted; larger gets 431. (Very many small fields, "
     "some 900 with the default, get 431 sooner: each also costs the HTTP server memory.)"},
    {"/limits/max_connections", K_INT, F(max_connections), 0, 1, 1000000,
     "4096", false,
     "Client connections open at once, whole process. A new connection over the limit is "
     "closed at once (logged as `connection_limit_reached`)."},
    {"/limits/idle_timeout_s", K_INT, F(idle_timeout_s), 0, 1, 86400, "60",
     false,
     "Seconds a client connection may stay silent: idle between requests, or stalled in the "
     "middle of one (then closed without an answer)."},
    {"/limits/head_timeout_s", K_INT, F(head_timeout_s), 0, 1, 3600, "10", false,
     "Seconds a client has to send a whole request head (request line and headers), from the "
     "connection's start; on a keep-alive connection, from the end of the previous answer plus "
     "`idle_timeout_s`. A byte now and then does not extend it. Then the connection is closed "
     "without an answer (`event=slow_client_closed`)."},
    {"/limits/min_body_rate", K_SIZE, F(min_body_rate), 0, 0, GiB, "1024", false,
     "Bytes a second a request body must average over every `head_timeout_s` window; a slower "
     "body's connection is closed without an answer (`event=slow_client_closed`). 0: no floor."},
    {"/limits/max_connections_per_address", K_INT, F(max_connections_per_address), 0, 0,
     1000000, "256", false,
     "Client connections open at once from one address (addresses in `trusted_proxies` are "
     "exempt); over it, a new connection is closed at once "
     "(`event=connection_limit_reached`). 0: no cap."},
    {"/limits/max_buffered_bodies", K_SIZE, F(max_buffered_bodies), 0, 0, 64 * GiB,
     "134217728", false,
     "Request body bytes the proxy holds at once, every connection together. A request whose "
     "body would pass it gets 503 with `Retry-After: 1` (counted in "
     "`shadowproxy_body_budget_rejected_total`). 0: no budget."},
    {"/limits/drain_timeout_ms", K_LONG, F(drain_timeout_ms), 0, 0, MS_MAX,
     "15000", false,
     "On SIGTERM, how long requests in flight may take to finish."},
    {"/shadow/enabled", K_BOOL, F(shadow_enabled), 0, 0, 0, "true", false,
     "Mirror requests to the other upstream at all."},
    {"/shadow/timeout_ms", K_LONG, F(shadow_timeout_ms), 0, 1, MS_MAX, "5000",
     false, "Time allowed for one shadow exchange."},
    {"/shadow/max_in_flight", K_INT, F(shadow_max_in_flight), 0, 0, 1000000,
     "1000", false,
     "Shadow requests outstanding at once, whole process; beyond it they are "
     "not sent and are `shadow_dropped` (reason \"shadow in-flight cap reached\"; in "
     "`mismatches` mode counted in the route's `overload` records, not a record each)."},
    {"/shadow/max_buffered_bytes", K_SIZE, F(shadow_max_buffered), 0, 0, 64 * GiB, "268435456",
     false,
     "Shadow answer bytes (and the secondary's) the proxy holds at once while their "
     "transfers run, every worker together (the comparers' queue has a budget of its own)."
     " An answer that would pass it is not read further, counted in "
     "`shadowproxy_shadow_over_budget_total`: a shadow's exchange is `shadow_dropped` "
     "(reason \"over the shadow memory budget\"; the breaker does not count it), a "
     "secondary's is compared without noise detection. Without "
     "it a shadow pouring large answers (up to `/compare/max_body_bytes` each) at "
     "`/shadow/max_in_flight` could take gigabytes. 0: no budget."},
    {"/shadow/busy_min_percent", K_INT, F(shadow_busy_min_percent), 0, 0, 100, "1", false,
     "Mirroring yields to a saturated worker: while a worker's loop is at least 90% busy "
     "with more than one client request in progress, its share of requests mirrored halves "
     "every 250 ms, down to this percent (chosen by "
     "request id, like `mirror.sample_percent`), and grows back 10 points every 250 ms "
     "under 80% or with one request at a time (seen at the end of two windows in a row). The "
     "rest are `shadow_dropped` (reason \"worker saturated: "
     "mirroring yields to the clients\"; in `mismatches` mode counted in the route's "
     "`overload` records, not a record each), counted in "
     "`shadowproxy_shadow_yielded_total`. At saturation every mirror is CPU the clients "
     "lose (bench/README.md). 100: mirror regardless of the load."},
    {"/shadow/client", K_CLIENT, F(shadow_client), 0, 0, 0, "\"auto\"", false,
     "Which HTTP client sends the shadow leg. \"auto\": a lean HTTP/1.1 client of the "
     "proxy's own (data/h1client.c) for an http:// shadow upstream, curl for https:// (a TLS "
     "connection's state alone is more than the lean client's whole cost); about 1.1 KB "
     "per shadow in flight instead of curl's 12 KB (bench/README.md, \"Memory\"). No TLS, "
     "no proxies, HTTP/1.1 only; the authoritative leg, the secondary and confirmations "
     "always use curl. \"curl\": curl for every leg, as before the lean client (a way "
     "back if it misbehaves)."},
    {"/shadow/recv_buffer", K_SIZE, F(shadow_recv_buffer), 0, 0, 512 * KiB, "0", false,
     "curl's receive buffer for each shadow request curl sends (an https:// shadow, or "
     "`/shadow/client` \"curl\"; the lean client reads into one buffer per worker and upstream and holds "
     "none per request) and each secondary, held from its start "
     "until it ends, so also while a slow shadow has not answered. 0 (auto): per route, the "
     "next power of two that holds the largest of the route's last 64 to 128 answers (either "
     "side, head and body), 1KiB..16KiB, and 16KiB until 16 answers were seen: a route of "
     "small answers holds 1 KiB per slow shadow instead of 16 KiB (about 3.5 KB less "
     "memory each: bench/README.md, \"Memory\") with no more reads per answer. A fixed "
     "size (1KiB..512KiB) is used for every shadow request: below the answers' size, more "
     "reads per answer (an 8 KiB answer with 1 KiB: about 18 more system calls). The "
     "client's requests keep 16 KiB."},
    {"/shadow/breaker_failures", K_INT, F(breaker_failures), 0, 1, 10000, "5",
     false, "Consecutive shadow failures that open the circuit breaker."},
    {"/shadow/breaker_open_ms", K_LONG, F(breaker_open_ms), 0, 1, MS_MAX,
     "5000", false, "How long the open breaker pauses shadowing."},
    {"/shadow/grace_ms", K_LONG, F(shadow_grace_ms), 0, 0, MS_MAX, "2000",
     false, "At shutdown, extra time for shadow requests still in flight."},
    {"/secondary/url", K_STRING, F(secondary_url), 0, 1, 4096, NULL, false,
     "Base URL of a second legacy instance, asked the same GET or HEAD again on the routes "
     "whose rules set `\"noise\": {\"secondary\": true}`: a field on which the two legacy "
     "answers differ is noise for that exchange, not a mismatch (docs/rules.md, \"noise\"). "
     "Same form as `legacy.url`; legacy's timeouts and TLS settings apply. Unset: the legacy "
     "upstream itself is asked again."},
    {"/secondary/timeout_ms", K_LONG, F(secondary_timeout_ms), 0, 1, MS_MAX, "5000", false,
     "Time allowed for one secondary exchange; then the exchange is compared without noise "
     "detection."},
    {"/secondary/max_in_flight", K_INT, F(secondary_max_in_flight), 0, 0, 1000000, "200",
     false,
     "Secondary requests outstanding at once, whole process; beyond it (or while its circuit "
     "breaker, with the `shadow.breaker_*` settings, is open) none is sent and the exchange "
     "is compared without noise detection."},
    {"/faults/enabled", K_BOOL, F(faults_enabled), 0, 0, 0, "false", false,
     "Allow fault injection (staging only): the rules file's `faults` and the admin API's "
     "`POST /faults` (`shadowproxy ctl fault add`) delay a leg, answer for it with a status or "
     "fail its connection (docs/operations.md, \"Injecting faults\"). While false, a rules "
     "file with faults is refused (naming the key and its position) and so is `POST /faults` "
     "(409), so a production config cannot run a fault by accident."},
    {"/compare/max_body_bytes", K_SIZE, F(compare_max_body), 0, 1, GiB,
     "8388608", false,
     "Bodies larger than this (decoded) are compared by length and SHA-256 "
     "only."},
    {"/compare/headers", K_HDRLIST, F(compare_headers), F(ncompare_headers), 0,
     64, "[\"Content-Type\"]", false,
     "Response headers compared (names are case-insensitive)."},
    {"/compare/max_differences", K_COUNT, F(max_differences), 0, 1, 10000,
     "100", false, "Differences listed per record."},
    {"/compare/threads", K_INT, F(compare_threads), 0, -1, 64, "-1", false,
     "Comparer threads: -1 as many as `workers`, 0 one per CPU core. Verdicts are the same "
     "whatever the count; records leave in any order. They run under `SCHED_BATCH` at nice "
     "10; while a worker is saturated each spends 0.3 ms of CPU time in every 10 ms and sleeps "
     "the rest: "
     "then the compared share falls, chosen by request id, not the clients' throughput."},
    {"/rules", K_STRING, F(rules_path), 0, 1, 4096, NULL, false,
     "Rules file: routes, comparison rules, shadow rewrites (docs/rules.md). "
     "Without one, every request takes the default route with no rules. "
     "Reloaded on SIGHUP."},
    {"/admin/listen", K_STRING, F(admin_listen), 0, 0, 300, "\"127.0.0.1:9901\"", false,
     "Admin API listener (`HOST:PORT`, port 0 picks one); never the traffic "
     "port. `\"\"` turns the admin API off. A non-loopback address needs a "
     "token."},
    {"/admin/token_file", K_STRING, F(admin_token_file), 0, 1, 4096, NULL, false,
     "File holding the admin bearer token (trailing newline ignored)."},
    {"/admin/token_env", K_STRING, F(admin_token_env), 0, 1, 256, NULL, false,
     "Environment variable holding the admin bearer token."},
    {"/admin/tokens", K_TOKENS, F(admin_tokens), F(nadmin_tokens), 0, CONFIG_MAX_TOKENS, "[]",
     false,
     "Named admin tokens, each `{\"name\", \"role\", \"token_file\"}` (or `token_env`): "
     "role `operator` may do everything, `viewer` only read (state, metrics, the dashboard "
     "without its buttons). `token_file`/`token_env` above is an operator named `admin`."},
    {"/readiness/require_shadow", K_BOOL, F(readiness_require_shadow), 0, 0, 0, "false", true,
     "`GET /readyz` also fails (503) when the shadow upstream is unreachable. Off: the "
     "shadow's health is in the answer's body only, since clients never depend on it."},
    {"/state_file", K_STRING, F(state_file), 0, 1, 4096, "\"shadowproxy-state.json\"",
     false,
     "Operator decisions (authority, shadow pause/sample): the file store's file "
     "(`decisions.store` unset), changed under a lock and watched by every replica; "
     "with etcd, the local copy a replica starts from while etcd is unreachable."},
    {"/ids/ledger_file", K_STRING, F(ids_ledger_file), 0, 1, 4096, NULL, false,
     "The id ledger's file (rules `ids`, docs/rules.md \"Correlated ids\"): the pairs of "
     "generated ids learned, saved every `save_interval_s` and at shutdown, loaded at start. "
     "Default: `shadowproxy-ids.json` in `/state_file`'s directory."},
    {"/ids/max_pairs", K_COUNT, F(ids_max_pairs), 0, 1, 100000000, "100000", false,
     "Pairs the id ledger keeps, at most; past it the oldest pair goes."},
    {"/ids/max_age_s", K_LONG, F(ids_max_age_s), 0, 1, 315360000, "604800", false,
     "Age after which a learned pair is dropped (a request naming it is then `id_unknown`)."},
    {"/ids/save_interval_s", K_INT, F(ids_save_interval_s), 0, 1, 86400, "10", false,
     "Seconds between saves of the id ledger when it changed (and at shutdown)."},
    {"/decisions/store", K_STRING, F(decisions_store), 0, 1, 4096, NULL, false,
     "Where the operator's decisions live, shared by every replica: `file:PATH` (one host; "
     "default `file:` + `/state_file`) or `etcd://HOST:PORT[,HOST:PORT...]/PREFIX` (`etcds://` "
     "for TLS). Also `--decisions URL`. docs/operations.md, \"The fleet\"."},
    {"/decisions/etcd/ca_file", K_STRING, F(decisions_etcd.ca_file), 0, 1, 4096, NULL, false,
     "etcds://: PEM CA bundle that signed etcd's certificate (default: the system's)."},
    {"/decisions/etcd/client_cert", K_STRING, F(decisions_etcd.client_cert), 0, 1, 4096, NULL,
     false, "etcds://: PEM client certificate for etcd's client-cert authentication."},
    {"/decisions/etcd/client_key", K_STRING, F(decisions_etcd.client_key), 0, 1, 4096, NULL,
     false, "etcds://: PEM private key of `client_cert`."},
    {"/decisions/etcd/username", K_STRING, F(decisions_etcd.username), 0, 1, 256, NULL, false,
     "etcd user (etcd's own authentication); needs `password_file`."},
    {"/decisions/etcd/password_file", K_STRING, F(decisions_etcd.password_file), 0, 1, 4096,
     NULL, false, "File holding the etcd user's password (trailing newline ignored)."},
    {"/diff_log/path", K_STRING, F(diff_log_path), 0, 1, 4096,
     "\"shadowproxy-diffs.jsonl\"", false,
     "File the records are appended to, one JSON object per line; relative "
     "to the working directory."},
    {"/diff_log/mode", K_MODE, F(diff_log_mode), 0, 0, 0, "\"mismatches\"",
     true, "`mismatches` logs every exchange whose verdict is not `match`, but counts the ones "
     "not mirrored by choice (shadow off, paused, route or method not mirrored, not sampled) "
     "per route in once-a-second `not_mirrored` records; `all` logs every one."},
    {"/diff_log/max_body_bytes", K_SIZE, F(diff_log_max_body), 0, 0, GiB,
     "65536", false, "Bytes of each body embedded in a record."},
    {"/diff_log/queue", K_COUNT, F(diff_log_queue), 0, 1, 1000000, "10000",
     false, "Exchanges waiting to be compared and logged, at most."},
    {"/diff_log/follow_symlinks", K_BOOL, F(diff_log_follow_symlinks), 0, 0, 0, "false",
     false,
     "Open `path` even when it is a symbolic link. Off, a symbolic link there is refused at "
     "start and on SIGUSR1's reopen (the old file is kept), so nobody who can write the "
     "folder can send the records elsewhere. Either way the file is made mode 0600."},
    {"/diff_log/redact_fields", K_STRLIST, F(redact_fields), F(nredact_fields),
     0, 256, "[]", false,
     "Field names (exact, case-insensitive) masked before logging, on top of "
     "the secret families (password, secret, token, api_key, auth, cvv, "
     "card_number, personal) and card numbers, which are always masked."},
    {"/diff_log/redact_exempt", K_STRLIST, F(redact_exempt), F(nredact_exempt),
     0, 256, "[]", false,
     "`FAMILY:NAME` entries: field or header names a family leaves in clear "
     "(`token:token_type`, `luhn:gtin`); `FAMILY:*` turns a family off."},
    {"/log/level", K_LEVEL, F(log_level), 0, 0, 0, "\"info\"", true,
     "Least severe level written."},
    {"/log/format", K_FORMAT, F(log_format), 0, 0, 0, "\"logfmt\"", false,
     "`logfmt` (key=value) or `json`, one line per event."},
    {"/log/file", K_STRING, F(log_file), 0, 1, 4096, NULL, false,
     "Write the process log to this file instead of stderr; SIGUSR1 reopens "
     "it (logrotate)."},
};
const size_t config_nkeys = sizeof config_keys / sizeof config_keys[0];

static const char *const side_names[] = {"legacy", "new", NULL};
static const char *const mode_names[] = {"mismatches", "all", NULL};
static const char *const level_names[] = {"error", "warn", "info", "debug",
                                          NULL};
static const char *const format_names[] = {"logfmt", "json", NULL};
static const char *const tlsver_names[] = {"1.2", "1.3", NULL};
static const char *const client_names[] = {"auto", "curl", NULL};

const char *const *config_enum_names(config_ktype t)
{
    return t == K_SIDE ? side_names : t == K_MODE ? mode_names
           : t == K_LEVEL ? level_names : t == K_TLSVER ? tlsver_names
           : t == K_CLIENT ? client_names : format_names;
}

int config_enum_index(const char *const *names, const char *s)
{
    for (int i = 0; s && names[i]; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return -1;
}

/* "\"a\", \"b\" or \"c\"" */
void config_alternatives(const char *const *names, char *buf, size_t size)
{
    size_t o = 0;
    buf[0] = '\0';
    for (int j = 0; names[j] && o < size; j++)
        o += (size_t)snprintf(buf + o, size - o, "%s\"%s\"",
                              j == 0 ? "" : names[j + 1] ? ", " : " or ",
                              names[j]);
}

bool config_is_enum(config_ktype t)
{
    return t == K_SIDE || t == K_MODE || t == K_LEVEL || t == K_FORMAT || t == K_TLSVER ||
           t == K_CLIENT;
}

bool config_is_string(config_ktype t)
{
    return t == K_STRING || t == K_URL || t == K_LEVEL || t == K_LISTEN || t == K_CERTS ||
           t == K_KEY || t == K_PIN || t == K_HOST || t == K_CIPHERS;
}

/* --- small helpers ------------------------------------------------------- */

void *config_field(const sp_config *c, size_t off)
{
    return (char *)c + off;
}

const config_key *config_key_find(const char *ptr)
{
    for (size_t i = 0; i < config_nkeys; i++)
        if (strcmp(config_keys[i].ptr, ptr) == 0)
            return &config_keys[i];
    return NULL;
}

/* Is `ptr` a section, i.e. a proper prefix of some key? */
bool config_is_section(const char *ptr)
{
    size_t n = strlen(ptr);
    for (size_t i = 0; i < config_nkeys; i++)
        if (strncmp(config_keys[i].ptr, ptr, n) == 0 && config_keys[i].ptr[n] == '/')
            return true;
    return false;
}

/* "/legacy/url" -> "legacy.url" (table pointers hold no escapes). */
void config_dotted(const char *ptr, char *buf, size_t size)
{
    snprintf(buf, size, "%s", *ptr == '/' ? ptr + 1 : ptr);
    for (char *p = buf; *p; p++)
        if (*p == '/')
            *p = '.';
}

void config_fmt_size(unsigned long long v, char *buf, size_t size)
{
    static const char *const unit[] = {"GiB", "MiB", "KiB"};
    for (int i = 0; i < 3; i++) {
        unsigned long long u = 1ULL << (30 - 10 * i);
        if (v && v % u == 0) {
            snprintf(buf, size, "%llu%s", v / u, unit[i]);
            return;
        }
    }
    snprintf(buf, size, "%llu", v);
}

bool config_token_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

static bool ipv6_ok(const char *s, const char *e)
{
    char buf[64];
    unsigned char addr[16];
    if (e <= s || (size_t)(e - s) >= sizeof buf)
        return false;
    memcpy(buf, s, (size_t)(e - s));
    buf[e - s] = '\0';
    return inet_pton(AF_INET6, buf, addr) == 1;
}

/* Decimal port in [s, e), min..65535. */
static bool port_ok(const char *s, const char *e, int min, int *out)
{
    int v = 0;
    if (e <= s || e - s > 5)
        return false;
    for (const char *p = s; p < e; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (*p - '0');
    }
    if (v < min || v > 65535)
        return false;
    if (out)
        *out = v;
    return true;
}

/* NULL when `s` is a usable upstream base URL; *keep = length to store. */
const char *config_url_problem(const char *s, size_t *keep)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return "spaces, control and non-ASCII characters must be "
                   "percent-encoded";
    const char *a;
    if (strncasecmp(s, "http://", 7) == 0)
        a = s + 7;
    else if (strncasecmp(s, "https://", 8) == 0)
        a = s + 8;
    else
        return "scheme must be http or https";
    const char *ae = a + strcspn(a, "/?#"), *port = NULL;
    if (memchr(a, '@', (size_t)(ae - a)))
        return "user info is not supported";
    if (*a == '[') {
        const char *rb = memchr(a, ']', (size_t)(ae - a));
        if (!rb || !ipv6_ok(a + 1, rb))
            return "invalid IPv6 address";
        if (rb + 1 < ae && rb[1] != ':')
            return "invalid host";
        port = rb + 1 < ae ? rb + 2 : NULL;
    } else {
        const char *colon = memchr(a, ':', (size_t)(ae - a));
        const char *he = colon ? colon : ae;
        if (he == a)
            return "host is missing";
        for (const char *p = a; p < he; p++)
            if (!config_token_char(*p))
                return "invalid host";
        port = colon ? colon + 1 : NULL;
    }
    if (port && !port_ok(port, ae, 1, NULL))
        return "port must be 1..65535";
    if (strchr(ae, '?'))
        return "a query string is not allowed";
    if (strchr(ae, '#'))
        return "a fragment is not allowed";
    *keep = n > (size_t)(ae - s) && s[n - 1] == '/' ? n - 1 : n;
    return NULL;
}

void config_free_list(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

/* --- public helpers ------------------------------------------------------ */

const char *config_side_name(sp_side s)
{
    return (unsigned)s < 2 ? side_names[s] : "?";
}

const char *config_tls_version_name(tls_version v)
{
    return (unsigned)v < 2 ? tlsver_names[v] : "?";
}

int config_parse_side(const char *s, sp_side *out)
{
    int i = config_enum_index(side_names, s);
    if (i < 0)
        return -EINVAL;
    *out = (sp_side)i;
    return 0;
}

int config_set_string(char **slot, const char *value)
{
    char *dup = value ? strdup(value) : NULL;
    if (value && !dup)
        return -ENOMEM;
    free(*slot);
    *slot = dup;
    return 0;
}

int config_parse_listen(const char *s, char **host, int *port)
{
    const char *h, *he, *colon;
    if (!s)
        return -EINVAL;
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (!rb || rb[1] != ':' || !ipv6_ok(s + 1, rb))
            return -EINVAL;
        h = s + 1, he = rb, colon = rb + 1;
    } else {
        if (!(colon = strrchr(s, ':')))
            return -EINVAL;
        h = s, he = colon;
        if (he - h > 253)
            return -EINVAL;
        for (const char *p = h; p < he; p++)
            if (!config_token_char(*p))
                return -EINVAL;
    }
    int v;
    if (!port_ok(colon + 1, colon + 1 + strlen(colon + 1), 0, &v))
        return -EINVAL;
    char *dup = he == h ? strdup("0.0.0.0") : strndup(h, (size_t)(he - h));
    if (!dup)
        return -ENOMEM;
    *host = dup;
    *port = v;
    return 0;
}

int config_set_listen(sp_config *c, const char *s)
{
    char *host;
    int port, rc = config_parse_listen(s, &host, &port);
    if (rc)
        return rc;
    free(c->listen_host);
    c->listen_host = host;
    c->listen_port = port;
    return 0;
}

int config_set_url(char **slot, const char *url, const char **why)
{
    size_t keep;
    const char *bad = url ? config_url_problem(url, &keep) : "URL is missing";
    if (bad) {
        if (why)
            *why = bad;
        return -EINVAL;
    }
    char *dup = strndup(url, keep);
    if (!dup)
        return -ENOMEM;
    free(*slot);
    *slot = dup;
    return 0;
}

char *config_url_shown(const char *url, char *buf, size_t size)
{
    assert(buf && size > 0);
    const char *sep = strstr(url, "://");
    const char *a = sep ? sep + 3 : url;
    const char *ae = a + strcspn(a, "/?#"), *at = NULL;
    for (const char *p = a; p < ae; p++)
        if (*p == '@')
            at = p;
    if (at)
        snprintf(buf, size, "%.*s***%s", (int)(a - url), url, at);
    else
        snprintf(buf, size, "%s", url);
    return buf;
}

int config_errors_add(config_errors *e, int line, int column, const char *fmt,
                      ...)
{
    char *msg;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -ENOMEM;
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 8;
        config_error *v = realloc(e->v, cap * sizeof *v);
        if (!v) {
            free(msg);
            return -ENOMEM;
        }
        e->v = v;
        e->cap = cap;
    }
    e->v[e->n++] = (config_error){line, column, msg};
    return 0;
}

void config_errors_free(config_errors *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->v[i].message);
    free(e->v);
    *e = (config_errors){0};
}

void config_errors_print(FILE *out, const char *path, const config_errors *e)
{
    for (size_t i = 0; i < e->n; i++) {
        if (e->v[i].line > 0)
            fprintf(out, "%s:%d:%d: %s\n", path, e->v[i].line, e->v[i].column,
                    e->v[i].message);
        else
            fprintf(out, "%s: %s\n", path, e->v[i].message);
    }
}

bool config_key_reloadable(const char *pointer)
{
    const config_key *k = pointer ? config_key_find(pointer) : NULL;
    return k && k->reload;
}

/* --- freeing and printing ------------------------------------------------ */

void config_free(sp_config *c)
{
    for (size_t i = 0; i < config_nkeys; i++) {
        const config_key *k = &config_keys[i];
        if (k->type == K_TOKENS)
            config_tokens_free(*(config_admin_token **)config_field(c, k->off),
                               *(size_t *)config_field(c, k->off2));
        else if (k->type == K_STRLIST || k->type == K_HDRLIST || k->type == K_CIDRLIST)
            config_free_list(*(char ***)config_field(c, k->off), *(size_t *)config_field(c, k->off2));
        else if (config_is_string(k->type))
            free(*(char **)config_field(c, k->off));
    }
    memset(c, 0, sizeof *c);
}

long long config_number_of(const sp_config *c, const config_key *k)
{
    const void *f = config_field(c, k->off);
    return k->type == K_INT    ? *(const int *)f
           : k->type == K_LONG ? *(const long *)f
           : *(const size_t *)f > LLONG_MAX ? LLONG_MAX
                                            : (long long)*(const size_t *)f;
}

int config_enum_of(const sp_config *c, const config_key *k)
{
    const void *f = config_field(c, k->off);
    const char *const *names = config_enum_names(k->type);
    int i;
    if (k->type == K_LEVEL)
        return config_enum_index(names, *(char *const *)f);
    i = k->type == K_SIDE     ? (int)*(const sp_side *)f
        : k->type == K_MODE   ? (int)*(const diff_log_mode *)f
        : k->type == K_TLSVER ? (int)*(const tls_version *)f
        : k->type == K_CLIENT ? (int)*(const shadow_client *)f
                              : (int)*(const log_format *)f;
    for (int j = 0; names[j]; j++)
        if (j == i)
            return i;
    return -1;
}

int config_errors_vreport(config_errors *e, const char *text, size_t len, const char *ptr,
                          bool key, size_t *reported, const char *fmt, va_list ap)
{
    char msg[700];
    int line = 0, col = 0;
    if (*reported > CONFIG_MAX_ERRORS)
        return 0;
    if (text && ptr &&
        (key ? jsonpos_find_key : jsonpos_find)(text, len, ptr, &line, &col) != 0)
        line = col = 0;
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (++*reported > CONFIG_MAX_ERRORS) {
        snprintf(msg, sizeof msg, "too many errors, stopped after %d", CONFIG_MAX_ERRORS);
        line = col = 0;
    }
    return config_errors_add(e, line, col, "%s", msg);
}

/* Is a strictly after b? Errors without a position go last. */
static bool error_later(const config_error *a, const config_error *b)
{
    if ((a->line == 0) != (b->line == 0))
        return a->line == 0;
    return a->line > b->line || (a->line == b->line && a->column > b->column);
}

void config_errors_sort(config_errors *e, size_t from)
{
    /* few errors (capped): an insertion sort */
    for (size_t i = from + 1; i < e->n; i++) {
        config_error t = e->v[i];
        size_t j = i;
        for (; j > from && error_later(&e->v[j - 1], &t); j--)
            e->v[j] = e->v[j - 1];
        e->v[j] = t;
    }
}

int config_read_file(const char *path, size_t max, char **buf, size_t *len)
{
    size_t cap = max + 1, n = 0;
    *buf = NULL;
    *len = 0;
    if (!path)
        return EINVAL;
    /* O_NONBLOCK: opening a FIFO nobody writes to would block for good
     * (at startup, or in the reload of a state file someone replaced with
     * one, on the main loop). Reads block again after the open, so a pipe
     * with a writer (--config <(...)) is read whole; without one it reads
     * as empty. Devices are read up to the size limit, like any file. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return errno;
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
        int err = errno;
        close(fd);
        return err;
    }
    char *b = malloc(cap);
    int err = b ? 0 : ENOMEM;
    while (b && !err && n < cap) {
        ssize_t r = read(fd, b + n, cap - n);
        if (r < 0 && errno != EINTR)
            err = errno;
        else if (r == 0)
            break;
        else if (r > 0)
            n += (size_t)r;
    }
    close(fd);
    if (err) {
        free(b);
        return err;
    }
    *buf = b;
    *len = n;
    return 0;
}
