/* Unit tests: base/h1parse, the lean client's response parser. Every case
 * runs whole, byte by byte, and in random pieces with pauses: the same
 * head lines, body, status and error each time. */
#include "base/h1parse.h"
#include "h1feed.h"
#include "unit.h"

#define S(lit) (lit), sizeof(lit) - 1

/* Runs `in` every way; checks they agree and returns the whole-feed one
 * (the caller frees it). */
static h1feed_out all_ways(const char *in, size_t len, bool head, bool eof)
{
    h1feed_out first;
    h1feed_run(&first, in, len, head, 0, 0, eof);
    for (uint64_t seed = 1; seed < 40; seed++) {
        h1feed_out o;
        h1feed_run(&o, in, len, head, seed, seed < 3 ? 0 : 2 + (unsigned)seed % 3, eof);
        CHECK(o.error == first.error);
        CHECK(o.done == first.done);
        CHECK(o.status == first.status);
        CHECK(o.keep_alive == first.keep_alive);
        CHECK(o.body_len == first.body_len);
        CHECK(o.body_len == 0 || memcmp(o.body, first.body, o.body_len) == 0);
        if (!first.error) { /* a failure may come before or after a line: same error only */
            CHECK(o.head_len == first.head_len);
            CHECK(o.head_len == 0 || memcmp(o.head, first.head, o.head_len) == 0);
            CHECK(o.left == first.left);
        }
        h1feed_free(&o);
    }
    return first;
}

TEST(content_length)
{
    h1feed_out o = all_ways(S("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX: y\r\n\r\nhelloEXTRA"),
                            false, false);
    CHECK(o.done && !o.error && o.status == 200 && o.keep_alive);
    CHECK_STR(o.head, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX: y\r\n\r\n");
    CHECK(o.head_lines == 4);
    CHECK_STR(o.body, "hello");
    CHECK(o.left == 5); /* EXTRA belongs to no response */
    h1feed_free(&o);
}

TEST(chunked_with_extensions_and_trailers)
{
    h1feed_out o = all_ways(S("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                              "5;name=val\r\nhello\r\n1 \r\n,\r\n6\r\n world\r\n0\r\n"
                              "X-Sum: 1\r\n\r\n"),
                            false, false);
    CHECK(o.done && !o.error && o.keep_alive);
    CHECK_STR(o.body, "hello, world");
    CHECK_STR(o.head, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                      "X-Sum: 1\r\n\r\n");
    h1feed_free(&o);
}

TEST(bare_lf_line_endings)
{
    h1feed_out o = all_ways(S("HTTP/1.1 200 OK\nContent-Length: 2\n\nok"), false, false);
    CHECK(o.done && !o.error);
    CHECK_STR(o.body, "ok");
    h1feed_free(&o);
}

TEST(read_until_close)
{
    h1feed_out o = all_ways(S("HTTP/1.1 200 OK\r\n\r\nall of it"), false, true);
    CHECK(o.done && !o.error && !o.keep_alive);
    CHECK_STR(o.body, "all of it");
    h1feed_free(&o);
    /* a Transfer-Encoding that is not chunked: until close too */
    o = all_ways(S("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzz"), false, true);
    CHECK(o.done && !o.error && !o.keep_alive);
    CHECK_STR(o.body, "zz");
    h1feed_free(&o);
}

TEST(no_body_for_head_204_304)
{
    h1feed_out o = all_ways(S("HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n"), true, false);
    CHECK(o.done && !o.error && o.body_len == 0 && o.keep_alive);
    h1feed_free(&o);
    o = all_ways(S("HTTP/1.1 204 No Content\r\n\r\n"), false, false);
    CHECK(o.done && !o.error && o.status == 204);
    h1feed_free(&o);
    o = all_ways(S("HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n"), false, false);
    CHECK(o.done && !o.error && o.body_len == 0);
    h1feed_free(&o);
}

TEST(interim_1xx_then_final)
{
    h1feed_out o = all_ways(S("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\n"
                              "Link: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nx"),
                            false, false);
    CHECK(o.done && !o.error && o.status == 201);
    CHECK(o.head_lines == 8);
    CHECK_STR(o.body, "x");
    h1feed_free(&o);
}

TEST(keep_alive_rules)
{
    h1feed_out o = all_ways(S("HTTP/1.1 200 OK\r\nConnection: Close\r\nContent-Length: 0\r\n\r\n"),
                            false, false);
    CHECK(o.done && !o.keep_alive);
    h1feed_free(&o);
    o = all_ways(S("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"), false, false);
    CHECK(o.done && !o.keep_alive);
    h1feed_free(&o);
    o = all_ways(S("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n"),
                 false, false);
    CHECK(o.done && o.keep_alive);
    h1feed_free(&o);
}

static h1_error error_of(const char *in, size_t len, bool eof)
{
    h1feed_out o = all_ways(in, len, false, eof);
    h1_error e = o.error;
    CHECK(!o.done || e == H1E_NONE);
    h1feed_free(&o);
    return e;
}

TEST(errors)
{
    CHECK(error_of(S("SSH-2.0-OpenSSH\r\n"), true) == H1E_NOT_HTTP);
    CHECK(error_of(S("HTTP/2 200\r\n\r\n"), true) == H1E_VERSION);
    CHECK(error_of(S("HTTP/1.2 200 OK\r\n\r\n"), true) == H1E_VERSION);
    CHECK(error_of(S("HTTP/1.1 20 OK\r\n\r\n"), true) == H1E_STATUS);
    CHECK(error_of(S("HTTP/1.1 2000 OK\r\n\r\n"), true) == H1E_STATUS);
    CHECK(error_of(S("HTTP/1.1 abc OK\r\n\r\n"), true) == H1E_STATUS);
    CHECK(error_of(S("HTTP/1.1 101 Switching\r\n\r\n"), true) == H1E_HEAD);
    CHECK(error_of(S("HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n"), true) == H1E_HEAD);
    CHECK(error_of(S("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"), true) == H1E_LENGTH);
    CHECK(error_of(S("HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\n"), true) == H1E_LENGTH);
    CHECK(error_of(S("HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n"), true) == H1E_LENGTH);
    CHECK(error_of(S("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n"), true) ==
          H1E_LENGTH);
    CHECK(error_of(S("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"),
                   true) == H1E_LENGTH);
    CHECK(error_of(S("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"),
                   true) == H1E_LENGTH);
    CHECK(error_of(S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"), true) ==
          H1E_CHUNK);
    CHECK(error_of(S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "11111111111111111\r\n"), true) == H1E_CHUNK);
    CHECK(error_of(S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n"), true) ==
          H1E_CHUNK);
    /* cut short */
    CHECK(error_of(S(""), true) == H1E_NOTHING);
    CHECK(error_of(S("HTTP/1.1 200"), true) == H1E_HEAD_CUT);
    CHECK(error_of(S("HTTP/1.1 200 OK\r\nA: b\r\n"), true) == H1E_HEAD_CUT);
    CHECK(error_of(S("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc"), true) == H1E_BODY_CUT);
    CHECK(error_of(S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"), true) ==
          H1E_BODY_CUT);
    /* duplicates that agree are fine, as in curl */
    CHECK(error_of(S("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx"),
                   false) == H1E_NONE);
}

TEST(limits)
{
    size_t n = H1_LINE_MAX + 100;
    char *big = malloc(n + 64);
    CHECK(big != NULL);
    int k = snprintf(big, 64, "HTTP/1.1 200 OK\r\nX-Big: ");
    memset(big + k, 'a', n - (size_t)k);
    h1feed_out o;
    h1feed_run(&o, big, n, false, 0, 0, false); /* no LF yet: refused without waiting for it */
    CHECK(o.error == H1E_TOO_LARGE);
    h1feed_free(&o);
    h1feed_run(&o, big, n, false, 7, 0, false);
    CHECK(o.error == H1E_TOO_LARGE);
    h1feed_free(&o);
    free(big);
    /* many lines under the line limit, over the head limit */
    size_t lines = H1_HEAD_MAX / 1000 + 2, len = 0;
    char *head = malloc(lines * 1000 + 64);
    CHECK(head != NULL);
    len += (size_t)sprintf(head, "HTTP/1.1 200 OK\r\n");
    for (size_t i = 0; i < lines; i++) {
        memcpy(head + len, "X-H: ", 5);
        memset(head + len + 5, 'b', 993);
        memcpy(head + len + 998, "\r\n", 2);
        len += 1000;
    }
    h1feed_run(&o, head, len, false, 0, 0, false);
    CHECK(o.error == H1E_TOO_LARGE);
    h1feed_free(&o);
    free(head);
}

TEST(byte_by_byte_long_line_is_linear)
{
    /* 90 KiB header line fed one byte at a time: the parser remembers how
     * far it searched (quadratic would take minutes). */
    size_t n = 90 * 1024;
    char *r = malloc(n + 128);
    CHECK(r != NULL);
    int k = snprintf(r, 64, "HTTP/1.1 200 OK\r\nX-Long: ");
    memset(r + k, 'c', n);
    size_t len = (size_t)k + n;
    len += (size_t)sprintf(r + len, "\r\nContent-Length: 0\r\n\r\n");
    h1feed_out o;
    h1feed_run(&o, r, len, false, 1, 0, false);
    CHECK(o.done && !o.error);
    h1feed_free(&o);
    free(r);
}

int main(void)
{
    RUN(content_length);
    RUN(chunked_with_extensions_and_trailers);
    RUN(bare_lf_line_endings);
    RUN(read_until_close);
    RUN(no_body_for_head_204_304);
    RUN(interim_1xx_then_final);
    RUN(keep_alive_rules);
    RUN(errors);
    RUN(limits);
    RUN(byte_by_byte_long_line_is_linear);
    UNIT_DONE();
}
