/* Unit tests for rules: secrets from the environment and files, every
 * validation error with its line:column, several errors at once, and
 * hostile files (truncated, mistyped, huge, deeply nested). Run from the
 * repository root (`make unit`): one test reads rules/examples/. JSON in
 * tests is written with single quotes; unit_q() turns them into double quotes. */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/rules.h"
#include "unit.h"
#include "unit_rules.h"

/* Loads `json` (single quotes) expecting exactly one error, returned as
 * unit_err() formats it. */
static const char *one(const char *json)
{
    static char buf[800];
    config_errors e = {0};
    rules *r = load(unit_q(json), &e);
    CHECK(r == NULL);
    rules_unref(r);
    if (e.n != 1) {
        fprintf(stderr, "  %zu errors for %s\n", e.n, unit_q(json));
        for (size_t i = 0; i < e.n; i++)
            fprintf(stderr, "    %s\n", unit_err(&e, i));
    }
    snprintf(buf, sizeof buf, "%s", e.n == 1 ? unit_err(&e, 0) : "(not one)");
    config_errors_free(&e);
    return buf;
}

/* --- secrets
 * ------------------------------------------------------------------------------
 */

TEST(secrets_from_env_and_file)
{
    char path[] = "/tmp/sp-rules-secret-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    CHECK(write(fd, "Bearer file-token\r\n\n", 20) == 20);
    close(fd);
    setenv("SP_TEST_NEW_AUTH", "Bearer from-env", 1);
    char json[1024];
    snprintf(json, sizeof json,
             "{'version': 1, 'defaults': {'shadow_rewrite': {'set_headers': {"
             "'Authorization': {'env': 'SP_TEST_NEW_AUTH'},"
             "'Proxy-Authorization': {'file': '%s'}}}}}",
             path);
    rules *r = ok(json);
    if (r) {
        const route *f = &r->fallback;
        CHECK(f->nset_headers == 2);
        CHECK_STR(f->set_headers[0].value, "Bearer from-env");
        CHECK_STR(f->set_headers[1].value, "Bearer file-token");
        rules_unref(r);
    }
    /* problems name the source, never the value */
    unsetenv("SP_TEST_NEW_AUTH");
    CHECK_STR(
        one("{'version': 1, 'defaults': {'shadow_rewrite': {'set_headers': {\n"
            "  'Authorization': {'env': 'SP_TEST_NEW_AUTH'}}}}}"),
        "2:28: defaults.shadow_rewrite.set_headers.Authorization.env names "
        "environment variable \"SP_TEST_NEW_AUTH\", which is not set");
    setenv("SP_TEST_NEW_AUTH", "", 1);
    CHECK(strstr(one("{'version': 1, 'defaults': {'shadow_rewrite': "
                     "{'set_headers': {"
                     "'Authorization': {'env': 'SP_TEST_NEW_AUTH'}}}}}"),
                 "which is empty") != NULL);
    setenv("SP_TEST_NEW_AUTH", "Bearer a\r\nX-Evil: 1", 1);
    const char *m =
        one("{'version': 1, 'defaults': {'shadow_rewrite': {'set_headers': {"
            "'Authorization': {'env': 'SP_TEST_NEW_AUTH'}}}}}");
    CHECK(strstr(m, "line break") != NULL && strstr(m, "Evil") == NULL);
    unsetenv("SP_TEST_NEW_AUTH");
    CHECK(strstr(one("{'version': 1, 'defaults': {'shadow_rewrite': "
                     "{'set_headers': {"
                     "'Authorization': {'env': 'BAD NAME'}}}}}"),
                 "must be an environment variable name") != NULL);
    CHECK(unlink(path) == 0);
    snprintf(json, sizeof json,
             "{'version': 1, 'defaults': {'shadow_rewrite': {'set_headers': {\n"
             "'Authorization': {'file': '%s'}}}}}",
             path);
    char want[512];
    snprintf(want, sizeof want,
             "2:27: defaults.shadow_rewrite.set_headers.Authorization.file "
             "names file "
             "\"%s\", which cannot be used: No such file or directory",
             path);
    CHECK_STR(one(json), want);
    /* empty file */
    strcpy(path, "/tmp/sp-rules-secret-XXXXXX");
    fd = mkstemp(path);
    CHECK(fd >= 0 && write(fd, "\n", 1) == 1);
    close(fd);
    snprintf(json, sizeof json,
             "{'version': 1, 'defaults': {'shadow_rewrite': {'set_headers': {"
             "'X-Api-Key': {'file': '%s'}}}}}",
             path);
    CHECK(strstr(one(json), "which cannot be used: it is empty") != NULL);
    unlink(path);
}

TEST(literal_secrets_refused)
{
    CHECK_STR(one("{'version': 1, 'routes': [{'name': 'r', 'match': {},\n"
                  " 'shadow_rewrite': {'set_headers': {\n"
                  "  'authorization': {'value': 'Bearer abc'}}}}]}"),
              "3:21: routes[0].shadow_rewrite.set_headers.authorization is a "
              "credential and must not be written in the rules file: use "
              "{\"env\": NAME} or {\"file\": PATH}");
    CHECK(strstr(one(with_route("'shadow_rewrite': {'set_headers': {'Cookie': "
                                "{'value': 'a=b'}}}")),
                 "is a credential") != NULL);
    CHECK(strstr(one(with_route("'shadow_rewrite': {'set_headers': "
                                "{'Proxy-Authorization': {'value': 'x'}}}")),
                 "is a credential") != NULL);
    CHECK(strstr(one(with_route("'shadow_rewrite': {'set_headers': "
                                "{'X-Auth-Token': {'value': 'x'}}}")),
                 "is a credential") != NULL);
    /* and no message shows it */
    CHECK(strstr(one(with_route("'shadow_rewrite': {'set_headers': {'Cookie': "
                                "{'value': 'sekrit'}}}")),
                 "sekrit") == NULL);
    rules *r = ok(with_route("'shadow_rewrite': {'set_headers': {'X-Source': "
                             "{'value': 'shadow'}}}"));
    rules_unref(r);
}

/* --- errors with positions
 * ---------------------------------------------------------------- */

TEST(errors_top_level)
{
    config_errors e = {0};
    CHECK(rules_load_buffer("", 0, &e) == NULL);
    CHECK_STR(unit_err(&e, 0), "0:0: file is empty");
    config_errors_free(&e);
    CHECK(load("  \n ", &e) == NULL);
    CHECK_STR(unit_err(&e, 0), "0:0: file is empty");
    config_errors_free(&e);
    CHECK(rules_load_buffer(NULL, 10, &e) == NULL && e.n == 1);
    config_errors_free(&e);
    CHECK_STR(one("[1, 2]"), "1:1: the top level must be an object, got array");
    CHECK_STR(one("{}"), "1:1: version is required: add \"version\": 1 (the "
                         "format of this file)");
    CHECK_STR(one("{'version': 2}"), "1:13: version must be 1, got 2");
    CHECK_STR(one("{'version': '1'}"), "1:13: version must be 1, got \"1\"");
    CHECK_STR(one("{'version': 1.0}"), "1:13: version must be 1, got 1");
    CHECK_STR(one("{'version': 1,\n 'routes': {}}"),
              "2:12: routes must be an array of objects, got object");
    CHECK_STR(one("{'version': 1, 'routes': [7]}"),
              "1:27: routes[0] must be an object, got integer");
    CHECK_STR(one("{'version': 1, 'defaults': []}"),
              "1:28: defaults must be an object, got array");
    CHECK_STR(one("{'version': 1, 'description': 5}"),
              "1:31: description must be a string, got integer");
    CHECK_STR(one("{'version': 1, '$schema': ''}"),
              "1:27: $schema must not be empty");
    CHECK_STR(one("{'version': 1,\n  'rotues': []}"),
              "2:3: unknown key \"rotues\" (did you mean \"routes\"?)");
    CHECK_STR(one("{'version': 1, 'zzz': 1}"), "1:16: unknown key \"zzz\"");
    /* JSON syntax: the first error, at the offending token */
    CHECK_STR(one("{'version': 1,\n 'routes': [}"),
              "2:13: invalid JSON: unexpected token near '}'");
    CHECK_STR(one("{'version': 1, 'version': 1}"),
              "1:16: duplicate key \"version\"");
    CHECK(strncmp(one("{'version': 1, 'routes': [{'name': 'a'"), "1:", 2) == 0);
}

TEST(errors_routes_and_match)
{
    CHECK_STR(one("{'version': 1, 'routes': [{'match': {}}]}"),
              "1:27: routes[0].name is required");
    CHECK_STR(
        one("{'version': 1, 'routes': [\n {'name': 'x'}]}"),
        "2:2: routes[0].match is required (\"default\" catches the rest)");
    CHECK_STR(
        one("{'version': 1, 'routes': [{'name': 'a b', 'match': {}}]}"),
        "1:36: routes[0].name must use only letters, digits, '.', '-' and '_' "
        "(it names the route in records and metrics), got \"a b\"");
    CHECK_STR(
        one("{'version': 1, 'routes': [{'name': 'default', 'match': {}}]}"),
        "1:36: routes[0].name \"default\" is reserved for the top-level "
        "\"default\" route");
    CHECK_STR(one("{'version': 1, 'routes': [\n"
                  "  {'name': 'orders', 'match': {'path': '/a'}},\n"
                  "  {'name': 'orders', 'match': {'path': '/b'}}]}"),
              "3:12: routes[1].name \"orders\" is already used by routes[0]");
    CHECK_STR(
        one("{'version': 1, 'default': {'match': {}}}"),
        "1:28: default takes no \"match\": it catches what no route matches");
    CHECK_STR(one("{'version': 1, 'defaults': {'name': 'x'}}"),
              "1:29: defaults takes no \"name\": its options apply under every "
              "route");
    CHECK_STR(one(with_route("'match': {}")), "1:54: duplicate key \"match\"");
    CHECK_STR(
        one("{'version': 1, 'routes': [{'name': 'r', 'match': {\n"
            "  'path': '/a', 'path_prefix': '/b'}}]}"),
        "2:17: routes[0].match has both \"path\" and \"path_prefix\"; use one");
    CHECK_STR(one("{'version': 1, 'routes': [{'name': 'r', 'match': "
                  "{'path_glob': '/a', 'path_prefix': '/b'}}]}"),
              "1:70: routes[0].match has both \"path_glob\" and "
              "\"path_prefix\"; use one");
    CHECK_STR(one("{'version': 1, 'routes': [{'name': 'r', 'match': {'path': "
                  "'api/x'}}]}"),
              "1:59: routes[0].match.path must start with '/', got \"api/x\"");
    CHECK_STR(
        one("{'version': 1, 'routes': [{'name': 'r', 'match': {'path': "
            "'/a?b=1'}}]}"),
        "1:59: routes[0].match.path must be a path without '?', got \"/a?b=1\" "
        "(match a query with match.query)");
    CHECK_STR(
        one("{'version': 1, 'routes': [{'name': 'r', 'match': {'path_prefix': "
            "'/a b'}}]}"),
        "1:66: routes[0].match.path_prefix must not contain spaces or control "
        "characters (write them percent-encoded), got \"/a b\"");
    CHECK_STR(one("{'version': 1, 'routes': [{'name': 'r', 'match': "
                  "{'path_glob': '/api/ord*'}}]}"),
              "1:64: routes[0].match.path_glob must use \"*\" and \"**\" only "
              "as whole "
              "segments (\"/api/orders/*\", \"/api/**\"), got \"/api/ord*\"");
    CHECK(strstr(one("{'version': 1, 'routes': [{'name': 'r', 'match': "
                     "{'path_glob': '/a/***'}}]}"),
                 "only as whole segments") != NULL);
    CHECK_STR(one("{'version': 1, 'routes': [{'name': 'r', 'match': "
                  "{'methods': ['GET', 'G ET']}}]}"),
              "1:70: routes[0].match.methods[1] must be an HTTP method such as "
              "\"GET\", got \"G ET\"");
    CHECK_STR(one("{'version': 1, 'routes': [{'name': 'r', 'match': "
                  "{'methods': []}}]}"),
              "1:62: routes[0].match.methods must list at least one method");
    CHECK_STR(one("{'version': 1, 'routes': [{'name': 'r', 'match': "
                  "{'methods': 'GET'}}]}"),
              "1:62: routes[0].match.methods must be an array of HTTP methods, "
              "got string");
    CHECK_STR(one("{'version': 1, 'routes': [{'name': 'r', 'match': {'query': "
                  "{'a': '1', 'b': '2'}}}]}"),
              "1:60: routes[0].match.query must be an object with exactly one "
              "parameter, "
              "like {\"status\": \"pending\"}, got 2 members");
    CHECK_STR(one("{'version': 1, 'routes': [{'name': 'r', 'match': {'query': "
                  "{'a': false}}}]}"),
              "1:66: routes[0].match.query.a must be a string or true (present "
              "with any value), got boolean");
    CHECK_STR(one("{'version': 1, 'routes': [{'name': 'r', 'match': {'header': "
                  "{'X Y': true}}}]}"),
              "1:62: routes[0].match.header must name a header, got \"X Y\"");
    CHECK_STR(one("{'version': 1, 'routes': [{'name': 'r', 'match': {'paht': "
                  "'/x'}}]}"),
              "1:51: unknown key \"routes[0].match.paht\" (did you mean "
              "\"routes[0].match.path\"?)");
}

TEST(errors_options)
{
    /* with_route(): the route's options start at column 50 */
    CHECK_STR(one(with_route("'redact': {'exempt': ['token:token_type', 'tokens:x']}")),
              "1:96: routes[0].redact.exempt[1] names no family (password, "
              "secret, token, api_key, auth, cvv, card_number, personal, luhn), got \"tokens:x\"");
    CHECK_STR(one(with_route("'authority': 'both'")),
              "1:67: routes[0].authority must be \"legacy\" or \"new\", got "
              "\"both\"");
    CHECK_STR(one(with_route("'mirror': {'sample_percent': 150}")),
              "1:83: routes[0].mirror.sample_percent must be between 0 and "
              "100, got 150");
    CHECK_STR(one(with_route("'mirror': {'sample_percent': -0.5}")),
              "1:83: routes[0].mirror.sample_percent must be between 0 and "
              "100, got -0.5");
    CHECK_STR(
        one(with_route("'mirror': {'enabled': 'yes'}")),
        "1:76: routes[0].mirror.enabled must be true or false, got string");
    CHECK_STR(one(with_route("'mirror': {'timeout_ms': 0}")),
              "1:79: routes[0].mirror.timeout_ms must be between 1 and "
              "3600000, got 0");
    CHECK_STR(one(with_route("'mirror': {'timeout_ms': 1.5}")),
              "1:79: routes[0].mirror.timeout_ms must be an integer, got real");
    CHECK_STR(one(with_route("'mirror': true")),
              "1:64: routes[0].mirror must be an object, got boolean");
    /* a key in the wrong section */
    CHECK_STR(one(with_route("'sample_percent': 5")),
              "1:54: unknown key \"routes[0].sample_percent\" (did you mean "
              "\"routes[0].mirror.sample_percent\"?)");
    CHECK_STR(one(with_route("'compare': {'fields': ['x']}")),
              "1:66: unknown key \"routes[0].compare.fields\" (did you mean "
              "\"routes[0].redact.fields\"?)");
    CHECK_STR(one(with_route("'compare': {'ignroe': ['/x']}")),
              "1:66: unknown key \"routes[0].compare.ignroe\" (did you mean "
              "\"routes[0].compare.ignore\"?)");
    CHECK_STR(
        one(with_route(
            "'shadow_rewrite': {'path_prefix': {'from': '/a', 'to': '/b'},\n"
            " 'path_template': {'from': '/a', 'to': '/b'}}")),
        "2:2: routes[0].shadow_rewrite has both \"path_prefix\" and "
        "\"path_template\"; use one");
    CHECK_STR(
        one(with_route("'shadow_rewrite': {'path_prefix': {'from': '/a'}}")),
        "1:88: routes[0].shadow_rewrite.path_prefix.to is required");
    CHECK_STR(
        one(with_route(
            "'shadow_rewrite': {'path_prefix': {'from': 'a', 'to': ''}}")),
        "1:97: routes[0].shadow_rewrite.path_prefix.from must be a path "
        "starting "
        "with '/', without '?', '#', spaces or control characters, got \"a\"");
    CHECK_STR(
        one(with_route("'shadow_rewrite': {'path_template': {'from': "
                       "'/a/{id}', 'to': '/b/{sku}'}}")),
        "1:116: routes[0].shadow_rewrite.path_template.to uses {sku}, which "
        "routes[0].shadow_rewrite.path_template.from does not have");
    CHECK_STR(one(with_route("'shadow_rewrite': {'path_template': {'from': "
                             "'/a/x{id}', 'to': '/b'}}")),
              "1:99: routes[0].shadow_rewrite.path_template.from: a "
              "placeholder must be "
              "a whole segment like \"{id}\" (letters, digits, '_'), got "
              "\"/a/x{id}\"");
    CHECK_STR(
        one(with_route("'shadow_rewrite': {'path_template': {'from': "
                       "'/{id}/{id}', 'to': '/b'}}")),
        "1:99: routes[0].shadow_rewrite.path_template.from uses {id} twice");
    CHECK_STR(
        one(with_route(
            "'shadow_rewrite': {'path_template': {'from': '/a', 'to': ''}}")),
        "1:111: routes[0].shadow_rewrite.path_template.to must not be empty");
    CHECK_STR(one(with_route("'shadow_rewrite': {'host': 'erp next'}")),
              "1:81: routes[0].shadow_rewrite.host must be a host name with an "
              "optional "
              "port, like \"erp-next.internal:8443\", got \"erp next\"");
    CHECK_STR(
        one(with_route(
            "'shadow_rewrite': {'set_headers': {'Host': {'value': 'x'}}}")),
        "1:89: routes[0].shadow_rewrite.set_headers cannot set \"Host\": use "
        "shadow_rewrite.host");
    CHECK_STR(one(with_route("'shadow_rewrite': {'set_headers': "
                             "{'Content-Length': {'value': '1'}}}")),
              "1:89: routes[0].shadow_rewrite.set_headers cannot set "
              "\"Content-Length\": the proxy manages it");
    CHECK_STR(one(with_route(
                  "'shadow_rewrite': {'set_headers': {'X-A': 'literal'}}")),
              "1:96: routes[0].shadow_rewrite.set_headers.X-A must be an "
              "object: {\"env\": NAME}, "
              "{\"file\": PATH} or {\"value\": TEXT}, got string");
    CHECK_STR(one(with_route("'shadow_rewrite': {'set_headers': {'X-A': {}}}")),
              "1:96: routes[0].shadow_rewrite.set_headers.X-A needs one of "
              "\"env\", \"file\" or \"value\"");
    CHECK_STR(one(with_route("'shadow_rewrite': {'set_headers': {'X-A': "
                             "{'value': 'a', 'env': 'B'}}}")),
              "1:111: routes[0].shadow_rewrite.set_headers.X-A has both "
              "\"value\" and \"env\"; use one");
    CHECK_STR(one(with_route(
                  "'shadow_rewrite': {'remove_headers': ['ok', 'not ok']}")),
              "1:98: routes[0].shadow_rewrite.remove_headers[1] must be a "
              "header name, got \"not ok\"");
    CHECK_STR(one(with_route("'redact': {'paths': ['x']}")),
              "1:75: routes[0].redact.paths[0] must be a JSON Pointer pattern "
              "such as "
              "\"/items/*/price\", got \"x\" (a path must be \"\" or start "
              "with '/')");
    CHECK_STR(one(with_route("'redact': {'fields': [1]}")),
              "1:76: routes[0].redact.fields[0] must be a string, got integer");
}

TEST(errors_compare)
{
    CHECK_STR(one(with_route("'compare': {'ignore': ['/a', '/b~2']}")),
              "1:83: routes[0].compare.ignore[1] must be a JSON Pointer "
              "pattern such as "
              "\"/items/*/price\", got \"/b~2\" ('~' must be followed by 0 or "
              "1 (RFC 6901))");
    CHECK_STR(one(with_route("'compare': {'status_only': 1}")),
              "1:81: routes[0].compare.status_only must be true or false, got "
              "integer");
    CHECK_STR(
        one(with_route("'compare': {'status_equivalent': [[201, 700]]}")),
        "1:94: routes[0].compare.status_equivalent[0][1] must be a status code "
        "between 100 and 599, got 700");
    CHECK_STR(
        one(with_route("'compare': {'status_equivalent': [[99, 200]]}")),
        "1:89: routes[0].compare.status_equivalent[0][0] must be a status code "
        "between 100 and 599, got 99");
    CHECK_STR(
        one(with_route("'compare': {'status_equivalent': [[201, 200], 5]}")),
        "1:100: routes[0].compare.status_equivalent[1] must be a pair of "
        "status "
        "codes like [201, 200], got integer");
    CHECK_STR(
        one(with_route("'compare': {'status_equivalent': [[201, 200, 202]]}")),
        "1:88: routes[0].compare.status_equivalent[0] must be a pair of status "
        "codes like [201, 200], got another number of entries");
    CHECK_STR(one(with_route("'compare': {'headers': ['Content Type']}")),
              "1:78: routes[0].compare.headers[0] must be a header name, got "
              "\"Content Type\"");
    CHECK_STR(one(with_route("'compare': {'tolerance': [{'path': '/a', "
                             "'absolute': 1, 'relative': 0.1}]}")),
              "1:110: routes[0].compare.tolerance[0] has both \"absolute\" and "
              "\"relative\"; use one");
    CHECK_STR(one(with_route("'compare': {'tolerance': [{'path': '/a'}]}")),
              "1:80: routes[0].compare.tolerance[0] needs \"absolute\" (|a-b| "
              "<= n) or "
              "\"relative\" (|a-b| <= n * max(|a|,|b|))");
    CHECK_STR(one(with_route("'compare': {'tolerance': [{'absolute': 1}]}")),
              "1:80: routes[0].compare.tolerance[0].path is required");
    CHECK_STR(
        one(with_route(
            "'compare': {'tolerance': [{'path': '/a', 'absolute': -1}]}")),
        "1:107: routes[0].compare.tolerance[0].absolute must be between 0 and "
        "1e+15, got -1");
    CHECK_STR(
        one(with_route(
            "'compare': {'tolerance': [{'path': '/a', 'relative': 0}]}")),
        "1:107: routes[0].compare.tolerance[0].relative must be greater than 0 "
        "(use \"absolute\": 0 for exact)");
    CHECK_STR(one(with_route("'compare': {'arrays': [{'path': '/i', 'key': "
                             "'sku', 'unordered': true}]}")),
              "1:106: routes[0].compare.arrays[0] has both \"key\" and "
              "\"unordered\"; use one");
    CHECK_STR(
        one(with_route(
            "'compare': {'arrays': [{'path': '/i', 'unordered': false}]}")),
        "1:77: routes[0].compare.arrays[0] needs \"key\" (match elements by "
        "that "
        "member, like \"sku\") or \"unordered\": true");
    CHECK_STR(one(with_route("'compare': {'map': [{'side': 'both', 'from': "
                             "'/a', 'to': '/b'}]}")),
              "1:83: routes[0].compare.map[0].side must be \"legacy\" or "
              "\"new\" (the side "
              "whose body is rewritten), got \"both\"");
    CHECK_STR(one(with_route("'compare': {'map': [{'side': 'new', 'from': "
                             "'/a/*', 'to': '/b'}]}")),
              "1:112: routes[0].compare.map[0].from and "
              "routes[0].compare.map[0].to: with \"*\", \"from\" and \"to\" "
              "must be the same up to their last \"*\"");
    CHECK_STR(one(with_route("'compare': {'map': [{'side': 'new', 'from': "
                             "'/**/a', 'to': '/b'}]}")),
              "1:113: routes[0].compare.map[0].from and "
              "routes[0].compare.map[0].to: \"**\" is not allowed in a map");
    CHECK_STR(
        one(with_route(
            "'compare': {'map': [{'side': 'new', 'from': '/a', 'to': '/a'}]}")),
        "1:110: routes[0].compare.map[0].to must differ from "
        "routes[0].compare.map[0].from");
    CHECK_STR(
        one(with_route(
            "'compare': {'normalize': [{'path': '/a', 'trim': false}]}")),
        "1:80: routes[0].compare.normalize[0] turns nothing on: set one of "
        "\"number_strings\", \"case_insensitive\", \"trim\" or \"datetime\" to "
        "true");
    CHECK_STR(one(with_route(
                  "'compare': {'known': [{'where': 'body', 'path': '/a'}]}")),
              "1:76: routes[0].compare.known[0].name is required (records show "
              "it for "
              "the accepted difference)");
    CHECK_STR(
        one(with_route(
            "'compare': {'known': [{'name': 'k', 'where': 'headers'}]}")),
        "1:99: routes[0].compare.known[0].where must be \"any\", \"status\", "
        "\"header\" or \"body\", got \"headers\"");
    CHECK_STR(
        one(with_route(
            "'compare': {'known': [{'name': 'k', 'kind': 'moved'}]}")),
        "1:98: routes[0].compare.known[0].kind must be \"changed\", \"added\", "
        "\"removed\" or \"type\", got \"moved\"");
    CHECK_STR(one(with_route("'compare': {'known': [{'name': 'k', 'where': "
                             "'status', 'path': '/a'}]}")),
              "1:109: routes[0].compare.known[0]: a \"path\" needs \"where\": "
              "\"body\" or \"header\"");
    CHECK_STR(one(with_route("'compare': {'known': [{'name': 'k', 'where': "
                             "'header', 'path': '/a'}]}")),
              "1:117: routes[0].compare.known[0].path must be a header name "
              "(where is "
              "\"header\"), got \"/a\"");
    CHECK_STR(
        one(with_route("'compare': {'tolerance': [5]}")),
        "1:80: routes[0].compare.tolerance[0] must be an object, got integer");
    CHECK_STR(
        one(with_route(
            "'compare': {'arrays': [{'path': '/a', 'key': 'k', 'kye': 1}]}")),
        "1:104: unknown key \"routes[0].compare.arrays[0].kye\" (did you mean "
        "\"routes[0].compare.arrays[0].key\"?)");
    /* known: where defaults to body with a path, any without */
    rules *r = ok(with_route(
        "'compare': {'known': [{'name': 'a', 'path': '/x'}, {'name': 'b'}]}"));
    if (r) {
        CHECK(r->routes[0].cmp.known[0].where == WHERE_BODY);
        CHECK(r->routes[0].cmp.known[1].where == WHERE_ANY);
        rules_unref(r);
    }
}

TEST(several_errors_at_once)
{
    config_errors e = {0};
    const char *text = unit_q(
        "{\n"
        "  'version': 1,\n"
        "  'defaults': {'mirror': {'sample_percent': 101}},\n"
        "  'routes': [\n"
        "    {'name': 'a', 'match': {'path': 'x', 'methods': ['GET']},\n"
        "     'compare': {'tolerance': [{'path': '/t'}], 'ignore': "
        "['nope']}},\n"
        "    {'name': 'a', 'match': {'path_glob': '/a*'}, 'authrity': 'new'}\n"
        "  ],\n"
        "  'default': {'redact': {'fields': 'password'}}\n"
        "}\n");
    CHECK(load(text, &e) == NULL);
    CHECK(e.n == 8);
    /* in file order */
    CHECK_STR(unit_err(&e, 0), "3:45: defaults.mirror.sample_percent must be "
                          "between 0 and 100, got 101");
    CHECK_STR(unit_err(&e, 1),
              "5:37: routes[0].match.path must start with '/', got \"x\"");
    CHECK_STR(
        unit_err(&e, 2),
        "6:32: routes[0].compare.tolerance[0] needs \"absolute\" (|a-b| <= n) "
        "or \"relative\" (|a-b| <= n * max(|a|,|b|))");
    CHECK_STR(
        unit_err(&e, 3),
        "6:60: routes[0].compare.ignore[0] must be a JSON Pointer pattern such "
        "as \"/items/*/price\", got \"nope\" (a path must be \"\" or start "
        "with '/')");
    CHECK_STR(unit_err(&e, 4),
              "7:14: routes[1].name \"a\" is already used by routes[0]");
    CHECK_STR(unit_err(&e, 5),
              "7:42: routes[1].match.path_glob must use \"*\" and \"**\" only "
              "as whole "
              "segments (\"/api/orders/*\", \"/api/**\"), got \"/a*\"");
    CHECK_STR(unit_err(&e, 6), "7:50: unknown key \"routes[1].authrity\" (did you "
                          "mean \"routes[1].authority\"?)");
    CHECK_STR(
        unit_err(&e, 7),
        "9:36: default.redact.fields must be an array of strings, got string");
    FILE *out = tmpfile();
    if (out) {
        char line[512];
        config_errors_print(out, "rules.json", &e);
        rewind(out);
        CHECK(fgets(line, sizeof line, out) != NULL);
        CHECK_STR(
            line,
            "rules.json:3:45: defaults.mirror.sample_percent must be between 0 "
            "and 100, got 101\n");
        fclose(out);
    }
    config_errors_free(&e);
}

/* --- hostile files
 * ---------------------------------------------------------------------- */

TEST(file_limits_and_reading)
{
    config_errors e = {0};
    size_t big = RULES_MAX_FILE_BYTES + 1;
    char *text = malloc(big);
    CHECK(text != NULL);
    if (!text)
        return;
    memset(text, ' ', big);
    text[0] = '{';
    text[big - 1] = '}';
    CHECK(rules_load_buffer(text, big, &e) == NULL);
    CHECK_STR(unit_err(&e, 0), "0:0: file is larger than 4 MiB");
    config_errors_free(&e);
    free(text);
    CHECK(rules_load_file("/nonexistent/rules.json", &e) == NULL);
    CHECK_STR(unit_err(&e, 0), "0:0: cannot read: No such file or directory");
    config_errors_free(&e);
    CHECK(rules_load_file(NULL, &e) == NULL && e.n == 1);
    config_errors_free(&e);
    CHECK(rules_load_file("rules", &e) == NULL && e.n == 1); /* a directory */
    config_errors_free(&e);
    /* a NUL inside the text */
    CHECK(rules_load_buffer("{\"version\": 1}\0junk", 19, &e) == NULL);
    CHECK(e.n == 1 && e.v[0].line == 1);
    config_errors_free(&e);
    CHECK(rules_load_buffer("{\"version\": 1, \"description\": \"a\\u0000b\"}",
                            41, &e) == NULL);
    CHECK(e.n == 1);
    config_errors_free(&e);
}

TEST(huge_arrays_and_deep_nesting)
{
    config_errors e = {0};
    /* 100000 ignore patterns: refused by count, quickly */
    size_t n = 100000, cap = n * 6 + 256, o = 0;
    char *text = malloc(cap);
    if (!text)
        return;
    o += (size_t)snprintf(
        text, cap,
        "{\"version\": 1, \"defaults\": {\"compare\": {\"ignore\": [");
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(text + o, cap - o, "%s\"/a\"", i ? "," : "");
    o += (size_t)snprintf(text + o, cap - o, "]}}}");
    CHECK(rules_load_buffer(text, o, &e) == NULL);
    CHECK_STR(unit_err(&e, 0), "1:51: defaults.compare.ignore must have at most 256 "
                          "entries, got 100000");
    config_errors_free(&e);
    /* 2000 routes */
    o = (size_t)snprintf(text, cap, "{\"version\": 1, \"routes\": [");
    for (size_t i = 0; i < 2000; i++)
        o += (size_t)snprintf(text + o, cap - o, "%s{}", i ? "," : "");
    o += (size_t)snprintf(text + o, cap - o, "]}");
    CHECK(rules_load_buffer(text, o, &e) == NULL);
    CHECK_STR(unit_err(&e, 0),
              "1:26: routes must have at most 1000 entries, got 2000");
    config_errors_free(&e);
    /* 1000 routes that are all wrong: errors stop at 100 */
    o = (size_t)snprintf(text, cap, "{\"version\": 1, \"routes\": [");
    for (size_t i = 0; i < 1000; i++)
        o += (size_t)snprintf(text + o, cap - o, "%s{\"x\": 1}", i ? "," : "");
    o += (size_t)snprintf(text + o, cap - o, "]}");
    CHECK(rules_load_buffer(text, o, &e) == NULL);
    CHECK(e.n == 101);
    CHECK_STR(unit_err(&e, 100), "0:0: too many errors, stopped after 100");
    config_errors_free(&e);
    /* 1000 valid routes, each with lists, over defaults with lists */
    o = (size_t)snprintf(text, cap,
                         "{\"version\": 1, \"defaults\": {\"compare\": "
                         "{\"ignore\": [\"/a\", \"/b\"]}}, \"routes\": [");
    for (size_t i = 0; i < 1000; i++)
        o += (size_t)snprintf(
            text + o, cap - o,
            "%s{\"name\": \"r%zu\", \"match\": {\"path\": \"/r/%zu\"}, "
            "\"compare\": {\"ignore\": [\"/c\"]}}",
            i ? "," : "", i, i);
    o += (size_t)snprintf(text + o, cap - o, "]}");
    rules *r = rules_load_buffer(text, o, &e);
    CHECK(r != NULL && e.n == 0);
    if (r) {
        CHECK(r->nroutes == 1000 && r->routes[999].cmp.nignore == 3);
        CHECK_STR(name_of(r, "GET", "/r/999"), "r999");
        rules_unref(r);
    }
    config_errors_free(&e);
    /* nesting deeper than any key: jansson refuses past 2048 levels */
    o = (size_t)snprintf(text, cap, "{\"version\": 1, \"description\": ");
    for (size_t i = 0; i < 100000; i++)
        text[o++] = '[';
    for (size_t i = 0; i < 100000; i++)
        text[o++] = ']';
    text[o++] = '}';
    CHECK(rules_load_buffer(text, o, &e) == NULL);
    CHECK(e.n == 1 && strstr(e.v[0].message, "maximum parsing depth") != NULL);
    config_errors_free(&e);
    /* deep but within jansson's limit, in a place that is read */
    o = (size_t)snprintf(text, cap,
                         "{\"version\": 1, \"routes\": [{\"name\": \"a\", "
                         "\"match\": {\"path\": ");
    for (size_t i = 0; i < 1500; i++)
        text[o++] = '[';
    for (size_t i = 0; i < 1500; i++)
        text[o++] = ']';
    o += (size_t)snprintf(text + o, cap - o, "}}]}");
    CHECK(rules_load_buffer(text, o, &e) == NULL);
    CHECK_STR(unit_err(&e, 0),
              "1:59: routes[0].match.path must be a string, got array");
    config_errors_free(&e);
    free(text);
}

/* Every truncation of the example, and every value swapped for another type:
 * never a crash or a leak, always either a rule set or errors. */
TEST(truncated_and_mistyped)
{
    size_t len;
    setenv("NEW_ERP_AUTH", "Bearer test", 1);
    char *text = unit_read_file("rules/examples/magento-erp.json", &len);
    CHECK(text != NULL);
    if (!text)
        return;
    for (size_t cut = 0; cut < len; cut += cut < 200 ? 1 : 7) {
        config_errors e = {0};
        rules *r = rules_load_buffer(text, cut, &e);
        CHECK(r == NULL && e.n >= 1);
        rules_unref(r);
        config_errors_free(&e);
    }
    static const char *const swaps[] = {"null", "[]",    "{}",  "\"s\"",
                                        "-1",   "1e300", "true"};
    /* replace each scalar value (after ':' or in an array) with each swap */
    size_t tried = 0, refused = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] != ':' && text[i] != '[' && text[i] != ',')
            continue;
        size_t s = i + 1;
        while (s < len && (text[s] == ' ' || text[s] == '\n'))
            s++;
        size_t e = s;
        if (s < len && text[s] == '"') {
            for (e = s + 1; e < len && text[e] != '"'; e++)
                e += text[e] == '\\';
            e++;
        } else
            while (e < len && strchr("-0123456789.truefalsn", text[e]) &&
                   text[e])
                e++;
        if (e == s || e > len)
            continue;
        for (size_t k = 0; k < sizeof swaps / sizeof *swaps; k++) {
            char *m = malloc(len + 16);
            size_t sl = strlen(swaps[k]);
            memcpy(m, text, s);
            memcpy(m + s, swaps[k], sl);
            memcpy(m + s + sl, text + e, len - e);
            config_errors errs = {0};
            rules *r = rules_load_buffer(m, s + sl + len - e, &errs);
            tried++;
            refused += r == NULL;
            CHECK(r != NULL || errs.n >= 1);
            rules_unref(r);
            config_errors_free(&errs);
            free(m);
        }
    }
    CHECK(tried > 1000 && refused > tried / 2);
    free(text);
    unsetenv("NEW_ERP_AUTH");
}

/* --- faults (staging) ------------------------------------------------------ */

TEST(faults_load_merge_and_refusal)
{
    rules *r = ok("{'version': 1,\n"
                  " 'defaults': {'faults': [{'side': 'shadow', 'delay': {'ms': 5}}]},\n"
                  " 'routes': [{'name': 'a', 'match': {'path': '/a'},\n"
                  "  'faults': [{'side': 'new', 'abort': {'status': 503}, 'percent': 5}]},\n"
                  "  {'name': 'b', 'match': {'path': '/b'}}]}");
    if (r) {
        const route *a = &r->routes[0], *b = &r->routes[1];
        CHECK(a->nfaults == 2 && b->nfaults == 1 && r->fallback.nfaults == 1);
        CHECK(a->faults[0].kind == FAULT_DELAY && a->faults[0].delay_ms == 5);
        CHECK(a->faults[1].kind == FAULT_ABORT && a->faults[1].status == 503);
        CHECK(a->faults[1].percent == 5 && a->faults[1].side == FAULT_NEW);
        CHECK(rules_faults_refused(r, true, NULL) == 0);
        config_errors e = {0};
        /* a's own faults, and defaults' once (not once per route) */
        CHECK(rules_faults_refused(r, false, &e) == 2);
        CHECK_STR(unit_err(&e, 0), "4:3: faults (route \"a\") refused: faults.enabled is false "
                                   "in the config. Fault injection is for staging; set "
                                   "\"faults\": {\"enabled\": true} in a staging config to "
                                   "allow it");
        CHECK(strncmp(unit_err(&e, 1), "2:15: faults (route \"b\")", 24) == 0);
        config_errors_free(&e);
    }
    rules_unref(r);
    CHECK_STR(one(with_route("'faults': [{'side': 'new', 'delay': {'ms': -1}}]")),
              "1:97: routes[0].faults[0]: delay.ms is required: a whole number of "
              "milliseconds from 0 to 600000");
    CHECK(strstr(one(with_route("'faults': [{'side': 'new', 'reset': true, 'abort': "
                                "{'status': 500}}]")), "exactly one of") != NULL);
    CHECK(strstr(one(with_route("'faults': [{'side': 'both', 'reset': true}]")),
                 "side is required") != NULL);
    CHECK(strstr(one(with_route("'faults': [{'side': 'new', 'reset': true, 'percent': 101}]")),
                 "percent must be") != NULL);
    CHECK(strstr(one(with_route("'faults': {'side': 'new'}")), "must be an array") != NULL);
}

int main(void)
{
    RUN(secrets_from_env_and_file);
    RUN(literal_secrets_refused);
    RUN(errors_top_level);
    RUN(errors_routes_and_match);
    RUN(errors_options);
    RUN(errors_compare);
    RUN(several_errors_at_once);
    RUN(file_limits_and_reading);
    RUN(huge_arrays_and_deep_nesting);
    RUN(truncated_and_mistyped);
    RUN(faults_load_merge_and_refusal);
    UNIT_DONE();
}
