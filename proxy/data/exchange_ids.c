/* exchange_ids: correlated ids in an exchange (data/ids.h, docs/rules.md
 * "Correlated ids"): the shadow's copy of a request carries the other
 * side's id, an id the ledger does not know keeps the request from the
 * shadow (verdict id_unknown), and both answers teach new pairs. The
 * authoritative request is never touched. Part of the exchange module. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "data/exchange.h"

void exchange_ids_free(exchange *ex)
{
    if (!ex->ids)
        return;
    ids_rewrite_free(&ex->ids->w);
    free(ex->ids->shadow_target);
    free(ex->ids->headers);
    free(ex->ids->why);
    free(ex->ids);
    ex->ids = NULL;
}

int exchange_ids_prepare(exchange *ex, sp_side shadow)
{
    char why[400];
    ex_ids *ids = ex->ids = calloc(1, sizeof *ex->ids);
    if (!ids)
        return -ENOMEM;
    int rc = ids_rewrite_request(ex->route, shadow, ex->uri, &ex->req_headers, ex->req_body,
                                 &ids->w, why, sizeof why);
    if (rc == 1) {
        ids->why = strdup(why);
        ex->shadow_preset = VERDICT_ID_UNKNOWN;
        ex->shadow_reason = ids->why ? ids->why : "id_unknown";
        return 1;
    }
    if (rc != 0 || !ids->w.target)
        return rc;
    /* The route's own path rewrite applies to the new side's target. */
    const route *rt = ex->route;
    if (shadow == SIDE_NEW && (rt->prefix_from || rt->template_from))
        ids->shadow_target = rules_rewrite_target(rt, ids->w.target);
    else
        ids->shadow_target = strdup(ids->w.target);
    return ids->shadow_target ? 0 : -ENOMEM;
}

struct curl_slist *exchange_ids_headers(exchange *ex, struct curl_slist *list)
{
    const char *name = ex->ids->w.header_name, *value = ex->ids->w.header_value;
    if (!name)
        return list;
    size_t nl = strlen(name), n = 0, bytes = 0;
    for (struct curl_slist *p = list; p; p = p->next) {
        n++;
        bool hit = strncasecmp(p->data, name, nl) == 0 && p->data[nl] == ':';
        bytes += hit ? nl + 2 + strlen(value) + 1 : strlen(p->data) + 1;
    }
    struct curl_slist *nodes = malloc(n * sizeof *nodes + bytes);
    if (!nodes)
        return NULL;
    char *text = (char *)(nodes + n);
    size_t i = 0;
    for (struct curl_slist *p = list; p; p = p->next, i++) {
        bool hit = strncasecmp(p->data, name, nl) == 0 && p->data[nl] == ':';
        int w = hit ? sprintf(text, "%s: %s", name, value) : sprintf(text, "%s", p->data);
        nodes[i].data = text;
        nodes[i].next = i + 1 < n ? &nodes[i + 1] : NULL;
        text += w + 1;
    }
    free(ex->ids->headers);
    ex->ids->headers = nodes;
    return nodes;
}

int exchange_ids_learn(exchange *ex, analysis_job *job)
{
    const hdr_list *h[2] = {&ex->legs[SIDE_LEGACY].headers, &ex->legs[SIDE_NEW].headers};
    const blob *b[2];
    for (int s = 0; s < 2; s++)
        b[s] = ex->legs[s].oversize ? NULL : ex->legs[s].capture;
    const json_t *used = ex->ids ? ex->ids->w.pairs : NULL;
    json_t *pairs = used ? json_deep_copy(used) : NULL;
    if (used && !pairs)
        return -ENOMEM;
    int rc = ids_learn(ex->route, h, b, &pairs);
    job->id_pairs = pairs;
    return rc;
}
