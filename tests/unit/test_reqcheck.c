/* Unit tests: what the proxy refuses in a client's request (reqcheck). */
#include "data/reqcheck.h"
#include "unit.h"

static hdr_list list(const char *const *nv, size_t n)
{
    hdr_list l = {0};
    for (size_t i = 0; i + 1 < n; i += 2)
        CHECK(hdr_list_add(&l, nv[i], strlen(nv[i]), nv[i + 1], strlen(nv[i + 1])) == 0);
    return l;
}

static int framing(const char *const *nv, size_t n, bool http10, const char **why)
{
    hdr_list l = list(nv, n);
    *why = NULL;
    int rc = reqcheck_framing(&l, http10, why);
    hdr_list_free(&l);
    return rc;
}

#define FRAMING(http10, why, ...)                                                    \
    framing((const char *const[]){__VA_ARGS__},                                      \
            sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *), http10, \
            why)

TEST(tokens)
{
    CHECK(reqcheck_token("GET", 3));
    CHECK(reqcheck_token("PURGE", 5));
    CHECK(reqcheck_token("X-Custom_1.2~!#$%&'*+^`|", 24));
    CHECK(!reqcheck_token("", 0));
    CHECK(!reqcheck_token("GE T", 4));
    CHECK(!reqcheck_token("X-A ", 4));
    CHECK(!reqcheck_token("a:b", 3));
    CHECK(!reqcheck_token("a\x01", 2));
    CHECK(!reqcheck_token("a\0b", 3));
    CHECK(!reqcheck_token("caf\xc3\xa9", 5));
    CHECK(!reqcheck_token("(x)", 3));
}

TEST(targets)
{
    CHECK(reqcheck_target("/") == NULL);
    CHECK(reqcheck_target("/echo/a%2Fb%20c?x=%41&y=1+2&y=3") == NULL);
    CHECK(reqcheck_target("/a/../b;p?q={x}|[y]^`\\") == NULL);
    CHECK(reqcheck_target("/a b") != NULL);
    CHECK(reqcheck_target("/a\rb") != NULL);
    CHECK(reqcheck_target("/a\tb") != NULL);
    CHECK(reqcheck_target("/a\x7f") != NULL);
    CHECK(reqcheck_target("/caf\xc3\xa9") != NULL);
    CHECK(reqcheck_target("/x#frag") != NULL);
}

TEST(fields)
{
    CHECK(reqcheck_field("X-A", 3, "v", 1) == NULL);
    CHECK(reqcheck_field("X-A", 3, "", 0) == NULL);
    CHECK(reqcheck_field("X-A", 3, "a\tb", 3) == NULL);
    CHECK(reqcheck_field("X-Lat", 5, "\xe9t\xe9", 3) == NULL); /* obs-text */
    CHECK(reqcheck_field("", 0, "v", 1) != NULL);
    CHECK(reqcheck_field("Bad Name", 8, "v", 1) != NULL);
    CHECK(reqcheck_field("X-A ", 4, "v", 1) != NULL);
    CHECK(reqcheck_field("X-A", 3, "a\rInjected: yes", 16) != NULL);
    CHECK(reqcheck_field("X-A", 3, "a\nb", 3) != NULL);
    CHECK(reqcheck_field("X-A", 3, "a\0b", 3) != NULL);
    CHECK(reqcheck_field("X-A", 3, "a\x7f", 2) != NULL);
}

TEST(framing_accepted)
{
    const char *why;
    CHECK(FRAMING(false, &why, "Host", "x") == 0);
    CHECK(FRAMING(false, &why, "Content-Length", "5") == 0);
    CHECK(FRAMING(false, &why, "Content-Length", "5", "content-length", "05") == 0);
    CHECK(FRAMING(false, &why, "Transfer-Encoding", "chunked") == 0);
    CHECK(FRAMING(false, &why, "transfer-encoding", "CHUNKED") == 0);
    CHECK(FRAMING(true, &why, "Content-Length", "5") == 0);
}

TEST(framing_refused)
{
    const char *why;
    CHECK(FRAMING(false, &why, "Content-Length", "5", "Content-Length", "11") == 400);
    CHECK(why && strstr(why, "disagree"));
    CHECK(FRAMING(false, &why, "Content-Length", "5x") == 400);
    CHECK(FRAMING(false, &why, "Content-Length", "") == 400);
    /* CL.TE and TE.CL, whichever comes first */
    CHECK(FRAMING(false, &why, "Content-Length", "6", "Transfer-Encoding", "chunked") == 400);
    CHECK(why && strstr(why, "both"));
    CHECK(FRAMING(false, &why, "Transfer-Encoding", "chunked", "Content-Length", "3") == 400);
    CHECK(FRAMING(false, &why, "Transfer-Encoding", "xchunked", "Content-Length", "3") == 400);
    CHECK(FRAMING(true, &why, "Transfer-Encoding", "chunked") == 400);
    CHECK(FRAMING(false, &why, "Transfer-Encoding", "gzip, chunked") == 501);
    CHECK(FRAMING(false, &why, "Transfer-Encoding", "chunked, identity") == 501);
    CHECK(FRAMING(false, &why, "Transfer-Encoding", "chunked", "Transfer-Encoding", "chunked") ==
          501);
    CHECK(FRAMING(false, &why, "Transfer-Encoding", "identity") == 501);
    CHECK(FRAMING(false, &why, "Transfer-Encoding", "chunked ") == 501);
    CHECK(FRAMING(false, &why, "Transfer-Encoding", "chunked,") == 501);
    CHECK(FRAMING(false, &why, "Transfer-Encoding", "") == 501);
}

int main(void)
{
    RUN(tokens);
    RUN(targets);
    RUN(fields);
    RUN(framing_accepted);
    RUN(framing_refused);
    UNIT_DONE();
}
