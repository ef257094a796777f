/* admin_auth: the admin API's tokens and who a request is (docs/operations.md,
 * "The admin listener and its tokens"). Each configured token becomes a
 * principal (name, role, SHA-256 of the token; the token itself is not
 * kept): admin.token_file / admin.token_env is the operator "admin", each
 * admin.tokens entry its own. A request is authorized by
 * `Authorization: Bearer TOKEN` or by a dashboard session (admin_dash.c),
 * and carries its principal to the handlers. */
#include <assert.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "admin/admin_int.h"
#include "base/log.h"

#define TOKEN_MAX 4096

void admin_set_err(char *err, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, size, fmt, ap);
    va_end(ap);
}

static void sha256(const void *data, size_t len, unsigned char out[ADMIN_DIGEST_LEN])
{
    unsigned int n = 0;
    if (EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) != 1 || n != ADMIN_DIGEST_LEN)
        memset(out, 0, ADMIN_DIGEST_LEN); /* cannot happen; a zero digest matches no token */
}

/* A token is printable ASCII or UTF-8 without spaces or control bytes. */
static bool token_ok(const char *t)
{
    for (const unsigned char *p = (const unsigned char *)t; *p; p++)
        if (*p <= 0x20 || *p == 0x7f)
            return false;
    return *t != '\0';
}

static int read_token_file(const char *src, const char *path, char *out, size_t size, char *err,
                           size_t errsize)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        int e = errno;
        admin_set_err(err, errsize, "%s %s: cannot read: %s", src, path, strerror(e));
        return -e;
    }
    size_t n = fread(out, 1, size - 1, f);
    bool more = fgetc(f) != EOF;
    fclose(f);
    if (more) {
        admin_set_err(err, errsize, "%s %s: longer than %zu bytes", src, path, size - 1);
        return -EINVAL;
    }
    out[n] = '\0';
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
        out[--n] = '\0';
    return 0;
}

static int read_token_env(const char *src, const char *var, char *out, size_t size, char *err,
                          size_t errsize)
{
    const char *v = getenv(var);
    if (!v || !*v) {
        admin_set_err(err, errsize, "%s: the environment variable %s is %s", src, var,
                      v ? "empty" : "not set");
        return -EINVAL;
    }
    if (strlen(v) >= size) {
        admin_set_err(err, errsize, "%s: %s is longer than %zu bytes", src, var, size - 1);
        return -EINVAL;
    }
    snprintf(out, size, "%s", v);
    return 0;
}

/* Reads one token (from `file` or the variable `env`) into a new
 * principal; `src` names its config key in messages. */
static int add_principal(admin *a, const char *src, const char *name, config_role role,
                         const char *file, const char *env, char *err, size_t errsize)
{
    assert(a->nprincipals < ADMIN_MAX_PRINCIPALS);
    for (size_t i = 0; i < a->nprincipals; i++)
        if (strcmp(a->principals[i].name, name) == 0) {
            admin_set_err(err, errsize, "%s: the token name \"%s\" is used twice (%s)", src, name,
                          strcmp(name, "admin") == 0
                              ? "admin.token_file / admin.token_env is the operator \"admin\""
                              : "names must be unique");
            return -EINVAL;
        }
    char *tok = malloc(TOKEN_MAX);
    if (!tok) {
        admin_set_err(err, errsize, "admin: out of memory");
        return -ENOMEM;
    }
    int rc = file ? read_token_file(src, file, tok, TOKEN_MAX, err, errsize)
                  : read_token_env(src, env, tok, TOKEN_MAX, err, errsize);
    if (rc == 0 && !token_ok(tok)) {
        admin_set_err(err, errsize, "%s: the admin token is %s", src,
                      *tok ? "not usable in a header (spaces or control characters)" : "empty");
        rc = -EINVAL;
    }
    admin_principal *p = &a->principals[a->nprincipals];
    if (rc == 0) {
        if (strlen(tok) < 16)
            log_event(LOG_WARN, "admin_token_short", "source", src, "name", name, "hint",
                      "use at least 16 random characters, e.g. openssl rand -hex 32", NULL);
        sha256(tok, strlen(tok), p->digest);
        snprintf(p->name, sizeof p->name, "%s", name);
        p->role = role;
        for (size_t i = 0; i < a->nprincipals && rc == 0; i++)
            if (CRYPTO_memcmp(a->principals[i].digest, p->digest, ADMIN_DIGEST_LEN) == 0) {
                admin_set_err(err, errsize, "%s: the token of \"%s\" is the same as that of \"%s\"",
                              src, name, a->principals[i].name);
                rc = -EINVAL;
            }
    }
    OPENSSL_cleanse(tok, TOKEN_MAX);
    free(tok);
    if (rc == 0)
        a->nprincipals++;
    else
        OPENSSL_cleanse(p, sizeof *p);
    return rc;
}

int admin_auth_init(admin *a, char *err, size_t errsize)
{
    const sp_config *cfg = a->cfg;
    if (cfg->admin_token_file && cfg->admin_token_env) {
        admin_set_err(err, errsize, "admin: set admin.token_file or admin.token_env, not both");
        return -EINVAL;
    }
    int rc = 0;
    if (cfg->admin_token_file || cfg->admin_token_env)
        rc = add_principal(a, cfg->admin_token_file ? "admin.token_file" : "admin.token_env",
                           "admin", ROLE_OPERATOR, cfg->admin_token_file, cfg->admin_token_env,
                           err, errsize);
    for (size_t i = 0; rc == 0 && i < cfg->nadmin_tokens; i++) {
        const config_admin_token *t = &cfg->admin_tokens[i];
        char src[64];
        snprintf(src, sizeof src, "admin.tokens[%zu]", i);
        rc = add_principal(a, src, t->name, t->role, t->token_file, t->token_env, err, errsize);
    }
    a->has_token = a->nprincipals > 0;
    return rc;
}

void admin_auth_free(admin *a)
{
    OPENSSL_cleanse(a->principals, sizeof a->principals);
}

/* Constant time in the token's content and length, and in which principal
 * it is: both sides are hashed, and every digest is compared (no early
 * exit) with CRYPTO_memcmp. */
const admin_principal *admin_token_principal(const admin *a, const char *cand)
{
    unsigned char d[ADMIN_DIGEST_LEN];
    sha256(cand, strlen(cand), d);
    const admin_principal *found = NULL;
    for (size_t i = 0; i < a->nprincipals; i++)
        if (CRYPTO_memcmp(d, a->principals[i].digest, ADMIN_DIGEST_LEN) == 0)
            found = &a->principals[i];
    return *cand ? found : NULL;
}

/* A missing header, another scheme and a wrong token take the same path;
 * then the session cookie. */
admin_auth admin_auth_of(admin *a, struct MHD_Connection *conn, const admin_principal **who)
{
    *who = NULL;
    if (!a->has_token)
        return ADMIN_AUTH_OPEN;
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    const char *cand = "";
    if (h && strncasecmp(h, "Bearer ", 7) == 0) {
        cand = h + 7;
        while (*cand == ' ')
            cand++;
    }
    if ((*who = admin_token_principal(a, cand)))
        return ADMIN_AUTH_BEARER;
    return (*who = admin_session_principal(a, conn)) ? ADMIN_AUTH_COOKIE : ADMIN_AUTH_REFUSED;
}

void admin_set_who(admin_req *rq)
{
    if (rq->principal)
        snprintf(rq->who, sizeof rq->who, "token:%s from %s", rq->principal->name, rq->addr);
    else
        snprintf(rq->who, sizeof rq->who, "%s", rq->addr);
}
