/* report: the `shadowproxy report` subcommand (docs/report.md). Reads diff
 * logs into a report_model (report_model.c), renders it as text, JSON or
 * HTML (report_text.c, report_json.c, report_html.c) and applies the
 * --fail-if gates (report_failif.c).
 *
 *   args -> options -> report_model_read(LOG)... -> finalize
 *        -> fail-if results -> render (stdout, or FILE via a temp + rename)
 *        -> exit 0 / 1 input or output failed / 2 bad arguments / 3 gate holds */
#include "tools/report/report.h"
#include "tools/report/report_cli.h"
#include "tools/report/report_failif.h"
#include "tools/report/report_model.h"
#include "tools/report/report_out.h"

#include <errno.h>
#include <sys/ioctl.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define EXIT_INPUT 1
#define EXIT_USAGE 2
#define EXIT_GATE 3
#define DEFAULT_TOP 20

enum format { FMT_AUTO, FMT_TEXT, FMT_JSON, FMT_HTML, FMT_CSV };

typedef struct cli {
    report_options opt;
    enum format format;
    const char *out;
    const char **logs;
    size_t nlogs;
    report_failif *failifs;
    size_t nfailifs;
    size_t top;
    bool wide;
    const char **baselines; /* --baseline: the earlier run's logs */
    size_t nbaselines;
} cli;

static const char usage_text[] =
    "usage: shadowproxy report [options] LOG...\n"
    "\n"
    "Summarises shadowproxy diff logs per route: verdicts and match rates, latency\n"
    "of both sides, the differing fields, drift over time, reconciliation sums and\n"
    "noise suggestions. LOG: a diff log, plain or gzip (rotated files, several\n"
    "replicas' logs at once); - reads stdin. Reference: docs/report.md.\n"
    "\n"
    "  --since T            only records at or after T: RFC 3339 (2026-11-24T13:00:00Z),\n"
    "                       a date (2026-11-24, its midnight UTC) or a time ago\n"
    "                       (90s, 30m, 2h, 7d, 2w)\n"
    "  --until T            only records before T (same forms)\n"
    "  --route NAME         only this route; repeatable\n"
    "  --format F           text, json, html, or csv (the per-field table; with\n"
    "                       --baseline, the changes)\n"
    "                       (default: text; with -o, the file's extension\n"
    "                       .json/.html/.htm/.csv chooses)\n"
    "  -o, --output FILE    write the report to FILE (whole, mode 0600) instead of stdout\n"
    "  --sum PATH[@GROUP]   reconciliation: sum the number at JSON Pointer PATH of each\n"
    "                       2xx response body, per side, grouped by the value at\n"
    "                       GROUP: --sum /totals/grand_total@/currency; repeatable\n"
    "  --fail-if EXPR       exit 3 if EXPR holds: mismatch_rate>0.1%, errors>0,\n"
    "                       mismatches>=5, p99_delta_ms>50, route:NAME:mismatch_rate>1%;\n"
    "                       repeatable\n"
    "  --top N              differing fields listed per route in text and HTML\n"
    "                       (default 20; 0: all)\n"
    "  --baseline OLD       also say what changed since the run logged in OLD\n"
    "                       (repeatable: its rotated files): routes and fields\n"
    "                       that appeared, disappeared, rose or fell (text, JSON,\n"
    "                       HTML, CSV)\n"
    "  --wide               text: the 100-column layout (sample ids beside their\n"
    "                       field); without it the text fits COLUMNS, the terminal,\n"
    "                       or 80 columns\n"
    "  -h, --help           this help\n"
    "\n"
    "Exit status: 0 report written; 1 an input could not be read (the report covers\n"
    "the others) or the output could not be written; 2 bad arguments; 3 a --fail-if\n"
    "condition holds.\n";

#define usage_error(...) report_cli_error("report", __VA_ARGS__)

static void cli_free(cli *c)
{
    free(c->opt.routes);
    for (size_t i = 0; i < c->opt.nsums; i++) {
        free(c->opt.sums[i].path);
        free(c->opt.sums[i].group);
    }
    free(c->opt.sums);
    free(c->logs);
    free(c->baselines);
    for (size_t i = 0; i < c->nfailifs; i++)
        report_failif_free(&c->failifs[i]);
    free(c->failifs);
}

static bool grow(void **arr, size_t n, size_t size)
{
    void *p = realloc(*arr, (n + 1) * size);
    if (!p)
        return false;
    *arr = p;
    return true;
}

static int add_sum(cli *c, const char *arg)
{
    const char *at = NULL; /* the last "@/" (or "@" at the end) splits PATH and GROUP */
    for (const char *p = arg; (p = strchr(p, '@')); p++)
        if (p[1] == '/' || p[1] == '\0')
            at = p;
    char *path = at ? strndup(arg, (size_t)(at - arg)) : strdup(arg);
    char *group = at ? strdup(at + 1) : NULL;
    if (!path || (at && !group) || !grow((void **)&c->opt.sums, c->opt.nsums, sizeof *c->opt.sums)) {
        free(path);
        free(group);
        fprintf(stderr, "shadowproxy report: out of memory\n");
        return EXIT_USAGE;
    }
    c->opt.sums[c->opt.nsums++] = (report_sum_spec){path, group};
    if (!report_pointer_valid(path) || path[0] == '\0')
        return usage_error("--sum \"%s\": PATH must be a JSON Pointer such as /totals/grand_total", arg);
    if (group && (!report_pointer_valid(group) || group[0] == '\0'))
        return usage_error("--sum \"%s\": GROUP after @ must be a JSON Pointer such as "
                           "/currency", arg);
    return 0;
}

/* -1: go on; otherwise the exit code (0 after --help). */
static int parse_args(int argc, char **argv, cli *c, int64_t now)
{
    bool stdin_seen = false, options_done = false;
    c->top = DEFAULT_TOP;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (options_done || a[0] != '-' || strcmp(a, "-") == 0) {
            if (strcmp(a, "-") == 0) {
                if (stdin_seen)
                    return usage_error("\"-\" (stdin) given twice");
                stdin_seen = true;
            }
            if (!grow((void **)&c->logs, c->nlogs, sizeof *c->logs))
                return usage_error("out of memory");
            c->logs[c->nlogs++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            options_done = true;
            continue;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage_text, stdout);
            return 0;
        }
        if (strcmp(a, "--wide") == 0) {
            c->wide = true;
            continue;
        }
        /* every other option takes a value: --opt V or --opt=V */
        char name[32];
        const char *v;
        static const char *const known[] = {"--since", "--until", "--route", "--format", "-o",
                                            "--output", "--sum", "--fail-if", "--top", "--baseline"};
        int orc = report_cli_option("report", argc, argv, &i, known, sizeof known / sizeof known[0], name, &v);
        if (orc)
            return orc;
        int rc = 0;
        if (strcmp(name, "--since") == 0) {
            rc = report_cli_time("report", name, v, now, &c->opt.has_since, &c->opt.since_ms);
        } else if (strcmp(name, "--until") == 0) {
            rc = report_cli_time("report", name, v, now, &c->opt.has_until, &c->opt.until_ms);
        } else if (strcmp(name, "--route") == 0) {
            if (!*v)
                return usage_error("--route needs a route name");
            if (!grow((void **)&c->opt.routes, c->opt.nroutes, sizeof *c->opt.routes))
                return usage_error("out of memory");
            c->opt.routes[c->opt.nroutes++] = (char *)v;
        } else if (strcmp(name, "--format") == 0) {
            if (strcmp(v, "text") == 0)
                c->format = FMT_TEXT;
            else if (strcmp(v, "json") == 0)
                c->format = FMT_JSON;
            else if (strcmp(v, "html") == 0)
                c->format = FMT_HTML;
            else if (strcmp(v, "csv") == 0)
                c->format = FMT_CSV;
            else
                return usage_error("--format \"%s\": one of text, json, html, csv", v);
        } else if (strcmp(name, "--baseline") == 0) {
            if (!*v || strcmp(v, "-") == 0)
                return usage_error("--baseline needs a file (not stdin)");
            if (!grow((void **)&c->baselines, c->nbaselines, sizeof *c->baselines))
                return usage_error("out of memory");
            c->baselines[c->nbaselines++] = v;
        } else if (strcmp(name, "-o") == 0 || strcmp(name, "--output") == 0) {
            if (!*v)
                return usage_error("%s needs a file name", name);
            c->out = v;
        } else if (strcmp(name, "--sum") == 0) {
            rc = add_sum(c, v);
        } else if (strcmp(name, "--top") == 0) {
            char *end;
            long n = strtol(v, &end, 10);
            if (end == v || *end || n < 0 || n > 1000000)
                return usage_error("--top \"%s\": a number of fields, 0 for all", v);
            c->top = (size_t)n;
        } else { /* --fail-if */
            char err[1024];
            if (!grow((void **)&c->failifs, c->nfailifs, sizeof *c->failifs))
                return usage_error("out of memory");
            if (report_failif_parse(v, &c->failifs[c->nfailifs], err, sizeof err) != 0)
                return usage_error("%s", err);
            c->nfailifs++;
        }
        if (rc)
            return rc;
    }
    if (c->nlogs == 0)
        return usage_error("no diff log given (a file, or - for stdin)");
    if (c->opt.has_since && c->opt.has_until && c->opt.since_ms >= c->opt.until_ms)
        return usage_error("--since must be before --until");
    if (c->format == FMT_AUTO) {
        const char *dot = c->out ? strrchr(c->out, '.') : NULL;
        if (dot && strcmp(dot, ".json") == 0)
            c->format = FMT_JSON;
        else if (dot && (strcmp(dot, ".html") == 0 || strcmp(dot, ".htm") == 0))
            c->format = FMT_HTML;
        else if (dot && strcmp(dot, ".csv") == 0)
            c->format = FMT_CSV;
        else
            c->format = FMT_TEXT;
    }
    return -1;
}

static int render(FILE *f, enum format fmt, const report_render *rr)
{
    switch (fmt) {
    case FMT_JSON: return report_json_write(f, rr);
    case FMT_HTML: return report_html_write(f, rr);
    case FMT_CSV: return report_csv_write(f, rr);
    default: return report_text_write(f, rr);
    }
}

int report_write_file(const char *path, const char *who, int (*write)(FILE *, const void *),
                      const void *arg)
{
    if (!path || strcmp(path, "-") == 0) {
        int rc = write(stdout, arg);
        if (fflush(stdout) != 0 || ferror(stdout))
            rc = -1;
        if (rc != 0)
            fprintf(stderr, "%s: writing to stdout failed: %s\n", who, strerror(errno));
        return rc;
    }
    size_t n = strlen(path);
    char *tmp = malloc(n + 16);
    if (!tmp)
        return -1;
    snprintf(tmp, n + 16, "%s.tmp-XXXXXX", path);
    int fd = mkstemp(tmp);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        fprintf(stderr, "%s: %s: %s\n", who, path, strerror(errno));
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        free(tmp);
        return -1;
    }
    int rc = write(f, arg);
    int saved = errno;
    if (fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0)
        rc = -1, saved = errno;
    if (fclose(f) != 0 && rc == 0)
        rc = -1, saved = errno;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -1, saved = errno;
    if (rc != 0) {
        fprintf(stderr, "%s: %s: %s\n", who, path, saved ? strerror(saved) : "out of memory");
        unlink(tmp);
    }
    free(tmp);
    return rc;
}

typedef struct render_job {
    enum format fmt;
    const report_render *rr;
} render_job;

static int render_cb(FILE *f, const void *arg)
{
    const render_job *j = arg;
    return render(f, j->fmt, j->rr);
}

/* Writes the report to stdout, or to path through a temporary file in the
 * same directory renamed into place (a reader never sees half a report). */
static int write_output(const char *path, enum format fmt, const report_render *rr)
{
    render_job j = {fmt, rr};
    return report_write_file(path, "shadowproxy report", render_cb, &j);
}

static void input_notes(const report_model *m)
{
    for (size_t i = 0; i < m->ninputs; i++) {
        const report_input *in = &m->inputs[i];
        const char *name = strcmp(in->path, "-") == 0 ? "(stdin)" : in->path;
        if (in->duplicate)
            fprintf(stderr, "shadowproxy report: %s: the same file as an earlier argument, "
                    "read once\n", name);
        if (in->st.torn)
            fprintf(stderr, "shadowproxy report: %s: last line torn (the log was cut "
                    "mid-write), not counted\n", name);
        if (in->st.invalid)
            fprintf(stderr, "shadowproxy report: %s: %llu line(s) not a JSON object, skipped\n",
                    name, (unsigned long long)in->st.invalid);
        if (in->st.too_long)
            fprintf(stderr, "shadowproxy report: %s: %llu line(s) longer than %u MiB, skipped\n",
                    name, (unsigned long long)in->st.too_long, LOGREAD_MAX_LINE >> 20);
    }
}

/* Prints the conditions that hold (and those that could not be judged);
 * true if any holds. */
static bool gate_notes(const report_failif_result *res, size_t n)
{
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        const report_failif *f = res[i].f;
        const char *scope = f->route ? f->route : "all routes";
        if (!res[i].defined) {
            fprintf(stderr, "shadowproxy report: fail-if %s: no data for %s (%s), not holding\n",
                    f->text, report_failif_metric(f), scope);
            continue;
        }
        if (!res[i].holds)
            continue;
        any = true;
        char v[64];
        report_failif_format(f, res[i].value, v, sizeof v);
        fprintf(stderr, "shadowproxy report: fail-if %s holds: %s = %s (%s)\n", f->text,
                report_failif_metric(f), v, scope);
    }
    return any;
}

/* The text report's columns: --wide, else $COLUMNS, else the terminal on
 * stdout, else 80. 100 or more is the wide layout. */
static size_t text_width(bool wide)
{
    if (wide)
        return 0;
    const char *env = getenv("COLUMNS");
    char *end;
    long n = env && *env ? strtol(env, &end, 10) : 0;
    if (n > 0 && !*end)
        return n >= 100 ? 0 : 80;
    struct winsize ws;
    if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 100)
        return 0;
    return 80;
}

/* A --fail-if about a route the logs never name would pass silently
 * (a typo, a renamed route): a usage error instead. */
static bool failif_routes_known(const report_model *m, const cli *c)
{
    bool ok = true;
    for (size_t i = 0; i < c->nfailifs; i++) {
        const char *name = c->failifs[i].route;
        const report_route *r = name ? report_model_route(m, name) : NULL;
        if (name && (!r || r->exchanges == 0)) {
            fprintf(stderr, "shadowproxy report: --fail-if \"%s\": no record of route \"%s\" in "
                    "the logs%s; nothing written\n", c->failifs[i].text, name,
                    m->opt->has_since || m->opt->has_until ? " (within --since/--until)" : "");
            ok = false;
        }
    }
    return ok;
}

/* --baseline: the earlier run read with the same filters, and what
 * changed since. false when one of its logs could not be read. */
static bool read_baseline(const cli *c, const report_model *m, json_t **out)
{
    report_model *old = report_model_new(&c->opt);
    bool ok = old != NULL;
    for (size_t i = 0; old && i < c->nbaselines; i++) {
        if (!report_model_read(old, c->baselines[i])) {
            ok = false;
            const report_input *in = &old->inputs[old->ninputs - 1];
            fprintf(stderr, "shadowproxy report: baseline %s\n", in->error ? in->error : "out of memory");
        }
    }
    if (old) {
        report_model_finalize(old);
        *out = report_baseline_build(old, m);
    }
    report_model_free(old);
    return ok && *out;
}

int report_main(int argc, char **argv)
{
    cli c = {0};
    int64_t now = report_now_ms();
    int rc = parse_args(argc, argv, &c, now);
    if (rc >= 0) {
        cli_free(&c);
        return rc;
    }
    report_model *m = report_model_new(&c.opt);
    report_failif_result *res = calloc(c.nfailifs ? c.nfailifs : 1, sizeof *res);
    if (!m || !res) {
        fprintf(stderr, "shadowproxy report: out of memory\n");
        report_model_free(m);
        free(res);
        cli_free(&c);
        return EXIT_INPUT;
    }
    bool input_failed = false;
    for (size_t i = 0; i < c.nlogs; i++) {
        if (!report_model_read(m, c.logs[i])) {
            input_failed = true;
            const report_input *in = &m->inputs[m->ninputs - 1];
            fprintf(stderr, "shadowproxy report: %s\n",
                    in->error ? in->error : "out of memory");
        }
    }
    report_model_finalize(m);
    json_t *baseline = NULL;
    if (c.nbaselines && !read_baseline(&c, m, &baseline))
        input_failed = true;
    if (!failif_routes_known(m, &c)) {
        json_decref(baseline);
        report_model_free(m);
        free(res);
        cli_free(&c);
        return EXIT_USAGE;
    }
    for (size_t i = 0; i < c.nfailifs; i++)
        res[i] = report_failif_eval(m, &c.failifs[i]);
    report_render rr = {m, &c.opt, res, c.nfailifs, now, c.top, text_width(c.wide), baseline};
    int wrc = write_output(c.out, c.format, &rr);
    json_decref(baseline);
    input_notes(m);
    bool gate = gate_notes(res, c.nfailifs);
    rc = input_failed || wrc != 0 ? EXIT_INPUT : gate ? EXIT_GATE : 0;
    report_model_free(m);
    free(res);
    cli_free(&c);
    return rc;
}
