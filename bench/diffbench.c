/* diffbench: JSON comparison throughput per core, beside jansson's bare
 * parse of the same documents. Prints a table; no assertions.
 *
 *   build/diffbench [ROUNDS]
 *
 * Documents are Magento-like order lists (2 KB, 100 KB, 5 MB). The "new"
 * side carries the noise a real upgrade has: reversed lines, other
 * timestamps, money as 45.0. Three measurements per size, each the median of
 * ROUNDS runs, in MB/s of JSON (both documents' bytes) per core:
 *   parse        json_loadb of both documents (the floor: any JSON diff parses)
 *   diff         body_prepare of both + compare_bodies_consume, no rules,
 *                in an arena scope as a comparer runs them (base/json_arena.h;
 *                DIFFBENCH_MALLOC=1: without, as before 2026-12-08)
 *   diff+rules   the same with a route's rules (ignore, keyed array,
 *                tolerance, datetime normalisation)
 *
 *   build/diffbench --once SIZE WHAT [REPS]
 *
 * runs one measurement REPS times (default 1) and prints nothing but its
 * differences: SIZE 0, 1, 2 (2 KB, 82 KB, 4 MB), WHAT 0 parse, 1 diff,
 * 2 diff+rules. For instruction counts, which a busy machine does not
 * disturb: valgrind --tool=callgrind build/diffbench --once 0 2 100 (the
 * documents are built before; subtract a REPS=0 run for the setup). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/json_arena.h"
#include "diff/body.h"
#include "diff/compare.h"
#include "conf/rules.h"

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* An order list of n orders, each with 3 lines; `noisy` is the new side. */
static char *make_doc(int n, int noisy, size_t *len)
{
    json_t *orders = json_array();
    for (int i = 0; i < n; i++) {
        json_t *items = json_array();
        for (int k = 0; k < 3; k++) {
            int kk = noisy ? 2 - k : k;
            char sku[16];
            snprintf(sku, sizeof sku, "MB%02d", kk);
            double price = 10.0 * (kk + 1) + 0.99;
            json_array_append_new(items, json_pack("{s:s, s:i, s:f, s:f}", "sku", sku, "qty",
                                                   kk + 1, "price", price, "row_total",
                                                   price * (kk + 1)));
        }
        json_array_append_new(
            orders, json_pack("{s:i, s:s, s:s, s:o, s:{s:f, s:f, s:f}, s:s, s:s}", "id", i,
                              "status", "processing", "currency", "EUR", "items", items,
                              "totals", "subtotal", 140.97, "tax", 26.78, "grand_total", 167.75,
                              "created_at",
                              noisy ? "2024-01-01T07:18:12Z" : "2024-01-01 07:18:12",
                              "updated_at", noisy ? "2026-11-24 10:00:00" : "2024-01-02 17:34:48"));
    }
    json_t *doc = json_pack("{s:o, s:i}", "orders", orders, "page", 1);
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    *len = strlen(text);
    return text;
}

static route_compare *make_rules(void)
{
    static route_compare rc;
    static path_pattern ignore[1];
    static rule_array arrays[1];
    static rule_tolerance tol[1];
    static rule_normalize norm[1];
    const char *why;
    path_pattern_compile(&ignore[0], "/**/updated_at", &why);
    path_pattern_compile(&arrays[0].path, "/orders/*/items", &why);
    arrays[0].key = "sku";
    path_pattern_compile(&tol[0].path, "/orders/*/totals/*", &why);
    tol[0].absolute = 0.005;
    path_pattern_compile(&norm[0].path, "/**/created_at", &why);
    norm[0].datetime = true;
    rc.ignore = ignore;
    rc.nignore = 1;
    rc.arrays = arrays;
    rc.narrays = 1;
    rc.tolerance = tol;
    rc.ntolerance = 1;
    rc.normalize = norm;
    rc.nnormalize = 1;
    return &rc;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

/* One run of `what` (0 parse, 1 diff, 2 diff+rules); returns CPU seconds and
 * the differences found in *found. */
static json_arena *arena; /* NULL with DIFFBENCH_MALLOC=1 */

static double run_once(int what, const char *l, size_t ll, const char *n, size_t nl,
                       const route_compare *rc, size_t *found)
{
    double t0 = cpu_now();
    if (what == 0) {
        json_t *a = json_loadb(l, ll, 0, NULL), *b = json_loadb(n, nl, 0, NULL);
        json_decref(a);
        json_decref(b);
        *found = 0;
    } else {
        body_view lb = {0}, nb = {0};
        json_arena_begin(arena);
        body_prepare(&lb, (const unsigned char *)l, ll, true, ll, "", "application/json", NULL,
                     64u << 20);
        body_prepare(&nb, (const unsigned char *)n, nl, true, nl, "", "application/json", NULL,
                     64u << 20);
        json_t *diffs = json_array();
        compare_opts o = {.max_differences = 100, .rules = what == 2 ? rc : NULL,
                          .arena = arena};
        /* as the comparer does when no record can be due before the
         * verdict (mismatches mode): it frees the views */
        *found = compare_bodies_consume(&lb, &nb, diffs, &o);
        json_arena_drop(arena, diffs);
        json_arena_end(arena);
    }
    return cpu_now() - t0;
}

static const int sizes[] = {4, 200, 10000}; /* orders: ~2 KB, ~100 KB, ~5 MB */

static int run_fixed(int argc, char **argv)
{
    int size = argc > 2 ? atoi(argv[2]) : -1, what = argc > 3 ? atoi(argv[3]) : -1;
    int reps = argc > 4 ? atoi(argv[4]) : 1;
    if (size < 0 || size > 2 || what < 0 || what > 2 || reps < 0) {
        fprintf(stderr, "usage: diffbench --once SIZE(0-2) WHAT(0-2) [REPS]\n");
        return 2;
    }
    size_t ll, nl, found = 0;
    char *l = make_doc(sizes[size], 0, &ll), *n = make_doc(sizes[size], 1, &nl);
    const route_compare *rc = make_rules();
    for (int k = 0; k < reps; k++)
        run_once(what, l, ll, n, nl, rc, &found);
    printf("%zu bytes, %zu differences\n", ll + nl, found);
    free(l);
    free(n);
    json_arena_free(arena);
    return 0;
}

int main(int argc, char **argv)
{
    const char *m = getenv("DIFFBENCH_MALLOC");
    if (!m || strcmp(m, "1") != 0) {
        json_arena_install();
        arena = json_arena_new(256 * 1024); /* as a comparer's (analyzer.c) */
    }
    if (argc > 1 && strcmp(argv[1], "--once") == 0)
        return run_fixed(argc, argv);
    int rounds = argc > 1 ? atoi(argv[1]) : 9;
    if (rounds < 1 || rounds > 1000)
        rounds = 9;
    const char *names[] = {"parse (jansson)", "diff, no rules", "diff + rules"};
    const route_compare *rc = make_rules();
    printf("| document | size | measurement | MB/s per core (median of %d) | vs parse | differences |\n",
           rounds);
    printf("|---|---:|---|---:|---:|---:|\n");
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        size_t ll, nl;
        char *l = make_doc(sizes[s], 0, &ll), *n = make_doc(sizes[s], 1, &nl);
        int reps = sizes[s] < 100 ? 2000 : sizes[s] < 1000 ? 50 : 1;
        double mbps[3] = {0};
        for (int what = 0; what < 3; what++) {
            double *t = calloc((size_t)rounds, sizeof *t);
            size_t found = 0;
            for (int r = 0; r < rounds; r++) {
                double sum = 0;
                for (int k = 0; k < reps; k++)
                    sum += run_once(what, l, ll, n, nl, rc, &found);
                t[r] = sum / reps;
            }
            mbps[what] = (double)(ll + nl) / 1e6 / median(t, rounds);
            printf("| orders x%d | %.0f KB | %s | %.1f | %.2f | %zu |\n", sizes[s],
                   (double)(ll + nl) / 2 / 1024, names[what], mbps[what],
                   mbps[what] / mbps[0], found);
            free(t);
        }
        free(l);
        free(n);
    }
    json_arena_free(arena);
    return 0;
}
