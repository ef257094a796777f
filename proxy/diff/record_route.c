/* record_route: a record built with the route's redaction on top of the
 * config's (diff/record.h). Shared by the analyzer (data/analyze_job.c) and
 * the compare fuzzer, so both redact alike. */
#include "diff/record.h"

#include <stdlib.h>

#include "conf/rules.h"

/* a[0..na) then b[0..nb), borrowed strings in a new array (free it);
 * NULL on ENOMEM. */
static const char **names_cat(const char *const *a, size_t na,
                              char *const *b, size_t nb)
{
    const char **v = malloc((na + nb ? na + nb : 1) * sizeof *v);
    for (size_t i = 0; v && i < na; i++)
        v[i] = a[i];
    for (size_t i = 0; v && i < nb; i++)
        v[na + i] = b[i];
    return v;
}

/* The route's redaction on top of the config's: extra field names, JSON
 * Pointer patterns and family exemptions. */
json_t *record_build_for_route(const record_opts *base, const record_input *in, const route *rt)
{
    if (!rt || (!rt->nredact_fields && !rt->nredact_paths && !rt->nredact_exempt))
        return record_build(in, base);
    record_opts o = *base;
    const char **fields = names_cat(o.redact_fields, o.nredact_fields,
                                    rt->redact_fields, rt->nredact_fields);
    const char **exempt = names_cat(o.secrets.exempt, o.secrets.nexempt,
                                    rt->redact_exempt, rt->nredact_exempt);
    json_t *rec = NULL; /* never a record without its redaction */
    if (fields && exempt) {
        o.redact_fields = fields;
        o.nredact_fields += rt->nredact_fields;
        o.secrets.exempt = exempt;
        o.secrets.nexempt += rt->nredact_exempt;
        o.redact_paths = rt->redact_paths;
        o.nredact_paths = rt->nredact_paths;
        rec = record_build(in, &o);
    }
    free(fields);
    free(exempt);
    return rec;
}
