/* Unit tests for config (table, loading, errors, validation, docs) and
 * jsonpos. Run from the repository root: two tests read docs/. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/config.h"
#include "conf/decisions_url.h"
#include "base/jsonpos.h"
#include "unit.h"

/* --- helpers -------------------------------------------------------------- */

/* Loads `json` over the defaults; the config is freed, errors kept. */
static int load(const char *json, config_errors *e)
{
    sp_config c;
    CHECK(config_defaults(&c) == 0);
    int rc = config_load_buffer(&c, json, strlen(json), e);
    config_free(&c);
    return rc;
}

/* Loads and expects exactly one error, returned as unit_err() formats it. */
static const char *one(const char *json)
{
    static char buf[700];
    config_errors e = {0};
    CHECK(load(json, &e) == -EINVAL);
    if (e.n != 1)
        fprintf(stderr, "  %zu errors for %s (first: %s)\n", e.n, json,
                unit_err(&e, 0));
    snprintf(buf, sizeof buf, "%s", e.n == 1 ? unit_err(&e, 0) : "(not one)");
    config_errors_free(&e);
    return buf;
}

static char *example_text(void)
{
    sp_config c;
    char *out = NULL;
    size_t n;
    FILE *f = open_memstream(&out, &n);
    CHECK(config_defaults(&c) == 0);
    CHECK(config_set_url(&c.upstream[SIDE_LEGACY].url, "http://127.0.0.1:8081",
                         NULL) == 0);
    CHECK(config_set_url(&c.upstream[SIDE_NEW].url, "http://127.0.0.1:8082",
                         NULL) == 0);
    config_print_json(f, &c);
    fclose(f);
    config_free(&c);
    return out;
}

/* --- jsonpos -------------------------------------------------------------- */

static const char doc[] = "{\n"
                          "  \"a\": {\"b\": [10, {\"c\": true}, \"x\"]},\n"
                          "  \"k\\u00e9y\": 1, \"s\\\"q\": 2,\n"
                          "  \"sl/ash\": 3, \"ti~lde\": 4,\n"
                          "  \"emoji\\ud83d\\ude00\": null\n"
                          "}\n";

static const char *pos(const char *ptr, int key)
{
    static char buf[32];
    int line = -1, col = -1;
    int rc = (key ? jsonpos_find_key : jsonpos_find)(doc, strlen(doc), ptr,
                                                     &line, &col);
    if (rc)
        snprintf(buf, sizeof buf, "rc=%d", rc);
    else
        snprintf(buf, sizeof buf, "%d:%d", line, col);
    return buf;
}

TEST(jsonpos_values)
{
    CHECK_STR(pos("", 0), "1:1");
    CHECK_STR(pos("/a", 0), "2:8");
    CHECK_STR(pos("/a/b", 0), "2:14");
    CHECK_STR(pos("/a/b/0", 0), "2:15");
    CHECK_STR(pos("/a/b/1", 0), "2:19");
    CHECK_STR(pos("/a/b/1/c", 0), "2:25");
    CHECK_STR(pos("/a/b/2", 0), "2:32");
    CHECK_STR(pos("/k\xc3\xa9y", 0), "3:15");    /* \u00e9 in the key */
    CHECK_STR(pos("/s\"q", 0), "3:26");          /* \" in the key */
    CHECK_STR(pos("/sl~1ash", 0), "4:13");       /* ~1 is '/' */
    CHECK_STR(pos("/ti~0lde", 0), "4:26");       /* ~0 is '~' */
    CHECK_STR(pos("/emoji\xf0\x9f\x98\x80", 0), "5:24"); /* surrogate pair */
}

TEST(jsonpos_keys_and_misses)
{
    CHECK_STR(pos("/a/b", 1), "2:9");
    CHECK_STR(pos("/k\xc3\xa9y", 1), "3:3");
    CHECK_STR(pos("/a/b/1", 1), "2:19"); /* array element: the element */
    CHECK_STR(pos("/nope", 0), "rc=-2");
    CHECK_STR(pos("/a/b/3", 0), "rc=-2");
    CHECK_STR(pos("/a/b/01", 0), "rc=-2");  /* leading zero: no element */
    CHECK_STR(pos("/a/b/-", 0), "rc=-2");
    CHECK_STR(pos("/a/b/0/x", 0), "rc=-2"); /* into a number */
    CHECK_STR(pos("/k", 0), "rc=-2");       /* prefix of a key is no match */
    CHECK_STR(pos("a", 0), "rc=-22");       /* not a pointer */
    CHECK_STR(pos("/ti~2lde", 0), "rc=-22");
}

TEST(jsonpos_hostile_text)
{
    int line, col;
    /* Truncated anywhere: a miss, or the right place once the value's
     * first byte is in (the scanner does not look at the value itself). */
    const char *ptr = "/emoji\xf0\x9f\x98\x80";
    size_t value_at = (size_t)(strstr(doc, "null") - doc);
    for (size_t n = 0; n < sizeof doc - 1; n++) {
        int rc = jsonpos_find(doc, n, ptr, &line, &col);
        CHECK(n > value_at ? rc == 0 && line == 5 && col == 24
                           : rc == -EINVAL);
    }
    /* Deep nesting is skipped without recursion. */
    size_t depth = 200000;
    char *deep = malloc(2 * depth + 32);
    size_t o = (size_t)sprintf(deep, "{\"x\": ");
    memset(deep + o, '[', depth);
    memset(deep + o + depth, ']', depth);
    o += 2 * depth;
    o += (size_t)sprintf(deep + o, ", \"y\": 5}");
    CHECK(jsonpos_find(deep, o, "/y", &line, &col) == 0);
    CHECK(line == 1 && col == (int)(2 * depth + 14));
    CHECK(jsonpos_find(deep, o, "/x/0/0/0/0", &line, &col) == 0);
    CHECK(col == 11);
    free(deep);
    CHECK(jsonpos_find("{\"a\":1}", 7, "/a/", &line, &col) == -ENOENT);
    CHECK(jsonpos_find("{\"a\\q\":1}", 9, "/b", &line, &col) == -EINVAL);
    CHECK(jsonpos_find("{\"a\":1 \"b\":2}", 13, "/b", &line, &col) ==
          -EINVAL);
    CHECK(jsonpos_find(NULL, 0, "", &line, &col) == -EINVAL);
    CHECK(jsonpos_find("  ", 2, "", &line, &col) == -EINVAL);
    jsonpos_line_col("ab\ncd", 5, 99, &line, &col);
    CHECK(line == 2 && col == 3);
}

/* --- defaults and the happy path ------------------------------------------ */

TEST(defaults)
{
    sp_config c;
    CHECK(config_defaults(&c) == 0);
    CHECK_STR(c.listen_host, "127.0.0.1");
    CHECK(c.listen_port == 8080);
    CHECK(c.authority == SIDE_LEGACY && c.workers == 0 && !c.preserve_host);
    CHECK(!c.upstream[0].url && !c.upstream[1].url);
    CHECK(c.upstream[1].connect_timeout_ms == 2000);
    CHECK(c.upstream[0].timeout_ms == 30000);
    CHECK(c.max_request_body == 64 << 20 && c.max_header_bytes == 32 << 10);
    CHECK(c.max_connections == 4096 && c.idle_timeout_s == 60);
    CHECK(c.drain_timeout_ms == 15000 && c.shadow_enabled);
    CHECK(c.shadow_timeout_ms == 5000 && c.shadow_max_in_flight == 1000);
    CHECK(c.breaker_failures == 5 && c.breaker_open_ms == 5000);
    CHECK(c.shadow_grace_ms == 2000 && c.compare_max_body == 8 << 20);
    CHECK(c.ncompare_headers == 1);
    CHECK_STR(c.compare_headers[0], "Content-Type");
    CHECK(c.max_differences == 100);
    CHECK_STR(c.diff_log_path, "shadowproxy-diffs.jsonl");
    CHECK(c.diff_log_mode == DIFFLOG_MISMATCHES);
    CHECK(c.diff_log_max_body == 65536 && c.diff_log_queue == 10000);
    CHECK(c.nredact_fields == 0 && c.nredact_exempt == 0);
    CHECK_STR(c.log_level, "info");
    CHECK(c.log_format == LOGFMT_LOGFMT);

    config_errors e = {0};
    CHECK(config_validate(&c, &e) == -EINVAL);
    CHECK(e.n == 2);
    CHECK_STR(unit_err(&e, 0), "0:0: legacy.url is required (set it in the "
                          "config or with --legacy)");
    CHECK_STR(unit_err(&e, 1), "0:0: new.url is required (set it in the config "
                          "or with --new)");
    config_errors_free(&e);
    config_free(&c);
    config_free(&c); /* twice is fine */
}

TEST(load_values)
{
    const char *json =
        "{\"listen\": \"[::1]:9000\", \"authority\": \"new\", \"workers\": 8,\n"
        " \"preserve_host\": true,\n"
        " \"legacy\": \"https://erp.example.com:8443/api/\",\n"
        " \"new\": {\"url\": \"http://10.0.0.2\", \"timeout_ms\": 100},\n"
        " \"limits\": {\"max_request_body\": \"2MiB\", \"max_header_bytes\": "
        "\"64KiB\", \"idle_timeout_s\": 5},\n"
        " \"shadow\": {\"enabled\": false, \"max_in_flight\": 0},\n"
        " \"compare\": {\"max_body_bytes\": \"1GiB\", \"headers\": [], "
        "\"max_differences\": 7},\n"
        " \"diff_log\": {\"path\": \"/var/log/d.jsonl\", \"mode\": \"all\", "
        "\"max_body_bytes\": 0, \"redact_fields\": [\"pin\"]},\n"
        " \"log\": {\"level\": \"debug\", \"format\": \"json\"}}";
    sp_config c;
    config_errors e = {0};
    CHECK(config_defaults(&c) == 0);
    CHECK(config_load_buffer(&c, json, strlen(json), &e) == 0);
    CHECK(e.n == 0);
    CHECK(config_validate(&c, &e) == 0);
    CHECK_STR(unit_err(&e, 0), "(none)");
    CHECK_STR(c.listen_host, "::1");
    CHECK(c.listen_port == 9000 && c.authority == SIDE_NEW);
    CHECK(c.workers == 8 && c.preserve_host);
    CHECK_STR(c.upstream[SIDE_LEGACY].url, "https://erp.example.com:8443/api");
    CHECK(c.upstream[SIDE_LEGACY].timeout_ms == 30000);
    CHECK_STR(c.upstream[SIDE_NEW].url, "http://10.0.0.2");
    CHECK(c.upstream[SIDE_NEW].timeout_ms == 100);
    CHECK(c.max_request_body == 2 << 20 && c.max_header_bytes == 64 << 10);
    CHECK(c.idle_timeout_s == 5 && c.max_connections == 4096);
    CHECK(!c.shadow_enabled && c.shadow_max_in_flight == 0);
    CHECK(c.compare_max_body == (size_t)1 << 30 && c.ncompare_headers == 0);
    CHECK(c.max_differences == 7 && c.diff_log_mode == DIFFLOG_ALL);
    CHECK_STR(c.diff_log_path, "/var/log/d.jsonl");
    CHECK(c.diff_log_max_body == 0 && c.nredact_fields == 1);
    CHECK_STR(c.redact_fields[0], "pin");
    CHECK_STR(c.log_level, "debug");
    CHECK(c.log_format == LOGFMT_JSON);
    config_free(&c);
}

/* --- error messages and positions ----------------------------------------- */

TEST(unknown_keys)
{
    CHECK_STR(one("{\"listn\": \":1\"}"),
              "1:2: unknown key \"listn\" (did you mean \"listen\"?)");
    CHECK_STR(one("{\n  \"shadow\": {\"enabeld\": true}}"),
              "2:14: unknown key \"shadow.enabeld\" (did you mean "
              "\"shadow.enabled\"?)");
    CHECK_STR(one("{\"breaker_open_ms\": 5}"),
              "1:2: unknown key \"breaker_open_ms\" (did you mean "
              "\"shadow.breaker_open_ms\"?)");
    /* in shadow and secondary: no single answer */
    CHECK_STR(one("{\"max_in_flight\": 5}"), "1:2: unknown key \"max_in_flight\"");
    CHECK_STR(one("{\"limit\": {}}"),
              "1:2: unknown key \"limit\" (did you mean \"limits\"?)");
    CHECK_STR(one("{\"timeout_ms\": 5}"), "1:2: unknown key \"timeout_ms\"");
    CHECK_STR(one("{\"zzzzzz\": {\"deep\": [1]}}"),
              "1:2: unknown key \"zzzzzz\"");
    CHECK_STR(one("{\"a/b~c\\n\": 1}"), "1:2: unknown key \"a/b~c\\x0a\"");
    CHECK_STR(one("{\"legacy\": {\"url\": \"http://a\", \"uri\": \"x\"}}"),
              "1:32: unknown key \"legacy.uri\" (did you mean "
              "\"legacy.url\"?)");
}

TEST(type_errors)
{
    CHECK_STR(one("{\"workers\": \"4\"}"),
              "1:13: workers must be an integer, got string");
    CHECK_STR(one("{\"workers\": 4.0}"),
              "1:13: workers must be an integer, got real");
    CHECK_STR(one("{\"preserve_host\": \"yes\"}"),
              "1:19: preserve_host must be true or false, got string");
    CHECK_STR(one("{\"listen\": 8080}"),
              "1:12: listen must be a string, got integer");
    CHECK_STR(one("{\"legacy\": 5}"),
              "1:12: legacy must be an object or a URL string, got integer");
    CHECK_STR(one("{\"limits\": []}"),
              "1:12: limits must be an object, got array");
    CHECK_STR(one("{\"compare\": {\"headers\": \"Content-Type\"}}"),
              "1:25: compare.headers must be an array of header names, got "
              "string");
    CHECK_STR(one("{\"diff_log\": {\"redact_fields\": [\"a\", 7]}}"),
              "1:38: diff_log.redact_fields[1] must be a string, got integer");
    CHECK_STR(one("{\"limits\": {\"max_request_body\": null}}"),
              "1:33: limits.max_request_body must be a byte count like 65536 "
              "or \"64KiB\", got null");
    CHECK_STR(one("{\"log\": {\"level\": true}}"),
              "1:19: log.level must be \"error\", \"warn\", \"info\" or "
              "\"debug\", got true");
    CHECK_STR(one("[1, 2]"), "1:1: the top level must be an object, got array");
    CHECK_STR(one("  \"x\""), "1:3: the top level must be an object, got string");
}

TEST(range_and_enum_errors)
{
    CHECK_STR(one("{\"workers\": 65}"),
              "1:13: workers must be between 0 and 64, got 65");
    CHECK_STR(one("{\"workers\": -1}"),
              "1:13: workers must be between 0 and 64, got -1");
    CHECK_STR(one("{\"new\": {\"timeout_ms\": 0}}"),
              "1:24: new.timeout_ms must be between 1 and 3600000, got 0");
    CHECK_STR(one("{\"compare\": {\"max_differences\": 9223372036854775807}}"),
              "1:33: compare.max_differences must be between 1 and 10000, "
              "got 9223372036854775807");
    CHECK_STR(one("{\"compare\": {\"max_body_bytes\": \"2GiB\"}}"),
              "1:32: compare.max_body_bytes must be between 1 and 1GiB, got "
              "\"2GiB\"");
    CHECK_STR(one("{\"limits\": {\"max_header_bytes\": 100}}"),
              "1:33: limits.max_header_bytes must be between 1KiB and 1MiB, "
              "got 100");
    CHECK_STR(one("{\"limits\": {\"max_request_body\": \"99999999999999999999GiB\"}}"),
              "1:33: limits.max_request_body must be between 0 and 4GiB, got "
              "\"99999999999999999999GiB\"");
    CHECK_STR(one("{\"limits\": {\"max_request_body\": \"64MB\"}}"),
              "1:33: limits.max_request_body must be a byte count like 65536 "
              "or \"64KiB\", got \"64MB\"");
    CHECK_STR(one("{\"authority\": \"old\"}"),
              "1:15: authority must be \"legacy\" or \"new\", got \"old\"");
    CHECK_STR(one("{\"diff_log\": {\"mode\": \"All\"}}"),
              "1:23: diff_log.mode must be \"mismatches\" or \"all\", got \"All\"");
    CHECK_STR(one("{\"log\": {\"format\": \"text\"}}"),
              "1:20: log.format must be \"logfmt\" or \"json\", got \"text\"");
    CHECK_STR(one("{\"diff_log\": {\"path\": \"\"}}"),
              "1:23: diff_log.path must not be empty");
    CHECK_STR(one("{\"compare\": {\"headers\": [\"Content Type\"]}}"),
              "1:26: compare.headers[0] must be a header name, got \"Content "
              "Type\"");
    CHECK_STR(one("{\"compare\": {\"headers\": [\"\"]}}"),
              "1:26: compare.headers[0] must not be empty");
}

TEST(url_errors)
{
    /* Third: the URL as the error shows it, when not as written. */
    static const char *const bad[][3] = {
        {"ftp://x", "scheme must be http or https"},
        {"http://", "host is missing"},
        {"http://:80/", "host is missing"},
        {"http://u:p@x/", "user info is not supported", "http://***@x/"},
        {"http://x:0", "port must be 1..65535"},
        {"http://x:65536", "port must be 1..65535"},
        {"http://x:/", "port must be 1..65535"},
        {"http://[::1/", "invalid IPv6 address"},
        {"http://[::1]x/", "invalid host"},
        {"http://a b/", "spaces, control and non-ASCII characters must be "
                        "percent-encoded"},
        {"http://x/?q=1", "a query string is not allowed"},
        {"http://x/#top", "a fragment is not allowed"},
        {"http://x!/", "invalid host"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char json[128], want[256];
        snprintf(json, sizeof json, "{\"new\": \"%s\"}", bad[i][0]);
        snprintf(want, sizeof want,
                 "1:9: new.url must be an http or https URL, got \"%s\" (%s)",
                 bad[i][2] ? bad[i][2] : bad[i][0], bad[i][1]);
        CHECK_STR(one(json), want);
    }
    char *slot = NULL;
    const char *why = NULL;
    CHECK(config_set_url(&slot, "HTTP://[::1]:8081/", &why) == 0);
    CHECK_STR(slot, "HTTP://[::1]:8081");
    CHECK(config_set_url(&slot, "http://h/base//", &why) == 0);
    CHECK_STR(slot, "http://h/base/");
    CHECK(config_set_url(&slot, "http://h?", &why) == -EINVAL);
    CHECK_STR(why, "a query string is not allowed");
    CHECK_STR(slot, "http://h/base/"); /* untouched on error */
    free(slot);
}

TEST(every_error_in_file_order)
{
    const char *json = "{\n"
                       "  \"workers\": \"many\",\n"
                       "  \"listn\": \"x\",\n"
                       "  \"legacy\": {\"url\": \"ftp://a\", \"timeout_ms\": -5},\n"
                       "  \"log\": {\"level\": \"trace\"}\n"
                       "}\n";
    config_errors e = {0};
    CHECK(load(json, &e) == -EINVAL);
    CHECK(e.n == 5);
    CHECK_STR(unit_err(&e, 0), "2:14: workers must be an integer, got string");
    CHECK_STR(unit_err(&e, 1),
              "3:3: unknown key \"listn\" (did you mean \"listen\"?)");
    CHECK_STR(unit_err(&e, 2), "4:21: legacy.url must be an http or https URL, got "
                          "\"ftp://a\" (scheme must be http or https)");
    CHECK_STR(unit_err(&e, 3), "4:46: legacy.timeout_ms must be between 1 and "
                          "3600000, got -5");
    CHECK_STR(unit_err(&e, 4), "5:20: log.level must be \"error\", \"warn\", "
                          "\"info\" or \"debug\", got \"trace\"");

    char *out = NULL;
    size_t n;
    FILE *f = open_memstream(&out, &n);
    config_errors_add(&e, 0, 0, "new.url is required");
    config_errors_print(f, "cfg.json", &e);
    fclose(f);
    const char *first = "cfg.json:2:14: workers must be an integer, got "
                        "string\ncfg.json:3:3: unknown key";
    CHECK(strncmp(out, first, strlen(first)) == 0);
    CHECK(strstr(out, "\ncfg.json: new.url is required\n") != NULL);
    free(out);
    config_errors_free(&e);
}

TEST(too_many_errors)
{
    char json[8192];
    size_t o = (size_t)snprintf(json, sizeof json, "{");
    for (int i = 0; i < 150; i++)
        o += (size_t)snprintf(json + o, sizeof json - o, "%s\"k%d\": 1",
                              i ? "," : "", i);
    snprintf(json + o, sizeof json - o, "}");
    config_errors e = {0};
    CHECK(load(json, &e) == -EINVAL);
    CHECK(e.n == CONFIG_MAX_ERRORS + 1);
    CHECK_STR(unit_err(&e, CONFIG_MAX_ERRORS), "0:0: too many errors, stopped after 100");
    config_errors_free(&e);
}

/* --- syntax errors and hostile input --------------------------------------- */

TEST(syntax_errors)
{
    CHECK_STR(one("{\"workers\": 1,\n  \"workers\": 2}"),
              "2:3: duplicate key \"workers\"");
    CHECK_STR(one("{\"log\": {\"level\": \"info\", \"level\": \"debug\"}}"),
              "1:27: duplicate key \"level\"");
    CHECK_STR(one("{\"a\\\"b\": 1, \"a\\\"b\": 2}"),
              "1:13: duplicate key \"a\\\"b\"");
    CHECK_STR(one("{\"workers\": 1,\n \"new\" \"x\"}"),
              "2:8: invalid JSON: ':' expected near '\"x\"'");
    CHECK_STR(one("{\"workers\": 1,\n \"new\":"),
              "2:8: invalid JSON: unexpected token near end of file");
    CHECK_STR(one("{\"workers\": 99999999999999999999}"),
              "1:13: invalid JSON: too big integer near "
              "'99999999999999999999'");
    CHECK_STR(one("{\"workers\": 1} x"),
              "1:16: invalid JSON: end of file expected near 'x'");
    CHECK_STR(one("{\"diff_log\": {\"path\": \"\\u0000\"}}"),
              "1:23: invalid JSON: \\u0000 is not allowed without "
              "JSON_ALLOW_NUL near '\"\\u0000\"'");
    CHECK_STR(one(""), "0:0: file is empty");
    CHECK_STR(one(" \n\t "), "0:0: file is empty");

    config_errors e = {0};
    CHECK(load("{\"listen\": \"a\xff\"}", &e) == -EINVAL);
    CHECK_STR(unit_err(&e, 0), "1:14: invalid JSON: unable to decode byte 0xff near '\"a'");
    config_errors_free(&e);
    const char nul[] = "{\"listen\": \"a\0b\"}";
    sp_config c;
    CHECK(config_defaults(&c) == 0);
    CHECK(config_load_buffer(&c, nul, sizeof nul - 1, &e) == -EINVAL);
    CHECK_STR(unit_err(&e, 0), "1:12: invalid JSON: control character 0x0 near "
                          "'\"a'");
    CHECK_STR(c.listen_host, "127.0.0.1");
    config_errors_free(&e);
    config_free(&c);
}

TEST(hostile_input)
{
    size_t n;
    char *text = example_text();
    n = strlen(text);
    /* Every truncation fails cleanly with exactly one positioned error. */
    for (size_t len = 0; len < n - 1; len++) {
        sp_config c;
        config_errors e = {0};
        CHECK(config_defaults(&c) == 0);
        CHECK(config_load_buffer(&c, text, len, &e) == -EINVAL);
        CHECK(e.n == 1);
        config_errors_free(&e);
        config_free(&c);
    }
    /* Byte flips: whatever comes out, no crash and no leak (ASan). */
    uint32_t seed = 12345;
    for (int round = 0; round < 3000; round++) {
        char *m = strdup(text);
        for (int k = 0; k < 3; k++) {
            seed = seed * 1103515245u + 12345u;
            m[(seed >> 8) % n] = (char)(seed >> 20);
        }
        sp_config c;
        config_errors e = {0};
        CHECK(config_defaults(&c) == 0);
        config_load_buffer(&c, m, n, &e);
        for (size_t i = 0; i < e.n; i++)
            CHECK(e.v[i].message && e.v[i].line >= 0);
        config_errors_free(&e);
        config_free(&c);
        free(m);
    }
    free(text);

    /* Nesting: jansson's depth limit, and deep values under known keys. */
    size_t depth = 5000;
    char *deep = malloc(2 * depth + 64);
    size_t o = (size_t)sprintf(deep, "{\"compare\": {\"headers\": ");
    memset(deep + o, '[', depth);
    memset(deep + o + depth, ']', depth);
    strcpy(deep + o + 2 * depth, "}}");
    config_errors e = {0};
    CHECK(load(deep, &e) == -EINVAL);
    CHECK(e.n == 1 && strstr(e.v[0].message, "maximum parsing depth"));
    config_errors_free(&e);
    depth = 1000;
    o = (size_t)sprintf(deep, "{\"compare\": {\"headers\": ");
    memset(deep + o, '[', depth);
    memset(deep + o + depth, ']', depth);
    strcpy(deep + o + 2 * depth, "}}");
    CHECK(load(deep, &e) == -EINVAL);
    CHECK_STR(unit_err(&e, 0), "1:26: compare.headers[0] must be a string, got array");
    config_errors_free(&e);
    free(deep);

    /* Over 1 MiB, and a very long unknown key. */
    size_t big = CONFIG_MAX_FILE_BYTES + 1;
    char *huge = malloc(big + 1);
    memset(huge, ' ', big);
    huge[0] = '{';
    huge[big - 1] = '}';
    huge[big] = '\0';
    CHECK_STR(one(huge), "0:0: file is larger than 1 MiB");
    memset(huge, 'k', 100000);
    memcpy(huge, "{\"", 2);
    strcpy(huge + 100000, "\": 1}");
    CHECK_STR(one(huge), "1:2: unknown key \"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
                         "kkkkkkkkkkkk...\"");
    free(huge);
}

TEST(load_file)
{
    sp_config c;
    config_errors e = {0};
    CHECK(config_defaults(&c) == 0);
    CHECK(config_load_file(&c, "/nonexistent/sp.json", &e) == -EINVAL);
    CHECK_STR(unit_err(&e, 0), "0:0: cannot read: No such file or directory");
    config_errors_free(&e);
    CHECK(config_load_file(&c, "/", &e) == -EINVAL);
    CHECK_STR(unit_err(&e, 0), "0:0: cannot read: Is a directory");
    config_errors_free(&e);

    char path[] = "/tmp/sp-config-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    const char *json = "{\"legacy\": \"http://a:1\", \"new\": \"http://b:2/\",\n"
                       " \"workers\": 3}\n";
    CHECK(write(fd, json, strlen(json)) == (ssize_t)strlen(json));
    close(fd);
    CHECK(config_load_file(&c, path, &e) == 0 && e.n == 0);
    CHECK(c.workers == 3);
    CHECK_STR(c.upstream[SIDE_NEW].url, "http://b:2");
    CHECK(config_validate(&c, &e) == 0);
    unlink(path);
    config_free(&c);
}

/* --- CLI helpers and validation --------------------------------------------- */

TEST(listen_and_side)
{
    static const struct { const char *in, *host; int port; } ok[] = {
        {"127.0.0.1:8080", "127.0.0.1", 8080}, {":9", "0.0.0.0", 9},
        {"[::1]:0", "::1", 0}, {"[::]:65535", "::", 65535},
        {"localhost:80", "localhost", 80},
    };
    static const char *const bad[] = {
        "8080", "host:", "host:65536", "host:-1", "::1:80", "[::1]80",
        "[zz]:80", "[]:80", "a b:80", "host:80x", "host:123456", "",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char *host = NULL;
        int port = -1;
        CHECK(config_parse_listen(ok[i].in, &host, &port) == 0);
        CHECK_STR(host, ok[i].host);
        CHECK(port == ok[i].port);
        free(host);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *host = NULL;
        int port = -1;
        if (config_parse_listen(bad[i], &host, &port) != -EINVAL)
            fprintf(stderr, "  accepted listen %s\n", bad[i]);
        CHECK(!host && port == -1);
    }
    CHECK_STR(one("{\"listen\": \"8080\"}"),
              "1:12: listen must be HOST:PORT, [IPv6]:PORT or :PORT with a "
              "port from 0 to 65535, got \"8080\"");

    sp_config c;
    CHECK(config_defaults(&c) == 0);
    CHECK(config_set_listen(&c, "[::1]:81") == 0); /* replaces, no leak */
    CHECK_STR(c.listen_host, "::1");
    CHECK(config_set_listen(&c, "nope") == -EINVAL && c.listen_port == 81);
    config_free(&c);

    sp_side s = SIDE_LEGACY;
    CHECK(config_parse_side("new", &s) == 0 && s == SIDE_NEW);
    CHECK(config_parse_side("New", &s) == -EINVAL && s == SIDE_NEW);
    CHECK(config_parse_side(NULL, &s) == -EINVAL);
    CHECK_STR(config_side_name(SIDE_LEGACY), "legacy");
    CHECK_STR(config_side_name((sp_side)7), "?");
}

TEST(validate_after_flags)
{
    sp_config c;
    config_errors e = {0};
    CHECK(config_defaults(&c) == 0);
    CHECK(config_set_string(&c.upstream[SIDE_LEGACY].url, "http://x?y") == 0);
    CHECK(config_set_string(&c.upstream[SIDE_NEW].url, "http://n") == 0);
    c.workers = 100;
    c.listen_port = 70000;
    c.diff_log_max_body = (size_t)2 << 30;
    CHECK(config_set_string(&c.log_level, "loud") == 0);
    CHECK(config_set_string(&c.diff_log_path, "") == 0);
    c.authority = (sp_side)3;
    CHECK(config_validate(&c, &e) == -EINVAL);
    CHECK(e.n == 7);
    CHECK_STR(unit_err(&e, 0), "0:0: listen port must be between 0 and 65535, got "
                          "70000");
    CHECK_STR(unit_err(&e, 1), "0:0: authority must be \"legacy\" or \"new\"");
    CHECK_STR(unit_err(&e, 2), "0:0: workers must be between 0 and 64, got 100");
    CHECK_STR(unit_err(&e, 3), "0:0: legacy.url must be an http or https URL, got "
                          "\"http://x?y\" (a query string is not allowed)");
    CHECK_STR(unit_err(&e, 4), "0:0: diff_log.path must not be empty");
    CHECK_STR(unit_err(&e, 5), "0:0: diff_log.max_body_bytes must be between 0 "
                          "and 1GiB, got 2147483648");
    CHECK_STR(unit_err(&e, 6), "0:0: log.level must be \"error\", \"warn\", "
                          "\"info\" or \"debug\"");
    CHECK_STR(unit_err(&e, 7), "(none)");
    config_errors_free(&e);
    config_free(&c);
}

TEST(url_shown_hides_user_info)
{
    char b[64];
    CHECK_STR(config_url_shown("http://bob:pw@h:1/p", b, sizeof b), "http://***@h:1/p");
    CHECK_STR(config_url_shown("https://a@b@h/x@y", b, sizeof b), "https://***@h/x@y");
    CHECK_STR(config_url_shown("bob:pw x@h", b, sizeof b), "***@h");
    CHECK_STR(config_url_shown("http://h:1/p?u=a@b", b, sizeof b), "http://h:1/p?u=a@b");
    CHECK_STR(config_url_shown("http://bob:pw@h", b, 9), "http://*");
    CHECK_STR(config_url_shown("", b, sizeof b), "");
}

TEST(decisions_store)
{
    char why[200];
    decisions_url u;
    CHECK(decisions_url_parse("file:/var/lib/sp/state.json", &u, why, sizeof why) == 0);
    CHECK(u.kind == DECISIONS_FILE);
    CHECK_STR(u.path, "/var/lib/sp/state.json");
    decisions_url_free(&u);
    CHECK(decisions_url_parse("etcd://h1:2379,10.0.0.2:2380/sp/prod/", &u, why, sizeof why) == 0);
    CHECK(u.kind == DECISIONS_ETCD && !u.tls && u.nendpoints == 2);
    CHECK_STR(u.endpoints[0], "http://h1:2379");
    CHECK_STR(u.endpoints[1], "http://10.0.0.2:2380");
    CHECK_STR(u.prefix, "/sp/prod");
    decisions_url_free(&u);
    CHECK(decisions_url_parse("etcds://h:1/p", &u, why, sizeof why) == 0);
    CHECK(u.tls);
    CHECK_STR(u.endpoints[0], "https://h:1");
    decisions_url_free(&u);
    const char *bad[] = {"", "file:", "etcd://h1/p", "etcd://h:1", "etcd://h:99999/p",
                         "etcd://h:1,/p", "etcd://h:1/p q", "consul://h:1/p", NULL};
    for (int i = 0; bad[i]; i++) {
        CHECK(decisions_url_parse(bad[i], &u, why, sizeof why) == -EINVAL);
        CHECK(u.endpoints == NULL && u.path == NULL);
    }
    CHECK(decisions_url_parse("etcd://h1/p", &u, why, sizeof why) == -EINVAL);
    CHECK_STR(why, "etcd endpoints must be HOST:PORT, comma-separated, got \"h1\"");

    sp_config c;
    config_errors e = {0};
    const char text[] = "{\"legacy\": {\"url\": \"http://l\"}, \"new\": {\"url\": \"http://n\"},"
                        " \"decisions\": {\"store\": \"file:/x\", \"etcd\": "
                        "{\"ca_file\": \"/ca\", \"username\": \"u\"}}}";
    CHECK(config_defaults(&c) == 0);
    CHECK(config_load_buffer(&c, text, sizeof text - 1, &e) == 0);
    CHECK(config_validate(&c, &e) == -EINVAL);
    CHECK(e.n == 3);
    CHECK_STR(unit_err(&e, 0), "0:0: decisions.etcd.ca_file needs an etcds:// decisions.store");
    CHECK_STR(unit_err(&e, 1), "0:0: decisions.etcd.username needs an etcd decisions.store");
    CHECK_STR(unit_err(&e, 2), "0:0: decisions.etcd.username and decisions.etcd.password_file go "
                          "together");
    config_errors_free(&e);
    CHECK(config_set_string(&c.decisions_store, "redis://x") == 0);
    free(c.decisions_etcd.ca_file);
    free(c.decisions_etcd.username);
    c.decisions_etcd.ca_file = c.decisions_etcd.username = NULL;
    CHECK(config_validate(&c, &e) == -EINVAL);
    CHECK(e.n == 1 && strstr(unit_err(&e, 0), "decisions.store \"redis://x\": expected file:PATH"));
    config_errors_free(&e);
    config_free(&c);
}

TEST(trusted_proxies)
{
    CHECK_STR(one("{\"trusted_proxies\": [\"10.0.0.1/8\"]}"),
              "1:22: trusted_proxies[0] must be an address or ADDRESS/BITS, got \"10.0.0.1/8\" "
              "(bits are set past the prefix length)");
    CHECK_STR(one("{\"trusted_proxies\": \"10.0.0.0/8\"}"),
              "1:21: trusted_proxies must be an array of addresses or CIDR ranges, got string");
    sp_config c;
    config_errors e = {0};
    CHECK(config_defaults(&c) == 0 && c.ntrusted_proxies == 0);
    const char *ok = "{\"trusted_proxies\": [\"10.0.0.0/8\", \"::1\"]}";
    CHECK(config_load_buffer(&c, ok, strlen(ok), &e) == 0 && e.n == 0);
    CHECK(c.ntrusted_proxies == 2 && strcmp(c.trusted_proxies[1], "::1") == 0);
    config_free(&c);
    config_errors_free(&e);
}

TEST(admin_tokens)
{
    sp_config c;
    config_errors e = {0};
    const char *ok = "{\"admin\": {\"tokens\": ["
                     "{\"name\": \"ops\", \"role\": \"operator\", \"token_file\": \"/run/ops\"},"
                     "{\"name\": \"prom.1\", \"role\": \"viewer\", \"token_env\": \"SCRAPE\"}]}}";
    CHECK(config_defaults(&c) == 0);
    CHECK(c.nadmin_tokens == 0);
    CHECK(config_load_buffer(&c, ok, strlen(ok), &e) == 0);
    CHECK_STR(unit_err(&e, 0), "(none)");
    CHECK(c.nadmin_tokens == 2);
    CHECK_STR(c.admin_tokens[0].name, "ops");
    CHECK(c.admin_tokens[0].role == ROLE_OPERATOR);
    CHECK_STR(c.admin_tokens[0].token_file, "/run/ops");
    CHECK(c.admin_tokens[0].token_env == NULL);
    CHECK_STR(c.admin_tokens[1].name, "prom.1");
    CHECK(c.admin_tokens[1].role == ROLE_VIEWER);
    CHECK_STR(c.admin_tokens[1].token_env, "SCRAPE");
    CHECK(config_set_url(&c.upstream[SIDE_LEGACY].url, "http://127.0.0.1:1", NULL) == 0);
    CHECK(config_set_url(&c.upstream[SIDE_NEW].url, "http://127.0.0.1:2", NULL) == 0);
    char *out = NULL;
    size_t n;
    FILE *f = open_memstream(&out, &n);
    config_print_json(f, &c);
    fclose(f);
    CHECK(strstr(out, "\"tokens\": [{\"name\": \"ops\", \"role\": \"operator\", "
                      "\"token_file\": \"/run/ops\"}, {\"name\": \"prom.1\", \"role\": "
                      "\"viewer\", \"token_env\": \"SCRAPE\"}]") != NULL);
    sp_config again;
    CHECK(config_defaults(&again) == 0);
    CHECK(config_load_buffer(&again, out, n, &e) == 0); /* what it prints, it reads */
    CHECK(again.nadmin_tokens == 2 && again.admin_tokens[1].role == ROLE_VIEWER);
    config_free(&again);
    free(out);
    config_free(&c);
    config_errors_free(&e);

    CHECK_STR(one("{\"admin\": {\"tokens\": {}}}"),
              "1:22: admin.tokens must be an array of {name, role, token_file | token_env}");
    CHECK_STR(one("{\"admin\": {\"tokens\": [7]}}"),
              "1:23: admin.tokens[0] must be an object {name, role, token_file | token_env}");
    CHECK_STR(one("{\"admin\": {\"tokens\": [{\"name\": \"a\", \"role\": \"viewer\", "
                  "\"token_env\": \"X\", \"tokn_file\": \"f\"}]}}"),
              "1:23: admin.tokens[0]: unknown key \"tokn_file\" (expected name, role, "
              "token_file, token_env)");
    CHECK_STR(one("{\"admin\": {\"tokens\": [{\"name\": \"a b\", \"role\": \"viewer\", "
                  "\"token_env\": \"X\"}]}}"),
              "1:23: admin.tokens[0] needs a \"name\": 1 to 64 of A-Z a-z 0-9 . _ -");
    CHECK_STR(one("{\"admin\": {\"tokens\": [{\"name\": \"a\", \"role\": \"admin\", "
                  "\"token_env\": \"X\"}]}}"),
              "1:23: admin.tokens[0] needs a \"role\": \"operator\" or \"viewer\"");
    CHECK_STR(one("{\"admin\": {\"tokens\": [{\"name\": \"a\", \"role\": \"viewer\", "
                  "\"token_env\": \"X\", \"token_file\": \"f\"}]}}"),
              "1:23: admin.tokens[0] needs one of token_file and token_env (not both)");
    CHECK_STR(one("{\"admin\": {\"tokens\": [{\"name\": \"a\", \"role\": \"viewer\"}]}}"),
              "1:23: admin.tokens[0] needs one of token_file and token_env (not both)");
    CHECK_STR(one("{\"admin\": {\"tokens\": [{\"name\": \"a\", \"role\": \"viewer\", "
                  "\"token_env\": \"\"}]}}"),
              "1:23: admin.tokens[0] token_file and token_env must be non-empty strings");
    CHECK_STR(one("{\"admin\": {\"tokens\": [{\"name\": \"a\", \"role\": \"viewer\", "
                  "\"token_env\": \"X\"}, {\"name\": \"a\", \"role\": \"operator\", "
                  "\"token_env\": \"Y\"}]}}"),
              "1:74: admin.tokens[1]: the name \"a\" is already used by admin.tokens[0]");
}

TEST(reloadable)
{
    CHECK(config_key_reloadable("/log/level"));
    CHECK(config_key_reloadable("/diff_log/mode"));
    CHECK(config_key_reloadable("/readiness/require_shadow"));
    CHECK(!config_key_reloadable("/diff_log/redact_fields"));
    CHECK(!config_key_reloadable("/listen"));
    CHECK(!config_key_reloadable("/limits/max_connections"));
    CHECK(!config_key_reloadable("/nope"));
    CHECK(!config_key_reloadable(NULL));
}

TEST(changed_keys)
{
    sp_config a, b;
    config_errors e = {0};
    CHECK(config_defaults(&a) == 0 && config_defaults(&b) == 0);
    const char *out[8];
    CHECK(config_changed_keys(&a, &b, out, 8) == 0);
    static const char text[] = "{\"shadow\": {\"timeout_ms\": 2000}, \"log\": {\"level\": "
                               "\"debug\"}, \"compare\": {\"headers\": [\"ETag\"]}}";
    CHECK(config_load_buffer(&b, text, sizeof text - 1, &e) == 0);
    CHECK(config_changed_keys(&a, &b, out, 8) == 3); /* in table order */
    CHECK_STR(out[0], "/shadow/timeout_ms");
    CHECK_STR(out[1], "/compare/headers");
    CHECK_STR(out[2], "/log/level");
    CHECK(config_changed_keys(&a, &b, out, 1) == 3); /* counts past max */
    CHECK(config_key_count() > 40);
    char dotted[64];
    config_dotted("/shadow/timeout_ms", dotted, sizeof dotted);
    CHECK_STR(dotted, "shadow.timeout_ms");
    a.flag_keys[a.nflag_keys++] = "/listen";
    CHECK(config_key_from_flag(&a, "/listen") && !config_key_from_flag(&a, "/workers"));
    config_errors_free(&e);
    config_free(&a);
    config_free(&b);
}

/* --- docs can't drift -------------------------------------------------------- */

TEST(recv_buffer_is_auto_or_at_least_1kib)
{
    sp_config c;
    config_errors e = {0};
    CHECK(config_defaults(&c) == 0);
    CHECK(c.shadow_recv_buffer == 0); /* auto */
    CHECK(config_set_string(&c.upstream[SIDE_LEGACY].url, "http://l") == 0);
    CHECK(config_set_string(&c.upstream[SIDE_NEW].url, "http://n") == 0);
    CHECK(config_validate(&c, &e) == 0);
    c.shadow_recv_buffer = 1024;
    CHECK(config_validate(&c, &e) == 0);
    c.shadow_recv_buffer = 512;
    CHECK(config_validate(&c, &e) == -EINVAL);
    CHECK_STR(unit_err(&e, 0), "0:0: shadow.recv_buffer must be 0 (auto) or between 1KiB and "
                               "512KiB, got 512");
    config_errors_free(&e);
    config_free(&c);
}

TEST(docs_reference_table)
{
    char *want = NULL, *md = unit_read_file("docs/config.md", NULL);
    size_t n;
    FILE *f = open_memstream(&want, &n);
    config_print_reference(f);
    fclose(f);
    const char *begin = "<!-- BEGIN config_print_reference -->\n";
    const char *b = md ? strstr(md, begin) : NULL;
    const char *end = b ? strstr(b, "<!-- END config_print_reference -->") : NULL;
    CHECK(b && end);
    if (b && end) {
        b += strlen(begin);
        bool same = (size_t)(end - b) == n && memcmp(b, want, n) == 0;
        if (!same)
            fprintf(stderr, "  docs/config.md is stale; its table must be:\n%s",
                    want);
        CHECK(same);
    }
    free(want);
    free(md);
}

TEST(docs_example)
{
    char *want = example_text(), *have = unit_read_file("docs/config.example.json", NULL);
    CHECK(have != NULL);
    if (have && strcmp(have, want) != 0)
        fprintf(stderr, "  docs/config.example.json is stale; it must be:\n%s",
                want);
    CHECK_STR(have, want);

    sp_config c;
    config_errors e = {0};
    CHECK(config_defaults(&c) == 0);
    CHECK(config_load_file(&c, "docs/config.example.json", &e) == 0);
    CHECK(config_validate(&c, &e) == 0);
    CHECK_STR(unit_err(&e, 0), "(none)");
    char *round = NULL;
    size_t n;
    FILE *f = open_memstream(&round, &n);
    config_print_json(f, &c);
    fclose(f);
    CHECK_STR(round, want); /* every key printed is loaded back the same */
    free(round);
    free(want);
    free(have);
    config_free(&c);
}

int main(void)
{
    RUN(jsonpos_values);
    RUN(jsonpos_keys_and_misses);
    RUN(jsonpos_hostile_text);
    RUN(defaults);
    RUN(load_values);
    RUN(unknown_keys);
    RUN(type_errors);
    RUN(range_and_enum_errors);
    RUN(url_errors);
    RUN(every_error_in_file_order);
    RUN(too_many_errors);
    RUN(syntax_errors);
    RUN(hostile_input);
    RUN(load_file);
    RUN(listen_and_side);
    RUN(validate_after_flags);
    RUN(url_shown_hides_user_info);
    RUN(decisions_store);
    RUN(trusted_proxies);
    RUN(admin_tokens);
    RUN(reloadable);
    RUN(changed_keys);
    RUN(recv_buffer_is_auto_or_at_least_1kib);
    RUN(docs_reference_table);
    RUN(docs_example);
    UNIT_DONE();
}
