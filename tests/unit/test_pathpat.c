/* Unit tests: JSON Pointer patterns with * and ** wildcards. */
#include "base/pathpat.h"
#include "unit.h"

#include <errno.h>

static bool m(const char *pattern, const char *pointer)
{
    path_pattern p;
    const char *why;
    if (path_pattern_compile(&p, pattern, &why) != 0)
        return false;
    bool r = path_pattern_match_str(&p, pointer);
    path_pattern_free(&p);
    return r;
}

TEST(exact)
{
    CHECK(m("/a/b", "/a/b"));
    CHECK(!m("/a/b", "/a"));
    CHECK(!m("/a/b", "/a/b/c"));
    CHECK(m("", ""));
    CHECK(!m("", "/a"));
}

TEST(single_star)
{
    CHECK(m("/items/*/price", "/items/0/price"));
    CHECK(m("/items/*/price", "/items/sku=MB01/price"));
    CHECK(!m("/items/*/price", "/items/price"));
    CHECK(!m("/items/*/price", "/items/0/1/price"));
    CHECK(m("/*", "/x"));
    CHECK(!m("/*", ""));
}

TEST(double_star_at_every_depth)
{
    CHECK(m("/**/created_at", "/created_at"));
    CHECK(m("/**/created_at", "/a/created_at"));
    CHECK(m("/**/created_at", "/a/b/c/0/created_at"));
    CHECK(!m("/**/created_at", "/a/created_at/x"));
    CHECK(m("/**", ""));
    CHECK(m("/**", "/a/b"));
    CHECK(m("/a/**", "/a"));
    CHECK(m("/a/**/z", "/a/z"));
    CHECK(m("/a/**/z", "/a/b/c/z"));
    CHECK(!m("/a/**/z", "/b/c/z"));
    CHECK(m("/**/items/*/sku", "/order/items/3/sku"));
    CHECK(m("/**/b/**/d", "/a/b/c/d"));
    CHECK(m("/**/b/**/d", "/b/d"));
    CHECK(!m("/**/b/**/d", "/a/c/d"));
}

TEST(escapes)
{
    CHECK(m("/a~1b", "/a~1b"));     /* both unescape to "a/b" */
    CHECK(!m("/a~1b", "/a/b"));
    CHECK(m("/m~0n", "/m~0n"));
    path_pattern p;
    const char *why = NULL;
    CHECK(path_pattern_compile(&p, "/a~2", &why) == -EINVAL && why != NULL);
    CHECK(path_pattern_compile(&p, "a/b", &why) == -EINVAL && why != NULL);
}

TEST(concrete)
{
    path_pattern p;
    const char *why;
    CHECK(path_pattern_compile(&p, "/a/b", &why) == 0);
    CHECK(path_pattern_is_concrete(&p));
    path_pattern_free(&p);
    CHECK(path_pattern_compile(&p, "/a/*", &why) == 0);
    CHECK(!path_pattern_is_concrete(&p));
    path_pattern_free(&p);
}

TEST(pointer_split_edge_cases)
{
    char **segs;
    CHECK(pointer_split("", &segs) == 0);
    int n = pointer_split("/", &segs);
    CHECK(n == 1 && strcmp(segs[0], "") == 0);
    pointer_segs_free(segs, n);
    n = pointer_split("/a//b", &segs);
    CHECK(n == 3 && strcmp(segs[1], "") == 0 && strcmp(segs[2], "b") == 0);
    pointer_segs_free(segs, n);
    CHECK(pointer_split("x", &segs) == -1);
    CHECK(pointer_split("/~x", &segs) == -1);
}

int main(void)
{
    RUN(exact);
    RUN(single_star);
    RUN(double_star_at_every_depth);
    RUN(escapes);
    RUN(concrete);
    RUN(pointer_split_edge_cases);
    UNIT_DONE();
}
