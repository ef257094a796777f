#include "conf/jsonread.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/jsonpos.h"

json_t *jr_open(jr_doc *d, config_errors *errs, const char *text, size_t len,
                size_t max_bytes, const char *limit)
{
    *d = (jr_doc){.errs = errs, .text = text, .len = text ? len : 0};
    size_t i = 0;
    while (i < d->len && text[i] && strchr(" \t\r\n", text[i]))
        i++;
    if (d->len > max_bytes || i == d->len) {
        int rc = i == d->len ? config_errors_add(errs, 0, 0, "file is empty")
                             : config_errors_add(errs, 0, 0, "file is larger than %s", limit);
        if (rc)
            d->rc = -ENOMEM;
        return NULL;
    }
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!root) { /* jansson's error, moved to the start of the offending token */
        char msg[JSON_ERROR_TEXT_LENGTH + 32];
        int line, col;
        jsonpos_syntax_error(text, len, &je, msg, sizeof msg, &line, &col);
        if (config_errors_add(errs, line, col, "%s", msg))
            d->rc = -ENOMEM;
    }
    return root;
}

static void append(char *buf, size_t size, bool *cut, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void append(char *buf, size_t size, bool *cut, const char *fmt, ...)
{
    size_t n = strlen(buf);
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf + n, size - n, fmt, ap);
    va_end(ap);
    if (w < 0 || (size_t)w >= size - n)
        *cut = true;
}

void jr_child(jr_loc *out, const jr_loc *parent, const char *key)
{
    char esc[1024], shown[512];
    size_t o = 0, s = 0;
    for (const char *k = key; *k && o + 3 < sizeof esc; k++) {
        if (*k == '~' || *k == '/') { /* RFC 6901 */
            esc[o++] = '~';
            esc[o++] = *k == '~' ? '0' : '1';
        } else
            esc[o++] = *k;
    }
    esc[o] = '\0';
    for (const char *k = key; *k && s + 1 < sizeof shown; k++)
        shown[s++] = (unsigned char)*k < 0x20 || *k == 0x7f ? '?' : *k;
    shown[s] = '\0';
    *out = *parent;
    out->cut |= strlen(key) >= sizeof shown;
    append(out->ptr, sizeof out->ptr, &out->cut, "/%s", esc);
    append(out->name, sizeof out->name, &out->cut, "%s%s", *parent->name ? "." : "", shown);
}

void jr_elem(jr_loc *out, const jr_loc *parent, size_t i)
{
    *out = *parent;
    append(out->ptr, sizeof out->ptr, &out->cut, "/%zu", i);
    append(out->name, sizeof out->name, &out->cut, "[%zu]", i);
}

void jr_vreport_ptr(jr_doc *d, const char *ptr, bool key, const char *fmt, va_list ap)
{
    if (config_errors_vreport(d->errs, d->text, d->len, ptr, key, &d->reported, fmt, ap))
        d->rc = -ENOMEM;
}

void jr_report(jr_doc *d, const jr_loc *at, bool key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    jr_vreport_ptr(d, at && !at->cut ? at->ptr : NULL, key, fmt, ap);
    va_end(ap);
}

void jr_report_ptr(jr_doc *d, const char *ptr, bool key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    jr_vreport_ptr(d, ptr, key, fmt, ap);
    va_end(ap);
}

bool jr_listed(const char *const *names, const char *key)
{
    for (; *names; names++)
        if (strcmp(*names, key) == 0)
            return true;
    return false;
}

void jr_unknown(jr_doc *d, const char *ptr, const char *quoted, const char *near)
{
    if (near)
        jr_report_ptr(d, ptr, true, "unknown key %s (did you mean \"%s\"?)", quoted, near);
    else
        jr_report_ptr(d, ptr, true, "unknown key %s", quoted);
}

/* A sibling within edit distance 2 (the closest, the first of equals). */
static const char *nearest(const char *const *names, const char *key)
{
    const char *best = NULL;
    size_t bd = 3, dist;
    for (const char *const *n = names; *n; n++)
        if ((dist = jsonpos_name_distance(key, *n)) < bd) {
            bd = dist;
            best = *n;
        }
    return best;
}

void jr_unknown_keys(jr_doc *d, json_t *obj, const jr_loc *at, const char *const *names,
                     size_t quote_max, jr_hint_fn hint, const void *hint_ctx)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        if (jr_listed(names, key))
            continue;
        jr_loc k;
        char q[256], near[600];
        jr_child(&k, at, key);
        jsonpos_quote(k.name, quote_max, q, sizeof q);
        const char *best = nearest(names, key);
        bool hinted = false;
        if (best)
            snprintf(near, sizeof near, "%s%s%s", at->name, *at->name ? "." : "", best);
        else
            hinted = hint && hint(hint_ctx, at, names, key, near, sizeof near);
        jr_unknown(d, k.cut ? NULL : k.ptr, q, best || hinted ? near : NULL);
    }
}
