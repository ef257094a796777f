/* jsonread: the one reader of JSON files with positions, used by the
 * config (config_load.c), the rules (rules_*.c) and the operator's state
 * file (ops.c). jansson parses; a problem is reported at the line:column of
 * the offending value or member name, found by jsonpos in the text jansson
 * accepted, and collected in a config_errors (not just the first one).
 * Pure but for allocating error messages; one document per reader, any
 * thread. */
#ifndef SP_JSONREAD_H
#define SP_JSONREAD_H

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "conf/config.h"

/* The document being read. */
typedef struct jr_doc {
    config_errors *errs;
    const char *text; /* the file as read; positions are found in it */
    size_t len;
    size_t reported;  /* errors reported so far (config_errors_vreport caps them) */
    int rc;           /* -ENOMEM once memory ran out */
} jr_doc;

/* Where a value sits: its JSON Pointer (for jsonpos) and its display name
 * ("routes[0].compare.tolerance[1].absolute", for messages). `cut` is set
 * when either did not fit; the error then has no position. The root is
 * all zeros. */
typedef struct jr_loc {
    char ptr[1024];
    char name[512];
    bool cut;
} jr_loc;

/* Opens `text` (NULL reads as empty) for reading into `errs`. A file that
 * is empty (whitespace only) or larger than max_bytes ("file is larger
 * than `limit`") is an error without a position; a syntax error has its
 * token's position. Returns the root (a new reference), or NULL when an
 * error was reported. */
json_t *jr_open(jr_doc *d, config_errors *errs, const char *text, size_t len,
                size_t max_bytes, const char *limit);

/* The member `key` of the object at `parent` (the key is escaped for the
 * pointer; control bytes show as '?' in the name), and element i. */
void jr_child(jr_loc *out, const jr_loc *parent, const char *key);
void jr_elem(jr_loc *out, const jr_loc *parent, size_t i);

/* One error at the value at `at` (or, with key set, at the member's name;
 * at NULL or cut: no position). */
void jr_report(jr_doc *d, const jr_loc *at, bool key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The same with a JSON Pointer (NULL: no position). */
void jr_report_ptr(jr_doc *d, const char *ptr, bool key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

void jr_vreport_ptr(jr_doc *d, const char *ptr, bool key, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

/* Is `key` in the NULL-terminated list? */
bool jr_listed(const char *const *names, const char *key);

/* Where an unknown key probably belongs, when no sibling is close: writes
 * a dotted name to buf and returns true, or false. */
typedef bool (*jr_hint_fn)(const void *ctx, const jr_loc *at, const char *const *names,
                           const char *key, char *buf, size_t size);

/* Reports every member of the object at `at` that is not in `names`:
 * "unknown key NAME (did you mean \"x.y\"?)", suggesting a sibling within
 * edit distance 2, else what hint (may be NULL) says. Names are quoted up
 * to quote_max bytes. */
void jr_unknown_keys(jr_doc *d, json_t *obj, const jr_loc *at, const char *const *names,
                     size_t quote_max, jr_hint_fn hint, const void *hint_ctx);

/* "unknown key Q" or "unknown key Q (did you mean \"NEAR\"?)" at the member
 * name `ptr` (Q already quoted; near NULL: no suggestion). */
void jr_unknown(jr_doc *d, const char *ptr, const char *quoted, const char *near);

#endif
