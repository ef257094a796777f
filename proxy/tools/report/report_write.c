/* report_write: text building for the report (report_util.h): printf into
 * a strbuf, shortest reals, a JSON writer that keeps member order and can
 * stop early, UTF-8 checks, and example values. */
#include "tools/report/report_util.h"

#include <math.h> /* isfinite only */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- text and JSON writing ------------------------------------------------------ */

void report_buf_printf(strbuf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        strbuf_add(b, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->oom = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    strbuf_add(b, big, (size_t)n);
    free(big);
}

void report_real_text(double d, char out[40])
{
    if (!isfinite(d)) {
        snprintf(out, 40, "null");
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, 40, "%.*g", prec, d);
        if (strtod(out, NULL) == d)
            break;
    }
    if (!strpbrk(out, ".eE"))
        strcat(out, ".0");
}

static void json_string_append(strbuf *b, const char *s, size_t n)
{
    strbuf_add(b, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        size_t skip = 0;
        char u[8];
        if (c == '"')
            esc = "\\\"";
        else if (c == '\\')
            esc = "\\\\";
        else if (c == '\n')
            esc = "\\n";
        else if (c == '\r')
            esc = "\\r";
        else if (c == '\t')
            esc = "\\t";
        else if (c < 0x20 || c == 0x7f) {
            snprintf(u, sizeof u, "\\u%04x", c);
            esc = u;
        } else if (c == 0xe2 && i + 2 < n && (unsigned char)s[i + 1] == 0x80 &&
                   ((unsigned char)s[i + 2] == 0xa8 || (unsigned char)s[i + 2] == 0xa9)) {
            esc = (unsigned char)s[i + 2] == 0xa8 ? "\\u2028" : "\\u2029";
            skip = 2;
        }
        if (!esc) {
            run++;
            continue;
        }
        strbuf_add(b, s + i - run, run);
        run = 0;
        strbuf_add(b, esc, strlen(esc));
        i += skip;
    }
    strbuf_add(b, s + n - run, run);
    strbuf_add(b, "\"", 1);
}

static void newline_indent(strbuf *b, int indent, int depth)
{
    if (indent < 0)
        return;
    strbuf_add(b, "\n", 1);
    for (int i = 0; i < indent * depth; i++)
        strbuf_add(b, " ", 1);
}

static bool json_append_rec(strbuf *b, const json_t *v, int indent, int depth, size_t max)
{
    if (max && b->len >= max)
        return true;
    char num[40];
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        if (json_object_size(v) == 0) {
            strbuf_add(b, "{}", 2);
            return false;
        }
        strbuf_add(b, "{", 1);
        const char *k;
        json_t *x;
        bool first = true;
        json_object_foreach((json_t *)v, k, x) {
            if (!first)
                strbuf_add(b, ", ", indent == REPORT_JSON_SPACED ? 2 : 1);
            first = false;
            newline_indent(b, indent, depth + 1);
            json_string_append(b, k, strlen(k));
            strbuf_add(b, indent == -1 ? ":" : ": ", indent == -1 ? 1 : 2);
            if (json_append_rec(b, x, indent, depth + 1, max))
                return true;
        }
        newline_indent(b, indent, depth);
        strbuf_add(b, "}", 1);
        return false;
    }
    case JSON_ARRAY: {
        if (json_array_size(v) == 0) {
            strbuf_add(b, "[]", 2);
            return false;
        }
        bool flat = true; /* scalars only: one line, even when pretty */
        for (size_t i = 0; i < json_array_size(v) && flat; i++)
            flat = !json_is_object(json_array_get(v, i)) && !json_is_array(json_array_get(v, i));
        strbuf_add(b, "[", 1);
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i)
                strbuf_add(b, ", ", indent == -1 || (!flat && indent >= 0) ? 1 : 2);
            if (!flat)
                newline_indent(b, indent, depth + 1);
            if (json_append_rec(b, json_array_get(v, i), indent, depth + 1, max))
                return true;
        }
        if (!flat)
            newline_indent(b, indent, depth);
        strbuf_add(b, "]", 1);
        return false;
    }
    case JSON_STRING: json_string_append(b, json_string_value(v), json_string_length(v)); break;
    case JSON_INTEGER:
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        strbuf_add(b, num, strlen(num));
        break;
    case JSON_REAL:
        report_real_text(json_real_value(v), num);
        strbuf_add(b, num, strlen(num));
        break;
    case JSON_TRUE: strbuf_add(b, "true", 4); break;
    case JSON_FALSE: strbuf_add(b, "false", 5); break;
    default: strbuf_add(b, "null", 4); break;
    }
    return max && b->len > max;
}

bool report_json_append(strbuf *b, const json_t *v, int indent, size_t max)
{
    size_t start = b->len;
    bool cut = json_append_rec(b, v, indent, 0, max ? start + max : 0);
    if (cut && b->len > start + max && !b->oom) {
        b->len = start + max;
        while (b->len > start && ((unsigned char)b->p[b->len] & 0xc0) == 0x80)
            b->len--; /* not inside a UTF-8 character */
        b->p[b->len] = '\0';
    }
    return cut;
}

size_t report_utf8_char(const unsigned char *s, size_t n, uint32_t *cp)
{
    if (n == 0)
        return 0;
    unsigned char c = s[0];
    size_t len;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if ((c & 0xe0) == 0xc0) {
        len = 2, v = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        len = 3, v = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return len;
}

char *report_strdup_max(const char *s, size_t max)
{
    size_t n = strnlen(s, max + 1);
    bool cut = n > max;
    if (cut) {
        n = max;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
            n--; /* s[n] starts a character: cut before it */
    }
    char *d = malloc(n + (cut ? 4 : 1));
    if (!d)
        return NULL;
    memcpy(d, s, n);
    if (cut)
        memcpy(d + n, "\xe2\x80\xa6", 3);
    d[n + (cut ? 3 : 0)] = '\0';
    return d;
}

char *report_utf8_lossy(const char *s)
{
    strbuf b = {0};
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    while (n > 0) {
        uint32_t cp;
        size_t l = report_utf8_char(p, n, &cp);
        if (l == 0) {
            strbuf_add(&b, "\xef\xbf\xbd", 3);
            l = 1;
        } else {
            strbuf_add(&b, p, l);
        }
        p += l;
        n -= l;
    }
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p ? b.p : strdup("");
}

/* ---- examples -------------------------------------------------------------------- */

int report_example_set(report_example *ex, const json_t *v, size_t max)
{
    report_example_free(ex);
    if (!v)
        return 0;
    strbuf b = {0};
    bool cut = report_json_append(&b, v, -1, max);
    if (cut)
        strbuf_add(&b, "...", 3);
    if (b.oom || !b.p) {
        free(b.p);
        return -1;
    }
    ex->present = true;
    ex->truncated = cut;
    ex->text = b.p;
    return 0;
}

void report_example_free(report_example *ex)
{
    free(ex->text);
    ex->text = NULL;
    ex->present = ex->truncated = false;
}

/* ---- wrapping ---------------------------------------------------------------------- */

static void spaces(strbuf *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        strbuf_add(b, " ", 1);
}

void report_text_wrap(strbuf *out, const char *text, size_t len, size_t width)
{
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        size_t indent = strspn(p, " ");
        if (indent > (size_t)(le - p))
            indent = (size_t)(le - p);
        strbuf_add(out, p, indent);
        size_t col = indent, gap = 0; /* blanks seen before the next word */
        bool first = true;
        for (const char *w = p + indent; w < le;) {
            if (*w == ' ') {
                gap++;
                w++;
                continue;
            }
            const char *we = w;
            while (we < le && *we != ' ')
                we++;
            size_t wc = 0;
            for (const char *c = w; c < we; c++)
                wc += ((unsigned char)*c & 0xC0) != 0x80;
            if (!first && col + gap + wc > width && col > indent + 2) {
                strbuf_add(out, "\n", 1);
                spaces(out, indent + 2);
                col = indent + 2;
            } else {
                spaces(out, gap);
                col += gap;
            }
            strbuf_add(out, w, (size_t)(we - w));
            col += wc;
            gap = 0;
            first = false;
            w = we;
        }
        strbuf_add(out, "\n", 1);
        if (!nl)
            break;
        p = nl + 1;
    }
}

