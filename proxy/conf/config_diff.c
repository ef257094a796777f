/* config_diff: which keys differ between two configs, for a reload: the
 * file as it is now against the file as the process started with it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/config.h"
#include "conf/config_keys.h"

/* Both values as JSON text and compared: one definition of "the value"
 * for every type (lists, listen addresses, enums), config_print_json's. */
static bool key_differs(const sp_config *a, const sp_config *b, const config_key *k)
{
    char *ta = NULL, *tb = NULL;
    size_t na = 0, nb = 0;
    FILE *fa = open_memstream(&ta, &na), *fb = open_memstream(&tb, &nb);
    if (fa) {
        config_put_value(fa, a, k);
        fclose(fa);
    }
    if (fb) {
        config_put_value(fb, b, k);
        fclose(fb);
    }
    /* Out of memory: say it differs, so a change is never hidden. */
    bool differs = !ta || !tb || na != nb || memcmp(ta, tb, na) != 0;
    free(ta);
    free(tb);
    return differs;
}

size_t config_changed_keys(const sp_config *a, const sp_config *b, const char **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < config_nkeys; i++)
        if (key_differs(a, b, &config_keys[i])) {
            if (n < max)
                out[n] = config_keys[i].ptr;
            n++;
        }
    return n;
}

bool config_key_from_flag(const sp_config *c, const char *pointer)
{
    for (size_t i = 0; pointer && i < c->nflag_keys; i++)
        if (strcmp(c->flag_keys[i], pointer) == 0)
            return true;
    return false;
}

size_t config_key_count(void)
{
    return config_nkeys;
}
