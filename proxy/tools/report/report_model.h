/* report_model: what `shadowproxy report` knows about a set of diff logs
 * (docs/report.md). Records are fed one at a time and dropped at once: the
 * model keeps counters per route, differing field and minute, one latency
 * sample per exchange and side, and one sample exchange per route. Nothing
 * here does I/O except report_model_read (which reads one log through
 * logread); rendering is in report_text.c, report_json.c, report_html.c. */
#ifndef SP_REPORT_MODEL_H
#define SP_REPORT_MODEL_H

#include "diff/logread.h"
#include "tools/report/report_noise.h"
#include "tools/report/report_util.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Caps that keep memory bounded on hostile logs (overflow is counted). */
#define REPORT_MAX_ROUTES 1000
#define REPORT_MAX_FIELDS_PER_ROUTE 2000
#define REPORT_MAX_FIELDS_TOTAL 50000
#define REPORT_MAX_GROUPS 1000
#define REPORT_SAMPLE_IDS 3
#define REPORT_EXAMPLE_MAX 512        /* bytes of an example value's JSON */
#define REPORT_SAMPLE_BODY_MAX (512u << 10)
#define REPORT_NAME_MAX 256  /* bytes of a route name, rule name or group kept */
#define REPORT_PATH_MAX 1024 /* bytes of a generalized path kept */
#define REPORT_OTHER_ROUTES "(other routes)"
#define REPORT_NO_ROUTE "(no route)"

enum report_verdict {
    RV_MATCH,
    RV_MISMATCH,
    RV_KNOWN,
    RV_SHADOW_ERROR,
    RV_SHADOW_TIMEOUT,
    RV_SHADOW_DROPPED,
    RV_SKIPPED,
    RV_AUTHORITATIVE_ERROR,
    RV_WRITE_PAUSED, /* a write answered 503 by the operator's write pause */
    RV_ID_UNKNOWN,   /* not mirrored: the id ledger did not know the request's id */
    RV_OTHER, /* missing or unknown verdict */
    RV_COUNT
};
extern const char *const report_verdict_names[RV_COUNT];
enum report_verdict report_verdict_of(const char *s);

enum { RS_LEGACY, RS_NEW, RS_COUNT };

/* A record's "confirmation" state (rules "confirm": a mismatch read again). */
enum report_confirm { RC_TRANSIENT, RC_CONFIRMED, RC_FAILED, RC_SKIPPED, RC_COUNT };
extern const char *const report_confirm_names[RC_COUNT];
extern const char *const report_side_names[RS_COUNT];

typedef struct report_sum_spec {
    char *path;  /* JSON Pointer into the response body */
    char *group; /* JSON Pointer of the grouping value, or NULL */
} report_sum_spec;

typedef struct report_options {
    bool has_since, has_until;
    int64_t since_ms, until_ms; /* since inclusive, until exclusive */
    char **routes;              /* --route filter; none: every route */
    size_t nroutes;
    report_sum_spec *sums;
    size_t nsums;
    /* Called for each record that passed the filters, with the route it is
     * counted under (after the default route's endpoint grouping and the
     * route cap): `shadowproxy readiness` tallies its coverage fields here.
     * NULL: none. */
    void (*on_record)(void *arg, const json_t *rec, const char *route);
    void *on_record_arg;
} report_options;

typedef struct report_input {
    char *path;
    logread_stats st;
    uint64_t used;     /* records that passed the filters */
    bool failed;       /* could not be opened or read to the end */
    bool duplicate;    /* the same file as an earlier argument: not read */
    char *error;       /* why it failed */
    bool has_id;       /* dev/ino known (regular files) */
    uint64_t dev, ino;
} report_input;

typedef struct report_field {
    char *where, *path, *kind; /* path generalized (report_path_generalize) */
    char *known;               /* rule name of a known difference, or NULL */
    uint64_t exchanges;        /* records with at least one such difference */
    uint64_t occurrences;      /* differences */
    uint64_t noise_exchanges;  /* records where it was marked noise (secondary: legacy differs too) */
    uint64_t confirm[RC_COUNT]; /* of `exchanges`, those whose record has a "confirmation", by state */
    uint64_t last_seq, noise_last_seq;
    char *sample_ids[REPORT_SAMPLE_IDS];
    size_t nsample_ids;
    bool has_example;
    report_example example[RS_COUNT];
    noise_field noise; /* body fields: what noise suggestions decide from */
} report_field;

typedef struct report_cell { /* one minute of one route */
    int64_t minute;            /* ms / 60000, floored */
    uint64_t exchanges, compared, mismatches, errors;
} report_cell;

typedef struct report_bucket {
    uint64_t exchanges, compared, mismatches, errors;
} report_bucket;

typedef struct report_group {
    char *name; /* the grouping value as text; NULL: no --sum grouping or value absent */
    report_sum sum[RS_COUNT];
} report_group;

/* Why the other side of an exchange with money on one side only did not
 * answer 2xx (docs/report.md, "Reconciliation"). */
enum report_onesided { RO_ERROR, RO_TIMEOUT, RO_NON2XX, RO_NOT_SENT, RO_COUNT };
extern const char *const report_onesided_names[RO_COUNT];

typedef struct report_sum_acc { /* one --sum on one route */
    report_group *groups;
    size_t ngroups, cap;
    uint64_t missing[RS_COUNT];  /* 2xx JSON bodies without a number there */
    uint64_t unusable[RS_COUNT]; /* 2xx bodies that are not whole JSON */
    uint64_t groups_dropped;     /* values beyond REPORT_MAX_GROUPS groups */
    /* Exchanges only one side answered 2xx: not in the groups (the gap is
     * over exchanges both answered 2xx), the 2xx side's money here, by why
     * the other side did not answer 2xx. */
    report_sum one_sided[RS_COUNT][RO_COUNT];
    int decimals;                /* most decimals seen, 0..REPORT_MAX_DECIMALS */
} report_sum_acc;

typedef struct report_sample_diff {
    char *where, *path, *kind;
    bool known;
} report_sample_diff;

typedef struct report_sample { /* one exchange kept per route for the HTML view */
    int score;                 /* 0: none kept */
    char *id, *method, *uri, *verdict;
    json_t *status[RS_COUNT];  /* as in the record (integer or null) */
    json_t *body[RS_COUNT];    /* JSON body, or a JSON string for text bodies */
    char *format[RS_COUNT];    /* body_format */
    bool body_cut[RS_COUNT];   /* not kept: too large */
    report_sample_diff *diffs;
    size_t ndiffs;
} report_sample;

typedef struct report_suggestion {
    const report_field *field;
    char *pattern; /* the rule's path pattern: keyed selectors as `*` */
    const char *reason;
    int normalize; /* a NOISE_* flag: a normalize rule; -1: an ignore */
} report_suggestion;

typedef struct report_latency {
    size_t samples;
    double p50, p99; /* valid when samples > 0 */
} report_latency;

typedef struct report_route {
    char *name;
    uint64_t verdicts[RV_COUNT];
    uint64_t confirm[RC_COUNT]; /* records with a "confirmation", by its state */
    uint64_t exchanges;
    report_floats lat[RS_COUNT];
    report_field **fields; /* in order of first appearance; sorted by finalize */
    size_t nfields, fields_cap;
    size_t *field_index;   /* open addressing over fields, size field_index_cap */
    size_t field_index_cap;
    uint64_t fields_dropped;  /* differences whose field did not fit the caps */
    uint64_t diffs_truncated; /* records listing fewer differences than found */
    report_cell *cells;       /* open addressing, key minute; unused: INT64_MIN */
    size_t ncells, cells_cap;
    uint64_t ok2xx[RS_COUNT], both2xx;
    report_sum_acc *sums;     /* one per options.sums */
    report_sample sample;
    /* set by report_model_finalize */
    report_latency latency[RS_COUNT];
    report_bucket *buckets;   /* model.nbuckets */
    report_suggestion *suggestions;
    size_t nsuggestions;
} report_route;

typedef struct report_version_count {
    char *label; /* "1", "2", "missing", "not an integer" */
    uint64_t count;
} report_version_count;

typedef struct report_model {
    const report_options *opt;
    report_input *inputs;
    size_t ninputs, inputs_cap;
    report_route **routes;
    size_t nroutes, routes_cap;
    size_t *route_index;
    size_t route_index_cap;
    size_t nfields_total;
    report_version_count *versions;
    size_t nversions;
    uint64_t records;      /* records read, before filters */
    uint64_t matches_read; /* `match` records read, before filters: the log's mode */
    uint64_t used;         /* records that passed the filters */
    uint64_t no_ts;        /* used records without a readable ts */
    uint64_t filtered_time, filtered_route;
    uint64_t overload_records;   /* `overload` records read (not exchanges) */
    uint64_t overload_unlogged;  /* exchanges they count, without a record of their own */
    uint64_t not_mirrored_records;   /* `not_mirrored` records read */
    uint64_t not_mirrored_exchanges; /* exchanges they count (in the tables: verdict skipped) */
    bool has_ts;
    int64_t ts_min, ts_max;
    uint64_t seq;
    /* set by report_model_finalize */
    report_route *total; /* every route together; no fields, no sample */
    int64_t bucket_ms, bucket_start;
    size_t nbuckets;
    bool finalized;
} report_model;

report_model *report_model_new(const report_options *opt);
void report_model_free(report_model *m);

/* Reads one log (path or "-") into the model; every problem is recorded in
 * the model's input entry. Returns false when the file could not be read to
 * the end (what was read before counts). */
bool report_model_read(report_model *m, const char *path);

/* Adds one record (not owned). Records without a usable ts only count when
 * no --since/--until is given. */
void report_model_add(report_model *m, const json_t *rec);

/* The endpoint of a record (conf/endpoint.h): its `endpoint`, or for a
 * record without one, the template of its method and uri. The report
 * groups the exchanges of the route `default` by it (docs/report.md). */
void report_endpoint_of(const json_t *rec, char *out, size_t size);

/* Sorts, computes quantiles, buckets, totals and suggestions. Once. */
void report_model_finalize(report_model *m);

/* Whether the records read hold any `match` verdict (before filters: it is
 * a property of the log): if not, the log was written in mode `mismatches`
 * and rates are over logged records only. */
bool report_model_has_matches(const report_model *m);

/* The route named `name` after finalize, or NULL. */
const report_route *report_model_route(const report_model *m, const char *name);

/* Rates of a route: false when undefined (no compared exchanges). */
uint64_t report_route_compared(const report_route *r);
uint64_t report_route_errors(const report_route *r);
bool report_route_rate(const report_route *r, enum report_verdict v, double *out);

/* The money of exchanges only one side answered 2xx, as one line for
 * people ("legacy 45.00 in 1 exchange (new: timeout); ..."), appended to
 * b; false (nothing appended) when there is none. */
bool report_onesided_text(strbuf *b, const report_sum_acc *a, int decimals);

/* The route's suggestions as a rules snippet, {"compare": {"ignore": [...],
 * "normalize": [...]}} (lists only when not empty); NULL without
 * suggestions. A new reference. */
json_t *report_route_suggested_rules(const report_route *r);


#endif
