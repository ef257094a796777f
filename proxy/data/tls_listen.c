/* tls_listen: the traffic listener's certificate (tls.h).
 *
 * libmicrohttpd serves TLS with GnuTLS. Instead of giving each daemon the
 * PEM text (fixed for the daemon's life), every worker's daemon asks
 * cert_cb for the certificate at each handshake, and cert_cb hands out the
 * current pair: one atomic pointer, swapped by a reload. Connections keep
 * whatever they were given; a pair that was replaced stays allocated until
 * the last worker is gone (a few KiB per change of the files; unchanged
 * files are not loaded twice), because GnuTLS keeps pointing at it.
 *
 * GnuTLS is libmicrohttpd's TLS library; the certificates are parsed
 * with it so that MHD gets them in its own form. A libmicrohttpd built
 * without TLS still runs plain HTTP (tls_check_listen_unsupported says why HTTPS
 * cannot be served). */
#include "data/tls.h"

#include <assert.h>
#include <errno.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"


#define MAX_CHAIN 16
#define MAX_PEM_BYTES ((size_t)1 << 20)

typedef struct cred {
    struct cred *older; /* the pairs this one replaced */
    gnutls_pcert_st pcert[MAX_CHAIN];
    unsigned int npcert;
    gnutls_privkey_t key;
    unsigned char digest[32]; /* of both files' bytes: spots unchanged files */
} cred;

static struct {
    pthread_mutex_t mu;
    int users;              /* workers whose daemon may call cert_cb */
    const sp_config *cfg;   /* outlives the workers */
    _Atomic(cred *) current;
    char priority[1024];    /* GnuTLS priority string, set by the first acquire */
} L = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int cert_cb(gnutls_session_t session, const gnutls_datum_t *req_ca_dn, int nreqs,
                   const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                   gnutls_pcert_st **pcert, unsigned int *pcert_length,
                   gnutls_privkey_t *key)
{
    (void)session, (void)req_ca_dn, (void)nreqs, (void)pk_algos, (void)pk_algos_length;
    cred *c = atomic_load_explicit(&L.current, memory_order_acquire);
    if (!c)
        return -1;
    *pcert = c->pcert;
    *pcert_length = c->npcert;
    *key = c->key;
    return 0;
}

void tls_listen_options(const sp_config *cfg, struct MHD_OptionItem *out)
{
    (void)cfg; /* the priority string was made from it by the first acquire */
    assert(L.users > 0 && L.priority[0]);
    gnutls_certificate_retrieve_function2 *fn = cert_cb;
    void *p;
    memcpy(&p, &fn, sizeof p); /* MHD passes it on as a pointer argument */
    out[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_CERT_CALLBACK, 0, p};
    out[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0, L.priority};
    out[2] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
}

static void cred_free(cred *c)
{
    while (c) {
        cred *older = c->older;
        for (unsigned int i = 0; i < c->npcert; i++)
            gnutls_pcert_deinit(&c->pcert[i]);
        if (c->key)
            gnutls_privkey_deinit(c->key);
        free(c);
        c = older;
    }
}

/* The first certificate's subject and end date, for the log. */
static void describe(const char *pem, size_t len, char *subject, size_t ssize, char *until,
                     size_t usize, long *days_left)
{
    snprintf(subject, ssize, "?");
    snprintf(until, usize, "?");
    *days_left = 0;
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    if (x) {
        X509_NAME_oneline(X509_get_subject_name(x), subject, (int)ssize);
        const ASN1_TIME *na = X509_get0_notAfter(x);
        struct tm tm;
        int days = 0, secs = 0;
        if (ASN1_TIME_to_tm(na, &tm) == 1) {
            strftime(until, usize, "%Y-%m-%dT%H:%M:%SZ", &tm);
            if (ASN1_TIME_diff(&days, &secs, NULL, na) == 1)
                *days_left = days;
        }
    }
    X509_free(x);
    BIO_free(b);
}

/* Reads both files and makes a pair. 0 with *out; -errno with a reason. */
static int load(const sp_config *cfg, cred **out, char *err, size_t size)
{
    const char *cpath = cfg->listen_tls.cert_file;
    const char *kpath = cfg->listen_tls.key_file ? cfg->listen_tls.key_file : cpath;
    char *ctext = NULL, *ktext = NULL, eb[128];
    size_t clen = 0, klen = 0;
    int e = config_read_file(cpath, MAX_PEM_BYTES, &ctext, &clen);
    const char *which = cpath;
    if (!e) {
        which = kpath;
        e = config_read_file(kpath, MAX_PEM_BYTES, &ktext, &klen);
    }
    if (e) {
        snprintf(err, size, "%s: %s", which, strerror_r(e, eb, sizeof eb));
        free(ctext);
        free(ktext);
        return -e;
    }
    cred *c = calloc(1, sizeof *c);
    int rc = c ? 0 : -ENOMEM;
    if (c) {
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        unsigned int dl = 0;
        if (md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
            EVP_DigestUpdate(md, ctext, clen) == 1 && EVP_DigestUpdate(md, ktext, klen) == 1)
            EVP_DigestFinal_ex(md, c->digest, &dl);
        EVP_MD_CTX_free(md);
        gnutls_datum_t cd = {(unsigned char *)ctext, (unsigned int)clen};
        gnutls_datum_t kd = {(unsigned char *)ktext, (unsigned int)klen};
        c->npcert = MAX_CHAIN;
        int g = gnutls_pcert_list_import_x509_raw(c->pcert, &c->npcert, &cd,
                                                  GNUTLS_X509_FMT_PEM, 0);
        if (g < 0) {
            c->npcert = 0;
            snprintf(err, size, "%s: %s", cpath, gnutls_strerror(g));
            rc = -EINVAL;
        } else if ((g = gnutls_privkey_init(&c->key)) < 0 ||
                   (g = gnutls_privkey_import_x509_raw(c->key, &kd, GNUTLS_X509_FMT_PEM, NULL,
                                                       0)) < 0) {
            snprintf(err, size, "%s: %s", kpath, gnutls_strerror(g));
            rc = -EINVAL;
        }
    }
    if (rc == 0) {
        char subject[256], until[32], days[24];
        long left;
        describe(ctext, clen, subject, sizeof subject, until, sizeof until, &left);
        snprintf(days, sizeof days, "%ld", left);
        log_event(left < 14 ? LOG_WARN : LOG_INFO, "tls_listen_certificate", "file", cpath,
                  "subject", subject, "not_after", until, "days_left", days,
                  "min_version", config_tls_version_name(cfg->listen_tls.min_version),
                  "ciphers", cfg->listen_tls.ciphers,
                  "warning",
                  left < 0    ? "the certificate has expired"
                  : left < 14 ? "the certificate expires in less than 14 days"
                              : NULL,
                  NULL);
        *out = c;
    } else {
        cred_free(c);
    }
    free(ctext);
    free(ktext);
    return rc;
}

int tls_listen_acquire(const sp_config *cfg, char *err, size_t size)
{
    const char *why = tls_check_listen_unsupported();
    if (why) {
        snprintf(err, size, "cannot serve HTTPS: %s", why);
        return -ENOTSUP;
    }
    int rc = 0;
    pthread_mutex_lock(&L.mu);
    if (L.users == 0) {
        cred *c = NULL;
        const char *ciphers = cfg->listen_tls.ciphers ? cfg->listen_tls.ciphers : "modern";
        if (!tls_listen_priority(ciphers, cfg->listen_tls.min_version == TLS_V1_3, L.priority,
                                 sizeof L.priority)) {
            snprintf(err, size, "listen_tls.ciphers is too long");
            rc = -EINVAL;
        } else {
            rc = load(cfg, &c, err, size);
        }
        if (rc == 0) {
            L.cfg = cfg;
            atomic_store_explicit(&L.current, c, memory_order_release);
        }
    }
    if (rc == 0)
        L.users++;
    pthread_mutex_unlock(&L.mu);
    return rc;
}

void tls_listen_release(void)
{
    pthread_mutex_lock(&L.mu);
    if (L.users > 0 && --L.users == 0) {
        cred_free(atomic_exchange(&L.current, NULL));
        L.cfg = NULL;
    }
    pthread_mutex_unlock(&L.mu);
}

int tls_listen_reload(const char *who)
{
    int rc = 1;
    pthread_mutex_lock(&L.mu);
    if (L.users > 0) {
        char err[512];
        cred *c = NULL, *cur = atomic_load(&L.current);
        rc = load(L.cfg, &c, err, sizeof err);
        if (rc < 0) {
            log_event(LOG_ERROR, "tls_reload_failed", "who", who, "error", err, "kept",
                      "the certificate in use", NULL);
        } else if (cur && memcmp(c->digest, cur->digest, sizeof c->digest) == 0) {
            cred_free(c);
            log_event(LOG_INFO, "tls_certificate_unchanged", "who", who, NULL);
            rc = 1;
        } else {
            c->older = cur;
            atomic_store_explicit(&L.current, c, memory_order_release);
            log_event(LOG_INFO, "tls_certificate_reloaded", "who", who, "file",
                      L.cfg->listen_tls.cert_file, NULL);
            rc = 0;
        }
    }
    pthread_mutex_unlock(&L.mu);
    return rc;
}
