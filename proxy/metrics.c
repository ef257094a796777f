#include "metrics.h"

metrics g_metrics;

const char *verdict_name(verdict v)
{
    static const char *const names[] = {
#define X(id, name) name,
        VERDICT_LIST(X)
#undef X
    };
    return v < VERDICT_COUNT ? names[v] : "unknown";
}

const char *metric_name(metric m)
{
    static const char *const names[] = {
#define X(id, help) #id,
        METRIC_LIST(X)
#undef X
    };
    return m < METRIC_COUNT ? names[m] : "unknown";
}
