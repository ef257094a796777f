/* tls_check: the checks the config loader makes on certificate, key and
 * pin files (OpenSSL; no state, no logging). */
#ifndef SP_TLS_CHECK_H
#define SP_TLS_CHECK_H

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

#endif
