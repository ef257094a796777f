#!/usr/bin/env bash
# make demo: two stub ERPs (legacy, and a "new" one that differs on purpose),
# shadowproxy in front of them, a little Magento-like traffic, a summary.
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/demo-lib.sh
PATH="$PWD:$PATH"   # the report and replay below are this build's
out=demo-out
rm -rf "$out" && mkdir -p "$out"
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

lp=$(free_port); np=$(free_port); pp=$(free_port); ap=$(free_port)
build/sp-stub --listen 127.0.0.1:$lp --name legacy --profile legacy 2>"$out/legacy.log" & pids+=($!)
# --sync-lag-ms: the new ERP's stock lags 200 ms behind (a sync job), which
# the inventory route's "confirm" tells from a real difference.
build/sp-stub --listen 127.0.0.1:$np --name new --profile new --noise --sync-lag-ms 200 \
  2>"$out/new.log" & pids+=($!)
# The worked Magento example reads the new ERP's Authorization from here.
export NEW_ERP_AUTH="Bearer demo-new-erp-token"
./shadowproxy serve --listen 127.0.0.1:$pp --rules rules/examples/magento-erp.json \
  --legacy http://127.0.0.1:$lp --new http://127.0.0.1:$np \
  --diff-log "$out/diffs.jsonl" --diff-log-mode all \
  --admin 127.0.0.1:$ap --state-file "$out/state.json" 2>"$out/shadowproxy.log" &
proxy=$!; pids+=($proxy)
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$pp/health" && break; sleep 0.05; done

echo "shadowproxy on 127.0.0.1:$pp -> legacy :$lp (authoritative), new :$np (shadow); admin API on 127.0.0.1:$ap"
base=http://127.0.0.1:$pp
codes=$(demo_traffic "$base")
echo "sent $(wc -w <<<"$codes") requests; status codes the client saw:$codes"
demo_write_pause "$base" shadowproxy ctl --admin "http://127.0.0.1:$ap"
demo_fault_refused shadowproxy ctl --admin "http://127.0.0.1:$ap"
demo_live_readiness "http://127.0.0.1:$ap"
demo_shadow_client "http://127.0.0.1:$ap"

kill -TERM "$proxy"; wait "$proxy" || true

log="$out/diffs.jsonl"
echo
echo "diff log: $log ($(wc -l <"$log") records)"
echo
demo_summary "$log" "$out" rules/examples/magento-erp.json
echo
echo "replay of the captured traffic against the same ERPs (same rules, same verdicts but"
echo "for the inventory reads the stock sync lag made differ, which it has caught up on):"
shadowproxy replay "$log" --rules rules/examples/magento-erp.json \
  --legacy http://127.0.0.1:$lp --new http://127.0.0.1:$np \
  --diff-log "$out/replay.jsonl" --no-progress | sed 's/^/  /'
echo
echo "open $out/report.html and $out/readiness.html in a browser; the live dashboard is at http://127.0.0.1:<admin port>/"
echo "while shadowproxy serve runs (docs/operations.md)."
echo "try: jq 'select(.verdict!=\"match\")' $log | less"
