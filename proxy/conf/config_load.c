/* config_load: reading a config file over the defaults, and validation.
 * Every problem is collected (not just the first), with the line:column of
 * the offending value, found by jsonpos in the text jansson has accepted. */
#include "conf/config.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "conf/config_keys.h"
#include "conf/decisions_url.h"
#include "base/cidr.h"
#include "base/jsonpos.h"
#include "conf/jsonread.h"
#include "base/secret.h"
#include "conf/tls_check.h"

/* Messages quote user text up to 48 bytes (jsonpos.h). */
static void quote(const char *s, char *buf, size_t size) { jsonpos_quote(s, 48, buf, size); }
static const char *type_name(const json_t *v) { return jsonpos_type_name(v); }
static void show(const json_t *v, char *buf, size_t size) { jsonpos_show(v, 48, buf, size); }




/* "65536", "64KiB", "8MiB", "1GiB"; saturates on overflow. */
static int parse_size(const char *s, unsigned long long *out)
{
    unsigned long long v = 0, mult = 1;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++)
        v = v > (ULLONG_MAX - 9) / 10 ? ULLONG_MAX : v * 10 + (unsigned)(*p - '0');
    if (p == s)
        return -1;
    if (strcmp(p, "KiB") == 0)
        mult = 1ULL << 10;
    else if (strcmp(p, "MiB") == 0)
        mult = 1ULL << 20;
    else if (strcmp(p, "GiB") == 0)
        mult = 1ULL << 30;
    else if (*p)
        return -1;
    *out = v > ULLONG_MAX / mult ? ULLONG_MAX : v * mult;
    return 0;
}

static bool header_name_ok(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!config_token_char(*s) && !strchr("!#$%&'*+^`|~", *s))
            return false;
    return true;
}

/* --- loading ------------------------------------------------------------- */

typedef struct ctx {
    sp_config *c;
    jr_doc d; /* text NULL when applying defaults */
} ctx;

/* One error at the value (or, with key set, the member name) at `ptr`. */
#define report(x, ...) jr_report_ptr(&(x)->d, __VA_ARGS__)

static void nomem(ctx *x, int rc)
{
    if (rc == -ENOMEM)
        x->d.rc = -ENOMEM;
}

static bool range_ok(ctx *x, const config_key *k, const char *ptr,
                     const char *name, long long n, const json_t *v)
{
    char lo[32], hi[32], got[80];
    if (n >= k->min && n <= k->max)
        return true;
    if (k->type == K_SIZE) {
        config_fmt_size((unsigned long long)k->min, lo, sizeof lo);
        config_fmt_size((unsigned long long)k->max, hi, sizeof hi);
    } else {
        snprintf(lo, sizeof lo, "%lld", k->min);
        snprintf(hi, sizeof hi, "%lld", k->max);
    }
    if (v)
        show(v, got, sizeof got);
    else
        snprintf(got, sizeof got, "%lld", n);
    report(x, ptr, false, "%s must be between %s and %s, got %s", name, lo, hi,
           got);
    return false;
}

static void apply_number(ctx *x, const config_key *k, const json_t *v,
                         const char *ptr, const char *name)
{
    void *f = config_field(x->c, k->off);
    char got[80];
    long long n;
    if (json_is_integer(v)) {
        n = json_integer_value(v);
    } else if (k->type == K_SIZE && json_is_string(v)) {
        unsigned long long u;
        if (parse_size(json_string_value(v), &u)) {
            show(v, got, sizeof got);
            report(x, ptr, false,
                   "%s must be a byte count like 65536 or \"64KiB\", got %s",
                   name, got);
            return;
        }
        n = u > LLONG_MAX ? LLONG_MAX : (long long)u;
    } else {
        report(x, ptr, false, "%s must be %s, got %s", name,
               k->type == K_SIZE ? "a byte count like 65536 or \"64KiB\""
                                 : "an integer",
               type_name(v));
        return;
    }
    if (!range_ok(x, k, ptr, name, n, v))
        return;
    if (k->type == K_INT)
        *(int *)f = (int)n;
    else if (k->type == K_LONG)
        *(long *)f = (long)n;
    else
        *(size_t *)f = (size_t)n;
}

static void apply_enum(ctx *x, const config_key *k, const json_t *v,
                       const char *ptr, const char *name)
{
    const char *const *names = config_enum_names(k->type);
    int i = json_is_string(v) ? config_enum_index(names, json_string_value(v)) : -1;
    if (i < 0) {
        char alts[128], got[80];
        config_alternatives(names, alts, sizeof alts);
        show(v, got, sizeof got);
        report(x, ptr, false, "%s must be %s, got %s", name, alts, got);
        return;
    }
    void *f = config_field(x->c, k->off);
    if (k->type == K_SIDE)
        *(sp_side *)f = (sp_side)i;
    else if (k->type == K_MODE)
        *(diff_log_mode *)f = (diff_log_mode)i;
    else if (k->type == K_FORMAT)
        *(log_format *)f = (log_format)i;
    else if (k->type == K_TLSVER)
        *(tls_version *)f = (tls_version)i;
    else if (k->type == K_CLIENT)
        *(shadow_client *)f = (shadow_client)i;
    else
        nomem(x, config_set_string((char **)f, names[i]));
}

static void apply_list(ctx *x, const config_key *k, const json_t *v,
                       const char *ptr, const char *name)
{
    const char *what = k->type == K_HDRLIST    ? "header names"
                       : k->type == K_CIDRLIST ? "addresses or CIDR ranges"
                                               : "strings";
    if (!json_is_array(v)) {
        report(x, ptr, false, "%s must be an array of %s, got %s", name, what,
               type_name(v));
        return;
    }
    size_t n = json_array_size(v);
    if (n > (size_t)k->max) {
        report(x, ptr, false, "%s must have at most %lld entries, got %zu",
               name, k->max, n);
        return;
    }
    char **list = calloc(n ? n : 1, sizeof *list);
    char got[80], eptr[128];
    const char *why;
    cidr range;
    bool bad = !list;
    nomem(x, list ? 0 : -ENOMEM);
    for (size_t i = 0; list && i < n; i++) {
        const json_t *e = json_array_get(v, i);
        const char *s = json_string_value(e);
        snprintf(eptr, sizeof eptr, "%s/%zu", ptr, i);
        if (!s)
            report(x, eptr, false, "%s[%zu] must be a string, got %s", name, i,
                   type_name(e));
        else if (!*s)
            report(x, eptr, false, "%s[%zu] must not be empty", name, i);
        else if (k->type == K_HDRLIST && !header_name_ok(s)) {
            show(e, got, sizeof got);
            report(x, eptr, false, "%s[%zu] must be a header name, got %s",
                   name, i, got);
        } else if (k->type == K_CIDRLIST && (why = cidr_parse(s, &range))) {
            show(e, got, sizeof got);
            report(x, eptr, false, "%s[%zu] must be an address or ADDRESS/BITS, got %s (%s)",
                   name, i, got, why);
        } else if (!(list[i] = strdup(s)))
            nomem(x, -ENOMEM);
        bad |= !list[i];
    }
    if (bad) {
        config_free_list(list, n);
        return;
    }
    char ***slot = config_field(x->c, k->off);
    size_t *count = config_field(x->c, k->off2);
    config_free_list(*slot, *count);
    *slot = list;
    *count = n;
}

static bool host_ok(const char *s)
{
    for (const char *p = s; *p; p++)
        if (!config_token_char(*p) || *p == '_')
            return false;
    return *s != '.' && *s != '-';
}

/* The file keys: each file is read now, so a typo is reported at its
 * place in the config, not at the first request. NULL when it is fine. */
static const char *file_problem(const config_key *k, const char *s, char *buf,
                                size_t size, const char **want)
{
    switch (k->type) {
    case K_CERTS:
        *want = "a readable PEM certificate file";
        return tls_file_problem(TLS_FILE_CERTS, s, buf, size);
    case K_KEY:
        *want = "a readable PEM private key file";
        return tls_file_problem(TLS_FILE_KEY, s, buf, size);
    case K_PIN:
        *want = "sha256//BASE64 pins or a public key file";
        return tls_pin_problem(s, buf, size);
    case K_CIPHERS:
        *want = "\"modern\", \"legacy\" or a GnuTLS priority string";
        return tls_priority_problem(s, buf, size);
    default:
        return NULL;
    }
}

static void apply_string(ctx *x, const config_key *k, const json_t *v,
                         const char *ptr, const char *name)
{
    const char *s = json_string_value(v), *why, *want;
    char got[80], eb[256];
    if (!s && json_is_null(v) && k->type != K_URL && !k->dflt) {
        char **slot = config_field(x->c, k->off); /* optional: null unsets */
        free(*slot);
        *slot = NULL;
        return;
    }
    if (!s) {
        report(x, ptr, false, "%s must be a string, got %s", name,
               type_name(v));
        return;
    }
    show(v, got, sizeof got);
    if (k->type == K_LISTEN) {
        int rc = config_set_listen(x->c, s);
        nomem(x, rc);
        if (rc == -EINVAL)
            report(x, ptr, false,
                   "%s must be HOST:PORT, [IPv6]:PORT or :PORT with a port "
                   "from 0 to 65535, got %s",
                   name, got);
    } else if (k->type == K_URL) {
        int rc = config_set_url(config_field(x->c, k->off), s, &why);
        nomem(x, rc);
        if (rc == -EINVAL) {
            char shown[256]; /* never the user info: it may hold a password */
            quote(config_url_shown(s, shown, sizeof shown), got, sizeof got);
            report(x, ptr, false, "%s must be an http or https URL, got %s (%s)", name, got,
                   why);
        }
    } else if (strlen(s) < (size_t)k->min) {
        report(x, ptr, false, "%s must not be empty", name);
    } else if (strlen(s) > (size_t)k->max) {
        report(x, ptr, false, "%s must be at most %lld bytes long", name,
               k->max);
    } else if ((why = file_problem(k, s, eb, sizeof eb, &want))) {
        report(x, ptr, false, "%s must be %s, got %s (%s)", name, want, got, why);
    } else if (k->type == K_HOST && !host_ok(s)) {
        report(x, ptr, false, "%s must be a host name (letters, digits, '-' and '.'), got %s",
               name, got);
    } else {
        nomem(x, config_set_string(config_field(x->c, k->off), s));
    }
}

/* report() for config_tokens_apply. */
static void report_cb(void *arg, const char *ptr, bool key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void report_cb(void *arg, const char *ptr, bool key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    jr_vreport_ptr(&((ctx *)arg)->d, ptr, key, fmt, ap);
    va_end(ap);
}

/* `ptr` is where the value sits in the file (differs from k->ptr for the
 * "legacy": "URL" shorthand). */
static void apply(ctx *x, const config_key *k, const json_t *v, const char *ptr)
{
    char name[64];
    config_dotted(k->ptr, name, sizeof name);
    switch (k->type) {
    case K_BOOL:
        if (json_is_boolean(v))
            *(bool *)config_field(x->c, k->off) = json_is_true(v);
        else
            report(x, ptr, false, "%s must be true or false, got %s", name,
                   type_name(v));
        break;
    case K_INT: case K_LONG: case K_COUNT: case K_SIZE:
        apply_number(x, k, v, ptr, name);
        break;
    case K_SIDE: case K_MODE: case K_LEVEL: case K_FORMAT: case K_TLSVER: case K_CLIENT:
        apply_enum(x, k, v, ptr, name);
        break;
    case K_STRLIST: case K_HDRLIST: case K_CIDRLIST:
        apply_list(x, k, v, ptr, name);
        break;
    case K_TOKENS:
        nomem(x, config_tokens_apply(v, ptr, name, (size_t)k->max,
                                     config_field(x->c, k->off), config_field(x->c, k->off2),
                                     report_cb, x));
        break;
    case K_LISTEN: case K_URL: case K_STRING: case K_CERTS: case K_KEY:
    case K_PIN: case K_HOST: case K_CIPHERS:
        apply_string(x, k, v, ptr, name);
        break;
    }
}


/* A known name for an unknown `key` under `prefix`: a sibling within edit
 * distance 2, else the one key elsewhere with exactly that name. */
static bool suggest(const char *prefix, const char *key, char *buf,
                    size_t size)
{
    size_t np = strlen(prefix), best = 3, dist;
    char tok[64], ptr[128];
    for (size_t i = 0; i < config_nkeys; i++) {
        const char *p = config_keys[i].ptr;
        if (strncmp(p, prefix, np) != 0 || p[np] != '/')
            continue;
        snprintf(tok, sizeof tok, "%.*s", (int)strcspn(p + np + 1, "/"),
                 p + np + 1);
        if ((dist = jsonpos_name_distance(key, tok)) < best) {
            best = dist;
            snprintf(ptr, sizeof ptr, "%s/%s", prefix, tok);
        }
    }
    if (best > 2) {
        const config_key *only = NULL;
        for (size_t i = 0; i < config_nkeys; i++) {
            const char *slash = strrchr(config_keys[i].ptr, '/');
            if (strcmp(slash + 1, key) == 0) {
                if (only)
                    return false;
                only = &config_keys[i];
            }
        }
        if (!only)
            return false;
        snprintf(ptr, sizeof ptr, "%s", only->ptr);
    }
    config_dotted(ptr, buf, size);
    return true;
}

static void unknown(ctx *x, const char *prefix, const char *key,
                    const char *ptr)
{
    char full[160], q[80], near[64], pre[64];
    config_dotted(prefix, pre, sizeof pre);
    snprintf(full, sizeof full, "%s%s%s", pre, *pre ? "." : "", key);
    quote(full, q, sizeof q);
    jr_unknown(&x->d, ptr, q, suggest(prefix, key, near, sizeof near) ? near : NULL);
}

/* prefix + "/" + key, with the key escaped as RFC 6901 requires. */
static char *join(const char *prefix, const char *key)
{
    size_t np = strlen(prefix), nk = strlen(key), o = np + 1;
    char *p = malloc(np + 2 * nk + 2);
    if (!p)
        return NULL;
    memcpy(p, prefix, np);
    p[np] = '/';
    for (; *key; key++) {
        if (*key == '~' || *key == '/') {
            p[o++] = '~';
            p[o++] = *key == '~' ? '0' : '1';
        } else
            p[o++] = *key;
    }
    p[o] = '\0';
    return p;
}

static void load_object(ctx *x, json_t *obj, const char *prefix);

static void load_section(ctx *x, json_t *v, const char *ptr)
{
    char url[64], name[64];
    if (json_is_object(v)) {
        load_object(x, v, ptr);
        return;
    }
    snprintf(url, sizeof url, "%s/url", ptr);
    const config_key *u = config_key_find(url);
    if (u && json_is_string(v)) {
        apply(x, u, v, ptr);
        return;
    }
    config_dotted(ptr, name, sizeof name);
    report(x, ptr, false, "%s must be an object%s, got %s", name,
           u ? " or a URL string" : "", type_name(v));
}

/* Depth is bounded by the table's: sections are entered only when known. */
static void load_object(ctx *x, json_t *obj, const char *prefix)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        char *ptr = join(prefix, key);
        if (!ptr) {
            x->d.rc = -ENOMEM;
            return;
        }
        const config_key *k = config_key_find(ptr);
        if (k)
            apply(x, k, v, ptr);
        else if (config_is_section(ptr))
            load_section(x, v, ptr);
        else
            unknown(x, prefix, key, ptr);
        free(ptr);
    }
}

int config_load_buffer(sp_config *c, const char *text, size_t len,
                       config_errors *errs)
{
    size_t before = errs->n;
    ctx x = {.c = c};
    json_t *root = jr_open(&x.d, errs, text, len, CONFIG_MAX_FILE_BYTES, "1 MiB");
    /* No root: empty, too large or not JSON, and jr_open said why. */
    if (root && !json_is_object(root))
        report(&x, "", false, "the top level must be an object, got %s",
               type_name(root));
    else if (root)
        load_object(&x, root, "");
    json_decref(root);
    return x.d.rc ? x.d.rc : errs->n > before ? -EINVAL : 0;
}

int config_load_file(sp_config *c, const char *path, config_errors *errs)
{
    char eb[128], *buf;
    size_t n;
    int err = config_read_file(path, CONFIG_MAX_FILE_BYTES, &buf, &n), rc;
    if (err) {
        rc = config_errors_add(errs, 0, 0, "cannot read: %s", strerror_r(err, eb, sizeof eb));
        return rc ? rc : -EINVAL;
    }
    rc = config_load_buffer(c, buf, n, errs);
    free(buf);
    return rc;
}

int config_defaults(sp_config *c)
{
    config_errors errs = {0};
    ctx x = {.c = c, .d = {.errs = &errs}};
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < config_nkeys && !x.d.rc && !errs.n; i++) {
        if (!config_keys[i].dflt)
            continue;
        json_t *v = json_loads(config_keys[i].dflt, JSON_DECODE_ANY, NULL);
        if (!v)
            x.d.rc = -ENOMEM; /* the table's defaults are valid JSON */
        else
            apply(&x, &config_keys[i], v, config_keys[i].ptr);
        json_decref(v);
    }
    int rc = x.d.rc ? x.d.rc : errs.n ? -EINVAL : 0;
    config_errors_free(&errs);
    if (rc)
        config_free(c);
    return rc;
}

/* TLS settings that only make sense together. */
static void validate_tls(ctx *x, const sp_config *c)
{
    char eb[256], got[80];
    const char *why;
    for (int i = 0; i < 2; i++) {
        const config_upstream *u = &c->upstream[i];
        const config_tls *t = &u->tls;
        const char *side = config_side_name((sp_side)i);
        const char *used = t->ca_file             ? "ca_file"
                           : t->client_cert       ? "client_cert"
                           : t->client_key        ? "client_key"
                           : t->pinned_public_key ? "pinned_public_key"
                           : t->server_name       ? "server_name"
                           : t->insecure_skip_verify ? "insecure_skip_verify"
                           : t->min_version != TLS_V1_2 ? "min_version"
                                                        : NULL;
        if (used && u->url && strncasecmp(u->url, "https://", 8) != 0) {
            quote(u->url, got, sizeof got);
            report(x, NULL, false, "%s.tls.%s needs an https URL, but %s.url is %s", side,
                   used, side, got);
        }
        if (t->client_key && !t->client_cert)
            report(x, NULL, false, "%s.tls.client_key needs %s.tls.client_cert", side, side);
        else if (t->client_cert &&
                 (why = tls_pair_problem(t->client_cert, t->client_key, eb, sizeof eb)))
            report(x, NULL, false, "%s.tls.client_cert: %s", side, why);
    }
    const config_listen_tls *l = &c->listen_tls;
    if (l->key_file && !l->cert_file)
        report(x, NULL, false, "listen_tls.key_file needs listen_tls.cert_file");
    else if (l->cert_file && (why = tls_check_listen_unsupported()))
        report(x, NULL, false, "listen_tls.cert_file: cannot serve HTTPS: %s", why);
    else if (l->cert_file && (why = tls_pair_problem(l->cert_file, l->key_file, eb, sizeof eb)))
        report(x, NULL, false, "listen_tls.cert_file: %s", why);
}

/* decisions.store parses, and its etcd settings go with an etcd store. */
static void validate_decisions(ctx *x, const sp_config *c)
{
    char why[200], got[80];
    decisions_url u = {0};
    const config_decisions_etcd *e = &c->decisions_etcd;
    int rc = c->decisions_store ? decisions_url_parse(c->decisions_store, &u, why, sizeof why) : 0;
    if (rc == -ENOMEM) {
        x->d.rc = -ENOMEM;
        return;
    }
    if (rc) {
        quote(c->decisions_store, got, sizeof got);
        report(x, NULL, false, "decisions.store %s: %s", got, why);
        return;
    }
    bool etcd = c->decisions_store && u.kind == DECISIONS_ETCD, tls = etcd && u.tls;
    decisions_url_free(&u);
    const char *tls_key = e->ca_file ? "ca_file" : e->client_cert ? "client_cert"
                          : e->client_key ? "client_key" : NULL;
    if (tls_key && !tls)
        report(x, NULL, false, "decisions.etcd.%s needs an etcds:// decisions.store", tls_key);
    if ((e->username || e->password_file) && !etcd)
        report(x, NULL, false, "decisions.etcd.%s needs an etcd decisions.store",
               e->username ? "username" : "password_file");
    if (!e->username != !e->password_file)
        report(x, NULL, false, "decisions.etcd.username and decisions.etcd.password_file go "
                               "together");
    if (!e->client_cert != !e->client_key)
        report(x, NULL, false, "decisions.etcd.client_cert and decisions.etcd.client_key go "
                               "together");
}

int config_validate(const sp_config *c, config_errors *errs)
{
    size_t before = errs->n;
    ctx x = {.c = (sp_config *)c, .d = {.errs = errs}};
    char name[64], got[80];
    for (size_t i = 0; i < config_nkeys; i++) {
        const config_key *k = &config_keys[i];
        bool is_str = config_is_string(k->type);
        const char *s = is_str ? *(char *const *)config_field(c, k->off) : NULL, *why;
        size_t keep;
        config_dotted(k->ptr, name, sizeof name);
        if (k->type == K_URL && !s) {
            report(&x, NULL, false,
                   "%s is required (set it in the config or with --%.*s)",
                   name, (int)strcspn(name, "."), name);
        } else if (k->type == K_URL && (why = config_url_problem(s, &keep))) {
            char shown[256];
            quote(config_url_shown(s, shown, sizeof shown), got, sizeof got);
            report(&x, NULL, false, "%s must be an http or https URL, got %s (%s)",
                   name, got, why);
        } else if (k->type == K_LISTEN && !s) {
            report(&x, NULL, false, "listen is not set");
        } else if (k->type == K_LISTEN &&
                   (c->listen_port < 0 || c->listen_port > 65535)) {
            report(&x, NULL, false,
                   "listen port must be between 0 and 65535, got %d",
                   c->listen_port);
        } else if (k->type == K_STRING && (k->dflt ? !s || (!*s && k->min > 0) : s && !*s)) {
            report(&x, NULL, false, "%s must not be empty", name);
        } else if (config_is_enum(k->type) && config_enum_of(c, k) < 0) {
            config_alternatives(config_enum_names(k->type), got, sizeof got);
            report(&x, NULL, false, "%s must be %s", name, got);
        } else if (k->type == K_INT || k->type == K_LONG ||
                   k->type == K_COUNT || k->type == K_SIZE) {
            range_ok(&x, k, NULL, name, config_number_of(c, k), NULL);
        }
    }
    if (c->shadow_recv_buffer && c->shadow_recv_buffer < 1024) /* 0 is "auto" */
        report(&x, NULL, false,
               "shadow.recv_buffer must be 0 (auto) or between 1KiB and 512KiB, got %zu",
               c->shadow_recv_buffer);
    validate_tls(&x, c);
    validate_decisions(&x, c);
    if (c->secondary_url) {
        const char *why;
        size_t keep;
        if ((why = config_url_problem(c->secondary_url, &keep))) {
            char shown[256];
            quote(config_url_shown(c->secondary_url, shown, sizeof shown), got, sizeof got);
            report(&x, NULL, false, "secondary.url must be an http or https URL, got %s (%s)",
                   got, why);
        }
    }
    for (size_t i = 0; i < c->nredact_exempt; i++) {
        const char *why = secret_exempt_problem(c->redact_exempt[i]);
        if (why) {
            quote(c->redact_exempt[i], got, sizeof got);
            report(&x, NULL, false, "diff_log.redact_exempt[%zu] %s, got %s", i, why, got);
        }
    }
    return x.d.rc ? x.d.rc : errs->n > before ? -EINVAL : 0;
}

const char *config_error_text(const char *path, const config_error *e, char *buf, size_t size)
{
    if (e->line > 0)
        snprintf(buf, size, "%s:%d:%d: %s", path, e->line, e->column, e->message);
    else
        snprintf(buf, size, "%s: %s", path, e->message);
    return buf;
}
