/* replay_matrix: see replay_matrix.h. */
#include "tools/replay_matrix.h"

#include <errno.h>

#include "conf/endpoint.h"
#include "diff/logread.h"

#include <stdlib.h>
#include <string.h>

#define OTHER_ROUTES "(other routes)"

static const char *const names[RT_COUNT] = {"fixed", "regressed", "still_differing", "unchanged",
                                            "not_compared"};

typedef struct row {
    char *route;
    uint64_t n[RT_COUNT];
} row;

struct replay_matrix {
    row *rows;
    size_t nrows, cap;
    json_t *index; /* route -> row index */
};

const char *replay_transition_name(replay_transition t)
{
    return (unsigned)t < RT_COUNT ? names[t] : "?";
}

static int side_of(const char *v) /* 1 agree, 0 differ, -1 not compared */
{
    if (!v)
        return -1;
    if (!strcmp(v, "match") || !strcmp(v, "known"))
        return 1;
    return !strcmp(v, "mismatch") ? 0 : -1;
}

replay_transition replay_transition_of(const char *was, const char *now)
{
    int a = side_of(was), b = side_of(now);
    if (a < 0 || b < 0)
        return RT_UNCOMPARED;
    return a ? (b ? RT_UNCHANGED : RT_REGRESSED) : (b ? RT_FIXED : RT_STILL);
}

replay_matrix *replay_matrix_new(void)
{
    replay_matrix *m = calloc(1, sizeof *m);
    if (m && !(m->index = json_object())) {
        free(m);
        m = NULL;
    }
    return m;
}

void replay_matrix_free(replay_matrix *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nrows; i++)
        free(m->rows[i].route);
    free(m->rows);
    json_decref(m->index);
    free(m);
}

static row *row_get(replay_matrix *m, const char *route)
{
    json_t *i = json_object_get(m->index, route);
    if (i)
        return &m->rows[json_integer_value(i)];
    if (m->nrows >= REPLAY_MATRIX_MAX_ROUTES && strcmp(route, OTHER_ROUTES) != 0)
        return row_get(m, OTHER_ROUTES);
    if (m->nrows == m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 16;
        row *r = realloc(m->rows, nc * sizeof *r);
        if (!r)
            return NULL;
        m->rows = r;
        m->cap = nc;
    }
    row *r = &m->rows[m->nrows];
    *r = (row){.route = strdup(route)};
    if (!r->route || json_object_set_new(m->index, route, json_integer((json_int_t)m->nrows)) != 0) {
        free(r->route);
        return NULL;
    }
    m->nrows++;
    return r;
}

bool replay_matrix_add(replay_matrix *m, const char *route, replay_transition t)
{
    row *r = (unsigned)t < RT_COUNT ? row_get(m, route ? route : "(no route)") : NULL;
    if (r)
        r->n[t]++;
    return r != NULL;
}

uint64_t replay_matrix_count(const replay_matrix *m, const char *route, replay_transition t)
{
    uint64_t n = 0;
    for (size_t i = 0; i < m->nrows; i++)
        if (!route || !strcmp(m->rows[i].route, route))
            n += m->rows[i].n[t];
    return n;
}

bool replay_matrix_has(const replay_matrix *m, const char *route)
{
    return json_object_get(m->index, route) != NULL;
}

static void print_row(FILE *out, const char *name, const uint64_t n[RT_COUNT])
{
    fprintf(out, "  %-28.28s", name);
    for (int t = 0; t < RT_COUNT; t++)
        fprintf(out, " %10llu", (unsigned long long)n[t]);
    fprintf(out, "\n");
}

void replay_matrix_print(const replay_matrix *m, FILE *out)
{
    if (!m->nrows)
        return;
    fprintf(out, "transitions against the original (per route):\n  %-28s %10s %10s %10s %10s %10s\n",
            "route", "fixed", "regressed", "still diff", "unchanged", "not compar");
    uint64_t total[RT_COUNT] = {0};
    for (size_t i = 0; i < m->nrows; i++) {
        print_row(out, m->rows[i].route, m->rows[i].n);
        for (int t = 0; t < RT_COUNT; t++)
            total[t] += m->rows[i].n[t];
    }
    if (m->nrows > 1)
        print_row(out, "(all routes)", total);
}

static json_t *counts_json(const uint64_t n[RT_COUNT])
{
    json_t *o = json_object();
    for (int t = 0; o && t < RT_COUNT; t++)
        json_object_set_new(o, names[t], json_integer((json_int_t)n[t]));
    return o;
}

json_t *replay_matrix_json(const replay_matrix *m)
{
    json_t *routes = json_object();
    uint64_t total[RT_COUNT] = {0};
    for (size_t i = 0; routes && i < m->nrows; i++) {
        json_object_set_new(routes, m->rows[i].route, counts_json(m->rows[i].n));
        for (int t = 0; t < RT_COUNT; t++)
            total[t] += m->rows[i].n[t];
    }
    return json_pack("{s:o*, s:o*}", "routes", routes, "total", counts_json(total));
}

int replay_write_json(const char *path, json_t *summary, const replay_matrix *m)
{
    if (json_object_set_new(summary, "transitions", m ? replay_matrix_json(m) : json_null()) != 0 ||
        json_dump_file(summary, path, JSON_INDENT(2)) != 0) {
        fprintf(stderr, "replay: cannot write --json %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- --fail-if ----------------------------------------------------------------- */

static const char *const ops[] = {">=", "<=", "==", "!=", ">", "<"};

int replay_gate_parse(const char *s, replay_gate *g, char *err, size_t errsize)
{
    *g = (replay_gate){0};
    const char *p = s;
    if (!strncmp(p, "route:", 6)) {
        const char *colon = strrchr(p + 6, ':');
        if (!colon || colon == p + 6) {
            snprintf(err, errsize, "--fail-if \"%s\": write route:NAME:METRIC OP N", s);
            return -1;
        }
        g->route = strndup(p + 6, (size_t)(colon - p - 6));
        p = colon + 1;
    }
    while (*p == ' ')
        p++;
    size_t n = strcspn(p, "<>=! ");
    static const struct { const char *name; replay_transition t; } metrics[] = {
        {"regressions", RT_REGRESSED}, {"regressed", RT_REGRESSED}, {"fixes", RT_FIXED},
        {"fixed", RT_FIXED}, {"still_differing", RT_STILL}, {"unchanged", RT_UNCHANGED},
        {"not_compared", RT_UNCOMPARED}};
    size_t k = 0;
    while (k < sizeof metrics / sizeof *metrics &&
           (strlen(metrics[k].name) != n || strncmp(metrics[k].name, p, n) != 0))
        k++;
    if (k == sizeof metrics / sizeof *metrics) {
        snprintf(err, errsize, "--fail-if \"%s\": the metric is one of regressions, fixes, "
                 "still_differing, unchanged, not_compared", s);
        replay_gate_free(g);
        return -1;
    }
    g->metric = metrics[k].t;
    p += n;
    while (*p == ' ')
        p++;
    g->op = -1;
    for (int i = 0; i < 6 && g->op < 0; i++)
        if (!strncmp(p, ops[i], strlen(ops[i])))
            g->op = i;
    char *end = NULL;
    const char *num = g->op >= 0 ? p + strlen(ops[g->op]) : p;
    while (*num == ' ')
        num++;
    unsigned long long v = *num >= '0' && *num <= '9' ? strtoull(num, &end, 10) : 0;
    if (g->op < 0 || !end || *end) {
        snprintf(err, errsize, "--fail-if \"%s\": write METRIC OP N, e.g. regressions>0", s);
        replay_gate_free(g);
        return -1;
    }
    g->n = v;
    g->text = strdup(s);
    return g->text ? 0 : -1;
}

void replay_gate_free(replay_gate *g)
{
    free(g->text);
    free(g->route);
    *g = (replay_gate){0};
}

bool replay_gate_holds(const replay_gate *g, const replay_matrix *m, uint64_t *value)
{
    uint64_t v = replay_matrix_count(m, g->route, g->metric);
    if (value)
        *value = v;
    switch (g->op) {
    case 0: return v >= g->n;
    case 1: return v <= g->n;
    case 2: return v == g->n;
    case 3: return v != g->n;
    case 4: return v > g->n;
    default: return v < g->n;
    }
}

/* A record's row in the transition matrix: its route, or for the route
 * default its endpoint, as the report groups it. */
const char *replay_route_key(const json_t *rec, char *key)
{
    const char *g = endpoint_group(json_string_value(json_object_get(rec, "route")),
                                   json_string_value(json_object_get(rec, "endpoint")),
                                   json_string_value(json_object_get(rec, "method")),
                                   json_string_value(json_object_get(rec, "uri")), key, ENDPOINT_MAX);
    return g ? g : "(no route)";
}

/* The --fail-if gates: 3 when one holds, 2 when one names a route the
 * replay never saw (a typo would pass silently), else 0. */
int replay_gates_check(const replay_gate *gs, size_t n, const replay_matrix *mx)
{
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        const replay_gate *g = &gs[i];
        uint64_t v = 0;
        if (!mx) {
            fprintf(stderr, "replay: --fail-if \"%s\": no transitions (out of memory)\n", g->text);
            return 1;
        }
        if (g->route && !replay_matrix_has(mx, g->route)) {
            fprintf(stderr, "replay: --fail-if \"%s\": no exchange of route \"%s\" was replayed\n",
                    g->text, g->route);
            return 2;
        }
        if (replay_gate_holds(g, mx, &v)) {
            fprintf(stderr, "replay: --fail-if %s holds (%s = %llu)\n", g->text,
                    replay_transition_name(g->metric), (unsigned long long)v);
            rc = 3;
        }
    }
    return rc;
}


/* Reads the new log back and sets each verdict against the original one,
 * into a transition matrix per route (the caller frees it). In mode
 * "mismatches" an id missing from the new log matched. */
replay_matrix *replay_compare_log(const char *diff_log, const json_t *original, bool all_mode)
{
    char err[512];
    logread *r;
    replay_matrix *mx = replay_matrix_new();
    if (logread_open(&r, diff_log, err, sizeof err) != 0) {
        if (json_object_size(original) > 0 && all_mode)
            fprintf(stderr, "replay: cannot read the new log back: %s\n", err);
        r = NULL;
    }
    json_t *rec;
    uint64_t same = 0, changed = 0, listed = 0;
    json_t *seen = json_object();
    while (r && seen && logread_next(r, &rec, err, sizeof err) == 1) {
        const char *id = json_string_value(json_object_get(rec, "id"));
        const char *now = json_string_value(json_object_get(rec, "verdict"));
        const json_t *orig = id ? json_object_get(original, id) : NULL;
        const char *was = json_string_value(json_object_get(orig, "v"));
        if (was && now && !json_object_get(seen, id)) {
            json_object_set_new(seen, id, json_true());
            char key[ENDPOINT_MAX];
            if (mx)
                replay_matrix_add(mx, replay_route_key(rec, key), replay_transition_of(was, now));
            if (strcmp(was, now) == 0)
                same++;
            else if (changed++, listed++ < 10)
                printf("  changed  %s  %s -> %s  (%s %s)\n", id, was, now,
                       json_string_value(json_object_get(rec, "method")),
                       json_string_value(json_object_get(rec, "uri")));
        }
        json_decref(rec);
    }
    logread_close(r);
    uint64_t missing = 0;
    const char *id;
    json_t *v;
    json_object_foreach((json_t *)original, id, v) {
        if (seen && json_object_get(seen, id))
            continue;
        const char *was = json_string_value(json_object_get(v, "v"));
        if (mx)
            replay_matrix_add(mx, json_string_value(json_object_get(v, "r")),
                              replay_transition_of(was, all_mode ? NULL : "match"));
        if (!all_mode && strcmp(was, "match") == 0)
            same++;
        else if (!all_mode)
            changed++;
        else
            missing++;
    }
    json_decref(seen);
    if (changed > listed)
        printf("  ... and %llu more changed\n", (unsigned long long)(changed - listed));
    printf("verdicts against the original: %llu same, %llu changed", (unsigned long long)same,
           (unsigned long long)changed);
    if (missing)
        printf(", %llu without a new record", (unsigned long long)missing);
    printf("\n");
    if (mx)
        replay_matrix_print(mx, stdout);
    return mx;
}

