/* replay_req: see replay_req.h. The record holds what the client sent
 * (docs/diff-log.md): headers in order, the body as JSON, text, form, XML or
 * base64. What cannot be given back exactly as it arrived is skipped, never
 * sent altered: cut bodies, redacted values, compressed bodies (the log
 * holds them decoded). JSON bodies come back as the same document, written
 * compactly with the reals' shortest exact digits, as the log wrote them. */
#include "tools/replay_req.h"

#include <openssl/evp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "diff/record.h"

const char *replay_skip_text(replay_skip s)
{
    static const char *const text[] = {
#define X(id, t) t,
        REPLAY_SKIP_LIST(X)
#undef X
    };
    return s < REPLAY_SKIP_COUNT ? text[s] : "?";
}

/* Hop-by-hop and framing fields: curl writes its own for the new message. */
static bool dropped_header(const char *name)
{
    static const char *const names[] = {
        "Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer",
        "Transfer-Encoding", "Upgrade", "Content-Length", "Expect", "X-Request-Id",
    };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strcasecmp(name, names[i]) == 0)
            return true;
    return false;
}

static bool has_marker(const char *s, size_t n)
{
    return memmem(s, n, RECORD_REDACTED, sizeof RECORD_REDACTED - 1) != NULL;
}

static bool json_has_marker(json_t *v)
{
    if (json_is_string(v))
        return has_marker(json_string_value(v), json_string_length(v));
    if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) if (json_has_marker(e)) return true;
    } else if (json_is_object(v)) {
        const char *k;
        json_t *e;
        json_object_foreach(v, k, e) if (json_has_marker(e)) return true;
    }
    return false;
}

static char *header_line(const char *name, const char *value)
{
    size_t n = strlen(name) + strlen(value) + 3;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s: %s", name, value);
    return s;
}

static int add_line(replay_req *r, size_t cap, char *line)
{
    if (!line)
        return -1;
    if (r->nheaders + 1 >= cap) {
        free(line);
        return -1;
    }
    r->headers[r->nheaders++] = line;
    r->headers[r->nheaders] = NULL;
    return 0;
}

static const replay_header *supplied(const char *name, const replay_header *set, size_t nset)
{
    for (size_t i = 0; i < nset; i++)
        if (strcasecmp(name, set[i].name) == 0)
            return &set[i];
    return NULL;
}

/* Headers: recorded order, minus framing; supplied ones replace recorded
 * ones of that name (at the first one's place) or are added at the end. */
static int build_headers(const json_t *hdrs, const replay_header *set, size_t nset,
                         replay_req *r, replay_skip *why)
{
    size_t cap = json_array_size(hdrs) + nset + 3;
    r->headers = calloc(cap, sizeof *r->headers);
    if (!r->headers)
        return -1;
    bool *used = calloc(nset + 1, sizeof *used);
    if (!used)
        return -1;
    int rc = 0;
    size_t i;
    json_t *h;
    json_array_foreach(hdrs, i, h) {
        const char *name = json_string_value(json_array_get(h, 0));
        const char *value = json_string_value(json_array_get(h, 1));
        if (!json_is_array(h) || !name || !value || !*name) {
            *why = REPLAY_SKIP_NOT_REQUEST;
            rc = 1;
            break;
        }
        if (dropped_header(name))
            continue;
        const replay_header *s = supplied(name, set, nset);
        if (s) {
            if (!used[s - set])
                rc = add_line(r, cap, header_line(s->name, s->value));
            used[s - set] = true;
        } else if (has_marker(value, strlen(value))) {
            *why = REPLAY_SKIP_HEADER_REDACTED;
            rc = 1;
        } else if (strcasecmp(name, "Content-Encoding") == 0 &&
                   strcasecmp(value, "identity") != 0) {
            *why = REPLAY_SKIP_ENCODED;
            rc = 1;
        } else {
            rc = add_line(r, cap, header_line(name, value));
        }
        if (rc != 0)
            break;
    }
    for (size_t k = 0; rc == 0 && k < nset; k++)
        if (!used[k])
            rc = add_line(r, cap, header_line(set[k].name, set[k].value));
    if (rc == 0)
        rc = add_line(r, cap, header_line("X-Request-Id", r->id));
    free(used);
    return rc;
}

static int set_body(replay_req *r, const char *data, size_t n)
{
    r->body = malloc(n + 1);
    if (!r->body)
        return -1;
    memcpy(r->body, data, n);
    r->body_len = n;
    r->has_body = 1;
    return 0;
}

static int base64_body(replay_req *r, const char *s, size_t n, replay_skip *why)
{
    if (n % 4 != 0 || n > (size_t)1 << 30) {
        *why = REPLAY_SKIP_BAD_BODY;
        return 1;
    }
    r->body = malloc(n / 4 * 3 + 1);
    if (!r->body)
        return -1;
    int k = n ? EVP_DecodeBlock(r->body, (const unsigned char *)s, (int)n) : 0;
    if (k < 0) {
        *why = REPLAY_SKIP_BAD_BODY;
        return 1;
    }
    /* EVP_DecodeBlock counts the padding as zero bytes */
    for (size_t p = n; p > 0 && s[p - 1] == '=' && k > 0; p--)
        k--;
    r->body_len = (size_t)k;
    r->has_body = 1;
    return 0;
}

static int build_body(const json_t *req, replay_req *r, replay_skip *why)
{
    const char *format = json_string_value(json_object_get(req, "body_format"));
    json_t *body = json_object_get(req, "body");
    if (!format || strcmp(format, "none") == 0)
        return 0;
    if (json_is_true(json_object_get(req, "body_truncated")))
        return *why = REPLAY_SKIP_BODY_CUT, 1;
    if (strcmp(format, "redacted") == 0)
        return *why = REPLAY_SKIP_BODY_REDACTED, 1;
    if (strcmp(format, "oversize") == 0)
        return *why = REPLAY_SKIP_BODY_OVERSIZE, 1;
    if (strcmp(format, "json") == 0) {
        if (json_has_marker(body))
            return *why = REPLAY_SKIP_FIELD_REDACTED, 1;
        size_t n = 0;
        char *text = record_to_line(body, &n); /* ends in '\n' */
        if (!text)
            return -1;
        int rc = set_body(r, text, n - 1);
        free(text);
        return rc;
    }
    if (!json_is_string(body))
        return *why = REPLAY_SKIP_BAD_BODY, 1;
    const char *s = json_string_value(body);
    size_t n = json_string_length(body);
    if (strcmp(format, "base64") == 0)
        return base64_body(r, s, n, why);
    if (strcmp(format, "text") != 0 && strcmp(format, "xml") != 0 && strcmp(format, "form") != 0)
        return *why = REPLAY_SKIP_BAD_BODY, 1;
    if (has_marker(s, n))
        return *why = REPLAY_SKIP_FIELD_REDACTED, 1;
    return set_body(r, s, n);
}

int replay_req_build(const json_t *rec, const replay_header *set, size_t nset,
                     replay_req *out, replay_skip *why)
{
    memset(out, 0, sizeof *out);
    const char *id = json_string_value(json_object_get(rec, "id"));
    const char *method = json_string_value(json_object_get(rec, "method"));
    const char *uri = json_string_value(json_object_get(rec, "uri"));
    const char *reason = json_string_value(json_object_get(rec, "reason"));
    json_t *req = json_object_get(rec, "request");
    json_t *hdrs = json_object_get(req, "headers");
    if (!id || !*id || strlen(id) >= sizeof out->id || !method || !*method || !uri ||
        uri[0] == '\0' || !json_is_array(hdrs)) {
        *why = REPLAY_SKIP_NOT_REQUEST;
        return 1;
    }
    if (reason && strcmp(reason, "comparison queue full") == 0) {
        *why = REPLAY_SKIP_INCOMPLETE;
        return 1;
    }
    /* It reached neither side: sending it now would run a write (a second
     * order) that never ran in the captured timeline. */
    const char *verdict = json_string_value(json_object_get(rec, "verdict"));
    if (verdict && strcmp(verdict, "write_paused") == 0) {
        *why = REPLAY_SKIP_WRITE_PAUSED;
        return 1;
    }
    if (has_marker(uri, strlen(uri))) { /* ?access_token=[redacted] */
        *why = REPLAY_SKIP_URI_REDACTED;
        return 1;
    }
    strcpy(out->id, id);
    out->method = strdup(method);
    out->uri = strdup(uri);
    int rc = out->method && out->uri ? 0 : -1;
    if (rc == 0)
        rc = build_body(req, out, why);
    if (rc == 0)
        rc = build_headers(hdrs, set, nset, out, why);
    if (rc != 0)
        replay_req_free(out);
    return rc;
}

void replay_req_free(replay_req *r)
{
    for (size_t i = 0; r->headers && i < r->nheaders; i++)
        free(r->headers[i]);
    free(r->headers);
    free(r->method);
    free(r->uri);
    free(r->body);
    memset(r, 0, sizeof *r);
}

int replay_header_parse(const char *s, replay_header *out)
{
    const char *colon = strchr(s, ':');
    if (!colon || colon == s || strpbrk(s, "\r\n"))
        return -1;
    for (const char *p = s; p < colon; p++)
        if (!strchr("!#$%&'*+-.^_`|~", *p) && !(*p >= '0' && *p <= '9') &&
            !((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z'))
            return -1;
    const char *v = colon + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    out->name = strndup(s, (size_t)(colon - s));
    out->value = strdup(v);
    if (!out->name || !out->value) {
        free(out->name);
        free(out->value);
        return -1;
    }
    return 0;
}
