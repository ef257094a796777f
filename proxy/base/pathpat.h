/* pathpat: JSON Pointer patterns for rules. Segments are RFC 6901 pointer
 * segments, where "*" matches exactly one segment and "**" any number
 * (zero or more): "/items/ * /price" without the spaces, "/ ** /created_at".
 * Segments are stored unescaped (~1 -> '/', ~0 -> '~'). XML bodies are
 * compared as JSON trees, so the same patterns address XML elements
 * ("/Envelope/Body/OrderResponse/Total"). Pure. */
#ifndef SP_PATHPAT_H
#define SP_PATHPAT_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

typedef struct path_pattern {
    char *text;   /* as written, for messages and records */
    char **segs;  /* unescaped; "*" and "**" are the wildcards */
    size_t nsegs;
} path_pattern;

/* Compiles `text` ("" is the root; otherwise it must start with '/').
 * Returns 0, or -EINVAL with *why set to a static message, or -ENOMEM. */
int path_pattern_compile(path_pattern *p, const char *text, const char **why);
void path_pattern_free(path_pattern *p);

/* The one "*"/"**" matcher: does a path of n segments match, where
 * seg_is(ctx, i, literal) says whether segment i is that literal? Glob over
 * segments with backtracking on the last "**" only: linear for the usual
 * one-"**" pattern, never exponential. Inline so that the comparer's
 * segment test (diff/compare_walk.c) is inlined too. */
static inline bool path_pattern_match_with(const path_pattern *p, size_t n,
                                           bool (*seg_is)(const void *ctx, size_t i,
                                                          const char *literal),
                                           const void *ctx)
{
    size_t pi = 0, si = 0, star_pi = (size_t)-1, star_si = 0;
    while (si < n) {
        if (pi < p->nsegs && strcmp(p->segs[pi], "**") == 0) {
            star_pi = pi++;
            star_si = si;
        } else if (pi < p->nsegs &&
                   (strcmp(p->segs[pi], "*") == 0 || seg_is(ctx, si, p->segs[pi]))) {
            pi++;
            si++;
        } else if (star_pi != (size_t)-1) {
            pi = star_pi + 1;
            si = ++star_si;
        } else {
            return false;
        }
    }
    while (pi < p->nsegs && strcmp(p->segs[pi], "**") == 0)
        pi++;
    return pi == p->nsegs;
}

/* Does the concrete pointer, as unescaped segments, match? */
bool path_pattern_match(const path_pattern *p, const char *const *segs, size_t nsegs);
/* Same, from an RFC 6901 pointer string ("" is the root). */
bool path_pattern_match_str(const path_pattern *p, const char *pointer);
/* Is the pattern free of wildcards (a single concrete pointer)? */
bool path_pattern_is_concrete(const path_pattern *p);

/* Splits an RFC 6901 pointer into unescaped segments (malloc'd array of
 * malloc'd strings). Returns the count, or -1 on a malformed pointer or
 * out of memory. */
int pointer_split(const char *pointer, char ***segs_out);
void pointer_segs_free(char **segs, int n);

#endif
