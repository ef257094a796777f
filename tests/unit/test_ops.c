/* Unit tests for ops: effective lookups, ops_with for every field (and
 * clearing), sorted routes, the JSON form both ways, every validation error
 * with its line:column, and the state file (missing, atomic save, replace,
 * failures leave nothing behind). JSON in tests is written with single
 * quotes; unit_q() turns them into double quotes. */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "conf/ops.h"
#include "unit.h"

/* --- helpers -------------------------------------------------------------- */

static ops_state *parse(const char *json, config_errors *e)
{
    const char *t = unit_q(json);
    return ops_from_json_text(t, strlen(t), e);
}

/* Parses `json` (single quotes) expecting exactly one error. */
static const char *one_error(const char *json)
{
    static char buf[800];
    config_errors e = {0};
    ops_state *o = parse(json, &e);
    CHECK(o == NULL);
    CHECK(e.n == 1);
    for (size_t i = 1; i < e.n; i++)
        fprintf(stderr, "  extra: %s\n", unit_err(&e, i));
    snprintf(buf, sizeof buf, "%s", unit_err(&e, 0));
    ops_unref(o);
    config_errors_free(&e);
    return buf;
}

static char *dump(const ops_state *o)
{
    json_t *j = ops_to_json(o);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return s;
}

/* ops_with that must succeed; takes the reference to `o`. */
static ops_state *with(ops_state *o, const char *route, int a, int p, double s)
{
    ops_state *n = ops_with(o, route, a, p, s);
    CHECK(n != NULL);
    ops_unref(o);
    return n;
}

static bool route_names_are(const ops_state *o, const char *const *names)
{
    size_t i = 0;
    for (; names[i]; i++)
        if (i >= o->nroutes || strcmp(o->routes[i].name, names[i]) != 0)
            return false;
    return i == o->nroutes;
}

/* Entries in `dir` (not . and ..), names joined by spaces into buf. */
static int dir_entries(const char *dir, char *buf, size_t size)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    size_t o = 0;
    buf[0] = '\0';
    if (!d)
        return -1;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        n++;
        o += (size_t)snprintf(buf + o, o < size ? size - o : 0, "%s%s",
                              o ? " " : "", e->d_name);
    }
    closedir(d);
    return n;
}

static void rm_dir(const char *dir)
{
    char names[4096], path[512];
    dir_entries(dir, names, sizeof names);
    for (char *save = NULL, *p = strtok_r(names, " ", &save); p;
         p = strtok_r(NULL, " ", &save)) {
        snprintf(path, sizeof path, "%s/%s", dir, p);
        unlink(path);
    }
    rmdir(dir);
}

/* --- lookups -------------------------------------------------------------- */

TEST(empty_set_decides_nothing)
{
    ops_state *o = ops_new();
    CHECK(o != NULL && atomic_load(&o->refs) == 1);
    CHECK(o->nroutes == 0 && o->changed_ms == 0);
    CHECK(ops_authority(o, "orders-get") == OPS_UNSET);
    CHECK(ops_authority(o, NULL) == OPS_UNSET);
    CHECK(!ops_paused(o, "orders-get") && !ops_paused(o, NULL));
    CHECK(ops_sample(o, "orders-get") < 0 && ops_sample(o, NULL) < 0);
    /* NULL is an empty set for every reader */
    CHECK(ops_authority(NULL, "x") == OPS_UNSET);
    CHECK(!ops_paused(NULL, "x") && ops_sample(NULL, "x") < 0);
    ops_decision d = ops_get(o, "x");
    CHECK(d.authority == OPS_UNSET && d.paused == OPS_UNSET &&
          d.sample_percent < 0);
    ops_unref(o);
    ops_unref(NULL);
}

TEST(route_decision_over_global)
{
    ops_state *o = with(ops_new(), NULL, SIDE_NEW, 1, 50);
    o = with(o, "orders-get", SIDE_LEGACY, OPS_UNSET, -1);
    o = with(o, "stock", OPS_UNSET, 0, 5);
    /* global only */
    CHECK(ops_authority(o, "other") == SIDE_NEW);
    CHECK(ops_authority(o, NULL) == SIDE_NEW);
    CHECK(ops_paused(o, "other") && ops_paused(o, NULL));
    CHECK(ops_sample(o, "other") == 50);
    /* orders-get: own authority, the rest inherited */
    CHECK(ops_authority(o, "orders-get") == SIDE_LEGACY);
    CHECK(ops_paused(o, "orders-get"));
    CHECK(ops_sample(o, "orders-get") == 50);
    /* stock: resumed although the global is paused; own sample */
    CHECK(ops_authority(o, "stock") == SIDE_NEW);
    CHECK(!ops_paused(o, "stock"));
    CHECK(ops_sample(o, "stock") == 5);
    /* a route's sample of 0 is a decision (mirror nothing), not "unset" */
    o = with(o, "stock", OPS_UNSET, OPS_UNSET, 0);
    CHECK(ops_sample(o, "stock") == 0);
    /* ops_get: the scope's own decisions, not the effective ones */
    ops_decision d = ops_get(o, "orders-get");
    CHECK(d.authority == SIDE_LEGACY && d.paused == OPS_UNSET &&
          d.sample_percent < 0);
    d = ops_get(o, NULL);
    CHECK(d.authority == SIDE_NEW && d.paused == 1 && d.sample_percent == 50);
    ops_unref(o);
}

TEST(route_without_global)
{
    ops_state *o = with(NULL, "orders-get", SIDE_NEW, 1, 10);
    CHECK(ops_authority(o, "orders-get") == SIDE_NEW);
    CHECK(ops_paused(o, "orders-get") && ops_sample(o, "orders-get") == 10);
    CHECK(ops_authority(o, "orders-post") == OPS_UNSET);
    CHECK(!ops_paused(o, "orders-post") && ops_sample(o, "orders-post") < 0);
    CHECK(ops_authority(o, NULL) == OPS_UNSET); /* NULL route: global only */
    CHECK(ops_authority(o, "") == OPS_UNSET);
    ops_unref(o);
}

/* --- ops_with ------------------------------------------------------------- */

TEST(with_sets_each_field_and_leaves_the_original)
{
    ops_state *a = ops_new();
    int64_t before = clock_wall_ms();
    ops_state *b = ops_with(a, NULL, SIDE_NEW, OPS_UNSET, -1);
    CHECK(b && b != a);
    CHECK(b->changed_ms >= before && b->changed_ms <= clock_wall_ms());
    CHECK(ops_authority(b, NULL) == SIDE_NEW);
    CHECK(ops_authority(a, NULL) == OPS_UNSET && a->changed_ms == 0);
    ops_state *c = ops_with(b, NULL, OPS_UNSET, 1, -1);
    CHECK(ops_authority(c, NULL) == SIDE_NEW && ops_paused(c, NULL));
    CHECK(!ops_paused(b, NULL));
    ops_state *d = ops_with(c, NULL, OPS_UNSET, OPS_UNSET, 12.5);
    CHECK(ops_sample(d, NULL) == 12.5 && ops_paused(d, NULL));
    CHECK(ops_sample(c, NULL) < 0);
    ops_state *e = ops_with(d, NULL, SIDE_LEGACY, 0, 100);
    CHECK(ops_authority(e, NULL) == SIDE_LEGACY && !ops_paused(e, NULL) &&
          ops_sample(e, NULL) == 100);
    CHECK(e->global.paused == 0); /* resumed is a decision, not unset */
    /* -0 is stored as 0 (and written as 0); 6 decimal places are kept */
    ops_state *f = ops_with(e, NULL, OPS_UNSET, OPS_UNSET, -0.0);
    CHECK(ops_sample(f, NULL) == 0 && !signbit(f->global.sample_percent));
    ops_state *g = ops_with(f, "r", OPS_UNSET, OPS_UNSET, 100.0 / 3);
    CHECK(ops_sample(g, "r") == 33.333333);
    ops_unref(g);
    g = ops_with(f, "r", OPS_UNSET, OPS_UNSET, 0.0000004);
    CHECK(ops_sample(g, "r") == 0);
    ops_unref(g);
    ops_unref(a);
    ops_unref(b);
    ops_unref(c);
    ops_unref(d);
    ops_unref(e);
    ops_unref(f);
}

TEST(with_clears_and_removes_empty_routes)
{
    ops_state *o = with(ops_new(), "orders-get", SIDE_NEW, 1, 30);
    o = with(o, NULL, SIDE_LEGACY, 0, 70);
    CHECK(o->nroutes == 1);
    o = with(o, "orders-get", OPS_CLEAR, OPS_UNSET, -1);
    CHECK(o->nroutes == 1 && o->routes[0].d.authority == OPS_UNSET);
    CHECK(ops_authority(o, "orders-get") == SIDE_LEGACY); /* inherited now */
    CHECK(ops_paused(o, "orders-get"));
    o = with(o, "orders-get", OPS_UNSET, OPS_CLEAR, -1);
    CHECK(o->nroutes == 1 && !ops_paused(o, "orders-get"));
    CHECK(ops_sample(o, "orders-get") == 30);
    o = with(o, "orders-get", OPS_UNSET, OPS_UNSET, OPS_CLEAR);
    CHECK(o->nroutes == 0 && o->routes != NULL);
    CHECK(ops_sample(o, "orders-get") == 70);
    /* clearing all three at once, and clearing what is not there */
    o = with(o, "a", SIDE_NEW, 1, 1);
    o = with(o, "a", OPS_CLEAR, OPS_CLEAR, OPS_CLEAR);
    CHECK(o->nroutes == 0);
    o = with(o, "never-set", OPS_CLEAR, OPS_CLEAR, OPS_CLEAR);
    CHECK(o->nroutes == 0);
    /* the global scope */
    o = with(o, NULL, OPS_CLEAR, OPS_CLEAR, OPS_CLEAR);
    CHECK(o->global.authority == OPS_UNSET && o->global.paused == OPS_UNSET &&
          o->global.sample_percent < 0);
    CHECK(ops_equal(o, NULL));
    /* other negative samples mean "unchanged" */
    o = with(o, NULL, OPS_UNSET, OPS_UNSET, 40);
    o = with(o, NULL, OPS_UNSET, OPS_UNSET, -1);
    o = with(o, NULL, OPS_UNSET, OPS_UNSET, -7.5);
    CHECK(ops_sample(o, NULL) == 40);
    ops_unref(o);
}

TEST(without_route_authority_keeps_the_rest)
{
    ops_state *o = with(ops_new(), NULL, SIDE_NEW, OPS_UNSET, -1);
    o = with(o, "a", SIDE_NEW, OPS_UNSET, -1);
    o = with(o, "b", SIDE_LEGACY, 1, -1);
    o = with(o, "c", OPS_UNSET, OPS_UNSET, 20);
    o->revision = 41;
    json_t *cleared = json_array();
    ops_state *n = ops_without_route_authority(o, cleared);
    CHECK(n != NULL && n->revision == 41);
    static const char *const names[] = {"b", "c", NULL};
    CHECK(n && route_names_are(n, names)); /* a had only authority: gone */
    CHECK(ops_authority(n, "a") == SIDE_NEW && ops_authority(n, "b") == SIDE_NEW);
    CHECK(ops_paused(n, "b") && ops_sample(n, "c") == 20);
    char *cl = json_dumps(cleared, JSON_COMPACT);
    CHECK_STR(cl, "[\"a\",\"b\"]");
    free(cl);
    ops_state *none = ops_without_route_authority(NULL, NULL);
    CHECK(none && none->nroutes == 0 && ops_equal(none, NULL));
    /* the revision goes through JSON */
    json_t *j = ops_to_json(n);
    CHECK(json_integer_value(json_object_get(j, "revision")) == 41);
    char *text = json_dumps(j, 0);
    config_errors e = {0};
    ops_state *back = ops_from_json_text(text, strlen(text), &e);
    CHECK(back && back->revision == 41);
    const char bad[] = "{\"version\": 1, \"revision\": -3}";
    CHECK(ops_from_json_text(bad, sizeof bad - 1, &e) == NULL);
    CHECK(e.n == 1 && strstr(e.v[0].message, "revision must be a whole number >= 0, got -3"));
    config_errors_free(&e);
    free(text);
    json_decref(j);
    json_decref(cleared);
    ops_unref(back);
    ops_unref(none);
    ops_unref(n);
    ops_unref(o);
}

TEST(with_refuses_bad_input)
{
    ops_state *o = ops_new();
    static const char *const bad_names[] = {
        "", "has space", "slash/y", "ä", "quote\"",
        "a1234567890123456789012345678901234567890123456789012345678901234"};
    for (size_t i = 0; i < sizeof bad_names / sizeof *bad_names; i++) {
        errno = 0;
        CHECK(ops_with(o, bad_names[i], SIDE_NEW, -1, -1) == NULL);
        CHECK(errno == EINVAL);
    }
    errno = 0;
    CHECK(ops_with(o, NULL, 2, -1, -1) == NULL && errno == EINVAL);
    CHECK(ops_with(o, NULL, -3, -1, -1) == NULL);
    CHECK(ops_with(o, NULL, -1, 2, -1) == NULL);
    CHECK(ops_with(o, NULL, -1, -3, -1) == NULL);
    CHECK(ops_with(o, NULL, -1, -1, 100.5) == NULL);
    CHECK(ops_with(o, NULL, -1, -1, NAN) == NULL);
    /* 64 bytes and every allowed character are fine */
    ops_state *n = ops_with(
        o, "a123456789012345678901234567890123456789012345678901234567890123",
        SIDE_NEW, -1, -1);
    CHECK(n != NULL);
    ops_unref(n);
    CHECK((n = ops_with(o, "Az09._-", SIDE_NEW, -1, -1)) != NULL);
    ops_unref(n);
    CHECK(ops_route_name_ok("orders-get") && !ops_route_name_ok(NULL));
    ops_unref(o);
}

TEST(routes_stay_sorted)
{
    static const char *const order[] = {"m", "a", "z", "b", "A", "m.2", "_"};
    ops_state *o = ops_new();
    for (size_t i = 0; i < sizeof order / sizeof *order; i++)
        o = with(o, order[i], (int)(i % 2), OPS_UNSET, (double)i);
    static const char *const sorted[] = {"A", "_", "a", "b", "m", "m.2", "z",
                                         NULL};
    CHECK(route_names_are(o, sorted));
    for (size_t i = 0; i < sizeof order / sizeof *order; i++) {
        CHECK(ops_sample(o, order[i]) == (double)i);
        CHECK(ops_authority(o, order[i]) == (int)(i % 2));
    }
    CHECK(ops_sample(o, "c") < 0 && ops_sample(o, "0") < 0 &&
          ops_sample(o, "zz") < 0);
    /* changing one keeps its place; removing from the middle keeps order */
    o = with(o, "b", SIDE_NEW, 1, OPS_UNSET);
    CHECK(route_names_are(o, sorted));
    o = with(o, "m", OPS_CLEAR, OPS_UNSET, OPS_CLEAR);
    static const char *const less[] = {"A", "_", "a", "b", "m.2", "z", NULL};
    CHECK(route_names_are(o, less));
    CHECK(ops_sample(o, "m") < 0 && ops_sample(o, "m.2") == 5);
    o = with(o, "A", OPS_CLEAR, OPS_UNSET, OPS_CLEAR);
    o = with(o, "z", OPS_CLEAR, OPS_UNSET, OPS_CLEAR);
    static const char *const ends[] = {"_", "a", "b", "m.2", NULL};
    CHECK(route_names_are(o, ends));
    ops_unref(o);
}

TEST(equal_ignores_the_time)
{
    ops_state *a = with(ops_new(), "r", SIDE_NEW, 1, 25);
    ops_state *b = with(ops_new(), "r", SIDE_NEW, 1, 25);
    b->changed_ms = 1; /* before publication: still ours */
    CHECK(ops_equal(a, b) && ops_equal(a, a));
    ops_state *c = ops_with(b, "r", OPS_UNSET, OPS_UNSET, 26);
    CHECK(!ops_equal(a, c));
    ops_state *d = ops_with(b, "s", SIDE_NEW, -1, -1);
    CHECK(!ops_equal(b, d) && !ops_equal(d, b));
    ops_state *e = ops_with(b, NULL, SIDE_NEW, -1, -1);
    CHECK(!ops_equal(b, e));
    CHECK(!ops_equal(a, NULL) && ops_equal(NULL, NULL));
    ops_unref(a);
    ops_unref(b);
    ops_unref(c);
    ops_unref(d);
    ops_unref(e);
}

/* --- refcounts ------------------------------------------------------------ */

static void *ref_churn(void *arg)
{
    ops_state *o = arg;
    for (int i = 0; i < 100000; i++) {
        ops_state *r = ops_ref(o);
        if (ops_authority(r, "orders-get") != SIDE_NEW)
            abort();
        ops_unref(r);
    }
    return NULL;
}

TEST(refcounts)
{
    ops_state *o = with(ops_new(), "orders-get", SIDE_NEW, -1, -1);
    CHECK(ops_ref(o) == o && atomic_load(&o->refs) == 2);
    ops_unref(o);
    CHECK(atomic_load(&o->refs) == 1);
    CHECK(ops_ref(NULL) == NULL);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        CHECK(pthread_create(&t[i], NULL, ref_churn, o) == 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    CHECK(atomic_load(&o->refs) == 1);
    /* a holder keeps an old snapshot alive after the next is published */
    ops_state *held = ops_ref(o);
    ops_state *next = ops_with(o, "orders-get", SIDE_LEGACY, -1, -1);
    ops_unref(o);
    CHECK(ops_authority(held, "orders-get") == SIDE_NEW);
    CHECK(ops_authority(next, "orders-get") == SIDE_LEGACY);
    ops_unref(held);
    ops_unref(next);
}

/* --- JSON ----------------------------------------------------------------- */

TEST(to_json_form)
{
    ops_state *o = ops_new();
    char *s = dump(o);
    CHECK_STR(s, unit_q("{'version':1,'global':{},'routes':{}}"));
    free(s);
    o = with(o, NULL, SIDE_NEW, 0, 50);
    o = with(o, "orders-get", SIDE_LEGACY, OPS_UNSET, -1);
    o = with(o, "invoices", OPS_UNSET, 1, 12.5);
    o->changed_ms = 1795527682123LL; /* ours until published */
    s = dump(o);
    CHECK_STR(s, unit_q("{'version':1,'changed':'2026-11-24T13:41:22.123Z',"
                   "'global':{'authority':'new','shadow':{'paused':false,"
                   "'sample_percent':50}},'routes':{'invoices':{'shadow':{"
                   "'paused':true,'sample_percent':12.5}},'orders-get':{"
                   "'authority':'legacy'}}}"));
    free(s);
    ops_unref(o);
}

TEST(json_round_trip)
{
    ops_state *o = with(ops_new(), NULL, SIDE_LEGACY, 1, 0);
    o = with(o, "orders-get", SIDE_NEW, 0, 99.9);
    o = with(o, "b", OPS_UNSET, OPS_UNSET, 100);
    o = with(o, "a.v2", SIDE_LEGACY, OPS_UNSET, -1);
    json_t *j = ops_to_json(o);
    char *text = json_dumps(j, JSON_INDENT(2));
    config_errors e = {0};
    ops_state *back = ops_from_json_text(text, strlen(text), &e);
    CHECK(back != NULL && e.n == 0);
    CHECK(ops_equal(o, back));
    CHECK(back && back->changed_ms == o->changed_ms);
    static const char *const names[] = {"a.v2", "b", "orders-get", NULL};
    CHECK(back && route_names_are(back, names));
    CHECK(ops_sample(back, "orders-get") == 99.9);
    CHECK(ops_sample(back, NULL) == 0 && ops_paused(back, "b"));
    char *again = dump(back), *first = dump(o);
    CHECK_STR(again, first);
    free(again);
    free(first);
    free(text);
    json_decref(j);
    ops_unref(back);
    ops_unref(o);
}

TEST(from_json_accepts)
{
    config_errors e = {0};
    /* minimal; routes given out of order are sorted; {} routes dropped */
    ops_state *o = parse("{'version': 1, 'routes': {'z': {'authority': 'new'},"
                         " 'empty': {}, 'a': {'shadow': {'paused': true}},"
                         " 'e2': {'shadow': {}}}}",
                         &e);
    CHECK(o != NULL && e.n == 0);
    static const char *const names[] = {"a", "z", NULL};
    CHECK(o && route_names_are(o, names));
    CHECK(o && o->changed_ms == 0 && ops_authority(o, "z") == SIDE_NEW);
    ops_unref(o);
    /* percentages are kept to 6 decimal places, as ops_with keeps them */
    o = parse("{'version': 1, 'global': {'shadow': {'sample_percent': "
              "33.333333333333336}}, 'routes': {'r': {'shadow': "
              "{'sample_percent': 1e-7}}}}",
              &e);
    CHECK(o && ops_sample(o, NULL) == 33.333333 && ops_sample(o, "r") == 0);
    ops_unref(o);
    /* RFC 3339 variants of "changed" */
    static const struct {
        const char *ts;
        int64_t ms;
    } times[] = {
        {"2026-11-24T13:41:22.123Z", 1795527682123LL},
        {"2026-11-24T13:41:22Z", 1795527682000LL},
        {"2026-11-24t13:41:22.1z", 1795527682100LL},
        {"2026-11-24T14:41:22.123456+01:00", 1795527682123LL},
        {"2026-11-24T12:11:22-01:30", 1795527682000LL},
        {"1970-01-01T00:00:00Z", 0},
        {"2024-02-29T00:00:00Z", 1709164800000LL},
    };
    for (size_t i = 0; i < sizeof times / sizeof *times; i++) {
        char buf[200];
        snprintf(buf, sizeof buf, "{'version': 1, 'changed': '%s'}",
                 times[i].ts);
        o = parse(buf, &e);
        CHECK(o != NULL && o->changed_ms == times[i].ms);
        if (o && o->changed_ms != times[i].ms)
            fprintf(stderr, "  %s -> %lld\n", times[i].ts,
                    (long long)o->changed_ms);
        ops_unref(o);
    }
    CHECK(e.n == 0);
    config_errors_free(&e);
}

TEST(every_error_at_once)
{
    const char *text =
        "{\n"                                                         /* 1 */
        "  'version': 2,\n"                                           /* 2 */
        "  'changd': 'x',\n"                                          /* 3 */
        "  'global': {'authority': 'both', 'shadow': {'paused': 'yes'}},\n"
        "  'routes': {\n"                                             /* 5 */
        "    'orders-get': {'authority': 'x', 'shadow': {'sample_percent': "
        "150}},\n"                                                    /* 6 */
        "    'bad name': {'authority': 'new'},\n"                     /* 7 */
        "    'inv': {'autority': 'new', 'paused': true, 'shadow': "
        "{'authority': 'new', 'sample_percent': '50'}},\n"            /* 8 */
        "    'x': []\n"                                               /* 9 */
        "  }\n"
        "}\n";
    config_errors e = {0};
    ops_state *o = parse(text, &e);
    CHECK(o == NULL);
    static const char *const want[] = {
        "2:14: version must be 1, got 2",
        "3:3: unknown key \"changd\" (did you mean \"changed\"?)",
        "4:27: global.authority must be \"legacy\" or \"new\", got \"both\"",
        "4:56: global.shadow.paused must be true or false, got string",
        "6:33: routes.orders-get.authority must be \"legacy\" or \"new\", got "
        "\"x\"",
        "6:67: routes.orders-get.shadow.sample_percent must be between 0 and "
        "100, got 150",
        "7:5: route names must be 1 to 64 letters, digits, '.', '-' or '_', "
        "got \"bad name\"",
        "8:13: unknown key \"routes.inv.autority\" (did you mean "
        "\"routes.inv.authority\"?)",
        "8:32: unknown key \"routes.inv.paused\" (did you mean "
        "\"routes.inv.shadow.paused\"?)",
        "8:59: unknown key \"routes.inv.shadow.authority\" (did you mean "
        "\"routes.inv.authority\"?)",
        "8:97: routes.inv.shadow.sample_percent must be a number, got string",
        "9:10: routes.x must be an object, got array",
    };
    size_t n = sizeof want / sizeof *want;
    CHECK(e.n == n);
    for (size_t i = 0; i < n || i < e.n; i++)
        CHECK_STR(unit_err(&e, i), i < n ? want[i] : "(none)");
    config_errors_free(&e);
}

TEST(single_errors)
{
    CHECK_STR(one_error("{'global': {}}"),
              "1:1: version is required: add \"version\": 1 (the format of "
              "this file)");
    CHECK_STR(one_error("{'version': '1'}"),
              "1:13: version must be 1, got \"1\"");
    CHECK_STR(one_error("{'version': 1.0}"), "1:13: version must be 1, got 1");
    CHECK_STR(one_error("[1]"),
              "1:1: the top level must be an object, got array");
    CHECK_STR(one_error("\n  {'version': 1,}"),
              "2:17: invalid JSON: string or '}' expected near '}'");
    CHECK_STR(one_error("{'version': 1, 'version': 1}"),
              "1:16: duplicate key \"version\"");
    CHECK_STR(one_error("{'version': 1, 'changed': 'yesterday'}"),
              "1:27: changed must be an RFC 3339 time like "
              "\"2026-11-24T13:41:22.123Z\", got \"yesterday\"");
    CHECK_STR(one_error("{'version': 1, 'changed': '2026-02-29T00:00:00Z'}"),
              "1:27: changed must be an RFC 3339 time like "
              "\"2026-11-24T13:41:22.123Z\", got \"2026-02-29T00:00:00Z\"");
    CHECK_STR(one_error("{'version': 1, 'changed': 1795527682123}"),
              "1:27: changed must be an RFC 3339 time like "
              "\"2026-11-24T13:41:22.123Z\", got 1795527682123");
    CHECK_STR(one_error("{'version': 1, 'global': 'new'}"),
              "1:26: global must be an object, got string");
    CHECK_STR(one_error("{'version': 1, 'global': {'shadow': false}}"),
              "1:37: global.shadow must be an object, got boolean");
    CHECK_STR(one_error("{'version': 1, 'global': {'authority': null}}"),
              "1:40: global.authority must be \"legacy\" or \"new\", got "
              "null");
    CHECK_STR(one_error("{'version': 1, 'global': {'authority': 'New'}}"),
              "1:40: global.authority must be \"legacy\" or \"new\", got "
              "\"New\"");
    CHECK_STR(one_error("{'version': 1, 'global': {'shadow': {'paused': 1}}}"),
              "1:48: global.shadow.paused must be true or false, got "
              "integer");
    CHECK_STR(one_error("{'version': 1, 'global': {'shadow': "
                        "{'sample_percent': -0.5}}}"),
              "1:56: global.shadow.sample_percent must be between 0 and 100, "
              "got -0.5");
    CHECK_STR(one_error("{'version': 1, 'routes': []}"),
              "1:26: routes must be an object of route names to decisions, "
              "got array");
    CHECK_STR(one_error("{'version': 1, 'routes': {'a/b~c': {}}}"),
              "1:27: route names must be 1 to 64 letters, digits, '.', '-' "
              "or '_', got \"a/b~c\"");
    CHECK_STR(one_error("{'version': 1, 'routes': {'': {}}}"),
              "1:27: route names must be 1 to 64 letters, digits, '.', '-' "
              "or '_', got \"\"");
    CHECK_STR(one_error("{'version': 1, 'routes': {'a1234567890123456789012345"
                        "678901234567890123456789012345678901234': {}}}"),
              "1:27: route names must be 1 to 64 letters, digits, '.', '-' "
              "or '_', got \"a1234567890123456789012345"
              "678901234567890123456789012345678901234\"");
    /* misplaced keys point to where they belong */
    CHECK_STR(one_error("{'version': 1, 'authority': 'new'}"),
              "1:16: unknown key \"authority\" (did you mean "
              "\"global.authority\"?)");
    CHECK_STR(one_error("{'version': 1, 'sample_percent': 5}"),
              "1:16: unknown key \"sample_percent\" (did you mean "
              "\"global.shadow.sample_percent\"?)");
    CHECK_STR(one_error("{'version': 1, 'rotues': {}}"),
              "1:16: unknown key \"rotues\" (did you mean \"routes\"?)");
    CHECK_STR(one_error("{'version': 1, 'mirror': {}}"),
              "1:16: unknown key \"mirror\"");
    CHECK_STR(one_error("{'version': 1, 'global': {'shadow': "
                        "{'sample': 5}}}"),
              "1:38: unknown key \"global.shadow.sample\"");
    CHECK_STR(one_error("{'version': 1, 'global': {'shadow': "
                        "{'pasued': true}}}"),
              "1:38: unknown key \"global.shadow.pasued\" (did you mean "
              "\"global.shadow.paused\"?)");
}

TEST(empty_and_huge_texts)
{
    config_errors e = {0};
    CHECK(ops_from_json_text("", 0, &e) == NULL);
    CHECK(ops_from_json_text(" \n\t", 3, &e) == NULL);
    CHECK(ops_from_json_text(NULL, 10, &e) == NULL);
    CHECK(e.n == 3);
    CHECK_STR(unit_err(&e, 0), "0:0: file is empty");
    CHECK_STR(unit_err(&e, 2), "0:0: file is empty");
    config_errors_free(&e);
    size_t n = OPS_MAX_FILE_BYTES + 1;
    char *big = malloc(n);
    memset(big, ' ', n);
    memcpy(big, "{\"version\": 1}", 14);
    CHECK(ops_from_json_text(big, n, &e) == NULL);
    CHECK_STR(unit_err(&e, 0), "0:0: file is larger than 1 MiB");
    config_errors_free(&e);
    /* just at the limit is fine */
    ops_state *o = ops_from_json_text(big, n - 1, &e);
    CHECK(o != NULL && e.n == 0);
    ops_unref(o);
    free(big);
}

/* --- the state file ------------------------------------------------------- */

TEST(load_missing_and_unreadable)
{
    char dir[] = "/tmp/sp-ops-XXXXXX", path[256];
    CHECK(mkdtemp(dir) != NULL);
    config_errors e = {0};
    snprintf(path, sizeof path, "%s/absent.json", dir);
    ops_state *o = ops_load(path, &e);
    CHECK(o != NULL && e.n == 0);
    CHECK(o && o->nroutes == 0 && ops_equal(o, NULL));
    ops_unref(o);
    /* a directory is not readable as a file */
    CHECK(ops_load(dir, &e) == NULL);
    CHECK(e.n == 1 && e.v[0].line == 0 &&
          strcmp(e.v[0].message, "cannot read: Is a directory") == 0);
    config_errors_free(&e);
    /* a path through a file is an error, not "missing" */
    snprintf(path, sizeof path, "%s/f", dir);
    FILE *f = fopen(path, "w");
    fputs(unit_q("{'version': 1, 'global': {'authority': 'new'}}\n"), f);
    fclose(f);
    o = ops_load(path, &e);
    CHECK(o && ops_authority(o, "x") == SIDE_NEW);
    ops_unref(o);
    snprintf(path, sizeof path, "%s/f/g.json", dir);
    CHECK(ops_load(path, &e) == NULL);
    CHECK_STR(unit_err(&e, 0), "0:0: cannot read: Not a directory");
    config_errors_free(&e);
    /* an invalid file reports positions */
    snprintf(path, sizeof path, "%s/f", dir);
    f = fopen(path, "w");
    fputs(unit_q("{\n  'version': 1,\n  'global': {'authority': 'old'}\n}\n"), f);
    fclose(f);
    CHECK(ops_load(path, &e) == NULL);
    CHECK_STR(unit_err(&e, 0),
              "3:27: global.authority must be \"legacy\" or \"new\", got "
              "\"old\"");
    config_errors_free(&e);
    CHECK(ops_load(NULL, &e) == NULL && e.n == 1);
    config_errors_free(&e);
    rm_dir(dir);
}

TEST(save_is_atomic_and_readable)
{
    char dir[] = "/tmp/sp-ops-XXXXXX", path[256], names[1024];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/state.json", dir);
    ops_state *o = with(ops_new(), NULL, SIDE_NEW, OPS_UNSET, 50);
    o = with(o, "orders-get", SIDE_LEGACY, 1, OPS_UNSET);
    o->changed_ms = 1795527682123LL;
    mode_t old = umask(077);
    CHECK(ops_save(path, o) == 0);
    umask(old);
    /* the file alone: no temp left behind */
    CHECK(dir_entries(dir, names, sizeof names) == 1);
    CHECK_STR(names, "state.json");
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0644);
    char *text = unit_read_file(path, NULL);
    CHECK_STR(text, unit_q("{\n"
                      "  'version': 1,\n"
                      "  'changed': '2026-11-24T13:41:22.123Z',\n"
                      "  'global': {\n"
                      "    'authority': 'new',\n"
                      "    'shadow': {\n"
                      "      'sample_percent': 50\n"
                      "    }\n"
                      "  },\n"
                      "  'routes': {\n"
                      "    'orders-get': {\n"
                      "      'authority': 'legacy',\n"
                      "      'shadow': {\n"
                      "        'paused': true\n"
                      "      }\n"
                      "    }\n"
                      "  }\n"
                      "}\n"));
    free(text);
    config_errors e = {0};
    ops_state *back = ops_load(path, &e);
    CHECK(back && e.n == 0 && ops_equal(o, back));
    CHECK(back && back->changed_ms == o->changed_ms);
    ops_unref(back);
    ops_unref(o);
    rm_dir(dir);
}

TEST(save_replaces_an_existing_file)
{
    char dir[] = "/tmp/sp-ops-XXXXXX", path[256], names[1024];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/state.json", dir);
    FILE *f = fopen(path, "w");
    fputs("garbage, and much longer than the new state will be ...........\n"
          "..................................................................\n",
          f);
    fclose(f);
    struct stat before, after;
    stat(path, &before);
    ops_state *o = with(ops_new(), "stock", OPS_UNSET, 0, 5);
    CHECK(ops_save(path, o) == 0);
    CHECK(stat(path, &after) == 0 && after.st_ino != before.st_ino);
    config_errors e = {0};
    ops_state *back = ops_load(path, &e);
    CHECK(back && e.n == 0 && ops_equal(o, back));
    ops_unref(back);
    /* and again over its own output; reals as short as read back exactly */
    ops_state *o2 = ops_with(o, "stock", SIDE_NEW, OPS_UNSET, 99.9);
    o2 = with(o2, NULL, OPS_UNSET, OPS_UNSET, 100.0 / 3);
    CHECK(ops_save(path, o2) == 0);
    char *text = unit_read_file(path, NULL);
    CHECK(text && strstr(text, "\"sample_percent\": 99.9\n") != NULL);
    CHECK(text && strstr(text, "\"sample_percent\": 33.333333\n") != NULL);
    free(text);
    back = ops_load(path, &e);
    CHECK(back && ops_equal(o2, back) && !ops_equal(o, back));
    CHECK(dir_entries(dir, names, sizeof names) == 1);
    ops_unref(back);
    ops_unref(o2);
    ops_unref(o);
    rm_dir(dir);
}

TEST(save_failures_leave_nothing)
{
    char dir[] = "/tmp/sp-ops-XXXXXX", path[256], names[1024];
    CHECK(mkdtemp(dir) != NULL);
    ops_state *o = with(ops_new(), NULL, SIDE_NEW, -1, -1);
    /* into a directory that does not exist */
    snprintf(path, sizeof path, "%s/missing/state.json", dir);
    CHECK(ops_save(path, o) == -ENOENT);
    CHECK(dir_entries(dir, names, sizeof names) == 0);
    /* rename fails: PATH is a non-empty directory; the temp is removed */
    snprintf(path, sizeof path, "%s/state.json", dir);
    CHECK(mkdir(path, 0755) == 0);
    char inner[300];
    snprintf(inner, sizeof inner, "%s/keep", path);
    fclose(fopen(inner, "w"));
    int rc = ops_save(path, o);
    CHECK(rc == -EISDIR || rc == -ENOTEMPTY || rc == -EEXIST);
    CHECK(dir_entries(dir, names, sizeof names) == 1);
    CHECK_STR(names, "state.json");
    unlink(inner);
    rmdir(path);
    /* a path without a directory part is relative to the cwd */
    char cwd[512];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    CHECK(chdir(dir) == 0);
    CHECK(ops_save("plain.json", o) == 0);
    CHECK(chdir(cwd) == 0);
    CHECK(dir_entries(dir, names, sizeof names) == 1);
    CHECK_STR(names, "plain.json");
    CHECK(ops_save("", o) == -EINVAL && ops_save(NULL, o) == -EINVAL);
    ops_unref(o);
    rm_dir(dir);
}

TEST(save_of_empty_and_null)
{
    char dir[] = "/tmp/sp-ops-XXXXXX", path[256];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/s.json", dir);
    CHECK(ops_save(path, NULL) == 0);
    char *text = unit_read_file(path, NULL);
    CHECK_STR(text, unit_q("{\n  'version': 1,\n  'global': {},\n  'routes': {}\n}\n"));
    free(text);
    config_errors e = {0};
    ops_state *o = ops_load(path, &e);
    CHECK(o && e.n == 0 && ops_equal(o, NULL));
    ops_unref(o);
    rm_dir(dir);
}

TEST(write_pause_route_over_global_json_and_errors)
{
    int retry = -1;
    ops_state *o = ops_new();
    CHECK(!ops_writes_paused(o, "orders", &retry) && retry == -1);
    ops_state *a = ops_with_writes(o, NULL, 1, OPS_UNSET);
    CHECK(a && ops_writes_paused(a, "orders", &retry) && retry == OPS_RETRY_AFTER_DEFAULT);
    ops_state *b = ops_with_writes(a, "orders", 1, 120);
    CHECK(b && ops_writes_paused(b, "orders", &retry) && retry == 120);
    CHECK(ops_writes_paused(b, "other", &retry) && retry == OPS_RETRY_AFTER_DEFAULT);
    ops_state *c = ops_with_writes(b, "other", 0, OPS_UNSET); /* a route resumed */
    CHECK(c && !ops_writes_paused(c, "other", NULL) && ops_writes_paused(c, NULL, NULL));
    CHECK(!ops_equal(b, c) && ops_paused(c, "orders") == false);
    c->changed_ms = 0; /* not compared here */
    char *s = dump(c);
    CHECK_STR(s, unit_q("{'version':1,'global':{'writes':{'paused':true}},'routes':{"
                        "'orders':{'writes':{'paused':true,'retry_after_s':120}},"
                        "'other':{'writes':{'paused':false}}}}"));
    config_errors e = {0};
    ops_state *back = ops_from_json_text(s, strlen(s), &e);
    CHECK(back && e.n == 0 && ops_equal(back, c));
    ops_unref(back);
    free(s);
    /* clearing removes the route (nothing else decided there) */
    ops_state *d = ops_with_writes(c, "other", OPS_CLEAR, OPS_UNSET);
    CHECK(d && d->nroutes == 1 && strcmp(d->routes[0].name, "orders") == 0);
    /* a shadow change leaves the write pause alone */
    ops_state *f = ops_with(d, "orders", OPS_UNSET, 1, -1);
    CHECK(f && ops_writes_paused(f, "orders", &retry) && retry == 120 && ops_paused(f, "orders"));
    errno = 0;
    CHECK(!ops_with_writes(f, NULL, 1, 0) && errno == EINVAL);
    CHECK(!ops_with_writes(f, NULL, 1, OPS_RETRY_AFTER_MAX + 1) && errno == EINVAL);
    CHECK(!ops_with_writes(f, NULL, 2, OPS_UNSET) && errno == EINVAL);
    CHECK(ops_is_write_method("POST") && ops_is_write_method("DELETE") &&
          ops_is_write_method("PATCH") && ops_is_write_method("PUT"));
    CHECK(!ops_is_write_method("GET") && !ops_is_write_method("HEAD") &&
          !ops_is_write_method("OPTIONS") && !ops_is_write_method("post") &&
          !ops_is_write_method(NULL));
    CHECK_STR(one_error("{'version': 1, 'global': {'writes': {'paused': 'yes'}}}"),
              "1:48: global.writes.paused must be true or false, got string");
    CHECK_STR(one_error("{'version': 1, 'global': {'writes': {'paused': true, 'retry_after_s': 0}}}"),
              "1:71: global.writes.retry_after_s must be a whole number of seconds from 1 to "
              "86400, got 0");
    CHECK_STR(one_error("{'version': 1, 'global': {'writes': {'paused': false, 'retry_after_s': 5}}}"),
              "1:72: global.writes.retry_after_s goes with \"paused\": true only");
    for (ops_state **x = (ops_state *[]){o, a, b, c, d, f, NULL}; *x; x++)
        ops_unref(*x);
}

int main(void)
{
    RUN(empty_set_decides_nothing);
    RUN(route_decision_over_global);
    RUN(route_without_global);
    RUN(with_sets_each_field_and_leaves_the_original);
    RUN(with_clears_and_removes_empty_routes);
    RUN(without_route_authority_keeps_the_rest);
    RUN(with_refuses_bad_input);
    RUN(routes_stay_sorted);
    RUN(equal_ignores_the_time);
    RUN(refcounts);
    RUN(to_json_form);
    RUN(json_round_trip);
    RUN(from_json_accepts);
    RUN(every_error_at_once);
    RUN(single_errors);
    RUN(empty_and_huge_texts);
    RUN(load_missing_and_unreadable);
    RUN(save_is_atomic_and_readable);
    RUN(save_replaces_an_existing_file);
    RUN(save_failures_leave_nothing);
    RUN(save_of_empty_and_null);
    RUN(write_pause_route_over_global_json_and_errors);
    UNIT_DONE();
}
