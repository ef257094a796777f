#!/bin/sh
# tests/valgrind.sh [PYTEST ARGS...]: the end-to-end suite (tests/e2e) with
# every shadowproxy process under valgrind memcheck (docs/testing.md).
#
# conftest.py starts $SP_BIN; here SP_BIN is a wrapper script that execs
#   valgrind --tool=memcheck --leak-check=full --errors-for-leak-kinds=definite
#            --error-exitcode=99 --log-file=build/valgrind/logs/vg.%p.log
#            ./shadowproxy "$@"
# so serve, check, ctl, report and replay all run under memcheck, each with
# its own log. SP_SANITIZED=1 triples the suite's timeouts. After pytest,
# every log is read: one with a non-zero "ERROR SUMMARY" (invalid reads or
# writes, uninitialised values, bad frees, or a definite leak) fails the
# run, whatever pytest said. A log without a summary is a process killed by
# SIGKILL (tests do that on purpose): listed, not a failure.
#
# Environment: SP_REAL_BIN (default ./shadowproxy), SP_STUB (default
# build/sp-stub), VALGRIND_OUT (default build/valgrind), PYTHON.
# Exit: pytest's status if it failed, else 1 if any log has errors, else 0.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
out=${VALGRIND_OUT:-$root/build/valgrind}
real=${SP_REAL_BIN:-$root/shadowproxy}
stub=${SP_STUB:-$root/build/sp-stub}
python=${PYTHON:-/usr/bin/python3}
supp=$root/tests/valgrind.supp

command -v valgrind >/dev/null || { echo "valgrind.sh: valgrind is not installed" >&2; exit 2; }
[ -x "$real" ] || { echo "valgrind.sh: $real not built (make shadowproxy)" >&2; exit 2; }
case $out in /*) ;; *) out=$(pwd)/$out ;; esac
rm -rf "$out/logs"
mkdir -p "$out/logs"

wrapper=$out/shadowproxy
cat >"$wrapper" <<EOF
#!/bin/sh
# Written by tests/valgrind.sh: shadowproxy under memcheck, one log per process.
exec valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite \\
  --errors-for-leak-kinds=definite --error-exitcode=99 --num-callers=40 \\
  --suppressions=$supp --log-file=$out/logs/vg.%p.log "$real" "\$@"
EOF
chmod 0755 "$wrapper"

start=$(date +%s)
# test_deploy.py checks the binary's ELF dependencies and the container
# setup, not memory: it needs the real binary, so it is left out here.
(cd "$root/tests/e2e" && SP_BIN=$wrapper SP_STUB=$stub SP_SANITIZED=1 \
    "$python" -m pytest -q -p no:cacheprovider --ignore=test_deploy.py "$@")
rc=$?
secs=$(($(date +%s) - start))

total=0 bad=0 unfinished=0
for f in "$out"/logs/vg.*.log; do
    [ -e "$f" ] || continue
    total=$((total + 1))
    summary=$(grep -E '^==[0-9]+== ERROR SUMMARY:' "$f" | tail -n 1)
    cmd=$(sed -n 's/^==[0-9]*== Command: //p' "$f" | head -n 1 | cut -c1-160)
    if [ -z "$summary" ]; then
        unfinished=$((unfinished + 1))
        echo "valgrind: no summary (killed): $f: $cmd"
    elif ! echo "$summary" | grep -q 'ERROR SUMMARY: 0 errors'; then
        bad=$((bad + 1))
        echo "valgrind: ERRORS in $f: $cmd"
        echo "  $summary"
        # the first error or leak record, for the CI log
        awk '/^==[0-9]+== (Invalid|Conditional|Use of uninit|Syscall param|Mismatched|Source and destination|Argument|[0-9,]+ bytes in [0-9,]+ blocks are definitely)/{p=1}
             p{print "  " $0; if (++n >= 40) exit}' "$f"
    fi
done
echo "valgrind: $total shadowproxy processes, $bad with errors, $unfinished killed before a summary; pytest exit $rc; ${secs}s"
[ "$rc" -ne 0 ] && exit "$rc"
[ "$bad" -ne 0 ] && exit 1
exit 0
