/* replay_opts: `shadowproxy replay`'s command line (its --help text, the
 * options, their checks) for replay.c. Split from replay.c. */
#include "tools/replay_opts.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "Usage: shadowproxy replay LOG... --legacy URL --new URL [options]\n"
    "\n"
    "Re-sends the requests recorded in diff logs (mode \"all\", request bodies\n"
    "kept) to both upstreams through the same rules and comparison as the proxy,\n"
    "and writes a new diff log. Requests whose body was cut or redacted, whose\n"
    "uri has a redacted query parameter or path segment, or with a redacted\n"
    "header not given back with --set-header, are skipped and counted, never\n"
    "sent altered. LOG\n"
    "may be gzip-compressed, \"-\" is stdin.\n"
    "\n"
    "  --legacy URL          legacy upstream base URL (required)\n"
    "  --new URL             new upstream base URL (required)\n"
    "  -r, --rules FILE      rules file (routes, sampling, comparison rules)\n"
    "  -c, --config FILE     config file (compare, redaction, shadow timeouts...)\n"
    "  -a, --authority SIDE  legacy|new (default legacy)\n"
    "  -d, --diff-log FILE   where the new records go (default shadowproxy-replay.jsonl);\n"
    "                        must not exist or be empty, unless --overwrite\n"
    "      --overwrite       replace an existing --diff-log\n"
    "      --diff-log-mode M all|mismatches (default all)\n"
    "      --rate N[/s]      requests per second (default: as fast as allowed)\n"
    "      --concurrency C   requests in flight (default 8)\n"
    "      --speed X         send at the recorded timing (each record's ts), X times\n"
    "                        as fast (2: twice as fast, 0.5: half); with --rate,\n"
    "                        whichever is slower\n"
    "      --loop N          replay the logs N times over (not with stdin)\n"
    "      --route NAME      only records of this route (repeatable)\n"
    "  -H, --set-header 'Name: value'\n"
    "                        send this header on every request, replacing the\n"
    "                        recorded one (redacted credentials); repeatable\n"
    "      --fail-if EXPR    exit 3 when EXPR holds over the transitions against\n"
    "                        the original verdicts: regressions>0, fixes<10,\n"
    "                        route:NAME:still_differing>5; repeatable\n"
    "      --json FILE       also write the counts, verdicts and transitions per\n"
    "                        route as JSON to FILE\n"
    "      --progress / --no-progress\n"
    "                        progress line on stderr (default: when it is a terminal)\n"
    "  -h, --help            this text\n"
    "\n"
    "Exit: 0 done, 1 failure (unreadable log, upstream setup), 2 usage, 3 a --fail-if\n"
    "holds, 130 interrupted.\n";

enum { OPT_LEGACY = 256, OPT_NEW, OPT_OVERWRITE, OPT_MODE, OPT_RATE, OPT_CONC, OPT_ROUTE,
       OPT_PROGRESS, OPT_NO_PROGRESS, OPT_FAIL_IF, OPT_SPEED, OPT_LOOP, OPT_JSON };

static int parse_rate(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || v <= 0 || v > 1e7 || (*end && strcmp(end, "/s") != 0))
        return -1;
    *out = v;
    return 0;
}

int replay_opts_parse(int argc, char **argv, replay_opts *o)
{
    static const struct option opts[] = {
        {"legacy", required_argument, NULL, OPT_LEGACY},
        {"new", required_argument, NULL, OPT_NEW},
        {"rules", required_argument, NULL, 'r'},
        {"config", required_argument, NULL, 'c'},
        {"authority", required_argument, NULL, 'a'},
        {"diff-log", required_argument, NULL, 'd'},
        {"overwrite", no_argument, NULL, OPT_OVERWRITE},
        {"diff-log-mode", required_argument, NULL, OPT_MODE},
        {"rate", required_argument, NULL, OPT_RATE},
        {"concurrency", required_argument, NULL, OPT_CONC},
        {"route", required_argument, NULL, OPT_ROUTE},
        {"set-header", required_argument, NULL, 'H'},
        {"progress", no_argument, NULL, OPT_PROGRESS},
        {"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
        {"fail-if", required_argument, NULL, OPT_FAIL_IF},
        {"speed", required_argument, NULL, OPT_SPEED},
        {"loop", required_argument, NULL, OPT_LOOP},
        {"json", required_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    o->diff_log = "shadowproxy-replay.jsonl";
    o->mode = "all";
    o->concurrency = 8;
    o->loops = 1;
    o->progress = -1;
    o->routes = calloc((size_t)argc, sizeof *o->routes);
    o->set = calloc((size_t)argc, sizeof *o->set);
    o->gates = calloc((size_t)argc, sizeof *o->gates);
    if (!o->routes || !o->set || !o->gates)
        return 1;
    int opt;
    char *end;
    while ((opt = getopt_long(argc, argv, "r:c:a:d:H:h", opts, NULL)) != -1) {
        switch (opt) {
        case OPT_LEGACY: o->legacy = optarg; break;
        case OPT_NEW: o->new_ = optarg; break;
        case 'r': o->rules = optarg; break;
        case 'c': o->config = optarg; break;
        case 'a': o->authority = optarg; break;
        case 'd': o->diff_log = optarg; break;
        case OPT_OVERWRITE: o->overwrite = true; break;
        case OPT_MODE: o->mode = optarg; break;
        case OPT_PROGRESS: o->progress = 1; break;
        case OPT_NO_PROGRESS: o->progress = 0; break;
        case OPT_ROUTE: o->routes[o->nroutes++] = optarg; break;
        case OPT_RATE:
            if (parse_rate(optarg, &o->rate) != 0) {
                fprintf(stderr, "replay: --rate: '%s' is not a positive number of requests per second (e.g. 200 or 200/s)\n", optarg);
                return 2;
            }
            break;
        case OPT_CONC:
            errno = 0;
            long c = strtol(optarg, &end, 10);
            if (errno || *end || c < 1 || c > 10000) {
                fprintf(stderr, "replay: --concurrency: '%s' is not a number from 1 to 10000\n", optarg);
                return 2;
            }
            o->concurrency = (int)c;
            break;
        case 'H':
            if (replay_header_parse(optarg, &o->set[o->nset]) != 0) {
                fprintf(stderr, "replay: --set-header: '%s' is not 'Name: value'\n", optarg);
                return 2;
            }
            o->nset++;
            break;
        case OPT_SPEED:
            errno = 0;
            o->speed = strtod(optarg, &end);
            if (errno || *end || !(o->speed > 0) || o->speed > 1e6) {
                fprintf(stderr, "replay: --speed: '%s' is not a factor above 0 (1: the recorded timing)\n", optarg);
                return 2;
            }
            break;
        case OPT_JSON:
            o->json = optarg;
            break;
        case OPT_LOOP:
            errno = 0;
            o->loops = strtol(optarg, &end, 10);
            if (errno || *end || o->loops < 1 || o->loops > 1000000) {
                fprintf(stderr, "replay: --loop: '%s' is not a number from 1 to 1000000\n", optarg);
                return 2;
            }
            break;
        case OPT_FAIL_IF: {
            char err[256];
            if (replay_gate_parse(optarg, &o->gates[o->ngates], err, sizeof err) != 0) {
                fprintf(stderr, "replay: %s\n", err);
                return 2;
            }
            o->ngates++;
            break;
        }
        case 'h': fputs(usage, stdout); return -1;
        default: return 2;
        }
    }
    o->logs = argv + optind;
    o->nlogs = argc - optind;
    if (o->nlogs == 0 || !o->legacy || !o->new_) {
        fprintf(stderr, "replay: %s\n%s", o->nlogs == 0 ? "no LOG given" : "--legacy and --new are both required", usage);
        return 2;
    }
    for (int i = 0; o->loops > 1 && i < o->nlogs; i++)
        if (strcmp(o->logs[i], "-") == 0) {
            fprintf(stderr, "replay: --loop reads the logs again: give files, not stdin\n");
            return 2;
        }
    if (strcmp(o->mode, "all") != 0 && strcmp(o->mode, "mismatches") != 0) {
        fprintf(stderr, "replay: --diff-log-mode: '%s' is not all or mismatches\n", o->mode);
        return 2;
    }
    return 0;
}

void replay_opts_free(replay_opts *o)
{
    for (size_t i = 0; o->set && i < o->nset; i++) {
        free(o->set[i].name);
        free(o->set[i].value);
    }
    free(o->set);
    free(o->routes);
    for (size_t i = 0; o->gates && i < o->ngates; i++)
        replay_gate_free(&o->gates[i]);
    free(o->gates);
}
