/* fuzz_config: the config file loader (config_load_buffer over the
 * defaults: every key's type, range, enum, list, URL, listen address,
 * size with units, TLS file checks; errors with file positions), then
 * config_validate and the effective config printed as JSON
 * (`shadowproxy check --print`).
 *
 * Input: a config file (docs/config.md).
 * Invariants: 0 means no error was added, -EINVAL at least one; every
 * error has a message; the printed config is JSON that loads back without
 * errors when the input loaded and validated cleanly. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "conf/config.h"

#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static void check_errors(const config_errors *e)
{
    for (size_t i = 0; i < e->n; i++) {
        FZ_ASSERT(e->v[i].message && e->v[i].message[0]);
        FZ_ASSERT(e->v[i].line >= 0 && e->v[i].column >= 0);
    }
}

/* The printed config, loaded again over the defaults. */
static void check_round_trip(const sp_config *c)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    FZ_ASSERT(f != NULL);
    config_print_json(f, c);
    FZ_ASSERT(fclose(f) == 0);
    sp_config again;
    config_errors errs = {0};
    FZ_ASSERT(config_defaults(&again) == 0);
    int rc = config_load_buffer(&again, text, len, &errs);
    if (rc != 0 || errs.n) {
        fprintf(stderr, "printed config does not load back:\n%s\n", text);
        config_errors_print(stderr, "printed", &errs);
    }
    FZ_ASSERT(rc == 0 && errs.n == 0);
    config_errors_free(&errs);
    config_free(&again);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size ? size : 1); /* exact size: no NUL after it */
    if (!text)
        return 0;
    memcpy(text, data, size);
    sp_config c;
    config_errors errs = {0};
    FZ_ASSERT(config_defaults(&c) == 0);
    int rc = config_load_buffer(&c, text, size, &errs);
    FZ_ASSERT(rc == 0 || rc == -EINVAL);
    FZ_ASSERT((rc == 0) == (errs.n == 0));
    check_errors(&errs);
    size_t before = errs.n;
    int vrc = config_validate(&c, &errs);
    FZ_ASSERT(vrc == 0 || vrc == -EINVAL);
    FZ_ASSERT((vrc == 0) == (errs.n == before));
    check_errors(&errs);
    config_errors_sort(&errs, 0);
    config_errors_print(fz_sink(), "fuzz.json", &errs);
    config_print_json(fz_sink(), &c);
    if (rc == 0 && vrc == 0)
        check_round_trip(&c);
    config_errors_free(&errs);
    config_free(&c);
    free(text);
    return 0;
}
