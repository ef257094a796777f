/* tls: the config's certificate checks, the classification of TLS
 * failures, and the reload entry point (tls.h). The listener's side is in
 * tls_listen.c. */
#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

/* ---- files ------------------------------------------------------------------- */

/* A BIO on a readable regular file, or NULL with the reason. */
static BIO *open_file(const char *path, const char **why, char *buf, size_t size)
{
    /* O_NONBLOCK: a FIFO with no writer would block the open for good; it
     * is refused below, like anything but a regular file. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        *why = strerror_r(errno, buf, size);
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        *why = S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file";
        return NULL;
    }
    BIO *b = BIO_new_fd(fd, BIO_CLOSE);
    if (!b) {
        close(fd);
        *why = "out of memory";
    }
    return b;
}

/* Encrypted keys would need a passphrase: never ask for one. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return -1;
}

static bool file_mentions(const char *path, const char *needle)
{
    char text[64 * 1024];
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    return strstr(text, needle) != NULL;
}

static EVP_PKEY *read_key(BIO *b)
{
    return PEM_read_bio_PrivateKey(b, NULL, no_password, NULL);
}

const char *tls_file_problem(tls_file_kind kind, const char *path, char *buf, size_t size)
{
    const char *why = NULL;
    BIO *b = open_file(path, &why, buf, size);
    if (!b)
        return why;
    if (kind == TLS_FILE_CERTS) {
        X509 *x = PEM_read_bio_X509(b, NULL, no_password, NULL);
        if (!x)
            why = "no PEM certificate in it";
        X509_free(x);
    } else {
        EVP_PKEY *k = read_key(b);
        if (!k)
            why = file_mentions(path, "ENCRYPTED") ? "encrypted keys are not supported"
                                                   : "no PEM private key in it";
        EVP_PKEY_free(k);
    }
    BIO_free(b);
    ERR_clear_error();
    return why;
}

static bool sha256_pin_ok(const char *s, size_t n)
{
    unsigned char raw[64];
    if (n != 44 || s[43] != '=') /* base64 of 32 bytes */
        return false;
    for (size_t i = 0; i < 43; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '+' || s[i] == '/'))
            return false;
    return EVP_DecodeBlock(raw, (const unsigned char *)s, 44) == 33; /* 32 + padding */
}

const char *tls_pin_problem(const char *pin, char *buf, size_t size)
{
    if (strncmp(pin, "sha256//", 8) == 0) {
        for (const char *p = pin;; p++) {
            size_t n = strcspn(p, ";");
            if (n < 8 || strncmp(p, "sha256//", 8) != 0 || !sha256_pin_ok(p + 8, n - 8))
                return "each entry must be sha256// and the base64 of 32 bytes";
            p += n;
            if (!*p)
                return NULL;
        }
    }
    const char *why = NULL;
    BIO *b = open_file(pin, &why, buf, size);
    if (!b)
        return why;
    EVP_PKEY *k = PEM_read_bio_PUBKEY(b, NULL, no_password, NULL);
    if (!k) {
        (void)BIO_reset(b);
        k = d2i_PUBKEY_bio(b, NULL);
    }
    if (!k)
        why = "no public key in it (PEM or DER)";
    EVP_PKEY_free(k);
    BIO_free(b);
    ERR_clear_error();
    return why;
}

const char *tls_pair_problem(const char *cert_path, const char *key_path, char *buf,
                             size_t size)
{
    const char *why = NULL;
    X509 *x = NULL;
    EVP_PKEY *k = NULL;
    BIO *b = open_file(cert_path, &why, buf, size);
    if (b) {
        x = PEM_read_bio_X509(b, NULL, no_password, NULL);
        BIO_free(b);
    }
    b = !why ? open_file(key_path ? key_path : cert_path, &why, buf, size) : NULL;
    if (b) {
        k = read_key(b);
        BIO_free(b);
    }
    if (!why && !x)
        why = "no PEM certificate in it";
    else if (!why && !k)
        why = key_path ? "no PEM private key in the key file"
                       : "no private key in the certificate file; set the key file";
    else if (!why && X509_check_private_key(x, k) != 1)
        why = "the key does not belong to the certificate";
    X509_free(x);
    EVP_PKEY_free(k);
    ERR_clear_error();
    return why;
}

/* ---- failures ------------------------------------------------------------------ */

/* The certificate chain or name was refused (CURLE_PEER_FAILED_VERIFICATION). */
static const char *verify_cause(long v, const char *m)
{
    /* curl checks the name itself, after OpenSSL accepted the chain; its
     * message is the only trace ("SSL: no alternative certificate subject
     * name matches target host name '...'", "SSL: certificate subject name
     * '...' does not match target host name '...'", "SSL: unable to obtain
     * common name from peer certificate"). */
    if (!strstr(m, "certificate problem") &&
        (strstr(m, "target host name") || strstr(m, "common name from peer")))
        return "tls: name mismatch";
    switch (v) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
        return "tls: certificate expired";
    case X509_V_ERR_CERT_NOT_YET_VALID:
        return "tls: certificate not yet valid";
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
        return "tls: name mismatch";
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_CERT_UNTRUSTED:
        return "tls: unknown ca";
    case X509_V_ERR_CERT_REVOKED:
        return "tls: certificate revoked";
    default:
        return "tls: certificate invalid";
    }
}

const char *tls_failure_cause(const tls_failure *f)
{
    const char *m = f->message ? f->message : "";
    switch (f->result) {
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        return "tls: pinned key mismatch";
    case CURLE_PEER_FAILED_VERIFICATION:
        return verify_cause(f->verify_result, m);
    case CURLE_SSL_CACERT_BADFILE:
        return "tls: ca file unusable";
    case CURLE_SSL_CERTPROBLEM:
        return "tls: client certificate unusable";
    case CURLE_SSL_CLIENTCERT:
        return "tls: client certificate required";
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
        break;
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_USE_SSL_FAILED:
        return "tls: handshake failed";
    default:
        return NULL;
    }
    /* The server refused us with an alert. In TLS 1.3 it comes after the
     * client's side of the handshake, with the first read; in TLS 1.2 a
     * missing certificate is a plain "handshake failure", which only the
     * server's request for one explains. */
    if (strstr(m, "alert certificate required"))
        return "tls: client certificate required";
    if (f->cert_requested && strstr(m, " alert "))
        return f->have_client_cert ? "tls: client certificate rejected"
                                   : "tls: client certificate required";
    if (f->result != CURLE_SSL_CONNECT_ERROR)
        return NULL; /* an ordinary read or write error */
    if (f->os_errno == ECONNRESET || f->os_errno == EPIPE)
        return NULL; /* "connection reset" says it better */
    if (strstr(m, "alert protocol version") || strstr(m, "unsupported protocol") ||
        strstr(m, "no protocols available"))
        return "tls: version mismatch";
    return "tls: handshake failed";
}

/* ---- the process's TLS state ------------------------------------------------------ */

void tls_warn_insecure(const sp_config *cfg, const char *when)
{
    for (int s = 0; s < 2; s++) {
        const config_upstream *u = &cfg->upstream[s];
        if (!u->tls.insecure_skip_verify)
            continue;
        char key[64];
        snprintf(key, sizeof key, "%s.tls.insecure_skip_verify", config_side_name((sp_side)s));
        log_event(LOG_WARN, "tls_verification_disabled", "upstream",
                  config_side_name((sp_side)s), "url", u->url, "key", key, "when", when,
                  "message",
                  "the upstream's certificate is NOT verified: anyone on the path can "
                  "impersonate it; for tests only",
                  NULL);
    }
}

int tls_reload(const sp_config *cfg, const char *who)
{
    tls_warn_insecure(cfg, "reload");
    int rc = tls_listen_reload(who);
    return rc < 0 ? rc : 0;
}
