#!/bin/bash
# shadowproxy-probe: container health checks without curl, which the runtime
# image does not have (docker-compose.yml, the Dockerfile's HEALTHCHECK).
#
#   shadowproxy-probe http  HOST:PORT PATH                  GET over plain HTTP
#   shadowproxy-probe https HOST:PORT PATH [S_CLIENT-ARG...] GET through openssl s_client
#   shadowproxy-probe tcp   HOST:PORT                       a connection is accepted
#
# http and https exit 0 on a 2xx answer, 1 otherwise (the status line, or
# what failed, on stderr). https verifies the server's certificate; pass
# -CAfile, -verify_hostname, -cert/-key (mTLS) as s_client arguments.
# Everything is bounded by 5 s.
set -u
usage() { echo "usage: shadowproxy-probe http|https|tcp HOST:PORT [PATH [S_CLIENT-ARG...]]" >&2; exit 2; }
[ $# -ge 2 ] || usage
mode=$1 addr=$2 path=${3:-/}
host=${addr%:*} port=${addr##*:}
[ -n "$host" ] && [ -n "$port" ] && [ "$host" != "$addr" ] || usage
request() { printf 'GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: shadowproxy-probe\r\n\r\n' "$path" "$host"; }
export -f request
export path host

status=""
case $mode in
tcp)
    timeout 5 bash -c 'exec 3<>"/dev/tcp/$host/$0"' "$port" 2>/dev/null && exit 0
    status="connection failed" ;;
http)
    status=$(timeout 5 bash -c 'exec 3<>"/dev/tcp/$host/$0" && request >&3 && head -n 1 <&3' "$port" 2>/dev/null) ;;
https)
    shift 3 2>/dev/null || shift $#
    status=$(request | timeout 5 openssl s_client -quiet -verify_return_error -connect "$host:$port" "$@" 2>/dev/null |
             head -n 1) ;;
*) usage ;;
esac
status=${status%$'\r'}
case $status in
"HTTP/1."[01]" 2"*) exit 0 ;;
esac
[ "$mode" = tcp ] && path=""
echo "shadowproxy-probe: $mode $addr $path: ${status:-no answer}" >&2
exit 1
