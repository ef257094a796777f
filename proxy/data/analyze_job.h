/* analyze_job: one exchange's comparison and record, as a comparer thread
 * of the pool (analyzer.c) does it. Internal to the analyzer: not for other
 * modules. Pure but for the metrics, the live view and the allocator. */
#ifndef SP_ANALYZE_JOB_H
#define SP_ANALYZE_JOB_H

#include <stdbool.h>
#include <stddef.h>

#include "base/json_arena.h"
#include "data/analyzer.h"
#include "data/confirm.h"
#include "diff/compare.h"
#include "diff/record.h"
#include "obs/live.h"
#include "obs/overload.h"

/* Lines gathered for one hand-over to the writer. */
typedef struct record_batch {
    char *buf; /* malloc'd; the writer takes it */
    size_t len, cap, nrecords;
} record_batch;

typedef struct analyze_ctx {
    const sp_config *cfg;
    const record_opts *ropts;
    const compare_opts *copts;
    metrics_shard *shard;     /* the calling comparer's */
    metrics_shard *endpoints; /* the calling comparer's: verdicts of route `default` by endpoint */
    live *live;
    diff_log_mode mode;
    bool writer_keeps_up;     /* false: a due record is counted in `tally` instead */
    overload_tally *tally;    /* the calling comparer's */
    confirmer *confirm;       /* NULL: no confirmations (they are skipped) */
    json_arena *arena;        /* the calling comparer's; NULL: malloc only */
} analyze_ctx;

/* Compares j (unless its verdict is preset), counts the verdict (global and
 * per-route metrics, live view), and appends its record to b when the mode
 * asks for one; a record that cannot be built or kept counts as lost. j is
 * not freed. Returns the verdict; VERDICT_COUNT when j is a mismatch the
 * confirmer took for a re-read (j is then its: nothing counted or written
 * yet; it comes back with confirm.phase CONFIRM_DONE). */
verdict analyze_job(const analyze_ctx *cx, analysis_job *j, record_batch *b);

#endif
