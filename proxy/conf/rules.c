/* rules: the snapshot's lifetime (refcount, freeing, the built-in set), the
 * merging of a route over "defaults", and what runs per request: matching,
 * sampling, the mirror decision and the shadow target rewrite. Loading:
 * rules_load.c. See docs/rules.md.
 *
 * rules_match, rules_sampled, rules_mirror_method and rules_should_mirror
 * run on the worker's hot path: they read the snapshot and the request and
 * never allocate. */
#include "conf/rules.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/refcount.h"
#include "conf/rules_load.h"

/* --- freeing -------------------------------------------------------------- */

void rl_strlist_free(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

void rl_pattern_list_free(path_pattern *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        path_pattern_free(&v[i]);
    free(v);
}

static void compare_free(route_compare *c)
{
    free(c->status_equiv);
    rl_strlist_free(c->headers, c->nheaders);
    rl_strlist_free(c->ignore_headers, c->nignore_headers);
    rl_pattern_list_free(c->ignore, c->nignore);
    for (size_t i = 0; c->tolerance && i < c->ntolerance; i++)
        path_pattern_free(&c->tolerance[i].path);
    free(c->tolerance);
    for (size_t i = 0; c->arrays && i < c->narrays; i++) {
        path_pattern_free(&c->arrays[i].path);
        free(c->arrays[i].key);
    }
    free(c->arrays);
    for (size_t i = 0; c->maps && i < c->nmaps; i++) {
        free(c->maps[i].from);
        free(c->maps[i].to);
    }
    free(c->maps);
    for (size_t i = 0; c->normalize && i < c->nnormalize; i++)
        path_pattern_free(&c->normalize[i].path);
    free(c->normalize);
    for (size_t i = 0; c->known && i < c->nknown; i++) {
        free(c->known[i].name);
        path_pattern_free(&c->known[i].path);
        free(c->known[i].kind);
    }
    free(c->known);
}

static void match_free(route_match *m)
{
    rl_strlist_free(m->methods, m->nmethods);
    free(m->path);
    free(m->query_name);
    free(m->query_value);
    free(m->header_name);
    free(m->header_value);
}

void rl_route_init(route *rt)
{
    memset(rt, 0, sizeof *rt);
    rt->authority = -1;
    rt->mirror = true;
    rt->sample_percent = 100;
}

void rl_route_free(route *rt)
{
    free(rt->name);
    match_free(&rt->match);
    rl_strlist_free(rt->mirror_methods, rt->nmirror_methods);
    free(rt->prefix_from);
    free(rt->prefix_to);
    free(rt->template_from);
    free(rt->template_to);
    for (size_t i = 0; rt->set_headers && i < rt->nset_headers; i++) {
        free(rt->set_headers[i].name);
        if (rt->set_headers[i].value) /* may be a secret */
            explicit_bzero(rt->set_headers[i].value,
                           strlen(rt->set_headers[i].value));
        free(rt->set_headers[i].value);
    }
    free(rt->set_headers);
    rl_strlist_free(rt->remove_headers, rt->nremove_headers);
    free(rt->shadow_host);
    compare_free(&rt->cmp);
    rl_strlist_free(rt->redact_fields, rt->nredact_fields);
    rl_pattern_list_free(rt->redact_paths, rt->nredact_paths);
    rl_strlist_free(rt->redact_exempt, rt->nredact_exempt);
    json_decref(rt->readiness);
    free(rt->faults);
    json_decref(rt->ids);
    rl_route_init(rt);
}

/* --- copying and merging -------------------------------------------------- */

/* Element copies: 0, or -1 out of memory (the slot stays freeable). */
typedef int (*copy_fn)(void *dst, const void *src);

static int dup_str(char **dst, const char *src)
{
    *dst = src ? strdup(src) : NULL;
    return src && !*dst ? -1 : 0;
}

static int copy_str(void *dst, const void *src)
{
    return dup_str(dst, *(char *const *)src);
}

static int copy_pat(void *dst, const void *src)
{
    path_pattern *d = dst;
    const path_pattern *s = src;
    memset(d, 0, sizeof *d);
    if (dup_str(&d->text, s->text))
        return -1;
    if (s->nsegs && !(d->segs = calloc(s->nsegs, sizeof *d->segs)))
        return -1;
    for (; d->nsegs < s->nsegs; d->nsegs++)
        if (dup_str(&d->segs[d->nsegs], s->segs[d->nsegs]))
            return -1;
    return 0;
}

static int copy_tol(void *dst, const void *src)
{
    const rule_tolerance *s = src;
    rule_tolerance *d = dst;
    *d = *s;
    return copy_pat(&d->path, &s->path);
}

static int copy_arr(void *dst, const void *src)
{
    const rule_array *s = src;
    rule_array *d = dst;
    *d = *s;
    d->key = NULL;
    return copy_pat(&d->path, &s->path) | dup_str(&d->key, s->key);
}

static int copy_map(void *dst, const void *src)
{
    const rule_map *s = src;
    rule_map *d = dst;
    *d = *s;
    d->to = NULL;
    return dup_str(&d->from, s->from) | dup_str(&d->to, s->to);
}

static int copy_norm(void *dst, const void *src)
{
    const rule_normalize *s = src;
    rule_normalize *d = dst;
    *d = *s;
    return copy_pat(&d->path, &s->path);
}

static int copy_known(void *dst, const void *src)
{
    const rule_known *s = src;
    rule_known *d = dst;
    *d = *s;
    d->kind = NULL;
    return dup_str(&d->name, s->name) | copy_pat(&d->path, &s->path) |
           dup_str(&d->kind, s->kind);
}

static int copy_hset(void *dst, const void *src)
{
    const route_header_set *s = src;
    route_header_set *d = dst;
    d->value = NULL;
    return dup_str(&d->name, s->name) | dup_str(&d->value, s->value);
}

static int copy_pair(void *dst, const void *src)
{
    memcpy(dst, src, sizeof(int[2]));
    return 0;
}

/* a[0..na) then b[0..nb), each copied; NULL when both are empty (or NULL
 * with *ok cleared when out of memory; the slots filled so far are kept
 * and counted so that they are freed). */
static int copy_plain_fault(void *dst, const void *src)
{
    memcpy(dst, src, sizeof(fault_spec));
    return 0;
}

static void *cat(const void *a, size_t na, const void *b, size_t nb,
                 size_t size, copy_fn copy, size_t *n, bool *ok)
{
    *n = 0;
    if (na + nb == 0)
        return NULL;
    char *v = calloc(na + nb, size);
    if (!v) {
        *ok = false;
        return NULL;
    }
    *n = na + nb;
    for (size_t i = 0; i < na + nb; i++)
        if (copy(v + i * size, i < na ? (const char *)a + i * size
                                      : (const char *)b + (i - na) * size))
            *ok = false;
    return v;
}

/* A whole list (NULL stays NULL; an empty list stays non-NULL). */
static char **copy_list(char **v, size_t n, bool *ok)
{
    size_t got;
    if (!v)
        return NULL;
    char **out = n ? cat(v, n, NULL, 0, sizeof *v, copy_str, &got, ok)
                   : calloc(1, sizeof *out);
    if (!out)
        *ok = false;
    return out;
}

static void merge_match(route_match *d, const route_match *s, bool *ok)
{
    *d = *s;
    d->methods = copy_list(s->methods, s->nmethods, ok);
    d->path = d->query_name = d->query_value = NULL;
    d->header_name = d->header_value = NULL;
    if (dup_str(&d->path, s->path) | dup_str(&d->query_name, s->query_name) |
        dup_str(&d->query_value, s->query_value) |
        dup_str(&d->header_name, s->header_name) |
        dup_str(&d->header_value, s->header_value))
        *ok = false;
}

static void merge_compare(route_compare *d, const route_compare *b,
                          const route_compare *o, unsigned set, bool *ok)
{
#define CAT(f, nf, fn)                                                         \
    d->f = cat(b->f, b->nf, o->f, o->nf, sizeof *b->f, fn, &d->nf, ok)
    const route_compare *h = set & OPT_HEADERS ? o : b;
    d->status_only = set & OPT_STATUS_ONLY ? o->status_only : b->status_only;
    d->headers_set = h->headers_set;
    d->headers = copy_list(h->headers, h->nheaders, ok);
    d->nheaders = d->headers ? h->nheaders : 0;
    CAT(status_equiv, nstatus_equiv, copy_pair);
    CAT(ignore_headers, nignore_headers, copy_str);
    CAT(ignore, nignore, copy_pat);
    CAT(tolerance, ntolerance, copy_tol);
    CAT(arrays, narrays, copy_arr);
    CAT(maps, nmaps, copy_map);
    CAT(normalize, nnormalize, copy_norm);
    CAT(known, nknown, copy_known);
#undef CAT
}

int rl_route_merge(route *out, const rl_opts *base, const rl_opts *over)
{
    const route *b = &base->r, *o = &over->r;
    unsigned set = over->set;
    bool ok = true;
    rl_route_init(out);
    ok &= !dup_str(&out->name, o->name);
    merge_match(&out->match, &o->match, &ok);
#define PICK(bit, f) out->f = set & (bit) ? o->f : b->f
    PICK(OPT_AUTHORITY, authority);
    PICK(OPT_MIRROR, mirror);
    PICK(OPT_SAMPLE, sample_percent);
    PICK(OPT_TIMEOUT, shadow_timeout_ms);
    PICK(OPT_NOISE_SECONDARY, noise_secondary);
    PICK(OPT_CONFIRM, confirm); /* the section as a whole, like a scalar */
#undef PICK
    const route *mm = set & OPT_MIRROR_METHODS ? o : b;
    out->mirror_methods =
        copy_list(mm->mirror_methods, mm->nmirror_methods, &ok);
    out->nmirror_methods = out->mirror_methods ? mm->nmirror_methods : 0;
    const route *rw = set & OPT_REWRITE_PATH ? o : b;
    if (dup_str(&out->prefix_from, rw->prefix_from) |
        dup_str(&out->prefix_to, rw->prefix_to) |
        dup_str(&out->template_from, rw->template_from) |
        dup_str(&out->template_to, rw->template_to) |
        dup_str(&out->shadow_host,
                set & OPT_HOST ? o->shadow_host : b->shadow_host))
        ok = false;
    out->set_headers =
        cat(b->set_headers, b->nset_headers, o->set_headers, o->nset_headers,
            sizeof *b->set_headers, copy_hset, &out->nset_headers, &ok);
    out->remove_headers =
        cat(b->remove_headers, b->nremove_headers, o->remove_headers,
            o->nremove_headers, sizeof(char *), copy_str, &out->nremove_headers,
            &ok);
    merge_compare(&out->cmp, &b->cmp, &o->cmp, set, &ok);
    out->redact_fields = cat(
        b->redact_fields, b->nredact_fields, o->redact_fields,
        o->nredact_fields, sizeof(char *), copy_str, &out->nredact_fields, &ok);
    out->redact_paths = cat(b->redact_paths, b->nredact_paths, o->redact_paths,
                            o->nredact_paths, sizeof(path_pattern), copy_pat,
                            &out->nredact_paths, &ok);
    out->redact_exempt = cat(
        b->redact_exempt, b->nredact_exempt, o->redact_exempt,
        o->nredact_exempt, sizeof(char *), copy_str, &out->nredact_exempt, &ok);
    if (rl_readiness_merge(&out->readiness, b->readiness, o->readiness) != 0 ||
        rl_ids_merge(&out->ids, b->ids, o->ids) != 0)
        ok = false;
    out->faults = cat(b->faults, b->nfaults, o->faults, o->nfaults, sizeof *b->faults,
                      copy_plain_fault, &out->nfaults, &ok);
    const route *fa = o->nfaults ? o : b;
    out->faults_line = fa->faults_line;
    out->faults_col = fa->faults_col;
    if (ok)
        return 0;
    rl_route_free(out);
    memset(out, 0, sizeof *out);
    return -ENOMEM;
}

/* --- the snapshot --------------------------------------------------------- */

static void rules_free(rules *r)
{
    for (size_t i = 0; r->routes && i < r->nroutes; i++)
        rl_route_free(&r->routes[i]);
    free(r->routes);
    rl_route_free(&r->fallback);
    free(r->path);
    free(r);
}

rules *rules_ref(rules *r)
{
    if (r)
        refcount_inc(&r->refs);
    return r;
}

void rules_unref(rules *r)
{
    if (r && refcount_dec(&r->refs))
        rules_free(r);
}

rules *rules_default(void)
{
    rules *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    atomic_init(&r->refs, 1);
    rl_route_init(&r->fallback);
    if (!(r->fallback.name = strdup("default"))) {
        free(r);
        return NULL;
    }
    snprintf(r->version, sizeof r->version, "builtin");
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    r->loaded_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    return r;
}

const route *rules_find(const rules *r, const char *name)
{
    if (!r || !name)
        return NULL;
    for (size_t i = 0; i < r->nroutes; i++)
        if (r->routes[i].name && strcmp(r->routes[i].name, name) == 0)
            return &r->routes[i];
    return strcmp(name, "default") == 0 ? &r->fallback : NULL;
}

/* --- matching (no allocation) --------------------------------------------- */

/* Does the path [p, p+n) start with `prefix` at a segment boundary?
 * "/api/orders" matches "/api/orders" and "/api/orders/7", not
 * "/api/ordersX"; a prefix ending in '/' matches what follows it. */
static bool prefix_at(const char *p, size_t n, const char *prefix)
{
    size_t lp = strlen(prefix);
    return lp <= n && memcmp(p, prefix, lp) == 0 &&
           (lp == n || (lp > 0 && prefix[lp - 1] == '/') || p[lp] == '/');
}

/* Length of the segment at s (up to '/' or end). */
static size_t seglen(const char *s, const char *end)
{
    const char *slash = memchr(s, '/', (size_t)(end - s));
    return (size_t)((slash ? slash : end) - s);
}

/* The next segment's start, or end + 1 after the last one. */
static const char *segnext(const char *s, const char *end)
{
    return s + seglen(s, end) + 1;
}

static bool segis(const char *s, const char *end, const char *lit)
{
    size_t n = seglen(s, end);
    return n == strlen(lit) && memcmp(s, lit, n) == 0;
}

/* Glob over segments: "*" one non-empty segment, "**" any number (zero or
 * more); backtracks on the last "**" only, so linear in practice. Both
 * start with '/'. */
static bool glob_match(const char *g, const char *p, size_t plen)
{
    const char *ge = g + strlen(g), *pe = p + plen;
    const char *gi = g + 1, *pi = p + 1, *star_g = NULL, *star_p = NULL;
    while (pi <= pe) {
        size_t gl = gi <= ge ? seglen(gi, ge) : 0, pl = seglen(pi, pe);
        if (gi <= ge && segis(gi, ge, "**")) {
            star_g = gi;
            star_p = pi;
            gi = segnext(gi, ge);
        } else if (gi <= ge && ((segis(gi, ge, "*") && pl > 0) ||
                                (gl == pl && memcmp(gi, pi, pl) == 0))) {
            gi = segnext(gi, ge);
            pi = segnext(pi, pe);
        } else if (star_g) {
            gi = segnext(star_g, ge);
            pi = star_p = segnext(star_p, pe);
        } else {
            return false;
        }
    }
    while (gi <= ge && segis(gi, ge, "**"))
        gi = segnext(gi, ge);
    return gi > ge;
}

/* Raw name=value pairs split on '&' and the first '='. */
static bool query_match(const char *q, size_t qlen, const char *name,
                        const char *value)
{
    if (!q) /* no query at all (q + qlen would be arithmetic on NULL) */
        return false;
    size_t nn = strlen(name);
    for (const char *s = q, *end = q + qlen; s < end;) {
        const char *amp = memchr(s, '&', (size_t)(end - s)),
                   *pe = amp ? amp : end;
        const char *eq = memchr(s, '=', (size_t)(pe - s)), *ke = eq ? eq : pe;
        if ((size_t)(ke - s) == nn && memcmp(s, name, nn) == 0) {
            const char *v = eq ? eq + 1 : pe;
            if (!value || ((size_t)(pe - v) == strlen(value) &&
                           memcmp(v, value, (size_t)(pe - v)) == 0))
                return true;
        }
        s = pe + 1;
    }
    return false;
}

static bool header_match(const hdr_list *h, const char *name, const char *value)
{
    for (size_t i = 0; h && i < h->n; i++)
        if (hdr_name_eq(hdr_name(h, i), h->f[i].name_len, name) &&
            (!value || strcmp(hdr_value(h, i), value) == 0))
            return true;
    return false;
}

static bool method_in(char *const *list, size_t n, const char *method)
{
    for (size_t i = 0; method && i < n; i++)
        if (strcmp(list[i], method) == 0)
            return true;
    return false;
}

static bool route_matches(const route_match *m, const char *method,
                          const char *path, size_t plen, const char *q,
                          size_t qlen, const hdr_list *headers)
{
    if (m->methods && !method_in(m->methods, m->nmethods, method))
        return false;
    switch (m->path_kind) {
    case PATH_EXACT:
        if (strlen(m->path) != plen || memcmp(m->path, path, plen) != 0)
            return false;
        break;
    case PATH_PREFIX:
        if (!prefix_at(path, plen, m->path))
            return false;
        break;
    case PATH_GLOB: /* never "*" (OPTIONS *) */
        if (*path != '/' || !glob_match(m->path, path, plen))
            return false;
        break;
    case PATH_ANY: break;
    }
    if (m->query_name && !query_match(q, qlen, m->query_name, m->query_value))
        return false;
    return !m->header_name ||
           header_match(headers, m->header_name, m->header_value);
}

/* Used when there is no snapshot at all. */
static const route builtin_route = {.name = (char *)"default",
                                    .authority = -1,
                                    .mirror = true,
                                    .sample_percent = 100};

const route *rules_match(const rules *r, const char *method, const char *target,
                         const hdr_list *headers)
{
    const char *path = target ? target : "", *q = NULL;
    size_t qlen = 0;
    if (!r)
        return &builtin_route;
    if (strncasecmp(path, "http://", 7) == 0 ||
        strncasecmp(path, "https://", 8) == 0) { /* absolute-form */
        path = strchr(path, ':') + 3;
        path += strcspn(path, "/?#");
    }
    size_t plen = strcspn(path, "?#");
    if (path[plen] == '?') {
        q = path + plen + 1;
        qlen = strcspn(q, "#");
    }
    if (plen == 0)
        path = "/", plen = 1;
    for (size_t i = 0; i < r->nroutes; i++)
        if (route_matches(&r->routes[i].match, method, path, plen, q, qlen,
                          headers))
            return &r->routes[i];
    return &r->fallback;
}

/* --- mirroring decisions -------------------------------------------------- */

/* FNV-1a 64 of the id, then MurmurHash3's fmix64 so that every bit of the
 * result depends on every byte (FNV-1a's low bits alone are weak). Part of
 * the documented behaviour: changing it changes which requests a replay
 * samples. */
static uint64_t id_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

bool rules_sampled_at(double percent, const char *request_id)
{
    if (percent >= 100)
        return true;
    if (percent <= 0)
        return false;
    uint64_t bucket = id_hash(request_id ? request_id : "") % 10000;
    return (double)bucket < percent * 100.0;
}

size_t rules_faults_refused(const rules *r, bool faults_enabled, config_errors *errs)
{
    size_t n = 0;
    for (size_t i = 0; !faults_enabled && r && i <= r->nroutes; i++) {
        const route *rt = i < r->nroutes ? &r->routes[i] : &r->fallback;
        bool seen = false; /* faults from "defaults": one error at their place */
        for (size_t j = 0; j < i && !seen; j++)
            seen = r->routes[j].nfaults && r->routes[j].faults_line == rt->faults_line &&
                   r->routes[j].faults_col == rt->faults_col;
        if (!rt->nfaults || seen)
            continue;
        config_errors_add(errs, rt->faults_line, rt->faults_col,
                          "faults (route \"%s\") refused: faults.enabled is false in the "
                          "config. Fault injection is for staging; set \"faults\": "
                          "{\"enabled\": true} in a staging config to allow it",
                          rt->name ? rt->name : "default");
        n++;
    }
    return n;
}

bool rules_sampled(const route *rt, const char *request_id)
{
    return !rt || rules_sampled_at(rt->sample_percent, request_id);
}

bool rules_mirror_method(const route *rt, const char *method)
{
    return !rt || !rt->mirror_methods ||
           method_in(rt->mirror_methods, rt->nmirror_methods, method);
}

bool rules_should_mirror(const route *rt, const char *method,
                         const char *request_id)
{
    return (!rt || rt->mirror) && rules_mirror_method(rt, method) &&
           rules_sampled(rt, request_id);
}

/* --- shadow target rewrite ------------------------------------------------ */

/* [s, s+n) without one trailing '/'. */
static size_t trim_slash(const char *s, size_t n)
{
    return n > 0 && s[n - 1] == '/' ? n - 1 : n;
}

/* The index-th segment of the path [p, p+n) (0 is the first after '/'). */
static const char *seg_at(const char *p, size_t n, size_t index, size_t *len)
{
    const char *s = p + 1, *end = p + n;
    for (; index > 0 && s <= end; index--)
        s = segnext(s, end);
    *len = s <= end ? seglen(s, end) : 0;
    return s;
}

/* Appends the template "to" with its placeholders bound from `from` matched
 * against the path; false when the path does not fit `from`. */
static bool template_apply(const char *from, const char *to, const char *p,
                           size_t plen, char *out, size_t *o)
{
    const char *fe = from + strlen(from), *pe = p + plen, *fs = from + 1,
               *ps = p + 1;
    for (; fs <= fe && ps <= pe; fs = segnext(fs, fe), ps = segnext(ps, pe)) {
        size_t fl = seglen(fs, fe), pl = seglen(ps, pe);
        if (*fs == '{' ? pl == 0 : fl != pl || memcmp(fs, ps, pl) != 0)
            return false;
    }
    if (fs <= fe || ps <= pe)
        return false; /* not the same number of segments */
    const char *te = to + strlen(to);
    for (const char *ts = to + 1; ts <= te; ts = segnext(ts, te)) {
        size_t tl = seglen(ts, te), idx = 0, vl;
        const char *v = ts;
        vl = tl;
        if (*ts == '{') {
            for (fs = from + 1; fs <= fe; fs = segnext(fs, fe), idx++)
                if (seglen(fs, fe) == tl && memcmp(fs, ts, tl) == 0)
                    break;
            v = seg_at(p, plen, idx, &vl);
        }
        out[(*o)++] = '/';
        memcpy(out + *o, v, vl);
        *o += vl;
    }
    return true;
}

char *rules_rewrite_target(const route *rt, const char *target)
{
    const char *t = target ? target : "";
    size_t plen = strcspn(t, "?"), rest = strlen(t + plen);
    size_t tl = rt && rt->template_to ? strlen(rt->template_to) : 0;
    size_t pl = rt && rt->prefix_to ? strlen(rt->prefix_to) : 0;
    /* Upper bound: every "to" segment could be the whole path. */
    char *out = malloc(pl + tl * (plen + 2) + plen + rest + 2);
    size_t o = 0;
    if (!out)
        return NULL;
    if (rt && rt->prefix_from && prefix_at(t, plen, rt->prefix_from)) {
        size_t skip = trim_slash(rt->prefix_from, strlen(rt->prefix_from));
        size_t keep = trim_slash(rt->prefix_to, pl);
        memcpy(out, rt->prefix_to, keep);
        memcpy(out + keep, t + skip, plen - skip);
        o = keep + plen - skip;
        if (o == 0)
            out[o++] = '/';
    } else if (!(rt && rt->template_from && rt->template_to &&
                 template_apply(rt->template_from, rt->template_to, t, plen,
                                out, &o))) {
        memcpy(out, t, plen);
        o = plen;
    }
    memcpy(out + o, t + plen, rest + 1);
    return out;
}
