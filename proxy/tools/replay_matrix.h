/* replay_matrix: how each replayed exchange's verdict moved against the
 * recorded one, per route (docs/replay.md, "Transitions"), and the
 * `replay --fail-if` gate over it. Agreeing is match or known, differing is
 * mismatch; anything else (errors, timeouts, skips, no record) is not
 * compared. One thread; no I/O except replay_compare_log. */
#ifndef SP_REPLAY_MATRIX_H
#define SP_REPLAY_MATRIX_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum replay_transition {
    RT_FIXED,     /* mismatch -> match or known */
    RT_REGRESSED, /* match or known -> mismatch */
    RT_STILL,     /* mismatch -> mismatch: still differing */
    RT_UNCHANGED, /* match or known -> match or known */
    RT_UNCOMPARED,/* either side not compared (error, timeout, skipped, no record) */
    RT_COUNT
} replay_transition;

#define REPLAY_MATRIX_MAX_ROUTES 1000 /* more are counted under "(other routes)" */

/* "fixed", "regressed", "still_differing", "unchanged", "not_compared". */
const char *replay_transition_name(replay_transition t);
replay_transition replay_transition_of(const char *was, const char *now);

typedef struct replay_matrix replay_matrix;

replay_matrix *replay_matrix_new(void);
void replay_matrix_free(replay_matrix *m);
/* One exchange of `route` (copied). false when out of memory. */
bool replay_matrix_add(replay_matrix *m, const char *route, replay_transition t);
/* Count of t on route (NULL: every route). */
uint64_t replay_matrix_count(const replay_matrix *m, const char *route, replay_transition t);
/* Whether the matrix has this route. */
bool replay_matrix_has(const replay_matrix *m, const char *route);
/* The table, one row per route in first-seen order and a total row. */
void replay_matrix_print(const replay_matrix *m, FILE *out);

/* {"routes": {route: {transition name: n}}, "total": {...}}: a new
 * reference, NULL when out of memory. */
json_t *replay_matrix_json(const replay_matrix *m);
/* `replay --json FILE`: summary (borrowed) with "transitions" set (null
 * without a matrix), written to path. 0, or -1 said on stderr. */
int replay_write_json(const char *path, json_t *summary, const replay_matrix *m);

/* `--fail-if [route:NAME:]METRIC OP N`: METRIC a transition name
 * (regressions = regressed, fixes = fixed, also the names above), OP one of
 * > >= < <= == !=, N a whole number. */
typedef struct replay_gate {
    char *text, *route;
    replay_transition metric;
    int op; /* index into the operator table */
    uint64_t n;
} replay_gate;

/* 0, or -1 with a message in err. */
int replay_gate_parse(const char *s, replay_gate *g, char *err, size_t errsize);
void replay_gate_free(replay_gate *g);
/* Does the condition hold on m? */
bool replay_gate_holds(const replay_gate *g, const replay_matrix *m, uint64_t *value);

/* Reads the replay's new diff log back and sets each record's verdict
 * against the original one (original: id -> {"v": verdict, "r": route
 * key}), printing up to 10 changes, the counts and the matrix on stdout.
 * In mode mismatches (!all_mode) an id missing from the new log matched.
 * Returns the matrix (free it), NULL when out of memory. */
replay_matrix *replay_compare_log(const char *diff_log, const json_t *original, bool all_mode);

/* The --fail-if gates over mx, each that holds said on stderr: 3 when one
 * holds, 2 when one names a route the replay never saw (a typo would pass
 * silently), 1 without a matrix, else 0. */
int replay_gates_check(const replay_gate *gs, size_t n, const replay_matrix *mx);

/* A record's row in the matrix: its route, or for the route default its
 * endpoint (conf/endpoint.h), as the report groups it. Returns the record's
 * string or key (ENDPOINT_MAX bytes, filled when needed). */
const char *replay_route_key(const json_t *rec, char *key);

#endif
