/* ids: see ids.h. */
#include "data/ids.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/clock.h"
#include "diff/body.h"
#include "obs/metrics.h"

static _Atomic(idledger *) g_ledger;

void ids_set_ledger(idledger *l) { atomic_store(&g_ledger, l); }
idledger *ids_ledger(void) { return atomic_load(&g_ledger); }

/* Other threads (the analyzer's) already run when it is set: the hook is published
 * through one atomic pointer (set while no exchange is in flight). */
typedef struct learned_hook {
    ids_learned_fn fn;
    void *arg;
} learned_hook;
static learned_hook g_hook_slot;
static _Atomic(const learned_hook *) g_hook;

void ids_set_on_learned(ids_learned_fn fn, void *arg)
{
    if (!fn) {
        atomic_store(&g_hook, NULL);
        return;
    }
    g_hook_slot = (learned_hook){fn, arg};
    atomic_store(&g_hook, &g_hook_slot);
}

void ids_rewrite_free(ids_rewrite *w)
{
    free(w->target);
    blob_unref(w->body);
    free(w->header_name);
    free(w->header_value);
    json_decref(w->pairs);
    memset(w, 0, sizeof *w);
}

void ids_publish_stats(void)
{
    idledger *l = ids_ledger();
    if (!l)
        return;
    idledger_stats st = idledger_stats_of(l);
    atomic_store_explicit(&g_metrics.v[METRIC_ids_ledger_size], st.size, memory_order_relaxed);
    atomic_store_explicit(&g_metrics.v[METRIC_ids_evicted], st.evicted + st.expired,
                          memory_order_relaxed);
}

/* ---- JSON Pointer (RFC 6901) ------------------------------------------------ */

/* The value at ptr in root, or NULL. */
static json_t *pointer_get(json_t *root, const char *ptr)
{
    json_t *v = root;
    const char *p = ptr;
    char seg[1024];
    while (v && *p == '/') {
        size_t n = 0;
        for (p++; *p && *p != '/'; p++) {
            char c = *p;
            if (c == '~') {
                c = p[1] == '1' ? '/' : '~';
                p++;
            }
            if (n + 1 >= sizeof seg)
                return NULL;
            seg[n++] = c;
        }
        seg[n] = '\0';
        if (json_is_object(v)) {
            v = json_object_get(v, seg);
        } else if (json_is_array(v)) {
            char *end;
            unsigned long i = strtoul(seg, &end, 10);
            v = n && *end == '\0' && (seg[0] != '0' || n == 1) ? json_array_get(v, i) : NULL;
        } else {
            v = NULL;
        }
    }
    return *p ? NULL : v;
}

/* An id as text: a non-empty string, or an integer. */
static bool id_text(const json_t *v, char *buf, size_t size)
{
    if (json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) < size &&
        !memchr(json_string_value(v), '\0', json_string_length(v))) {
        memcpy(buf, json_string_value(v), json_string_length(v) + 1);
        return true;
    }
    if (json_is_integer(v)) {
        snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return true;
    }
    return false;
}

/* ---- learning ---------------------------------------------------------------- */

/* The path of a Location header's value: an absolute URL's host dropped. */
static const char *location_path(const char *loc)
{
    const char *s = strstr(loc, "://");
    if (!s || strchr(loc, '/') < s)
        return loc;
    s = strchr(s + 3, '/');
    return s ? s : "/";
}

static bool learn_location(const char *tmpl, const hdr_list *h, char *id, size_t size)
{
    const char *loc = hdr_list_get(h, "Location");
    size_t start, len;
    if (!loc || !rules_ids_template_match(tmpl, location_path(loc), &start, &len) ||
        len >= size)
        return false;
    memcpy(id, location_path(loc) + start, len);
    id[len] = '\0';
    return true;
}

static int add_pair(json_t **pairs, const char *name, const char *legacy, const char *neu)
{
    if (!*pairs && !(*pairs = json_array()))
        return -ENOMEM;
    return json_array_append_new(*pairs, json_pack("[s, s, s]", name, legacy, neu)) == 0
               ? 0
               : -ENOMEM;
}

static void view_of(body_view *v, const hdr_list *h, const blob *b)
{
    if (body_prepare(v, b ? b->data : NULL, b ? b->len : 0, true, b ? b->len : 0, NULL,
                     hdr_list_get(h, "Content-Type"), hdr_list_get(h, "Content-Encoding"),
                     0) != 0)
        memset(v, 0, sizeof *v);
}

int ids_learn(const route *rt, const hdr_list *headers[2], const blob *bodies[2],
              json_t **pairs)
{
    const json_t *learn = rt && rt->ids ? json_object_get(rt->ids, "learn") : NULL;
    idledger *l = ids_ledger();
    if (!json_array_size(learn) || !l)
        return 0;
    body_view views[2] = {{0}, {0}};
    bool parsed = false;
    int rc = 0;
    size_t i;
    const json_t *e;
    json_array_foreach(learn, i, e) {
        const char *name = json_string_value(json_object_get(e, "name"));
        const char *tmpl = json_string_value(json_object_get(e, "location"));
        char id[2][IDLEDGER_ID_MAX + 1];
        bool ok = true;
        for (int s = 0; s < 2 && ok; s++) {
            if (tmpl) {
                ok = learn_location(tmpl, headers[s], id[s], sizeof id[s]);
                continue;
            }
            if (!parsed) {
                for (int k = 0; k < 2; k++)
                    view_of(&views[k], headers[k], bodies[k]);
                parsed = true;
            }
            const char *ptr = json_string_value(json_object_get(e, s ? "new" : "legacy"));
            ok = views[s].json && ptr && id_text(pointer_get(views[s].json, ptr), id[s],
                                                 sizeof id[s]);
        }
        if (!ok || !name)
            continue;
        int64_t now = clock_wall_ms();
        int prc = idledger_put(l, name, id[SIDE_LEGACY], id[SIDE_NEW], now);
        const learned_hook *hook = atomic_load(&g_hook);
        if (prc == 0 && hook)
            hook->fn(name, id[SIDE_LEGACY], id[SIDE_NEW], now, hook->arg);
        if (prc == -ENOMEM || (prc == 0 && add_pair(pairs, name, id[SIDE_LEGACY],
                                                    id[SIDE_NEW]) != 0)) {
            rc = -ENOMEM;
            break;
        }
        if (prc == 0)
            metric_add(METRIC_ids_learned, 1);
    }
    body_view_free(&views[0]);
    body_view_free(&views[1]);
    ids_publish_stats();
    return rc;
}

/* ---- using --------------------------------------------------------------------- */

/* The other side's id of `id` (the client's side's) for a shadow on side
 * `shadow`, counted as a hit or a miss; NULL when unknown. */
static char *other_id(idledger *l, sp_side shadow, const char *name, const char *id)
{
    int64_t now = clock_wall_ms();
    char *o = !l ? NULL
              : shadow == SIDE_NEW ? idledger_new_side_of(l, name, id, now)
                                   : idledger_legacy_side_of(l, name, id, now);
    metric_add(o ? METRIC_ids_hits : METRIC_ids_misses, 1);
    return o;
}

/* Where query parameter `name` has its value in target: [*start, +*len). */
static bool query_value(const char *target, const char *name, size_t *start, size_t *len)
{
    const char *q = strchr(target, '?');
    size_t nl = strlen(name);
    for (const char *p = q; p && *p; ) {
        p++; /* past '?' or '&' */
        size_t pl = strcspn(p, "&#");
        if (pl > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
            *start = (size_t)(p + nl + 1 - target);
            *len = pl - nl - 1;
            return *len > 0;
        }
        p += pl;
        if (*p != '&')
            break;
    }
    return false;
}

typedef struct use_ctx {
    const route *rt;
    sp_side shadow;
    idledger *l;
    const hdr_list *h;
    const blob *body;
    json_t *body_json; /* parsed once, when a "body" rule needs it */
    bool body_changed;
    ids_rewrite *out;
    char *why;
    size_t whysize;
} use_ctx;

/* Maps `id` found at `place` (for the reason); 1 when unknown. */
static int map_id(use_ctx *c, const char *name, const char *id, const char *place, char **other)
{
    *other = other_id(c->l, c->shadow, name, id);
    if (*other) {
        const char *leg = c->shadow == SIDE_NEW ? id : *other, *neu = c->shadow == SIDE_NEW ? *other : id;
        return add_pair(&c->out->pairs, name, leg, neu);
    }
    snprintf(c->why, c->whysize, "id_unknown: the ledger has no %s %s id for %s \"%s\" (%s)",
             config_side_name(c->shadow), name, config_side_name((sp_side)!c->shadow), id, place);
    return 1;
}

/* Replaces [start, +len) of the current target by the other side's id. */
static int use_in_target(use_ctx *c, const char *name, size_t start, size_t len, const char *place)
{
    const char *t = c->out->target;
    char id[IDLEDGER_ID_MAX + 1], *other = NULL;
    if (len > IDLEDGER_ID_MAX)
        len = IDLEDGER_ID_MAX; /* the ledger refuses it: a miss */
    memcpy(id, t + start, len);
    id[len] = '\0';
    int rc = map_id(c, name, id, place, &other);
    if (rc == 0) {
        char *n = rules_ids_splice(t, start, len, other);
        if (!n)
            rc = -ENOMEM;
        else {
            free(c->out->target);
            c->out->target = n;
        }
    }
    free(other);
    return rc;
}

static int use_one(use_ctx *c, const json_t *e)
{
    const char *name = json_string_value(json_object_get(e, "name"));
    const char *v;
    size_t start, len;
    char place[320], *other = NULL;
    int rc = 0;
    if ((v = json_string_value(json_object_get(e, "path_template")))) {
        if (!rules_ids_template_match(v, c->out->target, &start, &len))
            return 0;
        snprintf(place, sizeof place, "path %s", v);
        return use_in_target(c, name, start, len, place);
    }
    if ((v = json_string_value(json_object_get(e, "query")))) {
        if (!query_value(c->out->target, v, &start, &len))
            return 0;
        snprintf(place, sizeof place, "query parameter %s", v);
        return use_in_target(c, name, start, len, place);
    }
    if ((v = json_string_value(json_object_get(e, "header")))) {
        const char *hv = c->h ? hdr_list_get(c->h, v) : NULL;
        if (!hv || !*hv || c->out->header_name) /* one header per request */
            return 0;
        snprintf(place, sizeof place, "header %s", v);
        if ((rc = map_id(c, name, hv, place, &other)) == 0 &&
            (!(c->out->header_name = strdup(v)) || !(c->out->header_value = strdup(other))))
            rc = -ENOMEM;
        free(other);
        return rc;
    }
    if ((v = json_string_value(json_object_get(e, "body")))) {
        if (!c->body_json && c->body)
            c->body_json = json_loadb((const char *)c->body->data, c->body->len,
                                      JSON_REJECT_DUPLICATES, NULL);
        json_t *node = c->body_json ? pointer_get(c->body_json, v) : NULL;
        char id[IDLEDGER_ID_MAX + 1];
        if (!node || !id_text(node, id, sizeof id))
            return 0;
        snprintf(place, sizeof place, "body %s", v);
        if ((rc = map_id(c, name, id, place, &other)) == 0) {
            rc = json_is_string(node) ? json_string_set(node, other)
                                      : json_integer_set(node, strtoll(other, NULL, 10));
            rc = rc == 0 ? 0 : -ENOMEM;
            c->body_changed = true;
        }
        free(other);
        return rc;
    }
    return 0;
}

int ids_rewrite_request(const route *rt, sp_side shadow, const char *uri, const hdr_list *h,
                        const blob *body, ids_rewrite *out, char *why, size_t whysize)
{
    memset(out, 0, sizeof *out);
    const json_t *use = rt && rt->ids ? json_object_get(rt->ids, "use") : NULL;
    if (!json_array_size(use))
        return 0;
    use_ctx c = {.rt = rt, .shadow = shadow, .l = ids_ledger(), .h = h, .body = body,
                 .out = out, .why = why, .whysize = whysize};
    if (!(out->target = strdup(uri)))
        return -ENOMEM;
    int rc = 0;
    size_t i;
    const json_t *e;
    json_array_foreach(use, i, e) {
        if ((rc = use_one(&c, e)) != 0)
            break;
    }
    if (rc == 0 && c.body_changed) {
        /* The shadow's copy only; an integer id stays an integer when the
         * other side's id is one too (json_integer_set above). */
        char *text = json_dumps(c.body_json, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (!text || blob_append(&out->body, text, strlen(text)) != 0)
            rc = -ENOMEM;
        free(text);
    }
    json_decref(c.body_json);
    if (rc == 0 && strcmp(out->target, uri) == 0) {
        free(out->target);
        out->target = NULL;
    }
    if (rc != 0)
        ids_rewrite_free(out);
    ids_publish_stats();
    return rc;
}

/* ---- comparing ------------------------------------------------------------------ */

static const char *legacy_of(const json_t *pairs, const char *s)
{
    size_t i;
    const json_t *p;
    json_array_foreach(pairs, i, p) {
        const char *neu = json_string_value(json_array_get(p, 2));
        if (neu && strcmp(neu, s) == 0)
            return json_string_value(json_array_get(p, 1));
    }
    return NULL;
}

size_t ids_map_back(json_t *tree, const json_t *pairs)
{
    size_t n = 0, i;
    const char *k;
    json_t *v;
    if (json_is_object(tree)) {
        json_object_foreach(tree, k, v) {
            n += ids_map_back(v, pairs);
        }
    } else if (json_is_array(tree)) {
        json_array_foreach(tree, i, v) {
            n += ids_map_back(v, pairs);
        }
    } else if (json_is_string(tree)) {
        const char *legacy = legacy_of(pairs, json_string_value(tree));
        if (legacy && json_string_set(tree, legacy) == 0)
            n++;
    } else if (json_is_integer(tree)) {
        char text[32];
        snprintf(text, sizeof text, "%" JSON_INTEGER_FORMAT, json_integer_value(tree));
        const char *legacy = legacy_of(pairs, text);
        char *end;
        long long lv = legacy ? strtoll(legacy, &end, 10) : 0;
        if (legacy && *legacy && *end == '\0' && json_integer_set(tree, lv) == 0)
            n++;
    }
    return n;
}

char *ids_ledger_path(const sp_config *cfg)
{
    if (cfg->ids_ledger_file)
        return strdup(cfg->ids_ledger_file);
    const char *state = cfg->state_file;
    if (!state)
        return NULL;
    const char *slash = strrchr(state, '/');
    int dir = slash ? (int)(slash - state + 1) : 0;
    size_t n = (size_t)dir + sizeof "shadowproxy-ids.json";
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%.*sshadowproxy-ids.json", dir, state);
    return p;
}
