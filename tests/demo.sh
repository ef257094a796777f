#!/usr/bin/env bash
# make demo: two stub ERPs (legacy, and a "new" one that differs on purpose),
# shadowproxy in front of them, a little Magento-like traffic, a summary.
set -euo pipefail
cd "$(dirname "$0")/.."
out=demo-out
rm -rf "$out" && mkdir -p "$out"
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

lp=$(free_port); np=$(free_port); pp=$(free_port); ap=$(free_port)
build/sp-stub --listen 127.0.0.1:$lp --name legacy --profile legacy 2>"$out/legacy.log" & pids+=($!)
build/sp-stub --listen 127.0.0.1:$np --name new --profile new --noise 2>"$out/new.log" & pids+=($!)
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
req() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
codes=""
for id in $(seq 1 12); do codes+=" $(req -H 'Accept-Encoding: gzip' "$base/api/orders/$id")"; done
for id in $(seq 1 6); do codes+=" $(req "$base/api/customers/$id")"; done
for sku in 24-MB01 24-MB02 24-MB03 24-MB04 24-MB05; do codes+=" $(req "$base/api/inventory/$sku")"; done
for id in 1 2 3; do codes+=" $(req "$base/api/invoices/$id")"; done
codes+=" $(req "$base/api/orders?status=processing&page=1")"
codes+=" $(req -X POST -H 'Content-Type: application/json' -H 'Authorization: Bearer demo-secret' \
  --data '{"customer_email":"ann@example.com","items":[{"sku":"MB01","qty":2}],"payment":{"cc_number":"4111111111111111"}}' "$base/api/orders")"
codes+=" $(req -X POST -H 'Content-Type: application/json' \
  --data '{"items":[{"sku":"WS03","qty":1}]}' "$base/api/orders")"
echo "sent $(wc -w <<<"$codes") requests; status codes the client saw:$codes"

kill -TERM "$proxy"; wait "$proxy" || true

log="$out/diffs.jsonl"
echo
echo "diff log: $log ($(wc -l <"$log") records)"
echo
echo "verdicts by route (the rules silence the new ERP's noise: timestamps,"
echo "generated ids, reordered lines, 45.0 vs 45, gzip levels):"
jq -r '"\(.route) \(.verdict)"' "$log" | sort | uniq -c | sort -k2 | sed 's/^/  /'
echo
echo "what really differs (count, route, where, JSON Pointer, kind, known rule):"
jq -r 'select(.verdict=="mismatch" or .verdict=="known") | .route as $r
       | .differences[] | "\($r) \(.where) \(.path) \(.kind) \(.known // "")"' "$log" \
  | sort | uniq -c | sort -rn | sed 's/^/  /'
echo
echo "one mismatch in short (full records hold both answers, secrets redacted):"
jq -c -n '[inputs | select(.verdict=="mismatch") | {id, method, uri, differences}] | .[0]' "$log" \
  | sed 's/^/  /'
echo
echo "the report (per route: verdicts, latency of both sides, differing fields, drift,"
echo "reconciliation of order totals per currency, noise suggestions):"
./shadowproxy report --sum /totals/grand_total@/currency "$log" | sed -n 's/^/  /; 1,40p'
echo "  ..."
./shadowproxy report --sum /totals/grand_total@/currency -o "$out/report.html" "$log"
echo
echo "replay of the captured traffic against the same ERPs (same rules, same verdicts):"
./shadowproxy replay "$log" --rules rules/examples/magento-erp.json \
  --legacy http://127.0.0.1:$lp --new http://127.0.0.1:$np \
  --diff-log "$out/replay.jsonl" --no-progress | sed 's/^/  /'
echo
echo "open $out/report.html in a browser; the live dashboard is at http://127.0.0.1:<admin port>/"
echo "while shadowproxy serve runs (docs/operations.md)."
echo "try: jq 'select(.verdict!=\"match\")' $log | less"
