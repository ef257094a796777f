/* sp-stub: the upstream stub server used by the end-to-end tests, the demo
 * and the benchmarks. Raw POSIX sockets, one detached thread per
 * connection, HTTP/1.1 with keep-alive, so that every kind of misbehaviour
 * (resets, truncation, bad framing, stalls) is under the test's control.
 *
 *   accept thread ──► conn thread: read head ─► read body (hash, keep 1 MiB)
 *                         │                 ─► log line ─► directives
 *                         └─► misbehave (close/reset/garbage/hang)
 *                         └─► route or directive body ─► encode ─► send
 *
 * Modules: stub.c (CLI, listen, accept), conn.c (reader, parser, request
 * loop), reply.c (directives, framing, sending), routes.c (echo, bytes,
 * status, health), erp.c (the demo ERP API), util.c (buffers, JSON,
 * UTF-8, base64), sha256.c, tls.c (optional HTTPS and mTLS, OpenSSL). */
#ifndef SP_STUB_H
#define SP_STUB_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define STUB_HEAD_MAX (64 * 1024)    /* request line + headers; else 431 */
#define STUB_BODY_KEEP (1024 * 1024) /* body bytes kept in memory */
#define STUB_ECHO_BODY 4096          /* body bytes shown by /echo */
#define STUB_PIECE (16 * 1024)       /* chunk size for chunked/slow */
#define STUB_BIG_PIECE (256 * 1024)  /* slice size for plain bodies */
#define STUB_IO_TIMEOUT_S 60         /* idle/read/write timeout */

/* ---- configuration (built once by main, read-only afterwards) ---------- */
enum stub_profile { PROFILE_LEGACY, PROFILE_NEW, PROFILE_PLAIN };

enum stub_action {
    ACT_NONE,
    ACT_CLOSE,   /* close without answering */
    ACT_RESET,   /* SO_LINGER 0 + close: RST */
    ACT_GARBAGE, /* non-HTTP bytes, then close */
    ACT_STATUS500,
    ACT_HANG, /* never answer; wait for the client to go (max 60 s) */
};

struct stub_cfg {
    const char *name;
    enum stub_profile profile;
    bool noise; /* --noise: the pure-noise differences of --profile new */
    bool volatile_; /* --volatile: inventory answers carry a value new on every call */
    long sync_lag_ms; /* --sync-lag-ms: inventory qty stale this long after a SKU's
                       * first read; -1 always (0: off) */
    const char *generated_ids; /* --generated-ids PREFIX (genids.c), or NULL */
    int log_fd; /* -1: no request log */
    long delay_ms;
    enum stub_action fail;
    int max_conns; /* 0: unlimited */
    void *tls_ctx; /* SSL_CTX *: serve HTTPS; NULL: plain HTTP */
};

/* ---- tls.c: a connection's transport, plain or TLS ---------------------- */
struct iovec;
struct stub_io {
    int fd;
    void *ssl; /* SSL *, or NULL */
};

/* --tls-cert/--tls-key [--tls-client-ca] [--tls-max-version]: sets
 * cfg->tls_ctx. 0, or -1 after a message on stderr. */
int tls_setup(struct stub_cfg *cfg, const char *cert, const char *key,
              const char *client_ca, const char *max_version);
/* The server side of the handshake when tls_ctx is set. 0 or -1. */
int io_handshake(struct stub_io *io, void *tls_ctx);
void io_free(struct stub_io *io);
ssize_t io_recv(struct stub_io *io, void *buf, size_t n); /* > 0, 0 EOF, -1 */
int io_send(struct stub_io *io, const void *p, size_t n); /* all, or -1 */
int io_sendv(struct stub_io *io, const struct iovec *iov, int n);
void io_shutdown(struct stub_io *io); /* close_notify (TLS) and FIN */

/* ---- util.c: growable buffer, JSON, UTF-8, base64, numbers ------------- */
struct sbuf {
    char *p;
    size_t len, cap;
};

void *xmalloc(size_t n); /* out of memory is fatal for a test stub */
void sb_reserve(struct sbuf *b, size_t extra);
void sb_put(struct sbuf *b, const void *d, size_t n);
void sb_puts(struct sbuf *b, const char *s);
void sb_printf(struct sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void sb_json_str(struct sbuf *b, const void *d, size_t n); /* quoted */
void sb_free(struct sbuf *b);

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid or cut. */
size_t utf8_seq_len(const unsigned char *s, size_t n);
/* Whole buffer valid UTF-8; with allow_cut an incomplete final sequence
 * (a prefix of a longer text) is accepted. */
bool utf8_valid(const unsigned char *s, size_t n, bool allow_cut);

/* Strict decimal: digits only, no sign, value <= max. */
bool parse_u64(const char *s, size_t n, uint64_t max, uint64_t *out);
/* Standard or URL-safe alphabet, padding optional. Appends to out. */
bool base64_decode(const char *s, size_t n, struct sbuf *out);
bool ascii_ieq(const char *a, size_t a_len, const char *b); /* b: C string */
bool is_tchar(unsigned char c);
void sleep_ms(long ms);
/* Next non-empty element of a comma-separated list, trimmed of spaces and
 * tabs; *p advances. False at the end. */
bool list_next(const char **p, const char *end, const char **tok,
               size_t *len);

/* Minimal JSON writer: tracks commas so callers only say what to write. */
struct jw {
    struct sbuf *b;
    uint64_t nonfirst; /* bit d: container at depth d already has a member */
    int depth;
    bool after_key;
};
void jw_init(struct jw *j, struct sbuf *b);
void jw_open(struct jw *j, char c); /* '{' or '[' */
void jw_close(struct jw *j, char c);
void jw_key(struct jw *j, const char *k);
void jw_str(struct jw *j, const char *s);
void jw_strn(struct jw *j, const void *s, size_t n);
void jw_int(struct jw *j, long long v);
void jw_raw(struct jw *j, const char *lit); /* true, false, null */
/* A money amount in cents; trailing_zero prints 45 as "45.0". */
void jw_money(struct jw *j, long long cents, bool trailing_zero);

/* ---- sha256.c ----------------------------------------------------------- */
struct sha256 {
    uint32_t h[8];
    uint64_t len;
    unsigned char buf[64];
    size_t n;
};
void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *d, size_t n);
void sha256_final(struct sha256 *s, unsigned char out[32]);
void sha256_hex(const unsigned char d[32], char out[65]);

/* ---- conn.c: one request as parsed ------------------------------------- */
struct stub_hdr {
    const char *name, *value; /* NUL-terminated, inside the head copy */
    size_t name_len, value_len;
};

struct stub_req {
    const char *method, *target, *version;
    size_t method_len, target_len;
    struct stub_hdr *h;
    size_t nh, hcap;
    bool http10, keep_alive, chunked, is_head, expect100, te_and_cl;
    bool has_len;
    uint64_t content_length;
    uint64_t body_len;
    char body_hex[65];
    unsigned char *body; /* first STUB_BODY_KEEP bytes */
    size_t body_kept, body_cap;
};

/* First value of a header (case-insensitive), or NULL. */
const char *req_header(const struct stub_req *r, const char *name);
/* Serves one accepted connection (TLS first when cfg->tls_ctx) until it
 * ends, then closes fd. */
void conn_serve(int fd, const struct stub_cfg *cfg);

/* ---- reply.c: directives and the response ------------------------------ */
enum stub_enc { ENC_NONE, ENC_GZIP, ENC_DEFLATE };

struct stub_ctl {
    long delay_ms; /* -1: not given */
    int status;    /* 0: not given */
    enum stub_action act;
    bool has_bytes, has_body, has_ctype;
    uint64_t bytes;
    struct sbuf body, ctype, hdrs; /* hdrs: "Name: value\r\n" lines */
    bool chunked, nocl, badlen, badchunk;
    enum stub_enc enc;
    int level;
    int64_t cut; /* -1: not given */
    long slow_ms;
    size_t bigheaders;
    uint64_t info;   /* interim 103 answers sent before the final one */
    int64_t len;     /* len=N: the Content-Length declared; -1: the real one */
    bool endless;    /* the body never ends (close-delimited or chunked) */
    size_t nest;     /* nest*: a JSON or XML body nested this deep */
    char nest_kind;  /* '[' arrays, '{' objects, '<' XML elements */
    char err[200]; /* non-empty: a directive was invalid */
};

struct stub_reply {
    int status;
    const char *ctype;
    struct sbuf hdrs;     /* extra "Name: value\r\n" lines */
    struct sbuf body;     /* the body, unless pattern */
    bool pattern;         /* body is pattern_len bytes of 'a'+i%26 */
    uint64_t pattern_len;
    enum stub_enc enc;    /* the route's own encoding (Accept-Encoding);
                             an encoding directive overrides it */
    int level;
    struct sbuf enc_body; /* scratch for gzip/deflate output */
    struct sbuf head;     /* scratch for the status line and headers */
    bool close;           /* close the connection after this answer */
};

void ctl_parse(struct stub_ctl *ctl, const struct stub_req *r,
               const char *name);
void ctl_free(struct stub_ctl *ctl);
void reply_reset(struct stub_reply *rp);
void reply_free(struct stub_reply *rp);
/* A small JSON answer {"error": msg} (or any body via reply fields). */
void reply_error(struct stub_reply *rp, int status, const char *msg);
/* Applies directives, encodes and writes the answer. -1: connection dead. */
int reply_send(struct stub_io *io, const struct stub_cfg *cfg, const struct stub_req *r,
               const struct stub_ctl *ctl, struct stub_reply *rp);
void pattern_init(void);
const char *status_reason(int status);

/* ---- routes.c / erp.c --------------------------------------------------- */
void routes_dispatch(const struct stub_cfg *cfg, const struct stub_req *r,
                     struct stub_reply *rp);
/* Handles /api/... (and /v2/... on --profile new); false if the path is
 * not an ERP route. */
/* genids.c: --generated-ids; true when it answered. */
bool genids_route(const struct stub_cfg *cfg, const struct stub_req *r, const char *path,
                  size_t path_len, struct stub_reply *rp);
bool erp_route(const struct stub_cfg *cfg, const struct stub_req *r,
               const char *path, size_t path_len, const char *query,
               size_t query_len, struct stub_reply *rp);

#endif
