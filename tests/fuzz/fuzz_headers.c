/* fuzz_headers: header lists and header filtering. Builds hdr_lists the
 * way exchange.c's curl callback splits header lines, then runs what
 * decides where each field goes: hop-by-hop filtering (the fixed set plus
 * the names a Connection header lists, as exchange.c and
 * exchange_request.c drop them before forwarding), lookups, credential
 * redaction (the diff-log record), header comparison, header matching
 * in the rules, and W3C traceparent parsing (base/tracectx).
 *
 * Input: up to two header blocks separated by a line "%%": the legacy
 * side's and the new side's (the first also serves as a request's).
 * Lines "Name: value"; a line without ':' is skipped; names and values
 * may hold any byte, NUL included.
 *
 * Invariants: the fixed hop-by-hop names and every token a Connection
 * header lists are hop-by-hop; hdr_list_get returns the first field of that
 * name; a cleared list reused gives the same fields; a list compared with
 * itself has no differences; a credential header's value never reaches the
 * record; a traceparent that parses gives a child line that parses back
 * with the same trace id, the new span and only the sampled flag. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "diff/compare.h"
#include "base/headers.h"
#include "base/tracectx.h"
#include "diff/record.h"
#include "conf/rules.h"

#include "fuzz_common.h"

#define CANARY "fz-canary-3b9c0e"

static rules *header_rules;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    static const char text[] =
        "{\"version\": 1, \"routes\": ["
        "{\"name\": \"tenant\", \"match\": {\"header\": {\"X-Tenant\": \"a\"}}},"
        "{\"name\": \"upgrade\", \"match\": {\"header\": {\"connection\": true}}},"
        "{\"name\": \"ct\", \"match\": {\"header\": {\"Content-Type\": \"application/json\"}},"
        " \"compare\": {\"headers\": [\"ETag\", \"Content-Type\", \"Vary\"],"
        "  \"ignore_headers\": [\"Date\"]}}]}";
    config_errors errs = {0};
    header_rules = rules_load_buffer(text, sizeof text - 1, &errs);
    if (!header_rules || errs.n)
        abort();
    config_errors_free(&errs);
    return 0;
}

static void parse_block(hdr_list *h, const char *p, size_t n)
{
    const char *end = p + n;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *le = nl ? nl : end;
        const char *colon = memchr(p, ':', (size_t)(le - p));
        if (colon) {
            const char *v = colon + 1, *ve = le;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            FZ_ASSERT(hdr_list_add(h, p, (size_t)(colon - p), v, (size_t)(ve - v)) == 0);
        }
        p = nl ? nl + 1 : end;
    }
}

/* RFC 9110 5.6.1: a list element is a token between commas, OWS trimmed
 * (elements with inner whitespace are not tokens: not checked). */
static bool rfc_listed(const char *list, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == '\t')
            p++;
        const char *s = p;
        while (*p && *p != ',')
            p++;
        const char *e = p;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        bool token = memchr(s, ' ', (size_t)(e - s)) == NULL &&
                     memchr(s, '\t', (size_t)(e - s)) == NULL;
        if (token && (size_t)(e - s) == nl && nl > 0 && strncasecmp(s, name, nl) == 0)
            return true;
        if (*p == ',')
            p++;
    }
    return false;
}

static void check_trace(const hdr_list *h)
{
    for (size_t i = 0; i < h->n; i++) {
        if (strcasecmp(hdr_name(h, i), "traceparent") != 0)
            continue;
        tracectx t, back;
        if (!tracectx_parse(hdr_value(h, i), &t))
            continue;
        FZ_ASSERT(strlen(t.trace_id) == 32 && strlen(t.parent_id) == 16);
        char line[TRACECTX_LINE_MAX];
        tracectx_child_line(&t, 0x0123456789abcdefULL, line, sizeof line);
        FZ_ASSERT(strncmp(line, "traceparent: ", 13) == 0);
        FZ_ASSERT(tracectx_parse(line + 13, &back));
        FZ_ASSERT(strcmp(back.trace_id, t.trace_id) == 0);
        FZ_ASSERT(strcmp(back.parent_id, "0123456789abcdef") == 0);
        FZ_ASSERT(back.flags == (t.flags & TRACECTX_SAMPLED));
    }
}

static void check_list(const hdr_list *h)
{
    static const char *const fixed[] = {
        "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
        "Proxy-Authorization", "TE", "Trailer", "Transfer-Encoding", "upgrade",
    };
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) {
        FZ_ASSERT(hdr_is_hop_by_hop(h, fixed[i]));
        FZ_ASSERT(hdr_is_hop_by_hop(NULL, fixed[i]));
    }
    FZ_ASSERT(!hdr_is_hop_by_hop(NULL, "Content-Type"));
    for (size_t i = 0; i < h->n; i++) {
        const char *name = hdr_name(h, i), *value = hdr_value(h, i);
        FZ_ASSERT(strlen(name) <= h->f[i].name_len && strlen(value) <= h->f[i].value_len);
        bool hop = hdr_is_hop_by_hop(h, name);
        const char *first = hdr_list_get(h, name);
        FZ_ASSERT(first != NULL);
        for (size_t j = 0; j < h->n; j++) {
            if (strcasecmp(hdr_name(h, j), name) == 0) {
                FZ_ASSERT(first == hdr_value(h, j));
                break;
            }
        }
        FZ_ASSERT(hdr_name_eq(name, strlen(name), name));
        /* Every name a Connection header lists is dropped when forwarding. */
        for (size_t j = 0; j < h->n; j++)
            if (strcasecmp(hdr_name(h, j), "Connection") == 0 &&
                rfc_listed(hdr_value(h, j), name))
                FZ_ASSERT(hop);
        if (strcasecmp(name, "Connection") == 0) {
            FZ_ASSERT(hop);
            /* and the tokens it lists, checked the other way round */
            char tok[128];
            const char *p = value;
            while (*p) {
                size_t k = strcspn(p, ", \t");
                if (k > 0 && k < sizeof tok) {
                    memcpy(tok, p, k);
                    tok[k] = '\0';
                    FZ_ASSERT(hdr_is_hop_by_hop(h, tok));
                }
                p += k;
                p += strspn(p, ", \t");
            }
        }
        (void)redact_header_name(name, NULL);
    }
}

/* A cleared list refilled from another gives the same fields. */
static void check_reuse(hdr_list *scratch, const hdr_list *h)
{
    hdr_list_clear(scratch);
    for (size_t i = 0; i < h->n; i++)
        FZ_ASSERT(hdr_list_add(scratch, hdr_name(h, i), h->f[i].name_len, hdr_value(h, i),
                               h->f[i].value_len) == 0);
    FZ_ASSERT(scratch->n == h->n && scratch->len == h->len);
    FZ_ASSERT(h->len == 0 || memcmp(scratch->buf, h->buf, h->len) == 0);
}

/* An RFC 9110 token: the config and the rules accept only those as the
 * names of compared headers. */
static bool token(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || strchr("!#$%&'*+-.^_`|~", *s)))
            return false;
    return true;
}

/* Every token name in either list, for the comparison (at most 64). */
static size_t names_of(const hdr_list *a, const hdr_list *b, const char **out, size_t max)
{
    size_t n = 0;
    const hdr_list *ls[2] = {a, b};
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < ls[k]->n && n < max; i++)
            if (token(hdr_name(ls[k], i)))
                out[n++] = hdr_name(ls[k], i);
    return n;
}

static void check_record(const hdr_list *req, const hdr_list *l, const hdr_list *n,
                         bool has_canary)
{
    body_view none = {0};
    record_input in = {
        .id = "id",
        .ts_ms = 1795000000000,
        .route = "r",
        .method = "GET",
        .uri = "/",
        .authority = "legacy",
        .verdict = "match",
        .req_headers = req,
        .req_body = &none,
        .legacy = {.attempted = true, .status = 200, .headers = l, .body = &none},
        .new_ = {.attempted = true, .status = 200, .headers = n, .body = &none},
    };
    json_t *rec = record_build(&in, NULL);
    FZ_ASSERT(rec != NULL);
    size_t len = 0;
    char *line = record_to_line(rec, &len);
    FZ_ASSERT(line != NULL && memchr(line, '\n', len - 1) == NULL);
    if (!has_canary)
        FZ_ASSERT(memmem(line, len, CANARY, strlen(CANARY)) == NULL);
    free(line);
    json_decref(rec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_part s[2];
    fz_split(data, size, s, 2);
    bool has_canary = memmem(data, size, CANARY, strlen(CANARY)) != NULL;
    hdr_list l = {0}, n = {0}, scratch = {0};
    parse_block(&l, s[0].p, s[0].n);
    parse_block(&n, s[1].p, s[1].n);
    check_list(&l);
    check_list(&n);
    check_trace(&l);
    check_reuse(&scratch, &l);
    check_reuse(&scratch, &n);

    const char *names[64];
    size_t nn = names_of(&l, &n, names, 64);
    for (int k = 0; k < 3; k++) {
        const route *rt = rules_match(header_rules, "GET", "/", k == 0 ? &l : &n);
        compare_opts o = {.headers = names, .nheaders = nn, .max_differences = 1000,
                          .rules = k == 2 ? &rt->cmp : NULL};
        json_t *d = json_array();
        FZ_ASSERT(compare_headers(&l, &l, d, &o) == 0);
        size_t found = compare_headers(&l, &n, d, &o);
        FZ_ASSERT(json_array_size(d) == found);
        json_decref(d);
    }

    /* Credentials in every place a record shows headers. */
    FZ_ASSERT(hdr_list_add(&scratch, "authorization", 13, "Bearer " CANARY,
                           7 + strlen(CANARY)) == 0);
    FZ_ASSERT(hdr_list_add(&l, "Set-Cookie", 10, "sid=" CANARY, 4 + strlen(CANARY)) == 0);
    FZ_ASSERT(hdr_list_add(&n, "PROXY-AUTHORIZATION", 19, CANARY, strlen(CANARY)) == 0);
    check_record(&scratch, &l, &n, has_canary);

    hdr_list_free(&l);
    hdr_list_free(&n);
    hdr_list_free(&scratch);
    return 0;
}
