#!/usr/bin/env bash
# HTTP speed and fairness, measured in one run on this machine (run by hand, not in CI):
#
#   binary   the real release binary (`authportal serve`) with its DEFAULT settings (so
#            LOG_LEVEL=info, stderr to a file): GET $PATH_UNDER_TEST with a valid session
#            cookie (minted through the library before it starts) and the X-Forwarded-*
#            headers a proxy sends
#   portal   the same, in-process (the library in benches/loadgen.rs, LOG_LEVEL=error)
#            --path /whoami: the same session read without forward-auth
#   ours     a hello-world handler behind the portal's own server (src/web/server/)
#   rouille  the same hello-world on bare rouille::Server, pool of 16 (tiny_http)
#   nginx    `return 200` (worker_processes 2, access_log off)
#
# Each gets wrk (req/s, p50, p99) and benches/loadgen.rs, which also shows what wrk
# does not: connections that got no response at all, and the worst per-connection max
# latency (target: every connection answered, worst < 100 ms at 64 connections), at each
# number of keep-alive connections (default 32 and 64). Target: binary/nginx >= 0.5.
#
# usage: bash benches/http_load.sh [--path /auth/verify|/whoami] [-c "32 64"] [-d SECONDS]
#        BIN=path/to/authportal to bench another build (default: target/release/authportal,
#        built here)
# Needs wrk and nginx: apt-get install -y wrk nginx-light   (or nginx)
set -euo pipefail

PATH_UNDER_TEST=/auth/verify
CONNS_LIST="32 64"
SECS=10
while [ $# -gt 0 ]; do
    case "$1" in
        --path) PATH_UNDER_TEST=$2; shift 2 ;;
        -c) CONNS_LIST=$2; shift 2 ;;
        -d) SECS=$2; shift 2 ;;
        -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done

. "$(dirname "$0")/lib.sh"
need_wrk_and_nginx

cd "$(dirname "$0")/.."
echo "building (release)..." >&2
build_loadgen
if [ -z "${BIN:-}" ]; then
    cargo build --release --bin authportal >&2
    BIN=target/release/authportal
fi

TMP=$(mktemp -d)
SERVE_PID=""
NGINX_PID=""
BIN_PID=""
cleanup() {
    exec 3>&- 2>/dev/null || true
    [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null || true
    [ -n "$BIN_PID" ] && kill "$BIN_PID" 2>/dev/null || true
    [ -n "$SERVE_PID" ] && { sleep 0.3; kill "$SERVE_PID" 2>/dev/null || true; }
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

# The Rust servers: they run until their stdin (fd 3 here) closes.
exec 3> >(exec "$LOADGEN" serve >"$TMP/serve.out" 2>"$TMP/serve.err")
SERVE_PID=$!
await_ready "$TMP/serve.out" "$TMP/serve.err" "the bench servers"
val() { grep "^$1 " "$TMP/serve.out" | head -1 | cut -d' ' -f2-; }
PORTAL=$(val PORTAL)
COOKIE=$(val COOKIE)
ROUILLE=$(val ROUILLE)
OURS=$(val OURS)
NGINX_PORT=$(val FREEPORT)
# What Traefik/Caddy/nginx send to a forward-auth endpoint.
PORTAL_HDR=(-H "Cookie: $COOKIE" -H "X-Forwarded-Method: GET" -H "X-Forwarded-Proto: https"
    -H "X-Forwarded-Host: app.example" -H "X-Forwarded-Uri: /")

start_nginx "$NGINX_PORT" "$TMP/nginx"

# The real binary, default settings: only what it must be told (where, which port).
BIN_PORT=$("$LOADGEN" free-port)
BIN_COOKIE=$(env -i PATH="$PATH" AUTHPORTAL_DATA_DIR="$TMP/bin-data" \
    LISTEN_ADDR="127.0.0.1:$BIN_PORT" APP_BASE_URL="http://127.0.0.1:$BIN_PORT" "$LOADGEN" mint)
env -i PATH="$PATH" AUTHPORTAL_DATA_DIR="$TMP/bin-data" LISTEN_ADDR="127.0.0.1:$BIN_PORT" \
    APP_BASE_URL="http://127.0.0.1:$BIN_PORT" "$BIN" serve 2>"$TMP/binary.log" &
BIN_PID=$!
BINARY="http://127.0.0.1:$BIN_PORT"
for _ in $(seq 1 200); do
    "$LOADGEN" probe "$BINARY/readyz" >/dev/null 2>&1 && break
    sleep 0.05
done
BINARY_HDR=(-H "Cookie: $BIN_COOKIE" "${PORTAL_HDR[@]:2}")

echo "checking the portals answer $PATH_UNDER_TEST with their sessions..." >&2
if ! probe=$("$LOADGEN" probe "$PORTAL$PATH_UNDER_TEST" "${PORTAL_HDR[@]}"); then
    echo "portal $PATH_UNDER_TEST did not answer 2xx: $probe" >&2
    exit 1
fi
echo "  $probe" >&2
if ! probe=$("$LOADGEN" probe "$BINARY$PATH_UNDER_TEST" "${BINARY_HDR[@]}"); then
    echo "binary $PATH_UNDER_TEST did not answer 2xx: $probe" >&2
    cat "$TMP/binary.log" >&2
    exit 1
fi
echo "  $probe" >&2


declare -A WRK_RPS WRK_P50 WRK_P99 LG_RPS LG_P50 LG_P99 LG_ZERO LG_WORST
bench() {
    local name=$1 url=$2
    shift 2
    local hdr=("$@")
    echo
    echo "== $name: $url"
    local out
    out=$(wrk -t2 -c"$CONNS" -d"${SECS}s" --latency "${hdr[@]}" "$url")
    WRK_RPS[$name]=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$out")
    WRK_P50[$name]=$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")
    WRK_P99[$name]=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
    local non2xx
    non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
    echo "  wrk -t2 -c$CONNS -d${SECS}s: ${WRK_RPS[$name]} req/s, p50 ${WRK_P50[$name]} ms, p99 ${WRK_P99[$name]} ms${non2xx:+, NON-2xx: $non2xx}"
    grep -E 'Socket errors|timeout' <<<"$out" | sed 's/^/  wrk: /' || true
    out=$("$LOADGEN" run "$url" -c "$CONNS" -d "$SECS" --label "$name" "${hdr[@]}")
    grep -v '^RESULT' <<<"$out"
    local r
    r=$(grep '^RESULT' <<<"$out")
    field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$r"; }
    LG_RPS[$name]=$(field rps)
    LG_P50[$name]=$(field p50_ms)
    LG_P99[$name]=$(field p99_ms)
    LG_ZERO[$name]=$(field zero)
    LG_WORST[$name]=$(field worst_ms)
}

SERVERS="binary portal ours rouille nginx"
url_of() {
    case "$1" in
        binary) echo "$BINARY$PATH_UNDER_TEST" ;;
        portal) echo "$PORTAL$PATH_UNDER_TEST" ;;
        ours) echo "$OURS/" ;;
        rouille) echo "$ROUILLE/" ;;
        nginx) echo "http://127.0.0.1:$NGINX_PORT/" ;;
    esac
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
SUMMARY=""
for CONNS in $CONNS_LIST; do
    echo
    echo "##### $(nproc) CPUs; $CONNS keep-alive connections; ${SECS}s per tool per server"
    for n in $SERVERS; do
        case "$n" in
            binary) bench "$n" "$(url_of "$n")" "${BINARY_HDR[@]}" ;;
            portal) bench "$n" "$(url_of "$n")" "${PORTAL_HDR[@]}" ;;
            *) bench "$n" "$(url_of "$n")" ;;
        esac
    done
    SUMMARY+=$'\n'"== summary ($CONNS connections)"$'\n'
    SUMMARY+=$(printf '%-9s %10s %9s %9s | %10s %9s %9s %11s %13s' "" "wrk req/s" "p50 ms" "p99 ms" \
        "lg req/s" "p50 ms" "p99 ms" "unanswered" "worst max ms")$'\n'
    for n in $SERVERS; do
        SUMMARY+=$(printf '%-9s %10s %9s %9s | %10s %9s %9s %11s %13s' "$n" "${WRK_RPS[$n]}" \
            "${WRK_P50[$n]}" "${WRK_P99[$n]}" "${LG_RPS[$n]}" "${LG_P50[$n]}" "${LG_P99[$n]}" \
            "${LG_ZERO[$n]}/$CONNS" "${LG_WORST[$n]}")$'\n'
    done
    SUMMARY+="ratios (wrk req/s; loadgen req/s):"$'\n'
    for pair in "binary nginx 0.5" "binary portal -" "portal nginx 0.5" "portal rouille 0.9" "ours rouille -" \
        "ours nginx -" "rouille nginx -"; do
        set -- $pair
        target=""
        [ "$3" != - ] && target="   (target >= $3)"
        SUMMARY+="  $1/$2: $(ratio "${WRK_RPS[$1]}" "${WRK_RPS[$2]}"); $(ratio "${LG_RPS[$1]}" "${LG_RPS[$2]}")$target"$'\n'
    done
    for n in binary portal; do
        fair=$(awk -v z="${LG_ZERO[$n]}" -v w="${LG_WORST[$n]}" 'BEGIN { print (z == 0 && w < 100) ? "yes" : "NO" }')
        SUMMARY+="$n fairness: every connection answered and worst per-connection max < 100 ms: $fair"$'\n'
    done
done
echo "$SUMMARY"
echo "binary: $(wc -l <"$TMP/binary.log") log lines at its default level (allowed forward-auth answers log at debug)"
