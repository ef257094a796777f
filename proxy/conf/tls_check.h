/* tls_check: the checks the config loader makes on certificate, key and
 * pin files (OpenSSL; no state, no logging). */
#ifndef SP_TLS_CHECK_H
#define SP_TLS_CHECK_H

#include <stdbool.h>
#include <stddef.h>

typedef enum tls_file_kind {
    TLS_FILE_CERTS, /* PEM, at least one certificate */
    TLS_FILE_KEY,   /* PEM private key, not encrypted */
} tls_file_kind;

/* NULL when `path` is a readable file of that kind, else a short reason
 * ("No such file or directory", "no PEM certificate in it"), which may be
 * written into buf. */
const char *tls_file_problem(tls_file_kind kind, const char *path, char *buf, size_t size);
/* The same for a pin: "sha256//BASE64" entries joined by ';', or a file
 * holding a public key (PEM or DER), as CURLOPT_PINNEDPUBLICKEY takes. */
const char *tls_pin_problem(const char *pin, char *buf, size_t size);
/* Does the key (key_path, or the certificate's file when NULL) belong to
 * the first certificate in cert_path? NULL, or the reason. */
const char *tls_pair_problem(const char *cert_path, const char *key_path, char *buf,
                             size_t size);

/* NULL when this libmicrohttpd can serve HTTPS with a reloadable
 * certificate, else why not. */
const char *tls_check_listen_unsupported(void);

/* The GnuTLS priority string the traffic listener serves with, for
 * listen_tls.ciphers: "modern" (TLS 1.3 as GnuTLS has it; TLS 1.2 only
 * ECDHE key exchange with AEAD ciphers), "legacy" (GnuTLS's NORMAL: CBC
 * suites and static RSA key exchange too, for old clients) or a GnuTLS
 * priority string used as given; then versions older than min_version
 * (tls13_only: TLS 1.2 too) removed. Written to buf; false when it does
 * not fit. */
bool tls_listen_priority(const char *ciphers, bool tls13_only, char *buf, size_t size);
/* NULL when GnuTLS accepts the priority string for `ciphers`; else the
 * reason, naming the part it stopped at (in buf). */
const char *tls_priority_problem(const char *ciphers, char *buf, size_t size);

#endif
