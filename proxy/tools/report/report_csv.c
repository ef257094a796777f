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
    snprintf(n, sizeof n, ",%llu,", (unsigned long long)f->noise_exchanges);
    strbuf_add(b, n, strlen(n));
    if (compared) {
        snprintf(n, sizeof n, "%.6f", (double)f->noise_exchanges / (double)compared);
        strbuf_add(b, n, strlen(n));
    }
    for (int c = 0; c < RC_COUNT; c++) { /* rules "confirm": the field's exchanges read again */
        snprintf(n, sizeof n, ",%llu", (unsigned long long)f->confirm[c]);
        strbuf_add(b, n, strlen(n));
    }
    strbuf_add(b, "\r\n", 2);
}

static void json_cell(strbuf *b, const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    char n[64] = "";
    if (json_is_string(v)) {
        csv_cell(b, json_string_value(v), true);
        return;
    }
    if (json_is_integer(v))
        snprintf(n, sizeof n, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(n, sizeof n, "%.6f", json_real_value(v));
    strbuf_add(b, n, strlen(n)); /* null: empty */
}

/* One baseline row: keys[] of e, "" (an empty cell) for a column it has not. */
static void baseline_row(strbuf *b, const char *scope, const json_t *e, const char *const *keys)
{
    csv_cell(b, scope, true);
    for (const char *const *k = keys; *k; k++) {
        sep(b);
        if (**k)
            json_cell(b, e, *k);
    }
    strbuf_add(b, "\r\n", 2);
}

/* --baseline: the changes since the earlier run instead of the per-field
 * table, one row per route or field: old and new are the route's mismatch
 * rate, or the field's share of the route's compared exchanges. */
static void baseline_csv(strbuf *b, const json_t *bl)
{
    static const char head[] = "scope,route,where,path,kind,known,change,old,new,old_exchanges,"
                               "new_exchanges\r\n";
    static const char *const route_keys[] = {"name", "", "", "", "", "change", "old_mismatch_rate",
                                             "new_mismatch_rate", "old_exchanges",
                                             "new_exchanges", NULL};
    static const char *const field_keys[] = {"route", "where", "path", "kind", "known", "change",
                                             "old_share", "new_share", "old_exchanges",
                                             "new_exchanges", NULL};
    strbuf_add(b, head, sizeof head - 1);
    size_t i;
    const json_t *e;
    json_array_foreach(json_object_get(bl, "routes"), i, e)
        baseline_row(b, "route", e, route_keys);
    json_array_foreach(json_object_get(bl, "fields"), i, e)
        baseline_row(b, "field", e, field_keys);
}

/* The per-field table: one row per field of each route. */
static void fields_csv(strbuf *b, const report_model *m)
{
    static const char head[] = "route,where,path,kind,known,exchanges,occurrences,share,sample_ids,"
                               "legacy,new,noise_exchanges,noise_share,confirm_transient,"
                               "confirm_confirmed,confirm_failed,confirm_skipped\r\n";
    strbuf_add(b, head, sizeof head - 1);
    for (size_t i = 0; i < m->nroutes; i++) {
        const report_route *rt = m->routes[i];
        uint64_t compared = report_route_compared(rt);
        for (size_t j = 0; j < rt->nfields; j++)
            field_row(b, rt, rt->fields[j], compared);
    }
}

int report_csv_write(FILE *out, const report_render *r)
{
    strbuf b = {0};
    if (r->baseline)
        baseline_csv(&b, r->baseline);
    else
        fields_csv(&b, r->m);
    int rc = b.oom ? -1 : 0;
    if (rc == 0 && fwrite(b.p, 1, b.len, out) != b.len)
        rc = -1;
    free(b.p);
    return rc;
}
