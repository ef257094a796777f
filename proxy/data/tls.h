/* tls: TLS in both directions.
 *
 * Outbound (libcurl with OpenSSL, tls.c): the classification that
 * turns a failed transfer into a precise cause ("tls: unknown ca") for the
 * client's 502 and the diff log. upstream.c applies the settings to each
 * curl handle.
 *
 * Inbound (libmicrohttpd with GnuTLS, tls_listen.c): the traffic
 * listener's certificate and key, handed to MHD through its certificate
 * callback, so that a reload swaps them for new handshakes without
 * touching a connection. */
#ifndef SP_TLS_H
#define SP_TLS_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

#include "conf/config.h"
#include "conf/tls_check.h"

struct MHD_OptionItem;

/* ---- failures (tls.c) ------------------------------------------------------ */

/* A failed transfer as libcurl reported it, plus what the handshake
 * showed that curl does not say. */
typedef struct tls_failure {
    CURLcode result;
    long verify_result;    /* CURLINFO_SSL_VERIFYRESULT: an X509_V_* code */
    long os_errno;         /* CURLINFO_OS_ERRNO */
    const char *message;   /* curl's error buffer; NULL or "" if none */
    bool cert_requested;   /* the server asked for a client certificate */
    bool have_client_cert; /* and we had one to give */
} tls_failure;

/* The cause word of a TLS failure: "tls: unknown ca", "tls: certificate
 * expired", "tls: certificate not yet valid", "tls: certificate revoked",
 * "tls: certificate invalid", "tls: name mismatch", "tls: pinned key
 * mismatch", "tls: client certificate required", "tls: client certificate
 * rejected", "tls: client certificate unusable", "tls: ca file unusable",
 * "tls: version mismatch" or "tls: handshake failed" (docs/diff-log.md).
 * NULL when the failure is not about TLS. Pure. */
const char *tls_failure_cause(const tls_failure *f);

/* ---- the process's TLS state ------------------------------------------------- */

/* One warning per upstream whose certificate is not verified
 * (tls.insecure_skip_verify), `when` being "startup" or "reload". */
void tls_warn_insecure(const sp_config *cfg, const char *when);

/* A reload (SIGHUP, POST /reload): re-reads the listener's certificate and
 * key when it serves HTTPS, and repeats the insecure warnings. 0, or
 * -errno when the new files are unusable: the old certificate stays, and
 * the error is logged. Thread-safe. */
int tls_reload(const sp_config *cfg, const char *who);

/* ---- inbound HTTPS (tls_listen.c) ---------------------------------------------- */

/* Each worker serving HTTPS takes a reference before it starts its daemon;
 * the first loads cfg->listen_tls's files. 0, or -errno with a sentence
 * in err. Thread-safe. */
int tls_listen_acquire(const sp_config *cfg, char *err, size_t size);
/* After the worker's daemon stopped; the last one frees the certificates. */
void tls_listen_release(void);
/* The MHD options of a TLS daemon, for MHD_OPTION_ARRAY (the caller adds
 * MHD_USE_TLS to the flags): the certificate callback and the priority
 * string for cfg->listen_tls.min_version. out needs 3 items. */
void tls_listen_options(const sp_config *cfg, struct MHD_OptionItem *out);
/* Re-reads the files; swaps only if they changed. 0, 1 when unchanged or
 * not serving HTTPS, -errno on failure (logged; the old pair stays). */
int tls_listen_reload(const char *who);

#endif
