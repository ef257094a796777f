/* config_print: config_print_json (the running configuration as JSON, one
 * member per key in key-table order, sections nested) and
 * config_print_reference (the key table as a Markdown table), with the
 * value writers config_diff.c and config_tokens.c share (config_keys.h).
 * Split from config.c: this is output only; it reads the key table and a
 * config and changes neither. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/config_keys.h"

void config_put_string(FILE *out, const char *s)
{
    if (!s) {
        fputs("null", out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(out, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(out, "\\u%04x", ch);
        else
            fputc(ch, out);
    }
    fputc('"', out);
}

void config_put_value(FILE *out, const sp_config *c, const config_key *k)
{
    const void *f = config_field(c, k->off);
    char buf[300];
    int e;
    switch (k->type) {
    case K_LISTEN:
        if (!c->listen_host)
            config_put_string(out, NULL);
        else {
            snprintf(buf, sizeof buf,
                     strchr(c->listen_host, ':') ? "[%s]:%d" : "%s:%d",
                     c->listen_host, c->listen_port);
            config_put_string(out, buf);
        }
        break;
    case K_SIDE: case K_MODE: case K_LEVEL: case K_FORMAT: case K_TLSVER: case K_CLIENT:
        e = config_enum_of(c, k);
        config_put_string(out, e < 0 ? NULL : config_enum_names(k->type)[e]);
        break;
    case K_STRING: case K_URL: case K_CERTS: case K_KEY: case K_PIN: case K_HOST:
    case K_CIPHERS:
        config_put_string(out, *(char *const *)f);
        break;
    case K_BOOL:
        fputs(*(const bool *)f ? "true" : "false", out);
        break;
    case K_INT: case K_LONG: case K_COUNT: case K_SIZE:
        fprintf(out, "%lld", config_number_of(c, k));
        break;
    case K_STRLIST: case K_HDRLIST: case K_CIDRLIST:
        fputc('[', out);
        for (size_t i = 0; i < *(const size_t *)config_field(c, k->off2); i++) {
            fputs(i ? ", " : "", out);
            config_put_string(out, (*(char **const *)f)[i]);
        }
        fputc(']', out);
        break;
    case K_TOKENS:
        config_tokens_print(out, *(config_admin_token *const *)f,
                            *(const size_t *)config_field(c, k->off2));
        break;
    }
}

/* Sections (all but the last token) of pointer p. */
static int nsections(const char *p)
{
    int n = 0;
    for (p++; (p = strchr(p, '/')); p++)
        n++;
    return n;
}

/* Leading sections that pointers a and b share. */
static int shared_sections(const char *a, const char *b)
{
    int n = 0;
    while (a && *a == '/' && *b == '/') {
        size_t la = strcspn(a + 1, "/"), lb = strcspn(b + 1, "/");
        if (la != lb || strncmp(a, b, la + 1) != 0 || !a[la + 1] || !b[lb + 1])
            break;
        n++;
        a += la + 1, b += lb + 1;
    }
    return n;
}

static void indent(FILE *out, int depth)
{
    fprintf(out, "%*s", 2 * depth, "");
}

void config_print_json(FILE *out, const sp_config *c)
{
    const char *prev = NULL;
    int depth = 0; /* sections open */
    fputs("{", out);
    for (size_t i = 0; i < config_nkeys; i++) {
        const char *p = config_keys[i].ptr;
        int shared = shared_sections(prev, p);
        for (; depth > shared; depth--) {
            fputc('\n', out);
            indent(out, depth);
            fputc('}', out);
        }
        fputs(i ? ",\n" : "\n", out);
        const char *tok = p + 1;
        for (int k = 0; k < shared; k++)
            tok += strcspn(tok, "/") + 1;
        for (int n = nsections(p); depth < n; depth++) {
            size_t len = strcspn(tok, "/");
            indent(out, depth + 1);
            fprintf(out, "\"%.*s\": {\n", (int)len, tok);
            tok += len + 1;
        }
        indent(out, depth + 1);
        fprintf(out, "\"%s\": ", tok);
        config_put_value(out, c, &config_keys[i]);
        prev = p;
    }
    for (; depth > 0; depth--) {
        fputc('\n', out);
        indent(out, depth);
        fputc('}', out);
    }
    fputs("\n}\n", out);
}

static void put_type(FILE *out, const config_key *k)
{
    char lo[32], hi[32];
    switch (k->type) {
    case K_LISTEN: fputs("address", out); break;
    case K_BOOL: fputs("boolean", out); break;
    case K_STRING: fputs("string", out); break;
    case K_URL: fputs("URL", out); break;
    case K_CERTS: fputs("PEM certificates file", out); break;
    case K_KEY: fputs("PEM key file", out); break;
    case K_PIN: fputs("pins or key file", out); break;
    case K_HOST: fputs("host name", out); break;
    case K_CIPHERS: fputs("`modern`, `legacy` or a GnuTLS priority string", out); break;
    case K_STRLIST: fprintf(out, "strings, at most %lld", k->max); break;
    case K_HDRLIST: fprintf(out, "header names, at most %lld", k->max); break;
    case K_CIDRLIST: fprintf(out, "addresses or CIDR ranges, at most %lld", k->max); break;
    case K_TOKENS: fprintf(out, "named tokens, at most %lld", k->max); break;
    case K_INT: case K_LONG: case K_COUNT:
        fprintf(out, "integer, %lld..%lld", k->min, k->max);
        break;
    case K_SIZE:
        config_fmt_size((unsigned long long)k->min, lo, sizeof lo);
        config_fmt_size((unsigned long long)k->max, hi, sizeof hi);
        fprintf(out, "bytes, %s..%s", lo, hi);
        break;
    case K_SIDE: case K_MODE: case K_LEVEL: case K_FORMAT: case K_TLSVER: case K_CLIENT:
        for (const char *const *n = config_enum_names(k->type); *n; n++)
            fprintf(out, "%s`%s`", n == config_enum_names(k->type) ? "" : ", ", *n);
        break;
    }
}

void config_print_reference(FILE *out)
{
    char sz[32];
    fputs("| Key | Type | Default | Reload | Meaning |\n"
          "|---|---|---|---|---|\n", out);
    for (size_t i = 0; i < config_nkeys; i++) {
        const config_key *k = &config_keys[i];
        fprintf(out, "| `%s` | ", k->ptr);
        put_type(out, k);
        if (!k->dflt)
            fputs(k->type == K_URL ? " | required" : " | none", out);
        else
            fprintf(out, " | `%s`", k->dflt);
        if (k->type == K_SIZE && k->dflt) {
            config_fmt_size(strtoull(k->dflt, NULL, 10), sz, sizeof sz);
            fprintf(out, " (%s)", sz);
        }
        fprintf(out, " | %s | %s |\n", k->reload ? "yes" : "no, restart",
                k->doc);
    }
}
