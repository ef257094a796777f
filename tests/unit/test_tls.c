/* Unit tests for tls: the classification of TLS failures into causes, the
 * certificate/key/pin checks, and the TLS config keys (positions of file
 * errors, the checks that need two keys). Certificates are made here with
 * OpenSSL, in a temporary directory. */
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/config.h"
#include "data/tls.h"
#include "unit.h"

static char dir[] = "/tmp/sp-test-tls-XXXXXX";

static const char *path(const char *name)
{
    static char buf[8][300];
    static int next;
    char *b = buf[next++ % 8];
    snprintf(b, sizeof buf[0], "%s/%s", dir, name);
    return b;
}

static void write_text(const char *name, const char *text)
{
    FILE *f = fopen(path(name), "w");
    fputs(text, f);
    fclose(f);
}

/* A self-signed P-256 certificate NAME.pem and its key NAME.key; the
 * public key alone in NAME.pub.pem and NAME.pub.der. */
static void make_cert(const char *name)
{
    char file[64];
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)name, -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509_set_pubkey(x, k);
    X509_sign(x, k, EVP_sha256());
    snprintf(file, sizeof file, "%s.pem", name);
    FILE *f = fopen(path(file), "w");
    PEM_write_X509(f, x);
    fclose(f);
    snprintf(file, sizeof file, "%s.key", name);
    f = fopen(path(file), "w");
    PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    snprintf(file, sizeof file, "%s.pub.pem", name);
    f = fopen(path(file), "w");
    PEM_write_PUBKEY(f, k);
    fclose(f);
    snprintf(file, sizeof file, "%s.pub.der", name);
    f = fopen(path(file), "w");
    i2d_PUBKEY_fp(f, k);
    fclose(f);
    snprintf(file, sizeof file, "%s.enc.key", name);
    f = fopen(path(file), "w");
    PEM_write_PrivateKey(f, k, EVP_aes_128_cbc(), (unsigned char *)"pw", 2, NULL, NULL);
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(k);
}

/* --- classification ----------------------------------------------------------- */

static const char *cause(CURLcode rc, long verify, const char *msg)
{
    tls_failure f = {.result = rc, .verify_result = verify, .message = msg};
    return tls_failure_cause(&f);
}

TEST(verification_failures)
{
    const CURLcode v = CURLE_PEER_FAILED_VERIFICATION;
    CHECK_STR(cause(v, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
                    "SSL certificate problem: unable to get local issuer certificate"),
              "tls: unknown ca");
    CHECK_STR(cause(v, X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, ""), "tls: unknown ca");
    CHECK_STR(cause(v, X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN, ""), "tls: unknown ca");
    CHECK_STR(cause(v, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT, ""), "tls: unknown ca");
    CHECK_STR(cause(v, X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE, ""), "tls: unknown ca");
    CHECK_STR(cause(v, X509_V_ERR_CERT_HAS_EXPIRED,
                    "SSL certificate problem: certificate has expired"),
              "tls: certificate expired");
    CHECK_STR(cause(v, X509_V_ERR_CERT_NOT_YET_VALID, ""), "tls: certificate not yet valid");
    CHECK_STR(cause(v, X509_V_ERR_CERT_REVOKED, ""), "tls: certificate revoked");
    CHECK_STR(cause(v, X509_V_ERR_HOSTNAME_MISMATCH, ""), "tls: name mismatch");
    CHECK_STR(cause(v, X509_V_ERR_IP_ADDRESS_MISMATCH, ""), "tls: name mismatch");
    CHECK_STR(cause(v, X509_V_ERR_INVALID_PURPOSE, ""), "tls: certificate invalid");
    /* curl's own name check: the chain was fine, the result not updated */
    CHECK_STR(cause(v, 1,
                    "SSL: no alternative certificate subject name matches target "
                    "host name '127.0.0.1'"),
              "tls: name mismatch");
    CHECK_STR(cause(v, 0,
                    "SSL: certificate subject name 'a' does not match target host name 'b'"),
              "tls: name mismatch");
    CHECK_STR(cause(v, 0, "SSL: unable to obtain common name from peer certificate"),
              "tls: name mismatch");
    /* an OpenSSL verification message wins over words in it */
    CHECK_STR(cause(v, X509_V_ERR_CERT_HAS_EXPIRED,
                    "SSL certificate problem: certificate has expired (target host name)"),
              "tls: certificate expired");
    CHECK_STR(cause(v, 0, NULL), "tls: certificate invalid");
}

TEST(other_tls_failures)
{
    CHECK_STR(cause(CURLE_SSL_PINNEDPUBKEYNOTMATCH, 0,
                    "SSL: public key does not match pinned public key"),
              "tls: pinned key mismatch");
    CHECK_STR(cause(CURLE_SSL_CACERT_BADFILE, 0, ""), "tls: ca file unusable");
    CHECK_STR(cause(CURLE_SSL_CERTPROBLEM, 0, ""), "tls: client certificate unusable");
    CHECK_STR(cause(CURLE_SSL_CLIENTCERT, 0, ""), "tls: client certificate required");
    CHECK_STR(cause(CURLE_SSL_CONNECT_ERROR, 1,
                    "OpenSSL/3.0.19: error:0A00042E:SSL routines::tlsv1 alert protocol version"),
              "tls: version mismatch");
    CHECK_STR(cause(CURLE_SSL_CONNECT_ERROR, 1,
                    "error:0A000102:SSL routines::unsupported protocol"),
              "tls: version mismatch");
    CHECK_STR(cause(CURLE_SSL_CONNECT_ERROR, 1,
                    "OpenSSL SSL_connect: SSL_ERROR_SYSCALL in connection to 127.0.0.1:1"),
              "tls: handshake failed");
    CHECK_STR(cause(CURLE_SSL_CONNECT_ERROR, 1,
                    "error:0A00010B:SSL routines::wrong version number"),
              "tls: handshake failed");
    CHECK_STR(cause(CURLE_SSL_CIPHER, 0, ""), "tls: handshake failed");
    CHECK_STR(cause(CURLE_SSL_ENGINE_NOTFOUND, 0, ""), "tls: handshake failed");
    CHECK_STR(cause(CURLE_USE_SSL_FAILED, 0, ""), "tls: handshake failed");
    /* a reset during the handshake is said better by "connection reset" */
    tls_failure reset = {.result = CURLE_SSL_CONNECT_ERROR, .os_errno = ECONNRESET,
                         .message = "Connection reset by peer"};
    CHECK(tls_failure_cause(&reset) == NULL);
    /* not about TLS at all */
    CHECK(cause(CURLE_OK, 0, "") == NULL);
    CHECK(cause(CURLE_COULDNT_CONNECT, 0, "Failed to connect") == NULL);
    CHECK(cause(CURLE_OPERATION_TIMEDOUT, 0, "") == NULL);
    CHECK(cause(CURLE_RECV_ERROR, 0, "Recv failure: Connection reset by peer") == NULL);
    CHECK(cause(CURLE_SEND_ERROR, 0, "Send failure: Broken pipe") == NULL);
    CHECK(cause(CURLE_GOT_NOTHING, 0, "") == NULL);
}

TEST(client_certificate_failures)
{
    /* TLS 1.3: the alert names it, on the first read or in the handshake */
    CHECK_STR(cause(CURLE_RECV_ERROR, 0,
                    "OpenSSL SSL_read: OpenSSL/3.0.19: error:0A00045C:SSL "
                    "routines::tlsv13 alert certificate required, errno 0"),
              "tls: client certificate required");
    CHECK_STR(cause(CURLE_SSL_CONNECT_ERROR, 0, "tlsv13 alert certificate required"),
              "tls: client certificate required");
    /* TLS 1.2: a plain handshake failure, explained by the server's request */
    const char *hf = "OpenSSL/3.0.19: error:0A000410:SSL routines::sslv3 alert handshake failure";
    tls_failure f = {.result = CURLE_SSL_CONNECT_ERROR, .message = hf, .cert_requested = true};
    CHECK_STR(tls_failure_cause(&f), "tls: client certificate required");
    f.cert_requested = false;
    CHECK_STR(tls_failure_cause(&f), "tls: handshake failed");
    /* we sent one and the server refused it */
    const char *uca = "error:0A000418:SSL routines::tlsv1 alert unknown ca, errno 0";
    tls_failure g = {.result = CURLE_RECV_ERROR, .message = uca, .cert_requested = true,
                     .have_client_cert = true};
    CHECK_STR(tls_failure_cause(&g), "tls: client certificate rejected");
    g.result = CURLE_SSL_CONNECT_ERROR;
    CHECK_STR(tls_failure_cause(&g), "tls: client certificate rejected");
    /* no request for a certificate: the alert is about something else */
    g.cert_requested = false;
    CHECK_STR(tls_failure_cause(&g), "tls: handshake failed");
    g.result = CURLE_RECV_ERROR;
    CHECK(tls_failure_cause(&g) == NULL);
}

/* --- files ---------------------------------------------------------------------------- */

TEST(file_checks)
{
    char buf[256];
    CHECK(tls_file_problem(TLS_FILE_CERTS, path("a.pem"), buf, sizeof buf) == NULL);
    CHECK(tls_file_problem(TLS_FILE_KEY, path("a.key"), buf, sizeof buf) == NULL);
    CHECK_STR(tls_file_problem(TLS_FILE_CERTS, path("nope.pem"), buf, sizeof buf),
              "No such file or directory");
    CHECK_STR(tls_file_problem(TLS_FILE_CERTS, dir, buf, sizeof buf), "is a directory");
    CHECK_STR(tls_file_problem(TLS_FILE_CERTS, path("a.key"), buf, sizeof buf),
              "no PEM certificate in it");
    CHECK_STR(tls_file_problem(TLS_FILE_KEY, path("a.pem"), buf, sizeof buf),
              "no PEM private key in it");
    CHECK_STR(tls_file_problem(TLS_FILE_KEY, path("a.enc.key"), buf, sizeof buf),
              "encrypted keys are not supported");
    CHECK_STR(tls_file_problem(TLS_FILE_CERTS, path("junk.txt"), buf, sizeof buf),
              "no PEM certificate in it");
    CHECK(tls_file_problem(TLS_FILE_CERTS, path("both.pem"), buf, sizeof buf) == NULL);
    CHECK(tls_file_problem(TLS_FILE_KEY, path("both.pem"), buf, sizeof buf) == NULL);
}

TEST(pins)
{
    char buf[256];
    const char *ok = "sha256//nMsFEyHdxfmQKkWc9ne0vIvxZVuwyndqej8NsvkAMEE=";
    CHECK(tls_pin_problem(ok, buf, sizeof buf) == NULL);
    char two[200];
    snprintf(two, sizeof two, "%s;%s", ok, ok);
    CHECK(tls_pin_problem(two, buf, sizeof buf) == NULL);
    const char *bad[] = {
        "sha256//",
        "sha256//nMsFEyHdxfmQKkWc9ne0vIvxZVuwyndqej8NsvkAMEE",   /* no padding */
        "sha256//nMsFEyHdxfmQKkWc9ne0vIvxZVuwyndqej8NsvkAMEE=x", /* too long */
        "sha256//nMsFEyHdxfmQKkWc9ne0vIvxZVuwyndqej8Nsvk!MEE=",  /* not base64 */
        "sha256//nMsFEyHdxfmQKkWc9ne0vIvxZVuwyndqej8NsvkAMEE=;",
        "sha256//nMsFEyHdxfmQKkWc9ne0vIvxZVuwyndqej8NsvkAMEE=;md5//abc",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_STR(tls_pin_problem(bad[i], buf, sizeof buf),
                  "each entry must be sha256// and the base64 of 32 bytes");
    CHECK(tls_pin_problem(path("a.pub.pem"), buf, sizeof buf) == NULL);
    CHECK(tls_pin_problem(path("a.pub.der"), buf, sizeof buf) == NULL);
    CHECK_STR(tls_pin_problem(path("a.key"), buf, sizeof buf),
              "no public key in it (PEM or DER)");
    CHECK_STR(tls_pin_problem(path("nope.pub"), buf, sizeof buf), "No such file or directory");
}

TEST(pairs)
{
    char buf[256];
    CHECK(tls_pair_problem(path("a.pem"), path("a.key"), buf, sizeof buf) == NULL);
    CHECK(tls_pair_problem(path("both.pem"), NULL, buf, sizeof buf) == NULL);
    CHECK_STR(tls_pair_problem(path("a.pem"), path("b.key"), buf, sizeof buf),
              "the key does not belong to the certificate");
    CHECK_STR(tls_pair_problem(path("a.pem"), NULL, buf, sizeof buf),
              "no private key in the certificate file; set the key file");
    CHECK_STR(tls_pair_problem(path("a.pem"), path("a.pem"), buf, sizeof buf),
              "no PEM private key in the key file");
    CHECK_STR(tls_pair_problem(path("nope.pem"), path("a.key"), buf, sizeof buf),
              "No such file or directory");
}

/* --- config keys -------------------------------------------------------------------------- */

/* Loads json (with @ replaced by the test directory) over the defaults,
 * then validates if the load was clean. Errors as "line:col: msg|...". */
static const char *load(const char *json, sp_config *out)
{
    static char result[4096];
    char text[4096];
    size_t o = 0;
    for (const char *p = json; *p && o < sizeof text - 100; p++) {
        if (*p == '@')
            o += (size_t)snprintf(text + o, sizeof text - o, "%s", dir);
        else
            text[o++] = *p;
    }
    text[o] = '\0';
    sp_config c;
    config_errors e = {0};
    CHECK(config_defaults(&c) == 0);
    if (config_load_buffer(&c, text, o, &e) == 0)
        config_validate(&c, &e);
    result[0] = '\0';
    size_t r = 0;
    for (size_t i = 0; i < e.n; i++) {
        const char *m = e.v[i].message;
        char rel[700];
        /* the directory's name differs per run: show it as @ */
        const char *at = strstr(m, dir);
        if (at)
            snprintf(rel, sizeof rel, "%.*s@%s", (int)(at - m), m, at + strlen(dir));
        else
            snprintf(rel, sizeof rel, "%s", m);
        r += (size_t)snprintf(result + r, sizeof result - r, "%s%d:%d: %s", i ? "|" : "",
                              e.v[i].line, e.v[i].column, rel);
    }
    config_errors_free(&e);
    if (out)
        *out = c;
    else
        config_free(&c);
    return result;
}

TEST(config_defaults_and_values)
{
    sp_config c;
    CHECK(config_defaults(&c) == 0);
    CHECK(!c.listen_tls.cert_file && !c.listen_tls.key_file);
    CHECK(c.listen_tls.min_version == TLS_V1_2);
    for (int s = 0; s < 2; s++) {
        const config_tls *t = &c.upstream[s].tls;
        CHECK(!t->ca_file && !t->client_cert && !t->client_key && !t->pinned_public_key);
        CHECK(!t->server_name && t->min_version == TLS_V1_2 && !t->insecure_skip_verify);
    }
    config_free(&c);
    CHECK_STR(config_tls_version_name(TLS_V1_3), "1.3");

    CHECK_STR(load("{\"legacy\": {\"url\": \"https://erp:8443\", \"tls\": {\n"
                   "  \"ca_file\": \"@/a.pem\", \"client_cert\": \"@/b.pem\",\n"
                   "  \"client_key\": \"@/b.key\", \"pinned_public_key\": \"@/a.pub.der\",\n"
                   "  \"server_name\": \"erp.internal\", \"min_version\": \"1.3\",\n"
                   "  \"insecure_skip_verify\": true}},\n"
                   " \"new\": \"https://10.0.0.1\",\n"
                   " \"listen_tls\": {\"cert_file\": \"@/both.pem\", \"min_version\": \"1.3\"}}",
                   &c),
              "");
    const config_tls *t = &c.upstream[SIDE_LEGACY].tls;
    CHECK(t->ca_file && strstr(t->ca_file, "/a.pem"));
    CHECK(t->client_key && strstr(t->client_key, "/b.key"));
    CHECK_STR(t->server_name, "erp.internal");
    CHECK(t->min_version == TLS_V1_3 && t->insecure_skip_verify);
    CHECK(c.listen_tls.cert_file && !c.listen_tls.key_file);
    CHECK(c.listen_tls.min_version == TLS_V1_3);
    config_free(&c);
    /* null unsets an optional file */
    CHECK_STR(load("{\"legacy\": {\"url\": \"https://erp\", \"tls\": {\"ca_file\": null}},"
                   " \"new\": \"https://x\"}",
                   NULL),
              "");
}

TEST(config_file_errors_have_positions)
{
    CHECK_STR(load("{\"legacy\": {\"url\": \"https://erp\",\n"
                   "  \"tls\": {\"ca_file\": \"@/nope.pem\",\n"
                   "           \"client_key\": \"@/a.pem\"}},\n"
                   " \"new\": {\"url\": \"https://x\", \"tls\": {\"pinned_public_key\": "
                   "\"sha256//abc\",\n"
                   "   \"server_name\": \"a b\", \"min_version\": \"1.1\"}},\n"
                   " \"listen_tls\": {\"cert_file\": \"@/a.key\", \"key_file\": \"@\"}}",
                   NULL),
              "2:22: legacy.tls.ca_file must be a readable PEM certificate file, got "
              "\"@/nope.pem\" (No such file or directory)|"
              "3:26: legacy.tls.client_key must be a readable PEM private key file, got "
              "\"@/a.pem\" (no PEM private key in it)|"
              "4:59: new.tls.pinned_public_key must be sha256//BASE64 pins or a public key "
              "file, got \"sha256//abc\" (each entry must be sha256// and the base64 of 32 "
              "bytes)|"
              "5:19: new.tls.server_name must be a host name (letters, digits, '-' and '.'), "
              "got \"a b\"|"
              "5:41: new.tls.min_version must be \"1.2\" or \"1.3\", got \"1.1\"|"
              "6:30: listen_tls.cert_file must be a readable PEM certificate file, got "
              "\"@/a.key\" (no PEM certificate in it)|"
              "6:75: listen_tls.key_file must be a readable PEM private key file, got \"@\" "
              "(is a directory)");
    CHECK_STR(load("{\"legacy\": {\"url\": \"https://erp\", \"tls\": {\"ca_file\": 5, "
                   "\"insecure_skip_verify\": \"yes\", \"bogus\": 1}}, \"new\": \"https://x\"}",
                   NULL),
              "1:54: legacy.tls.ca_file must be a string, got integer|"
              "1:81: legacy.tls.insecure_skip_verify must be true or false, got string|"
              "1:88: unknown key \"legacy.tls.bogus\"");
    CHECK_STR(load("{\"legacy\": {\"url\": \"https://erp\", \"tls\": \"strict\"}, "
                   "\"new\": \"https://x\"}",
                   NULL),
              "1:42: legacy.tls must be an object, got string");
}

TEST(config_checks_across_keys)
{
    CHECK_STR(load("{\"legacy\": {\"url\": \"http://erp\", \"tls\": {\"ca_file\": \"@/a.pem\"}},"
                   " \"new\": {\"url\": \"http://x\", \"tls\": {\"insecure_skip_verify\": true}}}",
                   NULL),
              "0:0: legacy.tls.ca_file needs an https URL, but legacy.url is \"http://erp\"|"
              "0:0: new.tls.insecure_skip_verify needs an https URL, but new.url is "
              "\"http://x\"");
    CHECK_STR(load("{\"legacy\": {\"url\": \"https://erp\", \"tls\": {\"client_key\": "
                   "\"@/a.key\"}}, \"new\": {\"url\": \"https://x\", \"tls\": {\"client_cert\": "
                   "\"@/a.pem\", \"client_key\": \"@/b.key\"}}}",
                   NULL),
              "0:0: legacy.tls.client_key needs legacy.tls.client_cert|"
              "0:0: new.tls.client_cert: the key does not belong to the certificate");
    CHECK_STR(load("{\"legacy\": {\"url\": \"https://erp\", \"tls\": {\"client_cert\": "
                   "\"@/a.pem\"}}, \"new\": \"https://x\", \"listen_tls\": {\"key_file\": "
                   "\"@/a.key\"}}",
                   NULL),
              "0:0: legacy.tls.client_cert: no private key in the certificate file; set "
              "the key file|"
              "0:0: listen_tls.key_file needs listen_tls.cert_file");
    CHECK_STR(load("{\"legacy\": \"https://erp\", \"new\": \"https://x\", \"listen_tls\": "
                   "{\"cert_file\": \"@/a.pem\", \"key_file\": \"@/b.key\"}}",
                   NULL),
              "0:0: listen_tls.cert_file: the key does not belong to the certificate");
}

TEST(config_example_round_trip)
{
    /* every TLS key printed is loaded back the same, nested sections too */
    sp_config c;
    CHECK_STR(load("{\"legacy\": {\"url\": \"https://erp\", \"tls\": {\"server_name\": "
                   "\"erp.internal\", \"min_version\": \"1.3\"}}, \"new\": \"https://x\","
                   " \"listen_tls\": {\"cert_file\": \"@/a.pem\", \"key_file\": \"@/a.key\"}}",
                   &c),
              "");
    char *a = NULL, *b = NULL;
    size_t n;
    FILE *f = open_memstream(&a, &n);
    config_print_json(f, &c);
    fclose(f);
    sp_config d;
    config_errors e = {0};
    CHECK(config_defaults(&d) == 0);
    CHECK(config_load_buffer(&d, a, n, &e) == 0);
    CHECK(e.n == 0);
    f = open_memstream(&b, &n);
    config_print_json(f, &d);
    fclose(f);
    CHECK_STR(a, b);
    CHECK(strstr(a, "    \"tls\": {\n      \"ca_file\": null,\n") != NULL);
    CHECK(strstr(a, "      \"min_version\": \"1.3\",\n") != NULL);
    config_errors_free(&e);
    config_free(&c);
    config_free(&d);
    free(a);
    free(b);
}

TEST(listener_support)
{
    /* Debian's libmicrohttpd has GnuTLS: HTTPS can be served */
    CHECK(tls_check_listen_unsupported() == NULL);
    CHECK(tls_listen_reload("test") == 1); /* nothing served: nothing to do */
}

/* The listener's priority strings: presets, a custom string, min_version. */
TEST(listen_priority)
{
    char b[1024], e[128];
    CHECK(tls_listen_priority("modern", false, b, sizeof b));
    CHECK(strstr(b, "-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:") && strstr(b, "-MAC-ALL:+AEAD"));
    CHECK(strstr(b, "-VERS-TLS1.1") && !strstr(b, "-VERS-TLS1.2"));
    CHECK(tls_listen_priority("legacy", true, b, sizeof b));
    CHECK_STR(b, "NORMAL:-VERS-SSL3.0:-VERS-TLS1.0:-VERS-TLS1.1:-VERS-TLS1.2");
    CHECK(tls_listen_priority("SECURE128", false, b, sizeof b));
    CHECK_STR(b, "SECURE128:-VERS-SSL3.0:-VERS-TLS1.0:-VERS-TLS1.1");
    CHECK(!tls_listen_priority("NORMAL", false, b, 20));
    CHECK(tls_priority_problem("modern", e, sizeof e) == NULL);
    CHECK(tls_priority_problem("legacy", e, sizeof e) == NULL);
    CHECK(tls_priority_problem("SECURE256:-VERS-ALL:+VERS-TLS1.3", e, sizeof e) == NULL);
    CHECK_STR(tls_priority_problem("NORMAL:+BOGUS", e, sizeof e),
              "GnuTLS does not accept it at \"+BOGUS\"");
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    make_cert("a");
    make_cert("b");
    write_text("junk.txt", "not a certificate\n");
    {
        char both[16384] = "";
        FILE *f = fopen(path("a.pem"), "r");
        size_t n = fread(both, 1, sizeof both / 2, f);
        fclose(f);
        f = fopen(path("a.key"), "r");
        n += fread(both + n, 1, sizeof both / 2 - 1, f);
        fclose(f);
        both[n] = '\0';
        write_text("both.pem", both);
    }
    RUN(listen_priority);
    RUN(verification_failures);
    RUN(other_tls_failures);
    RUN(client_certificate_failures);
    RUN(file_checks);
    RUN(pins);
    RUN(pairs);
    RUN(config_defaults_and_values);
    RUN(config_file_errors_have_positions);
    RUN(config_checks_across_keys);
    RUN(config_example_round_trip);
    RUN(listener_support);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "  could not remove %s\n", dir);
    UNIT_DONE();
}
