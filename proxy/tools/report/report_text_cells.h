/* report_text_cells: the text report's cells (report_text.c). Everything
 * from a log is cleaned for the terminal on the way in: control
 * characters, C1 controls and bidirectional overrides become '?', and a
 * byte that is not UTF-8 is one '?' column. One column per character.
 * Out of memory is sticky in the strbuf (base/strbuf.h), so these return
 * nothing to check. Pure: any thread, on its own strbuf. */
#ifndef SP_REPORT_TEXT_CELLS_H
#define SP_REPORT_TEXT_CELLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/strbuf.h"

#define LIT(b, s) strbuf_add((b), "" s, sizeof(s) - 1) /* literals only */

/* Is code point cp one that cleaning turns into '?' (C0, DEL, C1, bidi
 * marks and overrides, BOM)? */
bool text_unsafe_cp(uint32_t cp);
/* Columns of s once cleaned. */
size_t text_cols(const char *s);
/* Appends s cleaned, at most max columns (cut with "…"); from_end keeps the
 * end instead (file paths). Returns the columns written (0 when max is 0). */
size_t text_put(strbuf *b, const char *s, size_t max, bool from_end);
/* n spaces. */
void text_pad(strbuf *b, size_t n);
/* s in a cell of exactly w columns: left or right aligned, cut to fit. */
void text_cell(strbuf *b, const char *s, size_t w, bool right);
/* A space, then s right-aligned in w - 1 columns (w >= 1). */
void text_cell_right(strbuf *b, const char *s, size_t w);
/* A space, then n right-aligned in w - 1 columns (w >= 1). */
void text_num_cell(strbuf *b, uint64_t n, size_t w);
/* A ratio x as a percentage into buf ("12.5%", "0.05%" below 1%), "-"
 * when !ok. */
void text_pct(char *buf, size_t size, bool ok, double x);

#endif
