/* fuzz_logread: `shadowproxy report` on a hostile diff log: logread (plain
 * or gzip, torn lines, blank lines, non-objects, NULs) feeding the report
 * model (report_model_read: routes, fields, path generalization, latency,
 * drift buckets, --sum reconciliation, samples, noise suggestions), the
 * --fail-if gates, and the three renderings (text, JSON, HTML).
 *
 * Input: one line of options, then the log itself. Options, space
 * separated (all optional; an empty first line means none):
 *   gz         the log is gzip-compressed by the driver before reading
 *   gz2        ... as two gzip members (`cat a.gz b.gz`)
 *   cut=N      ... and the compressed file loses its last N bytes
 *   sum:PATH[@GROUP]  route:NAME  since:T  until:T  failif:EXPR  top:N
 * The log is given to report_model_read as a memfd's /proc/self/fd path,
 * the way `shadowproxy report LOG` opens a file.
 *
 * Invariants: every line is counted once (records, invalid, torn, too
 * long or blank); the model's record count is logread's; every rendering
 * succeeds; the HTML holds only the renderer's own tags (log data is
 * escaped). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

#include "diff/logread.h"
#include "tools/report/report_failif.h"
#include "tools/report/report_model.h"
#include "tools/report/report_out.h"
#include "tools/report/report_util.h"

#include "fuzz_common.h"

#define NOW_MS 1795000000000LL /* 2026-11-18: fixed, so runs repeat */
#define MAX_OPTS 8

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static void gzip_append(unsigned char **out, size_t *len, size_t *cap, const char *p, size_t n)
{
    z_stream z = {0};
    if (deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        abort();
    size_t need = deflateBound(&z, n) + 64;
    if (*len + need > *cap) {
        *cap = *len + need;
        *out = realloc(*out, *cap);
        if (!*out)
            abort();
    }
    z.next_in = (unsigned char *)p;
    z.avail_in = (uInt)n;
    z.next_out = *out + *len;
    z.avail_out = (uInt)(*cap - *len);
    if (deflate(&z, Z_FINISH) != Z_STREAM_END)
        abort();
    *len = *cap - z.avail_out;
    deflateEnd(&z);
}

typedef struct opts {
    report_options o;
    report_sum_spec sums[MAX_OPTS];
    char *routes[MAX_OPTS];
    report_failif failifs[MAX_OPTS];
    size_t nfailifs;
    size_t top;
    int gz; /* 0, 1 or 2 members */
    size_t cut;
    char *text;
} opts;

static void opts_parse(opts *op, const char *p, size_t n)
{
    memset(op, 0, sizeof *op);
    op->top = 20;
    op->text = fz_str(p, n);
    op->o.sums = op->sums;
    op->o.routes = op->routes;
    char *save = NULL;
    for (char *t = strtok_r(op->text, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        char err[256];
        if (strcmp(t, "gz") == 0) {
            op->gz = 1;
        } else if (strcmp(t, "gz2") == 0) {
            op->gz = 2;
        } else if (strncmp(t, "cut=", 4) == 0) {
            op->cut = (size_t)strtoul(t + 4, NULL, 10);
        } else if (strncmp(t, "top=", 4) == 0 || strncmp(t, "top:", 4) == 0) {
            op->top = (size_t)strtoul(t + 4, NULL, 10) % 1000;
        } else if (strncmp(t, "sum:", 4) == 0 && op->o.nsums < MAX_OPTS) {
            /* report.c's add_sum: the last "@/" splits PATH and GROUP */
            char *path = t + 4, *at = NULL;
            for (char *q = path; (q = strchr(q, '@')); q++)
                if (q[1] == '/' || q[1] == '\0')
                    at = q;
            if (at)
                *at = '\0';
            char *group = at ? at + 1 : NULL;
            if (report_pointer_valid(path) && path[0] &&
                (!group || (report_pointer_valid(group) && group[0])))
                op->sums[op->o.nsums++] = (report_sum_spec){path, group};
        } else if (strncmp(t, "route:", 6) == 0 && t[6] && op->o.nroutes < MAX_OPTS) {
            op->routes[op->o.nroutes++] = t + 6;
        } else if (strncmp(t, "since:", 6) == 0) {
            op->o.has_since = report_parse_time(t + 6, NOW_MS, true, &op->o.since_ms) == 0;
        } else if (strncmp(t, "until:", 6) == 0) {
            op->o.has_until = report_parse_time(t + 6, NOW_MS, true, &op->o.until_ms) == 0;
        } else if (strncmp(t, "failif:", 7) == 0 && op->nfailifs < MAX_OPTS) {
            if (report_failif_parse(t + 7, &op->failifs[op->nfailifs], err, sizeof err) == 0)
                op->nfailifs++;
            else
                FZ_ASSERT(err[0]);
        }
    }
    if (op->o.has_since && op->o.has_until && op->o.since_ms >= op->o.until_ms)
        op->o.has_until = false; /* report.c refuses the pair */
}

/* Log data is escaped in the HTML report: every tag in it is one the
 * renderer writes (report_html*.c), so no route name, path or body value
 * becomes markup (<script>, <img onerror=...>). */
static void check_html(const report_render *rr)
{
    static const char *const tags[] = {
        "a", "abbr", "body", "br", "caption", "code", "div", "footer", "g", "h1",
        "h2", "h3", "h4", "head", "header", "html", "li", "line", "main", "mark", "meta",
        "nav", "p", "polyline", "pre", "rect", "section", "span", "strong", "style", "svg",
        "table", "tbody", "td", "text", "th", "thead", "title", "tr", "ul", NULL,
    };
    char *html = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&html, &len);
    FZ_ASSERT(f != NULL);
    FZ_ASSERT(report_html_write(f, rr) == 0);
    FZ_ASSERT(fclose(f) == 0);
    for (size_t i = 0; i < len; i++) {
        if (html[i] != '<')
            continue;
        size_t j = i + 1 + (html[i + 1] == '/'), k = j;
        if (strncmp(html + j, "!DOCTYPE", 8) == 0 || strncmp(html + j, "!--", 3) == 0)
            continue;
        while (k < len && ((html[k] >= 'a' && html[k] <= 'z') || (html[k] >= 'A' && html[k] <= 'Z') ||
                           (html[k] >= '0' && html[k] <= '9')))
            k++;
        if (k == j)
            continue; /* "<" and no name: text to a browser */
        bool ok = false;
        for (size_t t = 0; tags[t] && !ok; t++)
            ok = strlen(tags[t]) == k - j && memcmp(tags[t], html + j, k - j) == 0;
        if (!ok)
            fprintf(stderr, "unexpected tag in the HTML report: %.60s\n", html + i);
        FZ_ASSERT(ok);
    }
    free(html);
}

static void opts_free(opts *op)
{
    for (size_t i = 0; i < op->nfailifs; i++)
        report_failif_free(&op->failifs[i]);
    free(op->text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *nl = memchr(data, '\n', size);
    size_t olen = nl ? (size_t)(nl - (const char *)data) : size;
    const char *log = nl ? nl + 1 : (const char *)data + size;
    size_t loglen = (size_t)((const char *)data + size - log);
    opts op;
    opts_parse(&op, (const char *)data, olen);

    unsigned char *file = NULL;
    size_t flen = 0, fcap = 0;
    if (op.gz) {
        size_t half = op.gz == 2 ? loglen / 2 : loglen;
        gzip_append(&file, &flen, &fcap, log, half);
        if (op.gz == 2)
            gzip_append(&file, &flen, &fcap, log + half, loglen - half);
        flen -= op.cut < flen ? op.cut : flen;
    }
    int fd = memfd_create("fuzz-log", MFD_CLOEXEC);
    FZ_ASSERT(fd >= 0);
    const char *bytes = op.gz ? (const char *)file : log;
    size_t n = op.gz ? flen : loglen;
    for (size_t off = 0; off < n;) {
        ssize_t w = write(fd, bytes + off, n - off);
        FZ_ASSERT(w > 0);
        off += (size_t)w;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    fz_allow_path(path);

    report_model *m = report_model_new(&op.o);
    FZ_ASSERT(m != NULL);
    bool read_ok = report_model_read(m, path);
    FZ_ASSERT(m->ninputs == 1);
    const logread_stats *st = &m->inputs[0].st;
    if (read_ok) { /* a gzip error stops the read: counts are partial */
        FZ_ASSERT(st->records + st->invalid + st->torn + st->too_long <= st->lines + 1);
        FZ_ASSERT(m->records == st->records);
    }
    report_model_finalize(m);
    report_failif_result res[MAX_OPTS];
    for (size_t i = 0; i < op.nfailifs; i++) {
        res[i] = report_failif_eval(m, &op.failifs[i]);
        char v[64];
        report_failif_format(&op.failifs[i], res[i].value, v, sizeof v);
    }
    (void)report_model_has_matches(m);
    report_render rr = {.m = m, .opt = &op.o, .failifs = res, .nfailifs = op.nfailifs,
                        .now_ms = NOW_MS, .top = op.top};
    FILE *sink = fz_sink();
    FZ_ASSERT(report_text_write(sink, &rr) == 0);
    check_html(&rr);
    FZ_ASSERT(report_json_write(sink, &rr) == 0); /* report_json_build + its writer */
    report_model_free(m);

    fz_allow_path(NULL);
    close(fd);
    free(file);
    opts_free(&op);
    return 0;
}
