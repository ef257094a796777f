/* report_text_cells: the text report's cells (report_text_cells.h):
 * cleaned for the terminal, cut and padded to a width. Split from
 * report_text.c. */
#include "tools/report/report_text_cells.h"

#include <stdio.h>
#include <string.h>

#include "tools/report/report_util.h"

bool text_unsafe_cp(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x200e || cp == 0x200f ||
           (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0xfeff;
}

/* Columns of s once cleaned (one per character). */
size_t text_cols(const char *s)
{
    size_t n = 0, len = strlen(s);
    const unsigned char *p = (const unsigned char *)s;
    while (len) {
        uint32_t cp;
        size_t l = report_utf8_char(p, len, &cp);
        l = l ? l : 1;
        p += l;
        len -= l;
        n++;
    }
    return n;
}

/* Appends s cleaned, at most max columns (cut with "…"); from_end keeps the
 * end instead (file paths). Returns the columns written. */
size_t text_put(strbuf *b, const char *s, size_t max, bool from_end)
{
    size_t total = text_cols(s), skip = 0, w = 0;
    if (max < 1)
        return 0;
    bool cut = total > max;
    if (cut && from_end) {
        skip = total - (max - 1);
        LIT(b, "\xe2\x80\xa6");
        w = 1;
    }
    const unsigned char *p = (const unsigned char *)s;
    size_t len = strlen(s), i = 0;
    while (len) {
        uint32_t cp;
        size_t l = report_utf8_char(p, len, &cp);
        bool bad = l == 0 || text_unsafe_cp(cp);
        l = l ? l : 1;
        if (i++ >= skip) {
            if (cut && !from_end && w == max - 1) {
                LIT(b, "\xe2\x80\xa6");
                return max;
            }
            strbuf_add(b, bad ? "?" : (const char *)p, bad ? 1 : l);
            w++;
        }
        p += l;
        len -= l;
    }
    return w;
}

void text_pad(strbuf *b, size_t n)
{
    static const char spaces[] = "                                                            ";
    while (n > 0) {
        size_t k = n < sizeof spaces - 1 ? n : sizeof spaces - 1;
        strbuf_add(b, spaces, k);
        n -= k;
    }
}

/* A cell of exactly w columns (plus nothing): left or right aligned. */
void text_cell(strbuf *b, const char *s, size_t w, bool right)
{
    size_t c = text_cols(s);
    if (right && c < w)
        text_pad(b, w - c);
    size_t done = text_put(b, s, w, false);
    if (!right && done < w)
        text_pad(b, w - done);
}

void text_num_cell(strbuf *b, uint64_t n, size_t w)
{
    char t[32];
    snprintf(t, sizeof t, "%llu", (unsigned long long)n);
    LIT(b, " ");
    text_cell(b, t, w - 1, true);
}

void text_pct(char *buf, size_t size, bool ok, double x)
{
    if (!ok)
        snprintf(buf, size, "-");
    else if (x == 0 || x >= 0.01)
        snprintf(buf, size, "%.1f%%", x * 100);
    else
        snprintf(buf, size, "%.2f%%", x * 100);
}

void text_cell_right(strbuf *b, const char *s, size_t w)
{
    LIT(b, " ");
    text_cell(b, s, w - 1, true);
}
