/* report_csv: the per-field table as CSV (RFC 4180: comma-separated, CRLF
 * line ends, fields quoted when they hold a comma, quote or line break),
 * for a spreadsheet or a script. A text cell that a spreadsheet would read
 * as a formula (starting with = + - @, a tab or a CR) is written with a
 * leading ' : the values come from the traffic. */
#include "tools/report/report_out.h"

#include <stdlib.h>
#include <string.h>

static void csv_cell(strbuf *b, const char *s, bool text)
{
    if (!s)
        s = "";
    bool quote = strpbrk(s, ",\"\r\n") != NULL;
    bool formula = text && s[0] && strchr("=+-@\t\r", s[0]);
    if (quote)
        strbuf_add(b, "\"", 1);
    if (formula)
        strbuf_add(b, "'", 1);
    for (const char *p = s; *p; p++)
        strbuf_add(b, *p == '"' ? "\"\"" : p, *p == '"' ? 2 : 1);
    if (quote)
        strbuf_add(b, "\"", 1);
}

static void sep(strbuf *b)
{
    strbuf_add(b, ",", 1);
}

static void field_row(strbuf *b, const report_route *rt, const report_field *f, uint64_t compared)
{
    char n[64];
    csv_cell(b, rt->name, true);
    sep(b);
    csv_cell(b, f->where, true);
    sep(b);
    csv_cell(b, f->path, true);
    sep(b);
    csv_cell(b, f->kind, true);
    sep(b);
    csv_cell(b, f->known, true);
    snprintf(n, sizeof n, ",%llu,%llu,", (unsigned long long)f->exchanges,
             (unsigned long long)f->occurrences);
    strbuf_add(b, n, strlen(n));
    if (compared) {
        snprintf(n, sizeof n, "%.6f", (double)f->exchanges / (double)compared);
        strbuf_add(b, n, strlen(n));
    }
    sep(b);
    strbuf ids = {0};
    for (size_t k = 0; k < f->nsample_ids; k++) {
        if (k)
            strbuf_add(&ids, " ", 1);
        strbuf_add(&ids, f->sample_ids[k], strlen(f->sample_ids[k]));
    }
    csv_cell(b, ids.p, true);
    free(ids.p);
    for (int s = 0; s < RS_COUNT; s++) {
        sep(b);
        const report_example *ex = &f->example[s];
        csv_cell(b, f->has_example && ex->present ? ex->text : NULL, true);
    }
    strbuf_add(b, "\r\n", 2);
}

int report_csv_write(FILE *out, const report_render *r)
{
    strbuf b = {0};
    static const char head[] = "route,where,path,kind,known,exchanges,occurrences,share,sample_ids,"
                               "legacy,new\r\n";
    strbuf_add(&b, head, sizeof head - 1);
    for (size_t i = 0; i < r->m->nroutes; i++) {
        const report_route *rt = r->m->routes[i];
        uint64_t compared = report_route_compared(rt);
        for (size_t j = 0; j < rt->nfields; j++)
            field_row(&b, rt, rt->fields[j], compared);
    }
    int rc = b.oom ? -1 : 0;
    if (rc == 0 && fwrite(b.p, 1, b.len, out) != b.len)
        rc = -1;
    free(b.p);
    return rc;
}
