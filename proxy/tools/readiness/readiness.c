/* readiness: the `shadowproxy readiness` subcommand (docs/readiness.md).
 *
 *   args -> rules (--rules, else built-in criteria) -> money specs as --sum
 *        -> report_model_read(LOG)... with the coverage tally on each record
 *        -> finalize -> readiness_evaluate -> text | JSON | HTML (stdout or
 *           FILE through a temp + rename) -> exit 0 / 1 / 2 / 3 */
#include "tools/readiness/readiness.h"
#include "tools/readiness/readiness_eval.h"
#include "tools/readiness/readiness_out.h"
#include "tools/report/report.h"
#include "tools/report/report_cli.h"
#include "tools/report/report_model.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define EXIT_INPUT 1
#define EXIT_USAGE 2
#define EXIT_NOT_READY 3

static const char usage_text[] =
    "usage: shadowproxy readiness [options] LOG...\n"
    "\n"
    "A cutover scorecard: READY or NOT READY per route, with the reason for each\n"
    "criterion, from diff logs (plain or gzip; - reads stdin). The criteria come from\n"
    "the rules file's \"readiness\" sections (per route, \"defaults\", \"default\"):\n"
    "min_exchanges, max_mismatch_rate, max_error_rate, max_p99_delta_ms, money (the\n"
    "gap per currency of a summed amount) and coverage (every value of a request or\n"
    "response field compared often enough, agreeing often enough). Without them:\n"
    "at least 100 compared exchanges, mismatch rate <= 0.1%, error rate <= 1%.\n"
    "Reference: docs/readiness.md.\n"
    "\n"
    "  -r, --rules FILE     the rules file whose readiness sections give the criteria\n"
    "  --since T            only records at or after T: RFC 3339, a date, or a time\n"
    "                       ago (90s, 30m, 2h, 7d, 2w)\n"
    "  --until T            only records before T (same forms)\n"
    "  --format F           text, json or html (default: text; with -o, the file's\n"
    "                       extension .json/.html/.htm chooses)\n"
    "  -o, --output FILE    write the scorecard to FILE (whole, mode 0600)\n"
    "  -h, --help           this help\n"
    "\n"
    "Exit status: 0 every required route is ready; 1 an input or the rules file could\n"
    "not be read; 2 bad arguments or rules; 3 a required route is not ready (or no\n"
    "route was judged).\n";

typedef struct cli {
    report_options opt;
    const char *rules_path, *out;
    enum readiness_format format;
    bool format_set;
    const char **logs;
    size_t nlogs;
} cli;

#define usage_error(...) report_cli_error("readiness", __VA_ARGS__)

/* -1: go on; otherwise the exit code (0 after --help). */
static int parse_args(int argc, char **argv, cli *c, int64_t now)
{
    bool stdin_seen = false, options_done = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (options_done || a[0] != '-' || strcmp(a, "-") == 0) {
            if (strcmp(a, "-") == 0 && stdin_seen)
                return usage_error("\"-\" (stdin) given twice");
            stdin_seen = stdin_seen || strcmp(a, "-") == 0;
            const char **nl = realloc(c->logs, (c->nlogs + 1) * sizeof *nl);
            if (!nl)
                return usage_error("out of memory");
            c->logs = nl;
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
        char name[32];
        const char *v;
        static const char *const known[] = {"--rules", "-r", "--since", "--until",
                                            "--format", "-o", "--output"};
        int orc = report_cli_option("readiness", argc, argv, &i, known, sizeof known / sizeof known[0], name, &v);
        if (orc)
            return orc;
        int rc = 0;
        if (strcmp(name, "--since") == 0) {
            rc = report_cli_time("readiness", name, v, now, &c->opt.has_since, &c->opt.since_ms);
        } else if (strcmp(name, "--until") == 0) {
            rc = report_cli_time("readiness", name, v, now, &c->opt.has_until, &c->opt.until_ms);
        } else if (strcmp(name, "--rules") == 0 || strcmp(name, "-r") == 0) {
            if (!*v)
                return usage_error("%s needs a file name", name);
            c->rules_path = v;
        } else if (strcmp(name, "--format") == 0) {
            if (readiness_format_parse(v, &c->format) != 0)
                return usage_error("--format \"%s\": one of text, json, html", v);
            c->format_set = true;
        } else {
            if (!*v)
                return usage_error("%s needs a file name", name);
            c->out = v;
        }
        if (rc)
            return rc;
    }
    if (c->nlogs == 0)
        return usage_error("no diff log given (a file, or - for stdin)");
    if (c->opt.has_since && c->opt.has_until && c->opt.since_ms >= c->opt.until_ms)
        return usage_error("--since must be before --until");
    if (!c->format_set) {
        const char *dot = c->out ? strrchr(c->out, '.') : NULL;
        c->format = RF_TEXT;
        if (dot && strcmp(dot, ".json") == 0)
            c->format = RF_JSON;
        else if (dot && (strcmp(dot, ".html") == 0 || strcmp(dot, ".htm") == 0))
            c->format = RF_HTML;
    }
    return -1;
}

static void cli_free(cli *c)
{
    for (size_t i = 0; i < c->opt.nsums; i++) {
        free(c->opt.sums[i].path);
        free(c->opt.sums[i].group);
    }
    free(c->opt.sums);
    free(c->logs);
}

/* The rules named by --rules, or the built-in ones; NULL after saying why
 * (*rc set: 1 unreadable, 2 invalid). */
static rules *load_rules(const char *path, int *rc)
{
    if (!path)
        return rules_default();
    if (access(path, R_OK) != 0) {
        fprintf(stderr, "shadowproxy readiness: %s: cannot read the rules file: %m\n", path);
        *rc = EXIT_INPUT;
        return NULL;
    }
    config_errors errs = {0};
    rules *r = rules_load_file(path, &errs);
    if (!r) {
        config_errors_print(stderr, path, &errs);
        *rc = EXIT_USAGE;
    }
    config_errors_free(&errs);
    return r;
}

typedef struct out_job {
    enum readiness_format fmt;
    const json_t *doc;
} out_job;

static int out_cb(FILE *f, const void *arg)
{
    const out_job *j = arg;
    return readiness_write(f, j->fmt, j->doc);
}

int readiness_main(int argc, char **argv)
{
    cli c = {0};
    int rc = parse_args(argc, argv, &c, report_now_ms());
    if (rc >= 0) {
        cli_free(&c);
        return rc;
    }
    rc = EXIT_INPUT;
    rules *rs = load_rules(c.rules_path, &rc);
    if (!rs) {
        if (!c.rules_path)
            fprintf(stderr, "shadowproxy readiness: out of memory\n");
        cli_free(&c);
        return rc;
    }
    readiness_tally t;
    readiness_tally_init(&t, rs, &c.opt);
    c.opt.on_record = readiness_tally_record;
    c.opt.on_record_arg = &t;
    report_model *m = NULL;
    json_t *doc = NULL;
    bool input_failed = false;
    if (readiness_collect_sums(rs, &c.opt) != 0 || !(m = report_model_new(&c.opt))) {
        fprintf(stderr, "shadowproxy readiness: out of memory\n");
        rc = EXIT_INPUT;
        goto done;
    }
    for (size_t i = 0; i < c.nlogs; i++) {
        if (!report_model_read(m, c.logs[i])) {
            input_failed = true;
            const report_input *in = &m->inputs[m->ninputs - 1];
            fprintf(stderr, "shadowproxy readiness: %s\n", in->error ? in->error : "out of memory");
        }
    }
    report_model_finalize(m);
    if (!(doc = readiness_evaluate(&t, m, report_now_ms())) || t.oom) {
        fprintf(stderr, "shadowproxy readiness: out of memory\n");
        rc = EXIT_INPUT;
        goto done;
    }
    out_job j = {c.format, doc};
    int wrc = report_write_file(c.out, "shadowproxy readiness", out_cb, &j);
    rc = input_failed || wrc != 0                       ? EXIT_INPUT
         : json_is_true(json_object_get(doc, "ready")) ? 0
                                                       : EXIT_NOT_READY;
done:
    json_decref(doc);
    report_model_free(m);
    readiness_tally_free(&t);
    rules_unref(rs);
    cli_free(&c);
    return rc;
}
