#!/bin/sh
# tests/side-by-side.sh FIRST [OTHER...]: runs `make FIRST` and each
# `make OTHER` at the same time (docs/testing.md, `make test`), and says how
# long each took. With FIRST alone: runs it and prints its time.
#
# Only for stages that do not compete for the same thing: FIRST is wall-clock
# bound (the e2e suite waits on sockets and timers far more than it computes)
# and the OTHERs are short CPU-bound stages (unit-asan, fuzz-smoke).
#
# FIRST's output streams to the terminal as usual; each OTHER writes to
# build/test-logs/OTHER.log, printed whole if it fails (a line with its time
# if it passes), so a failure reads as it would run alone. Every stage runs to
# its end; then the exit status is 1 if any failed (each named), else 0.
# Environment: MAKE (default make); the OTHERs also get what make passes
# down (MAKEFLAGS) and the environment (FUZZ_SMOKE_SECONDS).
set -u
[ $# -ge 1 ] || { echo "usage: $0 FIRST [OTHER...]" >&2; exit 2; }
make=${MAKE:-make}
logs=build/test-logs
mkdir -p "$logs"

first=$1
shift
pids=""
for s in "$@"; do
    rm -f "$logs/$s.status"
    (
        t0=$(date +%s)
        # sh starts a background job with SIGINT and SIGQUIT ignored; its
        # children would inherit that (test_drainsig checks they do not),
        # and a ^C at the terminal must stop the side stages too.
        env --default-signal=INT,QUIT $make --no-print-directory "$s" >"$logs/$s.log" 2>&1
        rc=$?
        echo "$rc $(($(date +%s) - t0))" >"$logs/$s.status"
        exit "$rc"
    ) &
    pids="$pids $!"
done

t0=$(date +%s)
$make --no-print-directory "$first"
first_rc=$?
failed=""
[ "$first_rc" -eq 0 ] || failed="$first"
echo "== $first: exit $first_rc, $(($(date +%s) - t0)) s"

for p in $pids; do wait "$p"; done
for s in "$@"; do
    rc=1 secs="?"
    [ -r "$logs/$s.status" ] && read -r rc secs <"$logs/$s.status"
    if [ "$rc" -eq 0 ]; then
        echo "== $s (alongside $first): passed, $secs s; log: $logs/$s.log"
    else
        echo "== $s (alongside $first): FAILED, exit $rc after $secs s; its log ($logs/$s.log):"
        cat "$logs/$s.log"
        echo "== end of $s's log"
        failed="$failed $s"
    fi
done
[ -z "$failed" ] && exit 0
echo "== failed:$failed" >&2
exit 1
