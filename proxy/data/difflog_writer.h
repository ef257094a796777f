/* difflog_writer: the one thread that writes the diff log. The comparer
 * threads hand it batches of whole lines; it appends each batch with one
 * write(2) (difflog.h), so lines from several comparers interleave only at
 * line boundaries. It also owns the overload tally: once per
 * OVERLOAD_WINDOW_MS it writes one `overload` and one `not_mirrored` record
 * per route for the exchanges that got no record of their own
 * (obs/overload.h).
 *
 * A submitter (a worker thread) that samples an exchange out, or whose
 * exchange was not mirrored, counts it in a tally of its own
 * (dlwriter_local_of: no shared lock per exchange);
 * the writer collects those tallies once per window, and counts their
 * verdicts in the per-route metrics and the live view then. */
#ifndef SP_DIFFLOG_WRITER_H
#define SP_DIFFLOG_WRITER_H

#include <stdbool.h>
#include <stddef.h>

#include "obs/live.h"
#include "obs/overload.h"

/* Past this many bytes handed over and not yet written, the writer is
 * behind: comparers count records in the overload tally instead of handing
 * them over (a slow disk costs records, never memory or the workers). */
#define DLWRITER_BACKLOG_BYTES (32u * 1024u * 1024u)

typedef struct dlwriter dlwriter;

/* Opens the path (difflog_open) and starts the thread; `live` (may be
 * NULL) must outlive the writer. 0 or difflog_open's error. */
int dlwriter_start(dlwriter **out, const char *path, bool follow_symlinks, live *lv);
/* Any thread. Takes buf (malloc'd, nrecords whole lines, len > 0). */
void dlwriter_submit(dlwriter *w, char *buf, size_t len, size_t nrecords);
/* Any thread: false when the backlog is over DLWRITER_BACKLOG_BYTES. */
bool dlwriter_keeps_up(dlwriter *w);
/* Any thread: adds t (verdicts already counted in the metrics) to the
 * window's tally and empties t. */
void dlwriter_tally(dlwriter *w, overload_tally *t);
/* The calling thread's own tally, for exchanges whose verdicts the writer
 * counts in the per-route metrics and the live view when it collects it.
 * Lock it with dlwriter_local_lock (uncontended but for the collection once
 * per window). NULL on no memory. */
typedef struct dlwriter_local dlwriter_local;
dlwriter_local *dlwriter_local_of(dlwriter *w);
overload_tally *dlwriter_local_lock(dlwriter_local *l);
void dlwriter_local_unlock(dlwriter_local *l);
void dlwriter_request_reopen(dlwriter *w);
/* errno of the last failed write, 0 when writing works. Any thread. */
int dlwriter_write_error(dlwriter *w);
/* Writes everything handed over and the last window's overload records,
 * then joins the thread and frees w. Call once no thread submits. */
void dlwriter_stop(dlwriter *w);

#endif
