/* replay_opts: the command line of `shadowproxy replay` (docs/replay.md),
 * parsed for replay.c. Main thread only (getopt_long's global state). */
#ifndef SP_REPLAY_OPTS_H
#define SP_REPLAY_OPTS_H

#include <stdbool.h>
#include <stddef.h>

#include "tools/replay_matrix.h"
#include "tools/replay_req.h"

typedef struct replay_opts {
    char **logs;
    int nlogs;
    const char *config, *rules, *diff_log, *legacy, *new_, *authority, *mode;
    const char *json; /* --json FILE: the summary and the transitions */
    bool overwrite;
    double rate;
    double speed; /* 0: not paced by the recorded timing */
    long loops;   /* times the logs are replayed, >= 1 */
    int concurrency;
    const char **routes;
    size_t nroutes;
    replay_header *set;
    size_t nset;
    int progress; /* -1 auto */
    replay_gate *gates; /* --fail-if */
    size_t ngates;
} replay_opts;

/* Parses argv (argv[0] is "replay") into *o, which starts zeroed. The
 * strings in *o are borrowed from argv; the arrays (routes, set, gates)
 * are o's own: free them with replay_opts_free, whatever this returns.
 * Returns 0 (go on), -1 (--help was printed: exit 0), 1 (ENOMEM) or 2 (a
 * usage error, already printed on stderr with the usage). */
int replay_opts_parse(int argc, char **argv, replay_opts *o);
/* Frees what replay_opts_parse allocated in *o; not the struct itself. */
void replay_opts_free(replay_opts *o);

#endif
