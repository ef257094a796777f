/* rules_suggest_int: the model of `shadowproxy rules suggest` (docs/rules.md,
 * "Suggested rules"), shared by rules_suggest.c (command line, the rules
 * file written) and rules_suggest_scan.c (reading records, deciding).
 * Not for other modules. Pure apart from the log reading in sg_scan_file. */
#ifndef SP_RULES_SUGGEST_INT_H
#define SP_RULES_SUGGEST_INT_H

#include "tools/report/report_noise.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define SG_MAX_GROUPS 200      /* routes and endpoints; more are left out (counted) */
#define SG_MAX_FIELDS 2000     /* body fields per group; more are not looked at */
#define SG_MAX_KEYS 8          /* key candidates per array */
#define SG_EXAMPLE_MAX 48      /* bytes of an example value in a description */
#define SG_MAX_DEPTH 64        /* bodies are walked this deep */
#define SG_MAX_PAIRED 500      /* longer arrays are compared by position only: pairing
                                * by key or as multisets is quadratic */

typedef struct sg_example {
    char *v[2]; /* legacy, new: compact JSON, cut; NULL: absent */
} sg_example;

typedef struct sg_field {
    char *path;         /* generalized: array elements as "*" */
    uint64_t present;   /* exchanges where a side has it */
    uint64_t seen_seq;
    noise_field noise;
    sg_example ex[2];
    size_t nex;
    noise_verdict verdict; /* decided after the second pass */
} sg_field;

typedef struct sg_array {
    char *path;
    uint64_t multi;     /* exchanges with the array on both sides, 2+ elements on one */
    uint64_t misordered;/* ... compared by position, not equal */
    uint64_t unordered; /* ... equal as multisets */
    uint64_t seen_seq;
    char *keys[SG_MAX_KEYS];
    uint64_t keyed[SG_MAX_KEYS]; /* ... where the key pairs all and reduces the differences */
    size_t nkeys;
    const char *key;    /* decided: the key, or NULL */
    bool use_unordered; /* decided */
    uint64_t evidence;
} sg_array;

typedef struct sg_status {
    int legacy, neu;
    uint64_t count, agree; /* agree: bodies equal apart from fields with a rule */
    char *ids[2];
    bool chosen;
} sg_status;

typedef struct sg_header {
    char *name;
    uint64_t count, seen_seq;
    sg_example ex[2];
    size_t nex;
    bool chosen;
} sg_header;

typedef struct sg_pending { /* an exchange whose statuses differ: its differing fields */
    size_t status;  /* index into statuses */
    size_t *fields; /* field indexes */
    unsigned *masks; /* noise_fixes of each */
    size_t n, cap;
    bool other;     /* a difference no rule can cover (not JSON, arrays, ...) */
} sg_pending;

typedef struct sg_group {
    char *name;     /* the route, or the endpoint "GET /api/orders/{id}" */
    bool endpoint;
    uint64_t records, compared, json_pairs;
    sg_field *fields;
    size_t nfields, fields_cap;
    json_t *field_index; /* path -> index */
    sg_array *arrays;
    size_t narrays, arrays_cap;
    sg_status *statuses;
    size_t nstatuses;
    sg_header *headers;
    size_t nheaders;
    sg_pending *pending;
    size_t npending, pending_cap;
} sg_group;

typedef struct sg_model {
    sg_group *groups;
    size_t ngroups, groups_cap;
    uint64_t records, compared, groups_dropped;
    uint64_t seq;
    int pass; /* 1: arrays; 2: fields, statuses, headers */
} sg_model;

/* Reads one log for the current pass (m->pass). 0, or -1 with err set. */
int sg_scan_file(sg_model *m, const char *path, char *err, size_t errsize);
/* One record, for the current pass. */
void sg_add(sg_model *m, const json_t *rec);
/* After pass 1: the array rules. After pass 2: the field, status and
 * header rules. */
void sg_decide_arrays(sg_model *m);
void sg_decide_rest(sg_model *m);
void sg_model_free(sg_model *m);

#endif
