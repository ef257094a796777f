/* clock: the process's two clocks and its one timestamp format. Pure but
 * for reading the clocks; thread-safe. */
#ifndef SP_CLOCK_H
#define SP_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* CLOCK_MONOTONIC in nanoseconds: durations, deadlines. */
uint64_t clock_now_ns(void);
/* CLOCK_REALTIME in milliseconds since the epoch: what records and the
 * operator see. */
int64_t clock_wall_ms(void);
/* RFC 3339 in UTC with milliseconds, "2026-12-07T09:14:35.123Z"; years
 * clamped to 0000..9999. buf needs 25 bytes. */
void clock_format_ts(int64_t ts_ms, char *buf, size_t size);

/* Calendar arithmetic on the proleptic Gregorian calendar, for the
 * timestamp parsers (ops, normalize, report): days in month m (1-12) of
 * year y, and days since 1970-01-01 of a date (H. Hinnant's algorithm;
 * negative before the epoch). */
int clock_days_in_month(int64_t y, int m);
int64_t clock_days_from_civil(int64_t y, int m, int d);

#endif
