/* fuzz_h1parse: base/h1parse, the lean shadow client's response parser,
 * fed what a hostile upstream may send.
 *
 * Input: the first byte's low bits choose a HEAD request (bit 0) and
 * whether the connection closes after the last byte (bit 1); the rest is
 * the upstream's bytes.
 *
 * Invariants: the parse is the same whole, byte by byte and in random
 * pieces with body pauses (tests/unit/h1feed.h): the same status, error,
 * completion and body, and the same head when it succeeds; the body
 * delivered is never longer than the input; a complete response with a
 * status; a failure has words; nothing leaks or reads out of bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/h1parse.h"
#include "../unit/h1feed.h"

#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    bool head = data[0] & 1, eof = data[0] & 2;
    const char *in = (const char *)data + 1;
    size_t len = size - 1;
    h1feed_out first;
    h1feed_run(&first, in, len, head, 0, 0, eof);
    FZ_ASSERT(first.body_len <= len && first.head_len <= len);
    FZ_ASSERT(!first.done || (first.status >= 100 && first.status <= 999 && !first.error));
    for (uint64_t seed = 1; seed < 4; seed++) {
        h1feed_out o;
        h1feed_run(&o, in, len, head, seed, seed == 1 ? 0 : 2 + (unsigned)seed, eof);
        FZ_ASSERT(o.error == first.error && o.done == first.done);
        FZ_ASSERT(o.status == first.status && o.keep_alive == first.keep_alive);
        FZ_ASSERT(o.body_len == first.body_len);
        FZ_ASSERT(o.body_len == 0 || memcmp(o.body, first.body, o.body_len) == 0);
        if (!first.error) {
            FZ_ASSERT(o.head_len == first.head_len);
            FZ_ASSERT(o.head_len == 0 || memcmp(o.head, first.head, o.head_len) == 0);
        }
        h1feed_free(&o);
    }
    h1feed_free(&first);
    return 0;
}
