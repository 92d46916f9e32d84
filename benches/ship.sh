#!/usr/bin/env bash
# The shipping figures of issue #9, measured on this machine in one run, each against a
# reference measured in the same run (never a fixed time): the static release binary
# (bash .ci/build-static) runs as its own process on a temp data dir.
#
#   forward-auth   wrk on /auth/verify with a valid session  vs  nginx `return 200`
#   token          code exchange over HTTP                   vs  a bare RS256 signature
#                  (cargo bench --bench token_endpoint)
#   login page     wrk on /                                  (req/s, p99)
#   memory         RSS idle after start, and after the loads  (VmRSS, and VmHWM = peak)
#   start          spawn -> /readyz 200: first start (makes secrets, a 2048-bit key, the
#                  database) and a restart on the same data dir
#   size           the binary
#
# usage: bash benches/ship.sh [-c CONNS] [-d SECONDS]     (BIN=other/authportal to compare)
# Needs wrk and nginx: apt-get install -y wrk nginx-light   (or nginx)
set -euo pipefail

CONNS=64
SECS=10
while [ $# -gt 0 ]; do
    case "$1" in
        -c) CONNS=$2; shift 2 ;;
        -d) SECS=$2; shift 2 ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done

. "$(dirname "$0")/lib.sh"
need_wrk_and_nginx

cd "$(dirname "$0")/.."
# BIN=path/to/authportal compares another build (e.g. target/release/authportal, glibc).
if [ -z "${BIN:-}" ]; then
    BIN=target/x86_64-unknown-linux-musl/release/authportal
    echo "building the static release binary and the bench tools..." >&2
    bash .ci/build-static >/dev/null
fi
build_loadgen

TMP=$(mktemp -d)
PORTAL_PID=""
NGINX_PID=""
cleanup() {
    [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null || true
    [ -n "$PORTAL_PID" ] && kill "$PORTAL_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
NGINX_PORT=$(free_port)
export AUTHPORTAL_DATA_DIR="$TMP/data"
export LISTEN_ADDR="127.0.0.1:$PORT"
export APP_BASE_URL="http://127.0.0.1:$PORT"
export LOG_LEVEL=error
# A login page with a provider (never contacted: nobody signs in here).
export MEDIA_SERVER=jellyfin
export JELLYFIN_SERVER_URL=http://127.0.0.1:9

echo "== start"
START_FIRST=$("$LOADGEN" start-time "$BIN")
START_AGAIN=$("$LOADGEN" start-time "$BIN")
echo "  first start ${START_FIRST} ms, restart ${START_AGAIN} ms"

COOKIE=$("$LOADGEN" mint)
"$BIN" serve &
PORTAL_PID=$!
for _ in $(seq 1 200); do
    "$LOADGEN" probe "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
    sleep 0.05
done
sleep 1
rss_kb() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$PORTAL_PID/status"; }
IDLE_KB=$(rss_kb VmRSS)
echo "  idle RSS $((IDLE_KB / 1024)) MB"

start_nginx "$NGINX_PORT" "$TMP/nginx"

VERIFY_HDR=(-H "Cookie: $COOKIE" -H "X-Forwarded-Method: GET" -H "X-Forwarded-Proto: https"
    -H "X-Forwarded-Host: app.example" -H "X-Forwarded-Uri: /")
if ! "$LOADGEN" probe "http://127.0.0.1:$PORT/auth/verify" "${VERIFY_HDR[@]}" >/dev/null; then
    echo "/auth/verify did not answer 200 with the minted session" >&2
    exit 1
fi

declare -A RPS P99
wrk_run() {
    local name=$1 url=$2
    shift 2
    local out
    out=$(wrk -t2 -c"$CONNS" -d"${SECS}s" --latency "$@" "$url")
    RPS[$name]=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$out")
    P99[$name]=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
    local bad
    bad=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
    echo "  $name: ${RPS[$name]} req/s, p99 ${P99[$name]} ms${bad:+ (NON-2xx: $bad)}"
}
echo "== load ($CONNS keep-alive connections, ${SECS}s each, $(nproc) CPUs)"
wrk_run forward_auth "http://127.0.0.1:$PORT/auth/verify" "${VERIFY_HDR[@]}"
wrk_run nginx "http://127.0.0.1:$NGINX_PORT/"
wrk_run login_page "http://127.0.0.1:$PORT/"
LOAD_KB=$(rss_kb VmRSS)
PEAK_KB=$(rss_kb VmHWM)
echo "  RSS after the loads $((LOAD_KB / 1024)) MB (peak $((PEAK_KB / 1024)) MB)"
kill "$PORTAL_PID"; wait "$PORTAL_PID" 2>/dev/null || true; PORTAL_PID=""
kill "$NGINX_PID"; wait "$NGINX_PID" 2>/dev/null || true; NGINX_PID=""

echo "== token endpoint (cargo bench --bench token_endpoint)"
TOKEN_OUT=$(cargo bench --bench token_endpoint 2>/dev/null | grep -E 'bare RS256|code exchange|ratio')
sed 's/^/  /' <<<"$TOKEN_OUT"
TOKEN_RATIO=$(sed -n 's/^throughput ratio[^:]*: \([0-9.]*\).*/\1/p' <<<"$TOKEN_OUT")

SIZE=$(stat -c %s "$BIN")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
check() { awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN { ok = (op == ">=") ? v >= t : v <= t; print ok ? "ok" : "MISSED" }'; }
FA_RATIO=$(ratio "${RPS[forward_auth]}" "${RPS[nginx]}")
IDLE_MB=$(awk -v k="$IDLE_KB" 'BEGIN {printf "%.1f", k / 1024}')
PEAK_MB=$(awk -v k="$PEAK_KB" 'BEGIN {printf "%.1f", k / 1024}')
SIZE_MB=$(awk -v b="$SIZE" 'BEGIN {printf "%.1f", b / 1048576}')

echo
echo "== summary ($("$BIN" version))"
printf '%-34s %-28s %-12s %s\n' "figure" "measured" "target" ""
row() { printf '%-34s %-28s %-12s %s\n' "$1" "$2" "$3" "$4"; }
row "forward-auth / nginx return 200" "$FA_RATIO (${RPS[forward_auth]} vs ${RPS[nginx]} req/s)" ">= 0.5" "$(check "$FA_RATIO" 0.5 '>=')"
row "forward-auth p99" "${P99[forward_auth]} ms (nginx ${P99[nginx]} ms)" "-" ""
row "token exchange / RS256 sign (req/s)" "$TOKEN_RATIO" ">= 0.8" "$(check "$TOKEN_RATIO" 0.8 '>=')"
row "login page" "${RPS[login_page]} req/s, p99 ${P99[login_page]} ms" "-" ""
row "idle RSS" "$IDLE_MB MB" "<= 8 MB" "$(check "$IDLE_MB" 8 '<=')"
row "peak RSS under load" "$PEAK_MB MB" "<= 32 MB" "$(check "$PEAK_MB" 32 '<=')"
row "start to /readyz (restart)" "$START_AGAIN ms (first start $START_FIRST ms)" "<= 50 ms" "$(check "$START_AGAIN" 50 '<=')"
row "binary size" "$SIZE_MB MB" "<= 12 MB" "$(check "$SIZE_MB" 12 '<=')"
