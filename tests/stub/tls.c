/* tls: the stub's optional HTTPS (OpenSSL). --tls-cert/--tls-key serve
 * TLS on the listening port; --tls-client-ca also requires a client
 * certificate issued by that CA (mTLS); --tls-max-version caps the
 * protocol (1.2 tests the TLS 1.2 paths of a client). One SSL object per
 * connection, made and used by the connection's thread only. The rest of
 * the stub reads and writes through io_recv/io_send/io_sendv, which use
 * the plain socket when there is no TLS. */
#include "stub.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

static void ssl_error(char *buf, size_t size)
{
    unsigned long e = ERR_peek_last_error();
    if (e)
        ERR_error_string_n(e, buf, size);
    else
        snprintf(buf, size, "%s", errno ? strerror(errno) : "connection closed");
    ERR_clear_error();
}

int tls_setup(struct stub_cfg *cfg, const char *cert, const char *key,
              const char *client_ca, const char *max_version)
{
    char err[256];
    OPENSSL_init_ssl(0, NULL);
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx)
        goto fail;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (max_version)
        SSL_CTX_set_max_proto_version(ctx, strcmp(max_version, "1.2") == 0
                                               ? TLS1_2_VERSION
                                               : TLS1_3_VERSION);
    /* A client that closes without close_notify is an ordinary EOF. */
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        fprintf(stderr, "sp-stub: --tls-cert %s: ", cert);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        fprintf(stderr, "sp-stub: --tls-key %s: ", key);
        goto fail;
    }
    if (client_ca) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(client_ca);
        if (!names || SSL_CTX_load_verify_locations(ctx, client_ca, NULL) != 1) {
            fprintf(stderr, "sp-stub: --tls-client-ca %s: ", client_ca);
            goto fail;
        }
        SSL_CTX_set_client_CA_list(ctx, names);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                           NULL);
        /* With client verification OpenSSL refuses to resume a session
         * unless the context has an id ("session id context uninitialized"):
         * curl resumes sessions, so every resumption would fail. */
        static const unsigned char sid_ctx[] = "sp-stub";
        SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof sid_ctx - 1);
    }
    cfg->tls_ctx = ctx;
    return 0;
fail:
    ssl_error(err, sizeof err);
    fprintf(stderr, "%s\n", err);
    if (ctx)
        SSL_CTX_free(ctx);
    return -1;
}

int io_handshake(struct stub_io *io, void *tls_ctx)
{
    if (!tls_ctx)
        return 0;
    SSL *ssl = SSL_new(tls_ctx);
    if (!ssl)
        return -1;
    io->ssl = ssl;
    SSL_set_fd(ssl, io->fd);
    errno = 0;
    int rc = SSL_accept(ssl);
    if (rc == 1)
        return 0;
    /* One line per refused client, for whoever reads the stub's stderr. */
    char err[256];
    long v = SSL_get_verify_result(ssl);
    ssl_error(err, sizeof err);
    if (v != X509_V_OK)
        fprintf(stderr, "sp-stub: TLS handshake failed: %s (client certificate: %s)\n",
                err, X509_verify_cert_error_string(v));
    else
        fprintf(stderr, "sp-stub: TLS handshake failed: %s\n", err);
    return -1;
}

void io_free(struct stub_io *io)
{
    if (io->ssl)
        SSL_free(io->ssl);
    io->ssl = NULL;
}

/* Bytes read (> 0), 0 at the end of the stream, -1 with errno set. */
ssize_t io_recv(struct stub_io *io, void *buf, size_t n)
{
    if (!io->ssl)
        return recv(io->fd, buf, n, 0);
    for (;;) {
        errno = 0;
        int r = SSL_read(io->ssl, buf, n > INT32_MAX ? INT32_MAX : (int)n);
        if (r > 0)
            return r;
        int e = SSL_get_error(io->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            continue;
        ERR_clear_error();
        if (e == SSL_ERROR_ZERO_RETURN)
            return 0;
        if (!errno)
            errno = EPROTO;
        return -1;
    }
}

/* Writes all of it: 0, or -1. */
int io_send(struct stub_io *io, const void *p, size_t n)
{
    while (n) {
        ssize_t w;
        if (io->ssl) {
            int k = n > INT32_MAX ? INT32_MAX : (int)n;
            int r = SSL_write(io->ssl, p, k);
            if (r <= 0) {
                int e = SSL_get_error(io->ssl, r);
                if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                    continue;
                ERR_clear_error();
                return -1;
            }
            w = r;
        } else {
            w = send(io->fd, p, n, MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                return -1;
        }
        p = (const char *)p + w;
        n -= (size_t)w;
    }
    return 0;
}

/* Gathered write. Over TLS, small pieces are joined so an answer's head,
 * chunk lines and body share records instead of one record each. */
int io_sendv(struct stub_io *io, const struct iovec *iov, int n)
{
    if (!io->ssl) {
        while (n > 0) {
            struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n};
            ssize_t w = sendmsg(io->fd, &m, MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                return -1;
            size_t done = (size_t)w;
            while (n > 0 && done >= iov->iov_len) {
                done -= iov->iov_len;
                iov++, n--;
            }
            if (n > 0 && done) {
                /* a partial piece: send its rest on its own, then go on */
                if (io_send(io, (char *)iov->iov_base + done, iov->iov_len - done) < 0)
                    return -1;
                iov++, n--;
            }
        }
        return 0;
    }
    char stage[16 * 1024];
    size_t used = 0;
    for (int i = 0; i < n; i++) {
        size_t len = iov[i].iov_len;
        if (used + len > sizeof stage && used) {
            if (io_send(io, stage, used) < 0)
                return -1;
            used = 0;
        }
        if (len > sizeof stage) {
            if (io_send(io, iov[i].iov_base, len) < 0)
                return -1;
        } else {
            memcpy(stage + used, iov[i].iov_base, len);
            used += len;
        }
    }
    return used ? io_send(io, stage, used) : 0;
}

/* The end of our side: close_notify over TLS, then FIN. */
void io_shutdown(struct stub_io *io)
{
    if (io->ssl) {
        SSL_shutdown(io->ssl);
        ERR_clear_error();
    }
    shutdown(io->fd, SHUT_WR);
}
