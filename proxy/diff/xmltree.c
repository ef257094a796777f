/* xmltree: XML → canonical JSON tree, and XML redaction (see xmltree.h).
 *
 *   bytes ──► xmlCtxtReadMemory (own context, safe options) ──► xmlDoc
 *     ├─ xmltree_parse:  element_json, recursively ──► {"Envelope": {...}}
 *     └─ xmltree_redact: walk with the same names and indices, replace
 *                        secrets, xmlSaveTree(root) ──► UTF-8 text
 *
 * Both walks name elements and attributes with the same helpers
 * (local_name, attr_key, the sibling index), so a path that the redaction
 * callback sees is the path the tree has. */
#include "diff/xmltree.h"
#include "base/strbuf.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlsave.h>

/* Deliberately absent: XML_PARSE_NOENT (entity substitution: XXE and the
 * billion laughs), XML_PARSE_DTDLOAD, XML_PARSE_DTDATTR and
 * XML_PARSE_DTDVALID (fetching the external DTD), XML_PARSE_XINCLUDE,
 * XML_PARSE_HUGE (lifts the depth and size caps) and XML_PARSE_NOBLANKS
 * (a heuristic; whitespace is handled below, the same way everywhere).
 * NOCDATA makes CDATA plain text; NOERROR/NOWARNING: nothing is printed,
 * the context keeps the last error. */
#define PARSE_OPTIONS                                                        \
    (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |            \
     XML_PARSE_NOCDATA | XML_PARSE_BIG_LINES | XML_PARSE_COMPACT)

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void init(void)
{
    xmlInitParser();
}

void xmltree_global_init(void)
{
    pthread_once(&init_once, init);
}

/* ---- parsing ------------------------------------------------------------ */

/* Copies libxml2's message as one trimmed line ("...!\nBytes: 0xE9" has a
 * line break in it). */
static void set_error(xmltree_error *err, const char *msg, int line)
{
    if (!err)
        return;
    size_t o = 0;
    bool space = false;
    for (const char *p = msg ? msg : "unknown error"; *p; p++) {
        bool ws = *p == ' ' || *p == '\t' || *p == '\r' || *p == '\n';
        if (ws) {
            space = o > 0;
            continue;
        }
        if (space && o + 1 < sizeof err->message)
            err->message[o++] = ' ';
        space = false;
        if (o + 1 < sizeof err->message)
            err->message[o++] = *p;
    }
    err->message[o] = '\0';
    err->line = line;
}

/* The first fatal error of a parse: libxml2 goes on after it (without
 * building anything) and its "last error" is then often a consequence
 * ("Premature end of data") rather than the cause. */
typedef struct first_error {
    xmltree_error e;
    bool set, oom;
} first_error;

/* The context's own structured-error callback (ctxt->sax->serror, per
 * context, not libxml2's global handlers); data is the context. */
static void on_error(void *data, xmlErrorPtr e)
{
    first_error *f = ((xmlParserCtxtPtr)data)->_private;
    if (!f || !e || e->level != XML_ERR_FATAL)
        return;
    f->oom |= e->code == XML_ERR_NO_MEMORY;
    if (!f->set)
        set_error(&f->e, e->message, e->line);
    f->set = true;
}

/* The document, or NULL with *rc = -EINVAL or -ENOMEM. */
static xmlDocPtr parse(const unsigned char *data, size_t len,
                       xmltree_error *err, int *rc)
{
    xmltree_global_init();
    if (len > INT_MAX) {
        set_error(err, "document too large", 0);
        *rc = -EINVAL;
        return NULL;
    }
    xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
    if (!ctxt || !ctxt->sax) {
        xmlFreeParserCtxt(ctxt);
        *rc = -ENOMEM;
        return NULL;
    }
    first_error first = {.set = false};
    ctxt->_private = &first;
    ctxt->sax->serror = on_error;
    xmlDocPtr doc = xmlCtxtReadMemory(ctxt, (const char *)data, (int)len,
                                      NULL, NULL, PARSE_OPTIONS);
    if (!doc || !xmlDocGetRootElement(doc)) {
        xmlErrorPtr e = xmlCtxtGetLastError(ctxt);
        bool oom = first.oom || (e && e->code == XML_ERR_NO_MEMORY);
        *rc = oom ? -ENOMEM : -EINVAL;
        if (first.set && err)
            *err = first.e;
        else
            set_error(err, e ? e->message : NULL, e ? e->line : 0);
        xmlFreeDoc(doc);
        doc = NULL;
    }
    xmlFreeParserCtxt(ctxt);
    xmlResetLastError(); /* libxml2 keeps a per-thread copy: drop it */
    return doc;
}

/* ---- names -------------------------------------------------------------- */

/* The local name: the name itself when a namespace was resolved; after the
 * colon when the prefix was undeclared (libxml2 then keeps "p:name"). */
static const char *local_name(const xmlChar *name, const xmlNs *ns)
{
    const char *s = (const char *)name;
    const char *c = ns ? NULL : strrchr(s, ':');
    return c && c[1] ? c + 1 : s;
}

static const char *ns_uri(const xmlNs *ns)
{
    return ns && ns->href && ns->href[0] ? (const char *)ns->href : NULL;
}

/* "@local", or "@{uri}local" for a namespaced attribute when another
 * attribute of the element has the same local name: the keys never depend
 * on attribute order or prefixes. malloc'd; NULL on ENOMEM. */
static char *attr_key(const xmlNode *el, const xmlAttr *a)
{
    const char *name = local_name(a->name, a->ns), *uri = ns_uri(a->ns);
    bool clash = false;
    for (const xmlAttr *b = el->properties; uri && b && !clash; b = b->next)
        clash = b != a && strcmp(local_name(b->name, b->ns), name) == 0;
    size_t n = strlen(name) + (clash ? strlen(uri) + 3 : 1) + 1;
    char *k = malloc(n);
    if (k && clash)
        snprintf(k, n, "@{%s}%s", uri, name);
    else if (k)
        snprintf(k, n, "@%s", name);
    return k;
}

static bool has_element_child(const xmlNode *el)
{
    for (const xmlNode *c = el->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE)
            return true;
    return false;
}

/* ---- text --------------------------------------------------------------- */


static bool xml_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Ends the text run that started at `start` (`sep` is where its separating
 * space was added): trims it, or removes it when it is only whitespace. */
static void end_run(strbuf *b, size_t sep, size_t start)
{
    if (b->oom)
        return;
    size_t i = start, j = b->len;
    while (i < j && xml_space(b->p[i]))
        i++;
    while (j > i && xml_space(b->p[j - 1]))
        j--;
    if (i == j) {
        b->len = sep;
    } else {
        memmove(b->p + start, b->p + i, j - i);
        b->len = start + (j - i);
    }
    if (b->p)
        b->p[b->len] = '\0';
}

/* The element's text (xmltree.h): runs of text, CDATA and entity
 * references, split by child elements, each trimmed, joined by a space.
 * Entity references are written as "&name;", never expanded. */
static void element_text(const xmlNode *el, strbuf *b)
{
    size_t sep = b->len, start = b->len;
    bool in_run = false;
    for (const xmlNode *c = el->children;; c = c->next) {
        if (!c || c->type == XML_ELEMENT_NODE) {
            if (in_run)
                end_run(b, sep, start);
            in_run = false;
            if (!c)
                return;
            continue;
        }
        bool text = c->type == XML_TEXT_NODE ||
                    c->type == XML_CDATA_SECTION_NODE;
        if (!text && c->type != XML_ENTITY_REF_NODE)
            continue; /* comments, processing instructions */
        if (!in_run) {
            sep = b->len;
            if (b->len)
                strbuf_add(b, " ", 1);
            start = b->len;
            in_run = true;
        }
        if (text && c->content) {
            strbuf_add(b, (const char *)c->content, strlen((const char *)c->content));
        } else if (!text) {
            strbuf_add(b, "&", 1);
            strbuf_add(b, (const char *)c->name, strlen((const char *)c->name));
            strbuf_add(b, ";", 1);
        }
    }
}

/* An attribute's value as written: entity references stay "&name;". */
static json_t *attr_value(const xmlAttr *a)
{
    strbuf b = {0};
    for (const xmlNode *c = a->children; c; c = c->next) {
        if (c->type == XML_TEXT_NODE && c->content) {
            strbuf_add(&b, (const char *)c->content,
                   strlen((const char *)c->content));
        } else if (c->type == XML_ENTITY_REF_NODE) {
            strbuf_add(&b, "&", 1);
            strbuf_add(&b, (const char *)c->name, strlen((const char *)c->name));
            strbuf_add(&b, ";", 1);
        }
    }
    json_t *v = b.oom ? NULL : json_stringn(b.p ? b.p : "", b.len);
    free(b.p);
    return v;
}

/* ---- XML → JSON --------------------------------------------------------- */

/* Adds a child element's value under its name: the second one with that
 * name turns the member into an array. Steals v. */
static bool add_child(json_t *obj, const char *key, json_t *v)
{
    if (!v)
        return false;
    json_t *cur = json_object_get(obj, key);
    if (!cur)
        return json_object_set_new(obj, key, v) == 0;
    if (json_is_array(cur)) /* element values are never arrays themselves */
        return json_array_append_new(cur, v) == 0;
    json_t *arr = json_array();
    if (!arr || json_array_append(arr, cur) != 0 ||
        json_array_append_new(arr, v) != 0) {
        if (!arr)
            json_decref(v);
        json_decref(arr);
        return false;
    }
    return json_object_set_new(obj, key, arr) == 0;
}

static bool put(json_t *obj, const char *key, json_t *v)
{
    return v && json_object_set_new(obj, key, v) == 0;
}

static bool add_attrs(json_t *obj, const xmlNode *el)
{
    for (const xmlAttr *a = el->properties; a; a = a->next) {
        char *key = attr_key(el, a);
        bool ok = key && put(obj, key, attr_value(a));
        free(key);
        if (!ok)
            return false;
    }
    return true;
}

/* The value of one element (xmltree.h); parent_uri is the parent's
 * namespace URI (NULL: none, or the root). NULL on ENOMEM. Recursion is
 * bounded by libxml2's depth cap (256 without XML_PARSE_HUGE). */
static json_t *element_json(const xmlNode *el, const char *parent_uri)
{
    const char *uri = ns_uri(el->ns);
    bool xmlns = uri && (!parent_uri || strcmp(uri, parent_uri) != 0);
    strbuf text = {0};
    element_text(el, &text);
    if (text.oom) {
        free(text.p);
        return NULL;
    }
    if (!xmlns && !el->properties && !has_element_child(el)) {
        json_t *s = json_stringn(text.p ? text.p : "", text.len);
        free(text.p);
        return s;
    }
    json_t *obj = json_object();
    bool ok = obj != NULL;
    if (ok && xmlns)
        ok = put(obj, "@xmlns", json_string(uri));
    ok = ok && add_attrs(obj, el);
    for (const xmlNode *c = el->children; ok && c; c = c->next)
        if (c->type == XML_ELEMENT_NODE)
            ok = add_child(obj, local_name(c->name, c->ns),
                           element_json(c, uri));
    if (ok && text.len)
        ok = put(obj, "#text", json_stringn(text.p, text.len));
    free(text.p);
    if (!ok) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

int xmltree_parse(const unsigned char *data, size_t len, json_t **out,
                  xmltree_error *err)
{
    int rc = 0;
    *out = NULL;
    if (err)
        memset(err, 0, sizeof *err);
    xmlDocPtr doc = parse(data, len, err, &rc);
    if (!doc)
        return rc;
    xmlNodePtr root = xmlDocGetRootElement(doc);
    json_t *tree = json_object();
    if (!tree || !put(tree, local_name(root->name, root->ns),
                      element_json(root, NULL))) {
        json_decref(tree);
        tree = NULL;
    }
    xmlFreeDoc(doc);
    if (!tree)
        return -ENOMEM;
    *out = tree;
    return 0;
}

/* ---- aligning two trees ------------------------------------------------- */

static int align_object(json_t *a, json_t *b);

/* [v]: a new reference. */
static json_t *wrap_array(json_t *v)
{
    json_t *arr = json_array();
    if (arr && json_array_append(arr, v) != 0) {
        json_decref(arr);
        arr = NULL;
    }
    return arr;
}

/* {"#text": s}, or {} for "": a new reference. */
static json_t *wrap_text(json_t *s)
{
    json_t *o = json_object();
    if (o && json_string_length(s) > 0 &&
        json_object_set(o, "#text", s) != 0) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

/* A slot holds one element value: an object member or an array item. */
typedef struct slot {
    json_t *c;
    const char *key; /* NULL: array index i */
    size_t i;
} slot;

static json_t *slot_get(slot s)
{
    return s.key ? json_object_get(s.c, s.key) : json_array_get(s.c, s.i);
}

static int slot_set(slot s, json_t *v) /* steals v */
{
    if (!v)
        return -ENOMEM;
    int rc = s.key ? json_object_set_new(s.c, s.key, v)
                   : json_array_set_new(s.c, s.i, v);
    return rc == 0 ? 0 : -ENOMEM;
}

/* One element on each side: string vs object becomes object vs object. */
static int align_element(slot sa, slot sb)
{
    json_t *a = slot_get(sa), *b = slot_get(sb);
    int rc = 0;
    if (json_is_string(a) && json_is_object(b))
        rc = slot_set(sa, wrap_text(a));
    else if (json_is_object(a) && json_is_string(b))
        rc = slot_set(sb, wrap_text(b));
    if (rc < 0)
        return rc;
    a = slot_get(sa);
    b = slot_get(sb);
    return json_is_object(a) && json_is_object(b) ? align_object(a, b) : 0;
}

/* The member `key` of a and b: one element vs repeated becomes repeated
 * vs repeated, then item by item. Replacing a member's value does not
 * disturb jansson's iteration over the object. */
static int align_member(json_t *a, json_t *b, const char *key)
{
    slot sa = {a, key, 0}, sb = {b, key, 0};
    json_t *va = slot_get(sa), *vb = slot_get(sb);
    int rc = 0;
    if (json_is_array(va) && !json_is_array(vb))
        rc = slot_set(sb, wrap_array(vb));
    else if (!json_is_array(va) && json_is_array(vb))
        rc = slot_set(sa, wrap_array(va));
    if (rc < 0)
        return rc;
    va = slot_get(sa);
    vb = slot_get(sb);
    if (!json_is_array(va))
        return align_element(sa, sb);
    size_t n = json_array_size(va) < json_array_size(vb)
                   ? json_array_size(va)
                   : json_array_size(vb);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = align_element((slot){va, NULL, i}, (slot){vb, NULL, i});
    return rc;
}

static int align_object(json_t *a, json_t *b)
{
    int rc = 0;
    for (void *it = json_object_iter(a); it && rc == 0;
         it = json_object_iter_next(a, it)) {
        const char *key = json_object_iter_key(it);
        if (key[0] == '@' || key[0] == '#') /* attributes, text */
            continue;
        if (json_object_get(b, key))
            rc = align_member(a, b, key);
    }
    return rc;
}

int xmltree_align(json_t *legacy, json_t *new_)
{
    if (!json_is_object(legacy) || !json_is_object(new_))
        return 0;
    return align_object(legacy, new_);
}

/* ---- redaction ---------------------------------------------------------- */

typedef struct redactor {
    const xmltree_redactor *how;
    const char **segs;
    char **owned; /* per level: what segs[i] points to when it was built */
    size_t n, cap;
    int rc;
} redactor;

/* Pushes a path segment; takes ownership of s (malloc'd) when own. */
static bool r_push(redactor *r, const char *s, char *own)
{
    if (r->n == r->cap) {
        size_t c = r->cap ? r->cap * 2 : 32;
        const char **segs = realloc(r->segs, c * sizeof *segs);
        if (segs)
            r->segs = segs;
        char **owned = segs ? realloc(r->owned, c * sizeof *owned) : NULL;
        if (owned)
            r->owned = owned;
        if (!segs || !owned) {
            free(own);
            r->rc = -ENOMEM;
            return false;
        }
        r->cap = c;
    }
    r->segs[r->n] = s;
    r->owned[r->n++] = own;
    return true;
}

static void r_pop(redactor *r)
{
    free(r->owned[--r->n]);
}

static bool r_ask(redactor *r, const char *name)
{
    return r->how->is_secret(r->how->ctx, name, r->segs, r->n);
}

static bool r_ask_text(redactor *r, const char *name, const xmlChar *text,
                       bool free_text)
{
    return r->how->is_secret_text && text &&
           r->how->is_secret_text(r->how->ctx, name, (const char *)text,
                                  free_text);
}

/* Replaces a text, CDATA or comment node's content. */
static void replace_content(redactor *r, xmlNodePtr node)
{
    xmlNodeSetContent(node, (const xmlChar *)r->how->replacement);
    if (!node->content ||
        xmlStrcmp(node->content, (const xmlChar *)r->how->replacement) != 0)
        r->rc = -ENOMEM; /* fail closed: the caller withholds the body */
}

/* el's text runs, CDATA sections and comments (not its child elements). */
static void redact_texts(redactor *r, xmlNodePtr el, const char *name)
{
    for (xmlNodePtr c = el->children; c && r->rc == 0; c = c->next) {
        bool secret =
            c->type == XML_TEXT_NODE ? r_ask_text(r, name, c->content, false)
            : c->type == XML_CDATA_SECTION_NODE
                ? r_ask_text(r, name, c->content, true)
            : c->type == XML_COMMENT_NODE ? r_ask_text(r, NULL, c->content, true)
                                          : false;
        if (secret)
            replace_content(r, c);
    }
}

/* Frees the node's children and puts the replacement text there. */
static void replace_children(redactor *r, xmlNodePtr node)
{
    xmlNodePtr kids = node->children;
    node->children = node->last = NULL;
    xmlFreeNodeList(kids);
    xmlNodePtr t = xmlNewDocText(node->doc, (const xmlChar *)r->how->replacement);
    if (!t) {
        r->rc = -ENOMEM; /* the secret is gone anyway */
        return;
    }
    t->parent = node;
    node->children = node->last = t;
}

static void redact_whole(redactor *r, xmlNodePtr el)
{
    xmlAttrPtr props = el->properties;
    el->properties = NULL;
    xmlFreePropList(props); /* also drops them from the document's ID table */
    replace_children(r, el);
}

static void redact_attrs(redactor *r, xmlNodePtr el)
{
    for (xmlAttrPtr a = el->properties; a && r->rc == 0; a = a->next) {
        char *key = attr_key(el, a);
        if (!key || !r_push(r, key, key)) {
            r->rc = -ENOMEM;
            return;
        }
        xmlChar *value = r_ask(r, key) ? NULL : xmlNodeGetContent((xmlNodePtr)a);
        if (!value || r_ask_text(r, key, value, false))
            replace_children(r, (xmlNodePtr)a);
        xmlFree(value);
        r_pop(r);
    }
}

static int count_of(json_t *counts, const char *name)
{
    return (int)json_integer_value(json_object_get(counts, name));
}

static void redact_children(redactor *r, xmlNodePtr el);

/* el's own segments are pushed already. */
static void redact_element(redactor *r, xmlNodePtr el, const char *name)
{
    if (r_ask(r, name)) {
        redact_whole(r, el);
        return;
    }
    redact_attrs(r, el);
    if (r->rc == 0)
        redact_texts(r, el, name);
    if (r->rc == 0)
        redact_children(r, el);
}

/* Children are named as add_child names them: "Item" when single,
 * "Item/<index>" when the name repeats among the siblings. */
static void redact_children(redactor *r, xmlNodePtr el)
{
    json_t *total = json_object(), *seen = json_object();
    if (!total || !seen)
        r->rc = -ENOMEM;
    for (xmlNodePtr c = el->children; c && r->rc == 0; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        const char *name = local_name(c->name, c->ns);
        if (json_object_set_new(total, name,
                                json_integer(count_of(total, name) + 1)))
            r->rc = -ENOMEM;
    }
    for (xmlNodePtr c = el->children; c && r->rc == 0; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        const char *name = local_name(c->name, c->ns);
        int k = count_of(seen, name);
        if (json_object_set_new(seen, name, json_integer(k + 1)) != 0 ||
            !r_push(r, name, NULL)) {
            r->rc = -ENOMEM;
            break;
        }
        bool indexed = count_of(total, name) > 1;
        char *idx = indexed ? malloc(16) : NULL;
        if (indexed && idx)
            snprintf(idx, 16, "%d", k);
        if (indexed && (!idx || !r_push(r, idx, idx))) {
            r->rc = -ENOMEM;
            r_pop(r);
            break;
        }
        redact_element(r, c, name);
        if (indexed)
            r_pop(r);
        r_pop(r);
    }
    json_decref(total);
    json_decref(seen);
}

/* The root element as UTF-8 text. */
static int serialize(xmlNodePtr root, char **out, size_t *out_len)
{
    xmlBufferPtr buf = xmlBufferCreate();
    xmlSaveCtxtPtr s = buf ? xmlSaveToBuffer(buf, "UTF-8", 0) : NULL;
    int rc = -ENOMEM;
    if (s) {
        long w = xmlSaveTree(s, root);
        if (xmlSaveClose(s) >= 0 && w >= 0) {
            size_t n = (size_t)xmlBufferLength(buf);
            char *t = malloc(n + 1);
            if (t) {
                memcpy(t, xmlBufferContent(buf), n);
                t[n] = '\0';
                *out = t;
                *out_len = n;
                rc = 0;
            }
        }
    }
    if (buf)
        xmlBufferFree(buf);
    return rc;
}

int xmltree_redact(const unsigned char *data, size_t len,
                   const xmltree_redactor *how, char **out, size_t *out_len)
{
    int rc = 0;
    *out = NULL;
    *out_len = 0;
    xmlDocPtr doc = parse(data, len, NULL, &rc);
    if (!doc)
        return rc;
    xmlNodePtr root = xmlDocGetRootElement(doc);
    const char *name = local_name(root->name, root->ns);
    redactor r = {.how = how};
    if (r_push(&r, name, NULL)) {
        redact_element(&r, root, name);
        r_pop(&r);
    }
    free(r.segs);
    free(r.owned);
    rc = r.rc == 0 ? serialize(root, out, out_len) : r.rc;
    xmlFreeDoc(doc);
    return rc;
}
