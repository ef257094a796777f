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
lib="$(dirname "$(readlink -f "$0")")/demo-lib.sh"  # beside it in the repository,
[ -f "$lib" ] || lib=/usr/local/lib/shadowproxy/demo-lib.sh   # installed in the image
# shellcheck source=deploy/demo-lib.sh
. "$lib"
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
codes=$(demo_traffic "$base" "${curl_tls[@]}")
sent=$(wc -w <<<"$codes")
echo "sent $sent requests; status codes the client saw:$codes"
demo_write_pause "$base" shadowproxy ctl --token-file "$token" -- "${curl_tls[@]}"
demo_fault_refused shadowproxy ctl --token-file "$token"
# the token reaches curl through a file descriptor, never its argv
demo_live_readiness "$admin" -H @<(printf 'Authorization: Bearer %s\n' "$(cat "$token")")
sent=$((sent + 2)) # the refused write and the read beside it

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
demo_summary "$run" "$out" "$rules"
echo
echo "replay of the captured traffic against the same ERPs (same rules, same TLS, same verdicts):"
shadowproxy replay "$run" --config "$config" --rules "$rules" \
  --legacy "$legacy" --new "$new" \
  --diff-log "$out/replay.jsonl" --overwrite --no-progress | sed 's/^/  /'
echo
echo "the report as HTML: docker compose run --rm --no-deps shadowproxy report --format html $log > report.html"
echo "the dashboard: http://127.0.0.1:9901/ (token: docker compose exec shadowproxy cat $token)"
echo "Prometheus: http://127.0.0.1:9090/ (query shadowproxy_route_requests_total)"
