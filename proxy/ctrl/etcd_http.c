/* etcd_http: see etcd_http.h. One curl easy handle per call (calls are
 * rare: a change, a heartbeat a second, a resync); the watch is one long
 * transfer whose write callback splits the stream into JSON objects. */
#include "ctrl/etcd_http.h"

#include <curl/curl.h>
#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An answer larger than this is refused (the decisions are at most 1 MiB;
 * a history page of 1000 changes fits). */
#define MAX_ANSWER ((size_t)32 << 20)
#define CONNECT_TIMEOUT_MS 1000L

struct etcd_client {
    char **endpoints;
    size_t n;
    atomic_size_t current;   /* the endpoint that answered last */
    char *ca_file, *client_cert, *client_key, *username, *password;
    pthread_mutex_t mu;      /* guards token */
    char *token;             /* etcd auth token; NULL: none yet */
};

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static char *read_password(const char *path, char *err, size_t size)
{
    FILE *f = fopen(path, "re");
    char buf[1024];
    if (!f) {
        snprintf(err, size, "decisions.etcd.password_file %s: %s", path, strerror(errno));
        return NULL;
    }
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    char *p = strdup(buf);
    memset(buf, 0, sizeof buf);
    return p;
}

etcd_client *etcd_new(const decisions_url *u, const sp_config *cfg, char *err, size_t size)
{
    etcd_client *c = calloc(1, sizeof *c);
    const config_decisions_etcd *e = &cfg->decisions_etcd;
    if (!c || !(c->endpoints = calloc(u->nendpoints, sizeof *c->endpoints))) {
        free(c);
        snprintf(err, size, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&c->mu, NULL);
    for (size_t i = 0; i < u->nendpoints; i++)
        if ((c->endpoints[c->n] = strdup(u->endpoints[i])))
            c->n++;
    c->ca_file = dup_or_null(e->ca_file);
    c->client_cert = dup_or_null(e->client_cert);
    c->client_key = dup_or_null(e->client_key);
    c->username = dup_or_null(e->username);
    if (e->password_file && !(c->password = read_password(e->password_file, err, size))) {
        etcd_free(c);
        return NULL;
    }
    if (c->n != u->nendpoints) {
        snprintf(err, size, "out of memory");
        etcd_free(c);
        return NULL;
    }
    return c;
}

void etcd_free(etcd_client *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        free(c->endpoints[i]);
    free(c->endpoints);
    free(c->ca_file);
    free(c->client_cert);
    free(c->client_key);
    free(c->username);
    if (c->password)
        memset(c->password, 0, strlen(c->password));
    free(c->password);
    free(c->token);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* ---- base64 and keys ------------------------------------------------------------- */

json_t *etcd_b64(const char *data, size_t n)
{
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    if (!out)
        return NULL;
    EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)data, (int)n);
    json_t *s = json_string(out);
    free(out);
    return s;
}

char *etcd_unb64(const json_t *v, size_t *n)
{
    const char *s = json_string_value(v);
    size_t len = s ? strlen(s) : 0;
    *n = 0;
    if (!s || len % 4 != 0)
        return NULL;
    char *out = malloc(len / 4 * 3 + 1);
    if (!out)
        return NULL;
    int got = len ? EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)s, (int)len) : 0;
    if (got < 0) {
        free(out);
        return NULL;
    }
    size_t pad = len >= 2 && s[len - 1] == '=' ? (s[len - 2] == '=' ? 2 : 1) : 0;
    *n = (size_t)got - pad; /* EVP_DecodeBlock counts the padding as zeros */
    out[*n] = '\0';
    return out;
}

int64_t etcd_int(const json_t *v)
{
    if (json_is_integer(v))
        return (int64_t)json_integer_value(v);
    const char *s = json_string_value(v);
    return s ? strtoll(s, NULL, 10) : 0;
}

json_t *etcd_key(const char *prefix, const char *suffix)
{
    char k[1024];
    int n = snprintf(k, sizeof k, "%s/%s", prefix, suffix);
    return n > 0 && (size_t)n < sizeof k ? etcd_b64(k, (size_t)n) : NULL;
}

json_t *etcd_range_end(const char *prefix, const char *suffix)
{
    char k[1024];
    int n = snprintf(k, sizeof k, "%s/%s", prefix, suffix);
    if (n <= 0 || (size_t)n >= sizeof k)
        return NULL;
    k[n - 1]++; /* "p/replicas/" -> "p/replicas0": every key under it */
    return etcd_b64(k, (size_t)n);
}

/* ---- one call ---------------------------------------------------------------------- */

typedef struct buf {
    char *p;
    size_t len;
    bool too_big;
} buf;

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    buf *b = ud;
    size_t n = size * nmemb;
    if (b->len + n > MAX_ANSWER) {
        b->too_big = true;
        return 0;
    }
    char *q = realloc(b->p, b->len + n + 1);
    if (!q)
        return 0;
    memcpy(q + b->len, p, n);
    b->p = q;
    b->len += n;
    q[b->len] = '\0';
    return n;
}

/* A handle for POST endpoint+path with body (TLS and auth set). */
static CURL *handle(etcd_client *c, size_t ep, const char *path, const char *body,
                    struct curl_slist **hdrs, char *errbuf)
{
    char url[1200], auth[1200];
    CURL *h = curl_easy_init();
    if (!h)
        return NULL;
    snprintf(url, sizeof url, "%s%s", c->endpoints[ep], path);
    *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    pthread_mutex_lock(&c->mu);
    if (c->token) {
        snprintf(auth, sizeof auth, "Authorization: %s", c->token);
        *hdrs = curl_slist_append(*hdrs, auth);
    }
    pthread_mutex_unlock(&c->mu);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, *hdrs);
    curl_easy_setopt(h, CURLOPT_PROXY, ""); /* never through $http_proxy */
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    if (c->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
    if (c->client_cert) {
        curl_easy_setopt(h, CURLOPT_SSLCERT, c->client_cert);
        curl_easy_setopt(h, CURLOPT_SSLKEY, c->client_key);
    }
    return h;
}

static int post_once(etcd_client *c, size_t ep, const char *path, const char *body,
                     json_t **resp, long timeout_ms, char *err, size_t size, long *status)
{
    char eb[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdrs = NULL;
    buf b = {0};
    CURL *h = handle(c, ep, path, body, &hdrs, eb);
    if (!h) {
        curl_slist_free_all(hdrs);
        snprintf(err, size, "cannot initialise libcurl");
        return -ENOMEM;
    }
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    CURLcode cc = curl_easy_perform(h);
    *status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    int rc = 0;
    if (cc != CURLE_OK) {
        snprintf(err, size, "%s: %s", c->endpoints[ep],
                 b.too_big ? "answer too large" : *eb ? eb : curl_easy_strerror(cc));
        rc = -EAGAIN;
    } else if (!(*resp = b.p ? json_loadb(b.p, b.len, 0, NULL) : NULL)) {
        snprintf(err, size, "%s answered HTTP %ld without JSON", c->endpoints[ep], *status);
        rc = -EPROTO;
    } else if (*status != 200) {
        const char *m = json_string_value(json_object_get(*resp, "error"));
        if (!m)
            m = json_string_value(json_object_get(*resp, "message"));
        snprintf(err, size, "%s: HTTP %ld: %s", c->endpoints[ep], *status, m ? m : "error");
        json_decref(*resp);
        *resp = NULL;
        rc = -EPROTO;
    }
    free(b.p);
    return rc;
}

/* etcd's own authentication: a token for the user (when configured). */
static int authenticate(etcd_client *c, size_t ep, char *err, size_t size)
{
    json_t *req = json_pack("{s:s, s:s}", "name", c->username, "password", c->password);
    char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    json_t *resp = NULL;
    long status;
    pthread_mutex_lock(&c->mu);
    free(c->token);
    c->token = NULL;
    pthread_mutex_unlock(&c->mu);
    int rc = body ? post_once(c, ep, "/v3/auth/authenticate", body, &resp, 3000, err, size,
                              &status)
                  : -ENOMEM;
    if (body)
        memset(body, 0, strlen(body));
    free(body);
    const char *tok = json_string_value(json_object_get(resp, "token"));
    if (rc == 0 && tok) {
        pthread_mutex_lock(&c->mu);
        c->token = strdup(tok);
        pthread_mutex_unlock(&c->mu);
    } else if (rc == 0) {
        snprintf(err, size, "%s: etcd authentication gave no token", c->endpoints[ep]);
        rc = -EPROTO;
    }
    json_decref(resp);
    return rc;
}

static bool need_token(etcd_client *c)
{
    pthread_mutex_lock(&c->mu);
    bool need = c->username && !c->token;
    pthread_mutex_unlock(&c->mu);
    return need;
}

int etcd_call(etcd_client *c, const char *path, const json_t *req, json_t **resp,
              long timeout_ms, char *err, size_t size)
{
    *resp = NULL;
    char *body = json_dumps(req, JSON_COMPACT);
    if (!body) {
        snprintf(err, size, "out of memory");
        return -EAGAIN;
    }
    size_t start = atomic_load(&c->current);
    int rc = -EAGAIN;
    for (size_t k = 0; k < c->n && rc == -EAGAIN; k++) {
        size_t ep = (start + k) % c->n;
        long status = 0;
        if (need_token(c) && (rc = authenticate(c, ep, err, size)) != 0)
            continue;
        rc = post_once(c, ep, path, body, resp, timeout_ms, err, size, &status);
        if (rc == -EPROTO && status == 401 && c->username && authenticate(c, ep, err, size) == 0)
            rc = post_once(c, ep, path, body, resp, timeout_ms, err, size, &status);
        if (rc == 0)
            atomic_store(&c->current, ep);
    }
    free(body);
    return rc == 0 ? 0 : -EAGAIN;
}

/* ---- the stream --------------------------------------------------------------------- */

typedef struct stream {
    buf b;
    int depth;       /* braces open at the end of b */
    bool in_string, escaped;
    size_t scanned;  /* bytes of b already scanned */
    bool (*on_object)(json_t *obj, void *arg);
    void *arg;
    bool refused;    /* on_object said stop */
    const atomic_int *stop;
} stream;

/* Hands every complete top-level object in s->b to on_object, keeps the
 * rest. The gateway writes one object per event batch, maybe split over
 * several writes or several in one. */
static void split_objects(stream *s)
{
    size_t start = 0;
    for (size_t i = s->scanned; i < s->b.len && !s->refused; i++) {
        char ch = s->b.p[i];
        if (s->in_string) {
            if (s->escaped)
                s->escaped = false;
            else if (ch == '\\')
                s->escaped = true;
            else if (ch == '"')
                s->in_string = false;
        } else if (ch == '"') {
            s->in_string = true;
        } else if (ch == '{') {
            if (s->depth++ == 0)
                start = i;
        } else if (ch == '}' && s->depth > 0 && --s->depth == 0) {
            json_t *o = json_loadb(s->b.p + start, i + 1 - start, 0, NULL);
            if (o && !s->on_object(o, s->arg))
                s->refused = true;
            json_decref(o);
            memmove(s->b.p, s->b.p + i + 1, s->b.len - i - 1);
            s->b.len -= i + 1;
            i = (size_t)-1; /* rescan from the start of what is left */
            start = 0;
        }
    }
    s->scanned = s->b.len;
    if (s->depth == 0) /* whitespace between objects */
        s->b.len = s->scanned = 0;
}

static size_t on_stream(char *p, size_t size, size_t nmemb, void *ud)
{
    stream *s = ud;
    size_t n = on_body(p, size, nmemb, &s->b);
    if (n == size * nmemb)
        split_objects(s);
    return s->refused ? 0 : n;
}

static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)a, (void)b, (void)c, (void)d;
    const stream *s = ud;
    return *s->stop ? 1 : 0;
}

int etcd_stream(etcd_client *c, const char *path, const json_t *req,
                bool (*on_object)(json_t *obj, void *arg), void *arg, const atomic_int *stop,
                char *err, size_t size)
{
    char eb[CURL_ERROR_SIZE] = "", *body = json_dumps(req, JSON_COMPACT);
    size_t ep = atomic_load(&c->current);
    struct curl_slist *hdrs = NULL;
    if (need_token(c) && authenticate(c, ep, err, size) != 0) {
        free(body);
        atomic_store(&c->current, (ep + 1) % c->n);
        return -EAGAIN;
    }
    CURL *h = body ? handle(c, ep, path, body, &hdrs, eb) : NULL;
    if (!h) {
        free(body);
        curl_slist_free_all(hdrs);
        snprintf(err, size, "out of memory");
        return -EAGAIN;
    }
    stream s = {.on_object = on_object, .arg = arg, .stop = stop};
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_stream);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &s);
    CURLcode cc = curl_easy_perform(h);
    curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    free(body);
    free(s.b.p);
    if (*stop)
        return 0;
    snprintf(err, size, "%s: watch ended: %s", c->endpoints[ep],
             cc == CURLE_OK ? "the connection closed" : *eb ? eb : curl_easy_strerror(cc));
    /* the next attempt starts on the next endpoint */
    atomic_store(&c->current, (ep + 1) % c->n);
    return -EAGAIN;
}
