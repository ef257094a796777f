# demo-lib.sh: the demo's traffic and summary, shared by `make demo`
# (tests/demo.sh) and the compose "traffic" service (deploy/demo-traffic.sh).
# Source it; it defines functions only.

# demo_traffic BASE [curl options...]: sends the Magento-like requests to
# BASE and prints the status codes the client saw, space-separated.
demo_traffic() {
    local base=$1
    shift
    local -a opts=("$@")
    req() { curl -s -o /dev/null -w '%{http_code}' "${opts[@]}" "$@"; }
    local codes="" id sku
    for id in $(seq 1 12); do codes+=" $(req -H 'Accept-Encoding: gzip' "$base/api/orders/$id")"; done
    for id in $(seq 1 6); do codes+=" $(req "$base/api/customers/$id")"; done
    for sku in 24-MB01 24-MB02 24-MB03 24-MB04 24-MB05; do codes+=" $(req "$base/api/inventory/$sku")"; done
    for id in 1 2 3; do codes+=" $(req "$base/api/invoices/$id")"; done
    codes+=" $(req "$base/api/orders?status=processing&page=1")"
    # by an ERP reference no mirrored create taught the id ledger: not mirrored (id_unknown)
    codes+=" $(req "$base/api/orders/ERP-000101-1A2B/status")"
    codes+=" $(req -X POST -H 'Content-Type: application/json' -H 'Authorization: Bearer demo-secret' \
      --data '{"customer_email":"ann@example.com","items":[{"sku":"MB01","qty":2}],"payment":{"cc_number":"4111111111111111"}}' "$base/api/orders")"
    codes+=" $(req -X POST -H 'Content-Type: application/json' \
      --data '{"items":[{"sku":"WS03","qty":1}]}' "$base/api/orders")"
    sleep 0.6 # rules "confirm": the inventory mismatches are read again after 300 ms
    echo "$codes"
}

# demo_write_pause BASE CTL... -- [curl options...]: pauses writes through
# the admin API (CTL... is the `shadowproxy ctl` command with its options),
# shows a write refused and a read served, resumes; prints what happened.
demo_write_pause() {
    local base=$1
    shift
    local -a ctl=() opts=()
    while (($#)) && [[ $1 != -- ]]; do ctl+=("$1"); shift; done
    (($#)) && shift
    opts=("$@")
    "${ctl[@]}" writes pause --retry-after 30 --no-wait >/dev/null
    local w r
    w=$(curl -s -o /dev/null -w '%{http_code} (Retry-After: %header{retry-after})' "${opts[@]}" \
        -X POST -H 'Content-Type: application/json' --data '{"items":[{"sku":"MB01","qty":1}]}' \
        "$base/api/orders")
    r=$(curl -s -o /dev/null -w '%{http_code}' "${opts[@]}" "$base/api/orders/1")
    "${ctl[@]}" writes resume --no-wait >/dev/null
    echo "writes paused (ctl writes pause): POST /api/orders -> $w, GET /api/orders/1 -> $r; resumed"
}

# demo_fault_refused CTL...: fault injection is for staging; this demo's
# config does not set faults.enabled, so `ctl fault add` is refused (409).
demo_fault_refused() {
    local msg
    if msg=$("$@" fault add --side new --delay 2s --for 1m 2>&1); then
        echo "fault injection was NOT refused: $msg"; return 1
    fi
    echo "fault injection refused here (staging only, faults.enabled): ${msg#ctl: }"
}

# demo_live_readiness ADMIN_URL [curl options...]: the dashboard's live
# cutover verdict per route (GET /api/readiness of the running proxy).
demo_live_readiness() {
    local url=$1
    shift
    echo "live readiness (the dashboard's panel, GET /api/readiness: this replica's exchanges"
    echo "since it started, judged as \`shadowproxy readiness\` judges the logs):"
    curl -s "$@" "$url/api/readiness" |
      jq -r '.routes[] | "  \(.route): \(.verdict)\(if .required then "" else " (not required)" end), \(.exchanges) exchanges"'
}

# demo_shadow_client ADMIN_URL [curl args]: how the shadow leg went out (the
# lean HTTP/1.1 client for an http:// shadow; curl for https://).
demo_shadow_client() {
    local url=$1
    shift
    echo "the shadow's HTTP client (shadow.client \"auto\": the lean one for an http:// shadow,"
    echo "about 1 KB per shadow in flight against curl's 12 KB):"
    curl -s "$@" "$url/metrics" | awk '
      /^shadowproxy_shadow_sent_total /{s=$2} /^shadowproxy_shadow_h1_reused_total /{r=$2}
      /^shadowproxy_shadow_h1_connections /{c=$2} /^shadowproxy_shadow_h1_retries_total /{t=$2}
      END {printf "  %d shadow requests, %d on a kept connection, %d connections open, %d retried\n", s, r, c, t}'
}

# demo_summary LOG OUT_DIR [RULES]: verdicts, real differences, one
# mismatch, the report (text, and HTML into OUT_DIR/report.html) and, with
# RULES, the cutover readiness scorecard.
demo_summary() {
    local log=$1 out=$2 rules=${3:-}
    echo "verdicts by route (the rules silence the new ERP's noise: timestamps,"
    echo "generated ids, reordered lines, 45.0 vs 45, gzip levels):"
    jq -r '"\(.route) \(.verdict)"' "$log" | sort | uniq -c | sort -k2 | sed 's/^/  /'
    echo
    echo "what really differs (count, route, where, JSON Pointer, kind, known rule):"
    jq -r 'select(.verdict=="mismatch" or .verdict=="known") | .route as $r
           | .differences[] | "\($r) \(.where) \(.path) \(.kind) \(.known // "")"' "$log" \
      | sort | uniq -c | sort -rn | sed 's/^/  /'
    echo
    echo "mismatches read again 300 ms later (rules confirm; transient: the stock sync had lagged):"
    jq -r 'select(.confirmation) | "\(.route) \(.uri) \(.confirmation.state)"' "$log" | sort | sed 's/^/  /'
    echo
    echo "one mismatch in short (full records hold both answers, secrets redacted):"
    jq -c -n '[inputs | select(.verdict=="mismatch") | {id, method, uri, differences}] | .[0]' "$log" \
      | sed 's/^/  /'
    echo
    echo "correlated ids (rules \"ids\"): a read by an ERP reference the id ledger has not"
    echo "learned is not sent to the new ERP blindly (it would answer 404):"
    jq -r 'select(.verdict=="id_unknown") | "  \(.uri): \(.reason)"' "$log"
    echo
    echo "the report (per route: verdicts, latency of both sides, differing fields, drift,"
    echo "reconciliation of order totals per currency, noise suggestions):"
    shadowproxy report --sum /totals/grand_total@/currency "$log" | sed -n 's/^/  /; 1,40p'
    echo "  ..."
    shadowproxy report --sum /totals/grand_total@/currency -o "$out/report.html" "$log"
    [[ -n $rules ]] || return 0
    echo
    echo "cutover readiness per route (the rules' readiness criteria; a demo run is far"
    echo "too small to be READY, and the scorecard says why, criterion by criterion):"
    shadowproxy readiness --rules "$rules" "$log" | sed -n 's/^/  /; 1,30p' || true
    echo "  ..."
    shadowproxy readiness --rules "$rules" -o "$out/readiness.html" "$log" || true
}
