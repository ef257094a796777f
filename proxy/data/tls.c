/* tls: the classification of TLS failures and the reload entry point
 * (tls.h); the config's file checks are conf/tls_check.c. The listener's side is in
 * tls_listen.c. */
#include "data/tls.h"

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

#include "base/log.h"

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
