#include "base/h1framing.h"

#include <strings.h>

static void content_length(h1framing *f, const char *v, size_t n)
{
    if (f->bad)
        return; /* the first fault is the one said */
    if (n == 0) {
        f->bad = "the answer has a Content-Length that is not a number";
        return;
    }
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9') {
            f->bad = "the answer has a Content-Length that is not a number";
            return;
        }
        uint64_t d = (uint64_t)(v[i] - '0');
        if (x > ((uint64_t)INT64_MAX - d) / 10) {
            f->bad = "the answer has a Content-Length too large (over 2^63 - 1)";
            return;
        }
        x = x * 10 + d;
    }
    if (f->has_length && x != f->length) {
        f->bad = "the answer has Content-Length fields that disagree";
        return;
    }
    f->has_length = true;
    f->length = x;
}

h1framing_field_kind h1framing_field(h1framing *f, const char *name, size_t name_len,
                                     const char *value, size_t value_len)
{
    if (name_len == 14 && strncasecmp(name, "Content-Length", 14) == 0) {
        content_length(f, value, value_len);
        return H1F_CONTENT_LENGTH;
    }
    if (name_len == 17 && strncasecmp(name, "Transfer-Encoding", 17) == 0) {
        f->has_te = true;
        return H1F_TRANSFER_ENCODING;
    }
    return H1F_OTHER;
}

const char *h1framing_why(const h1framing *f)
{
    if (f->bad)
        return f->bad;
    if (f->has_length && f->has_te)
        return "the answer has both Content-Length and Transfer-Encoding";
    return NULL;
}
