/* Unit tests: base/h1framing, the answer framing rules both shadow clients
 * keep (the lean client's parser, the exchange's check of curl's answers). */
#include "base/h1framing.h"
#include <strings.h>

#include "unit.h"

#define NOT_A_NUMBER "the answer has a Content-Length that is not a number"
#define TOO_LARGE "the answer has a Content-Length too large (over 2^63 - 1)"
#define DISAGREE "the answer has Content-Length fields that disagree"
#define BOTH "the answer has both Content-Length and Transfer-Encoding"

/* A head's fields, "Name: value" each (the value already without its
 * surrounding whitespace, as both callers give it), at most 4. */
typedef struct {
    const char *fields[4];
    const char *why;     /* expected, NULL = fine */
    uint64_t length;     /* expected when fine and has_length */
    bool has_length;
} framing_case;

static const framing_case CASES[] = {
    /* valid */
    {{"Content-Length: 0"}, NULL, 0, true},
    {{"Content-Length: 42"}, NULL, 42, true},
    {{"Content-Length: 007"}, NULL, 7, true},
    {{"Content-Length: 9223372036854775807"}, NULL, 9223372036854775807u, true},
    {{"content-length: 5", "X-Other: abc"}, NULL, 5, true},
    {{"Transfer-Encoding: chunked"}, NULL, 0, false},
    {{"X-Content-Length: abc", "Content-Lengthy: x"}, NULL, 0, false},
    {{0}, NULL, 0, false},
    /* not a number */
    {{"Content-Length: "}, NOT_A_NUMBER, 0, false},
    {{"Content-Length: -1"}, NOT_A_NUMBER, 0, false},
    {{"Content-Length: +5"}, NOT_A_NUMBER, 0, false},
    {{"Content-Length: 1 2"}, NOT_A_NUMBER, 0, false},
    {{"Content-Length: 12abc"}, NOT_A_NUMBER, 0, false},
    {{"Content-Length: 0x10"}, NOT_A_NUMBER, 0, false},
    {{"Content-Length: 5, 5"}, NOT_A_NUMBER, 0, false},
    {{"Content-Length: 5,5"}, NOT_A_NUMBER, 0, false},
    /* overflow */
    {{"Content-Length: 9223372036854775808"}, TOO_LARGE, 0, false},
    {{"Content-Length: 18446744073709551616"}, TOO_LARGE, 0, false},
    {{"Content-Length: 99999999999999999999999999"}, TOO_LARGE, 0, false},
    /* duplicates: equal values agree (as numbers), differing ones do not */
    {{"Content-Length: 5", "Content-Length: 5"}, NULL, 5, true},
    {{"Content-Length: 5", "Content-Length: 05"}, NULL, 5, true},
    {{"Content-Length: 5", "Content-Length: 6"}, DISAGREE, 0, false},
    {{"Content-Length: 5", "Content-Length: 5", "Content-Length: 50"}, DISAGREE, 0, false},
    /* the first fault is the one said */
    {{"Content-Length: 5", "Content-Length: x", "Content-Length: 6"}, NOT_A_NUMBER, 0, false},
    {{"Content-Length: 5", "Content-Length: 6", "Content-Length: x"}, DISAGREE, 0, false},
    /* beside Transfer-Encoding, in either order; a length fault comes first */
    {{"Content-Length: 5", "Transfer-Encoding: chunked"}, BOTH, 0, false},
    {{"TRANSFER-ENCODING: gzip", "Content-Length: 5"}, BOTH, 0, false},
    {{"Transfer-Encoding: chunked", "Content-Length: 12abc"}, NOT_A_NUMBER, 0, false},
};

static const char *check_case(const framing_case *c)
{
    h1framing f;
    h1framing_init(&f);
    for (size_t i = 0; i < 4 && c->fields[i]; i++) {
        const char *colon = strchr(c->fields[i], ':');
        CHECK(colon != NULL);
        const char *v = colon + 1;
        while (*v == ' ')
            v++;
        h1framing_field_kind kind =
            h1framing_field(&f, c->fields[i], (size_t)(colon - c->fields[i]), v, strlen(v));
        bool cl = strncasecmp(c->fields[i], "Content-Length:", 15) == 0;
        bool te = strncasecmp(c->fields[i], "Transfer-Encoding:", 18) == 0;
        CHECK(kind == (cl ? H1F_CONTENT_LENGTH : te ? H1F_TRANSFER_ENCODING : H1F_OTHER));
    }
    const char *why = h1framing_why(&f);
    if (!c->why && !why) {
        CHECK(f.has_length == c->has_length);
        CHECK(!f.has_length || f.length == c->length);
    }
    return why;
}

TEST(table)
{
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        const char *why = check_case(&CASES[i]);
        if (CASES[i].why ? !why || strcmp(why, CASES[i].why) != 0 : why != NULL) {
            fprintf(stderr, "  case %zu (%s): got \"%s\", want \"%s\"\n", i, CASES[i].fields[0],
                    why ? why : "(fine)", CASES[i].why ? CASES[i].why : "(fine)");
            unit_failed_checks++;
        }
    }
}

/* The value is read by its length, not up to a NUL: "5\0abc" (a NUL an
 * upstream sent inside the field) is not 5. */
TEST(length_not_nul_terminated)
{
    h1framing f;
    h1framing_init(&f);
    CHECK(h1framing_field(&f, "Content-Length", 14, "5\0abc", 5) == H1F_CONTENT_LENGTH);
    CHECK_STR(h1framing_why(&f), NOT_A_NUMBER);
    h1framing_init(&f);
    CHECK(h1framing_field(&f, "Content-Length: 12", 14, "12", 1) == H1F_CONTENT_LENGTH);
    CHECK(h1framing_why(&f) == NULL && f.has_length && f.length == 1);
}

/* A fresh h1framing (an interim 1xx head, then the final one) forgets. */
TEST(init_starts_over)
{
    h1framing f;
    h1framing_init(&f);
    h1framing_field(&f, "Content-Length", 14, "x", 1);
    h1framing_field(&f, "Transfer-Encoding", 17, "chunked", 7);
    CHECK(h1framing_why(&f) != NULL);
    h1framing_init(&f);
    CHECK(h1framing_why(&f) == NULL && !f.has_length && !f.has_te);
}

int main(void)
{
    RUN(table);
    RUN(length_not_nul_terminated);
    RUN(init_starts_over);
    UNIT_DONE();
}
