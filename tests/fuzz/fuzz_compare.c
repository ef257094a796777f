/* fuzz_compare: one exchange through the comparer as analyzer.c runs it:
 * a rules file picks the route, both answers' bodies are decoded and parsed
 * (body_prepare: JSON, XML/SOAP, forms, text; gzip/deflate), aligned, then
 * compared (status, headers, bodies, with the route's rules: ignore,
 * tolerance, arrays, maps, normalize, known), and the diff-log record is
 * built (redaction) and serialized, then read back as report would.
 *
 * Input: sections separated by a line "%%" (fuzz_common.h):
 *   0  rules file (blank: no rules file, the built-in route)
 *   1  legacy head: "STATUS [flags]" then "Name: value" lines
 *   2  legacy body
 *   3  new head
 *   4  new body
 *   5  request head: "METHOD TARGET" then "Name: value" lines
 *   6  request body
 * Head flags: gz or deflate (the driver encodes the body and adds the
 * Content-Encoding), cut (captured body incomplete: oversize), cap=N
 * (decoded bodies capped at N bytes), max=N (differences listed per
 * record, both heads). STATUS 0: the leg failed (no answer).
 *
 * Invariants: the record is one line of JSON that logread parses back;
 * a request Authorization value never reaches the record; without maps a
 * body compared with itself has no differences; without rules legacy vs
 * new finds as many differences as new vs legacy; the verdict arithmetic
 * holds (known <= found, listed <= cap). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "base/json_arena.h"
#include "diff/body.h"
#include "diff/compare.h"
#include "conf/config.h"
#include "base/headers.h"
#include "diff/logread.h"
#include "diff/record.h"
#include "conf/rules.h"
#include "diff/xmltree.h"

#include "fuzz_common.h"

#define CANARY "fz-canary-7d1e5a"

static sp_config cfg;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    setenv("FUZZ_TOKEN", "Bearer fuzz-token", 1);
    setenv("NEW_ERP_AUTH", "Bearer demo-new-erp-token", 1);
    xmltree_global_init();
    json_arena_install();
    if (config_defaults(&cfg) != 0)
        abort();
    return 0;
}

typedef struct leg {
    int status;
    hdr_list h;
    unsigned char *body; /* owned copy, encoded when asked */
    size_t len;
    bool whole;
    size_t cap;
    char sha256[65]; /* of the bytes as received, as the worker hashes them */
    body_view v;
} leg;

/* Gzip (window 31) or zlib (15) of p[0..n). */
static unsigned char *encode(const char *p, size_t n, int window, size_t *out_len)
{
    z_stream z = {0};
    if (deflateInit2(&z, 6, Z_DEFLATED, window, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        abort();
    size_t cap = deflateBound(&z, n) + 32;
    unsigned char *out = malloc(cap);
    if (!out)
        abort();
    z.next_in = (unsigned char *)p;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END)
        abort();
    *out_len = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

/* "Name: value" lines into h (no colon: ignored), as curl's header
 * callback in exchange.c splits them. */
static void parse_headers(hdr_list *h, const char *p, const char *end)
{
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *le = nl ? nl : end;
        const char *colon = memchr(p, ':', (size_t)(le - p));
        if (colon) {
            const char *v = colon + 1, *ve = le;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            (void)hdr_list_add(h, p, (size_t)(colon - p), v, (size_t)(ve - v));
        }
        p = nl ? nl + 1 : end;
    }
}

static bool flag(const char *line, size_t n, const char *name, long *value)
{
    size_t k = strlen(name);
    for (size_t i = 0; i + k <= n; i++) {
        if ((i == 0 || line[i - 1] == ' ') && memcmp(line + i, name, k) == 0) {
            if (value)
                *value = strtol(line + i + k, NULL, 10);
            return true;
        }
    }
    return false;
}

static void leg_read(leg *l, const fz_part *head, const fz_part *body, long *max_diffs)
{
    const char *p = head->p, *end = p + head->n;
    const char *nl = memchr(p, '\n', head->n), *le = nl ? nl : end;
    char first[64];
    size_t fl = (size_t)(le - p) < sizeof first - 1 ? (size_t)(le - p) : sizeof first - 1;
    memcpy(first, p, fl);
    first[fl] = '\0';
    l->status = head->present ? atoi(first) : 200;
    if (l->status < 0 || l->status > 999)
        l->status = 599;
    parse_headers(&l->h, nl ? nl + 1 : end, end);
    long v = 0;
    l->whole = !flag(first, fl, "cut", NULL);
    l->cap = flag(first, fl, "cap=", &v) && v > 0 ? (size_t)v : cfg.compare_max_body;
    if (flag(first, fl, "max=", &v) && v > 0 && v < 100000)
        *max_diffs = v;
    if (flag(first, fl, "gz", NULL) || flag(first, fl, "deflate", NULL)) {
        bool gz = flag(first, fl, "gz", NULL);
        l->body = encode(body->p, body->n, gz ? 31 : 15, &l->len);
        if (!hdr_list_get(&l->h, "Content-Encoding"))
            (void)hdr_list_add(&l->h, "Content-Encoding", 16, gz ? "gzip" : "deflate",
                               gz ? 4 : 7);
    } else {
        l->body = malloc(body->n ? body->n : 1);
        if (!l->body)
            abort();
        memcpy(l->body, body->p, body->n);
        l->len = body->n;
    }
}

static void hash(leg *l)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (!EVP_Digest(l->body, l->len, md, &n, EVP_sha256(), NULL) || n != 32)
        abort();
    for (unsigned int i = 0; i < 32; i++)
        snprintf(l->sha256 + 2 * i, 3, "%02x", md[i]);
}

static int leg_prepare(leg *l)
{
    hash(l);
    if (l->status == 0) {
        memset(&l->v, 0, sizeof l->v);
        return 0;
    }
    return body_prepare(&l->v, l->body, l->len, l->whole, l->len, l->sha256,
                        hdr_list_get(&l->h, "Content-Type"),
                        hdr_list_get(&l->h, "Content-Encoding"), l->cap);
}

static void leg_free(leg *l)
{
    body_view_free(&l->v);
    hdr_list_free(&l->h);
    free(l->body);
}

static record_leg record_leg_of(const leg *l)
{
    return (record_leg){
        .attempted = true,
        .status = l->status,
        .headers = &l->h,
        .body = &l->v,
        .duration_ms = 1.5,
        .error = l->status ? NULL : "connection refused",
    };
}

/* As analyze_job.c builds it: the config's redaction, then the route's. */
static json_t *build_record(const record_input *in, const route *rt)
{
    record_opts o = {
        .max_body_bytes = cfg.diff_log_max_body,
        .secrets = {(const char *const *)cfg.redact_exempt, cfg.nredact_exempt},
        .redact_fields = (const char *const *)cfg.redact_fields,
        .nredact_fields = cfg.nredact_fields,
    };
    return record_build_for_route(&o, in, rt);
}

/* A body compared with itself: nothing differs (without maps, which move
 * fields on one side only). */
static void self_compare(const body_view *v, const compare_opts *base)
{
    if (base->rules && base->rules->nmaps)
        return;
    json_t *d = json_array();
    compare_opts o = *base;
    size_t known = 0;
    o.known = &known;
    size_t n = compare_bodies(v, v, d, &o);
    if (n != 0) {
        char *s = json_dumps(d, JSON_COMPACT);
        fprintf(stderr, "self-compare found %zu differences: %s\n", n, s ? s : "?");
        free(s);
    }
    FZ_ASSERT(n == 0);
    json_decref(d);
}

/* Without rules the comparison is symmetric: as many differences either
 * way round (added and removed swap). */
static void symmetric(const body_view *l, const body_view *n, const compare_opts *base)
{
    compare_opts o = *base;
    o.rules = NULL;
    o.known = NULL;
    json_t *a = json_array(), *b = json_array();
    size_t x = compare_bodies(l, n, a, &o), y = compare_bodies(n, l, b, &o);
    if (x != y)
        fprintf(stderr, "legacy->new %zu differences, new->legacy %zu\n", x, y);
    FZ_ASSERT(x == y);
    json_decref(a);
    json_decref(b);
}

/* The consuming comparison (the rules rewrite the trees in place) on views
 * freshly prepared in an arena scope, as a comparer runs it
 * (analyze_job.c: compare_bodies_scoped), finds what compare_bodies finds
 * on L and N. The ASan build poisons the scope's memory at its end and
 * checks each dropped tree holds only the scope's values. */
static void consume_agrees(leg *L, leg *N, const compare_opts *base)
{
    static json_arena *arena;
    if (!arena && !(arena = json_arena_new(256 * 1024)))
        abort();
    body_view keep_l = L->v, keep_n = N->v;
    json_arena_begin(arena);
    if (leg_prepare(L) != 0 || leg_prepare(N) != 0)
        abort(); /* -ENOMEM only */
    (void)body_align(&L->v, &N->v);
    body_view fresh_l = L->v, fresh_n = N->v;
    L->v = keep_l;
    N->v = keep_n;
    compare_opts o = *base;
    size_t known_b = 0;
    json_t *scoped = json_array();
    o.known = &known_b;
    o.arena = arena;
    size_t y = compare_bodies_consume(&fresh_l, &fresh_n, scoped, &o);
    FZ_ASSERT(fresh_l.json == NULL && fresh_n.json == NULL);
    json_t *b = json_arena_export(arena, scoped);
    json_arena_drop(arena, scoped);
    json_arena_end(arena);
    o = *base;
    size_t known_a = 0;
    json_t *a = json_array();
    o.known = &known_a;
    size_t x = compare_bodies(&L->v, &N->v, a, &o);
    if (x != y || !json_equal(a, b))
        fprintf(stderr, "compare_bodies %zu differences, compare_bodies_consume %zu\n", x, y);
    FZ_ASSERT(x == y && known_a == known_b && json_equal(a, b));
    json_decref(a);
    json_decref(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_part s[7];
    fz_split(data, size, s, 7);
    bool has_canary = memmem(data, size, CANARY, strlen(CANARY)) != NULL;

    config_errors errs = {0};
    size_t blank = 0;
    while (blank < s[0].n && strchr(" \t\r\n", s[0].p[blank]))
        blank++;
    rules *r = blank == s[0].n ? rules_default() : rules_load_buffer(s[0].p, s[0].n, &errs);
    config_errors_free(&errs);
    if (!r)
        r = rules_default();
    if (!r)
        abort();

    long max_diffs = (long)cfg.max_differences;
    leg L = {0}, N = {0}, Q = {0};
    leg_read(&L, &s[1], &s[2], &max_diffs);
    leg_read(&N, &s[3], &s[4], &max_diffs);

    /* the request: "METHOD TARGET", headers, body */
    char method[32] = "GET", target[1024] = "/api/orders/1";
    if (s[5].present) {
        const char *p = s[5].p, *end = p + s[5].n;
        const char *nl = memchr(p, '\n', s[5].n), *le = nl ? nl : end;
        const char *sp = memchr(p, ' ', (size_t)(le - p));
        if (sp) {
            snprintf(method, sizeof method, "%.*s", (int)(sp - p), p);
            snprintf(target, sizeof target, "%.*s", (int)(le - sp - 1), sp + 1);
        }
        parse_headers(&Q.h, nl ? nl + 1 : end, end);
    }
    (void)hdr_list_add(&Q.h, "Authorization", 13, "Bearer " CANARY, 7 + strlen(CANARY));
    (void)hdr_list_add(&L.h, "Set-Cookie", 10, "sid=" CANARY, 4 + strlen(CANARY));
    method[strcspn(method, "\r")] = '\0';
    target[strcspn(target, "\r")] = '\0';
    const route *rt = rules_match(r, method, target, &Q.h);

    if (leg_prepare(&L) != 0 || leg_prepare(&N) != 0)
        abort(); /* -ENOMEM only */
    body_view req = {0};
    if (s[6].present &&
        body_prepare(&req, (const unsigned char *)s[6].p, s[6].n, true, s[6].n, NULL,
                     hdr_list_get(&Q.h, "Content-Type"),
                     hdr_list_get(&Q.h, "Content-Encoding"), cfg.compare_max_body) != 0)
        abort();
    (void)body_align(&L.v, &N.v);

    compare_opts co = {
        .headers = (const char *const *)cfg.compare_headers,
        .nheaders = cfg.ncompare_headers,
        .max_differences = (size_t)max_diffs,
        .rules = &rt->cmp,
    };
    self_compare(&L.v, &co);
    symmetric(&L.v, &N.v, &co);

    json_t *diffs = json_array();
    size_t known = 0, found = 0;
    co.known = &known;
    found += compare_status(L.status, N.status, diffs, &co);
    found += compare_headers(&L.h, &N.h, diffs, &co);
    found += compare_bodies(&L.v, &N.v, diffs, &co);
    FZ_ASSERT(known <= found);
    FZ_ASSERT(json_array_size(diffs) <= found);
    FZ_ASSERT(json_array_size(diffs) <= co.max_differences);
    const char *verdict = !found ? "match" : found == known ? "known" : "mismatch";

    record_input in = {
        .id = "0b6f2a2e-aaaa-4bbb-8ccc-0123456789ab",
        .ts_ms = 1795000000000,
        .route = rt->name ? rt->name : "default",
        .method = method,
        .uri = target,
        .authority = "legacy",
        .verdict = verdict,
        .req_headers = &Q.h,
        .req_body = &req,
        .legacy = record_leg_of(&L),
        .new_ = record_leg_of(&N),
        .differences = diffs,
    };
    json_t *rec = build_record(&in, rt);
    FZ_ASSERT(rec != NULL);
    if (found > json_array_size(diffs))
        json_object_set_new(rec, "differences_total", json_integer((json_int_t)found));
    size_t len = 0;
    char *line = record_to_line(rec, &len);
    FZ_ASSERT(line != NULL && len > 0 && line[len - 1] == '\n');
    FZ_ASSERT(memchr(line, '\n', len - 1) == NULL);
    if (!has_canary)
        FZ_ASSERT(memmem(line, len, CANARY, strlen(CANARY)) == NULL);
    json_t *back = logread_parse_line(line, len - 1);
    FZ_ASSERT(back != NULL);
    FZ_ASSERT(json_equal(json_object_get(back, "verdict"), json_object_get(rec, "verdict")));
    json_decref(back);
    free(line);
    json_decref(rec);

    consume_agrees(&L, &N, &co);

    json_decref(diffs);
    body_view_free(&req);
    leg_free(&L);
    leg_free(&N);
    leg_free(&Q);
    rules_unref(r);
    return 0;
}
