#!/bin/bash
# shadowproxy-demo-traffic: docker-compose.yml's one-shot "traffic" service,
# `make demo` (tests/demo.sh) against the compose services: the same
# Magento-like requests, over HTTPS to shadowproxy, then the same summary,
# report and replay. Runs in the image's "demo" stage (curl and jq added).
#
# The diff log lives on the "diffs" volume and outlives a run, so the summary
# covers the records this run added (copied to demo/diffs.jsonl beside it);
# the report and the replay's log go there too.
set -euo pipefail
certs=${SP_CERTS_DIR:-/etc/shadowproxy/certs}
token=${SP_TOKEN_FILE:-/run/secrets/shadowproxy/admin-token}
log=${SP_DIFF_LOG:-/var/log/shadowproxy/diffs.jsonl}
out=${SP_DEMO_OUT:-$(dirname "$log")/demo}
config=${SP_CONFIG:-/etc/shadowproxy/config.json}
rules=${SP_RULES:-/usr/local/share/shadowproxy/rules/examples/magento-erp.json}
proxy=${SP_PROXY:-shadowproxy:8443}      # where the proxy is
admin=${SP_ADMIN:-http://shadowproxy:9901}
legacy=${SP_LEGACY:-https://legacy:8443}
new=${SP_NEW:-https://new:8443}
export SHADOWPROXY_ADMIN_URL=$admin

mkdir -p "$out"
# The proxy's certificate names localhost: connect to the service, verify the name.
base=https://localhost:8443
curl_tls=(--cacert "$certs/ca.pem" --connect-to "localhost:8443:$proxy")

echo "waiting for shadowproxy to be ready ($admin/readyz)..."
for i in $(seq 60); do
    shadowproxy ctl --token-file "$token" ready >/dev/null 2>&1 && break
    [ "$i" = 60 ] && { shadowproxy ctl --token-file "$token" ready; exit 1; }
    sleep 1
done
before=0
[ -f "$log" ] && before=$(wc -l <"$log")

echo "shadowproxy at $proxy (HTTPS) -> legacy $legacy (authoritative), new $new (shadow, mTLS)"
req() { curl -s -o /dev/null -w '%{http_code}' "${curl_tls[@]}" "$@"; }
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
sent=$(wc -w <<<"$codes")
echo "sent $sent requests; status codes the client saw:$codes"

# Mode "all": one record per request, written once both answers are compared.
want=$((before + sent))
for i in $(seq 100); do
    have=0
    [ -f "$log" ] && have=$(wc -l <"$log")
    [ "$have" -ge "$want" ] && break
    [ "$i" = 100 ] && { echo "only $((have - before)) of $sent records in $log after 20 s" >&2; exit 1; }
    sleep 0.2
done
run="$out/diffs.jsonl"
tail -n +"$((before + 1))" "$log" | head -n "$sent" >"$run"

echo
echo "diff log: $log (this run's $sent records copied to $run)"
echo
echo "verdicts by route (the rules silence the new ERP's noise: timestamps,"
echo "generated ids, reordered lines, 45.0 vs 45, gzip levels):"
jq -r '"\(.route) \(.verdict)"' "$run" | sort | uniq -c | sort -k2 | sed 's/^/  /'
echo
echo "what really differs (count, route, where, JSON Pointer, kind, known rule):"
jq -r 'select(.verdict=="mismatch" or .verdict=="known") | .route as $r
       | .differences[] | "\($r) \(.where) \(.path) \(.kind) \(.known // "")"' "$run" \
  | sort | uniq -c | sort -rn | sed 's/^/  /'
echo
echo "one mismatch in short (full records hold both answers, secrets redacted):"
jq -c -n '[inputs | select(.verdict=="mismatch") | {id, method, uri, differences}] | .[0]' "$run" \
  | sed 's/^/  /'
echo
echo "the report (per route: verdicts, latency of both sides, differing fields, drift,"
echo "reconciliation of order totals per currency, noise suggestions):"
shadowproxy report --sum /totals/grand_total@/currency "$run" | sed -n 's/^/  /; 1,40p'
echo "  ..."
shadowproxy report --sum /totals/grand_total@/currency -o "$out/report.html" "$run"
echo
echo "replay of the captured traffic against the same ERPs (same rules, same TLS, same verdicts):"
shadowproxy replay "$run" --config "$config" --rules "$rules" \
  --legacy "$legacy" --new "$new" \
  --diff-log "$out/replay.jsonl" --overwrite --no-progress | sed 's/^/  /'
echo
echo "the report as HTML: docker compose run --rm --no-deps shadowproxy report --format html $log > report.html"
echo "the dashboard: http://127.0.0.1:9901/ (token: docker compose exec shadowproxy cat $token)"
echo "Prometheus: http://127.0.0.1:9090/ (query shadowproxy_route_requests_total)"
