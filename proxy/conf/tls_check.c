/* tls_check: the config loader's checks on certificate, key and pin files
 * (conf/tls_check.h), with OpenSSL; no state. */
#include "conf/tls_check.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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


/* ---- the listener ------------------------------------------------------------ */

const char *tls_check_listen_unsupported(void)
{
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
        return "this libmicrohttpd was built without TLS support";
    if (MHD_is_feature_supported(MHD_FEATURE_HTTPS_CERT_CALLBACK) != MHD_YES)
        return "this libmicrohttpd cannot take certificates from a callback (GnuTLS 3 needed)";
    return NULL;
}

/* TLS 1.2: ECDHE only (forward secrecy; no static RSA key exchange) and
 * AEAD only (no CBC, no SHA-1 MAC). TLS 1.3 suites are all AEAD with
 * (EC)DHE already, and GnuTLS ignores the KX list there. */
#define PRIORITY_MODERN                                                              \
    "NORMAL:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:"  \
    "+CHACHA20-POLY1305:+AES-256-CCM:+AES-128-CCM:-MAC-ALL:+AEAD"

bool tls_listen_priority(const char *ciphers, bool tls13_only, char *buf, size_t size)
{
    const char *base = strcmp(ciphers, "modern") == 0   ? PRIORITY_MODERN
                       : strcmp(ciphers, "legacy") == 0 ? "NORMAL"
                                                        : ciphers;
    int n = snprintf(buf, size, "%s:-VERS-SSL3.0:-VERS-TLS1.0:-VERS-TLS1.1%s", base,
                     tls13_only ? ":-VERS-TLS1.2" : "");
    return n >= 0 && (size_t)n < size;
}

const char *tls_priority_problem(const char *ciphers, char *buf, size_t size)
{
    char prio[1024];
    if (!tls_listen_priority(ciphers, false, prio, sizeof prio))
        return "too long";
    gnutls_priority_t p;
    const char *at = NULL;
    int rc = gnutls_priority_init(&p, prio, &at);
    if (rc < 0) {
        /* `at` points into prio; show it only within the operator's part */
        size_t off = at ? (size_t)(at - prio) : 0, mine = strlen(ciphers);
        if (at && rc == GNUTLS_E_INVALID_REQUEST && off < mine)
            snprintf(buf, size, "GnuTLS does not accept it at \"%.*s\"",
                     (int)(mine - off < 40 ? mine - off : 40), at);
        else
            snprintf(buf, size, "GnuTLS does not accept it: %s", gnutls_strerror(rc));
        return buf;
    }
    gnutls_priority_deinit(p);
    return NULL;
}
