/* redact: the redaction half of record.h. Decides what is a secret (header
 * names, field names, per-route path patterns) and produces redacted copies
 * of JSON trees, form text and XML text. Pure: no I/O, no globals.
 *
 *   field names   a secret family's (base/secret.h: "currentPassword",
 *                 "cc_cid", "X-Api-Key"), or one of redact_fields, exact
 *                 and ASCII case-insensitive; a leading '@' (XML
 *                 attribute, "@{uri}" too) is ignored, and "a[b][c]" (PHP
 *                 form keys) matches if any of a, b, c does
 *   values        a string or integer that is a payment card number
 *                 (Luhn), whatever its name, unless its name exempts it
 *   path patterns pathpat.h globs over the tree's JSON Pointer. "Strict"
 *                 for JSON bodies. "Lenient" for XML and form trees, where
 *                 a single element has no index but several have one (and
 *                 xmltree_align may add one later): a path segment that is
 *                 an index may be skipped, and a pattern segment "*", an
 *                 index or "#text" may match nothing. Lenient matching can
 *                 only redact more, never less. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diff/record.h"
#include "base/strbuf.h"
#include "diff/xmltree.h"

/* ---- names -------------------------------------------------------------- */

static char ascii_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Does s[0..n) equal f, ignoring ASCII case? */
static bool ci_eq(const char *s, size_t n, const char *f)
{
    for (size_t i = 0; i < n; i++, f++)
        if (*f == '\0' || ascii_lower(s[i]) != ascii_lower(*f))
            return false;
    return *f == '\0';
}

static bool listed(const char *s, size_t n, const record_opts *o)
{
    for (size_t i = 0; i < o->nredact_fields; i++)
        if (o->redact_fields[i] && ci_eq(s, n, o->redact_fields[i]))
            return true;
    return false;
}

static const secret_policy *policy_of(const record_opts *o)
{
    return o ? &o->secrets : NULL;
}

bool redact_header_name(const char *name, const record_opts *o)
{
    return secret_header_name(name, policy_of(o));
}

bool redact_field_name(const char *name, const record_opts *o)
{
    if (!name)
        return false;
    if (name[0] == '@') { /* an XML attribute: "@name", "@{uri}name" */
        name++;
        const char *close = name[0] == '{' ? strchr(name, '}') : NULL;
        if (close)
            name = close + 1;
    }
    if (secret_name(name, strlen(name), policy_of(o)))
        return true;
    if (!o || o->nredact_fields == 0)
        return false;
    if (listed(name, strlen(name), o))
        return true;
    if (!strchr(name, '['))
        return false;
    for (const char *p = name; *p;) { /* "login[password]" */
        size_t k = strcspn(p, "[]");
        if (k && listed(p, k, o))
            return true;
        p += k + (p[k] != '\0');
    }
    return false;
}

bool redact_card_value(const json_t *v, const char *name,
                       const record_opts *o)
{
    if (json_is_string(v))
        return secret_card_value(name, json_string_value(v),
                                 json_string_length(v), policy_of(o));
    if (json_is_integer(v)) {
        char d[24];
        int k = snprintf(d, sizeof d, "%" JSON_INTEGER_FORMAT,
                         json_integer_value(v));
        return k > 0 && secret_card_value(name, d, (size_t)k, policy_of(o));
    }
    return false;
}

/* Text that carries markup ("<Login><Password>..." in a CDATA section or
 * escaped, as SOAP services nest documents): does it mention a secret?
 * Prose without a '<' is not scanned. */
static bool markup_secret(const json_t *v, const record_opts *o)
{
    const char *s = json_string_value(v);
    size_t n = s ? json_string_length(v) : 0;
    return s && memchr(s, '<', n) &&
           redact_may_hold_secret((const unsigned char *)s, n, o);
}

/* ---- path patterns ------------------------------------------------------ */

static bool is_index(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

/* May this pattern segment match nothing (lenient)? */
static bool optional_seg(const char *s)
{
    return strcmp(s, "*") == 0 || strcmp(s, "#text") == 0 || is_index(s);
}

/* Does p match segs[0..n) (prefix: or some prefix of it)? Dynamic
 * programming over (pattern segment, path segment), one row at a time:
 * O(pattern x path), never exponential. Fails closed (true) on ENOMEM. */
static bool pattern_hits(const path_pattern *p, const char *const *segs,
                         size_t n, bool lenient, bool prefix)
{
    bool *next = malloc(2 * (n + 1) * sizeof *next), *cur;
    if (!next)
        return true;
    cur = next + n + 1;
    /* row for the end of the pattern: the rest of the path must be empty,
     * or skippable indices, or anything at all for a prefix match */
    next[n] = true;
    for (size_t j = n; j-- > 0;)
        next[j] = prefix || (lenient && is_index(segs[j]) && next[j + 1]);
    for (size_t i = p->nsegs; i-- > 0;) {
        const char *ps = p->segs[i];
        bool any = strcmp(ps, "**") == 0, one = strcmp(ps, "*") == 0;
        bool opt = lenient && optional_seg(ps);
        for (size_t j = n + 1; j-- > 0;) {
            bool v = false;
            if (any)
                v = next[j] || (j < n && cur[j + 1]);
            else if (j < n && (one || strcmp(ps, segs[j]) == 0))
                v = next[j + 1];
            if (!v && opt)
                v = next[j];
            if (!v && lenient && j < n && is_index(segs[j]))
                v = cur[j + 1];
            cur[j] = v;
        }
        bool *t = next;
        next = cur;
        cur = t;
    }
    bool hit = next[0];
    free(next < cur ? next : cur);
    return hit;
}

bool redact_at(const record_opts *o, const char *name,
               const char *const *segs, size_t nsegs, bool lenient)
{
    if (!o)
        return false;
    if (name && redact_field_name(name, o))
        return true;
    for (size_t i = 0; i < o->nredact_paths; i++)
        if (pattern_hits(&o->redact_paths[i], segs, nsegs, lenient, false))
            return true;
    return false;
}

bool redact_path_in(const char *pointer, const record_opts *o, bool lenient)
{
    if (!pointer || !o || (*pointer && *pointer != '/'))
        return false;
    char **segs = NULL;
    int n = pointer_split(pointer, &segs);
    if (n < 0)
        return true; /* malformed, or ENOMEM: fail closed */
    bool hit = false;
    for (int i = 0; i < n && !hit; i++)
        hit = redact_field_name(segs[i], o);
    for (size_t i = 0; i < o->nredact_paths && !hit; i++)
        hit = pattern_hits(&o->redact_paths[i], (const char *const *)segs,
                           (size_t)n, lenient, true);
    pointer_segs_free(segs, n);
    return hit;
}

bool redact_path(const char *pointer, const record_opts *o)
{
    return redact_path_in(pointer, o, false);
}

/* ---- walking a JSON tree with its path ---------------------------------- */

typedef struct walk {
    const record_opts *o;
    bool lenient;
    bool track;   /* paths only matter when there are path patterns */
    bool oom;     /* a path could not be built: everything is a secret */
    const char **segs;
    char **own;   /* what to free per level (index strings), or NULL */
    size_t n, cap;
} walk;

static bool w_push(walk *w, const char *seg, char *own)
{
    if (!w->track)
        return true;
    if (w->n == w->cap) {
        size_t c = w->cap ? w->cap * 2 : 16;
        const char **s = realloc(w->segs, c * sizeof *s);
        if (s)
            w->segs = s;
        char **ow = s ? realloc(w->own, c * sizeof *ow) : NULL;
        if (ow)
            w->own = ow;
        if (!s || !ow) {
            free(own);
            w->oom = true;
            return false;
        }
        w->cap = c;
    }
    w->segs[w->n] = seg;
    w->own[w->n++] = own;
    return true;
}

static bool w_push_index(walk *w, size_t i)
{
    if (!w->track)
        return true;
    char *s = malloc(24);
    if (!s) {
        w->oom = true;
        return false;
    }
    snprintf(s, 24, "%zu", i);
    return w_push(w, s, s);
}

static void w_pop(walk *w, bool pushed)
{
    if (w->track && pushed)
        free(w->own[--w->n]);
}

/* Starts at `pointer` ("" is the root). */
static void w_init(walk *w, const record_opts *o, const char *pointer,
                   bool lenient)
{
    memset(w, 0, sizeof *w);
    w->o = o;
    w->lenient = lenient;
    w->track = o->nredact_paths > 0;
    if (!w->track || !pointer || !*pointer)
        return;
    char **segs = NULL;
    int n = pointer_split(pointer, &segs);
    if (n < 0) {
        w->oom = true;
        return;
    }
    for (int i = 0; i < n; i++)
        if (!w_push(w, segs[i], segs[i]))
            segs[i] = NULL; /* freed by w_push */
    free(segs);
}

static void w_free(walk *w)
{
    while (w->track && w->n)
        w_pop(w, true);
    free(w->segs);
    free(w->own);
}

/* Is the node at the current path, reached through member `name` (NULL
 * for an array item), a secret? */
static bool w_secret(walk *w, const char *name, bool pushed)
{
    if (name && redact_field_name(name, w->o))
        return true;
    if (!w->track)
        return false;
    return w->oom || !pushed ||
           redact_at(w->o, NULL, w->segs, w->n, w->lenient);
}

/* `owner`: the name of the member v belongs to (an array's items belong
 * to the array's member), for the card-number check of scalars. */
static bool has_secret(const json_t *v, walk *w, const char *owner)
{
    json_t *m = (json_t *)v; /* jansson's iterators take non-const */
    bool hit = false;
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v) && !hit; i++) {
            bool p = w_push_index(w, i);
            hit = w_secret(w, NULL, p) ||
                  has_secret(json_array_get(v, i), w, owner);
            w_pop(w, p);
        }
    } else if (json_is_object(v)) {
        for (void *it = json_object_iter(m); it && !hit;
             it = json_object_iter_next(m, it)) {
            const char *key = json_object_iter_key(it);
            bool p = w_push(w, key, NULL);
            hit = w_secret(w, key, p) ||
                  has_secret(json_object_iter_value(it), w, key);
            w_pop(w, p);
        }
    } else {
        hit = redact_card_value(v, owner, w->o) ||
              (w->lenient && markup_secret(v, w->o));
    }
    return hit;
}

/* The replacement for a secret. Never NULL: under memory pressure the
 * secret becomes null rather than staying in place. */
static json_t *redacted(void)
{
    json_t *s = json_string(RECORD_REDACTED);
    return s ? s : json_null();
}

/* The children of v that are secrets, or card numbers, replaced. */
static void redact_in(json_t *v, walk *w, const char *owner)
{
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            bool p = w_push_index(w, i);
            json_t *item = json_array_get(v, i);
            if (w_secret(w, NULL, p) || redact_card_value(item, owner, w->o) ||
                (w->lenient && markup_secret(item, w->o)))
                json_array_set_new(v, i, redacted());
            else
                redact_in(item, w, owner);
            w_pop(w, p);
        }
    } else if (json_is_object(v)) {
        for (void *it = json_object_iter(v); it;
             it = json_object_iter_next(v, it)) {
            const char *key = json_object_iter_key(it);
            json_t *m = json_object_iter_value(it);
            bool p = w_push(w, key, NULL);
            if (w_secret(w, key, p) || redact_card_value(m, key, w->o) ||
                (w->lenient && markup_secret(m, w->o)))
                json_object_iter_set_new(v, it, redacted());
            else
                redact_in(m, w, key);
            w_pop(w, p);
        }
    }
}

void redact_json(json_t *v, const record_opts *o)
{
    if (!o)
        return;
    walk w;
    w_init(&w, o, "", false);
    redact_in(v, &w, NULL);
    w_free(&w);
}

bool redact_tree_has_secret(const json_t *v, const record_opts *o,
                            bool lenient)
{
    if (!o || !v)
        return false;
    walk w;
    w_init(&w, o, "", lenient);
    bool hit = (w.track && redact_at(o, NULL, NULL, 0, lenient)) ||
               has_secret(v, &w, NULL);
    w_free(&w);
    return hit;
}

json_t *redact_copy(json_t *v, const char *pointer, const record_opts *o,
                    bool lenient)
{
    if (!o)
        return json_incref(v);
    walk w;
    w_init(&w, o, pointer, lenient);
    char **segs = NULL;
    int ns = pointer && *pointer ? pointer_split(pointer, &segs) : 0;
    const char *owner = NULL; /* the last member name: "/cards/0" -> cards */
    for (int i = ns; i-- > 0 && !owner;)
        if (!is_index(segs[i]))
            owner = segs[i];
    json_t *c;
    if (w.track && (w.oom || redact_at(o, NULL, w.segs, w.n, lenient))) {
        c = redacted(); /* the value itself is at a redacted path */
    } else if (redact_card_value(v, owner, o) ||
               (lenient && markup_secret(v, o))) {
        c = redacted(); /* a card number, as a difference's value */
    } else if (!has_secret(v, &w, owner)) {
        c = json_incref(v);
    } else {
        c = json_deep_copy(v);
        if (c)
            redact_in(c, &w, owner);
    }
    if (ns > 0)
        pointer_segs_free(segs, ns);
    w_free(&w);
    return c;
}

/* ---- JSON lines --------------------------------------------------------- */

static bool line_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\x1e'; /* RS: json-seq */
}

/* One line (without its '\n') appended: as received when it holds no
 * secret, else its JSON re-serialized with the secrets replaced, between
 * the line's own leading and trailing blanks. *bad: it is not JSON. */
static void json_line_add(strbuf *b, const char *s, size_t n,
                          const record_opts *o, bool *bad)
{
    size_t lead = 0, end = n;
    while (lead < n && line_space(s[lead]))
        lead++;
    while (end > lead && line_space(s[end - 1]))
        end--;
    json_error_t err;
    json_t *v = lead == end ? NULL
                            : json_loadb(s + lead, end - lead,
                                         JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    if (!v && lead != end) {
        b->oom |= json_error_code(&err) == json_error_out_of_memory;
        *bad = true;
    }
    json_t *r = v ? redact_copy(v, "", o, false) : NULL;
    char *text = r && r != v ? json_dumps(r, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    if (v && (!r || (r != v && !text)))
        b->oom = true;
    if (text) {
        strbuf_add(b, s, lead);
        strbuf_add(b, text, strlen(text));
        strbuf_add(b, s + end, n - end);
    } else {
        strbuf_add(b, s, n);
    }
    free(text);
    json_decref(r);
    json_decref(v);
}

int redact_json_lines_text(const unsigned char *data, size_t len,
                           const record_opts *o, char **out, size_t *out_len)
{
    strbuf b = {0};
    bool bad = false;
    const char *s = (const char *)data;
    *out = NULL;
    for (size_t at = 0; data && at < len && !b.oom && !bad;) {
        const char *nl = memchr(s + at, '\n', len - at);
        size_t n = nl ? (size_t)(nl - (s + at)) : len - at;
        json_line_add(&b, s + at, n, o, &bad);
        if (nl)
            strbuf_add(&b, "\n", 1);
        at += n + (nl != NULL);
    }
    if (b.oom || bad) {
        free(b.p);
        return b.oom ? -ENOMEM : -EINVAL;
    }
    *out = b.p ? b.p : strdup("");
    *out_len = b.len;
    return *out ? 0 : -ENOMEM;
}

/* ---- form text ---------------------------------------------------------- */


/* Is this occurrence (index k of the key) of a form pair a secret? The tree
 * has "/key" for a key sent once and "/key/<k>" for one sent repeatedly. */
static bool form_pair_secret(const char *key, const json_t *tree, json_t *seen,
                             const record_opts *o)
{
    const char *segs[2] = {key, NULL};
    char idx[24];
    if (redact_at(o, key, segs, 1, true))
        return true;
    if (!json_is_array(json_object_get(tree, key)))
        return false;
    json_int_t k = json_integer_value(json_object_get(seen, key));
    if (json_object_set_new(seen, key, json_integer(k + 1)) != 0)
        return true;
    snprintf(idx, sizeof idx, "%lld", (long long)k);
    segs[1] = idx;
    return redact_at(o, NULL, segs, 2, true);
}

int redact_form_text(const unsigned char *data, size_t len,
                     const json_t *tree, const record_opts *o, char **out,
                     size_t *out_len)
{
    strbuf b = {0};
    json_t *seen = json_object();
    size_t pos = 0;
    body_form_pair p;
    b.oom = seen == NULL;
    while (!b.oom && body_form_next(data, len, &pos, &p)) {
        size_t kl;
        char *key = body_form_decode(p.key, p.key_len, true, &kl);
        if (!key) {
            b.oom = true;
            break;
        }
        bool secret = form_pair_secret(key, tree, seen, o);
        if (!secret && p.has_eq) { /* a card number under any name */
            size_t vl;
            char *val = body_form_decode(p.value, p.value_len, false, &vl);
            secret = !val || secret_card_value(key, val, vl, policy_of(o));
            free(val);
        }
        free(key);
        if (b.len)
            strbuf_add(&b, "&", 1);
        strbuf_add(&b, p.key, p.key_len);
        if (p.has_eq)
            strbuf_add(&b, "=", 1);
        if (p.has_eq && secret)
            strbuf_add(&b, RECORD_REDACTED, strlen(RECORD_REDACTED));
        else
            strbuf_add(&b, p.value, p.value_len);
    }
    json_decref(seen);
    if (b.oom) {
        free(b.p);
        return -ENOMEM;
    }
    *out = b.p ? b.p : strdup("");
    *out_len = b.len;
    return *out ? 0 : -ENOMEM;
}

/* ---- XML text ----------------------------------------------------------- */

static bool xml_secret(void *ctx, const char *name, const char *const *segs,
                       size_t nsegs)
{
    return redact_at(ctx, name, segs, nsegs, true);
}

/* Text of an element or attribute named `name`: a card number? A comment
 * or CDATA section (free): does it mention a secret at all? */
static bool xml_secret_text(void *ctx, const char *name, const char *text,
                            bool free_text)
{
    const record_opts *o = ctx;
    size_t n = strlen(text);
    if (free_text || memchr(text, '<', n)) /* markup: see markup_secret */
        return redact_may_hold_secret((const unsigned char *)text, n, o);
    if (name && name[0] == '@')
        name++;
    return secret_card_value(name, text, n, policy_of(o));
}

int redact_xml_text(const unsigned char *data, size_t len,
                    const record_opts *o, char **out, size_t *out_len)
{
    const xmltree_redactor r = {.is_secret = xml_secret,
                                .is_secret_text = xml_secret_text,
                                .ctx = (void *)o,
                                .replacement = RECORD_REDACTED};
    return xmltree_redact(data, len, &r, out, out_len);
}

/* Comments and CDATA sections are not in the tree: does one mention a
 * secret (a SOAP payload carried as escaped XML, a password in a note)? */
bool redact_xml_aside_has_secret(const unsigned char *data, size_t len,
                                 const record_opts *o)
{
    static const struct { const char *open, *close; } kinds[] = {
        {"<!--", "-->"}, {"<![CDATA[", "]]>"}};
    const char *s = (const char *)data;
    for (size_t k = 0; data && k < 2; k++) {
        size_t ol = strlen(kinds[k].open);
        for (const char *p = memmem(s, len, kinds[k].open, ol); p;) {
            size_t at = (size_t)(p - s) + ol;
            const char *e = memmem(s + at, len - at, kinds[k].close,
                                   strlen(kinds[k].close));
            size_t n = (e ? (size_t)(e - s) : len) - at;
            if (redact_may_hold_secret(data + at, n, o))
                return true;
            if (!e)
                break;
            at = (size_t)(e - s);
            p = memmem(s + at, len - at, kinds[k].open, ol);
        }
    }
    return false;
}

/* ---- multipart/form-data ------------------------------------------------ */

/* The boundary line's length ("--B", without CRLF) when data starts like a
 * multipart body ("--B\r\n" then a part with Content-Disposition), else 0.
 * By content: the record does not know the body's Content-Type. */
static size_t multipart_delim(const unsigned char *data, size_t len)
{
    const char *s = (const char *)data;
    if (len < 4 || s[0] != '-' || s[1] != '-')
        return 0;
    const char *eol = memmem(s, len < 80 ? len : 80, "\r\n", 2);
    if (!eol || eol - s < 3)
        return 0;
    size_t d = (size_t)(eol - s);
    const char *head_end = memmem(eol, len - d, "\r\n\r\n", 4);
    size_t hn = head_end ? (size_t)(head_end - eol) : 0;
    for (size_t i = 0; i + 20 <= hn; i++)
        if (ci_eq(eol + i, 20, "content-disposition:"))
            return d;
    return 0;
}

/* The part's name="..." from its headers h[0..n), malloc'd; NULL if none
 * (or ENOMEM: *oom). "filename=" is not "name=". */
static char *part_name(const char *h, size_t n, bool *oom)
{
    for (size_t i = 1; i + 6 <= n; i++) {
        if ((h[i - 1] != ' ' && h[i - 1] != ';') || !ci_eq(h + i, 6, "name=\""))
            continue;
        const char *v = h + i + 6, *e = memchr(v, '"', n - i - 6);
        if (!e)
            return NULL;
        char *name = strndup(v, (size_t)(e - v));
        *oom = !name;
        return name;
    }
    return NULL;
}

int redact_multipart_text(const unsigned char *data, size_t len,
                          const record_opts *o, char **out, size_t *out_len)
{
    size_t d = multipart_delim(data, len);
    const char *s = (const char *)data;
    *out = NULL;
    if (d == 0)
        return -EINVAL;
    strbuf b = {0};
    size_t at = 0; /* at a delimiter line "--B" */
    bool oom = false, done = false;
    while (!done && !oom && !b.oom) {
        strbuf_add(&b, s + at, d);
        at += d;
        if (len - at >= 2 && memcmp(s + at, "--", 2) == 0) { /* the last */
            strbuf_add(&b, s + at, len - at);
            done = true;
            break;
        }
        const char *head_end = memmem(s + at, len - at, "\r\n\r\n", 4);
        const char *next = head_end ? memmem(head_end + 4, len - (size_t)(head_end + 4 - s),
                                             s, d) : NULL;
        if (!next || next - s < 2 || memcmp(next - 2, "\r\n", 2) != 0)
            break; /* not well formed: the caller decides */
        size_t hs = at, vs = (size_t)(head_end - s) + 4, ve = (size_t)(next - s) - 2;
        char *name = part_name(s + hs, vs - hs, &oom);
        bool secret = oom || (name && redact_field_name(name, o)) ||
                      secret_card_value(name, s + vs, ve - vs, policy_of(o));
        free(name);
        strbuf_add(&b, s + hs, vs - hs);
        if (secret)
            strbuf_add(&b, RECORD_REDACTED, strlen(RECORD_REDACTED));
        else
            strbuf_add(&b, s + vs, ve - vs);
        strbuf_add(&b, "\r\n", 2);
        at = (size_t)(next - s);
    }
    if (!done || oom || b.oom) {
        free(b.p);
        return oom || b.oom ? -ENOMEM : -EINVAL;
    }
    *out = b.p;
    *out_len = b.len;
    return 0;
}

bool redact_is_multipart(const unsigned char *data, size_t len)
{
    return data && multipart_delim(data, len) > 0;
}

/* ---- bodies that did not parse ------------------------------------------ */

/* Case-insensitive search for the ASCII needle in the bytes. */
static bool ci_contains(const unsigned char *h, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    if (m == 0 || m > n)
        return m == 0;
    for (size_t i = 0; i + m <= n; i++)
        if (ci_eq((const char *)h + i, m, needle))
            return true;
    return false;
}

bool redact_may_hold_secret(const unsigned char *data, size_t len,
                            const record_opts *o)
{
    if (!data)
        return false;
    if (secret_text_may_hold((const char *)data, len, policy_of(o)))
        return true;
    if (!o)
        return false;
    for (size_t i = 0; i < o->nredact_fields; i++)
        if (o->redact_fields[i] && ci_contains(data, len, o->redact_fields[i]))
            return true;
    for (size_t i = 0; i < o->nredact_paths; i++) {
        const path_pattern *p = &o->redact_paths[i];
        const char *name = NULL;
        for (size_t k = p->nsegs; k-- > 0 && !name;)
            if (strcmp(p->segs[k], "**") != 0 && !optional_seg(p->segs[k]))
                name = p->segs[k];
        if (!name)
            return true; /* only wildcards: no name to look for */
        if (name[0] == '@')
            name++;
        if (ci_contains(data, len, name))
            return true;
    }
    return false;
}
