/* Unit tests: the labelled metrics registry and its Prometheus exposition.
 * A small checker parses every render: HELP/TYPE before a family's samples,
 * families contiguous, `name{labels} value` samples, label escapes, no
 * duplicate series, histogram series named after their family. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "obs/metrics.h"
#include "unit.h"

/* ---- Exposition checker ------------------------------------------------- */

typedef struct fam {
    char name[128], type[16];
    bool help, typed, closed;
} fam;

typedef struct checker {
    fam f[256];
    size_t nf;
    fam *cur;
    char **series;
    size_t nseries, cap;
    char err[256];
} checker;

static fam *fam_find(checker *c, const char *name, size_t n)
{
    for (size_t i = 0; i < c->nf; i++)
        if (strlen(c->f[i].name) == n && memcmp(c->f[i].name, name, n) == 0)
            return &c->f[i];
    return NULL;
}

static fam *fam_enter(checker *c, const char *name, size_t n)
{
    fam *f = fam_find(c, name, n);
    if (!f && c->nf < 256 && n < sizeof c->f[0].name) {
        f = &c->f[c->nf++];
        memcpy(f->name, name, n);
        f->name[n] = '\0';
    }
    if (f && f != c->cur) {
        if (c->cur)
            c->cur->closed = true;
        if (f->closed)
            return NULL; /* a family's lines must be contiguous */
        c->cur = f;
    }
    return f;
}

static size_t name_len(const char *p, bool label)
{
    size_t i = 0;
    while ((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') || p[i] == '_' ||
           (!label && p[i] == ':') || (i && p[i] >= '0' && p[i] <= '9'))
        i++;
    return i;
}

static bool fail(checker *c, const char *line, const char *why)
{
    snprintf(c->err, sizeof c->err, "%s: %.150s", why, line);
    return false;
}

static bool has_suffix(const char *s, size_t n, const char *suf)
{
    size_t k = strlen(suf);
    return n >= k && memcmp(s + n - k, suf, k) == 0;
}

static bool check_sample(checker *c, const char *line)
{
    size_t n = name_len(line, false);
    if (!n)
        return fail(c, line, "no metric name");
    /* Its family: the name, or a histogram's name less _bucket/_sum/_count. */
    fam *f = fam_find(c, line, n);
    bool bucket = false;
    static const char *const sufs[] = {"_bucket", "_sum", "_count"};
    for (int i = 0; !f && i < 3; i++)
        if (has_suffix(line, n, sufs[i])) {
            f = fam_find(c, line, n - strlen(sufs[i]));
            if (f && strcmp(f->type, "histogram") != 0)
                f = NULL;
            bucket = i == 0;
        }
    if (!f || !f->typed || !f->help)
        return fail(c, line, "sample before its HELP and TYPE");
    if (fam_enter(c, f->name, strlen(f->name)) != f)
        return fail(c, line, "family not contiguous");
    if (!strcmp(f->type, "counter") && !has_suffix(line, n, "_total"))
        return fail(c, line, "counter without _total");
    const char *p = line + n;
    bool le = false;
    if (*p == '{') {
        p++;
        while (*p != '}') {
            size_t k = name_len(p, true);
            if (!k || p[k] != '=' || p[k + 1] != '"')
                return fail(c, line, "bad label");
            le |= k == 2 && !memcmp(p, "le", 2);
            p += k + 2;
            while (*p != '"') {
                if (!*p)
                    return fail(c, line, "unterminated label value");
                if (*p == '\\') {
                    if (p[1] != '\\' && p[1] != '"' && p[1] != 'n')
                        return fail(c, line, "bad escape");
                    p++;
                }
                p++;
            }
            p++;
            if (*p == ',')
                p++;
            else if (*p != '}')
                return fail(c, line, "bad label list");
        }
        p++;
    }
    if (bucket && !le)
        return fail(c, line, "bucket without le");
    if (*p != ' ')
        return fail(c, line, "no space before the value");
    char *end;
    const char *v = p + 1;
    if (strcmp(v, "+Inf") && strcmp(v, "-Inf") && strcmp(v, "NaN")) {
        strtod(v, &end);
        if (end == v || *end)
            return fail(c, line, "bad value");
    }
    if (c->nseries == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 1024;
        c->series = realloc(c->series, c->cap * sizeof *c->series);
    }
    c->series[c->nseries++] = strndup(line, (size_t)(p - line));
    return true;
}

static bool check_comment(checker *c, const char *line)
{
    bool help = !strncmp(line, "# HELP ", 7), type = !strncmp(line, "# TYPE ", 7);
    if (!help && !type)
        return fail(c, line, "unexpected comment");
    size_t n = name_len(line + 7, false);
    if (!n || line[7 + n] != ' ')
        return fail(c, line, "bad HELP/TYPE");
    fam *f = fam_enter(c, line + 7, n);
    if (!f)
        return fail(c, line, "family not contiguous");
    if (help ? f->help : f->typed)
        return fail(c, line, "HELP or TYPE twice");
    if (help)
        f->help = true;
    else {
        const char *t = line + 8 + n;
        if (strcmp(t, "counter") && strcmp(t, "gauge") && strcmp(t, "histogram"))
            return fail(c, line, "unexpected type");
        snprintf(f->type, sizeof f->type, "%s", t);
        f->typed = true;
    }
    return true;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* true when `text` is a valid exposition; else c->err says why. */
static bool exposition_ok(const char *text, size_t len, checker *c)
{
    memset(c, 0, sizeof *c);
    bool ok = len > 0 && text[len - 1] == '\n' && strlen(text) == len;
    if (!ok)
        fail(c, "", "empty, unterminated or embedded NUL");
    for (const char *p = text; ok && *p;) {
        const char *nl = strchr(p, '\n');
        char *line = strndup(p, (size_t)(nl - p));
        ok = line[0] == '#' ? check_comment(c, line) : check_sample(c, line);
        free(line);
        p = nl + 1;
    }
    qsort(c->series, c->nseries, sizeof *c->series, cmp_str);
    for (size_t i = 1; ok && i < c->nseries; i++)
        if (!strcmp(c->series[i - 1], c->series[i]))
            ok = fail(c, c->series[i], "duplicate series");
    for (size_t i = 0; i < c->nseries; i++)
        free(c->series[i]);
    free(c->series);
    if (!ok)
        fprintf(stderr, "  exposition: %s\n", c->err);
    return ok;
}

static char *render(const metrics_render_input *in)
{
    size_t len = 0;
    char *t = metrics_render(in, &len);
    checker c;
    CHECK(t != NULL);
    CHECK(t && exposition_ok(t, len, &c));
    return t;
}

/* The value of one series (exact name and labels), or NAN if absent. */
static double value_of(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (!strncmp(p, series, n) && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    return NAN;
}

/* Sum and count of the samples whose line starts with `prefix`. */
static double sum_of(const char *text, const char *prefix, int *count)
{
    double s = 0;
    size_t n = strlen(prefix);
    *count = 0;
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (!strncmp(p, prefix, n)) {
            s += strtod(strchr(p + n, ' ') + 1, NULL);
            (*count)++;
        }
    return s;
}

#define CHECK_VALUE(text, series, want) CHECK(value_of((text), (series)) == (double)(want))

/* ---- Tests ----------------------------------------------------------------- */

TEST(process_counters_keep_their_api)
{
    uint64_t before = metric_get(METRIC_shadow_dropped);
    metric_add(METRIC_shadow_dropped, 3);
    CHECK(metric_get(METRIC_shadow_dropped) == before + 3);
    metric_add(METRIC_shadow_in_flight, 1);
    metric_add(METRIC_shadow_in_flight, -1);
    metric_verdict(VERDICT_MISMATCH);
    CHECK_STR(verdict_name(VERDICT_SHADOW_TIMEOUT), "shadow_timeout");
    CHECK_STR(metric_name(METRIC_difflog_bytes), "difflog_bytes");
    metric_add(METRIC_rules_reload_failed, 1);
    char *t = render(NULL);
    CHECK(t && strstr(t, "untyped") == NULL); /* every METRIC_LIST entry has a row */
    CHECK(value_of(t, "shadowproxy_shadow_dropped_total") >= 3);
    CHECK_VALUE(t, "shadowproxy_shadow_in_flight", 0);
    CHECK(value_of(t, "shadowproxy_verdicts_total{verdict=\"mismatch\"}") >= 1);
    CHECK(value_of(t, "shadowproxy_rules_reloads_total{result=\"failed\"}") >= 1);
    CHECK(!isnan(value_of(t, "shadowproxy_rules_reloads_total{result=\"ok\"}")));
    CHECK(!isnan(value_of(t, "shadowproxy_difflog_queue_depth")));
    free(t);
}

/* The process_* families, as client_golang names them, with values this
 * test can check against the kernel: one more open file is one more fd, the
 * fd limit is getrlimit's, memory and start time are plausible. */
TEST(process_metrics_follow_client_conventions)
{
    char *t = render(NULL);
    double fds = value_of(t, "process_open_fds");
    CHECK(fds >= 3); /* stdin, stdout, stderr at least */
    struct rlimit rl;
    CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
    CHECK_VALUE(t, "process_max_fds", rl.rlim_cur);
    CHECK(value_of(t, "process_resident_memory_bytes") > 1024 * 1024);
    CHECK(value_of(t, "process_virtual_memory_bytes") >= value_of(t, "process_resident_memory_bytes"));
    double start = value_of(t, "process_start_time_seconds"), now = (double)time(NULL);
    CHECK(start > now - 600 && start <= now + 1); /* this test process started just now */
    double cpu = value_of(t, "process_cpu_seconds_total");
    CHECK(cpu >= 0 && cpu < 600);
    CHECK(strstr(t, "# TYPE process_cpu_seconds_total counter\n") != NULL);
    CHECK(strstr(t, "# TYPE process_open_fds gauge\n") != NULL);
    free(t);
    FILE *extra = fopen("/dev/null", "r");
    CHECK(extra != NULL);
    t = render(NULL);
    CHECK_VALUE(t, "process_open_fds", fds + 1);
    free(t);
    if (extra)
        fclose(extra);
}

TEST(every_family_is_documented)
{
    FILE *f = fopen("docs/metrics.md", "r");
    if (!f) {
        fprintf(stderr, "  (docs/metrics.md not found from here: skipped)\n");
        return;
    }
    static char doc[1 << 17];
    size_t n = fread(doc, 1, sizeof doc - 1, f);
    doc[n] = '\0';
    fclose(f);
    char *t = render(NULL);
    for (char *p = t; p && (p = strstr(p, "# TYPE ")); p++) {
        char name[128];
        if (sscanf(p + 7, "%127s", name) != 1)
            continue;
        char quoted[132];
        snprintf(quoted, sizeof quoted, "`%s`", name);
        if (!strstr(doc, quoted)) {
            fprintf(stderr, "  %s not in docs/metrics.md\n", name);
            CHECK(0);
        }
    }
    free(t);
}

TEST(requests_sum_across_shards)
{
    metrics_shard *a = metrics_shard_new("worker-0"), *b = metrics_shard_new("worker-1");
    CHECK(a && b && a != b);
    for (int i = 0; i < 3; i++)
        metrics_request(a, "orders", "GET", SIDE_LEGACY, 200);
    metrics_request(b, "orders", "GET", SIDE_LEGACY, 204);
    metrics_request(b, "orders", "GET", SIDE_LEGACY, 299);
    metrics_request(b, "orders", "POST", SIDE_NEW, 503);
    metrics_request(a, "orders", "BREW", SIDE_LEGACY, 0);
    metrics_request(a, "orders", "get", SIDE_LEGACY, 700);
    metrics_request(a, "orders", NULL, SIDE_LEGACY, 101);
    metrics_request(b, NULL, "DELETE", SIDE_LEGACY, 404);
    metrics_request(b, "orders", "GET", (sp_side)7, 200); /* ignored */
    metrics_request(NULL, "orders", "GET", SIDE_LEGACY, 200);  /* no shard: nothing */
    char *t = render(NULL);
    const char *p = "shadowproxy_route_requests_total{route=\"orders\",method=";
    char s[200];
    snprintf(s, sizeof s, "%s\"GET\",authority=\"legacy\",status_class=\"2xx\"}", p);
    CHECK_VALUE(t, s, 5);
    snprintf(s, sizeof s, "%s\"POST\",authority=\"new\",status_class=\"5xx\"}", p);
    CHECK_VALUE(t, s, 1);
    snprintf(s, sizeof s, "%s\"OTHER\",authority=\"legacy\",status_class=\"error\"}", p);
    CHECK_VALUE(t, s, 2);
    snprintf(s, sizeof s, "%s\"OTHER\",authority=\"legacy\",status_class=\"1xx\"}", p);
    CHECK_VALUE(t, s, 1);
    CHECK_VALUE(t,
                "shadowproxy_route_requests_total{route=\"default\",method=\"DELETE\","
                "authority=\"legacy\",status_class=\"4xx\"}",
                1);
    int n;
    CHECK(sum_of(t, "shadowproxy_route_requests_total{", &n) == 10 && n == 5);
    free(t);
    metrics_shutdown();
}

TEST(histogram_buckets_are_cumulative)
{
    metrics_shard *a = metrics_shard_new("worker-0"), *b = metrics_shard_new("worker-1");
    metrics_upstream_seconds(a, "inv", SIDE_LEGACY, false, 0.0005);
    metrics_upstream_seconds(a, "inv", SIDE_LEGACY, false, 0.001); /* le is inclusive */
    metrics_upstream_seconds(b, "inv", SIDE_LEGACY, false, 0.003);
    metrics_upstream_seconds(b, "inv", SIDE_LEGACY, false, 0.2);
    metrics_upstream_seconds(a, "inv", SIDE_LEGACY, false, 20);
    metrics_upstream_seconds(a, "inv", SIDE_LEGACY, false, -1);  /* as 0 */
    metrics_upstream_seconds(b, "inv", SIDE_LEGACY, false, NAN); /* as 0 */
    metrics_upstream_seconds(b, "inv", SIDE_NEW, true, 0.05);
    metrics_request_seconds(a, "inv", 0.0101);
    char *t = render(NULL);
    static const struct {
        const char *le;
        int want;
    } want[] = {{"0.001", 4}, {"0.0025", 4}, {"0.005", 5}, {"0.01", 5}, {"0.025", 5},
                {"0.05", 5},  {"0.1", 5},    {"0.25", 6},  {"0.5", 6},  {"1", 6},
                {"2.5", 6},   {"5", 6},      {"10", 6},    {"+Inf", 7}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char s[200];
        snprintf(s, sizeof s,
                 "shadowproxy_upstream_duration_seconds_bucket{route=\"inv\",side=\"legacy\","
                 "role=\"authoritative\",le=\"%s\"}",
                 want[i].le);
        CHECK_VALUE(t, s, want[i].want);
    }
    const char *l = "{route=\"inv\",side=\"legacy\",role=\"authoritative\"}";
    char s[200];
    snprintf(s, sizeof s, "shadowproxy_upstream_duration_seconds_count%s", l);
    CHECK_VALUE(t, s, 7);
    snprintf(s, sizeof s, "shadowproxy_upstream_duration_seconds_sum%s 20.204500000\n", l);
    CHECK(strstr(t, s) != NULL);
    CHECK_VALUE(t,
                "shadowproxy_upstream_duration_seconds_count{route=\"inv\",side=\"new\","
                "role=\"shadow\"}",
                1);
    /* Combinations never observed are not rendered. */
    CHECK(!strstr(t, "side=\"new\",role=\"authoritative\""));
    CHECK_VALUE(t, "shadowproxy_request_duration_seconds_bucket{route=\"inv\",le=\"0.01\"}", 0);
    CHECK_VALUE(t, "shadowproxy_request_duration_seconds_bucket{route=\"inv\",le=\"0.025\"}", 1);
    free(t);
    metrics_shutdown();
}

TEST(verdicts_by_route)
{
    metrics_shard *an = metrics_shard_new("analyzer");
    metrics_verdict_route(an, "orders", VERDICT_MATCH);
    metrics_verdict_route(an, "orders", VERDICT_MISMATCH);
    metrics_verdict_route(an, "orders", VERDICT_MISMATCH);
    metrics_verdict_route(an, "orders", VERDICT_COUNT); /* ignored */
    char *t = render(NULL);
    CHECK_VALUE(t, "shadowproxy_route_verdicts_total{route=\"orders\",verdict=\"mismatch\"}", 2);
    CHECK_VALUE(t, "shadowproxy_route_verdicts_total{route=\"orders\",verdict=\"match\"}", 1);
    /* Every verdict of a compared route is there, at 0 if need be. */
    CHECK_VALUE(t, "shadowproxy_route_verdicts_total{route=\"orders\",verdict=\"shadow_timeout\"}",
                0);
    free(t);
    metrics_shutdown();
}

TEST(top_paths_then_other)
{
    metrics_shard *an = metrics_shard_new("analyzer");
    char path[64];
    int total = 0;
    for (int k = 0; k < 10; k++)
        for (int i = 0; i < METRICS_TOP_PATHS; i++, total++) {
            snprintf(path, sizeof path, "/items/p%d", i);
            metrics_mismatch_path(an, "inv", "body", path);
        }
    for (int i = 0; i < 1000; i++, total++) {
        snprintf(path, sizeof path, "/rare/%d", i);
        metrics_mismatch_path(an, "inv", "body", path);
    }
    char *t = render(NULL);
    CHECK_VALUE(t, "shadowproxy_route_differences_total{route=\"inv\",where=\"body\",path=\"/items/p7\"}",
                10);
    CHECK_VALUE(t, "shadowproxy_route_differences_total{route=\"inv\",where=\"body\",path=\"other\"}",
                1000);
    CHECK_VALUE(t, "shadowproxy_route_differences_total{route=\"inv\",where=\"header\",path=\"other\"}",
                0);
    free(t);
    /* A path that becomes frequent takes the weakest slot. */
    for (int i = 0; i < 200; i++, total++)
        metrics_mismatch_path(an, "inv", "body", "/hot");
    metrics_mismatch_path(an, "inv", "header", "X-Trace");
    metrics_mismatch_path(an, "inv", "nowhere", "/x"); /* not counted */
    metrics_mismatch_path(an, "inv", NULL, "/x");      /* not counted */
    total++;
    t = render(NULL);
    double hot = value_of(
        t, "shadowproxy_route_differences_total{route=\"inv\",where=\"body\",path=\"/hot\"}");
    CHECK(hot > 150 && hot < 200); /* counted on its own once promoted */
    int n;
    double sum = sum_of(t, "shadowproxy_route_differences_total{route=\"inv\",", &n);
    /* Each difference counted once, in the series exported at the time: the
     * evicted path's series (10) is gone, /hot's earlier ones are in other. */
    CHECK(sum == total - 10);
    CHECK(n == METRICS_TOP_PATHS + 3); /* N paths + other per place */
    CHECK(value_of(t, "shadowproxy_route_differences_total{route=\"inv\",where=\"body\","
                      "path=\"other\"}") == 1000 + 200 - hot);
    CHECK(isnan(value_of(
        t, "shadowproxy_route_differences_total{route=\"inv\",where=\"header\",path=\"X-Trace\"}")));
    CHECK_VALUE(t, "shadowproxy_route_differences_total{route=\"inv\",where=\"header\",path=\"other\"}",
                1);
    free(t);
    metrics_shutdown();
}

TEST(few_paths_all_exported_and_other_path_merges)
{
    metrics_shard *an = metrics_shard_new("analyzer");
    metrics_mismatch_path(an, "r", "status", "");
    metrics_mismatch_path(an, "r", "header", "other"); /* a header named "other" */
    metrics_mismatch_path(an, "r", "header", "Content-Type");
    metrics_mismatch_path(an, "r", "header", "Content-Type");
    char *t = render(NULL);
    CHECK_VALUE(t, "shadowproxy_route_differences_total{route=\"r\",where=\"status\",path=\"\"}", 1);
    CHECK_VALUE(t,
                "shadowproxy_route_differences_total{route=\"r\",where=\"header\",path=\"Content-Type\"}",
                2);
    CHECK_VALUE(t, "shadowproxy_route_differences_total{route=\"r\",where=\"header\",path=\"other\"}",
                1);
    free(t);
    metrics_shutdown();
}

TEST(route_cap_counts_the_rest_as_other)
{
    metrics_shard *s = metrics_shard_new("worker-0");
    char name[32];
    for (int i = 0; i < METRICS_MAX_ROUTES + 100; i++) {
        snprintf(name, sizeof name, "route-%d", i);
        metrics_request(s, name, "GET", SIDE_LEGACY, 200);
    }
    metrics_request(s, "route-5", "GET", SIDE_LEGACY, 200); /* known: still its own */
    char *t = render(NULL);
    int n;
    CHECK(sum_of(t, "shadowproxy_route_requests_total{", &n) == METRICS_MAX_ROUTES + 101);
    CHECK(n == METRICS_MAX_ROUTES + 1);
    CHECK_VALUE(t,
                "shadowproxy_route_requests_total{route=\"other\",method=\"GET\","
                "authority=\"legacy\",status_class=\"2xx\"}",
                100);
    CHECK_VALUE(t,
                "shadowproxy_route_requests_total{route=\"route-5\",method=\"GET\","
                "authority=\"legacy\",status_class=\"2xx\"}",
                2);
    free(t);
    metrics_shutdown();
}

TEST(labels_are_escaped_and_cut)
{
    metrics_shard *s = metrics_shard_new("worker-0");
    metrics_request(s, "a\"b\\c\nd", "GET", SIDE_LEGACY, 200);
    metrics_request(s, "x\xffy", "GET", SIDE_LEGACY, 200);
    char long_name[300];
    memset(long_name, 'a', sizeof long_name);
    memcpy(long_name + METRICS_MAX_LABEL - 1, "\xc3\xa9", 2); /* é across the cut */
    long_name[sizeof long_name - 1] = '\0';
    metrics_request(s, long_name, "GET", SIDE_LEGACY, 200);
    long_name[250] = '\0'; /* same first 199 bytes: the same route */
    metrics_request(s, long_name, "GET", SIDE_LEGACY, 200);
    metrics_shard *an = metrics_shard_new("analyzer");
    metrics_mismatch_path(an, "r", "body", "/k\"ey");
    char *t = render(NULL);
    CHECK(strstr(t, "{route=\"a\\\"b\\\\c\\nd\",method=\"GET\"") != NULL);
    CHECK(strstr(t, "{route=\"x\\\\xFFy\",") != NULL);
    char want[300];
    snprintf(want, sizeof want, "{route=\"%.*s\",", METRICS_MAX_LABEL - 1, long_name);
    const char *hit = strstr(t, want);
    CHECK(hit != NULL);
    CHECK(hit && strtod(strchr(hit, ' ') + 1, NULL) == 2);
    CHECK(strstr(t, "path=\"/k\\\"ey\"} 1\n") != NULL);
    free(t);
    /* control characters from an upstream's JSON key: never raw */
    metrics_mismatch_path(an, "r", "body", "/k\x1b[31mey\r\t\x7f\xc2\x9b\xc3\xa9");
    t = render(NULL);
    CHECK(strstr(t, "path=\"/k\\\\x1B[31mey\\\\x0D\\\\x09\\\\x7F\\\\xC2\\\\x9B\xc3\xa9\"} 1\n") != NULL);
    for (const unsigned char *c = (const unsigned char *)t; *c; c++) {
        CHECK(*c == '\n' || (*c >= 0x20 && *c != 0x7f));
        CHECK(!(c[0] == 0xc2 && c[1] >= 0x80 && c[1] < 0xa0));
    }
    free(t);
    metrics_shutdown();
}

TEST(operator_state_is_rendered)
{
    metrics_route_state routes[] = {
        {.route = "orders", .authority = SIDE_NEW, .shadow_paused = true, .sample_percent = 25},
        {.route = "stock", .authority = SIDE_LEGACY, .sample_percent = 100},
    };
    metrics_breaker br[] = {METRICS_BREAKER_CLOSED, METRICS_BREAKER_HALF_OPEN};
    metrics_render_input in = {
        .version = "0.1.0",
        .uptime_seconds = 12.5,
        .authority = SIDE_LEGACY,
        .sample_percent = 50,
        .routes = routes,
        .nroutes = 2,
        .breakers = br,
        .nbreakers = 2,
        .rules_version = "sha256:ab\"c",
        .rules_loaded_unix = 1700000000,
    };
    char *t = render(&in);
    CHECK_VALUE(t, "shadowproxy_build_info{version=\"0.1.0\"}", 1);
    CHECK_VALUE(t, "shadowproxy_uptime_seconds", 12.5);
    CHECK_VALUE(t, "shadowproxy_authority{side=\"legacy\"}", 1);
    CHECK_VALUE(t, "shadowproxy_authority{side=\"new\"}", 0);
    CHECK_VALUE(t, "shadowproxy_route_authority{route=\"orders\",side=\"new\"}", 1);
    CHECK_VALUE(t, "shadowproxy_route_authority{route=\"orders\",side=\"legacy\"}", 0);
    CHECK_VALUE(t, "shadowproxy_route_shadow_paused{route=\"orders\"}", 1);
    CHECK_VALUE(t, "shadowproxy_route_shadow_sample_ratio{route=\"orders\"}", 0.25);
    CHECK_VALUE(t, "shadowproxy_route_shadow_sample_ratio{route=\"stock\"}", 1);
    CHECK_VALUE(t, "shadowproxy_shadow_sample_ratio", 0.5);
    CHECK_VALUE(t, "shadowproxy_shadow_paused", 0);
    CHECK_VALUE(t, "shadowproxy_breaker_state{worker=\"1\"}", 2);
    CHECK_VALUE(t, "shadowproxy_rules_info{version=\"sha256:ab\\\"c\"}", 1);
    CHECK_VALUE(t, "shadowproxy_rules_loaded_timestamp_seconds", 1700000000);
    free(t);
}

TEST(released_shard_is_reused_with_its_counts)
{
    metrics_shard *s = metrics_shard_new("worker-0");
    metrics_request(s, "orders", "GET", SIDE_LEGACY, 200);
    metrics_shard_release(s);
    metrics_shard *other = metrics_shard_new("worker-1");
    CHECK(other != s);
    metrics_shard *again = metrics_shard_new("worker-0");
    CHECK(again == s);
    metrics_request(again, "orders", "GET", SIDE_LEGACY, 200);
    char *t = render(NULL);
    CHECK_VALUE(t,
                "shadowproxy_route_requests_total{route=\"orders\",method=\"GET\","
                "authority=\"legacy\",status_class=\"2xx\"}",
                2);
    free(t);
    metrics_shutdown();
}

/* ---- A writer thread against a scraper ------------------------------------- */

typedef struct writer {
    atomic_bool stop;
    atomic_int renders; /* new routes appear as the scraper goes on */
    uint64_t requests, differences;
} writer;

static void *writer_main(void *arg)
{
    writer *w = arg;
    metrics_shard *s = metrics_shard_new("worker-0"), *an = metrics_shard_new("analyzer");
    char route[32], path[32];
    for (uint64_t i = 0; !atomic_load(&w->stop) || i < 20000; i++) {
        unsigned nroutes = 1 + (unsigned)atomic_load_explicit(&w->renders, memory_order_relaxed) / 32;
        snprintf(route, sizeof route, "r%u", (unsigned)(i % nroutes));
        metrics_request(s, route, i % 3 ? "GET" : "POST", (sp_side)(i & 1), 200);
        metrics_upstream_seconds(s, route, SIDE_LEGACY, false, (double)(i % 100) / 1000);
        snprintf(path, sizeof path, "/f%u", (unsigned)(i * 7919 % 300));
        metrics_mismatch_path(an, route, "body", path);
        metrics_verdict_route(an, route, VERDICT_MISMATCH);
        w->requests++;
        w->differences++;
    }
    return NULL;
}

TEST(concurrent_writer_and_scraper)
{
    writer w = {0};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, writer_main, &w) == 0);
    double last = 0;
    for (int i = 0; i < 1000; i++) {
        size_t len;
        char *t = metrics_render(NULL, &len);
        CHECK(t != NULL);
        if (!t)
            break;
        int n;
        double total = sum_of(t, "shadowproxy_route_requests_total{", &n);
        CHECK(total >= last); /* counters never go back */
        last = total;
        atomic_store(&w.renders, i);
        if (i % 100 == 0) {
            checker c;
            CHECK(exposition_ok(t, len, &c));
        }
        free(t);
    }
    atomic_store(&w.stop, true);
    pthread_join(th, NULL);
    char *t = render(NULL);
    int n;
    CHECK(sum_of(t, "shadowproxy_route_requests_total{", &n) == (double)w.requests);
    CHECK(sum_of(t, "shadowproxy_route_verdicts_total{", &n) == (double)w.differences);
    /* Less what evicted paths had counted. */
    CHECK(sum_of(t, "shadowproxy_route_differences_total{", &n) <= (double)w.differences);
    CHECK(sum_of(t, "shadowproxy_upstream_duration_seconds_count{", &n) == (double)w.requests);
    free(t);
    metrics_shutdown();
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

TEST(hot_path_cost)
{
    metrics_shard *s = metrics_shard_new("worker-0");
    static const char *const routes[] = {"orders-get", "orders-post", "customers", "inventory",
                                         "invoices", "default"};
    const int n = 1000000;
    double t0 = now_ns();
    for (int i = 0; i < n; i++) {
        const char *r = routes[i % 6];
        metrics_request(s, r, "GET", SIDE_LEGACY, 200);
        metrics_upstream_seconds(s, r, SIDE_LEGACY, false, 0.004);
        metrics_upstream_seconds(s, r, SIDE_NEW, true, 0.006);
    }
    double per = (now_ns() - t0) / n;
    printf("  hot path: %.0f ns per request (1 request + 2 upstream observations)\n", per);
    metrics_shutdown();
}

int main(void)
{
    RUN(process_counters_keep_their_api);
    RUN(process_metrics_follow_client_conventions);
    RUN(every_family_is_documented);
    RUN(requests_sum_across_shards);
    RUN(histogram_buckets_are_cumulative);
    RUN(verdicts_by_route);
    RUN(top_paths_then_other);
    RUN(few_paths_all_exported_and_other_path_merges);
    RUN(route_cap_counts_the_rest_as_other);
    RUN(labels_are_escaped_and_cut);
    RUN(operator_state_is_rendered);
    RUN(released_shard_is_reused_with_its_counts);
    RUN(concurrent_writer_and_scraper);
    RUN(hot_path_cost);
    UNIT_DONE();
}
