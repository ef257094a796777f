#!/usr/bin/env bash
# bench/run.sh: shadowproxy throughput and latency against a direct path,
# nginx proxy_pass, and nginx with mirror. Run through `make bench` (which
# builds ./shadowproxy and build/sp-stub and installs wrk and nginx-light).
#
# Everything listens on 127.0.0.1; every process started here is stopped on
# exit (trap); scratch files and the results go to bench/out/ (git-ignored).
#
#   BENCH_SECONDS   measured seconds per scenario (default 8)
#   BENCH_WARMUP    warm-up seconds before each measurement (default 2)
#   SP_BIN, SP_STUB binaries under test (default ./shadowproxy, build/sp-stub)
#
# Exit status: 0 when the tables were printed and every shadowproxy run
# started, served, logged no level=error line and exited 0 on SIGTERM;
# 1 otherwise (the tables are still printed, problems listed under them);
# 2 when the bench could not be set up at all. Missed targets do not fail it.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/bench/out
SP=${SP_BIN:-$ROOT/shadowproxy}
STUB=${SP_STUB:-$ROOT/build/sp-stub}
# Debian's python3 (as the Makefile's PYTHON): a version-manager shim on PATH
# can take most of a second per call.
PY=${PYTHON:-/usr/bin/python3}
[[ -x $PY ]] || PY=python3
REPORT=$ROOT/bench/report.py
SECS=${BENCH_SECONDS:-5}
# Every scenario once per round, rounds one after the other; the report gives
# medians. On a shared or virtual machine one run of a row varies by 20% or
# more; interleaved rounds spread drift over every row alike.
ROUNDS=${BENCH_ROUNDS:-3}
# BENCH_ONLY="sp-off sp-slow": only these scenario ids (see the tables' rows),
# for a focused comparison with more rounds.
ONLY=${BENCH_ONLY:-}
want() { [[ -z $ONLY || " $ONLY " == *" $1 "* ]]; }
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "BENCH_ROUNDS must be a positive integer" >&2; exit 2; }
# BENCH_NOISY_RATE=N: row 12 at N req/s, not 70% of row 10's (see noisy_scenarios)
[[ -z ${BENCH_NOISY_RATE:-} || $BENCH_NOISY_RATE =~ ^[1-9][0-9]*$ ]] ||
    { echo "BENCH_NOISY_RATE must be a positive integer" >&2; exit 2; }
# Diff logs go to a tmpfs when there is one (BENCH_DIFF_DIR to choose): rows
# write 40-130 MB each, and on a virtual disk the kernel's throttling of dirty
# pages charged later rows for the writes of earlier ones (a row's CPU per
# request depended on the rows before it).
SHM_DIR=
if [[ -n ${BENCH_DIFF_DIR:-} ]]; then
    DIFF_DIR=$BENCH_DIFF_DIR
elif [[ -d /dev/shm && -w /dev/shm ]] && SHM_DIR=$(mktemp -d /dev/shm/sp-bench.XXXXXX); then
    DIFF_DIR=$SHM_DIR
else
    DIFF_DIR=$OUT
fi
WARM=${BENCH_WARMUP:-2}
ROUTE=/api/orders/42
CONNS=32
SLOW_MS=500
SETTLE=0.2   # after a measurement: lets queued shadow/compare work land in the CPU window

die() { echo "bench: $*" >&2; exit 2; }
note() { echo "bench: $*" >&2; }

[[ $SECS =~ ^[1-9][0-9]*$ ]] || die "BENCH_SECONDS must be a positive integer (got '$SECS')"
[[ $WARM =~ ^[0-9]+$ ]] || die "BENCH_WARMUP must be a non-negative integer (got '$WARM')"
for t in wrk curl "$PY" timeout; do
    command -v "$t" >/dev/null || die "$t not found (make bench installs wrk and nginx-light)"
done
NGINX=$(command -v nginx || true)
[[ -n $NGINX ]] || NGINX=/usr/sbin/nginx # not on a non-root PATH
[[ -x $NGINX ]] || die "nginx not found (make bench installs nginx-light)"
[[ -x $SP ]] || die "$SP missing: run make bench (or make shadowproxy)"
[[ -x $STUB ]] || die "$STUB missing: run make bench (or make build/sp-stub)"
CLK_TCK=$(getconf CLK_TCK)

# --- processes -------------------------------------------------------------
PIDS=()   # every process this script started and has not reaped yet

forget() { # PID: drop from PIDS once reaped
    local p keep=()
    for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}

alive() { # PID: running (not gone, not a zombie)
    local st
    [[ -r /proc/$1/stat ]] || return 1
    st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
    [[ -n $st && $st != Z ]]
}

cleanup() {
    local p i
    trap - EXIT INT TERM
    [[ -z $SHM_DIR ]] || rm -rf "$SHM_DIR"
    ((${#PIDS[@]})) || return 0
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for ((i = 0; i < 50; i++)); do
        local any=0
        for p in "${PIDS[@]}"; do alive "$p" && any=1; done
        ((any)) || break
        sleep 0.1
    done
    for p in "${PIDS[@]}"; do
        if alive "$p"; then kill -KILL "$p" 2>/dev/null || true; fi
    done
    wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'note interrupted; exit 130' INT TERM

# stop PID [SIGNAL] [SECONDS]: signal, wait up to SECONDS, reap; sets STOP_RC
# (the exit status; 128+N for signal N; "hung" if it had to be killed).
stop() {
    local pid=$1 sig=${2:-TERM} limit=${3:-20} i
    STOP_RC=
    kill "-$sig" "$pid" 2>/dev/null || true
    for ((i = 0; i < limit * 10; i++)); do
        alive "$pid" || break
        sleep 0.1
    done
    if alive "$pid"; then
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        STOP_RC=hung
    else
        STOP_RC=0
        wait "$pid" 2>/dev/null || STOP_RC=$?
    fi
    forget "$pid"
}

# --- helpers ---------------------------------------------------------------
NPROC=$(nproc)
PIN_PROXY=()
PIN_LOAD=()
PINNING="none (only $NPROC core)"
BUSY_LABEL="machine busy %"
if ((NPROC >= 2)); then
    if command -v taskset >/dev/null && taskset -c 0 true 2>/dev/null &&
        taskset -c 1 true 2>/dev/null; then
        PIN_PROXY=(taskset -c 0)
        PIN_LOAD=(taskset -c 1)
        PINNING="proxy under test on core 0 (taskset -c 0), wrk and stubs on core 1 (taskset -c 1)"
        BUSY_LABEL="core0/core1 busy %"
    else
        PINNING="none (taskset missing or cores 0/1 not allowed)"
    fi
fi

free_port() {
    "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_http() { # URL [SECONDS]: until it answers 200
    local i limit=$((${2:-5} * 10))
    for ((i = 0; i < limit; i++)); do
        curl -sf -o /dev/null --max-time 1 "$1" && return 0
        sleep 0.1
    done
    return 1
}

cpu_ticks() { # PID...: utime+stime summed (all threads of each process)
    local p t sum=0
    for p in "$@"; do
        t=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}') || t=0
        sum=$((sum + ${t:-0}))
    done
    echo "$sum"
}

hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null || true; }

children_of() { # PID: direct children
    if command -v pgrep >/dev/null; then
        pgrep -P "$1" || true
        return 0
    fi
    local f pp
    for f in /proc/[0-9]*/stat; do
        pp=$(sed 's/.*) //' "$f" 2>/dev/null | cut -d' ' -f2) || continue
        [[ $pp == "$1" ]] && basename "$(dirname "$f")"
    done
    return 0
}

now() { date +%s.%N; }

# core_stat: "busy total" jiffies for core 0 and core 1 (pinned runs) or for
# the whole machine (unpinned): 4 or 2 numbers on one line.
core_stat() {
    local want='^cpu '
    ((${#PIN_PROXY[@]})) && want='^cpu[01] '
    grep -E "$want" /proc/stat | awk '{t = 0; for (i = 2; i <= NF; i++) t += $i;
        printf "%d %d ", t - $5 - $6, t}'
}

# Machine-wide count of TCP connect()s so far (Tcp ActiveOpens): the delta
# over a run shows connection churn (a keep-alive path makes ~0 per request).
active_opens() {
    awk '/^Tcp:/ { if (!h) { for (i = 1; i <= NF; i++) if ($i == "ActiveOpens") c = i; h = 1 }
        else print $c }' /proc/net/snmp
}

busy_pct() { # "BEFORE" "AFTER" (core_stat lines): "b0/b1" or "b"
    awk -v a="$1" -v b="$2" 'BEGIN {n = split(a, x, " "); split(b, y, " "); s = "";
        for (i = 1; i < n; i += 2) { dt = y[i+1] - x[i+1];
            s = s (s == "" ? "" : "/") (dt > 0 ? sprintf("%.0f", 100 * (y[i] - x[i]) / dt) : "?") }
        print s}'
}

WRK_ARGS=() # extra wrk arguments for the next runs (a pacing script)
run_wrk() { # OUTFILE CONNS SECONDS URL
    # In the background and waited for, so that a signal to this script runs
    # its trap at once (timeout passes the TERM on to wrk).
    timeout -k 5 $(($3 + 30)) "${PIN_LOAD[@]}" wrk -t1 -c"$2" -d"$3"s --latency \
        "${WRK_ARGS[@]}" "$4" >"$1" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    wait "$pid" || true
    forget "$pid"
}

problem() { # WHERE WHAT
    note "PROBLEM: $1: $2"
    "$PY" "$REPORT" row "$OUT/problems.jsonl" "where=$1" "what=$2"
    FAILED=1
}

# measure ID LABEL ROWFILE CONNS URL PROXY_PIDS_FUNC RSS_PID
# One warm-up, then the measured wrk run with CPU sampled around it; appends
# one row. PROXY_PIDS_FUNC prints the proxy's PIDs ("" for none).
measure() {
    local id=$1 label=$2 rows=$3 conns=$4 url=$5 pidsf=$6 rsspid=$7
    local wf=$OUT/wrk/$id-c$conns.txt pids=() t0=0 t1=0 w0 w1 c0 c1 o0 o1
    local cpu_req='' cpu_pct='' rss='' conn_k=''
    note "$label: ${WARM}s warm-up + ${SECS}s at -c$conns"
    if ((WARM > 0)); then run_wrk "$OUT/wrk/$id-c$conns-warmup.txt" "$conns" "$WARM" "$url"; fi
    sleep 0.2
    if [[ -n $pidsf ]]; then read -r -a pids <<<"$($pidsf)"; fi
    if ((${#pids[@]})); then t0=$(cpu_ticks "${pids[@]}"); fi
    o0=$(active_opens)
    c0=$(core_stat)
    w0=$(now)
    run_wrk "$wf" "$conns" "$SECS" "$url"
    w1=$(now)
    c1=$(core_stat)
    o1=$(active_opens)
    if ((${#pids[@]})); then
        sleep "$SETTLE"
        t1=$(cpu_ticks "${pids[@]}")
    fi
    local wrk_ok=0 wrk_rps='' wrk_requests='' wrk_p50_us='' wrk_p99_us='' wrk_non2xx=0 \
        wrk_connect=0 wrk_read=0 wrk_write=0 wrk_timeout=0
    eval "$("$PY" "$REPORT" wrk "$wf")"
    [[ $wrk_ok == 1 ]] || note "$label: could not parse $wf"
    if [[ -n $wrk_requests && $wrk_requests -gt 0 ]]; then
        # connect()s beyond wrk's own $conns, per 1000 requests
        conn_k=$(awk -v d=$((o1 - o0 - conns)) -v n="$wrk_requests" \
            'BEGIN {if (d < 0) d = 0; printf "%.1f", 1000 * d / n}')
        if ((${#pids[@]})); then
            cpu_req=$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$wrk_requests" \
                'BEGIN {printf "%.2f", d / hz * 1e6 / n}')
            cpu_pct=$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v a="$w0" -v b="$w1" \
                'BEGIN {printf "%.1f", 100 * d / hz / (b - a)}')
        fi
    fi
    if [[ -n $rsspid ]]; then
        rss=$(hwm_kib "$rsspid")
        if [[ -n $rss ]]; then rss=$(awk -v k="$rss" 'BEGIN {printf "%.1f", k / 1024}'); fi
    fi
    "$PY" "$REPORT" row "$rows" "id=$id" "label=$label" "wrk_ok=$wrk_ok" \
        "rps=$wrk_rps" "requests=$wrk_requests" "p50_us=$wrk_p50_us" "p99_us=$wrk_p99_us" \
        "non2xx=$wrk_non2xx" "connect=$wrk_connect" "read=$wrk_read" "write=$wrk_write" \
        "timeout=$wrk_timeout" "cpu_us_per_req=$cpu_req" "cpu_pct=$cpu_pct" "rss_mib=$rss" \
        "busy=$(busy_pct "$c0" "$c1")" "conn_per_k=$conn_k"
}

empty_row() { # ROWFILE ID LABEL: a scenario that could not run
    "$PY" "$REPORT" row "$1" "id=$2" "label=$3" "wrk_ok=0"
}

# --- how busy is the machine before we start? --------------------------------
IDLE0=$(core_stat)
sleep 1
BUSY_BEFORE=$(busy_pct "$IDLE0" "$(core_stat)")

# --- upstream stubs ----------------------------------------------------------
rm -rf "$OUT"
mkdir -p "$OUT/logs" "$OUT/wrk" "$OUT/nginx/tmp" "$DIFF_DIR"
FAILED=0

STUB_PORT=
start_stub() { # NAME ARGS...: sets STUB_PORT
    local name=$1
    shift
    rm -f "$OUT/$name.port"
    "${PIN_LOAD[@]}" "$STUB" --listen 127.0.0.1:0 --name "$name" --profile legacy \
        --port-file "$OUT/$name.port" "$@" >"$OUT/logs/stub-$name.log" 2>&1 &
    PIDS+=($!)
    local i port=
    for ((i = 0; i < 50; i++)); do
        port=$(cat "$OUT/$name.port" 2>/dev/null || true)
        [[ $port =~ ^[0-9]+$ ]] && break
        port=
        sleep 0.1
    done
    [[ -n $port ]] || die "stub $name did not start (see $OUT/logs/stub-$name.log)"
    wait_http "http://127.0.0.1:$port$ROUTE" || die "stub $name does not answer $ROUTE"
    STUB_PORT=$port
}

start_stub legacy
LEG=$STUB_PORT
start_stub shadow
SHADOW=$STUB_PORT
start_stub shadow-slow --delay-ms "$SLOW_MS"
SLOW=$STUB_PORT
DEAD=$(free_port) # nothing listens there
BODY_BYTES=$(curl -sf "http://127.0.0.1:$LEG$ROUTE" | wc -c)

{
    "$PY" "$REPORT" row "$OUT/meta.jsonl" \
        "date=$(date -u '+%Y-%m-%d %H:%M UTC')" "nproc=$NPROC" \
        "cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)" \
        "kernel=$(uname -r)" "seconds=$SECS" "warmup=$WARM" "route=$ROUTE" \
        "body_bytes=$BODY_BYTES" "pinning=$PINNING" "busy_label=$BUSY_LABEL" \
        "loadavg=$(cut -d' ' -f1-3 /proc/loadavg)" "busy_before=$BUSY_BEFORE" \
        "sp_version=$("$SP" version 2>&1 | head -1)" \
        "nginx_version=$("$NGINX" -v 2>&1 | head -1)" \
        "wrk_version=$(wrk -v 2>&1 | head -1 | awk '{print $1, $2}')"
}

# --- shadowproxy -----------------------------------------------------------
printf '{"shadow": {"enabled": false}}\n' >"$OUT/shadow-off.json"
# Rows 3c and 4b mirror every request even at saturation, as nginx's mirror
# does (by default mirroring yields to a saturated worker: shadow.busy_min_percent).
# A binary from before that setting (SP_BIN=... for a before/after run)
# always mirrors everything: it gets no such key.
MIRROR_ALL=', "shadow": {"busy_min_percent": 100}'
printf '{"legacy": {"url": "http://127.0.0.1:1"}, "new": {"url": "http://127.0.0.1:1"}%s}\n' \
    "$MIRROR_ALL" >"$OUT/mirror-all.json"
"$SP" check --config "$OUT/mirror-all.json" >/dev/null 2>&1 || MIRROR_ALL=
printf '{%s}\n' "${MIRROR_ALL#, }" >"$OUT/mirror-all.json"
SP_PID=
SP_PORT=
SP_LEGACY=http://127.0.0.1:$LEG # the authoritative upstream of the next runs
SP_ROUTE=$ROUTE                  # and the route wrk asks for

sp_start() { # ID SHADOW_URL ARGS...: sets SP_PID, SP_PORT; 1 on failure
    local id=$1 shadow=$2 log=$OUT/logs/sp-$1.log i
    shift 2
    "${PIN_PROXY[@]}" "$SP" serve --listen 127.0.0.1:0 --workers 1 \
        --legacy "$SP_LEGACY" --new "$shadow" \
        --diff-log "$DIFF_DIR/diffs-$id.jsonl" --admin 127.0.0.1:0 \
        --state-file "$OUT/state-$id.json" "$@" >"$log" 2>&1 &
    SP_PID=$!
    PIDS+=("$SP_PID")
    SP_PORT=
    for ((i = 0; i < 50; i++)); do
        SP_PORT=$(grep -o 'event=listening address=127\.0\.0\.1:[0-9]*' "$log" 2>/dev/null |
            head -1 | sed 's/.*://') || true
        [[ -n $SP_PORT ]] && break
        alive "$SP_PID" || break
        sleep 0.1
    done
    if [[ -z $SP_PORT ]] || ! wait_http "http://127.0.0.1:$SP_PORT$SP_ROUTE"; then
        stop "$SP_PID" KILL 5
        problem "shadowproxy $id" "did not start or does not answer $SP_ROUTE (exit $STOP_RC; see bench/out/logs/sp-$id.log)"
        return 1
    fi
}

sp_pids() { echo "$SP_PID"; }

# sp_compare_stats ID LABEL: the comparer pool's figures at the end of a run
# (admin /metrics and the sp-compare-* threads' CPU), one row in compare.jsonl.
sp_compare_stats() {
    local id=$1 label=$2 log=$OUT/logs/sp-$1.log admin ns=0 tid t
    admin=$(grep -o 'admin=127\.0\.0\.1:[0-9]*' "$log" | head -1 | sed 's/admin=//') || true
    [[ -n $admin ]] || return 0
    # The scheduler's own count of each comparer's time on a CPU
    # (schedstat, ns), exact for a thread that wakes often for short work;
    # utime+stime are counted in clock ticks. report.py divides it by the
    # exchanges compared by now: at saturation thousands chosen for
    # comparison are still queued (compared at the exit).
    for tid in /proc/"$SP_PID"/task/*; do
        [[ $(cat "$tid/comm" 2>/dev/null) == sp-compare-* ]] || continue
        t=$(awk '{print $1}' "$tid/schedstat" 2>/dev/null) || t=0
        ns=$((ns + ${t:-0}))
    done
    curl -sf --max-time 5 "http://$admin/metrics" >"$OUT/metrics-$id.txt" || return 0
    "$PY" "$REPORT" compare-row "$OUT/compare.jsonl" "$OUT/metrics-$id.txt" "id=$id" \
        "label=$label" "compare_cpu_s=$(awk -v t="$ns" 'BEGIN {printf "%.6f", t / 1e9}')"
}

# sp_finish ID LABEL: SIGTERM, check exit 0, record totals and diff-log lines
sp_finish() {
    local id=$1 label=$2 log=$OUT/logs/sp-$1.log died=0
    alive "$SP_PID" || died=1
    stop "$SP_PID" TERM 20
    if ((died)); then
        problem "shadowproxy $id" "died during the run (status $STOP_RC; see bench/out/logs/sp-$id.log)"
    elif [[ $STOP_RC != 0 ]]; then
        problem "shadowproxy $id" "SIGTERM: exit status $STOP_RC, expected 0 (see bench/out/logs/sp-$id.log)"
    fi
    local lines=0 bytes=0 totals=() nerr df=$DIFF_DIR/diffs-$id.jsonl
    if [[ -f $df ]]; then
        lines=$(wc -l <"$df")
        bytes=$(wc -c <"$df")
        # keep a sample, not hundreds of MB per run
        head -n 20 "$df" >"$OUT/diffs-$id.sample.jsonl"
        rm -f "$df"
    fi
    read -r -a totals <<<"$(grep 'event=totals' "$log" | tail -1 | tr ' ' '\n' |
        grep -E '^(requests|match|mismatch|shadow_error|shadow_timeout|shadow_dropped|skipped|authoritative_error|records_written|records_lost)=' |
        tr '\n' ' ')" || true
    ((${#totals[@]})) || problem "shadowproxy $id" "no event=totals line in its log at exit"
    local lost
    lost=$(printf '%s\n' "${totals[@]}" | sed -n 's/^records_lost=//p')
    if [[ -n $lost && $lost != 0 ]]; then
        problem "shadowproxy $id" "$lost diff-log records lost (the comparer's queue overflowed)"
    fi
    nerr=$(grep -c 'level=error' "$log" || true)
    if ((nerr > 0)); then
        problem "shadowproxy $id" "$nerr level=error log line(s), first: $(grep -m1 'level=error' "$log" | cut -c1-300)"
    fi
    "$PY" "$REPORT" row "$OUT/shadowproxy.jsonl" "id=$id" "label=$label" \
        "exit=$STOP_RC" "difflog_lines=$lines" "difflog_mib=$(awk -v b="$bytes" 'BEGIN {printf "%.1f", b / 1048576}')" \
        "${totals[@]}"
}

# sp_scenario ID LABEL ROWFILE CONNS SHADOW_URL ARGS...
sp_scenario() {
    local id=$1 label=$2 rows=$3 conns=$4 shadow=$5
    want "$id" || return 0
    shift 5
    if sp_start "$id" "$shadow" "$@"; then
        measure "$id" "$label" "$rows" "$conns" "http://127.0.0.1:$SP_PORT$SP_ROUTE" sp_pids "$SP_PID"
        sp_compare_stats "$id" "$label"
        sp_finish "$id" "$label"
    else
        empty_row "$rows" "$id" "$label"
    fi
}

# --- nginx -----------------------------------------------------------------
NGX_PID=

nginx_conf() { # ID PORT MIRROR_PORT|"" : writes the config, prints its path
    local id=$1 port=$2 mport=$3 f=$OUT/nginx/$1.conf mirror_loc="" mirror_dir=""
    if [[ -n $mport ]]; then
        mirror_dir="mirror /mirror;"
        mirror_loc="
        location = /mirror {
            internal;
            proxy_pass http://shadow\$request_uri;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
        }"
    fi
    cat >"$f" <<EOF
# generated by bench/run.sh
daemon off;
master_process on;
worker_processes 1;
pid $OUT/nginx/$id.pid;
error_log $OUT/nginx/$id-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $OUT/nginx/tmp/body;
    proxy_temp_path $OUT/nginx/tmp/proxy;
    fastcgi_temp_path $OUT/nginx/tmp/fastcgi;
    uwsgi_temp_path $OUT/nginx/tmp/uwsgi;
    scgi_temp_path $OUT/nginx/tmp/scgi;
    keepalive_requests 1000000;
    upstream legacy { server 127.0.0.1:$LEG; keepalive 32; keepalive_requests 1000000; }
    upstream shadow { server 127.0.0.1:${mport:-$SHADOW}; keepalive 32; keepalive_requests 1000000; }
    server {
        listen 127.0.0.1:$port;
        location / {
            $mirror_dir
            proxy_pass http://legacy;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }$mirror_loc
    }
}
EOF
    echo "$f"
}

nginx_pids() { echo "$NGX_PID $(children_of "$NGX_PID" | tr '\n' ' ')"; }

# nginx_scenario ID LABEL ROWFILE CONNS MIRROR_PORT|""
nginx_scenario() {
    local id=$1 label=$2 rows=$3 conns=$4 mport=$5 port conf worker
    want "$id" || return 0
    port=$(free_port)
    conf=$(nginx_conf "$id" "$port" "$mport")
    "${PIN_PROXY[@]}" "$NGINX" -p "$OUT/nginx/" -e "$OUT/nginx/$id-error.log" -c "$conf" \
        >"$OUT/logs/nginx-$id.log" 2>&1 &
    NGX_PID=$!
    PIDS+=("$NGX_PID")
    if ! wait_http "http://127.0.0.1:$port$ROUTE"; then
        stop "$NGX_PID" TERM 5
        problem "nginx $id" "did not start (see bench/out/nginx/$id-error.log)"
        empty_row "$rows" "$id" "$label"
        return 0
    fi
    worker=$(children_of "$NGX_PID" | head -1)
    measure "$id" "$label" "$rows" "$conns" "http://127.0.0.1:$port$ROUTE" nginx_pids "$worker"
    stop "$NGX_PID" TERM 10
    [[ $STOP_RC == 0 ]] || note "nginx $id: exit status $STOP_RC"
}

# --- noisy answers ----------------------------------------------------------
# Real answers differ somewhere on every request: nginx serves a 1.4 KB order
# with its own $request_id and $msec (legacy, compact) and a pretty-printed
# one with the lines reversed (new, 2.1 KB), so every exchange is parsed and
# compared; the rules ignore the id and the time and key the lines by SKU.
# A third server answers the legacy document without variables (the same on
# both sides: the byte-identical fast path, at the same size).
NOISY_ROUTE=/noisy/orders/42
NOISY_PORTS=()
NOISY_PID=
noisy_start() {
    local f=$OUT/nginx/noisy.conf p
    NOISY_PORTS=("$(free_port)" "$(free_port)" "$(free_port)")
    "$PY" "$ROOT/bench/noisy.py" "$OUT/nginx" "$OUT/noisy-rules.json" || return 1
    cat >"$f" <<EOF
# generated by bench/run.sh: the noisy-answers upstreams
daemon off;
master_process on;
worker_processes 1;
pid $OUT/nginx/noisy.pid;
error_log $OUT/nginx/noisy-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    default_type application/json;
    client_body_temp_path $OUT/nginx/tmp/body;
    proxy_temp_path $OUT/nginx/tmp/proxy;
    fastcgi_temp_path $OUT/nginx/tmp/fastcgi;
    uwsgi_temp_path $OUT/nginx/tmp/uwsgi;
    scgi_temp_path $OUT/nginx/tmp/scgi;
    keepalive_requests 1000000;
    server { listen 127.0.0.1:${NOISY_PORTS[0]}; location / { include $OUT/nginx/noisy-legacy.inc; } }
    server { listen 127.0.0.1:${NOISY_PORTS[1]}; location / { include $OUT/nginx/noisy-new.inc; } }
    server { listen 127.0.0.1:${NOISY_PORTS[2]}; location / { include $OUT/nginx/noisy-same.inc; } }
}
EOF
    "${PIN_LOAD[@]}" "$NGINX" -p "$OUT/nginx/" -e "$OUT/nginx/noisy-error.log" -c "$f" \
        >"$OUT/logs/nginx-noisy.log" 2>&1 &
    NOISY_PID=$!
    PIDS+=("$NOISY_PID")
    for p in "${NOISY_PORTS[@]}"; do
        wait_http "http://127.0.0.1:$p$NOISY_ROUTE" || return 1
    done
}

# Row 12 runs at a set rate: bench/pace.lua gives each request the next
# slot of a fixed schedule (enough connections that one is free for it).
PACE_CONNS=128

noisy_scenarios() {
    local L=http://127.0.0.1:${NOISY_PORTS[0]} N=http://127.0.0.1:${NOISY_PORTS[1]}
    local S=http://127.0.0.1:${NOISY_PORTS[2]} rules=$OUT/noisy-rules.json rps rate
    SP_ROUTE=$NOISY_ROUTE
    SP_LEGACY=$S
    sp_scenario sp-ident "9 identical 1.4 KB answers (nginx)" "$ROWS" $CONNS "$S" \
        --rules "$rules" --config "$OUT/threads-1.json"
    SP_LEGACY=$L
    sp_scenario sp-noisy-1 "10 noisy answers, 1 comparer" "$ROWS" $CONNS "$N" \
        --rules "$rules" --config "$OUT/threads-1.json"
    sp_scenario sp-noisy-2 "11 noisy answers, 2 comparers" "$ROWS" $CONNS "$N" \
        --rules "$rules" --config "$OUT/threads-2.json"
    # 70% of row 10's rate in this round, held by bench/pace.lua.
    rps=$("$PY" "$REPORT" wrk "$OUT/wrk/sp-noisy-1-c$CONNS.txt" 2>/dev/null |
        sed -n "s/^wrk_rps=//p" | tr -d "'") || true
    # BENCH_NOISY_RATE=N: row 12 at N req/s instead (another run's 70%, to
    # compare two builds at the same absolute rate)
    if want sp-noisy-70 && [[ -n ${BENCH_NOISY_RATE:-} ]]; then
        rate=$BENCH_NOISY_RATE
        note "row 12 at BENCH_NOISY_RATE: $rate req/s over $PACE_CONNS connections"
    elif want sp-noisy-70 && [[ -n $rps ]]; then
        rate=$(awk -v r="$rps" 'BEGIN {printf "%d", 0.7 * r + 0.5}')
        note "70% of $rps req/s: $rate req/s over $PACE_CONNS connections"
    fi
    if [[ -n ${rate:-} ]]; then
        WRK_ARGS=(-s "$ROOT/bench/pace.lua")
        export BENCH_RATE=$rate
        sp_scenario sp-noisy-70 "12 noisy answers at 70% of row 10, 1 comparer" \
            "$ROWS" $PACE_CONNS "$N" --rules "$rules" --config "$OUT/threads-1.json"
        WRK_ARGS=()
    fi
    SP_ROUTE=$ROUTE
    SP_LEGACY=http://127.0.0.1:$LEG
}

# --- the scenarios -----------------------------------------------------------
ROWS=$OUT/rows.jsonl
LOW=$OUT/lowload.jsonl
T0=$SECONDS

NOISY=0
if want sp-ident || want sp-noisy-1 || want sp-noisy-2 || want sp-noisy-70; then
    # Rows 9-12 measure the comparer pool, so every request is mirrored
    # (busy_min_percent 100): at saturation the default would mirror 1%.
    printf '{"compare": {"threads": 1}%s}\n' "$MIRROR_ALL" >"$OUT/threads-1.json"
    printf '{"compare": {"threads": 2}%s}\n' "$MIRROR_ALL" >"$OUT/threads-2.json"
    if noisy_start; then
        NOISY=1
    else
        problem "nginx noisy" "the noisy-answers upstreams did not start (see bench/out/nginx/noisy-error.log)"
    fi
fi

for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
    note "round $ROUND of $ROUNDS"
    want direct && measure direct "1 direct (wrk -> stub)" "$ROWS" $CONNS "http://127.0.0.1:$LEG$ROUTE" "" ""
    sp_scenario sp-off "2 shadowproxy, shadow off" "$ROWS" $CONNS "http://127.0.0.1:$SHADOW" \
        --config "$OUT/shadow-off.json"
    sp_scenario sp-healthy "3 shadowproxy, shadow healthy" "$ROWS" $CONNS "http://127.0.0.1:$SHADOW" \
        --diff-log-mode mismatches
    sp_scenario sp-healthy-all "3b shadowproxy, healthy, log all" "$ROWS" $CONNS "http://127.0.0.1:$SHADOW" \
        --diff-log-mode all
    sp_scenario sp-healthy-m100 "3c shadowproxy, healthy, mirror all" "$ROWS" $CONNS \
        "http://127.0.0.1:$SHADOW" --diff-log-mode mismatches --config "$OUT/mirror-all.json"
    SETTLE=0.7 # the last shadow answers arrive up to 500 ms after wrk stops
    sp_scenario sp-slow "4 shadowproxy, shadow slow ${SLOW_MS}ms" "$ROWS" $CONNS "http://127.0.0.1:$SLOW" \
        --diff-log-mode mismatches
    sp_scenario sp-slow-m100 "4b shadowproxy, slow ${SLOW_MS}ms, mirror all" "$ROWS" $CONNS \
        "http://127.0.0.1:$SLOW" --diff-log-mode mismatches --config "$OUT/mirror-all.json"
    SETTLE=0.2
    sp_scenario sp-down "5 shadowproxy, shadow down" "$ROWS" $CONNS "http://127.0.0.1:$DEAD" \
        --diff-log-mode mismatches
    nginx_scenario nginx "6 nginx proxy_pass" "$ROWS" $CONNS ""
    nginx_scenario nginx-mirror "7 nginx + mirror (healthy)" "$ROWS" $CONNS "$SHADOW"
    nginx_scenario nginx-mirror-slow "8 nginx + mirror (slow ${SLOW_MS}ms)" "$ROWS" $CONNS "$SLOW"
    if ((NOISY)); then noisy_scenarios; fi

    # Added latency at low load: one connection, one request at a time.
    WARM_MAIN=$WARM
    WARM=1
    want direct && measure direct "direct" "$LOW" 1 "http://127.0.0.1:$LEG$ROUTE" "" ""
    sp_scenario sp-healthy-c1 "shadowproxy, shadow healthy" "$LOW" 1 "http://127.0.0.1:$SHADOW" \
        --diff-log-mode mismatches
    nginx_scenario nginx-mirror-c1 "nginx + mirror (healthy)" "$LOW" 1 "$SHADOW"
    WARM=$WARM_MAIN
done

note "measured in $((SECONDS - T0))s"
echo
"$PY" "$REPORT" render "$OUT"
echo
echo "(saved to bench/out/results.md; wrk outputs in bench/out/wrk/, logs in bench/out/logs/)"
if ((FAILED)); then
    note "some shadowproxy runs had problems (listed above)"
    exit 1
fi
