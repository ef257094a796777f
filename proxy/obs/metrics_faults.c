#include "obs/metrics_faults.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fault_count {
    char route[72], side[16], kind[8];
    uint64_t n;
} fault_count;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static fault_count counts[METRICS_FAULTS_MAX];
static size_t ncounts;

/* Under the lock: the triple's counter, added if new and `add`. */
static fault_count *slot(const char *route, const char *side, const char *kind, bool add)
{
    for (size_t i = 0; i < ncounts; i++)
        if (!strcmp(counts[i].route, route) && !strcmp(counts[i].side, side) &&
            !strcmp(counts[i].kind, kind))
            return &counts[i];
    if (!add || ncounts == METRICS_FAULTS_MAX)
        return NULL;
    fault_count *c = &counts[ncounts++];
    snprintf(c->route, sizeof c->route, "%s", route);
    snprintf(c->side, sizeof c->side, "%s", side);
    snprintf(c->kind, sizeof c->kind, "%s", kind);
    return c;
}

void metrics_fault_injected(const char *route, const char *side, const char *kind)
{
    pthread_mutex_lock(&mu);
    /* the last 12 slots (4 sides, 3 kinds) are kept for route "other" */
    fault_count *c = slot(route, side, kind, ncounts < METRICS_FAULTS_MAX - 12);
    if (!c)
        c = slot("other", side, kind, true);
    if (c)
        c->n++;
    pthread_mutex_unlock(&mu);
}

int metrics_faults_append(char **text, size_t *len)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (!f)
        return -ENOMEM;
    fputs("# HELP shadowproxy_faults_injected_total faults injected (faults.enabled, staging)\n"
          "# TYPE shadowproxy_faults_injected_total counter\n", f);
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < ncounts; i++) /* route names are [A-Za-z0-9._-]: nothing to escape */
        fprintf(f, "shadowproxy_faults_injected_total{route=\"%s\",side=\"%s\",kind=\"%s\"} %" PRIu64
                   "\n", counts[i].route, counts[i].side, counts[i].kind, counts[i].n);
    pthread_mutex_unlock(&mu);
    if (fclose(f) != 0) {
        free(buf);
        return -ENOMEM;
    }
    char *t = realloc(*text, *len + size + 1);
    if (!t) {
        free(buf);
        return -ENOMEM;
    }
    memcpy(t + *len, buf, size + 1);
    *text = t;
    *len += size;
    free(buf);
    return 0;
}
