#include "base/jsonpos.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef struct scan {
    const unsigned char *s;
    size_t n, i;
} scan;

static void ws(scan *p)
{
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' ||
                           p->s[p->i] == '\n' || p->s[p->i] == '\r'))
        p->i++;
}

static int at(const scan *p, unsigned char c)
{
    return p->i < p->n && p->s[p->i] == c;
}

/* Every '~' in a pointer must be "~0" or "~1"; it starts with '/' unless "". */
static int pointer_ok(const char *ptr)
{
    if (*ptr && *ptr != '/')
        return 0;
    for (; *ptr; ptr++)
        if (*ptr == '~' && ptr[1] != '0' && ptr[1] != '1')
            return 0;
    return 1;
}

/* Next decoded byte of a pointer token in [*t, te), or -1 at its end. */
static int tok_next(const char **t, const char *te)
{
    if (*t >= te)
        return -1;
    unsigned char c = (unsigned char)*(*t)++;
    if (c == '~') {
        c = **t == '1' ? '/' : '~';
        (*t)++;
    }
    return c;
}

static int hex4(const unsigned char *s, unsigned *out)
{
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        unsigned char c = s[k];
        unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
                     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                     : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
                                            : 16u;
        if (d > 15)
            return -1;
        v = v * 16 + d;
    }
    *out = v;
    return 0;
}

static size_t utf8(unsigned cp, unsigned char *b)
{
    if (cp < 0x80) {
        b[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        b[0] = (unsigned char)(0xC0 | cp >> 6);
        b[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        b[0] = (unsigned char)(0xE0 | cp >> 12);
        b[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        b[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    b[0] = (unsigned char)(0xF0 | cp >> 18);
    b[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
    b[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
    b[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* One (possibly escaped) character of a string body into b; 0 or -1. */
static int str_char(scan *p, unsigned char *b, size_t *nb)
{
    unsigned char c = p->s[p->i];
    if (c < 0x20)
        return -1;
    if (c != '\\') {
        b[0] = c;
        *nb = 1;
        p->i++;
        return 0;
    }
    if (p->i + 1 >= p->n)
        return -1;
    unsigned char e = p->s[p->i + 1];
    p->i += 2;
    *nb = 1;
    switch (e) {
    case '"': case '\\': case '/': b[0] = e; return 0;
    case 'b': b[0] = '\b'; return 0;
    case 'f': b[0] = '\f'; return 0;
    case 'n': b[0] = '\n'; return 0;
    case 'r': b[0] = '\r'; return 0;
    case 't': b[0] = '\t'; return 0;
    case 'u': break;
    default: return -1;
    }
    unsigned cp, lo;
    if (p->n - p->i < 4 || hex4(p->s + p->i, &cp))
        return -1;
    p->i += 4;
    if (cp >= 0xD800 && cp < 0xDC00 && p->n - p->i >= 6 &&
        p->s[p->i] == '\\' && p->s[p->i + 1] == 'u' &&
        hex4(p->s + p->i + 2, &lo) == 0 && lo >= 0xDC00 && lo < 0xE000) {
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        p->i += 6;
    }
    *nb = utf8(cp, b);
    return 0;
}

/* At an opening quote: skips the string. With tok set, *eq says whether the
 * decoded string equals the decoded pointer token [tok, te). */
static int string(scan *p, const char *tok, const char *te, int *eq)
{
    int same = 1;
    p->i++;
    while (p->i < p->n) {
        if (p->s[p->i] == '"') {
            p->i++;
            if (tok)
                *eq = same && tok_next(&tok, te) == -1;
            return 0;
        }
        unsigned char b[4];
        size_t nb;
        if (str_char(p, b, &nb))
            return -EINVAL;
        for (size_t k = 0; tok && same && k < nb; k++)
            same = tok_next(&tok, te) == b[k];
    }
    return -EINVAL;
}

static int delim(unsigned char c)
{
    return c == 0 || strchr(" \t\r\n,:[]{}\"", c) != NULL;
}

/* Skips one value of any kind, without recursion. */
static int skip_value(scan *p)
{
    size_t depth = 0;
    for (;;) {
        ws(p);
        if (p->i >= p->n)
            return -EINVAL;
        unsigned char c = p->s[p->i];
        if (c == '"') {
            if (string(p, NULL, NULL, NULL))
                return -EINVAL;
        } else if (c == '{' || c == '[') {
            depth++;
            p->i++;
            continue;
        } else if (c == '}' || c == ']') {
            if (depth == 0)
                return -EINVAL;
            depth--;
            p->i++;
        } else if (c == ',' || c == ':') {
            if (depth == 0)
                return -EINVAL;
            p->i++;
            continue;
        } else {
            size_t start = p->i;
            while (p->i < p->n && !delim(p->s[p->i]))
                p->i++;
            if (p->i == start)
                return -EINVAL;
        }
        if (depth == 0)
            return 0;
    }
}

/* RFC 6901 array index: "0" or digits without a leading zero. */
static int index_of(const char *t, const char *te, size_t *out)
{
    size_t v = 0;
    if (t == te || (*t == '0' && te - t > 1))
        return -1;
    for (; t < te; t++) {
        if (*t < '0' || *t > '9' || v > (SIZE_MAX - 9) / 10)
            return -1;
        v = v * 10 + (size_t)(*t - '0');
    }
    *out = v;
    return 0;
}

/* After a member or element: "," (moves past it) -> 0; the closer -> -ENOENT. */
static int next_item(scan *p, unsigned char closer)
{
    ws(p);
    if (at(p, ',')) {
        p->i++;
        ws(p);
        return 0;
    }
    return at(p, closer) ? -ENOENT : -EINVAL;
}

static int member(scan *p, const char *t, const char *te, int want_key,
                  size_t *pos)
{
    p->i++;
    ws(p);
    if (at(p, '}'))
        return -ENOENT;
    for (;;) {
        if (!at(p, '"'))
            return -EINVAL;
        size_t key_at = p->i;
        int eq = 0, rc;
        if (string(p, t, te, &eq))
            return -EINVAL;
        ws(p);
        if (!at(p, ':'))
            return -EINVAL;
        p->i++;
        ws(p);
        if (p->i >= p->n)
            return -EINVAL;
        if (eq) {
            *pos = want_key ? key_at : p->i;
            return 0;
        }
        if (skip_value(p))
            return -EINVAL;
        if ((rc = next_item(p, '}')))
            return rc;
    }
}

static int element(scan *p, const char *t, const char *te, size_t *pos)
{
    size_t idx;
    int rc;
    if (index_of(t, te, &idx))
        return -ENOENT;
    p->i++;
    ws(p);
    if (at(p, ']'))
        return -ENOENT;
    for (size_t k = 0; k < idx; k++) {
        if (skip_value(p))
            return -EINVAL;
        if ((rc = next_item(p, ']')))
            return rc;
    }
    if (p->i >= p->n)
        return -EINVAL;
    *pos = p->i;
    return 0;
}

static int locate(const char *text, size_t len, const char *ptr, int want_key,
                  size_t *pos)
{
    if (!text || !ptr || !pointer_ok(ptr))
        return -EINVAL;
    scan p = {(const unsigned char *)text, len, 0};
    ws(&p);
    if (p.i >= p.n)
        return -EINVAL;
    *pos = p.i;
    while (*ptr) {
        const char *t = ptr + 1, *te = t + strcspn(t, "/");
        int last = *te == '\0', rc;
        if (at(&p, '{'))
            rc = member(&p, t, te, want_key && last, pos);
        else if (at(&p, '['))
            rc = element(&p, t, te, pos);
        else
            rc = -ENOENT;
        if (rc)
            return rc;
        ptr = te;
    }
    return 0;
}

void jsonpos_line_col(const char *text, size_t len, size_t off, int *line,
                      int *col)
{
    if (!text) {
        *line = *col = 0;
        return;
    }
    if (off > len)
        off = len;
    size_t l = 1, start = 0;
    for (size_t i = 0; i < off; i++)
        if (text[i] == '\n') {
            l++;
            start = i + 1;
        }
    size_t c = off - start + 1;
    *line = l > INT_MAX ? INT_MAX : (int)l;
    *col = c > INT_MAX ? INT_MAX : (int)c;
}

static int find(const char *text, size_t len, const char *pointer, int key,
                int *line, int *col)
{
    size_t pos;
    int rc = locate(text, len, pointer, key, &pos);
    if (rc == 0)
        jsonpos_line_col(text, len, pos, line, col);
    return rc;
}

int jsonpos_find(const char *text, size_t len, const char *pointer, int *line,
                 int *col)
{
    return find(text, len, pointer, 0, line, col);
}

int jsonpos_find_key(const char *text, size_t len, const char *pointer,
                     int *line, int *col)
{
    return find(text, len, pointer, 1, line, col);
}

void jsonpos_syntax_error(const char *text, size_t len, const json_error_t *je,
                          char *msg, size_t size, int *line, int *col)
{
    size_t off = je->position > 0 ? (size_t)je->position : 0;
    const char *near = strstr(je->text, " near '");
    size_t tl = near ? strlen(near + 7) : 0;
    if (off > len)
        off = len;
    if (strncmp(je->text, "duplicate object key", 20) == 0 && off > 0 &&
        text[off - 1] == '"') {
        size_t q = off - 1; /* back to the unescaped opening quote */
        while (q > 0) {
            size_t bs = 0;
            if (text[--q] != '"')
                continue;
            while (q > bs && text[q - bs - 1] == '\\')
                bs++;
            if (bs % 2 == 0)
                break;
        }
        snprintf(msg, size, "duplicate key %.*s",
                 (int)(off - q > 64 ? 64 : off - q), text + q);
        off = q;
    } else {
        if (strncmp(je->text, "unable to decode byte", 21) == 0)
            ; /* `off` is the bad byte itself */
        else if (near && tl > 0 && near[7 + tl - 1] == '\'' && tl - 1 <= off &&
                 memcmp(text + off - (tl - 1), near + 7, tl - 1) == 0)
            off -= tl - 1; /* the start of the token */
        else if (off > 0 && off < len)
            off--; /* the last byte read */
        snprintf(msg, size, "invalid JSON: %s", je->text);
    }
    for (char *p = msg; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    jsonpos_line_col(text, len, off, line, col);
}

/* Optimal string alignment distance (a transposition counts as one). */
size_t jsonpos_name_distance(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    unsigned char d[65][65];
    if (na > 64 || nb > 64)
        return 99;
    for (size_t i = 0; i <= na; i++)
        for (size_t j = 0; j <= nb; j++) {
            if (i == 0 || j == 0) {
                d[i][j] = (unsigned char)(i + j);
                continue;
            }
            unsigned m = d[i - 1][j - 1] + (unsigned)(a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1u < m)
                m = d[i - 1][j] + 1u;
            if (d[i][j - 1] + 1u < m)
                m = d[i][j - 1] + 1u;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
                a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1u < m)
                m = d[i - 2][j - 2] + 1u;
            d[i][j] = (unsigned char)m;
        }
    return d[na][nb];
}

void jsonpos_quote(const char *s, size_t max, char *buf, size_t size)
{
    size_t o = 0, n = strlen(s), lim = n > max ? max : n, i;
    while (lim < n && lim > 0 && ((unsigned char)s[lim] & 0xC0) == 0x80)
        lim--; /* do not split a UTF-8 sequence */
    buf[o++] = '"';
    for (i = 0; i < lim && o + 8 < size; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            o += (size_t)snprintf(buf + o, size - o, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            o += (size_t)snprintf(buf + o, size - o, "\\x%02x", c);
        else
            buf[o++] = (char)c;
    }
    snprintf(buf + o, size - o, "%s\"", i < n ? "..." : "");
}

const char *jsonpos_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "real";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    default: return "null";
    }
}

void jsonpos_show(const json_t *v, size_t max, char *buf, size_t size)
{
    if (json_is_string(v))
        jsonpos_quote(json_string_value(v), max, buf, size);
    else if (json_is_integer(v))
        snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_real(v))
        snprintf(buf, size, "%g", json_real_value(v));
    else if (json_is_boolean(v))
        snprintf(buf, size, "%s", json_is_true(v) ? "true" : "false");
    else
        snprintf(buf, size, "%s", jsonpos_type_name(v));
}
