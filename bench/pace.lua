-- bench/pace.lua: a wrk script that holds the request rate at BENCH_RATE
-- per second (per wrk thread; the bench runs one) whatever the latency.
-- Each request gets the next slot of a fixed schedule and delay() waits
-- until it, so a slow answer does not lower the rate (a fixed pause per
-- connection would: the rate then depends on the latency). If the proxy
-- cannot keep up the schedule slips and the row shows the rate reached.
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } sp_pace_timespec;
int clock_gettime(int clock_id, sp_pace_timespec *ts);
]]
local CLOCK_MONOTONIC = 1
local ts = ffi.new("sp_pace_timespec")
local function now_ms()
    ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
    return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local rate = tonumber(os.getenv("BENCH_RATE")) or 0
local interval = rate > 0 and 1000 / rate or 0
local next_at

function delay()
    if interval == 0 then return 0 end
    local t = now_ms()
    -- Behind by more than a second (a stall): start the schedule again
    -- rather than sending a burst to catch up.
    if next_at == nil or next_at < t - 1000 then next_at = t end
    next_at = next_at + interval
    local d = next_at - t
    return d > 0 and math.floor(d) or 0
end
