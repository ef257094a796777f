/* shadowproxy: the command line, on top of every layer
 * (docs/architecture.md). Commands:
 *   serve    run the proxy (app/server.c)
 *   check    validate a config and rules file, print every error
 *   ctl      the admin API's command-line client (tools/ctl.c)
 *   report   summarize diff logs: text, JSON, HTML, CSV (tools/report/)
 *   replay   send recorded requests again and compare (tools/replay.c)
 *   rules    rules suggest: a rules file from a diff log (tools/rules_suggest.c)
 *   version  print the version (also --version); help, -h, --help: usage */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <malloc.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <unistd.h>
#include <uv.h>

#include "base/json_arena.h"
#include "conf/config.h"
#include "ctrl/store.h"
#include "tools/ctl.h"
#include "base/log.h"
#include "conf/ops.h"
#include "tools/replay.h"
#include "tools/readiness/readiness.h"
#include "tools/report/report.h"
#include "tools/rules_suggest.h"
#include "conf/rules.h"
#include "app/server.h"
#include "diff/xmltree.h"

#ifndef SP_VERSION
#define SP_VERSION "dev"
#endif

static const char usage_text[] =
    "shadowproxy " SP_VERSION ": a dual-path shadow traffic proxy\n"
    "\n"
    "Every request goes to the authoritative upstream, whose answer the client\n"
    "gets byte for byte; the same request is mirrored to the other upstream\n"
    "(the shadow), both answers are compared, and differences go to a diff log.\n"
    "\n"
    "Usage:\n"
    "  shadowproxy serve [options]        run the proxy\n"
    "  shadowproxy check [--config FILE] [--rules FILE]\n"
    "                                     validate config and rules files, print every error\n"
    "  shadowproxy ctl [--admin URL] [--token-file F] state|flip|shadow|reload|log-level ...\n"
    "                                     operate a running proxy (see shadowproxy ctl --help)\n"
    "  shadowproxy report [options] LOG...\n"
    "                                     summarize diff logs: routes, fields, drift,\n"
    "                                     reconciliation (shadowproxy report --help)\n"
    "  shadowproxy readiness [--rules F] [--since T] LOG...\n"
    "                                     cutover scorecard: READY / NOT READY per route\n"
    "                                     (shadowproxy readiness --help)\n"
    "  shadowproxy rules suggest LOG... [-o FILE] [--base RULES]\n"
    "                                     propose a rules file from a log recorded with\n"
    "                                     --diff-log-mode all (shadowproxy rules --help)\n"
    "  shadowproxy replay LOG... --legacy URL --new URL [options]\n"
    "                                     re-send captured requests to both upstreams\n"
    "                                     and compare again (shadowproxy replay --help)\n"
    "  shadowproxy version                print the version and library versions\n"
    "  shadowproxy --help                 this text\n"
    "\n"
    "serve options (flags override the config file):\n"
    "  -c, --config FILE        JSON config file (see docs/config.md)\n"
    "  -r, --rules FILE         rules file: routes and comparison rules (docs/rules.md)\n"
    "  -l, --listen HOST:PORT   traffic listener (default 127.0.0.1:8080)\n"
    "      --legacy URL         legacy upstream base URL\n"
    "      --new URL            new upstream base URL\n"
    "  -a, --authority SIDE     legacy|new: whose answer the client gets (default legacy)\n"
    "  -d, --diff-log FILE      diff log path (default shadowproxy-diffs.jsonl)\n"
    "      --admin HOST:PORT    admin API listener (default 127.0.0.1:9901; \"\" = off)\n"
    "      --state-file FILE    operator decisions (default shadowproxy-state.json)\n"
    "      --decisions URL      decision store shared by the fleet: file:PATH (default\n"
    "                           file:STATE-FILE) or etcd://HOST:PORT[,...]/PREFIX\n"
    "      --diff-log-mode MODE mismatches|all (default mismatches)\n"
    "  -w, --workers N          worker threads, 0 = one per core (default 0)\n"
    "      --log-level LEVEL    error|warn|info|debug (default info)\n"
    "      --log-format FMT     logfmt|json (default logfmt)\n"
    "\n"
    "Admin API (default 127.0.0.1:9901, docs/operations.md): /healthz /readyz /state\n"
    "/metrics /history, POST /authority /shadow /writes /rollback /clear /reload,\n"
    "POST /faults (staging only: faults.enabled);\n"
    "decisions live in the decision store (--decisions), shared by every replica.\n"
    "GET / there is the live dashboard (same token, signed in through a form).\n"
    "\n"
    "Signals: SIGTERM/SIGINT drain and exit (a second one exits at once);\n"
    "SIGHUP reloads the config's live keys (others: restart_required), the rules and\n"
    "state files and the listener's TLS certificate;\n"
    "SIGUSR1 reopens the diff log.\n"
    "\n"
    "Example:\n"
    "  shadowproxy serve --legacy http://erp-old:8080 --new http://erp-new:8080\n";

static void print_errors(const char *file, const config_errors *e)
{
    for (size_t i = 0; i < e->n; i++) {
        const config_error *x = &e->v[i];
        if (x->line > 0)
            fprintf(stderr, "%s:%d:%d: %s\n", file, x->line, x->column, x->message);
        else
            fprintf(stderr, "%s: %s\n", file, x->message);
    }
}

static int cmd_version(void)
{
    curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);
    printf("shadowproxy %s\n", SP_VERSION);
    printf("libmicrohttpd %s, libcurl %s (%s), libuv %s, jansson %s\n", MHD_get_version(),
           cv->version, cv->ssl_version ? cv->ssl_version : "no TLS", uv_version_string(),
           jansson_version_str());
    return 0;
}

/* Loads a rules file; prints every error (faults too, while the config
 * does not enable them). NULL on failure. */
static rules *load_rules(const char *path, const sp_config *cfg)
{
    config_errors errs = {0};
    rules *r = rules_load_file(path, &errs);
    if (r && rules_faults_refused(r, cfg->faults_enabled, &errs)) {
        rules_unref(r);
        r = NULL;
    }
    if (!r)
        print_errors(path, &errs);
    config_errors_free(&errs);
    return r;
}

static int cmd_check(int argc, char **argv)
{
    const char *file = NULL, *rules_file = NULL;
    for (int i = 1; i < argc; i++) {
        if ((strcmp(argv[i], "--config") == 0 || strcmp(argv[i], "-c") == 0) && i + 1 < argc)
            file = argv[++i];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            file = argv[i] + 9;
        else if ((strcmp(argv[i], "--rules") == 0 || strcmp(argv[i], "-r") == 0) && i + 1 < argc)
            rules_file = argv[++i];
        else if (strncmp(argv[i], "--rules=", 8) == 0)
            rules_file = argv[i] + 8;
        else {
            fprintf(stderr, "check: unexpected argument '%s'\n"
                            "usage: shadowproxy check [--config FILE] [--rules FILE]\n", argv[i]);
            return 2;
        }
    }
    if (!file && !rules_file) {
        fprintf(stderr, "usage: shadowproxy check [--config FILE] [--rules FILE]\n");
        return 2;
    }
    int rc = 0;
    sp_config cfg;
    if (config_defaults(&cfg) != 0)
        return 1;
    if (file) {
        config_errors errs = {0};
        config_load_file(&cfg, file, &errs);
        if (errs.n == 0)
            config_validate(&cfg, &errs);
        if (errs.n) {
            print_errors(file, &errs);
            rc = 1;
        } else {
            printf("%s: ok\n", file);
        }
        config_errors_free(&errs);
        if (!rules_file && rc == 0)
            rules_file = cfg.rules_path; /* the rules the config names */
    }
    if (rules_file) {
        rules *r = load_rules(rules_file, &cfg);
        if (r) {
            printf("%s: ok (%zu routes, version %s)\n", rules_file, r->nroutes, r->version);
            rules_unref(r);
        } else {
            rc = 1;
        }
    }
    config_free(&cfg);
    return rc;
}

enum { OPT_LEGACY = 256, OPT_NEW, OPT_LOG_LEVEL, OPT_LOG_FORMAT, OPT_DIFF_MODE, OPT_ADMIN,
       OPT_STATE, OPT_DECISIONS };


static int flag_error(const char *flag, const char *value, const char *want)
{
    fprintf(stderr, "serve: %s '%s': %s\n", flag, value, want);
    return 2;
}

/* Applies one serve flag over the config. 0, or an exit code. */
static int apply_flag(sp_config *c, int opt, const char *v)
{
    switch (opt) {
    case 'l':
        if (config_set_listen(c, v) != 0)
            return flag_error("--listen", v, "expected HOST:PORT");
        return 0;
    case OPT_LEGACY:
    case OPT_NEW: {
        const char *why = "invalid URL";
        char shown[512];
        if (config_set_url(&c->upstream[opt == OPT_LEGACY ? SIDE_LEGACY : SIDE_NEW].url, v, &why) != 0)
            return flag_error(opt == OPT_LEGACY ? "--legacy" : "--new",
                              config_url_shown(v, shown, sizeof shown), why);
        return 0;
    }
    case 'a':
        return config_parse_side(v, &c->authority) ? flag_error("--authority", v, "expected legacy or new") : 0;
    case 'd': return config_set_string(&c->diff_log_path, v) ? 1 : 0;
    case 'r': return config_set_string(&c->rules_path, v) ? 1 : 0;
    case OPT_ADMIN: return config_set_string(&c->admin_listen, v) ? 1 : 0;
    case OPT_STATE: return config_set_string(&c->state_file, v) ? 1 : 0;
    case OPT_DECISIONS: return config_set_string(&c->decisions_store, v) ? 1 : 0;
    case OPT_DIFF_MODE:
        if (strcmp(v, "all") == 0)
            c->diff_log_mode = DIFFLOG_ALL;
        else if (strcmp(v, "mismatches") == 0)
            c->diff_log_mode = DIFFLOG_MISMATCHES;
        else
            return flag_error("--diff-log-mode", v, "expected mismatches or all");
        return 0;
    case 'w': {
        char *end;
        long n = strtol(v, &end, 10);
        if (*end || n < 0 || n > 64)
            return flag_error("--workers", v, "expected 0..64");
        c->workers = (int)n;
        return 0;
    }
    case OPT_LOG_LEVEL: {
        log_level l;
        if (log_parse_level(v, &l) != 0)
            return flag_error("--log-level", v, "expected error|warn|info|debug");
        return config_set_string(&c->log_level, v) ? 1 : 0;
    }
    case OPT_LOG_FORMAT:
        if (strcmp(v, "json") == 0)
            c->log_format = LOGFMT_JSON;
        else if (strcmp(v, "logfmt") == 0)
            c->log_format = LOGFMT_LOGFMT;
        else
            return flag_error("--log-format", v, "expected logfmt or json");
        return 0;
    }
    return 2;
}

/* The key a serve flag sets (a reload leaves it alone: the flag wins). */
static const char *flag_key(int opt)
{
    switch (opt) {
    case 'l': return "/listen";
    case OPT_LEGACY: return "/legacy/url";
    case OPT_NEW: return "/new/url";
    case 'a': return "/authority";
    case 'd': return "/diff_log/path";
    case 'r': return "/rules";
    case OPT_ADMIN: return "/admin/listen";
    case OPT_STATE: return "/state_file";
    case OPT_DIFF_MODE: return "/diff_log/mode";
    case 'w': return "/workers";
    case OPT_LOG_LEVEL: return "/log/level";
    case OPT_LOG_FORMAT: return "/log/format";
    case OPT_DECISIONS: return "/decisions/store";
    }
    return NULL;
}

static int cmd_serve(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"rules", required_argument, NULL, 'r'},
        {"admin", required_argument, NULL, OPT_ADMIN},
        {"state-file", required_argument, NULL, OPT_STATE},
        {"decisions", required_argument, NULL, OPT_DECISIONS},
        {"listen", required_argument, NULL, 'l'},
        {"legacy", required_argument, NULL, OPT_LEGACY},
        {"new", required_argument, NULL, OPT_NEW},
        {"authority", required_argument, NULL, 'a'},
        {"diff-log", required_argument, NULL, 'd'},
        {"diff-log-mode", required_argument, NULL, OPT_DIFF_MODE},
        {"workers", required_argument, NULL, 'w'},
        {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
        {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_file = NULL;
    int opt;
    /* First pass: only --config, so flags apply over the file. */
    while ((opt = getopt_long(argc, argv, "c:r:l:a:d:w:h", opts, NULL)) != -1) {
        if (opt == 'c')
            config_file = optarg;
        else if (opt == 'h') {
            fputs(usage_text, stdout);
            return 0;
        } else if (opt == '?')
            return 2;
    }
    if (optind < argc) {
        fprintf(stderr, "serve: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    sp_config cfg;
    config_errors errs = {0};
    if (config_defaults(&cfg) != 0)
        return 1;
    if (config_file && config_load_file(&cfg, config_file, &errs) != 0) {
        print_errors(config_file, &errs);
        config_errors_free(&errs);
        config_free(&cfg);
        return 2;
    }
    optind = 1;
    int rc = 0;
    while (rc == 0 && (opt = getopt_long(argc, argv, "c:r:l:a:d:w:h", opts, NULL)) != -1) {
        if (opt != 'c')
            rc = apply_flag(&cfg, opt, optarg);
        const char *key = flag_key(opt);
        if (key && !config_key_from_flag(&cfg, key) && cfg.nflag_keys < sizeof cfg.flag_keys / sizeof *cfg.flag_keys)
            cfg.flag_keys[cfg.nflag_keys++] = key;
    }
    cfg.source_path = config_file; /* argv: lives as long as the process */
    if (rc == 0 && config_validate(&cfg, &errs) != 0) {
        print_errors(config_file ? config_file : "serve", &errs);
        rc = 2;
    }
    if (rc == 0) {
        log_level l = LOG_INFO;
        log_parse_level(cfg.log_level, &l);
        log_set_level(l);
        log_set_json(cfg.log_format == LOGFMT_JSON);
        int lrc = cfg.log_file ? log_open(cfg.log_file) : 0;
        if (lrc != 0) {
            fprintf(stderr, "serve: cannot open log.file %s: %s\n", cfg.log_file, strerror(-lrc));
            config_errors_free(&errs);
            config_free(&cfg);
            return 1;
        }
        if (cfg.workers == 0) {
            long n = sysconf(_SC_NPROCESSORS_ONLN);
            cfg.workers = n > 0 ? (n > 64 ? 64 : (int)n) : 1;
        }
        rules *r = cfg.rules_path ? load_rules(cfg.rules_path, &cfg) : rules_default();
        ops_state *o = NULL;
        store *st = NULL;
        if (r && store_open(&st, &cfg, &o) == 0)
            rc = server_run(&cfg, r, o, st); /* takes r, o and st */
        else {
            rules_unref(r);
            rc = 2;
        }
    }
    config_errors_free(&errs);
    config_free(&cfg);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage_text, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0)
        return cmd_version();
    if (strcmp(cmd, "check") == 0)
        return cmd_check(argc - 1, argv + 1);
    if (strcmp(cmd, "ctl") == 0) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return 1;
        int rc = ctl_main(argc - 1, argv + 1);
        curl_global_cleanup();
        return rc;
    }
    if (strcmp(cmd, "report") == 0)
        return report_main(argc - 1, argv + 1);
    if (strcmp(cmd, "readiness") == 0)
        return readiness_main(argc - 1, argv + 1);
    if (strcmp(cmd, "rules") == 0)
        return rules_main(argc - 1, argv + 1);
    if (strcmp(cmd, "serve") == 0 || strcmp(cmd, "replay") == 0) {
        /* Requests allocate and free the same sizes over and over, partly
         * across threads (the comparer frees what workers captured): keep
         * freed memory in the arenas instead of returning it to the kernel
         * and faulting it back in on the next request. */
        mallopt(M_TRIM_THRESHOLD, 64 << 20);
        mallopt(M_TOP_PAD, 1 << 20);
        mallopt(M_MMAP_THRESHOLD, 16 << 20);
        /* Every shadow request in flight holds a connection: allow as many
         * descriptors as the hard limit does, not the usual soft 1024. */
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
            rl.rlim_cur = rl.rlim_max;
            setrlimit(RLIMIT_NOFILE, &rl);
        }
        /* Global state of the libraries, set before any thread starts. */
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return 1;
        size_t seed;
        if (getrandom(&seed, sizeof seed, 0) == (ssize_t)sizeof seed)
            json_object_seed(seed);
        json_arena_install(); /* the comparers' values come from arenas */
        xmltree_global_init();
        int rc = strcmp(cmd, "serve") == 0 ? cmd_serve(argc - 1, argv + 1) : replay_main(argc - 1, argv + 1);
        curl_global_cleanup();
        return rc;
    }
    fprintf(stderr, "shadowproxy: unknown command '%s' (try --help)\n", cmd);
    return 2;
}
