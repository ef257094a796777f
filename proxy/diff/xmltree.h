/* xmltree: XML and SOAP bodies (libxml2) as the canonical JSON tree that the
 * one JSON diff engine and its rules work on, and XML redaction for the diff
 * log. Pure: no I/O (the parser is told never to fetch anything), no global
 * handlers; one libxml2 parser context per call, so it is thread-safe once
 * xmltree_global_init has run.
 *
 * The mapping (docs/diff-log.md, "XML bodies"):
 *   document           {"<root local name>": <root element>}
 *   element            its LOCAL name: prefixes never count
 *   element value      a string (its text, "" when empty) when it has no
 *                      attributes, no child elements and no "@xmlns"; else
 *                      an object of the members below
 *   attribute          "@<local name>"; a second attribute with the same
 *                      local name (other namespace) is "@{<uri>}<local>"
 *   namespace URI      "@xmlns": only on an element whose namespace URI is
 *                      not empty and differs from its parent's (the root:
 *                      when it has one); unqualified elements never have it
 *   text               "#text": the element's text runs (text, CDATA and
 *                      entity references next to each other; comments and
 *                      processing instructions dropped), each trimmed of
 *                      XML whitespace, whitespace-only runs dropped, joined
 *                      with one space; omitted when empty
 *   repeated children  children with the same local name become an array in
 *                      document order; a single child is not wrapped
 *                      (xmltree_align wraps it when the other side repeats)
 *   entity reference   kept literally as "&name;": never expanded
 *   numbers, booleans  stay strings: "10.00" is not 10 (use the
 *                      number_strings normalisation rule)
 */
#ifndef SP_XMLTREE_H
#define SP_XMLTREE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Initialises libxml2 (xmlInitParser). Call once from main before any
 * thread starts; later calls do nothing. The functions below also call it
 * (through pthread_once), so a test needs no setup. */
void xmltree_global_init(void);

/* Why a document was refused: libxml2's message (one line, trimmed) and the
 * line it points at (0 when unknown). */
typedef struct xmltree_error {
    char message[160];
    int line;
} xmltree_error;

/* Parses data[0..len) as XML and builds the tree. Safe on hostile input:
 * no DTD loading, no entity substitution (no XXE, no billion laughs), no
 * network, depth capped by libxml2 (256 levels), nothing printed.
 * Returns 0 and a new reference in *out; -EINVAL when the document is not
 * well-formed (err filled if not NULL); -ENOMEM. */
int xmltree_parse(const unsigned char *data, size_t len, json_t **out,
                  xmltree_error *err);

/* Makes two trees built by xmltree_parse comparable member by member, in
 * place: where one side holds an array of repeated elements and the other
 * a single element of that name, the single one is wrapped in a one-element
 * array; where one side's element is a plain string and the other's an
 * object, the string becomes {"#text": s} ({} when ""). So one <Item> vs
 * two is "added /Items/Item/1", not a type change at /Items/Item, and a new
 * attribute is "added /Price/@currency". Returns 0 or -ENOMEM (the trees
 * are then valid but possibly half aligned). */
int xmltree_align(json_t *legacy, json_t *new_);

/* Redaction callback: is this element or attribute a secret? `name` is the
 * local name ("@name" for an attribute); segs[0..nsegs) is its path in the
 * tree xmltree_parse builds (an element that repeats among its siblings
 * ends in its index; an attribute ends in its "@" key). */
typedef bool (*xmltree_secret_fn)(void *ctx, const char *name,
                                  const char *const *segs, size_t nsegs);
/* Redaction callback for text: is this text a secret? `name` is the
 * element's local name ("@name": an attribute's value; NULL: a comment);
 * free_text is true for a comment or a CDATA section (free text, which
 * may hold markup), false for an element's text run or an attribute's
 * value (one value). */
typedef bool (*xmltree_secret_text_fn)(void *ctx, const char *name,
                                       const char *text, bool free_text);

typedef struct xmltree_redactor {
    xmltree_secret_fn is_secret;
    xmltree_secret_text_fn is_secret_text; /* NULL: no text is a secret */
    void *ctx;                             /* passed to both */
    const char *replacement;
} xmltree_redactor;

/* Re-parses data (as xmltree_parse does), replaces the content of every
 * secret element (its children and attributes), the value of every secret
 * attribute, and every secret text run, CDATA section or comment inside
 * the root by r->replacement, and serializes the root element as UTF-8
 * text in *out (malloc'd, NUL-terminated, length in *out_len). Only the
 * root element is written: no XML declaration, no DTD (entity values live
 * there), no comments or processing instructions outside the root.
 * Returns 0, -EINVAL or -ENOMEM. */
int xmltree_redact(const unsigned char *data, size_t len,
                   const xmltree_redactor *r, char **out, size_t *out_len);

#endif
