/* secret: secret names by families of stems, card numbers by Luhn, and
 * the places they are looked for outside a parsed body (header names,
 * free text, a URI's query). See secret.h. */
#include "base/secret.h"

#include <assert.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/strbuf.h"

static const char *const family_names[] = {
#define SECRET_NAME(e, s) s,
    SECRET_FAMILY_LIST(SECRET_NAME)
#undef SECRET_NAME
};

const char *secret_family_name(secret_family f)
{
    return f >= 0 && f < SECRET_NFAMILIES ? family_names[f] : NULL;
}

/* ---- names as words ----------------------------------------------------- */

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
static bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
static bool is_alnum(char c) { return is_digit(c) || is_upper(c) || is_lower(c); }
static bool is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
static char lower(char c) { return is_upper(c) ? (char)(c - 'A' + 'a') : c; }

/* A name's letters and digits, lower-cased and joined, with where its
 * words start and end ("cardNumber": "cardnumber", starts 0 and 4). */
typedef struct words {
    char *j;               /* joined, NUL-terminated */
    unsigned char *start;  /* start[i]: a word starts at j[i] */
    unsigned char *end;    /* end[i]: a word ends after j[i] */
    size_t n;
    char small[128];
    unsigned char small_flags[2 * 128];
    void *heap;
} words;

/* false on ENOMEM only. */
static bool words_split(words *w, const char *s, size_t n)
{
    w->heap = NULL;
    w->j = w->small;
    w->start = w->small_flags;
    if (n >= sizeof w->small) {
        w->heap = malloc(3 * (n + 1));
        if (!w->heap)
            return false;
        w->j = w->heap;
        w->start = (unsigned char *)w->heap + n + 1;
    }
    w->end = w->start + (w->heap ? n + 1 : sizeof w->small);
    w->n = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!is_alnum(c)) {
            if (w->n)
                w->end[w->n - 1] = 1;
            continue;
        }
        char prev = i ? s[i - 1] : '\0', next = i + 1 < n ? s[i + 1] : '\0';
        /* a new word: after a separator, at a hump ("fooBar"), or at the
         * last capital of a run before a lower-case letter ("APIKey") */
        bool hump = (is_lower(prev) && is_upper(c)) ||
                    (is_upper(prev) && is_upper(c) && is_lower(next));
        bool starts = !is_alnum(prev) || hump;
        if (starts && w->n)
            w->end[w->n - 1] = 1;
        w->start[w->n] = starts;
        w->end[w->n] = 0;
        w->j[w->n++] = lower(c);
    }
    if (w->n)
        w->end[w->n - 1] = 1;
    w->j[w->n] = '\0';
    return true;
}

static void words_free(words *w)
{
    free(w->heap);
}

typedef enum anchor {
    ANY,   /* anywhere: long, distinctive stems ("password", "apikey") */
    START, /* from a word's start: "cardnumber" in "credit_card_number" */
    WORD,  /* whole words: "cid" in "cc_cid", not in "cidr" or "decided" */
    END    /* to a word's end, or a plural 's': "accesstoken", "tokens",
            * not "tokenized" */
} anchor;

typedef struct stem {
    const char *s;
    anchor at;
} stem;

/* Short stems are anchored to words: a false positive hides an order's
 * field from the person reading the log, so "pan", "cid" and "auth" must
 * not fire inside "company", "cidr" or "author". */
static const stem password_stems[] = {{"password", ANY}, {"passwd", ANY},
    {"passphrase", ANY}, {"pwd", END}, {"pin", WORD}, {NULL, ANY}};
static const stem secret_stems[] = {{"secret", ANY}, {"privatekey", ANY},
    {NULL, ANY}};
/* Bearer values that are not called tokens: Magento's CSRF "form_key", a
 * session id ("X-Session-Id"), Braintree's "payment_method_nonce". */
static const stem token_stems[] = {{"token", END}, {"jwt", WORD},
    {"formkey", WORD}, {"sessionid", WORD}, {"methodnonce", END}, {NULL, ANY}};
static const stem api_key_stems[] = {{"apikey", ANY}, {NULL, ANY}};
static const stem auth_stems[] = {{"auth", WORD}, {"authorization", WORD},
    {NULL, ANY}};
static const stem cvv_stems[] = {{"cvv", START}, {"cvc", START},
    {"cid", WORD}, {"cvn", WORD}, {"csc", WORD}, {"securitycode", ANY},
    {"cardcode", START}, {NULL, ANY}};
static const stem card_number_stems[] = {{"cardnumber", START},
    {"ccnumber", START}, {"ccnum", WORD}, {"cardno", WORD}, {"pan", WORD},
    {NULL, ANY}};

/* Personal data the red-team found in clear: a social security number, a
 * bank account (IBAN). */
static const stem personal_stems[] = {{"ssn", WORD}, {"iban", WORD},
    {"socialsecuritynumber", ANY}, {NULL, ANY}};

static const stem *const family_stems[SECRET_NFAMILIES] = {
    [SECRET_PASSWORD] = password_stems, [SECRET_SECRET] = secret_stems,
    [SECRET_TOKEN] = token_stems,       [SECRET_API_KEY] = api_key_stems,
    [SECRET_AUTH] = auth_stems,         [SECRET_CVV] = cvv_stems,
    [SECRET_CARD_NUMBER] = card_number_stems, [SECRET_PERSONAL] = personal_stems,
};

static bool stem_at(const words *w, const stem *st, size_t i, size_t m)
{
    size_t e = i + m - 1; /* the stem's last byte */
    switch (st->at) {
    case ANY:
        return true;
    case START:
        return w->start[i];
    case WORD:
        return w->start[i] && w->end[e];
    case END:
        return w->end[e] ||
               (e + 1 < w->n && w->j[e + 1] == 's' && w->end[e + 1]);
    }
    return false;
}

static bool stem_in(const words *w, const stem *st)
{
    size_t m = strlen(st->s);
    for (const char *p = w->j; (p = strstr(p, st->s)) != NULL; p++)
        if (stem_at(w, st, (size_t)(p - w->j), m))
            return true;
    return false;
}

static bool family_in(const words *w, secret_family f)
{
    for (const stem *st = family_stems[f]; st && st->s; st++)
        if (stem_in(w, st))
            return true;
    return false;
}

/* The stems by their first letter, built once (every stem is lower-case
 * letters): one pass over a name's joined words finds every family at
 * once, where family_in costs one strstr per stem (about 30 per name,
 * 27,000 instructions per diff-log record on 2026-12-07). */
#define STEMS_PER_LETTER 16
typedef struct stem_ref {
    const stem *st;
    unsigned char len;
    unsigned char family;
} stem_ref;
static struct {
    stem_ref by_letter[26][STEMS_PER_LETTER];
    unsigned char n[26];
} stem_index;
static pthread_once_t stem_index_once = PTHREAD_ONCE_INIT;

static void stem_index_build(void)
{
    for (int f = 0; f < SECRET_NFAMILIES; f++)
        for (const stem *st = family_stems[f]; st && st->s; st++) {
            size_t len = strlen(st->s);
            assert(is_lower(st->s[0]) && len >= 2 && len < 256);
            unsigned k = (unsigned)(st->s[0] - 'a');
            assert(stem_index.n[k] < STEMS_PER_LETTER);
            stem_index.by_letter[k][stem_index.n[k]++] =
                (stem_ref){.st = st, .len = (unsigned char)len, .family = (unsigned char)f};
        }
}

/* Bit f set: family f has a stem in w where its anchor allows. The same
 * answer as family_in for every family (tests/unit/test_secret.c). */
static unsigned families_in(const words *w)
{
    unsigned found = 0;
    pthread_once(&stem_index_once, stem_index_build);
    for (size_t i = 0; i < w->n; i++) {
        char c = w->j[i];
        if (!is_lower(c))
            continue;
        unsigned k = (unsigned)(c - 'a');
        for (unsigned e = 0; e < stem_index.n[k]; e++) {
            const stem_ref *r = &stem_index.by_letter[k][e];
            if ((found >> r->family) & 1u || i + r->len > w->n ||
                w->j[i + 1] != r->st->s[1] || /* most names part here */
                memcmp(w->j + i, r->st->s, r->len) != 0)
                continue;
            if (stem_at(w, r->st, i, r->len))
                found |= 1u << r->family;
        }
    }
    return found;
}

/* ---- exemptions --------------------------------------------------------- */

static secret_family family_of_prefix(const char *entry, const char **rest)
{
    const char *colon = strchr(entry, ':');
    if (!colon)
        return SECRET_NONE;
    size_t k = (size_t)(colon - entry);
    for (int f = 0; f < SECRET_NFAMILIES; f++)
        if (strlen(family_names[f]) == k && memcmp(entry, family_names[f], k) == 0) {
            *rest = colon + 1;
            return (secret_family)f;
        }
    return SECRET_NONE;
}

const char *secret_exempt_problem(const char *entry)
{
    const char *rest = NULL;
    if (!entry || !strchr(entry, ':'))
        return "must be FAMILY:NAME, e.g. \"token:token_type\"";
    if (family_of_prefix(entry, &rest) == SECRET_NONE)
        return "names no family (password, secret, token, api_key, auth, cvv, "
               "card_number, personal, luhn)";
    bool any = false;
    for (const char *p = rest; *p; p++)
        any |= is_alnum(*p);
    if (!any && strcmp(rest, "*") != 0)
        return "needs a field name (or \"*\") after the ':'";
    return NULL;
}

/* Does the exemption's name equal w's joined words? Compared the same
 * way: only letters and digits, case-insensitive. */
static bool same_joined(const char *name, const char *j)
{
    for (;; name++) {
        if (*name && !is_alnum(*name))
            continue;
        if (lower(*name) != *j)
            return false;
        if (!*name)
            return true;
        j++;
    }
}

/* Is family f exempt for a name whose joined words are j (and, for a
 * PHP-style key "a[b]", whose last part's are last)? */
static bool exempt(const secret_policy *p, secret_family f, const char *j,
                   const char *last)
{
    for (size_t i = 0; p && i < p->nexempt; i++) {
        const char *rest = NULL;
        if (!p->exempt[i] || family_of_prefix(p->exempt[i], &rest) != f)
            continue;
        if (strcmp(rest, "*") == 0 || same_joined(rest, j) ||
            (last && same_joined(rest, last)))
            return true;
    }
    return false;
}

/* The last "[part]" of a PHP-style key, joined; NULL when there is none. */
static bool last_part(const char *name, size_t n, words *w)
{
    if (n == 0 || name[n - 1] != ']')
        return false;
    size_t open = n - 1;
    while (open > 0 && name[open - 1] != '[')
        open--;
    if (open == 0)
        return false;
    return words_split(w, name + open, n - 1 - open);
}

/* The first family found in name's words and not exempt: by the stem
 * index (families_in), or stem by stem (family_in, the reference). */
static secret_family name_family_with(const char *name, size_t n, const secret_policy *p,
                                      bool by_stems_one_by_one)
{
    words w, last;
    if (!name)
        return SECRET_NONE;
    if (!words_split(&w, name, n))
        return SECRET_PASSWORD; /* ENOMEM: fail closed */
    bool has_last = last_part(name, n, &last);
    unsigned found = by_stems_one_by_one ? 0 : families_in(&w);
    secret_family hit = SECRET_NONE;
    for (int f = 0; f < SECRET_LUHN && hit == SECRET_NONE; f++)
        if ((by_stems_one_by_one ? family_in(&w, (secret_family)f) : ((found >> f) & 1u)) &&
            !exempt(p, (secret_family)f, w.j, has_last ? last.j : NULL))
            hit = (secret_family)f;
    if (has_last)
        words_free(&last);
    words_free(&w);
    return hit;
}

secret_family secret_name_family(const char *name, size_t n,
                                 const secret_policy *p)
{
    return name_family_with(name, n, p, false);
}

secret_family secret_name_family_by_strstr(const char *name, size_t n,
                                           const secret_policy *p)
{
    return name_family_with(name, n, p, true);
}

bool secret_name(const char *name, size_t n, const secret_policy *p)
{
    return secret_name_family(name, n, p) != SECRET_NONE;
}

/* ---- card numbers ------------------------------------------------------- */

bool secret_card_number(const char *s, size_t n)
{
    char d[19];
    size_t nd = 0;
    if (!s)
        return false;
    while (n && is_space(s[n - 1]))
        n--;
    while (n && is_space(*s))
        s++, n--;
    for (size_t i = 0; i < n; i++) {
        if (is_digit(s[i])) {
            if (nd == sizeof d)
                return false;
            d[nd++] = s[i];
        } else if (!((s[i] == ' ' || s[i] == '-') && i > 0 && i + 1 < n &&
                     is_digit(s[i - 1]) && is_digit(s[i + 1]))) {
            return false; /* one space or dash between digits, nothing else */
        }
    }
    if (nd < 12 || d[0] < '2' || d[0] > '6')
        return false;
    unsigned sum = 0;
    for (size_t i = 0; i < nd; i++) {
        unsigned v = (unsigned)(d[nd - 1 - i] - '0');
        if (i % 2 == 1)
            v = v * 2 > 9 ? v * 2 - 9 : v * 2;
        sum += v;
    }
    return sum % 10 == 0;
}

/* Names whose last word says the value is an identifier, not a card:
 * "order_id", "orderId", "sku", "ean". */
static bool identifier_name(const char *name)
{
    static const char *const ids[] = {"id", "ids", "sku", "skus", "ean",
                                       "gtin", "upc", "isbn", "barcode"};
    words w;
    if (!name || !words_split(&w, name, strlen(name)))
        return false;
    size_t k = w.n;
    while (k > 0 && !w.start[k - 1])
        k--;
    bool id = false;
    for (size_t i = 0; w.n && i < sizeof ids / sizeof *ids && !id; i++)
        id = strcmp(w.j + (k ? k - 1 : 0), ids[i]) == 0;
    words_free(&w);
    return id;
}

bool secret_card_value(const char *name, const char *s, size_t n,
                       const secret_policy *p)
{
    if (!secret_card_number(s, n) || identifier_name(name))
        return false;
    if (!name)
        return !exempt(p, SECRET_LUHN, "", NULL);
    words w;
    if (!words_split(&w, name, strlen(name)))
        return true;
    bool ex = exempt(p, SECRET_LUHN, w.j, NULL);
    words_free(&w);
    return !ex;
}

/* ---- headers, text, URIs ------------------------------------------------ */

static bool ci_equal(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (lower(*a) != lower(*b))
            return false;
    return *a == *b;
}

bool secret_header_name(const char *name, const secret_policy *p)
{
    static const char *const always[] = {
        "Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie",
    };
    if (!name)
        return false;
    for (size_t i = 0; i < sizeof always / sizeof *always; i++)
        if (ci_equal(name, always[i]))
            return true;
    return secret_name(name, strlen(name), p);
}

static bool word_char(char c)
{
    return is_alnum(c) || c == '_' || c == '-' || c == '.' || c == '[' ||
           c == ']';
}

/* Card numbers in free text: each run of digits with single spaces or
 * dashes between them, and each plain run of digits inside it. */
static bool text_has_card(const char *s, size_t n, const secret_policy *p)
{
    for (size_t i = 0; i < n;) {
        if (!is_digit(s[i])) {
            i++;
            continue;
        }
        size_t e = i;
        while (e < n && (is_digit(s[e]) ||
                         ((s[e] == ' ' || s[e] == '-') && e + 1 < n &&
                          is_digit(s[e + 1]) && is_digit(s[e - 1]))))
            e++;
        if (secret_card_value(NULL, s + i, e - i, p))
            return true;
        for (size_t k = i; k < e;) {
            size_t m = k;
            while (m < e && is_digit(s[m]))
                m++;
            if (m > k && secret_card_value(NULL, s + k, m - k, p))
                return true;
            k = m + 1;
        }
        i = e;
    }
    return false;
}

bool secret_text_may_hold(const char *s, size_t n, const secret_policy *p)
{
    if (!s)
        return false;
    for (size_t i = 0; i < n;) {
        if (!word_char(s[i])) {
            i++;
            continue;
        }
        size_t e = i;
        while (e < n && word_char(s[e]))
            e++;
        if (secret_name(s + i, e - i, p))
            return true;
        i = e;
    }
    return text_has_card(s, n, p);
}

static int hexval(char c)
{
    return is_digit(c) ? c - '0'
           : (c >= 'a' && c <= 'f') ? c - 'a' + 10
           : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
}

/* s[0..n) percent-decoded ('+' is a space) into a malloc'd string. */
static char *query_decode(const char *s, size_t n, size_t *out_len)
{
    char *d = malloc(n + 1);
    size_t o = 0;
    if (!d)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (s[i] == '+')
            d[o++] = ' ';
        else if (s[i] == '%' && i + 2 < n && (hi = hexval(s[i + 1])) >= 0 &&
                 (lo = hexval(s[i + 2])) >= 0)
            d[o++] = (char)(hi * 16 + lo), i += 2;
        else
            d[o++] = s[i];
    }
    d[o] = '\0';
    *out_len = o;
    return d;
}

/* Is the pair k[0..kn) = v[0..vn) (both still encoded) a secret? */
static int query_pair_secret(const char *k, size_t kn, const char *v,
                             size_t vn, const secret_policy *p)
{
    size_t dk, dv;
    char *key = query_decode(k, kn, &dk);
    char *val = key ? query_decode(v, vn, &dv) : NULL;
    int secret = -1; /* ENOMEM */
    if (val)
        secret = secret_name(key, dk, p) || secret_card_value(key, val, dv, p);
    free(key);
    free(val);
    return secret;
}

/* A path segment that is a plain word ("request", "resetLinkToken"): a
 * resource name, not a value. */
static bool plain_word(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              s[i] == '-' || s[i] == '_'))
            return false;
    return true;
}

bool secret_path_segment(const char *prev, size_t pn, const char *seg, size_t n,
                         const secret_policy *p)
{
    return (prev && pn && !plain_word(seg, n) && secret_name(prev, pn, p)) ||
           secret_card_value(NULL, seg, n, p);
}

/* The path s[0..n) with its secret segments (secret_path_segment)
 * replaced: Magento's ".../resetLinkToken/TOKEN" and ".../token/TOKEN/";
 * "/oauth/token/request" stays. */
static void add_path(strbuf *b, const char *s, size_t n, const secret_policy *p,
                     const char *replacement)
{
    const char *prev = NULL;
    size_t pn = 0;
    for (size_t i = 0; i < n;) {
        size_t e = i;
        while (e < n && s[e] != '/')
            e++;
        if (secret_path_segment(prev, pn, s + i, e - i, p))
            strbuf_add(b, replacement, strlen(replacement));
        else
            strbuf_add(b, s + i, e - i);
        prev = s + i;
        pn = e - i;
        if (e < n)
            strbuf_add(b, "/", 1);
        i = e + 1;
    }
}

char *secret_redact_uri(const char *uri, size_t n, const secret_policy *p,
                        const char *replacement, size_t *out_len)
{
    assert(uri && replacement);
    strbuf b = {0};
    const char *q = memchr(uri, '?', n);
    size_t head = q ? (size_t)(q - uri) + 1 : n;
    const char *hash = memchr(uri, '#', head);
    size_t path = hash ? (size_t)(hash - uri) : q ? head - 1 : n;
    add_path(&b, uri, path, p, replacement);
    strbuf_add(&b, uri + path, head - path);
    for (size_t i = head; i < n && !b.oom;) {
        size_t e = i;
        while (e < n && uri[e] != '&' && uri[e] != '#')
            e++;
        const char *eq = memchr(uri + i, '=', e - i);
        int secret = 0;
        if (eq) {
            size_t kn = (size_t)(eq - uri) - i;
            secret = query_pair_secret(uri + i, kn, eq + 1,
                                       e - i - kn - 1, p);
        }
        if (secret != 0) { /* a secret, or ENOMEM: replace it */
            strbuf_add(&b, uri + i, (size_t)(eq - uri) - i + 1);
            strbuf_add(&b, replacement, strlen(replacement));
        } else {
            strbuf_add(&b, uri + i, e - i);
        }
        if (e < n && uri[e] == '#') { /* a fragment: kept only if harmless */
            if (secret_text_may_hold(uri + e + 1, n - e - 1, p)) {
                strbuf_add(&b, "#", 1);
                strbuf_add(&b, replacement, strlen(replacement));
            } else {
                strbuf_add(&b, uri + e, n - e);
            }
            break;
        }
        if (e < n)
            strbuf_add(&b, "&", 1);
        i = e + 1;
    }
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    if (!b.p && !(b.p = strdup("")))
        return NULL;
    if (out_len)
        *out_len = b.len;
    return b.p;
}
