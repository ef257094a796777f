/* strbuf: a growable, always NUL-terminated text buffer for building
 * strings in pure code (XML text runs, rebuilt form bodies). Out of memory
 * is sticky: appends become no-ops and `oom` is set, so callers check once
 * at the end. The owner frees `p`. */
#ifndef SP_STRBUF_H
#define SP_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct strbuf {
    char *p;
    size_t len, cap;
    bool oom;
} strbuf;

void strbuf_add(strbuf *b, const void *s, size_t n);

#endif
