#include "base/pathpat.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Unescapes one RFC 6901 segment [s, s+n): ~0 -> ~, ~1 -> /. NULL on a bad
 * escape or no memory. */
static char *unescape(const char *s, size_t n)
{
    char *out = malloc(n + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '~') {
            *o++ = s[i];
            continue;
        }
        if (i + 1 < n && (s[i + 1] == '0' || s[i + 1] == '1')) {
            *o++ = s[i + 1] == '0' ? '~' : '/';
            i++;
        } else {
            free(out);
            return NULL;
        }
    }
    *o = '\0';
    return out;
}

void pointer_segs_free(char **segs, int n)
{
    for (int i = 0; i < n; i++)
        free(segs[i]);
    free(segs);
}

int pointer_split(const char *pointer, char ***segs_out)
{
    *segs_out = NULL;
    if (*pointer == '\0')
        return 0;
    if (*pointer != '/')
        return -1;
    int n = 0;
    for (const char *p = pointer; *p; p++)
        n += *p == '/';
    char **segs = calloc((size_t)n, sizeof *segs);
    if (!segs)
        return -1;
    const char *p = pointer + 1;
    for (int i = 0; i < n; i++) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        segs[i] = unescape(p, len);
        if (!segs[i]) {
            pointer_segs_free(segs, i);
            return -1;
        }
        p += len + 1;
    }
    *segs_out = segs;
    return n;
}

int path_pattern_compile(path_pattern *p, const char *text, const char **why)
{
    memset(p, 0, sizeof *p);
    *why = NULL;
    if (*text && *text != '/') {
        *why = "a path must be \"\" or start with '/'";
        return -EINVAL;
    }
    for (const char *s = text; *s; s++)
        if (*s == '~' && s[1] != '0' && s[1] != '1') {
            *why = "'~' must be followed by 0 or 1 (RFC 6901)";
            return -EINVAL;
        }
    p->text = strdup(text);
    int n = p->text ? pointer_split(text, &p->segs) : -1;
    if (n < 0) {
        free(p->text);
        p->text = NULL;
        return -ENOMEM;
    }
    p->nsegs = (size_t)n;
    return 0;
}

void path_pattern_free(path_pattern *p)
{
    pointer_segs_free(p->segs, (int)p->nsegs);
    free(p->text);
    memset(p, 0, sizeof *p);
}

bool path_pattern_is_concrete(const path_pattern *p)
{
    for (size_t i = 0; i < p->nsegs; i++)
        if (strcmp(p->segs[i], "*") == 0 || strcmp(p->segs[i], "**") == 0)
            return false;
    return true;
}

static bool str_seg_is(const void *segs, size_t i, const char *literal)
{
    return strcmp(((const char *const *)segs)[i], literal) == 0;
}

bool path_pattern_match(const path_pattern *p, const char *const *segs, size_t nsegs)
{
    return path_pattern_match_with(p, nsegs, str_seg_is, segs);
}

bool path_pattern_match_str(const path_pattern *p, const char *pointer)
{
    char **segs = NULL;
    int n = pointer_split(pointer, &segs);
    if (n < 0)
        return false;
    bool m = path_pattern_match(p, (const char *const *)segs, (size_t)n);
    pointer_segs_free(segs, n);
    return m;
}
