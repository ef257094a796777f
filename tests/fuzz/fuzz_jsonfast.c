/* fuzz_jsonfast: differential. diff/jsonfast.c promises the value
 * json_loadb(JSON_DECODE_ANY | JSON_ALLOW_NUL) gives for every input: both
 * load the input, and either both fail or both succeed with the same
 * serialization (types, member order, the bytes of strings, numbers). Any
 * disagreement aborts, so a fast path that accepts what jansson refuses,
 * or reads a value differently, is found here, not in a comparison. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "diff/jsonfast.h"

#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static char *dump(const json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t fast_err, ref_err;
    json_t *fast = jsonfast_load((const char *)data, size, &fast_err);
    json_t *ref = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &ref_err);
    if (!fast != !ref)
        abort(); /* one accepted what the other refused */
    if (fast) {
        char *a = dump(fast), *b = dump(ref);
        if (!a || !b || strcmp(a, b) != 0 || json_typeof(fast) != json_typeof(ref))
            abort(); /* the same document read as another value */
        free(a);
        free(b);
    } else if (strcmp(fast_err.text, ref_err.text) != 0 || fast_err.position != ref_err.position) {
        abort(); /* errors are jansson's, text and place */
    }
    json_decref(fast);
    json_decref(ref);
    return 0;
}
